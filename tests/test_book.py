"""Executing notebooks: parameters checked before any kernel starts, one parameters cell in the result."""

from __future__ import annotations

import nbformat
import pytest
import yaml

from qaplib import book, notebook
from qaplib.errors import InvalidSpecError


def test_injected_names_come_from_papermills_cell_only():
    history = ["", 'profile = "default"  # budget\nbits = [32]', '# Parameters\nprofile = "smoke"\nsauce = 1\n', "import x"]
    assert notebook.injected_parameter_names(history) == {"profile", "sauce"}
    assert notebook.injected_parameter_names(["", "profile = 1"]) == set()


def test_a_parameter_the_notebook_does_not_declare_is_an_error():
    history = ["", "# Parameters\nprofile = 'smoke'\nsauce = 1\n"]
    with pytest.raises(InvalidSpecError, match="02.ipynb has no parameter 'sauce'; its parameters are bits, profile"):
        notebook.check_declared("02.ipynb", ["profile", "bits"], history)
    notebook.check_declared("02.ipynb", ["profile", "sauce"], history)  # declared: fine


def test_injected_values_are_merged_into_the_parameters_cell():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell('profile = "default"   # budget\nbits = [32, 6]        # bit widths\nseed = None',
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell('# Parameters\nprofile = "smoke"\nbits = "[32, 4]"\n',
                                  metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("run = 1"),
    ]
    nb.metadata["papermill"] = {"parameters": {"profile": "smoke", "bits": "[32, 4]"}}
    book.merge_injected_parameters(nb)
    assert [c.source for c in nb.cells][1:] == ['profile = "smoke"     # budget\nbits = [32, 4]        # bit widths\nseed = None',
                                                "run = 1"]


def test_unknown_notebook_parameter_is_refused_by_name():
    with pytest.raises(InvalidSpecError, match="04_batchnorm_l1 has no parameter 'label_noise'"):
        book.check_parameters("04_batchnorm_l1", {"profile": "smoke", "label_noise": [0.5]})


def test_a_missing_source_file_is_refused_before_any_notebook_runs(tmp_path):
    from qaplib.errors import DatasetError

    with pytest.raises(DatasetError, match="does not exist"):
        book.execute_all("smoke", output_dir=tmp_path, source=str(tmp_path / "real.csv"))
    assert not list(tmp_path.glob("*.ipynb"))


def test_code_cells_are_folded_except_the_parameters_cell():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("bits = [32]", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("run = 1"),
        nbformat.v4.new_code_cell("plot()", metadata={"tags": ["hide-input"]}),
    ]
    book.fold_code_cells(nb)
    assert [c.metadata.get("tags") for c in nb.cells] == [None, ["parameters"], ["hide-input"], ["hide-input"]]


@pytest.mark.parametrize("name", book.notebook_names())
def test_every_committed_chapter_folds_its_code_but_shows_its_parameters(name):
    nb = nbformat.read(book.CHAPTER_DIR / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    parameters = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1 and book.FOLDED_TAG not in parameters[0].metadata["tags"]
    assert all(book.FOLDED_TAG in c.metadata.get("tags", []) for c in code if c is not parameters[0])


def test_the_committed_toc_is_the_generated_one():
    assert (book.BOOK_DIR / "_toc.yml").read_text() == book.toc_yaml(), "rerun: qap figures --publish (or book.write_toc)"


def test_the_paper_part_lists_the_chapters_published_at_that_scale(tmp_path):
    for folder, names in (("chapters", book.notebook_names()), ("paper", ["02_qap_sweep", "05_information_content"])):
        (tmp_path / folder).mkdir()
        for name in names:
            (tmp_path / folder / f"{name}.ipynb").write_text("{}")
    toc = yaml.safe_load(book.toc_yaml(tmp_path))
    assert [part["caption"] for part in toc["parts"]] == [
        "Reproducing the paper", "Beyond the paper", "At the paper's scale", "Reference"
    ]  # fmt: skip
    assert toc["parts"][2]["chapters"] == [{"file": "paper/02_qap_sweep"}, {"file": "paper/05_information_content"}]


def test_a_chapter_at_the_paper_scale_gets_its_own_labels_title_and_links():
    from qaplib.profiles import get_profile

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# QAP sweep\n\nSee {doc}`08_firmware` and {doc}`/methods`."),
        nbformat.v4.new_markdown_cell("```{glue:figure} fig-a\n:name: fig-a\n\nCaption.\n```"),
        nbformat.v4.new_markdown_cell("(verdict-qap)=\n:::{admonition} Verdict\n{glue:md}`verdict-qap:myst`\n:::"),
    ]
    default = [c.source for c in nb.cells]
    book.label_for_scale(nb, get_profile("default"))
    assert [c.source for c in nb.cells] == default
    book.label_for_scale(nb, get_profile("paper"))
    assert [c.source for c in nb.cells] == [
        "# QAP sweep (at the paper's scale)\n\nSee {doc}`/chapters/08_firmware` and {doc}`/methods`.",
        "```{glue:figure} fig-a\n:name: fig-a-paper\n\nCaption.\n```",
        "(verdict-qap-paper)=\n:::{admonition} Verdict\n{glue:md}`verdict-qap:myst`\n:::",
    ]


def test_only_the_books_scales_are_published():
    assert book.published_dir("paper") == book.BOOK_DIR / "paper"
    with pytest.raises(InvalidSpecError, match="the book shows the profiles default, paper, not 'smoke'"):
        book.published_dir("smoke")
