"""Firmware reports as one table whose every column says how its numbers were obtained."""

from __future__ import annotations

import numpy as np
import pandas as pd

from qaplib.firmware.labels import EMULATED, RTL_SIMULATED, SYNTHESISED

#: Column name -> provenance label of the numbers in it ("training" for the run's own metrics).
COLUMN_SOURCES = {
    "bits": "training",
    "weights pruned": "training",
    "BOPs": "training",
    "accuracy (trained)": "training",
    "accuracy (exported)": EMULATED,
    "identical logits": EMULATED,
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
        "identical logits": report["csim"]["bit_exact_fraction"],
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


_INTEGER_COLUMNS = ("bits", "BOPs", "latency [cycles]", "LUT", "FF", "CARRY", "DSP")


def styled(table: pd.DataFrame):
    """The labelled table as a pandas Styler: counts as integers, fractions with four decimals."""
    shown = labelled(table)
    formats = {column: ("{:,.0f}" if column[1] in _INTEGER_COLUMNS else "{:.4f}") for column in shown.columns}
    return shown.style.format(formats, na_rep="–")
