"""Results at a glance: made from the committed chapters, current, and every row links to a verdict that exists."""

from __future__ import annotations

import nbformat

from qaplib import glance
from qaplib.book import CHAPTER_DIR


def test_the_first_sentence_ends_at_a_sentence_end_not_at_a_decimal_point():
    assert glance.first_sentence("QAP needs **5.7×** fewer BOPs (1.0 points). The cheapest is 4-bit.") == (
        "QAP needs **5.7×** fewer BOPs (1.0 points)."
    )
    assert glance.first_sentence("One sentence only.") == "One sentence only."
    assert glance.first_sentence("Gain 2.5×. **Bold** next.") == "Gain 2.5×."


def test_the_committed_table_is_what_the_committed_chapters_say():
    committed = (CHAPTER_DIR.parent / glance.GLANCE_FILE).read_text()
    assert committed == glance.glance_markdown(CHAPTER_DIR), "rerun: qap figures --publish (or qaplib.glance.write_glance)"
    assert "not computed" not in committed
    assert len(glance.chapter_verdicts(CHAPTER_DIR)) == len(glance.QUESTIONS)


def test_every_verdict_has_the_target_the_table_links_to():
    for key, (chapter, _) in glance.QUESTIONS.items():
        cells = nbformat.read(CHAPTER_DIR / f"{chapter}.ipynb", as_version=4).cells
        assert any(c.cell_type == "markdown" and c.source.startswith(f"({key})=\n:::{{admonition}}") for c in cells), key


def test_a_chapter_without_its_verdict_is_named_in_the_table(tmp_path):
    for chapter in {name for name, _ in glance.QUESTIONS.values()}:
        nb = nbformat.read(CHAPTER_DIR / f"{chapter}.ipynb", as_version=4)
        if chapter == "03_pruning_schemes":
            for cell in (c for c in nb.cells if c.cell_type == "code"):
                cell.outputs = []
        nbformat.write(nb, tmp_path / f"{chapter}.ipynb")
    table = glance.glance_markdown(tmp_path)
    assert "| Fine-tuning or lottery-ticket pruning? | *not computed* |" in table
