"""Global unstructured magnitude pruning of all Dense kernels, with masks kept exactly zero.

The schedule is a list of target sparsities (fraction of *all* Dense kernel weights set to zero),
one per training phase. The paper's schedule removes about 10 % of the original weights per step,
then two steps of 2/3 of what is left: remaining fractions 100, 90, ..., 10, 3.3, 1.1 %.
Biases, batch-normalisation parameters and the output layer's bias are never pruned; the output
layer's kernel is (as in the paper).
"""

from __future__ import annotations

import numpy as np

_PAPER_STEP_AMOUNTS = (0.10, 0.111, 0.125, 0.143, 0.166, 0.20, 0.25, 0.333, 0.50, 0.666, 0.666)


def _paper_sparsities() -> tuple[float, ...]:
    remaining = [1.0]
    for amount in _PAPER_STEP_AMOUNTS:
        remaining.append(remaining[-1] * (1.0 - amount))
    return tuple(round(1.0 - r, 6) for r in remaining)


#: 0, 10, ..., 90, 96.66, 98.88 % of the Dense weights pruned: the paper's 12 phases.
PAPER_SPARSITIES: tuple[float, ...] = _paper_sparsities()


def kernel_masks_for_sparsity(
    kernels: dict[str, np.ndarray], masks: dict[str, np.ndarray], sparsity: float
) -> dict[str, np.ndarray]:
    """New masks that prune the smallest-magnitude weights globally until ``sparsity`` is reached.

    Weights already masked stay masked; among the rest the smallest |w| are removed (ties broken by
    position, deterministically). ``round(sparsity * N)`` of the N kernel weights end up masked.

    Args:
        kernels: layer name -> (n_in, n_out) float kernel.
        masks: layer name -> (n_in, n_out) {0, 1} float mask, same shapes.
        sparsity: target fraction of all kernel weights set to zero, in [0, 1).
    """
    names = list(kernels)
    flat_weights = np.concatenate([np.abs(kernels[n]).ravel() for n in names])
    flat_mask = np.concatenate([masks[n].ravel() for n in names]).astype(bool)
    n_prune = int(round(sparsity * flat_weights.size))
    already = int((~flat_mask).sum())
    if n_prune > already:
        candidates = np.flatnonzero(flat_mask)
        order = np.argsort(flat_weights[candidates], kind="stable")
        flat_mask = flat_mask.copy()
        flat_mask[candidates[order[: n_prune - already]]] = False
    result, start = {}, 0
    for name in names:
        size = kernels[name].size
        result[name] = flat_mask[start : start + size].reshape(kernels[name].shape).astype(np.float32)
        start += size
    return result


def dense_kernels(model) -> dict[str, np.ndarray]:
    """Layer name -> current kernel (numpy) of every Dense/QDense layer, input to output."""
    names = [layer.name for layer in model.layers if layer.name.startswith("fc")]
    return {name: model.get_layer(name).get_weights()[0] for name in names}


def full_masks(model) -> dict[str, np.ndarray]:
    """All-ones masks (nothing pruned) shaped like the model's kernels."""
    return {name: np.ones_like(kernel, dtype=np.float32) for name, kernel in dense_kernels(model).items()}


def apply_masks(model, masks: dict[str, np.ndarray]) -> None:
    """Multiply each Dense kernel by its mask in place (masked weights become exactly 0.0)."""
    for name, mask in masks.items():
        layer = model.get_layer(name)
        layer.kernel.assign(layer.kernel.numpy() * mask)


def measured_sparsity(model) -> float:
    """Fraction of all Dense kernel weights that are exactly zero."""
    kernels = dense_kernels(model)
    total = sum(k.size for k in kernels.values())
    return float(sum(int((k == 0).sum()) for k in kernels.values()) / total)


def mask_callback(masks: dict[str, np.ndarray]):
    """A Keras callback that re-applies the masks after every optimiser step.

    Adam's moments would otherwise move pruned weights away from zero; re-masking after each
    batch keeps them exactly zero in every weight state the training loop can observe
    (evaluation, early-stopping checkpoints, the final weights).
    """
    import tensorflow as tf

    class KeepMasked(tf.keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self._pairs = [(self.model.get_layer(n).kernel, tf.constant(m)) for n, m in masks.items()]
            self._apply()

        def on_train_batch_end(self, batch, logs=None):
            self._apply()

        def _apply(self):
            for kernel, mask in self._pairs:
                kernel.assign(kernel * mask)

    return KeepMasked()

