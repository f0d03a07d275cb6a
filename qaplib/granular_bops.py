"""Bit operations of a network whose every weight and input may have its own bit width (issue 28: QAP against HGQ).

The paper's count (:func:`qaplib.metrics.layer_bops`, after Baskin et al.) gives a fully connected layer with ``n``
inputs, ``m`` outputs, one weight bit width ``b_w``, one input bit width ``b_a`` and unpruned fraction ``p`` (non-zero
kernel weights *and biases* over their number)::

    BOPs = m n (p b_a b_w + b_a + b_w + log2 n)

High-granularity quantization gives each weight ``w_ij`` its own bit width ``b_ij`` (zero bits: pruned) and each input
``i`` its own ``a_i``. The **granular BOPs** count every term per weight, from the weights and bit widths the firmware
implements:

* multiplications: ``mn / (mn + m)`` times the sum of ``a_i b_ij`` over the non-zero kernel weights plus the sum of
  ``ā b_j`` over the non-zero biases (``ā``: the mean input bit width), so that, as in the paper's ``p``, a bias counts
  like a weight;
* the rest: the sum of ``a_i + b_ij`` over every kernel entry, and ``mn log2 n``.

For a layer-wise model (every ``a_i = b_a``, every ``b_ij = b_j = b_w``, pruned or not) this is exactly the paper's
formula with ``p`` counted from the implemented weights, that is the effective BOPs (:func:`qaplib.metrics.effective_bops`);
the tests hold it to that. A weight of zero bits adds nothing, pruned or rounded to zero it needs no multiplier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GranularLayer:
    """One fully connected layer as the firmware implements it.

    ``kernel``: (n, m) implemented weights; ``bias``: (m,); ``weight_bits``: (n, m) bit width of each kernel weight
    (0: pruned); ``bias_bits``: (m,); ``input_bits``: (n,) bit width of each input. Bit widths are non-negative
    numbers (fractional where a method reports an average)."""

    kernel: np.ndarray
    bias: np.ndarray
    weight_bits: np.ndarray
    bias_bits: np.ndarray
    input_bits: np.ndarray

    def __post_init__(self) -> None:
        n, m = np.shape(self.kernel)
        shapes = {"bias": (m,), "weight_bits": (n, m), "bias_bits": (m,), "input_bits": (n,)}
        for name, shape in shapes.items():
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"{name} must have shape {shape} for a ({n}, {m}) kernel, got {np.shape(getattr(self, name))}")
        for name in ("weight_bits", "bias_bits", "input_bits"):
            values = np.asarray(getattr(self, name), dtype=float)
            if not np.all(np.isfinite(values)) or np.any(values < 0):
                raise ValueError(f"{name} must be finite and non-negative bit widths")

    @classmethod
    def layer_wise(cls, kernel: np.ndarray, bias: np.ndarray, weight_bits: int, input_bits: int) -> GranularLayer:
        """A layer with one weight and one input bit width (QAP's layers)."""
        n, m = np.shape(kernel)
        return cls(np.asarray(kernel), np.asarray(bias), np.full((n, m), float(weight_bits)), np.full(m, float(weight_bits)),
                   np.full(n, float(input_bits)))  # fmt: skip


def layer_granular_bops(layer: GranularLayer) -> float:
    """Granular bit operations of one layer (see the module's docstring)."""
    kernel, bias = np.asarray(layer.kernel), np.asarray(layer.bias)
    n, m = kernel.shape
    a, b = np.asarray(layer.input_bits, dtype=float), np.asarray(layer.weight_bits, dtype=float)
    products = (a[:, None] * b)[kernel != 0].sum() + (a.mean() * np.asarray(layer.bias_bits, dtype=float))[bias != 0].sum()
    multiplications = m * n / (m * n + m) * products
    return float(multiplications + (a[:, None] + b).sum() + m * n * np.log2(n))


def granular_bops(layers: list[GranularLayer]) -> int:
    """Granular bit operations of a network, summed over its fully connected layers and rounded to an integer, as
    :func:`qaplib.metrics.bops` rounds."""
    return int(round(sum(layer_granular_bops(layer) for layer in layers)))
