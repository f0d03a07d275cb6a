"""High-granularity quantization (HGQ; Sun et al., arXiv 2405.00645): the tagger with its own bit width for every
weight and every activation, learned together with the weights under a resource penalty (issue 28).

The model (``hgq`` 0.2.6, Keras 2), named like the QAP tagger so that the firmware code can address its layers::

    input_quant  HQuantize              each of the 16 inputs on its own fixed-point grid
    fc1..fc3     HDense(widths, relu)   each weight on its own grid; each neuron's output on its own grid
    fc4          HDense(5)              the logits, each on its own grid
    softmax      Softmax                plain Keras, for training and scoring only (the firmware outputs the logits)

Every HGQ layer adds ``beta`` times its differentiable bit-operation estimate (HGQ's *EBOPs*) to the loss, so
``beta`` (:class:`HgqSpec`) trades accuracy for resources: a weight whose bit width is learned down to zero is
pruned. A weight's fraction bits are trained; its integer bits follow from its value. An activation's fraction bits
are trained; its integer bits come from the range it takes on the training jets (:func:`calibrate`, HGQ's
``trace_minmax``), recorded with the weights.

A run selects HGQ with ``train.engine = "hgq"`` and an ``hgq`` section; the tagger is given by ``model.widths``
(no batch normalisation, no L1: HGQ's own penalty replaces both) and there is one training phase (HGQ prunes by
itself). :mod:`qaplib.hgq_engine` trains such runs.

Importing this module does not load TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qaplib.granular_bops import GranularLayer
from qaplib.validation import check_fields, rule

#: The rules of :class:`HgqSpec`'s fields (:mod:`qaplib.validation`).
HGQ_RULES: dict[str, dict] = {
    "beta": rule({"type": "number", "minimum": 0, "maximum": 1}, "hgq.beta must be a number in [0, 1], got <value>",
                 "Strength of HGQ's resource penalty: the loss gains beta times the model's EBOPs (HGQ's tutorial: 3e-6)."),
}  # fmt: skip
#: HGQ's layers, input to output; ``fc1..fc4`` are its dense layers.
HGQ_LAYERS = ("input_quant", "fc1", "fc2", "fc3", "fc4")


@dataclass(frozen=True)
class HgqSpec:
    """The HGQ settings of a run (its ``hgq`` section)."""

    beta: float = 3e-6

    def __post_init__(self) -> None:
        check_fields(HGQ_RULES, vars(self))


def build_hgq_model(widths: tuple[int, ...], beta: float):
    """The HGQ tagger (see the module docstring): (n, 16) standardised features -> (n, 5) class probabilities.

    HGQ's quantizers keep their defaults (2 fraction bits to start, rounding half up, a small L1 pull on every bit
    width); what a run changes is ``beta`` and the hidden ``widths``."""
    import tensorflow as tf
    from HGQ import HDense, HQuantize

    from qaplib.models import N_CLASSES, N_INPUTS

    layers = [HQuantize(beta=beta, input_shape=(N_INPUTS,), name="input_quant")]
    layers += [HDense(width, activation="relu", beta=beta, name=f"fc{index}") for index, width in enumerate(widths, 1)]
    layers += [HDense(N_CLASSES, beta=beta, name=f"fc{len(widths) + 1}"), tf.keras.layers.Softmax(name="softmax")]
    return tf.keras.Sequential(layers, name="hgq_tagger")


def _hgq_layers(model) -> list:
    from HGQ.layers import HLayerBase

    return [layer for layer in model.layers if isinstance(layer, HLayerBase)]


def hgq_weights(model) -> list[np.ndarray]:
    """Everything that fixes the trained network: Keras' ``get_weights()`` (kernels, biases, bit widths), then each
    HGQ layer's recorded activation range (min, max: (1, n) each), which Keras does not hold."""
    ranges = [np.asarray(value.numpy()) for layer in _hgq_layers(model) for value in (layer.paq._min, layer.paq._max)]
    return [*model.get_weights(), *ranges]


def set_hgq_weights(model, weights: list[np.ndarray]) -> None:
    """Load what :func:`hgq_weights` returned into a model built by :func:`build_hgq_model` with the same widths."""
    layers = _hgq_layers(model)
    n_keras = len(model.get_weights())
    if len(weights) != n_keras + 2 * len(layers):
        raise ValueError(f"expected {n_keras} Keras weights and {2 * len(layers)} ranges, got {len(weights)} arrays")
    model.set_weights(weights[:n_keras])
    for index, layer in enumerate(layers):
        layer.paq._min.assign(weights[n_keras + 2 * index])
        layer.paq._max.assign(weights[n_keras + 2 * index + 1])


