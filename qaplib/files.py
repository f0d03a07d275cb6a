"""Files written whole or not at all, their SHA-256, and paths kept inside their folder.

The one place the library writes and hashes the files it keeps: the result store, the firmware cache, the
phase checkpoints, the generator's shards and records, the figures with their provenance, the table of
contents and the glance table all use these helpers. Scratch projects of external tools (hls4ml, da4ml's
Verilog, Yosys scripts) are written where those tools expect them.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import stat
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

#: What reading a missing, truncated, edited or foreign record raises (JSON, text or an ``.npz`` archive): every
#: store treats a record that raises one of these as missing, to be recomputed, never as an error to stop on.
UNREADABLE = (OSError, EOFError, UnicodeDecodeError, ValueError, KeyError, TypeError, zipfile.BadZipFile)


def is_stored_file(path: str | Path) -> bool:
    """True if ``path`` is a regular file itself: not a link (which could lead out of its store), a device, a named
    pipe or a folder. Checked before a store reads a record, so that a FIFO or ``/dev/zero`` planted in a store
    counts as a damaged record instead of making the reader hang."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def sha256_of(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of_unchanged(path: str | Path) -> str:
    """:func:`sha256_of`, memoised per process for as long as the file's size and modification time stay the same.

    For inputs hashed again and again (a user's data file behind every run key); never for files being verified.
    """
    stat = Path(path).stat()
    return _memoised_sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _memoised_sha256(path: str, _size: int, _mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def json_sha256(value) -> str:
    """SHA-256 (hex) of ``value`` written as canonical JSON (sorted keys, no spaces): a checksum of its content."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"), default=float).encode()).hexdigest()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never a part.

    The bytes go to a temporary file in the same folder, are flushed to disk, then renamed over ``path``.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_json(path: str | Path, value) -> None:
    """:func:`atomic_write_bytes` of ``value`` as indented, key-sorted JSON."""
    atomic_write_bytes(path, (json.dumps(value, indent=1, sort_keys=True, default=float) + "\n").encode())


@contextlib.contextmanager
def exclusive_lock(path: str | Path, waiting: str | None = None) -> Iterator[None]:
    """Hold an exclusive advisory lock (``flock``) on the file ``path`` (created if missing, never removed: removing
    a lock file races with its next user) for the duration of the ``with`` block.

    Other processes, and other threads that take the same lock, wait; ``waiting``, if given, is printed to stderr
    when this one has to. It serialises the writers of one record; readers need none, since records appear by an
    atomic rename. Holds across machines only where the shared file system supports ``flock`` (local disks, NFSv4).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                print(waiting, file=sys.stderr, flush=True)
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def write_sealed_json(path: str | Path, record: dict) -> dict:
    """Store ``record`` atomically with a ``sha256`` of its content, which :func:`read_sealed_json` verifies;
    returns it as a reader will see it (parsed back from JSON)."""
    record = json.loads(json.dumps(record, default=float))  # the checksum is of what a reader will parse
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {**record, "sha256": json_sha256(record)})
    return record


def read_sealed_json(path: str | Path, key: str) -> dict | None:
    """The record :func:`write_sealed_json` stored at ``path``, if it is whole, unedited (its ``sha256`` matches)
    and filed under its own ``key``; else None (unreadable, edited or misfiled records count as missing)."""
    if not is_stored_file(path):
        return None
    try:
        record = json.loads(Path(path).read_text())
    except UNREADABLE:
        return None
    if not isinstance(record, dict):
        return None
    checksum = record.pop("sha256", None)
    return record if checksum == json_sha256(record) and record.get("key") == key else None


def inside(directory: str | Path, relative: str) -> Path:
    """``directory / relative``, or ValueError when that resolves outside ``directory`` (``..``, absolute, links)."""
    base = Path(directory).resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base) or target == base:
        raise ValueError(f"{relative!r} points outside {directory}")
    return target


def writable_directory(path: str | Path, what: str) -> Path:
    """``path``, checked (without creating anything) to be a directory this process can write in, or one it can
    create; otherwise a clear :class:`qaplib.errors.InvalidSpecError` naming ``what`` it was meant for."""
    from qaplib.errors import InvalidSpecError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InvalidSpecError(f"the {what} {path} is a file, not a directory; give a directory")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InvalidSpecError(f"cannot write the {what} {path}: {existing} is a file; give a writable directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InvalidSpecError(f"cannot write the {what} {path}: {existing} is not writable; give a writable directory")
    return path
