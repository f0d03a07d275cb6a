"""The Bayesian-optimisation baseline: validated searches, deterministic and resumable trials."""

from __future__ import annotations

import dataclasses

import pytest

from qaplib import bayesopt
from qaplib.errors import InvalidSpecError
from qaplib.profiles import get_profile
from qaplib.store import ResultStore


@pytest.mark.parametrize(
    "change, message",
    [
        ({"bounds": ()}, "non-empty list"),
        ({"bounds": ((64, 8), (4, 64), (4, 64))}, "empty or inverted"),
        ({"bounds": ((8, 8), (4, 64), (4, 64))}, "empty or inverted"),
        ({"bounds": ((8.5, 64),)}, "pair of integers"),
        ({"trials": 0}, "trials must be a positive integer"),
        ({"bits": 7}, "bits must be one of"),
        ({"search_epochs": -1}, "search_epochs must be a positive integer"),
        ({"seed": -1}, r"seed must be an integer in \[0, 4294967295\], got -1"),
        ({"seed": 2**32}, r"seed must be an integer in \[0, 4294967295\], got 4294967296"),
    ],
)
def test_invalid_search_settings_are_refused_when_the_search_is_specified(change, message):
    """A SearchSpec cannot exist with bad settings, so no search (and no training) can start with them."""
    with pytest.raises(InvalidSpecError, match=message):
        dataclasses.replace(bayesopt.SearchSpec(bits=6), **change)


@pytest.mark.slow
def test_smoke_search_is_deterministic_and_resumes_without_retraining(tmp_path):
    profile = get_profile("smoke")
    search = bayesopt.SearchSpec(bits=6, bounds=((4, 16), (4, 8), (4, 8)), trials=3, search_epochs=1, initial_points=2, seed=1)
    store = ResultStore(tmp_path)
    first = bayesopt.run_search(profile, search, store)
    assert len(first) == 3 and all(4 <= t.widths[0] <= 16 for t in first)
    stamps = {t.key: (store.path(t.key) / "record.json").stat().st_mtime_ns for t in first}
    # an interrupted search: the first two trials are stored, the third is lost
    import shutil

    shutil.rmtree(store.path(first[2].key))
    again = bayesopt.run_search(profile, search, store)
    assert [t.widths for t in again] == [t.widths for t in first]
    assert [t.val_loss for t in again] == [t.val_loss for t in first]
    for trial in again[:2]:
        assert (store.path(trial.key) / "record.json").stat().st_mtime_ns == stamps[trial.key]
    assert bayesopt.best_trial(again).val_loss == min(t.val_loss for t in first)


@pytest.mark.slow
def test_search_seed_zero_is_a_fixed_seed_not_a_random_one(tmp_path):
    # keras-tuner draws a random seed when given 0; the search must stay reproducible for seed 0 too
    first, second = (bayesopt._oracle(bayesopt.SearchSpec(bits=6, seed=0), str(tmp_path)) for _ in range(2))
    assert first.seed == second.seed == 1


@pytest.mark.slow
def test_searches_run_side_by_side_propose_what_each_proposes_alone(tmp_path):
    """run_searches (two searches at once, threads) gives each search the trials run_search gives it alone,
    and leaves sys.stdout as it found it."""
    import sys

    profile = get_profile("smoke")
    searches = [bayesopt.SearchSpec(bits=b, bounds=((4, 16), (4, 8), (4, 8)), trials=2, search_epochs=1,
                                    initial_points=1, seed=2) for b in (6, 32)]  # fmt: skip
    stdout = sys.stdout
    together = bayesopt.run_searches(profile, searches, ResultStore(tmp_path / "together"), workers=2)
    assert sys.stdout is stdout
    for search in searches:
        alone = bayesopt.run_search(profile, search, ResultStore(tmp_path / f"alone-{search.bits}"))
        assert [(t.widths, t.val_loss, t.key) for t in together[search.bits]] == [(t.widths, t.val_loss, t.key) for t in alone]
    with pytest.raises(InvalidSpecError, match="workers must be a positive integer"):
        bayesopt.run_searches(profile, searches, ResultStore(tmp_path / "bad"), workers=0)


