"""The published JSON Schemas of run specs and grids: equal to the code's rules, and refusing what the code refuses."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from qaplib import models, spec_schemas
from qaplib.errors import InvalidSpecError
from qaplib.runs import RunSpec
from qaplib.sweep import SweepSpec
from qaplib.validation import strict_validator

#: Specs the code refuses field by field (the cross-field rules, increasing sparsities and fold < n_folds, are the
#: code's alone and named in the schema's description).
REFUSED = [
    {"model": {"bits": 5}}, {"model": {"bits": True}}, {"model": {"bits": 6.0}}, {"model": {"widths": []}},
    {"model": {"widths": [64, 0]}}, {"model": {"batchnorm": 1}}, {"model": {"l1": -1}}, {"model": {"input_bits": 32}},
    {"model": {"depth": 3}}, {"pruning": {"scheme": "random"}}, {"pruning": {"sparsities": [0.0, 1.0]}},
    {"pruning": {"sparsities": []}}, {"train": {"engine": "jax"}}, {"train": {"learning_rate": 0}},
    {"train": {"max_epochs": 0}}, {"train": {"patience": "10"}}, {"train": {"batch_size": 2**21}}, {"train": "fast"},
    {"data": {"source": ""}}, {"data": {"test_fraction": 1}}, {"data": {"n_folds": 1}}, {"data": {"fold": -1}},
    {"data": {"split_seed": 2**32}}, {"data": {"max_train_jets": 0}}, {"data": {"label_noise": 1.0}},
    {"seed": -2}, {"seed": 10**6}, {"optimizer": "sgd"},
]  # fmt: skip
ACCEPTED = [
    {}, {"model": {"bits": 6, "widths": [20, 10], "batchnorm": False, "input_bits": 8}},
    {"pruning": {"scheme": "lt", "sparsities": [0, 0.5, 0.9]}}, {"train": {"engine": "reference", "learning_rate": 1e-3}},
    {"data": {"source": "full", "test_source": "default", "fold": 3, "max_train_jets": 1000, "label_noise": 0.2}},
    {"seed": 999_999},
]  # fmt: skip


def run_spec_validator():
    return strict_validator(spec_schemas.run_spec_schema())


def test_the_shipped_schemas_are_the_codes_rules():
    for name, schema in spec_schemas.schemas().items():
        shipped = (spec_schemas.SCHEMA_DIR / name).read_text()
        assert shipped == spec_schemas.schema_text(schema), (
            f"qaplib/schemas/{name} differs from the code's rules: run "
            "`python -c 'from qaplib.spec_schemas import write_schemas; write_schemas()'` and commit it"
        )
        Draft202012Validator.check_schema(json.loads(shipped))


def test_a_changed_rule_changes_the_schema(monkeypatch):
    """Negative control of the test above: a rule edited in the code no longer matches the shipped file."""
    shipped = (spec_schemas.SCHEMA_DIR / "run-spec.schema.json").read_text()
    monkeypatch.setitem(models.MODEL_RULES, "bits", {**models.MODEL_RULES["bits"], "enum": [*models.ALLOWED_BITS, 64]})
    assert spec_schemas.schema_text(spec_schemas.run_spec_schema()) != shipped


@pytest.mark.parametrize("raw", REFUSED, ids=lambda raw: json.dumps(raw)[:50])
def test_the_schema_and_the_code_refuse_the_same_specs(raw):
    assert not run_spec_validator().is_valid(raw)
    with pytest.raises(InvalidSpecError):
        RunSpec.from_dict(raw)


@pytest.mark.parametrize("raw", ACCEPTED, ids=lambda raw: json.dumps(raw)[:50])
def test_the_schema_and_the_code_accept_the_same_specs(raw):
    assert run_spec_validator().is_valid(raw)
    assert run_spec_validator().is_valid(RunSpec.from_dict(raw).to_dict())


def test_every_profiles_grid_and_a_user_grid_keep_the_grid_schema():
    from qaplib.manifest import book_sweep
    from qaplib.profiles import PROFILES

    validator = strict_validator(spec_schemas.grid_schema())
    grid = {"name": "bits", "base": {"train": {"max_epochs": 5}}, "grid": {"model.bits": [32, 6], "data.fold": [0, 1]}}
    assert validator.is_valid(grid) and len(SweepSpec.from_grid(grid).runs) == 4
    assert not validator.is_valid({**grid, "grid": {"model.depth": [1]}})
    assert not validator.is_valid({**grid, "grid": {}})
    for profile in PROFILES.values():
        for spec in book_sweep(profile).runs:
            assert run_spec_validator().is_valid(spec.to_dict()), spec
