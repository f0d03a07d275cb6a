"""The training engines: their names, versions and phase trainers, in one registry.

An engine does one thing: train the members of one pruning phase (:class:`qaplib.lifecycle.Member`) and
return them trained (:class:`qaplib.lifecycle.TrainedMember`). Everything else a run goes through (initial
weights, masks, FT/LT start weights, scoring, checkpoints, the result) is the one phase loop of
:mod:`qaplib.lifecycle`, the same for every engine.

* ``"batched"`` (the default): :func:`qaplib.engine.train_phase_batched`, many members of one architecture
  in one compiled XLA step per chunk of members;
* ``"reference"``: :func:`qaplib.reference.train_phase`, one Keras ``model.fit`` per member, the paper's way;
* ``"hgq"``: :func:`qaplib.hgq_engine.train_run`, high-granularity quantization. It owns the whole run (one phase,
  no pruning schedule: :mod:`qaplib.hgq`), so the phase loop does not apply to it.

An engine's version is part of every run key (:func:`qaplib.runs.run_key`): bump it when a change to that
engine changes any trained weight, and every run it trained is recomputed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DEFAULT_ENGINE", "ENGINES", "ENGINE_VERSIONS", "TRAINING_ENGINES", "Engine", "engine_named"]


@dataclass(frozen=True)
class Engine:
    """One training engine.

    Attributes:
        name: the ``TrainSettings.engine`` value that selects it.
        version: part of the key of every run it trains.
        phase_trainer: ``"module:function"`` of ``train_phase(members, chunk_size, threads) -> trained members``
            (imported when first used, so that naming an engine costs no TensorFlow import); or, for an engine
            that owns its whole run, of ``train_run(spec, key, jets) -> (result, None) or (None, why it failed)``.
        producer: recorded as ``meta["producer"]`` of every result it trains.
        batched: True if members of one :meth:`group` share compiled steps; the sweep then gives them one job,
            and the result's meta records the batch (members, chunk size). False: one run per job.
        whole_run: True if ``phase_trainer`` trains a whole run (``train_run``), not the phases of
            :mod:`qaplib.lifecycle`.
    """

    name: str
    version: int
    phase_trainer: str
    producer: str
    batched: bool
    whole_run: bool = False

    def group(self, spec) -> tuple | None:
        """What runs trained together must share: (widths, batchnorm, batch_size); None: one run per job."""
        if not self.batched:
            return None
        return (spec.model.widths, spec.model.batchnorm, spec.train.batch_size)

    def train_phase(self) -> Callable:
        module, function = self.phase_trainer.split(":")
        return getattr(importlib.import_module(module), function)


ENGINES: dict[str, Engine] = {
    "reference": Engine("reference", 1, "qaplib.reference:train_phase", "qaplib.reference.execute_run", False),
    "batched": Engine("batched", 1, "qaplib.engine.phase:train_phase_batched", "qaplib.engine.execute_runs_batched", True),
    "hgq": Engine("hgq", 1, "qaplib.hgq_engine:train_run", "qaplib.hgq_engine.train_run", False, whole_run=True),
}
#: Engine name -> version (part of every run key).
ENGINE_VERSIONS: dict[str, int] = {name: engine.version for name, engine in ENGINES.items()}
TRAINING_ENGINES = tuple(ENGINES)
#: The engine of a spec that does not name one (``qap run``, grids and profiles alike).
DEFAULT_ENGINE = "batched"


def engine_named(name: str) -> Engine:
    return ENGINES[name]
