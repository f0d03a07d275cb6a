"""Sharded, parallel, resumable generation of a jet dataset, with a manifest of everything.

A dataset directory holds one Parquet file per (class, shard), each written atomically (temporary
file, then rename) together with a small JSON record of its hash and counters, and a
``manifest.json`` that gathers the settings, the Pythia cards, package versions and every shard's
SHA-256. A shard whose file and record exist with matching hash and settings is never redone, so an
interrupted run resumes where it stopped. Nothing time-dependent is written, so the same settings
give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import queue
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from qaplib.files import atomic_write_bytes, inside, sha256_of
from qaplib.generator.events import generate_jets
from qaplib.generator.features import FEATURE_NAMES, KINEMATIC_NAMES
from qaplib.generator.settings import CLASS_NAMES, SCHEMA_VERSION, GeneratorSettings

MANIFEST = "manifest.json"
_GENERATOR_SOURCES = ("jetfeat.cpp", "detector.py", "events.py", "features.py", "settings.py", "shards.py")


@dataclass(frozen=True)
class ShardTask:
    """One unit of work: ``n_jets`` jets of one class from one Pythia seed."""

    class_name: str
    shard: int
    seed: int
    n_jets: int

    @property
    def file_name(self) -> str:
        return f"{self.class_name}-{self.shard:03d}.parquet"


def generator_code_hash() -> str:
    """SHA-256 over the generator's source files: changes whenever the generator logic does."""
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in _GENERATOR_SOURCES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def plan(settings: GeneratorSettings) -> list[ShardTask]:
    """All shards of a dataset, slowest class (g) first so the pool stays busy to the end."""
    return [
        ShardTask(name, shard, settings.pythia_seed(name, shard), settings.jets_per_shard)
        for name in CLASS_NAMES
        for shard in range(settings.shards_per_class)
    ]


def _shard_table(task: ShardTask, values: np.ndarray) -> pa.Table:
    label = CLASS_NAMES.index(task.class_name)
    columns = {name: values[:, i].astype(np.float32) for i, name in enumerate(FEATURE_NAMES + KINEMATIC_NAMES)}
    columns["label"] = np.full(len(values), label, dtype=np.int8)
    return pa.table(columns)


def _record_path(directory: Path, task: ShardTask) -> Path:
    return directory / f".{task.file_name}.json"


