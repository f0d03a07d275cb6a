"""No hand-typed result numbers in the book's prose (issue 27): the methods page's results are generated from the
committed store and studies, and every other number in prose that looks like a result fails the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from qaplib import methods_page, prose
from qaplib.provenance import REPO_ROOT

PROSE_FILES = [REPO_ROOT / "book" / "methods.md", REPO_ROOT / "book" / "intro.md",
               *sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))]  # fmt: skip


def _text(path: Path) -> str:
    return path.read_text() if path.suffix == ".md" else prose.notebook_markdown(path)


@pytest.mark.parametrize("path", PROSE_FILES, ids=lambda p: p.name)
def test_prose_holds_no_hand_typed_result_numbers(path):
    assert prose.hand_typed_results(_text(path)) == [], (
        f"{path.name} states results by hand: glue them from a notebook, or put them in a generated block of "
        "qaplib.methods_page, or (a setting, not a result) add them to qaplib.prose.SETUP_CONSTANTS with why"
    )


def test_a_planted_stale_number_fails_and_generated_or_code_text_does_not():
    methods = _text(REPO_ROOT / "book" / "methods.md")
    planted = "The unpruned 6-bit model needs 354,074 BOPs. Two counts of $p$ are stored"
    stale = methods.replace("Two counts of $p$ are stored", planted)
    assert [f for f in prose.hand_typed_results(stale) if "354,074" in f]
    for planted in ("0.70235 test accuracy", "FT leads by +0.18 pp", "44 of 76 runs stop at the cap", "a factor 1.52 ± 0.1"):
        assert prose.hand_typed_results(planted), planted
    for allowed in ("`354,074`", "$354{,}074$", "<!-- generated: x -->354,074<!-- end: x -->", "tolerances of 1 and 2 points",
                    "the 16-64-32-32-5 tagger", "arXiv:2102.11289", "OpenML 42468"):  # fmt: skip
        assert prose.hand_typed_results(allowed) == [], allowed


def test_every_setup_constant_says_why():
    assert all(reason.strip() for reason in prose.SETUP_CONSTANTS.values())


def test_regenerate_replaces_block_bodies_and_refuses_an_unknown_block():
    text = "a <!-- generated: n -->old<!-- end: n --> b"
    assert prose.regenerate(text, {"n": lambda: "new"}) == "a <!-- generated: n -->new<!-- end: n --> b"
    with pytest.raises(KeyError, match="has no generator"):
        prose.regenerate(text, {})


def test_unpruned_bops_totals_follow_the_formula():
    # 16*64*(32*32+32+32+4) + 64*32*(32*32+32+32+6) + 32*32*(32*32+32+32+5) + 32*5*(32*32+32+32+5)
    assert methods_page.unpruned_bops(32) == 4_652_832
    assert methods_page.unpruned_bops(6) < methods_page.unpruned_bops(8) < methods_page.unpruned_bops(12)


@pytest.mark.slow
def test_the_methods_page_equals_its_generated_blocks():
    """The generated blocks hold what the committed store and studies give now (``make prose`` rewrites them)."""
    page = methods_page.METHODS_PAGE.read_text()
    assert set(prose.generated_blocks(page)) == set(methods_page.GENERATORS)
    assert methods_page.regenerated() == page, "book/methods.md is stale: run `make prose`"
