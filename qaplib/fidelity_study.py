"""Controlled experiments on the generated dataset's fidelity: one hypothesis, one changed setting.

Each :data:`VARIANTS` entry changes one :class:`~qaplib.generator.settings.GeneratorSettings` field of a
common base (the ``default`` tier's physics, smaller). Every variant is generated from the same Pythia
seeds and scored by the same float taggers (the dataset chapter's baseline, one per fold, each fold its
own validation split and seed), so the differences between variants are controlled and the spread
over folds is the seed noise. ``qap data study`` runs it; each finished variant is written atomically and sealed
to ``<out>/<variant>.json`` and skipped on a rerun.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qaplib.generator.settings import CLASS_NAMES, GeneratorSettings, tier_settings
from qaplib.records import SealedRecords

#: Pythia 8's CMS CUETP8M1 underlying-event tune: Monash with retuned MPI (what CMS samples of the
#: original's era used); it matters only with multiparton interactions on.
CUETP8M1 = ("Tune:pp = 14", "Tune:ee = 7", "MultipartonInteractions:pT0Ref = 2.4024",
            "MultipartonInteractions:ecmPow = 0.25208", "MultipartonInteractions:expPow = 1.6")  # fmt: skip


#: The generator as round two of the fidelity study found it; the study's base resets these fields, so its
#: variants are measured against the same reference whatever the default tier has adopted since.
ROUND_TWO_START = {"min_track_pt_gev": 0.0, "min_cell_energy_gev": 0.0}
#: The variant the default tier adopted (multiplicity quartiles as the real set's, accuracy unchanged).
ADOPTED = "readout thresholds 0.5 GeV"


@dataclass(frozen=True)
class Variant:
    """One controlled change: which hypothesis it tests and the settings fields it sets."""

    hypothesis: str
    changes: dict


VARIANTS: dict[str, Variant] = {
    "base": Variant("reference: the default tier's settings before this study", {}),
    "readout thresholds": Variant(
        "1: multiplicity too high because the emulation reads out every soft particle (tracks pT > 1 GeV, cells E > 1 GeV)",
        {"min_track_pt_gev": 1.0, "min_cell_energy_gev": 1.0},
    ),
    "readout thresholds 0.5 GeV": Variant(
        "1: as above, half the thresholds (tracks pT > 0.5 GeV, cells E > 0.5 GeV)",
        {"min_track_pt_gev": 0.5, "min_cell_energy_gev": 0.5},
    ),
    "underlying event, CUETP8M1": Variant(
        "1: the original samples had an underlying event with a CMS-era tune (MPI on, CUETP8M1)",
        {"multiparton_interactions": True, "pythia_extra": CUETP8M1},
    ),
    "underlying event + thresholds 1 GeV": Variant(
        "1: both above: the original's underlying event, read out above 1 GeV",
        {"multiparton_interactions": True, "pythia_extra": CUETP8M1, "min_track_pt_gev": 1.0, "min_cell_energy_gev": 1.0},
    ),
    "underlying event + thresholds 0.75 GeV": Variant(
        "1: as above, read out above 0.75 GeV",
        {"multiparton_interactions": True, "pythia_extra": CUETP8M1, "min_track_pt_gev": 0.75, "min_cell_energy_gev": 0.75},
    ),
    "colour reconnection off": Variant(
        "1: colour reconnection changes the multiplicity", {"pythia_extra": ("ColourReconnection:reconnect = off",)}
    ),
    "boson + parton": Variant(
        "2: the hard process: W/Z recoiling against a parton instead of boson pairs", {"boson_source": "boson_jet"}
    ),
    "wide jet-pT window": Variant(
        "3: per-class jet-pT differences, equalised by the 900-1100 GeV window (here 700-1300 GeV)",
        {"jet_pt_min_gev": 700.0, "jet_pt_max_gev": 1300.0},
    ),
    "labels by sample": Variant(
        "4: labels from the process that made the event, no containment requirement", {"truth_matching": "sample"}
    ),
}


def variant_settings(variant: str, jets_per_class: int, seed_base: int = 7) -> GeneratorSettings:
    """The settings of ``variant``: the default tier's physics, ``jets_per_class`` jets in two shards per class."""
    if variant not in VARIANTS:
        raise KeyError(f"unknown variant {variant!r}; known: {sorted(VARIANTS)}")
    base = dataclasses.replace(tier_settings("default"), jets_per_shard=jets_per_class // 2, shards_per_class=2,
                               seed_base=seed_base, **ROUND_TWO_START)  # fmt: skip
    return dataclasses.replace(base, **VARIANTS[variant].changes)


def quartiles(values: np.ndarray) -> list[float]:
    """Q1, median, Q3 of ``values``."""
    return [float(q) for q in np.percentile(values, [25, 50, 75])]


