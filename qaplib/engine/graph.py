"""The compiled epoch of a chunk of C stacked models: S training steps, then the validation loss.

Everything a Keras ``model.fit`` step does for one tagger is done here for C taggers at once, each with
its own weights, data batch, bit width, L1 strength, learning rate and masks:

* forward: z = h @ q(W) + q(b) per Dense layer, batch normalisation with the batch's own statistics
  (mean, biased variance, epsilon 1e-3) and moving averages (momentum 0.99), then ReLU or
  ``quantized_relu``; q is ``quantized_bits(bits, 0, alpha=1)`` for quantized members;
* loss: mean softmax cross-entropy of the logits (the value Keras computes from a softmax output)
  + l1 * (sum |kernels| + sum |BN gammas|), and its gradients (straight-through quantizers, exactly as
  QKeras defines them). Both are computed member by member with plain 2D products and written out by
  hand, see :mod:`qaplib.engine.backprop` for why;
* Adam (Keras defaults beta_1 0.9, beta_2 0.999, epsilon 1e-7) with each member's own step count, then the
  QDense constraint (kernels and biases clipped to [-1, 1], quantized members only), then the masks.

A step with ``active`` False for a member leaves every one of its variables untouched (weights, Adam
moments, step count, BN moving averages): a finished or padding member does not move. Such a step, and
a validation batch without real samples, is not computed at all (a conditional around each member's
work): the padding member of a partly filled chunk costs nothing. The conditional does not change the
active members' arithmetic: when it was introduced, runs trained with and without it were equal bit for
bit, and ``qap verify`` recomputed committed runs (trained before it) to the same bits.
Samples carry a weight of 1 (real) or 0 (padding of a short last batch); BN statistics and the loss are
weighted means over the real samples, so a padded batch behaves like Keras's smaller last batch.

The whole epoch is one XLA computation (``jit_compile=True``): no per-step Python or host work.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields

from qaplib.engine.backprop import (
    BN_EPSILON,
    BN_MOMENTUM,
    MemberGradients,
    class_major_softmax,
    count_correct,
    l1_penalty,
    member_gradients,
    member_logits,
)
from qaplib.engine.quantizers import QuantizerParameters, select_quantized
from qaplib.models import ModelSpec, dense_layer_names

__all__ = ["BN_EPSILON", "BN_MOMENTUM", "Architecture", "MemberConstants", "epoch_function", "train_step"]
#: Keras ``Adam`` defaults (``qaplib.train.fit`` uses them).
ADAM_BETA_1 = 0.9
ADAM_BETA_2 = 0.999
ADAM_EPSILON = 1e-7


@dataclass(frozen=True)
class Architecture:
    """What every member of a batch shares: hidden widths and whether batch normalisation is used."""

    widths: tuple[int, ...]
    batchnorm: bool

    @classmethod
    def of(cls, spec: ModelSpec) -> Architecture:
        return cls(widths=spec.widths, batchnorm=spec.batchnorm)

    @property
    def weight_names(self) -> tuple[tuple[str, str], ...]:
        """(layer, role) of each weight in ``build_model(spec).get_weights()`` order."""
        spec = ModelSpec(widths=self.widths, batchnorm=self.batchnorm)
        names: list[tuple[str, str]] = []
        for i, layer in enumerate(dense_layer_names(spec)):
            names += [(layer, "kernel"), (layer, "bias")]
            if self.batchnorm and i < len(self.widths):
                names += [(f"bn{i + 1}", role) for role in ("gamma", "beta", "moving_mean", "moving_variance")]
        return tuple(names)

    @property
    def trainable(self) -> tuple[int, ...]:
        """Indices (into :attr:`weight_names`) of the weights Adam updates."""
        return tuple(i for i, (_, role) in enumerate(self.weight_names) if not role.startswith("moving"))

    @property
    def kernel_layers(self) -> tuple[str, ...]:
        return dense_layer_names(ModelSpec(widths=self.widths, batchnorm=self.batchnorm))

    @property
    def weight_shapes(self) -> tuple[tuple[int, ...], ...]:
        """Shape of each weight of one model, in :attr:`weight_names` order."""
        sizes = ModelSpec(widths=self.widths).layer_sizes
        shapes = []
        for layer, role in self.weight_names:
            index = int(layer[2:]) - 1
            shapes.append((sizes[index], sizes[index + 1]) if role == "kernel" else (sizes[index + 1],))
        return tuple(shapes)

    @property
    def state_shapes(self) -> tuple[tuple[int, ...], ...]:
        """Shapes of one member's training state as it is packed into one row: the weights, then Adam's
        first and then second moments of the trainable weights (see :func:`pack`)."""
        trainable = tuple(self.weight_shapes[i] for i in self.trainable)
        return self.weight_shapes + trainable + trainable

    @property
    def mask_shapes(self) -> tuple[tuple[int, ...], ...]:
        return tuple(self.weight_shapes[self.weight_names.index((layer, "kernel"))] for layer in self.kernel_layers)


def unpack(packed, shapes: tuple[tuple[int, ...], ...]) -> list:
    """Split (C, P) rows into tensors (C, *shape) for each shape (TensorFlow; inverse of :func:`pack`)."""
    import tensorflow as tf

    sizes = [math.prod(shape) for shape in shapes]
    parts = tf.split(packed, sizes, axis=1)
    return [tf.reshape(part, [-1, *shape]) for part, shape in zip(parts, shapes, strict=True)]


def pack(tensors) -> object:
    """Tensors (C, ...) flattened per member and concatenated into rows (C, P) (TensorFlow)."""
    import tensorflow as tf

    return tf.concat([tf.reshape(t, [tf.shape(t)[0], -1]) for t in tensors], axis=1)


@dataclass(frozen=True)
class MemberConstants:
    """Per-member constants of a chunk: quantizer constants, learning rate and L1 strength, each (C,)."""

    quantizers: QuantizerParameters
    learning_rate: object
    l1: object

    @classmethod
    def from_columns(cls, columns) -> MemberConstants:
        """From (C, 9) rows: the ``QuantizerParameters`` fields (``quantized`` as 1.0/0.0), learning rate, L1."""
        import tensorflow as tf

        values = tf.unstack(columns, axis=1)
        count = len(fields(QuantizerParameters))
        return cls(QuantizerParameters(values[0] > 0.5, *values[1:count]), *values[count:])


def _member_weights(arch: Architecture, weights: tuple, c: int) -> dict:
    """(layer, role) -> member c's slice of each stacked weight."""
    return {name: w[c] for name, w in zip(arch.weight_names, weights, strict=True)}


