"""The Bayesian-optimisation front on every fold, and its comparison with QAP under many definitions (chapter 7).

A search retrains every architecture it tried on fold 0 (:func:`qaplib.bayesopt.retrain_sweep`). One fold-0 run
is one draw: a model picked from 20 by its own accuracy looks better than it is. So the architectures that can
decide a comparison are retrained on every fold of the profile, like the QAP curves:

* **Selection** (:func:`front_architectures`): for each bit width, the search's best pick (lowest search
  validation loss), and for each accuracy target (:data:`TARGET_TOLERANCES` below the float baseline) the
  cheapest architecture whose fold-0 retraining reaches it. Retraining all of them on every fold would cost 4x
  the searches' own retraining (at the paper's scale about 12 CPU hours more); these are the architectures a
  comparison at those targets and of the best picks needs. The choice is made on fold 0, so fold 0 flatters
  them; the other three folds do not.
* **Decisions are data**: the selection is written once to ``<store>/bo-fronts/<key>.json``
  (:func:`read_or_make_selection`) and read back from there; its key covers the fold-0 runs and searches it was
  made from. The comparison reads which models exist from the record, never by re-ranking at read time.
* **Comparison** (:func:`bo_costs`, :func:`bo_robustness`): per fold, paired (a QAP run and a BO retraining of one
  fold share its data split and seed), the cheapest model of each method that meets a definition of equal accuracy;
  mean and standard error over folds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qaplib.bayesopt import Trial, best_trial, retrain_spec, search_key
from qaplib.profiles import Profile
from qaplib.records import SealedRecords, content_key
from qaplib.runs import run_key
from qaplib.store import ResultStore
from qaplib.sweep import SweepSpec
from qaplib.tables import standard_error

#: Bump when the selection rule changes; part of every selection key.
SELECTION_RULE_VERSION = 1
SELECTION_RULE = ("per bit width: the search's best pick, and for each accuracy target (the fold-0 float baseline "
                  "minus 0.5, 1 and 2 points) the cheapest architecture whose fold-0 retraining reaches it")  # fmt: skip
#: Where a store keeps the selections, under each of its roots.
SELECTION_DIR = "bo-fronts"
#: Accuracy targets of chapter 7's cost table, below the float baseline (fractions: 0.005 = 0.5 points).
TARGET_TOLERANCES = (0.005, 0.01, 0.02)


@dataclass(frozen=True)
class Architecture:
    """A BO architecture retrained on every fold: its bit width, hidden widths, and why it was chosen."""

    bits: int
    widths: tuple[int, ...]
    reasons: tuple[str, ...]


def front_architectures(fold_zero: pd.DataFrame, best: dict[int, tuple[int, ...]], reference: float,
                        tolerances: tuple[float, ...] = TARGET_TOLERANCES) -> list[Architecture]:
    """The architectures to retrain on every fold (:data:`SELECTION_RULE`), per bit width in BOPs order.

    ``fold_zero``: one row per retrained architecture (columns bits, widths as ``"a-b-c"``, bops, accuracy);
    ``best``: bit width -> the search's best pick; ``reference``: the fold-0 float baseline's accuracy. For each
    tolerance, the cheapest architecture whose accuracy is at least ``reference - tolerance`` (the more accurate on
    equal BOPs, then the first in the frame). A bit width whose search never gets that close adds none for it."""
    chosen = []
    for bits, rows in fold_zero.groupby("bits", sort=True):
        ordered = rows.reset_index(drop=True).reset_index().sort_values(["bops", "accuracy", "index"],
                                                                        ascending=[True, False, True])  # fmt: skip
        reasons: dict[str, list[str]] = {}
        for tolerance in sorted(tolerances, reverse=True):
            good = ordered[ordered["accuracy"] >= reference - tolerance]
            if len(good):
                reasons.setdefault(good.iloc[0]["widths"], []).append(f"cheapest within {100 * tolerance:g} points")
        reasons.setdefault("-".join(map(str, best[int(bits)])), []).append("best pick")
        in_bops_order = [w for w in ordered["widths"] if w in reasons]
        chosen += [Architecture(int(bits), tuple(int(w) for w in widths.split("-")), tuple(reasons[widths]))
                   for widths in in_bops_order]  # fmt: skip
    return chosen


def selections_in(root: Path) -> SealedRecords:
    """The recorded selections under one store root."""
    return SealedRecords(Path(root) / SELECTION_DIR)


def _baseline(profile: Profile):
    """The fold-0 float (32-bit) run of the profile's QAP sweep, whose unpruned accuracy the targets refer to."""
    from qaplib.experiments import qap_sweep

    return next(spec for spec in qap_sweep(profile, [32]).runs if spec.data.fold == 0)


