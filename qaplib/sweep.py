"""Sweeps: many runs, of which only the missing ones are computed, locally or on Dask.

A sweep is written as a grid (YAML or a dict): ``base`` holds RunSpec fields, ``grid`` maps dotted
field names to lists of values, and every combination is one run::

    name: smoke
    base:
      pruning: {sparsities: [0.0, 0.5, 0.8]}
      train: {learning_rate: 0.001, max_epochs: 3, patience: 2}   # engine: batched unless set
      data: {max_train_jets: 2000}
    grid:
      model.bits: [32, 6]
      pruning.scheme: [ft, lt]

The unit of distribution is a job and the store is the only shared state: a worker trains a job's
specs and writes each result atomically, so a sweep killed at any moment resumes by rerunning it.
A job is one run for ``train.engine: reference`` and a batch of up to :data:`MAX_BATCH_RUNS` runs that
share an architecture for ``train.engine: batched`` (:mod:`qaplib.engine` trains them in one compiled
step); batches are formed automatically, split so that every worker gets one.
"""

from __future__ import annotations

import copy
import itertools
import multiprocessing as mp
import os
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import yaml
from tqdm import tqdm

from qaplib.errors import InvalidSpecError
from qaplib.runs import RunSpec, run_key
from qaplib.store import ResultStore

EXECUTORS = ("local", "dask")
#: Most runs the engine trains in one job: bounds what a crash can lose (a batch's runs finish together).
MAX_BATCH_RUNS = 16
#: ``train.engine`` of a grid's runs unless the grid sets it.
DEFAULT_SWEEP_ENGINE = "batched"


@dataclass(frozen=True)
class SweepSpec:
    """A named, ordered set of distinct runs."""

    name: str
    runs: tuple[RunSpec, ...]

    @classmethod
    def from_grid(cls, raw: dict) -> SweepSpec:
        """Expand ``base`` x ``grid`` (see the module docstring); every spec is validated here.

        A grid that does not set ``train.engine`` gets :data:`DEFAULT_SWEEP_ENGINE` (``batched``);
        ``train: {engine: reference}`` trains each run with Keras ``fit``.
        """
        if not isinstance(raw, dict):
            raise InvalidSpecError(f"a grid must be a mapping with 'name', 'base' and 'grid', got {type(raw).__name__}")
        unknown = sorted(set(raw) - {"name", "base", "grid"})
        if unknown:
            raise InvalidSpecError(f"unknown grid keys {unknown}; allowed: name, base, grid")
        name, base, grid = raw.get("name", "sweep"), raw.get("base") or {}, raw.get("grid") or {}
        if not isinstance(base, dict) or not isinstance(grid, dict):
            raise InvalidSpecError("'base' and 'grid' must be mappings")
        for field_name, values in grid.items():
            if not isinstance(values, list) or not values:
                raise InvalidSpecError(f"grid entry {field_name!r} must be a non-empty list, got {values!r}")
        runs: list[RunSpec] = []
        for combination in itertools.product(*grid.values()):
            spec = copy.deepcopy(base)
            if isinstance(spec.get("train", {}), dict):  # sweeps batch by default; a wrong type is reported below
                spec["train"] = {"engine": DEFAULT_SWEEP_ENGINE, **spec.get("train", {})}
            for dotted, value in zip(grid, combination, strict=True):
                _set_dotted(spec, dotted, value)
            run = RunSpec.from_dict(spec)
            if run not in runs:
                runs.append(run)
        return cls(name=str(name), runs=tuple(runs))

    @classmethod
    def from_yaml(cls, path: str | Path) -> SweepSpec:
        path = Path(path)
        if not path.exists():
            raise InvalidSpecError(f"grid file {path} does not exist")
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise InvalidSpecError(f"grid file {path} is not valid YAML: {exc}") from None
        return cls.from_grid(raw)


def _set_dotted(spec: dict, dotted: str, value) -> None:
    parts = dotted.split(".")
    target = spec
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise InvalidSpecError(f"grid key {dotted!r} goes through a non-mapping field")
    target[parts[-1]] = value


@dataclass(frozen=True)
class SweepStatus:
    """Keys of a sweep's runs by state."""

    done: tuple[str, ...]
    missing: tuple[str, ...]
    failed: tuple[str, ...]


def sweep_keys(sweep: SweepSpec) -> list[str]:
    """Result keys of every run (checks that every data source exists, without loading it)."""
    return [run_key(spec) for spec in sweep.runs]


def sweep_status(sweep: SweepSpec, store: ResultStore) -> SweepStatus:
    done, missing, failed = [], [], []
    for key in sweep_keys(sweep):
        if store.is_complete(key):
            done.append(key)
        elif store.failure(key) is not None:
            failed.append(key)
        else:
            missing.append(key)
    return SweepStatus(tuple(done), tuple(missing), tuple(failed))


#: Set (by :func:`qaplib.notebook.start`) to keep workers' native log lines (XLA, absl) out of a notebook's output.
QUIET_WORKERS_VARIABLE = "QAP_QUIET_WORKERS"


