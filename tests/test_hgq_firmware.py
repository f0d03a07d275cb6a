"""The firmware of HGQ networks (issue 28): per-element fixed-point types rounded half up, the exported network of a
trained HGQ tagger, and its da4ml Verilog checked bit for bit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qaplib.errors import FirmwareError
from qaplib.firmware import rtl
from qaplib.firmware.spec import DenseLayer, NetworkSpec
from qaplib.fixed import FixedType, FixedTypes, fixed_type_from_dict
from tests.test_firmware import needs_rtl_tools


def test_per_element_types_round_half_up_saturate_and_zero_width_holds_only_zero():
    types = FixedTypes(np.array([1, 0, 0, 1]), np.array([1, 2, 0, -1]), np.array([2, 0, 0, 3]))
    assert list(types.width) == [4, 2, 0, 3]
    assert list(types.min) == [-2.0, 0.0, 0.0, -0.5] and list(types.max) == [1.75, 3.0, 0.0, 0.375]
    values = np.array([[0.125, 1.5, 5.0, -0.0625], [-0.375, -1.0, -3.0, 0.4375], [9.0, 2.5, 0.0, -0.6]])
    # 0.125 = half a step of 0.25 -> up to 0.25; 1.5 -> 2 (half up); -0.375 -> -0.25 (half up, towards +inf)
    assert types.quantize(values).tolist() == [[0.25, 2.0, 0.0, -0.0625 + 0.0625], [-0.25, 0.0, 0.0, 0.375],
                                               [1.75, 3.0, 0.0, -0.5]]  # fmt: skip
    assert types.contains(np.array([1.75, 3.0, 0.0, -0.5])) and not types.contains(np.array([0.125, 0.0, 0.0, 0.0]))
    assert not types.contains(np.array([0.0, 0.0, 0.25, 0.0]))  # the zero-width element holds only 0
    assert fixed_type_from_dict(types.to_dict()).to_dict() == types.to_dict()
    assert fixed_type_from_dict(FixedType(6, 1).to_dict()) == FixedType(6, 1)


def test_bad_per_element_types_are_refused():
    with pytest.raises(FirmwareError, match="one length"):
        FixedTypes(np.array([1, 0]), np.array([1]), np.array([2, 0]))
    with pytest.raises(FirmwareError, match="sign must hold 0 or 1"):
        FixedTypes(np.array([2]), np.array([1]), np.array([2]))
    with pytest.raises(FirmwareError, match=r"width must be in \[0, 53\]"):
        FixedTypes(np.array([0]), np.array([-3]), np.array([1]))


def hgq_like_spec(seed: int = 0) -> NetworkSpec:
    """A small network with HGQ's kind of types: per input and per neuron, some of zero width, quantized logits."""
    generator = np.random.default_rng(seed)

    def constants(shape, fractions):
        values = np.round(generator.normal(0, 0.6, shape) * 2.0**fractions) / 2.0**fractions
        return values * (generator.random(shape) > 0.3)

    inputs = FixedTypes(np.ones(4, int), np.array([2, 1, 2, 3]), np.array([2, 3, 1, 2]))
    fc1 = constants((4, 6), generator.integers(1, 5, (4, 6)))
    fc1[:, 5] = 0.0  # a constant neuron
    hidden = FixedTypes(np.zeros(6, int), np.array([2, 1, 2, 0, 1, 1]), np.array([2, 3, 1, 0, 2, 2]))  # one of zero width
    fc2 = constants((6, 3), generator.integers(1, 5, (6, 3)))
    logits = FixedTypes(np.ones(3, int), np.array([3, 2, 3]), np.array([2, 3, 1]))
    bias1, bias2 = np.array([0.25, -0.5, 0.0, 0.125, 0.5, 0.75]), np.array([0.5, -0.25, 0.0])
    kernel = FixedType.covering(np.concatenate([fc1.ravel(), fc2.ravel()]), 4, 1)
    return NetworkSpec(inputs, (DenseLayer("fc1", fc1, bias1, kernel, FixedType(6, 2), activation=hidden),
                                DenseLayer("fc2", fc2, bias2, kernel, FixedType(6, 2), output=logits)))  # fmt: skip