@pytest.mark.slow
def test_study_retrains_in_the_search_worker_and_its_progress_replays_from_the_store(tmp_path):
    """run_study stores every trial and every tried architecture's retraining; a worker reused across runs
    gives the same numbers as a fresh process; search_progress reads the recorded trajectory without training."""
    from qaplib.runs import run_key
    from qaplib.sweep import run_sweep

    profile = get_profile("smoke")
    searches = [bayesopt.SearchSpec(bits=6, bounds=((4, 16), (4, 8), (4, 8)), trials=2, search_epochs=1,
                                    initial_points=1, seed=3)]  # fmt: skip
    store = ResultStore(tmp_path / "study")
    trials = bayesopt.run_study(profile, searches, store, workers=1)
    retrains = bayesopt.retrain_sweep(profile, trials).runs
    assert len(retrains) == len({(b, t.widths) for b, found in trials.items() for t in found}) >= 2
    assert all(store.is_complete(run_key(spec)) for spec in retrains)
    for search in searches:
        progress = bayesopt.search_progress(profile, search, store)
        assert progress.complete and progress.done and progress.retrained == progress.architectures >= 1
        assert [t.key for t in progress.trials] == [t.key for t in trials[search.bits]]
    # the last retraining ran in a worker that had trained other architectures first: a fresh process agrees
    alone = ResultStore(tmp_path / "alone")
    run_sweep(bayesopt.SweepSpec("alone", (retrains[-1],)), alone, workers=1, progress=False)
    key = run_key(retrains[-1])
    untimed = [[{k: v for k, v in row.items() if k != "seconds"} for row in s.load(key).phases] for s in (alone, store)]
    assert untimed[0] == untimed[1] and alone.load(key).curves == store.load(key).curves
    for ours, fresh in zip(store.load(key).weights[-1], alone.load(key).weights[-1], strict=True):
        assert (ours == fresh).all()
    # a lost trial run: the recorded trajectory still holds the trial (decisions are data), and nothing is trained
    import shutil

    shutil.rmtree(store.path(trials[6][1].key))
    progress = bayesopt.search_progress(profile, searches[0], store)
    assert progress.complete and [t.key for t in progress.trials] == [t.key for t in trials[6]]
    assert not store.is_complete(trials[6][1].key)
    # a lost retraining: the search is complete but not done
    shutil.rmtree(store.path(run_key(retrains[0])))
    progress = bayesopt.search_progress(profile, searches[0], store)
    assert progress.complete and not progress.done and progress.retrained == progress.architectures - 1
    proposed = bayesopt.proposed_runs(profile, [progress])
    assert [run_key(spec) for spec in proposed.runs[:2]] == [t.key for t in trials[6]]
    assert len(proposed.runs) == 2 + len(retrains)  # the trials, then their retrainings


@pytest.mark.slow
def test_status_of_a_profile_reports_its_searches(tmp_path):
    """`qap status --profile` reads chapter 7's searches from the store (none recorded here) and trains nothing."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "qaplib.cli", "status", "--profile", "smoke", "--store", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Bayesian optimisation (smoke): not finished" in result.stdout
    for bits in (32, 6):
        assert f"{bits:2d}-bit search: 0 of 2 trials, 0 of 0 tried architectures retrained, not finished" in result.stdout
    assert not any(tmp_path.iterdir()) or not any(p.name.endswith(".json") for p in tmp_path.rglob("*"))


def test_the_oracles_table_and_gp_warnings_stay_out_of_a_chapters_output(capsys):
    """keras-tuner's per-trial table and scikit-learn's length-scale warnings are silenced; other warnings are not."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with bayesopt._quiet_oracle():
            print("Trial 3 Complete [00h 01m 02s]")
            warnings.warn("length_scale is close to the specified lower bound", ConvergenceWarning, stacklevel=1)
        warnings.warn("something the reader should see", UserWarning, stacklevel=1)
    assert capsys.readouterr().out == ""
    assert [w.category for w in caught] == [UserWarning]


# --- recorded trajectories: decisions are data -------------------------------------------------------------------


