"""The interactive explorers: what a point aggregates, what its tooltip says, and that the page needs no network."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qaplib import explorer


def sweep_frame() -> pd.DataFrame:
    """Two bit widths x two folds x two phases, numbers chosen so every mean and error is known."""
    rows = []
    for bits, key_stem in ((32, "f"), (6, "s")):
        for fold, accuracy in ((0, 0.70), (1, 0.72)):
            for phase, sparsity in ((0, 0.0), (1, 0.5)):
                rows.append({"bits": bits, "scheme": "ft", "phase": phase, "fold": fold, "key": f"{key_stem}{fold}" + "0" * 22,
                             "accuracy": accuracy - 0.1 * phase, "sparsity": sparsity, "bops": 1000.0 * bits * (1 - sparsity),
                             "effective_bops": 900.0 * bits * (1 - sparsity)})  # fmt: skip
    return pd.DataFrame(rows)


def test_a_point_is_the_fold_mean_with_its_standard_error_and_every_runs_key():
    points = explorer.sweep_points(sweep_frame())
    six = points[(points["bits"] == 6) & (points["phase"] == 1)].iloc[0]
    assert six["accuracy"] == pytest.approx(0.61) and six["accuracy_se"] == pytest.approx(0.01)
    assert six["n_folds"] == 2 and six["bops"] == 3000 and six["effective_bops"] == 2700 and six["sparsity"] == 0.5
    assert six["keys"] == "s00000000000; s10000000000"
    assert points[["LUT", "FF", "latency"]].isna().all().all()


def test_firmware_measurements_join_the_point_of_their_run_and_phase():
    stage, fold = {"batchnorm": "stage"}, {"batchnorm": "rounded fold"}
    reports = [{"run_key": "s1" + "0" * 22, "phase": 1, "export": stage,
                "rtl": {"latency_cycles": 5, "synthesis": {"lut": 1234, "ff": 56}}},
               {"run_key": "s1" + "0" * 22, "phase": 1, "export": fold,  # a different network: not this point's
                "rtl": {"latency_cycles": 4, "synthesis": {"lut": 700, "ff": 50}}},
               {"run_key": "s1" + "0" * 22, "phase": 1,  # an earlier format's report (re-rounded fold): left out
                "rtl": {"latency_cycles": 4, "synthesis": {"lut": 701, "ff": 50}}},
               {"run_key": "f0" + "0" * 22, "phase": 0, "export": None, "rtl": None}]  # fmt: skip
    firmware = explorer.firmware_measurements(reports)
    assert firmware.to_dict("records") == [{"key": "s1" + "0" * 22, "phase": 1, "LUT": 1234, "FF": 56, "latency [cycles]": 5}]
    points = explorer.sweep_points(sweep_frame(), firmware)
    synthesised = points[points["LUT"].notna()]
    assert synthesised[["bits", "phase", "LUT", "FF", "latency"]].to_dict("records") == [
        {"bits": 6, "phase": 1, "LUT": 1234.0, "FF": 56.0, "latency": 5.0}
    ]


def test_the_tooltip_names_bits_pruning_accuracy_counts_hardware_and_keys():
    firmware = pd.DataFrame([{"key": "s0" + "0" * 22, "phase": 1, "LUT": 1234, "FF": 56, "latency [cycles]": 5}])
    figure = explorer.accuracy_bops_explorer(explorer.sweep_points(sweep_frame(), firmware))
    assert [trace.name for trace in figure.data] == ["32-bit", "6-bit"]  # one legend entry per bit width
    six = figure.data[1].text[1]
    for shown in ("<b>6-bit</b>", "FT pruning", "50.0 % pruned", "61.00 % ± 1.00 % (s.e., 2 folds)", "BOPs 3,000",
                  "effective 2,700", "LUT 1,234, FF 56, latency 5 cycles", "s00000000000; s10000000000"):  # fmt: skip
        assert shown in six, (shown, six)
    assert "not synthesised" in figure.data[0].text[0]
    paper, effective = figure.layout.updatemenus[0].buttons
    assert list(effective.args[0]["x"][1]) == [5400.0, 2700.0] and list(paper.args[0]["x"][1]) == [6000.0, 3000.0]


def test_the_firmware_explorer_shows_the_synthesised_models_only():
    table = pd.DataFrame({"bits": [32, 6, 4], "weights pruned": [0.0, 0.8, 0.8], "accuracy (trained)": [0.7, 0.69, 0.68],
                          "BOPs": [4.6e6, 2e5, 1.5e5], "effective BOPs": [4.6e6, 1.9e5, 1.2e5],
                          "LUT": [np.nan, 16000, 9000], "FF": [np.nan, 2000, 1500],
                          "latency [cycles]": [np.nan, 5, 5]})  # fmt: skip
    figure = explorer.lut_bops_explorer(explorer.firmware_points(table, ["a" * 24, "b" * 24, "c" * 24]))
    assert [trace.name for trace in figure.data] == ["6-bit", "4-bit"]
    assert "(1 fold)" in figure.data[0].text[0] and "bbbbbbbbbbbb" in figure.data[0].text[0]


def test_the_page_loads_plotly_from_the_book_not_from_a_network():
    html = explorer.explorer_html(explorer.accuracy_bops_explorer(explorer.sweep_points(sweep_frame())), "explorer-test")
    assert 'src="../_static/plotly.min.js"' in html and 'id="explorer-test"' in html
    assert "cdn" not in html.lower() and "https://" not in html


def test_a_results_table_without_the_needed_columns_is_refused_by_name():
    with pytest.raises(ValueError, match=r"lacks the columns \['effective_bops'\]"):
        explorer.sweep_points(sweep_frame().drop(columns="effective_bops"))


def test_stored_reports_serve_whole_reports_only(tmp_path):
    from qaplib.firmware.cache import reports_in, stored_reports
    from qaplib.store import ResultStore

    store = ResultStore(tmp_path)
    for key, lut in (("a" * 24, 10), ("b" * 24, 20)):
        reports_in(tmp_path).write(key, {"run_key": "r" * 24, "phase": 0, "lut": lut})
    assert [r["lut"] for r in stored_reports(store)] == [10, 20]
    edited = tmp_path / "firmware" / f"{'b' * 24}.json"
    edited.write_text(edited.read_text().replace('"lut": 20', '"lut": 2'))
    (tmp_path / "firmware" / f"{'c' * 24}.json").write_text("{not json")
    assert [r["lut"] for r in stored_reports(store)] == [10]
