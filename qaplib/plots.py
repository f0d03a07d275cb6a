"""Figures of the book, and how every figure is saved and labelled with its provenance.

Each ``*_figure`` function takes plain arrays and returns a matplotlib Figure; :func:`save_figure`
writes it as PDF, SVG and 300-dpi PNG under a stable label, next to a JSON file with its provenance.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib import ticker

from qaplib.citation import figure_bibtex, figure_citation
from qaplib.files import atomic_write_bytes

CLASS_LABELS = {"g": "gluon", "q": "light quark", "w": "W boson", "z": "Z boson", "t": "top quark"}
FIGURE_FORMATS = ("pdf", "svg", "png")

#: One colour per bit width in every figure of the book (seaborn's colour-blind palette). The widths
#: drawn together (32, 12, 8, 6, 4) are at least 40 CIELAB units apart: 12-bit is green, not the orange
#: that sat next to 6-bit's vermilion.
BIT_COLORS = {32: "#0173b2", 16: "#de8f05", 12: "#029e73", 8: "#ca9161", 6: "#d55e00", 4: "#cc78bc"}
#: One line style per pruning scheme, batch-norm/L1 variant and (where bits are not the colour) bit width.
LINE_STYLES = {
    "scheme": {"ft": "-", "lt": "--"},
    "variant": {"BN + L1": "-", "no BN": "--", "no L1": ":"},
    "bits": {32: "-", 16: (0, (5, 1)), 12: "-.", 8: (0, (1, 1)), 6: "--", 4: ":"},
}
#: Label-noise fractions are coloured by value on this sequential map (0 dark, 0.9 light).
NOISE_COLORMAP = "plasma"
#: Width [inches] of one panel; at most two panels share a row so that text reads at the book's page width.
PANEL_SIZE = (4.0, 3.1)


def use_book_style() -> None:
    """One consistent look for every figure in the book (12 pt labels, 11 pt ticks and legends)."""
    sns.set_theme(context="notebook", style="ticks", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 110, "savefig.bbox": "tight", "svg.hashsalt": "qap", "pdf.compression": 9})


def color_of(column: str, value):
    """The fixed colour of a series: by bit width, by label-noise fraction, else the palette's first."""
    if column == "bits":
        return BIT_COLORS[int(value)]
    if column == "label_noise":
        return plt.get_cmap(NOISE_COLORMAP)(0.85 * float(value))
    return sns.color_palette("colorblind")[0]


def style_of(column: str | None, value):
    """The fixed line style of a series (solid where the column has no style table)."""
    return LINE_STYLES.get(column, {}).get(value, "-") if column else "-"


def _scientific(value: float) -> str:
    exponent = int(np.floor(np.log10(value) + 1e-9))
    mantissa = round(value / 10**exponent)
    return f"$10^{{{exponent}}}$" if mantissa == 1 else f"${mantissa}\\times10^{{{exponent}}}$"


def tidy_log_axis(axis, style: str = "plain") -> None:
    """Readable labels on a log axis: 1, 2 and 5 times a power of ten (every integer multiple where the axis spans
    less than a factor 10), as plain numbers ("plain": 0.05, 20,000) or powers of ten ("scientific": 2×10⁵)."""
    low, high = sorted(axis.get_view_interval())
    mantissas = (1, 2, 3, 4, 5, 6, 8) if high / max(low, 1e-300) < 10 else (1, 2, 5)

    def label(value, _position):
        mantissa = value / 10 ** np.floor(np.log10(value) + 1e-9)
        if round(mantissa) not in mantissas or abs(mantissa - round(mantissa)) > 1e-6:
            return ""
        return _scientific(value) if style == "scientific" else f"{value:,.0f}" if value >= 1000 else f"{value:g}"

    axis.set_major_formatter(ticker.FuncFormatter(label))
    axis.set_minor_formatter(ticker.FuncFormatter(label))


