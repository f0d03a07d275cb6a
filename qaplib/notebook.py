"""What every notebook does first and last: check its parameters, publish labelled figures and verdicts.

A notebook calls :func:`start` in its first cell after ``parameters``, with its namespace
(``globals()``): :func:`start` takes the parameters that the notebook's ``parameters`` cell declares.
A bad parameter, or one the notebook does not declare, stops there with a clear message, before any
computation. The common parameters (:data:`COMMON_PARAMETERS`) are the same in every
chapter: ``source`` and ``test_source`` replace the profile's dataset, so one ``-p source FILE``
reruns any chapter on the user's data. :meth:`NotebookRun.publish` saves a figure (PDF, SVG, 300-dpi
PNG) with a citable provenance record and glues it for the book's ``{glue:figure}`` directives;
:meth:`NotebookRun.verdict` glues a chapter's conclusion, in words, for ``{glue:md}``.
"""

from __future__ import annotations

import ast
import dataclasses
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from qaplib import plots
from qaplib.errors import InvalidSpecError
from qaplib.experiments import as_list
from qaplib.parameters import check_parameters, check_type
from qaplib.profiles import Profile, get_profile
from qaplib.provenance import provenance

#: Parameters every chapter declares, with what they may hold.
COMMON_PARAMETERS = ("profile", "source", "test_source", "executor", "workers", "store_only", "figure_dir")
#: Parameters that change where or how fast results are computed, never what they are (kept out of provenance).
PLACEMENT_PARAMETERS = ("executor", "workers", "store_only", "figure_dir")


def injected_parameter_names(history: list[str]) -> set[str]:
    """Names assigned by papermill's injected cell (the last executed cell that starts ``# Parameters``)."""
    for source in reversed(history):
        if source.lstrip().startswith("# Parameters"):
            try:
                tree = ast.parse(source)
            except SyntaxError:
                return set()
            return {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
                    if isinstance(t, ast.Name)}  # fmt: skip
    return set()


def _executed_cells() -> list[str]:
    """Sources of the cells this kernel executed so far (empty outside IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return []
    shell = get_ipython()
    return list(shell.user_ns.get("In", [])) if shell is not None else []


def check_declared(notebook: str, declared, history: list[str] | None = None) -> None:
    """Fail when papermill injected a parameter that ``notebook`` does not declare (papermill only warns)."""
    unknown = sorted(injected_parameter_names(_executed_cells() if history is None else history) - set(declared))
    if unknown:
        raise InvalidSpecError(f"{notebook} has no parameter {', '.join(map(repr, unknown))}; "
                               f"its parameters are {', '.join(sorted(declared))}")  # fmt: skip


def quiet_libraries() -> None:
    """Keep TensorFlow/XLA/absl chatter out of executed notebooks (the training workers are quietened by the
    notebook's :class:`qaplib.sweep.TrainingPolicy`)."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # TensorFlow's own C++ notices in this kernel
    import tensorflow as tf

    # retracing notices from per-model predict calls; TensorFlow sets its logger to INFO on first use in
    # a notebook, so the level is set through its own get_logger, after that first use
    tf.get_logger().setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=r"The `keras.constraints.serialize\(\)` API")  # QKeras quantizers


def profile_with_data(profile: Profile, source: str | None, test_source: str | None) -> Profile:
    """``profile`` with its dataset replaced by ``source`` (and ``test_source``) where they are given.

    Raises :class:`qaplib.errors.DatasetError` at once (with the fix) when a file does not exist.
    """
    from qaplib.data import source_path

    check_type("source", source, (str, type(None)))
    check_type("test_source", test_source, (str, type(None)))
    if source is None and test_source is None:
        return profile
    for value in (source, test_source):
        if value is not None:
            source_path(value)
    data = dataclasses.replace(profile.data, source=source or profile.data.source, test_source=test_source)
    return dataclasses.replace(profile, data=data)


