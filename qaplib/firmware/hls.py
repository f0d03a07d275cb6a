"""hls4ml firmware of a tagger, checked by C-simulation (the HLS C++ compiled with g++).

Settings: Vitis backend, ``io_parallel``, ``Strategy=Latency``, ``ReuseFactor=1``. The firmware ends at
the logits; the class decision is ``argmax(logits)`` (softmax is monotonic, and hls4ml's softmax is a
lookup-table approximation that is never bit-exact, so it is left out).

Quantized models (:func:`csim_report`): hls4ml converts **the trained QKeras model itself** (its logits model,
batch normalisation kept as hls4ml's BatchNormalization layer) under :func:`hls_config`, whose precisions come
from the exported :class:`~qaplib.firmware.spec.NetworkSpec`:

* input port: the spec's input type (``ap_fixed<32,6>`` for models without an input quantizer), rounding half to
  even, so raw float features may be fed (hls4ml converts them with the port's rounding);
* kernels, biases, ReLU outputs: the QKeras quantizers' types, ``AP_RND_CONV, AP_SAT``;
* each dense layer's accumulator and result: :meth:`NetworkSpec.accumulator_types`, wide enough for
  every partial sum, so the dense output is exact;
* each batch normalisation: scale, bias and result on 2**-24 (:func:`qaplib.firmware.export.batchnorm_stage`).

The C-sim logits are compared bit for bit with the trained model's (float32 Keras) and with the exact evaluation
of the spec. This is the configuration a reader takes to Vivado or Vitis (:func:`write_hls_config`). The earlier
export, batch normalisation folded and re-rounded (a different network), is converted from its own exported QKeras
model (:func:`qaplib.firmware.export.qkeras_model`) and compared with that.

Float models (:func:`float_csim_report`): ``ap_fixed`` types sized from the value ranges seen on the
inputs given (profiling); the result is an approximation and the report says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qaplib.firmware.export import DEFAULT_INPUT_TYPE, fold_float_model, reference_exact_mask
from qaplib.firmware.labels import EMULATED
from qaplib.firmware.spec import NetworkSpec
from qaplib.fixed import FixedType

PROJECT_NAME = "tagger"
PART = "xcvu13p-flga2577-2-e"
CLOCK_PERIOD_NS = 5.0
#: What the C-sim logits are compared with, per export (:data:`qaplib.firmware.export.BATCHNORM_EXPORTS`).
REFERENCES = {
    "stage": "the trained QKeras model (float32 Keras)",
    "rounded fold": "the exported QKeras model (batch norm folded and re-rounded), evaluated with Keras floatx=float64",
}


@dataclass(frozen=True)
class CsimReport:
    """hls4ml C-simulation logits vs a reference model on the same inputs.

    Attributes:
        bit_exact: True if every logit of every sample is identical to the reference's (measured).
        bit_exact_fraction: fraction of samples whose 5 logits are all identical to the reference's.
        max_abs_diff: largest |firmware - reference| logit difference, logit units.
        argmax_agreement: fraction of samples with the same argmax (the firmware's class decision).
        reference_exact_fraction: fraction of samples on which the QKeras reference provably computes
            the exact fixed-point result (QKeras's quantized_relu casts its input to float32, so every
            hidden pre-activation must fit 24 significant bits); None for float models.
        spec_exact_fraction: fraction of samples whose logits equal the exact fixed-point evaluation of the
            spec (:meth:`NetworkSpec.predict_logits`, NumPy); separates firmware errors from QKeras's
            float32 rounding. None for float models.
        rounding_ties: hidden pre-activations where round-half-to-even and round-half-up disagree
            (:meth:`NetworkSpec.rounding_ties`): how often the rounding mode was put to the test.
        precisions: per hls4ml layer, its resolved types (``result``, and ``accum``/``weight``/``bias``
            where they exist) as hls4ml strings.
        timings_s: wall-clock seconds per step (convert, compile, predict).
        hls_config: the hls4ml configuration the firmware was converted with (:func:`hls_config`).
    """

    provenance: str
    model: str
    reference: str
    n_samples: int
    bit_exact: bool
    bit_exact_fraction: float
    max_abs_diff: float
    argmax_agreement: float
    reference_exact_fraction: float | None
    spec_exact_fraction: float | None
    rounding_ties: int | None
    input_type: str
    precisions: dict
    timings_s: dict
    note: str
    hls_config: dict | None = None


def _base_config(keras_model, input_type: FixedType) -> dict:
    import hls4ml

    config = hls4ml.utils.config_from_keras_model(keras_model, granularity="name", backend="Vitis")
    config["Model"].update(Strategy="Latency", ReuseFactor=1)
    config["LayerName"][keras_model.layers[0].name]["Precision"]["result"] = input_type.hls()
    return config


def hls_config(spec: NetworkSpec, keras_model) -> dict:
    """The hls4ml configuration (granularity 'name') under which ``keras_model`` (the trained model's logits model,
    or for a rounded fold its exported QKeras model) becomes the firmware of ``spec``."""
    config = _base_config(keras_model, spec.input_type)
    for layer, accumulator in zip(spec.layers, spec.accumulator_types(), strict=True):
        precision = config["LayerName"][layer.name]["Precision"]
        precision.update(
            weight=layer.kernel_type.hls(), bias=layer.bias_type.hls(), accum=accumulator.hls(), result=accumulator.hls()
        )
        linear = config["LayerName"].get(f"{layer.name}_linear")  # hls4ml's explicit linear activation after QDense
        if linear is not None:
            linear["Precision"]["result"] = accumulator.hls()
        if layer.batchnorm is not None:
            stage = layer.batchnorm
            config["LayerName"][stage.name]["Precision"].update(
                scale=stage.scale_type.hls(), bias=stage.shift_type.hls(), result=stage.result_type.hls()
            )
        if layer.activation is not None:
            config["LayerName"][layer.activation_name]["Precision"]["result"] = layer.activation.hls()
    return config


def write_hls_config(config: dict, path: Path) -> Path:
    """Write an hls4ml configuration as JSON (what ``hls4ml.converters.convert_from_keras_model`` takes as
    ``hls_config``), atomically; returns the path."""
    from qaplib.files import atomic_write_json

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, config)
    return Path(path)


def _convert(keras_model, config: dict, output_dir: Path):
    import hls4ml

    return hls4ml.converters.convert_from_keras_model(
        keras_model,
        hls_config=config,
        output_dir=str(output_dir),
        project_name=PROJECT_NAME,
        backend="Vitis",
        io_type="io_parallel",
        part=PART,
        clock_period=CLOCK_PERIOD_NS,
    )


def resolved_precisions(hls_model) -> dict:
    """{layer name: {"result": ..., "accum": ..., and every weight: "weight", "bias", "scale" ...}} as hls4ml resolved them."""
    result = {}
    for layer in hls_model.get_layers():
        types = {"result": str(layer.get_output_variable().type.precision)}
        accum = layer.get_attr("accum_t")
        if accum is not None:
            types["accum"] = str(accum.precision)
        for name, weight in layer.weights.items():
            types[name] = str(weight.type.precision)
        result[layer.name] = types
    return result


def _compare(firmware: np.ndarray, reference: np.ndarray) -> tuple[float, float, float]:
    identical = np.all(firmware == reference, axis=1)
    return (
        float(np.mean(identical)),
        float(np.max(np.abs(firmware - reference))),
        float(np.mean(firmware.argmax(axis=1) == reference.argmax(axis=1))),
    )


def csim_report(spec: NetworkSpec, keras_model, x: np.ndarray, reference: np.ndarray, reference_name: str,
                output_dir: Path) -> CsimReport:  # fmt: skip
    """Convert ``keras_model`` with hls4ml under :func:`hls_config` of ``spec``, compile it (g++) and compare its logits
    with ``reference`` and with the exact evaluation of ``spec``.

    Args:
        spec: from :func:`qaplib.firmware.export.export_network`.
        keras_model: a logits model: the trained model's (:func:`qaplib.models.logits_model`), or for a rounded fold
            the exported QKeras model (:func:`qaplib.firmware.export.qkeras_model`).
        x: (n, 16) standardised features; quantized onto the input type before the firmware sees them.
        reference: (n, 5) float64 logits of the model the firmware must equal, named by ``reference_name``.
        output_dir: where hls4ml writes its project (overwritten).
    """
    timings = {}
    start = time.perf_counter()
    config = hls_config(spec, keras_model)
    hls_model = _convert(keras_model, config, Path(output_dir))
    timings["convert"] = time.perf_counter() - start
    start = time.perf_counter()
    hls_model.compile()
    timings["compile"] = time.perf_counter() - start
    inputs = np.ascontiguousarray(spec.quantize_inputs(x))
    start = time.perf_counter()
    firmware = np.asarray(hls_model.predict(inputs), dtype=np.float64).reshape(len(inputs), spec.n_outputs)
    timings["predict"] = time.perf_counter() - start
    fraction, max_diff, agreement = _compare(firmware, np.asarray(reference, dtype=np.float64))
    spec_exact = float(np.mean(np.all(firmware == spec.predict_logits(x), axis=1)))
    folded = any(layer.folded for layer in spec.layers)
    reference_exact = float(np.mean(reference_exact_mask(spec, x))) if folded else None
    n = len(inputs)
    note = (f"{'bit-exact' if fraction == 1.0 else 'NOT bit-exact'} with {reference_name}: {round(fraction * n):,} of {n:,} "
            f"samples have identical logits; {round(spec_exact * n):,} of {n:,} equal the exact fixed-point evaluation of "
            "the exported network")  # fmt: skip
    if reference_exact is not None:
        note += f"; QKeras itself is exact fixed-point on {reference_exact:.2%} of samples (its quantized_relu rounds to float32)"
    return CsimReport(
        provenance=EMULATED,
        model="trained QKeras model" if not folded else "exported QKeras model (batch norm folded and re-rounded)",
        reference=reference_name,
        n_samples=len(inputs),
        bit_exact=fraction == 1.0,
        bit_exact_fraction=fraction,
        max_abs_diff=max_diff,
        argmax_agreement=agreement,
        reference_exact_fraction=reference_exact,
        spec_exact_fraction=spec_exact,
        rounding_ties=spec.rounding_ties(x),
        input_type=spec.input_type.hls(),
        precisions=resolved_precisions(hls_model),
        timings_s={k: round(v, 2) for k, v in timings.items()},
        note=note,
        hls_config=config,
    )


def profiled_type(values: np.ndarray, width: int, signed: bool = True) -> FixedType:
    """A ``width``-bit type whose integer part covers max|values| (plus the sign bit when signed)."""
    peak = float(np.max(np.abs(values))) if np.size(values) else 0.0
    integer = max(1, int(np.floor(np.log2(peak))) + 1) if peak > 0 else 1
    return FixedType(width, integer + int(signed), signed)


def float_hls_config(folded, x: np.ndarray, width: int) -> dict:
    """hls4ml configuration of a folded float model: every type ``width`` bits wide, integer bits from the
    ranges of the weights and of each layer's outputs on ``x`` (n, 16)."""
    import tensorflow as tf

    config = _base_config(folded, DEFAULT_INPUT_TYPE)
    for layer in folded.layers[1:]:
        outputs = tf.keras.Model(folded.input, layer.output).predict(np.asarray(x, np.float32), verbose=0, batch_size=4096)
        precision = config["LayerName"][layer.name].setdefault("Precision", {})
        if layer.__class__.__name__ == "Dense":
            kernel, bias = layer.get_weights()
            result = profiled_type(outputs, width).hls()
            precision.update(
                weight=profiled_type(kernel, width).hls(), bias=profiled_type(bias, width).hls(), accum=result, result=result
            )
            if f"{layer.name}_linear" in config["LayerName"]:
                config["LayerName"][f"{layer.name}_linear"]["Precision"]["result"] = result
        else:
            precision["result"] = profiled_type(outputs, width, signed=False).hls()
    return config


def float_csim_report(model, x: np.ndarray, output_dir: Path, width: int = 18) -> CsimReport:
    """hls4ml C-sim of a float (32-bit) tagger, with profiled ``width``-bit ``ap_fixed`` types, vs its float logits.

    Batch normalisation is folded exactly first (:func:`qaplib.firmware.export.fold_float_model`). The
    types are profiled on ``x`` itself, so pass held-out data only if you want an out-of-sample check.
    Not bit-exact by design: the report gives the measured agreement.
    """
    from qaplib.models import logits_model

    timings = {}
    start = time.perf_counter()
    folded = fold_float_model(model)
    logits = logits_model(folded)
    config = float_hls_config(logits, x, width)
    hls_model = _convert(logits, config, Path(output_dir))
    timings["convert"] = time.perf_counter() - start
    start = time.perf_counter()
    hls_model.compile()
    timings["compile"] = time.perf_counter() - start
    inputs = np.ascontiguousarray(DEFAULT_INPUT_TYPE.quantize(np.asarray(x, np.float32)))
    start = time.perf_counter()
    firmware = np.asarray(hls_model.predict(inputs), dtype=np.float64).reshape(len(inputs), -1)
    timings["predict"] = time.perf_counter() - start
    reference = logits_model(model).predict(np.asarray(x, np.float32), verbose=0, batch_size=4096).astype(np.float64)
    fraction, max_diff, agreement = _compare(firmware, reference)
    return CsimReport(
        provenance=EMULATED,
        model="float model, batch norm folded",
        reference="trained float Keras model (float32)",
        n_samples=len(inputs),
        bit_exact=False,
        bit_exact_fraction=fraction,
        max_abs_diff=max_diff,
        argmax_agreement=agreement,
        reference_exact_fraction=None,
        spec_exact_fraction=None,
        rounding_ties=None,
        input_type=DEFAULT_INPUT_TYPE.hls(),
        precisions=resolved_precisions(hls_model),
        timings_s={k: round(v, 2) for k, v in timings.items()},
        note=f"not bit-exact by design: a float model approximated with profiled {width}-bit ap_fixed types "
        f"(profiled on the same inputs); {fraction:.4%} of samples have identical logits",
        hls_config=config,
    )
