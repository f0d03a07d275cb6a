"""QKeras's two fake quantizers with per-member parameters: the same values, computed without divisions.

The batched engine stacks models of different bit widths, so the quantizer parameters become tensors
that broadcast against a leading model axis instead of Python numbers. The values equal those of
``qkeras.quantized_bits(bits, 0, alpha=1)`` and ``qkeras.quantized_relu(bits, integer)`` bit for bit
(rounding half to even, the same saturation); the gradients (straight through for weights, 1 on
(0, m_i - m_f] for the activation) are written out in ``qaplib.engine.backprop``. ``tests/test_engine.py``
checks values and gradients element-wise against QKeras, ties and saturation included. A member with
``bits == 32`` is a float member: :func:`select_quantized` passes its values through untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from qaplib.models import ModelSpec

#: Parameters used for float members: any valid values, their quantized branch is discarded.
_FLOAT_PLACEHOLDER_BITS = 16


@dataclass(frozen=True)
class QuantizerParameters:
    """Per-member quantizer constants, each a (M,) float32 array (M members), all exact powers of two.

    Inside the compiled epoch the same fields hold a chunk's (C,) tensors, and :meth:`member` gives one
    member's scalars.

    For ``quantized_bits(bits, 0, alpha=1)``: ``weight_levels`` m = 2**(bits-1) and ``weight_step`` 1/m.
    For ``quantized_relu(bits, integer)`` with m = 2**bits, m_i = 2**integer: ``relu_scale`` m/m_i,
    ``relu_step`` 1/m, ``relu_unit`` m_i and ``relu_ceiling`` m_i - 2**(integer-bits) (= m_i (1 - 1/m)).
    ``quantized`` (bool) is False for float (32-bit) members. QKeras divides by m and m_i; multiplying
    by these exact reciprocals gives the same float32 values and is several times cheaper.
    """

    quantized: np.ndarray
    weight_levels: np.ndarray
    weight_step: np.ndarray
    relu_scale: np.ndarray
    relu_step: np.ndarray
    relu_unit: np.ndarray
    relu_ceiling: np.ndarray

    def member(self, c: int) -> QuantizerParameters:
        """Member c's constants (scalars)."""
        return QuantizerParameters(*(getattr(self, f.name)[c] for f in fields(self)))

    @classmethod
    def for_specs(cls, specs: list[ModelSpec]) -> QuantizerParameters:
        """The constants of each spec's kernel/bias and activation quantizers, in member order."""
        bits = np.array([s.bits if s.quantized else _FLOAT_PLACEHOLDER_BITS for s in specs], dtype=np.float64)
        integer = np.minimum(3, bits // 2)
        as_float32 = lambda values: np.asarray(values, dtype=np.float32)  # noqa: E731
        return cls(
            quantized=np.array([s.quantized for s in specs], dtype=bool),
            weight_levels=as_float32(2.0 ** (bits - 1)),
            weight_step=as_float32(2.0 ** -(bits - 1)),
            relu_scale=as_float32(2.0 ** (bits - integer)),
            relu_step=as_float32(2.0**-bits),
            relu_unit=as_float32(2.0**integer),
            relu_ceiling=as_float32(2.0**integer - 2.0 ** (integer - bits)),
        )


def quantized_bits_unit(x, levels, step):
    """The values of ``quantized_bits(bits, integer=0, alpha=1)(x)``, levels m = 2**(bits-1), step 1/m.

    clip(round(x m), -m, m - 1) / m: values in [-1, 1) on a grid of 1/m, rounding half to even. QKeras
    computes x + stop_gradient(xq - x) with round_through(p) = p + stop_gradient(round(p) - p); each of
    these differences is exact in float32 here, so the value is xq itself. The gradient is the identity
    (straight through); ``qaplib.engine.backprop`` passes it on.
    """
    import tensorflow as tf

    return tf.clip_by_value(tf.round(x * levels), -levels, levels - 1) * step


def quantized_relu_values(x, scale, step, unit):
    """The values of ``quantized_relu(bits, integer)(x)``: m_i clip(round(x m / m_i) / m, 0, 1 - 1/m).

    ``scale`` = m/m_i, ``step`` = 1/m, ``unit`` = m_i (see :class:`QuantizerParameters`); QKeras's
    straight-through additions are exact, as in :func:`quantized_bits_unit`.
    """
    import tensorflow as tf

    return unit * tf.clip_by_value(tf.round(x * scale) * step, 0.0, 1.0 - step)


def quantized_relu_passes(x, ceiling):
    """Where ``quantized_relu``'s gradient is 1 (elsewhere 0): x in (0, ceiling], ceiling = m_i - m_f.

    QKeras differentiates where(x <= ceiling, relu(x), ceiling); plain ReLU passes x > 0.
    """
    return (x > 0) & (x <= ceiling)


def select_quantized(quantized, quantized_values, float_values):
    """Per member: ``quantized_values`` where ``quantized`` (bool, broadcastable) is True, else ``float_values``."""
    import tensorflow as tf

    return tf.where(quantized, quantized_values, float_values)
