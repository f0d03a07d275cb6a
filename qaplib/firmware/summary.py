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


def firmware_row(report: dict, bits: int, sparsity: float, bops: int, accuracy: float) -> dict:
    """One table row from a report of :func:`qaplib.firmware.cache.cached_firmware_report`."""
    rtl = report.get("rtl") or {}
    synthesis = rtl.get("synthesis") or {}
    export = report.get("export") or {}
    verilator = rtl.get("verilator") or {}
    return {
        "bits": bits,
        "weights pruned": sparsity,
        "BOPs": bops,
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


_KINDS = {"bits": "bits", "weights pruned": "percent", "BOPs": "count", "accuracy (trained)": "accuracy",
          "accuracy (exported)": "accuracy", "identical logits": "accuracy", "same decision": "accuracy",
          "identical logits (RTL)": "accuracy", "latency [cycles]": "count", "LUT": "count", "FF": "count",
          "CARRY": "count", "DSP": "count"}  # fmt: skip
#: Why a cell can be "n/a", shown under the table.
NOT_APPLICABLE = ("n/a: the float model has no fixed-point network to export, so its C-sim is a profiled fixed-point "
                  "approximation (its decisions are compared instead) and it has no RTL or synthesis.")  # fmt: skip


#: The two halves the book shows: what the firmware computes, and what it costs.
ACCURACY_COLUMNS = ("bits", "weights pruned", "accuracy (trained)", "accuracy (exported)", "identical logits",
                    "same decision", "identical logits (RTL)")  # fmt: skip
HARDWARE_COLUMNS = ("bits", "weights pruned", "BOPs", "latency [cycles]", "LUT", "FF", "CARRY", "DSP")


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
            rho = measured[["BOPs", "LUT"]].corr("spearman").iloc[0, 1]
            text += (f"; over the {len(measured)} synthesised models the rank correlation of BOPs and LUTs is {rho:+.2f}: "
                     f"BOPs rank the hardware cost of these models {'well' if rho > 0.8 else 'only roughly'}")  # fmt: skip
        text += "."
    return text
