"""Classification metrics: exact values on hand-made scores."""

from __future__ import annotations

import numpy as np
import pytest

from qaplib import metrics

LABELS = np.array([0, 0, 1, 1, 2, 3, 4, 4])


def perfect_scores(labels):
    return np.eye(5)[labels]


def test_accuracy_counts_argmax_hits():
    scores = perfect_scores(LABELS)
    scores[0] = np.eye(5)[1]  # one miss out of eight
    assert metrics.accuracy(LABELS, scores) == pytest.approx(7 / 8)


def test_perfect_scores_give_auc_one_and_zero_background():
    scores = perfect_scores(LABELS)
    assert metrics.auc_per_class(LABELS, scores) == pytest.approx(np.ones(5))
    assert metrics.macro_auc(LABELS, scores) == 1.0
    assert metrics.background_efficiency_at(LABELS, scores, 0.5) == pytest.approx(np.zeros(5))


def test_auc_of_a_hand_ranked_class():
    labels = np.array([0, 0, 1, 1])
    scores = np.zeros((4, 5))
    scores[:, 0] = [0.9, 0.2, 0.5, 0.1]  # signal scores 0.9, 0.2; background 0.5, 0.1 -> 3 of 4 pairs right
    assert metrics.auc_per_class(labels, scores)[0] == pytest.approx(0.75)


def test_background_efficiency_interpolates_the_roc():
    labels = np.array([0, 0, 1, 1])
    scores = np.zeros((4, 5))
    scores[:, 0] = [0.9, 0.2, 0.5, 0.1]
    # ROC of class 0: (fpr, tpr) = (0,0), (0,0.5), (0.5,0.5), (0.5,1), (1,1)
    assert metrics.background_efficiency_at(labels, scores, 0.25)[0] == pytest.approx(0.0)
    assert metrics.background_efficiency_at(labels, scores, 0.75)[0] == pytest.approx(0.5)


def test_confusion_rows_sum_to_one():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, 200)
    matrix = metrics.normalised_confusion(labels, rng.random((200, 5)))
    assert matrix.shape == (5, 5)
    assert np.allclose(matrix.sum(axis=1), 1)


# ---------------------------------------------------------------- BOPs

GOLDEN_UNPRUNED_BOPS = {32: 4_652_832, 16: 1_526_560, 12: 1_003_552, 8: 583_968, 6: 412_960, 4: 267_808}


def with_nonzero_biases(model):
    for layer in model.layers:
        if layer.name.startswith("fc"):
            kernel, bias = layer.get_weights()[:2]
            layer.set_weights([kernel, np.full_like(bias, 0.01)])
    return model


@pytest.mark.parametrize("bits", sorted(GOLDEN_UNPRUNED_BOPS))
def test_bops_of_unpruned_models_match_hand_computed_values(bits):
    from qaplib.models import ModelSpec, build_model

    assert metrics.bops(with_nonzero_biases(build_model(ModelSpec(bits=bits)))) == GOLDEN_UNPRUNED_BOPS[bits]


def test_bops_with_quantized_inputs_use_input_bits_in_the_first_layer():
    from qaplib.models import ModelSpec, build_model

    model = with_nonzero_biases(build_model(ModelSpec(bits=6, input_bits=8)))
    # fc1: 64*16*(8*6 + 8 + 6 + 4) = 67,584 instead of 239,616 with 32-bit inputs
    assert metrics.bops(model) == GOLDEN_UNPRUNED_BOPS[6] - 239_616 + 67_584


def test_bops_of_a_pruned_model_match_a_hand_computation_from_its_masks():
    from qaplib import pruning
    from qaplib.models import ModelSpec, build_model

    model = with_nonzero_biases(build_model(ModelSpec(bits=6)))
    masks = pruning.kernel_masks_for_sparsity(pruning.dense_kernels(model), pruning.full_masks(model), 0.7)
    pruning.apply_masks(model, masks)
    expected = 0.0
    for index, name in enumerate(["fc1", "fc2", "fc3", "fc4"]):
        n, m = masks[name].shape
        p = (masks[name].sum() + m) / (n * m + m)  # unpruned weights plus the m (non-zero) biases
        b_a = 32 if index == 0 else 6
        expected += m * n * (p * b_a * 6 + b_a + 6 + np.log2(n))
    assert metrics.bops(model) == round(expected)
    assert metrics.bops(model) < GOLDEN_UNPRUNED_BOPS[6]


