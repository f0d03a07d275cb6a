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

from qaplib.bo_front import cheapest, float_baseline

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
    if values.empty:
        return np.nan, np.nan
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else np.nan


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
        row = group[group["method"] == QAP_ANY].iloc[0]
        points = f"float − {tolerance * 100:g} pp"
        if row["folds"] < row["of"] or group[group["method"] == "HGQ"].iloc[0]["folds"] < row["of"]:
            parts.append(f"at {points} not every fold has a model of both methods")
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
