"""On which CPUs the generator writes the committed bytes, and why not elsewhere.

The generator's own floating point does not depend on the CPU: numpy's SIMD-dispatched transcendental
functions are kept out of it (``qaplib.generator.detector``) and the feature kernel is compiled without
FMA contraction. What remains CPU-dependent is glibc's libm, which Pythia, fastjet and the kernel call
(exp, log, pow, sin, atan2, ...): on x86-64 it picks one of several implementations at load time, the
FMA one when the CPU has AVX2 and FMA, older SSE2/AVX/FMA4 ones otherwise, and these differ in the last
bit of a few results. Measured on the default tier: with numpy's dispatch limited to its baseline, 20 of 20
shards came out byte-identical; hiding AVX, AVX2 and FMA from glibc as well (``GLIBC_TUNABLES``), 2 of 20.
Every x86-64 CPU with AVX2 and FMA (x86-64-v3: Intel since Haswell, AMD since Zen) runs the same libm
code, whatever else it has (AVX-512 included); other CPUs and other architectures give statistically
equivalent, not identical, jets.
"""

from __future__ import annotations

import platform
from pathlib import Path

#: The CPUs on which ``make data`` reproduces the committed shards byte for byte.
BYTE_IDENTICAL_ON = "x86-64 CPUs with AVX2 and FMA (x86-64-v3 or newer: Intel since Haswell, AMD since Zen)"
_REQUIRED_FLAGS = ("avx2", "fma")


def cpu_outside_byte_identity(cpuinfo: str | None = None, machine: str | None = None) -> str | None:
    """Why this CPU may not reproduce the committed bytes, or None if it is one of :data:`BYTE_IDENTICAL_ON`.

    ``cpuinfo`` is the text of /proc/cpuinfo (read when None); ``machine`` is ``platform.machine()``.
    Returns None also when /proc/cpuinfo cannot be read on an x86-64 machine (nothing to say).
    """
    machine = machine or platform.machine()
    if machine.lower() not in ("x86_64", "amd64"):
        return f"this machine is {machine}, not x86-64"
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), None)
    if flags is None:
        return None
    missing = [flag.upper() for flag in _REQUIRED_FLAGS if flag not in flags]
    return f"this CPU lacks {' and '.join(missing)}" if missing else None
