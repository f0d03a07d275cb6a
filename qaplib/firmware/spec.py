"""The integer description of an exported network: what the firmware implements, layer by layer.

A :class:`NetworkSpec` is a chain of fully connected layers with fixed-point kernels and biases, each
followed by a quantized ReLU (hidden layers) or nothing (the logits). It is written by the TensorFlow
side (:mod:`qaplib.firmware.export`) and read by the da4ml side (:mod:`qaplib.firmware.rtl_worker`),
so this module depends on NumPy only and the file format is a plain ``.npz`` of integer arrays plus
a JSON header.

Semantics, for an input row x (already on ``input_type``'s grid), layer by layer::

    z = x @ kernel + bias            exact (the accumulator is wide enough, see accumulator_type)
    x = activation.quantize(relu(z)) hidden layers: round half to even, saturate
    logits = z                       last layer
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qaplib.errors import FirmwareError
from qaplib.firmware.fixed import FixedType

FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class DenseLayer:
    """One fully connected layer and the activation after it.

    Attributes:
        name: the Keras layer name (``fc1`` ...).
        kernel: (n_in, n_out) float64, every entry representable in ``kernel_type``.
        bias: (n_out,) float64, every entry representable in ``bias_type``.
        activation: the unsigned type of the quantized ReLU after the layer, or None (the logits).
        activation_name: the Keras name of that ReLU (``relu1`` ...), or None.
        folded: the name of the batch-normalisation layer folded into this one, or None.
    """

    name: str
    kernel: np.ndarray
    bias: np.ndarray
    kernel_type: FixedType
    bias_type: FixedType
    activation: FixedType | None = None
    activation_name: str | None = None
    folded: str | None = None

    def __post_init__(self) -> None:
        if self.kernel.ndim != 2 or self.bias.shape != (self.kernel.shape[1],):
            raise FirmwareError(f"layer {self.name!r}: kernel {self.kernel.shape} and bias {self.bias.shape} do not match")
        if not self.kernel_type.contains(self.kernel):
            raise FirmwareError(f"layer {self.name!r}: kernel is not representable in {self.kernel_type.hls()}")
        if not self.bias_type.contains(self.bias):
            raise FirmwareError(f"layer {self.name!r}: bias is not representable in {self.bias_type.hls()}")
        if self.activation is not None and self.activation.signed:
            raise FirmwareError(f"layer {self.name!r}: the ReLU output type must be unsigned")

    @property
    def n_nonzero(self) -> int:
        """Kernel entries that are not exactly zero (after quantization and pruning)."""
        return int(np.count_nonzero(self.kernel))


@dataclass(frozen=True, eq=False)
class NetworkSpec:
    """The exported network: an input type and a chain of :class:`DenseLayer`."""

    input_type: FixedType
    layers: tuple[DenseLayer, ...]
    input_name: str = "input_quant"

    def __post_init__(self) -> None:
        if not self.layers:
            raise FirmwareError("a network needs at least one dense layer")
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

        Fraction bits: max(f_in + f_kernel, f_bias). Magnitude bound: sum_i max|x_i| * sum_j |kernel_ij| + |bias|,
        maximised over the outputs j, with max|x| the range limit of the input type.
        """
        result = []
        for input_type, layer in zip(self.layer_input_types(), self.layers, strict=True):
            fraction = max(input_type.fraction + layer.kernel_type.fraction, layer.bias_type.fraction)
            x_max = max(abs(input_type.min), abs(input_type.max))
            bound = float(np.max(x_max * np.abs(layer.kernel).sum(axis=0) + np.abs(layer.bias)))
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
                    "accumulator": accumulator.hls(),
                    "folded": layer.folded,
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
        """Exact float64 evaluation of the spec: (n, n_inputs) inputs -> (n, n_outputs) logits.

        Exact only while every accumulator has at most 53 significant bits (checked); the inputs are
        quantized to ``input_type`` first. Used for self-checks; the bit-exactness claims compare
        against the QKeras model (:func:`qaplib.firmware.export.reference_logits`).
        """
        for layer, accumulator in zip(self.layers, self.accumulator_types(), strict=True):
            if accumulator.width > 53:
                raise FirmwareError(f"layer {layer.name!r}: accumulator {accumulator.hls()} exceeds float64's 53 bits")
        values = self.quantize_inputs(x)
        for layer in self.layers:
            values = values @ layer.kernel + layer.bias
            if layer.activation is not None:
                values = layer.activation.quantize(np.maximum(values, 0.0))
        return values

    def rounding_ties(self, x: np.ndarray) -> int:
        """How many hidden pre-activations on ``x`` sit exactly halfway between two ReLU output values with an
        even lower neighbour, where round-half-to-even and round-half-up disagree (evidence that a
        bit-exact check exercised the rounding mode)."""
        values, ties = self.quantize_inputs(x), 0
        for layer in self.layers[:-1]:
            pre_activation = values @ layer.kernel + layer.bias
            scaled = pre_activation * 2.0**layer.activation.fraction
            lower = np.floor(scaled)
            inside = (pre_activation > 0) & (pre_activation < layer.activation.max)
            ties += int(np.sum((scaled - lower == 0.5) & (lower % 2 == 0) & inside))
            values = layer.activation.quantize(np.maximum(pre_activation, 0.0))
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
                    "folded": layer.folded,
                }
                for layer in self.layers
            ],
        }
        payload = {f"extra_{key}": np.asarray(value) for key, value in arrays.items()}
        for index, layer in enumerate(self.layers):
            payload[f"kernel_{index}"] = _to_mantissa(layer.kernel, layer.kernel_type)
            payload[f"bias_{index}"] = _to_mantissa(layer.bias, layer.bias_type)
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
                layers.append(
                    DenseLayer(
                        name=entry["name"],
                        kernel=data[f"kernel_{index}"].astype(np.float64) * kernel_type.lsb,
                        bias=data[f"bias_{index}"].astype(np.float64) * bias_type.lsb,
                        kernel_type=kernel_type,
                        bias_type=bias_type,
                        activation=FixedType.from_dict(entry["activation"]) if entry["activation"] else None,
                        activation_name=entry["activation_name"],
                        folded=entry["folded"],
                    )
                )
            extras = {key.removeprefix("extra_"): data[key] for key in data.files if key.startswith("extra_")}
        spec = cls(FixedType.from_dict(header["input_type"]), tuple(layers), header["input_name"])
        return spec, extras


def _to_mantissa(values: np.ndarray, fixed_type: FixedType) -> np.ndarray:
    mantissa = np.round(values * 2.0**fixed_type.fraction)
    if fixed_type.width > 62:
        raise FirmwareError(f"{fixed_type.hls()} does not fit an int64 mantissa")
    return mantissa.astype(np.int64)
