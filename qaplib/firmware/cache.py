"""Firmware results cached beside the training runs they come from.

A report lives in ``<store root>/firmware/<key>.json`` (read from any of the store's roots), keyed
by the run's key, the phase, the firmware settings, the number of test jets and :data:`FIRMWARE_FORMAT_VERSION`; it is written
atomically and never recomputed for the same key.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from qaplib.firmware.report import firmware_report
from qaplib.firmware.rtl import DEFAULT_LATENCY_CUTOFF
from qaplib.provenance import package_versions
from qaplib.store import ResultStore

FIRMWARE_FORMAT_VERSION = 1


def firmware_key(run_key: str, phase: int, n_samples: int, rtl: bool, synthesis: bool, latency_cutoff: float) -> str:
    """Content hash of one firmware measurement."""
    payload = {"run": run_key, "phase": phase, "n_samples": n_samples, "rtl": rtl, "synthesis": synthesis,
               "latency_cutoff": latency_cutoff, "format": FIRMWARE_FORMAT_VERSION}  # fmt: skip
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def cached_firmware_report(store: ResultStore, run_key: str, phase: int, x, labels, workdir: Path, rtl: bool = True,
                           synthesis: bool = True, latency_cutoff: float = DEFAULT_LATENCY_CUTOFF) -> dict:
    """The firmware report (a plain dict) of a stored run's model after ``phase``; computed once.

    ``x`` (n, 16) standardised test features and ``labels`` (n,) are the jets the model is measured on.
    """
    key = firmware_key(run_key, phase, len(x), rtl, synthesis, latency_cutoff)
    found = store.locate(Path("firmware") / f"{key}.json")
    if found is not None:
        return json.loads(found.read_text())
    path = store.root / "firmware" / f"{key}.json"
    report = firmware_report(store.load_model(run_key, phase), x, Path(workdir) / key, labels=labels, rtl=rtl,
                             synthesis=synthesis, latency_cutoff=latency_cutoff).to_dict()  # fmt: skip
    report.update({"key": key, "run_key": run_key, "phase": phase, "packages": package_versions()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(report, indent=1, sort_keys=True, default=float) + "\n")
    os.replace(tmp, path)
    return report
