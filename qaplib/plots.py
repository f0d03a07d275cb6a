"""Figures of the book, and how every figure is saved and labelled with its provenance.

Each ``*_figure`` function takes plain arrays and returns a matplotlib Figure; :func:`save_figure`
writes it as PDF, SVG and 300-dpi PNG under a stable label, next to a JSON file with its provenance.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

CLASS_LABELS = {"g": "gluon", "q": "light quark", "w": "W boson", "z": "Z boson", "t": "top quark"}
FIGURE_FORMATS = ("pdf", "svg", "png")


def use_book_style() -> None:
    """One consistent look for every figure in the book."""
    sns.set_theme(context="paper", style="ticks", palette="colorblind", font_scale=1.1)
    plt.rcParams.update({"figure.dpi": 110, "savefig.bbox": "tight", "svg.hashsalt": "qap", "pdf.compression": 9})


def save_figure(fig, label: str, provenance: dict, directory: str | Path = "figures") -> dict[str, str]:
    """Write ``fig`` as ``<label>.pdf|svg|png`` (PNG at 300 dpi) and ``<label>.provenance.json``.

    Returns the paths written, keyed by format ('pdf', 'svg', 'png', 'provenance').
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    metadata = {"pdf": {"CreationDate": None}, "svg": {"Date": None}, "png": {}}
    for fmt in FIGURE_FORMATS:
        path = directory / f"{label}.{fmt}"
        fig.savefig(path, dpi=300 if fmt == "png" else None, metadata=metadata[fmt])
        paths[fmt] = str(path)
    record = directory / f"{label}.provenance.json"
    record.write_text(json.dumps({"label": label, **provenance}, indent=1, sort_keys=True, default=str) + "\n")
    paths["provenance"] = str(record)
    return paths


def provenance_markdown(label: str, provenance: dict, paths: dict[str, str]) -> str:
    """A caption line with the figure's provenance and download links (MyST markdown)."""
    params = ", ".join(f"{k}={v!r}" for k, v in provenance["parameters"].items())
    packages = ", ".join(f"{k} {v}" for k, v in provenance["packages"].items())
    links = " · ".join(f"{{download}}`{fmt.upper()} <{Path(paths[fmt]).as_posix()}>`" for fmt in FIGURE_FORMATS)
    keys = provenance.get("result_keys") or []
    shown = ", ".join(f"`{k}`" for k in keys) if len(keys) <= 3 else f"{len(keys)} stored runs (keys in the provenance file)"
    results = f" Results: {shown}." if keys else ""
    return (
        f"**Figure `{label}`.** Made by `{provenance['notebook']}` with {params}. "
        f"Data {provenance.get('data_fingerprint')}.{results} Commit {provenance['commit']}; {packages}. "
        f"Download: {links} · {{download}}`provenance <{Path(paths['provenance']).as_posix()}>`. "
        f"Cite as: qap-companion, figure `{label}`, commit {provenance['commit']} (see CITATION.cff)."
    )


def feature_distributions_figure(features: np.ndarray, labels: np.ndarray, feature_names, class_names):
    """Normalised per-class histograms of every feature (4x4 grid), central 99.8 % range, log y."""
    n_features = features.shape[1]
    columns = 4
    fig, axes = plt.subplots(int(np.ceil(n_features / columns)), columns, figsize=(13, 11))
    for i, ax in enumerate(axes.flat):
        if i >= n_features:
            ax.axis("off")
            continue
        low, high = np.percentile(features[:, i], [0.1, 99.9])
        bins = np.linspace(low, high, 41) if high > low else 40
        for k, name in enumerate(class_names):
            ax.hist(features[labels == k, i], bins=bins, histtype="step", density=True, lw=1.3,
                    label=CLASS_LABELS.get(name, name))  # fmt: skip
        ax.set_xlabel(feature_names[i])
        ax.set_yscale("log")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def class_balance_figure(counts: dict[str, np.ndarray], class_names):
    """Jets per class in each split, as grouped bars. ``counts``: split name -> (5,) counts."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.8 / len(counts)
    x = np.arange(len(class_names))
    for j, (split, values) in enumerate(counts.items()):
        ax.bar(x + j * width - 0.4 + width / 2, values, width, label=split)
    ax.set_xticks(x, [CLASS_LABELS.get(c, c) for c in class_names])
    ax.set_ylabel("jets")
    ax.legend()
    fig.tight_layout()
    return fig


def roc_figure(curves: list[tuple[np.ndarray, np.ndarray]], aucs: np.ndarray, class_names):
    """Per-class ROC: signal efficiency (x) vs background efficiency (log y)."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for (tpr, fpr), auc, name in zip(curves, aucs, class_names, strict=True):
        ax.plot(tpr, fpr, label=f"{CLASS_LABELS.get(name, name)} (AUC = {auc:.3f})")
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_ylim(1e-3, 1)
    ax.set_xlabel("signal efficiency")
    ax.set_ylabel("background efficiency")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def confusion_figure(matrix: np.ndarray, class_names):
    """Row-normalised confusion matrix as an annotated heat map."""
    fig, ax = plt.subplots(figsize=(5, 4.2))
    names = [CLASS_LABELS.get(c, c) for c in class_names]
    sns.heatmap(matrix, annot=True, fmt=".2f", cmap="Blues", vmin=0, vmax=1, xticklabels=names, yticklabels=names,
                cbar_kws={"label": "fraction of true class"}, ax=ax)  # fmt: skip
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    fig.tight_layout()
    return fig


