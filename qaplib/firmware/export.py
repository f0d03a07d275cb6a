"""Export a trained tagger to what the firmware implements: a chain of fixed-point dense layers.

Quantized models (QKeras, ``bits`` < 32) become a :class:`~qaplib.firmware.spec.NetworkSpec`. By default
(:data:`STAGE`) that network **is the trained one**: every dense layer keeps its trained quantized kernel and
bias, and batch normalisation (float, between a QDense and its quantized ReLU) stays a stage of its own, as
hls4ml builds it (:class:`~qaplib.firmware.spec.BatchnormStage`)::

    s = gamma / sqrt(moving_variance + epsilon),  t = beta - moving_mean * s     (float32, as hls4ml computes them)
    y = round(z * s + t)                                                         (s, t, y on 2**-24: float32's precision)

with s and t on the 2**-24 grid exactly as hls4ml writes and reads them (:func:`hls4ml_grid`), and y's range
covering the ReLU's. The firmware input port is :data:`DEFAULT_INPUT_TYPE` (``ap_fixed<32,6>``, step 2**-26) for
models without an input quantizer, so it sees the float32 features the trained model saw. Trained model and
firmware then differ only where a float32 rounding inside TensorFlow and a 2**-24 fixed-point rounding land on
different sides of a ReLU rounding boundary: the chapter measures on how many test jets (none, so far).

:data:`ROUNDED_FOLD` is the earlier export, kept to show what it costs: batch normalisation folded into the
dense layer and the folded values rounded back onto the trained quantizer's grid (integer bits grown until they
fit), ``W' = round(W_q * s)``, ``b' = round((b_q - mean) * s + beta)``. That is **a different network**: each
pre-activation moves by up to (sum_i |x_i| + 1) * 2**-bits, and decisions differ on a few percent of jets.

Float models (``bits`` = 32) are folded exactly (:func:`fold_float_model`); their firmware is a fixed-point
approximation and is never bit-exact (see :mod:`qaplib.firmware.hls`).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from qaplib.errors import FirmwareError
from qaplib.firmware.spec import BatchnormStage, DenseLayer, NetworkSpec
from qaplib.fixed import FixedType
from qaplib.layer_chain import (
    batchnorm_scale_shift,
    check_supported,
    dense_groups,
    float_dense,
    is_quantized,
    layer_chain,
    quantized_dense,
    quantizer_type,
    unsupported,
)

#: The input port of a model without an input quantizer: standardised features in [-32, 32), step 2**-26.
DEFAULT_INPUT_TYPE = FixedType(32, 6)
#: float32 holds integers up to 2**24 exactly: wider kernels or biases would be rounded when stored.
FLOAT32_SIGNIFICAND_BITS = 24
#: Fraction bits of a batch-norm stage's scale, shift and result: float32's 24 significant bits.
BATCHNORM_FRACTION_BITS = 24
#: How batch normalisation is exported: kept as a stage (the trained network, the default), or folded into the
#: dense layer and rounded back onto the trained grid (a different network).
STAGE, ROUNDED_FOLD = "stage", "rounded fold"
BATCHNORM_EXPORTS = (STAGE, ROUNDED_FOLD)

def hls4ml_batchnorm_values(layer) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift), shape (n,), float32, computed as hls4ml 1.3's BatchNormalization computes them from the
    layer's float32 weights: ``gamma / sqrt(moving_variance + epsilon)`` and ``beta - scale * moving_mean``."""
    weights = {w.name.split("/")[-1].split(":")[0]: w.numpy() for w in layer.weights}
    n = weights["moving_mean"].shape[0]
    gamma = weights.get("gamma", np.ones(n, np.float32))
    beta = weights.get("beta", np.zeros(n, np.float32))
    scale = gamma / np.sqrt(weights["moving_variance"] + layer.epsilon)
    return scale, beta - scale * weights["moving_mean"]


def hls4ml_grid(values: np.ndarray, fixed_type: FixedType) -> np.ndarray:
    """``values`` as hls4ml's firmware holds them in ``fixed_type``: written in decimal with as many digits after
    the point as the type has fraction bits, read back by the C++ compiler as a double, then rounded half to even
    and saturated onto the type (float64, same shape)."""
    digits = max(0, fixed_type.fraction)
    decimal = np.array([float(f"{float(value):.{digits}f}") for value in np.ravel(values)]).reshape(np.shape(values))
    return fixed_type.quantize(decimal)


