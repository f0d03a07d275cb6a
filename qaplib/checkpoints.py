"""Phase checkpoints of unfinished runs: a long run that is interrupted resumes after its last finished phase.

A paper-scale run trains 12 phases of up to 250 epochs on 600k jets; a batch of such runs takes hours,
and the result store only sees a run when all its phases are done. So after every phase the engine
writes each run's state, ``<directory>/<key>.npz``: its current weights and masks and what its finished
phases produced (rows, best weights, learning curves, seconds). A restarted job restores that state and
trains only the phases still missing. Each phase's training depends only on its start weights, masks
and seed (``seed * 1000 + phase``), so on the same machine the resumed run is bit-identical to one that
was never interrupted. A checkpoint is sealed with a checksum of its header and arrays; one that is unreadable,
edited, of another key, or made with another ``chunk_size`` is ignored (the run starts over); the sweep deletes a
run's checkpoint once the run is stored.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from qaplib.files import UNREADABLE, atomic_write_bytes, is_stored_file, json_sha256

#: Bumped when the layout below changes; a checkpoint of another version is ignored. 2: sealed (a checksum of the
#: header and every array, :func:`_seal`).
CHECKPOINT_VERSION = 2


def _seal(header: dict, arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of ``header`` (canonical JSON, without its ``sha256``) and of every array (name, dtype, shape and
    bytes, in name order): a checkpoint whose numbers were edited, or whose arrays were swapped, no longer matches."""
    digest = hashlib.sha256(json_sha256({k: v for k, v in header.items() if k != "sha256"}).encode())
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def checkpoint_path(directory: Path, key: str) -> Path:
    return Path(directory) / f"{key}.npz"


def save_checkpoint(directory: Path, key: str, chunk_size: int, state: dict) -> Path:
    """Write a run's state atomically: ``state`` has ``current`` (weights, ``build_model`` order), ``masks``
    (layer -> (n_in, n_out) array), ``weights`` (per finished phase, a list of arrays), ``phases`` and
    ``curves`` (per finished phase, plain JSON values), ``seconds`` and ``batch_members``."""
    arrays = {f"current_{i}": w for i, w in enumerate(state["current"])}
    arrays |= {f"mask_{layer}": m for layer, m in state["masks"].items()}
    for phase, weights in enumerate(state["weights"]):
        arrays |= {f"phase{phase}_{i}": w for i, w in enumerate(weights)}
    header = {"version": CHECKPOINT_VERSION, "key": key, "chunk_size": chunk_size, "n_weights": len(state["current"]),
              "phases": state["phases"], "curves": state["curves"], "seconds": state["seconds"],
              "batch_members": state["batch_members"]}  # fmt: skip
    header = json.loads(json.dumps(header, default=float))  # sealed as it will be read back
    header["sha256"] = _seal(header, arrays)
    buffer = io.BytesIO()
    np.savez(buffer, header=np.array(json.dumps(header, default=float)), **arrays)
    path = checkpoint_path(directory, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())  # one writer: the job training the run (sweeps on a store take turns)
    return path


def load_checkpoint(directory: Path, key: str, chunk_size: int) -> dict | None:
    """The state :func:`save_checkpoint` wrote for ``key`` with ``chunk_size``, or None (none, unreadable, other)."""
    path = checkpoint_path(directory, key)
    if not is_stored_file(path):  # none, or a link, device or FIFO (which np.load would wait on)
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            header = json.loads(str(stored["header"]))
            if (header.get("version"), header.get("key"), header.get("chunk_size")) != (CHECKPOINT_VERSION, key, chunk_size):
                return None
            if header.get("sha256") != _seal(header, {name: stored[name] for name in stored.files if name != "header"}):
                return None  # edited or damaged: the run starts over rather than carry forged numbers into a record
            n = header["n_weights"]
            masks = {name.removeprefix("mask_"): stored[name] for name in stored.files if name.startswith("mask_")}
            return {
                "current": [stored[f"current_{i}"] for i in range(n)],
                "masks": masks,
                "weights": [[stored[f"phase{p}_{i}"] for i in range(n)] for p in range(len(header["phases"]))],
                "phases": header["phases"],
                "curves": header["curves"],
                "seconds": header["seconds"],
                "batch_members": header["batch_members"],
            }
    except UNREADABLE:  # a missing, truncated or foreign checkpoint is absent
        return None


def finished_phases(directory: Path, key: str) -> int:
    """How many phases ``key``'s checkpoint holds (0: none, or unreadable), without loading its weights."""
    return len(checkpoint_phase_rows(directory, key))


def checkpoint_phase_rows(directory: Path, key: str) -> list[dict]:
    """The phase rows (metrics, ``epochs``, ``seconds``) of ``key``'s checkpoint, without its weights;
    [] where there is none or it is unreadable."""
    if not is_stored_file(checkpoint_path(directory, key)):
        return []
    try:
        with np.load(checkpoint_path(directory, key), allow_pickle=False) as stored:
            return list(json.loads(str(stored["header"]))["phases"])
    except UNREADABLE:  # a missing, truncated or foreign checkpoint is absent
        return []


def remove_checkpoint(directory: Path, key: str) -> None:
    """Delete ``key``'s checkpoint, if any (its run is stored)."""
    checkpoint_path(directory, key).unlink(missing_ok=True)
