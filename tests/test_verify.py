"""qap verify: bit identity on the platform kind that made a record, a calibrated test elsewhere, the claim."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from qaplib import verify
from qaplib.files import sha256_of
from qaplib.platform import current_platform
from qaplib.profiles import get_profile
from qaplib.store import ResultStore
from qaplib.verify import Calibration, sample_runs, verify_sample

#: The smoke profile with four folds: enough committed folds per configuration to calibrate on.
FOUR_FOLDS = dataclasses.replace(get_profile("smoke"), folds=(0, 1, 2, 3))
#: A platform of another kind than this machine (AVX-512 and another TensorFlow).
ELSEWHERE = dataclasses.replace(current_platform(), avx512=not current_platform().avx512, tensorflow="0.0.0")


@pytest.fixture(scope="module")
def committed_smoke(tmp_path_factory):
    """The four-fold smoke profile's chapter-2 runs (5 bit widths x 4 folds), computed once, as a stand-in for the
    committed store; for this module they are the profile's whole book (the full book is 76 runs: 10 minutes)."""
    from qaplib import experiments, manifest
    from qaplib.sweep import run_sweep

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(manifest, "book_sweep", experiments.qap_sweep)
        store = ResultStore(tmp_path_factory.mktemp("committed"), read_only=())
        run_sweep(manifest.book_sweep(FOUR_FOLDS), store, workers=2, progress=False)
        yield store