def calibrate(model, x: np.ndarray, batch_size: int = 16384) -> float:
    """Record every activation's range on ``x`` (n, 16) (HGQ's ``trace_minmax``: it fixes the integer bits) and
    return the model's exact EBOPs (HGQ's count, float)."""
    from HGQ import trace_minmax

    return float(trace_minmax(model, x, bsz=batch_size, verbose=False))


def logits(model, x: np.ndarray, batch_size: int = 16384) -> np.ndarray:
    """(n, 5) float32 quantized logits of the HGQ tagger (the output of its last HGQ layer) for (n, 16) inputs."""
    import tensorflow as tf

    head = tf.keras.Model(model.inputs, _hgq_layers(model)[-1].output)
    return np.asarray(head.predict(x, batch_size=batch_size, verbose=0))


def _value_bits(values: np.ndarray) -> np.ndarray:
    """Bits of each fixed-point constant in ``values``: a sign bit if negative, then every bit from its highest to its
    lowest set bit (HGQ's exact count, ``get_arr_bits``, with the sign); 0 for a zero."""
    from HGQ.quantizer.quantizer import get_arr_bits

    values = np.asarray(values, dtype=np.float64)
    if not np.any(values):
        return np.zeros(values.shape)
    sign, integer, fraction = get_arr_bits(values)
    bits = sign.astype(float) + integer + fraction
    return np.where(values == 0, 0.0, bits)


def _activation_kif(layer) -> tuple[np.ndarray, ...]:
    """(sign, integer, fraction) bits of each output of an HGQ layer, (n,) int64 each (HGQ's ``get_bits_exact``: the
    integer bits from the recorded range; unsigned after a ReLU).

    An output that was 0 on every training jet has no bits; HGQ reports it as (0, 0, 0), but its quantizer keeps its
    fraction bits, and the trained model rounds onto that grid. Such an output keeps them here, with as many negative
    integer bits (zero width all the same): a value the trained model rounds to a non-zero one is then one the
    firmware saturates (:meth:`qaplib.firmware.spec.NetworkSpec.saturated`)."""
    sign, integer, fraction = (np.asarray(part, dtype=np.int64).reshape(-1)
                               for part in layer.paq.get_bits_exact(pos_only=layer._relu_act))  # fmt: skip
    own = np.round(np.asarray(layer.paq.fbw.numpy(), dtype=np.float64)).astype(np.int64).reshape(-1)
    empty = sign + integer + fraction == 0
    return sign, np.where(empty, -own, integer), np.where(empty, own, fraction)


def implemented_layers(model) -> list[dict]:
    """Per dense layer, what the firmware implements: ``kernel`` (n, m) and ``bias`` (m,) float64 as the trained model
    computes with them (each bias on its neuron's output grid; outputs are rounded half up), ``relu``, and each
    activation's fixed-point type as HGQ derives it: ``sign``, ``integer``, ``fraction`` (m,) int arrays, with the
    inputs' types under the key ``"input"``. Needs :func:`calibrate` first."""
    layers = _hgq_layers(model)
    described = []
    for previous, layer in zip(layers, layers[1:], strict=False):
        k, i, f = _activation_kif(layer)
        pk, pi, pf = _activation_kif(previous)
        described.append({
            "name": layer.name, "kernel": np.asarray(layer.fused_qkernel.numpy(), dtype=np.float64),
            "bias": np.asarray(layer.paq.bias_forward(layer.fused_bias, False, layer.channel_loc).numpy(), dtype=np.float64),
            "sign": k, "integer": i, "fraction": f, "input": {"sign": pk, "integer": pi, "fraction": pf},
            "relu": bool(layer._relu_act),
        })  # fmt: skip
    return described


def granular_layers(model) -> list[GranularLayer]:
    """The dense layers as :class:`qaplib.granular_bops.GranularLayer`: each weight's and bias's bit width that of the
    constant the firmware holds (:func:`_value_bits`), each input's that of its fixed-point type (sign, integer and
    fraction bits; unsigned after a ReLU). Needs :func:`calibrate` first."""
    result = []
    for layer in implemented_layers(model):
        given = layer["input"]
        input_bits = np.maximum(given["sign"] + given["integer"] + given["fraction"], 0).astype(float)
        result.append(GranularLayer(layer["kernel"], layer["bias"], _value_bits(layer["kernel"]), _value_bits(layer["bias"]),
                                    input_bits))  # fmt: skip
    return result
