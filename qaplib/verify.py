"""Check committed results by recomputing a random sample of them: what a referee can run, on any CPU.

:func:`verify_sample` draws ``sample`` runs of a profile's book sweep (seeded), retrains them into a scratch
store that never reads the committed one, and judges each against its committed record by where it was made
(the record's :class:`qaplib.platform.Platform`):

* **same platform kind** (:func:`qaplib.platform.same_kind`): training is bit-identical there, so every stored
  weight and metric must be equal; anything else fails;
* **another platform kind** (or a record that does not say): a recomputed run is a fresh draw from the same
  training distribution. It fails only if it differs from its record by more than any two committed folds of one
  configuration differ from each other (:class:`Calibration`): a test whose false-alarm rate is bounded, and
  measured on the committed data itself;
* **the claim** of chapter 2, computed with the recomputed runs in place of the committed ones, must stay within
  :data:`CLAIM_STANDARD_ERRORS` of its stated standard error.

The statistic. A run is summarised by :func:`run_summary`: the mean over the phases up to 90 % pruned, and over
the phases beyond (where FT sometimes collapses to a constant classifier, a two-valued outcome that single
phases cannot be compared on), of each of :data:`COMPARED_METRICS`. For each summary the difference between the
recomputed run and its record is divided by :math:`\\sqrt{2}\\,\\tilde s`, where
:math:`\\tilde s^2 = s^2 + \\tau^2`: :math:`s` is the fold-to-fold standard deviation of the configuration in the
committed store, and :math:`\\tau` the median of those over all configurations of the profile (a floor, so that
folds that happen to agree do not make every difference infinite). The run's statistic is the largest of these.

The calibration. Two folds :math:`i \\ne j` of one configuration differ by chance alone, and by more than a
recomputation does (they differ in data and seed as well), so fold :math:`j` playing a recomputation of fold
:math:`i` (with :math:`s` taken from the folds other than :math:`j`) is a draw from a conservative null. The
threshold :math:`T` is the largest statistic over all ordered fold pairs of every configuration of the
calibration profiles, :math:`N` of them. If a recomputed run's statistic is exchangeable with theirs, it
exceeds :math:`T` with probability at most :math:`1/(N+1)` (the conformal bound), so a call of ``sample`` runs
raises a false alarm with probability at most ``sample / (N + 1)``. The same rate is also measured: each
configuration's pairs against the threshold of all the others.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qaplib.columns import VERIFIED
from qaplib.errors import InvalidSpecError
from qaplib.platform import Platform, current_platform, same_kind
from qaplib.profiles import Profile, get_profile
from qaplib.runs import RunSpec
from qaplib.store import COMMITTED_ROOT, ResultStore
from qaplib.sweep import SweepSpec, run_sweep, sweep_keys

#: Metrics compared (the ones the book's figures and claims are made of).
COMPARED_METRICS = VERIFIED
#: Phases pruned up to this target sparsity are averaged together; the phases beyond, apart.
COLLAPSE_SPARSITY = 0.9
#: The profiles whose committed folds calibrate the test for runs from another platform kind.
CALIBRATION_PROFILES = ("default", "paper")
#: The false-alarm rate per ``qap verify`` call that the calibrated test is meant to stay under.
FALSE_ALARM_TARGET = 0.01
#: A recomputed claim fails when it moves by more than this many of its stated standard errors (replacing one of
#: four folds by a fresh draw moves a fold mean by 0.71 standard errors, standard deviation: beyond 2, 0.5 %).
CLAIM_STANDARD_ERRORS = 2.0


def summary_names(sparsities: tuple[float, ...]) -> tuple[str, ...]:
    """The names of :func:`run_summary`'s entries, in its order."""
    groups = ["phases up to 90 % pruned"] + (["phases beyond 90 %"] if max(sparsities) > COLLAPSE_SPARSITY else [])
    return tuple(f"{metric}, {group}" for group in groups for metric in COMPARED_METRICS)


def run_summary(rows: list[dict], sparsities: tuple[float, ...]) -> np.ndarray:
    """Shape (groups x metrics,): the mean of each of :data:`COMPARED_METRICS` over the phases whose target
    sparsity is at most :data:`COLLAPSE_SPARSITY`, then over those beyond it (if any); named by :func:`summary_names`."""
    values = np.array([[float(row[m]) for m in COMPARED_METRICS] for row in rows])
    target = np.asarray(sparsities[: len(rows)])
    groups = [target <= COLLAPSE_SPARSITY] + ([target > COLLAPSE_SPARSITY] if max(sparsities) > COLLAPSE_SPARSITY else [])
    return np.concatenate([values[group].mean(axis=0) for group in groups])


