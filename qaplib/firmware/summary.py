"""Firmware reports as one table whose every column says how its numbers were obtained."""

from __future__ import annotations

import numpy as np
import pandas as pd

from qaplib.firmware.labels import EMULATED, EXACT, RTL_SIMULATED, SYNTHESISED
from qaplib.tables import formatted, styled_text

#: Column name -> provenance label of the numbers in it ("training" for the run's own metrics).
COLUMN_SOURCES = {
    "bits": "training",
    "weights pruned": "training",
    "BOPs": "training",
    "effective BOPs": "training",
    "test jets": "test set",
    "accuracy (trained)": "training",
    "accuracy (firmware)": EMULATED,
    "same decision": EMULATED,
    "logits differ (C-sim)": EMULATED,
    "largest logit difference": EMULATED,
    "logits differ (RTL)": RTL_SIMULATED,
    "logits differ (Keras float32 vs exact)": EXACT,
    "logits differ (C-sim vs exact)": EMULATED,
    "logits differ (RTL vs exact)": RTL_SIMULATED,
    "same decision (RTL)": RTL_SIMULATED,
    "largest logit difference (RTL)": RTL_SIMULATED,
    "latency [cycles]": RTL_SIMULATED,
    "LUT": SYNTHESISED,
    "FF": SYNTHESISED,
    "CARRY": SYNTHESISED,
    "DSP": SYNTHESISED,
    "same decision (rounded fold)": EXACT,
    "accuracy (rounded fold)": EXACT,
    "latency [cycles] (rounded fold)": RTL_SIMULATED,
    "LUT (rounded fold)": SYNTHESISED,
    "LUT added by the stages": SYNTHESISED,
}


def firmware_row(report: dict, bits: int, sparsity: float, bops: int, effective_bops: int, accuracy: float,
                 rounded: dict | None = None) -> dict:  # fmt: skip
    """One table row from a report of :func:`qaplib.firmware.cache.cached_firmware_report` (the firmware of the trained
    network), the run's own numbers (paper and effective BOPs, see :mod:`qaplib.metrics`; ``accuracy`` on the whole
    test set, shown for the float model, whose report has no export) and, if given, the report of the same model with
    batch normalisation folded and re-rounded (``rounded``: its decisions and costs, a different network)."""
    rtl = report.get("rtl") or {}
    synthesis = rtl.get("synthesis") or {}
    export = report.get("export") or {}
    csim = report.get("csim") or {}
    verilator = rtl.get("verilator") or {}
    row = {
        "bits": bits,
        "weights pruned": sparsity,
        "BOPs": bops,
        "effective BOPs": effective_bops,
        "test jets": csim.get("n_samples", np.nan),
        "accuracy (trained)": export.get("trained_accuracy", accuracy),
        "accuracy (firmware)": export.get("exported_accuracy", np.nan),
        "same decision": csim.get("argmax_agreement", np.nan),
        "logits differ (C-sim)": _differing(csim["bit_exact_fraction"], csim.get("n_samples", np.nan))
        if report["quantized"] and csim else np.nan,
        "largest logit difference": csim.get("max_abs_diff", np.nan) if report["quantized"] and csim else np.nan,
        "same decision (RTL)": verilator.get("argmax_agreement", np.nan),
        "logits differ (RTL)": _differing(verilator.get("bit_exact_fraction", np.nan), rtl.get("n_samples", np.nan)),
        "largest logit difference (RTL)": verilator.get("max_abs_diff", np.nan),
        # against the exact fixed-point evaluation of the trained network: where the trained model's float32 Keras
        # evaluation rounds, the firmware can differ from it and still compute the network exactly
        "logits differ (Keras float32 vs exact)": _differing(export.get("identical_fraction", np.nan),
                                                             export.get("n_samples", np.nan)),
        "logits differ (C-sim vs exact)": _differing(csim.get("spec_exact_fraction", np.nan), csim.get("n_samples", np.nan))
        if report["quantized"] and csim else np.nan,
        "logits differ (RTL vs exact)": _differing(verilator.get("exact_network_fraction", np.nan),
                                                   rtl.get("n_samples", np.nan)),
        "latency [cycles]": rtl.get("latency_cycles", np.nan),
        "LUT": synthesis.get("lut", np.nan),
        "FF": synthesis.get("ff", np.nan),
        "CARRY": synthesis.get("carry", np.nan),
        "DSP": synthesis.get("dsp", np.nan),
    }
    folded_rtl = (rounded or {}).get("rtl") or {}
    folded_export = (rounded or {}).get("export") or {}
    row.update({
        "same decision (rounded fold)": folded_export.get("argmax_agreement", np.nan),
        "accuracy (rounded fold)": folded_export.get("exported_accuracy", np.nan),
        "latency [cycles] (rounded fold)": folded_rtl.get("latency_cycles", np.nan),
        "LUT (rounded fold)": (folded_rtl.get("synthesis") or {}).get("lut", np.nan),
    })  # fmt: skip
    row["LUT added by the stages"] = row["LUT"] / row["LUT (rounded fold)"] - 1
    return row


