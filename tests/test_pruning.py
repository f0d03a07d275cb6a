"""Global magnitude pruning: schedule, masks, and masks staying exactly zero under Adam."""

from __future__ import annotations

import numpy as np
import pytest

from qaplib import pruning
from qaplib.models import ModelSpec, build_model
from qaplib.runs import phase_start_weights


def test_paper_schedule_has_twelve_phases_down_to_one_percent():
    expected = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.9666, 0.9888]
    assert len(pruning.PAPER_SPARSITIES) == 12
    assert pruning.PAPER_SPARSITIES == pytest.approx(expected, abs=1e-3)


def random_kernels(seed=0):
    rng = np.random.default_rng(seed)
    kernels = {"fc1": rng.normal(size=(16, 64)), "fc2": rng.normal(size=(64, 32)) * 0.3, "fc3": rng.normal(size=(32, 5))}
    return kernels, {n: np.ones_like(k, dtype=np.float32) for n, k in kernels.items()}


def test_masks_prune_the_globally_smallest_weights():
    kernels, masks = random_kernels()
    new = pruning.kernel_masks_for_sparsity(kernels, masks, 0.5)
    flat_w = np.concatenate([np.abs(k).ravel() for k in kernels.values()])
    flat_m = np.concatenate([m.ravel() for m in new.values()]).astype(bool)
    n_total = flat_w.size
    assert (~flat_m).sum() == round(0.5 * n_total)
    assert flat_w[~flat_m].max() <= flat_w[flat_m].min()  # every removed weight is smaller than every kept one
    # global, not per layer: fc2 (scaled down) loses more than half, fc1 less than half
    assert (new["fc2"] == 0).mean() > 0.5 > (new["fc1"] == 0).mean()


def test_masks_only_grow_and_keep_earlier_pruning():
    kernels, masks = random_kernels(1)
    first = pruning.kernel_masks_for_sparsity(kernels, masks, 0.3)
    shuffled = {n: np.random.default_rng(2).normal(size=k.shape) for n, k in kernels.items()}  # weights changed by training
    second = pruning.kernel_masks_for_sparsity(shuffled, first, 0.6)
    for name in kernels:
        assert np.all(second[name] <= first[name])
    total = sum(k.size for k in kernels.values())
    assert sum(int((m == 0).sum()) for m in second.values()) == round(0.6 * total)


@pytest.mark.slow
def test_pruned_weights_stay_exactly_zero_through_adam_training():
    import tensorflow as tf

    model = build_model(ModelSpec(bits=6))
    masks = pruning.kernel_masks_for_sparsity(pruning.dense_kernels(model), pruning.full_masks(model), 0.8)
    pruning.apply_masks(model, masks)
    before = pruning.dense_kernels(model)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(512, 16)).astype(np.float32), rng.integers(0, 5, 512)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=3, batch_size=64, verbose=0, callbacks=[pruning.mask_callback(masks)])
    after = pruning.dense_kernels(model)
    for name, mask in masks.items():
        assert np.all(after[name][mask == 0] == 0.0)
        assert not np.allclose(after[name][mask == 1], before[name][mask == 1])
    assert pruning.measured_sparsity(model) == pytest.approx(0.8, abs=1e-3)


def test_lottery_ticket_rewinds_and_fine_tuning_continues():
    initial = [np.zeros(3), np.ones(2)]
    trained = [np.full(3, 5.0), np.full(2, 7.0)]
    assert all(np.array_equal(a, b) for a, b in zip(phase_start_weights("lt", 2, initial, trained), initial, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(phase_start_weights("ft", 2, initial, trained), trained, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(phase_start_weights("lt", 0, initial, trained), trained, strict=True))
