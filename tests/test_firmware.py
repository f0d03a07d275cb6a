"""Firmware export, hls4ml C-sim bit-exactness, error reporting, and (when the tools exist) da4ml RTL + Yosys."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from qaplib import layer_chain
from qaplib.errors import FirmwareError
from qaplib.firmware import export, hls, rtl, synth
from qaplib.firmware.labels import EMULATED, RTL_SIMULATED, SYNTHESISED
from qaplib.firmware.spec import DenseLayer, NetworkSpec
from qaplib.fixed import FixedType
from qaplib.models import ModelSpec, build_model, logits_model


def random_tagger(spec: ModelSpec, sparsity: float = 0.0, seed: int = 0):
    """``build_model(spec)`` with random batch-norm statistics and the smallest ``sparsity`` of each kernel zeroed."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_model(spec)
    for layer in model.layers:
        if layer.name.startswith("bn"):
            n = layer.weights[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 2, n), rng.normal(0, 0.3, n), rng.normal(0, 0.3, n), rng.uniform(0.2, 2, n)])
        elif layer.name.startswith("fc") and sparsity:
            kernel, bias = layer.get_weights()
            layer.set_weights([np.where(np.abs(kernel) < np.quantile(np.abs(kernel), sparsity), 0.0, kernel), bias])
    return model


def features(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 16)).astype(np.float32)


# --- fixed-point types ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantizer", "fixed_type"),
    [
        ("quantized_bits(6,0,alpha=1)", FixedType(6, 1)),
        ("quantized_bits(16,5,alpha=1)", FixedType(16, 6)),
        ("quantized_bits(8,3,alpha=1)", FixedType(8, 4)),
        ("quantized_relu(6,3)", FixedType(6, 3, False)),
        ("quantized_relu(4,2)", FixedType(4, 2, False)),
    ],
)
def test_fixed_type_rounds_like_qkeras(quantizer, fixed_type):
    from qkeras.quantizers import get_quantizer

    rng = np.random.default_rng(0)
    ties = (rng.integers(-300, 300, 2000) + 0.5) * fixed_type.lsb  # exactly halfway: half-to-even vs half-up
    values = np.concatenate([ties, rng.normal(0, 3, 2000), [1e3, -1e3]]).astype(np.float32)
    expected = get_quantizer(quantizer)(values).numpy().astype(np.float64)
    assert np.array_equal(fixed_type.quantize(values), expected)
    assert np.any(fixed_type.quantize(ties) != np.floor(ties / fixed_type.lsb + 0.5) * fixed_type.lsb)  # not half-up


def test_fixed_type_hls_string_and_range():
    assert FixedType(16, 6).hls() == "fixed<16,6,RND_CONV,SAT>"
    assert FixedType(6, 3, False).hls() == "ufixed<6,3,RND_CONV,SAT>"
    assert (FixedType(16, 6).min, FixedType(16, 6).max) == (-32.0, 32.0 - 2**-10)
    assert FixedType.covering(np.array([-1.5, 3.25]), fraction=2, min_integer=1) == FixedType(5, 3)


@pytest.mark.parametrize("batchnorm", export.BATCHNORM_EXPORTS)
def test_spec_file_round_trip(tmp_path, batchnorm):
    spec = export.export_network(random_tagger(ModelSpec(bits=6, widths=(8,)), sparsity=0.5), batchnorm=batchnorm)
    x = features(10)
    spec.save(tmp_path / "spec.npz", x=x)
    loaded, arrays = NetworkSpec.load(tmp_path / "spec.npz")
    assert loaded.describe() == spec.describe()
    assert all(
        np.array_equal(a.kernel, b.kernel) and np.array_equal(a.bias, b.bias)
        for a, b in zip(loaded.layers, spec.layers, strict=True)
    )
    stages = [(a.batchnorm, b.batchnorm) for a, b in zip(loaded.layers, spec.layers, strict=True)]
    assert all((a is None) == (b is None) for a, b in stages)
    assert all(np.array_equal(a.scale, b.scale) and np.array_equal(a.shift, b.shift) for a, b in stages if a is not None)
    assert np.array_equal(arrays["x"], x) and np.array_equal(loaded.predict_logits(x), spec.predict_logits(x))


