"""The loader: real-data formats written here, the generated dataset, splits and bad input."""

from __future__ import annotations

import dataclasses
import json
import re

import h5py
import numpy as np
import pandas as pd
import pytest

from qaplib import data
from qaplib.errors import DatasetError, InvalidSpecError
from qaplib.generator.features import FEATURE_NAMES
from qaplib.generator.settings import CLASS_NAMES

N_JETS = 400


@pytest.fixture(scope="module")
def jets_frame():
    """Fake but well-formed jets: class k has feature means shifted by k."""
    rng = np.random.default_rng(7)
    labels = np.arange(N_JETS) % 5
    features = rng.normal(size=(N_JETS, 16)).astype(np.float32) + labels[:, None]
    frame = pd.DataFrame(features, columns=list(FEATURE_NAMES))
    frame["class"] = [CLASS_NAMES[k] for k in labels]
    return frame


def write_arff(path, frame):
    lines = ["@RELATION hls4ml_lhc_jets_hlf", ""]
    lines += [f"@ATTRIBUTE {name} NUMERIC" for name in FEATURE_NAMES]
    lines += ["@ATTRIBUTE class {g,q,t,w,z}", "", "@DATA"]
    for row in frame.itertuples(index=False):
        lines.append(",".join(f"{v:.7g}" for v in row[:16]) + f",{row[16]}")
    path.write_text("\n".join(lines) + "\n")


def write_zenodo_h5(path, frame):
    """The Zenodo layout: a 'jets' matrix with j_-prefixed feature and one-hot label columns."""
    names = ["j_ptfrac", *[f"j_{n}" for n in FEATURE_NAMES], *[f"j_{c}" for c in CLASS_NAMES]]
    one_hot = np.eye(5)[[CLASS_NAMES.index(c) for c in frame["class"]]]
    matrix = np.concatenate([np.ones((len(frame), 1)), frame[list(FEATURE_NAMES)].to_numpy(), one_hot], axis=1)
    with h5py.File(path, "w") as handle:
        handle["jets"] = matrix.astype(np.float32)
        handle["jetFeatureNames"] = np.array([n.encode() for n in names])


def expected_labels(frame):
    return np.array([CLASS_NAMES.index(c) for c in frame["class"]])


def test_openml_csv_reader(tmp_path, jets_frame):
    path = tmp_path / "hls4ml_lhc_jets_hlf.csv"
    jets_frame.to_csv(path, index=False)
    table = data.read_jets(str(path))
    assert table.features.shape == (N_JETS, 16)
    assert np.allclose(table.features, jets_frame[list(FEATURE_NAMES)].to_numpy(), atol=1e-6)
    assert np.array_equal(table.labels, expected_labels(jets_frame))


def test_openml_arff_reader(tmp_path, jets_frame):
    path = tmp_path / "hls4ml_lhc_jets_hlf.arff"
    write_arff(path, jets_frame)
    table = data.read_jets(str(path))
    assert np.allclose(table.features, jets_frame[list(FEATURE_NAMES)].to_numpy(), rtol=1e-6, atol=1e-6)
    assert np.array_equal(table.labels, expected_labels(jets_frame))


def test_zenodo_h5_reader_file_and_directory(tmp_path, jets_frame):
    write_zenodo_h5(tmp_path / "jetImage_0.h5", jets_frame.iloc[:150])
    write_zenodo_h5(tmp_path / "jetImage_1.h5", jets_frame.iloc[150:])
    whole = data.read_jets(str(tmp_path))
    assert whole.features.shape == (N_JETS, 16)
    assert np.array_equal(whole.labels, expected_labels(jets_frame))
    single = data.read_jets(str(tmp_path / "jetImage_0.h5"))
    assert single.features.shape == (150, 16)


def test_real_format_loads_through_load_jets_with_separate_test_set(tmp_path, jets_frame):
    train_dir, test_dir = tmp_path / "train", tmp_path / "val"
    train_dir.mkdir()
    test_dir.mkdir()
    write_zenodo_h5(train_dir / "jetImage_0.h5", jets_frame.iloc[:300])
    write_zenodo_h5(test_dir / "jetImage_9.h5", jets_frame.iloc[300:])
    jets = data.load_jets(str(train_dir), test_source=str(test_dir))
    assert len(jets.y_test) == 100
    assert len(jets.y_train) + len(jets.y_val) == 300
    assert len(jets.y_val) == 75  # 4 folds: 75 / 25


def test_generated_default_dataset_is_balanced_and_verified():
    table = data.read_jets("default")
    assert table.features.shape[1] == 16 and len(table.labels) >= 100_000
    counts = np.bincount(table.labels, minlength=5)
    assert np.all(np.abs(counts / counts.mean() - 1) <= 0.05)
    assert np.isfinite(table.features).all()


