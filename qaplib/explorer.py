"""Interactive versions of the book's central figures (plotly), shown beside the static PDF/SVG/PNG figures,
which stay the citable versions.

Hovering a point shows what identifies it (bits, pruning scheme, fraction pruned, the store keys of its
runs) and what was measured (fold-mean accuracy ± standard error, paper and effective BOPs, and LUT, FF
and latency where the model was synthesised); clicking a legend entry hides or shows a bit width.

The pages load plotly's JavaScript from the book's own ``_static`` folder (copied there at build time by
``book/_ext/plotly_offline.py``), so the explorers work with no network and the JavaScript is loaded once,
not embedded in each page.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from qaplib.plots import BIT_COLORS
from qaplib.tables import standard_error

#: Where a chapter page (book/chapters/*.html) finds plotly's JavaScript in the built book.
PLOTLY_SCRIPT = "../_static/plotly.min.js"
#: Characters of a store key shown in a tooltip (enough to find it: ``qap status`` and ``results/``).
KEY_CHARS = 12


def sweep_points(frame: pd.DataFrame, firmware: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (bits, scheme, phase) of a sweep's per-run results, as the explorer shows it.

    Args:
        frame: one row per run and phase (``NotebookRun.results``): ``bits``, ``scheme``, ``phase``, ``fold``,
            ``key``, ``accuracy``, ``sparsity``, ``bops``, ``effective_bops``.
        firmware: optional synthesised models, one row per (``key``, ``phase``) with ``LUT``, ``FF`` and
            ``latency [cycles]`` (:func:`firmware_measurements`); a point gets them when one of its runs has them.

    Returns:
        Columns bits, scheme, phase, sparsity, accuracy, accuracy_se, n_folds, bops, effective_bops
        (fold means), keys (the runs' store keys, "; "-joined), LUT, FF, latency (NaN where not synthesised).
    """
    missing = {"bits", "scheme", "phase", "fold", "key", "accuracy", "sparsity", "bops", "effective_bops"} - set(frame.columns)
    if missing:
        raise ValueError(f"the results table lacks the columns {sorted(missing)}")
    grouped = frame.groupby(["bits", "scheme", "phase"], sort=True)
    points = grouped[["sparsity", "accuracy", "bops", "effective_bops"]].mean()
    points["accuracy_se"] = grouped["accuracy"].agg(standard_error)
    points["n_folds"] = grouped["fold"].nunique()
    points["keys"] = grouped["key"].agg(lambda keys: "; ".join(k[:KEY_CHARS] for k in sorted(set(keys))))
    points = points.reset_index()
    for column in ("LUT", "FF", "latency"):
        points[column] = np.nan
    if firmware is not None and len(firmware):
        measured = firmware.set_index(["key", "phase"])
        for i, (bits, scheme, phase) in enumerate(points[["bits", "scheme", "phase"]].itertuples(index=False)):
            runs = frame[(frame["bits"] == bits) & (frame["scheme"] == scheme) & (frame["phase"] == phase)]
            found = [measured.loc[(k, phase)] for k in runs["key"] if (k, phase) in measured.index]
            if found:
                points.loc[i, ["LUT", "FF", "latency"]] = [found[0]["LUT"], found[0]["FF"], found[0]["latency [cycles]"]]
    return points


def firmware_measurements(reports: list[dict]) -> pd.DataFrame:
    """LUT, FF and latency of stored firmware reports (``qaplib.firmware.cache.stored_reports``) of trained networks
    (batch normalisation kept as a stage; not the rounded fold, a different network) that were synthesised: columns
    key (the run's store key), phase, LUT, FF, ``latency [cycles]``."""
    from qaplib.firmware.export import STAGE

    rows = []
    for report in reports:
        if (report.get("export") or {}).get("batchnorm") != STAGE:
            continue
        rtl = report.get("rtl") or {}
        synthesis = rtl.get("synthesis") or {}
        if "lut" in synthesis:
            rows.append({"key": report["run_key"], "phase": report["phase"], "LUT": synthesis["lut"], "FF": synthesis.get("ff"),
                         "latency [cycles]": rtl.get("latency_cycles")})  # fmt: skip
    return pd.DataFrame(rows, columns=["key", "phase", "LUT", "FF", "latency [cycles]"])


def stored_firmware(store=None) -> pd.DataFrame:
    """:func:`firmware_measurements` of every firmware report in ``store`` (default: ``ResultStore()``)."""
    from qaplib.firmware.cache import stored_reports
    from qaplib.store import ResultStore

    return firmware_measurements(stored_reports(store or ResultStore()))


def _count(value) -> str:
    return "not synthesised" if pd.isna(value) else f"{int(value):,}"


def _tooltip(row: pd.Series) -> str:
    """The hover text of one point (plotly's HTML subset)."""
    hardware = (f"LUT {_count(row['LUT'])}, FF {_count(row['FF'])}, latency {_count(row['latency'])} cycles"
                if not pd.isna(row["LUT"]) else "LUT/FF/latency: not synthesised")  # fmt: skip
    folds = int(row["n_folds"])
    spread = f" ± {100 * row['accuracy_se']:.2f} % (s.e., {folds} folds)" if folds > 1 else " (1 fold)"
    accuracy = f"{100 * row['accuracy']:.2f} %{spread}"
    return "<br>".join([
        f"<b>{int(row['bits'])}-bit</b>, {row['scheme'].upper()} pruning, {100 * row['sparsity']:.1f} % pruned",
        f"accuracy {accuracy}",
        f"BOPs {int(round(row['bops'])):,} (effective {int(round(row['effective_bops'])):,})",
        hardware,
        f"run keys: {row['keys']}",
    ])  # fmt: skip