def dataset_statistics(directory: Path) -> dict:
    """Multiplicity and groomed-mass quartiles overall, and their medians per class, of a generated dataset."""
    import pandas as pd

    frame = pd.concat(pd.read_parquet(path) for path in sorted(Path(directory).glob("*.parquet")))
    by_class = {name: frame[frame["label"] == index] for index, name in enumerate(CLASS_NAMES)}
    return {
        "n_jets": int(len(frame)),
        "multiplicity_quartiles": quartiles(frame["multiplicity"]),
        "mass_quartiles_gev": quartiles(frame["mass_mmdt"]),
        "multiplicity_median": {name: float(rows["multiplicity"].median()) for name, rows in by_class.items()},
        "mass_median_gev": {name: float(rows["mass_mmdt"].median()) for name, rows in by_class.items()},
    }


def float_tagger_scores(directory: Path, folds: tuple[int, ...] = (0, 1, 2)) -> dict:
    """Test accuracy and per-class AUC of the dataset chapter's float tagger trained on ``directory``, per fold."""
    from qaplib import experiments
    from qaplib.lifecycle import train_runs
    from qaplib.profiles import get_profile

    profile = get_profile("default")
    specs = []
    for fold in folds:
        spec = experiments.baseline_spec(profile, fold=fold, unpruned_only=True)
        specs.append(dataclasses.replace(spec, data=dataclasses.replace(spec.data, source=str(directory))))
    rows = [result.phases[0] for result in train_runs(specs)]
    return {
        "accuracy": [float(row["accuracy"]) for row in rows],
        "auc": {name: [float(row[f"auc_{name}"]) for row in rows] for name in CLASS_NAMES},
    }


def run_study(out: Path, variants: tuple[str, ...], jets_per_class: int, jobs: int | None = None) -> dict[str, dict]:
    """Generate, describe and score every variant (skipping those already in ``out``); returns all results."""
    from qaplib.generator.shards import generate_dataset

    out = Path(out)
    records, results = SealedRecords(out), {}
    for name in variants:
        found = records.read(variant_key(name))
        if found is not None:
            results[name] = found
            continue
        settings = variant_settings(name, jets_per_class)
        directory = out / "data" / variant_key(name)
        generate_dataset(directory, settings, f"study: {name}", jobs=jobs)
        result = {"variant": name, "hypothesis": VARIANTS[name].hypothesis, "settings": settings.to_dict(),
                  **dataset_statistics(directory), **float_tagger_scores(directory)}  # fmt: skip
        results[name] = records.write(variant_key(name), result)
    return results


def _mean_se(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")


def markdown_table(results: dict[str, dict], reference: str = "base") -> str:
    """The hypothesis table of the methods page: per variant, test accuracy (mean ± standard error over folds,
    in %), its change against ``reference`` (the errors added in quadrature), multiplicity quartiles and the
    AUCs of the W and Z classes (the ones the generated copy confuses with quarks; all five are stored)."""
    base_mean, base_se = _mean_se(results[reference]["accuracy"])
    lines = ["| variant | hypothesis | accuracy | Δ accuracy | multiplicity Q1 / median / Q3 | AUC w / z |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for name, result in results.items():
        mean, se = _mean_se(result["accuracy"])
        delta = "–" if name == reference else f"{100 * (mean - base_mean):+.1f} ± {100 * np.hypot(se, base_se):.1f} pt"
        quartiles_text = " / ".join(f"{q:.0f}" for q in result["multiplicity_quartiles"])
        aucs = " / ".join(f"{np.mean(result['auc'][c]):.3f}" for c in ("w", "z"))
        lines.append(f"| {name} | {result['hypothesis']} | {100 * mean:.2f} ± {100 * se:.2f} % | {delta} | {quartiles_text} "
                     f"| {aucs} |")  # fmt: skip
    return "\n".join(lines)


#: Where the measured study is committed: one JSON per variant, and the learning curve.
COMMITTED_STUDY = Path(__file__).resolve().parents[1] / "data" / "fidelity-study"


def variant_key(variant: str) -> str:
    """The key of one variant's result: its name as a file name (``<key>.json`` under the study folder)."""
    return variant.replace(" ", "_").replace(",", "")


def load_results(directory: Path = COMMITTED_STUDY) -> dict[str, dict]:
    """The whole, unedited results of every variant found in ``directory`` (sealed records,
    :class:`qaplib.records.SealedRecords`), in :data:`VARIANTS` order."""
    records = SealedRecords(Path(directory))
    found = {name: records.read(variant_key(name)) for name in VARIANTS}
    return {name: result for name, result in found.items() if result is not None}


def learning_curve_table(rows: list[dict]) -> str:
    """Markdown table of the float tagger's test accuracy against its number of training jets (mean over folds)."""
    import pandas as pd

    frame = pd.DataFrame(rows).fillna({"max_train_jets": -1})
    lines = ["| training jets | test accuracy | folds |", "|---|---|---|"]
    for size, group in frame.groupby("max_train_jets", sort=True):
        mean, se = _mean_se(group["accuracy"])
        label = "all (about 60,000)" if size == -1 else f"{int(size):,}"
        lines.append(f"| {label} | {100 * mean:.2f} ± {100 * se:.2f} % | {len(group)} |")
    return "\n".join(lines[:2] + lines[3:] + lines[2:3])  # the full set last