def batchnorm_stage(batchnorm, activation: FixedType) -> BatchnormStage:
    """``batchnorm`` as a fixed-point stage before a ReLU of type ``activation``: scale and shift on 2**-24 with the
    fewest integer bits that hold them, the result on 2**-24 with the ReLU's range (saturation beyond it leaves the
    ReLU's output unchanged)."""
    fraction = BATCHNORM_FRACTION_BITS
    scale, shift = hls4ml_batchnorm_values(batchnorm)
    wide = FixedType(62, 62 - fraction)
    types = [FixedType.covering(hls4ml_grid(values, wide), fraction, 1) for values in (scale, shift)]
    result = FixedType(activation.integer + 1 + fraction, activation.integer + 1)
    return BatchnormStage(batchnorm.name, hls4ml_grid(scale, types[0]), hls4ml_grid(shift, types[1]), *types, result)


def _folded_values(batchnorm, kernel, bias, kernel_type, bias_type) -> tuple[np.ndarray, np.ndarray]:
    """``batchnorm`` folded into (kernel, bias), rounded back onto the same fraction bits (module docstring)."""
    scale, shift = batchnorm_scale_shift(batchnorm)
    folded_kernel = FixedType(64, 64 - kernel_type.fraction).quantize(kernel * scale)
    folded_bias = FixedType(64, 64 - bias_type.fraction).quantize(bias * scale + shift)
    return folded_kernel, folded_bias


def _fold(dense, batchnorm, kernel, bias, kernel_type, bias_type) -> tuple[np.ndarray, np.ndarray, FixedType, FixedType]:
    """Fold ``batchnorm`` into (kernel, bias) and give the widened types; raises if float32 cannot hold them."""
    folded_kernel, folded_bias = _folded_values(batchnorm, kernel, bias, kernel_type, bias_type)
    new_kernel_type = FixedType.covering(folded_kernel, kernel_type.fraction, kernel_type.integer)
    new_bias_type = FixedType.covering(folded_bias, bias_type.fraction, bias_type.integer)
    for name, fixed_type in (("kernel", new_kernel_type), ("bias", new_bias_type)):
        if fixed_type.width > FLOAT32_SIGNIFICAND_BITS:
            raise unsupported(
                dense,
                f"folding {batchnorm.name!r} needs a {fixed_type.width}-bit {name} "
                f"({fixed_type.hls()}), which float32 QKeras cannot hold exactly",
            )
    return folded_kernel, folded_bias, new_kernel_type, new_bias_type


def export_network(model, default_input_type: FixedType = DEFAULT_INPUT_TYPE, batchnorm: str = STAGE) -> NetworkSpec:
    """The fixed-point network of a quantized tagger (module docstring).

    Args:
        model: a QKeras model as built by :func:`qaplib.models.build_model` (``bits`` < 32), pruned or not.
        default_input_type: the input type when the model has no input quantizer.
        batchnorm: :data:`STAGE` (the trained network) or :data:`ROUNDED_FOLD` (folded and re-rounded).
    Raises:
        FirmwareError: naming the layer, for anything that has no exact fixed-point equivalent.
    """
    if batchnorm not in BATCHNORM_EXPORTS:
        raise FirmwareError(f"batchnorm must be one of {BATCHNORM_EXPORTS}, got {batchnorm!r}")
    check_supported(model)
    if not is_quantized(model):
        raise FirmwareError(f"model {model.name!r} is a float model; use fold_float_model and hls.float_csim_report")
    ops = layer_chain(model)
    input_op = next((op for op in ops if op.kind == "input_quant"), None)
    input_type = quantizer_type(input_op.layer, input_op.layer.quantizer) if input_op else default_input_type
    layers = []
    for group in dense_groups(ops):
        dense, bn, relu = group["dense"], group["batchnorm"], group["relu"]
        kernel, bias, kernel_type, bias_type = quantized_dense(dense)
        activation = quantizer_type(relu, relu.quantizer) if relu is not None else None
        stage = None
        if bn is not None and batchnorm == ROUNDED_FOLD:
            kernel, bias, kernel_type, bias_type = _fold(dense, bn, kernel, bias, kernel_type, bias_type)
        elif bn is not None:
            stage = batchnorm_stage(bn, activation)
        layers.append(
            DenseLayer(
                name=dense.name,
                kernel=kernel,
                bias=bias,
                kernel_type=kernel_type,
                bias_type=bias_type,
                activation=activation,
                activation_name=relu.name if relu is not None else None,
                folded=bn.name if bn is not None and batchnorm == ROUNDED_FOLD else None,
                batchnorm=stage,
            )
        )
    spec = NetworkSpec(input_type, tuple(layers), input_op.layer.name if input_op else "input_quant")
    for layer, accumulator in zip(spec.layers, spec.accumulator_types(), strict=True):
        if accumulator.width > 53:
            raise unsupported(
                model.get_layer(layer.name),
                f"its accumulator {accumulator.hls()} exceeds float64's 53 bits, so no exact reference exists",
            )
    return spec


