"""Execute the book's notebooks with papermill: ``notebooks/*.ipynb`` -> a scratch folder, or ``book/chapters/``.

By default executed notebooks and their figures go to the git-ignored ``out/book`` and new results to
the scratch store (:mod:`qaplib.store`): a rerun never changes a tracked file. Publishing
(``qap figures --publish``, which ``make book RERUN=1`` runs) writes ``book/chapters/`` and the
committed store ``results/``. The book itself is built with ``execute_notebooks: off``: it renders
what this module executed.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from qaplib.errors import InvalidSpecError
from qaplib.files import atomic_write_bytes
from qaplib.profiles import get_profile
from qaplib.provenance import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
BOOK_DIR = REPO_ROOT / "book"
CHAPTER_DIR = BOOK_DIR / "chapters"
SCRATCH_BOOK_DIR = REPO_ROOT / "out" / "book"
#: Where ``qap figures --publish`` writes each profile's executed chapters: the book's own scale, and the
#: paper's beside it (a part of its own, see :func:`toc`).
PUBLISHED_DIRS = {"default": CHAPTER_DIR, "paper": BOOK_DIR / "paper"}


def notebook_names() -> list[str]:
    """The book's notebooks, in chapter order (file names sort by chapter number)."""
    return sorted(p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def read_parameter_file(path: str | Path | None) -> dict:
    """Parameters from a YAML file: a mapping, optionally with per-notebook sub-mappings."""
    if path is None:
        return {}
    from qaplib.inputs import read_text

    try:
        loaded = yaml.safe_load(read_text(path, "parameter file"))
    except yaml.YAMLError as exc:
        raise InvalidSpecError(f"parameter file {path} is not valid YAML: {exc}") from None
    if loaded is None:  # an empty file: no parameters (an empty list is not a mapping, and is refused below)
        loaded = {}
    if not isinstance(loaded, dict):
        raise InvalidSpecError(f"parameter file {path} must hold a mapping of parameter names to values, got "
                               f"{type(loaded).__name__} {loaded!r:.80}")  # fmt: skip
    for name in set(loaded) & set(notebook_names()):
        if not isinstance(loaded[name], dict):
            raise InvalidSpecError(f"parameter file {path}: the entry {name} must be a mapping of that notebook's "
                                   f"parameters to values, like `{name}: {{seed: 3}}`, got {loaded[name]!r:.80}")  # fmt: skip
    return loaded


def _inspected(name: str, notebook_dir: Path = NOTEBOOK_DIR) -> dict[str, dict]:
    """papermill's reading of the parameters cell of ``notebook_dir/<name>.ipynb``: name -> {default, help, ...}."""
    import papermill

    source = Path(notebook_dir) / f"{name}.ipynb"
    if not source.exists():
        raise InvalidSpecError(f"no notebook {name!r}; available: {notebook_names()}")
    return papermill.inspect_notebook(str(source))


def declared_parameters(name: str) -> dict[str, str]:
    """The parameters ``notebooks/<name>.ipynb`` declares: name -> the comment that explains it."""
    return {key: value.get("help", "") for key, value in _inspected(name).items()}


def notebook_defaults(name: str, notebook_dir: Path = NOTEBOOK_DIR) -> dict[str, str]:
    """The parameters ``notebook_dir/<name>.ipynb`` declares: name -> its default as the parameters cell writes it
    (Python source, e.g. ``"[32, 6]"``)."""
    return {key: value["default"] for key, value in _inspected(name, notebook_dir).items()}


def check_parameters(name: str, parameters: dict) -> None:
    """Fail before any kernel starts when ``parameters`` names one that notebook ``name`` does not declare, or
    holds a value its rule refuses (:mod:`qaplib.parameters`)."""
    from qaplib import parameters as rules

    declared = declared_parameters(name)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise InvalidSpecError(f"{name} has no parameter {', '.join(map(repr, unknown))}; its parameters are "
                               f"{', '.join(declared)}")  # fmt: skip
    try:
        rules.check_parameters(parameters)
    except InvalidSpecError as exc:
        raise InvalidSpecError(f"{name}: {exc}") from None


def _python_literal(value, name: str) -> str:
    """How a parameter value reads in the parameters cell: lists given as text ("[32, 6]") as lists, strings in double quotes."""
    from qaplib.experiments import as_list

    value = as_list(value, name)
    return json.dumps(value) if isinstance(value, str) else repr(value)


def merge_injected_parameters(nb) -> None:
    """Write papermill's injected values into the ``parameters`` cell (keeping its comments) and drop the injected cell.

    The reader then sees one parameters cell holding the values the notebook ran with; the
    notebook's metadata (``papermill.parameters``) keeps what was passed.
    """
    injected = [i for i, c in enumerate(nb.cells) if "injected-parameters" in c.metadata.get("tags", [])]
    declared = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if not injected or not declared:
        return
    values = nb.metadata.get("papermill", {}).get("parameters", {})
    lines = []
    for line in declared[0].source.splitlines():
        name, _, rest = line.partition("=")
        if name.strip() in values and name.strip().isidentifier():
            comment = rest[rest.index("  #"):] if "  #" in rest else ""
            assigned = f"{name.rstrip()} = {_python_literal(values[name.strip()], name.strip())}"
            lines.append(assigned.ljust(len(line) - len(comment)) + comment if comment else assigned)
        else:
            lines.append(line)
    declared[0].source = "\n".join(lines)
    del nb.cells[injected[0]]


#: Cell tag that folds a code cell in the rendered book (a "show code" toggle; outputs stay visible).
FOLDED_TAG = "hide-input"


def fold_code_cells(nb) -> None:
    """Tag every code cell but the ``parameters`` cell :data:`FOLDED_TAG`: the book shows the parameters,
    the outputs and the figures, and the reader unfolds the code on demand."""
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and "parameters" not in tags and FOLDED_TAG not in tags:
            cell.metadata["tags"] = [*tags, FOLDED_TAG]


def published_dir(profile: str) -> Path:
    """Where the executed chapters of ``profile`` are published; a clear error for a profile the book does not show."""
    get_profile(profile)
    if profile not in PUBLISHED_DIRS:
        raise InvalidSpecError(f"the book shows the profiles {', '.join(PUBLISHED_DIRS)}, not {profile!r}; "
                               "run it without --publish (into out/book)")  # fmt: skip
    return PUBLISHED_DIRS[profile]


def label_for_scale(nb, profile) -> None:
    """Make an executed chapter of another scale a page that can stand beside the book's own chapter.

    For a profile with a :attr:`~qaplib.profiles.Profile.label_suffix`: figure (``:name:``) and verdict
    (``(verdict-...)=``) targets get the suffix, the title names the scale (``scale_title``), and links to
    sibling chapters point at the book's own chapters. A profile without a suffix is left as it is.
    """
    import re

    if not profile.label_suffix:
        return
    titled = False
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        source = re.sub(r"^:name: (\S+)$", rf":name: \1{profile.label_suffix}", cell.source, flags=re.M)
        source = re.sub(r"^\((verdict-[\w-]+)\)=$", rf"(\1{profile.label_suffix})=", source, flags=re.M)
        source = re.sub(r"\{doc\}`(\d\d_\w+)`", r"{doc}`/chapters/\1`", source)
        if not titled and source.startswith("# "):
            title, _, rest = source.partition("\n")
            source, titled = f"{title} ({profile.scale_title})\n{rest}".rstrip("\n"), True
        cell.source = source


def execute_notebook(name: str, parameters: dict, output_dir: Path = SCRATCH_BOOK_DIR, kernel: str = "python3") -> Path:
    """Run one notebook through papermill with ``parameters``; cwd and output are ``output_dir``.

    Unknown parameters fail before the kernel starts; the executed notebook shows one parameters cell, and
    its other code cells are folded (:func:`fold_code_cells`).
    """
    import nbformat
    import papermill

    check_parameters(name, parameters)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"{name}.ipynb"
    papermill.execute_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb"), str(target), parameters=parameters, kernel_name=kernel,
                               cwd=str(output_dir), progress_bar=False)  # fmt: skip
    nb = nbformat.read(target, as_version=4)
    merge_injected_parameters(nb)
    fold_code_cells(nb)
    label_for_scale(nb, get_profile(parameters.get("profile", "default")))
    nbformat.write(nb, target)
    return target