def config_entry(bits: int, sparsity: float, run_key: str, phase: int) -> dict:
    """Where a quantized model's hls4ml configuration is kept (relative to a result store root), for the table that
    points readers to it."""
    from qaplib.firmware.cache import hls_config_path

    return {"bits": bits, "weights pruned": sparsity, "run key": run_key, "phase": phase,
            "hls4ml configuration": str(hls_config_path(run_key, phase))}  # fmt: skip


def labelled(table: pd.DataFrame) -> pd.DataFrame:
    """The table with a second header row naming each column's source."""
    table = table.copy()
    table.columns = pd.MultiIndex.from_tuples([(COLUMN_SOURCES.get(c, ""), c) for c in table.columns])
    return table


_KINDS = {"bits": "bits", "weights pruned": "percent", "BOPs": "count", "effective BOPs": "count", "test jets": "count",
          "accuracy (trained)": "accuracy", "accuracy (firmware)": "accuracy", "logits differ (C-sim)": "count",
          "same decision": "accuracy", "logits differ (RTL)": "count", "largest logit difference": "number",
          "same decision (RTL)": "accuracy", "largest logit difference (RTL)": "number",
          "logits differ (Keras float32 vs exact)": "count", "logits differ (C-sim vs exact)": "count",
          "logits differ (RTL vs exact)": "count",
          "latency [cycles]": "count", "LUT": "count", "FF": "count", "CARRY": "count", "DSP": "count",
          "same decision (rounded fold)": "accuracy", "accuracy (rounded fold)": "accuracy",
          "latency [cycles] (rounded fold)": "count", "LUT (rounded fold)": "count",
          "LUT added by the stages": "signed_percent"}  # fmt: skip
#: Why a cell can be "n/a", shown under the table.
NOT_APPLICABLE = ("n/a: the float model has no fixed-point network to export, so its C-sim is a profiled fixed-point "
                  "approximation (its decisions are compared instead) and it has no RTL or synthesis.")  # fmt: skip


#: The three tables the book shows: what the firmware computes, what it costs, and what keeping batch normalisation
#: exact costs against folding it and rounding the weights back (a different network).
#: (The largest logit differences are in the verdict, for the models whose logits differ.)
ACCURACY_COLUMNS = ("bits", "weights pruned", "test jets", "accuracy (trained)", "accuracy (firmware)",
                    "logits differ (C-sim)", "same decision", "logits differ (RTL)", "same decision (RTL)")  # fmt: skip
HARDWARE_COLUMNS = ("bits", "weights pruned", "BOPs", "effective BOPs", "latency [cycles]", "LUT", "FF", "CARRY", "DSP")
FOLD_COLUMNS = ("bits", "weights pruned", "LUT", "LUT (rounded fold)", "LUT added by the stages", "latency [cycles]",
                "latency [cycles] (rounded fold)", "same decision (rounded fold)", "accuracy (rounded fold)")  # fmt: skip


