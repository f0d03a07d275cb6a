"""RunSpec: validation, JSON round trip, and a key that changes with everything that matters."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qaplib.data import DataSpec
from qaplib.errors import InvalidSpecError
from qaplib.lifecycle import train_runs
from qaplib.models import ModelSpec
from qaplib.runs import PruningSpec, RunSpec, run_key
from qaplib.train import TrainSettings

TINY = RunSpec(
    model=ModelSpec(bits=6, widths=(16, 8)),
    pruning=PruningSpec(scheme="ft", sparsities=(0.0, 0.6)),
    train=TrainSettings(learning_rate=3e-3, max_epochs=2, patience=2, batch_size=128, engine="reference"),
    data=DataSpec(max_train_jets=1500),
    seed=3,
)


def test_json_round_trip():
    assert RunSpec.from_json(TINY.to_json()) == TINY
    assert RunSpec.from_dict(TINY.to_dict()) == TINY


@pytest.mark.parametrize(
    "change",
    [
        {"model": ModelSpec(bits=4, widths=(16, 8))},
        {"model": ModelSpec(bits=6, widths=(16, 9))},
        {"model": ModelSpec(bits=6, widths=(16, 8), batchnorm=False)},
        {"model": ModelSpec(bits=6, widths=(16, 8), l1=0.0)},
        {"model": ModelSpec(bits=6, widths=(16, 8), input_bits=8)},
        {"pruning": PruningSpec(scheme="lt", sparsities=(0.0, 0.6))},
        {"pruning": PruningSpec(scheme="ft", sparsities=(0.0, 0.5))},
        {"train": TrainSettings(learning_rate=1e-3, max_epochs=2, patience=2, batch_size=128)},
        {"train": TrainSettings(learning_rate=3e-3, max_epochs=3, patience=2, batch_size=128)},
        {"train": TrainSettings(learning_rate=3e-3, max_epochs=2, patience=1, batch_size=128)},
        {"train": TrainSettings(learning_rate=3e-3, max_epochs=2, patience=2, batch_size=512)},
        {"train": TrainSettings(learning_rate=3e-3, max_epochs=2, patience=2, batch_size=128, engine="batched")},
        {"data": DataSpec(max_train_jets=1500, fold=1)},
        {"data": DataSpec(max_train_jets=1500, label_noise=0.5)},
        {"data": DataSpec(max_train_jets=1500, split_seed=1)},
        {"data": DataSpec(max_train_jets=1600)},
        {"seed": 4},
    ],
)
def test_changing_any_field_changes_the_key(change):
    assert run_key(dataclasses.replace(TINY, **change)) != run_key(TINY)


def test_key_is_stable_and_follows_the_data_files(tmp_path):
    assert run_key(TINY) == run_key(RunSpec.from_json(TINY.to_json()))
    path = tmp_path / "jets.csv"
    path.write_text("a,b\n1,2\n")
    spec = dataclasses.replace(TINY, data=DataSpec(source=str(path)))
    before = run_key(spec)
    path.write_text("a,b\n1,3\n")
    assert run_key(spec) != before


def test_the_engine_is_part_of_the_key():
    """The two engines give different (equally valid) trained models, so their results never share a key."""
    reference = dataclasses.replace(TINY, data=DataSpec())
    batched = dataclasses.replace(reference, train=dataclasses.replace(reference.train, engine="batched"))
    assert run_key(reference) != run_key(batched)


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"model": {"bits": 5}}, "bits must be one of"),
        ({"pruning": {"sparsities": [0.0, 0.5, 0.3]}}, "strictly increasing"),
        ({"pruning": {"sparsities": [0.0, 1.0]}}, "fractions in [0, 1)"),
        ({"pruning": {"scheme": "random"}}, "pruning scheme must be one of"),
        ({"model": {"l1": -1}}, "l1 must be a non-negative, finite number"),
        ({"model": {"depth": 3}}, "unknown model fields"),
        ({"optimizer": "sgd"}, "unknown run spec fields"),
        ({"seed": -2}, "seed must be an integer in [0, 999999]"),
        ({"train": {"patience": 0}}, "patience must be a positive integer"),
        ({"train": "fast"}, "train must be a mapping"),
        ({"train": {"engine": "jax"}}, "engine must be one of"),
    ],
)
def test_invalid_specs_are_rejected_with_clear_messages(raw, message):
    with pytest.raises(InvalidSpecError, match=message.replace("[", r"\[").replace(")", r"\)")):
        RunSpec.from_dict(raw)


@pytest.mark.slow
def test_a_reference_run_is_deterministic_and_keeps_masks():
    [first] = train_runs([TINY])
    [again] = train_runs([TINY])
    assert [r["accuracy"] for r in first.phases] == [r["accuracy"] for r in again.phases]
    assert all(np.array_equal(a, b) for a, b in zip(first.weights[-1], again.weights[-1], strict=True))
    assert [r["phase"] for r in first.phases] == [0, 1]
    assert first.phases[1]["sparsity"] == pytest.approx(0.6, abs=1e-3)
    assert first.phases[1]["bops"] < first.phases[0]["bops"]
    for row in first.phases:
        assert 0 < row["neural_efficiency"] <= 1 and 0.5 <= row["macro_auc"] <= 1
        assert {"auc_g", "bkg_eff_t", "aiq", "epochs", "seconds"} <= set(row)
    assert len(first.curves) == 2 and len(first.curves[0]["loss"]) == first.phases[0]["epochs"]


def test_a_phase_row_has_exactly_the_declared_metric_columns():
    """:mod:`qaplib.columns` declares the metrics once; :func:`qaplib.runs.evaluate` computes exactly those (the
    measured sparsity is added beside it by :func:`qaplib.runs.phase_row`)."""
    from qaplib import columns
    from qaplib.data import JetData
    from qaplib.models import build_model
    from qaplib.runs import evaluate

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(400, 16)).astype(np.float32), np.arange(400) % 5
    jets = JetData(x, y, x, y, x, y, np.zeros(16), np.ones(16), "test", "random")
    row = evaluate(build_model(ModelSpec(bits=6)), jets)
    assert sorted({*row, "sparsity"}) == sorted(columns.METRIC_NAMES)
    assert set(columns.VERIFIED) <= set(columns.METRIC_NAMES)
    assert set(columns.VERSIONED_WEIGHT_METRICS) <= set(columns.WEIGHT_METRICS)
