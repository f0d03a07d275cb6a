"""Sweeps: only missing runs are computed, locally or on Dask; kill -9 loses nothing finished."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from qaplib.store import ResultStore
from qaplib.sweep import CHECKPOINT_DIR, SweepSpec, run_sweep, sweep_keys, sweep_status

SMOKE_GRID = {
    "name": "smoke",
    "base": {
        "model": {"widths": [16, 8]},
        "pruning": {"sparsities": [0.0, 0.5, 0.8]},
        "train": {"learning_rate": 0.003, "max_epochs": 2, "patience": 2, "batch_size": 256},
        "data": {"max_train_jets": 1500},
    },
    "grid": {"model.bits": [32, 6], "pruning.scheme": ["ft", "lt"]},
}


def phases_by_key(store, keys):
    return {key: store.load(key).phases for key in keys}


def comparable(phases):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in phases]


def test_batched_runs_are_planned_in_architecture_groups_split_over_the_workers():
    from qaplib.sweep import MAX_BATCH_RUNS, plan_jobs

    grid = {**SMOKE_GRID, "grid": {**SMOKE_GRID["grid"], "seed": list(range(10)), "model.batchnorm": [True, False]}}
    batched = SweepSpec.from_grid({**grid, "base": {**grid["base"], "train": {**grid["base"]["train"], "engine": "batched"}}})
    todo = [(spec, f"k{i}") for i, spec in enumerate(batched.runs)]
    jobs = plan_jobs(todo, workers=2)
    assert sorted(k for job in jobs for _, k in job) == sorted(k for _, k in todo)
    assert all(len({s.model.batchnorm for s, _ in job}) == 1 and len(job) <= MAX_BATCH_RUNS for job in jobs)
    assert sorted(len(job) for job in jobs) == [13, 13, 13, 13, 14, 14]  # 2 groups of 40 runs, 3 batches of <= 16 each
    three_alike = [item for item in todo if item[0].model.batchnorm][:3]
    assert [len(job) for job in plan_jobs(three_alike, workers=2)] == [2, 1]
    reference_base = {**SMOKE_GRID["base"], "train": {**SMOKE_GRID["base"]["train"], "engine": "reference"}}
    reference = SweepSpec.from_grid({**SMOKE_GRID, "base": reference_base})
    assert [len(job) for job in plan_jobs([(s, str(i)) for i, s in enumerate(reference.runs)], workers=2)] == [1] * 4


@pytest.mark.slow
def test_a_batched_sweep_stores_each_run_as_if_trained_alone_and_resumes(tmp_path):
    from qaplib.lifecycle import train_runs

    train = {**SMOKE_GRID["base"]["train"], "engine": "batched"}
    base = {**SMOKE_GRID["base"], "model": {"widths": [64, 32, 32]}, "train": train}
    sweep = SweepSpec.from_grid({**SMOKE_GRID, "base": base})
    store = ResultStore(tmp_path)
    first = run_sweep(sweep, store, workers=2, progress=False)
    assert len(first.computed) == 4 and not first.failed
    assert all(store.load(key).meta["engine"]["batch_members"] == 2 for key in first.computed)
    assert not list((tmp_path / CHECKPOINT_DIR).glob("*")), "a stored run's phase checkpoint must be deleted"
    alone = train_runs([sweep.runs[0]])[0]
    assert comparable(store.load(alone.key).phases) == comparable(alone.phases)
    stamps = {k: os.stat(store.path(k) / "record.json").st_mtime_ns for k in first.computed}
    again = run_sweep(sweep, store, workers=2, progress=False)
    assert again.computed == () and stamps == {k: os.stat(store.path(k) / "record.json").st_mtime_ns for k in first.computed}


def test_grid_expands_to_validated_runs():
    sweep = SweepSpec.from_grid(SMOKE_GRID)
    assert len(sweep.runs) == 4
    assert {(r.model.bits, r.pruning.scheme) for r in sweep.runs} == {(32, "ft"), (32, "lt"), (6, "ft"), (6, "lt")}
    assert all(r.pruning.sparsities == (0.0, 0.5, 0.8) for r in sweep.runs)
    assert all(r.train.engine == "batched" for r in sweep.runs)  # sweeps batch unless told otherwise


@pytest.mark.slow
def test_local_and_dask_give_identical_metrics_and_reruns_train_nothing(tmp_path):
    sweep = SweepSpec.from_grid(SMOKE_GRID)
    local, dask = ResultStore(tmp_path / "local"), ResultStore(tmp_path / "dask")
    first = run_sweep(sweep, local, executor="local", workers=2, progress=False)
    assert len(first.computed) == 4 and not first.failed
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = run_sweep(sweep, dask, executor="dask", scheduler=cluster.scheduler_address, progress=False)
    assert len(on_dask.computed) == 4 and not on_dask.failed
    keys = list(first.computed)
    local_phases, dask_phases = phases_by_key(local, keys), phases_by_key(dask, keys)
    assert all(comparable(local_phases[k]) == comparable(dask_phases[k]) for k in keys)
    stamps = {k: os.stat(local.path(k) / "record.json").st_mtime_ns for k in keys}
    again = run_sweep(sweep, local, executor="local", workers=2, progress=False)
    assert again.computed == () and set(again.reused) == set(keys)
    assert stamps == {k: os.stat(local.path(k) / "record.json").st_mtime_ns for k in keys}
    status = sweep_status(sweep, local)
    assert len(status.done) == 4 and not status.missing and not status.failed


@pytest.mark.slow
def test_dask_without_a_scheduler_starts_its_own_local_cluster(tmp_path):
    grid = {**SMOKE_GRID, "grid": {"model.bits": [6]}, "base": {**SMOKE_GRID["base"], "pruning": {"sparsities": [0.0, 0.5]}}}
    report = run_sweep(SweepSpec.from_grid(grid), ResultStore(tmp_path), executor="dask", workers=1, progress=False)
    assert len(report.computed) == 1 and not report.failed
    assert ResultStore(tmp_path).is_complete(report.computed[0])


@pytest.mark.slow
def test_sigkill_mid_sweep_then_rerun_completes_without_retraining(tmp_path):
    """One run per job (the reference engine), so that the kill can land between two stored runs."""
    one_per_job = {**SMOKE_GRID, "base": {**SMOKE_GRID["base"], "train": {**SMOKE_GRID["base"]["train"], "engine": "reference"}}}
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump(one_per_job))
    store_dir = tmp_path / "store"
    command = [sys.executable, "-m", "qaplib.cli", "sweep", str(grid), "--store", str(store_dir), "--workers", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    store = ResultStore(store_dir)
    sweep = SweepSpec.from_grid(one_per_job)
    deadline = time.time() + 300
    while time.time() < deadline and not sweep_status(sweep, store).done:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = sweep_status(sweep, store).done
    assert 1 <= len(finished) < 4, "the kill should land mid-sweep"
    stamps = {k: os.stat(store.path(k) / "record.json").st_mtime_ns for k in finished}
    rerun = subprocess.run(command, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{4 - len(finished)} trained, {len(finished)} reused, 0 failed" in rerun.stdout
    assert stamps == {k: os.stat(store.path(k) / "record.json").st_mtime_ns for k in finished}
    status = sweep_status(sweep, store)
    assert len(status.done) == 4 and all(store.is_complete(k) for k in status.done)
    assert not list(store_dir.glob("*/.tmp-*"))


def base_with(**sections):
    grid = {"name": "bad", "base": {k: dict(v) for k, v in SMOKE_GRID["base"].items()}, "grid": {"seed": [0]}}
    for section, values in sections.items():
        if section in ("grid", "extra"):
            grid[section] = values
        else:
            grid["base"][section] = {**grid["base"].get(section, {}), **values}
    return grid


BAD_GRIDS = [
    (base_with(model={"bits": 5}), "bits must be one of {4, 6, 8, 12, 16, 32}, got 5"),
    (base_with(pruning={"sparsities": [0.0, 0.8, 0.5]}), "sparsities must be strictly increasing"),
    (base_with(pruning={"sparsities": [0.0, 1.2]}), "fractions in [0, 1)"),
    (base_with(model={"l1": -0.1}), "l1 must be a non-negative, finite number"),
    (base_with(pruning={"scheme": "magnitude"}), "pruning scheme must be one of"),
    (base_with(data={"source": "/no/such/jets.arff"}), "does not exist"),
    (base_with(train={"learning_rate": -1}), "learning_rate must be a positive, finite number"),
    (base_with(train={"patience": 0}), "patience must be a positive integer"),
    (base_with(data={"fold": 9}), "fold must be an integer in"),
    (base_with(data={"label_noise": 1.5}), "label_noise must be a fraction"),
    (base_with(model={"widths": [64, 0]}), "widths must be a non-empty tuple of positive integers"),
    (base_with(model={"activation": "tanh"}), "unknown model fields"),
    (base_with(grid={"model.bits": 6}), "must be a non-empty list"),
    (base_with(grid={"model.bits": [6, 5]}), "bits must be one of"),
    (base_with(extra=1), "unknown grid keys"),
]


@pytest.mark.slow
@pytest.mark.parametrize("grid, message", BAD_GRIDS, ids=[m[:30] for _, m in BAD_GRIDS])
def test_bad_grid_exits_2_before_any_compute(grid, message, tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(grid))
    store = tmp_path / "store"
    result = subprocess.run([sys.executable, "-m", "qaplib.cli", "sweep", str(path), "--store", str(store)],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not store.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["sweep", "{grid}", "--executor", "spark"], "executor must be one of"),
        (["sweep", "{grid}", "--scheduler", "tcp://localhost:8786"], "--scheduler needs --executor dask"),
        (["sweep", "{grid}", "--workers", "0"], "workers must be a positive integer"),
        (["sweep", "{missing}"], "does not exist"),
        (["sweep", "{malformed}"], "is not valid YAML"),
        (["status", "{malformed}"], "is not valid YAML"),
        (["run", "{missing}"], "does not exist"),
        (["run", "{badjson}"], "run spec is not valid JSON"),
    ],
)
@pytest.mark.slow
def test_bad_command_line_input_exits_2(args, message, tmp_path):
    files = {"grid": tmp_path / "g.yaml", "missing": tmp_path / "nothing.yaml", "malformed": tmp_path / "m.yaml",
             "badjson": tmp_path / "s.json"}  # fmt: skip
    files["grid"].write_text(yaml.safe_dump(SMOKE_GRID))
    files["malformed"].write_text("name: [unclosed\n")
    files["badjson"].write_text("{not json")
    store = tmp_path / "store"
    argv = [a.format(**files) for a in args]
    result = subprocess.run([sys.executable, "-m", "qaplib.cli", *argv, "--store", str(store)], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not store.exists()


@pytest.mark.slow
def test_killing_only_the_sweep_process_ends_its_workers_within_5_seconds(tmp_path):
    """kill -9 of the parent alone (not its process group): the kernel ends the workers (PR_SET_PDEATHSIG)."""
    import psutil

    grid = tmp_path / "grid.yaml"
    slow = {**SMOKE_GRID, "base": {**SMOKE_GRID["base"], "train": {**SMOKE_GRID["base"]["train"], "max_epochs": 50,
                                                                    "patience": 50}}}  # fmt: skip
    grid.write_text(yaml.safe_dump(slow))
    command = [sys.executable, "-m", "qaplib.cli", "sweep", str(grid), "--store", str(tmp_path / "store"), "--workers", "2"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent = psutil.Process(process.pid)
    deadline, workers = time.time() + 120, []
    while time.time() < deadline and len(workers) < 2:
        workers = [p for p in parent.children(recursive=True) if "spawn_main" in " ".join(p.cmdline())]
        time.sleep(0.2)
    assert len(workers) == 2, "the sweep never started its workers"
    time.sleep(3)  # the workers are training now
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    gone, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive, f"workers still running 5 s after their sweep was killed: {[p.pid for p in alive]}"
    assert not list((tmp_path / "store").glob("*/*/record.json"))  # and nothing half-trained was stored


@pytest.mark.slow
def test_the_local_dask_cluster_admits_only_its_own_client():
    from dask.distributed import Client

    from qaplib.cluster import local_cluster

    with local_cluster(1) as cluster:
        assert cluster.scheduler_address.startswith("tls://127.0.0.1:")
        with pytest.raises((OSError, TimeoutError)):  # no credentials: the TLS handshake fails, no code runs
            Client(cluster.scheduler_address.replace("tls://", "tcp://"), timeout=3)
        with pytest.raises((OSError, TimeoutError, TypeError)):
            Client(cluster.scheduler_address, timeout=3)
        with Client(cluster) as client:  # the sweep's own client holds the temporary credentials
            assert client.submit(sum, [1, 2], pure=False).result() == 3


@pytest.mark.slow
def test_status_counts_the_missing_runs_under_way_from_their_checkpoints(tmp_path):
    import subprocess
    import sys

    from qaplib.checkpoints import save_checkpoint

    sweep = SweepSpec.from_grid(SMOKE_GRID)
    grid = tmp_path / "g.yaml"
    grid.write_text(yaml.safe_dump(SMOKE_GRID))
    store = tmp_path / "store"
    one = np.ones((2, 2), dtype=np.float32)
    for key, phases in zip(sweep_keys(sweep)[:2], (1, 2), strict=True):
        state = {"current": [one], "masks": {"fc1": one}, "weights": [[one]] * phases,
                 "phases": [{"phase": p} for p in range(phases)], "curves": [{}] * phases, "seconds": 1.0,
                 "batch_members": 2}  # fmt: skip
        save_checkpoint(store / CHECKPOINT_DIR, key, 2, state)
    (store / CHECKPOINT_DIR / "garbage.npz").write_bytes(b"x")
    result = subprocess.run([sys.executable, "-m", "qaplib.cli", "status", str(grid), "--store", str(store)],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "smoke: 0 done, 4 missing, 0 failed (of 4)" in result.stdout
    assert "2 of the missing runs are under way: 3 phases finished" in result.stdout


@pytest.mark.slow
def test_store_only_trains_nothing_and_names_the_fix(tmp_path):
    """With a store-only policy (qap figures --store-only) a missing run stops a sweep, and a BO search's worker,
    before any training; a run already stored is reused as always. The policy is passed, not read from the
    environment."""
    from qaplib.errors import InvalidSpecError
    from qaplib.sweep import TrainingPolicy, local_worker, train_in_worker

    sweep = SweepSpec.from_grid(SMOKE_GRID)
    first = SweepSpec("first", sweep.runs[:1])
    run_sweep(first, ResultStore(tmp_path), workers=1, progress=False)  # stored before the switch
    store_only = TrainingPolicy(store_only=True)
    report = run_sweep(first, ResultStore(tmp_path), workers=1, progress=False, policy=store_only)
    assert report.reused == tuple(sweep_keys(first)) and not report.computed
    with pytest.raises(InvalidSpecError, match=rf"{len(sweep.runs) - 1} of the {len(sweep.runs)} runs of .* are not in "
                                               r"the result store.*qap sweep --profile NAME --store results"):  # fmt: skip
        run_sweep(sweep, ResultStore(tmp_path), workers=1, progress=False, policy=store_only)
    with local_worker() as worker, pytest.raises(InvalidSpecError, match="1 of the 1 runs of a Bayesian"):
        train_in_worker(worker, [sweep.runs[1]], ResultStore(tmp_path), store_only)
    with pytest.raises(InvalidSpecError, match="store_only must be True or False"):
        TrainingPolicy(store_only="yes")
    assert list(sweep_status(sweep, ResultStore(tmp_path)).done) == sweep_keys(first)


def test_a_run_that_cannot_be_stored_is_a_failed_run_and_keeps_its_checkpoint(tmp_path, monkeypatch):
    """A full disk or a lost mount while a finished run is saved: that run is reported failed with the reason (the
    sweep goes on), the other runs of the job are stored, and the failed run's checkpoint is kept for the rerun."""
    from qaplib import lifecycle, sweep
    from qaplib.checkpoints import checkpoint_path
    from tests.test_store import fake_result

    results = [fake_result(seed) for seed in (0, 1)]
    monkeypatch.setattr(lifecycle, "train_runs", lambda specs, keys, checkpoints: results)
    original = ResultStore.save

    def save(self, result):
        if result.key == results[1].key:
            raise OSError(28, "No space left on device")
        return original(self, result)

    monkeypatch.setattr(ResultStore, "save", save)
    kept = checkpoint_path(tmp_path / sweep.CHECKPOINT_DIR, results[1].key)
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_bytes(b"phase 1")
    outcome = dict(sweep._execute_and_store([r.spec.to_json() for r in results], [r.key for r in results], str(tmp_path)))
    assert outcome[results[0].key] is None and ResultStore(tmp_path).is_complete(results[0].key)
    assert "could not be stored" in outcome[results[1].key] and "No space left" in outcome[results[1].key]
    assert ResultStore(tmp_path).failure(results[1].key).startswith("the finished run could not be stored")
    assert kept.exists()