def bops_axis(ax) -> None:
    """The BOPs (x) axis: log scale, decades labelled; 2 and 5 times a decade too when the data span less than one."""
    ax.set_xscale("log")
    low, high = ax.get_xlim() if ax.has_data() else (1, 10)
    if high / low < 10:
        tidy_log_axis(ax.xaxis, "scientific")
    else:
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("BOPs")


def count(n: int, noun: str) -> str:
    """``"1 run"``, ``"3 runs"``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def save_figure(fig, label: str, title: str, provenance: dict, directory: str | Path = "figures") -> dict:
    """Write ``fig`` as ``<label>.pdf|svg|png`` (PNG at 300 dpi) with its provenance and citation.

    Writes ``<label>.provenance.json`` (the ``provenance`` record, each file's SHA-256, a citation
    sentence and a BibTeX entry) and ``<label>.bib``. Returns that record, plus ``paths``: the
    files written, keyed by 'pdf', 'svg', 'png', 'provenance' and 'bib'.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    metadata = {"pdf": {"CreationDate": None}, "svg": {"Date": None}, "png": {}}
    digests = {}
    for fmt in FIGURE_FORMATS:  # each file appears whole or not at all (files.atomic_write_bytes)
        paths[fmt] = directory / f"{label}.{fmt}"
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=300 if fmt == "png" else None, metadata=metadata[fmt])
        atomic_write_bytes(paths[fmt], buffer.getvalue())
        digests[fmt] = hashlib.sha256(buffer.getvalue()).hexdigest()
    record = {"label": label, "title": title, **provenance,
              "files": {fmt: {"file": paths[fmt].name, "sha256": digests[fmt]} for fmt in FIGURE_FORMATS}}
    record["citation"] = figure_citation(label, title, record)
    record["bibtex"] = figure_bibtex(label, title, record)
    paths["provenance"] = directory / f"{label}.provenance.json"
    paths["bib"] = directory / f"{label}.bib"
    atomic_write_bytes(paths["provenance"], (json.dumps(record, indent=1, sort_keys=True, default=str) + "\n").encode())
    atomic_write_bytes(paths["bib"], record["bibtex"].encode())
    return {**record, "paths": {k: str(v) for k, v in paths.items()}}


def provenance_markdown(saved: dict) -> str:
    """The caption line under a figure (MyST markdown): who made it, from what, its hash, downloads."""
    params = ", ".join(f"{k}={v!r}" for k, v in saved["parameters"].items())
    keys = saved.get("result_keys") or []
    results = f" from {count(len(keys), 'stored run')}" if keys else ""
    links = " · ".join(f"{{download}}`{name} <{Path(saved['paths'][fmt]).as_posix()}>`" for fmt, name in
                       (("pdf", "PDF"), ("svg", "SVG"), ("png", "PNG"), ("provenance", "provenance"), ("bib", "BibTeX")))
    return (
        f"**Figure `{saved['label']}`**, made by `{saved['notebook']}` at commit `{saved['commit']}` with {params}; "
        f"data `{saved['data_fingerprint']}`{results}. Cite it by its label and PDF SHA-256 "
        f"`{saved['files']['pdf']['sha256'][:16]}…` (BibTeX among the downloads). Download: {links}."
    )

def _panels(n_panels: int, columns: int = 2, size: tuple[float, float] = PANEL_SIZE):
    """A grid of at most ``columns`` panels a row; returns (figure, the n panels, spare axes of the last row)."""
    columns = min(columns, n_panels)
    rows = int(np.ceil(n_panels / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows), squeeze=False)
    flat = list(axes.flat)
    for spare in flat[n_panels:]:
        spare.axis("off")
    return fig, flat[:n_panels], flat[n_panels:]


