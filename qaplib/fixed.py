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


@dataclass(frozen=True, eq=False)
class FixedTypes:
    """One fixed-point type per element of a vector (each input, or each neuron of a layer), as high-granularity
    quantization (HGQ, :mod:`qaplib.hgq`) gives them, in da4ml's terms: ``sign`` (0 or 1), ``integer`` (bits above the
    binary point, without the sign) and ``fraction`` bits, (n,) int arrays. Element j holds
    [-sign_j 2**integer_j, 2**integer_j - 2**-fraction_j] in steps of 2**-fraction_j; an element of zero width
    (sign + integer + fraction = 0, HGQ's pruned neuron) holds only 0.

    Values are rounded half up (HGQ's ``floor(x * 2**f + 1/2)``, not QKeras's half to even) and saturated. It offers
    :class:`FixedType`'s interface with arrays where that has numbers (``fraction``, ``lsb``, ``min``, ``max``,
    ``kif``), so the code of :mod:`qaplib.firmware.spec` works for both.
    """

    sign: np.ndarray
    integer: np.ndarray
    fraction: np.ndarray

    def __post_init__(self) -> None:
        parts = [np.asarray(getattr(self, name)) for name in ("sign", "integer", "fraction")]
        if any(part.ndim != 1 or part.shape != parts[0].shape or part.size == 0 for part in parts):
            raise FirmwareError(f"sign, integer and fraction must be non-empty vectors of one length, got "
                                f"{[part.shape for part in parts]}")  # fmt: skip
        if any(not np.issubdtype(part.dtype, np.integer) for part in parts) or not np.all(np.isin(parts[0], (0, 1))):
            raise FirmwareError("sign must hold 0 or 1 and integer and fraction must be integers")
        width = parts[0] + parts[1] + parts[2]
        if np.any(width < 0) or np.any(width > 53):
            raise FirmwareError(f"every element's width must be in [0, 53] bits, got {width.min()} to {width.max()}")
        for name, part in zip(("sign", "integer", "fraction"), parts, strict=True):
            object.__setattr__(self, name, part.astype(np.int64))

    @property
    def width(self) -> np.ndarray:
        return self.sign + self.integer + self.fraction

    @property
    def signed(self) -> bool:
        """True if any element is signed."""
        return bool(np.any(self.sign))

    @property
    def lsb(self) -> np.ndarray:
        return 2.0 ** -self.fraction.astype(np.float64)

    @property
    def min(self) -> np.ndarray:
        return np.where(self.width > 0, -self.sign * 2.0 ** self.integer.astype(np.float64), 0.0)

    @property
    def max(self) -> np.ndarray:
        return np.where(self.width > 0, 2.0 ** self.integer.astype(np.float64) - self.lsb, 0.0)

    @property
    def kif(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.sign, self.integer, self.fraction

    def __len__(self) -> int:
        return len(self.sign)

    def hls(self) -> str:
        """A summary: the widths' range, the largest integer and fraction counts, and the rounding."""
        width = self.width
        return (f"{len(self)} types of {width.min()}-{width.max()} bits ({'signed' if self.signed else 'unsigned'}, "
                f"<= {self.integer.max() + self.sign.max()} integer, <= {self.fraction.max()} fraction; RND, SAT)")  # fmt: skip

    def quantize(self, values: np.ndarray) -> np.ndarray:
        """Round half up onto each element's grid (the last axis of ``values``), then saturate; float64, same shape."""
        values = np.asarray(values, dtype=np.float64)
        rounded = np.floor(values * 2.0 ** self.fraction.astype(np.float64) + 0.5) * self.lsb
        return np.clip(rounded, self.min, self.max)

    def contains(self, values: np.ndarray) -> bool:
        values = np.asarray(values, dtype=np.float64)
        scaled = values * 2.0 ** self.fraction.astype(np.float64)
        return bool(np.all(scaled == np.round(scaled)) and np.all(values >= self.min) and np.all(values <= self.max))

    def to_dict(self) -> dict:
        return {"per_element": True, "sign": self.sign.tolist(), "integer": self.integer.tolist(),
                "fraction": self.fraction.tolist()}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict) -> FixedTypes:
        return cls(*(np.asarray(data[name], dtype=np.int64) for name in ("sign", "integer", "fraction")))


def fixed_type_from_dict(data: dict) -> FixedType | FixedTypes:
    """A :class:`FixedType` or :class:`FixedTypes` from its ``to_dict()``."""
    return FixedTypes.from_dict(data) if data.get("per_element") else FixedType.from_dict(data)