class _ObjectiveStore(ResultStore):
    """A result store whose trial runs are never trained: a run's final validation loss is a fixed function of its
    widths (a bowl around 40-20-30), so the oracle's own behaviour is tested in milliseconds."""

    def __init__(self, root):
        super().__init__(root)
        self.losses: dict[str, float] = {}

    def ensure(self, spec) -> bool:
        from qaplib.runs import run_key

        target = (40, 20, 30)
        self.losses[run_key(spec)] = 0.5 + sum((w - t) ** 2 for w, t in zip(spec.model.widths, target, strict=False)) / 1000
        return True

    def load(self, key):
        from types import SimpleNamespace

        return SimpleNamespace(curves=[{"val_loss": [self.losses[key]]}])


def _search(trials: int, **change) -> bayesopt.SearchSpec:
    return bayesopt.SearchSpec(bits=6, trials=trials, search_epochs=1, initial_points=2, seed=4, **change)


def _trials(store, search, ensure=None) -> tuple[list[bayesopt.Trial], bool]:
    with bayesopt._quiet_oracle():
        return bayesopt._search_trials(get_profile("smoke"), search, store, ensure or store.ensure)


@pytest.mark.slow
def test_a_resumed_or_extended_search_proposes_exactly_what_an_uninterrupted_one_does(tmp_path):
    """The oracle is restored from the recorded state (its trials, counters and the random generator of its GP
    restarts), so stopping after 3 trials and extending to 6 gives the uninterrupted search's 6 trials."""
    straight = _ObjectiveStore(tmp_path / "straight")
    whole, complete = _trials(straight, _search(6))
    assert complete and len(whole) == 6 and len({t.widths for t in whole}) == 6
    resumed = _ObjectiveStore(tmp_path / "resumed")
    first, _ = _trials(resumed, _search(3))
    assert first == whole[:3]
    extended, complete = _trials(resumed, _search(6))
    assert complete and extended == whole
    # a smaller budget reads a prefix of the recorded trajectory
    assert _trials(resumed, _search(2), ensure=_refuse)[0] == whole[:2]


def _refuse(spec):
    raise AssertionError(f"a recorded search asked to train {spec.model.widths}")


@pytest.mark.slow
def test_a_recorded_search_is_read_back_even_where_the_gp_would_propose_otherwise(tmp_path, monkeypatch):
    """Another CPU's GP proposes other architectures from the 4th trial on (here: every GP proposal's first width
    moved by one). Replaying the GP over the stored runs then cannot reach the recorded trials (the negative
    control); reading the recorded trajectory reaches every one, with no oracle and nothing trained."""
    from keras_tuner.src.tuners.bayesian import BayesianOptimizationOracle

    profile, search = get_profile("smoke"), _search(5)
    store = _ObjectiveStore(tmp_path / "store")
    recorded, _ = _trials(store, search)

    populate = BayesianOptimizationOracle.populate_space

    def another_cpu(self, trial_id):
        proposal = populate(self, trial_id)
        completed = sum(t.status == "COMPLETED" for t in self.trials.values())
        if proposal["values"] and completed >= self.num_initial_points:  # a GP proposal, not a random one
            proposal["values"]["fc1"] = proposal["values"]["fc1"] + (1 if proposal["values"]["fc1"] < 128 else -1)
        return proposal

    monkeypatch.setattr(BayesianOptimizationOracle, "populate_space", another_cpu)
    # negative control: without the trajectory, a replay over the stored runs stops at the first GP proposal
    bare = _ObjectiveStore(tmp_path / "bare")
    bare.losses = dict(store.losses)
    from qaplib.runs import run_key

    replayed, reached_end = _trials(bare, search, ensure=lambda spec: run_key(spec) in bare.losses)
    assert not reached_end and replayed == recorded[:2]
    # the recorded trajectory: every trial, read without an oracle
    monkeypatch.setattr(bayesopt, "_oracle", lambda *args: pytest.fail("a recorded search consulted the GP"))
    assert _trials(store, search, ensure=_refuse) == (recorded, True)
    progress = bayesopt.search_progress(profile, search, store)
    assert progress.complete and list(progress.trials) == recorded


