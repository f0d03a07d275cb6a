"""The book, declared once: each chapter's notebook, part, questions, figures, parameter defaults and runs.

Everything that lists chapters derives from :data:`CHAPTERS`:

* :func:`book_sweep`, :func:`book_runs` and :func:`book_searches`: what ``qap verify`` samples (the study's grid),
  what ``qap sweep`` and ``qap status`` cover for a profile (the grid and the chapters' extra runs), and chapter 7's
  searches;
* the table of contents (:func:`qaplib.book.toc_yaml`) and the results-at-a-glance table
  (:data:`qaplib.glance.QUESTIONS`);
* the tests' expected figures.

Tests hold the notebooks to it: every notebook's parameter defaults equal the chapter's ``defaults``
(:func:`default_drift`), and the figures a notebook publishes are the chapter's ``figures``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from qaplib import experiments
from qaplib.profiles import Profile
from qaplib.sweep import SweepSpec

#: The default-scale chapters' parts, in book order; the paper-scale chapters form one part of their own.
PARTS = ("Reproducing the paper", "Beyond the paper")
PAPER_PART = "At the paper's scale"


@dataclass(frozen=True)
class Chapter:
    """One chapter of the book.

    Attributes:
        notebook: the notebook's name under ``notebooks/`` without ``.ipynb`` (``"02_qap_sweep"``).
        part: which of :data:`PARTS` it belongs to at the book's own scale.
        questions: (verdict glue key, the question the verdict answers), in the order the chapter gives them.
        figures: the labels of the figures it publishes (``qaplib.notebook.NotebookRun.publish``).
        defaults: (parameter, default) for the notebook parameters that decide which runs it trains, as its
            parameters cell writes them (lists as lists).
        runs: the runs it trains under a profile, given its parameters (``defaults`` as a dict); None: none.
        searches: chapter 7's Bayesian-optimisation searches under a profile, given its parameters; None: none.
        extra_runs: runs beyond the study's grid that the chapter trains (chapter 1's uncapped baseline); they come
            after the grid in :func:`book_runs` and are left out of :func:`book_sweep`, whose order and size
            ``qap verify``'s sample draws on.
        training_rank: :func:`book_sweep` trains the chapters' runs in this order, cheapest first (lottery-ticket
            pruning retrains every phase from scratch and goes last).
    """

    notebook: str
    part: str
    questions: tuple[tuple[str, str], ...]
    figures: tuple[str, ...]
    defaults: tuple[tuple[str, object], ...] = ()
    runs: Callable[[Profile, dict], SweepSpec] | None = None
    searches: Callable[[Profile, dict], list] | None = None
    training_rank: int = 0
    extra_runs: Callable[[Profile, dict], SweepSpec] | None = None

    @property
    def number(self) -> int:
        """The chapter number (the notebook name's first two digits)."""
        return int(self.notebook[:2])

    @property
    def parameter_defaults(self) -> dict:
        """``defaults`` as a dict."""
        return dict(self.defaults)


def _lists(values) -> list:
    return [list(v) if isinstance(v, tuple) else v for v in values]


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        "01_dataset", PARTS[0],
        (("verdict-baseline", "Does the generated dataset train the float tagger as the real one does?"),
         ("verdict-convergence", "Do the runs converge within the epoch cap?")),
        ("fig-dataset-balance", "fig-dataset-features", "fig-dataset-mass", "fig-dataset-roc", "fig-dataset-confusion"),
        (("fold", 0), ("seed", None), ("uncapped_fold", 1)),
        lambda profile, p: SweepSpec("float baseline", (experiments.baseline_spec(profile, p["fold"], p["seed"]),)),
        training_rank=1,
        extra_runs=lambda profile, p: experiments.uncapped_baseline(profile, p["uncapped_fold"]),
    ),
    Chapter(
        "02_qap_sweep", PARTS[0],
        (("verdict-qap", "How many BOPs does QAP save at equal accuracy?"),
         ("verdict-effective", "How much does quantization prune by itself?")),
        ("fig-qap-accuracy-auc", "fig-qap-background", "fig-qap-effective-sparsity"),
        (("bits", list(experiments.QAP_BITS)),),
        lambda profile, p: experiments.qap_sweep(profile, p["bits"]),
        training_rank=0,
    ),
    Chapter(
        "03_pruning_schemes", PARTS[0],
        (("verdict-schemes", "Fine-tuning or lottery-ticket pruning?"),),
        ("fig-schemes",),
        (("bits", list(experiments.SCHEME_BITS)),),
        lambda profile, p: experiments.pruning_schemes(profile, p["bits"]),
        training_rank=6,
    ),
    Chapter(
        "04_batchnorm_l1", PARTS[0],
        (("verdict-bn-l1", "What do batch normalisation and L1 regularisation change?"),),
        ("fig-bn-l1",),
        (("bits", list(experiments.ABLATION_BITS)),),
        lambda profile, p: experiments.batchnorm_l1(profile, p["bits"]),
        training_rank=4,
    ),
    Chapter(
        "05_information_content", PARTS[0],
        (("verdict-efficiency", "Do equally accurate models use their neurons equally well?"),),
        ("fig-efficiency-bops", "fig-aiq-bops", "fig-efficiency-accuracy"),
        (("bits", list(experiments.SCHEME_BITS)), ("ablation_bits", list(experiments.ABLATION_BITS))),
        lambda profile, p: experiments.union("information content", experiments.pruning_schemes(profile, p["bits"]),
                                             experiments.batchnorm_l1(profile, p["ablation_bits"])),  # fmt: skip
        training_rank=7,
    ),
    Chapter(
        "06_generalizability", PARTS[0],
        (("verdict-generalizability", "How do pruned models cope with randomised labels?"),
         ("verdict-information", "Does a model's neural efficiency predict how well it generalizes?")),
        ("fig-generalizability",),
        (("bits", list(experiments.ABLATION_BITS)), ("label_noise", _lists(experiments.LABEL_NOISE)),
         ("scheme_bits", list(experiments.SCHEME_BITS)), ("ablation_bits", list(experiments.ABLATION_BITS))),
        lambda profile, p: experiments.union(
            "generalizability", experiments.generalizability(profile, p["bits"], p["label_noise"]),
            experiments.pruning_schemes(profile, p["scheme_bits"]),
            experiments.batchnorm_l1(profile, p["ablation_bits"])),  # fmt: skip
        training_rank=5,
    ),
    Chapter(
        "07_bayesian_optimization", PARTS[1],
        (("verdict-bo", "Is QAP as efficient as a Bayesian architecture search?"),),
        ("fig-bo-accuracy", "fig-bo-background", "fig-bo-front"),
        (("bits", None), ("search_seed", 0)),  # bits None: the profile's bo_bits
        lambda profile, p: experiments.qap_sweep(profile, profile.bo_bits if p["bits"] is None else p["bits"]),
        lambda profile, p: experiments.bo_searches(profile, p["bits"], seed=p["search_seed"]),
        training_rank=3,
    ),
    Chapter(
        "08_firmware", PARTS[1],
        (("verdict-firmware", "Is the firmware exact, and do BOPs predict its LUTs?"),),
        ("fig-firmware-lut-bops",),
        (("models", [list(model) for model in experiments.FIRMWARE_MODELS]),),
        lambda profile, p: SweepSpec("firmware models", tuple(dict.fromkeys(
            spec for spec, _ in experiments.firmware_models(profile, p["models"])))),  # fmt: skip
        training_rank=2,
    ),
    Chapter(
        "09_qap_vs_hgq", PARTS[1],
        (("verdict-hgq", "Does high-granularity quantization need fewer resources than QAP at equal accuracy?"),),
        ("fig-hgq-front", "fig-hgq-luts"),
        (("bits", list(experiments.QAP_BITS)), ("betas", list(experiments.HGQ_BETAS)),
         ("models", [list(model) for model in experiments.FIRMWARE_MODELS])),
        lambda profile, p: experiments.union("qap vs hgq", experiments.qap_sweep(profile, p["bits"]), SweepSpec(
            "firmware models", tuple(spec for spec, _ in experiments.firmware_models(profile, p["models"])))),  # fmt: skip
        training_rank=8,
        extra_runs=lambda profile, p: experiments.hgq_sweep(profile, p["betas"]),
    ),
)


