"""The paper's claims, computed from our results instead of quoted.

* :func:`bops_at_equal_accuracy`: for each fold, the fewest BOPs with which pruning only (32-bit
  float), quantization only (unpruned, fewer bits) and quantization-aware pruning reach the float
  baseline's accuracy within a tolerance, and the reduction factors between them.
* :func:`efficiency_spread`: among models of (nearly) the same accuracy, how far apart their
  neural efficiencies are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from qaplib.tables import standard_error


def _cheapest(rows: pd.DataFrame, threshold: float) -> dict:
    good = rows[rows["accuracy"] >= threshold]
    if good.empty:
        return {"bops": np.nan, "accuracy": np.nan, "bits": np.nan, "sparsity": np.nan}
    best = good.loc[good["bops"].idxmin()]
    return {"bops": float(best["bops"]), "accuracy": float(best["accuracy"]), "bits": int(best["bits"]),
            "sparsity": float(best["sparsity"])}  # fmt: skip


def bops_at_equal_accuracy(frame: pd.DataFrame, tolerance: float = 0.01) -> pd.DataFrame:
    """Per fold and approach: the cheapest model within ``tolerance`` of the float baseline's accuracy.

    ``frame``: rows of :func:`qaplib.tables.results_frame` for FT runs at several bit widths,
    including 32 bits. The reference is the unpruned 32-bit model of the same fold; "within 1 %" is
    accuracy >= reference - 0.01 (absolute). Approaches: ``pruning only`` (32-bit, any sparsity),
    ``quantization only`` (unpruned, < 32 bits), ``QAP`` (< 32 bits, any sparsity) and ``QAP b-bit``.
    """
    records = []
    for fold, rows in frame.groupby("fold"):
        reference = rows[(rows["bits"] == 32) & (rows["phase"] == 0)]["accuracy"]
        if reference.empty:
            raise ValueError("the frame has no unpruned 32-bit model to take the reference accuracy from")
        threshold = float(reference.iloc[0]) - tolerance
        approaches = {
            "pruning only (32-bit)": rows[rows["bits"] == 32],
            "quantization only": rows[(rows["bits"] < 32) & (rows["phase"] == 0)],
            "QAP (any bit width)": rows[rows["bits"] < 32],
            **{f"QAP {b}-bit": rows[rows["bits"] == b] for b in sorted(rows["bits"].unique(), reverse=True) if b < 32},
        }
        for name, subset in approaches.items():
            records.append({"fold": fold, "approach": name, "reference_accuracy": threshold + tolerance,
                            **_cheapest(subset, threshold)})  # fmt: skip
    return pd.DataFrame(records)


def claim_table(per_fold: pd.DataFrame) -> pd.DataFrame:
    """Mean +- standard error over folds of the cheapest BOPs per approach and the reduction factors.

    ``reduction vs X`` = BOPs(X) / BOPs(approach), computed per fold, then averaged.
    """
    wide = per_fold.pivot(index="fold", columns="approach", values="bops")
    rows = []
    for approach in per_fold["approach"].unique():
        subset = per_fold[per_fold["approach"] == approach]
        vs_pruning = wide["pruning only (32-bit)"] / wide[approach]
        vs_quantization = wide["quantization only"] / wide[approach]
        rows.append({
            "approach": approach,
            "BOPs": subset["bops"].mean(),
            "BOPs_se": standard_error(subset["bops"]),
            "accuracy": subset["accuracy"].mean(),
            "reduction vs pruning only": vs_pruning.mean(),
            "reduction vs pruning only_se": standard_error(vs_pruning),
            "reduction vs quantization only": vs_quantization.mean(),
            "reduction vs quantization only_se": standard_error(vs_quantization),
            "folds": int(subset["bops"].count()),
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("approach")


def efficiency_spread(summary: pd.DataFrame, accuracy_window: float = 0.01) -> dict:
    """How much neural efficiency varies among models whose accuracy lies within ``accuracy_window``
    of the most accurate one (fold-averaged rows of :func:`qaplib.tables.summarise`).

    Returns the number of such models, the lowest and highest efficiency with their configuration,
    the ratio highest / lowest, and the Spearman correlation of accuracy and efficiency over all rows.
    """
    best = summary["accuracy"].max()
    close = summary[summary["accuracy"] >= best - accuracy_window]
    low, high = close.loc[close["neural_efficiency"].idxmin()], close.loc[close["neural_efficiency"].idxmax()]
    return {
        "n_models": int(len(close)),
        "accuracy_range": (float(close["accuracy"].min()), float(close["accuracy"].max())),
        "lowest": low.to_dict(),
        "highest": high.to_dict(),
        "ratio": float(high["neural_efficiency"] / low["neural_efficiency"]),
        "spearman_accuracy_efficiency": float(summary[["accuracy", "neural_efficiency"]].corr("spearman").iloc[0, 1]),
    }


def describe_model(row: dict) -> str:
    """One line naming a fold-averaged model of :func:`qaplib.tables.summarise` and its key numbers."""
    return (f"{row['bits']}-bit {str(row['scheme']).upper()}, BN {'on' if row['batchnorm'] else 'off'}, L1 {row['l1']:g}, "
            f"{row['sparsity']:.1%} pruned: accuracy {row['accuracy']:.4f}, efficiency {row['neural_efficiency']:.3f}, "
            f"BOPs {row['bops']:,.0f}")


def claim_sentence(claims: pd.DataFrame, tolerance: float) -> str:
    """The claim table of :func:`claim_table` in one sentence, or why it cannot be made."""
    qap = claims.loc["QAP (any bit width)"]
    if np.isnan(qap["BOPs"]):
        return f"No reduced-precision model stays within {tolerance:.1%} of the float baseline's accuracy: no claim can be made."
    parts = []
    for column, name in (("reduction vs pruning only", "pruning only"), ("reduction vs quantization only", "quantization only")):
        value, error = qap[column], qap[f"{column}_se"]
        if np.isnan(value):
            parts.append(f"{name} never gets within {tolerance:.1%}")
        else:
            parts.append(f"{value:.1f}x" + ("" if np.isnan(error) else f" ± {error:.2f}") + f" fewer BOPs than {name}")
    return f"At equal accuracy (within {tolerance:.1%} of the float baseline), QAP needs " + " and ".join(parts) + "."


def bo_comparison(summary: pd.DataFrame, retrained: pd.DataFrame, tolerance: float = 0.01) -> pd.DataFrame:
    """Best BO model against the QAP curve of the same bit width, at equal accuracy.

    ``summary``: fold-averaged FT curves (:func:`qaplib.tables.summarise`); ``retrained``: rows of the
    retrained BO trials with a ``best`` column. For each bit width, the QAP model is the cheapest
    pruning phase whose accuracy is at least the best BO model's minus ``tolerance``.
    Ratio = BOPs(best BO) / BOPs(QAP): above 1 means QAP is cheaper at equal accuracy.
    """
    rows = []
    for bits, best in retrained[retrained["best"]].groupby("bits"):
        best = best.iloc[0]
        curve = summary[summary["bits"] == bits]
        match = curve[curve["accuracy"] >= best["accuracy"] - tolerance]
        qap = match.loc[match["bops"].idxmin()] if not match.empty else None
        rows.append({
            "bits": bits,
            "best BO widths": best["widths"],
            "best BO accuracy": best["accuracy"],
            "best BO BOPs": best["bops"],
            "QAP weights pruned": np.nan if qap is None else qap["sparsity"],
            "QAP accuracy": np.nan if qap is None else qap["accuracy"],
            "QAP BOPs": np.nan if qap is None else qap["bops"],
            "BOPs ratio BO / QAP": np.nan if qap is None else best["bops"] / qap["bops"],
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("bits")
