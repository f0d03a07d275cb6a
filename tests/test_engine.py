"""The batched engine against the reference path (QKeras quantizers, ``qaplib.train.fit``, the reference engine)."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from qaplib.data import DataSpec, load_jets
from qaplib.engine import train_phase_batched
from qaplib.engine.backprop import member_gradients
from qaplib.engine.graph import ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON, BN_EPSILON, BN_MOMENTUM, Architecture
from qaplib.engine.quantizers import QuantizerParameters, quantized_bits_unit, quantized_relu_passes, quantized_relu_values
from qaplib.engines import TRAINING_ENGINES
from qaplib.errors import InvalidSpecError, TrainingDivergedError
from qaplib.lifecycle import DEFAULT_CHUNK_SIZE, Member, train_runs
from qaplib.models import ALLOWED_BITS, ModelSpec, build_model
from qaplib.pruning import apply_masks, dense_kernels, full_masks, kernel_masks_for_sparsity, mask_callback
from qaplib.runs import PruningSpec, RunSpec, run_key
from qaplib.train import TrainSettings, fit, set_determinism

#: Every engine call in this file uses these sizes, so XLA compiles few programs.
N_TRAIN, N_VAL = 10_000, 5_000
SETTINGS = TrainSettings(learning_rate=3e-3, max_epochs=1, patience=5, batch_size=1024)


@pytest.fixture(scope="module")
def jets():
    """10 000 training, 5 000 validation and 20 000 test jets of the default dataset."""
    full = load_jets("default", max_train_jets=N_TRAIN)
    return dataclasses.replace(full, x_val=full.x_val[:N_VAL], y_val=full.y_val[:N_VAL])


@pytest.fixture(scope="module")
def short_jets(jets):
    """3 000 training jets: 3 steps of 1024, the last one 952 jets short of a full batch."""
    return dataclasses.replace(jets, x_train=jets.x_train[:3000], y_train=jets.y_train[:3000])


def quantizer_inputs(q: QuantizerParameters) -> np.ndarray:
    """Random values, every grid point and every rounding tie of both quantizers up to twice their range
    (so saturation is hit too), and a few extremes, both signs."""
    rng = np.random.default_rng(0)
    weight_steps = np.arange(-2 * q.weight_levels[0], 2 * q.weight_levels[0]) / q.weight_levels[0]
    relu_levels = 1 / q.relu_step[0]
    relu_steps = np.arange(-relu_levels, 2 * relu_levels) * q.relu_unit[0] / relu_levels
    half_weight, half_relu = 0.5 / q.weight_levels[0], 0.5 * q.relu_unit[0] / relu_levels
    extremes = np.array([0.0, -0.0, 1.0, -1.0, 7.875, 7.9, 8.0, 8.1, 100.0, -100.0, 1e-30, -1e-30])
    parts = [
        rng.normal(scale=3, size=4000),
        weight_steps,
        weight_steps + half_weight,
        relu_steps,
        relu_steps + half_relu,
        extremes,
    ]
    return np.concatenate(parts).astype(np.float32)


@pytest.mark.slow
@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("bits", [b for b in ALLOWED_BITS if b != 32])
def test_quantizers_and_their_gradients_equal_qkeras_elementwise(bits, compiled):
    """Values bit for bit; QKeras's gradients are 1 for the weight quantizer (straight through) and
    exactly ``quantized_relu_passes`` for the activation, as ``qaplib.engine.backprop`` assumes."""
    import tensorflow as tf
    from qkeras import quantized_bits, quantized_relu

    spec = ModelSpec(bits=bits)
    q = QuantizerParameters.for_specs([spec])
    x = tf.constant(quantizer_inputs(q))
    constants = {name: tf.constant(getattr(q, name)[0]) for name in ("weight_levels", "weight_step", "relu_scale",
                                                                     "relu_step", "relu_unit", "relu_ceiling")}  # fmt: skip

    def ours(x):
        weights = quantized_bits_unit(x, constants["weight_levels"], constants["weight_step"])
        relu = quantized_relu_values(x, constants["relu_scale"], constants["relu_step"], constants["relu_unit"])
        return weights, relu, tf.ones_like(x), tf.cast(quantized_relu_passes(x, constants["relu_ceiling"]), tf.float32)

    def theirs(x):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            weights, relu = quantized_bits(bits, 0, alpha=1)(x), quantized_relu(bits, spec.relu_integer_bits)(x)
        return weights, relu, tape.gradient(weights, x), tape.gradient(relu, x)

    if compiled:
        ours, theirs = tf.function(ours, jit_compile=True), tf.function(theirs)
    got = ours(x)
    for name, a, b in zip(
        ("quantized_bits", "quantized_relu", "d quantized_bits", "d quantized_relu"), got, theirs(x), strict=True
    ):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"{name}, {bits} bits")
    assert np.unique(got[0].numpy()).size > 8 and got[1].numpy().max() == q.relu_ceiling[0]  # the grid and the clip are hit
    assert 0 < got[3].numpy().mean() < 1  # the derivative is 0 somewhere and 1 somewhere


def test_constants_are_the_keras_defaults():
    import inspect

    import tensorflow as tf

    bn = inspect.signature(tf.keras.layers.BatchNormalization).parameters
    assert (bn["momentum"].default, bn["epsilon"].default) == (BN_MOMENTUM, BN_EPSILON)
    adam = tf.keras.optimizers.Adam()
    assert (adam.beta_1, adam.beta_2, adam.epsilon) == (ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON)


@pytest.mark.parametrize(
    "spec",
    [ModelSpec(bits=6), ModelSpec(bits=32), ModelSpec(bits=4, batchnorm=False, l1=1e-3), ModelSpec(bits=8, l1=1e-4)],
    ids=["6bit", "float", "4bit-nobn-l1", "8bit-l1"],
)
@pytest.mark.slow
def test_hand_written_gradients_equal_keras_gradients(spec, jets):
    """``member_gradients`` against ``tf.GradientTape`` through the Keras model ``build_model`` makes
    (training-mode batch norm, mean cross-entropy + its L1 losses), on 4 batches of 1024 jets: the same loss,
    the same gradient of every trainable weight to float round-off, the same BN moving averages.

    The quantized ReLU and its straight-through derivative are step functions. Where a jet's pre-activation
    sits within round-off of a step, the two sides' round-off (XLA against Keras) can put it on either side,
    and that batch's loss and gradients jump (measured at 8 bits on the default tier: 2 of 8 batches, loss by
    6e-5 and 3e-6, gradients by 1e-2 and 3e-4 in norm; the other 6 agree to 3e-7). So at least 3 of the 4
    batches must agree to round-off and every batch within 5e-2: a wrong L1 term, quantizer, batch-norm or
    straight-through gradient breaks every batch."""
    import tensorflow as tf

    arch = Architecture.of(spec)
    q = QuantizerParameters.for_specs([spec])
    quantizers = QuantizerParameters(*(tf.constant(getattr(q, f.name)) for f in dataclasses.fields(q))).member(0)
    trainable = [name for name in arch.weight_names if not name[1].startswith("moving")]
    exact_batches = 0
    for batch_index in range(4):
        set_determinism(3)
        model = build_model(spec)
        noise = np.random.default_rng(3)
        model.set_weights([w + noise.normal(0, 0.05, w.shape).astype(np.float32) for w in model.get_weights()])
        before = model.get_weights()
        rows = slice(1024 * batch_index, 1024 * (batch_index + 1))
        x, y = jets.x_train[rows], jets.y_train[rows]
        with tf.GradientTape() as tape:
            probabilities = model(x, training=True)
            cross_entropy = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, probabilities))
            keras_loss = tf.add_n([cross_entropy, *model.losses])
        keras_gradients = tape.gradient(keras_loss, model.trainable_weights)
        after = dict(zip(arch.weight_names, model.get_weights(), strict=True))
        weights = {name: tf.constant(w) for name, w in zip(arch.weight_names, before, strict=True)}
        batch = (tf.constant(x), tf.constant(y, tf.int32), tf.ones(len(y)))
        ours = member_gradients(arch.widths, arch.batchnorm, weights, quantizers, tf.constant(spec.l1, tf.float32), *batch)

        assert len(trainable) == len(keras_gradients) and ours.gradients.keys() == set(trainable)
        assert ours.moving.keys() == {name for name in arch.weight_names if name[1].startswith("moving")}
        loss_difference = abs(float(ours.loss) - float(keras_loss)) / float(keras_loss)
        gradient_difference = 0.0
        for name, keras_gradient in zip(trainable, keras_gradients, strict=True):
            expected = keras_gradient.numpy()
            # hidden Dense biases before batch norm: the exact gradient is 0, both sides are round-off
            if name[1] == "bias" and spec.batchnorm and name[0] != f"fc{len(spec.widths) + 1}":
                continue
            difference = np.linalg.norm(ours.gradients[name].numpy() - expected) / np.linalg.norm(expected)
            gradient_difference = max(gradient_difference, float(difference))
        moving_difference = max(float(np.max(np.abs(value.numpy() - after[name]) / (np.abs(after[name]) + 1e-6)))
                                for name, value in ours.moving.items()) if ours.moving else 0.0  # fmt: skip
        assert loss_difference < 1e-3 and gradient_difference < 5e-2 and moving_difference < 1e-3, (
            batch_index, loss_difference, gradient_difference, moving_difference)
        exact_batches += loss_difference < 1e-6 and gradient_difference < 1e-5 and moving_difference < 1e-5
    assert exact_batches >= 3, f"only {exact_batches} of 4 batches agree to round-off"


def start_of(spec: ModelSpec, seed: int, sparsity: float):
    """Initial weights and masks of a model, as the phase loop (``qaplib.lifecycle``) makes them."""
    set_determinism(seed)
    model = build_model(spec)
    masks = kernel_masks_for_sparsity(dense_kernels(model), full_masks(model), sparsity)
    return model.get_weights(), masks


def reference_fit(spec, weights, masks, jets, settings, seed=0):
    """``qaplib.train.fit`` in data order: (weights after training, history, Keras model)."""
    model = build_model(spec)
    model.set_weights(weights)
    apply_masks(model, masks)
    result = fit(
        model,
        jets.x_train,
        jets.y_train,
        jets.x_val,
        jets.y_val,
        settings,
        seed=seed,
        callbacks=[mask_callback(masks)],
        shuffle=False,
    )
    return model.get_weights(), result.history, model


def assert_close_to_reference(spec, ours, reference, steps):
    """Every weight within float tolerance; masked kernels zero at exactly the same places.

    Float tolerance here is 1e-5 absolute (weights are O(0.1 - 1)): Adam divides each gradient by its own
    running magnitude, so a weight whose gradient is close to zero moves by an amount its round-off decides.
    The hidden Dense biases are the extreme case: batch normalisation subtracts them again, their gradient
    is pure round-off and Adam turns it into steps of either sign up to ``learning_rate`` (checked to that
    bound only); a BN moving mean averages its layer's outputs, bias included, and may differ by as much.
    """
    names = Architecture.of(spec).weight_names
    bias_error = {}
    for (layer, role), a, b in zip(names, ours, reference, strict=True):
        if role == "kernel":
            np.testing.assert_array_equal(a == 0, b == 0, err_msg=f"{layer} zero pattern")
        atol = 1e-5
        if role == "bias" and spec.batchnorm and layer != names[-1][0]:
            atol = SETTINGS.learning_rate * steps
            bias_error[f"bn{layer[2:]}"] = float(np.abs(a - b).max())
        elif role == "moving_mean":
            atol += bias_error[layer]
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=atol, err_msg=f"{layer}/{role}")


@pytest.mark.parametrize(
    "spec",
    [ModelSpec(bits=6), ModelSpec(bits=32), ModelSpec(bits=8, input_bits=8), ModelSpec(bits=4, batchnorm=False, l1=1e-3)],
    ids=["6bit", "float", "8bit-input8", "4bit-nobn"],
)
@pytest.mark.slow
def test_first_steps_and_next_masks_match_the_reference_fit(spec, short_jets):
    """One epoch (3 steps, the last one short) from the same start, in data order: the same weights up to
    round-off, the same history, and phase 1's masks computed from either result are identical.

    Only a few steps: after some tens of steps a quantized weight that round-off put on the other side of
    a rounding boundary has moved by a whole quantization step, and the two trainings drift apart the way
    two shuffling seeds would (see the smoke test below for what is compared then).
    """
    weights, masks = start_of(spec, seed=4, sparsity=0.3)
    ours = train_phase_batched([Member(spec, weights, masks, short_jets, SETTINGS)], shuffle=False)[0]
    reference, history, _ = reference_fit(spec, weights, masks, short_jets, SETTINGS)
    assert_close_to_reference(spec, ours.weights, reference, steps=3)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(ours.history[key], history[key], rtol=2e-5, err_msg=key)
    for key in ("accuracy", "val_accuracy"):  # a prediction on a near-tie may flip: allow one jet in 5 000
        np.testing.assert_allclose(ours.history[key], history[key], atol=2e-4, err_msg=key)
    arch = Architecture.of(spec)
    kernels = lambda w: {layer: k for (layer, role), k in zip(arch.weight_names, w, strict=True) if role == "kernel"}  # noqa: E731
    next_ours = kernel_masks_for_sparsity(kernels(ours.weights), masks, 0.6)
    next_reference = kernel_masks_for_sparsity(kernels(reference), masks, 0.6)
    for layer in next_ours:
        np.testing.assert_array_equal(next_ours[layer], next_reference[layer], err_msg=layer)


@pytest.mark.slow
def test_smoke_training_reaches_the_reference_test_accuracy(jets):
    """10 epochs; float and 16-bit members of one batch end within 0.3 % test accuracy of ``fit``.

    (Coarse grids such as 6 bits follow the reference only for the first tens of steps: a weight that
    round-off puts on the other side of a rounding boundary moves by a whole quantization step, and the
    two trainings then differ like two shuffling seeds. The step-level tests above cover them.)
    """
    settings = dataclasses.replace(SETTINGS, max_epochs=10, patience=3)
    specs = [ModelSpec(bits=32), ModelSpec(bits=16)]
    starts = [start_of(spec, seed=k, sparsity=0.5) for k, spec in enumerate(specs)]
    trained = train_phase_batched(
        [Member(s, w, m, jets, settings) for s, (w, m) in zip(specs, starts, strict=True)], shuffle=False
    )
    for spec, (weights, masks), ours in zip(specs, starts, trained, strict=True):
        _, history, model = reference_fit(spec, weights, masks, jets, settings)
        reference_accuracy = float(np.mean(model.predict(jets.x_test, verbose=0).argmax(1) == jets.y_test))
        model.set_weights(ours.weights)
        our_accuracy = float(np.mean(model.predict(jets.x_test, verbose=0).argmax(1) == jets.y_test))
        assert ours.epochs == len(history["loss"])
        assert reference_accuracy > 0.5
        assert abs(our_accuracy - reference_accuracy) <= 0.003, (spec.bits, our_accuracy, reference_accuracy)


@pytest.mark.slow
def test_early_stopping_is_per_member_and_a_stopped_member_stays_frozen(jets):
    """A member with patience 1 and a violent learning rate stops early and keeps its best epoch's weights,
    bit for bit what it gets when trained alone, while its batch mates train on to max_epochs. The budget leaves room
    for the violent member to stop whatever the round-off: how long it keeps improving depends on the instruction set
    XLA compiles for and on TensorFlow's thread count, which an earlier test in the process may have set to 1 (on an
    AVX-512 machine with one thread it still improved at epoch 6, the old budget)."""
    spec = ModelSpec(bits=6)
    epochs = 12
    patient = dataclasses.replace(SETTINGS, max_epochs=epochs, patience=epochs)
    impatient = dataclasses.replace(SETTINGS, learning_rate=0.3, max_epochs=epochs, patience=1)
    starts = [start_of(spec, seed=k, sparsity=0.0) for k in range(3)]
    members = [
        Member(spec, w, m, jets, s, seed=k)
        for k, ((w, m), s) in enumerate(zip(starts, [impatient, patient, patient], strict=True))
    ]
    together = train_phase_batched(members)
    stopped, others = together[0], together[1:]
    val_loss = stopped.history["val_loss"]
    best = int(np.argmin(val_loss))
    assert stopped.epochs == best + 2 < epochs  # one epoch without improvement (patience 1), then stop
    assert all(m.epochs == epochs for m in others)
    alone = train_phase_batched([dataclasses.replace(members[0], settings=dataclasses.replace(impatient, max_epochs=best + 1))])[
        0
    ]
    for a, b in zip(stopped.weights, alone.weights, strict=True):
        np.testing.assert_array_equal(a, b)  # best epoch restored; nothing moved after it stopped
    assert not all(np.array_equal(a, b) for a, b in zip(stopped.weights, together[1].weights, strict=True))


def test_members_with_fewer_steps_do_not_move_on_padding_steps(jets, short_jets):
    """A 3-step member batched with a 10-step one sits out 7 padding steps per epoch; it ends bit for bit
    where it ends when trained without padding."""
    spec = ModelSpec(bits=6)
    weights, masks = start_of(spec, seed=2, sparsity=0.5)
    settings = dataclasses.replace(SETTINGS, max_epochs=2)
    short_member = Member(spec, weights, masks, short_jets, settings, seed=7)
    together = train_phase_batched([Member(spec, weights, masks, jets, settings, seed=7), short_member])
    alone = train_phase_batched([short_member])
    for a, b in zip(together[1].weights, alone[0].weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_members_must_share_architecture_and_batch_size(jets):
    weights, masks = start_of(ModelSpec(), seed=0, sparsity=0.0)
    base = Member(ModelSpec(), weights, masks, jets, SETTINGS)
    other_width = Member(ModelSpec(widths=(64, 32, 16)), weights, masks, jets, SETTINGS)
    with pytest.raises(InvalidSpecError, match="same architecture"):
        train_phase_batched([base, other_width])
    with pytest.raises(InvalidSpecError, match="same batch size"):
        train_phase_batched([base, dataclasses.replace(base, settings=dataclasses.replace(SETTINGS, batch_size=512))])


@pytest.mark.slow
def test_batched_runs_have_the_structure_of_reference_runs(short_jets):
    specs = [
        RunSpec(
            model=ModelSpec(bits=bits),
            pruning=PruningSpec(scheme=scheme, sparsities=(0.0, 0.6)),
            train=dataclasses.replace(SETTINGS, max_epochs=2, engine="batched"),
            data=DataSpec(max_train_jets=3000),
            seed=3,
        )
        for bits, scheme in ((6, "ft"), (32, "lt"))
    ]
    data = {specs[0].data: short_jets}
    batched = train_runs(specs, jets=data)
    reference_spec = dataclasses.replace(specs[0], train=dataclasses.replace(specs[0].train, engine="reference"))
    [reference] = train_runs([reference_spec], jets=data)
    ours = batched[0]
    assert ours.spec == specs[0] and ours.key == run_key(specs[0]) != reference.key
    assert [sorted(row) for row in ours.phases] == [sorted(row) for row in reference.phases]
    assert [[w.shape for w in phase] for phase in ours.weights] == [[w.shape for w in phase] for phase in reference.weights]
    assert [sorted(curve) for curve in ours.curves] == [sorted(curve) for curve in reference.curves]
    assert set(reference.meta) <= set(ours.meta)
    for result in batched:
        assert [row["sparsity"] for row in result.phases] == pytest.approx([0.0, 0.6], abs=2e-3)
        assert all(0.5 <= row["macro_auc"] <= 1 and row["epochs"] <= 2 for row in result.phases)
        assert len(result.curves[1]["val_loss"]) == result.phases[1]["epochs"]


@pytest.mark.slow
def test_one_call_trains_each_spec_with_its_engine_and_a_run_does_not_depend_on_its_batch_mates(short_jets):
    from qaplib import engines

    spec = RunSpec(
        model=ModelSpec(bits=6),
        pruning=PruningSpec(sparsities=(0.0,)),
        train=dataclasses.replace(SETTINGS, engine="batched"),
        data=DataSpec(max_train_jets=3000),
        seed=3,
    )
    from qaplib.profiles import PROFILES

    # one engine for qap run (a RunSpec's default) and for every profile's grids
    assert {profile.train.engine for profile in PROFILES.values()} == {RunSpec().train.engine} == {"batched"}
    assert set(engines.ENGINES) == set(TRAINING_ENGINES)
    reference_spec = dataclasses.replace(spec, train=dataclasses.replace(SETTINGS, engine="reference"))
    data = {spec.data: short_jets}
    alone = train_runs([spec], jets=data)[0]
    together, reference, _ = train_runs([spec, reference_spec, dataclasses.replace(spec, seed=4)], jets=data)
    assert alone.meta["engine"]["batch_members"] == 1 and together.meta["engine"]["batch_members"] == 2
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in alone.phases] == [
        {k: v for k, v in row.items() if k != "seconds"} for row in together.phases
    ]
    assert (reference.key, reference.meta["notebook"], "engine" in reference.meta) == (
        run_key(reference_spec), engines.ENGINES["reference"].producer, False)  # fmt: skip
    assert reference.meta["code_versions"]["engine"] == engines.ENGINE_VERSIONS["reference"]
    assert reference.phases[0]["accuracy"] != together.phases[0]["accuracy"]  # trained by the other engine
    with pytest.raises(InvalidSpecError, match="specs must be distinct"):
        train_runs([spec, spec], jets=data)


@pytest.mark.slow
def test_an_interrupted_batch_resumes_after_its_last_finished_phase_bit_identically(short_jets, tmp_path, monkeypatch):
    import qaplib.engine.phase as batched_phase
    from qaplib.checkpoints import checkpoint_path, load_checkpoint

    specs = [
        RunSpec(model=ModelSpec(bits=bits), pruning=PruningSpec(scheme=scheme, sparsities=(0.0, 0.5, 0.8)),
                train=dataclasses.replace(SETTINGS, max_epochs=2, engine="batched"), data=DataSpec(max_train_jets=3000),
                seed=5)
        for bits, scheme in ((6, "ft"), (32, "lt"))
    ]  # fmt: skip
    data = {specs[0].data: short_jets}
    whole = train_runs(specs, jets=data)

    trained_phases = []
    original = batched_phase.train_phase_batched

    def stopped_in_phase_two(members, **kwargs):
        if len(trained_phases) == 2:
            raise KeyboardInterrupt("the machine went away")
        trained_phases.append(len(members))
        return original(members, **kwargs)

    monkeypatch.setattr(batched_phase, "train_phase_batched", stopped_in_phase_two)
    with pytest.raises(KeyboardInterrupt):
        train_runs(specs, jets=data, checkpoints=tmp_path)
    keys = [run_key(s) for s in specs]
    assert [len(load_checkpoint(tmp_path, key, DEFAULT_CHUNK_SIZE)["phases"]) for key in keys] == [2, 2]
    assert load_checkpoint(tmp_path, keys[0], DEFAULT_CHUNK_SIZE + 1) is None  # another chunk size: start over

    trained_phases.clear()
    counted = lambda members, **kw: trained_phases.append(1) or original(members, **kw)  # noqa: E731
    monkeypatch.setattr(batched_phase, "train_phase_batched", counted)
    resumed = train_runs(specs, jets=data, checkpoints=tmp_path)
    assert trained_phases == [1]  # only the last phase was trained again
    for ours, reference in zip(resumed, whole, strict=True):
        assert [{k: v for k, v in r.items() if k != "seconds"} for r in ours.phases] == [
            {k: v for k, v in r.items() if k != "seconds"} for r in reference.phases
        ]
        assert all(np.array_equal(a, b) for pa, pb in zip(ours.weights, reference.weights, strict=True)
                   for a, b in zip(pa, pb, strict=True))  # fmt: skip
        assert ours.curves == reference.curves

    checkpoint_path(tmp_path, keys[0]).write_bytes(b"not a checkpoint")
    assert load_checkpoint(tmp_path, keys[0], DEFAULT_CHUNK_SIZE) is None


@pytest.mark.slow
def test_a_run_whose_loss_diverges_stops_and_fails_with_the_reason_its_batch_mate_is_kept(short_jets):
    """A learning rate of 1e6 turns a float model's loss to NaN in its first step: that run stops there and fails
    with the reason, in either engine, and is never scored; the run batched with it trains every phase and is returned."""
    spec = RunSpec(model=ModelSpec(bits=6), pruning=PruningSpec(sparsities=(0.0, 0.5)),
                   train=dataclasses.replace(SETTINGS, max_epochs=2, engine="batched"), data=DataSpec(max_train_jets=3000),
                   seed=3)  # fmt: skip
    wild = dataclasses.replace(spec, model=ModelSpec(), train=dataclasses.replace(spec.train, learning_rate=1e6))
    one_step = dataclasses.replace(short_jets, x_train=short_jets.x_train[:1000], y_train=short_jets.y_train[:1000])
    with pytest.raises(TrainingDivergedError) as failure:
        train_runs([spec, wild], jets={spec.data: one_step})
    reason = failure.value.failures[run_key(wild)]
    assert list(failure.value.failures) == [run_key(wild)]
    assert re.search(r"diverged in pruning phase 0: its (val_)?loss became nan in epoch 1 \(learning_rate 1000000.0\)", reason)
    assert [(r.key, len(r.phases)) for r in failure.value.completed] == [(run_key(spec), 2)]
    reference = dataclasses.replace(wild, train=dataclasses.replace(wild.train, engine="reference"))
    with pytest.raises(TrainingDivergedError, match=r"diverged in pruning phase 0: its (val_)?loss became nan in epoch 1"):
        train_runs([reference], jets={spec.data: one_step})


def test_an_edited_or_swapped_checkpoint_is_ignored_not_carried_into_a_record(tmp_path):
    """issue 32's audit: a phase-0 accuracy forged to 0.99 in a checkpoint's header, or its weights zeroed, was
    laundered into a new, checksummed record. The seal over header and arrays makes both count as no checkpoint."""
    import io
    import json

    from qaplib.checkpoints import checkpoint_path, load_checkpoint, save_checkpoint

    state = {
        "current": [np.ones((2, 3), np.float32), np.zeros(3, np.float32)],
        "masks": {"fc1": np.ones((2, 3))},
        "weights": [[np.full((2, 3), 0.5, np.float32), np.ones(3, np.float32)]],
        "phases": [{"phase": 0, "accuracy": 0.61}],
        "curves": [{"loss": [1.0]}],
        "seconds": 2.0,
        "batch_members": 2,
    }
    save_checkpoint(tmp_path, "k", 8, state)
    assert load_checkpoint(tmp_path, "k", 8)["phases"] == [{"phase": 0, "accuracy": 0.61}]

    def rewrite(change):
        with np.load(checkpoint_path(tmp_path, "k"), allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        change(arrays)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        checkpoint_path(tmp_path, "k").write_bytes(buffer.getvalue())

    def forge_accuracy(arrays):
        header = json.loads(str(arrays["header"]))
        header["phases"][0]["accuracy"] = 0.99
        arrays["header"] = np.array(json.dumps(header))

    rewrite(forge_accuracy)
    assert load_checkpoint(tmp_path, "k", 8) is None
    save_checkpoint(tmp_path, "k", 8, state)
    rewrite(lambda arrays: arrays.update(phase0_0=np.zeros((2, 3), np.float32)))
    assert load_checkpoint(tmp_path, "k", 8) is None


@pytest.mark.slow
def test_an_interrupted_reference_run_resumes_after_its_last_finished_phase_bit_identically(short_jets, tmp_path, monkeypatch):
    """The one phase loop checkpoints every engine's runs: a reference run stopped in its second phase resumes there,
    and ends where an uninterrupted run ends."""
    import qaplib.reference as reference

    spec = RunSpec(model=ModelSpec(bits=6), pruning=PruningSpec(scheme="lt", sparsities=(0.0, 0.5)),
                   train=dataclasses.replace(SETTINGS, max_epochs=2, engine="reference"), data=DataSpec(max_train_jets=3000),
                   seed=5)  # fmt: skip
    data = {spec.data: short_jets}
    [whole] = train_runs([spec], jets=data)
    original, calls = reference.train_phase, []

    def stopped_in_phase_one(members, **kwargs):
        if calls:
            raise KeyboardInterrupt("the machine went away")
        calls.append(1)
        return original(members, **kwargs)

    monkeypatch.setattr(reference, "train_phase", stopped_in_phase_one)
    with pytest.raises(KeyboardInterrupt):
        train_runs([spec], jets=data, checkpoints=tmp_path)
    monkeypatch.setattr(reference, "train_phase", lambda members, **kw: calls.append(2) or original(members, **kw))
    [resumed] = train_runs([spec], jets=data, checkpoints=tmp_path)
    assert calls == [1, 2]  # only the second phase was trained again
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.phases] == [
        {k: v for k, v in r.items() if k != "seconds"} for r in whole.phases
    ]
    assert all(np.array_equal(a, b) for pa, pb in zip(resumed.weights, whole.weights, strict=True)
               for a, b in zip(pa, pb, strict=True))  # fmt: skip
