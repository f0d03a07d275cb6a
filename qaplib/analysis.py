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

#: The two BOPs counts (columns of :func:`qaplib.tables.results_frame`) and how the book names them.
BOPS_COUNTS = {"bops": "paper BOPs", "effective_bops": "effective BOPs"}


def _cheapest(rows: pd.DataFrame, threshold: float, cost: str) -> dict:
    good = rows[rows["accuracy"] >= threshold]
    if good.empty:
        return {"bops": np.nan, "accuracy": np.nan, "bits": np.nan, "sparsity": np.nan}
    best = good.loc[good[cost].idxmin()]
    return {"bops": float(best[cost]), "accuracy": float(best["accuracy"]), "bits": int(best["bits"]),
            "sparsity": float(best["sparsity"])}  # fmt: skip


def bops_at_equal_accuracy(frame: pd.DataFrame, tolerance: float = 0.01, cost: str = "bops",
                           relative: bool = False) -> pd.DataFrame:
    """Per fold and approach: the cheapest model within ``tolerance`` of the float baseline's accuracy.

    ``frame``: rows of :func:`qaplib.tables.results_frame` for FT runs at several bit widths,
    including 32 bits. The reference is the unpruned 32-bit model of the same fold; "within 1 %" is
    accuracy >= reference - 0.01 (absolute). Approaches: ``pruning only`` (32-bit, any sparsity),
    ``quantization only`` (unpruned, < 32 bits), ``QAP`` (< 32 bits, any sparsity) and ``QAP b-bit``.
    ``cost``: the BOPs count that "cheapest" means (a key of :data:`BOPS_COUNTS`); the result's
    ``bops`` column holds that count. ``relative``: the tolerance is a fraction of the reference accuracy
    (accuracy >= reference * (1 - tolerance)) instead of percentage points.
    """
    records = []
    for fold, rows in frame.groupby("fold"):
        reference = rows[(rows["bits"] == 32) & (rows["phase"] == 0)]["accuracy"]
        if reference.empty:
            raise ValueError("the frame has no unpruned 32-bit model to take the reference accuracy from")
        threshold = float(reference.iloc[0]) * (1 - tolerance) if relative else float(reference.iloc[0]) - tolerance
        approaches = {
            "pruning only (32-bit)": rows[rows["bits"] == 32],
            "quantization only": rows[(rows["bits"] < 32) & (rows["phase"] == 0)],
            "QAP (any bit width)": rows[rows["bits"] < 32],
            **{f"QAP {b}-bit": rows[rows["bits"] == b] for b in sorted(rows["bits"].unique(), reverse=True) if b < 32},
        }
        for name, subset in approaches.items():
            records.append({"fold": fold, "approach": name, "reference_accuracy": float(reference.iloc[0]),
                            **_cheapest(subset, threshold, cost)})  # fmt: skip
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


def claims_by_count(frame: pd.DataFrame, tolerance: float = 0.01) -> pd.DataFrame:
    """The reduction factors of :func:`claim_table` under each of :data:`BOPS_COUNTS`, side by side.

    Index: approach. Columns ``vs pruning only (paper)``, ``vs pruning only (effective)``,
    ``vs quantization only (paper)``, ``vs quantization only (effective)``, each with its ``_se`` twin.
    Each count picks its own cheapest model per approach.
    """
    claims = {name.split()[0]: claim_table(bops_at_equal_accuracy(frame, tolerance, cost)) for cost, name in BOPS_COUNTS.items()}
    parts = {}
    for baseline in ("pruning only", "quantization only"):
        for count, table in claims.items():
            parts[f"vs {baseline} ({count})"] = table[f"reduction vs {baseline}"]
            parts[f"vs {baseline} ({count})_se"] = table[f"reduction vs {baseline}_se"]
    return pd.DataFrame(parts)


#: The reasonable definitions of "equal accuracy" chapter 2's claim is recomputed under (:func:`claim_robustness`).
CLAIM_TOLERANCES = (0.005, 0.01, 0.02)


