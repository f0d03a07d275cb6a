"""The content-addressed result store: atomic writes, round trip, corruption detection."""

from __future__ import annotations

import os

import numpy as np
import pytest

from qaplib.models import ModelSpec
from qaplib.runs import PruningSpec, RunResult, RunSpec, run_key
from qaplib.store import ResultStore


def consistent_phases(spec: RunSpec, weights: list, curves: list[dict], accuracies=(0.5, 0.6)) -> list[dict]:
    """Phase rows that agree with the spec, the weights and the curves (:func:`qaplib.audit.record_problems` finds
    nothing); the metrics are made up."""
    from qaplib.audit import kernel_sparsity
    from qaplib.columns import METRIC_NAMES

    phases = []
    for phase, accuracy in enumerate(accuracies):
        row = {name: 0.5 for name in METRIC_NAMES} | {"bops": 10, "effective_bops": 9, "effective_sparsity": 0.1}
        row |= {"phase": phase, "target_sparsity": spec.pruning.sparsities[phase], "accuracy": accuracy,
                "sparsity": kernel_sparsity(weights[phase]), "epochs": len(curves[phase]["val_loss"]),
                "best_val_loss": min(curves[phase]["val_loss"])}
        phases.append(row)
    return phases


def fake_result(seed: int = 0):
    """A consistent result under the real key of its spec (the store checks that the spec hashes to the key): two
    phases, made-up metrics, not trained."""
    spec = RunSpec(pruning=PruningSpec(sparsities=(0.0, 0.5)), seed=seed)
    weights = [[np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(3, np.float32)] for _ in range(2)]
    curves = [{"loss": [1.0], "val_loss": [1.1]}, {"loss": [0.9], "val_loss": [1.0]}]
    meta = {"seconds": 1.0, "weight_metrics_version": 2}
    return RunResult(spec, run_key(spec), consistent_phases(spec, weights, curves), weights, curves, meta)


def test_save_and_load_round_trip(tmp_path):
    store = ResultStore(tmp_path)
    result = fake_result()
    path = store.save(result)
    assert path == tmp_path / result.key[:2] / result.key and store.is_complete(result.key)
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
    old, new = fake_result(1), fake_result(2)
    ResultStore(committed).save(old)
    default = ResultStore()
    assert default.is_complete(old.key) and default.load(old.key).phases == old.phases
    assert default.path(old.key) == committed / old.key[:2] / old.key
    assert default.save(old) == committed / old.key[:2] / old.key  # already there: not copied
    assert default.save(new) == scratch / new.key[:2] / new.key
    assert not (committed / new.key[:2] / new.key).exists()
    monkeypatch.setenv("QAP_RESULTS_DIR", str(committed))
    published = ResultStore()
    assert published.root == committed and published.read_only == ()
    assert published.save(new) == committed / new.key[:2] / new.key


def test_a_record_copied_under_another_key_is_refused(tmp_path):
    import shutil

    store = ResultStore(tmp_path)
    genuine, other = fake_result(1), fake_result(2)
    store.save(genuine)
    target = tmp_path / other.key[:2] / other.key
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(store.path(genuine.key), target)  # checksums all match, but it is another run's record
    assert not store.is_complete(other.key)
    with pytest.raises(KeyError):
        store.load(other.key)
    store.save(other)  # recomputed results replace it
    assert store.is_complete(other.key) and store.load(other.key).spec.seed == 2


def test_an_edited_spec_is_refused_even_with_matching_checksums(tmp_path):
    import hashlib
    import json

    store = ResultStore(tmp_path)
    result = fake_result(1)
    directory = store.save(result)
    spec = json.loads((directory / "spec.json").read_text())
    spec["seed"] = 99
    (directory / "spec.json").write_text(json.dumps(spec))
    record = json.loads((directory / "record.json").read_text())
    record["sha256"]["spec.json"] = hashlib.sha256((directory / "spec.json").read_bytes()).hexdigest()
    (directory / "record.json").write_text(json.dumps(record))
    assert not store.is_complete(result.key)


def test_a_truncated_failure_note_is_reported_not_raised(tmp_path):
    store = ResultStore(tmp_path)
    result = fake_result()
    store.mark_failed(result.key, result.spec, "boom")
    note = tmp_path / "failed" / f"{result.key}.json"
    note.write_text(note.read_text()[:10])
    assert "damaged" in store.failure(result.key) and "delete it to retry" in store.failure(result.key)
    note.write_text(note.read_text().replace("boom", "bang"))  # edited: the seal no longer matches
    assert "damaged" in store.failure(result.key)