# ---------------------------------------------------------------- effective BOPs


def tiny_model(bits: int, batchnorm: bool = False):
    """16 -> 2 -> 5 tagger: fc1 kernel all 0.06, bias 0.5; fc2 kernel all 0.5, bias 0.25."""
    from qaplib.models import ModelSpec, build_model

    model = build_model(ModelSpec(bits=bits, widths=(2,), batchnorm=batchnorm, l1=0.0))
    model.get_layer("fc1").set_weights([np.full((16, 2), 0.06, np.float32), np.full(2, 0.5, np.float32)])
    model.get_layer("fc2").set_weights([np.full((2, 5), 0.5, np.float32), np.full(5, 0.25, np.float32)])
    return model


def test_effective_bops_drop_the_weights_a_4_bit_quantizer_rounds_to_zero():
    # 4 bits: step 2**-3 = 0.125, so 0.06 -> 0 and fc1 keeps only its 2 biases of 34 parameters.
    # fc1 (n=16, m=2, b_a=32, b_w=4): paper 32 * (1 * 128 + 32 + 4 + 4) = 5376,
    #                                 effective 32 * (2/34 * 128 + 40) = 1520.94
    # fc2 (n=2, m=5, b_a=4, b_w=4): 10 * (16 + 4 + 4 + 1) = 250 under both counts.
    model = tiny_model(4)
    assert metrics.bops(model) == 5376 + 250
    assert metrics.effective_bops(model) == round(32 * (2 / 34 * 128 + 40) + 250)
    assert metrics.effective_sparsity(model) == pytest.approx(32 / 42)  # 32 of the 42 kernel weights


def test_effective_bops_equal_the_paper_count_where_the_quantizer_keeps_every_weight():
    # 8 bits: step 2**-7, so 0.06 -> 0.0625, non-zero. fc1: 32 * (256 + 44) = 9600; fc2: 10 * (64 + 17) = 810.
    model = tiny_model(8)
    assert metrics.bops(model) == metrics.effective_bops(model) == 9600 + 810
    assert metrics.effective_sparsity(model) == 0.0


def test_effective_bops_count_the_trained_weights_not_a_batch_norm_fold():
    # 4 bits, bn1 scale 0.4 on fc1. The firmware of the trained network keeps batch norm as a stage of its own, so
    # the multiplications it builds are those of the quantized kernel (one step, 0.125: all 32 non-zero) and biases
    # (zero: not built). Folding first would have rounded every kernel weight 0.05 to zero and every bias 0.3 to
    # 0.25, the count of a different network (the rounded fold).
    model = tiny_model(4, batchnorm=True)
    model.get_layer("fc1").set_weights([np.full((16, 2), 0.125, np.float32), np.zeros(2, np.float32)])
    epsilon = model.get_layer("bn1").epsilon
    model.get_layer("bn1").set_weights([np.full(2, 0.4), np.full(2, 0.3), np.zeros(2), np.full(2, 1.0 - epsilon)])
    paper = round(32 * (32 / 34 * 128 + 40) + 250)  # 32 kernel weights and 0 biases of 34 are non-zero
    assert metrics.bops(model) == metrics.effective_bops(model) == paper
    assert metrics.effective_sparsity(model) == 0.0
    # the fold's count would be 32 * (2/34 * 128 + 40) + 250: a definition-1 regression fails here
    assert metrics.effective_bops(model) != round(32 * (2 / 34 * 128 + 40) + 250)


def test_effective_bops_of_a_float_model_with_non_zero_biases_equal_the_paper_count():
    from qaplib.models import ModelSpec, build_model

    model = with_nonzero_biases(build_model(ModelSpec(bits=32)))
    assert metrics.effective_bops(model) == metrics.bops(model) == GOLDEN_UNPRUNED_BOPS[32]
    assert metrics.effective_sparsity(model) == 0.0


# ---------------------------------------------------------------- neural efficiency and aIQ