def test_an_edited_or_misfiled_trajectory_counts_as_missing_and_the_longest_recorded_one_wins(tmp_path):
    import json

    profile, search = get_profile("smoke"), _search(3)
    store = _ObjectiveStore(tmp_path / "store")
    recorded, _ = _trials(store, search)
    key = bayesopt.search_key(profile, search)
    path = tmp_path / "store" / bayesopt.SEARCH_DIR / f"{key}.json"
    assert bayesopt.read_trajectory(store, key).trials == tuple(recorded)
    # a shorter copy in another root does not hide the longer one
    short = _ObjectiveStore(tmp_path / "short")
    _trials(short, _search(1))
    both = ResultStore(tmp_path / "short", read_only=(tmp_path / "store",))
    assert len(bayesopt.read_trajectory(both, key).trials) == 3
    edited = json.loads(path.read_text())
    edited["trials"][0]["val_loss"] = 0.0
    path.write_text(json.dumps(edited))
    assert bayesopt.read_trajectory(store, key) is None
    assert bayesopt.read_trajectory(store, "0" * 24) is None
    progress = bayesopt.search_progress(profile, search, store)
    assert not progress.complete and progress.trials == ()


def test_a_scratch_trajectory_extends_a_committed_one_but_never_rewrites_it(tmp_path, capsys):
    """issue 32: the longest trajectory over the roots used to win, so a sealed, longer forgery in the scratch store
    replaced a committed search. Now the committed one is served unless the other begins with its trials."""
    import dataclasses

    profile, search = get_profile("smoke"), _search(2)
    committed = _ObjectiveStore(tmp_path / "committed")
    recorded, _ = _trials(committed, search)
    key = bayesopt.search_key(profile, search)
    scratch = ResultStore(tmp_path / "scratch")
    extended = dataclasses.replace(bayesopt.read_trajectory(committed, key),
                                   trials=(*recorded, bayesopt.Trial((9, 9, 9), 0.1, "f" * 24)),
                                   proposed_on=("here",) * 3)  # fmt: skip
    bayesopt.write_trajectory(scratch, search, extended)
    both = ResultStore(tmp_path / "scratch", read_only=(tmp_path / "committed",))
    assert bayesopt.read_trajectory(both, key).trials == extended.trials  # a continued search: served
    forged = dataclasses.replace(extended, trials=(bayesopt.Trial((9, 9, 9), 0.01, "f" * 24), *extended.trials[1:]))
    bayesopt.write_trajectory(scratch, search, forged)
    assert bayesopt.read_trajectory(both, key).trials == tuple(recorded)  # longer, but not the committed one's
    assert "disagrees with the one read before it" in capsys.readouterr().err


def test_a_search_that_runs_out_of_new_points_is_recorded_as_ended(tmp_path):
    """Two possible architectures and a budget of four: the oracle stops after two, and the trajectory says so."""
    store = _ObjectiveStore(tmp_path)
    search = bayesopt.SearchSpec(bits=6, bounds=((4, 5),), trials=4, search_epochs=1, initial_points=4, seed=1)
    trials, complete = _trials(store, search)
    assert complete and sorted(t.widths for t in trials) == [(4,), (5,)]
    assert bayesopt.read_trajectory(store, bayesopt.search_key(get_profile("smoke"), search)).exhausted
    assert bayesopt.search_progress(get_profile("smoke"), search, store).complete


def test_the_search_key_covers_what_decides_proposals_but_not_the_budget():
    profile = get_profile("smoke")
    base = bayesopt.search_key(profile, _search(3))
    assert bayesopt.search_key(profile, _search(20)) == base
    for change in ({"seed": 5}, {"initial_points": 3}, {"search_epochs": 2}, {"bounds": ((8, 64), (4, 64), (4, 64))}):
        assert bayesopt.search_key(profile, dataclasses.replace(_search(3), **change)) != base
    assert bayesopt.search_key(get_profile("default"), _search(3)) != base


def test_searching_leaves_no_oracle_folder_behind(tmp_path, monkeypatch):
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    _trials(_ObjectiveStore(tmp_path / "store"), _search(3))
    bayesopt.search_progress(get_profile("smoke"), _search(3), ResultStore(tmp_path / "store"))
    assert list(scratch.iterdir()) == []
