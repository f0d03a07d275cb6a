"""Firmware reports as one table whose every column says how its numbers were obtained."""

from __future__ import annotations

import numpy as np
import pandas as pd

from qaplib.firmware.labels import EMULATED, RTL_SIMULATED, SYNTHESISED
from qaplib.tables import formatted, styled_text

#: Column name -> provenance label of the numbers in it ("training" for the run's own metrics).
COLUMN_SOURCES = {
    "bits": "training",
    "weights pruned": "training",
    "BOPs": "training",
    "effective BOPs": "training",
    "accuracy (trained)": "training",
    "accuracy (exported)": EMULATED,
    "identical logits": EMULATED,
    "same decision": EMULATED,
    "identical logits (RTL)": RTL_SIMULATED,
    "latency [cycles]": RTL_SIMULATED,
    "LUT": SYNTHESISED,
    "FF": SYNTHESISED,
    "CARRY": SYNTHESISED,
    "DSP": SYNTHESISED,
}


def firmware_row(report: dict, bits: int, sparsity: float, bops: int, effective_bops: int, accuracy: float) -> dict:
    """One table row from a report of :func:`qaplib.firmware.cache.cached_firmware_report` and the run's own
    numbers (paper and effective BOPs, see :mod:`qaplib.metrics`)."""
    rtl = report.get("rtl") or {}
    synthesis = rtl.get("synthesis") or {}
    export = report.get("export") or {}
    verilator = rtl.get("verilator") or {}
    return {
        "bits": bits,
        "weights pruned": sparsity,
        "BOPs": bops,
        "effective BOPs": effective_bops,
        "accuracy (trained)": accuracy,
        "accuracy (exported)": export.get("exported_accuracy", np.nan),
        "identical logits": report["csim"]["bit_exact_fraction"] if report["quantized"] else np.nan,
        "same decision": report["csim"]["argmax_agreement"],
        "identical logits (RTL)": verilator.get("bit_exact_fraction", np.nan),
        "latency [cycles]": rtl.get("latency_cycles", np.nan),
        "LUT": synthesis.get("lut", np.nan),
        "FF": synthesis.get("ff", np.nan),
        "CARRY": synthesis.get("carry", np.nan),
        "DSP": synthesis.get("dsp", np.nan),
    }


def labelled(table: pd.DataFrame) -> pd.DataFrame:
    """The table with a second header row naming each column's source."""
    table = table.copy()
    table.columns = pd.MultiIndex.from_tuples([(COLUMN_SOURCES.get(c, ""), c) for c in table.columns])
    return table


_KINDS = {"bits": "bits", "weights pruned": "percent", "BOPs": "count", "effective BOPs": "count",
          "accuracy (trained)": "accuracy",
          "accuracy (exported)": "accuracy", "identical logits": "accuracy", "same decision": "accuracy",
          "identical logits (RTL)": "accuracy", "latency [cycles]": "count", "LUT": "count", "FF": "count",
          "CARRY": "count", "DSP": "count"}  # fmt: skip
#: Why a cell can be "n/a", shown under the table.
NOT_APPLICABLE = ("n/a: the float model has no fixed-point network to export, so its C-sim is a profiled fixed-point "
                  "approximation (its decisions are compared instead) and it has no RTL or synthesis.")  # fmt: skip


#: The two halves the book shows: what the firmware computes, and what it costs.
ACCURACY_COLUMNS = ("bits", "weights pruned", "accuracy (trained)", "accuracy (exported)", "identical logits",
                    "same decision", "identical logits (RTL)")  # fmt: skip
HARDWARE_COLUMNS = ("bits", "weights pruned", "BOPs", "effective BOPs", "latency [cycles]", "LUT", "FF", "CARRY", "DSP")


def styled(table: pd.DataFrame, columns: tuple[str, ...] | None = None):
    """The labelled table (or those ``columns`` of it) as the book shows it: percentages, integer counts,
    "n/a" with its reason below."""
    table = table[list(columns)] if columns else table
    shown = pd.DataFrame({column: [formatted(v, _KINDS.get(column, "number")) for v in table[column]] for column in table})
    return styled_text(labelled(shown), NOT_APPLICABLE if table.isna().any().any() else None, uuid="firmware")


def firmware_verdict(table: pd.DataFrame) -> str:
    """Chapter 8's conclusion: bit-exactness of the quantized models and what pruning saves in LUTs."""
    quantized = table[table["bits"] < 32]
    exact = quantized[(quantized["identical logits"] == 1.0)
                      & (quantized["identical logits (RTL)"].isna() | (quantized["identical logits (RTL)"] == 1.0))]
    text = (f"{len(exact)} of {len(quantized)} quantized models give exactly the QKeras logits in firmware "
            f"(hls4ml C-sim{' and Verilator RTL' if quantized['identical logits (RTL)'].notna().any() else ''}) on every test "
            "jet compared.")  # fmt: skip
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