def _per_member(value, rank: int):
    """Reshape a (C,) tensor to (C, 1, ..., 1) with ``rank`` dimensions in total."""
    import tensorflow as tf

    return tf.reshape(value, [-1] + [1] * (rank - 1))


def adam_update(parameter, gradient, m, v, alpha):
    """One Keras Adam step for stacked variables; ``alpha`` (broadcastable) = lr sqrt(1-b2^t) / (1-b1^t)."""
    import tensorflow as tf

    m = m + (gradient - m) * tf.constant(1 - ADAM_BETA_1, tf.float32)
    v = v + (tf.square(gradient) - v) * tf.constant(1 - ADAM_BETA_2, tf.float32)
    return parameter - (m * alpha) / (tf.sqrt(v) + ADAM_EPSILON), m, v


def train_step(
    arch: Architecture,
    weights: tuple,
    adam_m: tuple,
    adam_v: tuple,
    steps,
    masks: tuple,
    consts: MemberConstants,
    x,
    labels,
    sample_weight,
    active,
    chunk_size: int,
):
    """One optimiser step of every member of a chunk. Returns the new state and the batch's metrics.

    Args:
        weights: tensors in :attr:`Architecture.weight_names` order, each (C, ...).
        adam_m, adam_v: Adam moments of the trainable weights (:attr:`Architecture.trainable` order).
        steps: (C,) int32 optimiser steps taken so far (Keras ``iterations``).
        masks: (C, n_in, n_out) {0, 1} per Dense kernel.
        x: (C, B, 16) float32, labels (C, B) int32, sample_weight (C, B) float32, active (C,) bool.
        chunk_size: C, as a Python int (the members' computations are laid out one by one).
    """
    import tensorflow as tf

    names = arch.weight_names
    results = []
    for c in range(chunk_size):  # one plain 2D computation per member: see qaplib.engine.backprop
        member, quantizers = _member_weights(arch, weights, c), consts.quantizers.member(c)
        batch = (x[c], labels[c], sample_weight[c])

        def compute(member=member, quantizers=quantizers, batch=batch, c=c):
            result = member_gradients(arch.widths, arch.batchnorm, member, quantizers, consts.l1[c], *batch)
            return result.gradients, result.moving, result.loss, result.correct, result.count

        def skip(member=member):  # an inactive member: its update is discarded, so nothing is computed
            gradients = {names[i]: tf.zeros_like(member[names[i]]) for i in arch.trainable}
            moving = {key: member[key] for key in names if key[1].startswith("moving")}
            zero = tf.constant(0.0, tf.float32)
            return gradients, moving, zero, zero, zero

        results.append(MemberGradients(*tf.cond(active[c], compute, skip)))
    gradients = [tf.stack([r.gradients[names[i]] for r in results]) for i in arch.trainable]
    moving = {key: tf.stack([r.moving[key] for r in results]) for key in results[0].moving}
    loss, correct, count = (tf.stack([getattr(r, field) for r in results]) for field in ("loss", "correct", "count"))
    local_step = tf.cast(steps + 1, tf.float32)
    alpha = consts.learning_rate * tf.sqrt(1 - tf.pow(ADAM_BETA_2, local_step)) / (1 - tf.pow(ADAM_BETA_1, local_step))
    mask_of = dict(zip(arch.kernel_layers, masks, strict=True))
    new_weights, new_m, new_v = list(weights), list(adam_m), list(adam_v)
    for slot, (index, gradient) in enumerate(zip(arch.trainable, gradients, strict=True)):
        rank = len(weights[index].shape)
        keep = _per_member(active, rank)
        updated, m, v = adam_update(weights[index], gradient, adam_m[slot], adam_v[slot], _per_member(alpha, rank))
        layer, role = names[index]
        if role in ("kernel", "bias"):  # QDense's Clip(-1, 1) constraint, then the mask callback
            quantized = _per_member(consts.quantizers.quantized, rank)
            updated = select_quantized(quantized, tf.clip_by_value(updated, -1.0, 1.0), updated)
            if role == "kernel":
                updated = updated * mask_of[layer]
        new_weights[index] = tf.where(keep, updated, weights[index])
        new_m[slot] = tf.where(keep, m, adam_m[slot])
        new_v[slot] = tf.where(keep, v, adam_v[slot])
    for key, value in moving.items():
        index = names.index(key)
        new_weights[index] = tf.where(_per_member(active, 2), value, weights[index])
    live = tf.cast(active, tf.float32)
    metrics = (loss * count * live, correct * live, count * live)
    return tuple(new_weights), tuple(new_m), tuple(new_v), steps + tf.cast(active, tf.int32), metrics


