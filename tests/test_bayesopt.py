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
        ({"seed": -1}, "seed must be a non-negative integer"),
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


def test_search_seed_zero_is_a_fixed_seed_not_a_random_one():
    # keras-tuner draws a random seed when given 0; the search must stay reproducible for seed 0 too
    first, second = bayesopt._oracle(bayesopt.SearchSpec(bits=6, seed=0)), bayesopt._oracle(bayesopt.SearchSpec(bits=6, seed=0))
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
