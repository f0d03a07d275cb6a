"""How to cite one figure of the book: a sentence and a BibTeX entry built from its provenance record.

A figure is identified by its stable label and the SHA-256 of its PDF (the file a paper includes);
the record says which notebook, code commit, parameters and data made it. The companion itself and
the paper are cited as ``CITATION.cff`` says.
"""

from __future__ import annotations

import datetime

PAPER = ("B. Hawks, J. Duarte, N. J. Fraser, A. Pappalardo, N. Tran, Y. Umuroglu, \"Ps and Qs: Quantization-Aware "
         "Pruning for Efficient Low Latency Neural Network Inference\", Front. Artif. Intell. 4 (2021) 676564, "
         "doi:10.3389/frai.2021.676564")  # fmt: skip


def _parameters(record: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in record["parameters"].items())


def figure_citation(label: str, title: str, record: dict) -> str:
    """One sentence citing the figure: label, title, PDF hash, notebook, commit, parameters and data."""
    return (f"qap-companion contributors, figure \"{label}\" ({title}), PDF SHA-256 {record['files']['pdf']['sha256']}, "
            f"made by {record['notebook']} at commit {record['commit']} with {_parameters(record)} on data "
            f"{record['data_fingerprint']}; companion to {PAPER}.")  # fmt: skip


def _bibtex_escape(text: str) -> str:
    return "".join("\\" + c if c in "&%$#_{}" else c for c in text)


def figure_bibtex(label: str, title: str, record: dict, year: int | None = None) -> str:
    """A ``@misc`` BibTeX entry for the figure (key ``qap-companion:<label>``); ``year`` defaults to this year."""
    year = year or datetime.date.today().year
    note = (f"Figure {label}, PDF SHA-256 {record['files']['pdf']['sha256']}; made by {record['notebook']} at commit "
            f"{record['commit']} with {_parameters(record)}; data fingerprint {record['data_fingerprint']}")  # fmt: skip
    fields = {
        "author": "{{qap-companion contributors}}",
        "title": f"{{{_bibtex_escape(title)}}}",
        "howpublished": "{qap-companion, the runnable companion to Hawks et al., Front. Artif. Intell. 4 (2021) 676564}",
        "year": f"{{{year}}}",
        "note": f"{{{_bibtex_escape(note)}}}",
    }
    body = ",\n".join(f"  {name} = {value}" for name, value in fields.items())
    return f"@misc{{qap-companion:{label},\n{body}\n}}\n"
