"""Load the jet dataset (generated or real) and split and standardise it for training.

Sources, chosen by :attr:`DataSpec.source`:

* ``"default"``: the generated dataset committed under ``data/jets-default`` (``make data``);
* ``"full"``: the 830k-jet generated tier under ``data/jets-full`` (``make data-full``);
* a path to the real hls4ml LHC jet data in a format users hold: the OpenML
  ``hls4ml_lhc_jets_hlf`` export (``.arff`` or ``.csv``), or the Zenodo ``jetImage_*.h5`` files
  (one file or a directory of them), or a generated dataset directory (with ``manifest.json``).

Label randomisation (``label_noise``, the paper's generalizability test after Zhang et al.):
that fraction of the training *and* validation jets gets a label drawn uniformly from the five
classes (so about 4/5 of them end up wrong), deterministically from ``split_seed``. The test
set always keeps its true labels.

Splits: a separate test set (``DataSpec.test_source`` if given, otherwise a ``test_fraction`` of the
pool), and ``n_folds`` folds of the rest, fold ``fold`` being validation (4 folds = the paper's
75/25 train/validation). The StandardScaler is fitted on the training split only and applied to
all splits; the paper's code fits one per data set, a leak we do not copy.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qaplib.errors import DatasetError, InvalidSpecError
from qaplib.files import sha256_of_unchanged
from qaplib.generator.features import FEATURE_NAMES
from qaplib.generator.settings import CLASS_NAMES
from qaplib.generator.shards import MANIFEST, manifest_shards, verify_dataset
from qaplib.inputs import data_file
from qaplib.validation import check_fields, rule

#: Named generated datasets, relative to the data directory.
NAMED_SOURCES = {"default": "jets-default", "full": "jets-full"}


def data_dir() -> Path:
    """The repository's ``data/`` folder, or ``$QAP_DATA_DIR`` when set."""
    return Path(os.environ.get("QAP_DATA_DIR") or Path(__file__).resolve().parents[1] / "data")


#: Version of the data pipeline (deduplication, splitting, standardisation, label noise), part of every
#: run key: bump it when a change there alters any split or scaled feature, and every run is recomputed.
PIPELINE_VERSION = 1


#: Largest ``split_seed``: a 32-bit seed, as NumPy's legacy seeding takes (a larger one is a typo, not a seed).
MAX_SPLIT_SEED = 2**32 - 1