def test_a_second_sweep_on_a_store_waits_for_the_first_and_reuses_its_runs(tmp_path, monkeypatch, capfd):
    """issue 32's audit: two sweeps on one store each trained everything. The second now waits, saying so, and
    finds the first one's runs stored."""
    import threading

    from qaplib import sweep as sweep_module
    from tests.test_store import fake_result

    result = fake_result(5)
    store = ResultStore(tmp_path)
    trained = []
    monkeypatch.setattr(sweep_module, "_run_local", lambda *args: trained.append(args) or iter(()))
    monkeypatch.setattr(sweep_module, "check_data", lambda specs: None)  # straight to the lock
    holding, release = threading.Event(), threading.Event()

    def first_sweep():  # holds the store's training lock, then stores the run, as a sweep training it would
        with store.training("the first sweep"):
            holding.set()
            release.wait(10)
            store.save(result)

    first = threading.Thread(target=first_sweep)
    first.start()
    holding.wait(10)
    outcome = {}
    second = threading.Thread(target=lambda: outcome.update(report=run_sweep(SweepSpec("second", (result.spec,)), store,
                                                                              progress=False)))  # fmt: skip
    second.start()
    second.join(2.0)
    assert second.is_alive()  # waiting for the first
    release.set()
    first.join(10)
    second.join(10)
    assert outcome["report"].reused == (result.key,) and outcome["report"].computed == () and trained == []
    assert "another sweep is training into" in capfd.readouterr().err


def test_no_port_of_the_local_dask_cluster_answers_plain_http():
    """issue 32's audit: during a Dask sweep the scheduler served its info pages (worker addresses, logs) over
    unauthenticated HTTP on port 8787, and each worker its own. Every listening port of the cluster's processes now
    speaks TLS only."""
    import http.client

    import psutil

    from qaplib.cluster import local_cluster

    def listening_ports() -> set[int]:
        here = psutil.Process()
        return {c.laddr.port for p in [here, *here.children(recursive=True)] for c in p.net_connections(kind="tcp")
                if c.status == psutil.CONN_LISTEN}  # fmt: skip

    before = listening_ports()
    with local_cluster(1):
        ports = listening_ports() - before
        assert len(ports) >= 3  # scheduler, nanny and worker comms at least
        answered = []
        for port in ports:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
            try:
                connection.request("GET", "/info/main/workers.html")
                answered.append((port, connection.getresponse().status))
            except (OSError, http.client.HTTPException):
                pass  # a TLS listener drops a plain-HTTP request
            finally:
                connection.close()
        assert answered == []