def all_states(n_neurons):
    """Every binary microstate of n neurons once: maximal entropy n bits."""
    return ((np.arange(2**n_neurons)[:, None] >> np.arange(n_neurons)) & 1).astype(bool)


def test_entropy_of_constructed_state_distributions():
    assert metrics.layer_entropy_bits(all_states(3)) == pytest.approx(3.0)
    assert metrics.layer_entropy_bits(np.zeros((50, 8), dtype=bool)) == 0.0
    two_states = np.array([[1, 0, 0]] * 30 + [[0, 1, 1]] * 30, dtype=bool)
    assert metrics.layer_entropy_bits(two_states) == pytest.approx(1.0)
    skewed = np.array([[1]] * 3 + [[0]] * 1, dtype=bool)  # p = 3/4, 1/4
    assert metrics.layer_entropy_bits(skewed) == pytest.approx(-(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25)))


def test_network_efficiency_is_the_geometric_mean_of_layer_efficiencies():
    full = all_states(2)  # eta = 2/2 = 1
    quarter = np.concatenate([all_states(2), np.zeros((4, 6), dtype=bool)], axis=1)  # 2 bits over 8 neurons
    assert metrics.neural_efficiency_from_states([full, quarter]) == pytest.approx(np.sqrt(1.0 * 0.25))
    assert metrics.neural_efficiency_from_states([full, np.ones((4, 5), dtype=bool)]) == 0.0


def test_neural_efficiency_of_a_model_uses_pre_activation_signs():
    from qaplib.models import ModelSpec, build_model

    model = build_model(ModelSpec(bits=32, batchnorm=False, widths=(2,)))
    kernel = np.zeros((16, 2), dtype=np.float32)
    kernel[0, 0] = kernel[1, 1] = 1.0  # fc1 pre-activations = (x0, x1)
    model.get_layer("fc1").set_weights([kernel, np.zeros(2, np.float32)])
    model.get_layer("fc2").set_weights([np.zeros((2, 5), np.float32), np.array([1, -1, 1, -1, 1], np.float32)])
    x = np.zeros((400, 16), np.float32)
    x[:, :2] = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]] * 100)
    assert metrics.recorded_layer_names(model) == ["fc1", "fc2"]
    # fc1: 4 equiprobable states over 2 neurons (eta 1); logits constant (eta 0) -> network 0
    assert metrics.neural_efficiency(model, x) == 0.0
    model.get_layer("fc2").set_weights([np.eye(2, 5, dtype=np.float32), np.full(5, -0.5, np.float32)])
    # logits: relu(x0) - .5, relu(x1) - .5, -.5, -.5, -.5 -> 4 states over 5 neurons: eta 2/5
    assert metrics.neural_efficiency(model, x) == pytest.approx(np.sqrt(1.0 * 2 / 5))


def test_recorded_layers_are_batch_norm_outputs_when_present():
    from qaplib.models import ModelSpec, build_model

    assert metrics.recorded_layer_names(build_model(ModelSpec(bits=6))) == ["bn1", "bn2", "bn3", "fc4"]


def test_aiq():
    assert metrics.aiq(1.0, 1.0) == pytest.approx(1.0)
    assert metrics.aiq(0.9, 0.3) == pytest.approx((0.9**2 * 0.3) ** (1 / 3))
    assert metrics.aiq(0.9, 0.3, beta=1) == pytest.approx((0.9 * 0.3) ** 0.5)


@pytest.mark.parametrize("neurons", [1, 5, 8, 9, 32, 63, 64, 65, 70])
def test_microstate_counts_equal_the_row_unique_counts_in_their_order(neurons):
    """The packed-integer fast path gives np.unique(axis=0)'s counts, in its order, so the entropy is bit-identical."""
    rng = np.random.default_rng(neurons)
    states = rng.random((5000, neurons)) < 0.3
    states[:, : neurons // 2] &= rng.random((5000, 1)) < 0.5  # correlated neurons: repeated microstates
    reference = np.unique(np.packbits(states, axis=1), axis=0, return_counts=True)[1]
    np.testing.assert_array_equal(metrics.microstate_counts(states), reference)
    p = reference / reference.sum()
    assert metrics.layer_entropy_bits(states) == float(-(p * np.log2(p)).sum())