def validation_metrics(arch: Architecture, weights: tuple, consts: MemberConstants, x_pool, y_pool, val_index, val_weight):
    """Keras's ``val_loss`` and ``val_accuracy`` per member (C,): inference-mode BN, mean over real samples.

    ``val_index`` (V, C, B) indexes rows of ``x_pool``/``y_pool``; ``val_weight`` (V, C, B) is 0 for padding.
    """
    import tensorflow as tf

    members = [_member_weights(arch, weights, c) for c in range(val_index.shape[1])]

    def body(k, loss_sum, correct_sum, count_sum):
        losses, corrects = [], []
        for c, member in enumerate(members):
            rows, weight = val_index[k, c], val_weight[k, c]

            def compute(member=member, c=c, rows=rows, weight=weight):
                labels = tf.gather(y_pool, rows)
                logits = member_logits(arch.widths, arch.batchnorm, member, consts.quantizers.member(c), tf.gather(x_pool, rows))
                cross_entropy, probabilities_t, _ = class_major_softmax(logits, labels)
                return tf.reduce_sum(cross_entropy * weight), count_correct(probabilities_t, labels, weight)

            loss, correct = tf.cond(tf.reduce_any(weight > 0), compute, lambda: (tf.constant(0.0), tf.constant(0.0)))
            losses.append(loss)
            corrects.append(correct)
        count = tf.reduce_sum(val_weight[k], axis=1)
        return k + 1, loss_sum + tf.stack(losses), correct_sum + tf.stack(corrects), count_sum + count

    zeros = tf.zeros_like(consts.l1)
    _, loss_sum, correct_sum, count_sum = tf.while_loop(
        lambda k, *_: k < tf.shape(val_index)[0], body, (tf.constant(0), zeros, zeros, zeros)
    )
    penalty = tf.stack([l1_penalty(arch.widths, arch.batchnorm, member) for member in members])
    return loss_sum / count_sum + consts.l1 * penalty, correct_sum / count_sum


