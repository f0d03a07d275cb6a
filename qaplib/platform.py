"""Where a result was made: the CPU and the TensorFlow that trained it, and whether two places are the same kind.

Training is bit-identical only on one kind of machine (see the methods page): TensorFlow 2.15's XLA compiles
each epoch for the host CPU (LLVM picks its code from the CPU's family and model and from the instruction
sets it has), so a record carries the :class:`Platform` it was made on, and ``qap verify`` expects bit
identity only where :func:`platform_kind` is the same. The platform is provenance, never part of a run key.
"""

from __future__ import annotations

import platform as _platform
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

#: The packages whose versions every result records (:mod:`qaplib.provenance`).
TRACKED_PACKAGES = ("qaplib", "tensorflow", "qkeras", "hls4ml", "numpy", "scikit-learn", "pythia8mc", "fastjet")

#: x86-64 micro-architecture levels (the psABI's), each by the /proc/cpuinfo flags it adds to the one below.
X86_64_LEVELS = (
    ("x86-64-v2", ("cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3")),
    ("x86-64-v3", ("avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave")),
    ("x86-64-v4", ("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl")),
)


@dataclass(frozen=True)
class Platform:
    """One machine as training sees it.

    ``isa_level``: the highest x86-64 level whose flags the CPU has (``x86-64`` at least; the machine name
    elsewhere); ``avx512``: whether it has AVX-512F, which XLA's code generation uses when present.
    ``cpu_family``/``cpu_model``: the numbers LLVM derives the host CPU's name from ('' where unknown).
    """

    machine: str
    cpu_vendor: str
    cpu_model_name: str
    cpu_family: str
    cpu_model: str
    isa_level: str
    avx512: bool
    tensorflow: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> Platform:
        """The platform a record notes (a ValueError names what is wrong with a malformed one)."""
        if not isinstance(raw, dict):
            raise ValueError(f"a platform must be a mapping, got {type(raw).__name__}")
        fields = set(cls.__dataclass_fields__)
        if set(raw) - {"noted"} != fields:
            raise ValueError(f"a platform has the fields {sorted(fields)}, got {sorted(raw)}")
        return cls(**{name: raw[name] for name in fields})

    def describe(self) -> str:
        """One line for a reader: vendor, model, family/model numbers, instruction-set level, TensorFlow."""
        return (f"{self.cpu_model_name or self.cpu_vendor or 'unknown CPU'} (family {self.cpu_family or '?'}, "
                f"model {self.cpu_model or '?'}; {self.isa_level}, {'with' if self.avx512 else 'no'} AVX-512), "
                f"TensorFlow {self.tensorflow}")  # fmt: skip


def cpuinfo_fields(cpuinfo: str) -> dict[str, str]:
    """The first processor's ``key: value`` lines of /proc/cpuinfo text."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    return fields


def isa_level(flags: set[str], machine: str) -> str:
    """The highest x86-64 level all of whose flags are in ``flags``; ``machine`` itself off x86-64."""
    if machine.lower() not in ("x86_64", "amd64"):
        return machine
    level = "x86-64"
    for name, required in X86_64_LEVELS:
        if not set(required) <= flags:
            break
        level = name
    return level


def platform_from(cpuinfo: str, machine: str, tensorflow: str) -> Platform:
    """The :class:`Platform` described by /proc/cpuinfo text, ``platform.machine()`` and a TensorFlow version."""
    fields = cpuinfo_fields(cpuinfo)
    flags = set(fields.get("flags", "").split())
    return Platform(machine=machine, cpu_vendor=fields.get("vendor_id", ""), cpu_model_name=fields.get("model name", ""),
                    cpu_family=fields.get("cpu family", ""), cpu_model=fields.get("model", ""),
                    isa_level=isa_level(flags, machine), avx512="avx512f" in flags, tensorflow=tensorflow)  # fmt: skip

def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` ('absent' for a package that is not installed)."""
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found


def current_platform() -> Platform:
    """This machine, with the installed TensorFlow ('absent' if none; /proc/cpuinfo read where there is one)."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    return platform_from(cpuinfo, _platform.machine(), package_versions(("tensorflow",))["tensorflow"])


def platform_kind(platform: Platform) -> tuple[str, ...]:
    """What must be equal for training to be bit-identical: architecture, CPU vendor, family and model (LLVM's
    host CPU), instruction-set level, AVX-512 and the TensorFlow version. The model name is left out: virtual
    machines of one kind report it differently."""
    return (platform.machine, platform.cpu_vendor, platform.cpu_family, platform.cpu_model, platform.isa_level,
            str(platform.avx512), platform.tensorflow)  # fmt: skip


def same_kind(first: Platform, second: Platform) -> bool:
    """Whether training on ``first`` and on ``second`` is expected to be bit-identical."""
    return platform_kind(first) == platform_kind(second)
