"""The reference engine: each member of a phase trained alone with Keras ``model.fit``, the paper's way.

It registers as ``train.engine = "reference"`` in :mod:`qaplib.engines`; the phase loop around it is
:mod:`qaplib.lifecycle`, and the batched engine (:mod:`qaplib.engine`) is checked against it.
"""

from __future__ import annotations

from qaplib.lifecycle import Member, TrainedMember
from qaplib.models import build_model
from qaplib.pruning import apply_masks, mask_callback
from qaplib.train import fit, non_finite_loss


def train_phase(members: list[Member], chunk_size: int | None = None, threads: int | None = None) -> list[TrainedMember]:
    """Train each member for one phase with :func:`qaplib.train.fit` (fresh Adam, early stopping, best weights
    kept, masks re-applied after every step), one after the other; ``chunk_size`` and ``threads`` are the batched
    engine's and are not used. A member whose loss became NaN or infinite is returned with ``diverged`` set."""
    import tensorflow as tf

    trained = []
    for member in members:
        tf.keras.backend.clear_session()  # a worker trains many phases: keep its graph from growing
        model = build_model(member.spec)
        model.set_weights(member.weights)
        apply_masks(model, member.masks)
        fitted = fit(model, member.jets.x_train, member.jets.y_train, member.jets.x_val, member.jets.y_val,
                     member.settings, seed=member.seed, callbacks=[mask_callback(member.masks)])  # fmt: skip
        trained.append(TrainedMember(model.get_weights(), fitted.history, fitted.epochs, non_finite_loss(fitted.history)))
    return trained
