"""Jet-generator throughput: jets/s per class on one core, and of the sharded run on all cores.

Prints the parallel/serial ratio measured in this same process (a benchmark, not a timed test).
Usage: .venv/bin/python benchmarks/generator_throughput.py [--jets-per-class 1000]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

from qaplib.generator.events import generate_jets
from qaplib.generator.settings import CLASS_NAMES, TIERS
from qaplib.generator.shards import generate_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jets-per-class", type=int, default=1000)
    args = parser.parse_args()
    n = args.jets_per_class
    settings = dataclasses.replace(TIERS["default"], jets_per_shard=n // 2, shards_per_class=2, seed_base=77)

    serial_seconds = 0.0
    for name in CLASS_NAMES:
        start = time.perf_counter()
        for shard in range(2):
            generate_jets(settings, name, settings.pythia_seed(name, shard), n // 2)
        seconds = time.perf_counter() - start
        serial_seconds += seconds
        print(f"class {name}: {n / seconds:7.1f} jets/s on one core")
    serial_rate = n * len(CLASS_NAMES) / serial_seconds
    print(f"all classes, one core: {serial_rate:7.1f} jets/s")

    jobs = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        generate_dataset(Path(tmp), settings, "benchmark", jobs=jobs)
        parallel_rate = n * len(CLASS_NAMES) / (time.perf_counter() - start)
    print(f"sharded run, {jobs} workers: {parallel_rate:7.1f} jets/s")
    print(f"ratio parallel/serial: {parallel_rate / serial_rate:.2f}x on {jobs} cores")


if __name__ == "__main__":
    main()
