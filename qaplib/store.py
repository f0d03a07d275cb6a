"""Content-addressed store of run results under ``results/`` (or any directory).

A result lives in ``<root>/<key[:2]>/<key>/``: ``spec.json``, ``phases.json`` (one metrics row
per phase), ``weights.npz`` (the weights after each phase), ``curves.json`` (training curves),
``meta.json`` (provenance) and ``record.json``, which holds the SHA-256 of every other file.
A result is written into a temporary directory and renamed into place, so it appears whole or not
at all. A result is served only if its files match the checksums in ``record.json``, the key in the
record is the directory's, and the stored spec hashes to that key (:func:`qaplib.runs.run_key`); any
other directory is treated as missing and recomputed, so a copied or edited record is never served.
Failed runs are noted in ``<root>/failed/<key>.json`` with their error.

Format rules: the key covers what a run *computes* (spec, data, the code versions of
:func:`qaplib.runs.code_versions` and :data:`qaplib.runs.RESULT_FORMAT_VERSION`); a change to training, the
data pipeline or a metric measured on the test set bumps a version, so every stored run counts as missing
and is recomputed. A phase column that depends on the stored weights alone
(:data:`qaplib.runs.WEIGHT_METRICS`, such as the effective BOPs) is instead filled in: when one is missing or was
computed under an older definition (:data:`qaplib.runs.WEIGHT_METRICS_VERSION`), :meth:`ResultStore.fill_in`
computes it from the stored weights and writes it into the record (``qap results fill-in``), with a note in
``meta.json``; the key, spec and weights stay as they were. :meth:`ResultStore.load` computes nothing: it refuses
such a record with an error that names the command (numbers are read, never re-derived at read time).

Where results go: the committed store ``results/`` is read, never written, by default. New results
go to the git-ignored scratch store ``out/results/``, and a result is served from either, the committed one first:
a scratch record never shadows a committed record of the same key. Setting
``$QAP_RESULTS_DIR`` (``make book RERUN=1`` sets it to ``results/``: the explicit publish step) makes
that one directory the whole store, read and written.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from qaplib.audit import record_problems
from qaplib.errors import QapError
from qaplib.files import UNREADABLE, exclusive_lock, is_stored_file, sha256_of
from qaplib.provenance import REPO_ROOT
from qaplib.records import SealedRecords, key_lock
from qaplib.runs import (
    WEIGHT_METRICS_VERSION,
    RunResult,
    RunSpec,
    fill_in_weight_metrics,
    run_key,
    stale_weight_metrics,
    weight_metrics_version,
)

#: The committed store (read-only unless ``$QAP_RESULTS_DIR`` points at it) and the scratch store.
COMMITTED_ROOT = REPO_ROOT / "results"
SCRATCH_ROOT = REPO_ROOT / "out" / "results"


class InconsistentRecordError(QapError, KeyError):
    """A record whose checksums hold but whose numbers contradict its own weights, spec or curves
    (:func:`qaplib.audit.record_problems`): edited, then rehashed. Never served."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class StaleRecordError(QapError, KeyError):
    """A stored record whose weight-derived columns are missing or out of date; ``qap results fill-in`` fixes it."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def default_root() -> Path:
    """Where new results are written: ``$QAP_RESULTS_DIR`` when set, else the scratch store ``out/results``."""
    return Path(os.environ.get("QAP_RESULTS_DIR") or SCRATCH_ROOT)


def default_read_only_roots() -> tuple[Path, ...]:
    """Stores read besides :func:`default_root`: the committed ``results/``, unless ``$QAP_RESULTS_DIR`` is set."""
    return () if os.environ.get("QAP_RESULTS_DIR") else (COMMITTED_ROOT,)

#: The stores whose training lock this thread holds (:meth:`ResultStore.training`).
_TRAINING = threading.local()

_FILES = ("spec.json", "phases.json", "weights.npz", "curves.json", "meta.json")


def _json_bytes(value) -> bytes:
    return (json.dumps(value, indent=1, sort_keys=True, default=float) + "\n").encode()


def _weights_bytes(weights: list[list[np.ndarray]]) -> bytes:
    arrays = {f"phase{p:02d}_{i:02d}": w for p, phase in enumerate(weights) for i, w in enumerate(phase)}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _weights_from(path: Path) -> list[list[np.ndarray]]:
    with np.load(path) as archive:
        names = sorted(archive.files)
        phases: dict[int, list[np.ndarray]] = {}
        for name in names:
            phase = int(name[5:7])
            phases.setdefault(phase, []).append(archive[name])
    return [phases[p] for p in sorted(phases)]


class ResultStore:
    """A directory of run results addressed by :func:`qaplib.runs.run_key`, written under ``root`` and
    also read from ``read_only`` stores (see the module docstring).

    ``ResultStore()`` is the default pair (scratch + committed); ``ResultStore(path)`` is that directory alone.
    """

    def __init__(self, root: str | Path | None = None, read_only: tuple[str | Path, ...] | None = None):
        self.root = Path(root) if root is not None else default_root()
        if read_only is None:
            read_only = default_read_only_roots() if root is None else ()
        self.read_only = tuple(Path(r) for r in read_only if Path(r).resolve() != self.root.resolve())

    @property
    def roots(self) -> tuple[Path, ...]:
        """Every directory a result is looked up in, the written one first."""
        return (self.root, *self.read_only)

    @property
    def serving_order(self) -> tuple[Path, ...]:
        """The roots in the order a record is served from: the read-only (committed) stores first, so that a record
        in the scratch store never shadows a committed one of the same key."""
        return (*self.read_only, self.root)

    def locate(self, relative: str | Path) -> Path | None:
        """The first existing ``<root>/<relative>`` in :attr:`serving_order`, or None."""
        for root in self.serving_order:
            if (root / relative).exists():
                return root / relative
        return None

    def _complete_copy(self, key: str) -> Path | None:
        for root in self.serving_order:
            if _is_complete(root / key[:2] / key):
                return root / key[:2] / key
        return None

    def path(self, key: str) -> Path:
        """The directory of ``key``: where a complete copy is, else where a new one is written."""
        return self._complete_copy(key) or self.root / key[:2] / key

    def is_complete(self, key: str) -> bool:
        """True if the result exists and every file matches the checksums in its record."""
        return self._complete_copy(key) is not None

    def save(self, result: RunResult) -> Path:
        """Write ``result`` atomically under :attr:`root`; an existing complete result with the same key is kept.

        Two writers of one key (two sweeps sharing a store) take turns (:meth:`_writing`): the second finds the
        first's result complete and keeps it."""
        with self._writing(result.key):
            existing = self._complete_copy(result.key)
            if existing is not None:
                return existing
            final = self.root / result.key[:2] / result.key
            self._write(final, result)
            (self.root / "failed" / f"{result.key}.json").unlink(missing_ok=True)
            return final

    @contextlib.contextmanager
    def training(self, what: str) -> Iterator[None]:
        """Held by a sweep while it trains into :attr:`root`: a second sweep on the same store waits (saying so) and
        then reuses what the first stored, instead of training the same runs twice. Re-entrant within a thread
        (a sweep started from inside another); ``what`` names the waiting sweep in its message."""
        name = str(self.root.resolve())
        if not hasattr(_TRAINING, "roots"):
            _TRAINING.roots = set()
        held = _TRAINING.roots
        if name in held:
            yield
            return
        waiting = f"another sweep is training into {self.root}: {what} waits for it, then reuses the runs it stored"
        with exclusive_lock(self.root / ".lock-training", waiting):
            held.add(name)
            try:
                yield
            finally:
                held.discard(name)

    def _writing(self, key: str):
        """The lock that every writer of ``key`` under :attr:`root` holds (:func:`qaplib.records.key_lock`); its
        file is ``<root>/<key[:2]>/.lock-<key>``, beside the record."""
        return key_lock(self.root / key[:2], key)

    @staticmethod
    def _write(final: Path, result: RunResult, weights_file: bytes | None = None) -> None:
        """Write ``result`` into a temporary sibling of ``final`` and rename it into place (it appears whole).

        ``weights_file``: the bytes of an existing ``weights.npz`` of the same weights, kept as they are.
        """
        tmp = final.parent / f".tmp-{result.key}-{socket.gethostname()}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        contents = {
            "spec.json": _json_bytes(result.spec.to_dict()),
            "phases.json": _json_bytes(result.phases),
            "weights.npz": weights_file if weights_file is not None else _weights_bytes(result.weights),
            "curves.json": _json_bytes(result.curves),
            "meta.json": _json_bytes(result.meta),
        }
        for name, data in contents.items():
            with open(tmp / name, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        record = {"key": result.key, "sha256": {name: sha256_of(tmp / name) for name in _FILES}}
        (tmp / "record.json").write_bytes(_json_bytes(record))
        if final.exists():  # incomplete or corrupt leftover: replace it
            shutil.rmtree(final)
        os.replace(tmp, final)

    def load(self, key: str) -> RunResult:
        """The stored result of ``key`` (KeyError if missing or corrupt; :class:`StaleRecordError` if a weight-derived
        column is missing or out of date: ``qap results fill-in`` writes it)."""
        result = self._load_stored(key)
        problems = record_problems(result)
        if problems:
            raise InconsistentRecordError(
                f"the record {key} in {self.path(key).parent.parent} contradicts itself ({problems[0]}"
                f"{f'; and {len(problems) - 1} more' if len(problems) > 1 else ''}): it was edited or damaged and is not "
                f"served; delete {self._complete_copy(key)} and the run is recomputed"
            )
        stale = stale_weight_metrics(result)
        if stale:
            root = self.path(key).parent.parent
            raise StaleRecordError(
                f"the record {key} in {root} lacks the current {', '.join(stale)} (weight-derived columns, definition "
                f"{WEIGHT_METRICS_VERSION}; the record has {weight_metrics_version(result)}): run "
                f"`qap results fill-in --store {root}`, which computes them from the stored weights (nothing is retrained)"
            )
        return result

    def _report_shadowed(self, key: str, served: Path) -> None:
        """Name, on stderr and once per process, a copy of ``key`` under :attr:`root` that differs from the committed
        one being served: the conflict is reported, not silently resolved (the committed record wins)."""
        other = self.root / key[:2] / key
        if served == other or (key, str(other)) in _REPORTED_CONFLICTS or not (other / "record.json").exists():
            return
        try:
            same = (other / "record.json").read_bytes() == (served / "record.json").read_bytes()
        except OSError:
            same = False
        if not same:
            _REPORTED_CONFLICTS.add((key, str(other)))
            print(f"the record {key} in {self.root} differs from the committed one in {served.parent.parent}; the "
                  f"committed one is served: delete {other} if it is not meant to replace it", file=sys.stderr, flush=True)

    def _load_stored(self, key: str) -> RunResult:
        directory = self._complete_copy(key)
        if directory is None:
            raise KeyError(f"no complete result {key} in {' or '.join(map(str, self.roots))}")
        self._report_shadowed(key, directory)
        return RunResult(
            spec=RunSpec.from_dict(json.loads((directory / "spec.json").read_text())),
            key=key,
            phases=json.loads((directory / "phases.json").read_text()),
            weights=_weights_from(directory / "weights.npz"),
            curves=json.loads((directory / "curves.json").read_text()),
            meta=json.loads((directory / "meta.json").read_text()),
        )

    def phase_rows(self, key: str) -> list[dict] | None:
        """The stored phase rows of ``key`` (``phases.json``) without loading its weights; None if not complete."""
        directory = self._complete_copy(key)
        return None if directory is None else json.loads((directory / "phases.json").read_text())

    def fill_in(self) -> list[str]:
        """Write every missing or out-of-date :data:`~qaplib.runs.WEIGHT_METRICS` column into the records under
        :attr:`root` (:func:`qaplib.runs.stale_weight_metrics`).

        Each record is rewritten as a whole (a filled-in copy is renamed into place); its key, spec and
        weights are unchanged, and ``meta.json`` notes which columns were computed from the stored weights,
        under which definition and by which code. Returns the keys it rewrote.
        """
        from qaplib.provenance import git_commit

        rewritten = []
        for directory in sorted(self.root.glob("??/*")):
            if directory.name.startswith("."):
                continue
            with self._writing(directory.name):
                if not _is_complete(directory):
                    continue
                stored = self._load_stored(directory.name)
                stale = stale_weight_metrics(stored)
                if not stale:
                    continue
                filled = fill_in_weight_metrics(stored)
                note = {"columns": stale, "from": "the stored weights", "definition": WEIGHT_METRICS_VERSION,
                        "code_commit": git_commit()}  # fmt: skip
                meta = {**filled.meta, "filled_in": [*filled.meta.get("filled_in", []), note]}
                self._replace(directory, RunResult(filled.spec, filled.key, filled.phases, filled.weights, filled.curves,
                                                   meta))  # fmt: skip
                rewritten.append(directory.name)
        return rewritten

    def stored_keys(self) -> list[str]:
        """The keys of the complete records under :attr:`root`, in order (checksums checked; numbers not)."""
        return [d.name for d in sorted(self.root.glob("??/*")) if d.is_dir() and not d.name.startswith(".")
                and self.is_complete(d.name)]  # fmt: skip

    def note_platform(self, platform: dict, noted: str) -> list[str]:
        """Note ``platform`` (:meth:`qaplib.platform.Platform.to_dict`) in every record under :attr:`root` that has
        none, with ``noted`` saying how it is known; returns the keys it rewrote. For records made before records
        carried their platform, on a machine of a known kind; key, spec, phases and weights stay as they were."""
        rewritten = []
        for directory in sorted(self.root.glob("??/*")):
            if directory.name.startswith("."):
                continue
            with self._writing(directory.name):
                if not _is_complete(directory):
                    continue
                stored = self._load_stored(directory.name)
                if "platform" in stored.meta:
                    continue
                meta = {**stored.meta, "platform": {**platform, "noted": noted}}
                self._replace(directory, RunResult(stored.spec, stored.key, stored.phases, stored.weights, stored.curves,
                                                   meta))  # fmt: skip
                rewritten.append(directory.name)
        return rewritten

    def _replace(self, directory: Path, result: RunResult) -> None:
        """Swap the record in ``directory`` for ``result`` (same key): write it whole beside, then rename; the
        caller holds :meth:`_writing` of the key."""
        weights_file = (directory / "weights.npz").read_bytes()
        old = directory.parent / f".old-{result.key}-{socket.gethostname()}-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
        try:
            self._write(directory, result, weights_file)
        except BaseException:
            os.replace(old, directory)
            raise
        shutil.rmtree(old)

    def load_model(self, key: str, phase: int):
        """The Keras model of ``key`` with the weights it had after ``phase`` (an HGQ run's: its HGQ tagger, with
        the activation ranges recorded on its training jets)."""
        from qaplib.models import build_model

        result = self.load(key)
        if result.spec.hgq is not None:
            from qaplib.hgq import build_hgq_model, set_hgq_weights

            model = build_hgq_model(result.spec.model.widths, result.spec.hgq.beta)
            set_hgq_weights(model, result.weights[phase])
            return model
        model = build_model(result.spec.model)
        model.set_weights(result.weights[phase])
        return model

    @property
    def _failures(self) -> SealedRecords:
        return SealedRecords(self.root / "failed")

    def mark_failed(self, key: str, spec: RunSpec, error: str) -> None:
        self._failures.write(key, {"spec": spec.to_dict(), "error": error})

    def failure(self, key: str) -> str | None:
        """The error a failed run of ``key`` left (None if it did not fail); a damaged note says so, never raises."""
        if not self._failures.exists(key):
            return None
        note = self._failures.read(key)
        if note is None or not isinstance(note.get("error"), str):
            return (f"the failure note {self._failures.path(key)} is damaged (unreadable, edited or not a regular "
                    "file); delete it to retry the run")  # fmt: skip
        return note["error"]

    def remove_stale_temporaries(self) -> int:
        """Delete temporary directories left by killed writers on this host; returns how many."""
        removed = 0
        host = socket.gethostname()
        for tmp in self.root.glob("*/.tmp-*"):
            head, _, pid = tmp.name.rpartition("-")
            if head.endswith(f"-{host}") and pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(tmp, ignore_errors=True)
                removed += 1
        return removed


#: (key, scratch copy) pairs already named by :meth:`ResultStore._report_shadowed` in this process.
_REPORTED_CONFLICTS: set[tuple[str, str]] = set()


def _is_complete(directory: Path) -> bool:
    """True if ``directory`` holds the result of the key it is named by: every file matches the checksums
    in its record, the record names that key, and the stored spec hashes to it. Every file must be a regular file
    in the directory (:func:`qaplib.files.is_stored_file`): a link, device or FIFO makes the record damaged."""
    if not all(is_stored_file(directory / name) for name in ("record.json", *_FILES)):
        return False
    try:
        record = json.loads((directory / "record.json").read_text())
        if record["key"] != directory.name:
            return False
        if not all(sha256_of(directory / name) == record["sha256"][name] for name in _FILES):
            return False
        return run_key(RunSpec.from_dict(json.loads((directory / "spec.json").read_text()))) == directory.name
    except (*UNREADABLE, QapError):
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
