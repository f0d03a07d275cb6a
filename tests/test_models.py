"""ModelSpec validation and the Keras/QKeras models it builds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qaplib.errors import InvalidSpecError
from qaplib.models import ModelSpec, build_model, dense_layer_names, logits_model


@pytest.mark.parametrize(
    "change",
    [{"bits": 5}, {"bits": True}, {"bits": "6"}, {"widths": ()}, {"widths": (64, 0)}, {"widths": (64.0,)},
     {"batchnorm": 1}, {"l1": -1e-4}, {"l1": "1e-4"}, {"input_bits": 32}, {"input_bits": 7}],
)
def test_invalid_model_spec(change):
    with pytest.raises(InvalidSpecError):
        dataclasses.replace(ModelSpec(), **change)


def test_bits_error_lists_allowed_values():
    with pytest.raises(InvalidSpecError, match=r"bits must be one of \{.*4.*32.*\}, got 5"):
        ModelSpec(bits=5)


def test_widths_list_becomes_tuple():
    assert ModelSpec(widths=[8, 4]).widths == (8, 4)


@pytest.mark.slow
@pytest.mark.parametrize("bits", [32, 6])
@pytest.mark.parametrize("batchnorm", [True, False])
def test_model_shapes_names_and_parameter_count(bits, batchnorm):
    model = build_model(ModelSpec(bits=bits, batchnorm=batchnorm))
    x = np.random.default_rng(0).normal(size=(7, 16)).astype(np.float32)
    probabilities = model.predict(x, verbose=0)
    assert probabilities.shape == (7, 5)
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)  # softmax over classes, not over the batch
    dense = [model.get_layer(name) for name in dense_layer_names(ModelSpec())]
    assert sum(layer.count_params() for layer in dense) == 4389  # 4256 weights + 133 biases
    assert any(layer.name == "bn1" for layer in model.layers) == batchnorm
    assert logits_model(model).predict(x, verbose=0).shape == (7, 5)


def test_quantized_weights_lie_on_the_fixed_point_grid():
    from qkeras.utils import model_save_quantized_weights

    spec = ModelSpec(bits=6)
    model = build_model(spec)
    quantized = model_save_quantized_weights(model)
    kernel = quantized["fc2"]["weights"][0]
    step = 2.0 ** -(spec.bits - 1)
    assert np.allclose(kernel / step, np.round(kernel / step))
    assert kernel.min() >= -1 and kernel.max() < 1
