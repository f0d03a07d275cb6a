"""Shared fixtures: a tiny generated dataset, made once per test session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def smoke_dataset(tmp_path_factory):
    """The `smoke` tier (5 classes x 40 jets), generated with 2 worker processes."""
    from qaplib.generator.settings import TIERS
    from qaplib.generator.shards import generate_dataset

    directory = tmp_path_factory.mktemp("smoke-jets")
    generate_dataset(directory, TIERS["smoke"], "smoke", jobs=2)
    return directory
