"""A run's life from spec to result: the one phase loop every engine shares.

:func:`train_runs` takes run specs (:class:`qaplib.runs.RunSpec`) of any engine and returns one
:class:`qaplib.runs.RunResult` each. For every run it

1. builds the initial weights (``build_model`` right after ``set_determinism(seed)``);
2. for phase k: prunes the Dense kernels globally to ``sparsities[k]`` by magnitude (:mod:`qaplib.pruning`),
   takes the phase's start weights (FT continues, LT rewinds: :func:`qaplib.runs.phase_start_weights`) and
   hands the phase to the run's engine as a :class:`Member`;
3. scores each trained phase (:func:`qaplib.runs.phase_row`) and, with ``checkpoints``, writes the run's state
   (:mod:`qaplib.checkpoints`), so that a stopped job resumes after its last finished phase;
4. assembles the result's metadata (:func:`qaplib.runs.run_meta`).

An engine that owns its whole run (``Engine.whole_run``: HGQ, :mod:`qaplib.hgq_engine`) gets the run's spec, key
and data instead and returns its result; everything above is then its own.

The other engines (:mod:`qaplib.engines`) only train the members of one phase. Runs are grouped by what an engine's
batch must share (:meth:`qaplib.engines.Engine.group`); a reference run is a group of its own. A run's result
depends on its spec (and, for the batched engine, ``chunk_size``), not on the runs it was trained beside.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qaplib.checkpoints import load_checkpoint, save_checkpoint
from qaplib.data import DataSpec, JetData
from qaplib.engines import ENGINES, Engine
from qaplib.errors import InvalidSpecError, TrainingDivergedError
from qaplib.models import ModelSpec, build_model
from qaplib.pruning import dense_kernels, kernel_masks_for_sparsity
from qaplib.runs import RunResult, RunSpec, cached_jets, configure_tensorflow, phase_row, phase_start_weights, run_key, run_meta
from qaplib.train import TrainSettings, divergence_reason, set_determinism

#: Members per XLA call of the batched engine (see :mod:`qaplib.engine.phase`).
DEFAULT_CHUNK_SIZE = 2


@dataclass(frozen=True, eq=False)
class Member:
    """One model of a training phase: what ``qaplib.train.fit(model, ...)`` would receive for it.

    Attributes:
        spec: the model; all members of a batched phase share ``widths`` and ``batchnorm``.
        weights: start weights in ``build_model(spec).get_weights()`` order.
        masks: Dense layer name -> (n_in, n_out) {0, 1} mask (``qaplib.pruning`` masks), applied at the start.
        jets: the member's data; ``x_train``/``y_train`` train it, ``x_val``/``y_val`` decide early stopping.
        settings: learning rate, max_epochs and patience per member; ``batch_size`` shared by all members.
        seed: seeds this member's shuffling of the training batches.
    """

    spec: ModelSpec
    weights: list[np.ndarray]
    masks: dict[str, np.ndarray]
    jets: JetData
    settings: TrainSettings = field(default_factory=TrainSettings)
    seed: int = 0


@dataclass(frozen=True, eq=False)
class TrainedMember:
    """A member after its phase: best-validation weights (``build_model`` order) and Keras-style history.

    ``history`` has ``loss``, ``accuracy``, ``val_loss`` and ``val_accuracy`` per epoch, like
    ``qaplib.train.FitResult.history``; ``epochs`` is the number of epochs run. ``diverged``: where its loss
    became NaN or infinite (:func:`qaplib.train.non_finite_loss`), which stopped it there; None if it did not.
    """

    weights: list[np.ndarray]
    history: dict[str, list[float]]
    epochs: int
    diverged: str | None = None


def initial_weights(spec: RunSpec) -> list[np.ndarray]:
    """The weights run ``spec`` starts from: ``build_model`` right after ``set_determinism(seed)``."""
    set_determinism(spec.seed)
    return build_model(spec.model).get_weights()


@dataclass
class _RunState:
    """One run between phases: its initial and current weights, masks, and what its phases produced."""

    spec: RunSpec
    key: str
    engine: Engine
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

    def checkpoint(self) -> dict:
        return {"current": self.current, "masks": self.masks, "weights": self.weights, "phases": self.phases,
                "curves": self.curves, "seconds": self.seconds, "batch_members": self.batch_members}  # fmt: skip

    def restore(self, saved: dict) -> None:
        self.current, self.masks, self.weights = saved["current"], saved["masks"], saved["weights"]
        self.phases, self.curves = saved["phases"], saved["curves"]
        self.seconds, self.batch_members = saved["seconds"], saved["batch_members"]


def checkpoint_tag(engine: Engine, chunk_size: int) -> int:
    """What a checkpoint must have been written with to be resumed: the chunk size of a batched run (its float
    round-off depends on it), 0 for an engine that trains each run alone."""
    return chunk_size if engine.batched else 0


def train_runs(
    specs: Sequence[RunSpec],
    keys: Sequence[str] | None = None,
    jets: dict[DataSpec, JetData] | None = None,
    checkpoints: Path | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    threads: int | None = None,
) -> list[RunResult]:
    """Train and score every phase of every spec, each with its own engine; one result per spec, in order.

    A row's ``seconds`` is the run's share of its phase's training (wall time / members trained together) plus
    its own evaluation. A run whose loss becomes NaN or infinite stops there; once the others are trained,
    :class:`qaplib.errors.TrainingDivergedError` names it with the reason and carries their results.

    Args:
        specs: distinct run specs, of any engines.
        keys: result keys (default :func:`qaplib.runs.run_key`).
        jets: already loaded data per DataSpec (missing ones are loaded once each).
        chunk_size, threads: the batched engine's members per compiled call and concurrent calls
            (:func:`qaplib.engine.train_phase_batched`).
        checkpoints: a folder for phase checkpoints (:mod:`qaplib.checkpoints`): each run's state is written
            there after every phase, and a run whose checkpoint is there resumes after its last finished phase,
            bit-identical to an uninterrupted run. None: no checkpoints.
    """
    configure_tensorflow()
    keys = list(keys) if keys is not None else [run_key(s) for s in specs]
    if len(keys) != len(specs):
        raise InvalidSpecError(f"got {len(specs)} specs but {len(keys)} keys")
    if len(set(keys)) != len(keys):
        raise InvalidSpecError("specs must be distinct (two have the same key)")
    loaded = dict(jets or {})
    states = []
    whole: dict[str, RunResult] = {}  # runs of engines that train a whole run themselves
    failures: dict[str, str] = {}
    for spec, key in zip(specs, keys, strict=True):
        if spec.data not in loaded:
            loaded[spec.data] = cached_jets(spec.data)
        engine = ENGINES[spec.train.engine]
        if engine.whole_run:
            result, failure = engine.train_phase()(spec, key, loaded[spec.data])
            if failure is not None:
                print(failure, file=sys.stderr, flush=True)
                failures[key] = failure
            else:
                whole[key] = result
            continue
        start = initial_weights(spec)
        state = _RunState(spec, key, engine, loaded[spec.data], start, [w.copy() for w in start], {}, [], [], [])
        if checkpoints is not None:
            saved = load_checkpoint(checkpoints, key, checkpoint_tag(engine, chunk_size))
            if saved is not None:
                state.restore(saved)
        states.append(state)
    groups: dict[tuple, list[_RunState]] = {}
    for state in states:
        group = state.engine.group(state.spec)
        groups.setdefault((state.engine.name, group if group is not None else state.key), []).append(state)
    models: dict[ModelSpec, object] = {}  # one Keras model per distinct ModelSpec, for masks and scoring
    for group in groups.values():
        _train_group(group, models, chunk_size, threads, checkpoints)
    phased = {state.key: _result(state, chunk_size) for state in states if state.failure is None}
    results = [whole[key] if key in whole else phased[key] for key in keys if key in whole or key in phased]
    failures.update({state.key: state.failure for state in states if state.failure is not None})
    if failures:
        raise TrainingDivergedError(failures, results)
    return results


def _model(models: dict, spec: ModelSpec):
    if spec not in models:
        models[spec] = build_model(spec)
    return models[spec]


def _train_group(group: list[_RunState], models: dict, chunk_size: int, threads: int | None, checkpoints: Path | None) -> None:
    """All phases of a group of runs trained together (those not finished already)."""
    engine = group[0].engine
    train_phase = engine.train_phase()
    for phase in range(max(len(s.spec.pruning.sparsities) for s in group)):
        present = [s for s in group if phase < len(s.spec.pruning.sparsities) and len(s.phases) == phase and s.failure is None]
        if not present:
            continue
        members = [_phase_member(state, phase, models) for state in present]
        start = time.perf_counter()
        trained = train_phase(members, chunk_size=chunk_size, threads=threads)
        share = (time.perf_counter() - start) / len(present)
        if engine.batched:  # a line per phase, not hours of silence
            epochs = [result.epochs for result in trained]
            widths = present[0].spec.model.widths
            print(f"batch of {len(present)} runs ({widths}): phase {phase} trained in {share * len(present):.0f} s, "
                  f"{min(epochs)}-{max(epochs)} epochs", file=sys.stderr, flush=True)  # fmt: skip
        for state, result in zip(present, trained, strict=True):
            if result.diverged is not None:  # recorded as failed with the reason; never scored
                state.failure = divergence_reason(state.key, phase, state.spec.train, result.diverged)
                print(state.failure, file=sys.stderr, flush=True)
                continue
            _record_phase(state, phase, result, share, models, len(present))
            if checkpoints is not None:
                save_checkpoint(checkpoints, state.key, checkpoint_tag(engine, chunk_size), state.checkpoint())


def _phase_member(state: _RunState, phase: int, models: dict) -> Member:
    """Phase ``phase`` of a run: new masks from its current kernels, then the FT/LT start weights."""
    model = _model(models, state.spec.model)
    model.set_weights(state.current)
    kernels = dense_kernels(model)
    if not state.masks:
        state.masks = {layer: np.ones_like(k, dtype=np.float32) for layer, k in kernels.items()}
    state.masks = kernel_masks_for_sparsity(kernels, state.masks, state.spec.pruning.sparsities[phase])
    start = phase_start_weights(state.spec.pruning.scheme, phase, state.initial, state.current)
    return Member(spec=state.spec.model, weights=start, masks=state.masks, jets=state.jets, settings=state.spec.train,
                  seed=state.spec.seed * 1000 + phase)  # fmt: skip


def _record_phase(state: _RunState, phase: int, result: TrainedMember, share: float, models: dict, together: int) -> None:
    """Score the trained member as an ordinary Keras model and append its phase row."""
    start = time.perf_counter()
    model = _model(models, state.spec.model)
    model.set_weights(result.weights)
    row = phase_row(state.spec, phase, model, state.jets, result.epochs, result.history, start - share)
    state.phases.append(row)
    state.weights.append(model.get_weights())
    state.curves.append(result.history)
    state.current = [w.copy() for w in result.weights]
    state.seconds += row["seconds"]
    state.batch_members = max(state.batch_members, together)


def _result(state: _RunState, chunk_size: int) -> RunResult:
    extra = {"engine": {"batch_members": state.batch_members, "chunk_size": chunk_size}} if state.engine.batched else {}
    meta = run_meta(state.spec, state.key, state.jets, state.engine.producer, state.seconds, **extra)
    return RunResult(spec=state.spec, key=state.key, phases=state.phases, weights=state.weights, curves=state.curves, meta=meta)
