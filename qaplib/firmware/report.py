"""One call from a trained tagger to every firmware result: export, hls4ml C-sim, da4ml RTL + Verilator, Yosys."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qaplib.errors import FirmwareError
from qaplib.firmware.export import (
    BATCHNORM_EXPORTS,
    STAGE,
    ExportReport,
    compare_with_export,
    export_network,
    export_report,
    qkeras_model,
    reference_logits,
    trained_logits,
)
from qaplib.firmware.hgq_export import export_hgq, is_hgq_model
from qaplib.firmware.hls import REFERENCES, CsimReport, csim_report, float_csim_report
from qaplib.firmware.rtl import DEFAULT_LATENCY_CUTOFF, RtlReport, firmware_env_available, firmware_python, rtl_report
from qaplib.firmware.synth import yosys_available
from qaplib.layer_chain import check_supported, is_quantized
from qaplib.models import logits_model


@dataclass(frozen=True)
class FirmwareReport:
    """Everything measured for one model. ``export`` and ``rtl`` are None for float models (no fixed-point
    network to export; their C-sim is an approximation, see ``csim.note``), ``rtl`` when not requested and
    ``csim`` when not simulated."""

    model: str
    quantized: bool
    export: ExportReport | None
    csim: CsimReport | None
    rtl: RtlReport | None

    def to_dict(self) -> dict:
        """Plain JSON-serialisable nested dict."""
        return dataclasses.asdict(self)


def _check_rtl_tools(synthesis: bool) -> None:
    """Fail fast, before minutes of conversion and compilation, if a tool of the RTL path is missing."""
    if not firmware_env_available():
        raise FirmwareError(f"the da4ml environment ({firmware_python()}) is missing or broken: run `make firmware-env`")
    if synthesis and not yosys_available():
        raise FirmwareError("yosys is not installed (Debian: apt-get install -y yosys); or pass synthesis=False")


def firmware_report(
    model,
    x: np.ndarray,
    workdir: Path,
    labels: np.ndarray | None = None,
    rtl: bool = True,
    synthesis: bool = True,
    latency_cutoff: float = DEFAULT_LATENCY_CUTOFF,
    batchnorm: str = STAGE,
    simulate: bool = True,
) -> FirmwareReport:
    """Export ``model`` and measure its firmware on ``x`` (n, 16) standardised features.

    Quantized models: export (:mod:`qaplib.firmware.export`; ``batchnorm`` says how batch normalisation goes in:
    kept as a stage, the trained network, or folded and re-rounded), hls4ml C-sim, and if ``rtl`` the da4ml Verilog
    simulated with Verilator (and synthesised with Yosys if ``synthesis``), every simulation compared with the
    model the firmware must equal: the trained model, or for a rounded fold its exported QKeras model.
    ``simulate=False`` skips the C-sim and the Verilator run (the export's comparison with the trained model, the
    Verilog and its synthesis remain): what the cost of another export needs. Float models: the hls4ml C-sim
    approximation only. The model is validated before anything expensive.

    Args:
        labels: (n,) int class indices, for the trained and firmware accuracies.
        workdir: scratch directory (hls4ml project, Verilog, logs); not part of the report.
    """
    if is_hgq_model(model):
        if rtl:
            _check_rtl_tools(synthesis)
        return _hgq_report(model, x, Path(workdir), labels, rtl, synthesis, latency_cutoff, simulate)
    check_supported(model)
    if batchnorm not in BATCHNORM_EXPORTS:
        raise FirmwareError(f"batchnorm must be one of {BATCHNORM_EXPORTS}, got {batchnorm!r}")
    if rtl and is_quantized(model):
        _check_rtl_tools(synthesis)
    workdir = Path(workdir)
    if not is_quantized(model):
        return FirmwareReport(model.name, False, None, float_csim_report(model, x, workdir / "hls4ml"), None)
    spec = export_network(model, batchnorm=batchnorm)
    logits = trained_logits(model, x)
    export = export_report(model, spec, x, labels, batchnorm, logits)
    if batchnorm == STAGE:
        keras_model, reference = logits_model(model), logits
    else:
        keras_model, reference = qkeras_model(spec, softmax=False), reference_logits(spec, x)
    csim = csim_report(spec, keras_model, x, reference, REFERENCES[batchnorm], workdir / "hls4ml") if simulate else None
    rtl_result = rtl_report(spec, x, reference, workdir / "rtl", latency_cutoff, synthesis, simulate) if rtl else None
    return FirmwareReport(model.name, True, export, csim, rtl_result)


def _hgq_report(model, x: np.ndarray, workdir: Path, labels, rtl: bool, synthesis: bool, latency_cutoff: float,
                simulate: bool) -> FirmwareReport:  # fmt: skip
    """:func:`firmware_report` of an HGQ tagger: its export (:mod:`qaplib.firmware.hgq_export`) compared with the
    trained model's logits, and the da4ml Verilog checked against them; no hls4ml C-simulation (``csim`` None)."""
    from qaplib.hgq import logits

    spec = export_hgq(model)
    trained = logits(model, x).astype(np.float64)
    export = compare_with_export(trained, spec, x, labels, "hgq", "HGQ's input quantizer (one type per input)", saturation=True)
    rtl_result = rtl_report(spec, x, trained, workdir / "rtl", latency_cutoff, synthesis, simulate) if rtl else None
    return FirmwareReport(model.name, True, export, None, rtl_result)
