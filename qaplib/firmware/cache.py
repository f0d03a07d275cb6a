"""Firmware results cached beside the training runs they come from.

A report lives in ``<store root>/firmware/<key>.json`` (read from any of the store's roots), keyed
by the run's key, the phase, the firmware settings, the number of test jets and
:data:`FIRMWARE_FORMAT_VERSION`. It is written atomically with a checksum of its content; a report
that is unreadable, edited or filed under another key is recomputed, never served.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from qaplib.files import read_sealed_json, write_sealed_json
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


def read_report(path: Path, key: str) -> dict | None:
    """The report stored at ``path`` if it is whole, unedited (its ``sha256`` matches) and of ``key``; else None."""
    return read_sealed_json(path, key)


def stored_reports(store: ResultStore) -> list[dict]:
    """Every whole, unedited firmware report over the store's roots (checked as :func:`read_report` checks;
    the first root holding a key wins), in key order: what has been measured, without measuring anything."""
    found: dict[str, dict] = {}
    for root in store.roots:
        for path in sorted((root / "firmware").glob("*.json")):
            if path.stem not in found and (report := read_report(path, path.stem)) is not None:
                found[path.stem] = report
    return [found[key] for key in sorted(found)]


def write_report(path: Path, report: dict) -> dict:
    """Store ``report`` atomically with the checksum :func:`read_report` verifies; returns it as a reader will see it."""
    return write_sealed_json(path, report)


def cached_firmware_report(store: ResultStore, run_key: str, phase: int, x, labels, workdir: Path, rtl: bool = True,
                           synthesis: bool = True, latency_cutoff: float = DEFAULT_LATENCY_CUTOFF) -> dict:
    """The firmware report (a plain dict) of a stored run's model after ``phase``; computed once.

    ``x`` (n, 16) standardised test features and ``labels`` (n,) are the jets the model is measured on.
    """
    key = firmware_key(run_key, phase, len(x), rtl, synthesis, latency_cutoff)
    found = store.locate(Path("firmware") / f"{key}.json")
    report = read_report(found, key) if found is not None else None
    if report is not None:
        return report
    report = firmware_report(store.load_model(run_key, phase), x, Path(workdir) / key, labels=labels, rtl=rtl,
                             synthesis=synthesis, latency_cutoff=latency_cutoff).to_dict()  # fmt: skip
    report.update({"key": key, "run_key": run_key, "phase": phase, "packages": package_versions()})
    return write_report(store.root / "firmware" / f"{key}.json", report)
