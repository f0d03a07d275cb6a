"""HGQ runs (issue 28): their specs are validated and keyed like any run, and the engine trains, scores, stores and
reloads them deterministically."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qaplib import experiments
from qaplib.errors import InvalidSpecError
from qaplib.hgq import HgqSpec
from qaplib.models import ModelSpec
from qaplib.profiles import get_profile
from qaplib.runs import PruningSpec, RunSpec, run_key


def _hgq_run(beta: float = 3e-6, **train) -> RunSpec:
    spec = experiments.hgq_spec(get_profile("smoke"), beta)
    return dataclasses.replace(spec, train=dataclasses.replace(spec.train, **train)) if train else spec


def test_a_qap_spec_has_no_hgq_entry_so_its_key_is_unchanged():
    spec = experiments.run_spec(get_profile("default"), 6)
    assert "hgq" not in spec.to_dict() and RunSpec.from_json(spec.to_json()) == spec
    hgq = _hgq_run()
    assert hgq.to_dict()["hgq"] == {"beta": 3e-6} and RunSpec.from_json(hgq.to_json()) == hgq
    assert run_key(hgq) != run_key(_hgq_run(1e-5))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"hgq": None}, "needs an hgq section"),
        ({"model": ModelSpec(bits=6, batchnorm=False, l1=0.0)}, "model.bits must be 32"),
        ({"model": ModelSpec(batchnorm=True, l1=0.0)}, "model.batchnorm must be False"),
        ({"model": ModelSpec(batchnorm=False, l1=1e-4)}, "model.l1 must be 0.0"),
        ({"pruning": PruningSpec(sparsities=(0.0, 0.5))}, r"pruning.sparsities must be \(0.0,\)"),
    ],
)
def test_an_hgq_run_that_asks_for_what_hgq_learns_itself_is_refused(change, message):
    with pytest.raises(InvalidSpecError, match=message):
        dataclasses.replace(_hgq_run(), **change)


def test_an_hgq_section_without_the_hgq_engine_and_a_bad_beta_are_refused():
    with pytest.raises(InvalidSpecError, match="an hgq section needs train.engine 'hgq'"):
        dataclasses.replace(experiments.run_spec(get_profile("smoke"), 32), hgq=HgqSpec(1e-6))
    with pytest.raises(InvalidSpecError, match=r"hgq.beta must be a number in \[0, 1\], got -1"):
        HgqSpec(-1)
    with pytest.raises(InvalidSpecError, match="hgq.beta must be"):
        RunSpec.from_dict({**_hgq_run().to_dict(), "hgq": {"beta": "large"}})
    with pytest.raises(InvalidSpecError, match=r"unknown hgq fields \['gamma'\]"):
        RunSpec.from_dict({**_hgq_run().to_dict(), "hgq": {"gamma": 1}})


def test_the_beta_sweep_covers_every_beta_and_fold_and_checks_its_parameter():
    sweep = experiments.hgq_sweep(get_profile("default"), [1e-6, 1e-5])
    assert [(s.hgq.beta, s.data.fold, s.seed) for s in sweep.runs] == [(b, f, f) for b in (1e-6, 1e-5) for f in range(4)]
    budget = dataclasses.replace(get_profile("default").train, engine="hgq")
    assert all(s.train == budget for s in sweep.runs)
    with pytest.raises(InvalidSpecError, match="names a penalty strength twice"):
        experiments.hgq_sweep(get_profile("default"), [1e-6, 1e-6])
    with pytest.raises(InvalidSpecError, match=r"parameter 'betas': hgq.beta must be a number in \[0, 1\], got True"):
        experiments.check_betas([True])


@pytest.mark.slow
def test_the_engine_trains_the_same_run_twice_identically_and_the_record_reloads_into_the_same_network(tmp_path):
    from qaplib.audit import record_problems
    from qaplib.columns import HGQ_METRIC_NAMES
    from qaplib.hgq import build_hgq_model, calibrate, logits, set_hgq_weights
    from qaplib.hgq_engine import cost_columns
    from qaplib.lifecycle import train_runs
    from qaplib.runs import cached_jets
    from qaplib.store import ResultStore

    spec = _hgq_run(max_epochs=2)
    first, second = train_runs([spec]), train_runs([spec])
    result = first[0]
    assert all(np.array_equal(a, b) for a, b in zip(result.weights[0], second[0].weights[0], strict=True))
    row = result.phases[0]
    assert set(HGQ_METRIC_NAMES) <= set(row) and record_problems(result) == []
    assert 0 < row["ebops"] and 0 < row["granular_bops"] and 0.3 < row["accuracy"] <= 1

    store = ResultStore(tmp_path)
    store.save(result)
    loaded = store.load(result.key)
    model = build_hgq_model(spec.model.widths, spec.hgq.beta)
    set_hgq_weights(model, loaded.weights[0])
    jets = cached_jets(spec.data)
    assert cost_columns(model) == {name: row[name] for name in ("granular_bops", "effective_sparsity", "mean_weight_bits")}
    reference = logits(model, jets.x_test[:512])
    assert calibrate(model, jets.x_train) == row["ebops"]  # the recorded ranges are the training jets'
    assert np.array_equal(logits(model, jets.x_test[:512]), reference)
