"""Classification metrics of a jet tagger, as pure functions of labels and scores.

Shapes: ``labels`` (n,) int class indices in [0, 5); ``scores`` (n, 5) class probabilities (any
monotone per-class score gives the same ROC-based numbers).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve


def accuracy(labels: np.ndarray, scores: np.ndarray) -> float:
    """Fraction of jets whose arg-max class is the true class: mean(argmax(scores) == labels)."""
    return float(np.mean(np.argmax(scores, axis=1) == labels))


def auc_per_class(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """One-vs-rest ROC AUC per class, shape (5,): AUC_k = P(score_k(sig) > score_k(bkg))."""
    return np.array([roc_auc_score(labels == k, scores[:, k]) for k in range(scores.shape[1])])


def macro_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Unweighted mean of the one-vs-rest AUCs (sklearn's ``average='macro'``, as the paper)."""
    return float(np.mean(auc_per_class(labels, scores)))


def background_efficiency_at(labels: np.ndarray, scores: np.ndarray, signal_efficiency: float = 0.5) -> np.ndarray:
    """False-positive rate of each one-vs-rest classifier at a given true-positive rate, shape (5,).

    eps_b(k) = FPR_k interpolated at TPR_k = ``signal_efficiency`` (the paper's
    ``np.interp(0.5, tpr, fpr)``). Lower is better.
    """
    result = []
    for k in range(scores.shape[1]):
        fpr, tpr, _ = roc_curve(labels == k, scores[:, k])
        result.append(np.interp(signal_efficiency, tpr, fpr))
    return np.array(result)


