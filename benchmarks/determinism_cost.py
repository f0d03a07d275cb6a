"""What would CPU-independent training cost? The determinism experiment of the verify issue, in one script.

Training differs in its last bits between CPU kinds because TensorFlow's CPU code picks instructions by
what the CPU offers:

* **XLA** (the batched engine's epoch is one ``jit_compile=True`` computation) compiles with LLVM for the
  host CPU: its vector width, and so the order of its vectorised reductions, follows the CPU.
  TensorFlow 2.15's XLA has no flag that limits the instruction set (``--xla_cpu_max_isa`` came later).
* **oneDNN** (on by default on x86) dispatches its matmul kernels at run time: ``ONEDNN_MAX_CPU_ISA``
  limits it, ``TF_ENABLE_ONEDNN_OPTS=0`` turns it off.
* **Eigen** kernels are compiled into the TensorFlow wheel for one fixed instruction set: the same
  instructions on every CPU that can run the wheel.

So the only configuration of TensorFlow 2.15 that cannot change with the CPU is the engine without XLA and
without oneDNN (Eigen alone, on a fixed number of threads). This script trains the same M 6-bit members
for a few epochs under each configuration, each in its own process (the settings are read when TensorFlow
is imported), on one TensorFlow thread as every sweep worker does, and prints the throughput, its ratio to
the engine as it runs today (XLA), and a hash of the trained weights: equal hashes are bit-identical runs.

Usage: .venv/bin/python benchmarks/determinism_cost.py [--epochs 3] [--members 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor

#: (label, environment, XLA on) per configuration; the first is the engine as it runs today.
CONFIGURATIONS = (
    ("XLA (today)", {}, True),
    ("XLA, oneDNN off", {"TF_ENABLE_ONEDNN_OPTS": "0"}, True),
    ("no XLA, oneDNN on", {}, False),
    ("no XLA, oneDNN limited to AVX", {"ONEDNN_MAX_CPU_ISA": "AVX"}, False),
    ("no XLA, oneDNN off (CPU-independent)", {"TF_ENABLE_ONEDNN_OPTS": "0"}, False),
)


def train_once(environment: dict[str, str], xla: bool, members: int, epochs: int) -> tuple[float, str]:
    """In a fresh process: train ``members`` 6-bit members for ``epochs`` epochs after a compiling warm-up.

    Returns (sample·models/s, sha256 of every member's trained weights).
    """
    os.environ.update(environment)
    import tensorflow as tf

    if not xla:  # the engine's epoch function asks for jit_compile=True; this run overrides it
        plain_function = tf.function
        tf.function = lambda *args, **kwargs: plain_function(*args, **{**kwargs, "jit_compile": False})
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from engine_throughput import SPEC, start_of

    from qaplib.data import load_jets
    from qaplib.engine import Member, train_phase_batched
    from qaplib.train import TrainSettings

    jets = load_jets("default")
    settings = TrainSettings(max_epochs=epochs, patience=epochs + 1)
    team = [Member(SPEC, *start_of(seed), jets, settings, seed=seed) for seed in range(members)]
    train_phase_batched([dataclasses.replace(m, settings=TrainSettings(max_epochs=1)) for m in team[:2]], threads=1)
    start = time.perf_counter()
    trained = train_phase_batched(team, threads=1)
    seconds = time.perf_counter() - start
    digest = hashlib.sha256(b"".join(w.tobytes() for member in trained for w in member.weights)).hexdigest()
    return members * epochs * len(jets.y_train) / seconds, digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--members", type=int, default=4)
    args = parser.parse_args()
    context = mp.get_context("spawn")
    results = []
    for label, environment, xla in CONFIGURATIONS:
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            results.append((label, *pool.submit(train_once, environment, xla, args.members, args.epochs).result()))
    baseline = results[0][1]
    print(f"{args.members} 6-bit members, {args.epochs} epochs, 1 TensorFlow thread, default dataset")
    print(f"{'configuration':40s} {'sample·models/s':>16s} {'ratio':>7s}  weights sha256")
    for label, speed, digest in results:
        print(f"{label:40s} {speed:16,.0f} {speed / baseline:7.3f}  {digest[:16]}")


if __name__ == "__main__":
    main()