# --- export: batch-norm folding -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_folding_moves_each_pre_activation_by_at_most_the_rounding_bound():
    """|exported fc1 - trained bn1| <= (sum_i |x_i| + 1) * 2**-bits: each folded weight and bias is rounded by <= 2**-bits."""
    import tensorflow as tf

    bits = 6
    model = random_tagger(ModelSpec(bits=bits), sparsity=0.5)
    spec = export.export_network(model, batchnorm=export.ROUNDED_FOLD)
    exported = export.qkeras_model(spec)
    x = spec.quantize_inputs(features(2000)).astype(np.float32)
    trained_bn1 = tf.keras.Model(model.input, model.get_layer("bn1").output).predict(x, verbose=0)
    exported_fc1 = tf.keras.Model(exported.input, exported.get_layer("fc1").output).predict(x, verbose=0)
    bound = (np.abs(x).sum(axis=1, keepdims=True) + 1) * 2.0**-bits
    difference = np.abs(trained_bn1.astype(np.float64) - exported_fc1)
    assert np.all(difference <= bound + 1e-5)
    assert difference.max() > 0  # the fold really re-quantized something
    assert [layer.folded for layer in spec.layers] == ["bn1", "bn2", "bn3", None]
    assert all(layer.kernel_type.fraction == bits - 1 for layer in spec.layers)  # the trained grid is kept
    pruned = model.get_layer("fc2").kernel.numpy() == 0
    assert np.all(spec.layers[1].kernel[pruned] == 0)  # pruned weights stay exactly zero


@pytest.mark.parametrize("model_spec, sparsity", [(ModelSpec(bits=6), 0.0), (ModelSpec(bits=4), 0.8),
                                                  (ModelSpec(bits=6, input_bits=8), 0.5)])  # fmt: skip
@pytest.mark.slow
def test_the_default_export_is_the_trained_network(model_spec, sparsity):
    """Batch normalisation kept as a stage: the exported network's exact logits are the trained model's, jet for jet,
    on float inputs (the input port holds float32 features to 2**-26); its constants are hls4ml's."""
    model = random_tagger(model_spec, sparsity)
    spec = export.export_network(model)
    x = features(5000)
    assert np.array_equal(spec.predict_logits(x), export.trained_logits(model, x))
    stage = spec.layers[0].batchnorm
    scale, shift = export.hls4ml_batchnorm_values(model.get_layer("bn1"))
    assert stage.name == "bn1" and stage.scale_type.fraction == stage.result_type.fraction == 24
    assert np.all(np.abs(stage.scale - scale) <= 2.0**-25) and np.all(np.abs(stage.shift - shift) <= 2.0**-25)
    assert [layer.kernel_type.fraction for layer in spec.layers] == [model_spec.bits - 1] * 4  # the trained grid
    assert all(layer.folded is None for layer in spec.layers)
    with pytest.raises(FirmwareError, match="is the trained model itself"):
        export.qkeras_model(spec)


@pytest.mark.slow
def test_the_rounded_fold_is_a_different_network():
    """Negative control: folding batch normalisation and rounding the weights back changes the logits of most jets."""
    model = random_tagger(ModelSpec(bits=6), 0.5)
    x = features(3000)
    report = export.export_report(model, export.export_network(model, batchnorm=export.ROUNDED_FOLD), x,
                                  batchnorm=export.ROUNDED_FOLD)  # fmt: skip
    assert report.identical_fraction < 0.5 and report.max_abs_logit_diff > 0.05 and report.batchnorm == "rounded fold"


def test_batchnorm_stage_rounds_half_to_even_and_saturates_exactly():
    from qaplib.firmware.spec import BatchnormStage

    stage = BatchnormStage("bn", np.array([0.5, 3.0, -1.0, 0.5]), np.array([2.0**-25, 0.0, 0.0, 0.0]), FixedType(8, 3),
                           FixedType(28, 2), FixedType(6, 3))  # result: [-4, 3.875], step 2**-3  # fmt: skip
    z = np.array([[3 * 2.0**-24, 1.0, 1.0, 0.0], [0.375, 5.0, 5.0, 0.625]])
    y = stage.apply(z, FixedType(32, 8))
    assert y[0].tolist() == [0.0, 3.0, -1.0, 0.0]  # 1.5 * 2**-24 + 2**-25 = 2**-23 rounds to 0
    # 0.1875 + 2**-25 is just above a tie: up; 15 and -5 saturate; 0.3125 is a tie: to the even 0.25 (half-up: 0.375)
    assert y[1].tolist() == [0.25, 3.875, -4.0, 0.25]


@pytest.mark.slow
def test_export_without_batchnorm_reproduces_the_trained_logits_exactly():
    model = random_tagger(ModelSpec(bits=6, batchnorm=False, input_bits=8))
    spec = export.export_network(model)
    x = features(2000)
    trained = logits_model(model).predict(x, verbose=0)
    exported = export.qkeras_model(spec, softmax=False).predict(x, verbose=0)
    assert np.array_equal(trained, exported)
    assert spec.input_type == FixedType(8, 4)  # the model's quantized_bits(8, 3) input quantizer