@pytest.mark.slow
def test_load_jets_splits_are_disjoint_standardised_and_deterministic():
    jets = data.load_jets("default", fold=1)
    again = data.load_jets("default", fold=1)
    assert np.array_equal(jets.x_train, again.x_train) and jets.fingerprint == again.fingerprint
    n_pool = len(jets.y_train) + len(jets.y_val)
    assert len(jets.y_test) == pytest.approx(0.25 * n_pool, rel=0.01)  # 20 % of all jets
    assert len(jets.y_val) / n_pool == pytest.approx(0.25, abs=0.001)
    assert np.allclose(jets.x_train.mean(axis=0), 0, atol=1e-3)
    assert np.allclose(jets.x_train.std(axis=0), 1, atol=1e-3)
    assert jets.feature_names == FEATURE_NAMES and jets.class_names == ("g", "q", "w", "z", "t")
    rows = {r.tobytes() for r in jets.x_train}
    assert not any(r.tobytes() in rows for r in jets.x_val[:2000])
    assert not any(r.tobytes() in rows for r in jets.x_test[:2000])
    other = data.load_jets("default", fold=2)
    assert not np.array_equal(other.y_val[:100], jets.y_val[:100])


def test_scaler_uses_training_statistics_only(tmp_path, jets_frame):
    path = tmp_path / "jets.csv"
    jets_frame.to_csv(path, index=False)
    jets = data.load_jets(str(path))
    pool = data.read_jets(str(path))
    # the scaler's mean equals the mean of the raw training rows, not of all rows
    assert not np.allclose(jets.scaler_mean, pool.features.mean(axis=0), atol=1e-6)
    raw_train = jets.x_train * jets.scaler_scale + jets.scaler_mean
    assert np.allclose(raw_train.mean(axis=0), jets.scaler_mean, atol=1e-4)


def test_duplicate_rows_are_dropped(tmp_path, jets_frame):
    path = tmp_path / "dupes.csv"
    pd.concat([jets_frame, jets_frame.iloc[:50]]).to_csv(path, index=False)
    jets = data.load_jets(str(path))
    assert len(jets.y_train) + len(jets.y_val) + len(jets.y_test) == N_JETS


# ----------------------------------------------------------------- bad input


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DatasetError, match="nope.arff does not exist"):
        data.load_jets(str(tmp_path / "nope.arff"))


def test_csv_without_class_column(tmp_path, jets_frame):
    path = tmp_path / "bad.csv"
    jets_frame.drop(columns="class").to_csv(path, index=False)
    with pytest.raises(DatasetError, match="no 'class' column"):
        data.read_jets(str(path))


def test_csv_missing_a_feature(tmp_path, jets_frame):
    path = tmp_path / "bad.csv"
    jets_frame.drop(columns="mass_mmdt").to_csv(path, index=False)
    with pytest.raises(DatasetError, match=r"bad.csv: missing feature columns \['mass_mmdt'\]"):
        data.read_jets(str(path))


def test_csv_with_unknown_class(tmp_path, jets_frame):
    path = tmp_path / "bad.csv"
    frame = jets_frame.copy()
    frame.loc[0, "class"] = "higgs"
    frame.to_csv(path, index=False)
    with pytest.raises(DatasetError, match="unknown class labels"):
        data.read_jets(str(path))


def test_csv_with_text_in_a_feature(tmp_path, jets_frame):
    path = tmp_path / "bad.csv"
    frame = jets_frame.copy()
    frame["zlogz"] = frame["zlogz"].astype(object)
    frame.loc[3, "zlogz"] = "abc"
    frame.to_csv(path, index=False)
    with pytest.raises(DatasetError, match="not numeric"):
        data.read_jets(str(path))


def test_garbage_arff(tmp_path):
    path = tmp_path / "bad.arff"
    path.write_text("this is not an arff file\n")
    with pytest.raises(DatasetError, match="bad.arff does not start like an ARFF file"):
        data.read_jets(str(path))


def test_h5_without_jets_dataset(tmp_path):
    path = tmp_path / "jetImage_0.h5"
    with h5py.File(path, "w") as handle:
        handle["other"] = np.zeros(3)
    with pytest.raises(DatasetError, match="expected datasets 'jets' and 'jetFeatureNames'"):
        data.read_jets(str(path))


def test_not_an_h5_file(tmp_path):
    path = tmp_path / "jetImage_0.h5"
    path.write_text("plain text")
    with pytest.raises(DatasetError, match="jetImage_0.h5 does not start like an HDF5 file"):
        data.read_jets(str(path))


