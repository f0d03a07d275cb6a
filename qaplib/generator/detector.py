"""Fast detector emulation of the original hls4ml jet files (tag ``r1_h022_e0175_t220_nonu``).

Applied to the final-state particles of one event before jet clustering:

* ``nonu``: neutrinos (|PDG id| 12, 14, 16) are removed.
* ``t220``: charged particles with pT > 220 GeV are treated as neutral hadrons (tracking fails).
* ``r1``: every particle's four-momentum is scaled by ``max(0, 1 + sigma * N(0, 1))`` with the
  relative resolution sigma of its kind (E, pT in GeV):

  - charged tracks: ``sigma = sqrt((2.5e-4 pT)^2 + 0.015^2)``
  - photons (ECAL): ``sigma = sqrt((0.027 / sqrt(E / 1.6))^2 + (0.15 * 1.6 / E)^2 + 0.005^2)``
  - neutral hadrons (HCAL): ``sigma = sqrt((1.2 / sqrt(E / 7))^2 + 0.05^2)``

* ``e0175`` / ``h022``: after smearing, photons are summed into 0.0175 x 0.0175 (eta x phi) cells
  and neutral hadrons into 0.022 x 0.022 cells; each cell becomes one massless particle at the
  cell centre carrying the summed energy.

The same bytes on every CPU: NumPy's transcendental ufuncs (``arcsinh``, ``arctan2``, ``sin``, ``cos``,
``sinh``, ``cosh``) take CPU-dependent SIMD code paths (AVX-512 builds use SVML, others the C library),
whose results differ in the last bit, and a last-bit change of a cell position can flip the mMDT
grooming of a jet. So the emulation uses only IEEE-754 operations that are correctly rounded
everywhere (+, -, *, /, sqrt) and comparisons. The cell of a particle is found by comparing pz / pT
and tan(phi / 2) (both from those operations) with tables of the cell boundaries sinh(eta_k) and
tan(phi_k / 2), and the cell centres' cosh, sinh, cos and sin come from tables too. The tables are
computed once in 50-digit arithmetic (mpmath) and rounded to float64, so they are the same everywhere.
Particles beyond |eta| = :data:`ETA_LIMIT` fall into the outermost cells (far from any jet).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import mpmath
import numpy as np

NEUTRINO_IDS = (12, 14, 16)
PHOTON_ID = 22
TRACK_PT_LIMIT_GEV = 220.0
ECAL_CELL = 0.0175
HCAL_CELL = 0.022
#: The cell tables cover |eta| <= ETA_LIMIT (final-state particles at 13 TeV reach |eta| of about 16).
ETA_LIMIT = 20.0
_DIGITS = 50


def _resolution_track(pt: np.ndarray) -> np.ndarray:
    return np.sqrt((2.5e-4 * pt) ** 2 + 0.015**2)


def _resolution_ecal(e: np.ndarray) -> np.ndarray:
    return np.sqrt((0.027 / np.sqrt(e / 1.6)) ** 2 + (0.15 * 1.6 / e) ** 2 + 0.005**2)


def _resolution_hcal(e: np.ndarray) -> np.ndarray:
    return np.sqrt((1.2 / np.sqrt(e / 7.0)) ** 2 + 0.05**2)


def transverse_momentum(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """sqrt(px^2 + py^2) from correctly rounded operations (``np.hypot`` calls the C library)."""
    return np.sqrt(px * px + py * py)


@dataclass(frozen=True)
class CellTables:
    """Boundaries and centres of the (eta, phi) cells of one size c, float64, the same on every CPU.

    Eta cell k covers [k c, (k+1) c) for k in [-n, n); phi cell j covers [j c, (j+1) c) for j in
    [j_min, j_max]. ``sinh_bounds`` (2n - 1,) is sinh of the inner eta boundaries and ``tan_bounds``
    (j_max - j_min,) tan(phi / 2) of the inner phi boundaries, both increasing; the centre arrays hold
    cosh/sinh of each eta cell's centre (2n,) and cos/sin of each phi cell's centre (j_max - j_min + 1,).
    """

    n_eta: int
    j_min: int
    sinh_bounds: np.ndarray
    tan_bounds: np.ndarray
    cosh_centre: np.ndarray
    sinh_centre: np.ndarray
    cos_centre: np.ndarray
    sin_centre: np.ndarray


@functools.cache
def cell_tables(cell: float) -> CellTables:
    """The :class:`CellTables` of cell size ``cell`` (its exact float64 value), from 50-digit arithmetic."""
    n_eta = math.ceil(ETA_LIMIT / cell)
    j_min, j_max = math.floor(-math.pi / cell), math.floor(math.pi / cell)
    with mpmath.workdps(_DIGITS):
        size = mpmath.mpf(cell)
        table = lambda f, ks: np.array([float(f(k)) for k in ks])  # noqa: E731
        return CellTables(
            n_eta=n_eta,
            j_min=j_min,
            sinh_bounds=table(lambda k: mpmath.sinh(k * size), range(-n_eta + 1, n_eta)),
            tan_bounds=table(lambda j: mpmath.tan(j * size / 2), range(j_min + 1, j_max + 1)),
            cosh_centre=table(lambda k: mpmath.cosh((k + mpmath.mpf(0.5)) * size), range(-n_eta, n_eta)),
            sinh_centre=table(lambda k: mpmath.sinh((k + mpmath.mpf(0.5)) * size), range(-n_eta, n_eta)),
            cos_centre=table(lambda j: mpmath.cos((j + mpmath.mpf(0.5)) * size), range(j_min, j_max + 1)),
            sin_centre=table(lambda j: mpmath.sin((j + mpmath.mpf(0.5)) * size), range(j_min, j_max + 1)),
        )


def cell_indices(p4: np.ndarray, tables: CellTables) -> tuple[np.ndarray, np.ndarray]:
    """Row indices into the eta and phi centre tables of each particle (rows px, py, pz, E), each (n,) int.

    Eta: the cell whose sinh-boundaries bracket pz / pT (pT = 0 counts as eta = 0). Phi: the cell whose
    boundaries bracket tan(phi / 2), computed without cancellation as py / (pT + px) for px >= 0 and
    (pT - px) / py for px < 0 (phi = pi, py = 0, maps to +-inf: the last or first cell).
    """
    px, py, pz = p4[:, 0], p4[:, 1], p4[:, 2]
    pt = transverse_momentum(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(pt > 0, pz / pt, 0.0)
        half_tan = np.where(px >= 0, py / (pt + px), (pt - px) / py)
    half_tan = np.where(pt > 0, half_tan, 0.0)
    eta_row = np.searchsorted(tables.sinh_bounds, ratio, side="right")
    phi_row = np.searchsorted(tables.tan_bounds, half_tan, side="right")
    return eta_row, phi_row


def _merge_into_cells(p4: np.ndarray, cell: float) -> np.ndarray:
    """Sum energies of particles (rows px, py, pz, E) per (eta, phi) cell; massless cell centres."""
    if len(p4) == 0:
        return p4
    tables = cell_tables(cell)
    eta_row, phi_row = cell_indices(p4, tables)
    keys, inverse = np.unique(np.stack([eta_row, phi_row], axis=1), axis=0, return_inverse=True)
    energy = np.bincount(inverse.ravel(), weights=p4[:, 3], minlength=len(keys))
    pt_c = energy / tables.cosh_centre[keys[:, 0]]
    return np.stack(
        [pt_c * tables.cos_centre[keys[:, 1]], pt_c * tables.sin_centre[keys[:, 1]],
         pt_c * tables.sinh_centre[keys[:, 0]], energy],
        axis=1,
    )  # fmt: skip


def emulate_detector(
    p4: np.ndarray,
    pdg_id: np.ndarray,
    charged: np.ndarray,
    rng: np.random.Generator,
    min_track_pt_gev: float = 0.0,
    min_cell_energy_gev: float = 0.0,
) -> np.ndarray:
    """Detector-level particles of one event.

    Args:
        p4: (n, 4) float64 final-state four-momenta (px, py, pz, E) in GeV.
        pdg_id: (n,) PDG ids.
        charged: (n,) bool, True for electrically charged particles.
        rng: the shard's random generator (consumed in particle order, hence deterministic).
        min_track_pt_gev: tracks below this smeared pT are not reconstructed.
        min_cell_energy_gev: ECAL and HCAL cells below this summed energy read out nothing.
            Both thresholds act after the smearing, so they never change the random stream.

    Returns:
        (m, 4) float64 detector-level four-momenta, tracks first, then ECAL and HCAL cells.
    """
    abs_id = np.abs(pdg_id)
    visible = ~np.isin(abs_id, NEUTRINO_IDS)
    p4, abs_id, charged = p4[visible], abs_id[visible], charged[visible]
    pt = transverse_momentum(p4[:, 0], p4[:, 1])
    is_track = charged & (pt <= TRACK_PT_LIMIT_GEV)
    is_photon = ~charged & (abs_id == PHOTON_ID)
    is_hadron = ~is_track & ~is_photon
    sigma = np.empty(len(p4))
    sigma[is_track] = _resolution_track(pt[is_track])
    sigma[is_photon] = _resolution_ecal(p4[is_photon, 3])
    sigma[is_hadron] = _resolution_hcal(p4[is_hadron, 3])
    scale = np.maximum(0.0, 1.0 + sigma * rng.standard_normal(len(p4)))
    smeared = p4 * scale[:, None]
    kept = smeared[:, 3] > 0
    tracks = smeared[is_track & kept]
    tracks = tracks[transverse_momentum(tracks[:, 0], tracks[:, 1]) >= min_track_pt_gev]
    cells = np.concatenate([_merge_into_cells(smeared[is_photon & kept], ECAL_CELL),
                            _merge_into_cells(smeared[is_hadron & kept], HCAL_CELL)])  # fmt: skip
    return np.concatenate([tracks, cells[cells[:, 3] >= min_cell_energy_gev]])