@pytest.mark.slow
def test_export_report_gives_both_accuracies_of_a_trained_model():
    from qaplib.train import TrainSettings, fit

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(5, 16)) * 0.8
    labels = rng.integers(0, 5, 9000)
    x = (centers[labels] + rng.normal(size=(9000, 16))).astype(np.float32)
    model = build_model(ModelSpec(bits=6, widths=(16, 8)))
    fit(
        model,
        x[:6000],
        labels[:6000],
        x[6000:7000],
        labels[6000:7000],
        TrainSettings(learning_rate=3e-3, max_epochs=5, patience=5, batch_size=256),
        seed=0,
    )
    report = export.export_report(model, export.export_network(model), x[7000:], labels[7000:])
    assert report.trained_accuracy > 0.6  # the blobs are learnable; a broken export would show below
    assert report.exported_accuracy == report.trained_accuracy and report.argmax_agreement == 1.0
    assert report.identical_fraction == 1.0 and report.max_abs_logit_diff == 0.0 and report.batchnorm == "stage"
    assert report.input_type_source.startswith("default fixed<32,6")


# --- errors name the layer, before anything expensive ------------------------------------------------------------


def _with_extra_layer(layer):
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    inputs = tf.keras.Input(shape=(16,), name="features")
    x = QDense(8, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 0, alpha=1), name="fc1")(
        inputs
    )
    x = layer(x)
    x = QActivation(quantized_relu(6, 3), name="relu1")(x)
    x = QDense(5, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 0, alpha=1), name="fc2")(x)
    return tf.keras.Model(inputs, tf.keras.layers.Activation("softmax", name="softmax")(x))


def test_unsupported_layer_is_named_before_any_compile(tmp_path):
    import tensorflow as tf

    from qaplib.firmware.report import firmware_report

    model = _with_extra_layer(tf.keras.layers.LayerNormalization(name="odd_layernorm"))
    with pytest.raises(FirmwareError, match="odd_layernorm"):
        firmware_report(model, features(10), tmp_path)
    assert not any(tmp_path.iterdir())  # nothing was converted or compiled


def test_inexact_quantizer_is_named():
    import tensorflow as tf
    from qkeras import QDense, quantized_bits

    inputs = tf.keras.Input(shape=(16,), name="features")
    x = QDense(
        5, kernel_quantizer=quantized_bits(6, 0, alpha="auto_po2"), bias_quantizer=quantized_bits(6, 0, alpha=1), name="fc_po2"
    )(inputs)
    model = tf.keras.Model(inputs, tf.keras.layers.Activation("softmax", name="softmax")(x))
    with pytest.raises(FirmwareError, match="fc_po2.*alpha"):
        export.export_network(model)


@pytest.mark.slow
def test_pruning_wrapper_is_named():
    import tensorflow_model_optimization as tfmot

    wrapped = tfmot.sparsity.keras.prune_low_magnitude(build_model(ModelSpec(bits=32)))
    with pytest.raises(FirmwareError, match="prune_low_magnitude_fc1.*strip_pruning"):
        layer_chain.check_supported(wrapped)


# --- hls4ml C-simulation ----------------------------------------------------------------------------------------


def _csim(model, spec, x, tmp_path, batchnorm=export.STAGE):
    """hls.csim_report as the firmware flow calls it: the trained model against its own logits, or for a rounded
    fold the exported QKeras model against its float64 evaluation."""
    if batchnorm == export.STAGE:
        return hls.csim_report(spec, logits_model(model), x, export.trained_logits(model, x), hls.REFERENCES[batchnorm],
                               tmp_path / "hls")  # fmt: skip
    return hls.csim_report(spec, export.qkeras_model(spec, softmax=False), x, export.reference_logits(spec, x),
                           hls.REFERENCES[batchnorm], tmp_path / "hls")  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model_spec", "sparsity", "batchnorm"),
    [(ModelSpec(bits=6), 0.0, export.STAGE), (ModelSpec(bits=6, input_bits=8), 0.8, export.STAGE),
     (ModelSpec(bits=6), 0.0, export.ROUNDED_FOLD)],
    ids=["dense", "pruned80-input8", "rounded-fold"],
)  # fmt: skip
def test_csim_logits_are_bit_exact_with_the_model_they_implement(tmp_path, model_spec, sparsity, batchnorm):
    model = random_tagger(model_spec, sparsity)
    spec = export.export_network(model, batchnorm=batchnorm)
    n_weights = spec.describe()["n_weights"]
    if sparsity:
        assert spec.describe()["n_nonzero"] <= (1 - sparsity) * n_weights + 1
    x = features(2000)
    report = _csim(model, spec, x, tmp_path, batchnorm)
    assert report.provenance == EMULATED
    assert report.n_samples == 2000
    assert report.bit_exact and report.bit_exact_fraction == 1.0 and report.max_abs_diff == 0.0
    assert report.spec_exact_fraction == 1.0
    accumulator = spec.accumulator_types()[0]
    assert report.precisions["fc1"]["accum"].startswith(f"fixed<{accumulator.width},{accumulator.integer},")
    if batchnorm == export.STAGE:
        assert report.reference == hls.REFERENCES["stage"] and report.reference_exact_fraction is None
        stage = spec.layers[0].batchnorm
        assert report.precisions["bn1"]["scale"].startswith(f"fixed<{stage.scale_type.width},{stage.scale_type.integer},")
        assert report.hls_config["LayerName"]["bn1"]["Precision"]["result"] == stage.result_type.hls()
    else:  # QKeras's float32 ReLU input cannot hold fc1's 31 fraction bits (32-bit inputs), hence the float64 reference
        assert report.reference_exact_fraction is not None and "exported QKeras model" in report.reference
        assert report.rounding_ties > 0  # half-up rounding anywhere would have broken exactness