@dataclass
class NotebookRun:
    """One execution of a notebook: its name, parameters, profile and where figures go.

    ``parameters`` are those that decide the results (recorded in every figure's provenance);
    ``data_fingerprints`` collects :attr:`qaplib.data.JetData.fingerprint` of every dataset used.
    """

    notebook: str
    parameters: dict
    profile: Profile
    figure_dir: Path
    executor: str = "local"
    workers: int | None = None
    store_only: bool = False
    data_fingerprints: set[str] = field(default_factory=set)
    result_keys: list[str] = field(default_factory=list)

    @property
    def policy(self):
        """How this notebook's missing runs may be trained (:class:`qaplib.sweep.TrainingPolicy`): only if
        ``store_only`` is False, in workers whose native log lines stay out of the notebook's output."""
        from qaplib.sweep import TrainingPolicy

        return TrainingPolicy(store_only=self.store_only, quiet_workers=True)

    @property
    def store(self):
        """The result store this notebook reads and writes (:class:`qaplib.store.ResultStore`)."""
        from qaplib.store import ResultStore

        return ResultStore()

    @property
    def data_fingerprint(self) -> str | None:
        """The fingerprint of the data behind this notebook's results (several, comma-separated, if mixed)."""
        return ", ".join(sorted(self.data_fingerprints)) or None

    def resolved(self, name: str, value):
        """Record what a parameter given as None resolved to (such as the profile's bit widths), so that a
        figure's provenance names the values used; returns ``value``."""
        if name not in self.parameters:
            raise InvalidSpecError(f"{self.notebook} has no parameter {name!r}")
        self.parameters[name] = value
        return value

    def uses(self, jets) -> None:
        """Record that figures from now on depend on ``jets`` (a :class:`qaplib.data.JetData`)."""
        self.data_fingerprints.add(jets.fingerprint)

    def results(self, sweep) -> pd.DataFrame:
        """Rows of every run in ``sweep`` (one per phase); runs not yet in the store are trained first.

        The runs' keys, and the fingerprint of the data they were trained on (from their stored
        records), go into the provenance of every figure published after.
        """
        from qaplib.sweep import run_sweep
        from qaplib.tables import results_frame

        store = self.store
        report = run_sweep(sweep, store, executor=self.executor, workers=self.workers, policy=self.policy)
        if report.failed:
            raise RuntimeError(f"{len(report.failed)} runs failed; first error:\n{next(iter(report.failed.values()))}")
        frame = results_frame(store, sweep)
        self.result_keys = sorted(set(self.result_keys) | set(frame["key"]))
        self.data_fingerprints |= set(frame["data_fingerprint"].dropna())
        print(f"{sweep.name}: {plots.count(len(report.computed), 'run')} trained now, "
              f"{len(report.reused)} taken from the store")  # fmt: skip
        return frame

    def publish(self, fig, label: str, title: str) -> None:
        """Save ``fig`` under ``label`` with its provenance and citation, and glue both for the book.

        ``title``: what the figure shows, in a few words (the title of its citation). The files and the
        citation carry ``label`` + the profile's :attr:`~qaplib.profiles.Profile.label_suffix`
        (``fig-qap-accuracy-auc-paper`` at the paper's scale); the glue keys stay ``label``.
        """
        record = provenance(self.notebook, self.parameters, self.data_fingerprint, self.result_keys)
        saved = plots.save_figure(fig, label + self.profile.label_suffix, title, record, self.figure_dir)
        _glue(label, fig)
        _glue(f"{label}-provenance", _markdown(plots.provenance_markdown(saved)))
        plt.close(fig)

    def verdict(self, label: str, text: str) -> None:
        """Glue a chapter's conclusion (MyST markdown, numbers already filled in) under ``label``."""
        _glue(label, _markdown(text))


def _markdown(text: str):
    try:
        from IPython.display import Markdown
    except ImportError:
        return text
    return Markdown(text)


def _glue(label: str, value) -> None:
    try:
        from myst_nb import glue
    except ImportError:  # outside a notebook kernel: files only
        return
    glue(label, value, display=False)


def start(notebook: str, namespace) -> NotebookRun:
    """Take the parameters ``notebooks/<notebook>`` declares from ``namespace`` (its ``globals()``), check them,
    and set up figure output.

    Checks every parameter that :data:`qaplib.parameters.RULES` has a rule for (the common ones and most
    others); the notebook checks the rest after.
    """
    from qaplib.book import declared_parameters

    declared = list(declared_parameters(notebook.removesuffix(".ipynb")))
    check_declared(notebook, declared)
    missing = [name for name in (*COMMON_PARAMETERS, *declared) if name not in declared or name not in namespace]
    if missing:
        raise InvalidSpecError(f"{notebook} must declare and set the parameters {missing}")
    parameters = {name: namespace[name] for name in declared}
    check_parameters(parameters)
    profile = profile_with_data(get_profile(parameters["profile"]), parameters["source"], parameters["test_source"])
    quiet_libraries()
    plots.use_book_style()
    recorded = {k: as_list(v, k) if isinstance(v, str) and v.lstrip().startswith("[") else v
                for k, v in parameters.items() if k not in PLACEMENT_PARAMETERS}  # fmt: skip
    return NotebookRun(notebook=f"notebooks/{notebook}", parameters=recorded, profile=profile,
                       figure_dir=Path(parameters["figure_dir"]), executor=parameters["executor"], workers=parameters["workers"],
                       store_only=parameters["store_only"])