def _qkeras_quantizer(fixed_type: FixedType):
    from qkeras import quantized_bits, quantized_relu

    if fixed_type.signed:
        return quantized_bits(fixed_type.width, fixed_type.integer - 1, alpha=1)
    return quantized_relu(fixed_type.width, fixed_type.integer)


def qkeras_model(spec: NetworkSpec, softmax: bool = True):
    """The exported QKeras model: input quantizer, then per layer QDense (+ quantized ReLU); no batch normalisation.

    Layer names follow the trained model (``input_quant``, ``fc1``, ``relu1``, ..., ``softmax``), so
    :func:`qaplib.models.logits_model` works on it. Built in Keras's current float type (see :func:`float64`).
    """
    import tensorflow as tf
    from qkeras import QActivation, QDense

    if any(layer.batchnorm is not None for layer in spec.layers):
        raise FirmwareError("a spec that keeps batch normalisation as a stage is the trained model itself: convert that")
    inputs = tf.keras.Input(shape=(spec.n_inputs,), name="features")
    x = QActivation(_qkeras_quantizer(spec.input_type), name=spec.input_name)(inputs)
    for layer in spec.layers:
        dense = QDense(
            layer.kernel.shape[1],
            kernel_quantizer=_qkeras_quantizer(layer.kernel_type),
            bias_quantizer=_qkeras_quantizer(layer.bias_type),
            name=layer.name,
        )
        x = dense(x)
        dense.set_weights([layer.kernel, layer.bias])
        if layer.activation is not None:
            x = QActivation(_qkeras_quantizer(layer.activation), name=layer.activation_name)(x)
    if softmax:
        x = tf.keras.layers.Activation("softmax", name="softmax")(x)
    return tf.keras.Model(inputs, x, name="exported")


@contextmanager
def float64():
    """Run Keras (and QKeras's quantizers, which cast to Keras's float type) in float64 inside the block."""
    import tensorflow as tf

    previous = tf.keras.backend.floatx()
    tf.keras.backend.set_floatx("float64")
    try:
        yield
    finally:
        tf.keras.backend.set_floatx(previous)


def reference_logits(spec: NetworkSpec, x: np.ndarray) -> np.ndarray:
    """Logits of the exported QKeras model evaluated in float64: (n, 16) features -> (n, 5).

    This is the reference every bit-exactness claim compares against. Float64 holds every accumulator
    exactly (checked in :func:`export_network`), but QKeras's ``quantized_relu`` casts its input to
    float32, so a pre-activation needing more than 24 significant bits (12- and 16-bit models) is
    rounded before the ReLU quantizes it; :func:`reference_exact_mask` says on which samples that
    never happens, i.e. where QKeras equals exact fixed-point arithmetic.
    """
    with float64():
        model = qkeras_model(spec, softmax=False)
        return model.predict(spec.quantize_inputs(x), verbose=0, batch_size=4096).astype(np.float64)


def reference_exact_mask(spec: NetworkSpec, x: np.ndarray) -> np.ndarray:
    """(n,) bool: samples on which every hidden pre-activation fits float32 (QKeras's quantized_relu casts
    to float32) and every logit fits float64, so the QKeras reference equals exact fixed-point arithmetic."""
    values = spec.quantize_inputs(x)
    exact = np.ones(len(values), dtype=bool)
    for layer in spec.layers:
        pre_activation = values @ layer.kernel + layer.bias  # exact: accumulators are checked <= 53 bits
        if layer.activation is None:
            break
        exact &= np.all(pre_activation.astype(np.float32) == pre_activation, axis=1)
        values = layer.activation.quantize(np.maximum(pre_activation, 0.0))
    return exact