def test_h5_labels_not_one_hot(tmp_path, jets_frame):
    path = tmp_path / "jetImage_0.h5"
    write_zenodo_h5(path, jets_frame)
    with h5py.File(path, "r+") as handle:
        matrix = handle["jets"][()]
        matrix[0, -5:] = 1.0
        handle["jets"][...] = matrix
    with pytest.raises(DatasetError, match="not one-hot"):
        data.read_jets(str(path))


def test_unknown_extension(tmp_path):
    path = tmp_path / "jets.xlsx"
    path.write_text("x")
    with pytest.raises(DatasetError, match="unknown format '.xlsx'"):
        data.read_jets(str(path))


def test_empty_directory(tmp_path):
    with pytest.raises(DatasetError, match="holds no .h5 files"):
        data.read_jets(str(tmp_path))


@pytest.mark.slow
def test_tampered_generated_dataset(tmp_path, smoke_dataset):
    import shutil

    directory = tmp_path / "copy"
    shutil.copytree(smoke_dataset, directory)
    (directory / "g-000.parquet").write_bytes(b"x")
    with pytest.raises(DatasetError, match=re.escape(f"(re)generate it with `qap data generate --out {directory}`")):
        data.read_jets(str(directory))


def test_each_named_tier_says_how_to_make_it():
    assert data.regenerate_command(data.data_dir() / "jets-default") == "make data"
    assert data.regenerate_command(data.data_dir() / "jets-full") == "make data-full"