def differences(recomputed: np.ndarray, recorded: np.ndarray, folds: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Per summary: ``|recomputed - recorded| / (sqrt(2) * sqrt(s**2 + floor**2))``, ``s`` the standard deviation
    (ddof=1) over ``folds`` (shape (folds, summaries); 0 with fewer than 2 folds)."""
    spread = folds.std(axis=0, ddof=1) if len(folds) > 1 else np.zeros(len(recorded))
    scale = np.sqrt(2) * np.sqrt(spread**2 + (floor if len(floor) else 0.0) ** 2)
    difference = np.abs(recomputed - recorded)
    with np.errstate(divide="ignore", invalid="ignore"):  # no spread at all: any difference is infinitely many
        return np.where(scale > 0, difference / scale, np.where(difference > 0, np.inf, 0.0))


def _configuration(spec: RunSpec) -> str:
    """The spec without its fold and seed: runs of one configuration differ only there."""
    described = spec.to_dict()
    described["data"].pop("fold")
    described.pop("seed")
    return repr(sorted(described.items()))


def fold_summaries(sweep: SweepSpec, store: ResultStore, sparsities: tuple[float, ...],
                   leave_out: frozenset[str] = frozenset()) -> dict[str, dict[int, np.ndarray]]:  # fmt: skip
    """configuration -> fold -> :func:`run_summary` of every run of ``sweep`` complete in ``store`` whose key is not in
    ``leave_out``."""
    found: dict[str, dict[int, np.ndarray]] = {}
    for spec, key in zip(sweep.runs, sweep_keys(sweep), strict=True):
        rows = None if key in leave_out else store.phase_rows(key)
        if rows:
            found.setdefault(_configuration(spec), {})[spec.data.fold] = run_summary(rows, sparsities)
    return found


def spread_floor(configurations: dict[str, dict[int, np.ndarray]]) -> np.ndarray:
    """Per summary: the median fold-to-fold standard deviation over the configurations with 2 or more folds."""
    spreads = [np.stack(list(folds.values())).std(axis=0, ddof=1) for folds in configurations.values() if len(folds) > 1]
    return np.median(np.stack(spreads), axis=0) if spreads else np.zeros(0)


@dataclass(frozen=True)
class Calibration:
    """The null distribution of the run statistic, from ordered fold pairs of the committed configurations.

    ``statistics``: one per pair (fold j standing in for a recomputation of fold i); ``groups``: which
    configuration each pair belongs to (for the held-out measurement); ``profiles``: where they come from.
    """

    statistics: np.ndarray
    groups: tuple[str, ...]
    profiles: tuple[str, ...]
    #: profile -> the floor (median fold-to-fold spread) of the phase-averaged accuracy: what T means in accuracy
    accuracy_floor: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def pairs(self) -> int:
        return len(self.statistics)

    @property
    def threshold(self) -> float:
        """The largest statistic between two folds of one configuration: a run beyond it fails."""
        return float(self.statistics.max())

    def false_alarm_bound(self, runs: int) -> float:
        """At most this probability that a call recomputing ``runs`` runs, all sound, fails (conformal, union bound)."""
        return min(1.0, runs / (self.pairs + 1))

    def held_out_exceedances(self) -> int:
        """How many pairs exceed the threshold computed without their own configuration's pairs."""
        groups = np.asarray(self.groups)
        count = 0
        for group in np.unique(groups):
            others = self.statistics[groups != group]
            if len(others):
                count += int((self.statistics[groups == group] > others.max()).sum())
        return count

    def detectable_accuracy_shift(self, profile: str) -> float:
        """The smallest shift of the phase-averaged accuracy (up to 90 % pruned) that fails, in a configuration of
        ``profile`` whose fold-to-fold spread is the median one: T * sqrt(2) * sqrt(2) * floor."""
        return 2 * self.threshold * self.accuracy_floor[profile]

    def describe(self, runs: int) -> str:
        """What the test is, its threshold, its false-alarm bound for ``runs`` runs, the measured rate, and the
        smallest accuracy shift it detects."""
        measured = self.held_out_exceedances() / self.pairs
        per_call = 1 - (1 - measured) ** runs
        detects = ", ".join(f"{100 * self.detectable_accuracy_shift(p):.2f} percentage points ({p})" for p in self.accuracy_floor)
        return (
            f"Runs recomputed on another platform kind fail when, for any of the phase-averaged metrics, they differ "
            f"from their record by more than T = {self.threshold:.2f} times sqrt(2) times the configuration's "
            f"fold-to-fold spread. T is the largest such difference between two folds of one configuration, over "
            f"{self.pairs} ordered fold pairs of the committed {' and '.join(self.profiles)} results. When nothing "
            f"is wrong, a run fails with probability at most 1/(N+1) = {self.false_alarm_bound(1):.2%}, and this call "
            f"of {runs} at most {self.false_alarm_bound(runs):.2%} (target {FALSE_ALARM_TARGET:.0%}). Measured on "
            f"the fold pairs, each configuration against the T of all others: {self.held_out_exceedances()} of "
            f"{self.pairs} pairs exceed it ({measured:.2%} per run, {per_call:.2%} for {runs} runs). In a configuration "
            f"of typical spread, a run fails when its accuracy averaged over the phases up to 90 % pruned moves by more "
            f"than {detects}; smaller discrepancies are below what four folds can tell from noise at this rate."
        )


def calibrate(committed: ResultStore, profiles: tuple[Profile, ...] | None = None,
              leave_out: frozenset[str] = frozenset()) -> Calibration | None:  # fmt: skip
    """The :class:`Calibration` from every configuration with 4 or more committed folds in ``profiles``' book
    sweeps (default: :data:`CALIBRATION_PROFILES`; None if there is none). As in the test, the spread of a pair is
    taken from neither of its folds (the test takes it from the committed folds other than the record's): one
    fold fewer than the test has, so the calibrated threshold is if anything too high, never too low. ``leave_out``:
    the keys of the records under test, which take no part (an edited record must not widen its own tolerance)."""
    from qaplib.manifest import book_sweep

    statistics, groups, used, accuracy_floor = [], [], [], {}
    for profile in profiles or tuple(map(get_profile, CALIBRATION_PROFILES)):
        name = profile.name
        configurations = fold_summaries(book_sweep(profile), committed, profile.sparsities, leave_out)
        floor = spread_floor(configurations)
        if len(floor):
            accuracy_floor[name] = float(floor[summary_names(profile.sparsities).index("accuracy, phases up to 90 % pruned")])
        for configuration, folds in configurations.items():
            if len(folds) < 4:  # a pair's spread comes from two more folds
                continue
            for i, j in itertools.permutations(sorted(folds), 2):
                others = np.stack([folds[k] for k in folds if k not in (i, j)])
                statistics.append(float(differences(folds[j], folds[i], others, floor).max()))
                groups.append(f"{name}: {configuration}")
            used.append(name)
    if not statistics:
        return None
    used = tuple(dict.fromkeys(used))
    return Calibration(np.asarray(statistics), tuple(groups), used, {p: accuracy_floor[p] for p in used})


@dataclass(frozen=True)
class RunCheck:
    """How one recomputed run compares with its committed record."""

    key: str
    spec: RunSpec
    bit_identical: bool
    made_on: Platform | None  # as the record notes it (None: not recorded)
    same_platform_kind: bool
    statistic: float  # the largest summary difference, in units of sqrt(2) x spread
    worst: str  # the summary it is at
    threshold: float | None  # the calibrated T (None: nothing to calibrate on)

    @property
    def passed(self) -> bool:
        if self.bit_identical:
            return True
        if self.same_platform_kind:
            return False  # bit identity is expected there
        return self.threshold is not None and self.statistic <= self.threshold

    @property
    def outcome(self) -> str:
        if self.bit_identical:
            return "ok (bit-identical)"
        if self.same_platform_kind:
            return "NOT BIT-IDENTICAL on the platform kind that made it"
        if self.threshold is None:
            return "UNDECIDED: no committed configuration has 4 folds to calibrate on"
        return "ok (within the calibrated tolerance)" if self.passed else "OUTSIDE TOLERANCE"


def compare(spec: RunSpec, key: str, committed: ResultStore, recomputed: ResultStore,
            folds: dict[int, np.ndarray], floor: np.ndarray, sparsities: tuple[float, ...],
            here: Platform, calibration: Calibration | None) -> RunCheck:  # fmt: skip
    """Compare the recomputed result of ``key`` with the committed one (``folds``: the committed summaries of its
    configuration by fold; ``floor``: :func:`spread_floor` of its profile)."""
    old, new = committed.load(key), recomputed.load(key)
    same_weights = all(np.array_equal(a, b) for p, q in zip(old.weights, new.weights, strict=True)
                       for a, b in zip(p, q, strict=True))  # fmt: skip
    same_metrics = len(old.phases) == len(new.phases) and all(
        all(a.get(m) == b.get(m) for m in COMPARED_METRICS) for a, b in zip(old.phases, new.phases, strict=True))
    recorded_platform = old.meta.get("platform")
    made_on = Platform.from_dict(recorded_platform) if recorded_platform else None
    others = [summary for fold, summary in folds.items() if fold != spec.data.fold]  # never the record under test
    z = differences(run_summary(new.phases, sparsities), run_summary(old.phases, sparsities),
                    np.stack(others) if others else np.zeros((0, len(floor))), floor)  # fmt: skip
    worst = int(np.argmax(z))
    threshold = calibration.threshold if calibration else None
    return RunCheck(key, spec, same_weights and same_metrics, made_on, made_on is not None and same_kind(made_on, here),
                    float(z[worst]), summary_names(sparsities)[worst], threshold)  # fmt: skip


@dataclass(frozen=True)
class ClaimCheck:
    """Chapter 2's claim (QAP's reduction factors at equal accuracy) both ways, with the committed standard errors."""

    committed: pd.Series
    recomputed: pd.Series
    standard_errors: pd.Series
    sentence_committed: str
    sentence_recomputed: str

    @property
    def moves(self) -> pd.Series:
        """How far each factor moved, in committed standard errors."""
        return (self.recomputed - self.committed).abs() / self.standard_errors

    @property
    def passed(self) -> bool:
        moves = self.moves.dropna()
        return bool((moves <= CLAIM_STANDARD_ERRORS).all())

    def describe(self) -> str:
        parts = [f"{name} {self.committed[name]:.2f} → {self.recomputed[name]:.2f} ({self.moves[name]:.2f} standard "
                 "errors)" for name in self.committed.index]  # fmt: skip
        return (f"claim of chapter 2, QAP's reduction factors at equal accuracy: {'; '.join(parts)}; "
                f"{'within' if self.passed else 'BEYOND'} {CLAIM_STANDARD_ERRORS:g} standard errors.")


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify_sample`: one :class:`RunCheck` per sampled run, the claim, the calibration."""

    checks: list[RunCheck]
    claim: ClaimCheck | None
    calibration: Calibration | None
    here: Platform

    @property
    def claim_committed(self) -> str | None:
        return self.claim.sentence_committed if self.claim else None

    @property
    def claim_recomputed(self) -> str | None:
        return self.claim.sentence_recomputed if self.claim else None

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks) and (self.claim is None or self.claim.passed)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "key": c.key, "bits": c.spec.model.bits, "scheme": c.spec.pruning.scheme, "fold": c.spec.data.fold,
            "label noise": c.spec.data.label_noise,
            "made on": "this platform kind" if c.same_platform_kind else "another kind" if c.made_on else "not recorded",
            "bit-identical": "yes" if c.bit_identical else "no",
            "largest difference / T": "-" if c.threshold is None else round(c.statistic / c.threshold, 2),
            "at": c.worst, "verdict": c.outcome,
        } for c in self.checks])  # fmt: skip

    def verdict(self) -> str:
        identical = sum(c.bit_identical for c in self.checks)
        same = [c for c in self.checks if c.same_platform_kind]
        other = [c for c in self.checks if not c.same_platform_kind]
        text = f"{identical} of {len(self.checks)} recomputed runs are bit-identical to their committed records"
        if same:
            text += f" ({len(same)} made on this platform kind, where bit identity is expected)"
        text += "."
        if other:
            text += (f" {sum(c.passed for c in other)} of {len(other)} made on another platform kind (or not saying) "
                     "agree within the calibrated tolerance.")  # fmt: skip
        if self.claim is not None:
            where = "within" if self.claim.passed else "BEYOND"
            text += f" The claim of chapter 2 stays {where} {CLAIM_STANDARD_ERRORS:g} standard errors."
        if self.passed:
            return text + " PASSED."
        failures = sorted({c.outcome for c in self.checks if not c.passed})
        if self.claim is not None and not self.claim.passed:
            failures.append("the claim moved")
        return text + f" FAILED: {'; '.join(failures)}."


def _claim(frame: pd.DataFrame, tolerance: float = 0.01):
    """Chapter 2's claim table and sentence, or None where the frame cannot make a claim."""
    from qaplib import analysis

    if 32 not in set(frame["bits"]) or frame["bits"].nunique() < 2:
        return None
    table = analysis.claim_table(analysis.bops_at_equal_accuracy(frame, tolerance))
    return table, analysis.claim_sentence(table, tolerance)


def _claim_check(committed: ResultStore, recomputed: ResultStore, profile: Profile,
                 chosen: list[tuple[RunSpec, str]]) -> ClaimCheck | None:  # fmt: skip
    from qaplib import experiments, tables

    claim_sweep = experiments.qap_sweep(profile)
    claim_keys = set(sweep_keys(claim_sweep))
    if not all(committed.is_complete(k) for k in claim_keys):
        return None
    frame = tables.results_frame(committed, claim_sweep)
    replaced = frame.copy()
    for _, key in chosen:
        if key in claim_keys:
            new = pd.DataFrame(recomputed.load(key).phases)
            rows = replaced.index[replaced["key"] == key]
            for column in new.columns.intersection(replaced.columns):
                replaced.loc[rows, column] = new[column].to_numpy()
    before, after = _claim(frame), _claim(replaced)
    if before is None or after is None:
        return None
    columns = ["reduction vs pruning only", "reduction vs quantization only"]
    qap = "QAP (any bit width)"
    errors = before[0].loc[qap, [f"{c}_se" for c in columns]].set_axis(columns)
    return ClaimCheck(before[0].loc[qap, columns], after[0].loc[qap, columns], errors, before[1], after[1])


def sample_runs(sweep: SweepSpec, committed: ResultStore, sample: int, seed: int) -> list[tuple[RunSpec, str]]:
    """``sample`` distinct (spec, key) pairs of ``sweep`` that ``committed`` holds, drawn with ``seed``."""
    stored = [(spec, key) for spec, key in zip(sweep.runs, sweep_keys(sweep), strict=True) if committed.is_complete(key)]
    if not stored:
        raise InvalidSpecError(f"no committed run of {sweep.name!r} in {committed.root}: nothing to verify")
    if not isinstance(sample, int) or isinstance(sample, bool) or not 1 <= sample <= len(stored):
        raise InvalidSpecError(f"sample must be an integer in [1, {len(stored)}] (the committed runs), got {sample!r}")
    chosen = np.random.default_rng(seed).choice(len(stored), size=sample, replace=False)
    return [stored[i] for i in sorted(chosen)]


def verify_sample(profile: Profile, sample: int, seed: int, scratch: Path, committed: ResultStore | None = None,
                  workers: int | None = None, here: Platform | None = None,
                  calibration_profiles: tuple[Profile, ...] | None = None) -> Verification:  # fmt: skip
    """Recompute ``sample`` committed runs of ``profile`` into ``scratch`` and judge them (see the module docstring).

    ``here``: the platform the recomputation runs on (default: this machine). ``calibration_profiles``: whose
    committed folds calibrate the test for runs from another platform kind (default: :data:`CALIBRATION_PROFILES`).
    """
    from qaplib import manifest

    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidSpecError(f"seed must be a non-negative integer, got {seed!r}")
    committed = committed or ResultStore(COMMITTED_ROOT)
    here = here or current_platform()
    sweep = manifest.book_sweep(profile)
    chosen = sample_runs(sweep, committed, sample, seed)
    calibration = calibrate(committed, calibration_profiles, frozenset(key for _, key in chosen))
    recomputed = ResultStore(scratch, read_only=())
    run_sweep(SweepSpec(f"verify {profile.name}", tuple(spec for spec, _ in chosen)), recomputed, workers=workers)
    configurations = fold_summaries(sweep, committed, profile.sparsities)
    floor = spread_floor(configurations)
    checks = [compare(spec, key, committed, recomputed, configurations[_configuration(spec)], floor, profile.sparsities,
                      here, calibration) for spec, key in chosen]  # fmt: skip
    return Verification(checks, _claim_check(committed, recomputed, profile, chosen), calibration, here)