@pytest.mark.slow
@pytest.mark.parametrize("narrowed", ["accumulators", "batch norm"])
def test_csim_comparison_detects_too_narrow_precisions(tmp_path, monkeypatch, narrowed):
    """Negative controls: the hls4ml tutorials' ap_fixed<16,6> for every accumulator and result, or a batch-norm
    stage at 12 fraction bits instead of 24, is caught."""
    model = random_tagger(ModelSpec(bits=6, widths=(16, 8)))
    spec = export.export_network(model)
    original = hls.hls_config

    def narrow(spec, keras_model):
        config = original(spec, keras_model)
        for layer in spec.layers:
            if narrowed == "accumulators":
                config["LayerName"][layer.name]["Precision"].update(accum="fixed<16,6>", result="fixed<16,6>")
                config["LayerName"][f"{layer.name}_linear"]["Precision"]["result"] = "fixed<16,6>"
            elif layer.batchnorm is not None:
                config["LayerName"][layer.batchnorm.name]["Precision"].update(scale="fixed<16,4,RND_CONV,SAT>")
        return config

    monkeypatch.setattr(hls, "hls_config", narrow)
    report = _csim(model, spec, features(2000), tmp_path)
    assert not report.bit_exact and report.bit_exact_fraction < 1.0 and report.max_abs_diff > 0
    assert "NOT bit-exact" in report.note


@pytest.mark.slow
def test_float_model_csim_is_reported_as_approximate(tmp_path):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model = build_model(ModelSpec(bits=32, widths=(16, 8)))
    report = hls.float_csim_report(model, features(2000), tmp_path / "hls")
    assert report.provenance == EMULATED and not report.bit_exact and "not bit-exact" in report.note
    assert report.reference_exact_fraction is None
    assert report.argmax_agreement > 0.95 and report.max_abs_diff < 0.05


# --- da4ml RTL, Verilator, Yosys ----------------------------------------------------------------------------------

needs_rtl_tools = pytest.mark.skipif(  # CI installs both (.ci/run), so there it fails instead of skipping
    not (rtl.firmware_env_available() and synth.yosys_available()) and not os.environ.get("CI"),
    reason="needs the da4ml environment (make firmware-env) and yosys (apt-get install yosys)",
)


@pytest.mark.slow
@needs_rtl_tools
def test_rtl_is_bit_exact_in_verilator_and_synthesises(tmp_path):
    """A rounded fold (whose ReLU rounding ties test round-half-to-even), against its exported QKeras model."""
    spec = export.export_network(random_tagger(ModelSpec(bits=6, widths=(8,), input_bits=8), sparsity=0.5),
                                 batchnorm=export.ROUNDED_FOLD)  # fmt: skip
    x = features(1500)
    assert spec.rounding_ties(x) >= 10  # round-half-up ReLUs would fail on these samples
    reference = export.reference_logits(spec, x)
    perturbed = reference.copy()
    perturbed[0, 0] += 2.0**-10  # one sample off by a small step: the comparison must see exactly that one
    report = rtl.rtl_report(spec, x, perturbed, tmp_path, latency_cutoff=4)
    assert report.provenance == RTL_SIMULATED and report.n_samples == 1500
    assert report.verilator["bit_exact_fraction"] == 1499 / 1500 and report.verilator["max_abs_diff"] == 2.0**-10
    assert report.interpreter["bit_exact_fraction"] == 1499 / 1500
    assert report.verilator["exact_network_fraction"] == 1.0  # the RTL computes the network; the reference was off
    assert report.pipeline_stages >= 2 and report.latency_cycles == report.pipeline_stages + 1
    synthesis = report.synthesis
    assert synthesis.provenance == SYNTHESISED and synthesis.tool.startswith("Yosys")
    assert synthesis.lut > 0 and synthesis.ff > 0 and synthesis.dsp == 0


@pytest.mark.slow
@needs_rtl_tools
def test_the_rtl_of_the_trained_network_gives_the_trained_logits(tmp_path):
    """Batch norm as a stage, float inputs on the 32-bit port: the Verilator simulation equals the trained QKeras model
    on every sample, saturating neurons included (their operations are wider than 64 bits)."""
    model = random_tagger(ModelSpec(bits=6, widths=(16, 8)), sparsity=0.5)
    spec = export.export_network(model)
    x = features(3000) * 3  # large inputs drive neurons into saturation
    trained = export.trained_logits(model, x)
    report = rtl.rtl_report(spec, x, trained, tmp_path, latency_cutoff=8, synthesis=False)
    assert report.bit_exact and report.verilator["bit_exact_fraction"] == 1.0, report.verilator
    assert report.synthesis is None


