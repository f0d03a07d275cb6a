"""The committed, executed chapters of both scales (book/chapters, book/paper): clean outputs, every glued value
present, one parameters cell, figures made at clean commits."""

from __future__ import annotations

import re

import nbformat
import pytest
from output_checks import output_problems

from qaplib.book import CHAPTER_DIR, PUBLISHED_DIRS, notebook_names

GLUE_REFERENCE = re.compile(r"\{glue:md\}`([\w-]+):myst`|\{glue:figure\} ([\w-]+)")


#: Every executed chapter in the book: the default scale's (all of them) and the paper scale's published so far.
PUBLISHED = [CHAPTER_DIR / f"{name}.ipynb" for name in notebook_names()] + sorted(PUBLISHED_DIRS["paper"].glob("*.ipynb"))


def glued_labels(nb) -> set[str]:
    return {o.get("metadata", {}).get("scrapbook", {}).get("name") for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", [])} - {None}  # fmt: skip


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_committed_chapter_shows_no_noise_paths_or_injected_cell(path):
    nb, name = nbformat.read(path, as_version=4), path.stem
    problems = output_problems(nb)
    assert not problems, "\n".join(problems)
    assert [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])], f"{name}: no parameters cell"


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_committed_chapter_glues_every_value_its_text_uses_and_states_a_verdict(path):
    nb, name = nbformat.read(path, as_version=4), path.stem
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    referenced = {a or b for a, b in GLUE_REFERENCE.findall(text)}
    missing = referenced - glued_labels(nb)
    assert not missing, f"{name}: the text uses glued values that the executed notebook lacks: {sorted(missing)}"
    assert any(label.startswith("verdict-") for label in referenced), f"{name}: no verdict in the text"


def test_output_checks_catch_what_they_should():
    """The checks above can fail: each kind of noise in a made-up notebook is reported."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(metadata={"tags": ["injected-parameters"]}),
                nbformat.v4.new_code_cell(outputs=[
                    nbformat.v4.new_output("stream", name="stderr", text="qap: 10%|█ | 1/10 [00:03<00:27, 3.0s/run]"),
                    nbformat.v4.new_output("stream", name="stdout", text="/work/main/data/jets-default: 1 runs"),
                    nbformat.v4.new_output("stream", name="stdout", text="WARNING:tensorflow:5 out of the last 13 calls"),
                    nbformat.v4.new_output("display_data", data={"text/html": "<td>-0.0000</td>"}),
                ])]  # fmt: skip
    found = "\n".join(output_problems(nb))
    for expected in ("injected-parameters", "stderr output", "log noise", "machine path", "sloppy text"):
        assert expected in found, expected


def test_every_committed_figure_was_made_at_a_clean_commit_that_exists():
    """A citation names a commit a reader can check out: publish (`make book RERUN=1`) from a clean tree."""
    import json
    import subprocess

    records = sorted(path for directory in PUBLISHED_DIRS.values() for path in (directory / "figures").glob("*.provenance.json"))
    assert records
    git = ["git", "-C", str(CHAPTER_DIR)]
    shallow = subprocess.run([*git, "rev-parse", "--is-shallow-repository"], capture_output=True, text=True).stdout.strip()
    for record in records:
        commit = json.loads(record.read_text())["commit"]
        assert not commit.endswith("+dirty"), f"{record.name}: made from uncommitted code ({commit})"
        if shallow == "false":  # a shallow clone lacks the history to look the commit up in
            found = subprocess.run([*git, "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True)
            assert found.returncode == 0, f"{record.name}: commit {commit} is not in this repository"