def _legends(fig, spare: list, main: dict, extra: dict | None = None) -> None:
    """Place the ``main`` legend (keywords of ``legend``) in the first spare panel, else below the figure on the
    left; the ``extra`` legend goes below the figure (centred, or on the right beside ``main``)."""
    fig.tight_layout()
    if spare:
        spare[0].legend(loc="center left", bbox_to_anchor=(0.0, 0.5), frameon=False, **main)
        if extra:
            fig.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), frameon=False, **{**extra, "ncol": 6})
        return
    fig.legend(loc="upper left", bbox_to_anchor=(0.0, 0.0), frameon=False, **main)
    if extra:
        fig.legend(loc="upper right", bbox_to_anchor=(1.0, 0.0), frameon=False, **extra)


def feature_distributions_figure(features: np.ndarray, labels: np.ndarray, feature_names, class_names):
    """Normalised per-class histograms of every feature (3 a row), central 99.8 % range, log y."""
    n_features = features.shape[1]
    fig, axes, spare = _panels(n_features, columns=3, size=(2.9, 2.3))
    for i, ax in enumerate(axes):
        low, high = np.percentile(features[:, i], [0.1, 99.9])
        bins = np.linspace(low, high, 41) if high > low else 40
        for k, name in enumerate(class_names):
            ax.hist(features[labels == k, i], bins=bins, histtype="step", density=True, lw=1.3,
                    label=CLASS_LABELS.get(name, name))  # fmt: skip
        ax.set_xlabel(feature_names[i])
        ax.set_yscale("log")
        ax.tick_params(labelsize=10)
    handles, names = axes[0].get_legend_handles_labels()
    _legends(fig, spare, {"handles": handles, "labels": names, "title": "true class"})
    return fig