def test_yosys_stat_parsing():
    text = (
        "   Number of cells:               1726\n     CARRY4    243\n     FDRE     284\n     FDSE    6\n     INV   164\n"
        "     LUT2    656\n     LUT6   29\n     DSP48E2   3\n     MUXF7  17\n"
    )
    summary = synth.summarise(synth.parse_stat(text))
    assert summary == {"lut": 685, "inverters": 164, "ff": 290, "carry": 243, "dsp": 3, "bram": 0, "muxf": 17}


def test_firmware_table_labels_every_column_with_its_source():
    from qaplib.firmware import labels, summary

    report = {"quantized": True, "csim": {"bit_exact_fraction": 1.0, "argmax_agreement": 1.0, "n_samples": 20000,
                                          "max_abs_diff": 0.0},
              "export": {"exported_accuracy": 0.69, "trained_accuracy": 0.69},
              "rtl": {"latency_cycles": 5, "n_samples": 20000,
                      "verilator": {"bit_exact_fraction": 0.99995, "argmax_agreement": 1.0, "max_abs_diff": 0.125},
                      "synthesis": {"lut": 100, "ff": 10, "carry": 5, "dsp": 0}}}  # fmt: skip
    rounded = {"export": {"argmax_agreement": 0.958, "exported_accuracy": 0.692},
               "rtl": {"latency_cycles": 4, "synthesis": {"lut": 40}}}  # fmt: skip
    row = summary.firmware_row(report, 6, 0.8, 160_000, 150_000, 0.70, rounded)
    assert row["LUT"] == 100 and row["latency [cycles]"] == 5 and row["logits differ (C-sim)"] == 0
    assert row["logits differ (RTL)"] == 1 and row["largest logit difference (RTL)"] == 0.125  # 1 of 20,000 jets
    assert row["accuracy (trained)"] == 0.69 and row["LUT added by the stages"] == 1.5 and row["test jets"] == 20000
    assert row["same decision (rounded fold)"] == 0.958 and row["largest logit difference"] == 0.0
    assert np.isnan(row["logits differ (RTL vs exact)"])  # a report without the comparison: unknown, not 0
    table = summary.labelled(pd.DataFrame([row]))
    sources = dict((c, s) for s, c in table.columns)
    assert sources["LUT"] == labels.SYNTHESISED and sources["logits differ (C-sim)"] == labels.EMULATED
    assert sources["logits differ (RTL)"] == labels.RTL_SIMULATED
    assert sources["latency [cycles]"] == labels.RTL_SIMULATED and sources["same decision (rounded fold)"] == labels.EXACT
    float_report = {"quantized": False, "csim": {"bit_exact_fraction": 0.0, "argmax_agreement": 0.9994},
                    "export": None, "rtl": None}
    float_row = summary.firmware_row(float_report, 32, 0.0, 4_652_832, 4_652_832, 0.7)
    assert np.isnan(float_row["LUT"]) and np.isnan(float_row["accuracy (firmware)"]) and float_row["accuracy (trained)"] == 0.7
    assert np.isnan(float_row["logits differ (C-sim)"]) and float_row["same decision"] == 0.9994  # never a bare 0
    html = summary.styled(pd.DataFrame([row, float_row]), summary.ACCURACY_COLUMNS + summary.HARDWARE_COLUMNS[2:]).to_html()
    assert "n/a" in html and "no fixed-point network" in html and "99.94 %" in html and "0.0000" not in html
    assert "float (32-bit)" in html and "80.0 %" in html and "160,000" in html and "150,000" in html


def test_firmware_cache_key_changes_with_every_setting():
    from qaplib.firmware.cache import firmware_key

    base = firmware_key("abc", 3, 10000, True, True, 8.0)
    variants = [("abd", 3, 10000, True, True, 8.0), ("abc", 4, 10000, True, True, 8.0), ("abc", 3, 5000, True, True, 8.0),
                ("abc", 3, 10000, False, True, 8.0), ("abc", 3, 10000, True, False, 8.0), ("abc", 3, 10000, True, True, 6.0),
                ("abc", 3, 10000, True, True, 8.0, "rounded fold"), ("abc", 3, 10000, True, True, 8.0, "stage", False)]
    assert len({firmware_key(*v) for v in variants} | {base}) == len(variants) + 1


