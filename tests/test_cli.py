"""The `qap` command line: clear errors with exit status 2, before any work."""

from __future__ import annotations

import subprocess
import sys

import pytest


def qap(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "qaplib.cli", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize(
    "args, message",
    [
        (["data", "generate", "--tier", "huge"], "tier must be one of"),
        (["figures", "--profile", "nope"], "profile must be one of"),
        (["figures", "--only", "99_missing"], "unknown notebooks"),
        (["figures", "--params", "/no/such.yaml"], "parameter file /no/such.yaml does not exist"),
    ],
)
def test_bad_input_exits_2_with_a_message(args, message, tmp_path):
    result = qap(*args, "--out", str(tmp_path / "out")) if args[:2] == ["data", "generate"] else qap(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_malformed_parameter_file(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("- just\n- a list\n")
    result = qap("figures", "--params", str(bad))
    assert result.returncode == 2 and "must hold a mapping" in result.stderr


def test_verify_the_committed_dataset():
    result = qap("data", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("OK")
