"""Figures: fixed colours per bit width, legible layouts, and citable saved files."""

from __future__ import annotations

import hashlib
import itertools
import json

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex, to_rgb

from qaplib import experiments, plots
from qaplib.profiles import get_profile

matplotlib.use("Agg")


def summary_for(bits, phases=3):
    rows = []
    for b in bits:
        for p in range(phases):
            rows.append({"bits": b, "phase": p, "sparsity": p / phases, "bops": 1e6 * b / (p + 1), "accuracy": 0.7 - 0.01 * p,
                         "accuracy_se": 0.001, "macro_auc": 0.9, "neural_efficiency": 0.3, "scheme": "ft", "label_noise": 0.0})
    return pd.DataFrame(rows)


def series_colours(ax) -> dict[str, str]:
    """Label -> colour of each error-bar curve drawn on ``ax``."""
    return {c.get_label(): to_hex(c.lines[0].get_color()) for c in ax.containers}


@pytest.mark.parametrize("bits", [(32, 6), (6, 4), (32, 12, 8, 6, 4), (6,), (16, 6)])
def test_a_bit_width_has_the_same_colour_whatever_else_is_plotted(bits):
    plots.use_book_style()
    fig = plots.curves_figure(summary_for(bits), ["accuracy", "macro_auc"])
    expected = {plots.series_label("bits", b): plots.BIT_COLORS[b] for b in bits}
    assert series_colours(fig.axes[0]) == series_colours(fig.axes[1]) == expected


def cielab(colour: str) -> np.ndarray:
    """CIELAB (D65) coordinates of an sRGB colour: L*, a*, b*."""
    linear = np.array(to_rgb(colour))
    linear = np.where(linear > 0.04045, ((linear + 0.055) / 1.055) ** 2.4, linear / 12.92)
    srgb_to_xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = srgb_to_xyz @ linear / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@pytest.mark.parametrize("bits", [experiments.QAP_BITS, get_profile("paper").bo_bits])
def test_bit_widths_drawn_together_have_clearly_different_colours(bits):
    """CIE76 colour difference of at least 40 between any two widths of one figure (about 2.3 is just noticeable)."""
    assert np.allclose(cielab("#ffffff"), [100, 0, 0], atol=0.05) and np.allclose(cielab("#000000"), 0, atol=0.01)
    for first, second in itertools.combinations(bits, 2):
        distance = np.linalg.norm(cielab(plots.BIT_COLORS[first]) - cielab(plots.BIT_COLORS[second]))
        assert distance >= 40, (first, second, distance)


@pytest.mark.parametrize("n_metrics", [1, 2, 3, 5])
def test_multi_panel_figures_have_at_most_two_panels_a_row_and_readable_text(n_metrics):
    plots.use_book_style()
    metrics = ["accuracy", "macro_auc", "neural_efficiency", "accuracy", "macro_auc"][:n_metrics]
    fig = plots.curves_figure(summary_for((32, 6)), metrics)
    panels = [ax for ax in fig.axes if ax.axison]
    assert len(panels) == n_metrics
    assert len({round(ax.get_position().x0, 3) for ax in panels}) <= 2
    assert fig.get_size_inches()[0] <= 2 * plots.PANEL_SIZE[0] + 0.01  # printed at the page width: about 75 px per inch
    assert min(label.get_fontsize() for ax in panels for label in ax.get_xticklabels()) >= 10


def test_firmware_figure_accepts_every_bit_width():
    table = pd.DataFrame({"bits": [16, 12, 6, 4], "weights pruned": [0.0, 0.5, 0.8, 0.9], "BOPs": [4e6, 1e6, 3e5, 1e5],
                          "effective BOPs": [4e6, 9e5, 2e5, 1.1e5], "LUT": [90_000, 40_000, 16_000, 9_000]})
    fig = plots.lut_vs_bops_figure(table)
    assert [ax.get_xlabel() for ax in fig.axes] == ["BOPs (log scale)", "effective BOPs (log scale)"]
    for ax in fig.axes:
        colours = {to_hex(c) for c in np.concatenate([s.get_facecolor() for s in ax.collections])}
        assert colours == {plots.BIT_COLORS[b] for b in (16, 12, 6, 4)}
    assert "Spearman ρ = +1.00" in fig.axes[0].get_legend().get_texts()[0].get_text()


