"""Training throughput of one run's phase on the default dataset: float against 6-bit QKeras.

Prints samples/s (training samples x epochs / wall time of ``model.fit``) for each, and the ratio
6-bit / float measured in this same process. A benchmark, not a timed test.
Usage: .venv/bin/python benchmarks/train_throughput.py [--epochs 5]
"""

from __future__ import annotations

import argparse
import time

from qaplib.data import load_jets
from qaplib.models import ModelSpec, build_model
from qaplib.runs import configure_tensorflow
from qaplib.train import TrainSettings, fit


def samples_per_second(bits: int, jets, epochs: int) -> float:
    model = build_model(ModelSpec(bits=bits))
    settings = TrainSettings(learning_rate=1e-3, max_epochs=epochs, patience=epochs + 1)
    fit(model, jets.x_train[:2048], jets.y_train[:2048], jets.x_val[:1024], jets.y_val[:1024],
        TrainSettings(max_epochs=1, patience=2), seed=0)  # warm-up: graph tracing  # fmt: skip
    start = time.perf_counter()
    result = fit(model, jets.x_train, jets.y_train, jets.x_val, jets.y_val, settings, seed=0)
    return len(jets.y_train) * result.epochs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow threads (runs use 1 per worker)")
    args = parser.parse_args()
    configure_tensorflow(args.threads)
    jets = load_jets("default")
    rates = {bits: samples_per_second(bits, jets, args.epochs) for bits in (32, 6)}
    for bits, rate in rates.items():
        print(f"{'float' if bits == 32 else f'{bits}-bit'}: {rate:,.0f} training samples/s ({args.threads} thread(s))")
    print(f"ratio 6-bit / float: {rates[6] / rates[32]:.2f}")


if __name__ == "__main__":
    main()
