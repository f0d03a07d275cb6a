"""Firmware results cached beside the training runs they come from.

A report lives in ``<store root>/firmware/<key>.json`` (read from any of the store's roots), keyed
by the run's key, the phase, the firmware settings (how batch normalisation is exported, whether it is
simulated), the number of test jets and :data:`FIRMWARE_FORMAT_VERSION`. It is written atomically with a
checksum of its content (:class:`qaplib.records.SealedRecords`); a report that is unreadable, edited or
filed under another key is recomputed, never served, and two processes asking for one report compute it once.
Beside a report of the trained network, its hls4ml configuration is written for readers who take the model to
Vivado or Vitis themselves: ``<store root>/firmware/hls4ml/<run key>-phase<NN>.json``.
"""

from __future__ import annotations

from pathlib import Path

from qaplib.firmware.export import STAGE
from qaplib.firmware.hls import write_hls_config
from qaplib.firmware.report import firmware_report
from qaplib.firmware.rtl import DEFAULT_LATENCY_CUTOFF
from qaplib.platform import current_platform
from qaplib.provenance import package_versions
from qaplib.records import SealedRecords, content_key
from qaplib.store import ResultStore

#: 2: the firmware of the trained network (batch normalisation kept as a stage), compared with the trained model.
#: 3: its Verilog adds biases and batch-norm shifts inside da4ml's matrix products (rtl_worker.affine); format-2 RTL
#: of sparse models could be off by one LSB in a logit. Its Verilator outputs are decoded with the pipeline's port
#: types (rtl_worker.pipeline; no format-3 report was written before that change).
FIRMWARE_FORMAT_VERSION = 3
#: Where the hls4ml configurations of the trained networks go, under a store root.
HLS_CONFIG_DIR = Path("firmware") / "hls4ml"


def firmware_key(run_key: str, phase: int, n_samples: int, rtl: bool, synthesis: bool, latency_cutoff: float,
                 batchnorm: str = STAGE, simulate: bool = True) -> str:  # fmt: skip
    """Content hash of one firmware measurement."""
    payload = {"run": run_key, "phase": phase, "n_samples": n_samples, "rtl": rtl, "synthesis": synthesis,
               "latency_cutoff": latency_cutoff, "batchnorm": batchnorm, "simulate": simulate,
               "format": FIRMWARE_FORMAT_VERSION}  # fmt: skip
    return content_key(payload)


def reports_in(root: Path) -> SealedRecords:
    """The firmware reports under one store root."""
    return SealedRecords(Path(root) / "firmware")


def stored_reports(store: ResultStore) -> list[dict]:
    """Every whole, unedited firmware report over the store's roots (:meth:`qaplib.records.SealedRecords.read`;
    the first root in :attr:`~qaplib.store.ResultStore.serving_order` holding a key wins: the committed one), in
    key order: what has been measured, without measuring anything."""
    found: dict[str, dict] = {}
    for root in store.serving_order:
        reports = reports_in(root)
        for key in reports.keys():
            if key not in found and (report := reports.read(key)) is not None:
                found[key] = report
    return [found[key] for key in sorted(found)]


def hls_config_path(run_key: str, phase: int) -> Path:
    """Where a trained network's hls4ml configuration is kept, relative to a store root."""
    return HLS_CONFIG_DIR / f"{run_key}-phase{phase:02d}.json"


def cached_firmware_report(store: ResultStore, run_key: str, phase: int, x, labels, workdir: Path, rtl: bool = True,
                           synthesis: bool = True, latency_cutoff: float = DEFAULT_LATENCY_CUTOFF,
                           batchnorm: str = STAGE, simulate: bool = True) -> dict:  # fmt: skip
    """The firmware report (a plain dict) of a stored run's model after ``phase``; computed once.

    ``x`` (n, 16) standardised test features and ``labels`` (n,) are the jets the model is measured on.
    ``batchnorm`` and ``simulate``: as :func:`qaplib.firmware.report.firmware_report` takes them.
    """
    key = firmware_key(run_key, phase, len(x), rtl, synthesis, latency_cutoff, batchnorm, simulate)
    for root in store.serving_order:
        if (report := reports_in(root).read(key)) is not None:
            return report

    def measure() -> dict:
        report = firmware_report(store.load_model(run_key, phase), x, Path(workdir) / key, labels=labels, rtl=rtl,
                                 synthesis=synthesis, latency_cutoff=latency_cutoff, batchnorm=batchnorm,
                                 simulate=simulate).to_dict()  # fmt: skip
        report.update({"run_key": run_key, "phase": phase, "packages": package_versions(),
                       "platform": current_platform().to_dict()})  # fmt: skip
        config = (report.get("csim") or {}).get("hls_config")
        if batchnorm == STAGE and report["quantized"] and config:
            write_hls_config(config, store.root / hls_config_path(run_key, phase))
        return report

    waiting = f"waiting for another process that is measuring firmware report {key}"
    return reports_in(store.root).read_or_make(key, measure, waiting)
