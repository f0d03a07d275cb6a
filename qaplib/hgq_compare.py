"""QAP against HGQ on one cost axis (issue 28, chapter 9): what each needs to reach an accuracy target.

The cost is the granular BOPs (:mod:`qaplib.granular_bops`) of the network the firmware implements: for QAP, whose
layers have one bit width each, that is exactly its effective BOPs (the ``effective_bops`` column); for HGQ, the
``granular_bops`` its engine records. Targets are the fold's float baseline (its unpruned 32-bit QAP model) minus
0.5, 1 and 2 points of accuracy, as in chapter 7. Folds are paired: a fold's QAP and HGQ runs share its data split
and seed. For each fold and target, each method's cheapest model that reaches the target is taken (QAP: over its
pruning phases, per bit width and over all bit widths; HGQ: over the penalty strengths); the ratio QAP / HGQ is taken
per fold, then its mean and standard error over folds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from qaplib.analysis import epoch_cap_counts
from qaplib.bo_front import cheapest, float_baseline
from qaplib.tables import standard_error

#: Accuracy targets: the float baseline minus these (fractions), as chapter 7's.
TARGET_TOLERANCES = (0.005, 0.01, 0.02)
#: The cost column of each method's rows (both the granular BOPs of the implemented network).
COST_COLUMNS = {"QAP": "effective_bops", "HGQ": "granular_bops"}
#: The method label of QAP's cheapest model over every bit width.
QAP_ANY = "QAP, best bit width"


def costs_at_targets(qap: pd.DataFrame, hgq: pd.DataFrame, tolerances: tuple[float, ...] = TARGET_TOLERANCES) -> pd.DataFrame:
    """Per fold, target and method, the cheapest model that reaches the target.

    ``qap``: FT QAP rows (every bit width and phase, 32-bit included); ``hgq``: HGQ rows with a ``beta`` column.
    Columns: fold, tolerance, threshold, method (``QAP 6-bit`` ..., :data:`QAP_ANY`, ``HGQ``), cost (NaN: nothing
    reaches the target), accuracy, and the model (``bits``/``sparsity`` for QAP, ``beta`` for HGQ)."""
    reference = float_baseline(qap)
    rows = []
    for fold in sorted(set(hgq["fold"]) & set(reference.index)):
        for tolerance in tolerances:
            threshold = float(reference.loc[fold]) - tolerance
            mine = qap[qap["fold"] == fold]
            candidates = [(f"QAP {bits}-bit" if bits < 32 else "QAP float", mine[mine["bits"] == bits], "QAP")
                          for bits in sorted(set(mine["bits"]), reverse=True)]  # fmt: skip
            candidates += [(QAP_ANY, mine, "QAP"), ("HGQ", hgq[hgq["fold"] == fold], "HGQ")]
            for method, models, kind in candidates:
                chosen = cheapest(models, threshold, COST_COLUMNS[kind])
                rows.append({
                    "fold": int(fold), "tolerance": tolerance, "threshold": threshold, "method": method,
                    "cost": np.nan if chosen is None else float(chosen[COST_COLUMNS[kind]]),
                    "accuracy": np.nan if chosen is None else float(chosen["accuracy"]),
                    "bits": np.nan if chosen is None or kind == "HGQ" else int(chosen["bits"]),
                    "sparsity": np.nan if chosen is None or kind == "HGQ" else float(chosen["sparsity"]),
                    "beta": np.nan if chosen is None or kind == "QAP" else float(chosen["beta"]),
                })  # fmt: skip
    return pd.DataFrame(rows)


def _mean_se(values: pd.Series) -> tuple[float, float]:
    values = values.dropna()
    return (np.nan, np.nan) if values.empty else (float(values.mean()), standard_error(values))


def target_summary(costs: pd.DataFrame) -> pd.DataFrame:
    """Per target and method: the folds that reach it, the mean and standard error of the cost over them, and the
    per-fold ratio of the method's cost to HGQ's (mean and standard error; above 1: HGQ is cheaper)."""
    hgq = costs[costs["method"] == "HGQ"].set_index(["tolerance", "fold"])["cost"]
    rows = []
    for (tolerance, method), group in costs.groupby(["tolerance", "method"], sort=False):
        ratio = group.set_index("fold")["cost"] / hgq.loc[tolerance]
        cost, cost_se = _mean_se(group["cost"])
        ratio_mean, ratio_se = _mean_se(ratio)
        rows.append({"tolerance": tolerance, "method": method, "folds": int(group["cost"].notna().sum()),
                     "of": len(group), "cost": cost, "cost_se": cost_se, "ratio_to_hgq": ratio_mean,
                     "ratio_se": ratio_se})  # fmt: skip
    return pd.DataFrame(rows)


def factor_verdict(summary: pd.DataFrame, claimed: float = 20.0) -> str:
    """In words: at each target, how many times HGQ's cost QAP's cheapest model needs, and whether ``claimed`` (HGQ's
    paper: up to 20x fewer resources than layer-wise quantization) is reached here."""
    parts, largest = [], []
    for tolerance, group in summary.groupby("tolerance", sort=True):
        row, hgq = (group[group["method"] == method].iloc[0] for method in (QAP_ANY, "HGQ"))
        points = f"float − {tolerance * 100:g} pp"
        if row["folds"] < row["of"] or hgq["folds"] < hgq["of"]:
            parts.append(f"at {points} not every fold has a model of both methods (QAP reaches it in {row['folds']} of "
                         f"{row['of']} folds, HGQ in {hgq['folds']})")  # fmt: skip
            continue
        se = "" if np.isnan(row["ratio_se"]) else f" ± {row['ratio_se']:.1f}"
        parts.append(f"at {points} QAP needs {row['ratio_to_hgq']:.1f}{se} times HGQ's granular BOPs")
        largest.append(row["ratio_to_hgq"])
    verdict = "; ".join(parts)
    if not largest:
        return f"{verdict[0].upper()}{verdict[1:]}."
    reached = max(largest) >= claimed
    return (f"{verdict[0].upper()}{verdict[1:]}. The largest factor, {max(largest):.1f}, "
            f"{'reaches' if reached else 'stays below'} the {claimed:g}× of HGQ's paper on this count.")  # fmt: skip


# ---------------------------------------------------------------- as chapter 9 shows them


def hgq_convergence(hgq: pd.DataFrame) -> pd.DataFrame:
    """Per penalty strength, how long the HGQ runs trained (``hgq``: rows of :func:`qaplib.tables.results_frame` with
    ``beta``, ``epochs`` and ``max_epochs``). HGQ's validation loss includes β × EBOPs, which keeps falling while the bit
    widths shrink, so early stopping may not end a run: one that stops at its epoch cap may not be converged.
    Columns: beta, epochs (mean over folds), runs, at_cap (runs that stopped at their cap)."""
    caps = epoch_cap_counts(hgq, by=("beta",)).drop(columns="fraction")
    return caps.merge(hgq.groupby("beta", as_index=False)["epochs"].mean(), on="beta")


def convergence_sentence(convergence: pd.DataFrame) -> str:
    """How many HGQ runs stopped at their epoch cap (:func:`hgq_convergence`), in words, naming their β."""
    capped, runs = int(convergence["at_cap"].sum()), int(convergence["runs"].sum())
    if not capped:
        return f"All {runs} HGQ runs ended by early stopping, before their epoch cap."
    where = ", ".join(f"{row.at_cap} of {row.runs} at β = {row.beta:.0e}" for row in convergence.itertuples() if row.at_cap)
    return (f"{capped} of the {runs} HGQ runs stopped at their epoch cap ({where}): their validation loss, which "
            f"includes the penalty, was still falling, so these models may not be converged.")  # fmt: skip


def hgq_table(summary: pd.DataFrame, convergence: pd.DataFrame) -> pd.DataFrame:
    """One row per penalty strength (fold means of :func:`qaplib.tables.summarise` over HGQ rows with ``beta``):
    accuracy with its standard error, HGQ's EBOPs beside the granular BOPs, the zeros and the mean weight bits, the
    epochs trained and the runs that stopped at the epoch cap (``convergence``: :func:`hgq_convergence`)."""
    rows = summary.sort_values("beta")
    trained = convergence.set_index("beta").loc[rows["beta"]]
    return pd.DataFrame({
        "β": [f"{beta:.0e}" for beta in rows["beta"]],
        "test accuracy": [f"{100 * a:.2f}{'' if np.isnan(e) else f' ± {100 * e:.2f}'} %"
                          for a, e in zip(rows["accuracy"], rows["accuracy_se"], strict=True)],
        "EBOPs (HGQ's count)": rows["ebops"].round().astype(int).to_numpy(),
        "granular BOPs": rows["granular_bops"].round().astype(int).to_numpy(),
        "granular / EBOPs": (rows["granular_bops"] / rows["ebops"]).to_numpy(),
        "weights zero in firmware": rows["effective_sparsity"].to_numpy(),
        "mean bits of a non-zero weight": rows["mean_weight_bits"].to_numpy(),
        "epochs trained": trained["epochs"].to_numpy(),
        "runs at the epoch cap": [f"{capped} of {runs}" for capped, runs in zip(trained["at_cap"], trained["runs"], strict=True)],
    })  # fmt: skip


def target_table(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`target_summary` as the chapter shows it: one row per method, one column pair per target."""
    table = {}
    for tolerance, group in summary.groupby("tolerance", sort=True):
        target = f"float − {tolerance * 100:g} pp"
        for _, row in group.iterrows():
            entry = table.setdefault(row["method"], {"method": row["method"]})
            if row["folds"] < row["of"]:
                entry[f"{target}: granular BOPs"] = f"reached in {row['folds']} of {row['of']} folds"
                entry[f"{target}: / HGQ"] = "–"
                continue
            se = "" if np.isnan(row["cost_se"]) else f" ± {row['cost_se']:,.0f}"
            entry[f"{target}: granular BOPs"] = f"{row['cost']:,.0f}{se}"
            ratio_se = "" if np.isnan(row["ratio_se"]) or row["method"] == "HGQ" else f" ± {row['ratio_se']:.2f}"
            ratio = "–" if np.isnan(row["ratio_to_hgq"]) else f"{row['ratio_to_hgq']:.2f}{ratio_se}×"
            entry[f"{target}: / HGQ"] = ratio
    return pd.DataFrame(list(table.values()))


