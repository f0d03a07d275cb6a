"""Training throughput of the batched engine against stock QKeras ``fit``, side by side in one script.

Stock: ``qaplib.train.fit`` on one 6-bit model (Keras ``model.fit``, no mask callback, data order kept:
its most favourable setting). Engine: :func:`qaplib.engine.train_phase_batched` on M = 1, 8, 32, 64 6-bit
models (own seeds and shuffling). Both train on the default dataset (60 000 training jets, batch 1024)
and validate on its 20 000 validation jets after every epoch, as a QAP phase does.

Two layouts of the two cores are measured, each for stock and engine:

* one process, ``--threads`` TensorFlow intra/inter-op threads (XLA runs on the intra-op pool, so the
  engine trains that many chunks concurrently); the stock figure of this layout is the baseline (1.0);
* ``--processes`` worker processes with one thread each, started together (a barrier), each training
  its share of the models: how ``qap sweep`` and ``make book RERUN=1`` run (one job per core). Stock
  in this layout is one ``fit`` per process; it is printed too, so that the engine is also compared
  with the best way to run stock QKeras on this machine.

Printed per configuration: sample·models/s = training jets x epochs x models / wall time (the engine's
compiling warm-up and stock's first epoch excluded; for processes, from the first start to the last end;
stock in processes is the best of three measurements), the ratio to stock QKeras, and the fraction of
the sgemm bound: numpy float32 sgemm GFLOP/s measured here on ``--threads`` BLAS threads, divided by the
matmul FLOPs of one training sample of one model (forward 2 x 4256 + weight gradients 2 x 4256 + input
gradients of fc2..fc4 2 x 3232 = 23 488; validation and element-wise work not counted). Finally the test
accuracy of the stock model and of the engine's copy of it (same start, same data order, same number of
epochs).
Usage: .venv/bin/python benchmarks/engine_throughput.py [--epochs 3] [--threads 2] [--processes 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from qaplib.data import load_jets
from qaplib.engine import Member, train_phase_batched
from qaplib.engine.phase import DEFAULT_CHUNK_SIZE
from qaplib.models import ModelSpec, build_model
from qaplib.pruning import full_masks
from qaplib.train import TrainSettings, fit, set_determinism

SPEC = ModelSpec(bits=6)
MEMBER_COUNTS = (1, 8, 32, 64)


def matmul_flops_per_sample(spec: ModelSpec) -> int:
    """Matmul FLOPs of one training step per sample: forward, weight gradients, input gradients (not fc1)."""
    pairs = list(zip(spec.layer_sizes[:-1], spec.layer_sizes[1:], strict=True))
    forward = sum(2 * a * b for a, b in pairs)
    return 2 * forward + sum(2 * a * b for a, b in pairs[1:])


def sgemm_gflops(threads: int, size: int = 2048, repeats: int = 10) -> float:
    """numpy float32 matrix-multiply speed on ``threads`` BLAS threads, now (GFLOP/s, best of ``repeats``)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = rng.random((size, size), dtype=np.float32), rng.random((size, size), dtype=np.float32)
    best = np.inf
    with threadpool_limits(limits=threads, user_api="blas"):
        a @ b
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def start_of(seed: int) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    set_determinism(seed)
    model = build_model(SPEC)
    return model.get_weights(), full_masks(model)


def accuracy_on_test_set(weights: list[np.ndarray], jets) -> float:
    model = build_model(SPEC)
    model.set_weights(weights)
    return float(np.mean(model.predict(jets.x_test, batch_size=8192, verbose=0).argmax(1) == jets.y_test))