def chapter(notebook: str) -> Chapter:
    """The chapter whose notebook is ``notebook`` (with or without ``.ipynb``)."""
    name = notebook.removesuffix(".ipynb")
    for entry in CHAPTERS:
        if entry.notebook == name:
            return entry
    raise KeyError(f"no chapter {name!r} in the book's manifest; known: {[c.notebook for c in CHAPTERS]}")


def book_sweep(profile: Profile) -> SweepSpec:
    """Every run the chapters train under ``profile`` with their default parameters, each distinct spec once,
    in the chapters' :attr:`Chapter.training_rank` order."""
    ranked = sorted((c for c in CHAPTERS if c.runs is not None), key=lambda c: c.training_rank)
    return experiments.union(f"book ({profile.name})", *(c.runs(profile, c.parameter_defaults) for c in ranked))


def book_runs(profile: Profile) -> SweepSpec:
    """Every run the chapters train under ``profile``: the :func:`book_sweep` grid, then the chapters'
    ``extra_runs``."""
    extras = [c.extra_runs(profile, c.parameter_defaults) for c in CHAPTERS if c.extra_runs is not None]
    return experiments.union(f"book ({profile.name})", book_sweep(profile), *extras)


def book_searches(profile: Profile) -> list:
    """The Bayesian-optimisation searches (:class:`qaplib.bayesopt.SearchSpec`) the chapters run under ``profile``."""
    return [search for c in CHAPTERS if c.searches is not None for search in c.searches(profile, c.parameter_defaults)]


def verdict_questions() -> dict[str, tuple[str, str]]:
    """Verdict glue key -> (chapter notebook, the question it answers), in book order."""
    return {key: (c.notebook, question) for c in CHAPTERS for key, question in c.questions}


def expected_figures() -> dict[str, tuple[str, ...]]:
    """Chapter notebook -> the labels of the figures it publishes."""
    return {c.notebook: c.figures for c in CHAPTERS}


def default_drift(notebook: str, declared: dict[str, str]) -> list[str]:
    """How the notebook's parameter defaults differ from its chapter's ``defaults``: one line per parameter that is
    missing or whose default is another value (empty when they agree).

    ``declared``: parameter -> its default as Python source (:func:`qaplib.book.declared_parameters`).
    """
    import ast

    problems = []
    for name, expected in chapter(notebook).defaults:
        if name not in declared:
            problems.append(f"{notebook}: the parameters cell has no {name!r} (the manifest's default: {expected!r})")
            continue
        try:
            value = ast.literal_eval(declared[name])
        except (ValueError, SyntaxError):
            problems.append(f"{notebook}: {name} = {declared[name]} is not a literal (the manifest's: {expected!r})")
            continue
        if value != expected or type(value) is not type(expected):
            problems.append(f"{notebook}: {name} = {value!r}, but the manifest's default is {expected!r}")
    return problems
