"""qap verify: a recomputed sample of committed runs agrees with its records, and an edited record is caught."""

from __future__ import annotations

import json
import shutil

import pytest

from qaplib.files import sha256_of
from qaplib.profiles import get_profile
from qaplib.store import ResultStore
from qaplib.verify import sample_runs, verify_sample

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def committed_smoke(tmp_path_factory):
    """The smoke profile's book runs, computed once, as a stand-in for the committed store."""
    from qaplib.experiments import book_sweep
    from qaplib.sweep import run_sweep

    store = ResultStore(tmp_path_factory.mktemp("committed"), read_only=())
    run_sweep(book_sweep(get_profile("smoke")), store, workers=2, progress=False)
    return store


def edit_accuracy(store: ResultStore, key: str, new_accuracy: float) -> None:
    """Change one phase's accuracy and re-seal the record, as a careless or dishonest edit would."""
    directory = store.path(key)
    phases = json.loads((directory / "phases.json").read_text())
    phases[-1]["accuracy"] = new_accuracy
    (directory / "phases.json").write_text(json.dumps(phases, indent=1, sort_keys=True) + "\n")
    record = json.loads((directory / "record.json").read_text())
    record["sha256"]["phases.json"] = sha256_of(directory / "phases.json")
    (directory / "record.json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    assert store.is_complete(key)  # the store itself cannot tell: the checksums hold


def test_a_recomputed_sample_is_bit_identical_on_the_same_machine(committed_smoke, tmp_path):
    result = verify_sample(get_profile("smoke"), 2, seed=1, scratch=tmp_path / "scratch", committed=committed_smoke, workers=2)
    assert result.passed and all(check.bit_identical for check in result.checks)
    assert "2 of 2 recomputed runs are bit-identical" in result.verdict() and result.verdict().endswith("PASSED.")
    # the smoke profile's models are too short-trained for a claim; the sentence says so, the same both ways
    assert result.claim_committed == result.claim_recomputed and result.claim_committed.endswith(".")
    assert len(list((tmp_path / "scratch").glob("*/*/weights.npz"))) == 2  # recomputed into the scratch store only


def test_verify_detects_a_committed_record_whose_metrics_were_edited(committed_smoke, tmp_path):
    edited = ResultStore(tmp_path / "edited", read_only=())
    shutil.copytree(committed_smoke.root, edited.root)
    profile = get_profile("smoke")
    from qaplib.experiments import book_sweep

    (spec, key), _ = sample_runs(book_sweep(profile), edited, 2, seed=4)
    edit_accuracy(edited, key, 0.999)
    result = verify_sample(profile, 2, seed=4, scratch=tmp_path / "scratch", committed=edited, workers=2)
    check = next(c for c in result.checks if c.key == key)
    assert not check.bit_identical and not check.within_tolerance and check.worst_metric.startswith("accuracy")
    assert not result.passed and result.verdict().endswith("OUTSIDE TOLERANCE.")
    assert "OUTSIDE TOLERANCE" in result.table().to_string()


def test_a_sample_larger_than_the_committed_runs_is_refused_before_any_training(committed_smoke, tmp_path):
    from qaplib.errors import InvalidSpecError

    with pytest.raises(InvalidSpecError, match="sample must be an integer in"):
        verify_sample(get_profile("smoke"), 10_000, seed=0, scratch=tmp_path / "s", committed=committed_smoke)
    assert not (tmp_path / "s").exists()
