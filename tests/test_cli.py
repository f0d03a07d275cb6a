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
@pytest.mark.slow
def test_bad_input_exits_2_with_a_message(args, message, tmp_path):
    result = qap(*args, "--out", str(tmp_path / "out")) if args[:2] == ["data", "generate"] else qap(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_malformed_parameter_file(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("- just\n- a list\n")
    result = qap("figures", "--params", str(bad))
    assert result.returncode == 2 and "must hold a mapping" in result.stderr


def test_verify_the_committed_dataset():
    result = qap("data", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("OK")


SMALL_SPEC = {"train": {"max_epochs": 1, "engine": "batched"}, "data": {"max_train_jets": 500}, "pruning": {"sparsities": [0.0]}}
SMALL_GRID = "name: g\nbase: {train: {max_epochs: 1}, data: {max_train_jets: 500}, pruning: {sparsities: [0.0]}}\n"


def _spec_file(tmp_path, **changes):
    import json

    spec = json.loads(json.dumps(SMALL_SPEC))
    for dotted, value in changes.items():
        section, _, name = dotted.partition("__")
        if name:
            spec.setdefault(section, {})[name] = value
        else:
            spec[section] = value
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return str(path)


def _header_only_csv(tmp_path):
    from qaplib.data import FEATURE_NAMES

    path = tmp_path / "empty.csv"
    path.write_text(",".join([*FEATURE_NAMES, "class"]) + "\n")
    return str(path)


def _file(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


BAD_INPUTS = {
    "study variant unknown": (lambda t: ["data", "study", "--out", str(t / "s"), "--variants", "nonsense"], "unknown variants"),
    "study jets odd": (lambda t: ["data", "study", "--out", str(t / "s"), "--jets-per-class", "301"], "even number >= 200"),
    "store is a file": (lambda t: ["run", _spec_file(t), "--store", _file(t, "f", b"x")], "is a file, not a directory"),
    "seed 2**40": (lambda t: ["run", _spec_file(t, seed=2**40)], "seed must be an integer in [0, 999999]"),
    "unreachable scheduler": (lambda t: ["sweep", _file(t, "g.yaml", (SMALL_GRID + "grid: {model.bits: [6]}\n").encode()),
                                         "--executor", "dask", "--scheduler", "tcp://127.0.0.1:1"], "no Dask scheduler answers"),
    "scheduler not an address": (lambda t: ["sweep", _file(t, "g.yaml", (SMALL_GRID + "grid: {model.bits: [6]}\n").encode()),
                                            "--executor", "dask", "--scheduler", "notanaddress"], "must look like tcp://host:port"),
    "unwritable dataset folder": (lambda t: ["data", "generate", "--tier", "smoke", "--out", _file(t, "f", b"x") + "/sub"],
                                  "cannot write the dataset directory"),
    "truncated manifest": (lambda t: ["data", "verify", str(_file(t, "manifest.json", b'{"shards": [')).rsplit("/", 1)[0]],
                           "not a valid dataset manifest"),
    "spec not UTF-8": (lambda t: ["run", _file(t, "s.json", b'{"seed": "\xff\xfe"}')], "not UTF-8 text"),
    "test_fraction as text": (lambda t: ["run", _spec_file(t, data__test_fraction="0.2")], "test_fraction must lie in (0, 1)"),
    "l1 NaN": (lambda t: ["run", _file(t, "s.json", b'{"model": {"l1": NaN}}')], "l1 must be a non-negative, finite number"),
    "l1 Infinity": (lambda t: ["run", _file(t, "s.json", b'{"model": {"l1": Infinity}}')], "l1 must be a non-negative, finite"),
    "learning rate Infinity": (lambda t: ["run", _file(t, "s.json", b'{"train": {"learning_rate": Infinity}}')],
                               "learning_rate must be a positive, finite number"),
    "empty grid": (lambda t: ["sweep", _file(t, "g.yaml", (SMALL_GRID + "grid: {}\n").encode())], "'grid' is empty"),
    "grid not UTF-8": (lambda t: ["sweep", _file(t, "g.yaml", b"name: \xff\n")], "not UTF-8 text"),
    "header-only CSV": (lambda t: ["run", _spec_file(t, data__source=_header_only_csv(t))], "holds no jets"),
    "too few jets": (lambda t: ["run", _spec_file(t, data__source=_tiny_csv(t))], "too few for this split"),
}


def _tiny_csv(tmp_path):
    from qaplib.data import CLASS_NAMES, FEATURE_NAMES

    path = tmp_path / "tiny.csv"
    rows = [",".join([str(0.1 * (i + k)) for k in range(16)] + [CLASS_NAMES[i % 5]]) for i in range(6)]
    path.write_text(",".join([*FEATURE_NAMES, "class"]) + "\n" + "\n".join(rows) + "\n")
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_every_bad_input_exits_2_with_a_clear_message_before_any_training(case, tmp_path, monkeypatch):
    make_args, message = BAD_INPUTS[case]
    store = tmp_path / "store"
    monkeypatch.setenv("QAP_RESULTS_DIR", str(store))
    result = qap(*make_args(tmp_path))
    assert result.returncode == 2, (case, result.stdout[-500:], result.stderr[-2000:])
    assert message in result.stderr and "Traceback" not in result.stderr, (case, result.stderr[-2000:])
    assert not list(store.glob("*/*/record.json")), f"{case}: something was trained"