def constant_neuron_spec(batchnorm: bool = False) -> NetworkSpec:
    """A hand-made pruned network: an unused input, hidden neurons with no non-zero weights (constant, their bias:
    rounded down, ties to even both ways, negative, saturating), a hidden neuron fed only by constants, and a logit
    that is a pure constant. 0.28125 = 0.01001b onto ufixed<6,3> is 0.25; da4ml 0.6 folded it to 0.375."""
    kernel_type, bias_type, relu = FixedType(6, 2), FixedType(10, 5), FixedType(6, 3, False)
    bias1 = np.array([0.0, 0.28125, 0.3125, 0.4375, -0.5, 0.15625, 9.03125])
    rng = np.random.default_rng(3)
    fc1 = np.zeros((4, 7))  # input 3 unused; neurons 1-4 and 6 constant
    fc1[:3, [0, 5]] = kernel_type.quantize(rng.normal(0, 0.6, (3, 2)))
    fc2 = np.zeros((7, 3))  # neuron 0: constants only, 0.25 * 0.25 + 0.5 * 0.5 - 0.03125 = 0.28125 again
    fc2[[2, 3], 0] = [0.25, 0.5]
    fc2[:, 2] = kernel_type.quantize(rng.normal(0, 0.6, 7))
    fc3 = np.zeros((3, 3))  # logit 0 constant, logit 1 from the constant neuron only
    fc3[0, 1], fc3[:, 2] = 0.75, [0.5, -1.25, 1.0]
    stage = None
    if batchnorm:  # a batch-norm stage after fc1, constant neurons included; its result rounds 14 fraction bits to 7
        from qaplib.firmware.spec import BatchnormStage

        stage = BatchnormStage("bn1", np.array([1.5, 0.75, -0.5, 2.0, 1.0, 0.25, 1.25]),
                               np.array([0.0625, -0.125, 0.5, 0.0, 0.03125, 0.0, -0.25]), FixedType(8, 3),
                               FixedType(10, 3), FixedType(11, 4))  # fmt: skip
    return NetworkSpec(
        FixedType(8, 3),
        (
            DenseLayer("fc1", fc1, bias1, kernel_type, bias_type, relu, batchnorm=stage),
            DenseLayer("fc2", fc2, np.array([-0.03125, 0.0, 0.0625]), kernel_type, bias_type, relu),
            DenseLayer("fc3", fc3, np.array([0.40625, -0.1875, 0.0]), kernel_type, bias_type),
        ),
    )


@pytest.mark.parametrize("batchnorm", [False, True], ids=["no-bn", "bn-stage"])
@pytest.mark.parametrize("verilator", [False, pytest.param(True, marks=pytest.mark.slow)])
@needs_rtl_tools
def test_rtl_is_bit_exact_with_constant_neurons(tmp_path, verilator, batchnorm):
    spec = constant_neuron_spec(batchnorm)
    x = spec.quantize_inputs(np.random.default_rng(4).normal(0, 2, (300, 4)))
    reference = spec.predict_logits(x)
    assert np.all(reference[:, 0] == 0.40625) and np.ptp(reference[:, 1]) == 0
    if not batchnorm:
        assert np.all(reference[:, 1] == 0.75 * 0.25 - 0.1875)
    spec.save(tmp_path / "spec.npz", x=x, reference=reference)
    report = rtl.run_worker(tmp_path / "spec.npz", tmp_path, latency_cutoff=2, verilator=verilator)
    assert report["interpreter"]["bit_exact"], report["interpreter"]
    assert (report["verilator"] or {}).get("bit_exact", not verilator), report["verilator"]


