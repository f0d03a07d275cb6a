"""Whole runs, batched: :func:`execute_runs_batched` is ``qaplib.reference.execute_run`` for many specs at once.

Each spec goes through the same phases as in ``execute_run`` (same initial weights, the same global
magnitude masks computed from its own weights, FT continues / LT rewinds, the same metrics from
``qaplib.runs.evaluate``), but the training of phase k of every spec in a group happens in one
:func:`qaplib.engine.train_phase_batched` call. Specs are grouped by what a batch must share: widths,
batch normalisation and batch size. What differs from ``execute_run``: the shuffling of the training
batches (NumPy per member instead of ``tf.data``), and float round-off (XLA instead of TensorFlow kernels);
both change a trained model the way a different shuffling seed would, not in distribution.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qaplib.data import DataSpec, JetData
from qaplib.engine.checkpoints import load_checkpoint, save_checkpoint
from qaplib.engine.graph import Architecture
from qaplib.engine.phase import DEFAULT_CHUNK_SIZE, Member, TrainedMember, default_threads, train_phase_batched
from qaplib.errors import InvalidSpecError, TrainingDivergedError
from qaplib.models import ModelSpec, build_model
from qaplib.pruning import kernel_masks_for_sparsity
from qaplib.runs import RunResult, RunSpec, cached_jets, configure_tensorflow, phase_row, phase_start_weights, run_key, run_meta
from qaplib.train import divergence_reason, set_determinism


def batch_group(spec: RunSpec) -> tuple:
    """What runs trained in one batch must share: (widths, batchnorm, batch_size)."""
    return (spec.model.widths, spec.model.batchnorm, spec.train.batch_size)


def initial_weights(spec: RunSpec) -> list[np.ndarray]:
    """The weights ``execute_run`` starts ``spec`` from: ``build_model`` right after ``set_determinism(seed)``."""
    set_determinism(spec.seed)
    return build_model(spec.model).get_weights()


def kernels_of(arch: Architecture, weights: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Dense layer name -> kernel, input to output (the order ``qaplib.pruning.dense_kernels`` uses)."""
    return {layer: w for (layer, role), w in zip(arch.weight_names, weights, strict=True) if role == "kernel"}


@dataclass
class _RunState:
    """One run between phases: its initial and current weights, masks, and what its phases produced."""

    spec: RunSpec
    key: str
    jets: JetData
    initial: list[np.ndarray]
    current: list[np.ndarray]
    masks: dict[str, np.ndarray]
    phases: list[dict]
    weights: list[list[np.ndarray]]
    curves: list[dict[str, list[float]]]
    seconds: float = 0.0
    batch_members: int = 0
    failure: str | None = None


def execute_runs_batched(
    specs: Sequence[RunSpec],
    keys: Sequence[str] | None = None,
    jets: dict[DataSpec, JetData] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    threads: int | None = None,
    checkpoints: Path | None = None,
) -> list[RunResult]:
    """Train and evaluate every phase of every spec, batching specs that share an architecture.

    Returns one :class:`qaplib.runs.RunResult` per spec, in order, with the same phases, weights,
    curves and metrics fields as ``execute_run``. A row's ``seconds`` is the run's share of its batched
    phase (wall time / members in the batch) plus its own evaluation; ``meta['engine']`` records the batch
    size and ``chunk_size``. A run's result depends on its spec and ``chunk_size`` only, not on the other
    specs it was batched with. A run whose loss becomes NaN or infinite stops there; then, once the others are
    trained, :class:`qaplib.errors.TrainingDivergedError` names it with the reason and carries their results.

    Args:
        specs: distinct run specs with ``train.engine == "batched"`` (any mix; grouped by :func:`batch_group`).
        keys: result keys (default :func:`qaplib.runs.run_key`).
        jets: already loaded data per DataSpec (missing ones are loaded once each).
        chunk_size, threads: see :func:`qaplib.engine.train_phase_batched`.
        checkpoints: a folder for phase checkpoints (:mod:`qaplib.engine.checkpoints`): each run's state is
            written there after every phase, and a run whose checkpoint is there resumes after its last
            finished phase, bit-identical to an uninterrupted run. None: no checkpoints.
    """
    reference = [s for s in specs if s.train.engine != "batched"]
    if reference:
        raise InvalidSpecError(
            f"{len(reference)} spec(s) ask for train.engine={reference[0].train.engine!r}; the batched engine trains "
            "only specs with train.engine='batched' (their results are stored under their own keys)"
        )
    configure_tensorflow()
    keys = list(keys) if keys is not None else [run_key(s) for s in specs]
    if len(keys) != len(specs):
        raise InvalidSpecError(f"got {len(specs)} specs but {len(keys)} keys")
    if len(set(keys)) != len(keys):
        raise InvalidSpecError("specs must be distinct (two have the same key)")
    loaded = dict(jets or {})
    for spec in specs:
        if spec.data not in loaded:
            loaded[spec.data] = cached_jets(spec.data)
    states = []
    for spec, key in zip(specs, keys, strict=True):
        start = initial_weights(spec)
        state = _RunState(spec, key, loaded[spec.data], start, [w.copy() for w in start], {}, [], [], [])
        restored = load_checkpoint(checkpoints, key, chunk_size) if checkpoints is not None else None
        if restored is not None:
            state.current, state.masks, state.weights = restored["current"], restored["masks"], restored["weights"]
            state.phases, state.curves = restored["phases"], restored["curves"]
            state.seconds, state.batch_members = restored["seconds"], restored["batch_members"]
        states.append(state)
    groups: dict[tuple, list[_RunState]] = {}
    for state in states:
        groups.setdefault(batch_group(state.spec), []).append(state)
    models: dict[ModelSpec, object] = {}
    for group in groups.values():
        _train_group(group, models, chunk_size, threads or default_threads(), checkpoints)
    results = [_result(state, chunk_size) for state in states if state.failure is None]
    failures = {state.key: state.failure for state in states if state.failure is not None}
    if failures:
        raise TrainingDivergedError(failures, results)
    return results


