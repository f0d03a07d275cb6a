"""The reference engine: each run trained alone with Keras ``model.fit``, the paper's way (:mod:`qaplib.train`).

It registers as ``train.engine = "reference"`` in :mod:`qaplib.engines`; the batched engine
(:mod:`qaplib.engine`) is checked against it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from qaplib.data import DataSpec, JetData
from qaplib.errors import InvalidSpecError, TrainingDivergedError
from qaplib.models import build_model
from qaplib.pruning import apply_masks, dense_kernels, full_masks, kernel_masks_for_sparsity, mask_callback
from qaplib.runs import RunResult, RunSpec, cached_jets, configure_tensorflow, phase_row, phase_start_weights, run_key, run_meta
from qaplib.train import divergence_reason, fit, non_finite_loss, set_determinism


def execute_run(spec: RunSpec, key: str | None = None, jets: JetData | None = None) -> RunResult:
    """Train and evaluate every phase of ``spec`` with Keras ``fit`` (see :mod:`qaplib.runs`). Deterministic in ``spec``."""
    import tensorflow as tf

    if spec.train.engine != "reference":
        raise InvalidSpecError(f"execute_run trains train.engine='reference' specs, got {spec.train.engine!r}; "
                               "use qaplib.engines.train for any engine")  # fmt: skip
    key = key or run_key(spec)
    configure_tensorflow()
    jets = jets if jets is not None else cached_jets(spec.data)
    tf.keras.backend.clear_session()  # a worker runs many specs: keep its graph from growing
    set_determinism(spec.seed)
    model = build_model(spec.model)
    initial_weights = model.get_weights()
    masks = full_masks(model)
    phases, weights, curves = [], [], []
    start_run = time.perf_counter()
    for phase, sparsity in enumerate(spec.pruning.sparsities):
        start = time.perf_counter()
        masks = kernel_masks_for_sparsity(dense_kernels(model), masks, sparsity)
        model.set_weights(phase_start_weights(spec.pruning.scheme, phase, initial_weights, model.get_weights()))
        apply_masks(model, masks)
        fitted = fit(model, jets.x_train, jets.y_train, jets.x_val, jets.y_val, spec.train,
                     seed=spec.seed * 1000 + phase, callbacks=[mask_callback(masks)])  # fmt: skip
        problem = non_finite_loss(fitted.history)
        if problem:
            raise TrainingDivergedError({key: divergence_reason(key, phase, spec.train, problem)})
        phases.append(phase_row(spec, phase, model, jets, fitted.epochs, fitted.history, start))
        weights.append(model.get_weights())
        curves.append(fitted.history)
    meta = run_meta(spec, key, jets, "qaplib.reference.execute_run", time.perf_counter() - start_run)
    return RunResult(spec=spec, key=key, phases=phases, weights=weights, curves=curves, meta=meta)


def train(specs: Sequence[RunSpec], keys: Sequence[str] | None = None,
          jets: dict[DataSpec, JetData] | None = None, checkpoints=None) -> list[RunResult]:
    """The engine protocol of :mod:`qaplib.engines`: each spec trained alone, in order (one run per job,
    so ``checkpoints`` is not used: a stopped job loses one run at most). Runs whose loss diverged are named,
    with the others' results, in one :class:`qaplib.errors.TrainingDivergedError` at the end."""
    keys = list(keys) if keys is not None else [run_key(s) for s in specs]
    results, failures = [], {}
    for spec, key in zip(specs, keys, strict=True):
        try:
            results.append(execute_run(spec, key, (jets or {}).get(spec.data)))
        except TrainingDivergedError as exc:
            failures.update(exc.failures)
    if failures:
        raise TrainingDivergedError(failures, results)
    return results