def mass_peaks_figure(mass: np.ndarray, labels: np.ndarray, class_names, references: dict[str, float]):
    """mMDT-groomed mass per class with the W, Z and top reference masses marked (GeV)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    bins = np.linspace(0, 250, 51)
    for k, name in enumerate(class_names):
        ax.hist(mass[labels == k], bins=bins, histtype="step", density=True, lw=1.5, label=CLASS_LABELS.get(name, name))
    for name, value in references.items():
        ax.axvline(value, ls=":", color="gray")
        ax.text(value, ax.get_ylim()[1] * 0.95, f" {name}", color="gray", va="top", fontsize=8)
    ax.set_xlabel("mMDT groomed mass [GeV]")
    ax.set_ylabel("normalised jets / 5 GeV")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


METRIC_LABELS = {
    "accuracy": "accuracy",
    "macro_auc": "AUC (macro, one-vs-rest)",
    "neural_efficiency": "neural efficiency",
    "aiq": "aIQ (AUC, $\\beta$ = 2)",
    **{f"bkg_eff_{c}": f"{CLASS_LABELS[c]}: background eff. at 50 % signal eff." for c in CLASS_LABELS},
}
SPARSITY_MARKERS = ("o", "v", "^", "<", ">", "s", "p", "P", "*", "h", "X", "D")
LINE_STYLES = ("-", "--", ":", "-.")


def _series_label(column: str, value) -> str:
    if column == "bits":
        return "float (32-bit)" if value == 32 else f"{value}-bit"
    if column == "label_noise":
        return f"{value:.0%} random labels"
    if column == "scheme":
        return {"ft": "fine-tuning (FT)", "lt": "lottery ticket (LT)"}.get(value, value)
    return f"{column}={value}"


def curves_figure(summary, metrics: list[str], color_by: str = "bits", style_by: str | None = None,
                  log_y: tuple[str, ...] = (), quantization_only: bool = False, columns: int | None = None):
    """Metrics against BOPs (log x): one line per configuration through its pruning phases.

    ``summary``: fold-averaged rows of :func:`qaplib.tables.summarise`; error bars are the
    standard errors over folds. Colours follow ``color_by``, line styles ``style_by``, and the
    marker shape the pruning phase (the same shape means the same sparsity in every panel).
    ``quantization_only`` rings the unpruned reduced-precision points.
    """
    columns = columns or len(metrics)
    rows = int(np.ceil(len(metrics) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 4.2 * rows), squeeze=False)
    colors = dict(zip(sorted(summary[color_by].unique(), reverse=True), sns.color_palette("colorblind", 10), strict=False))
    styles = dict(zip(sorted(summary[style_by].unique()), LINE_STYLES, strict=False)) if style_by else {None: "-"}
    groups = [color_by, style_by] if style_by else [color_by]
    for ax, metric in zip(axes.flat, metrics, strict=False):
        for values, rows_ in summary.groupby(groups, sort=False):
            values = values if isinstance(values, tuple) else (values,)
            rows_ = rows_.sort_values("phase")
            color, style = colors[values[0]], styles[values[1] if style_by else None]
            label = ", ".join(_series_label(c, v) for c, v in zip(groups, values, strict=True))
            se = rows_.get(f"{metric}_se")
            ax.errorbar(rows_["bops"], rows_[metric], yerr=None if se is None or se.isna().all() else se,
                        color=color, ls=style, lw=1.4, capsize=2, label=label)  # fmt: skip
            for _, row in rows_.iterrows():
                ax.plot(row["bops"], row[metric], marker=SPARSITY_MARKERS[int(row["phase"]) % 12], color=color, ms=5, ls="")
            if quantization_only and values[0] != 32:
                first = rows_.iloc[0]
                ax.plot(first["bops"], first[metric], marker="o", ms=13, mfc="none", mec="black", mew=1.2, ls="")
        ax.set_xscale("log")
        if metric in log_y:
            ax.set_yscale("log")
        ax.set_xlabel("BOPs")
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        ax.grid(True, which="both", alpha=0.25)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    phases = sorted(summary["phase"].unique())
    sparsity = summary.groupby("phase")["sparsity"].mean()
    marker_handles = [plt.Line2D([], [], marker=SPARSITY_MARKERS[int(p) % 12], color="gray", ls="", label=f"{sparsity[p]:.1%}")
                      for p in phases]  # fmt: skip
    if quantization_only:
        label = "quantization only (unpruned)"
        handles.append(plt.Line2D([], [], marker="o", ms=11, mfc="none", mec="black", ls="", label=label))
        labels.append(label)
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 0.98), title="model", fontsize=8)
    fig.legend(handles=marker_handles, loc="lower left", bbox_to_anchor=(1.0, 0.02), title="weights pruned", fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def efficiency_scatter_figure(summary, x: str = "accuracy", y: str = "neural_efficiency", color_by: str = "bits",
                              size_by: str = "bops", log_x: bool = False):
    """Every fold-averaged model as a point: e.g. accuracy against neural efficiency, coloured by bits."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    scale = np.log10(summary[size_by])
    sizes = 20 + 80 * (scale - scale.min()) / max(np.ptp(scale), 1e-9)
    for (value, rows), color in zip(summary.groupby(color_by), sns.color_palette("colorblind", 10), strict=False):
        ax.scatter(rows[x], rows[y], s=sizes[rows.index], color=color, alpha=0.75, label=_series_label(color_by, value),
                   edgecolor="white", lw=0.4)  # fmt: skip
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(METRIC_LABELS.get(x, x) if x != "bops" else "BOPs")
    ax.set_ylabel(METRIC_LABELS.get(y, y))
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, title=f"point size: {size_by}")
    fig.tight_layout()
    return fig


