"""Bayesian-optimisation baseline: a Gaussian-process search over the three hidden widths.

As in the paper's code (Ax, 20 trials): for one bit width, the widths (fc1, fc2, fc3) are searched
in [8, 128] x [4, 64] x [4, 64]; each trial trains the unpruned model for a fixed number of epochs
(25 in the paper, no early stopping) and reports its validation loss. The search itself is
keras-tuner's ``BayesianOptimizationOracle`` (a GP with an upper-confidence-bound acquisition);
we do not write a GP by hand. Every trial is an ordinary :class:`qaplib.runs.RunSpec` in the result
store, and trials run on the same executors as any sweep. Afterwards every trial architecture is
retrained with the profile's normal settings (early stopping) and scored on the test set.

**Decisions are data.** The GP's proposals are floating-point work whose last bits depend on the CPU, so
a search is never replayed by asking the GP again. Each search writes its trajectory
(:class:`Trajectory`: the proposals in order, the losses reported to the oracle, and the oracle's whole
state) to ``<store>/searches/<key>.json`` after every trial. Status, replay and chapter 7 read it; the GP
is consulted only to extend a search past its recorded end (an interrupted search, or a larger budget:
the first n proposals do not depend on the budget), from the recorded state, exactly as an uninterrupted
search would continue on that machine.

A trial is small (25 epochs of one model), so what surrounds it weighs: with the local executor a
search keeps one worker process for all its trials and retrainings, which pays for imports, data loading
and each architecture's XLA compilation once (:func:`run_study`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qaplib.errors import InvalidSpecError
from qaplib.files import UNREADABLE
from qaplib.inputs import EXECUTORS, check_count
from qaplib.models import ModelSpec, check_bit_width
from qaplib.profiles import Profile
from qaplib.records import SealedRecords, content_key
from qaplib.runs import PruningSpec, RunSpec, run_key
from qaplib.store import ResultStore
from qaplib.sweep import DEFAULT_POLICY, SweepSpec, TrainingPolicy, check_data, local_worker, run_sweep, train_in_worker

PAPER_BOUNDS = ((8, 128), (4, 64), (4, 64))
#: Bump when the layout of a recorded trajectory changes; part of every search key.
SEARCH_FORMAT_VERSION = 1
#: Where a store keeps the trajectories, under each of its roots.
SEARCH_DIR = "searches"


#: Largest search seed: the oracle's random state is seeded with it, and NumPy takes 32-bit seeds.
MAX_SEARCH_SEED = 2**32 - 1


@dataclass(frozen=True)
class SearchSpec:
    """One search: bit width, integer bounds per hidden layer, trial budget, epochs per trial, seed."""

    bits: int
    bounds: tuple[tuple[int, int], ...] = PAPER_BOUNDS
    trials: int = 20
    search_epochs: int = 25
    initial_points: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        check_bit_width(self.bits)
        bounds = tuple(tuple(b) for b in self.bounds) if isinstance(self.bounds, (list, tuple)) else self.bounds
        object.__setattr__(self, "bounds", bounds)
        if not isinstance(bounds, tuple) or not bounds:
            raise InvalidSpecError(f"bounds must be a non-empty list of [low, high] pairs, got {self.bounds!r}")
        for low_high in bounds:
            if len(low_high) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in low_high):
                raise InvalidSpecError(f"each bound must be a pair of integers [low, high], got {list(low_high)!r}")
            low, high = low_high
            if not 1 <= low < high:
                raise InvalidSpecError(f"bound [{low}, {high}] is empty or inverted; need 1 <= low < high")
        for name in ("trials", "search_epochs", "initial_points"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidSpecError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEARCH_SEED:
            raise InvalidSpecError(f"seed must be an integer in [0, {MAX_SEARCH_SEED}], got {self.seed!r}")


@dataclass(frozen=True)
class Trial:
    """One evaluated architecture: its widths, the search objective and the stored search run."""

    widths: tuple[int, ...]
    val_loss: float
    key: str


def trial_spec(profile: Profile, search: SearchSpec, widths: tuple[int, ...]) -> RunSpec:
    """The search run of one architecture: unpruned, ``search_epochs`` epochs, no early stopping."""
    train = dataclasses.replace(profile.train, max_epochs=search.search_epochs, patience=search.search_epochs + 1)
    return RunSpec(
        model=ModelSpec(bits=search.bits, widths=tuple(widths)),
        pruning=PruningSpec(sparsities=(0.0,)),
        train=train,
        data=profile.data,
        seed=search.seed,
    )


def retrain_spec(profile: Profile, bits: int, widths: tuple[int, ...], fold: int = 0) -> RunSpec:
    """The full-training run of a found architecture (the profile's settings, unpruned)."""
    return RunSpec(
        model=ModelSpec(bits=bits, widths=tuple(widths)),
        pruning=PruningSpec(sparsities=(0.0,)),
        train=profile.train,
        data=dataclasses.replace(profile.data, fold=fold),
        seed=fold,
    )


def _oracle(search: SearchSpec, directory: str):
    """A fresh keras-tuner oracle for ``search``, keeping its own files in ``directory`` (ours to discard)."""
    import keras_tuner as kt

    space = kt.HyperParameters()
    for index, (low, high) in enumerate(search.bounds, start=1):
        space.Int(f"fc{index}", low, high)
    oracle = kt.oracles.BayesianOptimizationOracle(
        objective=kt.Objective("val_loss", "min"), max_trials=search.trials, hyperparameters=space,
        num_initial_points=min(search.initial_points, search.trials),
        seed=search.seed + 1,  # keras-tuner treats seed 0 as "draw a random seed": never pass it 0
    )  # fmt: skip
    oracle._set_project_dir(directory, f"bo-{search.bits}b")
    return oracle


def search_key(profile: Profile, search: SearchSpec) -> str:
    """Content hash of a search's trajectory: what decides its proposals and the losses they get.

    It covers the search settings except the trial budget (the first n proposals of a larger budget are the
    same), and how every trial is trained: the run key of the trial at the bounds' lower corner stands for the
    profile's training settings, data fingerprint and code versions, which all trials share.
    """
    corner = tuple(low for low, _ in search.bounds)
    payload = {
        "search": {"bits": search.bits, "bounds": [list(b) for b in search.bounds], "search_epochs": search.search_epochs,
                   "initial_points": search.initial_points, "seed": search.seed},
        "trial_training": run_key(trial_spec(profile, search, corner)),
        "format": SEARCH_FORMAT_VERSION,
    }  # fmt: skip
    return content_key(payload)


@dataclass(frozen=True)
class Trajectory:
    """A search's recorded decisions: its trials in the order they were proposed (each with the loss reported to the
    oracle and the stored run it came from), the machine that proposed each (:meth:`qaplib.platform.Platform.describe`),
    whether the oracle ran out of new points, and the oracle's state after the last trial (keras-tuner's own state,
    its trials and its random generator), from which it continues."""

    key: str
    trials: tuple[Trial, ...]
    proposed_on: tuple[str, ...]
    exhausted: bool
    oracle: dict


def trajectories_in(root: Path) -> SealedRecords:
    """The search trajectories under one store root."""
    return SealedRecords(Path(root) / SEARCH_DIR)


def read_trajectory(store: ResultStore, key: str) -> Trajectory | None:
    """The whole, unedited trajectory of ``key`` over the store's roots; None where none is recorded. Reads files
    only: no oracle, no GP.

    The committed root is read first (:attr:`~qaplib.store.ResultStore.serving_order`). A trajectory in a later root
    replaces it only where it extends it (a search continued to a larger budget begins with the same trials), since a
    trajectory only grows; one that disagrees with it is not served, and is named on stderr, so that a record in a
    scratch store can never rewrite a committed search.
    """
    found = None
    for root in store.serving_order:
        record = trajectories_in(root).read(key)
        if record is None:
            continue
        try:
            trials = tuple(Trial(widths=tuple(int(w) for w in t["widths"]), val_loss=float(t["val_loss"]), key=str(t["run_key"]))
                           for t in record["trials"])  # fmt: skip
            proposed_on = tuple(str(t["proposed_on"]) for t in record["trials"])
            trajectory = Trajectory(key, trials, proposed_on, bool(record["exhausted"]), dict(record["oracle"]))
        except UNREADABLE:  # a sealed record of another shape: as if absent
            continue
        if found is None:
            found = trajectory
        elif trajectory.trials[: len(found.trials)] == found.trials:
            found = trajectory if len(trajectory.trials) > len(found.trials) else found
        elif found.trials[: len(trajectory.trials)] != trajectory.trials:
            print(f"the search trajectory {trajectories_in(root).path(key)} disagrees with the one read before it "
                  "(the committed one, if any) and is not used; delete it", file=sys.stderr, flush=True)  # fmt: skip
    return found


def write_trajectory(store: ResultStore, search: SearchSpec, trajectory: Trajectory) -> None:
    """Record a search's trajectory so far under the store's written root (atomically, with a checksum)."""
    from qaplib.provenance import package_versions

    record = {
        "search": dataclasses.asdict(search) | {"trials": None},  # the budget is not the trajectory's
        "trials": [{"widths": list(t.widths), "val_loss": t.val_loss, "run_key": t.key, "proposed_on": on}
                   for t, on in zip(trajectory.trials, trajectory.proposed_on, strict=True)],  # fmt: skip
        "exhausted": trajectory.exhausted,
        "oracle": trajectory.oracle,
        "packages": package_versions(("keras-tuner", "scikit-learn", "scipy", "numpy")),
    }
    trajectories_in(store.root).write(trajectory.key, record)


#: keras-tuner's display state holds wall-clock times and does not take part in proposals: recorded neutral.
_NEUTRAL_DISPLAY = {"search_start": None, "trial_start": {}, "trial_number": {}}


def _oracle_state(oracle) -> dict:
    """Everything the oracle needs to continue: its state, its trials, and the random generator its GP restarts
    draw from (keras-tuner does not save that one, so a reloaded oracle would propose differently)."""
    _, keys, position, has_gauss, cached_gaussian = oracle._random_state.get_state()
    return {
        "state": {**oracle.get_state(), "display": _NEUTRAL_DISPLAY},
        "trials": {trial_id: trial.get_state() for trial_id, trial in oracle.trials.items()},
        "random_state": {"keys": keys.tolist(), "position": int(position), "has_gauss": int(has_gauss),
                         "cached_gaussian": float(cached_gaussian)},
    }  # fmt: skip


def _restored_oracle(search: SearchSpec, recorded: dict, directory: str):
    """An oracle in the state :func:`_oracle_state` recorded, ready to propose the next trial."""
    from keras_tuner.src.engine.trial import Trial as TunerTrial

    oracle = _oracle(search, directory)
    oracle.trials = {trial_id: TunerTrial.from_state(state) for trial_id, state in recorded["trials"].items()}
    oracle.set_state(recorded["state"])
    oracle.num_initial_points = min(search.initial_points, search.trials)  # set_state restores the recorded budget's
    random_state = recorded["random_state"]
    oracle._random_state.set_state(("MT19937", np.array(random_state["keys"], dtype=np.uint32), random_state["position"],
                                    random_state["has_gauss"], random_state["cached_gaussian"]))  # fmt: skip
    return oracle


def run_search(profile: Profile, search: SearchSpec, store: ResultStore | None = None, executor: str = "local",
               progress: bool = False, policy: TrainingPolicy = DEFAULT_POLICY) -> list[Trial]:
    """Run the search, or read it back from its recorded trajectory; returns the trials in the order they were
    proposed. Resumable after every trial: a resumed search continues from the recorded oracle state.
    """
    store = store or ResultStore()
    with _quiet_oracle(), _trainer(profile, store, executor, progress, policy) as ensure:
        return _search_trials(profile, search, store, ensure)[0]


def run_searches(profile: Profile, searches: list[SearchSpec], store: ResultStore | None = None,
                 executor: str = "local", workers: int | None = None,
                 policy: TrainingPolicy = DEFAULT_POLICY) -> dict[int, list[Trial]]:
    """Run (or replay) several searches, up to ``workers`` (default: all cores) at once; returns bits -> trials.

    A search is sequential (each trial waits for the objective of the ones before it) and trains one
    run at a time, so searches of different bit widths run side by side, one worker process each.
    Each search's trials are exactly those :func:`run_search` proposes: searches share nothing.
    """
    return run_study(profile, searches, store, executor, workers, retrain=False, policy=policy)


def run_study(profile: Profile, searches: list[SearchSpec], store: ResultStore | None = None,
              executor: str = "local", workers: int | None = None, retrain: bool = True,
              scheduler: str | None = None, security=None,
              policy: TrainingPolicy = DEFAULT_POLICY) -> dict[int, list[Trial]]:
    """Run (or read back) the searches side by side and then retrain each search's architectures; returns bits -> trials.

    Up to ``workers`` (default: all cores) searches at once. With the local executor each search keeps one
    worker process for all its trials and retrainings, so imports, data loading and the compilation of an
    architecture (which its retraining reuses) are paid once per search, not once per run. The retrainings
    are :func:`retrain_sweep`'s runs, stored like any other. ``scheduler``/``security``: a Dask scheduler
    for ``executor='dask'`` (as in :func:`qaplib.sweep.run_sweep`). ``policy``: whether missing runs may be trained
    (:class:`qaplib.sweep.TrainingPolicy`).
    """
    if workers is not None:
        check_count("workers", workers)
    store = store or ResultStore()
    check_data([profile.data])  # unreadable or missing data fails before any training
    store.remove_stale_temporaries()

    def one(search: SearchSpec) -> list[Trial]:
        with _trainer(profile, store, executor, False, policy, scheduler, security) as ensure:
            trials = _search_trials(profile, search, store, ensure)[0]
            if retrain:
                for spec in retrain_sweep(profile, {search.bits: trials}).runs:
                    ensure(spec)
        return trials

    concurrent = min(len(searches), workers or os.cpu_count() or 1) or 1
    # quietened once, around every thread: a redirect per thread would restore the wrong stream
    with _quiet_oracle(), ThreadPoolExecutor(max_workers=concurrent) as pool:
        found = pool.map(one, searches)
        return {search.bits: trials for search, trials in zip(searches, found, strict=True)}


def retrain_sweep(profile: Profile, trials_by_bits: dict[int, list[Trial]]) -> SweepSpec:
    """The full-training runs of every distinct architecture the searches tried, in the order they were proposed."""
    specs = (retrain_spec(profile, bits, trial.widths) for bits, trials in trials_by_bits.items() for trial in trials)
    return SweepSpec("BO retraining", tuple(dict.fromkeys(specs)))


@dataclass(frozen=True)
class SearchProgress:
    """How far a search has got in a store: its stored trials in proposal order, whether every trial the
    search will make is among them, and how many of their distinct architectures are retrained and stored."""

    search: SearchSpec
    trials: tuple[Trial, ...]
    complete: bool
    retrained: int
    architectures: int

    @property
    def done(self) -> bool:
        return self.complete and self.retrained == self.architectures


def search_progress(profile: Profile, search: SearchSpec, store: ResultStore) -> SearchProgress:
    """How far ``search`` has got in ``store``, from its recorded trajectory alone: trains nothing, asks no GP."""
    recorded = read_trajectory(store, search_key(profile, search))
    trials = recorded.trials[: search.trials] if recorded else ()
    complete = len(trials) == search.trials or bool(recorded and recorded.exhausted)
    retrains = retrain_sweep(profile, {search.bits: list(trials)}).runs
    return SearchProgress(search, tuple(trials), complete, retrained=sum(store.is_complete(run_key(s)) for s in retrains),
                          architectures=len(retrains))  # fmt: skip


def proposed_runs(profile: Profile, progress: list[SearchProgress]) -> SweepSpec:
    """Every run the searches have proposed so far: their trials, then the retrainings of those architectures."""
    trials = tuple(trial_spec(profile, p.search, t.widths) for p in progress for t in p.trials)
    retrains = retrain_sweep(profile, {p.search.bits: list(p.trials) for p in progress}).runs
    return SweepSpec("BO runs proposed so far", trials + retrains)


def format_progress(progress: list[SearchProgress]) -> str:
    """A status line per search: trials stored of its budget, and architectures retrained of those tried so far."""
    return "\n".join(
        f"  {p.search.bits:2d}-bit search: {len(p.trials)} of {p.search.trials} trials, {p.retrained} of "
        f"{p.architectures} tried architectures retrained{'' if p.done else ', not finished'}"
        for p in progress
    )


@contextlib.contextmanager
def _quiet_oracle():
    """keras-tuner prints a table per trial, and its Gaussian process (scikit-learn) warns when a fitted length
    scale sits at its bound: neither tells a reader anything. Not thread-safe: enter it once, around all threads."""
    from sklearn.exceptions import ConvergenceWarning

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@contextlib.contextmanager
def _trainer(profile: Profile, store: ResultStore, executor: str, progress: bool, policy: TrainingPolicy,
             scheduler: str | None = None, security=None):
    """A function that makes sure one run is stored (training it if missing) and returns True.

    Local: every run in one persistent worker process (:func:`qaplib.sweep.local_worker`). Dask: each run is
    a one-run sweep on the executor.
    """
    if executor not in EXECUTORS:
        raise InvalidSpecError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if executor == "local":
        with local_worker() as worker:
            yield lambda spec: bool(train_in_worker(worker, [spec], store, policy))
        return

    def by_sweep(spec: RunSpec) -> bool:
        report = run_sweep(SweepSpec(name=f"BO run {run_key(spec)[:8]}", runs=(spec,)), store, executor=executor,
                           scheduler=scheduler, workers=1, progress=progress, security=security, policy=policy)  # fmt: skip
        if report.failed:
            raise RuntimeError(f"BO run {spec.model.widths} failed:\n{next(iter(report.failed.values()))}")
        return True

    yield by_sweep


def _search_trials(profile: Profile, search: SearchSpec, store: ResultStore, ensure) -> tuple[list[Trial], bool]:
    """The search's trials: read from its recorded trajectory, and where that ends before the budget, proposed by
    the oracle (restored to its recorded state) and trained (``ensure(spec)`` stores a run and returns True, or
    returns False to stop), the trajectory recorded after each. Returns them and whether the search got to its
    end. Enter :func:`_quiet_oracle` first."""
    from qaplib.platform import current_platform

    key = search_key(profile, search)
    recorded = read_trajectory(store, key)
    trials = list(recorded.trials[: search.trials]) if recorded else []
    if len(trials) == search.trials or (recorded and recorded.exhausted):
        return trials, True
    proposed_on = list(recorded.proposed_on) if recorded else []
    here = current_platform().describe()

    def record(exhausted: bool) -> None:
        write_trajectory(store, search, Trajectory(key, tuple(trials), tuple(proposed_on), exhausted, _oracle_state(oracle)))

    with tempfile.TemporaryDirectory(prefix="qap-bo-") as directory:
        oracle = _restored_oracle(search, recorded.oracle, directory) if recorded else _oracle(search, directory)
        while len(trials) < search.trials:
            proposal = oracle.create_trial("qap")
            if proposal.status != "RUNNING":  # the space holds no new point
                record(exhausted=True)
                break
            widths = tuple(int(proposal.hyperparameters.values[f"fc{i}"]) for i in range(1, len(search.bounds) + 1))
            spec = trial_spec(profile, search, widths)
            if not ensure(spec):
                return trials, False
            val_loss = float(store.load(run_key(spec)).curves[0]["val_loss"][-1])
            oracle.update_trial(proposal.trial_id, {"val_loss": val_loss})
            proposal.status = "COMPLETED"
            oracle.end_trial(proposal)
            trials.append(Trial(widths=widths, val_loss=val_loss, key=run_key(spec)))
            proposed_on.append(here)
            record(exhausted=False)
    return trials, True


def best_trial(trials: list[Trial]) -> Trial:
    """The trial with the lowest validation loss (first one on ties)."""
    if not trials:
        raise InvalidSpecError("no trials to choose from")
    return min(trials, key=lambda t: t.val_loss)


def mark_best(frame, trials_by_bits: dict[int, list[Trial]]):
    """Copy of a results frame of retrained trials with a ``best`` column (the search's best widths)."""
    best = {bits: "-".join(map(str, best_trial(trials).widths)) for bits, trials in trials_by_bits.items()}
    frame = frame.copy()
    frame["best"] = [best.get(bits) == widths for bits, widths in zip(frame["bits"], frame["widths"], strict=True)]
    return frame
