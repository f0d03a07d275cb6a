"""A trained tagger's layers read as exact numbers: the chain of layers a fixed-point implementation supports, each
QKeras quantizer as a fixed-point type, and the kernels and biases the trained network computes with.

Below both :mod:`qaplib.metrics` (the effective BOPs count the weights the network implements) and
:mod:`qaplib.firmware.export` (which builds the fixed-point network from them). Validation computes nothing and
raises :class:`~qaplib.errors.FirmwareError` naming the layer that has no exact fixed-point equivalent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qaplib.errors import FirmwareError
from qaplib.fixed import FixedType

_SUPPORTED = (
    "InputLayer",
    "QActivation(quantized_bits) on the input",
    "QDense(alpha=1, linear)",
    "Dense (float models)",
    "BatchNormalization after a dense layer",
    "QActivation(quantized_relu)",
    "Activation(relu|linear|softmax last)",
)


@dataclass(frozen=True)
class Step:
    """One step of the layer chain, after validation."""

    kind: str  # "input_quant" | "dense" | "batchnorm" | "relu" | "softmax"
    layer: object


def unsupported(layer, reason: str) -> FirmwareError:
    return FirmwareError(
        f"layer {layer.name!r} ({layer.__class__.__name__}) cannot be exported to bit-exact firmware: {reason}. "
        f"Supported layers: {', '.join(_SUPPORTED)}."
    )


def checked_quantizer(layer, quantizer, expected: str):
    """The quantizer object, checked to be ``expected`` with power-of-two-free settings."""
    from qkeras.quantizers import get_quantizer

    quantizer = get_quantizer(quantizer) if isinstance(quantizer, (str, dict)) else quantizer
    name = quantizer.__class__.__name__
    if name != expected:
        raise unsupported(layer, f"quantizer {name} is not {expected}")
    if getattr(quantizer, "use_stochastic_rounding", False):
        raise unsupported(layer, "stochastic rounding has no fixed-point equivalent")
    if name == "quantized_bits":
        if quantizer.alpha not in (1, 1.0):
            raise unsupported(layer, f"quantized_bits(alpha={quantizer.alpha!r}) scales are not exact; use alpha=1")
        if not quantizer.keep_negative or quantizer.symmetric:
            raise unsupported(layer, "only signed, non-symmetric quantized_bits maps to ap_fixed")
    if name == "quantized_relu" and (quantizer.negative_slope or quantizer.use_sigmoid or quantizer.relu_upper_bound):
        raise unsupported(layer, "only a plain quantized_relu (no slope, sigmoid or upper bound) maps to ap_ufixed")
    return quantizer


def quantizer_type(layer, quantizer) -> FixedType:
    """The fixed-point type of a QKeras ``quantized_bits(b, i, alpha=1)`` (``ap_fixed<b, i+1>``) or
    ``quantized_relu(b, i)`` (``ap_ufixed<b, i>``) used by ``layer``; raises FirmwareError for any other."""
    from qkeras.quantizers import get_quantizer

    quantizer = get_quantizer(quantizer) if isinstance(quantizer, (str, dict)) else quantizer
    name = quantizer.__class__.__name__
    if name not in ("quantized_bits", "quantized_relu"):
        raise unsupported(layer, f"quantizer {name} has no exact ap_fixed equivalent")
    quantizer = checked_quantizer(layer, quantizer, name)
    if name == "quantized_bits":
        return FixedType(int(quantizer.bits), int(quantizer.integer) + 1, True)
    return FixedType(int(quantizer.bits), int(quantizer.integer), False)


def layer_chain(model) -> list[Step]:
    """Validate ``model`` layer by layer (no computation) and return its steps; raises FirmwareError naming the layer."""
    layers = list(model.layers)
    ops: list[Step] = []
    previous = None
    for index, layer in enumerate(layers):
        cls = layer.__class__.__name__
        if previous is not None and layer.input is not previous.output:
            raise unsupported(layer, "the model is not a single chain of layers")
        previous = layer
        if cls == "InputLayer":
            continue
        if cls == "PruneLowMagnitude":
            raise unsupported(layer, "pruning wrappers must be removed first (tfmot.sparsity.keras.strip_pruning)")
        last_kind = ops[-1].kind if ops else None
        if cls == "QActivation":
            kind = layer.quantizer.__class__.__name__  # QActivation resolves string quantizers into .quantizer
            if kind == "quantized_bits" and not ops:
                checked_quantizer(layer, layer.quantizer, "quantized_bits")
                ops.append(Step("input_quant", layer))
            elif kind == "quantized_relu" and last_kind in ("dense", "batchnorm"):
                checked_quantizer(layer, layer.quantizer, "quantized_relu")
                ops.append(Step("relu", layer))
            else:
                raise unsupported(
                    layer,
                    f"{kind} is only supported as the input quantizer (quantized_bits) or after a dense layer (quantized_relu)",
                )
        elif cls in ("QDense", "Dense"):
            if getattr(layer.activation, "__name__", None) != "linear":  # not get_config: it warns on QKeras quantizers
                raise unsupported(layer, "a fused activation must be a separate layer")
            if cls == "QDense":
                checked_quantizer(layer, layer.kernel_quantizer, "quantized_bits")
                if layer.use_bias:
                    checked_quantizer(layer, layer.bias_quantizer, "quantized_bits")
            ops.append(Step("dense", layer))
        elif cls == "BatchNormalization":
            if last_kind != "dense" or layer.axis not in ([-1], [1], -1, 1):
                raise unsupported(layer, "batch normalisation can only be folded directly after a dense layer")
            ops.append(Step("batchnorm", layer))
        elif cls == "Activation":
            name = layer.get_config()["activation"]
            if name == "softmax" and index == len(layers) - 1 and last_kind == "dense":
                ops.append(Step("softmax", layer))
            elif name == "relu" and last_kind in ("dense", "batchnorm"):
                ops.append(Step("relu", layer))
            elif name != "linear":
                raise unsupported(layer, f"activation {name!r} here has no firmware equivalent")
        else:
            raise unsupported(layer, "unsupported layer type")
    if not any(op.kind == "dense" for op in ops):
        raise FirmwareError(f"model {model.name!r} has no dense layer")
    return ops


def is_quantized(model) -> bool:
    """True if the model's dense layers are QKeras QDense (the bit-exact path), False for float Keras."""
    dense = [op.layer for op in layer_chain(model) if op.kind == "dense"]
    kinds = {layer.__class__.__name__ for layer in dense}
    if len(kinds) > 1:
        raise unsupported(dense[0], "a model mixing float Dense and QDense layers has no single firmware path")
    return kinds == {"QDense"}


