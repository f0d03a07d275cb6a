"""Records kept on disk: their content keys, their seal, and the lock of one key. The one helper behind every store.

Every store of the project files a record under a **content key** (:func:`content_key`: a hash of what decides
the record), writes it whole or not at all, and treats a record that is missing, truncated, edited, filed under
another key, or not a regular file as **missing**, to be recomputed, never as an error to stop on. Two writers of one
key **take turns** (:func:`key_lock`), so the record that ends up on disk is one writer's, whole.

* :class:`SealedRecords`: a folder of JSON records, each sealed with the SHA-256 of its content
  (:func:`qaplib.files.write_sealed_json`): firmware reports (:mod:`qaplib.firmware.cache`), Bayesian-optimisation
  trajectories (:mod:`qaplib.bayesopt`), the notes of failed runs (:mod:`qaplib.store`) and the dataset-fidelity
  study (:mod:`qaplib.fidelity_study`);
* the result store (:class:`qaplib.store.ResultStore`) and the phase checkpoints (:mod:`qaplib.checkpoints`) keep
  arrays beside their JSON; they seal those with a checksum of every file or array. The result store's writers take
  the same :func:`key_lock`; a checkpoint has one writer, the job training its run (the sweeps on one store take
  turns: :meth:`qaplib.store.ResultStore.training`), so it needs none;
* generated shards (:mod:`qaplib.generator.shards`) carry the SHA-256 of their Parquet file in a record beside it,
  and the dataset's manifest the hash of every shard. They keep their own helpers: the generator's code hash,
  recorded in every committed dataset's manifest, covers that module, so editing it would make the committed
  data read as made by other code.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from qaplib.files import exclusive_lock, read_sealed_json, write_sealed_json

#: What a key may look like: a plain file name (hashes, variant names), never a path.
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def content_key(payload, length: int | None = 24) -> str:
    """The key of a record: SHA-256 (hex, first ``length`` characters; None: all 64) of ``payload`` written as
    key-sorted JSON. Every store's keys are made this way (run keys, firmware keys, search keys, generator
    settings), so a key changes exactly when something that decides the record changes."""
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return digest if length is None else digest[:length]


def check_key(key: str) -> str:
    """``key`` if it is a plain file name (letters, digits, ``._+-``, not starting with a dot); else ValueError."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"a record key must be a plain file name (letters, digits, '._+-'), got {key!r}")
    return key


def key_lock(directory: str | Path, key: str, waiting: str | None = None) -> AbstractContextManager[None]:
    """The lock every writer of ``key`` in ``directory`` holds (:func:`qaplib.files.exclusive_lock` on
    ``<directory>/.lock-<key>``): a second writer waits, and then finds the first one's record."""
    return exclusive_lock(Path(directory) / f".lock-{check_key(key)}", waiting)


@dataclass(frozen=True)
class SealedRecords:
    """A folder of sealed JSON records, one per key, at ``<directory>/<key>.json``.

    A record is served only if it is a regular file, parses, its ``sha256`` matches its content and its ``key`` is
    the key it is filed under; anything else reads as None (missing). Writes are atomic and hold the key's lock.
    """

    directory: Path

    def path(self, key: str) -> Path:
        return Path(self.directory) / f"{check_key(key)}.json"

    def read(self, key: str) -> dict | None:
        """The record of ``key`` (without its seal), or None where there is no whole, unedited one."""
        return read_sealed_json(self.path(key), key)

    def exists(self, key: str) -> bool:
        """Whether a file (of any content) sits where ``key``'s record goes, so that a damaged one can be named."""
        path = self.path(key)
        return path.exists() or path.is_symlink()

    def write(self, key: str, record: dict) -> dict:
        """Store ``record`` as ``key``'s (its ``key`` field set), atomically and sealed, holding the key's lock;
        returns it as a reader will see it."""
        with key_lock(self.directory, key):
            return write_sealed_json(self.path(key), {**record, "key": key})

    def read_or_make(self, key: str, make: Callable[[], dict], waiting: str | None = None) -> dict:
        """``key``'s record, made by ``make()`` and written if there is none. The key's lock is held while it is
        made, so two processes asking for one key compute it once: the second waits (printing ``waiting``) and
        then reads the first one's record."""
        found = self.read(key)
        if found is not None:
            return found
        with key_lock(self.directory, key, waiting):
            found = self.read(key)
            if found is not None:
                return found
            return write_sealed_json(self.path(key), {**make(), "key": key})

    def keys(self) -> Iterator[str]:
        """The keys that have a file here, in order (whole or not: :meth:`read` says which are)."""
        for path in sorted(Path(self.directory).glob("*.json")):
            if _KEY.fullmatch(path.stem):
                yield path.stem
