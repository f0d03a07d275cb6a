"""Shared fixtures: a tiny generated dataset, made once per test session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(autouse=True, scope="session")
def isolated_result_store(tmp_path_factory):
    """Runs made by the tests (and by notebooks they execute) go to a temporary store, never results/."""
    os.environ["QAP_RESULTS_DIR"] = str(tmp_path_factory.mktemp("results"))
    yield


@pytest.fixture(scope="session")
def smoke_dataset(tmp_path_factory):
    """The `smoke` tier (5 classes x 40 jets), generated with 2 worker processes."""
    from qaplib.generator.settings import TIERS
    from qaplib.generator.shards import generate_dataset

    directory = tmp_path_factory.mktemp("smoke-jets")
    generate_dataset(directory, TIERS["smoke"], "smoke", jobs=2)
    return directory
