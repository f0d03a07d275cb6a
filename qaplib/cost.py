"""What a sweep has cost so far and what is left: phases trained, epochs actually run, core time.

Read from what the store already holds, without loading any weights: the ``phases.json`` of stored
runs and the headers of the phase checkpoints of runs under way (:mod:`qaplib.checkpoints`).
Every phase row carries ``epochs`` (epochs trained, early stopping included) and ``seconds``: the
run's share of its batched phase (the job's wall time / its runs, one job per core) plus its own
evaluation. Summed over runs, ``seconds`` is therefore core time: on W workers the wall time is about
the sum / W.

The estimate for the phases still to train uses, per phase index, the mean measured time of that
phase over the runs that have it (phases get shorter as fine-tuning stops earlier), and the mean of
all measured phases where a phase index has not been measured yet.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from qaplib.checkpoints import checkpoint_phase_rows
from qaplib.store import ResultStore
from qaplib.sweep import CHECKPOINT_DIR, SweepSpec, sweep_keys


@dataclass(frozen=True)
class PhaseCost:
    """Measured cost of one phase index over the runs that have finished it.

    ``epochs``: epochs trained by each run (early stopping included); ``seconds``: core seconds, summed.
    """

    phase: int
    epochs: tuple[int, ...]
    seconds: float

    @property
    def runs(self) -> int:
        return len(self.epochs)


@dataclass(frozen=True)
class StudyCost:
    """A sweep's cost so far (:attr:`phases`, per phase index) and the phases it still has to train.

    ``planned``: phases of all runs; ``stored_runs``: runs complete in the store; ``runs_under_way``:
    runs with a checkpoint; ``estimate_seconds``: core seconds the missing phases should take (None
    when nothing has been measured yet).
    """

    phases: tuple[PhaseCost, ...]
    planned: int
    stored_runs: int
    runs_under_way: int
    estimate_seconds: float | None

    @property
    def finished(self) -> int:
        return sum(p.runs for p in self.phases)

    @property
    def epochs(self) -> int:
        return sum(sum(p.epochs) for p in self.phases)

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.phases)


def measured_phase_rows(sweep: SweepSpec, store: ResultStore) -> tuple[list[list[dict]], int, int]:
    """Per run of ``sweep`` the phase rows finished so far (stored result, else its most advanced checkpoint),
    and the counts of stored runs and of runs under way."""
    rows, stored, under_way = [], 0, 0
    for key in sweep_keys(sweep):
        phases = store.phase_rows(key)
        if phases is not None:
            stored += 1
        else:
            phases = max((checkpoint_phase_rows(Path(root) / CHECKPOINT_DIR, key) for root in store.roots), key=len)
            under_way += bool(phases)
        rows.append(phases)
    return rows, stored, under_way


def study_cost(sweep: SweepSpec, store: ResultStore) -> StudyCost:
    """Measure ``sweep``'s cost from ``store`` (see the module docstring)."""
    rows, stored, under_way = measured_phase_rows(sweep, store)
    by_phase: dict[int, list[dict]] = {}
    for run_rows in rows:
        for index, row in enumerate(run_rows):
            by_phase.setdefault(index, []).append(row)
    phases = tuple(
        PhaseCost(index, tuple(int(r["epochs"]) for r in measured), float(sum(r["seconds"] for r in measured)))
        for index, measured in sorted(by_phase.items())
    )
    planned = [len(spec.pruning.sparsities) for spec in sweep.runs]
    estimate = None
    if phases:
        overall = statistics.fmean(float(r["seconds"]) for measured in by_phase.values() for r in measured)
        mean_of = {p.phase: p.seconds / p.runs for p in phases}
        estimate = sum(mean_of.get(index, overall) for n, run_rows in zip(planned, rows, strict=True)
                       for index in range(len(run_rows), n))  # fmt: skip
    return StudyCost(phases, sum(planned), stored, under_way, estimate)


def format_cost(cost: StudyCost, workers: int) -> str:
    """The cost as a few lines of text: totals, one line per phase index, and the estimate for the rest."""
    lines = [
        f"compute so far: {cost.finished} of {cost.planned} phases, {cost.epochs:,} epochs trained, "
        f"{cost.seconds / 3600:.1f} core-hours ({cost.stored_runs} runs stored, {cost.runs_under_way} under way)"
    ]
    if cost.phases:
        lines.append("  phase   runs   epochs min/median/max   core-hours")
        for p in cost.phases:
            lines.append(f"  {p.phase:5d} {p.runs:6d}   {min(p.epochs):6d}/{statistics.median(p.epochs):g}/{max(p.epochs)}"
                         f"   {p.seconds / 3600:10.2f}")  # fmt: skip
    left = cost.planned - cost.finished
    if left and cost.estimate_seconds is not None:
        lines.append(f"estimate for the {left} phases still to train: {cost.estimate_seconds / 3600:.1f} core-hours, "
                     f"about {cost.estimate_seconds / 3600 / workers:.1f} h on {workers} workers "
                     "(each phase at its mean measured time)")  # fmt: skip
    return "\n".join(lines)