def test_an_hgq_network_is_evaluated_exactly_and_its_file_round_trips(tmp_path):
    spec = hgq_like_spec()
    x = np.random.default_rng(1).normal(0, 2, (400, 4))
    logits = spec.predict_logits(x)
    assert spec.layers[1].output.contains(logits)  # the logits are on their types' grids
    values = spec.input_type.quantize(x.astype(np.float32)) @ spec.layers[0].kernel + spec.layers[0].bias
    hidden = spec.layers[0].activation.quantize(np.maximum(values, 0))
    assert np.all(hidden[:, 3] == 0) and np.ptp(hidden[:, 5]) == 0
    assert np.array_equal(logits, spec.layers[1].output.quantize(hidden @ spec.layers[1].kernel + spec.layers[1].bias))
    assert 0 < spec.saturated(x).mean() < 1 and not spec.saturated(x / 100).any()
    spec.save(tmp_path / "spec.npz", x=x)
    loaded, extras = NetworkSpec.load(tmp_path / "spec.npz")
    assert np.array_equal(loaded.predict_logits(x), logits) and np.array_equal(extras["x"], x)
    assert loaded.layers[0].rounds_half_up and loaded.describe()["layers"][1]["output"].startswith("3 types of")


def test_quantized_logits_belong_to_a_last_layer_without_relu():
    spec = hgq_like_spec()
    with pytest.raises(FirmwareError, match="quantized logits"):
        dataclasses.replace(spec.layers[0], output=spec.layers[0].activation)
    with pytest.raises(FirmwareError, match="2 activation types for 6 neurons"):
        dataclasses.replace(spec.layers[0], activation=FixedTypes(np.zeros(2, int), np.ones(2, int), np.ones(2, int)))


@needs_rtl_tools
def test_the_da4ml_network_of_an_hgq_spec_rounds_half_up_like_the_spec(tmp_path):
    """da4ml's interpreter equals the exact evaluation on every sample, ties and saturating values included."""
    spec = hgq_like_spec()
    x = spec.quantize_inputs(np.random.default_rng(2).normal(0, 2, (600, 4)))
    reference = spec.predict_logits(x)
    spec.save(tmp_path / "spec.npz", x=x, reference=reference)
    report = rtl.run_worker(tmp_path / "spec.npz", tmp_path, latency_cutoff=2, verilator=False)
    assert report["interpreter"]["bit_exact"], report["interpreter"]


@pytest.mark.slow
@needs_rtl_tools
def test_the_firmware_of_a_trained_hgq_tagger_is_the_trained_model_wherever_it_does_not_saturate(tmp_path):
    """Trained briefly: the Verilator simulation equals the exported network on every jet, and the exported network
    equals the Keras model on every jet where no value leaves the range recorded on the training jets."""
    from qaplib import experiments
    from qaplib.firmware.report import firmware_report
    from qaplib.hgq import build_hgq_model, set_hgq_weights
    from qaplib.lifecycle import train_runs
    from qaplib.profiles import get_profile
    from qaplib.runs import cached_jets

    spec = experiments.hgq_spec(get_profile("smoke"), 1e-6)
    spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, max_epochs=2))
    result = train_runs([spec])[0]
    model = build_hgq_model(spec.model.widths, spec.hgq.beta)
    set_hgq_weights(model, result.weights[0])
    jets = cached_jets(spec.data)
    x, labels = jets.x_test[:400] * 1.5, jets.y_test[:400]  # wider than the training jets: some values saturate
    report = firmware_report(model, x, tmp_path, labels=labels, synthesis=False)
    export, simulated = report.export, report.rtl.verilator
    assert report.csim is None and simulated["exact_network_fraction"] == 1.0, simulated
    assert 0 < export.saturated_fraction < 1 and export.identical_unsaturated_fraction == 1.0, export
    assert simulated["bit_exact_fraction"] == export.identical_fraction < 1


def test_a_zero_width_neuron_counts_as_saturated_only_where_its_own_grid_would_round_to_non_zero():
    """HGQ keeps the grid of a neuron that was 0 on every training jet (here steps of 8): the trained model outputs
    a non-zero value only from 4 on, and only there does the firmware's constant 0 differ from it."""
    dead = FixedTypes(np.zeros(1, int), np.array([3]), np.array([-3]))
    assert dead.width[0] == 0 and dead.max[0] == 0 and dead.lsb[0] == 8
    layer = DenseLayer("fc1", np.array([[1.0]]), np.array([0.0]), FixedType(4, 2), FixedType(4, 2), activation=dead)
    spec = NetworkSpec(FixedTypes(np.ones(1, int), np.array([3]), np.array([2])), (
        layer, DenseLayer("fc2", np.array([[1.0]]), np.array([0.0]), FixedType(4, 2), FixedType(4, 2),
                          output=FixedTypes(np.ones(1, int), np.array([1]), np.array([0])))))  # fmt: skip
    assert spec.saturated(np.array([[3.75], [4.0], [-6.0]])).tolist() == [False, True, False]
    assert spec.predict_logits(np.array([[5.0]])).tolist() == [[0.0]]