def stock_span(jets, seed: int, epochs: int, ready=lambda: None) -> tuple[float, float, int, object]:
    """Stock ``fit`` of the 6-bit model of ``seed`` for ``epochs`` epochs; ``ready()`` is called just before.

    Returns (start of the second epoch, end, sample·models trained in between, the trained model), wall
    clock: the first epoch pays ``fit``'s set-up and is not counted.
    """
    import tensorflow as tf

    starts: list[float] = []

    class EpochStart(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            starts.append(time.time())

    model = build_model(SPEC)
    model.set_weights(start_of(seed)[0])
    settings = TrainSettings(max_epochs=epochs, patience=epochs + 1)
    ready()
    fit(model, jets.x_train, jets.y_train, jets.x_val, jets.y_val, settings, seed=0, callbacks=[EpochStart()], shuffle=False)
    return starts[1], time.time(), (epochs - 1) * len(jets.y_train), model


def engine_span(jets, seeds, epochs: int, chunk_size: int, threads: int, ready=lambda: None) -> tuple[float, float, int]:
    """``train_phase_batched`` on the 6-bit members of ``seeds`` after a compiling warm-up; ``ready()`` is
    called between the two. Returns (start, end, sample·models trained), wall clock."""
    settings = TrainSettings(max_epochs=epochs, patience=epochs + 1)
    members = [Member(SPEC, *start_of(seed), jets, settings, seed=seed) for seed in seeds]
    warm = [dataclasses.replace(m, settings=TrainSettings(max_epochs=1)) for m in members[:chunk_size]]
    train_phase_batched(warm, chunk_size=chunk_size, threads=threads)
    ready()
    start = time.time()
    train_phase_batched(members, chunk_size=chunk_size, threads=threads)
    return start, time.time(), len(members) * epochs * len(jets.y_train)


def rate(span: tuple) -> float:
    """sample·models/s of one (start, end, sample·models, ...) span."""
    return span[2] / (span[1] - span[0])


_BARRIER = None


def _init_worker(barrier) -> None:
    """Worker process set-up: one TensorFlow thread and one BLAS/OpenMP thread (two processes each
    spinning a second one on two cores slow stock ``fit`` down up to threefold); keep the barrier that
    starts the timed part."""
    global _BARRIER
    _BARRIER = barrier
    import tensorflow as tf
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def _worker_train(kind: str, seeds: list[int], epochs: int, chunk_size: int) -> tuple[float, float, int]:
    """In a worker: :func:`stock_span` (one model) or :func:`engine_span`, started at the common barrier."""
    jets = load_jets("default")
    if kind == "stock":
        return stock_span(jets, seeds[0], epochs, ready=_BARRIER.wait)[:3]
    return engine_span(jets, seeds, epochs, chunk_size, threads=1, ready=_BARRIER.wait)


def processes_rate(kind: str, models: int, processes: int, epochs: int, chunk_size: int) -> float:
    """sample·models/s of ``processes`` one-thread workers together: stock (one model each) or the engine
    (``models`` split evenly); all samples trained / (last end - first start)."""
    context = mp.get_context("spawn")
    barrier = context.Manager().Barrier(processes)
    if kind == "stock":
        shares = [[1000 * p] for p in range(processes)]
    else:
        shares = [list(range(p, models, processes)) for p in range(processes)]
    with ProcessPoolExecutor(processes, mp_context=context, initializer=_init_worker, initargs=(barrier,)) as pool:
        spans = list(pool.map(_worker_train, [kind] * processes, shares, [epochs] * processes, [chunk_size] * processes))
    return rate((min(start for start, _, _ in spans), max(end for _, end, _ in spans), sum(n for _, _, n in spans)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow intra/inter-op threads; engine chunks in parallel")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="one-thread workers (0: skip)")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    args = parser.parse_args()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    jets = load_jets("default")
    flops = matmul_flops_per_sample(SPEC)
    gflops = sgemm_gflops(args.threads)
    bound = gflops * 1e9 / flops
    print(f"numpy sgemm on {args.threads} thread(s): {gflops:.1f} GFLOP/s; {flops} matmul FLOP per training sample·model")
    print(f"sgemm bound: {bound / 1e6:.2f} M sample·models/s")
    print(
        f"TensorFlow threads: {args.threads} intra-op, {args.threads} inter-op; engine: {args.threads} concurrent chunks of "
        f"{args.chunk_size}; {args.epochs} epochs each"
    )
    *stock_timing, stock_model = stock_span(jets, 0, args.epochs)
    stock, stock_accuracy = rate(stock_timing), accuracy_on_test_set(stock_model.get_weights(), jets)
    rows = [("stock QKeras fit, 1 model", stock)]
    for models in MEMBER_COUNTS:
        rows.append((f"engine, M = {models}", rate(engine_span(jets, range(models), args.epochs, args.chunk_size, args.threads))))
    rows.append(("engine, M = 32, one chunk of 32", rate(engine_span(jets, range(32), args.epochs, 32, args.threads))))
    parallel_stock = None
    if args.processes:
        p = args.processes
        # stock fit side by side is sometimes up to 3x slower (its tf.data threads): best of 3, in its favour
        parallel_stock = max(processes_rate("stock", p, p, args.epochs, args.chunk_size) for _ in range(3))
        rows.append((f"stock QKeras fit, {p} processes x 1 (best of 3)", parallel_stock))
        for models in MEMBER_COUNTS[1:]:
            measured = processes_rate("engine", models, p, args.epochs, args.chunk_size)
            rows.append((f"engine, M = {models}, {p} processes", measured))
    print(f"{'configuration':46s} {'sample·models/s':>16s} {'x stock':>8s} {'of sgemm bound':>15s}")
    for name, measured in rows:
        print(f"{name:46s} {measured:16,.0f} {measured / stock:8.1f} {measured / bound:15.1%}")
    best_name, best = max((row for row in rows if row[0].startswith("engine")), key=lambda row: row[1])
    print(f"best engine configuration: {best_name}, {best / stock:.1f}x stock QKeras in one process", end="")
    print(f", {best / parallel_stock:.1f}x stock QKeras with one process per core" if parallel_stock else "")
    weights, masks = start_of(0)
    ours = train_phase_batched(
        [Member(SPEC, weights, masks, jets, TrainSettings(max_epochs=args.epochs, patience=args.epochs + 1))], shuffle=False
    )[0]
    engine_accuracy = accuracy_on_test_set(ours.weights, jets)
    print(
        f"test accuracy after {args.epochs} epochs (same start, data order): stock {stock_accuracy:.4f}, engine "
        f"{engine_accuracy:.4f}, difference {100 * (engine_accuracy - stock_accuracy):+.2f} %"
    )


if __name__ == "__main__":
    main()
