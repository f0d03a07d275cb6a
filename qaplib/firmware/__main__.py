"""Self-check of the firmware flow on a freshly built tagger: ``python -m qaplib.firmware [--help]``.

The model has random (untrained) weights, random batch-norm statistics (so that folding is exercised)
and the smallest ``--sparsity`` of each kernel set to zero (a stand-in for quantization-aware pruning).
Inputs are N(0, 1) samples, like standardised features. Prints the JSON report; exits 1 unless the
C-sim (and, if run, the RTL simulation) is bit-exact with QKeras.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def random_tagger(bits: int, sparsity: float, seed: int):
    """A QKeras tagger with random weights, random batch-norm statistics and magnitude-pruned kernels."""
    import tensorflow as tf

    from qaplib.models import ModelSpec, build_model

    tf.keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_model(ModelSpec(bits=bits))
    for layer in model.layers:
        if layer.__class__.__name__ == "BatchNormalization":
            n = layer.weights[0].shape[0]  # gamma, beta, moving mean, moving variance
            layer.set_weights([rng.uniform(0.5, 2, n), rng.normal(0, 0.3, n), rng.normal(0, 0.3, n), rng.uniform(0.2, 2, n)])
        elif layer.name.startswith("fc") and sparsity > 0:
            kernel, bias = layer.get_weights()
            threshold = np.quantile(np.abs(kernel), sparsity)
            layer.set_weights([np.where(np.abs(kernel) < threshold, 0.0, kernel), bias])
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qaplib.firmware", description=__doc__.split("\n")[0])
    parser.add_argument("--bits", type=int, default=6)
    parser.add_argument("--sparsity", type=float, default=0.75, help="fraction of each kernel set to zero")
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency-cutoff", type=float, default=8.0, help="adder delays per pipeline stage")
    parser.add_argument("--no-rtl", action="store_true", help="C-sim only (no da4ml/Verilator/Yosys)")
    parser.add_argument("--no-synthesis", action="store_true", help="skip Yosys")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the hls4ml/Verilog projects here")
    args = parser.parse_args(argv)

    from qaplib.firmware.report import firmware_report

    model = random_tagger(args.bits, args.sparsity, args.seed)
    x = np.random.default_rng(args.seed + 1).normal(size=(args.samples, 16)).astype(np.float32)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qap-firmware-") as scratch:
        report = firmware_report(
            model,
            x,
            args.workdir or Path(scratch),
            rtl=not args.no_rtl,
            synthesis=not args.no_synthesis,
            latency_cutoff=args.latency_cutoff,
        )
    result = {
        "settings": vars(args) | {"workdir": str(args.workdir)},
        "seconds": round(time.perf_counter() - start, 1),
        **report.to_dict(),
    }
    print(json.dumps(result, indent=1))
    ok = report.csim.bit_exact and (report.rtl is None or report.rtl.bit_exact)
    print(
        f"firmware self-check: {'OK' if ok else 'FAILED'} (bit-exact C-sim: {report.csim.bit_exact}"
        f"{'' if report.rtl is None else f', bit-exact RTL: {report.rtl.bit_exact}'})",
        file=sys.stderr,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
