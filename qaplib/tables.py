"""Stored run results as tidy tables, and their mean and standard error over folds.

One row of :func:`results_frame` is one (run, phase); its columns are the phase metrics of
:func:`qaplib.runs.evaluate` plus the configuration that produced them (bits, scheme, batchnorm,
l1, label_noise, fold, seed, key).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from qaplib.store import ResultStore
from qaplib.sweep import SweepSpec, sweep_keys

CONFIG_COLUMNS = ("bits", "scheme", "batchnorm", "l1", "label_noise", "widths")
METRIC_COLUMNS = ("accuracy", "macro_auc", "bops", "neural_efficiency", "aiq", "sparsity",
                  *(f"auc_{c}" for c in "gqwzt"), *(f"bkg_eff_{c}" for c in "gqwzt"))  # fmt: skip


def results_frame(store: ResultStore, sweep: SweepSpec) -> pd.DataFrame:
    """One row per (run, phase) of every run in ``sweep`` (all must be stored)."""
    rows = []
    for spec, key in zip(sweep.runs, sweep_keys(sweep), strict=True):
        for phase in store.load(key).phases:
            rows.append({
                **phase,
                "key": key,
                "bits": spec.model.bits,
                "widths": "-".join(map(str, spec.model.widths)),
                "batchnorm": spec.model.batchnorm,
                "l1": spec.model.l1,
                "scheme": spec.pruning.scheme,
                "label_noise": spec.data.label_noise,
                "fold": spec.data.fold,
                "seed": spec.seed,
            })  # fmt: skip
    return pd.DataFrame(rows)


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