def hgq_firmware_row(report: dict, beta: float, granular_bops: int) -> dict:
    """One table row from the firmware report of an HGQ model (:func:`qaplib.firmware.cache.cached_firmware_report`)."""
    export, rtl = report["export"], report.get("rtl") or {}
    verilator, synthesis = rtl.get("verilator") or {}, rtl.get("synthesis") or {}
    jets = export["n_samples"]
    return {
        "β": f"{beta:.0e}",
        "beta": beta,
        "granular BOPs": granular_bops,
        "test jets": jets,
        "accuracy (trained)": export["trained_accuracy"],
        "accuracy (firmware)": export["exported_accuracy"],
        "saturated jets": round(export["saturated_fraction"] * jets),
        "logits differ (Keras vs exact)": round((1 - export["identical_fraction"]) * jets),
        "logits differ where nothing saturates": round((1 - export["identical_unsaturated_fraction"]) * jets
                                                       * (1 - export["saturated_fraction"])),  # fmt: skip
        "logits differ (RTL vs exact)": round((1 - verilator.get("exact_network_fraction", np.nan)) * jets)
        if verilator else np.nan,
        "latency [cycles]": rtl.get("latency_cycles", np.nan),
        "LUT": synthesis.get("lut", np.nan),
        "FF": synthesis.get("ff", np.nan),
        "DSP": synthesis.get("dsp", np.nan),
    }


