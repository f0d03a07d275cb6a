"""The metric columns of a phase row, declared once: what each is, how the book shows it, and who uses it.

:func:`qaplib.runs.evaluate` computes a row with exactly these columns (a test holds it to that); the weight-derived
ones are filled into old records by ``qap results fill-in``; :func:`qaplib.tables.summarise` averages all of them
over folds; :mod:`qaplib.tables` shows them with their header and format; ``qap verify`` compares :data:`VERIFIED`.
Adding a metric is one entry here and its computation in :func:`qaplib.runs.evaluate`.
"""

from __future__ import annotations

from dataclasses import dataclass

from qaplib.generator.settings import CLASS_NAMES


@dataclass(frozen=True)
class MetricColumn:
    """One metric column of a phase row.

    Attributes:
        name: the column's name in records and tables.
        meaning: what it measures, with its unit.
        header, kind: how the book's tables show it (:data:`qaplib.tables.FORMATS`); None: the column name, and a
            plain number.
        from_weights: computed from the weights alone, so a record made before the column existed (or under an older
            definition) is filled in from its stored weights, never retrained.
        versioned: a weight-derived column whose definition has changed (``qaplib.runs.WEIGHT_METRICS_VERSION``).
    """

    name: str
    meaning: str
    header: str | None = None
    kind: str | None = None
    from_weights: bool = False
    versioned: bool = False


PHASE_METRICS: tuple[MetricColumn, ...] = (
    MetricColumn("accuracy", "fraction of test jets whose most probable class is their label", "test accuracy", "accuracy"),
    MetricColumn("macro_auc", "mean over the 5 classes of the one-vs-rest ROC AUC", "macro AUC", "number"),
    MetricColumn("bops", "bit operations of the paper's formula (its nominal sparsity)", "BOPs", "count", from_weights=True),
    MetricColumn("effective_bops", "bit operations of the weights the firmware implements (nonzero after quantization)",
                 "effective BOPs", "count", from_weights=True, versioned=True),
    MetricColumn("neural_efficiency", "geometric mean over hidden layers of activation-pattern entropy / neurons, in [0, 1]",
                 "neural efficiency", "number"),
    MetricColumn("aiq", "(macro AUC^2 x neural efficiency)^(1/3), the paper's aIQ", "aIQ", "number"),
    MetricColumn("sparsity", "fraction of Dense kernel weights exactly zero in the trained model", "weights pruned",
                 "percent"),
    MetricColumn("effective_sparsity", "fraction of Dense kernel weights zero in the firmware (pruned or rounded to 0)",
                 "weights zero in firmware", "percent", from_weights=True, versioned=True),
    *(MetricColumn(f"auc_{c}", f"one-vs-rest ROC AUC of class {c}") for c in CLASS_NAMES),
    *(MetricColumn(f"bkg_eff_{c}", f"background efficiency at 50 % signal efficiency of class {c}") for c in CLASS_NAMES),
)  # fmt: skip
METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in PHASE_METRICS)
#: The weight-derived columns, filled into old records from their weights (``qap results fill-in``).
WEIGHT_METRICS: tuple[str, ...] = tuple(m.name for m in PHASE_METRICS if m.from_weights)
#: The weight-derived columns whose definition has changed; moved by a ``WEIGHT_METRICS_VERSION`` change.
VERSIONED_WEIGHT_METRICS: tuple[str, ...] = tuple(m.name for m in PHASE_METRICS if m.versioned)
#: The cost columns of an HGQ run's row (:mod:`qaplib.hgq_engine`), besides its scores; computed by the engine.
HGQ_COSTS: tuple[MetricColumn, ...] = (
    MetricColumn("ebops", "HGQ's own exact bit-operation count (sum over layers of input bits x weight bits)", "EBOPs",
                 "count"),
    MetricColumn("granular_bops", "bit operations with every weight's and input's own bit width; the effective BOPs for "
                 "a layer-wise model (qaplib.granular_bops)", "granular BOPs", "count"),
    MetricColumn("mean_weight_bits", "mean bit width of the non-zero kernel weights as implemented", "mean weight bits",
                 "number"),
)  # fmt: skip
#: The columns of an HGQ run's row: the scores and sparsities of a QAP row (no paper BOPs, no neural efficiency or
#: aIQ: HGQ is not in the paper's study) and :data:`HGQ_COSTS`.
HGQ_METRIC_NAMES: tuple[str, ...] = (
    *(n for n in METRIC_NAMES if n not in ("bops", "effective_bops", "neural_efficiency", "aiq")),
    *(m.name for m in HGQ_COSTS),
)


def metric_names(engine: str) -> tuple[str, ...]:
    """The metric columns every phase row of a run of ``engine`` carries."""
    return HGQ_METRIC_NAMES if engine == "hgq" else METRIC_NAMES


#: The columns ``qap verify`` compares, in the order of its statistics (its reports are read in this order).
VERIFIED: tuple[str, ...] = ("accuracy", "macro_auc", "neural_efficiency", "bops", "effective_bops")
#: Column -> (header, kind) of the metric columns the book's tables show.
METRIC_DISPLAY: dict[str, tuple[str, str]] = {m.name: (m.header, m.kind) for m in (*PHASE_METRICS, *HGQ_COSTS) if m.header}
