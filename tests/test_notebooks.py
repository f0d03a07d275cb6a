"""Every notebook runs under papermill with the `smoke` profile and writes its figures."""

from __future__ import annotations

import json

import nbformat
import pytest

from qaplib.book import execute_notebook, notebook_names

papermill = pytest.importorskip("papermill")

EXPECTED_FIGURES = {
    "01_dataset": ["fig-dataset-balance", "fig-dataset-features", "fig-dataset-mass", "fig-dataset-roc", "fig-dataset-confusion"],
    "02_qap_sweep": ["fig-qap-accuracy-auc", "fig-qap-background"],
    "03_pruning_schemes": ["fig-schemes"],
    "04_batchnorm_l1": ["fig-bn-l1"],
    "05_information_content": ["fig-efficiency-bops", "fig-aiq-bops", "fig-efficiency-accuracy"],
    "06_generalizability": ["fig-generalizability"],
    "07_bayesian_optimization": ["fig-bo-accuracy", "fig-bo-background"],
    "08_firmware": ["fig-firmware-lut-bops"],
}
#: Extra smoke parameters: the firmware chapter checks the C-sim path only (the RTL path has its own test).
SMOKE_EXTRA = {
    "07_bayesian_optimization": {"bits": [32, 6]},
    "08_firmware": {"models": [[6, 0.5], [4, 0.9]], "rtl": False, "n_samples": 2000},
}


def stream_text(nb) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_every_notebook_is_tested_and_has_a_parameters_cell_first():
    assert set(notebook_names()) == set(EXPECTED_FIGURES)
    for name in notebook_names():
        nb = nbformat.read(f"notebooks/{name}.ipynb", as_version=4)
        code_cells = [c for c in nb.cells if c.cell_type == "code"]
        assert "parameters" in code_cells[0].metadata.get("tags", []), name
        assert not any(c.get("outputs") for c in code_cells), f"{name}: commit notebooks/ without outputs"
        for label in EXPECTED_FIGURES[name]:  # every published figure is placed in the book with its provenance
            text = "".join(c.source for c in nb.cells if c.cell_type == "markdown")
            assert f"{{glue:figure}} {label}" in text and f"{label}-provenance:myst" in text, (name, label)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED_FIGURES))
def test_notebook_runs_with_smoke_profile(name, tmp_path):
    parameters = {"profile": "smoke", "workers": 2, **SMOKE_EXTRA.get(name, {})}
    executed = execute_notebook(name, parameters, output_dir=tmp_path)
    nb = nbformat.read(executed, as_version=4)
    assert nb.metadata.papermill.parameters == parameters
    for label in EXPECTED_FIGURES[name]:
        for suffix in ("pdf", "svg", "png", "provenance.json"):
            assert (tmp_path / "figures" / f"{label}.{suffix}").stat().st_size > 0, (label, suffix)
        record = json.loads((tmp_path / "figures" / f"{label}.provenance.json").read_text())
        assert record["parameters"]["profile"] == "smoke" and record["notebook"] == f"{name}.ipynb"
        assert record["packages"]["tensorflow"] == "2.15.1" and record["data_fingerprint"]
        if name != "01_dataset" or label in ("fig-dataset-roc", "fig-dataset-confusion"):
            assert record["result_keys"], label


@pytest.mark.slow
def test_changing_a_parameter_trains_only_the_runs_that_changed(tmp_path):
    first = execute_notebook("02_qap_sweep", {"profile": "smoke", "bits": [32, 6]}, output_dir=tmp_path / "a")
    second = execute_notebook("02_qap_sweep", {"profile": "smoke", "bits": [32, 6, 16]}, output_dir=tmp_path / "b")
    assert "runs trained now" in stream_text(nbformat.read(first, as_version=4))
    assert "1 runs trained now, 2 taken from the store" in stream_text(nbformat.read(second, as_version=4))


@pytest.mark.parametrize(
    "name, parameters, message",
    [
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
    ],
)
def test_bad_parameter_stops_in_the_first_cell(name, parameters, message, tmp_path):
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        execute_notebook(name, parameters, output_dir=tmp_path)
    assert message in str(failure.value)
    assert failure.value.exec_count == 3  # parameters, injected parameters, then the set-up cell fails
    assert not (tmp_path / "figures").exists()
