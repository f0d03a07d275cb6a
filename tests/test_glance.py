"""Results at a glance: made from the committed chapters, current, and every row links to a verdict that exists."""

from __future__ import annotations

import nbformat

from qaplib import glance
from qaplib.book import BOOK_DIR, CHAPTER_DIR


def test_the_first_sentence_ends_at_a_sentence_end_not_at_a_decimal_point():
    assert glance.first_sentence("QAP needs **5.7×** fewer BOPs (1.0 points). The cheapest is 4-bit.") == (
        "QAP needs **5.7×** fewer BOPs (1.0 points)."
    )
    assert glance.first_sentence("One sentence only.") == "One sentence only."
    assert glance.first_sentence("Gain 2.5×. **Bold** next.") == "Gain 2.5×."


def test_the_committed_table_is_what_the_committed_chapters_say():
    committed = (BOOK_DIR / glance.GLANCE_FILE).read_text()
    assert committed == glance.glance_markdown(BOOK_DIR), "rerun: qap figures --publish (or qaplib.glance.write_glance)"
    assert "not computed" not in committed
    assert len(glance.chapter_verdicts(CHAPTER_DIR)) == len(glance.QUESTIONS)


def test_every_verdict_has_the_target_the_table_links_to():
    for key, (chapter, _) in glance.QUESTIONS.items():
        cells = nbformat.read(CHAPTER_DIR / f"{chapter}.ipynb", as_version=4).cells
        assert any(c.cell_type == "markdown" and c.source.startswith(f"({key})=\n:::{{admonition}}") for c in cells), key


def copy_chapters(target, names, blank=()):
    """Copy committed chapters into ``target``; those in ``blank`` lose their outputs (no verdict)."""
    target.mkdir(parents=True)
    for chapter in names:
        nb = nbformat.read(CHAPTER_DIR / f"{chapter}.ipynb", as_version=4)
        if chapter in blank:
            for cell in (c for c in nb.cells if c.cell_type == "code"):
                cell.outputs = []
        nbformat.write(nb, target / f"{chapter}.ipynb")


def test_a_chapter_without_its_verdict_is_named_in_the_table(tmp_path):
    copy_chapters(tmp_path / "chapters", {name for name, _ in glance.QUESTIONS.values()}, blank={"03_pruning_schemes"})
    table = glance.glance_markdown(tmp_path)
    assert "| Fine-tuning or lottery-ticket pruning? | *not computed* |" in table


def test_paper_scale_verdicts_get_a_column_of_their_own_linking_to_their_targets(tmp_path):
    copy_chapters(tmp_path / "chapters", {name for name, _ in glance.QUESTIONS.values()})
    copy_chapters(tmp_path / "paper", ["03_pruning_schemes"])
    table = glance.glance_markdown(tmp_path).splitlines()
    assert table[0] == "| chapter | question | result (this book's scale) | at the paper's scale |"
    schemes = next(row for row in table if "lottery-ticket" in row)
    assert schemes.count("FT − LT") == 2 and schemes.endswith("({ref}`verdict <verdict-schemes-paper>`) |")
    assert next(row for row in table if "randomised labels" in row).endswith("| *not yet computed* |")