def test_firmware_verdict_names_the_largest_and_smallest_design():
    from qaplib.firmware import summary

    table = pd.DataFrame({"bits": [32, 6, 6, 4], "weights pruned": [0.0, 0.0, 0.9, 0.8], "BOPs": [4e6, 4e5, 1.6e5, 1.45e5],
                          "effective BOPs": [4e6, 3.5e5, 1.4e5, 1.5e5], "test jets": [20_000] * 4,
                          "logits differ (C-sim)": [np.nan, 0, 0, 20], "largest logit difference": [np.nan, 0, 0, 0.25],
                          "same decision": [0.999, 1.0, 1.0, 0.9995],
                          "logits differ (RTL)": [np.nan, 0, 20_000, 20], "largest logit difference (RTL)": [np.nan, 0, 36, 0.25],
                          "same decision (RTL)": [np.nan, 1.0, 0.687, 0.9995],
                          "logits differ (Keras float32 vs exact)": [np.nan, 0, 0, 20],
                          "logits differ (C-sim vs exact)": [np.nan, 0, 0, 0],
                          "logits differ (RTL vs exact)": [np.nan, 0, 20_000, 0],
                          "same decision (rounded fold)": [np.nan, 0.95, 0.96, 0.91],
                          "LUT added by the stages": [np.nan, 1.2, 1.5, 1.3],
                          "LUT": [np.nan, 37_699, 7_283, 9_607]})  # fmt: skip
    text = summary.firmware_verdict(table)
    assert text.startswith("Models whose firmware gives exactly the trained QKeras model's logits on all 20,000 test jets, "
                           "so the same decision on every one: hls4ml C-sim: 2 of 3; the other one (4-bit 80% pruned) computes "
                           "the trained network's exact fixed-point arithmetic on every jet and differs only where its float32 "
                           "Keras evaluation rounds: on 20 jets, largest logit difference 0.25, same decision on 99.95 %; "
                           "Verilator RTL (da4ml): 1 of 3; the other one (4-bit 80% pruned) computes the trained network's exact "
                           "fixed-point arithmetic on every jet and differs only where its float32 Keras evaluation rounds: on "
                           "20 jets, largest logit difference 0.25, same decision on 99.95 % (6-bit 90% pruned: other "
                           "logits on 20,000 jets, largest difference 36, same decision on 68.70 %, and it misses the exact "
                           "fixed-point arithmetic of the network on 20,000 jets)")
    assert "costs +120.0 % to +150.0 % LUTs" in text and "on only 91.00 % to 96.00 % of jets" in text
    assert "from 37,699 (6-bit, 0% pruned) down to 7,283 (6-bit, 90% pruned), 5.2× fewer" in text
    # LUT ranks 3, 1, 2; paper BOPs 3, 2, 1 (rho +0.50); effective BOPs 3, 1, 2 (rho +1.00)
    assert "rank correlation of LUTs with the paper's BOPs is +0.50 and with the effective BOPs +1.00" in text
    assert text.endswith("the effective count predicts the hardware better.")
    tied = table.assign(**{"effective BOPs": [4e6, 4.4e5, 1.65e5, 1.44e5]})  # same ranks as the paper count
    r2 = summary.lut_log_fit_r2(tied.dropna(subset=["LUT"]))
    logs = np.log10(tied.dropna(subset=["LUT"])[["LUT", "BOPs"]])
    assert r2["BOPs"] == pytest.approx(np.corrcoef(logs["LUT"], logs["BOPs"])[0, 1] ** 2)
    assert f"R² = {r2['BOPs']:.2f} of the spread in log LUTs" in summary.firmware_verdict(tied)


