"""Every notebook runs under papermill with the `smoke` profile, cleanly, and reruns on a user's data file."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from output_checks import output_problems

from qaplib import data
from qaplib.book import declared_parameters, execute_notebook, notebook_names
from qaplib.errors import InvalidSpecError
from qaplib.manifest import expected_figures
from qaplib.notebook import COMMON_PARAMETERS
from qaplib.parameters import RULES
from qaplib.provenance import REPO_ROOT

papermill = pytest.importorskip("papermill")

EXPECTED_FIGURES = expected_figures()
#: Extra smoke parameters: the firmware chapter checks the C-sim path only (the RTL path has its own test).
SMOKE_EXTRA = {
    "07_bayesian_optimization": {"bits": [32, 6]},
    "08_firmware": {"models": [[6, 0.5], [4, 0.9]], "rtl": False, "n_samples": 2000},
    "09_qap_vs_hgq": {"bits": [32, 6], "betas": [1e-6, 1e-5], "models": [[6, 0.5]], "rtl": False, "n_samples": 500},
}


def stream_text(nb) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def check_figures(directory: Path, name: str, fingerprint: str) -> None:
    """Every expected figure of ``name`` exists in all formats, with a record whose hashes and data identity hold."""
    for label in EXPECTED_FIGURES[name]:
        for suffix in ("pdf", "svg", "png", "provenance.json", "bib"):
            assert (directory / f"{label}.{suffix}").stat().st_size > 0, (label, suffix)
        record = json.loads((directory / f"{label}.provenance.json").read_text())
        assert record["notebook"] == f"notebooks/{name}.ipynb" and record["label"] == label and record["title"]
        assert record["data_fingerprint"] == fingerprint, (label, record["data_fingerprint"])
        for fmt in ("pdf", "svg", "png"):
            digest = hashlib.sha256((directory / f"{label}.{fmt}").read_bytes()).hexdigest()
            assert record["files"][fmt]["sha256"] == digest, (label, fmt)
        assert record["files"]["pdf"]["sha256"] in record["citation"] and record["commit"] in record["citation"]
        assert record["bibtex"] == (directory / f"{label}.bib").read_text()
        assert record["bibtex"].startswith(f"@misc{{qap-companion:{label},")


def test_every_notebook_is_tested_and_has_a_parameters_cell_first(caplog):
    assert set(notebook_names()) == set(EXPECTED_FIGURES)
    for name in notebook_names():
        nb = nbformat.read(f"notebooks/{name}.ipynb", as_version=4)
        declared = set(declared_parameters(name))
        assert set(COMMON_PARAMETERS) <= declared, name  # one -p source FILE reaches every chapter
        setup = next(c.source for c in nb.cells if c.cell_type == "code" and "notebook.start(" in c.source)
        assert f'notebook.start("{name}.ipynb", globals())' in setup, name
        code_cells = [c for c in nb.cells if c.cell_type == "code"]
        assert "parameters" in code_cells[0].metadata.get("tags", []), name
        assert not any(c.get("outputs") for c in code_cells), f"{name}: commit notebooks/ without outputs"
        for label in EXPECTED_FIGURES[name]:  # every published figure is placed in the book with its provenance
            text = "".join(c.source for c in nb.cells if c.cell_type == "markdown")
            assert f"{{glue:figure}} {label}" in text and f"{label}-provenance:myst" in text, (name, label)
    assert "Unable to parse" not in caplog.text  # papermill reads every parameter line and its comment


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED_FIGURES))
def test_notebook_runs_with_smoke_profile(name, tmp_path):
    parameters = {"profile": "smoke", "workers": 2, **SMOKE_EXTRA.get(name, {})}
    executed = execute_notebook(name, parameters, output_dir=tmp_path)
    nb = nbformat.read(executed, as_version=4)
    assert nb.metadata.papermill.parameters == parameters
    assert not output_problems(nb), output_problems(nb)
    check_figures(tmp_path / "figures", name, data.load_jets("default").fingerprint)
    for label in EXPECTED_FIGURES[name]:
        record = json.loads((tmp_path / "figures" / f"{label}.provenance.json").read_text())
        assert record["parameters"]["profile"] == "smoke" and record["packages"]["tensorflow"] == "2.15.1"
        if name != "01_dataset" or label in ("fig-dataset-roc", "fig-dataset-confusion"):
            assert record["result_keys"], label


@pytest.mark.slow
def test_changing_a_parameter_trains_only_the_runs_that_changed(tmp_path):
    first = execute_notebook("02_qap_sweep", {"profile": "smoke", "bits": [32, 6]}, output_dir=tmp_path / "a")
    second = execute_notebook("02_qap_sweep", {"profile": "smoke", "bits": [32, 6, 16]}, output_dir=tmp_path / "b")
    assert "runs trained now" in stream_text(nbformat.read(first, as_version=4))
    assert "1 run trained now, 2 taken from the store" in stream_text(nbformat.read(second, as_version=4))
    # the float width alone is a valid request (it crashed in the effective-sparsity table): nothing to compare
    alone = stream_text(nbformat.read(execute_notebook("02_qap_sweep", {"profile": "smoke", "bits": [32]},
                                                       output_dir=tmp_path / "c"), as_version=4))  # fmt: skip
    assert "0 runs trained now, 1 taken from the store" in alone and "No quantized bit width" in alone


#: (notebook, bad parameters, what the error says).
BAD_PARAMETER_CASES = [
        ("01_dataset", {"profile": "huge"}, "profile must be one of"),
        ("01_dataset", {"profile": "smoke", "seed": "3"}, "parameter 'seed' must be int"),
        ("01_dataset", {"profile": "smoke", "fold": 7}, "fold must be an integer in"),
        ("01_dataset", {"profile": "smoke", "source": "/no/such/file.arff"}, "does not exist"),
        ("02_qap_sweep", {"profile": "smoke", "bits": [6, 5]}, "bits must be one of {4, 6, 8, 12, 16, 32}, got 5"),
        ("02_qap_sweep", {"profile": "smoke", "bits": "6"}, "must be a non-empty list of bit widths"),
        ("02_qap_sweep", {"profile": "smoke", "tolerance": "1%"}, "parameter 'tolerance' must be float"),
        ("03_pruning_schemes", {"profile": "smoke", "executor": "spark"}, "parameter 'executor' must be 'local' or 'dask'"),
        ("06_generalizability", {"profile": "smoke", "label_noise": [0.5, 1.2]}, "label_noise must be a fraction"),
        ("07_bayesian_optimization", {"profile": "smoke", "bits": [7]}, "bits must be one of"),
        ("08_firmware", {"profile": "smoke", "models": [[5, 0.5]]}, "bits must be one of"),
        ("08_firmware", {"profile": "smoke", "models": [[6, 1.5]]}, "sparsity must be a fraction in [0, 1)"),
]
#: The cases whose values a rule of qaplib.parameters judges alone; a fold or a file is judged against the profile or
#: the data, in the notebook's first cell.
RULED_CASES = [case for case in BAD_PARAMETER_CASES
               if set(case[1]) - {"profile"} <= set(RULES) and not {"fold", "source"} & set(case[1])]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("name, parameters, message", BAD_PARAMETER_CASES)
def test_bad_parameter_stops_in_the_first_cell(name, parameters, message, tmp_path):
    """A plain papermill run (no check before the kernel starts) stops in the set-up cell."""
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        papermill.execute_notebook(f"notebooks/{name}.ipynb", str(tmp_path / "out.ipynb"), parameters=parameters,
                                   cwd=str(tmp_path), progress_bar=False)  # fmt: skip
    assert message in str(failure.value)
    assert failure.value.exec_count == 3  # parameters, injected parameters, then the set-up cell fails
    assert not (tmp_path / "figures").exists()


@pytest.mark.parametrize("name, parameters, message", RULED_CASES)
def test_a_bad_parameter_with_a_rule_fails_before_any_kernel_starts(name, parameters, message, tmp_path):
    """The rules of qaplib.parameters also run in execute_notebook (qap figures), before the kernel starts."""
    assert len(RULED_CASES) >= 8
    with pytest.raises(InvalidSpecError, match=re.escape(message)):
        execute_notebook(name, parameters, output_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_unknown_parameter_fails_before_the_kernel_starts(tmp_path):
    with pytest.raises(InvalidSpecError, match=r"02_qap_sweep has no parameter 'sauce'; its parameters are profile, source"):
        execute_notebook("02_qap_sweep", {"profile": "smoke", "sauce": "real.csv"}, output_dir=tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_unknown_parameter_stops_a_plain_papermill_run_in_the_first_cell(tmp_path):
    """Papermill itself only warns "Passed unknown parameter"; notebook.start turns that into an error."""
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        papermill.execute_notebook("notebooks/02_qap_sweep.ipynb", str(tmp_path / "out.ipynb"), cwd=str(tmp_path),
                                   parameters={"profile": "smoke", "sauce": "real.csv"}, progress_bar=False)  # fmt: skip
    assert "02_qap_sweep.ipynb has no parameter 'sauce'" in str(failure.value) and failure.value.exec_count == 3
    assert not (tmp_path / "figures").exists()


@pytest.fixture(scope="module")
def small_real_format_csv(tmp_path_factory) -> Path:
    """2,500 generated jets written as the OpenML hls4ml_lhc_jets_hlf CSV export (j_ columns, a class column)."""
    import numpy as np
    import pandas as pd

    table = data.read_jets("default")
    rows = np.random.default_rng(3).permutation(len(table.labels))[:2500]
    frame = pd.DataFrame(table.features[rows], columns=[f"j_{name}" for name in data.FEATURE_NAMES])
    frame["class"] = [data.CLASS_NAMES[k] for k in table.labels[rows]]
    path = tmp_path_factory.mktemp("real") / "small_real_format.csv"
    frame.to_csv(path, index=False)
    return path


def git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout


@pytest.mark.slow
def test_papermill_rerun_on_a_users_file_uses_it_everywhere_and_changes_nothing_tracked(tmp_path, small_real_format_csv):
    """The README's command: papermill with -p source FILE and a list given as text, from the repository root."""
    before = git_status()
    papermill_cli = Path(sys.executable).with_name("papermill")
    result = subprocess.run([str(papermill_cli), "notebooks/02_qap_sweep.ipynb", str(tmp_path / "out.ipynb"), "--cwd",
                             str(tmp_path), "-p", "profile", "smoke", "-p", "source", str(small_real_format_csv),
                             "-p", "bits", "[32, 6]", "-p", "workers", "2"],
                            cwd=REPO_ROOT, capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "unknown parameter" not in result.stderr and "Unable to parse" not in result.stderr
    fingerprint = data.load_jets(str(small_real_format_csv)).fingerprint
    assert fingerprint != data.load_jets("default").fingerprint
    check_figures(tmp_path / "figures", "02_qap_sweep", fingerprint)
    record = json.loads((tmp_path / "figures" / "fig-qap-accuracy-auc.provenance.json").read_text())
    assert record["parameters"]["bits"] == [32, 6] and record["parameters"]["source"] == str(small_real_format_csv)
    assert len(record["result_keys"]) == 2  # one float and one 6-bit run, trained on the file
    nb = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert "qap (smoke): 2 runs trained now" in stream_text(nb)
    assert git_status() == before


@pytest.mark.slow
def test_dataset_chapter_on_a_users_file_records_that_files_fingerprint_on_every_figure(tmp_path, small_real_format_csv):
    executed = execute_notebook("01_dataset", {"profile": "smoke", "source": str(small_real_format_csv), "workers": 1},
                                output_dir=tmp_path)  # fmt: skip
    check_figures(tmp_path / "figures", "01_dataset", data.load_jets(str(small_real_format_csv)).fingerprint)
    nb = nbformat.read(executed, as_version=4)
    assert "the file small_real_format.csv" in stream_text(nb)
    assert not output_problems(nb, allowed_paths=(str(small_real_format_csv),))
    parameters = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert f'source = "{small_real_format_csv}"' in parameters.source  # the values the chapter ran with, in one cell
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)


