"""Granular bit operations (issue 28): a count for per-weight bit widths that is the effective BOPs for layer-wise
models, checked by hand on a tiny layer and against the stored effective BOPs of committed trained models."""

from __future__ import annotations

import numpy as np
import pytest

from qaplib.granular_bops import GranularLayer, granular_bops, layer_granular_bops
from qaplib.metrics import layer_bops


def test_a_tiny_layer_by_hand():
    # n = 2 inputs (4 and 2 bits), m = 2 outputs; w_00 has 3 bits, w_01 is pruned (0 bits), w_10 2 bits, w_11 1 bit
    kernel = np.array([[0.5, 0.0], [0.25, -0.5]])
    layer = GranularLayer(kernel, np.array([0.125, 0.0]), np.array([[3.0, 0.0], [2.0, 1.0]]), np.array([4.0, 4.0]),
                          np.array([4.0, 2.0]))  # fmt: skip
    products = 4 * 3 + 2 * 2 + 2 * 1 + 3.0 * 4  # three non-zero weights, one non-zero bias (mean input bits 3)
    rest = (4 + 3) + (4 + 0) + (2 + 2) + (2 + 1) + 2 * 2 * np.log2(2)
    assert layer_granular_bops(layer) == pytest.approx(4 / 6 * products + rest)


@pytest.mark.parametrize("bits, input_bits", [(6, 6), (4, 32), (32, 32), (12, 12)])
def test_layer_wise_models_give_the_papers_formula_with_p_from_the_implemented_weights(bits, input_bits):
    generator = np.random.default_rng(bits)
    for sparsity in (0.0, 0.5, 0.9, 0.99):
        kernel = generator.normal(size=(32, 16)) * (generator.random((32, 16)) >= sparsity)
        bias = generator.normal(size=16) * (generator.random(16) >= 0.3)
        p = (np.count_nonzero(kernel) + np.count_nonzero(bias)) / (kernel.size + bias.size)
        expected = layer_bops(32, 16, bits, input_bits, p)
        assert layer_granular_bops(GranularLayer.layer_wise(kernel, bias, bits, input_bits)) == pytest.approx(expected, rel=1e-12)


def test_a_zero_bit_weight_costs_nothing_more_than_a_pruned_one():
    kernel = np.array([[1.0, 1.0]])
    one = GranularLayer(kernel, np.zeros(2), np.array([[4.0, 0.0]]), np.zeros(2), np.array([8.0]))
    two = GranularLayer(kernel * [1, 0], np.zeros(2), np.array([[4.0, 0.0]]), np.zeros(2), np.array([8.0]))
    # the second weight has zero bits in both; only its product term could differ, and 8 * 0 = 0
    assert layer_granular_bops(one) == pytest.approx(layer_granular_bops(two))


def test_bad_shapes_and_bit_widths_are_refused():
    with pytest.raises(ValueError, match="weight_bits must have shape"):
        GranularLayer(np.ones((2, 3)), np.ones(3), np.ones((3, 2)), np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="non-negative"):
        GranularLayer(np.ones((1, 1)), np.ones(1), -np.ones((1, 1)), np.ones(1), np.ones(1))


@pytest.mark.slow
@pytest.mark.parametrize("bits, phase", [(6, 0), (6, 8), (4, 10), (32, 5)])
def test_equals_the_stored_effective_bops_of_committed_trained_models(bits, phase):
    """Golden: on the committed default-scale runs, the granular count of the implemented weights is exactly the
    effective BOPs their records store."""
    from qaplib.experiments import run_spec
    from qaplib.layer_chain import implemented_dense_weights
    from qaplib.metrics import _dense_layers
    from qaplib.profiles import get_profile
    from qaplib.runs import run_key
    from qaplib.store import COMMITTED_ROOT, ResultStore

    store = ResultStore(COMMITTED_ROOT)
    key = run_key(run_spec(get_profile("default"), bits, fold=0))
    model = store.load_model(key, phase=phase)
    implemented = implemented_dense_weights(model)
    layers = [GranularLayer.layer_wise(*implemented[layer.name], weight_bits, input_bits)
              for layer, weight_bits, input_bits in _dense_layers(model)]  # fmt: skip
    assert granular_bops(layers) == store.load(key).phases[phase]["effective_bops"]