def execute_all(profile: str, parameter_file: str | Path | None = None, only: list[str] | None = None,
                output_dir: Path = SCRATCH_BOOK_DIR, source: str | None = None, test_source: str | None = None,
                store_only: bool = False) -> list[Path]:
    """Execute every notebook (or ``only`` those) under ``profile``; returns the executed files.

    A parameter file's top-level scalars apply to every notebook; a key named like a notebook
    (``01_dataset: {seed: 3}``) applies to that notebook only. ``source`` / ``test_source`` (a
    real-data file) reach every notebook, and so does ``store_only`` when set (a missing run stops a notebook before
    any training). All parameters are checked before the first notebook runs.
    """
    get_profile(profile)
    extra = read_parameter_file(parameter_file)
    names = only or notebook_names()
    unknown = sorted(set(names) - set(notebook_names()))
    if unknown:
        raise InvalidSpecError(f"unknown notebooks {unknown}; available: {notebook_names()}")
    shared = {k: v for k, v in extra.items() if k not in notebook_names()}
    data = {k: v for k, v in (("source", source), ("test_source", test_source)) if v is not None}
    forced = {"store_only": True} if store_only else {}
    if data:
        from qaplib.data import source_path

        for value in data.values():
            source_path(value)
    planned = {name: {"profile": profile, **data, **shared, **extra.get(name, {}), **forced} for name in names}
    for name, parameters in planned.items():
        check_parameters(name, parameters)
    return [execute_notebook(name, parameters, output_dir) for name, parameters in planned.items()]


def toc_yaml(book_dir: Path = BOOK_DIR) -> str:
    """The book's ``_toc.yml``: the chapters of :data:`qaplib.manifest.CHAPTERS` executed under ``book_dir``, by
    part (:data:`~qaplib.manifest.PARTS`), then those published at the paper's scale as a part of their own, then
    the methods page. A part with no executed chapter is left out. ``qap figures --publish`` writes it; a test
    keeps it current."""
    from qaplib.manifest import CHAPTERS, PAPER_PART, PARTS

    parts = [(part, "chapters", [c.notebook for c in CHAPTERS if c.part == part]) for part in PARTS]
    parts.append((PAPER_PART, PUBLISHED_DIRS["paper"].name, [c.notebook for c in CHAPTERS]))
    lines = ["format: jb-book", "root: intro", "parts:"]
    for caption, folder, names in parts:
        chapters = [n for n in names if (Path(book_dir) / folder / f"{n}.ipynb").exists()]
        if chapters:
            lines += [f'  - caption: "{caption}"', "    chapters:", *(f"      - file: {folder}/{n}" for n in chapters)]
    lines += ['  - caption: "Reference"', "    chapters:", "      - file: methods"]
    return "\n".join(lines) + "\n"


def write_toc(book_dir: Path = BOOK_DIR) -> Path:
    """Write :func:`toc_yaml` to ``book_dir/_toc.yml``; returns the path."""
    path = Path(book_dir) / "_toc.yml"
    atomic_write_bytes(path, toc_yaml(book_dir).encode())
    return path