def test_a_parameter_resolved_from_none_is_recorded_with_its_value(tmp_path):
    """A figure's provenance names the bit widths used, not None, when the notebook took the profile's."""
    from qaplib.notebook import NotebookRun
    from qaplib.profiles import get_profile

    run = NotebookRun(notebook="notebooks/07_bayesian_optimization.ipynb", parameters={"bits": None, "search_seed": 0},
                      profile=get_profile("paper"), figure_dir=tmp_path)  # fmt: skip
    assert run.resolved("bits", [32, 12, 6, 4]) == [32, 12, 6, 4]
    assert run.parameters == {"bits": [32, 12, 6, 4], "search_seed": 0}
    with pytest.raises(InvalidSpecError, match="has no parameter 'bit'"):
        run.resolved("bit", [32])


@pytest.mark.slow
def test_store_only_reaches_every_notebook_as_a_parameter_and_stops_one_with_a_missing_run(tmp_path, monkeypatch):
    """``qap figures --store-only`` passes ``store_only=True`` to each notebook (no environment variable): a chapter
    whose runs are not stored stops before any training, naming the fix."""
    from papermill import PapermillExecutionError

    from qaplib.book import execute_all

    monkeypatch.setenv("QAP_RESULTS_DIR", str(tmp_path / "empty-store"))
    with pytest.raises(PapermillExecutionError, match="not in the result store.*store_only is set") as stopped:
        execute_all("smoke", only=["03_pruning_schemes"], output_dir=tmp_path / "out", store_only=True)
    assert "qap sweep --profile NAME" in str(stopped.value)
    executed = nbformat.read(tmp_path / "out" / "03_pruning_schemes.ipynb", as_version=4)
    assert executed.metadata.papermill.parameters["store_only"] is True
    assert not list((tmp_path / "empty-store").rglob("weights.npz"))  # nothing was trained
