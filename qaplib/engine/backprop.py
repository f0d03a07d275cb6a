"""One member's training forward pass and its gradients, written out so that every product is a plain one.

Why by hand: XLA on CPU hands each matrix product to Eigen, and Eigen is several times slower on the
products ``tf.GradientTape`` asks for than on a plain row-major one. A weight gradient h^T dz contracts
the batch axis of two batch-major arrays (2 to 4x slower), and a product batched over the member axis
(C, B, n) is slower than C separate 2D products. Together they were about 60 % of a training step.
Here every product is a plain 2D product, and everything is batch-major except the softmax:

* forward: z = h @ q(W), shape (B, out);
* backward: dz (B, out); input gradient dh = dz @ q(W)^T (B, in), with q(W)^T materialised (a small
  array); weight gradient dW = h^T dz (in, out), computed with the narrower operand transposed and
  materialised first (see :func:`_weight_gradient`);
* softmax and cross-entropy are class-major, (5, B), so that the exponentials are vectorised along the
  batch; their gradient is transposed back to batch-major once.

Every transpose is materialised, so XLA never folds one into an operand of a product.

The gradients are those ``tf.GradientTape`` derives for the model of ``qaplib.models.build_model`` and the
loss of ``qaplib.train.fit`` (``tests/test_engine.py`` compares them with Keras's own):

* QKeras's quantizers are straight-through: the gradient of q(W) is passed to W unchanged;
* ``quantized_relu``'s derivative is 1 on (0, m_i - m_f] and 0 elsewhere, ReLU's 1 on (0, inf);
* batch normalisation uses the mean and biased variance over the batch's real samples (as Keras does
  for a short last batch), epsilon 1e-3, momentum 0.99 for the moving averages; its gradient is the one
  TensorFlow derives for Keras's layer, with the statistics' own gradients included;
* mean cross-entropy over the real samples: d/dlogits = (softmax - one_hot) w_b / sum(w);
* L1: l1 sign(x) for every kernel and BN gamma (``tf.abs``'s derivative, 0 at 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from qaplib.engine.quantizers import (
    QuantizerParameters,
    quantized_bits_unit,
    quantized_relu_passes,
    quantized_relu_values,
)

#: Keras ``BatchNormalization`` defaults (``build_model`` uses them).
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3


@dataclass(frozen=True)
class MemberGradients:
    """What one training step of one member needs: gradients and the batch's statistics.

    ``gradients`` maps (layer, role) of every trainable weight to its gradient (the weight's shape);
    ``moving`` maps (bn layer, "moving_mean"/"moving_variance") to the moving average after this batch
    (out,); ``loss`` is the weighted mean cross-entropy plus the L1 term, ``correct`` and ``count`` the
    number of correctly classified and of real samples (scalars).
    """

    gradients: dict
    moving: dict
    loss: object
    correct: object
    count: object


def _materialised(value):
    """``value`` computed into an array of its own: XLA may not fold a transpose into a product that reads
    it, nor fuse its computation into a reduction (both turn fast kernels into slow ones)."""
    from tensorflow.compiler.tf2xla.python.xla import optimization_barrier

    return optimization_barrier(value)[0]


def _weight_gradient(inputs, output_gradient):
    """h^T dz (in, out) for h (B, in) and dz (B, out) (materialised), as the fastest plain product.

    Eigen is slow on h^T dz itself (both operands contracted along their rows). Transposing the narrower
    operand makes it a plain product: dz^T h (out, in), then transposed (a small array), or h^T dz with h^T
    materialised. XLA's transposes cost about 1 ns per element, so for equal widths h^T dz is kept.
    """
    import tensorflow as tf

    n_in, n_out = inputs.shape[-1], output_gradient.shape[-1]
    if n_out < n_in:
        return tf.transpose(_materialised(tf.matmul(_materialised(tf.transpose(output_gradient)), inputs)))
    if n_in < n_out:
        return tf.matmul(_materialised(tf.transpose(inputs)), output_gradient)
    return tf.matmul(inputs, output_gradient, transpose_a=True)


#: Sums over the batch are split into this many partial sums (when the batch size allows it).
BATCH_SUM_PARTS = 8


def _batch_sum_of(sample_weight):
    """A function that sums (B, n) arrays over the batch, each row weighted by ``sample_weight`` (B,): (1, n).

    A sum over the batch is a product with the sample weights, but XLA rewrites a plain vector-matrix
    product into a reduction, several times slower here. As a product batched over 8 parts of the batch
    ((8, 1, B/8) @ (8, B/8, n), then the 8 partial sums added) it stays a product; a batch size not
    divisible by 8 uses a product with two identical weight rows instead.
    """
    import tensorflow as tf

    size = sample_weight.shape[0]
    if size % BATCH_SUM_PARTS == 0:
        parts = _materialised(tf.reshape(sample_weight, [BATCH_SUM_PARTS, 1, size // BATCH_SUM_PARTS]))

        def batch_sum(values):
            partial = tf.matmul(parts, tf.reshape(values, [BATCH_SUM_PARTS, size // BATCH_SUM_PARTS, -1]))
            return tf.reduce_sum(partial, axis=0)

        return batch_sum
    rows = _materialised(tf.stack([sample_weight, sample_weight]))
    return lambda values: tf.matmul(rows, values)[:1]


def _layers(widths: tuple[int, ...]) -> list[str]:
    return [f"fc{i + 1}" for i in range(len(widths) + 1)]


def _quantized_layer(weights: dict, layer: str, q: QuantizerParameters):
    """(kernel, bias) of a Dense layer as the member's forward pass uses them (quantized or float)."""
    import tensorflow as tf

    kernel, bias = weights[(layer, "kernel")], weights[(layer, "bias")]
    kernel = tf.where(q.quantized, quantized_bits_unit(kernel, q.weight_levels, q.weight_step), kernel)
    bias = tf.where(q.quantized, quantized_bits_unit(bias, q.weight_levels, q.weight_step), bias)
    return kernel, bias


def _activation(z, q: QuantizerParameters):
    import tensorflow as tf

    return tf.where(q.quantized, quantized_relu_values(z, q.relu_scale, q.relu_step, q.relu_unit), tf.nn.relu(z))


def l1_penalty(widths: tuple[int, ...], batchnorm: bool, weights: dict):
    """sum |kernel| over the Dense layers + sum |gamma| over the BN layers (scalar), to be scaled by l1."""
    import tensorflow as tf

    penalty = tf.add_n([tf.reduce_sum(tf.abs(weights[(layer, "kernel")])) for layer in _layers(widths)])
    if batchnorm:
        penalty += tf.add_n([tf.reduce_sum(tf.abs(weights[(f"bn{i + 1}", "gamma")])) for i in range(len(widths))])
    return penalty


def class_major_softmax(logits, labels):
    """Cross-entropy (B,), softmax probabilities (classes, B) and one-hot labels (classes, B) of ``logits`` (B, classes).

    Computed in class-major layout: XLA then vectorises the exponentials along the batch (along rows of 5
    it computes them one by one, about 7 ns each). Cross-entropy = log(sum exp(l - max)) - (l_label - max).
    """
    import tensorflow as tf

    one_hot_t = tf.one_hot(labels, logits.shape[-1], axis=0)
    logits_t = _materialised(tf.transpose(logits))
    shifted_t = logits_t - tf.reduce_max(logits_t, axis=0)
    exponentials_t = _materialised(tf.exp(shifted_t))
    sums = tf.reduce_sum(exponentials_t, axis=0)
    cross_entropy = tf.math.log(sums) - tf.reduce_sum(shifted_t * one_hot_t, axis=0)
    return cross_entropy, exponentials_t / sums, one_hot_t


def count_correct(probabilities_t, labels, sample_weight):
    """Weighted number of samples whose most probable class is the label (Keras's accuracy, summed)."""
    import tensorflow as tf

    predicted = tf.argmax(probabilities_t, axis=0, output_type=tf.int32)
    return tf.reduce_sum(tf.cast(tf.equal(predicted, labels), tf.float32) * sample_weight)


def member_logits(widths: tuple[int, ...], batchnorm: bool, weights: dict, quantizers: QuantizerParameters, x):
    """Inference-mode logits (B, 5) of one member (batch normalisation with the moving averages)."""
    import tensorflow as tf

    layers = _layers(widths)
    h = x
    for i, layer in enumerate(layers):
        kernel, bias = _quantized_layer(weights, layer, quantizers)
        z = tf.matmul(h, kernel) + bias
        if i == len(widths):
            return z
        if batchnorm:
            bn = f"bn{i + 1}"
            mean, variance = weights[(bn, "moving_mean")], weights[(bn, "moving_variance")]
            z = tf.nn.batch_normalization(z, mean, variance, weights[(bn, "beta")], weights[(bn, "gamma")], BN_EPSILON)
        h = _activation(z, quantizers)
    raise AssertionError("unreachable: the last Dense layer returns")


def member_gradients(
    widths: tuple[int, ...], batchnorm: bool, weights: dict, quantizers: QuantizerParameters, l1, x, labels, sample_weight
) -> MemberGradients:
    """Forward pass in training mode and gradients of the loss for one member and one batch.

    Args:
        widths, batchnorm: the architecture (hidden widths; batch normalisation after each hidden Dense).
        weights: (layer, role) -> weight tensor without a member axis (``build_model`` shapes).
        quantizers: this member's constants (scalars); ``quantized`` False means a float member (plain ReLU).
        l1: the member's L1 strength (scalar).
        x: (B, 16) inputs, ``labels`` (B,) int32, ``sample_weight`` (B,) 1 for real and 0 for padding.
    """
    import tensorflow as tf

    q = quantizers
    count = tf.reduce_sum(sample_weight)
    inverse_count = 1.0 / count
    batch_sum = _batch_sum_of(sample_weight)
    weight_row = sample_weight[:, None]
    layers = _layers(widths)
    saved = []  # per layer: what its backward pass reads
    moving = {}
    h = x
    for i, layer in enumerate(layers):
        kernel, bias = _quantized_layer(weights, layer, q)
        z = tf.matmul(h, kernel) + bias
        entry = {"input": h, "kernel": kernel}
        saved.append(entry)
        if i == len(widths):
            logits = z
            break
        if batchnorm:
            bn = f"bn{i + 1}"
            gamma, beta = weights[(bn, "gamma")], weights[(bn, "beta")]
            mean = batch_sum(z) / count
            centred = z - mean
            variance = batch_sum(_materialised(tf.square(centred))) / count
            root = tf.math.rsqrt(variance + BN_EPSILON)[0]
            inv = root * gamma
            z = z * inv + (beta - mean * inv)
            decay = tf.constant(1.0 - BN_MOMENTUM, tf.float32)
            for role, value in (("moving_mean", mean[0]), ("moving_variance", variance[0])):
                old = weights[(bn, role)]
                moving[(bn, role)] = old - (old - value) * decay
            entry.update(centred=centred, root=root, inv=inv, gamma=gamma)
        entry["pre_activation"] = z
        h = _activation(z, q)

    cross_entropy, probabilities_t, one_hot_t = class_major_softmax(logits, labels)
    penalty = l1 * l1_penalty(widths, batchnorm, weights)
    loss = tf.math.divide_no_nan(tf.reduce_sum(cross_entropy * sample_weight), count) + penalty
    correct = count_correct(probabilities_t, labels, sample_weight)

    gradients = {}
    scale = tf.math.divide_no_nan(sample_weight, count)
    dz = tf.transpose(_materialised((probabilities_t - one_hot_t) * scale))
    for i in reversed(range(len(layers))):
        layer, entry = layers[i], saved[i]
        dz = _materialised(dz)
        gradients[(layer, "kernel")] = _weight_gradient(entry["input"], dz) + l1 * tf.sign(weights[(layer, "kernel")])
        gradients[(layer, "bias")] = batch_sum(dz)[0]
        if i == 0:
            break
        dh = tf.matmul(dz, _materialised(tf.transpose(entry["kernel"])))
        below = saved[i - 1]
        pre = below["pre_activation"]
        passes = tf.where(q.quantized, quantized_relu_passes(pre, q.relu_ceiling), pre > 0)
        dz = tf.where(passes, dh, tf.zeros_like(dh))
        if batchnorm:
            bn = f"bn{i}"
            dz = _materialised(dz)
            centred, root, inv, gamma = below["centred"], below["root"], below["inv"], below["gamma"]
            dbeta = batch_sum(dz)
            dinv = batch_sum(_materialised(dz * centred))
            dvariance = dinv * gamma * -0.5 * root * root * root
            dz = dz * inv + weight_row * ((-inv * dbeta + 2.0 * dvariance * centred) * inverse_count)
            gradients[(bn, "gamma")] = (dinv * root)[0] + l1 * tf.sign(gamma)
            gradients[(bn, "beta")] = dbeta[0]
    return MemberGradients(gradients, moving, loss, correct, count)
