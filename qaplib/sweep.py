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

import contextlib
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

from qaplib.cluster import check_scheduler, die_with_parent, local_cluster
from qaplib.errors import InvalidSpecError, QapError, TrainingDivergedError
from qaplib.inputs import EXECUTORS, check_count, read_text
from qaplib.runs import RunSpec, run_key
from qaplib.store import ResultStore

#: Most runs the engine trains in one job: bounds what a crash can lose (a batch's runs finish together).
MAX_BATCH_RUNS = 16


@dataclass(frozen=True)
class SweepSpec:
    """A named, ordered set of distinct runs."""

    name: str
    runs: tuple[RunSpec, ...]

    @classmethod
    def from_grid(cls, raw: dict) -> SweepSpec:
        """Expand ``base`` x ``grid`` (see the module docstring); every spec is validated here.

        A grid that does not set ``train.engine`` gets the default engine (``batched``, as every spec does);
        ``train: {engine: reference}`` trains each run with Keras ``fit``.
        """
        if not isinstance(raw, dict):
            raise InvalidSpecError(f"a grid must be a mapping with 'name', 'base' and 'grid', got {type(raw).__name__}")
        unknown = sorted(set(raw) - {"name", "base", "grid"})
        if unknown:
            raise InvalidSpecError(f"unknown grid keys {unknown}; allowed: name, base, grid")
        name, base, grid = raw.get("name", "sweep"), raw.get("base") or {}, raw.get("grid")
        if isinstance(name, bool) or not isinstance(name, (str, int, float)) or not str(name).strip():
            raise InvalidSpecError(f"the grid's 'name' must be a short text that names the sweep, got {name!r}")
        if not isinstance(base, dict) or not isinstance(grid, dict):
            raise InvalidSpecError("'base' and 'grid' must be mappings")
        if not grid:
            raise InvalidSpecError("'grid' is empty: name at least one field to vary, e.g. grid: {model.bits: [32, 6]}; "
                                   "for one run, use `qap run spec.json`")  # fmt: skip
        for field_name, values in grid.items():
            if not isinstance(values, list) or not values:
                raise InvalidSpecError(f"grid entry {field_name!r} must be a non-empty list, got {values!r}")
        runs: list[RunSpec] = []
        for combination in itertools.product(*grid.values()):
            spec = copy.deepcopy(base)
            for dotted, value in zip(grid, combination, strict=True):
                _set_dotted(spec, dotted, value)
            run = RunSpec.from_dict(spec)
            if run not in runs:
                runs.append(run)
        return cls(name=str(name), runs=tuple(runs))

    @classmethod
    def from_yaml(cls, path: str | Path) -> SweepSpec:
        try:
            raw = yaml.safe_load(read_text(path, "grid file"))
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


def check_data(specs: list) -> None:
    """Read each data source once and split it as every ``DataSpec`` asks: unreadable or too small data fails
    here, with :class:`qaplib.errors.DatasetError`, before any worker starts training."""
    from qaplib.data import read_jets, split_jets

    by_source: dict[tuple, list] = {}
    for data in dict.fromkeys(specs):
        by_source.setdefault((data.source, data.test_source), []).append(data)
    for (source, test_source), group in by_source.items():
        pool, test = read_jets(source), read_jets(test_source) if test_source else None
        for data in group:
            split_jets(pool, test, data)


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


#: Phase checkpoints of unfinished batched runs, under the store being written (``qaplib.checkpoints``):
#: a sweep that is stopped resumes each run after its last finished phase; a stored run's checkpoint is deleted.
CHECKPOINT_DIR = "checkpoints"