def _settings_key(settings: GeneratorSettings) -> str:
    payload = json.dumps({"settings": settings.to_dict(), "schema": SCHEMA_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def shard_is_done(directory: Path, task: ShardTask, settings: GeneratorSettings) -> bool:
    """True if the shard file exists, its record matches the settings, and its hash checks out."""
    path, record_path = directory / task.file_name, _record_path(directory, task)
    if not (path.exists() and record_path.exists()):
        return False
    try:
        record = json.loads(record_path.read_text())
    except json.JSONDecodeError:
        return False
    return record.get("settings_key") == _settings_key(settings) and record.get("sha256") == sha256_of(path)


def run_shard(directory: Path, task: ShardTask, settings: GeneratorSettings, progress_queue=None) -> dict:
    """Generate one shard and write it and its record atomically; returns the record."""
    report = (lambda n: progress_queue.put(n)) if progress_queue is not None else None
    jets = generate_jets(settings, task.class_name, task.seed, task.n_jets, progress=report)
    sink = pa.BufferOutputStream()
    pq.write_table(_shard_table(task, jets.values), sink, compression="zstd", compression_level=9)
    path = directory / task.file_name
    atomic_write_bytes(path, sink.getvalue().to_pybytes())
    record = {
        "file": task.file_name,
        "class": task.class_name,
        "shard": task.shard,
        "pythia_seed": task.seed,
        "n_jets": int(len(jets.values)),
        "n_events": jets.n_events,
        "n_jets_dropped_nan": jets.n_jets_dropped_nan,
        "sha256": sha256_of(path),
        "settings_key": _settings_key(settings),
    }
    atomic_write_bytes(_record_path(directory, task), json.dumps(record, sort_keys=True).encode())
    return record


def _package_versions() -> dict[str, str]:
    return {name: version(name) for name in ("pythia8mc", "fastjet", "numpy", "pyarrow")}


def _card_without_seed(settings: GeneratorSettings, class_name: str) -> list[str]:
    """The whole Pythia card of a class, its seed line naming the seed rule instead of one shard's seed."""
    return ["Random:seed = <seed_rule>" if line.startswith("Random:seed =") else line
            for line in settings.pythia_card(class_name, seed=0)]  # fmt: skip


def write_manifest(directory: Path, settings: GeneratorSettings, tier: str) -> dict:
    """Gather the shard records into ``manifest.json`` (deterministic: no times, sorted keys)."""
    records = [json.loads(_record_path(directory, task).read_text()) for task in plan(settings)]
    for record in records:
        record.pop("settings_key")
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "tier": tier,
        "settings": settings.to_dict(),
        "pythia_cards": {name: _card_without_seed(settings, name) for name in CLASS_NAMES},
        "seed_rule": "Random:seed = seed_base*100000 + class_index*10000 + shard + 1",
        "nan_policy": "jets with a non-finite feature are dropped and counted per shard",
        "class_names": list(CLASS_NAMES),
        "feature_names": list(FEATURE_NAMES),
        "kinematic_names": list(KINEMATIC_NAMES),
        "packages": _package_versions(),
        "generator_code_sha256": generator_code_hash(),
        "shards": records,
    }
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    atomic_write_bytes(directory / MANIFEST, text.encode())
    return manifest


def _worker(args):
    directory, task, settings, progress_queue = args
    return run_shard(directory, task, settings, progress_queue)


def generate_dataset(
    directory: Path, settings: GeneratorSettings, tier: str, jobs: int | None = None, fresh: bool = False
) -> dict:
    """Generate (or finish) a dataset in ``directory`` with ``jobs`` worker processes.

    Shards already done are kept unless ``fresh``; returns the manifest.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tasks = plan(settings)
    todo = [t for t in tasks if fresh or not shard_is_done(directory, t, settings)]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    total = settings.jets_per_class * len(CLASS_NAMES)
    done_jets = total - sum(t.n_jets for t in todo)
    with tqdm(total=total, initial=done_jets, unit="jet", desc=f"generating {tier}") as bar:
        if todo:
            context = mp.get_context("spawn")
            with context.Manager() as manager:
                progress_queue = manager.Queue()
                stop = threading.Event()

                def drain() -> None:
                    while not stop.is_set():
                        try:
                            bar.update(progress_queue.get(timeout=0.2))
                        except queue.Empty:
                            continue

                drainer = threading.Thread(target=drain, daemon=True)
                drainer.start()
                try:
                    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
                        work = [(directory, t, settings, progress_queue) for t in todo]
                        for _ in pool.map(_worker, work):
                            pass
                finally:
                    stop.set()
                    drainer.join()
    return write_manifest(directory, settings, tier)


def manifest_shards(directory: Path) -> list[dict]:
    """The shard entries of ``directory``'s manifest, each with a ``path`` checked to lie inside ``directory``.

    Raises ValueError with the reason when the manifest is unreadable, malformed, or names a file elsewhere.
    """
    manifest_path = Path(directory) / MANIFEST
    try:
        shards = json.loads(manifest_path.read_text())["shards"]
        entries = [{**shard, "path": inside(directory, shard["file"])} for shard in shards]
        for entry in entries:
            if not isinstance(entry["sha256"], str):
                raise TypeError("sha256 is not a string")
    except FileNotFoundError:
        raise ValueError(f"{manifest_path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{manifest_path} is not a valid dataset manifest ({type(exc).__name__}: {exc})") from None
    except ValueError as exc:
        raise ValueError(f"{manifest_path}: a shard entry {exc}; a manifest may name only files in its own folder") from None
    return entries


def verify_dataset(directory: Path) -> list[str]:
    """Problems found in a dataset directory (bad manifest, missing shards, hash mismatches); empty if sound."""
    try:
        shards = manifest_shards(Path(directory))
    except ValueError as exc:
        return [str(exc)]
    problems = []
    for shard in shards:
        path = shard["path"]
        if not path.exists():
            problems.append(f"{path} is missing")
        elif sha256_of(path) != shard["sha256"]:
            problems.append(f"{path} does not match its SHA-256 in the manifest")
    return problems
