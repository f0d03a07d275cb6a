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
"""

from __future__ import annotations

import numpy as np

NEUTRINO_IDS = (12, 14, 16)
PHOTON_ID = 22
TRACK_PT_LIMIT_GEV = 220.0
ECAL_CELL = 0.0175
HCAL_CELL = 0.022


def _resolution_track(pt: np.ndarray) -> np.ndarray:
    return np.sqrt((2.5e-4 * pt) ** 2 + 0.015**2)


def _resolution_ecal(e: np.ndarray) -> np.ndarray:
    return np.sqrt((0.027 / np.sqrt(e / 1.6)) ** 2 + (0.15 * 1.6 / e) ** 2 + 0.005**2)


def _resolution_hcal(e: np.ndarray) -> np.ndarray:
    return np.sqrt((1.2 / np.sqrt(e / 7.0)) ** 2 + 0.05**2)


def _merge_into_cells(p4: np.ndarray, cell: float) -> np.ndarray:
    """Sum energies of particles (rows px, py, pz, E) per (eta, phi) cell; massless cell centres."""
    if len(p4) == 0:
        return p4
    px, py, pz, e = p4.T
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    phi = np.arctan2(py, px)
    cells = np.stack([np.floor(eta / cell), np.floor(phi / cell)], axis=1).astype(np.int64)
    keys, inverse = np.unique(cells, axis=0, return_inverse=True)
    energy = np.bincount(inverse.ravel(), weights=e, minlength=len(keys))
    eta_c = (keys[:, 0] + 0.5) * cell
    phi_c = (keys[:, 1] + 0.5) * cell
    pt_c = energy / np.cosh(eta_c)
    return np.stack(
        [pt_c * np.cos(phi_c), pt_c * np.sin(phi_c), pt_c * np.sinh(eta_c), energy], axis=1
    )


def emulate_detector(
    p4: np.ndarray, pdg_id: np.ndarray, charged: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Detector-level particles of one event.

    Args:
        p4: (n, 4) float64 final-state four-momenta (px, py, pz, E) in GeV.
        pdg_id: (n,) PDG ids.
        charged: (n,) bool, True for electrically charged particles.
        rng: the shard's random generator (consumed in particle order, hence deterministic).

    Returns:
        (m, 4) float64 detector-level four-momenta, tracks first, then ECAL and HCAL cells.
    """
    abs_id = np.abs(pdg_id)
    visible = ~np.isin(abs_id, NEUTRINO_IDS)
    p4, abs_id, charged = p4[visible], abs_id[visible], charged[visible]
    pt = np.hypot(p4[:, 0], p4[:, 1])
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
    return np.concatenate(
        [
            smeared[is_track & kept],
            _merge_into_cells(smeared[is_photon & kept], ECAL_CELL),
            _merge_into_cells(smeared[is_hadron & kept], HCAL_CELL),
        ]
    )