@dataclass(frozen=True)
class ExportReport:
    """How the firmware's network (the exported spec, evaluated exactly) compares with the trained model (its logits,
    float32 Keras) on the same inputs.

    Accuracies are None when no labels were given. Logit differences are in logit units. ``identical_fraction``:
    samples whose five logits are all identical.
    """

    n_samples: int
    batchnorm: str
    trained_accuracy: float | None
    exported_accuracy: float | None
    argmax_agreement: float
    identical_fraction: float
    max_abs_logit_diff: float
    input_type_source: str
    network: dict
    #: Of the samples, the fraction where the exported network saturates a value, and the fraction identical among
    #: the others: filled in for HGQ networks, whose trained model does not saturate (None for QAP, whose does).
    saturated_fraction: float | None = None
    identical_unsaturated_fraction: float | None = None


def trained_logits(model, x: np.ndarray) -> np.ndarray:
    """(n, 5) float64: the trained model's logits on ``x`` (n, 16), evaluated as it was trained (float32 Keras)."""
    from qaplib.models import logits_model

    return logits_model(model).predict(np.asarray(x, np.float32), verbose=0, batch_size=8192).astype(np.float64)


def export_report(trained, spec: NetworkSpec, x: np.ndarray, labels: np.ndarray | None = None,
                  batchnorm: str = STAGE, logits: np.ndarray | None = None) -> ExportReport:  # fmt: skip
    """Compare ``trained`` (its logits, float32 Keras) with the exact evaluation of ``spec`` on ``x`` (n, 16).

    Args:
        labels: (n,) int class indices, for the two accuracies.
        batchnorm: how ``spec`` was exported (:data:`BATCHNORM_EXPORTS`), for the report.
        logits: the trained model's logits on ``x`` if already computed (:func:`trained_logits`).
    """
    has_input_quantizer = any(op.kind == "input_quant" for op in layer_chain(trained))
    source = "the model's input quantizer"
    if not has_input_quantizer:
        source = f"default {spec.input_type.hls()} (the model has no input quantizer)"
    return compare_with_export(trained_logits(trained, x) if logits is None else logits, spec, x, labels, batchnorm, source)


def compare_with_export(trained: np.ndarray, spec: NetworkSpec, x: np.ndarray, labels: np.ndarray | None, batchnorm: str,
                        input_type_source: str, saturation: bool = False) -> ExportReport:  # fmt: skip
    """:class:`ExportReport` of the trained model's logits ``trained`` (n, 5) against the exact evaluation of ``spec``
    on ``x`` (n, 16); with ``saturation``, also where the network saturates (:meth:`NetworkSpec.saturated`)."""
    exported_logits = spec.predict_logits(x)
    identical = np.all(trained == exported_logits, axis=1)
    extra = {}
    if saturation:
        saturated = spec.saturated(x)
        unsaturated = float(np.mean(identical[~saturated])) if np.any(~saturated) else 1.0
        extra = {"saturated_fraction": float(np.mean(saturated)), "identical_unsaturated_fraction": unsaturated}
    accuracy = (lambda logits: float(np.mean(logits.argmax(axis=1) == labels))) if labels is not None else (lambda _: None)
    return ExportReport(
        n_samples=len(x),
        batchnorm=batchnorm,
        trained_accuracy=accuracy(trained),
        exported_accuracy=accuracy(exported_logits),
        argmax_agreement=float(np.mean(trained.argmax(axis=1) == exported_logits.argmax(axis=1))),
        identical_fraction=float(np.mean(identical)),
        max_abs_logit_diff=float(np.max(np.abs(trained - exported_logits))),
        input_type_source=input_type_source,
        network=spec.describe(),
        **extra,
    )


def fold_float_model(model):
    """A float Keras model equal to ``model`` (up to float32 rounding) with every BatchNormalization folded
    into the Dense layer before it: Dense -> ReLU chain, same layer names, ending in ``softmax``."""
    import tensorflow as tf

    check_supported(model)
    if is_quantized(model):
        raise FirmwareError(f"model {model.name!r} is quantized; use export_network")
    ops = layer_chain(model)
    inputs = tf.keras.Input(shape=model.input_shape[1:], name="features")
    x = inputs
    for group in dense_groups(ops):
        dense, batchnorm, relu = group["dense"], group["batchnorm"], group["relu"]
        kernel, bias = float_dense(dense, batchnorm)
        layer = tf.keras.layers.Dense(kernel.shape[1], name=dense.name)
        x = layer(x)
        layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
        if relu is not None:
            x = tf.keras.layers.Activation("relu", name=relu.name)(x)
    if any(op.kind == "softmax" for op in ops):
        x = tf.keras.layers.Activation("softmax", name="softmax")(x)
    return tf.keras.Model(inputs, x, name="folded")