def roc_curves(labels: np.ndarray, scores: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per-class one-vs-rest (signal efficiency, background efficiency) arrays."""
    curves = []
    for k in range(scores.shape[1]):
        fpr, tpr, _ = roc_curve(labels == k, scores[:, k])
        curves.append((tpr, fpr))
    return curves


def normalised_confusion(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Row-normalised confusion matrix (5, 5): entry [i, j] = P(predicted j | true i)."""
    n_classes = scores.shape[1]
    return confusion_matrix(labels, np.argmax(scores, axis=1), labels=range(n_classes), normalize="true")


# ---------------------------------------------------------------- cost: bit operations


def layer_bops(n_inputs: int, n_outputs: int, weight_bits: int, activation_bits: int, unpruned_fraction: float) -> float:
    """Bit operations of one fully connected layer (Baskin et al., as in the paper's code).

    BOPs = m * n * (p * b_a * b_w + b_a + b_w + log2(n)) with n inputs, m outputs, weight bits b_w,
    input-activation bits b_a and p the unpruned fraction of the layer's weights *and biases*.
    Only the multiplications scale with p; the accumulations do not.
    """
    n, m = n_inputs, n_outputs
    return m * n * (unpruned_fraction * activation_bits * weight_bits + activation_bits + weight_bits + np.log2(n))


def _quantizer_bits(layer, attribute: str) -> int:
    quantizer = getattr(layer, attribute, None)
    return int(quantizer.bits) if quantizer is not None and hasattr(quantizer, "bits") else 32


def _dense_layers(model) -> list[tuple[object, int, int]]:
    """(layer, weight bits b_w, input-activation bits b_a) of the Dense layers fc1..fcN, input to output."""
    names = sorted((layer.name for layer in model.layers if layer.name.startswith("fc")), key=lambda n: int(n[2:]))
    layer_names = {layer.name for layer in model.layers}
    layers = []
    for index, name in enumerate(names):
        layer = model.get_layer(name)
        if index == 0:
            activation_bits = _quantizer_bits(model.get_layer("input_quant"), "quantizer") if "input_quant" in layer_names else 32
        else:
            activation_bits = _quantizer_bits(model.get_layer(f"relu{index}"), "quantizer")
        layers.append((layer, _quantizer_bits(layer, "kernel_quantizer"), activation_bits))
    return layers


def _total_bops(model, parameters: dict[str, tuple[np.ndarray, np.ndarray]]) -> int:
    """Sum of :func:`layer_bops` with p counted from ``parameters`` (layer name -> (kernel, bias))."""
    total = 0.0
    for layer, weight_bits, activation_bits in _dense_layers(model):
        kernel, bias = parameters[layer.name]
        unpruned = (np.count_nonzero(kernel) + np.count_nonzero(bias)) / (kernel.size + bias.size)
        total += layer_bops(kernel.shape[0], kernel.shape[1], weight_bits, activation_bits, unpruned)
    return int(round(total))


def bops(model) -> int:
    """Total BOPs of a tagger built by :func:`qaplib.models.build_model` (pruned or not): the paper's count.

    Sum of :func:`layer_bops` over the Dense layers fc1..fcN. b_w is the kernel quantizer's bit
    width (32 for float layers). b_a is 32 for fc1 unless the model quantizes its inputs
    (``input_quant`` layer), otherwise the bit width of the preceding activation quantizer.
    p counts the non-zero *stored* (float) weights and biases of the layer, as the paper's code
    does; weights that only the quantizer rounds to zero still count (see :func:`effective_bops`).
    BN and softmax are not counted.

    Example (unpruned, all biases non-zero): 4,652,832 for 32 bits, 412,960 for 6 bits.
    """
    return _total_bops(model, {layer.name: tuple(layer.get_weights()[:2]) for layer, _, _ in _dense_layers(model)})


def effective_bops(model, exported: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> int:
    """Total BOPs with p counted from the weights the firmware implements: the *effective* count.

    The same formula, b_w and b_a as :func:`bops`, but p is the non-zero fraction of each layer's kernel
    and bias after its quantizer, as the firmware of the trained network implements them, batch
    normalisation being a stage of its own (:func:`qaplib.layer_chain.implemented_dense_weights`, computed
    here unless ``exported`` is given): a weight that quantization rounds to zero costs nothing in the
    firmware, so it is not counted. For float models batch norm is folded exactly and the two counts differ
    only where a stored bias is exactly zero.
    """
    return _total_bops(model, exported if exported is not None else _exported(model))


def effective_sparsity(model, exported: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> float:
    """Fraction of all Dense kernel weights that are zero as the firmware implements them (pruned or rounded).

    Compare :func:`qaplib.pruning.measured_sparsity`, which counts the stored zeros only. ``exported``: as
    in :func:`effective_bops`.
    """
    kernels = [kernel for kernel, _ in (exported if exported is not None else _exported(model)).values()]
    return float(sum(int((k == 0).sum()) for k in kernels) / sum(k.size for k in kernels))


def _exported(model) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from qaplib.layer_chain import implemented_dense_weights

    return implemented_dense_weights(model)


# ---------------------------------------------------------------- information content


def layer_entropy_bits(states: np.ndarray) -> float:
    """Shannon entropy [bits] of the empirical distribution of binary microstates.

    H = -sum_s p_s log2 p_s over the distinct rows s of ``states`` ((n_examples, n_neurons) bool).
    """
    p = microstate_counts(states) / len(states)
    return float(-(p * np.log2(p)).sum())


def microstate_counts(states: np.ndarray) -> np.ndarray:
    """How often each distinct row of ``states`` ((n_examples, n_neurons) bool) occurs, in the rows'
    lexicographic order (the order of ``np.unique(..., axis=0)``).

    Up to 64 neurons a row is packed into one big-endian 64-bit integer (its bytes, zero-padded at the
    end), whose numeric order is the rows' byte order: a 1-D ``np.unique`` then gives the same counts in
    the same order about 20 times faster than ``np.unique(axis=0)``, which wider layers still use.
    """
    packed = np.packbits(np.asarray(states, dtype=bool), axis=1)
    width = packed.shape[1]
    if width > 8:
        return np.unique(packed, axis=0, return_counts=True)[1]
    words = np.zeros((len(packed), 8), dtype=np.uint8)
    words[:, :width] = packed
    return np.unique(words.view(">u8").ravel(), return_counts=True)[1]


def neural_efficiency_from_states(states: list[np.ndarray]) -> float:
    """Network efficiency: geometric mean over layers of H_l / N_l (Schaub & Hotaling 2020).

    ``states``: one (n_examples, N_l) bool array per recorded layer (neuron fires: value > 0).
    Each layer's efficiency H_l / N_l lies in [0, 1]; the network's is (prod_l eta_l)^(1/L).
    A layer with zero entropy makes the network efficiency 0.
    """
    efficiencies = np.array([layer_entropy_bits(s) / s.shape[1] for s in states])
    if np.any(efficiencies <= 0):
        return 0.0
    return float(np.exp(np.mean(np.log(efficiencies))))


def recorded_layer_names(model) -> list[str]:
    """Layers whose outputs are binarised: bn1.. (or fc1.. without BN) before each ReLU, and the logits."""
    names = {layer.name for layer in model.layers}
    dense = sorted((n for n in names if n.startswith("fc")), key=lambda n: int(n[2:]))
    hidden = [f"bn{i}" if f"bn{i}" in names else f"fc{i}" for i in range(1, len(dense))]
    return [*hidden, dense[-1]]


def neural_efficiency(model, x: np.ndarray, batch_size: int = 8192) -> float:
    """Neural efficiency of ``model`` on inputs ``x`` ((n, 16) float32), as in the paper's code.

    States are the pre-activations of :func:`recorded_layer_names` binarised as value > 0.
    """
    import tensorflow as tf

    names = recorded_layer_names(model)
    probe = tf.keras.Model(model.input, [model.get_layer(n).output for n in names])
    outputs = probe.predict(x, batch_size=batch_size, verbose=0)
    return neural_efficiency_from_states([np.asarray(o) > 0 for o in outputs])


def aiq(performance: float, efficiency: float, beta: float = 2.0) -> float:
    """Artificial intelligence quotient: (a^beta * eta)^(1 / (beta + 1)); the paper uses a = macro AUC, beta = 2."""
    return float((performance**beta * efficiency) ** (1.0 / (beta + 1.0)))
