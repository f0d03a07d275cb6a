"""Stored run results as tidy tables, and their mean and standard error over folds.

One row of :func:`results_frame` is one (run, phase); its columns are the phase metrics of
:func:`qaplib.runs.evaluate` plus the configuration that produced them (bits, scheme, batchnorm,
l1, label_noise, fold, seed, key) and the fingerprint of the data the run was trained on.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from qaplib.columns import HGQ_COSTS, METRIC_DISPLAY, METRIC_NAMES
from qaplib.store import ResultStore
from qaplib.sweep import SweepSpec, sweep_keys

CONFIG_COLUMNS = ("bits", "scheme", "batchnorm", "l1", "label_noise", "widths")
#: The columns :func:`summarise` averages over folds: the metrics (:mod:`qaplib.columns`) and the kept epoch's
#: training accuracy (:func:`results_frame`).
METRIC_COLUMNS = (*METRIC_NAMES, *(m.name for m in HGQ_COSTS), "train_accuracy")


def results_frame(store: ResultStore, sweep: SweepSpec) -> pd.DataFrame:
    """One row per (run, phase) of every run in ``sweep`` (all must be stored).

    Beside the phase's recorded columns: the run's configuration, and ``train_accuracy``, the training accuracy
    of the epoch whose weights were kept (lowest validation loss; Keras's mean over that epoch's batches, on the
    possibly noisy training labels), for the gap between training and test accuracy.
    """
    rows = []
    for spec, key in zip(sweep.runs, sweep_keys(sweep), strict=True):
        result = store.load(key)
        for phase, curve in zip(result.phases, result.curves, strict=True):
            rows.append({
                **phase,
                "train_accuracy": _kept_epoch_value(curve, "accuracy"),
                "key": key,
                "data_fingerprint": result.meta.get("data_fingerprint"),
                "bits": spec.model.bits,
                "widths": "-".join(map(str, spec.model.widths)),
                "batchnorm": spec.model.batchnorm,
                "l1": spec.model.l1,
                "scheme": spec.pruning.scheme,
                "label_noise": spec.data.label_noise,
                "fold": spec.data.fold,
                "seed": spec.seed,
                "max_epochs": spec.train.max_epochs,
                **({"beta": spec.hgq.beta} if spec.hgq is not None else {}),
            })  # fmt: skip
    return pd.DataFrame(rows)


def _kept_epoch_value(curve: dict, name: str) -> float:
    """``curve[name]`` at the epoch of the lowest validation loss (the weights early stopping kept); NaN if absent."""
    losses, values = curve.get("val_loss") or [], curve.get(name) or []
    return float(values[int(np.argmin(losses))]) if losses and len(values) == len(losses) else float("nan")


def standard_error(values: pd.Series) -> float:
    """std / sqrt(n) with ddof=1 (the paper's k-fold error bar); NaN for a single value."""
    n = values.count()
    return float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")


def summarise(frame: pd.DataFrame, by: list[str] | tuple[str, ...] = CONFIG_COLUMNS) -> pd.DataFrame:
    """Mean and standard error over folds of every metric, per configuration and phase.

    Columns: the ``by`` columns, ``phase``, ``n_folds``, and ``<metric>`` / ``<metric>_se`` pairs.
    """
    keys = [*by, "phase"]
    metrics = [m for m in METRIC_COLUMNS if m in frame.columns]
    grouped = frame.groupby(keys, sort=True)
    mean = grouped[metrics].mean()
    error = grouped[metrics].agg(standard_error).add_suffix("_se")
    count = grouped["fold"].nunique().rename("n_folds")
    return pd.concat([mean, error, count], axis=1).reset_index()


# ---------------------------------------------------------------- tables as the book shows them

#: Column -> (header, kind) for the columns the book shows; kinds are the formats of :data:`FORMATS`. The metric
#: columns' come from their declaration (:data:`qaplib.columns.METRIC_DISPLAY`); these are the others.
DISPLAY = {
    "bits": ("bits", "bits"),
    "scheme": ("pruning", "text"),
    "variant": ("variant", "text"),
    "label_noise": ("random labels", "percent"),
    "weights pruned": ("weights pruned", "percent"),
    "BOPs": ("BOPs", "count"),
    "added by quantization": ("zeroed by quantization", "percent"),
    "effective / paper": ("effective / paper BOPs", "number"),
    "epochs": ("epochs", "count"),
    "folds": ("folds", "count"),
    **METRIC_DISPLAY,
}


#: How every table of the book is laid out: numbers right-aligned on one line, the footnote under the table.
TABLE_STYLES = [{"selector": "td", "props": "text-align: right; white-space: nowrap;"},
                {"selector": "th", "props": "text-align: right;"},
                {"selector": "caption", "props": "caption-side: bottom; text-align: left;"}]  # fmt: skip


def _finite(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and np.isfinite(value)


def _number(value, digits: int) -> str:
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # never "-0.000"


FORMATS = {
    "bits": lambda v: "float (32-bit)" if v == 32 else f"{int(v)}-bit",
    "percent": lambda v: f"{_number(100 * v, 1)} %",
    "signed_percent": lambda v: f"{'+' if v > 0 else ''}{_number(100 * v, 1)} %",
    "accuracy": lambda v: f"{_number(100 * v, 2)} %",
    "points": lambda v: f"{'+' if v > 0 else ''}{_number(100 * v, 2)} pp",
    "count": lambda v: f"{0.0 if round(v) == 0 else v:,.0f}",
    "ratio": lambda v: f"{_number(v, 2)}×",
    "number": lambda v: _number(v, 3),
    "signed": lambda v: f"{'+' if v > 0 else ''}{_number(v, 3)}",
    "gev": lambda v: f"{_number(v, 1)} GeV",
    "yesno": lambda v: "yes" if v else "no",
    "text": str,
}


def formatted(value, kind: str, error=None) -> str:
    """``value`` as the book prints a ``kind`` (see :data:`FORMATS`), with ``± error`` if given; "n/a" if missing."""
    if value is None or (not isinstance(value, str) and not _finite(value)):
        return "n/a"
    text = FORMATS[kind](value)
    if error is not None and _finite(error):
        text += f" ± {FORMATS[kind](error).lstrip('+')}" if kind != "ratio" else f" ± {_number(error, 2)}"
    return text


def show(frame: pd.DataFrame, kinds: dict[str, str] | None = None, headers: dict[str, str] | None = None,
         note: str | None = None):
    """``frame`` as the book shows a table: human headers, units in the numbers, no row numbers.

    Columns named in :data:`DISPLAY` get its header and format; ``kinds`` and ``headers`` add or
    override. Missing values print as "n/a"; ``note`` (a footnote saying why) is shown under the table.
    A column whose pairs ``<column>_se`` exist is shown as ``mean ± standard error``.
    """
    kinds = {**{c: kind for c, (_, kind) in DISPLAY.items()}, **(kinds or {})}
    headers = {**{c: header for c, (header, _) in DISPLAY.items()}, **(headers or {})}
    shown = pd.DataFrame(index=range(len(frame)))
    for column in frame.columns:
        if column.endswith("_se") and column[:-3] in frame.columns:
            continue
        errors = frame[f"{column}_se"] if f"{column}_se" in frame.columns else None
        kind = kinds.get(column, "number" if pd.api.types.is_float_dtype(frame[column]) else "text")
        values = [formatted(v, kind, None if errors is None else errors.iloc[i]) for i, v in enumerate(frame[column])]
        shown[headers.get(column, column)] = values
    return styled_text(shown, note)


def styled_text(shown: pd.DataFrame, note: str | None = None, uuid: str | None = None):
    """A frame of already formatted text as a Styler: no row numbers, :data:`TABLE_STYLES`, ``note`` under it.

    ``uuid`` names the table's HTML ids (default: from its content, so re-executed notebooks do not change).
    """
    styler = shown.style.hide(axis="index").set_uuid(uuid or hashlib.sha256(shown.to_json().encode()).hexdigest()[:8])
    styler = styler.set_table_styles(TABLE_STYLES)
    return styler.set_caption(note) if note else styler


def by_bits(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    """``value`` per pruning phase (rows, labelled by the mean fraction pruned) and bit width (columns, widest first).

    ``frame`` has columns ``bits``, ``phase``, ``sparsity`` and ``value``; the columns of the result are
    ``sparsity`` and one per bit width, named as in legends ("float (32-bit)", "6-bit").
    """
    wide = frame.pivot_table(index="phase", columns="bits", values=value).sort_index(axis=1, ascending=False)
    wide.columns = [FORMATS["bits"](b) for b in wide.columns]
    return pd.concat([frame.groupby("phase")["sparsity"].mean(), wide], axis=1).reset_index(drop=True)
