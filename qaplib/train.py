"""Training one model: Adam, cross-entropy, early stopping on validation loss, best weights kept.

Deterministic: the same seed, settings and data give the same weights (TensorFlow's op
determinism is switched on, and every random draw is seeded).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from qaplib.errors import InvalidSpecError

#: ``TrainSettings.engine`` values: Keras ``fit`` per model, or the batched engine (:mod:`qaplib.engine`),
#: each with the version of its code. A version is part of every run key (:func:`qaplib.runs.run_key`):
#: bump it when a change to that engine changes any trained weight, and every run it trained is recomputed.
ENGINE_VERSIONS: dict[str, int] = {"reference": 1, "batched": 1}
TRAINING_ENGINES = tuple(ENGINE_VERSIONS)
#: The engine of a spec that does not name one (``qap run``, grids and profiles alike).
DEFAULT_ENGINE = "batched"


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
        if self.engine not in TRAINING_ENGINES:
            raise InvalidSpecError(f"engine must be one of {TRAINING_ENGINES}, got {self.engine!r}")
        if (isinstance(self.learning_rate, bool) or not isinstance(self.learning_rate, (int, float))
                or not 0 < self.learning_rate < float("inf")):
            raise InvalidSpecError(f"learning_rate must be a positive, finite number, got {self.learning_rate!r}")
        for name in ("max_epochs", "patience", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidSpecError(f"{name} must be a positive integer, got {value!r}")


def set_determinism(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TensorFlow's kernels deterministic."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


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
    history = model.fit(
        x_train, y_train, validation_data=(x_val, y_val), epochs=settings.max_epochs,
        batch_size=settings.batch_size, shuffle=shuffle, callbacks=[stop, *(callbacks or [])], verbose=verbose,
    )  # fmt: skip
    curves = {key: [float(v) for v in values] for key, values in history.history.items()}
    return FitResult(history=curves, epochs=len(curves["loss"]))