@pytest.mark.slow
@pytest.mark.parametrize("old", ["missing columns", "definition 1"])
def test_weight_metrics_of_an_old_record_are_refused_when_read_and_filled_in_from_its_weights(tmp_path, old):
    """A record stored before the effective BOPs existed, or computed under the earlier definition (folded, re-rounded
    weights): load refuses it with the command that fixes it; fill_in computes the columns from the weights, same key."""
    from qaplib import metrics
    from qaplib.models import build_model
    from qaplib.runs import WEIGHT_METRICS_VERSION
    from qaplib.store import StaleRecordError

    spec = RunSpec(model=ModelSpec(bits=6), pruning=PruningSpec(sparsities=(0.0, 0.5)))
    model = build_model(spec.model)
    weights = [model.get_weights(), [w * 0.5 for w in model.get_weights()]]
    curves = [{"val_loss": [1.0]}, {"val_loss": [0.9]}]
    phases = [{k: v for k, v in row.items() if k not in ("effective_bops", "effective_sparsity")} | {"bops": bops}
              for row, bops in zip(consistent_phases(spec, weights, curves), (123, 456), strict=True)]  # fmt: skip
    if old == "definition 1":
        phases = [{**row, "effective_bops": 1, "effective_sparsity": 0.5} for row in phases]
    store = ResultStore(tmp_path)
    store.save(RunResult(spec, run_key(spec), phases, weights, curves, {"seconds": 1.0}))
    directory = store.path(run_key(spec))
    weights_file = (directory / "weights.npz").read_bytes()
    with pytest.raises(StaleRecordError, match="qap results fill-in --store"):
        store.load(run_key(spec))

    assert store.fill_in() == [run_key(spec)]
    assert store.is_complete(run_key(spec)) and store.path(run_key(spec)) == directory
    assert (directory / "weights.npz").read_bytes() == weights_file
    loaded = store.load(run_key(spec))
    model.set_weights(weights[1])
    assert [row["bops"] for row in loaded.phases] == [123, 456]  # the paper's count is kept, never recomputed
    assert loaded.phases[1]["effective_bops"] == metrics.effective_bops(model)
    assert loaded.phases[1]["effective_sparsity"] == metrics.effective_sparsity(model)
    assert loaded.meta["weight_metrics_version"] == WEIGHT_METRICS_VERSION
    note = loaded.meta["filled_in"][0]
    assert note["columns"] == ["effective_bops", "effective_sparsity"] and note["definition"] == WEIGHT_METRICS_VERSION
    assert store.fill_in() == []  # nothing left to fill in
    assert not list(tmp_path.glob("*/.old-*")) and not list(tmp_path.glob("*/.tmp-*"))


@pytest.mark.parametrize("version", ["engine", "data_pipeline", "evaluation"])
def test_bumping_a_code_version_makes_a_stored_run_count_as_missing(tmp_path, monkeypatch, version):
    from qaplib import data, engines, runs

    store = ResultStore(tmp_path)
    result = fake_result()
    store.save(result)
    assert store.is_complete(run_key(result.spec))
    if version == "engine":
        name = result.spec.train.engine
        monkeypatch.setitem(engines.ENGINE_VERSIONS, name, engines.ENGINE_VERSIONS[name] + 1)
    elif version == "data_pipeline":
        monkeypatch.setattr(runs, "PIPELINE_VERSION", data.PIPELINE_VERSION + 1)
    else:
        monkeypatch.setattr(runs, "EVALUATION_VERSION", runs.EVALUATION_VERSION + 1)
    assert runs.code_versions(result.spec)[version] == 2
    assert run_key(result.spec) != result.key
    assert not store.is_complete(run_key(result.spec))  # the new key has no result: it is recomputed
    assert not store.is_complete(result.key)  # and the old record is not served: its spec no longer hashes to it


def test_every_registered_engine_has_a_code_version():
    from qaplib import engines

    assert set(engines.ENGINES) == set(engines.ENGINE_VERSIONS) == set(engines.TRAINING_ENGINES)
    assert all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in engines.ENGINE_VERSIONS.values())
    assert all(engine.name == name for name, engine in engines.ENGINES.items())
    for engine in engines.ENGINES.values():  # every phase trainer can be found
        assert callable(engine.train_phase())


def test_a_platform_is_noted_afterwards_only_in_records_without_one(tmp_path):
    """Records made before records carried their platform get it noted, saying how it is known; nothing else changes."""
    store = ResultStore(tmp_path)
    old, new = fake_result(0), fake_result(1)
    store.save(old)
    store.save(RunResult(new.spec, new.key, new.phases, new.weights, new.curves, {**new.meta, "platform": {"machine": "mine"}}))
    weights_file = (store.path(old.key) / "weights.npz").read_bytes()
    platform = {"machine": "x86_64", "cpu_vendor": "AuthenticAMD"}
    assert store.note_platform(platform, "afterwards") == [old.key]
    loaded = store.load(old.key)
    assert loaded.meta["platform"] == {**platform, "noted": "afterwards"} and loaded.meta["seconds"] == 1.0
    assert loaded.phases == old.phases and (store.path(old.key) / "weights.npz").read_bytes() == weights_file
    assert store.is_complete(old.key) and store.load(new.key).meta["platform"] == {"machine": "mine"}
    assert store.note_platform(platform, "afterwards") == []