def selection_key(profile: Profile, searches, trials_by_bits: dict[int, list[Trial]]) -> str:
    """Content hash of what a selection is made from: the rule, the searches, their fold-0 retrainings and the
    fold-0 float baseline (the run of the profile's QAP sweep that the targets refer to)."""
    payload = {
        "rule": SELECTION_RULE_VERSION,
        "baseline": run_key(_baseline(profile)),
        "searches": sorted(search_key(profile, s) for s in searches),
        "fold-0 runs": sorted(run_key(retrain_spec(profile, bits, t.widths)) for bits, ts in trials_by_bits.items() for t in ts),
    }  # fmt: skip
    return content_key(payload)


def read_selection(store: ResultStore, key: str) -> list[Architecture] | None:
    """The selection recorded under ``key`` in the first store root that holds it (committed roots first); None."""
    for root in store.serving_order:
        record = selections_in(root).read(key)
        if record is not None:
            return [Architecture(int(a["bits"]), tuple(a["widths"]), tuple(a["reasons"])) for a in record["architectures"]]
    return None


def front_progress(store: ResultStore, profile: Profile, progress) -> tuple[SweepSpec | None, str]:
    """How far the BO front on every fold has got (for ``qap status``), from the searches' progress
    (:func:`qaplib.bayesopt.search_progress`): its runs (None until its selection is recorded) and a status line."""
    trials = {p.search.bits: list(p.trials) for p in progress}
    recorded = read_selection(store, selection_key(profile, [p.search for p in progress], trials))
    if recorded is None:
        return None, "  BO front on every fold: not selected yet (chapter 7 selects it once every search is retrained)"
    sweep = front_sweep(profile, recorded)
    done = sum(store.is_complete(run_key(spec)) for spec in sweep.runs)
    return sweep, (f"  BO front on every fold: {len(recorded)} architectures, {done} of {len(sweep.runs)} runs stored"
                   f"{'' if done == len(sweep.runs) else ', not finished'}")


def read_or_make_selection(store: ResultStore, profile: Profile, searches, trials_by_bits: dict[int, list[Trial]],
                           fold_zero: pd.DataFrame) -> list[Architecture]:
    """The recorded selection of these searches, read from the first store root that holds it (committed roots
    first); made from ``fold_zero`` (:func:`front_architectures`) and written to the store's own root only where
    none is recorded."""
    key = selection_key(profile, searches, trials_by_bits)
    recorded = read_selection(store, key)
    if recorded is not None:
        return recorded
    best = {bits: best_trial(list(trials)).widths for bits, trials in trials_by_bits.items()}
    reference = float(store.load(run_key(_baseline(profile))).phases[0]["accuracy"])
    chosen = front_architectures(fold_zero, best, reference)
    selections_in(store.root).write(key, {
        "rule": SELECTION_RULE, "rule_version": SELECTION_RULE_VERSION, "profile": profile.name,
        "fold-0 float baseline accuracy": reference, "targets below it": list(TARGET_TOLERANCES),
        "architectures": [dataclasses.asdict(a) for a in chosen],
        "made_from": sorted(fold_zero["key"].unique().tolist()),
    })  # fmt: skip
    return chosen


