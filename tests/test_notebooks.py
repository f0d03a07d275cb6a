"""Every notebook runs under papermill with the `smoke` profile and writes its figures."""

from __future__ import annotations

import json

import nbformat
import pytest

from qaplib.book import execute_notebook, notebook_names

papermill = pytest.importorskip("papermill")

EXPECTED_FIGURES = {
    "01_dataset": ["fig-dataset-balance", "fig-dataset-features", "fig-dataset-mass", "fig-dataset-roc",
                   "fig-dataset-confusion"],
}


def test_every_notebook_has_a_parameters_cell_first():
    for name in notebook_names():
        nb = nbformat.read(f"notebooks/{name}.ipynb", as_version=4)
        code_cells = [c for c in nb.cells if c.cell_type == "code"]
        assert "parameters" in code_cells[0].metadata.get("tags", []), name
        assert not any(c.get("outputs") for c in code_cells), f"{name}: commit notebooks/ without outputs"


@pytest.mark.parametrize("name", sorted(EXPECTED_FIGURES))
def test_notebook_runs_with_smoke_profile(name, tmp_path):
    executed = execute_notebook(name, {"profile": "smoke", "seed": 1}, output_dir=tmp_path)
    nb = nbformat.read(executed, as_version=4)
    assert nb.metadata.papermill.parameters == {"profile": "smoke", "seed": 1}
    for label in EXPECTED_FIGURES[name]:
        for suffix in ("pdf", "svg", "png", "provenance.json"):
            assert (tmp_path / "figures" / f"{label}.{suffix}").stat().st_size > 0, (label, suffix)
        record = json.loads((tmp_path / "figures" / f"{label}.provenance.json").read_text())
        assert record["parameters"]["profile"] == "smoke" and record["notebook"] == f"{name}.ipynb"
        assert record["packages"]["tensorflow"] == "2.15.1"


@pytest.mark.parametrize(
    "parameters, message",
    [
        ({"profile": "huge"}, "profile must be one of"),
        ({"profile": "smoke", "seed": "3"}, "parameter 'seed' must be int"),
        ({"profile": "smoke", "fold": 7}, "fold must be an integer in"),
        ({"profile": "smoke", "source": "/no/such/file.arff"}, "does not exist"),
    ],
)
def test_bad_parameter_stops_in_the_first_cell(parameters, message, tmp_path):
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        execute_notebook("01_dataset", parameters, output_dir=tmp_path)
    assert message in str(failure.value)
    assert failure.value.exec_count == 3  # parameters, injected parameters, then the set-up cell fails
    assert not (tmp_path / "figures").exists()
