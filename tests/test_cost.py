"""The measured cost of a sweep (qaplib.cost): phases, epochs and core time from stored runs and checkpoints."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import yaml

from qaplib.checkpoints import save_checkpoint
from qaplib.cost import format_cost, study_cost
from qaplib.runs import RunResult
from qaplib.store import ResultStore
from qaplib.sweep import CHECKPOINT_DIR, SweepSpec, sweep_keys

GRID = {
    "name": "costs",
    "base": {"model": {"widths": [16, 8]}, "pruning": {"sparsities": [0.0, 0.5, 0.8]}, "data": {"max_train_jets": 1500}},
    "grid": {"model.bits": [32, 6], "pruning.scheme": ["ft", "lt"]},
}
ONE = np.ones((2, 2), dtype=np.float32)


def rows(epochs_and_seconds):
    return [{"phase": p, "epochs": e, "seconds": s} for p, (e, s) in enumerate(epochs_and_seconds)]


def checkpoint(store_root, key, phase_rows):
    n = len(phase_rows)
    state = {"current": [ONE], "masks": {"fc1": ONE}, "weights": [[ONE]] * n, "phases": phase_rows,
             "curves": [{}] * n, "seconds": 1.0, "batch_members": 2}  # fmt: skip
    save_checkpoint(store_root / CHECKPOINT_DIR, key, 2, state)


@pytest.fixture
def measured_store(tmp_path):
    """Run 0 stored (3 phases), run 1 with a 2-phase checkpoint, run 2 with a 1-phase one, run 3 not started."""
    sweep = SweepSpec.from_grid(GRID)
    keys = sweep_keys(sweep)
    store = ResultStore(tmp_path / "store")
    store.save(RunResult(sweep.runs[0], keys[0], rows([(10, 100.0), (4, 40.0), (6, 60.0)]), [[ONE]] * 3,
                         [{}] * 3, {}))  # fmt: skip
    checkpoint(store.root, keys[1], rows([(20, 200.0), (8, 80.0)]))
    checkpoint(store.root, keys[2], rows([(30, 300.0)]))
    (store.root / CHECKPOINT_DIR / "garbage.npz").write_bytes(b"not a checkpoint")
    return sweep, store


def test_cost_sums_the_phases_of_stored_runs_and_checkpoints_and_estimates_the_rest(measured_store):
    sweep, store = measured_store
    cost = study_cost(sweep, store)
    assert (cost.planned, cost.finished, cost.stored_runs, cost.runs_under_way) == (12, 6, 1, 2)
    assert [(p.phase, p.epochs, p.seconds) for p in cost.phases] == [
        (0, (10, 20, 30), 600.0), (1, (4, 8), 120.0), (2, (6,), 60.0)]  # fmt: skip
    assert cost.epochs == 78 and cost.seconds == 780.0
    # missing: run 1 phase 2 (60), run 2 phases 1-2 (60 + 60), run 3 phases 0-2 (200 + 60 + 60), at each phase's mean
    assert cost.estimate_seconds == pytest.approx(60 + 120 + 320)
    text = format_cost(cost, workers=2)
    assert "6 of 12 phases, 78 epochs trained, 0.2 core-hours (1 runs stored, 2 under way)" in text
    assert "estimate for the 6 phases still to train: 0.1 core-hours, about 0.1 h on 2 workers" in text


def test_a_phase_index_not_measured_yet_is_estimated_at_the_mean_of_all_measured_phases(tmp_path):
    sweep = SweepSpec.from_grid(GRID)
    store = ResultStore(tmp_path / "store")
    checkpoint(store.root, sweep_keys(sweep)[0], rows([(5, 50.0), (5, 150.0)]))
    cost = study_cost(sweep, store)
    assert cost.estimate_seconds == pytest.approx(100.0 + 3 * (50.0 + 150.0 + 100.0))


def test_nothing_measured_gives_no_estimate(tmp_path):
    cost = study_cost(SweepSpec.from_grid(GRID), ResultStore(tmp_path / "empty"))
    assert cost.phases == () and cost.estimate_seconds is None
    assert "0 of 12 phases" in format_cost(cost, workers=2) and "estimate" not in format_cost(cost, workers=2)


@pytest.mark.slow
def test_status_cost_prints_the_table_and_rejects_a_bad_worker_count(measured_store, tmp_path):
    _, store = measured_store
    grid = tmp_path / "g.yaml"
    grid.write_text(yaml.safe_dump(GRID))
    command = [sys.executable, "-m", "qaplib.cli", "status", str(grid), "--store", str(store.root), "--cost"]
    result = subprocess.run([*command, "--workers", "3"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "costs: 1 done, 3 missing, 0 failed (of 4)" in result.stdout
    assert "phase   runs   epochs min/median/max   core-hours" in result.stdout
    assert "on 3 workers" in result.stdout
    bad = subprocess.run([*command, "--workers", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--workers must be a positive integer" in bad.stderr
