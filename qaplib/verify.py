"""Check committed results by recomputing a random sample of them: what a referee can run.

:func:`verify_sample` draws ``sample`` runs of a profile's book sweep (seeded), retrains them into a
scratch store that never reads the committed one, and compares each phase with its committed record:

* **bit-identical**: every stored weight and metric equal (expected on the machine kind that made them);
* **within tolerance**: each test metric differs by at most ``k`` times the fold-to-fold standard
  deviation of the same configuration and phase in the committed results (training is reproducible
  only statistically across CPUs, see the methods page);
* the claim of chapter 2 computed with the recomputed runs in place of the committed ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qaplib.errors import InvalidSpecError
from qaplib.profiles import Profile
from qaplib.runs import RunSpec
from qaplib.store import COMMITTED_ROOT, ResultStore
from qaplib.sweep import SweepSpec, run_sweep, sweep_keys

#: Metrics compared phase by phase (the ones the book's figures and claims are made of).
COMPARED_METRICS = ("accuracy", "macro_auc", "bops", "effective_bops", "neural_efficiency")
#: A metric may differ by this many fold-to-fold standard deviations; BOPs get the same rule.
TOLERANCE_SIGMAS = 3.0


@dataclass(frozen=True)
class RunCheck:
    """How one recomputed run compares with its committed record."""

    key: str
    spec: RunSpec
    bit_identical: bool
    worst_metric: str
    worst_ratio: float  # largest |difference| / tolerance over phases and metrics; <= 1 passes

    @property
    def within_tolerance(self) -> bool:
        return self.worst_ratio <= 1.0


def sample_runs(sweep: SweepSpec, committed: ResultStore, sample: int, seed: int) -> list[tuple[RunSpec, str]]:
    """``sample`` distinct (spec, key) pairs of ``sweep`` that ``committed`` holds, drawn with ``seed``."""
    stored = [(spec, key) for spec, key in zip(sweep.runs, sweep_keys(sweep), strict=True) if committed.is_complete(key)]
    if not stored:
        raise InvalidSpecError(f"no committed run of {sweep.name!r} in {committed.root}: nothing to verify")
    if not isinstance(sample, int) or isinstance(sample, bool) or not 1 <= sample <= len(stored):
        raise InvalidSpecError(f"sample must be an integer in [1, {len(stored)}] (the committed runs), got {sample!r}")
    chosen = np.random.default_rng(seed).choice(len(stored), size=sample, replace=False)
    return [stored[i] for i in sorted(chosen)]


def _configuration(spec: RunSpec) -> str:
    """The spec without its fold and seed: runs of one configuration differ only there."""
    described = spec.to_dict()
    described["data"].pop("fold")
    described.pop("seed")
    return repr(sorted(described.items()))


def fold_spread(sweep: SweepSpec, committed: ResultStore) -> dict[tuple[str, int], dict[str, float]]:
    """(configuration, phase) -> metric -> standard deviation over the committed folds (ddof=1)."""
    values: dict[tuple[str, int], dict[str, list[float]]] = {}
    for spec, key in zip(sweep.runs, sweep_keys(sweep), strict=True):
        if not committed.is_complete(key):
            continue
        for row in committed.load(key).phases:
            slot = values.setdefault((_configuration(spec), int(row["phase"])), {})
            for metric in COMPARED_METRICS:
                slot.setdefault(metric, []).append(float(row[metric]))
    return {slot: {m: float(np.std(v, ddof=1)) if len(v) > 1 else float("nan") for m, v in metrics.items()}
            for slot, metrics in values.items()}  # fmt: skip


def compare(spec: RunSpec, key: str, committed: ResultStore, recomputed: ResultStore,
            spread: dict[tuple[str, int], dict[str, float]], sigmas: float = TOLERANCE_SIGMAS) -> RunCheck:  # fmt: skip
    """Compare the recomputed result of ``key`` with the committed one, phase by phase."""
    old, new = committed.load(key), recomputed.load(key)
    same_weights = all(np.array_equal(a, b) for p, q in zip(old.weights, new.weights, strict=True)
                       for a, b in zip(p, q, strict=True))  # fmt: skip
    same_metrics = all(all(a.get(m) == b.get(m) for m in COMPARED_METRICS) for a, b in zip(old.phases, new.phases, strict=True))
    worst_metric, worst_ratio = "", 0.0
    for a, b in zip(old.phases, new.phases, strict=True):
        sigma = spread.get((_configuration(spec), int(a["phase"])), {})
        for metric in COMPARED_METRICS:
            difference = abs(float(a[metric]) - float(b[metric]))
            tolerance = sigmas * sigma.get(metric, float("nan"))
            if not np.isfinite(tolerance) or tolerance == 0:
                ratio = 0.0 if difference == 0 else float("inf")
            else:
                ratio = difference / tolerance
            if ratio > worst_ratio:
                worst_metric, worst_ratio = f"{metric} (phase {a['phase']})", ratio
    return RunCheck(key, spec, same_weights and same_metrics, worst_metric, worst_ratio)


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify_sample`: one :class:`RunCheck` per sampled run, and the claim both ways."""

    checks: list[RunCheck]
    claim_committed: str | None
    claim_recomputed: str | None

    @property
    def passed(self) -> bool:
        return all(check.within_tolerance for check in self.checks)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "key": c.key, "bits": c.spec.model.bits, "scheme": c.spec.pruning.scheme, "fold": c.spec.data.fold,
            "label noise": c.spec.data.label_noise, "bit-identical": "yes" if c.bit_identical else "no",
            "worst difference / tolerance": round(c.worst_ratio, 2), "at": c.worst_metric or "-",
            "verdict": "ok" if c.within_tolerance else "OUTSIDE TOLERANCE",
        } for c in self.checks])  # fmt: skip

    def verdict(self) -> str:
        identical = sum(c.bit_identical for c in self.checks)
        within = sum(c.within_tolerance for c in self.checks)
        text = (f"{identical} of {len(self.checks)} recomputed runs are bit-identical to their committed records; "
                f"{within} of {len(self.checks)} agree within {TOLERANCE_SIGMAS:g} fold-to-fold standard deviations "
                "in every phase and metric.")  # fmt: skip
        return text + (" PASSED." if self.passed else " FAILED: see the runs marked OUTSIDE TOLERANCE.")