def selection_for(store: ResultStore, profile: Profile, searches, trials_by_bits: dict[int, list[Trial]]) -> list[Architecture]:
    """The recorded selection of these searches, made (from their stored fold-0 retrainings) where none is recorded."""
    from qaplib.bayesopt import retrain_sweep
    from qaplib.tables import results_frame

    key = selection_key(profile, searches, trials_by_bits)
    recorded = read_selection(store, key)
    if recorded is not None:
        return recorded
    fold_zero = results_frame(store, retrain_sweep(profile, trials_by_bits))
    return read_or_make_selection(store, profile, searches, trials_by_bits, fold_zero)


def front_sweep(profile: Profile, architectures: list[Architecture]) -> SweepSpec:
    """The selected architectures' full-training runs on every fold of the profile (fold 0's are the ones the
    searches already retrained)."""
    runs = tuple(retrain_spec(profile, a.bits, a.widths, fold) for a in architectures for fold in profile.folds)
    return SweepSpec("BO front on every fold", tuple(dict.fromkeys(runs)))


# ---------------------------------------------------------------- the comparison, per fold and paired


def float_baseline(qap: pd.DataFrame) -> pd.Series:
    """Per fold, the unpruned float (32-bit) QAP model's test accuracy: the float baseline the targets refer to
    (``qap``: rows of :func:`qaplib.tables.results_frame`)."""
    unpruned = qap[(qap["bits"] == 32) & (qap["phase"] == 0)]
    if unpruned.empty:
        raise ValueError("the QAP frame has no unpruned 32-bit model to take the float baseline from")
    return unpruned.groupby("fold")["accuracy"].first()


def cheapest(rows: pd.DataFrame, threshold: float, cost: str = "bops") -> pd.Series | None:
    """The row of fewest ``cost`` whose accuracy is at least ``threshold`` (the more accurate on equal cost)."""
    good = rows[rows["accuracy"] >= threshold]
    if good.empty:
        return None
    return good.sort_values([cost, "accuracy"], ascending=[True, False]).iloc[0]


def _threshold(reference: float, tolerance: float, relative: bool) -> float:
    return reference * (1 - tolerance) if relative else reference - tolerance


@dataclass(frozen=True)
class Definition:
    """One reasonable reading of chapter 7's claim "QAP needs no more BOPs than BO at equal accuracy".

    ``model``: ``"best pick"`` (the search's own choice, against the cheapest QAP phase at least about as accurate as
    it) or ``"cheapest adequate"`` (each method's cheapest model that keeps the float baseline's accuracy within the
    tolerance). ``tolerance``: a fraction (0.01 = 1 point or 1 %); ``None`` with ``"best pick"``: QAP must be at least
    as accurate. ``relative``: the tolerance is a fraction of the accuracy it is taken from, not points."""

    model: str
    tolerance: float | None
    relative: bool = False

    def label(self) -> str:
        """A short name for tables: "best pick, QAP at least as accurate", "best pick ± 1 pp", "cheapest, float − 1 pp"."""
        if self.tolerance is None:
            return "best pick, QAP at least as accurate"
        amount = f"{100 * self.tolerance:g} {'%' if self.relative else 'pp'}"
        return f"best pick, QAP within {amount}" if self.model == "best pick" else f"cheapest, float − {amount}"

    def describe(self) -> str:
        if self.tolerance is None:
            return "QAP at least as accurate as the best pick"
        amount = f"{100 * self.tolerance:g} {'%' if self.relative else 'points'}"
        if self.model == "best pick":
            return f"QAP within {amount} of the best pick"
        return f"cheapest models within {amount} of the float baseline"


def definitions(tolerances: tuple[float, ...] = TARGET_TOLERANCES) -> list[Definition]:
    """Every definition chapter 7's robustness table recomputes the claim under."""
    found = [Definition("best pick", None)]
    for model in ("best pick", "cheapest adequate"):
        found += [Definition(model, t, relative) for relative in (False, True) for t in tolerances]
    return found