def lut_vs_bops_figure(table, x: str = "BOPs", y: str = "LUT"):
    """Synthesised LUTs against BOPs, one labelled point per model, log-log with a power-law fit."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    rows = table.dropna(subset=[x, y])
    for (bits, sparsity), row in rows.set_index(["bits", "weights pruned"]).iterrows():
        ax.scatter(row[x], row[y], s=40, color=sns.color_palette("colorblind")[[32, 12, 8, 6, 4].index(bits) % 10])
        ax.annotate(f"{bits}-bit, {sparsity:.0%}", (row[x], row[y]), textcoords="offset points", xytext=(5, 4), fontsize=8)
    if len(rows) >= 2:
        slope, intercept = np.polyfit(np.log10(rows[x]), np.log10(rows[y]), 1)
        grid = np.logspace(np.log10(rows[x].min()), np.log10(rows[x].max()), 50)
        ax.plot(grid, 10**intercept * grid**slope, ls=":", color="gray", label=f"fit: LUT ∝ BOPs^{slope:.2f}")
        ax.legend(fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("BOPs")
    ax.set_ylabel("LUTs (Yosys synth_xilinx, pre-P&R)")
    ax.grid(True, which="both", alpha=0.25)
    fig.tight_layout()
    return fig


def bo_overlay_figure(summary, trials, metrics: list[str], log_y: tuple[str, ...] = (), columns: int | None = None):
    """FT pruning curves per bit width with every retrained BO trial as a point and the best as a star.

    ``trials``: rows of the retrained BO trials (columns bits, bops, the metrics, ``best``).
    """
    fig = curves_figure(summary, metrics, color_by="bits", log_y=log_y, columns=columns)
    colors = dict(zip(sorted(summary["bits"].unique(), reverse=True), sns.color_palette("colorblind", 10), strict=False))
    for ax, metric in zip(fig.axes, metrics, strict=False):
        for bits, rows in trials.groupby("bits"):
            color = colors.get(bits, "black")
            others, best = rows[~rows["best"]], rows[rows["best"]]
            ax.scatter(others["bops"], others[metric], marker="x", color=color, s=22, alpha=0.8, lw=1)
            ax.scatter(best["bops"], best[metric], marker="*", color=color, s=180, edgecolor="black", lw=0.6, zorder=5)
    fig.legend(handles=[plt.Line2D([], [], marker="x", color="gray", ls="", label="BO trial (retrained, unpruned)"),
                        plt.Line2D([], [], marker="*", color="gray", mec="black", ms=12, ls="", label="best BO model")],
               loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)  # fmt: skip
    return fig
