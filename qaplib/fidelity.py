"""How closely the generated jets resemble the real hls4ml LHC jet dataset.

Reference numbers of the real dataset come from public trainings of the same float
16-64-32-32-5 tagger on OpenML 42468 (about 76 % test accuracy, 75-76.4 % across runs).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import gaussian_kde

#: Pole masses [GeV] the groomed-mass peaks of W, Z and top jets should sit near.
REFERENCE_MASSES_GEV = {"w": 80.4, "z": 91.2, "t": 172.8}
#: Search windows [GeV] for each peak (wide enough for detector smearing, away from the QCD tail).
PEAK_WINDOWS_GEV = {"w": (55.0, 110.0), "z": (60.0, 120.0), "t": (130.0, 220.0)}
#: Float-baseline test accuracy on the real dataset (range over public runs).
REAL_BASELINE_ACCURACY = (0.75, 0.764)
#: Acceptance threshold for the generated copy (project requirement).
MIN_BASELINE_ACCURACY = 0.73


def mass_peak_gev(mass: np.ndarray, window: tuple[float, float]) -> float:
    """Most probable value [GeV] of ``mass`` inside ``window``: the maximum of a Gaussian KDE.

    Args:
        mass: (n,) groomed jet masses in GeV.
        window: (low, high) GeV range searched for the peak.
    """
    low, high = window
    inside = mass[(mass >= low) & (mass <= high)]
    if len(inside) < 10:
        return float("nan")
    grid = np.linspace(low, high, 1101)
    return float(grid[np.argmax(gaussian_kde(inside)(grid))])


def mass_peaks(mass: np.ndarray, labels: np.ndarray, class_names) -> dict[str, dict[str, float]]:
    """Peak position, reference mass and relative offset for the W, Z and top classes."""
    peaks = {}
    for name, reference in REFERENCE_MASSES_GEV.items():
        peak = mass_peak_gev(mass[labels == class_names.index(name)], PEAK_WINDOWS_GEV[name])
        peaks[name] = {"peak_gev": peak, "reference_gev": reference, "relative_offset": peak / reference - 1}
    return peaks
