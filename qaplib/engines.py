"""The training engines behind one protocol, and the one default.

An engine is ``train(specs, keys, jets) -> list[RunResult]``: it trains every phase of each spec (all
with its ``train.engine``) and returns one :class:`qaplib.runs.RunResult` per spec, in order.
``group(spec)`` says which runs may share a job: runs of a batching engine with equal groups are
trained together; ``None`` means one run per job.

* ``"batched"`` (the default, :data:`qaplib.train.DEFAULT_ENGINE`): :mod:`qaplib.engine`, many runs of
  one architecture in one compiled step;
* ``"reference"``: :mod:`qaplib.reference`, one Keras ``fit`` per run, the paper's way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from qaplib import reference
from qaplib.data import DataSpec, JetData
from qaplib.engine.runs import batch_group, execute_runs_batched
from qaplib.errors import InvalidSpecError
from qaplib.runs import RunResult, RunSpec, run_key
from qaplib.train import DEFAULT_ENGINE

__all__ = ["DEFAULT_ENGINE", "ENGINES", "Engine", "engine_of", "train"]


@dataclass(frozen=True)
class Engine:
    """How an engine trains specs, and which specs it can train together (None: one per job)."""

    train: Callable[..., list[RunResult]]
    group: Callable[[RunSpec], tuple] | None


ENGINES: dict[str, Engine] = {
    "batched": Engine(train=execute_runs_batched, group=batch_group),
    "reference": Engine(train=reference.train, group=None),
}


def engine_of(spec: RunSpec) -> Engine:
    return ENGINES[spec.train.engine]


def train(specs: Sequence[RunSpec], keys: Sequence[str] | None = None,
          jets: dict[DataSpec, JetData] | None = None, checkpoints: Path | None = None) -> list[RunResult]:
    """Train ``specs`` (all of one engine) with their engine; one result per spec, in order.

    ``checkpoints``: a folder for phase checkpoints, so that an interrupted batch resumes after its last
    finished phase (the batched engine; the reference engine trains one run per job and ignores it).
    A run whose loss becomes NaN or infinite stops at once; both engines then raise
    :class:`qaplib.errors.TrainingDivergedError`, naming it with the reason and carrying the other runs' results.
    """
    engines = {spec.train.engine for spec in specs}
    if len(engines) != 1:
        raise InvalidSpecError(f"one call trains the specs of one engine, got {sorted(engines)}")
    keys = list(keys) if keys is not None else [run_key(s) for s in specs]
    return ENGINES[engines.pop()].train(list(specs), keys, jets, checkpoints=checkpoints)