@pytest.mark.parametrize("damage", ["truncate", "edit", "other key", "garbage"])
def test_a_damaged_firmware_report_is_recomputed_not_served(tmp_path, monkeypatch, damage):
    import json

    from qaplib.firmware import cache
    from qaplib.store import ResultStore

    calls = []

    class FakeReport:
        def to_dict(self):
            calls.append(1)
            return {"csim": {"bit_exact_fraction": 1.0}, "quantized": True}

    monkeypatch.setattr(cache, "firmware_report", lambda *args, **kwargs: FakeReport())
    store = ResultStore(tmp_path)
    monkeypatch.setattr(store, "load_model", lambda key, phase: None)
    x, y = np.zeros((4, 16)), np.zeros(4, dtype=int)
    first = cache.cached_firmware_report(store, "run-key", 3, x, y, tmp_path / "work")
    again = cache.cached_firmware_report(store, "run-key", 3, x, y, tmp_path / "work")
    assert first == again and len(calls) == 1  # a sound report is served, not recomputed
    path = tmp_path / "firmware" / f"{first['key']}.json"
    text = path.read_text()
    damaged = {"truncate": text[: len(text) // 2], "garbage": "\x00\xff not json",
               "edit": text.replace('"bit_exact_fraction": 1.0', '"bit_exact_fraction": 0.5'),
               "other key": json.dumps({**json.loads(text), "key": "another"})}[damage]  # fmt: skip
    assert damaged != text
    path.write_text(damaged)
    assert cache.reports_in(tmp_path).read(first["key"]) is None
    assert cache.cached_firmware_report(store, "run-key", 3, x, y, tmp_path / "work") == first and len(calls) == 2


@pytest.mark.slow
def test_a_committed_model_converted_with_its_stored_hls4ml_configuration_is_the_trained_model(tmp_path):
    """What a reader does (README): chapter 8's 6-bit, 80 %-pruned model from the committed store, its stored hls4ml
    configuration, plain hls4ml, the raw test features. The C-sim logits are the trained model's on every test jet;
    with one batch-norm scale planted 10 fraction bits narrower they are not."""
    import copy
    import json

    import hls4ml

    from qaplib import data, experiments
    from qaplib.firmware.cache import hls_config_path
    from qaplib.profiles import get_profile
    from qaplib.runs import run_key
    from qaplib.store import COMMITTED_ROOT, ResultStore

    ((spec, phase),) = experiments.firmware_models(get_profile("default"), [[6, 0.8]])
    key = run_key(spec)
    model = logits_model(ResultStore(COMMITTED_ROOT).load_model(key, phase))
    config = json.loads((COMMITTED_ROOT / hls_config_path(key, phase)).read_text())
    x = data.load_jets(spec.data).x_test
    trained = model.predict(x, batch_size=8192, verbose=0).astype(np.float64)

    def firmware(configuration: dict, name: str) -> np.ndarray:
        converted = hls4ml.converters.convert_from_keras_model(
            model, hls_config=configuration, output_dir=str(tmp_path / name), backend="Vitis", io_type="io_parallel",
            part=hls.PART, clock_period=hls.CLOCK_PERIOD_NS)  # fmt: skip
        converted.compile()
        return np.asarray(converted.predict(np.ascontiguousarray(x, dtype=np.float64)), np.float64).reshape(len(x), -1)

    assert len(x) == 20_000 and np.array_equal(firmware(config, "stored"), trained)
    narrow = copy.deepcopy(config)
    scale = narrow["LayerName"]["bn1"]["Precision"]["scale"]  # fixed<W,I,RND_CONV,SAT>
    width, integer = (int(v) for v in scale[scale.index("<") + 1 :].split(",")[:2])
    narrow["LayerName"]["bn1"]["Precision"]["scale"] = f"fixed<{width - 10},{integer},RND_CONV,SAT>"
    planted = firmware(narrow, "narrow")
    # 2**-14 instead of 2**-24 on bn1's scale moves some pre-activations across a ReLU rounding boundary: measured, 33
    # of the 20,000 jets get other logits; the comparison must see them
    assert int(np.sum(np.any(planted != trained, axis=1))) >= 10


@needs_rtl_tools
@pytest.mark.slow
def test_the_verilog_of_a_sparse_committed_model_adds_its_biases_exactly(tmp_path):
    """Chapter 8's 6-bit, 90 %-pruned model: da4ml 0.6 kept one logit's matrix product as an integer times 2**-69, and
    the bias added after it overflowed (that logit was 2**-8 off on every jet). With the biases inside the product
    (rtl_worker.affine) da4ml's bit-exact interpreter gives the exported network's logits on 2,000 test jets."""
    from qaplib import data, experiments
    from qaplib.firmware.export import export_network
    from qaplib.profiles import get_profile
    from qaplib.runs import run_key
    from qaplib.store import COMMITTED_ROOT, ResultStore

    ((spec, phase),) = experiments.firmware_models(get_profile("default"), [[6, 0.9]])
    network = export_network(ResultStore(COMMITTED_ROOT).load_model(run_key(spec), phase))
    x = network.quantize_inputs(data.first_test_jets(data.load_jets(spec.data), 2000)[0])
    network.save(tmp_path / "spec.npz", x=x, reference=network.predict_logits(x))
    report = rtl.run_worker(tmp_path / "spec.npz", tmp_path, latency_cutoff=8, verilator=False)
    assert report["interpreter"]["bit_exact"] and report["n_samples"] == 2000, report["interpreter"]


def test_a_constant_addend_one_bit_short_is_widened_to_its_literal():
    from qaplib.firmware.rtl_worker import widen_short_constants

    short = ("wire [49:0] v723; shift_adder #(40, 49, 1, 0, 50, 0, 0) op_723 (v686[39:0], 49'b1" + "0" * 49
             + ", v723[49:0]); // 5.0\n")  # fmt: skip
    assert widen_short_constants(short) == short.replace("#(40, 49,", "#(40, 50,").replace("49'b1", "50'b1")
    fitting = "shift_adder #(12, 3, 1, 0, 13, -2, 1) op_9 (v8[11:0], 3'b101, v9[12:0]);\n"
    assert widen_short_constants(fitting) == fitting


@needs_rtl_tools
@pytest.mark.slow
@pytest.mark.parametrize("model", [(4, 0.8), (6, 0.5)], ids=["4-bit-80", "6-bit-50"])
def test_the_pipelined_verilog_of_a_committed_model_is_bit_exact_in_verilator(tmp_path, model):
    """Chapter 8's models pipelined at 8 adder delays, two da4ml 0.6 faults worked around. 4-bit, 80 % pruned: the
    pipeline carries logit 3 on a finer grid than the network (19 fraction bits, not 5); decoded with the network's
    types the simulated logits all read 0, with the pipeline's (rtl_worker.pipeline) they are exact. 6-bit, 50 %
    pruned: a bias of 2**49 on a product's integer grid was written as a 49-bit literal, which Verilator refuses
    (rtl_worker.widen_short_constants). Verilator gives the exported network's logits bit for bit."""
    from qaplib import data, experiments
    from qaplib.firmware.export import export_network
    from qaplib.profiles import get_profile
    from qaplib.runs import run_key
    from qaplib.store import COMMITTED_ROOT, ResultStore

    ((spec, phase),) = experiments.firmware_models(get_profile("default"), [list(model)])
    network = export_network(ResultStore(COMMITTED_ROOT).load_model(run_key(spec), phase))
    x = network.quantize_inputs(data.first_test_jets(data.load_jets(spec.data), 300)[0])
    network.save(tmp_path / "spec.npz", x=x, reference=network.predict_logits(x))
    report = rtl.run_worker(tmp_path / "spec.npz", tmp_path, latency_cutoff=8)
    assert report["pipeline_stages"] > 1, report  # the case is a pipeline
    assert report["verilator"]["bit_exact"] and report["n_samples"] == 300, report["verilator"]
