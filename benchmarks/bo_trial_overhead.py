"""What a Bayesian-optimisation trial costs besides its training steps, and what one worker per search saves.

A trial of chapter 7's search trains one small model for a few epochs (25 in the paper). Each trial was
a one-run sweep: a fresh worker process, which imports TensorFlow, loads the data and compiles the epoch
for its architecture before its first step, and evaluates the model after its last. A search now keeps one
worker for all its trials and retrainings (:func:`qaplib.bayesopt.run_study`), so only the compilation of a
new architecture and the evaluation remain per trial.

This script trains the same trials both ways, in one process and into scratch stores, and prints the wall
time of each, their ratio, and the results' equality (the reused worker must not change a single number).
It also prints one trial's parts, measured in a worker of its own: imports, data loading, compilation, one
epoch, and evaluation.

Usage: .venv/bin/python benchmarks/bo_trial_overhead.py [--profile paper] [--trials 4] [--epochs 25]
"""

from __future__ import annotations

import argparse
import tempfile
import time

#: Architectures the trials train, fixed so that both ways train the same runs (the paper's search bounds).
WIDTHS = ((78, 13, 63), (40, 20, 10), (120, 60, 8), (16, 4, 32), (96, 48, 48), (8, 64, 4))


def _parts(profile_name: str, widths: tuple[int, ...]) -> dict[str, float]:
    """Seconds of one trial's parts in a fresh process: imports, data, compilation, one epoch, evaluation."""
    start = time.perf_counter()
    from qaplib import bayesopt
    from qaplib.lifecycle import train_runs as train
    from qaplib.profiles import get_profile
    from qaplib.runs import cached_jets

    imported = time.perf_counter()
    profile = get_profile(profile_name)
    cached_jets(profile.data)
    loaded = time.perf_counter()
    timed = []
    for n in (1, 1, 3):  # compilation + 1 epoch + evaluation; 1 epoch + evaluation; 3 epochs + evaluation
        spec = bayesopt.trial_spec(profile, bayesopt.SearchSpec(bits=6, search_epochs=n), widths)
        began = time.perf_counter()
        train([spec], [f"epochs-{n}"])
        timed.append(time.perf_counter() - began)
    epoch = (timed[2] - timed[1]) / 2
    seconds = {"imports": imported - start, "data loading": loaded - imported, "compilation": timed[0] - timed[1],
               "one epoch": epoch, "evaluation (and set-up)": timed[1] - epoch}  # fmt: skip
    return seconds


def _untimed(result) -> tuple:
    """A result's metrics rows without their timing, its curves and its final weights' bytes."""
    rows = [{k: v for k, v in row.items() if k != "seconds"} for row in result.phases]
    return rows, result.curves, [w.tobytes() for w in result.weights[-1]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--trials", type=int, default=4, help=f"trials per way (at most {len(WIDTHS)})")
    parser.add_argument("--epochs", type=int, default=25, help="epochs per trial (the paper: 25)")
    args = parser.parse_args()
    if not 1 <= args.trials <= len(WIDTHS):
        parser.error(f"--trials must be between 1 and {len(WIDTHS)}")

    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from qaplib import bayesopt
    from qaplib.profiles import get_profile
    from qaplib.runs import run_key
    from qaplib.store import ResultStore
    from qaplib.sweep import SweepSpec, check_data, local_worker, run_sweep, train_in_worker

    profile = get_profile(args.profile)
    check_data([profile.data])
    search = bayesopt.SearchSpec(bits=6, search_epochs=args.epochs)
    specs = [bayesopt.trial_spec(profile, search, widths) for widths in WIDTHS[: args.trials]]
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        parts = pool.submit(_parts, args.profile, WIDTHS[0]).result()
    print(f"one trial's parts ({args.profile} data, widths {WIDTHS[0]}, 6 bits), measured in a fresh worker:")
    for label, seconds in parts.items():
        print(f"  {label:26s} {seconds:6.1f} s")
    fixed = parts["imports"] + parts["data loading"]
    per_trial = parts["compilation"] + parts["evaluation (and set-up)"]
    print(f"  a {args.epochs}-epoch trial: {args.epochs * parts['one epoch']:.1f} s of epochs, {per_trial:.1f} s of "
          f"compilation and evaluation, and {fixed:.1f} s of imports and data that one worker per search pays once")

    with tempfile.TemporaryDirectory() as scratch:
        fresh, reused = ResultStore(f"{scratch}/fresh"), ResultStore(f"{scratch}/reused")
        began = time.perf_counter()
        for spec in specs:  # the old way: a one-run sweep, in a fresh worker, per trial
            run_sweep(SweepSpec("trial", (spec,)), fresh, workers=1, progress=False)
        fresh_seconds = time.perf_counter() - began
        began = time.perf_counter()
        with local_worker() as worker:  # one worker for the whole search
            for spec in specs:
                train_in_worker(worker, [spec], reused)
        reused_seconds = time.perf_counter() - began
        same = all(_untimed(fresh.load(run_key(s))) == _untimed(reused.load(run_key(s))) for s in specs)
    print(f"{args.trials} trials of {args.epochs} epochs: a fresh worker per trial {fresh_seconds:.1f} s, "
          f"one worker per search {reused_seconds:.1f} s, ratio {fresh_seconds / reused_seconds:.2f}x; "
          f"results {'identical' if same else 'DIFFERENT'}")  # fmt: skip


if __name__ == "__main__":
    main()
