"""The compiled epoch of a chunk of C stacked models: S training steps, then the validation loss.

Everything a Keras ``model.fit`` step does for one tagger is done here for C taggers at once, each with
its own weights, data batch, bit width, L1 strength, learning rate and masks:

* forward: z = h @ q(W) + q(b) per Dense layer (batched matmul over (C, B, n)), batch normalisation with
  the batch's own statistics (mean, biased variance, epsilon 1e-3) and moving averages (momentum 0.99),
  then ReLU or ``quantized_relu``; q is ``quantized_bits(bits, 0, alpha=1)`` for quantized members;
* loss: mean sparse softmax cross-entropy of the logits (the value Keras computes from a softmax output)
  + l1 * (sum |kernels| + sum |BN gammas|), differentiated by ``tf.GradientTape`` (straight-through
  quantizers, exactly as QKeras defines them; batch normalisation's gradient is written out, see
  :func:`batch_norm_training`);
* Adam (Keras defaults beta_1 0.9, beta_2 0.999, epsilon 1e-7) with each member's own step count, then the
  QDense constraint (kernels and biases clipped to [-1, 1], quantized members only), then the masks.

A step with ``active`` False for a member leaves every one of its variables untouched (weights, Adam
moments, step count, BN moving averages): a finished or padding member does not move.
Samples carry a weight of 1 (real) or 0 (padding of a short last batch); BN statistics and the loss are
weighted means over the real samples, so a padded batch behaves like Keras's smaller last batch.

The whole epoch is one XLA computation (``jit_compile=True``): no per-step Python or host work.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from qaplib.engine.quantizers import quantized_bits_unit, quantized_relu_values, select_quantized
from qaplib.models import ModelSpec, dense_layer_names

#: Keras ``BatchNormalization`` defaults (``build_model`` uses them).
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3
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


@dataclass(frozen=True)
class MemberConstants:
    """Per-member constants of a chunk, each (C,) (``quantized`` bool, the rest float32)."""

    quantized: object
    weight_levels: object
    relu_levels: object
    relu_unit: object
    relu_ceiling: object
    learning_rate: object
    l1: object


def _per_member(value, rank: int):
    """Reshape a (C,) tensor to (C, 1, ..., 1) with ``rank`` dimensions in total."""
    import tensorflow as tf

    return tf.reshape(value, [-1] + [1] * (rank - 1))


def batch_norm_training(z, gamma, beta, sample_weight):
    """Keras's training-mode batch normalisation of z (C, B, n) over the real samples of each member.

    mean = sum_b w_b z_b / sum_b w_b, variance = sum_b w_b (z_b - mean)^2 / sum_b w_b (biased, the mean
    held constant as in ``tf.nn.moments``), y = z inv + (beta - mean inv) with inv = gamma / sqrt(variance
    + epsilon). Returns (y, mean, variance), mean and variance (C, 1, n) without gradient. The gradient is
    the one TensorFlow derives for Keras's layer, written out so that every sum over the batch is a
    matrix-vector product (XLA's reductions over the middle axis are several times slower on CPU).
    ``sample_weight`` (C, B, 1) is 1 for real samples and 0 for padding.
    """
    import tensorflow as tf

    count = tf.reduce_sum(sample_weight, axis=1, keepdims=True)

    def batch_sum(values):
        if values.shape[0] == 1:  # XLA turns a batch-of-one matrix-vector product into a slow kernel
            return tf.reduce_sum(values * sample_weight, axis=1, keepdims=True)
        return tf.matmul(sample_weight, values, transpose_a=True)

    @tf.custom_gradient
    def normalise(z, gamma, beta):
        mean = batch_sum(z) / count
        centred = z - mean
        variance = batch_sum(tf.square(centred)) / count
        root = tf.math.rsqrt(variance + BN_EPSILON)
        inv = root * gamma
        y = z * inv + (beta - mean * inv)

        def gradient(dy, _dmean, _dvariance):
            dbeta = batch_sum(dy)
            dinv = batch_sum(dy * centred)
            dvariance = dinv * gamma * -0.5 * root * root * root
            dz = dy * inv + sample_weight * ((-inv * dbeta + 2.0 * dvariance * centred) / count)
            return dz, dinv * root, dbeta

        return (y, mean, variance), gradient

    y, mean, variance = normalise(z, gamma, beta)
    return y, tf.stop_gradient(mean), tf.stop_gradient(variance)


def forward(arch: Architecture, weights: dict, consts: MemberConstants, x, sample_weight, training: bool):
    """Logits (C, B, 5) of a chunk for inputs x (C, B, 16), and the BN moving averages after this batch.

    ``sample_weight`` (C, B, 1) is 1 for real and 0 for padding samples; in training mode BN uses the
    weighted batch mean and biased variance, otherwise the moving averages. Returns (logits, moving),
    ``moving`` mapping (bn layer, role) to the updated (C, n) moving averages (training mode only).
    """
    import tensorflow as tf

    quantized3 = _per_member(consts.quantized, 3)
    levels3 = _per_member(consts.weight_levels, 3)
    relu = [_per_member(v, 3) for v in (consts.relu_levels, consts.relu_unit, consts.relu_ceiling)]
    moving = {}
    h = x
    for i, layer in enumerate(arch.kernel_layers):
        kernel, bias = weights[(layer, "kernel")], weights[(layer, "bias")][:, None, :]
        kernel = select_quantized(quantized3, quantized_bits_unit(kernel, levels3), kernel)
        bias = select_quantized(quantized3, quantized_bits_unit(bias, levels3), bias)
        z = tf.matmul(h, kernel) + bias
        if i == len(arch.widths):
            return z, moving
        if arch.batchnorm:
            bn = f"bn{i + 1}"
            gamma, beta = weights[(bn, "gamma")][:, None, :], weights[(bn, "beta")][:, None, :]
            if training:
                z, mean, variance = batch_norm_training(z, gamma, beta, sample_weight)
                decay = tf.constant(1.0 - BN_MOMENTUM, tf.float32)
                for role, value in (("moving_mean", mean), ("moving_variance", variance)):
                    old = weights[(bn, role)]
                    moving[(bn, role)] = old - (old - value[:, 0, :]) * decay
            else:
                mean, variance = weights[(bn, "moving_mean")][:, None, :], weights[(bn, "moving_variance")][:, None, :]
                z = tf.nn.batch_normalization(z, mean, variance, beta, gamma, BN_EPSILON)
        h = select_quantized(quantized3, quantized_relu_values(z, *relu), tf.nn.relu(z))
    raise AssertionError("unreachable: the last Dense layer returns")


def regularization(arch: Architecture, weights: dict, l1):
    """l1 * (sum |kernel| over Dense layers + sum |gamma| over BN layers), per member: (C,)."""
    import tensorflow as tf

    total = tf.add_n([tf.reduce_sum(tf.abs(weights[(layer, "kernel")]), axis=[1, 2]) for layer in arch.kernel_layers])
    if arch.batchnorm:
        total += tf.add_n([tf.reduce_sum(tf.abs(weights[(f"bn{i + 1}", "gamma")]), axis=1) for i in range(len(arch.widths))])
    return l1 * total


def batch_loss_terms(logits, labels, sample_weight):
    """Per member (C,): weighted mean cross-entropy, number of correct predictions, number of samples.

    ``logits`` (C, B, 5), ``labels`` (C, B) int32, ``sample_weight`` (C, B) in {0, 1}.
    """
    import tensorflow as tf

    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    count = tf.reduce_sum(sample_weight, axis=1)
    mean = tf.math.divide_no_nan(tf.reduce_sum(cross_entropy * sample_weight, axis=1), count)
    predicted = tf.argmax(tf.nn.softmax(logits), axis=-1, output_type=tf.int32)
    correct = tf.reduce_sum(tf.cast(tf.equal(predicted, labels), tf.float32) * sample_weight, axis=1)
    return mean, correct, count


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
):
    """One optimiser step of every member of a chunk. Returns the new state and the batch's metrics.

    Args:
        weights: tensors in :attr:`Architecture.weight_names` order, each (C, ...).
        adam_m, adam_v: Adam moments of the trainable weights (:attr:`Architecture.trainable` order).
        steps: (C,) int32 optimiser steps taken so far (Keras ``iterations``).
        masks: (C, n_in, n_out) {0, 1} per Dense kernel.
        x: (C, B, 16) float32, labels (C, B) int32, sample_weight (C, B) float32, active (C,) bool.
    """
    import tensorflow as tf

    names = arch.weight_names
    by_name = dict(zip(names, weights, strict=True))
    trainable = [weights[i] for i in arch.trainable]
    with tf.GradientTape() as tape:
        tape.watch(trainable)
        logits, moving = forward(arch, by_name, consts, x, sample_weight[..., None], training=True)
        cross_entropy, correct, count = batch_loss_terms(logits, labels, sample_weight)
        loss = cross_entropy + regularization(arch, by_name, consts.l1)
        objective = tf.reduce_sum(loss)
    gradients = tape.gradient(objective, trainable)
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
            updated = select_quantized(_per_member(consts.quantized, rank), tf.clip_by_value(updated, -1.0, 1.0), updated)
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

    by_name = dict(zip(arch.weight_names, weights, strict=True))

    def body(k, loss_sum, correct_sum, count_sum):
        x, labels = tf.gather(x_pool, val_index[k]), tf.gather(y_pool, val_index[k])
        logits, _ = forward(arch, by_name, consts, x, None, training=False)
        mean, correct, count = batch_loss_terms(logits, labels, val_weight[k])
        return k + 1, loss_sum + mean * count, correct_sum + correct, count_sum + count

    zeros = tf.zeros_like(consts.l1)
    _, loss_sum, correct_sum, count_sum = tf.while_loop(
        lambda k, *_: k < tf.shape(val_index)[0], body, (tf.constant(0), zeros, zeros, zeros)
    )
    return loss_sum / count_sum + regularization(arch, by_name, consts.l1), correct_sum / count_sum


@functools.cache
def epoch_function(arch: Architecture):
    """The XLA-compiled epoch of one chunk (one compilation per architecture and input shapes).

    Call as ``f(weights, adam_m, adam_v, steps, masks, consts, x_pool, y_pool, batch_index, batch_weight,
    active, val_index, val_weight)`` with ``batch_index``/``batch_weight`` (S, C, B), ``active`` (S, C);
    returns (weights, adam_m, adam_v, steps, loss, accuracy, val_loss, val_accuracy), the last four (C,)
    (loss and accuracy averaged over the epoch's real samples as Keras's history does).
    """
    import tensorflow as tf

    @tf.function(jit_compile=True, reduce_retracing=True)
    def epoch(
        weights,
        adam_m,
        adam_v,
        steps,
        masks,
        consts_tuple,
        x_pool,
        y_pool,
        batch_index,
        batch_weight,
        active,
        val_index,
        val_weight,
    ):
        consts = MemberConstants(*consts_tuple)

        def body(s, weights, adam_m, adam_v, steps, loss_sum, correct_sum, count_sum):
            x, labels = tf.gather(x_pool, batch_index[s]), tf.gather(y_pool, batch_index[s])
            weights, adam_m, adam_v, steps, (loss, correct, count) = train_step(
                arch, weights, adam_m, adam_v, steps, masks, consts, x, labels, batch_weight[s], active[s]
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
        return weights, adam_m, adam_v, steps, loss, accuracy, val_loss, val_accuracy

    return epoch