#: The rules of :class:`DataSpec`'s fields (:mod:`qaplib.validation`); ``fold`` must also be below ``n_folds``.
DATA_RULES: dict[str, dict] = {
    "source": rule({"type": "string", "minLength": 1}, "source must be 'default', 'full' or a path, got <value>",
                   "The jets: 'default' or 'full' (the generated tiers) or the path of a file or folder of jets."),
    "test_source": rule({"anyOf": [{"type": "null"}, {"type": "string", "minLength": 1}]},
                        "test_source must be None (the test set is split off source) or one file or folder ('default', "
                        "'full' or a path), got <value>",
                        "A separate test set (null: split off source), as the real dataset's own test files."),
    "test_fraction": rule({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                          "test_fraction must lie in (0, 1), got <value>", "Fraction of source split off as the test set."),
    "n_folds": rule({"type": "integer", "minimum": 2}, "n_folds must be an integer >= 2, got <value>",
                    "Folds of the training jets; one fold validates, the rest train."),
    "fold": rule({"type": "integer", "minimum": 0}, "fold must be an integer in [0, n_folds), got <value>",
                 "Which fold validates (0 to n_folds - 1)."),
    "split_seed": rule({"type": "integer", "minimum": 0, "maximum": MAX_SPLIT_SEED},
                       f"split_seed must be an integer in [0, {MAX_SPLIT_SEED}], got <value>",
                       "Seeds the test split and the folds."),
    "max_train_jets": rule({"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 1}]},
                           "max_train_jets must be a positive integer or None, got <value>",
                           "Train on at most this many jets (null: all)."),
    "label_noise": rule({"type": "number", "minimum": 0, "exclusiveMaximum": 1},
                        "label_noise must be a fraction in [0, 1), got <value>",
                        "Fraction of training and validation labels replaced by random classes (chapter 6)."),
}  # fmt: skip


@dataclass(frozen=True)
class DataSpec:
    """Which jets to load and how to split them (all splits deterministic in ``split_seed``)."""

    source: str = "default"
    test_source: str | None = None
    test_fraction: float = 0.2
    n_folds: int = 4
    fold: int = 0
    split_seed: int = 42
    max_train_jets: int | None = None
    label_noise: float = 0.0

    def __post_init__(self) -> None:
        check_fields(DATA_RULES, vars(self))
        if not self.fold < self.n_folds:
            raise InvalidSpecError(f"fold must be an integer in [0, {self.n_folds}), got {self.fold!r}")


@dataclass(frozen=True)
class JetTable:
    """Unsplit jets: ``features`` (n, 16) float32 in FEATURE_NAMES order, ``labels`` (n,) int64."""

    features: np.ndarray
    labels: np.ndarray
    origin: str


@dataclass(frozen=True)
class JetData:
    """Standardised splits. ``x_*`` are (n, 16) float32, ``y_*`` (n,) int64 class indices."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    scaler_mean: np.ndarray
    scaler_scale: np.ndarray
    fingerprint: str
    origin: str
    feature_names: tuple[str, ...] = FEATURE_NAMES
    class_names: tuple[str, ...] = CLASS_NAMES


# ---------------------------------------------------------------- readers

#: Largest magnitude a jet feature may have. The hls4ml features are at most a few thousand (momenta and masses
#: in GeV, multiplicities, ratios); a value beyond this one is not a jet feature, and standardised with the rest it
#: would squash every other jet's value of that feature to about zero.
MAX_ABS_FEATURE = 1e6


def _frame_to_table(frame: pd.DataFrame, path: Path, label_column: str | None) -> JetTable:
    """Pick the 16 features (with or without the ``j_`` prefix) and the labels from a frame."""
    columns = {str(c).removeprefix("j_"): c for c in frame.columns}
    missing = [name for name in FEATURE_NAMES if name not in columns]
    if missing:
        raise DatasetError(f"{path}: missing feature columns {missing}; expected the 16 hls4ml names {list(FEATURE_NAMES)}")
    try:
        features = frame[[columns[name] for name in FEATURE_NAMES]].to_numpy(dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{path}: feature columns are not numeric ({exc})") from None
    if label_column is not None:
        raw = frame[label_column].astype(str).str.strip().str.lower()
        unknown = sorted(set(raw) - set(CLASS_NAMES))
        if unknown:
            raise DatasetError(f"{path}: unknown class labels {unknown[:5]}; expected {list(CLASS_NAMES)}")
        labels = raw.map({name: i for i, name in enumerate(CLASS_NAMES)}).to_numpy(dtype=np.int64)
    else:
        one_hot_names = [f"j_{name}" for name in CLASS_NAMES]
        absent = [name for name in one_hot_names if name not in frame.columns]
        if absent:
            raise DatasetError(f"{path}: missing one-hot label columns {absent}")
        one_hot = frame[one_hot_names].to_numpy(dtype=np.float64)
        if not np.all(one_hot.sum(axis=1) == 1):
            raise DatasetError(f"{path}: label columns {one_hot_names} are not one-hot in every row")
        labels = one_hot.argmax(axis=1).astype(np.int64)
    if not np.all(np.isfinite(features)):
        raise DatasetError(f"{path}: features contain NaN or infinite values")
    if len(labels) == 0:
        raise DatasetError(f"{path}: holds no jets (a header but no rows)")
    beyond = np.argwhere(np.abs(features) > MAX_ABS_FEATURE)
    if len(beyond):
        row, column = beyond[0]
        raise DatasetError(f"{path}: feature {FEATURE_NAMES[column]} of jet {row} is {features[row, column]:g}, beyond "
                           f"±{MAX_ABS_FEATURE:g}; jet features (momenta and masses in GeV, multiplicities, ratios) lie "
                           "far inside that: check the file's units and columns")  # fmt: skip
    return JetTable(features, labels, str(path))


def read_openml_csv(path: Path) -> JetTable:
    """The OpenML ``hls4ml_lhc_jets_hlf`` CSV export: 16 feature columns and a ``class`` column."""
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not a readable CSV file ({exc})") from None
    if "class" not in frame.columns:
        raise DatasetError(f"{path}: no 'class' column; expected the OpenML hls4ml_lhc_jets_hlf export")
    return _frame_to_table(frame, path, "class")


def read_openml_arff(path: Path) -> JetTable:
    """The OpenML ``hls4ml_lhc_jets_hlf`` ARFF file: numeric features and a nominal ``class``."""
    from scipy.io import arff

    try:
        records, meta = arff.loadarff(path)
    except (arff.ArffError, ValueError, UnicodeDecodeError, NotImplementedError, StopIteration, IndexError) as exc:
        raise DatasetError(f"{path}: not a readable ARFF file ({exc})") from None
    frame = pd.DataFrame(records)
    if "class" not in frame.columns:
        raise DatasetError(f"{path}: no 'class' attribute; expected the OpenML hls4ml_lhc_jets_hlf export")
    frame["class"] = frame["class"].map(lambda v: v.decode() if isinstance(v, bytes) else v)
    return _frame_to_table(frame, path, "class")


def _read_one_h5(path: Path) -> pd.DataFrame:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            if "jets" not in handle or "jetFeatureNames" not in handle:
                raise DatasetError(f"{path}: expected datasets 'jets' and 'jetFeatureNames' (Zenodo hls4ml format)")
            for name in ("jets", "jetFeatureNames"):
                if not isinstance(handle[name], h5py.Dataset):
                    raise DatasetError(f"{path}: {name!r} is a group, not a dataset; expected the Zenodo hls4ml format "
                                       f"(datasets 'jets' and 'jetFeatureNames')")  # fmt: skip
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in handle["jetFeatureNames"][()]]
            jets = handle["jets"][()]
    except OSError as exc:
        raise DatasetError(f"{path}: not a readable HDF5 file ({exc})") from None
    if jets.ndim != 2 or jets.shape[1] != len(names):
        raise DatasetError(f"{path}: 'jets' has shape {jets.shape} but there are {len(names)} feature names")
    return pd.DataFrame(jets, columns=names)


def h5_files(path: Path) -> list[Path]:
    """The Zenodo HDF5 files behind ``path`` (the file itself, or the ``*.h5`` files of a directory), each checked
    to be a regular HDF5 file (:func:`qaplib.inputs.data_file`) before anything reads it."""
    files = sorted(path.glob("*.h5")) if path.is_dir() else [path]
    if not files:
        raise DatasetError(f"{path}: directory holds no .h5 files")
    return [data_file(file, DatasetError) for file in files]


def read_zenodo_h5(path: Path) -> JetTable:
    """Zenodo ``jetImage_*.h5`` files (one file or a directory of them), features and one-hot labels."""
    frame = pd.concat([_read_one_h5(f) for f in h5_files(path)], ignore_index=True)
    return _frame_to_table(frame, path, None)


def regenerate_command(path: Path) -> str:
    """How to (re)create the generated dataset at ``path``: ``make data``, ``make data-full`` or ``qap data generate``."""
    for name, target in (("jets-default", "make data"), ("jets-full", "make data-full")):
        if Path(path).resolve() == (data_dir() / name).resolve():
            return target
    return f"qap data generate --out {path}"


def dataset_shards(directory: Path) -> list[dict]:
    """The shard entries of a generated dataset's manifest (:func:`qaplib.generator.shards.manifest_shards`), refusing
    a manifest that lists none (ValueError): it names no jets. (The check lives here, not in the generator's module,
    whose sources are hashed into every manifest.)"""
    shards = manifest_shards(directory)
    if not shards:
        raise ValueError(f"{Path(directory) / MANIFEST} lists no shards; a dataset manifest names at least one shard file")
    return shards


def manifest_problems(directory: Path) -> list[str]:
    """What is inconsistent in a generated dataset's manifest, beyond its shards' hashes: its settings must be ones the
    generator takes (and a named tier's its own), and it must list exactly the shards those settings plan, each of its
    class with at most the jets planned. Catches a manifest rewritten around a removed or an added shard."""
    import dataclasses

    from qaplib.generator.settings import TIERS, GeneratorSettings
    from qaplib.generator.shards import plan

    try:
        manifest = json.loads((Path(directory) / MANIFEST).read_text())
        raw = dict(manifest["settings"])
        raw["pythia_extra"] = tuple(raw.get("pythia_extra", ()))
        settings = GeneratorSettings(**raw)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{Path(directory) / MANIFEST}: its settings are not the generator's ({type(exc).__name__}: {exc})"]
    problems = []
    tier = manifest.get("tier")
    if tier in ("default", "full") and settings != TIERS[tier]:
        changed = sorted(k for k, v in dataclasses.asdict(settings).items() if v != getattr(TIERS[tier], k))
        problems.append(f"the manifest says tier {tier!r} but its settings differ from that tier's in {changed}")
    planned = {task.file_name: task for task in plan(settings)}
    listed = {shard.get("file"): shard for shard in manifest.get("shards", [])}
    for name in sorted(set(planned) - set(listed)):
        problems.append(f"the manifest does not list shard {name}, which its settings plan")
    for name in sorted(set(listed) - set(planned)):
        problems.append(f"the manifest lists shard {name}, which its settings do not plan")
    for name in sorted(set(planned) & set(listed)):
        task, shard = planned[name], listed[name]
        n_jets = shard.get("n_jets")
        if shard.get("class") != task.class_name or not isinstance(n_jets, int) or not 0 < n_jets <= task.n_jets:
            problems.append(f"shard {name}: its manifest entry (class {shard.get('class')!r}, {n_jets!r} jets) is "
                            f"not what its settings plan (class {task.class_name!r}, up to {task.n_jets} jets)")  # fmt: skip
    return problems


def package_differences(directory: Path) -> list[str]:
    """The generator's packages whose installed version differs from the one that made the dataset (its manifest's
    ``packages``): a regeneration here would not be byte-identical. Reported, not refused: the data stays valid."""
    from qaplib.platform import package_versions

    try:
        recorded = dict(json.loads((Path(directory) / MANIFEST).read_text()).get("packages", {}))
    except (OSError, ValueError, TypeError):
        return []
    installed = package_versions(tuple(sorted(recorded)))
    return [f"made with {name} {recorded[name]}, installed here: {installed[name]}"
            for name in sorted(recorded) if installed[name] != recorded[name]]


def dataset_problems(directory: Path) -> list[str]:
    """Every problem of a generated dataset folder: missing or edited shards (their hashes), an inconsistent manifest
    (:func:`manifest_problems`), and shards whose content is not a generated shard's (:func:`_check_generated_shard`:
    jet counts, finite features, labels of the shard's class). Empty if sound. ``qap data verify`` reports these."""
    problems = verify_dataset(directory) + manifest_problems(directory)
    if problems:
        return problems
    for shard in manifest_shards(directory):
        try:
            _check_generated_shard(pd.read_parquet(shard["path"]), shard)
        except DatasetError as exc:
            problems.append(str(exc))
        except (OSError, ValueError) as exc:
            problems.append(f"{Path(shard['path']).name} is not a readable Parquet file ({type(exc).__name__})")
    return problems


def read_generated(path: Path) -> JetTable:
    """A generated dataset directory: Parquet shards checked against ``manifest.json``.

    A directory holding only its manifest (the 830k-jet tier as committed: the manifest identifies the
    data, the shards are made by ``make data-full``) has a fingerprint but no jets to load.
    """
    try:
        dataset_shards(path)
    except ValueError as exc:
        raise DatasetError(f"{exc}; regenerate the dataset with `{regenerate_command(path)}`") from None
    problems = verify_dataset(path) + manifest_problems(path)
    if problems:
        raise DatasetError(f"{path}: dataset is incomplete or modified: {problems[0]}; "
                           f"(re)generate it with `{regenerate_command(path)}`")  # fmt: skip
    frames = []
    for shard in manifest_shards(path):
        frame = pd.read_parquet(shard["path"])
        _check_generated_shard(frame, shard)
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    features = frame[list(FEATURE_NAMES)].to_numpy(dtype=np.float32)
    return JetTable(features, frame["label"].to_numpy(dtype=np.int64), str(path))


def _check_generated_shard(frame: pd.DataFrame, shard: dict) -> None:
    """A generated shard's content, checked as a real data file's is: as many jets as its manifest entry says, finite
    features, and labels of the shard's own class. The manifest's hashes say a shard is the one listed; these checks
    say it holds what a generated shard must, even where a manifest was rewritten around edited data."""
    name = Path(shard["path"]).name
    if len(frame) != shard.get("n_jets"):
        raise DatasetError(f"{name}: {len(frame)} jets, but its manifest entry says {shard.get('n_jets')}")
    missing = [column for column in (*FEATURE_NAMES, "label") if column not in frame.columns]
    if missing:
        raise DatasetError(f"{name}: columns {missing} are missing")
    if not np.all(np.isfinite(frame[list(FEATURE_NAMES)].to_numpy(dtype=np.float64))):
        raise DatasetError(f"{name}: features contain NaN or infinite values")
    expected = CLASS_NAMES.index(shard["class"]) if shard.get("class") in CLASS_NAMES else None
    labels = frame["label"].to_numpy()
    if expected is None or not np.all(labels == expected):
        raise DatasetError(f"{name}: labels {sorted(set(labels.tolist()))[:5]} are not its class "
                           f"{shard.get('class')!r} ({expected})")  # fmt: skip


def source_path(source: str) -> Path:
    """The file or directory behind a source name or path; a clear error (with the fix) if it is missing."""
    if source in NAMED_SOURCES:
        path = data_dir() / NAMED_SOURCES[source]
        if not (path / MANIFEST).exists():
            target = "make data" if source == "default" else "make data-full"
            raise DatasetError(f"the {source!r} dataset is not at {path}; create it with `{target}`")
        return path
    path = Path(source).expanduser()
    if not path.exists():
        raise DatasetError(f"{path} does not exist; pass 'default', 'full' or the path of a real-data file")
    return path if path.is_dir() else data_file(path, DatasetError)


def describe_source(source: str) -> str:
    """How the book names a data source: a generated tier by name, a user's file by its file name (no machine paths)."""
    if source in NAMED_SOURCES:
        return f"the generated {source} dataset (data/{NAMED_SOURCES[source]})"
    return f"the file {Path(source).name}"


def read_jets(source: str) -> JetTable:
    """Read a named generated dataset or a file/directory in any supported format."""
    path = source_path(source)
    if path.is_dir():
        return read_generated(path) if (path / MANIFEST).exists() else read_zenodo_h5(path)
    readers = {".csv": read_openml_csv, ".arff": read_openml_arff, ".h5": read_zenodo_h5, ".hdf5": read_zenodo_h5}
    if path.suffix.lower() not in readers:
        raise DatasetError(f"{path}: unknown format {path.suffix!r}; supported: {sorted(readers)} or a dataset directory")
    return readers[path.suffix.lower()](path)


# ---------------------------------------------------------------- splitting


def _deduplicate(table: JetTable) -> JetTable:
    """Drop repeated (features, label) rows, keeping the first, as the paper's loader does."""
    rows = np.concatenate([table.features.view(np.uint32), table.labels[:, None].astype(np.uint32)], axis=1)
    _, first = np.unique(rows, axis=0, return_index=True)
    keep = np.sort(first)
    return JetTable(table.features[keep], table.labels[keep], table.origin)


def fingerprint(*tables: JetTable) -> str:
    """SHA-256 (hex, 16 chars) of the jets' bytes: identifies the data a result was trained on."""
    digest = hashlib.sha256()
    for table in tables:
        digest.update(np.ascontiguousarray(table.features).tobytes())
        digest.update(np.ascontiguousarray(table.labels).tobytes())
    return digest.hexdigest()[:16]


def randomize_labels(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Copy of ``labels`` where a random ``fraction`` of entries is redrawn uniformly from 5 classes."""
    rng = np.random.default_rng([seed, 0x1abe1])
    chosen = rng.permutation(len(labels))[: int(round(fraction * len(labels)))]
    noisy = labels.copy()
    noisy[chosen] = rng.integers(0, len(CLASS_NAMES), size=len(chosen))
    return noisy


def source_fingerprint(source: str) -> str:
    """Cheap identity of a data source without loading it: SHA-256 of its shard hashes or files.

    Raises :class:`DatasetError` (with the fix) when the source does not exist.
    """
    path = source_path(source)
    digest = hashlib.sha256()
    if (path / MANIFEST).exists():  # the shards' recorded hashes: the data, not the generator's code version
        try:
            shards = dataset_shards(path)
        except ValueError as exc:
            raise DatasetError(f"{exc}; regenerate the dataset with `{regenerate_command(path)}`") from None
        digest.update(json.dumps(sorted((s["file"], s["sha256"]) for s in shards)).encode())
    else:
        for file in h5_files(path) if path.is_dir() else [path]:
            digest.update(sha256_of_unchanged(file).encode())  # every run key hashes its data: once per process
    return digest.hexdigest()[:16]


def _check_split_sizes(pool: JetTable, test: JetTable, train_index: np.ndarray, val_index: np.ndarray) -> None:
    """Every split must hold at least one jet of every class; a clear error (before any training) otherwise."""
    splits = {"training": pool.labels[train_index], "validation": pool.labels[val_index], "test": test.labels}
    for name, labels in splits.items():
        counts = np.bincount(labels, minlength=len(CLASS_NAMES))
        if counts.min() == 0:
            missing = [CLASS_NAMES[k] for k in np.flatnonzero(counts == 0)]
            raise DatasetError(f"{pool.origin}: the {name} split has {len(labels)} jets and none of class {missing}; "
                               f"{len(pool.labels)} distinct jets are too few for this split, use a larger file")  # fmt: skip


def shared_jets(pool: JetTable, test: JetTable) -> int:
    """How many of ``test``'s jets are also in ``pool``: jets compared by the bytes of their 16 features, so a
    copy of a file, another path to it or an overlapping file is found whatever it is called."""

    def rows(table: JetTable) -> np.ndarray:
        features = np.ascontiguousarray(table.features, dtype=np.float32)
        return features.view(np.dtype((np.void, features.shape[1] * features.itemsize))).ravel()

    return int(np.isin(rows(test), rows(pool)).sum())


def check_disjoint(pool: JetTable, test: JetTable) -> None:
    """A separate test set must share no jet with the source it is meant to test against (:func:`shared_jets`)."""
    shared = shared_jets(pool, test)
    if shared:
        raise DatasetError(f"the test set {test.origin} shares {shared} of its {len(test.labels)} jets with the source "
                           f"{pool.origin} (compared by the jets' features, not by path), so the test would score jets "
                           "the model trained on; give a test_source disjoint from source, or none to split one off")  # fmt: skip


def split_jets(pool: JetTable, test: JetTable | None, spec: DataSpec) -> JetData:
    """Split and standardise (see the module docstring). Deterministic in ``spec``.

    A separate ``test`` must share no jet with ``pool`` (:func:`check_disjoint`).
    """
    pool = _deduplicate(pool)
    if test is not None:
        check_disjoint(pool, test)
    order = np.random.default_rng(spec.split_seed).permutation(len(pool.labels))
    if test is None:
        n_test = int(round(spec.test_fraction * len(order)))
        test = JetTable(pool.features[order[:n_test]], pool.labels[order[:n_test]], pool.origin)
        order = order[n_test:]
    folds = np.array_split(order, spec.n_folds)
    val_index = folds[spec.fold]
    train_index = np.concatenate([f for k, f in enumerate(folds) if k != spec.fold])
    if spec.max_train_jets is not None:
        train_index = train_index[: spec.max_train_jets]
    _check_split_sizes(pool, test, train_index, val_index)
    pool_labels = randomize_labels(pool.labels, spec.label_noise, spec.split_seed) if spec.label_noise else pool.labels
    x_train = pool.features[train_index]
    mean = x_train.mean(axis=0, dtype=np.float64)
    scale = x_train.std(axis=0, dtype=np.float64)
    scale[scale == 0] = 1.0

    def standardise(x: np.ndarray) -> np.ndarray:
        return ((x - mean) / scale).astype(np.float32)

    return JetData(
        x_train=standardise(x_train),
        y_train=pool_labels[train_index],
        x_val=standardise(pool.features[val_index]),
        y_val=pool_labels[val_index],
        x_test=standardise(test.features),
        y_test=test.labels,
        scaler_mean=mean,
        scaler_scale=scale,
        fingerprint=fingerprint(pool, test),
        origin=pool.origin,
    )


def load_jets(spec: DataSpec | str = "default", **overrides) -> JetData:
    """Load, split and standardise jets.

    ``load_jets()`` gives the committed default dataset; ``load_jets("path/to/hls4ml.arff")`` the
    real one; keyword arguments set other :class:`DataSpec` fields.

    Example:
        >>> data = load_jets("default", fold=1)          # doctest: +SKIP
        >>> data.x_train.shape[1], data.class_names       # doctest: +SKIP
        (16, ('g', 'q', 'w', 'z', 't'))
    """
    if isinstance(spec, str):
        spec = DataSpec(source=spec, **overrides)
    elif overrides:
        raise InvalidSpecError("pass either a DataSpec or keyword overrides, not both")
    pool = read_jets(spec.source)
    test = read_jets(spec.test_source) if spec.test_source else None
    return split_jets(pool, test, spec)


def first_test_jets(jets: JetData, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` test jets, (n, 16) features and (n,) labels; all of them when ``n`` is None."""
    if n is None:
        return jets.x_test, jets.y_test
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidSpecError(f"the number of test jets must be a positive integer or None (all), got {n!r}")
    return jets.x_test[:n], jets.y_test[:n]