def styled(table: pd.DataFrame, columns: tuple[str, ...] | None = None):
    """The labelled table (or those ``columns`` of it) as the book shows it: percentages, integer counts,
    "n/a" with its reason below."""
    table = table[list(columns)] if columns else table
    shown = pd.DataFrame({column: [formatted(v, _KINDS.get(column, "number")) for v in table[column]] for column in table})
    return styled_text(labelled(shown), NOT_APPLICABLE if table.isna().any().any() else None, uuid="firmware")


def _differing(identical_fraction: float, jets: float) -> float:
    """How many of ``jets`` test jets have other logits than the trained model, from the identical fraction."""
    return np.nan if pd.isna(identical_fraction) or pd.isna(jets) else float(round((1 - identical_fraction) * jets))


def _exact_sentence(quantized: pd.DataFrame, what: str, differ: str, agree: str, largest: str, versus_exact: str) -> str:
    """'<what>: N of M' (the quantized models whose firmware gives the trained model's logits on every test jet),
    then the others: together, those that equal the exact fixed-point evaluation of the trained network on every jet
    and differ only where the model's float32 Keras evaluation rounds (column ``versus_exact`` 0, the same count of
    jets as Keras against the exact network); one by one, any other, with its jets, decision agreement and largest
    logit difference."""
    measured = quantized.dropna(subset=[differ])
    exact = measured[measured[differ] == 0]
    others = measured[measured[differ] > 0]
    explained = others[(others[versus_exact] == 0) & (others["logits differ (Keras float32 vs exact)"] == others[differ])]
    unexplained = others.drop(index=explained.index)
    text = f"{what}: {len(exact)} of {len(measured)}"
    if len(explained):
        names = ", ".join(f"{row['bits']:.0f}-bit {row['weights pruned']:.0%} pruned" for _, row in explained.iterrows())
        jets = _range(explained[differ], "count")
        one = len(explained) == 1
        text += (f"; {'the other one' if one else f'the other {len(explained)}'} ({names}) "
                 f"{'computes' if one else 'compute'} the trained network's exact fixed-point arithmetic on every jet and "
                 f"{'differs' if one else 'differ'} only where its float32 Keras evaluation rounds: on {jets} "
                 f"{'jet' if jets == '1' else 'jets'}{'' if one else ' each'}, largest logit difference "
                 f"{explained[largest].max():.3g}, "
                 + ("the same decision on every jet" if explained[agree].min() == 1.0
                    else f"same decision on {_range(explained[agree], 'accuracy')}"))  # fmt: skip
    if len(unexplained):
        described = []
        for _, row in unexplained.iterrows():
            line = (f"{row['bits']:.0f}-bit {row['weights pruned']:.0%} pruned: other logits on {row[differ]:,.0f} jets, "
                    f"largest difference {row[largest]:.3g}, same decision on {formatted(row[agree], 'accuracy')}")
            if row[versus_exact] > 0:
                line += f", and it misses the exact fixed-point arithmetic of the network on {row[versus_exact]:,.0f} jets"
            described.append(line)
        text += f" ({'; '.join(described)})"
    return text


