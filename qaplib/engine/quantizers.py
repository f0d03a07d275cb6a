"""QKeras's two fake quantizers with per-member parameters, written op for op as QKeras writes them.

The batched engine stacks models of different bit widths, so the quantizer parameters become tensors
that broadcast against a leading model axis instead of Python numbers. Every value is still computed by
the same TensorFlow ops in the same order as ``qkeras.quantized_bits(bits, 0, alpha=1)`` and
``qkeras.quantized_relu(bits, integer)`` (rounding half to even, the same saturation, the same
straight-through gradient); ``tests/test_engine.py`` checks element-wise equality with QKeras, ties and
saturation included. A member with ``bits == 32`` is a float member: :func:`select_quantized` passes its
values through untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qaplib.models import ModelSpec

#: Parameters used for float members: any valid values, their quantized branch is discarded.
_FLOAT_PLACEHOLDER_BITS = 16


@dataclass(frozen=True)
class QuantizerParameters:
    """Per-member quantizer constants, each a (M,) float32 array (M members).

    ``weight_levels`` is m = 2**(bits-1) of ``quantized_bits(bits, 0, alpha=1)``; ``relu_levels``
    m = 2**bits, ``relu_unit`` m_i = 2**integer and ``relu_ceiling`` m_i - 2**(integer-bits) are those of
    ``quantized_relu(bits, integer)``; ``quantized`` (bool) is False for float (32-bit) members.
    """

    quantized: np.ndarray
    weight_levels: np.ndarray
    relu_levels: np.ndarray
    relu_unit: np.ndarray
    relu_ceiling: np.ndarray

    @classmethod
    def for_specs(cls, specs: list[ModelSpec]) -> QuantizerParameters:
        """The constants of each spec's kernel/bias and activation quantizers, in member order."""
        bits = np.array([s.bits if s.quantized else _FLOAT_PLACEHOLDER_BITS for s in specs], dtype=np.float64)
        integer = np.minimum(3, bits // 2)
        return cls(
            quantized=np.array([s.quantized for s in specs], dtype=bool),
            weight_levels=(2.0 ** (bits - 1)).astype(np.float32),
            relu_levels=(2.0**bits).astype(np.float32),
            relu_unit=(2.0**integer).astype(np.float32),
            relu_ceiling=(2.0**integer - 2.0 ** (integer - bits)).astype(np.float32),
        )


def round_through(x):
    """QKeras ``_round_through``: round half to even forward, identity gradient (straight through)."""
    import tensorflow as tf

    return x + tf.stop_gradient(-x + tf.round(x))


def quantized_bits_unit(x, levels):
    """``quantized_bits(bits, integer=0, alpha=1)(x)`` with ``levels`` = 2**(bits-1) (broadcastable to x).

    Forward: clip(round(x * m), -m, m - 1) / m, values in [-1, 1) on a grid of 1/m. Backward: identity
    (QKeras wraps the whole quantization in ``stop_gradient``). The factors m_i = 2**0 = 1 and
    alpha = 1 of QKeras multiply or divide by exactly 1.0 and are left out.
    """
    import tensorflow as tf

    p = x * levels
    xq = tf.clip_by_value(round_through(p), -levels, levels - 1) / levels
    return x + tf.stop_gradient(1.0 * (-x + xq))


def quantized_relu_values(x, levels, unit, ceiling):
    """``quantized_relu(bits, integer)(x)`` with m = ``levels``, m_i = ``unit``, m_i - m_f = ``ceiling``.

    Forward: m_i * clip(round(x * m / m_i) / m, 0, 1 - 1/m). Backward: the gradient of
    where(x <= m_i - m_f, relu(x), m_i - m_f), i.e. 1 on (0, m_i - m_f] and 0 elsewhere.
    """
    import tensorflow as tf

    x_u = tf.where(x <= ceiling, tf.nn.relu(x), tf.ones_like(x) * ceiling)
    p = x * levels / unit
    xq = unit * tf.clip_by_value(round_through(p) / levels, 0.0, 1.0 - 1.0 / levels)
    return x_u + tf.stop_gradient(1.0 * (-x_u + xq))


def select_quantized(quantized, quantized_values, float_values):
    """Per member: ``quantized_values`` where ``quantized`` (bool, broadcastable) is True, else ``float_values``."""
    import tensorflow as tf

    return tf.where(quantized, quantized_values, float_values)
