"""No hand-typed result numbers in the book's prose.

A result in the book is glued from a notebook (``{glue:md}`` and the verdict boxes) or written into the methods page
by code: a **generated block** ``<!-- generated: NAME -->`` ... ``<!-- end: NAME -->`` whose text is what
``GENERATORS[NAME]()`` returns, from the committed store and study files. ``qap book prose`` rewrites the blocks;
a test holds the page to the generators.

:func:`hand_typed_results` finds the numbers in prose (the methods page, the notebooks' markdown cells) that look
like results and are neither generated nor glued nor on :data:`SETUP_CONSTANTS`, a short list of the study's settings
that the prose may state. What "looks like a result" means is :func:`looks_like_result`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

#: Numbers the prose may state although they look like results: settings of the study, identifiers and versions,
#: each with why. Everything else that looks like a result must be generated or glued.
SETUP_CONSTANTS: dict[str, str] = {
    "42468": "OpenML dataset id",
    "3602254": "Zenodo record id",
    "8.317": "Pythia version",
    "990": "hard-process pT window, GeV (the original samples' setting)",
    "1010": "hard-process pT window, GeV",
    "1100": "jet pT window, GeV",
    "700": "jet pT window of the wide-window study variant, GeV",
    "1300": "jet pT window of the wide-window study variant, GeV",
    "0.0175": "detector cell size (from the original file name)",
    "0.022": "detector cell size (from the original file name)",
    "4,000": "jets per class of the fidelity study (its setting)",
    "2006.02909": "arXiv id of Schaub & Hotaling",
    "2102.11289": "arXiv id of the paper",
    "676564": "article number of the paper (Front. AI 4:676564)",
    "2.15": "TensorFlow version",
    "2405.00645": "arXiv id of HGQ",
    "0.750": "real-set accuracy range from public runs (literature, not ours)",
    "0.764": "real-set accuracy range from public runs (literature, not ours)",
    "75–76": "real-set accuracy from public runs (literature, not ours)",
    "75": "75/25 split of the paper",
    "830k": "size of the paper-scale generated tier (its setting)",
    "664k": "training and validation jets of the paper-scale tier (its setting)",
    "498k": "training jets of one paper-scale fold (its setting)",
    "166k": "test jets of the paper-scale tier (its setting)",
    "630k": "training and validation jets of the real set",
    "100k": "size of the default tier (its setting)",
    "60k": "training jets of one default fold",
    "20k": "validation and test jets of the default tier",
    "80k": "training and validation jets of the default tier",
    "1.5k": "training jets of the smoke profile",
    "96.7": "target sparsity of the 11th pruning phase (schedule)",
    "98.9": "target sparsity of the 12th pruning phase (schedule)",
}

_MARK = re.compile(r"<!-- generated: (?P<name>[\w-]+) -->(?P<body>.*?)<!-- end: (?P=name) -->", re.S)
#: Prose that is not prose: code blocks and spans, math, roles (glue, doc, ref), links' targets, comments, tables'
#: generated blocks.
_NOT_PROSE = [
    re.compile(r"```.*?```", re.S),
    re.compile(r"\$\$.*?\$\$", re.S),
    re.compile(r"\$[^$\n]+\$"),
    re.compile(r"`[^`]*`"),
    re.compile(r"arXiv:\s*[\w./-]+"),
    re.compile(r"\b\d+(?:-\d+){2,}\b"),  # an architecture, 16-64-32-32-5
    re.compile(r"\]\([^)]*\)"),
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"https?://\S+"),
]
_NUMBER = re.compile(r"(?<![\w.])[-+−]?\d[\d,]*(?:\.\d+)?(?:[–-]\d[\d,]*(?:\.\d+)?)?k?(?![\w])")


def strip_generated(text: str) -> str:
    """``text`` without its generated blocks (their text is code's, not hand-typed)."""
    return _MARK.sub(" ", text)


def prose_only(text: str) -> str:
    """``text`` without generated blocks, code, math, roles, link targets and comments."""
    text = strip_generated(text)
    for pattern in _NOT_PROSE:
        text = pattern.sub(" ", text)
    return text


def _significant(number: str) -> int:
    digits = re.sub(r"[^\d]", "", number.split("–")[0].split("-")[0] if number[:1].isdigit() else number).lstrip("0")
    return len(digits.rstrip("0")) if "." not in number else len(digits)


def looks_like_result(number: str, after: str, before: str) -> bool:
    """Whether a numeric literal in prose reads like a measured result rather than a setting: a decimal with three or
    more significant digits, an integer of four or more digits (thousands, BOPs, jets), or any number next to "±",
    a unit of difference (pp, points, ×) or in "k of n"."""
    core = number.lstrip("+-−")
    if re.search(r"±\s*$", before) or re.match(r"\s*±", after):
        return True
    if re.match(r"\s*(pp\b|pt\b|points?\b|percentage points|×)", after) and (core != number or "." in core):
        return True  # a signed or decimal difference; "1 and 2 points" (tolerances) are settings
    if re.match(r"\s+of\s+\d", after):
        return True
    if "." in core.split("–")[0]:
        return _significant(core.split("–")[0]) >= 3
    integer = core.split("–")[0].replace(",", "").rstrip("k")
    return len(integer) >= 4 and not re.fullmatch(r"(19|20)\d\d", integer)


def hand_typed_results(text: str) -> list[str]:
    """The numbers in ``text`` (markdown) that look like results (:func:`looks_like_result`) and are not generated,
    glued or on :data:`SETUP_CONSTANTS`, each with a little context."""
    prose = prose_only(text)
    found = []
    for match in _NUMBER.finditer(prose):
        number = match.group(0).rstrip(",")
        ends = re.split(r"[–-]", number.lstrip("+-−"))
        if number.lstrip("+-−") in SETUP_CONSTANTS or all(end in SETUP_CONSTANTS for end in ends):
            continue
        before, after = prose[max(0, match.start() - 30) : match.start()], prose[match.end() : match.end() + 30]
        if looks_like_result(number, after, before):
            found.append(f"{number!r} in '…{before.strip()[-25:]} {number}{after.rstrip()[:25]}…'")
    return found


def generated_blocks(text: str) -> dict[str, str]:
    """Name -> body of each generated block in ``text``."""
    return {m["name"]: m["body"] for m in _MARK.finditer(text)}


def regenerate(text: str, generators: dict[str, Callable[[], str]]) -> str:
    """``text`` with every generated block's body replaced by its generator's output (an unknown name is an error)."""

    def body(match: re.Match) -> str:
        name = match["name"]
        if name not in generators:
            raise KeyError(f"generated block {name!r} has no generator; known: {sorted(generators)}")
        return f"<!-- generated: {name} -->{generators[name]()}<!-- end: {name} -->"

    return _MARK.sub(body, text)


def notebook_markdown(path: Path) -> str:
    """The markdown cells of a notebook, joined."""
    import json

    cells = json.loads(Path(path).read_text())["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
