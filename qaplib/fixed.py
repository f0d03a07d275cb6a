"""Fixed-point number types (ap_fixed / ap_ufixed) and QKeras-equivalent rounding, in plain NumPy.

Imported by both Python environments (TensorFlow with numpy<2, da4ml with numpy>=2), so it depends
on NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qaplib.errors import FirmwareError


@dataclass(frozen=True)
class FixedType:
    """A two's-complement (``signed``) or unsigned fixed-point type, as ``ap_fixed<width, integer>``.

    ``width`` counts all bits, ``integer`` the bits above the binary point (sign bit included when
    signed), so the step is ``lsb = 2**-(width - integer)`` and the range is
    ``[-2**(integer-1), 2**(integer-1) - lsb]`` (signed) or ``[0, 2**integer - lsb]`` (unsigned).
    ``integer`` may be negative or exceed ``width``. Values are rounded half to even and saturated
    (``AP_RND_CONV, AP_SAT``), which is what QKeras's ``quantized_bits``/``quantized_relu`` do
    (``tf.round`` rounds half to even; both clip).

    Example: ``FixedType(16, 6)`` is ``ap_fixed<16,6>``: range [-32, 32), step 2**-10.
    """

    width: int
    integer: int
    signed: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.width, bool) or not isinstance(self.width, int) or not 1 <= self.width <= 64:
            raise FirmwareError(f"width must be an integer in [1, 64], got {self.width!r}")
        if isinstance(self.integer, bool) or not isinstance(self.integer, int):
            raise FirmwareError(f"integer must be an integer, got {self.integer!r}")
        if not isinstance(self.signed, bool):
            raise FirmwareError(f"signed must be True or False, got {self.signed!r}")

    @property
    def fraction(self) -> int:
        """Bits below the binary point."""
        return self.width - self.integer

    @property
    def lsb(self) -> float:
        """The step between neighbouring values, 2**-fraction."""
        return 2.0**-self.fraction

    @property
    def min(self) -> float:
        return -(2.0 ** (self.integer - 1)) if self.signed else 0.0

    @property
    def max(self) -> float:
        return 2.0 ** (self.integer - 1 if self.signed else self.integer) - self.lsb

    @property
    def kif(self) -> tuple[int, int, int]:
        """(sign bits, integer bits without sign, fraction bits): da4ml's description of the type."""
        return int(self.signed), self.integer - int(self.signed), self.fraction

    def hls(self) -> str:
        """The hls4ml precision string, e.g. ``fixed<16,6,RND_CONV,SAT>``."""
        return f"{'' if self.signed else 'u'}fixed<{self.width},{self.integer},RND_CONV,SAT>"

    def quantize(self, values: np.ndarray) -> np.ndarray:
        """Round half to even onto the grid, then saturate to [min, max]; float64, same shape."""
        scaled = np.round(np.asarray(values, dtype=np.float64) * 2.0**self.fraction)  # np.round: half to even
        return np.clip(scaled * self.lsb, self.min, self.max)

    def contains(self, values: np.ndarray) -> bool:
        """True if every value is representable exactly (on the grid and inside the range)."""
        values = np.asarray(values, dtype=np.float64)
        on_grid = np.all(values * 2.0**self.fraction == np.round(values * 2.0**self.fraction))
        return bool(on_grid and np.all(values >= self.min) and np.all(values <= self.max))

    def to_dict(self) -> dict:
        return {"width": self.width, "integer": self.integer, "signed": self.signed}

    @classmethod
    def from_dict(cls, data: dict) -> FixedType:
        return cls(int(data["width"]), int(data["integer"]), bool(data["signed"]))

    @classmethod
    def covering(cls, values: np.ndarray, fraction: int, min_integer: int, signed: bool = True) -> FixedType:
        """The type with ``fraction`` fraction bits and the fewest integer bits (at least ``min_integer``)
        that holds every element of ``values`` exactly. Raises FirmwareError if ``values`` is off the
        2**-fraction grid or needs more than 64 bits."""
        values = np.asarray(values, dtype=np.float64)
        for integer in range(min_integer, 65 - fraction):
            candidate = cls(integer + fraction, integer, signed)
            if candidate.contains(values):
                return candidate
        raise FirmwareError(
            f"values in [{values.min()}, {values.max()}] fit no fixed-point type of <= 64 bits with {fraction} fraction bits"
        )