def _count_buttons(series: list[pd.DataFrame]) -> dict:
    """Two buttons above the plot that put the paper's or the effective BOPs of every trace on the x axis."""
    return {
        "type": "buttons", "direction": "right", "x": 0.0, "y": 1.1, "xanchor": "left", "showactive": True,
        "buttons": [
            {"label": "paper BOPs", "method": "update",
             "args": [{"x": [rows["bops"] for rows in series]}, {"xaxis.title.text": "BOPs (paper's count)"}]},
            {"label": "effective BOPs", "method": "update",
             "args": [{"x": [rows["effective_bops"] for rows in series]}, {"xaxis.title.text": "effective BOPs"}]},
        ],
    }  # fmt: skip


def accuracy_bops_explorer(points: pd.DataFrame):
    """The interactive accuracy–BOPs figure: one line of points per bit width (fold means, error bars =
    standard errors), log BOPs axis, a button to switch between the paper's and the effective BOPs.

    ``points``: :func:`sweep_points`. Returns a ``plotly.graph_objects.Figure``.
    """
    import plotly.graph_objects as go

    figure = go.Figure()
    series = []
    for (bits, scheme), rows in sorted(points.groupby(["bits", "scheme"]), key=lambda item: -item[0][0]):
        rows = rows.sort_values("phase")
        series.append(rows)
        synthesised = rows["LUT"].notna()
        figure.add_trace(go.Scatter(
            x=rows["bops"], y=100 * rows["accuracy"],
            error_y={"type": "data", "array": 100 * rows["accuracy_se"], "thickness": 1},
            mode="lines+markers", name=f"{int(bits)}-bit" + ("" if scheme == "ft" else f" ({scheme.upper()})"),
            legendgroup=str(bits), line={"color": BIT_COLORS.get(int(bits), "#555555"), "width": 1.5},
            marker={"size": np.where(synthesised, 12, 7), "symbol": np.where(synthesised, "diamond", "circle"),
                    "line": {"width": 1, "color": "white"}},
            text=[_tooltip(row) for _, row in rows.iterrows()], hovertemplate="%{text}<extra></extra>",
        ))  # fmt: skip
    figure.update_layout(
        template="plotly_white", height=520, hovermode="closest", legend_title_text="bit width (click to toggle)",
        xaxis={"type": "log", "title": "BOPs (paper's count)"}, yaxis={"title": "test accuracy [%]"},
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        updatemenus=[_count_buttons(series)],
        annotations=[{"text": "◆ synthesised<br>(chapter 8)", "showarrow": False, "xref": "paper", "yref": "paper",
                      "x": 1.02, "y": 0.35, "xanchor": "left", "align": "left"}],
    )  # fmt: skip
    return figure


def firmware_points(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The synthesised models of the firmware chapter as :func:`sweep_points` rows (one run each).

    ``table``: ``qaplib.firmware.summary.firmware_row`` rows; ``keys``: each row's run store key.
    """
    return pd.DataFrame({
        "bits": table["bits"], "scheme": "ft", "phase": np.nan, "sparsity": table["weights pruned"],
        "accuracy": table["accuracy (trained)"], "accuracy_se": np.nan, "n_folds": 1, "bops": table["BOPs"],
        "effective_bops": table["effective BOPs"], "keys": [k[:KEY_CHARS] for k in keys], "LUT": table["LUT"],
        "FF": table["FF"], "latency": table["latency [cycles]"],
    })  # fmt: skip


def lut_bops_explorer(points: pd.DataFrame):
    """The interactive LUT–BOPs figure of the synthesised models (:func:`firmware_points`), one trace per bit
    width, log–log axes, a button for the paper's or the effective BOPs. Returns a plotly Figure."""
    import plotly.graph_objects as go

    synthesised = points[points["LUT"].notna()]
    figure = go.Figure()
    series = []
    for bits, rows in sorted(synthesised.groupby("bits"), key=lambda item: -item[0]):
        series.append(rows)
        figure.add_trace(go.Scatter(
            x=rows["bops"], y=rows["LUT"], mode="markers", name=f"{int(bits)}-bit", legendgroup=str(bits),
            marker={"size": 13, "color": BIT_COLORS.get(int(bits), "#555555"), "line": {"width": 1, "color": "white"}},
            text=[_tooltip(row) for _, row in rows.iterrows()], hovertemplate="%{text}<extra></extra>",
        ))  # fmt: skip
    figure.update_layout(
        template="plotly_white", height=480, hovermode="closest", legend_title_text="bit width (click to toggle)",
        xaxis={"type": "log", "title": "BOPs (paper's count)"}, yaxis={"type": "log", "title": "LUTs (Yosys, pre-P&R)"},
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        updatemenus=[_count_buttons(series)],
    )  # fmt: skip
    return figure


def explorer_html(figure, div_id: str) -> str:
    """The figure as an HTML fragment for a chapter page: a div with a stable id, plotly loaded from the book's
    ``_static`` folder (:data:`PLOTLY_SCRIPT`), no network access, no plotly logo."""
    return figure.to_html(full_html=False, include_plotlyjs=PLOTLY_SCRIPT, div_id=div_id,
                          config={"displaylogo": False, "responsive": True})  # fmt: skip


def show(figure, div_id: str) -> None:
    """Display the explorer in a notebook (an HTML output the book renders as is)."""
    from IPython.display import HTML, display

    display(HTML(explorer_html(figure, div_id)))
