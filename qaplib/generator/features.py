"""The 16 jet-substructure features, computed by fjcontrib through a small C++ kernel.

The kernel (``jetfeat.cpp``) is compiled on first use with g++ against the FastJet and fjcontrib
headers and libraries that the ``fastjet`` wheel bundles, cached under ``~/.cache/qaplib``, and
called through ctypes. It is compiled with ``-ffp-contract=off``: no fused multiply-adds, whose
rounding differs from a multiply then an add, on the compilers and CPUs that would fuse them.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from qaplib.errors import GeneratorError

#: The 16 inputs in the order and with the names of OpenML dataset 42468 (hls4ml_lhc_jets_hlf).
FEATURE_NAMES: tuple[str, ...] = (
    "zlogz",
    "c1_b0_mmdt",
    "c1_b1_mmdt",
    "c1_b2_mmdt",
    "c2_b1_mmdt",
    "c2_b2_mmdt",
    "d2_b1_mmdt",
    "d2_b2_mmdt",
    "d2_a1_b1_mmdt",
    "d2_a1_b2_mmdt",
    "m2_b1_mmdt",
    "m2_b2_mmdt",
    "n2_b1_mmdt",
    "n2_b2_mmdt",
    "mass_mmdt",
    "multiplicity",
)
#: Ungroomed jet kinematics stored beside the features (GeV, -, rad, GeV).
KINEMATIC_NAMES: tuple[str, ...] = ("jet_pt", "jet_eta", "jet_phi", "jet_mass")

_SOURCE = Path(__file__).with_name("jetfeat.cpp")
_DOUBLE_P = ctypes.POINTER(ctypes.c_double)
_FLAGS = ("-O2", "-ffp-contract=off", "-std=c++17")


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "qaplib"


def _fastjet_root() -> Path:
    try:
        import fastjet
    except ImportError as exc:  # pragma: no cover - the environment always has it
        raise GeneratorError("the `fastjet` wheel is not installed; run `make .venv`") from exc
    return Path(fastjet.__file__).parent


@functools.cache
def _kernel() -> ctypes.CDLL:
    """Compile (once per source/fastjet version) and load the feature kernel."""
    fj = _fastjet_root()
    from importlib.metadata import version

    tag = hashlib.sha256(_SOURCE.read_bytes() + version("fastjet").encode() + " ".join(_FLAGS).encode()).hexdigest()[:16]
    library = _cache_dir() / f"libjetfeat-{tag}.so"
    if not library.exists():
        if shutil.which("g++") is None:
            raise GeneratorError("g++ is needed to build the jet-feature kernel; install it (apt-get install g++)")
        library.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=library.parent) as tmp:
            built = Path(tmp) / library.name
            command = [
                "g++", *_FLAGS, "-fPIC", "-shared", f"-I{fj / 'include'}", str(_SOURCE),
                "-o", str(built), f"-L{fj / 'lib64'}", "-lfastjetcontribfragile", "-lfastjettools",
                "-lfastjet", f"-Wl,-rpath,{fj / 'lib64'}",
            ]  # fmt: skip
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                raise GeneratorError(f"building the jet-feature kernel failed:\n{result.stderr[-2000:]}")
            os.replace(built, library)  # atomic: parallel workers never load a half-written file
    lib = ctypes.CDLL(str(library))
    lib.jetfeat_event.argtypes = [_DOUBLE_P] * 4 + [ctypes.c_int, ctypes.c_double, ctypes.c_double, ctypes.c_int, _DOUBLE_P]
    lib.jetfeat_event.restype = ctypes.c_int
    lib.jetfeat_values_per_jet.restype = ctypes.c_int
    if lib.jetfeat_values_per_jet() != len(FEATURE_NAMES) + len(KINEMATIC_NAMES):
        raise GeneratorError(f"stale jet-feature kernel at {library}; delete it and rerun")
    return lib


def cluster_and_compute(p4: np.ndarray, radius: float, pt_min_gev: float, max_jets: int) -> np.ndarray:
    """Cluster particles with anti-kT and compute the features of the hardest jets.

    Args:
        p4: (n, 4) float64 four-momenta (px, py, pz, E) in GeV.
        radius: anti-kT distance parameter R.
        pt_min_gev: minimum jet pT kept.
        max_jets: keep at most this many jets, hardest first.

    Returns:
        (j, 20) float64, j <= max_jets: the 16 ``FEATURE_NAMES`` then the 4 ``KINEMATIC_NAMES``.
    """
    columns = np.ascontiguousarray(np.asarray(p4, dtype=np.float64).T)
    out = np.zeros((max_jets, len(FEATURE_NAMES) + len(KINEMATIC_NAMES)))
    pointers = [row.ctypes.data_as(_DOUBLE_P) for row in columns]
    n_jets = _kernel().jetfeat_event(
        *pointers, columns.shape[1], radius, pt_min_gev, max_jets, out.ctypes.data_as(_DOUBLE_P)
    )
    return out[:n_jets]
