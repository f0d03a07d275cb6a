"""What every notebook does first and last: check its parameters, publish labelled figures.

A notebook calls :func:`start` in its first cell after ``parameters``; a bad parameter stops there
with a clear message. :meth:`NotebookRun.publish` saves a figure (PDF, SVG, 300-dpi PNG), records
its provenance, and glues both under a stable label for the book's ``{glue:figure}`` directives.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from qaplib import plots
from qaplib.errors import InvalidSpecError
from qaplib.profiles import Profile, get_profile
from qaplib.provenance import provenance


def check_type(name: str, value, expected: type | tuple[type, ...]) -> None:
    """Raise a clear error when a notebook parameter has the wrong type (bool is not an int)."""
    expected_types = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) and bool not in expected_types:
        ok = False
    else:
        ok = isinstance(value, expected_types)
    if not ok:
        names = " or ".join("None" if t is type(None) else t.__name__ for t in expected_types)
        raise InvalidSpecError(f"parameter {name!r} must be {names}, got {value!r} ({type(value).__name__})")


@dataclass
class NotebookRun:
    """One execution of a notebook: its name, parameters, profile and where figures go."""

    notebook: str
    parameters: dict
    profile: Profile
    figure_dir: Path
    data_fingerprint: str | None = None
    result_keys: list[str] = field(default_factory=list)
    executor: str = "local"
    workers: int | None = None

    def results(self, sweep) -> pd.DataFrame:
        """Rows of every run in ``sweep`` (one per phase); runs not yet in the store are trained first.

        The runs' keys and data fingerprint go into the provenance of every figure published after.
        """
        from qaplib.data import source_fingerprint
        from qaplib.store import ResultStore
        from qaplib.sweep import run_sweep
        from qaplib.tables import results_frame

        store = ResultStore()
        report = run_sweep(sweep, store, executor=self.executor, workers=self.workers)
        if report.failed:
            raise RuntimeError(f"{len(report.failed)} runs failed; first error:\n{next(iter(report.failed.values()))}")
        frame = results_frame(store, sweep)
        self.result_keys = sorted(set(self.result_keys) | set(frame["key"]))
        self.data_fingerprint = source_fingerprint(self.profile.data.source)
        print(f"{sweep.name}: {len(report.computed)} runs trained now, {len(report.reused)} taken from the store")
        return frame

    def publish(self, fig, label: str) -> None:
        """Save ``fig`` under ``label`` with provenance and glue it (and its provenance line) for the book."""
        record = provenance(self.notebook, self.parameters, self.data_fingerprint, self.result_keys)
        paths = plots.save_figure(fig, label, record, self.figure_dir)
        try:
            from IPython.display import Markdown
            from myst_nb import glue

            glue(label, fig, display=False)
            glue(f"{label}-provenance", Markdown(plots.provenance_markdown(label, record, paths)), display=False)
        except ImportError:  # outside a notebook kernel: files only
            pass
        plt.close(fig)


def start(notebook: str, parameters: dict, figure_dir: str = "figures", executor: str = "local",
          workers: int | None = None) -> NotebookRun:
    """Validate the common parameters (``profile``, ``seed``, executor) and set up figure output."""
    check_type("profile", parameters.get("profile"), str)
    check_type("executor", executor, str)
    check_type("workers", workers, (int, type(None)))
    if executor not in ("local", "dask"):
        raise InvalidSpecError(f"parameter 'executor' must be 'local' or 'dask', got {executor!r}")
    profile = get_profile(parameters["profile"])
    if parameters.get("seed") is not None:
        check_type("seed", parameters["seed"], int)
        if parameters["seed"] < 0:
            raise InvalidSpecError(f"parameter 'seed' must be >= 0, got {parameters['seed']}")
    check_type("figure_dir", figure_dir, str)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notices from per-model predict calls
    warnings.filterwarnings("ignore", message=r"The `keras.constraints.serialize\(\)` API")  # QKeras quantizers
    plots.use_book_style()
    return NotebookRun(notebook=notebook, parameters=dict(parameters), profile=profile, figure_dir=Path(figure_dir),
                       executor=executor, workers=workers)