def test_label_noise_colours_are_fixed_by_value():
    """A noise fraction has one colour in every figure, whatever other fractions are plotted beside it."""

    def noise_figure(fractions):
        rows = summary_for((6,)).drop(columns="label_noise")
        summary = pd.concat([rows.assign(label_noise=f) for f in fractions], ignore_index=True)
        return series_colours(plots.curves_figure(summary, ["accuracy"], color_by="label_noise").axes[0])

    low, high = noise_figure([0.0, 0.5]), noise_figure([0.5, 0.9])
    assert low["50% random labels"] == high["50% random labels"]
    assert len({*low.values(), *high.values()}) == 3  # three fractions, three colours
    plt.close("all")


def test_saved_figure_records_its_file_hashes_citation_and_bibtex(tmp_path):
    plots.use_book_style()
    fig = plots.curves_figure(summary_for((32, 6)), ["accuracy"])
    record = {"notebook": "notebooks/02_qap_sweep.ipynb", "parameters": {"profile": "smoke", "bits": [32, 6]},
              "data_fingerprint": "1a8aa64061f559d6", "result_keys": ["k1", "k2"], "commit": "0123456789ab", "packages": {}}
    saved = plots.save_figure(fig, "fig-test", "A test figure", record, tmp_path)
    stored = json.loads((tmp_path / "fig-test.provenance.json").read_text())
    for fmt in ("pdf", "svg", "png"):
        assert stored["files"][fmt]["sha256"] == hashlib.sha256((tmp_path / f"fig-test.{fmt}").read_bytes()).hexdigest()
    pdf_hash = stored["files"]["pdf"]["sha256"]
    assert pdf_hash in stored["citation"] and "made by notebooks/02_qap_sweep.ipynb at commit 0123456789ab" in stored["citation"]
    bib = (tmp_path / "fig-test.bib").read_text()
    assert bib.startswith("@misc{qap-companion:fig-test,") and pdf_hash in bib and "02\\_qap\\_sweep" in bib
    assert bib.count("{") == bib.count("}")
    caption = plots.provenance_markdown(saved)
    assert "made by `notebooks/02_qap_sweep.ipynb` at commit `0123456789ab`" in caption and "from 2 stored runs" in caption
    assert "{download}`BibTeX <" in caption and pdf_hash[:16] in caption


def test_count_says_one_run_and_two_runs():
    assert plots.count(1, "run") == "1 run" and plots.count(2, "run") == "2 runs" and plots.count(0, "run") == "0 runs"


def test_chapter_9_figures_draw_with_and_without_synthesised_firmware():
    qap = pd.DataFrame({"bits": [6, 6], "weights pruned": [0.0, 0.8], "LUT": [40_000.0, 12_000.0], "accuracy": [0.69, 0.68]})
    hgq = pd.DataFrame({"beta": [1e-6, 1e-5], "LUT": [9_000.0, 3_000.0], "accuracy": [0.688, 0.67]})
    assert len(plots.hgq_lut_figure(qap, hgq).axes) == 2
    empty = plots.hgq_lut_figure(qap.assign(LUT=np.nan), hgq.assign(LUT=np.nan))
    assert any(t.get_text() == "no firmware synthesised" for t in empty.axes[0].texts)
    summary = pd.DataFrame({"bits": [32, 6, 6], "phase": [0, 0, 1], "effective_bops": [1e6, 3e5, 1e5],
                            "accuracy": [0.70, 0.695, 0.68], "accuracy_se": [0.001, 0.001, 0.002]})  # fmt: skip
    front = hgq.assign(granular_bops=[8e4, 5e4], accuracy_se=0.001, granular_bops_se=1e3)
    fig = plots.hgq_front_figure(summary, front, None, 0.70, (0.005, 0.01))
    assert len(fig.axes) == 2 and fig.axes[1].get_ylim()[0] == pytest.approx(0.70 - 0.01 - 0.01)
