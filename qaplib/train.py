"""Training one model: Adam, cross-entropy, early stopping on validation loss, best weights kept.

Deterministic: the same seed, settings and data give the same weights (TensorFlow's op
determinism is switched on, and every random draw is seeded).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from qaplib.engines import DEFAULT_ENGINE, TRAINING_ENGINES
from qaplib.validation import check_fields, rule

#: Largest batch: 2**20 jets, more than the training split of the 830k-jet tier.
MAX_BATCH_SIZE = 2**20

#: The rules of :class:`TrainSettings`' fields (:mod:`qaplib.validation`).
TRAIN_RULES: dict[str, dict] = {
    "engine": rule({"type": "string", "enum": list(TRAINING_ENGINES)}, f"engine must be one of {TRAINING_ENGINES}, got <value>",
                   "How the run is trained: 'batched' (many runs in one compiled step), 'reference' (Keras fit, the "
                   "paper's way) or 'hgq' (high-granularity quantization, with an hgq section); part of the run's "
                   "identity."),
    "learning_rate": rule({"type": "number", "exclusiveMinimum": 0}, "learning_rate must be a positive, finite number, "
                          "got <value>", "Adam's learning rate."),
    "max_epochs": rule({"type": "integer", "minimum": 1}, "max_epochs must be a positive integer, got <value>",
                       "Epochs per pruning phase at most (the paper: 250)."),
    "patience": rule({"type": "integer", "minimum": 1}, "patience must be a positive integer, got <value>",
                     "Epochs without a lower validation loss before a phase stops early (the paper: 10)."),
    "batch_size": rule({"type": "integer", "minimum": 1, "maximum": MAX_BATCH_SIZE},
                       f"batch_size must be a positive integer, at most {MAX_BATCH_SIZE:,} (more jets than any dataset's "
                       "training split; every step holds a batch in memory), got <value>",
                       "Jets per optimiser step (the paper: 1024)."),
}  # fmt: skip


@dataclass(frozen=True)
class TrainSettings:
    """Optimiser and stopping settings of one training phase (the paper: lr 1e-4, 250, 10, 1024).

    ``engine`` chooses how the run is trained: ``"reference"`` (one Keras ``model.fit`` per model, the
    paper's way) or ``"batched"`` (:mod:`qaplib.engine`: many runs in one compiled step, same maths,
    different batch shuffling and float round-off). It is part of the run's identity: the two engines
    give different (equally valid) trained models, so their results are stored under different keys.
    """

    learning_rate: float = 1e-4
    max_epochs: int = 250
    patience: int = 10
    batch_size: int = 1024
    engine: str = DEFAULT_ENGINE

    def __post_init__(self) -> None:
        check_fields(TRAIN_RULES, vars(self))


def set_determinism(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TensorFlow's kernels deterministic."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def non_finite_loss(history: dict[str, list[float]]) -> str | None:
    """Where a training history's ``loss`` or ``val_loss`` first became NaN or infinite, in words (None if never).

    The guard of both engines: such a run has diverged, and training it further or scoring it means nothing.
    """
    for name in ("loss", "val_loss"):
        for epoch, value in enumerate(history.get(name, [])):
            if not math.isfinite(value):
                return f"its {name} became {value} in epoch {epoch + 1}"
    return None


def divergence_reason(key: str, phase: int, settings: TrainSettings, problem: str) -> str:
    """Why run ``key`` failed when :func:`non_finite_loss` found ``problem`` in its phase ``phase``, and the fix."""
    return (f"run {key} diverged in pruning phase {phase}: {problem} (learning_rate {settings.learning_rate!r}); it "
            "stopped there and is recorded as failed: lower learning_rate, or check the data for extreme values")  # fmt: skip


@dataclass(frozen=True)
class FitResult:
    """Per-epoch ``loss``/``val_loss`` curves and the number of epochs run."""

    history: dict[str, list[float]]
    epochs: int


@functools.cache
def _early_stopping_class():
    import tensorflow as tf

    class EarlyStoppingRestoringBest(tf.keras.callbacks.EarlyStopping):
        """Keras' EarlyStopping restores the best weights only when it stops early; this one also
        restores them when training runs to ``max_epochs``."""

        def on_train_end(self, logs=None):
            if self.stopped_epoch == 0 and self.best_weights is not None:
                self.model.set_weights(self.best_weights)
            super().on_train_end(logs)

    return EarlyStoppingRestoringBest


def fit(model, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
        settings: TrainSettings, seed: int, callbacks: list | None = None, verbose: int = 0,
        shuffle: bool = True) -> FitResult:
    """Train ``model`` in place with a fresh Adam optimiser; restores the best-validation weights.

    Args:
        x_train, x_val: (n, 16) float32 standardised features.
        y_train, y_val: (n,) int class indices.
        seed: seeds the shuffling of the training batches.
        shuffle: False keeps the data order (batch j = rows [j*B, (j+1)*B)), to compare with other trainers.
    """
    import tensorflow as tf

    set_determinism(seed)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(learning_rate=settings.learning_rate),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    stop = _early_stopping_class()(monitor="val_loss", patience=settings.patience, restore_best_weights=True)
    diverged = tf.keras.callbacks.TerminateOnNaN()  # stops at the first NaN or infinite batch loss (non_finite_loss)
    history = model.fit(
        x_train, y_train, validation_data=(x_val, y_val), epochs=settings.max_epochs, batch_size=settings.batch_size,
        shuffle=shuffle, callbacks=[stop, diverged, *(callbacks or [])], verbose=verbose,
    )  # fmt: skip
    curves = {key: [float(v) for v in values] for key, values in history.history.items()}
    return FitResult(history=curves, epochs=len(curves["loss"]))