def class_balance_figure(counts: dict[str, np.ndarray], class_names):
    """Jets per class in each split, as grouped bars. ``counts``: split name -> (5,) counts."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    width = 0.8 / len(counts)
    x = np.arange(len(class_names))
    for j, (split, values) in enumerate(counts.items()):
        ax.bar(x + j * width - 0.4 + width / 2, values, width, label=split)
    ax.set_xticks(x, [CLASS_LABELS.get(c, c) for c in class_names])
    ax.set_ylabel("jets")
    ax.legend(title="split")
    fig.tight_layout()
    return fig


def roc_figure(curves: list[tuple[np.ndarray, np.ndarray]], aucs: np.ndarray, class_names):
    """Per-class ROC: signal efficiency (x) vs background efficiency (log y)."""
    fig, ax = plt.subplots(figsize=(6.5, 5))
    for (tpr, fpr), auc, name in zip(curves, aucs, class_names, strict=True):
        ax.plot(tpr, fpr, label=f"{CLASS_LABELS.get(name, name)} (AUC = {auc:.3f})")
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_ylim(1e-3, 1)
    ax.set_xlabel("signal efficiency")
    ax.set_ylabel("background efficiency")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def confusion_figure(matrix: np.ndarray, class_names):
    """Row-normalised confusion matrix as an annotated heat map."""
    fig, ax = plt.subplots(figsize=(6.5, 5.2))
    names = [CLASS_LABELS.get(c, c) for c in class_names]
    sns.heatmap(matrix, annot=True, fmt=".2f", cmap="Blues", vmin=0, vmax=1, xticklabels=names, yticklabels=names,
                cbar_kws={"label": "fraction of true class"}, ax=ax)  # fmt: skip
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    fig.tight_layout()
    return fig


def mass_peaks_figure(mass: np.ndarray, labels: np.ndarray, class_names, references: dict[str, float]):
    """mMDT-groomed mass per class with the W, Z and top reference masses marked (GeV)."""
    fig, ax = plt.subplots(figsize=(7, 4.3))
    bins = np.linspace(0, 250, 51)
    for k, name in enumerate(class_names):
        ax.hist(mass[labels == k], bins=bins, histtype="step", density=True, lw=1.5, label=CLASS_LABELS.get(name, name))
    for name, value in references.items():
        ax.axvline(value, ls=":", color="gray")
        ax.text(value, ax.get_ylim()[1] * 0.95, f" {name.upper()}", color="gray", va="top")
    ax.set_xlabel("mMDT groomed mass [GeV]")
    ax.set_ylabel("normalised jets / 5 GeV")
    ax.legend()
    fig.tight_layout()
    return fig


METRIC_LABELS = {
    "accuracy": "test accuracy",
    "macro_auc": "AUC (macro, one-vs-rest)",
    "neural_efficiency": "neural efficiency",
    "aiq": "aIQ (AUC, $\\beta$ = 2)",
    **{f"bkg_eff_{c}": "background eff. at 50 % signal eff." for c in CLASS_LABELS},
}
#: Panel titles where the y label alone does not say what is shown.
PANEL_TITLES = {f"bkg_eff_{c}": f"{CLASS_LABELS[c]} jets" for c in CLASS_LABELS}
SPARSITY_MARKERS = ("o", "v", "^", "<", ">", "s", "p", "P", "*", "h", "X", "D")


def series_label(column: str, value) -> str:
    """How a series is named in legends: "float (32-bit)", "6-bit", "50 % random labels", "fine-tuning (FT)"."""
    if column == "bits":
        return "float (32-bit)" if value == 32 else f"{value}-bit"
    if column == "label_noise":
        return f"{value:.0%} random labels"
    if column == "scheme":
        return {"ft": "fine-tuning (FT)", "lt": "lottery ticket (LT)"}.get(value, value)
    if column == "variant":
        return str(value)
    return f"{column}={value}"


def curves_figure(summary, metrics: list[str], color_by: str = "bits", style_by: str | None = None,
                  log_y: tuple[str, ...] = (), quantization_only: bool = False, extra_handles: tuple = ()):
    """Metrics against BOPs (log x): one line per configuration through its pruning phases.

    ``summary``: fold-averaged rows of :func:`qaplib.tables.summarise`; error bars are the
    standard errors over folds. Colours follow ``color_by`` and line styles ``style_by``, both
    fixed per value in every figure (:data:`BIT_COLORS`, :data:`LINE_STYLES`); the marker shape is
    the pruning phase (the same shape means the same sparsity in every panel). At most two panels a
    row; the legends sit in a spare panel or below. ``quantization_only`` rings the unpruned
    reduced-precision points; ``extra_handles`` are added to the model legend.
    """
    fig, axes, spare = _panels(len(metrics))
    groups = [color_by, style_by] if style_by else [color_by]
    ordered = summary.sort_values(groups, ascending=[c != "bits" for c in groups])
    for ax, metric in zip(axes, metrics, strict=True):
        for values, rows in ordered.groupby(groups, sort=False):
            values = values if isinstance(values, tuple) else (values,)
            rows = rows.sort_values("phase")
            color, style = color_of(color_by, values[0]), style_of(style_by, values[1] if style_by else None)
            label = ", ".join(series_label(c, v) for c, v in zip(groups, values, strict=True))
            se = rows.get(f"{metric}_se")
            ax.errorbar(rows["bops"], rows[metric], yerr=None if se is None or se.isna().all() else se,
                        color=color, ls=style, lw=1.5, capsize=2, label=label)  # fmt: skip
            for _, row in rows.iterrows():
                ax.plot(row["bops"], row[metric], marker=SPARSITY_MARKERS[int(row["phase"]) % 12], color=color, ms=5, ls="")
            if quantization_only and values[0] != 32:
                first = rows.iloc[0]
                ax.plot(first["bops"], first[metric], marker="o", ms=13, mfc="none", mec="black", mew=1.2, ls="")
        bops_axis(ax)
        if metric in log_y:
            ax.set_yscale("log")
            tidy_log_axis(ax.yaxis)
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        if metric in PANEL_TITLES:
            ax.set_title(PANEL_TITLES[metric])
        ax.grid(True, which="both", alpha=0.25)
    handles, labels = axes[0].get_legend_handles_labels()
    if quantization_only:
        handles.append(plt.Line2D([], [], marker="o", ms=11, mfc="none", mec="black", ls="", label="quantization only"))
        labels.append("quantization only")
    handles += list(extra_handles)
    labels += [h.get_label() for h in extra_handles]
    sparsity = summary.groupby("phase")["sparsity"].mean()
    marker_handles = [plt.Line2D([], [], marker=SPARSITY_MARKERS[int(p) % 12], color="gray", ls="",
                                 label=f"{100 * sparsity[p]:.1f} %") for p in sorted(summary["phase"].unique())]
    _legends(fig, spare, {"handles": handles, "labels": labels, "title": "model", "fontsize": 10},
             {"handles": marker_handles, "title": "weights pruned", "ncol": 3, "fontsize": 10})
    return fig


def efficiency_scatter_figure(summary, x: str = "accuracy", y: str = "neural_efficiency", color_by: str = "bits",
                              size_by: str = "bops", log_x: bool = False):
    """Every fold-averaged model as a point: e.g. accuracy against neural efficiency, coloured by bits."""
    fig, ax = plt.subplots(figsize=(7, 4.8))
    scale = np.log10(summary[size_by]) if size_by == "bops" else summary[size_by]
    sizes = 20 + 80 * (scale - scale.min()) / max(np.ptp(scale), 1e-9)
    for value, rows in sorted(summary.groupby(color_by), key=lambda item: -item[0] if color_by == "bits" else item[0]):
        ax.scatter(rows[x], rows[y], s=sizes[rows.index], color=color_of(color_by, value), alpha=0.75,
                   label=series_label(color_by, value), edgecolor="white", lw=0.4)  # fmt: skip
    if x == "bops":
        bops_axis(ax)
    else:
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(METRIC_LABELS.get(x, x))
    ax.set_ylabel(METRIC_LABELS.get(y, y))
    ax.grid(True, which="both", alpha=0.25)
    size_name = "BOPs (log)" if size_by == "bops" else METRIC_LABELS.get(size_by, size_by)
    ax.legend(title=f"point size: {size_name}", loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def quantization_sparsity_figure(table):
    """What quantization adds to pruning (rows of :func:`qaplib.analysis.quantization_sparsity`), per bit width.

    Left: the fraction of kernel weights that are zero in the firmware but not pruned, against the
    fraction pruned. Right: effective over paper BOPs against the fraction pruned.
    """
    fig, axes, spare = _panels(2)
    for bits, rows in table.sort_values(["bits", "phase"], ascending=[False, True]).groupby("bits", sort=False):
        for ax, column in zip(axes, ("added by quantization", "effective / paper"), strict=True):
            scale = 100 if column == "added by quantization" else 1
            ax.plot(100 * rows["sparsity"], scale * rows[column], color=color_of("bits", bits), marker="o", ms=4,
                    lw=1.5, label=series_label("bits", bits))  # fmt: skip
    axes[0].set_ylabel("weights zeroed by quantization [%]")
    axes[1].set_ylabel("effective / paper BOPs")
    for ax in axes:
        ax.set_xlabel("weights pruned [%]")
        ax.grid(True, alpha=0.25)
    handles, labels = axes[0].get_legend_handles_labels()
    _legends(fig, spare, {"handles": handles, "labels": labels, "ncol": len(labels)})
    return fig


def lut_vs_bops_figure(table, counts: tuple[str, ...] = ("BOPs", "effective BOPs"), y: str = "LUT"):
    """Synthesised LUTs against each BOPs count (one panel each), one labelled point per model, log-log with a
    power-law fit and the Spearman rank correlation in the legend."""
    fig, axes = plt.subplots(1, len(counts), figsize=(PANEL_SIZE[0] * 1.2 * len(counts), PANEL_SIZE[1] * 1.3),
                             squeeze=False, sharey=True)  # fmt: skip
    for ax, x in zip(axes[0], counts, strict=True):
        rows = table.dropna(subset=[x, y])
        for (bits, sparsity), row in rows.set_index(["bits", "weights pruned"]).iterrows():
            ax.scatter(row[x], row[y], s=45, color=BIT_COLORS[int(bits)], zorder=3)
            ax.annotate(f"{series_label('bits', int(bits))}, {sparsity:.0%}", (row[x], row[y]), textcoords="offset points",
                        xytext=(5, 4), fontsize=9)  # fmt: skip
        if len(rows) >= 2:
            slope, intercept = np.polyfit(np.log10(rows[x]), np.log10(rows[y]), 1)
            rho = rows[[x, y]].corr("spearman").iloc[0, 1]
            grid = np.logspace(np.log10(rows[x].min()), np.log10(rows[x].max()), 50)
            ax.plot(grid, 10**intercept * grid**slope, ls=":", color="gray",
                    label=f"fit: LUT ∝ {x}$^{{{slope:.2f}}}$\nSpearman ρ = {rho:+.2f}")  # fmt: skip
            ax.legend(loc="upper left", fontsize=9)
        ax.set_yscale("log")
        tidy_log_axis(ax.yaxis)
        bops_axis(ax)
        ax.set_xlabel(f"{x} (log scale)")
        ax.grid(True, which="both", alpha=0.25)
    axes[0][0].set_ylabel("LUTs (Yosys synth_xilinx, pre-P&R)")
    fig.tight_layout()
    return fig


def bo_overlay_figure(summary, trials, metrics: list[str], log_y: tuple[str, ...] = (), front=None):
    """FT pruning curves per bit width with every retrained BO trial (fold 0) as a cross.

    ``trials``: rows of the retrained BO trials on fold 0 (columns bits, bops, the metrics, ``best``); without
    ``front``, the best is a star. ``front``: fold-averaged rows (:func:`qaplib.tables.summarise`, with ``best``) of
    the BO architectures retrained on every fold, drawn as filled circles with their standard errors, the search's
    best pick as a star.
    """
    point = "4-fold mean" if front is not None else None
    markers = (plt.Line2D([], [], marker="x", color="gray", ls="", label="BO trial (fold 0, unpruned)"),
               plt.Line2D([], [], marker="*", color="gray", mec="black", ms=12, ls="",
                          label=f"best BO pick ({point})" if point else "best BO model"))  # fmt: skip
    if front is not None:
        markers += (plt.Line2D([], [], marker="o", color="gray", mec="black", ls="", label="BO architecture (4-fold mean)"),)
    fig = curves_figure(summary, metrics, color_by="bits", log_y=log_y, extra_handles=markers)
    for ax, metric in zip(fig.axes, metrics, strict=False):
        for bits, rows in trials.groupby("bits"):
            color = BIT_COLORS[int(bits)]
            others, best = (rows, rows.iloc[:0]) if front is not None else (rows[~rows["best"]], rows[rows["best"]])
            faint = 0.45 if front is not None else 0.8
            ax.scatter(others["bops"], others[metric], marker="x", color=color, s=22, alpha=faint, lw=1)
            ax.scatter(best["bops"], best[metric], marker="*", color=color, s=180, edgecolor="black", lw=0.6, zorder=5)
        if front is None:
            continue
        for (bits, is_best), rows in front.groupby(["bits", "best"]):
            se = rows.get(f"{metric}_se")
            ax.errorbar(rows["bops"], rows[metric], yerr=None if se is None else se, ls="", marker="*" if is_best else "o",
                        ms=14 if is_best else 6, color=BIT_COLORS[int(bits)], mec="black", mew=0.6, capsize=2,
                        zorder=6)  # fmt: skip
    return fig


def bo_front_figure(summary, trials, front, baseline: float, tolerances: tuple[float, ...]):
    """The accuracy panel of :func:`bo_overlay_figure`, zoomed on the accuracy targets: the y axis from the lowest
    target less a point to just above the best model, with a dotted line at each target (``baseline`` minus each
    tolerance; ``baseline``: the float baseline's fold-mean accuracy)."""
    fig = bo_overlay_figure(summary, trials, ["accuracy"], front=front)
    for legend in list(fig.legends):  # one panel has no spare: the pruning markers' legend would cover the models'
        if legend.get_title().get_text() != "model":
            legend.remove()
    ax = fig.axes[0]
    top = max(summary["accuracy"].max(), front["accuracy"].max())
    ax.set_ylim(baseline - max(tolerances) - 0.01, top + 0.003)
    _target_lines(ax, baseline, tolerances)
    return fig


def _target_lines(ax, baseline: float, tolerances: tuple[float, ...]) -> None:
    """A dotted line at each accuracy target (``baseline`` minus each tolerance), labelled at the right edge."""
    for tolerance in tolerances:
        ax.axhline(baseline - tolerance, color="gray", ls=":", lw=1)
        ax.annotate(f"float − {100 * tolerance:g} pp", (1.0, baseline - tolerance), xycoords=("axes fraction", "data"),
                    xytext=(-4, 2), textcoords="offset points", ha="right", va="bottom", fontsize=8, color="gray")  # fmt: skip


HGQ_COLOR = "black"


def _hgq_points(ax, hgq, x: str, y: str) -> None:
    """HGQ's penalty strengths as one black line of points in order of β (fold means with standard errors), each
    labelled with its β."""
    rows = hgq.sort_values("beta")
    ax.errorbar(rows[x], rows[y], xerr=rows.get(f"{x}_se"), yerr=rows.get(f"{y}_se"), color=HGQ_COLOR, marker="D", ms=5,
                lw=1.2, capsize=2, zorder=7, label="HGQ (one point per β)")  # fmt: skip
    _beta_labels(ax, rows, x, y)


def _beta_labels(ax, rows, x: str, y: str) -> None:
    """Each point's β, above and below the line in turn, so that neighbours do not overlap."""
    for index, (_, row) in enumerate(rows.iterrows()):
        ax.annotate(f"β={row['beta']:.0e}", (row[x], row[y]), textcoords="offset points", xytext=(5, 5 if index % 2 else -11),
                    fontsize=8, clip_on=True)  # fmt: skip


def _front_panel(ax, qap, hgq, bo) -> None:
    for bits, rows in qap.sort_values("bits", ascending=False).groupby("bits", sort=False):
        rows = rows.sort_values("phase")
        ax.errorbar(rows["effective_bops"], rows["accuracy"], yerr=rows.get("accuracy_se"), color=BIT_COLORS[int(bits)],
                    lw=1.4, marker="o", ms=3, capsize=2, label=f"QAP, {series_label('bits', int(bits))}")  # fmt: skip
    if bo is not None and not bo.empty:
        for bits, rows in bo.groupby("bits"):
            ax.errorbar(rows["effective_bops"], rows["accuracy"], yerr=rows.get("accuracy_se"), ls="", marker="s", ms=6,
                        color=BIT_COLORS[int(bits)], mec="black", mew=0.6, capsize=2, zorder=6,
                        label=f"BO architecture, {series_label('bits', int(bits))}")  # fmt: skip
    _hgq_points(ax, hgq, "granular_bops", "accuracy")
    bops_axis(ax)
    ax.set_ylabel(METRIC_LABELS.get("accuracy", "accuracy"))
    ax.grid(True, which="both", alpha=0.25)


def hgq_front_figure(qap, hgq, bo=None, baseline: float | None = None, tolerances: tuple[float, ...] = ()):
    """Accuracy against the granular BOPs of the implemented network (log x): QAP's FT pruning curve per bit width
    (its effective BOPs), HGQ per penalty strength β and, if given, chapter 7's BO architectures; all fold means
    with standard errors. Top: every HGQ model; bottom: zoomed on the accuracy targets (``baseline`` minus each of
    ``tolerances``, dotted). ``qap``, ``hgq``, ``bo``: rows of :func:`qaplib.tables.summarise` (``hgq`` with ``beta``;
    ``bo`` with ``bits``)."""
    fig, (full, zoom) = plt.subplots(2, 1, figsize=(PANEL_SIZE[0] * 2.1, PANEL_SIZE[1] * 2.6), sharex=True)
    top = max(qap["accuracy"].max(), hgq["accuracy"].max())
    for ax in (full, zoom):
        _front_panel(ax, qap, hgq, bo)
    full.set_ylim(hgq["accuracy"].min() - 0.02, top + 0.01)
    if baseline is not None and tolerances:
        _target_lines(zoom, baseline, tolerances)
        zoom.set_ylim(baseline - max(tolerances) - 0.01, top + 0.003)
    full.set_xlabel("")
    full.set_title("every HGQ model", fontsize=10)
    zoom.set_title("near the accuracy targets", fontsize=10)
    zoom.set_xlabel("granular BOPs of the implemented network (log scale)")
    full.legend(loc="lower right", fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def hgq_lut_figure(qap, hgq):
    """Synthesised LUTs (log x) against test accuracy for the QAP models of chapter 8 (coloured by bit width) and the
    HGQ models (black, labelled β), all on fold 0. Left: every model; right: zoomed on the QAP models' accuracy, each
    labelled with its fraction pruned. ``qap``: rows with ``bits``, ``weights pruned``, ``LUT``, ``accuracy``;
    ``hgq``: rows with ``beta``, ``LUT``, ``accuracy``."""
    fig, axes = plt.subplots(1, 2, figsize=(PANEL_SIZE[0] * 2.6, PANEL_SIZE[1] * 1.4))
    measured, rows = qap.dropna(subset=["LUT"]), hgq.dropna(subset=["LUT"]).sort_values("LUT")
    for ax in axes:
        for bits, group in measured.groupby("bits"):
            ax.scatter(group["LUT"], group["accuracy"], s=45, color=BIT_COLORS[int(bits)], zorder=3,
                       label=f"QAP, {series_label('bits', int(bits))}")  # fmt: skip
        ax.plot(rows["LUT"], rows["accuracy"], color=HGQ_COLOR, marker="D", ms=5, lw=1.2, label="HGQ (one point per β)")
        ax.set_xscale("log")
        tidy_log_axis(ax.xaxis)
        ax.set_xlabel("LUTs (Yosys synth_xilinx, pre-P&R; log scale)")
        ax.grid(True, which="both", alpha=0.25)
    full, zoom = axes
    _beta_labels(full, rows, "LUT", "accuracy")
    if measured.empty and rows.empty:  # nothing synthesised (rtl=False)
        for ax in axes:
            ax.text(0.5, 0.5, "no firmware synthesised", transform=ax.transAxes, ha="center", va="center", color="gray")
    else:
        shown = measured if not measured.empty else rows
        low, high = shown["accuracy"].min(), max(c.max() for c in (measured["accuracy"], rows["accuracy"]) if len(c))
        zoom.set_ylim(low - 0.01, high + 0.004)
        _beta_labels(zoom, rows[rows["accuracy"] >= low - 0.01], "LUT", "accuracy")
    for _, row in measured.iterrows():
        zoom.annotate(f"{row['weights pruned']:.0%}", (row["LUT"], row["accuracy"]), textcoords="offset points",
                      xytext=(5, 3), fontsize=8)  # fmt: skip
    full.set_ylabel(METRIC_LABELS.get("accuracy", "accuracy"))
    full.set_title("every model", fontsize=10)
    zoom.set_title("QAP's accuracy range (labels: weights pruned)", fontsize=10)
    if full.get_legend_handles_labels()[0]:
        full.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig
