"""Verilog of an exported tagger via da4ml, simulated with Verilator and checked bit for bit, then synthesised.

da4ml 0.6 needs numpy>=2, which TensorFlow 2.15 cannot share, so the da4ml half runs in the second
environment ``.venv-fw`` (``make firmware-env``) as :mod:`qaplib.firmware.rtl_worker`. The two sides
exchange plain files: the :class:`~qaplib.firmware.spec.NetworkSpec` ``.npz`` (integer weights, the
inputs and the QKeras reference logits) and a JSON report. This module needs NumPy only.

The RTL is da4ml's distributed-arithmetic architecture (constant multiplications as adder trees, 0 DSP),
not hls4ml's Latency-strategy HLS architecture; its latency in clock cycles is exact for this RTL and is
confirmed by the streaming simulation, but no clock frequency is verified (no place and route).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import qaplib
from qaplib.errors import FirmwareError
from qaplib.firmware.labels import RTL_SIMULATED
from qaplib.firmware.spec import NetworkSpec
from qaplib.firmware.synth import SynthReport, synthesise

#: Environment variable naming the Python of the da4ml environment; default ``<repo>/.venv-fw/bin/python``.
PYTHON_VARIABLE = "QAP_FIRMWARE_PYTHON"
DEFAULT_LATENCY_CUTOFF = 8.0


@dataclass(frozen=True)
class RtlReport:
    """The da4ml RTL of one network, simulated with Verilator against the QKeras reference logits.

    Attributes:
        bit_exact: every output of the Verilator simulation equals the reference, for every sample.
        verilator: {bit_exact, bit_exact_fraction, max_abs_diff, argmax_agreement} of the RTL simulation, and
            ``exact_network_fraction``: the fraction of samples whose logits equal the exact fixed-point evaluation
            of the spec (:meth:`NetworkSpec.predict_logits`), which separates RTL errors from float32 rounding in
            the reference.
        interpreter: the same for da4ml's own C++ interpreter of the traced logic (a cross-check).
        pipeline_stages: combinational stages da4ml cut the logic into (at most ``latency_cutoff_actual``
            adder delays each, da4ml's delay model).
        latency_cycles: clock edges from input port to registered output (stages + 1; 0 if combinational).
            The simulation streams one sample per clock and reads each output that many edges later, so
            the bit-exact check also confirms it.
        register_bits: flip-flop bits of the pipeline, as da4ml counts them.
        da4ml_cost_adder_bits: da4ml's resource estimate (adder bits, a LUT proxy) -- an estimate.
        da4ml_delay_adder_levels: [min, max] adder levels from input to output, combinational.
        synthesis: the Yosys report, or None when not requested.
    """

    provenance: str
    bit_exact: bool
    n_samples: int
    verilator: dict
    interpreter: dict
    pipeline_stages: int
    latency_cycles: int
    latency_cutoff_requested: float
    latency_cutoff_actual: float | None
    register_bits: int
    da4ml_cost_adder_bits: float
    da4ml_delay_adder_levels: list
    da4ml_version: str
    verilator_version: str
    timings_s: dict
    synthesis: SynthReport | None


def repository_root() -> Path:
    """The directory holding the ``qaplib`` package (the repository root in a development install)."""
    return Path(qaplib.__file__).resolve().parent.parent


def firmware_python() -> Path:
    """The Python interpreter of the da4ml environment (``$QAP_FIRMWARE_PYTHON`` or ``.venv-fw/bin/python``)."""
    return Path(os.environ.get(PYTHON_VARIABLE, repository_root() / ".venv-fw" / "bin" / "python"))


def firmware_env_available() -> bool:
    """True if the da4ml environment exists and can import da4ml and numpy>=2."""
    python = firmware_python()
    if not python.exists():
        return False
    probe = "import da4ml, numpy; assert int(numpy.__version__.split('.')[0]) >= 2"
    return subprocess.run([str(python), "-c", probe], capture_output=True).returncode == 0


def run_worker(spec_path: Path, out_dir: Path, latency_cutoff: float = DEFAULT_LATENCY_CUTOFF, verilator: bool = True) -> dict:
    """Run :mod:`qaplib.firmware.rtl_worker` on ``spec_path`` in the da4ml environment; returns its JSON report.

    With ``verilator=False`` the worker stops after da4ml's interpreter check (no Verilator build;
    the report's ``verilator`` entry is None)."""
    python = firmware_python()
    if not python.exists():
        raise FirmwareError(f"the da4ml environment {python} does not exist: run `make firmware-env` or set {PYTHON_VARIABLE}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(repository_root()), os.environ.get("PYTHONPATH")]))}
    command = [
        str(python),
        "-m",
        "qaplib.firmware.rtl_worker",
        str(spec_path),
        str(out_dir),
        "--latency-cutoff",
        str(latency_cutoff),
        *([] if verilator else ["--no-verilator"]),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise FirmwareError(f"rtl_worker failed (exit {result.returncode}): {(result.stderr or result.stdout).strip()[-2000:]}")
    return json.loads((out_dir / "rtl_report.json").read_text())


def rtl_report(
    spec: NetworkSpec,
    x: np.ndarray,
    reference: np.ndarray,
    workdir: Path,
    latency_cutoff: float = DEFAULT_LATENCY_CUTOFF,
    synthesis: bool = True,
    simulate: bool = True,
) -> RtlReport:
    """Verilog for ``spec`` (da4ml), Verilator simulation of ``x`` vs ``reference`` (unless not ``simulate``: then
    ``verilator`` is None and ``bit_exact`` False), optionally Yosys synthesis.

    Args:
        x: (n, 16) standardised features; quantized onto the spec's input type.
        reference: (n, 5) float64 logits the firmware must equal on ``x``: the trained model's, or for a rounded fold
            the exported QKeras model's (:func:`qaplib.firmware.export.reference_logits`).
        workdir: scratch directory for the spec file, the Verilog project and the Yosys logs.
        latency_cutoff: at most this many adder delays per pipeline stage; <= 0 gives combinational logic.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    reference = np.asarray(reference, dtype=np.float64)
    if reference.shape != (len(x), spec.n_outputs):
        raise FirmwareError(f"reference has shape {reference.shape}, expected ({len(x)}, {spec.n_outputs})")
    spec_path = workdir / "spec.npz"
    # the exact evaluation only serves the simulation's comparison; a network too wide for it can still be synthesised
    exact = {"exact": spec.predict_logits(x)} if simulate else {}
    spec.save(spec_path, x=spec.quantize_inputs(x), reference=reference, **exact)
    worker = run_worker(spec_path, workdir, latency_cutoff, verilator=simulate)
    synth = synthesise(workdir / "rtl", worker["top"], workdir / "yosys") if synthesis else None
    return RtlReport(
        provenance=RTL_SIMULATED,
        bit_exact=bool(worker["verilator"] and worker["verilator"]["bit_exact"]),
        n_samples=worker["n_samples"],
        verilator=worker["verilator"],
        interpreter=worker["interpreter"],
        pipeline_stages=worker["pipeline_stages"],
        latency_cycles=worker["latency_cycles"],
        latency_cutoff_requested=worker["latency_cutoff_requested"],
        latency_cutoff_actual=worker["latency_cutoff_actual"],
        register_bits=worker["register_bits"],
        da4ml_cost_adder_bits=worker["da4ml_cost_adder_bits"],
        da4ml_delay_adder_levels=worker["da4ml_delay_adder_levels"],
        da4ml_version=worker["da4ml_version"],
        verilator_version=worker.get("verilator_version", "not run"),
        timings_s={**worker["timings_s"], **({"yosys": synth.seconds} if synth else {})},
        synthesis=synth,
    )
