"""The content-addressed result store: atomic writes, round trip, corruption detection."""

from __future__ import annotations

import os

import numpy as np
import pytest

from qaplib.runs import RunResult, RunSpec
from qaplib.store import ResultStore


def fake_result(key="ab" + "0" * 22):
    weights = [[np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(3, np.float32)] for _ in range(2)]
    phases = [{"phase": 0, "accuracy": 0.5}, {"phase": 1, "accuracy": 0.6}]
    return RunResult(RunSpec(), key, phases, weights, [{"loss": [1.0]}, {"loss": [0.9]}], {"seconds": 1.0})


def test_save_and_load_round_trip(tmp_path):
    store = ResultStore(tmp_path)
    result = fake_result()
    path = store.save(result)
    assert path == tmp_path / "ab" / result.key and store.is_complete(result.key)
    loaded = store.load(result.key)
    assert loaded.spec == result.spec and loaded.phases == result.phases and loaded.curves == result.curves
    pairs = [(a, b) for p, q in zip(loaded.weights, result.weights, strict=True) for a, b in zip(p, q, strict=True)]
    assert all(np.array_equal(a, b) for a, b in pairs)
    assert not list(tmp_path.glob("*/.tmp-*"))


@pytest.mark.parametrize("victim", ["phases.json", "weights.npz", "record.json"])
def test_a_corrupt_or_partial_record_is_not_complete(tmp_path, victim):
    store = ResultStore(tmp_path)
    result = fake_result()
    store.save(result)
    (store.path(result.key) / victim).write_text("{}")
    assert not store.is_complete(result.key)
    with pytest.raises(KeyError):
        store.load(result.key)
    store.save(result)  # rewriting repairs it
    assert store.is_complete(result.key)


def test_missing_file_is_not_complete(tmp_path):
    store = ResultStore(tmp_path)
    result = fake_result()
    store.save(result)
    os.remove(store.path(result.key) / "curves.json")
    assert not store.is_complete(result.key)


def test_failures_are_recorded_and_cleared_by_success(tmp_path):
    store = ResultStore(tmp_path)
    result = fake_result()
    store.mark_failed(result.key, result.spec, "boom")
    assert store.failure(result.key) == "boom"
    store.save(result)
    assert store.failure(result.key) is None


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    import socket

    store = ResultStore(tmp_path)
    dead = tmp_path / "ab" / f".tmp-ab00-{socket.gethostname()}-999999999"
    alive = tmp_path / "ab" / f".tmp-ab01-{socket.gethostname()}-{os.getpid()}"
    dead.mkdir(parents=True)
    alive.mkdir()
    assert store.remove_stale_temporaries() == 1
    assert not dead.exists() and alive.exists()


def test_default_store_reads_the_committed_results_and_writes_only_to_scratch(tmp_path, monkeypatch):
    """A rerun never writes into the committed store; only QAP_RESULTS_DIR (the publish step) does."""
    from qaplib import store as store_module

    committed, scratch = tmp_path / "results", tmp_path / "out" / "results"
    monkeypatch.setattr(store_module, "COMMITTED_ROOT", committed)
    monkeypatch.setattr(store_module, "SCRATCH_ROOT", scratch)
    monkeypatch.delenv("QAP_RESULTS_DIR")
    old, new = fake_result("ab" + "1" * 22), fake_result("cd" + "2" * 22)
    ResultStore(committed).save(old)
    default = ResultStore()
    assert default.is_complete(old.key) and default.load(old.key).phases == old.phases
    assert default.path(old.key) == committed / "ab" / old.key
    assert default.save(old) == committed / "ab" / old.key  # already there: not copied
    assert default.save(new) == scratch / "cd" / new.key
    assert not (committed / "cd").exists()
    monkeypatch.setenv("QAP_RESULTS_DIR", str(committed))
    published = ResultStore()
    assert published.root == committed and published.read_only == ()
    assert published.save(new) == committed / "cd" / new.key
