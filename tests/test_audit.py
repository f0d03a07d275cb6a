"""A record is served only if its numbers agree with its weights: rehashed edits are refused (issue 32)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest

from qaplib.audit import deep_check, record_problems
from qaplib.files import sha256_of
from qaplib.store import COMMITTED_ROOT, InconsistentRecordError, ResultStore
from tests.test_store import fake_result


def rehash(directory) -> None:
    """What a forger does after an edit: rewrite the record's checksums, so the store counts it complete."""
    record = json.loads((directory / "record.json").read_text())
    record["sha256"] = {name: sha256_of(directory / name) for name in record["sha256"]}
    (directory / "record.json").write_text(json.dumps(record))


def edit_phases(directory, change) -> None:
    phases = json.loads((directory / "phases.json").read_text())
    change(phases)
    (directory / "phases.json").write_text(json.dumps(phases))
    rehash(directory)


@pytest.mark.parametrize("edit, message", [
    ("accuracy nan", "accuracy is nan, not a finite number"),
    ("accuracy above 1", "accuracy is 1.5, outside"),
    ("a phase dropped", "1 phase rows, 2 weight sets"),
    ("sparsity", "its sparsity 0.9 is not its weights'"),
    ("epochs", "are not its learning curve's"),
    ("column dropped", "the column macro_auc is missing"),
])  # fmt: skip
def test_a_rehashed_edit_that_contradicts_the_record_is_refused_and_named(tmp_path, edit, message):
    store = ResultStore(tmp_path)
    result = fake_result()
    store.save(result)
    assert record_problems(store.load(result.key)) == []
    changes = {
        "accuracy nan": lambda p: p[1].update(accuracy=math.nan),
        "accuracy above 1": lambda p: p[1].update(accuracy=1.5),
        "a phase dropped": lambda p: p.pop(),
        "sparsity": lambda p: p[0].update(sparsity=0.9),
        "epochs": lambda p: p[0].update(epochs=7),
        "column dropped": lambda p: p[0].pop("macro_auc"),
    }
    edit_phases(store.path(result.key), changes[edit])
    assert store.is_complete(result.key)  # the checksums hold: only the numbers give it away
    with pytest.raises(InconsistentRecordError, match=f"contradicts itself.*{message}.*is not served; delete"):
        store.load(result.key)


def test_changed_weights_next_to_the_old_metrics_are_refused(tmp_path):
    store = ResultStore(tmp_path)
    result = fake_result()
    directory = store.save(result)
    with np.load(directory / "weights.npz") as stored:
        arrays = {name: stored[name] for name in stored.files}
    kernel = next(name for name, array in arrays.items() if array.ndim == 2)
    arrays[kernel] = np.zeros_like(arrays[kernel])
    np.savez(directory / "weights.npz", **arrays)
    rehash(directory)
    with pytest.raises(InconsistentRecordError, match="is not its weights'"):
        store.load(result.key)


def a_committed_default_record(tmp_path):
    """A copy of the smallest committed record on the default data, in a store of its own."""
    committed = ResultStore(COMMITTED_ROOT)
    for key in committed.stored_keys():
        spec = json.loads((committed.path(key) / "spec.json").read_text())
        if spec["data"]["source"] == "default" and len(spec["pruning"]["sparsities"]) == 1 and spec["model"]["bits"] == 6:
            copy = tmp_path / "store" / key[:2] / key
            shutil.copytree(committed.path(key), copy)
            return ResultStore(tmp_path / "store"), key
    raise AssertionError("no one-phase 6-bit record on the default data is committed")


def test_deep_check_passes_a_committed_record_and_fails_a_rehashed_edit_within_the_valid_range(tmp_path):
    """An accuracy moved from its value to another plausible one passes every cheap check; re-evaluating the stored
    weights on the test set (no training) finds it."""
    store, key = a_committed_default_record(tmp_path)
    [check] = deep_check(store, [key], progress=False)
    assert check.phases == 1 and check.problems == (), check.problems
    recorded = store.load(key).phases[0]["accuracy"]
    edit_phases(store.path(key), lambda p: p[0].update(accuracy=min(recorded + 0.05, 0.99)))
    assert record_problems(store.load(key)) == []
    [check] = deep_check(store, [key], progress=False)
    assert len(check.problems) == 1 and check.problems[0].startswith(f"phase 0: accuracy {min(recorded + 0.05, 0.99)!r}")


@pytest.mark.slow
def test_qap_verify_deep_passes_a_sound_store_and_fails_a_planted_edit(tmp_path):
    store, key = a_committed_default_record(tmp_path)

    def deep():
        return subprocess.run([sys.executable, "-m", "qaplib.cli", "verify", "--deep", "--committed", str(store.root)],
                              capture_output=True, text=True, timeout=600)  # fmt: skip

    sound = deep()
    assert sound.returncode == 0 and "1 records on the 'default' data (1 phases)" in sound.stdout, sound.stdout + sound.stderr
    edit_phases(store.path(key), lambda p: p[0].update(macro_auc=0.5))
    planted = deep()
    assert planted.returncode == 1 and f"{key}: phase 0: macro_auc 0.5 in the record" in planted.stdout, planted.stdout
