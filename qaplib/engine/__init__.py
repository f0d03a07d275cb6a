"""Batched training engine: many small QAP models trained at once, one compiled XLA loop per chunk of models.

``train_phase_batched`` is the batched ``qaplib.train.fit`` (one pruning phase of many members);
``execute_runs_batched`` is the batched ``qaplib.reference.execute_run`` (whole RunSpecs, every phase).
"""

from qaplib.engine.phase import Member, TrainedMember, train_phase_batched
from qaplib.engine.runs import batch_group, execute_runs_batched

__all__ = ["Member", "TrainedMember", "batch_group", "execute_runs_batched", "train_phase_batched"]