@pytest.mark.slow
def test_every_committed_profile_is_complete_on_this_cpu_from_its_records_alone():
    """What CI checks on whatever CPU it has: `qap status` finds every run of the default and paper studies' grids,
    every Bayesian-optimisation search read back whole from its recorded trajectory (no GP is asked), and every extra
    run of each chapter published at that scale (chapter 1's uncapped baseline, chapter 9's HGQ runs)."""
    import subprocess
    import sys

    from qaplib import manifest
    from qaplib.book import published_dir
    from qaplib.profiles import get_profile
    from qaplib.runs import run_key
    from qaplib.store import COMMITTED_ROOT

    store = ResultStore(COMMITTED_ROOT)
    for name in ("default", "paper"):
        profile = get_profile(name)
        result = subprocess.run([sys.executable, "-m", "qaplib.cli", "status", "--profile", name, "--store",
                                 str(COMMITTED_ROOT)], capture_output=True, text=True, timeout=600)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert f"Bayesian optimisation ({name}): done" in result.stdout and "not finished" not in result.stdout, result.stdout
        runs = manifest.book_runs(profile).runs
        stored = sum(store.is_complete(run_key(spec)) for spec in runs)
        assert f"book ({name}): {stored} done, {len(runs) - stored} missing, 0 failed (of {len(runs)})" in result.stdout
        assert all(store.is_complete(run_key(spec)) for spec in manifest.book_sweep(profile).runs), name
        for chapter in manifest.CHAPTERS:
            if chapter.extra_runs is not None and (published_dir(name) / f"{chapter.notebook}.ipynb").exists():
                extras = chapter.extra_runs(profile, chapter.parameter_defaults).runs
                assert all(store.is_complete(run_key(spec)) for spec in extras), (name, chapter.notebook)


def test_two_writers_of_one_key_take_turns_and_the_first_result_is_kept(tmp_path, monkeypatch):
    """Two sweeps sharing a store finish the same run at once. Both find no result; without a lock both write, and the
    second deletes the first's complete record (a reader in between finds nothing) or fails on its rename. With the
    store's per-key lock the second waits, then finds the first's result complete and keeps it."""
    import threading
    import time

    from qaplib import store as store_module

    store = ResultStore(tmp_path)
    result = fake_result()
    writes, errors = [], []
    original = ResultStore._write

    def slow_write(final, written, weights_file=None):  # a wide window between the check and the rename
        writes.append(threading.get_ident())
        time.sleep(0.3)
        original(final, written, weights_file)

    monkeypatch.setattr(store_module.ResultStore, "_write", staticmethod(slow_write))
    start = threading.Barrier(2)

    def writer():
        start.wait()
        try:
            store.save(result)
        except Exception as exc:  # noqa: BLE001 - any failure of the second writer is what this test looks for
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(writes) == 1 and store.is_complete(result.key)
    assert not list(tmp_path.glob("*/.tmp-*"))


def test_a_scratch_record_never_shadows_the_committed_one_of_its_key(tmp_path, capsys):
    """issue 32's audit: a rehashed scratch record (accuracy 0.999) was served in place of the committed one."""
    import json

    from qaplib.files import sha256_of

    committed, scratch = tmp_path / "committed", tmp_path / "scratch"
    result = fake_result()
    ResultStore(committed).save(result)
    ResultStore(scratch).save(result)
    forged = scratch / result.key[:2] / result.key
    phases = json.loads((forged / "phases.json").read_text())
    phases[-1]["accuracy"] = 0.999
    (forged / "phases.json").write_text(json.dumps(phases))
    record = json.loads((forged / "record.json").read_text())
    record["sha256"]["phases.json"] = sha256_of(forged / "phases.json")  # rehashed: complete in its own store
    (forged / "record.json").write_text(json.dumps(record))
    assert ResultStore(scratch).load(result.key).phases[-1]["accuracy"] == 0.999
    both = ResultStore(scratch, read_only=(committed,))
    assert both.load(result.key).phases[-1]["accuracy"] == 0.6 and both.path(result.key).is_relative_to(committed)
    assert f"the record {result.key} in {scratch} differs from the committed one" in capsys.readouterr().err


@pytest.mark.parametrize("plant", ["fifo", "device", "link out"])
def test_a_fifo_device_or_outward_link_in_a_store_is_a_damaged_record_not_a_hang(tmp_path, plant):
    """issue 32's audit: a store file linked to /dev/zero or a FIFO made `qap status` and the firmware cache hang."""
    from qaplib.checkpoints import checkpoint_path, load_checkpoint
    from qaplib.files import read_sealed_json, write_sealed_json

    store = ResultStore(tmp_path / "store")
    result = fake_result()
    store.save(result)
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text("{}")
    victims = [store.path(result.key) / "phases.json", tmp_path / "store" / "firmware" / "k.json",
               checkpoint_path(tmp_path / "checkpoints", "k")]  # fmt: skip
    write_sealed_json(victims[1], {"key": "k"})
    victims[2].parent.mkdir()
    for victim in victims:
        victim.unlink(missing_ok=True)
        if plant == "fifo":
            os.mkfifo(victim)
        else:
            victim.symlink_to("/dev/zero" if plant == "device" else elsewhere)
    assert not store.is_complete(result.key)
    assert read_sealed_json(victims[1], "k") is None
    assert load_checkpoint(tmp_path / "checkpoints", "k", 8) is None