def lut_comparison(qap: pd.DataFrame, hgq: pd.DataFrame, threshold: float) -> dict | None:
    """The fewest LUTs of a QAP and of an HGQ firmware model (fold 0) whose trained accuracy reaches ``threshold``:
    ``{"qap": row, "hgq": row, "ratio": QAP LUTs / HGQ LUTs}``; None if either has none. ``qap``: rows of
    :func:`qaplib.firmware.summary.firmware_row` (``accuracy (trained)``, ``LUT``); ``hgq``: of :func:`hgq_firmware_row`."""
    picks = {}
    for name, rows in (("qap", qap), ("hgq", hgq)):
        good = rows.dropna(subset=["LUT"])
        good = good[good["accuracy (trained)"] >= threshold]
        if good.empty:
            return None
        picks[name] = good.sort_values("LUT").iloc[0]
    return {**picks, "ratio": float(picks["qap"]["LUT"] / picks["hgq"]["LUT"])}


def _lut_clause(tolerance: float, found: dict) -> str:
    qap, hgq = found["qap"], found["hgq"]
    return (f"{found['ratio']:.1f}× HGQ's LUTs at float − {tolerance * 100:g} pp ({int(qap['LUT']):,} for QAP's "
            f"{int(qap['bits'])}-bit, {qap['weights pruned']:.0%}-pruned model against {int(hgq['LUT']):,} for HGQ's "
            f"β = {hgq['beta']:.0e})")  # fmt: skip


def hgq_verdict(summary: pd.DataFrame, luts: dict[float, dict | None], convergence: pd.DataFrame, seconds: float) -> str:
    """The chapter's verdict: the factor at each accuracy target on the granular BOPs (:func:`factor_verdict`), the
    LUTs at each target where both methods have firmware that reaches it (``luts``: tolerance -> :func:`lut_comparison`,
    fold 0), how many HGQ runs stopped at their epoch cap (``convergence``: :func:`hgq_convergence`) and the compute
    the HGQ runs took (``seconds``: each run's wall-clock time on one core, summed over runs)."""
    sentences = [factor_verdict(summary)]
    measured = [(tolerance, found) for tolerance, found in sorted(luts.items()) if found is not None]
    if measured:
        parts = [_lut_clause(tolerance, found) for tolerance, found in measured]
        sentences.append(f"In synthesised LUTs (fold 0, Yosys), QAP's cheapest model that reaches a target needs "
                         f"{'; '.join(parts)}.")  # fmt: skip
    else:
        sentences.append("No accuracy target is reached by firmware of both methods, so LUTs are not compared at equal "
                         "accuracy.")  # fmt: skip
    sentences.append(convergence_sentence(convergence))
    sentences.append(f"HGQ's {int(convergence['runs'].sum())} runs trained for {seconds / 3600:.1f} hours in all, each "
                     "on one core (the wall-clock time of each run, summed).")  # fmt: skip
    return " ".join(sentences)