@pytest.mark.parametrize("entry", ["../../../../etc/hostname", "/etc/hostname", "..", "sub/../../outside.parquet"])
def test_a_manifest_may_not_name_files_outside_its_folder(tmp_path, smoke_dataset, entry):
    import json
    import shutil

    from qaplib.generator.shards import verify_dataset

    directory = tmp_path / "copy"
    shutil.copytree(smoke_dataset, directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["shards"][0]["file"] = entry
    (directory / "manifest.json").write_text(json.dumps(manifest))
    problems = verify_dataset(directory)
    assert len(problems) == 1 and "points outside" in problems[0] and "only files in its own folder" in problems[0]
    with pytest.raises(DatasetError, match="points outside"):
        data.read_jets(str(directory))
    with pytest.raises(DatasetError, match="points outside"):
        data.source_fingerprint(str(directory))


def test_a_malformed_manifest_is_a_clear_error(tmp_path, smoke_dataset):
    import shutil

    directory = tmp_path / "copy"
    shutil.copytree(smoke_dataset, directory)
    (directory / "manifest.json").write_text('{"shards": [{"file": "g-000.parquet"')
    with pytest.raises(DatasetError, match="not a valid dataset manifest"):
        data.source_fingerprint(str(directory))
    with pytest.raises(DatasetError, match="not a valid dataset manifest"):
        data.read_jets(str(directory))


def test_missing_named_dataset_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.setenv("QAP_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match="make data-full"):
        data.read_jets("full")


@pytest.mark.parametrize(
    "change",
    [{"fold": 4}, {"fold": -1}, {"n_folds": 1}, {"test_fraction": 1.5}, {"split_seed": "a"}, {"max_train_jets": 0},
     {"source": ""}, {"fold": 1.0}],
)
def test_invalid_data_spec(change):
    with pytest.raises(InvalidSpecError):
        dataclasses.replace(data.DataSpec(), **change)


def test_smoke_dataset_loads(smoke_dataset):
    jets = data.load_jets(str(smoke_dataset))
    manifest = json.loads((smoke_dataset / "manifest.json").read_text())
    assert len(jets.y_train) + len(jets.y_val) + len(jets.y_test) == sum(s["n_jets"] for s in manifest["shards"])


def test_source_fingerprint_follows_the_shards_not_the_manifest_metadata(tmp_path, smoke_dataset):
    import shutil

    directory = tmp_path / "copy"
    shutil.copytree(smoke_dataset, directory)
    before = data.source_fingerprint(str(directory))
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["generator_code_sha256"] = "0" * 64
    (directory / "manifest.json").write_text(json.dumps(manifest))
    assert data.source_fingerprint(str(directory)) == before
    manifest["shards"][0]["sha256"] = "f" * 64
    (directory / "manifest.json").write_text(json.dumps(manifest))
    assert data.source_fingerprint(str(directory)) != before


def test_missing_source_fingerprint_says_how_to_fix(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        data.source_fingerprint(str(tmp_path / "nothing.csv"))


@pytest.mark.slow
def test_label_noise_redraws_the_requested_fraction_of_training_labels_only():
    clean = data.load_jets("default", max_train_jets=5000)
    noisy = data.load_jets("default", max_train_jets=5000, label_noise=0.5)
    changed = np.mean(clean.y_train != noisy.y_train)
    assert 0.35 < changed < 0.45  # half redrawn, 4/5 of those to another class
    assert np.array_equal(clean.y_test, noisy.y_test) and np.array_equal(clean.x_train, noisy.x_train)
    again = data.load_jets("default", max_train_jets=5000, label_noise=0.5)
    assert np.array_equal(noisy.y_train, again.y_train)


def test_the_full_tier_as_committed_has_a_fingerprint_but_says_how_to_make_its_jets(tmp_path, monkeypatch):
    """A fresh clone holds the 830k tier's manifest only: run keys need its fingerprint, loading needs make data-full."""
    import shutil

    committed = data.source_fingerprint("full")
    (tmp_path / "jets-full").mkdir()
    shutil.copy(data.data_dir() / "jets-full" / "manifest.json", tmp_path / "jets-full" / "manifest.json")
    monkeypatch.setenv("QAP_DATA_DIR", str(tmp_path))
    assert data.source_fingerprint("full") == committed
    with pytest.raises(DatasetError, match=r"g-000\.parquet.*\(re\)generate it with `make data-full`"):
        data.read_jets("full")


@pytest.mark.parametrize("edit, message", [
    ("nan", "features contain NaN"),
    ("label 7", r"labels \[7\] are not its class 'g'"),
    ("relabelled", r"labels \[4\] are not its class 'g'"),
    ("rows removed", "jets, but its manifest entry says"),
])  # fmt: skip
def test_generated_data_with_its_manifest_rewritten_is_still_checked_for_content(tmp_path, smoke_dataset, edit, message):
    """issue 32's audit: with the manifest's hash updated, shards holding NaN features, labels of 7, gluons
    relabelled as top, or fewer jets than listed were loaded. The content is now checked as a CSV's is."""
    import json
    import shutil

    from qaplib.files import sha256_of

    directory = tmp_path / "copy"
    shutil.copytree(smoke_dataset, directory)
    shard = directory / "g-000.parquet"
    frame = pd.read_parquet(shard)
    if edit == "nan":
        frame.loc[0, data.FEATURE_NAMES[0]] = np.nan
    elif edit == "label 7":
        frame["label"] = 7
    elif edit == "relabelled":
        frame["label"] = 4
    else:
        frame = frame.iloc[:-3]
    frame.to_parquet(shard)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["shards"][0]["sha256"] = sha256_of(shard)  # the forger rehashes
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match=message):
        data.read_jets(str(directory))
    assert any(re.search(message, problem) for problem in data.dataset_problems(directory))  # what qap data verify prints


@pytest.mark.parametrize("edit, message", [
    ("entry removed", r"does not list shard g-000\.parquet, which its settings plan"),
    ("other tier", r"says tier 'default' but its settings differ from that tier's in \['jets_per_shard'"),
    ("more jets", r"shard g-000\.parquet: its manifest entry .* not what its settings plan"),
    ("bad settings", "its settings are not the generator's"),
])  # fmt: skip
def test_a_manifest_rewritten_around_a_removed_shard_or_other_settings_is_refused(tmp_path, smoke_dataset, edit, message):
    """issue 32's audit: a manifest entry removed (fewer jets), or settings that are not the named tier's or not the
    generator's at all, passed every hash check. The manifest is now checked against the shards its settings plan."""
    import json
    import shutil

    directory = tmp_path / "copy"
    shutil.copytree(smoke_dataset, directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    if edit == "entry removed":
        manifest["shards"] = [shard for shard in manifest["shards"] if shard["file"] != "g-000.parquet"]
    elif edit == "other tier":
        manifest["tier"] = "default"
    elif edit == "more jets":
        manifest["shards"][0]["n_jets"] = 10**6
    else:
        manifest["settings"]["jets_per_eventt"] = 2
    (directory / "manifest.json").write_text(json.dumps(manifest))
    assert any(re.search(message, problem) for problem in data.dataset_problems(directory)), data.dataset_problems(directory)
    with pytest.raises(DatasetError, match=message):
        data.read_jets(str(directory))
    assert data.dataset_problems(smoke_dataset) == []


def test_other_generator_package_versions_are_noted_not_refused(tmp_path, smoke_dataset):
    import json
    import shutil

    directory = tmp_path / "copy"
    shutil.copytree(smoke_dataset, directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["packages"]["pythia8mc"] = "8.999.0"
    (directory / "manifest.json").write_text(json.dumps(manifest))
    assert data.package_differences(directory) == ["made with pythia8mc 8.999.0, installed here: 8.317.2"]
    assert data.package_differences(smoke_dataset) == []
    assert data.dataset_problems(directory) == []