def claim_robustness(frame: pd.DataFrame, tolerances: tuple[float, ...] = CLAIM_TOLERANCES) -> pd.DataFrame:
    """Chapter 2's claim (QAP needs fewer BOPs than pruning only and than quantization only, at equal accuracy)
    recomputed under each reasonable definition: tolerance 0.5, 1 or 2 points below the float baseline, absolute
    (percentage points) or relative (percent of the baseline), with the paper's or the effective BOPs count.

    One row per definition: ``tolerance``, ``kind`` (absolute/relative), ``count``, each reduction factor with its
    fold standard error, and ``holds``: whether both factors exceed 1 by more than two standard errors (a factor
    that cannot be computed, because an approach never gets close enough, counts as not holding)."""
    rows = []
    for tolerance in tolerances:
        for relative in (False, True):
            for cost, count in BOPS_COUNTS.items():
                table = claim_table(bops_at_equal_accuracy(frame, tolerance, cost, relative)).loc["QAP (any bit width)"]
                row = {"tolerance": tolerance, "kind": "relative" if relative else "absolute", "count": count}
                holds = True
                for baseline in ("pruning only", "quantization only"):
                    value, error = table[f"reduction vs {baseline}"], table[f"reduction vs {baseline}_se"]
                    row |= {f"vs {baseline}": value, f"vs {baseline}_se": error}
                    holds &= bool(np.isfinite(value) and value - 2 * (0 if np.isnan(error) else error) > 1)
                rows.append(row | {"holds": holds})
    return pd.DataFrame(rows)