def _silence_native_stderr() -> None:
    """Point this process's file descriptor 2 at /dev/null: C++ libraries log there whatever Python says.

    Errors are not lost: a failed job's traceback is returned to the sweep and reported there.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _execute_and_store(spec_jsons: list[str], keys: list[str], store_root: str) -> list[tuple[str, str | None]]:
    """Worker body of one job: train its specs, save each result; returns [(key, error text or None)].

    A batched job goes to the engine as one batch (one thread, like a reference worker, so that float
    round-off does not depend on the machine); a reference job is one run for ``execute_run``. A job
    that fails is recorded as failed for each of its runs, and the sweep goes on.
    """
    from qaplib.engine.runs import execute_runs_batched
    from qaplib.runs import execute_run

    if os.environ.get(QUIET_WORKERS_VARIABLE):
        _silence_native_stderr()
    store = ResultStore(store_root)
    specs = [RunSpec.from_json(raw) for raw in spec_jsons]
    try:
        if specs[0].train.engine == "batched":
            results = execute_runs_batched(specs, keys)
        else:
            results = [execute_run(spec, key=key) for spec, key in zip(specs, keys, strict=True)]
    except Exception:  # a failed job must not stop the sweep; it is recorded and reported
        error = traceback.format_exc(limit=8)
        for spec, key in zip(specs, keys, strict=True):
            store.mark_failed(key, spec, error)
        return [(key, error) for key in keys]
    for result in results:
        store.save(result)
    return [(key, None) for key in keys]


def plan_jobs(todo: list[tuple[RunSpec, str]], workers: int) -> list[list[tuple[RunSpec, str]]]:
    """Cut the runs to compute into jobs: one per reference run; batched runs grouped by
    :func:`qaplib.engine.batch_group` and each group split into near-equal batches of at most
    :data:`MAX_BATCH_RUNS`, at least ``workers`` of them where the group is that large."""
    from qaplib.engine.runs import batch_group

    jobs, groups = [], {}
    for item in todo:
        if item[0].train.engine == "batched":
            groups.setdefault(batch_group(item[0]), []).append(item)
        else:
            jobs.append([item])
    for group in groups.values():
        parts = max(-(-len(group) // MAX_BATCH_RUNS), min(workers, len(group)))
        jobs += [group[i::parts] for i in range(parts)]
    return jobs


@dataclass(frozen=True)
class SweepReport:
    """What a sweep call did: keys computed now, keys already stored, keys that failed (with errors)."""

    computed: tuple[str, ...]
    reused: tuple[str, ...]
    failed: dict[str, str]


def run_sweep(
    sweep: SweepSpec,
    store: ResultStore | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> SweepReport:
    """Compute the sweep's missing runs and store them; finished runs are never redone.

    ``executor='local'``: a process pool of ``workers`` (default: all cores). ``executor='dask'``:
    the Dask scheduler at ``scheduler`` (``tcp://host:port``) or, without one, a LocalCluster of
    ``workers`` single-threaded processes. ``progress`` shows a bar on a terminal, never in a notebook's output.
    """
    if executor not in EXECUTORS:
        raise InvalidSpecError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if scheduler is not None and executor != "dask":
        raise InvalidSpecError("--scheduler needs --executor dask")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise InvalidSpecError(f"workers must be a positive integer, got {workers!r}")
    store = store or ResultStore()
    store.remove_stale_temporaries()
    keys = sweep_keys(sweep)
    todo = [(spec, key) for spec, key in zip(sweep.runs, keys, strict=True) if not store.is_complete(key)]
    reused = tuple(key for key in keys if key not in {k for _, k in todo})
    failed: dict[str, str] = {}
    computed: list[str] = []
    if todo:
        cores = os.cpu_count() or 1
        planned = plan_jobs(todo, workers or cores)
        workers = workers or min(cores, len(planned))
        jobs = [([spec.to_json() for spec, _ in job], [key for _, key in job], str(store.root)) for job in planned]
        runner = _run_dask if executor == "dask" else _run_local
        with tqdm(total=len(keys), initial=len(reused), unit="run", desc=sweep.name, disable=None if progress else True) as bar:
            for outcomes in runner(jobs, workers, scheduler):
                for key, error in outcomes:
                    if error is None:
                        computed.append(key)
                    else:
                        failed[key] = error
                    bar.update(1)
    return SweepReport(computed=tuple(computed), reused=reused, failed=failed)


def _run_local(jobs, workers, _scheduler):
    context = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(_execute_and_store, *job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()


def _run_dask(jobs, workers, scheduler):
    from dask.distributed import Client, LocalCluster
    from dask.distributed import as_completed as dask_completed

    if scheduler:
        client, cluster = Client(scheduler), None
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        futures = [client.submit(_execute_and_store, *job, key=f"qap-job-{job[1][0]}-x{len(job[1])}", pure=False) for job in jobs]
        for future in dask_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

