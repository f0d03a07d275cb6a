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


def baseline_verdict(accuracy: float, macro_auc: float, dataset: str, generated: bool) -> str:
    """Chapter 1's conclusion: the float baseline on ``dataset`` against the real data and the threshold."""
    low, high = REAL_BASELINE_ACCURACY
    found = f"On {dataset} the float tagger reaches **{100 * accuracy:.2f} %** test accuracy (macro AUC {macro_auc:.3f})."
    if not generated:
        return (f"{found} Public trainings of the same tagger on the real hls4ml dataset report "
                f"{100 * low:.1f}–{100 * high:.1f} %.")
    if accuracy >= MIN_BASELINE_ACCURACY:
        return (f"{found} That meets the project's threshold for the generated copy, {100 * MIN_BASELINE_ACCURACY:.0f} %; "
                f"the same tagger reaches {100 * low:.1f}–{100 * high:.1f} % on the real dataset.")
    return (f"{found} That is **below** the project's threshold for the generated copy, "
            f"{100 * MIN_BASELINE_ACCURACY:.0f} %, and {100 * (low - accuracy):.1f}–{100 * (high - accuracy):.1f} "
            f"percentage points below the {100 * low:.1f}–{100 * high:.1f} % that the same tagger reaches on the real "
            "dataset: the generated jets are harder to tell apart than the real ones (see the last section). The book's "
            "conclusions compare models on the same data, which this gap does not invalidate; absolute accuracies are "
            "lower than the paper's.")


# ---------------------------------------------------------------- every known statistic of the real set

#: Where the real numbers come from (public hls4ml-tutorial notebooks that loaded OpenML 42468; see the methods page).
SOURCES = {
    "box plot": "box plot of the 830k jets, part 1 (read by eye, ± 5)",
    "rows": "the first five rows, printed in part 1",
    "2024 run": "part 1, 2024 run (float 64-32-32, 30 epochs, Adam 1e-3, batch 1024)",
    "2020–25 runs": "every stored run 2020–2025 (float 64-32-32, 166k test jets)",
}

#: Real-set mMDT mass and multiplicity quartiles (Q1, median, Q3), read off the box plot.
REAL_MASS_QUARTILES_GEV = (19.0, 80.0, 93.0)
REAL_MULTIPLICITY_QUARTILES = (34.0, 48.0, 64.0)
#: Multiplicities of the five printed real jets, per class.
REAL_ROW_MULTIPLICITIES = {"g": (75,), "w": (31, 35), "z": (39,), "t": (61,)}
#: Per-class one-vs-rest AUC of the converged float tagger on the real set (g, q, w, z, t).
REAL_AUC = {"g": 0.939, "q": 0.903, "w": 0.954, "z": 0.949, "t": 0.963}
#: Validation accuracy after the first epoch (487 steps of 1024 jets) on the real set.
REAL_FIRST_EPOCH_ACCURACY = 0.736
REAL_FIRST_EPOCH_STEPS = 487
#: Adam's learning rate in that run (the "2024 run" of :data:`SOURCES`).
REAL_FIRST_EPOCH_LEARNING_RATE = 1e-3


def _triple(values) -> str:
    return " / ".join(f"{v:.0f}" for v in values)


def _jets(values: tuple[int, ...]) -> str:
    return f"{', '.join(map(str, values))} ({'one jet' if len(values) == 1 else f'{len(values)} jets'})"


def sources_note() -> str:
    """The footnote naming each source key of :func:`comparison_table`."""
    return "Real numbers from the hls4ml tutorial notebooks: " + "; ".join(f"{k}: {v}" for k, v in SOURCES.items()) + "."


def first_epoch_note(steps: int, learning_rate: float) -> str:
    """What the one-epoch row compares, in words: the number of steps (from the data, never assumed) and the learning
    rates, which differ from the real run's."""
    relation = "fewer steps than" if steps < REAL_FIRST_EPOCH_STEPS else (
        "as many steps as" if steps == REAL_FIRST_EPOCH_STEPS else "more steps than")
    rate = ("the same learning rate" if learning_rate == REAL_FIRST_EPOCH_LEARNING_RATE else
            f"Adam at {learning_rate:g} against {REAL_FIRST_EPOCH_LEARNING_RATE:g} there, so that run moves further per step")
    return f" One epoch here has {steps} steps, {relation} the real run's {REAL_FIRST_EPOCH_STEPS}, with {rate}."


def comparison_table(features: np.ndarray, labels: np.ndarray, feature_names, class_names, accuracy: float,
                     aucs: np.ndarray, first_epoch_accuracy: float, first_epoch_steps: int,
                     learning_rate: float | None = None):  # fmt: skip
    """Every known statistic of the real hls4ml set beside the same statistic of a dataset, as short text rows.

    Args:
        features: (n, 16) raw (unstandardised) features of the whole dataset; labels (n,) class indices.
        accuracy, aucs: test accuracy and (5,) per-class AUC of the float tagger trained on it.
        first_epoch_accuracy: its validation accuracy after one epoch of ``first_epoch_steps`` batches, trained
            with Adam at ``learning_rate`` (shown beside the real run's, which differs: see :func:`first_epoch_note`).
    Returns:
        DataFrame with columns statistic, real set, this dataset, source (a key of :data:`SOURCES`).
    """
    import pandas as pd

    names = list(feature_names)
    mass, multiplicity = features[:, names.index("mass_mmdt")], features[:, names.index("multiplicity")]
    d2_equal = float(np.mean(features[:, names.index("d2_a1_b1_mmdt")] == features[:, names.index("d2_b1_mmdt")]))
    rows = [
        ("groomed mass Q1 / median / Q3 [GeV]", _triple(REAL_MASS_QUARTILES_GEV), _triple(np.percentile(mass, [25, 50, 75])),
         "box plot"),
        ("multiplicity Q1 / median / Q3", _triple(REAL_MULTIPLICITY_QUARTILES),
         _triple(np.percentile(multiplicity, [25, 50, 75])), "box plot"),
    ]  # fmt: skip
    for k, name in enumerate(class_names):
        real = _jets(REAL_ROW_MULTIPLICITIES[name]) if name in REAL_ROW_MULTIPLICITIES else "none printed"
        rows.append((f"multiplicity of {name} jets", real, f"{np.median(multiplicity[labels == k]):.0f} (median)", "rows"))
    rows.append(("float tagger: test accuracy", f"{REAL_BASELINE_ACCURACY[0]:.3f}–{REAL_BASELINE_ACCURACY[1]:.3f}",
                 f"{accuracy:.3f}", "2020–25 runs"))  # fmt: skip
    rows += [(f"float tagger: AUC {name}", f"{REAL_AUC[name]:.3f}", f"{auc:.3f}", "2024 run")
             for name, auc in zip(class_names, aucs, strict=True)]  # fmt: skip
    rows += [
        ("validation accuracy after one epoch",
         f"{REAL_FIRST_EPOCH_ACCURACY:.3f} ({REAL_FIRST_EPOCH_STEPS} steps, Adam {REAL_FIRST_EPOCH_LEARNING_RATE:g})",
         f"{first_epoch_accuracy:.3f} ({first_epoch_steps} steps"
         + (f", Adam {learning_rate:g})" if learning_rate is not None else ")"), "2024 run"),
        ("d2_a1_b1 = d2_b1 exactly (float32)", "every printed row", f"{d2_equal:.3%} of the jets", "rows"),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["statistic", "real set", "this dataset", "source"])
