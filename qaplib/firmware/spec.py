"""The integer description of an exported network: what the firmware implements, layer by layer.

A :class:`NetworkSpec` is a chain of fully connected layers with fixed-point kernels and biases, each
followed by a quantized ReLU (hidden layers) or nothing (the logits). It is written by the TensorFlow
side (:mod:`qaplib.firmware.export`) and read by the da4ml side (:mod:`qaplib.firmware.rtl_worker`),
so this module depends on NumPy only and the file format is a plain ``.npz`` of integer arrays plus
a JSON header.

Semantics, for an input row x (already on ``input_type``'s grid), layer by layer::

    z = x @ kernel + bias                               exact (the accumulator is wide enough, see accumulator_type)
    z = result_type.quantize(z * scale + shift)         batch normalisation kept as a stage (BatchnormStage), if any:
                                                        product and sum exact, then rounded half to even, saturated
    x = activation.quantize(relu(z))                    hidden layers: round half to even, saturate
    logits = z                                          last layer

A network trained with high-granularity quantization (HGQ, :mod:`qaplib.hgq`) has one type per input and per neuron
(:class:`qaplib.fixed.FixedTypes`), rounds half up, and quantizes its logits too::

    x = input_types.quantize(features)                  per input: round half up, saturate
    x = activation.quantize(relu(z))                    hidden layers, per neuron: round half up, saturate
    logits = output.quantize(z)                         last layer, per neuron
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qaplib.errors import FirmwareError
from qaplib.fixed import FixedType, FixedTypes, fixed_type_from_dict

#: 2: layers may keep batch normalisation as a stage of its own (:class:`BatchnormStage`).
FORMAT_VERSION = 2


@dataclass(frozen=True, eq=False)
class BatchnormStage:
    """Batch normalisation kept as a fixed-point stage after a dense layer, as hls4ml builds its BatchNormalization
    layer: ``y = result_type.quantize(z * scale + shift)``, the product and sum exact, then rounded half to even and
    saturated (``AP_RND_CONV, AP_SAT``).

    Attributes:
        name: the Keras layer name (``bn1`` ...).
        scale, shift: (n,) float64, on ``scale_type``'s and ``shift_type``'s grids.
    """

    name: str
    scale: np.ndarray
    shift: np.ndarray
    scale_type: FixedType
    shift_type: FixedType
    result_type: FixedType

    def __post_init__(self) -> None:
        if self.scale.ndim != 1 or self.shift.shape != self.scale.shape:
            raise FirmwareError(f"batch norm {self.name!r}: scale {self.scale.shape} and shift {self.shift.shape} do not match")
        for what, values, fixed_type in (("scale", self.scale, self.scale_type), ("shift", self.shift, self.shift_type)):
            if not fixed_type.contains(values):
                raise FirmwareError(f"batch norm {self.name!r}: {what} is not representable in {fixed_type.hls()}")
        if not self.result_type.signed:
            raise FirmwareError(f"batch norm {self.name!r}: the result type must be signed")

    def apply(self, z: np.ndarray, z_type: FixedType) -> np.ndarray:
        """The stage's exact output for ``z`` (values on ``z_type``'s grid), float64: integer arithmetic throughout
        (the product can exceed float64's 53 bits), rounded once onto ``result_type`` (<= 53 bits)."""
        z_mantissa = np.round(np.asarray(z, dtype=np.float64) * 2.0**z_type.fraction).astype(np.int64).astype(object)
        product_fraction = z_type.fraction + self.scale_type.fraction
        fraction = max(product_fraction, self.shift_type.fraction)
        scale = _to_mantissa(self.scale, self.scale_type).astype(object) << (fraction - product_fraction)
        shift = _to_mantissa(self.shift, self.shift_type).astype(object) << (fraction - self.shift_type.fraction)
        exact = z_mantissa * scale + shift  # y * 2**fraction, exact
        rounded = _round_half_even(exact, fraction - self.result_type.fraction)
        low, high = (round(bound * 2.0**self.result_type.fraction) for bound in (self.result_type.min, self.result_type.max))
        return np.minimum(np.maximum(rounded, low), high).astype(np.float64) * self.result_type.lsb


def _round_half_even(mantissas: np.ndarray, shift: int) -> np.ndarray:
    """Integers (object array) divided by 2**shift and rounded half to even (multiplied where ``shift`` < 0)."""
    if shift <= 0:
        return mantissas * (1 << -shift)
    quotient, remainder = mantissas // (1 << shift), mantissas % (1 << shift)  # floor division: exact for negatives
    half = 1 << (shift - 1)
    up = (remainder > half) | ((remainder == half) & (quotient % 2 == 1))
    return quotient + up.astype(int)


@dataclass(frozen=True, eq=False)
class DenseLayer:
    """One fully connected layer and the activation after it.

    Attributes:
        name: the Keras layer name (``fc1`` ...).
        kernel: (n_in, n_out) float64, every entry representable in ``kernel_type``.
        bias: (n_out,) float64, every entry representable in ``bias_type``.
        activation: the unsigned type of the quantized ReLU after the layer (one per neuron for HGQ), or None (the
            logits).
        activation_name: the Keras name of that ReLU (``relu1`` ...), or None.
        output: the last layer of an HGQ network: each logit's type (the logits are quantized); else None.
        folded: the name of the batch-normalisation layer folded (and re-rounded) into this one, or None.
        batchnorm: batch normalisation kept as a stage between the layer and its ReLU, or None.
    """

    name: str
    kernel: np.ndarray
    bias: np.ndarray
    kernel_type: FixedType
    bias_type: FixedType
    activation: FixedType | FixedTypes | None = None
    activation_name: str | None = None
    folded: str | None = None
    batchnorm: BatchnormStage | None = None
    output: FixedTypes | None = None

    def __post_init__(self) -> None:
        if self.batchnorm is not None and (self.folded is not None or self.batchnorm.scale.shape != self.bias.shape):
            raise FirmwareError(f"layer {self.name!r}: a batch-norm stage needs one scale per output and no fold")
        if self.kernel.ndim != 2 or self.bias.shape != (self.kernel.shape[1],):
            raise FirmwareError(f"layer {self.name!r}: kernel {self.kernel.shape} and bias {self.bias.shape} do not match")
        if not self.kernel_type.contains(self.kernel):
            raise FirmwareError(f"layer {self.name!r}: kernel is not representable in {self.kernel_type.hls()}")
        if not self.bias_type.contains(self.bias):
            raise FirmwareError(f"layer {self.name!r}: bias is not representable in {self.bias_type.hls()}")
        if self.activation is not None and self.activation.signed:
            raise FirmwareError(f"layer {self.name!r}: the ReLU output type must be unsigned")
        for what, types in (("activation", self.activation), ("output", self.output)):
            if isinstance(types, FixedTypes) and len(types) != self.kernel.shape[1]:
                raise FirmwareError(f"layer {self.name!r}: {len(types)} {what} types for {self.kernel.shape[1]} neurons")
        if self.output is not None and (self.activation is not None or self.batchnorm is not None):
            raise FirmwareError(f"layer {self.name!r}: quantized logits (output) belong to a last layer without ReLU")

    @property
    def rounds_half_up(self) -> bool:
        """True for an HGQ layer: its outputs are rounded half up onto per-neuron types."""
        return isinstance(self.activation, FixedTypes) or self.output is not None

    @property
    def n_nonzero(self) -> int:
        """Kernel entries that are not exactly zero (after quantization and pruning)."""
        return int(np.count_nonzero(self.kernel))


@dataclass(frozen=True, eq=False)
class NetworkSpec:
    """The exported network: an input type and a chain of :class:`DenseLayer`."""

    input_type: FixedType | FixedTypes
    layers: tuple[DenseLayer, ...]
    input_name: str = "input_quant"

    def __post_init__(self) -> None:
        if not self.layers:
            raise FirmwareError("a network needs at least one dense layer")
        if isinstance(self.input_type, FixedTypes) and len(self.input_type) != self.layers[0].kernel.shape[0]:
            raise FirmwareError(f"{len(self.input_type)} input types for {self.layers[0].kernel.shape[0]} inputs")
        for previous, layer in zip(self.layers, self.layers[1:], strict=False):
            if previous.activation is None:
                raise FirmwareError(f"layer {previous.name!r}: only the last layer may output unquantized logits")
            if previous.kernel.shape[1] != layer.kernel.shape[0]:
                raise FirmwareError(
                    f"layer {layer.name!r}: expects {layer.kernel.shape[0]} inputs, gets {previous.kernel.shape[1]}"
                )
        if self.layers[-1].activation is not None:
            raise FirmwareError(f"layer {self.layers[-1].name!r}: the last layer must output the logits (no activation)")

    @property
    def n_inputs(self) -> int:
        return self.layers[0].kernel.shape[0]

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].kernel.shape[1]

    def layer_input_types(self) -> tuple[FixedType, ...]:
        """The type entering each layer: the input type, then each ReLU's type."""
        return (self.input_type, *(layer.activation for layer in self.layers[:-1]))

    def accumulator_types(self) -> tuple[FixedType, ...]:
        """A signed type per layer that holds every partial sum of ``x @ kernel + bias`` exactly.

        Fraction bits: max(f_in + f_kernel, f_bias). Magnitude bound: sum_i max|x_i| * |kernel_ij| + |bias_j|,
        maximised over the outputs j, with max|x_i| the range limit of input i's type.
        """
        result = []
        for input_type, layer in zip(self.layer_input_types(), self.layers, strict=True):
            fraction = int(max(np.max(input_type.fraction) + layer.kernel_type.fraction, layer.bias_type.fraction))
            x_max = np.broadcast_to(np.maximum(np.abs(input_type.min), np.abs(input_type.max)), (layer.kernel.shape[0],))
            bound = float(np.max(x_max @ np.abs(layer.kernel) + np.abs(layer.bias)))
            integer = 1 + max(0, int(np.ceil(np.log2(bound + 2.0**-fraction))))
            result.append(FixedType(integer + fraction, integer, True))
        return tuple(result)

    def describe(self) -> dict:
        """JSON-serialisable summary: types as hls4ml strings, weight counts."""
        return {
            "input": self.input_type.hls(),
            "layers": [
                {
                    "name": layer.name,
                    "shape": list(layer.kernel.shape),
                    "kernel": layer.kernel_type.hls(),
                    "bias": layer.bias_type.hls(),
                    "activation": layer.activation.hls() if layer.activation else None,
                    **({"output": layer.output.hls()} if layer.output is not None else {}),
                    "accumulator": accumulator.hls(),
                    "folded": layer.folded,
                    "batchnorm": _describe_stage(layer.batchnorm),
                    "n_nonzero": layer.n_nonzero,
                }
                for layer, accumulator in zip(self.layers, self.accumulator_types(), strict=True)
            ],
            "n_weights": sum(layer.kernel.size for layer in self.layers),
            "n_nonzero": sum(layer.n_nonzero for layer in self.layers),
        }

    def quantize_inputs(self, x: np.ndarray) -> np.ndarray:
        """(n, n_inputs) features -> the same on ``input_type``'s grid, float64.

        The features are taken as float32 first (as stored, and as float32 QKeras sees them), so
        float64 callers get the same grid values as the QKeras input quantizer.
        """
        return self.input_type.quantize(np.asarray(x, dtype=np.float32))

    def predict_logits(self, x: np.ndarray) -> np.ndarray:
        """Exact evaluation of the spec: (n, n_inputs) inputs -> (n, n_outputs) logits, float64.

        Exact only while every accumulator has at most 53 significant bits (checked); batch-norm stages are
        computed in integers. The inputs are quantized to ``input_type`` first.
        """
        values = self.quantize_inputs(x)
        for layer, pre_activation in self._pre_activations(values):
            if layer.activation is not None:
                values = layer.activation.quantize(np.maximum(pre_activation, 0.0))
            else:
                values = pre_activation if layer.output is None else layer.output.quantize(pre_activation)
        return values

    def _pre_activations(self, values: np.ndarray):
        """Per layer, (layer, what enters its ReLU: the dense output, through the batch-norm stage if any), computed
        exactly layer after layer from ``values`` on the input grid."""
        for layer, accumulator in zip(self.layers, self.accumulator_types(), strict=True):
            if accumulator.width > 53:
                raise FirmwareError(f"layer {layer.name!r}: accumulator {accumulator.hls()} exceeds float64's 53 bits")
        for layer, accumulator in zip(self.layers, self.accumulator_types(), strict=True):
            z = values @ layer.kernel + layer.bias
            if layer.batchnorm is not None:
                z = layer.batchnorm.apply(z, accumulator)
            yield layer, z
            if layer.activation is not None:
                values = layer.activation.quantize(np.maximum(z, 0.0))

    def saturated(self, x: np.ndarray) -> np.ndarray:
        """(n,) bool: the rows of ``x`` where an input or a quantized value leaves its type's range and is saturated.
        Where the trained model does not saturate (HGQ, whose ranges are those seen on the training jets), only these
        rows can differ from it."""
        x = np.asarray(x, dtype=np.float32).astype(np.float64)
        given = self.input_type
        hit = np.any((x < given.min - given.lsb / 2) | (x >= given.max + given.lsb / 2), axis=1)
        for layer, pre_activation in self._pre_activations(self.quantize_inputs(x)):
            types = layer.activation if layer.activation is not None else layer.output
            if types is None:
                continue
            value = np.maximum(pre_activation, 0.0) if layer.activation is not None else pre_activation
            hit |= np.any((value < types.min - types.lsb / 2) | (value >= types.max + types.lsb / 2), axis=1)
        return hit

    def rounding_ties(self, x: np.ndarray) -> int:
        """How many hidden pre-activations on ``x`` sit exactly halfway between two ReLU output values with an
        even lower neighbour, where round-half-to-even and round-half-up disagree (evidence that a
        bit-exact check exercised the rounding mode)."""
        ties = 0
        for layer, pre_activation in self._pre_activations(self.quantize_inputs(x)):
            if layer.activation is None:
                break
            scaled = pre_activation * 2.0**layer.activation.fraction
            lower = np.floor(scaled)
            inside = (pre_activation > 0) & (pre_activation < layer.activation.max)
            ties += int(np.sum((scaled - lower == 0.5) & (lower % 2 == 0) & inside))
        return ties

    def save(self, path: Path, **arrays: np.ndarray) -> None:
        """Write the spec (and any extra float arrays, e.g. inputs and reference logits) to ``path`` (.npz).

        Kernels and biases are stored as int64 mantissas: ``value * 2**fraction``.
        """
        header = {
            "format_version": FORMAT_VERSION,
            "input_type": self.input_type.to_dict(),
            "input_name": self.input_name,
            "layers": [
                {
                    "name": layer.name,
                    "kernel_type": layer.kernel_type.to_dict(),
                    "bias_type": layer.bias_type.to_dict(),
                    "activation": layer.activation.to_dict() if layer.activation else None,
                    "activation_name": layer.activation_name,
                    **({"output": layer.output.to_dict()} if layer.output is not None else {}),
                    "folded": layer.folded,
                    "batchnorm": None if layer.batchnorm is None else {
                        "name": layer.batchnorm.name, "scale_type": layer.batchnorm.scale_type.to_dict(),
                        "shift_type": layer.batchnorm.shift_type.to_dict(), "result_type": layer.batchnorm.result_type.to_dict(),
                    },  # fmt: skip
                }
                for layer in self.layers
            ],
        }
        payload = {f"extra_{key}": np.asarray(value) for key, value in arrays.items()}
        for index, layer in enumerate(self.layers):
            payload[f"kernel_{index}"] = _to_mantissa(layer.kernel, layer.kernel_type)
            payload[f"bias_{index}"] = _to_mantissa(layer.bias, layer.bias_type)
            if layer.batchnorm is not None:
                payload[f"bn_scale_{index}"] = _to_mantissa(layer.batchnorm.scale, layer.batchnorm.scale_type)
                payload[f"bn_shift_{index}"] = _to_mantissa(layer.batchnorm.shift, layer.batchnorm.shift_type)
        np.savez(path, header=np.array(json.dumps(header)), **payload)

    @classmethod
    def load(cls, path: Path) -> tuple[NetworkSpec, dict[str, np.ndarray]]:
        """Read a file written by :meth:`save`; returns the spec and the extra arrays."""
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            if header.get("format_version") != FORMAT_VERSION:
                raise FirmwareError(f"{path}: spec format {header.get('format_version')!r}, expected {FORMAT_VERSION}")
            layers = []
            for index, entry in enumerate(header["layers"]):
                kernel_type = FixedType.from_dict(entry["kernel_type"])
                bias_type = FixedType.from_dict(entry["bias_type"])
                stage = entry["batchnorm"]
                if stage is not None:
                    scale_type, shift_type = FixedType.from_dict(stage["scale_type"]), FixedType.from_dict(stage["shift_type"])
                    stage = BatchnormStage(
                        stage["name"], data[f"bn_scale_{index}"].astype(np.float64) * scale_type.lsb,
                        data[f"bn_shift_{index}"].astype(np.float64) * shift_type.lsb, scale_type, shift_type,
                        FixedType.from_dict(stage["result_type"]),
                    )  # fmt: skip
                layers.append(
                    DenseLayer(
                        name=entry["name"],
                        kernel=data[f"kernel_{index}"].astype(np.float64) * kernel_type.lsb,
                        bias=data[f"bias_{index}"].astype(np.float64) * bias_type.lsb,
                        kernel_type=kernel_type,
                        bias_type=bias_type,
                        activation=fixed_type_from_dict(entry["activation"]) if entry["activation"] else None,
                        activation_name=entry["activation_name"],
                        folded=entry["folded"],
                        batchnorm=stage,
                        output=FixedTypes.from_dict(entry["output"]) if entry.get("output") else None,
                    )
                )
            extras = {key.removeprefix("extra_"): data[key] for key in data.files if key.startswith("extra_")}
        spec = cls(fixed_type_from_dict(header["input_type"]), tuple(layers), header["input_name"])
        return spec, extras


def _describe_stage(stage: BatchnormStage | None) -> dict | None:
    if stage is None:
        return None
    types = {"scale": stage.scale_type, "shift": stage.shift_type, "result": stage.result_type}
    return {"name": stage.name, **{what: fixed_type.hls() for what, fixed_type in types.items()}}


def _to_mantissa(values: np.ndarray, fixed_type: FixedType) -> np.ndarray:
    mantissa = np.round(values * 2.0**fixed_type.fraction)
    if fixed_type.width > 62:
        raise FirmwareError(f"{fixed_type.hls()} does not fit an int64 mantissa")
    return mantissa.astype(np.int64)
