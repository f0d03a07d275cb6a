"""Batched training engine: many small QAP models trained at once, one compiled XLA loop per chunk of models.

``train_phase_batched`` is the batched ``qaplib.train.fit``: one pruning phase of many members
(:class:`qaplib.lifecycle.Member`). The phase loop around it, shared with the reference engine, is
:func:`qaplib.lifecycle.train_runs`.
"""

from qaplib.engine.phase import train_phase_batched

__all__ = ["train_phase_batched"]