def firmware_verdict(table: pd.DataFrame) -> str:
    """Chapter 8's conclusion: whether the firmware computes the trained network (hls4ml C-sim and the RTL, each
    counted on its own), what keeping batch normalisation exact costs against a rounded fold, and what pruning saves
    in LUTs."""
    quantized = table[table["bits"] < 32]
    jets = quantized["test jets"].dropna()
    jets_text = f"all {int(jets.min()):,} test jets" if len(jets) and jets.min() == jets.max() else "every test jet compared"
    text = (f"Models whose firmware gives exactly the trained QKeras model's logits on {jets_text}, so the same "
            f"decision on every one: "
            + _exact_sentence(quantized, "hls4ml C-sim", "logits differ (C-sim)", "same decision", "largest logit difference",
                              "logits differ (C-sim vs exact)"))  # fmt: skip
    if quantized["logits differ (RTL)"].notna().any():
        text += "; " + _exact_sentence(quantized, "Verilator RTL (da4ml)", "logits differ (RTL)", "same decision (RTL)",
                                       "largest logit difference (RTL)", "logits differ (RTL vs exact)")  # fmt: skip
    text += "."
    folded = quantized.dropna(subset=["LUT added by the stages", "same decision (rounded fold)"])
    if len(folded):
        added, agree = folded["LUT added by the stages"], folded["same decision (rounded fold)"]
        text += (f" Keeping batch normalisation as a 24-bit stage costs {_range(added, 'signed_percent')} LUTs against "
                 f"folding it into the weights and rounding them back onto the trained grid; that fold is a different "
                 f"network, which makes the trained model's decision on only {_range(agree, 'accuracy')} of jets.")  # fmt: skip
    measured = table.dropna(subset=["LUT"])
    if len(measured) >= 2:
        small, large = measured.loc[measured["LUT"].idxmin()], measured.loc[measured["LUT"].idxmax()]
        text += (f" Synthesised LUTs range from {large['LUT']:,.0f} ({large['bits']:.0f}-bit, {large['weights pruned']:.0%} "
                 f"pruned) down to {small['LUT']:,.0f} ({small['bits']:.0f}-bit, {small['weights pruned']:.0%} pruned), "
                 f"{large['LUT'] / small['LUT']:.1f}× fewer")  # fmt: skip
        if len(measured) >= 3:
            text += "; " + count_correlation_sentence(measured)
        text += "."
    return text


def _range(values: pd.Series, kind: str) -> str:
    """'a to b' of the smallest and largest value, formatted as ``kind`` (one value when they agree)."""
    low, high = formatted(values.min(), kind), formatted(values.max(), kind)
    return low if low == high else f"{low} to {high}"


def lut_rank_correlations(measured: pd.DataFrame, counts: tuple[str, ...] = ("BOPs", "effective BOPs")) -> dict[str, float]:
    """Spearman rank correlation of synthesised LUTs with each BOPs count, over the rows that have LUTs."""
    return {name: float(measured[[name, "LUT"]].corr("spearman").iloc[0, 1]) for name in counts}


def lut_log_fit_r2(measured: pd.DataFrame, counts: tuple[str, ...] = ("BOPs", "effective BOPs")) -> dict[str, float]:
    """R² of the power-law fit log10(LUT) = a + k log10(count) for each BOPs count (the squared Pearson
    correlation of the logarithms): the fraction of the spread in log LUTs that the count explains."""
    logs = np.log10(measured[["LUT", *counts]].astype(float))
    return {name: float(logs[["LUT", name]].corr().iloc[0, 1] ** 2) for name in counts}


def count_correlation_sentence(measured: pd.DataFrame) -> str:
    """Which BOPs count predicts the synthesised models' LUTs better, measured: by rank (Spearman rho), and
    where the ranks tie, by how much of the spread in log LUTs a power-law fit explains (R²)."""
    rho, r2 = lut_rank_correlations(measured), lut_log_fit_r2(measured)
    paper, effective = rho["BOPs"], rho["effective BOPs"]
    text = (f"over the {len(measured)} synthesised models the rank correlation of LUTs with the paper's BOPs is "
            f"{paper:+.2f} and with the effective BOPs {effective:+.2f}; a power-law fit explains R² = {r2['BOPs']:.2f} "
            f"of the spread in log LUTs with the paper's count and {r2['effective BOPs']:.2f} with the effective count")
    if abs(effective - paper) >= 0.005:
        better = "effective" if effective > paper else "paper's"
    elif abs(r2["effective BOPs"] - r2["BOPs"]) >= 0.005:
        better = "effective" if r2["effective BOPs"] > r2["BOPs"] else "paper's"
    else:
        return text + ": the two counts predict the hardware equally well"
    return text + f": the {better} count predicts the hardware better"