def paired_costs(qap: pd.DataFrame, bo: pd.DataFrame, definition: Definition) -> pd.DataFrame:
    """Per fold and bit width, the BO and the QAP model that ``definition`` compares, and their BOPs.

    ``qap``: rows of :func:`qaplib.tables.results_frame` for the FT QAP sweep (every phase, including the 32-bit
    curve); ``bo``: rows of the BO front on every fold (:func:`front_sweep`) with a ``best`` column
    (:func:`qaplib.bayesopt.mark_best`). Folds are paired: a fold's QAP and BO runs share its data split and seed.
    Columns: fold, bits, threshold, BO widths/accuracy/BOPs, QAP sparsity/accuracy/BOPs (NaN: no model meets it),
    ratio = BO BOPs / QAP BOPs (above 1: QAP is cheaper)."""
    reference = float_baseline(qap)
    rows = []
    for (fold, bits), models in bo.groupby(["fold", "bits"], sort=True):
        curve = qap[(qap["fold"] == fold) & (qap["bits"] == bits)]
        if definition.model == "best pick":
            chosen = models[models["best"]].iloc[0]
            threshold = chosen["accuracy"] if definition.tolerance is None else _threshold(
                chosen["accuracy"], definition.tolerance, definition.relative)  # fmt: skip
        else:
            threshold = _threshold(reference.loc[fold], definition.tolerance, definition.relative)
            chosen = cheapest(models, threshold)
        matched = cheapest(curve, threshold)
        bo_bops = np.nan if chosen is None else float(chosen["bops"])
        qap_bops = np.nan if matched is None else float(matched["bops"])
        rows.append({
            "fold": int(fold), "bits": int(bits), "threshold": float(threshold),
            "BO widths": None if chosen is None else chosen["widths"],
            "BO accuracy": np.nan if chosen is None else float(chosen["accuracy"]), "BO BOPs": bo_bops,
            "QAP sparsity": np.nan if matched is None else float(matched["sparsity"]),
            "QAP accuracy": np.nan if matched is None else float(matched["accuracy"]), "QAP BOPs": qap_bops,
            "ratio": bo_bops / qap_bops,
        })  # fmt: skip
    return pd.DataFrame(rows)


def _outcome(ratio: pd.Series, bo_reached: int, qap_reached: int, folds: int) -> str:
    """In words, which method is cheaper at one bit width under one definition."""
    if bo_reached < folds or qap_reached < folds:
        if bo_reached == qap_reached == 0:
            return "neither reaches it"
        if qap_reached == folds and bo_reached < folds:
            return f"only QAP reaches it in every fold (BO in {bo_reached})"
        if bo_reached == folds and qap_reached < folds:
            return f"only BO reaches it in every fold (QAP in {qap_reached})"
        return f"reached in {min(bo_reached, qap_reached)} of {folds} folds"
    mean, error = ratio.mean(), standard_error(ratio)
    error = 0.0 if np.isnan(error) else error
    if mean - 2 * error > 1:
        return "QAP cheaper"
    if mean + 2 * error < 1:
        return "BO cheaper"
    return "no clear difference"


#: Outcomes under which the paper's claim (QAP "similar to or better" than BO) fails at a bit width.
AGAINST_CLAIM = ("BO cheaper",)


def bo_robustness(qap: pd.DataFrame, bo: pd.DataFrame, chosen: list[Definition] | None = None) -> pd.DataFrame:
    """The claim under every definition (:func:`definitions`): one row per definition and bit width, with the BOPs
    each method needs (mean and standard error over folds), the ratio BO / QAP (mean of the per-fold ratios, and its
    standard error), the folds where each method meets the definition, and the ``outcome`` in words: "QAP cheaper"
    or "BO cheaper" where the ratio is more than two standard errors from 1, "no clear difference" otherwise."""
    rows = []
    for definition in chosen or definitions():
        paired = paired_costs(qap, bo, definition)
        for bits, per_fold in paired.groupby("bits", sort=False):
            folds = len(per_fold)
            both = per_fold.dropna(subset=["ratio"])
            rows.append({
                "definition": definition.describe(), "label": definition.label(), "model": definition.model,
                "tolerance": definition.tolerance,
                "relative": definition.relative, "bits": int(bits),
                "BO BOPs": per_fold["BO BOPs"].mean(), "BO BOPs_se": standard_error(per_fold["BO BOPs"].dropna()),
                "QAP BOPs": per_fold["QAP BOPs"].mean(), "QAP BOPs_se": standard_error(per_fold["QAP BOPs"].dropna()),
                "ratio BO / QAP": both["ratio"].mean() if len(both) else np.nan,
                "ratio BO / QAP_se": standard_error(both["ratio"]) if len(both) else np.nan,
                "folds": folds,
                "outcome": _outcome(both["ratio"], int(per_fold["BO BOPs"].notna().sum()),
                                    int(per_fold["QAP BOPs"].notna().sum()), folds),
            })  # fmt: skip
    return pd.DataFrame(rows)