def robustness_display(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`claim_robustness` as the chapter shows it: the tolerance as text ("0.5 pp" below the float baseline, or
    "0.5 %" of it), the BOPs count, both reduction factors with their standard errors, and whether the claim holds."""
    tolerance = [f"{100 * t:g} {'pp' if kind == 'absolute' else '%'}" for t, kind in zip(table["tolerance"], table["kind"],
                                                                                          strict=True)]  # fmt: skip
    return table.drop(columns=["tolerance", "kind"]).assign(tolerance=tolerance)[
        ["tolerance", *[c for c in table.columns if c not in ("tolerance", "kind")]]]


def robustness_clause(table: pd.DataFrame) -> str:
    """Whether chapter 2's claim survives the other definitions (:func:`claim_robustness`), as a clause that can
    follow the claim after a semicolon (so that the verdict's first sentence, which the at-a-glance table shows,
    says under which definitions it holds)."""
    held = table[table["holds"]]
    tolerances = ", ".join(f"{100 * t:g}" for t in sorted(table["tolerance"].unique()))
    if len(held) == len(table):
        return (f"this holds under all {len(table)} definitions of equal accuracy tried (tolerance {tolerances} points or "
                f"per cent, paper or effective BOPs), QAP cheaper than both by more than two standard errors in each")
    failed = table[~table["holds"]]
    names = ", ".join(f"{100 * r['tolerance']:g} {'points' if r['kind'] == 'absolute' else '%'} with {r['count']}"
                      for r in failed.to_dict("records"))  # fmt: skip
    return (f"this holds under {len(held)} of {len(table)} definitions of equal accuracy (tolerance {tolerances} points or "
            f"per cent, paper or effective BOPs), not under {names}")


def robustness_sentence(table: pd.DataFrame) -> str:
    """:func:`robustness_clause` as a sentence of its own."""
    clause = robustness_clause(table).replace("this holds", "The claim holds", 1)
    return clause + "."


def quantization_sparsity(summary: pd.DataFrame) -> pd.DataFrame:
    """What quantization adds to pruning, per bit width and phase (fold means of :func:`qaplib.tables.summarise`).

    Columns: bits, phase, ``sparsity`` (weights pruned: stored zeros), ``effective_sparsity`` (weights zero in
    the firmware), ``added by quantization`` (their difference, a fraction of all kernel weights), ``bops``,
    ``effective_bops`` and ``effective / paper`` (the ratio of the two counts).
    """
    table = summary[["bits", "phase", "sparsity", "effective_sparsity", "bops", "effective_bops"]].copy()
    table["added by quantization"] = table["effective_sparsity"] - table["sparsity"]
    table["effective / paper"] = table["effective_bops"] / table["bops"]
    return table.sort_values(["bits", "phase"], ascending=[False, True]).reset_index(drop=True)


def quantization_sparsity_verdict(table: pd.DataFrame, counts: pd.DataFrame | None) -> str:
    """Chapter 2's conclusion on the effective count: how much quantization prunes, and whether the claim moves
    (``counts``: :func:`claims_by_count`, or None when the claim cannot be computed)."""
    quantized = table[table["bits"] < 32]
    if quantized.empty:
        return "There is no reduced-precision model in `bits`: the two counts are equal for float models."
    unpruned = quantized[quantized["phase"] == 0].set_index("bits")
    last = quantized[quantized["phase"] == quantized["phase"].max()].set_index("bits")
    parts = [f"{b}-bit {unpruned.loc[b, 'added by quantization']:.0%}" for b in sorted(unpruned.index)]
    pruned = quantized[quantized["phase"] > 0]
    widest = pruned.loc[(1 - pruned["effective / paper"]).idxmax()]
    text = (f"Quantization itself zeroes weights: in the unpruned models the firmware sees "
            f"{', '.join(parts)} of the kernel weights as zero beyond those pruned, so the effective count is "
            f"{1 - unpruned['effective / paper'].max():.0%} to {1 - unpruned['effective / paper'].min():.0%} below the "
            f"paper's. Pruning removes the small weights first, so in the pruned models the gap is smaller: at most "
            f"{1 - widest['effective / paper']:.0%} ({widest['bits']:.0f}-bit, {widest['sparsity']:.0%} pruned), and "
            f"{1 - last['effective / paper'].min():.1%} or less after the last phase.")
    if counts is not None and "QAP (any bit width)" in counts.index:
        qap = counts.loc["QAP (any bit width)"]
        paper, effective = qap["vs quantization only (paper)"], qap["vs quantization only (effective)"]
        if np.isfinite(paper) and np.isfinite(effective):
            text += (f" Counted effectively, QAP's saving against quantization only is {effective:.1f}× instead of "
                     f"{paper:.1f}×, and against pruning only {qap['vs pruning only (effective)']:.1f}× instead of "
                     f"{qap['vs pruning only (paper)']:.1f}×: quantization only gains most from the effective count.")
    return text


def efficiency_spread(summary: pd.DataFrame, accuracy_window: float = 0.01) -> dict:
    """How much neural efficiency varies among models whose accuracy lies within ``accuracy_window``
    of the most accurate one (fold-averaged rows of :func:`qaplib.tables.summarise`).

    Returns the number of such models, the lowest and highest efficiency with their configuration,
    the ratio highest / lowest, and the Spearman correlation of accuracy and efficiency over all rows; and, where
    models with and without batch normalisation are both present, ``by_batchnorm``: the same count and ratio within
    each group (its models within ``accuracy_window`` of the group's best), so that a reader sees which group makes
    the spread.
    """
    best = summary["accuracy"].max()
    close = summary[summary["accuracy"] >= best - accuracy_window]
    low, high = close.loc[close["neural_efficiency"].idxmin()], close.loc[close["neural_efficiency"].idxmax()]
    by_batchnorm = {}
    if "batchnorm" in summary.columns and summary["batchnorm"].nunique() == 2:
        for batchnorm, group in summary.groupby("batchnorm"):
            near = group[group["accuracy"] >= group["accuracy"].max() - accuracy_window]["neural_efficiency"]
            by_batchnorm[bool(batchnorm)] = {"n_models": int(len(near)), "ratio": float(near.max() / near.min())}
    return {
        "by_batchnorm": by_batchnorm,
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
            f"{100 * row['sparsity']:.1f} % pruned (accuracy {100 * row['accuracy']:.2f} %, efficiency "
            f"{row['neural_efficiency']:.3f}, {row['bops']:,.0f} BOPs)")


def claim_sentence(claims: pd.DataFrame, tolerance: float) -> str:
    """The claim table of :func:`claim_table` in one sentence, or why it cannot be made."""
    qap = claims.loc["QAP (any bit width)"]
    if np.isnan(qap["BOPs"]):
        return (f"No reduced-precision model stays within {100 * tolerance:.1f} percentage points of the float baseline's "
                "accuracy: no claim can be made.")
    parts = []
    for column, name in (("reduction vs pruning only", "pruning only"), ("reduction vs quantization only", "quantization only")):
        value, error = qap[column], qap[f"{column}_se"]
        if np.isnan(value):
            parts.append(f"{name} never gets within {100 * tolerance:.1f} percentage points")
        else:
            parts.append(f"**{value:.1f}×**" + ("" if np.isnan(error) else f" ± {error:.2f}") + f" fewer BOPs than {name}")
    return (f"At equal accuracy (at most {100 * tolerance:.1f} percentage points below the float baseline), QAP needs "
            + " and ".join(parts) + ".")


# ---------------------------------------------------------------- each chapter's verdict in words


def _signed(value: float, digits: int = 3) -> str:
    """``value`` with its sign and ``digits`` decimals; a value that rounds to zero is written 0 (never -0.000)."""
    rounded = round(float(value), digits)
    return f"{0.0:.{digits}f}" if rounded == 0 else f"{rounded:+.{digits}f}"


def _pp(value: float) -> str:
    """An accuracy difference in percentage points, signed."""
    return f"{_signed(100 * value, 2)} percentage points"


def claim_verdict(claims: pd.DataFrame, tolerance: float, robustness: pd.DataFrame | None = None) -> str:
    """Chapter 2's conclusion: :func:`claim_sentence`, with ``robustness`` (:func:`claim_robustness`) under which
    definitions it holds in the same sentence, and which bit width gives the cheapest QAP model."""
    sentence = claim_sentence(claims, tolerance)
    if robustness is not None and sentence.startswith("At equal accuracy"):
        sentence = sentence[:-1] + "; " + robustness_clause(robustness) + "."
    per_bits = claims[claims.index.str.match(r"QAP \d+-bit")]["BOPs"].dropna()
    if per_bits.empty:
        return sentence
    cheapest = per_bits.idxmin().removeprefix("QAP ")
    return (f"{sentence} The cheapest model that keeps the accuracy is a pruned {cheapest} model "
            f"({per_bits.min():,.0f} BOPs, mean over folds).")


def scheme_difference(summary: pd.DataFrame) -> pd.DataFrame:
    """FT minus LT per bit width and pruning phase (fold means): accuracy and neural efficiency.

    Columns: bits, phase, sparsity (FT's), ``accuracy FT - LT``, ``efficiency FT - LT``.
    """
    wide = summary.pivot_table(index=["bits", "phase"], columns="scheme", values=["accuracy", "neural_efficiency", "sparsity"])
    return pd.DataFrame({
        "sparsity": wide[("sparsity", "ft")],
        "accuracy FT - LT": wide[("accuracy", "ft")] - wide[("accuracy", "lt")],
        "efficiency FT - LT": wide[("neural_efficiency", "ft")] - wide[("neural_efficiency", "lt")],
    }).reset_index()  # fmt: skip


#: Phases pruned up to this fraction are one range in :func:`scheme_ranges`; each phase beyond is a range of its own.
SCHEME_RANGE_SPARSITY = 0.9


def scheme_ranges(difference: pd.DataFrame) -> pd.DataFrame:
    """FT − LT accuracy by pruning range: the phases pruned up to :data:`SCHEME_RANGE_SPARSITY` together, then each
    more-pruned phase alone (where FT and LT part most). One row per range: ``range`` (words), ``points`` ((bit width,
    phase) points), ``accuracy FT - LT`` (their mean) and ``FT ahead`` (points where FT is more accurate)."""
    rows = [{"range": name, "points": len(group), "accuracy FT - LT": group["accuracy FT - LT"].mean(),
             "FT ahead": int((group["accuracy FT - LT"] > 0).sum())}
            for name, group in _scheme_groups(difference).items()]  # fmt: skip
    return pd.DataFrame(rows)


def _scheme_groups(difference: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The rows of each pruning range of :func:`scheme_ranges`, by its name; empty ranges left out."""
    limit = SCHEME_RANGE_SPARSITY + 1e-6
    upto = difference[difference["sparsity"] <= limit]
    groups = {f"0–{100 * upto['sparsity'].max():.0f} % pruned": upto} if len(upto) else {}
    for _, group in difference[difference["sparsity"] > limit].groupby("phase"):
        groups[f"{100 * group['sparsity'].mean():.1f} % pruned"] = group
    return groups


def _range_reading(difference: pd.DataFrame) -> tuple[str, str]:
    """Which pruning range decides the average FT − LT (:func:`scheme_ranges`): a clause for the verdict's first
    sentence where leaving that range out flips the sign ('' otherwise), and a sentence with every range ('' with a
    single range)."""
    ranges = scheme_ranges(difference)
    if len(ranges) < 2:
        return "", ""
    parts = "; ".join(f"{_pp(r['accuracy FT - LT'])} over {r['range']} (FT ahead at {r['FT ahead']} of {r['points']})"
                      for r in ranges.to_dict("records"))  # fmt: skip
    overall = difference["accuracy FT - LT"].mean()
    decisive = ranges.loc[(ranges["accuracy FT - LT"] * ranges["points"]).abs().idxmax()]
    rest = difference.drop(index=_scheme_groups(difference)[decisive["range"]].index)["accuracy FT - LT"]
    flips = len(rest) and np.sign(rest.mean()) != np.sign(overall) and rest.mean() != 0
    clause = (f", but only because of the phases {decisive['range']}: without them {'FT' if rest.mean() > 0 else 'LT'} is "
              f"ahead ({_pp(rest.mean())})" if flips else "")  # fmt: skip
    tail = ("" if flips else f" The phases {decisive['range']} weigh most in the sum; without them the average keeps its "
            f"sign ({_pp(rest.mean())}).")  # fmt: skip
    return clause, f" By pruning range, FT − LT = {parts}.{tail}"


def scheme_verdict(difference: pd.DataFrame) -> str:
    """Chapter 3's conclusion from :func:`scheme_difference`, with the pruning range that decides it
    (:func:`scheme_ranges`) in its first sentence where that range alone sets the sign."""
    accuracy, efficiency = difference["accuracy FT - LT"], difference["efficiency FT - LT"]
    pruned = difference[difference["phase"] > 0]
    better = "fine-tuning (FT)" if accuracy.mean() > 0 else "lottery-ticket rewinding (LT)"
    clause, ranges = _range_reading(difference)
    return (f"Over {len(difference)} (bit width, pruning phase) points, {better} is the more accurate scheme on average: "
            f"FT − LT = {_pp(accuracy.mean())} (FT ahead at {int((accuracy > 0).sum())} of them; "
            f"largest gap {_pp(accuracy.abs().max() * np.sign(accuracy[accuracy.abs().idxmax()]))}){clause}."
            f"{ranges} "
            f"In neural efficiency FT − LT = {_signed(efficiency.mean())} on average "
            f"({_signed(efficiency[pruned.index].mean())} over the pruned phases alone): "
            + (f"{'FT' if efficiency.mean() > 0 else 'LT'} models use more of their neurons' state space."
               if abs(efficiency.mean()) >= 0.01 else
               "the two schemes use their neurons' state space alike (less than 0.01 apart)."))  # fmt: skip


def variant_effects(summary: pd.DataFrame, reference: str = "BN + L1") -> pd.DataFrame:
    """Mean over pruning phases of each variant minus ``reference``, per bit width (chapter 4).

    Columns: bits, variant, ``accuracy change``, ``efficiency change``, ``worst accuracy change``.
    """
    rows = []
    for bits, rows_ in summary.groupby("bits"):
        base = rows_[rows_["variant"] == reference].set_index("phase")
        for variant, other in rows_[rows_["variant"] != reference].groupby("variant"):
            other = other.set_index("phase")
            delta = other["accuracy"] - base["accuracy"]
            rows.append({"bits": bits, "variant": variant, "accuracy change": delta.mean(),
                         "worst accuracy change": delta.min(),
                         "efficiency change": (other["neural_efficiency"] - base["neural_efficiency"]).mean()})  # fmt: skip
    return pd.DataFrame(rows)


def variant_verdict(effects: pd.DataFrame) -> str:
    """Chapter 4's conclusion from :func:`variant_effects`."""
    names = {"no BN": "without batch normalisation", "no L1": "without L1 regularisation"}
    parts = []
    for variant, rows in effects.groupby("variant", sort=False):
        changes = " and ".join(f"{_pp(r['accuracy change'])} ({'float' if r['bits'] == 32 else str(r['bits']) + '-bit'})"
                               for _, r in rows.iterrows())  # fmt: skip
        parts.append(f"{names.get(variant, variant)}, accuracy changes by {changes}")
    mean = effects.groupby("variant")["accuracy change"].mean()
    largest = mean.abs().idxmax()
    return ("Against the default tagger (batch normalisation and L1), averaged over the pruning phases: " + "; ".join(parts)
            + f". Neural efficiency changes by at most {effects['efficiency change'].abs().max():.3f}. Removing "
            f"{names.get(largest, largest).removeprefix('without ')} has the larger effect on accuracy: it "
            f"{'raises' if mean[largest] > 0 else 'lowers'} it by {abs(100 * mean[largest]):.2f} percentage points on average.")


def efficiency_verdict(spread: dict, accuracy_window: float) -> str:
    """Chapter 5's conclusion from :func:`efficiency_spread`."""
    return (f"{spread['n_models']} models lie within {100 * accuracy_window:.1f} percentage points of the best accuracy "
            f"({100 * spread['accuracy_range'][0]:.2f}–{100 * spread['accuracy_range'][1]:.2f} %), yet their neural "
            f"efficiencies differ by a factor **{spread['ratio']:.2f}**{_batchnorm_factors(spread, accuracy_window)}: from "
            f"{describe_model(spread['lowest'])} to "
            f"{describe_model(spread['highest'])}. Accuracy alone does not say how efficiently a network uses its "
            f"neurons (Spearman correlation of accuracy and efficiency over all models: "
            f"{_signed(spread['spearman_accuracy_efficiency'], 2)})." + _batchnorm_sentence(spread, accuracy_window))  # fmt: skip


def spread_table(spread: dict) -> pd.DataFrame:
    """:func:`efficiency_spread` as a table: the models near the best accuracy, all together and with and without
    batch normalisation, and the factor between their highest and lowest neural efficiency."""
    rows = [{"models": "all", "near the best accuracy": spread["n_models"], "efficiency highest / lowest": spread["ratio"]}]
    for batchnorm, group in sorted((spread.get("by_batchnorm") or {}).items(), reverse=True):
        rows.append({"models": "with batch norm" if batchnorm else "without batch norm",
                     "near the best accuracy": group["n_models"], "efficiency highest / lowest": group["ratio"]})  # fmt: skip
    return pd.DataFrame(rows)


def _batchnorm_factors(spread: dict, accuracy_window: float) -> str:
    """The factor within the models with and without batch normalisation, as a parenthesis ('' without both)."""
    groups = spread.get("by_batchnorm") or {}
    if len(groups) != 2:
        return ""
    return (f" (within {100 * accuracy_window:.1f} points of each group's own best: with batch normalisation "
            f"{groups[True]['ratio']:.2f}, without {groups[False]['ratio']:.2f})")


def _batchnorm_sentence(spread: dict, accuracy_window: float) -> str:
    """The spread within the models with and without batch normalisation (:func:`efficiency_spread`), in words."""
    groups = spread.get("by_batchnorm") or {}
    if len(groups) != 2:
        return ""
    on, off = groups[True], groups[False]
    between = (" The factor over all models is larger than within either group, so part of it lies between the "
               "models with and without batch normalisation." if spread["ratio"] > max(on["ratio"], off["ratio"]) else "")
    return (f" Within each group (its models within {100 * accuracy_window:.1f} percentage points of the group's "
            f"best), the models with batch normalisation ({on['n_models']}) differ by a factor {on['ratio']:.2f}, those "
            f"without ({off['n_models']}) by {off['ratio']:.2f}.{between}")


def noise_table(summary: pd.DataFrame, phases: tuple[int, int] = (0, 9)) -> pd.DataFrame:
    """Accuracy and efficiency per bit width and label noise, unpruned and at pruning phase ``phases[1]``."""
    low, high = phases
    rows = []
    for (bits, noise), rows_ in summary.groupby(["bits", "label_noise"]):
        by_phase = rows_.set_index("phase")
        high_row = by_phase.loc[min(high, by_phase.index.max())]
        rows.append({"bits": bits, "label_noise": noise,
                     "accuracy unpruned": by_phase.loc[low, "accuracy"], "accuracy pruned": high_row["accuracy"],
                     "pruned sparsity": high_row["sparsity"],
                     "efficiency unpruned": by_phase.loc[low, "neural_efficiency"],
                     "efficiency pruned": high_row["neural_efficiency"]})  # fmt: skip
    return pd.DataFrame(rows)


def noise_verdict(table: pd.DataFrame) -> str:
    """Chapter 6's conclusion from :func:`noise_table`: how much clean-test accuracy label noise costs."""
    parts = []
    for bits, rows in table.groupby("bits", sort=False):
        clean, noisiest = rows.loc[rows["label_noise"].idxmin()], rows.loc[rows["label_noise"].idxmax()]
        width = "float" if bits == 32 else f"{bits}-bit"
        parts.append(f"the {width} model's clean-test accuracy changes by "
                     f"{_pp(noisiest['accuracy unpruned'] - clean['accuracy unpruned'])} unpruned and by "
                     f"{_pp(noisiest['accuracy pruned'] - clean['accuracy pruned'])} when {noisiest['pruned sparsity']:.0%} "
                     "pruned")  # fmt: skip
    noisiest = table["label_noise"].max()
    return f"With {noisiest:.0%} of the training labels randomised instead of none, " + "; ".join(parts) + "."


def epoch_cap_counts(frame: pd.DataFrame, by: tuple[str, ...] = ("phase", "target_sparsity")) -> pd.DataFrame:
    """How many runs stopped at their epoch cap in each group ``by`` (default: each pruning phase; rows of
    :func:`qaplib.tables.results_frame`): such a phase stopped because it ran out of epochs, not because its validation
    loss stopped improving, so its accuracy may not be converged. Columns: the ``by`` columns, runs, at_cap, fraction."""
    capped = frame.assign(at_cap=frame["epochs"] >= frame["max_epochs"])
    table = capped.groupby(list(by)).agg(runs=("at_cap", "size"), at_cap=("at_cap", "sum")).reset_index()
    table["at_cap"] = table["at_cap"].astype(int)
    table["fraction"] = table["at_cap"] / table["runs"]
    return table


def convergence_verdict(caps: pd.DataFrame, capped: dict, uncapped: dict) -> str:
    """Chapter 1's convergence check in words: how many runs stop at their epoch cap (:func:`epoch_cap_counts`), and
    what the float baseline of one fold reaches when trained again with a larger cap.

    ``capped``/``uncapped``: the unpruned phase of the float baseline and of its uncapped rerun (rows of
    :func:`qaplib.tables.results_frame`: fold, epochs, max_epochs, accuracy)."""
    unpruned, total = caps[caps["phase"] == 0].iloc[0], caps[["runs", "at_cap"]].sum()
    text = (f"{int(unpruned['at_cap'])} of the book's {int(unpruned['runs'])} runs stop at the epoch cap in their "
            f"unpruned phase, and {int(total['at_cap'])} of their {int(total['runs'])} phases in all (the table gives "
            f"each phase).")  # fmt: skip
    fold, difference = int(capped["fold"]), float(uncapped["accuracy"]) - float(capped["accuracy"])
    if capped["epochs"] < capped["max_epochs"]:
        same = difference == 0 and uncapped["epochs"] == capped["epochs"]
        return text + (f" The float baseline of fold {fold} stops before its cap ({capped['epochs']} of "
                       f"{capped['max_epochs']} epochs); trained again with a cap of {uncapped['max_epochs']} it "
                       + ("stops at the same epoch with the same accuracy, bit for bit." if same else
                          f"stops after {uncapped['epochs']} epochs, accuracy {_pp(difference)}."))  # fmt: skip
    stopped = ("by early stopping" if uncapped["epochs"] < uncapped["max_epochs"] else "at the larger cap too")
    return text + (f" The float baseline of fold {fold}, which stops at its cap of {capped['max_epochs']} epochs, trained "
                   f"again with a cap of {uncapped['max_epochs']} stops after {uncapped['epochs']} epochs ({stopped}) at "
                   f"{100 * float(uncapped['accuracy']):.2f} % test accuracy: {_pp(difference)} against the capped "
                   "run.")  # fmt: skip