def edit_accuracy(store: ResultStore, key: str, change: float, phases_edited: slice = slice(-1, None)) -> None:
    """Change the accuracy of some phases (default: the last) by ``change`` and re-seal the record, as a careless or
    dishonest edit would."""
    directory = store.path(key)
    phases = json.loads((directory / "phases.json").read_text())
    for row in phases[phases_edited]:
        row["accuracy"] += change
    (directory / "phases.json").write_text(json.dumps(phases, indent=1, sort_keys=True) + "\n")
    record = json.loads((directory / "record.json").read_text())
    record["sha256"]["phases.json"] = sha256_of(directory / "phases.json")
    (directory / "record.json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    assert store.is_complete(key)  # the store itself cannot tell: the checksums hold


def _verify(store, tmp_path, seed, here=None):
    return verify_sample(FOUR_FOLDS, 2, seed=seed, scratch=tmp_path / "scratch", committed=store, workers=2, here=here,
                         calibration_profiles=(FOUR_FOLDS,))  # fmt: skip


@pytest.mark.slow
def test_a_recomputed_sample_is_bit_identical_on_the_platform_kind_that_made_it(committed_smoke, tmp_path):
    result = _verify(committed_smoke, tmp_path, seed=1)
    assert result.passed and all(check.bit_identical and check.same_platform_kind for check in result.checks)
    assert "2 of 2 recomputed runs are bit-identical" in result.verdict() and result.verdict().endswith("PASSED.")
    # 5 configurations (bit widths) of 4 folds give 12 ordered pairs each; the records under test take no part, so
    # their configurations (one or two: the draw decides) are left with 3 folds, too few to calibrate on (a pair's
    # spread comes from two more folds)
    sampled_configurations = len({check.spec.model.bits for check in result.checks})
    assert result.calibration is not None and result.calibration.pairs == (5 - sampled_configurations) * 12
    assert result.claim_committed == result.claim_recomputed and result.claim is not None and result.claim.passed
    assert len(list((tmp_path / "scratch").glob("*/*/weights.npz"))) == 2  # recomputed into the scratch store only


@pytest.mark.slow
def test_an_edited_record_fails_on_its_platform_kind_and_beyond_the_calibrated_tolerance_elsewhere(committed_smoke, tmp_path):
    """A tiny edit (1e-6 in one accuracy) breaks bit identity, which the record's own platform kind expects, but is
    noise to another kind; a gross edit (every phase 50 points more accurate) fails there too."""
    from qaplib.manifest import book_sweep

    edited = ResultStore(tmp_path / "edited", read_only=())
    shutil.copytree(committed_smoke.root, edited.root)
    (spec, key), _ = sample_runs(book_sweep(FOUR_FOLDS), edited, 2, seed=4)
    edit_accuracy(edited, key, 1e-6)
    here = _verify(edited, tmp_path / "here", seed=4)
    check = next(c for c in here.checks if c.key == key)
    assert not check.bit_identical and check.same_platform_kind and not check.passed
    assert not here.passed and "NOT BIT-IDENTICAL on the platform kind that made it" in here.verdict()
    elsewhere = _verify(edited, tmp_path / "elsewhere", seed=4, here=ELSEWHERE)
    check = next(c for c in elsewhere.checks if c.key == key)
    assert not check.same_platform_kind and check.passed and elsewhere.passed
    edit_accuracy(edited, key, 0.5, slice(None))
    elsewhere = _verify(edited, tmp_path / "gross", seed=4, here=ELSEWHERE)
    check = next(c for c in elsewhere.checks if c.key == key)
    assert not check.passed and check.worst.startswith("accuracy") and check.statistic > check.threshold
    assert not elsewhere.passed and elsewhere.verdict().endswith("OUTSIDE TOLERANCE.")
    assert "OUTSIDE TOLERANCE" in elsewhere.table().to_string()


@pytest.mark.slow
def test_a_sample_larger_than_the_committed_runs_or_a_negative_seed_is_refused_before_any_training(committed_smoke, tmp_path):
    from qaplib.errors import InvalidSpecError

    with pytest.raises(InvalidSpecError, match="sample must be an integer in"):
        verify_sample(FOUR_FOLDS, 10_000, seed=0, scratch=tmp_path / "s", committed=committed_smoke)
    with pytest.raises(InvalidSpecError, match="seed must be a non-negative integer"):
        verify_sample(FOUR_FOLDS, 1, seed=-1, scratch=tmp_path / "s", committed=committed_smoke)
    assert not (tmp_path / "s").exists()


# --- the statistic and its calibration, on numbers made up for the purpose ---------------------------------------


def _rows(accuracies, auc=0.9, efficiency=0.3, bops=1000, effective=800):
    return [{"accuracy": a, "macro_auc": auc, "neural_efficiency": efficiency, "bops": bops, "effective_bops": effective}
            for a in accuracies]  # fmt: skip


def test_a_run_is_summarised_by_phase_means_up_to_and_beyond_90_percent_pruned():
    sparsities = (0.0, 0.5, 0.9, 0.96, 0.99)
    summary = verify.run_summary(_rows([0.7, 0.6, 0.5, 0.4, 0.2]), sparsities)
    names = verify.summary_names(sparsities)
    assert len(summary) == len(names) == 10
    assert summary[names.index("accuracy, phases up to 90 % pruned")] == pytest.approx(0.6)
    assert summary[names.index("accuracy, phases beyond 90 %")] == pytest.approx(0.3)
    assert len(verify.summary_names((0.0, 0.5))) == 5  # nothing beyond 90 %: one group


def test_differences_are_in_units_of_the_spread_floored_and_a_difference_without_any_spread_is_infinite():
    folds = np.array([[0.70], [0.72], [0.71]])
    z = verify.differences(np.array([0.75]), np.array([0.70]), folds, np.array([0.0]))
    assert z[0] == pytest.approx(0.05 / (np.sqrt(2) * 0.01))
    assert verify.differences(np.array([0.75]), np.array([0.70]), folds, np.array([0.01]))[0] == pytest.approx(
        0.05 / (np.sqrt(2) * np.sqrt(2) * 0.01))
    same = np.array([[0.7], [0.7]])
    assert verify.differences(np.array([0.7]), np.array([0.7]), same, np.zeros(1))[0] == 0
    assert verify.differences(np.array([0.8]), np.array([0.7]), same, np.zeros(1))[0] == np.inf


def test_the_calibrated_threshold_bounds_false_alarms_and_the_held_out_rate_is_measured():
    calibration = Calibration(np.array([1.0, 2.0, 3.0, 9.0]), ("a", "a", "b", "c"), ("default",), {"default": 0.001})
    assert calibration.threshold == 9.0 and calibration.pairs == 4
    assert calibration.false_alarm_bound(1) == pytest.approx(1 / 5) and calibration.false_alarm_bound(3) == pytest.approx(3 / 5)
    assert calibration.held_out_exceedances() == 1  # c's 9 exceeds the others' 3; nothing else exceeds
    text = calibration.describe(3)
    assert "T = 9.00" in text and "1 of 4 pairs exceed it" in text and "at most 60.00%" in text
    assert calibration.detectable_accuracy_shift("default") == pytest.approx(2 * 9.0 * 0.001)
    assert "1.80 percentage points (default)" in text


def test_calibration_reads_every_ordered_fold_pair_of_the_committed_configurations(tmp_path, monkeypatch):
    """Two configurations of four folds give 2 x 12 ordered pairs; the pair statistic takes the spread from the folds
    other than the stand-in, so a single outlying fold gives the largest statistic when it stands in."""
    folds = {
        "steady": {k: verify.run_summary(_rows([0.70 + 0.001 * k] * 3), (0.0, 0.5, 0.9)) for k in range(4)},
        "outlier": {k: verify.run_summary(_rows([0.70 + (0.05 if k == 3 else 0.001 * k)] * 3), (0.0, 0.5, 0.9))
                    for k in range(4)},
    }  # fmt: skip
    monkeypatch.setattr(verify, "fold_summaries", lambda sweep, store, sparsities, leave_out: folds)
    calibration = verify.calibrate(ResultStore(tmp_path), (FOUR_FOLDS,))
    assert calibration.pairs == 24 and set(calibration.groups) == {"smoke: steady", "smoke: outlier"}
    worst = int(np.argmax(calibration.statistics))
    assert calibration.groups[worst] == "smoke: outlier"
