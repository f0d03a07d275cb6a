"""The book's "results at a glance": one table row per chapter verdict, made from the executed chapters.

Each row names the chapter, the question it answers, the verdict's first sentence (as the chapter glued it,
numbers included) and a link to the whole verdict (the ``(verdict-...)=`` target in front of each verdict
box); once chapters are published at the paper's scale, a second column does the same for them.
``qap figures --publish`` rewrites :data:`GLANCE_FILE`, which the intro includes; a test keeps the
committed file equal to what the committed chapters say.
"""

from __future__ import annotations

import re
from pathlib import Path

from qaplib.files import atomic_write_bytes
from qaplib.manifest import verdict_questions

#: Verdict glue key -> (chapter notebook, the question it answers), in book order (from the book's manifest).
QUESTIONS = verdict_questions()
#: The file the intro includes (relative to the book's root: ``book/``).
GLANCE_FILE = "at_a_glance.md"
_RECORD = "application/papermill.record/text/markdown"


def chapter_verdicts(chapter_dir: Path) -> dict[str, str]:
    """Verdict glue key -> its Markdown text, from the executed chapters in ``chapter_dir`` (those present)."""
    import nbformat

    found = {}
    for chapter in sorted({name for name, _ in QUESTIONS.values()}):
        path = Path(chapter_dir) / f"{chapter}.ipynb"
        if not path.exists():
            continue
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                key = output.get("metadata", {}).get("scrapbook", {}).get("name", "")
                if key in QUESTIONS and _RECORD in output.get("data", {}):
                    found[key] = output["data"][_RECORD]
    return found


def first_sentence(text: str) -> str:
    """The text up to its first full stop that ends a sentence (followed by a space and a capital or the end)."""
    match = re.search(r"(?<=[.!?])\s+(?=[A-Z*])", text.strip())
    return text.strip()[: match.start()] if match else text.strip()


def _cell(verdicts: dict[str, str], key: str, missing: str) -> str:
    return first_sentence(verdicts[key]).replace("|", "\\|") if key in verdicts else missing


def glance_markdown(book_dir: Path) -> str:
    """The at-a-glance table (MyST Markdown) of the verdicts of the chapters published under ``book_dir``
    (``chapters/``, and ``paper/`` once any paper-scale chapter is there: then a column of its own).
    A verdict not found is named as such."""
    from qaplib.book import PUBLISHED_DIRS
    from qaplib.profiles import get_profile

    own = chapter_verdicts(Path(book_dir) / PUBLISHED_DIRS["default"].name)
    paper = chapter_verdicts(Path(book_dir) / PUBLISHED_DIRS["paper"].name)
    suffix = get_profile("paper").label_suffix
    if paper:
        lines = ["| chapter | question | result (this book's scale) | at the paper's scale |", "|---|---|---|---|"]
    else:
        lines = ["| chapter | question | result | |", "|---|---|---|---|"]
    for key, (chapter, question) in QUESTIONS.items():
        link, result = f"{{doc}}`{int(chapter[:2])} <chapters/{chapter}>`", _cell(own, key, "*not computed*")
        if not paper:
            lines.append(f"| {link} | {question} | {result} | {{ref}}`verdict <{key}>` |")
            continue
        result += f" ({{ref}}`verdict <{key}>`)"
        if key in paper:
            lines.append(f"| {link} | {question} | {result} | {_cell(paper, key, '')} ({{ref}}`verdict <{key}{suffix}>`) |")
        else:
            lines.append(f"| {link} | {question} | {result} | *not yet computed* |")
    return "\n".join(lines) + "\n"


def write_glance(book_dir: Path) -> Path:
    """Write :func:`glance_markdown` to ``book_dir / GLANCE_FILE``; returns the path."""
    path = Path(book_dir) / GLANCE_FILE
    atomic_write_bytes(path, glance_markdown(book_dir).encode())
    return path
