"""Is a stored record what its weights say? Checks that need no training.

A record's checksums say its files are the ones written together; they cannot say the numbers in them came from
its weights, since whoever edits a number can rewrite the checksums too. Two checks close that gap:

* :func:`record_problems`, run on every record the store serves (:meth:`qaplib.store.ResultStore.load`): cheap
  NumPy checks of the record against itself: one row, weight set and curve per phase of its spec, the spec's target
  sparsities, finite metrics in their ranges, each phase's sparsity recounted from its weights, its epochs and best
  validation loss from its curve;
* :func:`deep_check` (``qap verify --deep``): every record's weights re-evaluated on its test set (no training) and
  its weight-derived columns recomputed, compared with what the record says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qaplib.columns import METRIC_NAMES, WEIGHT_METRICS, metric_names

#: Columns that are fractions or probabilities, in [0, 1].
_FRACTIONS = tuple(n for n in METRIC_NAMES if n.startswith(("accuracy", "macro_auc", "auc_", "bkg_eff_", "sparsity",
                                                              "effective_sparsity", "neural_efficiency", "aiq")))  # fmt: skip


def kernel_sparsity(weights: list[np.ndarray]) -> float:
    """Fraction of Dense kernel weights exactly zero (kernels: the 2-D arrays of ``build_model`` order), computed as
    :func:`qaplib.pruning.measured_sparsity` computes it from a model."""
    kernels = [w for w in weights if np.ndim(w) == 2]
    total = sum(k.size for k in kernels)
    return float(sum(int((k == 0).sum()) for k in kernels) / total)


def record_problems(result) -> list[str]:
    """What in a :class:`qaplib.runs.RunResult` contradicts itself (empty if nothing): see the module docstring.
    Weight-derived columns that are missing are not a problem here (``qap results fill-in`` adds them)."""
    spec, problems = result.spec, []
    n = len(spec.pruning.sparsities)
    if not len(result.phases) == len(result.weights) == len(result.curves) == n:
        return [f"it has {len(result.phases)} phase rows, {len(result.weights)} weight sets and {len(result.curves)} "
                f"learning curves, but its spec has {n} phases"]  # fmt: skip
    for index, (row, weights, curve) in enumerate(zip(result.phases, result.weights, result.curves, strict=True)):
        where = f"phase {index}"
        target = spec.pruning.sparsities[index]
        if row.get("phase") != index or row.get("target_sparsity") != target:
            problems.append(f"{where}: its row says phase {row.get('phase')!r}, target sparsity "
                            f"{row.get('target_sparsity')!r}; the spec says {index}, {target!r}")  # fmt: skip
        for name in metric_names(spec.train.engine):
            if name not in row:
                if name not in WEIGHT_METRICS:
                    problems.append(f"{where}: the column {name} is missing")
                continue
            value = row[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                problems.append(f"{where}: {name} is {value!r}, not a finite number")
            elif name in _FRACTIONS and not 0 <= value <= 1:
                problems.append(f"{where}: {name} is {value!r}, outside [0, 1]")
        if spec.train.engine != "hgq" and row.get("sparsity") != kernel_sparsity(weights):  # HGQ's zeros: zero bits
            problems.append(f"{where}: its sparsity {row.get('sparsity')!r} is not its weights' ({kernel_sparsity(weights)!r})")
        losses = curve.get("val_loss") or []
        if row.get("epochs") != len(losses) or not losses or row.get("best_val_loss") != min(losses):
            problems.append(f"{where}: its epochs {row.get('epochs')!r} and best validation loss "
                            f"{row.get('best_val_loss')!r} are not its learning curve's")  # fmt: skip
    return problems


#: How far a re-evaluation may differ from the record: float32 scores on another CPU kind can move a jet across a
#: decision boundary, so accuracy may differ by up to 2 test jets; the AUCs and the efficiency by round-off.
ACCURACY_JETS = 2
SCORE_TOLERANCE = 1e-5


@dataclass(frozen=True)
class DeepCheck:
    """One record re-evaluated: its key, phases checked, and what disagreed (empty: the record is its weights')."""

    key: str
    phases: int
    problems: tuple[str, ...]


def deep_check(store, keys: list[str], progress: bool = True) -> list[DeepCheck]:
    """Re-evaluate every phase of each record of ``keys`` in ``store`` from its stored weights (no training): the
    weight-derived columns recomputed exactly, accuracy within :data:`ACCURACY_JETS` test jets, macro AUC and
    neural efficiency within :data:`SCORE_TOLERANCE`. Records are grouped by dataset, so each is loaded once."""
    from tqdm import tqdm

    from qaplib.models import build_model
    from qaplib.runs import cached_jets, configure_tensorflow, evaluate

    configure_tensorflow()  # one thread, as the training workers evaluated: the same float32 sums, the same scores
    loaded = []
    for key in keys:
        try:
            loaded.append((key, store.load(key)))
        except KeyError as exc:  # refused by the store itself (checksums, record_problems, stale columns)
            loaded.append((key, exc))
    checks, models = {}, {}
    for key, result in loaded:
        if isinstance(result, Exception):
            checks[key] = DeepCheck(key, 0, (str(result).strip("'\""),))
    order = sorted((item for item in loaded if not isinstance(item[1], Exception)), key=lambda item: repr(item[1].spec.data))
    for key, result in tqdm(order, desc="re-evaluating", unit="record", disable=None if progress else True):
        jets = cached_jets(result.spec.data)
        if result.spec.model not in models:
            models[result.spec.model] = build_model(result.spec.model)
        model, problems = models[result.spec.model], []
        tolerance = {"accuracy": ACCURACY_JETS / len(jets.y_test), "macro_auc": SCORE_TOLERANCE,
                     "neural_efficiency": SCORE_TOLERANCE}  # fmt: skip
        for index, (row, weights) in enumerate(zip(result.phases, result.weights, strict=True)):
            model.set_weights(weights)
            again = evaluate(model, jets)
            for name in WEIGHT_METRICS:
                if again[name] != row.get(name):
                    problems.append(f"phase {index}: {name} {row.get(name)!r} in the record, {again[name]!r} from its weights")
            for name, allowed in tolerance.items():
                if not abs(again[name] - row[name]) <= allowed:
                    problems.append(f"phase {index}: {name} {row[name]!r} in the record, {again[name]!r} from its weights")
        checks[key] = DeepCheck(key, len(result.phases), tuple(problems))
    return [checks[key] for key in keys]
