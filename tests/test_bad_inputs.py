"""Issue 31's corpus of bad input (``tests/bad_inputs/``): exit 2 or a first-cell error, never a traceback, a
hang or a silent acceptance."""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from qaplib.provenance import REPO_ROOT

CORPUS = Path(__file__).parent / "bad_inputs"
CLI = yaml.safe_load((CORPUS / "cli.yaml").read_text())
NOTEBOOK_CASES = yaml.safe_load((CORPUS / "notebooks.yaml").read_text())
#: A case still running after this many seconds hangs.
HANG_SECONDS = int(os.environ.get("QAP_HANG_SECONDS", 60))


def _merged(base: dict, changes: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        merged[key] = _merged(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def _filled(value, places: dict[str, str]):
    """``value`` with every ``{name}`` of ``places`` replaced in its strings (the rest of the text left as it is)."""
    if isinstance(value, str):
        for name, text in places.items():
            value = value.replace(f"{{{name}}}", text)
        return value
    if isinstance(value, list):
        return [_filled(v, places) for v in value]
    if isinstance(value, dict):
        return {k: _filled(v, places) for k, v in value.items()}
    return value


def _create(path: Path, what: dict) -> None:
    """Make ``path`` as the corpus' ``files`` entry ``what`` says (see the header of cli.yaml)."""
    (kind, content), = what.items()
    if kind == "dir":
        path.mkdir()
        for name, inner in content.items():
            _create(path / name, inner)
    elif kind == "text":
        path.write_text(content)
    elif kind == "bytes":
        path.write_bytes(bytes.fromhex(content))
    elif kind == "spec":
        path.write_text(json.dumps(_merged(CLI["small_spec"], content)))
    elif kind == "grid":
        path.write_text(yaml.safe_dump(_merged(CLI["small_grid"], content)))
    elif kind == "link":
        path.symlink_to(content)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "hdf5_group":
        import h5py

        with h5py.File(path, "w") as handle:
            handle.create_group(content)
            handle["jetFeatureNames"] = [b"zlogz"]
    else:
        raise ValueError(f"unknown kind of corpus file {kind!r}")


@pytest.fixture(scope="module")
def silent_port():
    """A local port where a server accepts connections and never answers: not a Dask scheduler."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for connection in accepted:
        connection.close()


def _cli_case(case: dict):
    return pytest.param(case, id=case["id"], marks=[pytest.mark.slow] if case.get("trains") else [])


@pytest.mark.slow
@pytest.mark.parametrize("case", [_cli_case(case) for case in CLI["cases"]])
def test_bad_input_to_qap_exits_2_naming_the_value(case, tmp_path, silent_port):
    places = {"tmp": str(tmp_path), "repo": str(REPO_ROOT), "port": str(silent_port)}
    case = _filled(case, places)
    for name, what in case.get("files", {}).items():
        _create(tmp_path / name, what)
    store = tmp_path / "store"
    env = {**os.environ, "QAP_RESULTS_DIR": str(store), "PYTHONPATH": str(REPO_ROOT)}
    try:
        result = subprocess.run([sys.executable, "-m", "qaplib.cli", *case["args"]], capture_output=True, text=True,
                                cwd=tmp_path, env=env, timeout=HANG_SECONDS)  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"{case['id']}: still running after {HANG_SECONDS} s")
    errors = [line for line in result.stderr.splitlines() if line.startswith("qap: error: ")]
    assert result.returncode == 2, (result.stdout[-500:], result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert len(errors) == 1 and case["message"] in errors[0], result.stderr[-3000:]
    assert not list(store.glob("*/*/record.json")), "something was trained and stored"
    if case.get("trains"):  # the diverged run is recorded as failed, with the reason
        assert any(case["message"] in path.read_text() for path in store.glob("failed/*.json"))


@pytest.mark.slow
@pytest.mark.parametrize("case", NOTEBOOK_CASES, ids=[f"{c['notebook']}-{c['message']}" for c in NOTEBOOK_CASES])
def test_bad_notebook_parameter_stops_in_the_first_cell(case, tmp_path):
    papermill = pytest.importorskip("papermill")
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        papermill.execute_notebook(str(REPO_ROOT / "notebooks" / f"{case['notebook']}.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters=case["parameters"], cwd=str(tmp_path), progress_bar=False)  # fmt: skip
    assert failure.value.ename == "InvalidSpecError" and case["message"] in failure.value.evalue, failure.value.evalue
    assert failure.value.exec_count == 3  # parameters, injected parameters, then the set-up cell stops
    assert not (tmp_path / "figures").exists()
