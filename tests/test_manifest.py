"""The book's manifest (qaplib.manifest) against what the notebooks, the TOC and the committed figures say."""

from __future__ import annotations

import json
import re
import shutil

import nbformat
import pytest

from qaplib import experiments, manifest
from qaplib.book import BOOK_DIR, NOTEBOOK_DIR, notebook_defaults, notebook_names
from qaplib.profiles import PROFILES, get_profile


def test_the_manifest_declares_every_notebook_once_in_book_order():
    names = [c.notebook for c in manifest.CHAPTERS]
    assert names == sorted(notebook_names()) and [c.number for c in manifest.CHAPTERS] == list(range(1, len(names) + 1))
    assert {c.part for c in manifest.CHAPTERS} == set(manifest.PARTS)
    keys = [key for c in manifest.CHAPTERS for key, _ in c.questions]
    assert len(keys) == len(set(keys)) and all(key.startswith("verdict-") for key in keys)
    with pytest.raises(KeyError, match="no chapter '09_hgq'"):
        manifest.chapter("09_hgq")


@pytest.mark.parametrize("name", notebook_names())
def test_every_notebook_default_is_the_manifests(name):
    assert manifest.default_drift(name, notebook_defaults(name)) == []


def test_a_planted_drift_in_a_notebook_default_is_named(tmp_path):
    """The notebook a reader runs and the sweep `qap sweep --profile` trains must not part: a label-noise list
    edited in the notebook alone, a tuple for a list, a parameter removed are each reported."""
    name = "06_generalizability"
    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    cell = nb.cells[[c.cell_type for c in nb.cells].index("code")]
    assert "label_noise = [0.0, 0.5, 0.75, 0.9]" in cell.source
    cell.source = cell.source.replace("label_noise = [0.0, 0.5, 0.75, 0.9]", "label_noise = [0.0, 0.5, 0.9]")
    cell.source = re.sub(r"^bits = \[32, 6\]", "bits = (32, 6)", cell.source, flags=re.M)  # not ablation_bits
    nbformat.write(nb, tmp_path / f"{name}.ipynb")
    drift = manifest.default_drift(name, notebook_defaults(name, tmp_path))
    assert drift == [f"{name}: bits = (32, 6), but the manifest's default is [32, 6]",
                     f"{name}: label_noise = [0.0, 0.5, 0.9], but the manifest's default is [0.0, 0.5, 0.75, 0.9]"]
    assert manifest.default_drift("08_firmware", {"profile": '"default"'}) == [
        "08_firmware: the parameters cell has no 'models' (the manifest's default: "
        "[[32, 0.0], [6, 0.0], [6, 0.5], [6, 0.8], [6, 0.9], [4, 0.8]])"]  # fmt: skip


@pytest.mark.parametrize("name", notebook_names())
def test_each_notebook_publishes_exactly_the_manifests_figures(name):
    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    published = re.findall(r"run\.publish\(\s*.+?,\s*\"(fig-[a-z0-9-]+)\"", code, flags=re.DOTALL)
    assert published and sorted(published) == sorted(manifest.chapter(name).figures)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_the_book_sweep_keeps_its_training_order(profile):
    """`qap verify` draws its sample by position in the book sweep: the manifest must give the order that drew
    the committed verifications (chapter 2, then 4, 6 and 3; the other chapters' runs are among these)."""
    profile = get_profile(profile)
    expected = experiments.union(f"book ({profile.name})", experiments.qap_sweep(profile),
                                 experiments.batchnorm_l1(profile), experiments.generalizability(profile),
                                 experiments.pruning_schemes(profile))  # fmt: skip
    assert manifest.book_sweep(profile) == expected
    extras = experiments.uncapped_baseline(profile, manifest.chapter("01_dataset").parameter_defaults["uncapped_fold"])
    hgq = experiments.hgq_sweep(profile, manifest.chapter("09_qap_vs_hgq").parameter_defaults["betas"])
    assert manifest.book_runs(profile).runs == expected.runs + extras.runs + hgq.runs  # the grid's order and size stay


@pytest.mark.parametrize("profile", ["default", "paper"])
def test_the_committed_figures_use_only_runs_the_manifest_trains(profile):
    """What `qap sweep --profile` trains covers every run a committed figure was made from (the book's runs, the
    architectures chapter 7's recorded searches retrained, and its BO front on every fold)."""
    from qaplib import bayesopt, bo_front
    from qaplib.runs import run_key
    from qaplib.store import COMMITTED_ROOT, ResultStore

    profile = get_profile(profile)
    store = ResultStore(COMMITTED_ROOT)
    progress = [bayesopt.search_progress(profile, search, store) for search in manifest.book_searches(profile)]
    trained = {run_key(spec) for spec in manifest.book_runs(profile).runs}
    trained |= {run_key(spec) for spec in bayesopt.proposed_runs(profile, progress).runs}
    front, _ = bo_front.front_progress(store, profile, progress)
    trained |= {run_key(spec) for spec in front.runs}
    folder = BOOK_DIR / ("chapters" if profile.name == "default" else "paper") / "figures"
    records = [json.loads(path.read_text()) for path in sorted(folder.glob("*.provenance.json"))]
    assert len(records) >= 10
    for record in records:
        assert set(record["result_keys"]) <= trained, (record["label"], sorted(set(record["result_keys"]) - trained)[:3])


def test_the_toc_follows_the_manifest(tmp_path):
    import yaml

    from qaplib.book import toc_yaml

    shutil.copytree(BOOK_DIR / "chapters", tmp_path / "chapters", ignore=shutil.ignore_patterns("figures"))
    toc = yaml.safe_load(toc_yaml(tmp_path))
    for part in manifest.PARTS:
        listed = next(p["chapters"] for p in toc["parts"] if p["caption"] == part)
        assert [entry["file"] for entry in listed] == [f"chapters/{c.notebook}" for c in manifest.CHAPTERS if c.part == part]