def check_supported(model) -> None:
    """Raise FirmwareError, naming the layer, if ``model`` cannot be exported. Cheap: no computation."""
    ops = layer_chain(model)
    quantized = is_quantized(model)
    for op in ops:
        if quantized and op.kind == "relu" and op.layer.__class__.__name__ != "QActivation":
            raise unsupported(op.layer, "a float ReLU in a quantized model is not bit-exact; use quantized_relu")
        if not quantized and op.layer.__class__.__name__ == "QActivation":
            raise unsupported(op.layer, "a QKeras quantizer in a float model has no single firmware path")
    groups = dense_groups(ops)
    if quantized:
        for group in groups[:-1]:
            if group["relu"] is None:
                raise unsupported(group["dense"], "a hidden dense layer must be followed by quantized_relu")
        if groups[-1]["relu"] is not None or groups[-1]["batchnorm"] is not None:
            raise unsupported(groups[-1]["dense"], "the last dense layer must output the logits directly")


def dense_groups(ops: list[Step]) -> list[dict]:
    """Group the steps per dense layer: {dense, batchnorm, relu}."""
    groups: list[dict] = []
    for op in ops:
        if op.kind == "dense":
            groups.append({"dense": op.layer, "batchnorm": None, "relu": None})
        elif op.kind in ("batchnorm", "relu"):
            groups[-1][op.kind] = op.layer
    return groups


def batchnorm_scale_shift(layer) -> tuple[np.ndarray, np.ndarray]:
    """(s, t) with bn(z) = s * z + t in inference mode, float64, shape (n,)."""
    weights = {w.name.split("/")[-1].split(":")[0]: w.numpy().astype(np.float64) for w in layer.weights}
    n = weights["moving_mean"].shape[0]
    gamma = weights.get("gamma", np.ones(n))
    beta = weights.get("beta", np.zeros(n))
    scale = gamma / np.sqrt(weights["moving_variance"] + layer.epsilon)
    return scale, beta - weights["moving_mean"] * scale


def quantized_dense(layer) -> tuple[np.ndarray, np.ndarray, FixedType, FixedType]:
    """Kernel and bias as QKeras applies them (float64), with their fixed-point types."""
    kernel_type = quantizer_type(layer, layer.kernel_quantizer_internal)
    kernel = layer.kernel_quantizer_internal(layer.kernel).numpy().astype(np.float64)
    if layer.use_bias:
        bias_type = quantizer_type(layer, layer.bias_quantizer_internal)
        bias = layer.bias_quantizer_internal(layer.bias).numpy().astype(np.float64)
    else:
        bias_type, bias = kernel_type, np.zeros(kernel.shape[1])
    for values, fixed_type in ((kernel, kernel_type), (bias, bias_type)):
        if not fixed_type.contains(values):
            raise unsupported(layer, f"quantized weights are not on the {fixed_type.hls()} grid")
    return kernel, bias, kernel_type, bias_type


def float_dense(dense, batchnorm) -> tuple[np.ndarray, np.ndarray]:
    """Kernel and bias of a float Dense layer (float64) with ``batchnorm`` (if any) folded in exactly."""
    kernel = dense.kernel.numpy().astype(np.float64)
    bias = dense.bias.numpy().astype(np.float64) if dense.use_bias else np.zeros(kernel.shape[1])
    if batchnorm is not None:
        scale, shift = batchnorm_scale_shift(batchnorm)
        kernel, bias = kernel * scale, bias * scale + shift
    return kernel, bias


def implemented_dense_weights(model) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Dense layer name -> (kernel (n_in, n_out), bias (n_out,)) float64, as the trained network computes with
    them, and so as its firmware implements them (:data:`qaplib.firmware.export.STAGE`).

    Quantized models: each kernel and bias through its layer's quantizer, exactly as trained (batch
    normalisation is a stage of its own, not folded in). Float models: batch normalisation folded in exactly.
    A weight that is zero here is a multiplication the firmware does not build, whatever made it zero:
    pruning, or rounding by the quantizer.
    """
    check_supported(model)
    quantized = is_quantized(model)
    weights = {}
    for group in dense_groups(layer_chain(model)):
        dense, batchnorm = group["dense"], group["batchnorm"]
        weights[dense.name] = quantized_dense(dense)[:2] if quantized else float_dense(dense, batchnorm)
    return weights