@functools.cache
def epoch_function(arch: Architecture, chunk_size: int, batch_size: int):
    """The XLA-compiled epoch of a chunk of ``chunk_size`` members training with batches of ``batch_size``
    (one compilation per architecture and input shapes; the member and batch axes are fixed in the trace,
    the others, such as the numbers of steps, may vary between calls).

    Call as ``f(state, steps, masks, consts, x_pool, y_pool, batch_index, batch_weight, active, val_index,
    val_weight)``: ``state`` (C, P) is each member's weights and Adam moments packed into a row
    (:attr:`Architecture.state_shapes`), ``masks`` (C, P_mask) its kernel masks packed likewise,
    ``consts`` (C, 9) the rows :meth:`MemberConstants.from_columns` reads,
    ``batch_index``/``batch_weight`` (S, C, B) and ``active`` (S, C). Returns (state, steps, loss, accuracy,
    val_loss, val_accuracy), the last four (C,) (loss and accuracy averaged over the epoch's real samples
    as Keras's history does). Few, large arguments: each argument of a call costs host time.
    """
    import tensorflow as tf

    n_weights, n_trainable = len(arch.weight_names), len(arch.trainable)

    @tf.function(jit_compile=True, reduce_retracing=True)
    def epoch(state, steps, masks, consts, x_pool, y_pool, batch_index, batch_weight, active, val_index, val_weight):
        batch_index, batch_weight, val_index, val_weight = (
            tf.ensure_shape(t, [None, chunk_size, batch_size]) for t in (batch_index, batch_weight, val_index, val_weight)
        )
        unpacked = unpack(state, arch.state_shapes)
        weights, adam_m = tuple(unpacked[:n_weights]), tuple(unpacked[n_weights : n_weights + n_trainable])
        adam_v = tuple(unpacked[n_weights + n_trainable :])
        masks = tuple(unpack(masks, arch.mask_shapes))
        consts = MemberConstants.from_columns(consts)

        def body(s, weights, adam_m, adam_v, steps, loss_sum, correct_sum, count_sum):
            x, labels = tf.gather(x_pool, batch_index[s]), tf.gather(y_pool, batch_index[s])
            weights, adam_m, adam_v, steps, (loss, correct, count) = train_step(
                arch, weights, adam_m, adam_v, steps, masks, consts, x, labels, batch_weight[s], active[s], chunk_size
            )
            return s + 1, weights, adam_m, adam_v, steps, loss_sum + loss, correct_sum + correct, count_sum + count

        zeros = tf.zeros_like(consts.l1)
        loop = tf.while_loop(
            lambda s, *_: s < tf.shape(batch_index)[0],
            body,
            (tf.constant(0), weights, adam_m, adam_v, steps, zeros, zeros, zeros),
        )
        _, weights, adam_m, adam_v, steps, loss_sum, correct_sum, count_sum = loop
        val_loss, val_accuracy = validation_metrics(arch, weights, consts, x_pool, y_pool, val_index, val_weight)
        loss = tf.math.divide_no_nan(loss_sum, count_sum)
        accuracy = tf.math.divide_no_nan(correct_sum, count_sum)
        return pack(weights + adam_m + adam_v), steps, loss, accuracy, val_loss, val_accuracy

    return epoch
