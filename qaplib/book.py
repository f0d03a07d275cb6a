"""Execute the book's notebooks with papermill: ``notebooks/*.ipynb`` -> ``book/chapters/``.

The book itself is built with ``execute_notebooks: off``: it renders what this module executed.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from qaplib.errors import InvalidSpecError
from qaplib.profiles import get_profile
from qaplib.provenance import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
CHAPTER_DIR = REPO_ROOT / "book" / "chapters"


def notebook_names() -> list[str]:
    """The book's notebooks, in chapter order (file names sort by chapter number)."""
    return sorted(p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def read_parameter_file(path: str | Path | None) -> dict:
    """Parameters from a YAML file: a mapping, optionally with per-notebook sub-mappings."""
    if path is None:
        return {}
    path = Path(path)
    if not path.exists():
        raise InvalidSpecError(f"parameter file {path} does not exist")
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InvalidSpecError(f"parameter file {path} is not valid YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise InvalidSpecError(f"parameter file {path} must hold a mapping of parameter names to values")
    return loaded


def execute_notebook(name: str, parameters: dict, output_dir: Path = CHAPTER_DIR, kernel: str = "python3") -> Path:
    """Run one notebook through papermill with ``parameters``; cwd and output are ``output_dir``."""
    import papermill

    source = NOTEBOOK_DIR / f"{name}.ipynb"
    if not source.exists():
        raise InvalidSpecError(f"no notebook {name!r}; available: {notebook_names()}")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"{name}.ipynb"
    papermill.execute_notebook(
        str(source), str(target), parameters=parameters, kernel_name=kernel, cwd=str(output_dir), progress_bar=False
    )
    return target


def execute_all(profile: str, parameter_file: str | Path | None = None, only: list[str] | None = None,
                output_dir: Path = CHAPTER_DIR) -> list[Path]:
    """Execute every notebook (or ``only`` those) under ``profile``; returns the executed files.

    A parameter file's top-level scalars apply to every notebook; a key named like a notebook
    (``01_dataset: {seed: 3}``) applies to that notebook only.
    """
    get_profile(profile)
    extra = read_parameter_file(parameter_file)
    names = only or notebook_names()
    unknown = sorted(set(names) - set(notebook_names()))
    if unknown:
        raise InvalidSpecError(f"unknown notebooks {unknown}; available: {notebook_names()}")
    shared = {k: v for k, v in extra.items() if k not in notebook_names()}
    executed = []
    for name in names:
        parameters = {"profile": profile, **shared, **extra.get(name, {})}
        executed.append(execute_notebook(name, parameters, output_dir))
    return executed
