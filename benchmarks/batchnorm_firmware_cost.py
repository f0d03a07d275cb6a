"""What does it cost to implement the trained network exactly? Three ways to put batch normalisation into firmware.

For one stored model, the same flow (da4ml Verilog, pipelined at the chapter's latency cutoff, then Yosys
``synth_xilinx``; no simulation) builds

* **stage** (the default, :data:`qaplib.firmware.export.STAGE`): the trained quantized weights, batch normalisation
  a fixed-point scale-and-shift stage on 2**-24, as hls4ml builds it: the trained network;
* **exact fold**: batch normalisation folded into the weights *exactly* (W * s and b * s + t, wide enough that
  nothing is rounded, about 30-bit constants): the same real-valued function, without the stage's rounding of y;
* **rounded fold** (:data:`qaplib.firmware.export.ROUNDED_FOLD`, the baseline): folded and rounded back onto the
  trained quantizer's grid, a different network,

and prints LUTs, flip-flops, da4ml's adder-bit estimate and the latency of each, with its ratio to the rounded fold
measured in the same process. The exact fold is built here for this measurement only: with 32-bit inputs its
accumulators exceed float64's 53 bits, so the library has no exact reference to check it against.

Usage: .venv/bin/python benchmarks/batchnorm_firmware_cost.py --profile default --bits 6 --pruned 0.8
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def exact_fold(spec):
    """``spec`` (batch norm as stages) with every stage folded exactly into its dense layer."""
    from qaplib.firmware.spec import DenseLayer, NetworkSpec
    from qaplib.fixed import FixedType

    layers = []
    for layer in spec.layers:
        stage = layer.batchnorm
        if stage is None:
            layers.append(layer)
            continue
        kernel, bias = layer.kernel * stage.scale, layer.bias * stage.scale + stage.shift  # exact: <= 53 bits each
        fraction = max(layer.kernel_type.fraction, layer.bias_type.fraction) + stage.scale_type.fraction
        layers.append(DenseLayer(layer.name, kernel, bias, FixedType.covering(kernel, fraction, 1),
                                 FixedType.covering(bias, fraction, 1), layer.activation, layer.activation_name))  # fmt: skip
    return NetworkSpec(spec.input_type, tuple(layers), spec.input_name)


def build(spec, workdir: Path, latency_cutoff: float) -> dict:
    """Verilog and Yosys synthesis of ``spec`` (no simulation); LUT, FF, adder bits, cycles and seconds."""
    import numpy as np

    from qaplib.firmware.rtl import rtl_report

    start = time.perf_counter()
    x = np.zeros((1, spec.n_inputs))
    report = rtl_report(spec, x, np.zeros((1, spec.n_outputs)), workdir, latency_cutoff, synthesis=True, simulate=False)
    return {"LUT": report.synthesis.lut, "FF": report.synthesis.ff, "adder bits": round(report.da4ml_cost_adder_bits),
            "cycles": report.latency_cycles, "seconds": round(time.perf_counter() - start)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--bits", type=int, default=6)
    parser.add_argument("--pruned", type=float, default=0.8, help="target fraction of weights pruned (nearest phase)")
    args = parser.parse_args()

    from qaplib import experiments
    from qaplib.firmware.export import ROUNDED_FOLD, STAGE, export_network
    from qaplib.firmware.rtl import DEFAULT_LATENCY_CUTOFF
    from qaplib.profiles import get_profile
    from qaplib.runs import run_key
    from qaplib.store import ResultStore

    profile = get_profile(args.profile)
    ((spec, phase),) = experiments.firmware_models(profile, [[args.bits, args.pruned]])
    model = ResultStore().load_model(run_key(spec), phase)
    stage = export_network(model, batchnorm=STAGE)
    variants = {"rounded fold (baseline)": export_network(model, batchnorm=ROUNDED_FOLD), "stage (default)": stage,
                "exact fold": exact_fold(stage)}  # fmt: skip
    print(f"{args.profile}, {args.bits}-bit, phase {phase} ({run_key(spec)[:12]}), latency cutoff {DEFAULT_LATENCY_CUTOFF}")
    measured = {}
    with tempfile.TemporaryDirectory(prefix="qap-bn-cost-") as scratch:
        for name, variant in variants.items():
            measured[name] = build(variant, Path(scratch) / name.split()[0], DEFAULT_LATENCY_CUTOFF)
            base = measured["rounded fold (baseline)"]
            ratios = ", ".join(f"{key} {measured[name][key] / base[key]:.2f}x" for key in ("LUT", "FF", "cycles"))
            print(f"{name:24s} {measured[name]}  vs baseline: {ratios}", flush=True)


if __name__ == "__main__":
    main()