def robustness_verdict(table: pd.DataFrame) -> str:
    """Where the paper's claim holds, in words: under how many definitions QAP is never clearly more expensive than
    BO, and at which bit widths and under which definitions BO is cheaper by more than two standard errors."""
    against = table[table["outcome"].isin(AGAINST_CLAIM)]
    by_definition = table.groupby("definition", sort=False)["outcome"].apply(lambda o: not o.isin(AGAINST_CLAIM).any())
    widths = lambda bits: "float" if bits == 32 else f"{bits}-bit"  # noqa: E731
    head = (f"Comparing 4-fold means, the paper's claim that QAP needs no more BOPs than the architecture search at equal "
            f"accuracy holds under {int(by_definition.sum())} of {len(by_definition)} definitions of equal accuracy (in "
            f"each, BO is at no bit width cheaper by more than two standard errors)")  # fmt: skip
    counts = []
    for model, name in (("best pick", "against the search's best pick"), ("cheapest adequate", "between each method's "
                        "cheapest model that reaches a target below the float baseline")):  # fmt: skip
        rows = table[table["model"] == model]
        if len(rows):
            counts.append(f"{name}, QAP is cheaper in {int((rows['outcome'] == 'QAP cheaper').sum())} and BO in "
                          f"{int((rows['outcome'] == 'BO cheaper').sum())} of {len(rows)} (definition, bit width) comparisons")
    tail = (" By kind of comparison (more than two standard errors): " + "; ".join(counts) + ".") if counts else ""
    if against.empty:
        return head + "." + tail
    cases: dict[str, list[str]] = {}
    for row in against.sort_values("bits", ascending=False, kind="stable").to_dict("records"):
        cases.setdefault(row["label"], []).append(widths(row["bits"]))
    detail = "; ".join(f"{label} ({', '.join(bits)})" for label, bits in cases.items())
    return f"{head}; BO is cheaper by more than two standard errors under {detail}.{tail}"


def target_costs(qap: pd.DataFrame, bo: pd.DataFrame, tolerances: tuple[float, ...] = TARGET_TOLERANCES) -> pd.DataFrame:
    """The BOPs each method needs to reach float - 0.5, - 1 and - 2 points, per bit width: the rows of
    :func:`bo_robustness` for the "cheapest adequate" definitions with absolute tolerances."""
    chosen = [Definition("cheapest adequate", t) for t in tolerances]
    return bo_robustness(qap, bo, chosen)


# ---------------------------------------------------------------- as the chapter shows them


def front_summary(bo: pd.DataFrame) -> pd.DataFrame:
    """Fold means and standard errors of the BO architectures retrained on every fold (rows of :func:`front_sweep`
    with ``best``), one row per bit width and architecture, keeping ``best``."""
    from qaplib.tables import summarise

    best = bo.groupby(["bits", "widths"])["best"].first()
    summary = summarise(bo)
    return summary.assign(best=[bool(best.loc[(b, w)]) for b, w in zip(summary["bits"], summary["widths"], strict=True)])


def _reasons_text(reasons: tuple[str, ...]) -> str:
    """"cheapest within 2 points", "cheapest within 1 points", "best pick" -> "cheapest ≥ float − 2, 1 pp; best pick"."""
    targets = [r.removeprefix("cheapest within ").removesuffix(" points") for r in reasons if r.startswith("cheapest")]
    others = [r for r in reasons if not r.startswith("cheapest")]
    return "; ".join(([f"cheapest ≥ float − {', '.join(targets)} pp"] if targets else []) + others)