@dataclass(frozen=True)
class TrainingPolicy:
    """Whether and how missing runs may be trained: passed explicitly from the CLI and the notebooks to the library.

    Attributes:
        store_only: every run must come from the store; a missing one stops the caller before any training
            (``qap figures --store-only``, the notebooks' ``store_only`` parameter).
        quiet_workers: training processes point their native stderr (XLA's and absl's log lines) at /dev/null, so
            that they do not fill a notebook's output; a failed job's traceback still comes back as its error.
    """

    store_only: bool = False
    quiet_workers: bool = False

    def __post_init__(self) -> None:
        for name in ("store_only", "quiet_workers"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidSpecError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def refuse_missing(self, missing: int, total: int, what: str) -> None:
        """Raise before any training when runs must come from the store and ``missing`` of them are not there."""
        if missing and self.store_only:
            raise InvalidSpecError(
                f"{missing} of the {total} runs of {what} are not in the result store, and store_only is set "
                "(qap figures --store-only) so nothing is trained: train them first, for example with "
                "`qap sweep --profile NAME --store results`, then publish again"
            )


#: The policy of a caller that names none: missing runs are trained, the workers' stderr is left as it is.
DEFAULT_POLICY = TrainingPolicy()


def _silence_native_stderr() -> None:
    """Point this process's file descriptor 2 at /dev/null: C++ libraries log there whatever Python says.

    Errors are not lost: a failed job's traceback is returned to the sweep and reported there.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _execute_and_store(spec_jsons: list[str], keys: list[str], store_root: str,
                       quiet: bool = False) -> list[tuple[str, str | None]]:  # fmt: skip
    """Worker body of one job: train its specs, save each result; returns [(key, error text or None)].

    A batched job goes to the engine as one batch (one thread, like a reference worker, so that float
    round-off does not depend on the machine); a reference job is one run (:func:`qaplib.lifecycle.train_runs`). A job
    that fails is recorded as failed for each of its runs, and the sweep goes on. ``quiet``: silence this
    process's native stderr first (:attr:`TrainingPolicy.quiet_workers`).
    """
    from qaplib.checkpoints import remove_checkpoint
    from qaplib.lifecycle import train_runs

    if quiet:
        _silence_native_stderr()
    store = ResultStore(store_root)
    specs = [RunSpec.from_json(raw) for raw in spec_jsons]
    checkpoints = store.root / CHECKPOINT_DIR
    try:
        results, failures = train_runs(specs, keys, checkpoints=checkpoints), {}
    except TrainingDivergedError as exc:  # the diverged runs fail with the reason; the others of the job are kept
        results, failures = exc.completed, exc.failures
    except QapError as exc:  # a failed job must not stop the sweep; it is recorded and reported
        results, failures = [], dict.fromkeys(keys, f"{type(exc).__name__}: {exc}")
    except Exception:
        results, failures = [], dict.fromkeys(keys, traceback.format_exc(limit=8))
    failures = dict(failures)
    for result in results:
        try:
            store.save(result)
        except OSError as exc:  # a full disk, a lost mount: this run fails, the sweep goes on; its checkpoint stays
            failures[result.key] = f"the finished run could not be stored in {store.root}: {exc}"
            continue
        remove_checkpoint(checkpoints, result.key)
    for spec, key in zip(specs, keys, strict=True):
        if key in failures:
            try:
                store.mark_failed(key, spec, failures[key])
            except OSError:
                pass  # the failure is still returned to the sweep, which reports it
    return [(key, failures.get(key)) for key in keys]


def plan_jobs(todo: list[tuple[RunSpec, str]], workers: int) -> list[list[tuple[RunSpec, str]]]:
    """Cut the runs to compute into jobs: one per reference run; batched runs grouped by
    :meth:`qaplib.engines.Engine.group` and each group split into near-equal batches of at most
    :data:`MAX_BATCH_RUNS`, at least ``workers`` of them where the group is that large."""
    from qaplib.engines import ENGINES

    jobs, groups = [], {}
    for item in todo:
        engine = ENGINES[item[0].train.engine]
        if engine.batched:
            groups.setdefault((engine.name, engine.group(item[0])), []).append(item)
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
    security=None,
    policy: TrainingPolicy = DEFAULT_POLICY,
) -> SweepReport:
    """Compute the sweep's missing runs and store them; finished runs are never redone.

    ``executor='local'``: a process pool of ``workers`` (default: all cores). ``executor='dask'``:
    the Dask scheduler at ``scheduler`` (``tcp://host:port``) or, without one, a LocalCluster of
    ``workers`` single-threaded processes (:func:`local_cluster`). ``security``: the credentials for a
    TLS scheduler (:func:`qaplib.cluster.tls_security`). ``progress`` shows a bar on a terminal, never in a notebook's output.
    ``policy``: whether missing runs may be trained, and whether the workers' native stderr is silenced.
    Every input, the scheduler's reachability and the data are checked before any training starts.
    """
    if executor not in EXECUTORS:
        raise InvalidSpecError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if scheduler is not None and executor != "dask":
        raise InvalidSpecError("--scheduler needs --executor dask")
    if workers is not None:
        check_count("workers", workers)
    if scheduler is not None:
        check_scheduler(scheduler, security)
    store = store or ResultStore()
    store.remove_stale_temporaries()
    keys = sweep_keys(sweep)
    todo = [(spec, key) for spec, key in zip(sweep.runs, keys, strict=True) if not store.is_complete(key)]
    policy.refuse_missing(len(todo), len(keys), sweep.name)
    check_data([spec.data for spec, _ in todo])
    computed: list[str] = []
    failed: dict[str, str] = {}
    with store.training(sweep.name) if todo else contextlib.nullcontext():
        todo = [(spec, key) for spec, key in todo if not store.is_complete(key)]  # another sweep may have stored them
        reused = tuple(key for key in keys if key not in {k for _, k in todo})
        if todo:
            computed, failed = _train(todo, len(keys), len(reused), store, executor, scheduler, workers, progress,
                                      security, sweep.name, policy.quiet_workers)  # fmt: skip
    return SweepReport(computed=tuple(computed), reused=reused, failed=failed)


def _train(todo, n_runs: int, n_reused: int, store, executor, scheduler, workers, progress, security,
           name: str, quiet: bool) -> tuple[list[str], dict[str, str]]:  # fmt: skip
    """The training half of :func:`run_sweep`: plan the jobs of ``todo``, run them; returns the keys computed and the
    errors of the runs that failed (``n_runs``, ``n_reused``: the sweep's size and its stored runs, for the bar)."""
    computed: list[str] = []
    failed: dict[str, str] = {}
    cores = os.cpu_count() or 1
    planned = plan_jobs(todo, workers or cores)
    workers = workers or min(cores, len(planned))
    jobs = [([spec.to_json() for spec, _ in job], [key for _, key in job], str(store.root), quiet) for job in planned]
    runner = _run_dask if executor == "dask" else _run_local
    with tqdm(total=n_runs, initial=n_reused, unit="run", desc=name, disable=None if progress else True) as bar:
        for outcomes in runner(jobs, workers, scheduler, security):
            for key, error in outcomes:
                if error is None:
                    computed.append(key)
                else:
                    failed[key] = error
                bar.update(1)
    return computed, failed


def _run_local(jobs, workers, _scheduler, _security):
    context = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=die_with_parent) as pool:
        futures = [pool.submit(_execute_and_store, *job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()


@contextlib.contextmanager
def local_worker():
    """One spawned worker process kept for consecutive jobs (:func:`train_in_worker`).

    Its imports, loaded data and compiled epochs (one XLA compilation per architecture) serve every job after
    the first: a sequence of small jobs, such as the trials of a Bayesian-optimisation search, pays for them once.
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"), initializer=die_with_parent) as pool:
        yield pool


def train_in_worker(worker, specs: list[RunSpec], store: ResultStore, policy: TrainingPolicy = DEFAULT_POLICY) -> list[str]:
    """Train and store the ``specs`` missing from ``store`` as one job in ``worker`` (:func:`local_worker`), as
    ``policy`` allows; returns their keys. A failed job raises :class:`RuntimeError` with the worker's traceback."""
    keys = [run_key(spec) for spec in specs]
    todo = [(spec, key) for spec, key in zip(specs, keys, strict=True) if not store.is_complete(key)]
    policy.refuse_missing(len(todo), len(keys), "a Bayesian-optimisation search")
    if todo:
        job = ([spec.to_json() for spec, _ in todo], [key for _, key in todo], str(store.root), policy.quiet_workers)
        errors = [error for _, error in worker.submit(_execute_and_store, *job).result() if error is not None]
        if errors:
            raise RuntimeError(f"training {len(todo)} run(s) failed:\n{errors[0]}")
    return keys


def _run_dask(jobs, workers, scheduler, security):
    from dask.distributed import Client
    from dask.distributed import as_completed as dask_completed

    cluster = None if scheduler else local_cluster(workers)
    client = Client(scheduler, security=security) if scheduler else Client(cluster)
    try:
        if cluster is not None:
            client.run(die_with_parent)  # the workers end with their nanny, which ends with this process
        futures = [client.submit(_execute_and_store, *job, key=f"qap-job-{job[1][0]}-x{len(job[1])}", pure=False) for job in jobs]
        for future in dask_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
