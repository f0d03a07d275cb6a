"""Named computation budgets, defined once and selected by the ``profile`` notebook parameter.

* ``smoke``: seconds; the tests run every notebook end to end with it.
* ``default``: what the committed book shows; recomputing chapters 1-8 fits in 90 minutes on 2 cores
  (measured: 29 minutes on 2 idle cores, firmware and architecture search included); chapter 9's HGQ runs and
  their firmware add about an hour (measured with other work on the machine).
* ``paper``: the paper's own settings (830k jets, lr 1e-4, up to 250 epochs, patience 10,
  4 folds, the 12-phase schedule), meant for a Dask cluster.

Deviations of ``default`` from the paper, all listed in the book: the 100k-jet generated dataset
(all 60k training jets of each fold), learning rate 1e-3 instead of 1e-4, at most 100 epochs per phase
with patience 5 instead of 250 and 10, and 6 Bayesian-optimisation trials at 32 and 6 bits instead of 20
at 32, 12, 6 and 4.
It keeps the paper's 4 folds and 12-phase schedule.

Every profile trains with the batched engine (``TrainSettings.engine = "batched"``, :mod:`qaplib.engine`):
the runs of a sweep that share an architecture are trained together in one compiled step. To train a
profile's runs the reference way (one Keras ``fit`` per model), replace its ``train.engine``.
"""

from __future__ import annotations

from dataclasses import dataclass

from qaplib.data import DataSpec
from qaplib.errors import InvalidSpecError
from qaplib.pruning import PAPER_SPARSITIES
from qaplib.train import TrainSettings


@dataclass(frozen=True)
class Profile:
    """Data, training, schedule and folds shared by every run made under this profile."""

    name: str
    data: DataSpec
    train: TrainSettings
    folds: tuple[int, ...]
    sparsities: tuple[float, ...]
    bo_trials: int = 20
    bo_epochs: int = 25
    #: Bit widths of chapter 7's searches (the paper: 32, 12, 6 and 4).
    bo_bits: tuple[int, ...] = (32, 12, 6, 4)
    #: Appended to figure labels (and so to the figure files and their citations) and, in the published book,
    #: to the figure and verdict targets: the paper-scale chapters stand beside the default ones, and every
    #: label says which scale it comes from. Empty for the book's own scale.
    label_suffix: str = ""
    #: How the book names this scale in chapter titles; empty for the book's own scale.
    scale_title: str = ""


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        data=DataSpec(source="default", max_train_jets=1500),
        train=TrainSettings(learning_rate=3e-3, max_epochs=2, patience=2, batch_size=256, engine="batched"),
        folds=(0,),
        sparsities=(0.0, 0.5, 0.9),
        bo_trials=2,
        bo_epochs=1,
        bo_bits=(32, 6),
    ),
    "default": Profile(
        name="default",
        data=DataSpec(source="default"),
        train=TrainSettings(learning_rate=1e-3, max_epochs=100, patience=5, engine="batched"),
        folds=(0, 1, 2, 3),
        sparsities=PAPER_SPARSITIES,
        bo_trials=6,
        bo_bits=(32, 6),
    ),
    "paper": Profile(
        name="paper",
        data=DataSpec(source="full"),
        train=TrainSettings(learning_rate=1e-4, max_epochs=250, patience=10, engine="batched"),
        folds=(0, 1, 2, 3),
        sparsities=PAPER_SPARSITIES,
        label_suffix="-paper",
        scale_title="at the paper's scale",
    ),
}


def get_profile(name: str) -> Profile:
    """The profile called ``name``; a clear error lists the known profiles otherwise."""
    if not isinstance(name, str) or name not in PROFILES:
        raise InvalidSpecError(f"profile must be one of {tuple(PROFILES)}, got {name!r}")
    return PROFILES[name]