def _train_group(group: list[_RunState], models: dict, chunk_size: int, threads: int, checkpoints: Path | None) -> None:
    """All phases of a group of runs that share an architecture and batch size (those not finished already)."""
    arch = Architecture.of(group[0].spec.model)
    for phase in range(max(len(s.spec.pruning.sparsities) for s in group)):
        present = [s for s in group if phase < len(s.spec.pruning.sparsities) and len(s.phases) == phase and s.failure is None]
        if not present:
            continue
        members = [_phase_member(arch, state, phase) for state in present]
        start = time.perf_counter()
        trained = train_phase_batched(members, chunk_size=chunk_size, threads=threads)
        share = (time.perf_counter() - start) / len(present)
        epochs = [result.epochs for result in trained]
        print(f"batch of {len(present)} runs ({arch.widths}): phase {phase} trained in {share * len(present):.0f} s, "
              f"{min(epochs)}-{max(epochs)} epochs", file=sys.stderr, flush=True)  # a line per phase, not hours of silence
        for state, result in zip(present, trained, strict=True):
            if result.diverged is not None:  # recorded as failed with the reason; never scored
                state.failure = divergence_reason(state.key, phase, state.spec.train, result.diverged)
                print(state.failure, file=sys.stderr, flush=True)
                continue
            _record_phase(state, phase, result, share, models, len(present))
            if checkpoints is not None:
                save_checkpoint(checkpoints, state.key, chunk_size, {
                    "current": state.current, "masks": state.masks, "weights": state.weights, "phases": state.phases,
                    "curves": state.curves, "seconds": state.seconds, "batch_members": state.batch_members,
                })  # fmt: skip


def _phase_member(arch: Architecture, state: _RunState, phase: int) -> Member:
    """Phase ``phase`` of a run as ``execute_run`` sets it up: new masks, then FT/LT start weights."""
    sparsity = state.spec.pruning.sparsities[phase]
    if not state.masks:
        state.masks = {layer: np.ones_like(k, dtype=np.float32) for layer, k in kernels_of(arch, state.current).items()}
    state.masks = kernel_masks_for_sparsity(kernels_of(arch, state.current), state.masks, sparsity)
    start = phase_start_weights(state.spec.pruning.scheme, phase, state.initial, state.current)
    return Member(
        spec=state.spec.model,
        weights=start,
        masks=state.masks,
        jets=state.jets,
        settings=state.spec.train,
        seed=state.spec.seed * 1000 + phase,
    )


def _record_phase(state: _RunState, phase: int, result: TrainedMember, share: float, models: dict, batch: int) -> None:
    """Evaluate the trained member as an ordinary Keras model and append its phase row."""
    start = time.perf_counter()
    if state.spec.model not in models:  # one Keras model per distinct ModelSpec, reused for evaluation
        models[state.spec.model] = build_model(state.spec.model)
    model = models[state.spec.model]
    model.set_weights(result.weights)
    row = phase_row(state.spec, phase, model, state.jets, result.epochs, result.history, start - share)
    seconds = row["seconds"]
    state.phases.append(row)
    state.weights.append(model.get_weights())
    state.curves.append(result.history)
    state.current = [w.copy() for w in result.weights]
    state.seconds += seconds
    state.batch_members = max(state.batch_members, batch)


def _result(state: _RunState, chunk_size: int) -> RunResult:
    meta = run_meta(state.spec, state.key, state.jets, "qaplib.engine.execute_runs_batched", state.seconds,
                    engine={"batch_members": state.batch_members, "chunk_size": chunk_size})  # fmt: skip
    return RunResult(spec=state.spec, key=state.key, phases=state.phases, weights=state.weights, curves=state.curves, meta=meta)