def selection_table(architectures: list[Architecture], summary: pd.DataFrame) -> pd.DataFrame:
    """The selected architectures, why each was chosen, and their 4-fold accuracy and BOPs (:func:`front_summary`)."""
    rows = []
    for a in architectures:
        widths = "-".join(map(str, a.widths))
        found = summary[(summary["bits"] == a.bits) & (summary["widths"] == widths)]
        rows.append({"bits": a.bits, "widths": widths, "chosen as": _reasons_text(a.reasons),
                     "accuracy": found["accuracy"].iloc[0] if len(found) else np.nan,
                     "accuracy_se": found["accuracy_se"].iloc[0] if len(found) else np.nan,
                     "BOPs": found["bops"].iloc[0] if len(found) else np.nan})  # fmt: skip
    return pd.DataFrame(rows)


def short_outcome(outcome: str) -> str:
    """An outcome of :func:`bo_robustness` in a few characters, for table cells (:data:`OUTCOME_KEY` explains them)."""
    short = {"QAP cheaper": "QAP", "BO cheaper": "BO", "no clear difference": "≈", "neither reaches it": "neither"}
    if outcome in short:
        return short[outcome]
    if outcome.startswith("only QAP"):
        return "only QAP"
    if outcome.startswith("only BO"):
        return "only BO"
    return "some folds"


#: What :func:`short_outcome`'s marks mean (a table's footnote).
OUTCOME_KEY = ("QAP / BO: that method needs fewer BOPs by more than two standard errors of the ratio; ≈: no clear "
               "difference; only QAP / only BO: the other method misses the target in some fold; some folds: both "
               "do")  # fmt: skip


def target_table(targets: pd.DataFrame) -> pd.DataFrame:
    """:func:`target_costs` as the chapter shows it: bit width, target, each method's BOPs and the ratio (mean ±
    standard error over folds), and the outcome in a few characters."""
    shown = targets[["bits", "label", "BO BOPs", "BO BOPs_se", "QAP BOPs", "QAP BOPs_se", "ratio BO / QAP",
                     "ratio BO / QAP_se"]].rename(columns={"label": "target"})  # fmt: skip
    shown["target"] = shown["target"].str.removeprefix("cheapest, ")
    shown = shown.assign(outcome=targets["outcome"].map(short_outcome))
    return shown.sort_values(["bits", "target"], ascending=[False, True])


def robustness_matrix(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`bo_robustness` as text, one row per definition (its short label) and one column per bit width (widest
    first): the ratio BO / QAP with its standard error, and the outcome in a few characters (:func:`short_outcome`)."""
    from qaplib.tables import FORMATS, formatted

    cells = {}
    for row in table.to_dict("records"):
        ratio = formatted(row["ratio BO / QAP"], "ratio", row["ratio BO / QAP_se"])
        cells.setdefault(row["label"], {})[row["bits"]] = f"{ratio} {short_outcome(row['outcome'])}"
    matrix = pd.DataFrame.from_dict(cells, orient="index").sort_index(axis=1, ascending=False)
    matrix.columns = [FORMATS["bits"](b) for b in matrix.columns]
    return matrix.rename_axis("definition").reset_index()


def chapter_front(run, searches, executor: str = "local", workers: int | None = None):
    """Chapter 7's BO results for a notebook ``run`` (:class:`qaplib.notebook.NotebookRun`): the searches' trials,
    the tried architectures retrained on fold 0 and the recorded selection retrained on every fold (each with
    ``best``), training whatever is missing as ``run.policy`` allows. Returns (trials, fold_zero, selection, front
    rows)."""
    from qaplib import bayesopt

    trials = bayesopt.run_study(run.profile, searches, executor=executor, workers=workers, policy=run.policy)
    run.result_keys += [t.key for found in trials.values() for t in found]
    fold_zero = bayesopt.mark_best(run.results(bayesopt.retrain_sweep(run.profile, trials)), trials)
    selection = read_or_make_selection(run.store, run.profile, searches, trials, fold_zero)
    return trials, fold_zero, selection, bayesopt.mark_best(run.results(front_sweep(run.profile, selection)), trials)