def _claim(frame: pd.DataFrame, tolerance: float = 0.01) -> str | None:
    from qaplib import analysis

    if 32 not in set(frame["bits"]) or frame["bits"].nunique() < 2:
        return None
    return analysis.claim_sentence(analysis.claim_table(analysis.bops_at_equal_accuracy(frame, tolerance)), tolerance)


def verify_sample(profile: Profile, sample: int, seed: int, scratch: Path, committed: ResultStore | None = None,
                  workers: int | None = None) -> Verification:  # fmt: skip
    """Recompute ``sample`` committed runs of ``profile`` into ``scratch`` and compare (see the module docstring)."""
    from qaplib import experiments, tables

    committed = committed or ResultStore(COMMITTED_ROOT)
    sweep = experiments.book_sweep(profile)
    chosen = sample_runs(sweep, committed, sample, seed)
    recomputed = ResultStore(scratch, read_only=())
    run_sweep(SweepSpec(f"verify {profile.name}", tuple(spec for spec, _ in chosen)), recomputed, workers=workers)
    spread = fold_spread(sweep, committed)
    checks = [compare(spec, key, committed, recomputed, spread) for spec, key in chosen]
    claim_sweep = experiments.qap_sweep(profile)
    claim_keys = set(sweep_keys(claim_sweep))
    if not all(committed.is_complete(k) for k in claim_keys):
        return Verification(checks, None, None)
    frame = tables.results_frame(committed, claim_sweep)
    replaced = frame.copy()
    for _, key in chosen:
        if key in claim_keys:
            new = pd.DataFrame(recomputed.load(key).phases)
            rows = replaced.index[replaced["key"] == key]
            for column in new.columns.intersection(replaced.columns):
                replaced.loc[rows, column] = new[column].to_numpy()
    return Verification(checks, _claim(frame), _claim(replaced))
