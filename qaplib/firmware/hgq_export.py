"""The firmware network of an HGQ tagger (:mod:`qaplib.hgq`): its per-weight constants and per-input and per-neuron
types as a :class:`qaplib.firmware.spec.NetworkSpec`, for the same da4ml, Verilator and Yosys flow as QAP's.

A kernel's or bias's container type (``kernel_type``) is the narrowest layer-wide type that holds every constant
exactly; da4ml builds each constant multiplication from the constant's own bits, so the container costs nothing.
The activations keep HGQ's own types, one per input and per neuron (:class:`qaplib.fixed.FixedTypes`), rounded half
up as HGQ rounds; the logits are quantized too. There is no hls4ml C-simulation of these networks here (hls4ml's
HGQ path needs HGQ's proxy model); the exact evaluation, da4ml's interpreter and Verilator check them.
"""

from __future__ import annotations

import numpy as np

from qaplib.errors import FirmwareError
from qaplib.firmware.spec import DenseLayer, NetworkSpec
from qaplib.fixed import FixedType, FixedTypes


def fraction_bits(values: np.ndarray) -> int:
    """The fewest fraction bits (>= 0) that put every value of ``values`` on the grid."""
    values = np.asarray(values, dtype=np.float64)
    for fraction in range(0, 53):
        scaled = values * 2.0**fraction
        if np.all(scaled == np.round(scaled)):
            return fraction
    raise FirmwareError("constants need more than 52 fraction bits")


def container_type(values: np.ndarray) -> FixedType:
    """The narrowest signed type that holds every value of ``values`` exactly."""
    return FixedType.covering(values, fraction_bits(values), min_integer=1)


def is_hgq_model(model) -> bool:
    """True if ``model`` has HGQ layers (a tagger built by :func:`qaplib.hgq.build_hgq_model`)."""
    return any(type(layer).__module__.startswith("HGQ.") for layer in model.layers)


def export_hgq(model) -> NetworkSpec:
    """The firmware network of a calibrated HGQ tagger (:func:`qaplib.hgq.calibrate` recorded its ranges)."""
    from qaplib.hgq import implemented_layers

    described = implemented_layers(model)
    first = described[0]["input"]
    input_types = FixedTypes(first["sign"], first["integer"], first["fraction"])
    layers = []
    for index, layer in enumerate(described):
        types = FixedTypes(layer["sign"], layer["integer"], layer["fraction"])
        last = index == len(described) - 1
        if last == layer["relu"]:
            raise FirmwareError(f"layer {layer['name']!r}: HGQ's hidden layers need a ReLU and its last layer none")
        layers.append(DenseLayer(name=layer["name"], kernel=layer["kernel"], bias=layer["bias"],
                                 kernel_type=container_type(layer["kernel"]), bias_type=container_type(layer["bias"]),
                                 activation=None if last else types, output=types if last else None))  # fmt: skip
    return NetworkSpec(input_types, tuple(layers))
