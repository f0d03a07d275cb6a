"""The HGQ engine: one run of high-granularity quantization (:mod:`qaplib.hgq`) from spec to result.

It registers as ``train.engine = "hgq"`` in :mod:`qaplib.engines`. Unlike the QAP engines it owns the whole run,
which has a single phase: HGQ prunes by learning zero-bit weights, not by a schedule. The run

1. builds the HGQ tagger right after ``set_determinism(seed)``;
2. trains it with :func:`qaplib.train.fit` (Adam, the profile's learning rate, epochs, patience and batch size;
   early stopping on the validation loss, which includes the resource penalty; best weights kept);
3. records every activation's range on the training jets (:func:`qaplib.hgq.calibrate`);
4. scores it on the test jets like a QAP phase (accuracy, AUCs, background efficiencies) and adds the cost columns
   (:data:`qaplib.columns.HGQ_COSTS`).
"""

from __future__ import annotations

import time

import numpy as np

from qaplib.granular_bops import granular_bops
from qaplib.runs import RunResult, RunSpec, run_meta, score_columns
from qaplib.train import fit, non_finite_loss


def cost_columns(model) -> dict:
    """The granular BOPs, zero fraction of the implemented kernels and mean non-zero weight bits of a calibrated HGQ
    tagger (:data:`qaplib.columns.HGQ_COSTS`; ``ebops`` comes from :func:`qaplib.hgq.calibrate`)."""
    from qaplib.hgq import granular_layers

    layers = granular_layers(model)
    kernels = [layer.kernel for layer in layers]
    nonzero_bits = np.concatenate([layer.weight_bits[layer.kernel != 0] for layer in layers])
    return {
        "granular_bops": granular_bops(layers),
        "effective_sparsity": float(sum(int((k == 0).sum()) for k in kernels) / sum(k.size for k in kernels)),
        "mean_weight_bits": float(nonzero_bits.mean()) if nonzero_bits.size else 0.0,
    }


def score(model, jets) -> dict:
    """Test-set scores of an HGQ tagger, as :func:`qaplib.runs.evaluate` gives them for QAP."""
    return score_columns(jets.y_test, model.predict(jets.x_test, batch_size=8192, verbose=0))


def train_run(spec: RunSpec, key: str, jets) -> tuple[RunResult | None, str | None]:
    """Train and score one HGQ run; returns (result, None), or (None, why) if its loss became NaN or infinite."""
    import tensorflow as tf
    from HGQ import FreeBOPs, ResetMinMax

    from qaplib.hgq import build_hgq_model, calibrate, hgq_weights
    from qaplib.train import divergence_reason, set_determinism

    started = time.perf_counter()
    tf.keras.backend.clear_session()
    set_determinism(spec.seed)
    model = build_hgq_model(spec.model.widths, spec.hgq.beta)
    fitted = fit(model, jets.x_train, jets.y_train, jets.x_val, jets.y_val, spec.train, seed=spec.seed * 1000,
                 callbacks=[ResetMinMax(), FreeBOPs()])  # fmt: skip
    problem = non_finite_loss(fitted.history)
    if problem is not None:
        return None, divergence_reason(key, 0, spec.train, problem)
    ebops = calibrate(model, jets.x_train)
    row = {"phase": 0, "target_sparsity": 0.0, **score(model, jets), "ebops": ebops, **cost_columns(model)}
    row["sparsity"] = row["effective_sparsity"]
    row.update({"epochs": fitted.epochs, "best_val_loss": min(fitted.history["val_loss"]),
                "seconds": time.perf_counter() - started})  # fmt: skip
    meta = run_meta(spec, key, jets, "qaplib.hgq_engine.train_run", row["seconds"])
    return RunResult(spec=spec, key=key, phases=[row], weights=[hgq_weights(model)], curves=[fitted.history], meta=meta), None
