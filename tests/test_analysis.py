"""Claim computations and fold summaries on hand-made result tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qaplib import analysis, tables


def frame_for(fold, rows):
    return pd.DataFrame([{"fold": fold, "bits": b, "phase": p, "accuracy": a, "bops": o, "sparsity": p / 10,
                          "scheme": "ft", "batchnorm": True, "l1": 1e-4, "label_noise": 0.0, "widths": "64-32-32",
                          "macro_auc": 0.9, "neural_efficiency": 0.2, "aiq": 0.5} for b, p, a, o in rows])  # fmt: skip


FOLD0 = [(32, 0, 0.70, 4_000_000), (32, 1, 0.695, 2_000_000), (32, 2, 0.68, 1_000_000),
         (6, 0, 0.695, 400_000), (6, 1, 0.692, 200_000), (6, 2, 0.60, 100_000)]  # fmt: skip
FOLD1 = [(32, 0, 0.71, 4_000_000), (32, 1, 0.705, 2_500_000), (32, 2, 0.69, 1_000_000),
         (6, 0, 0.70, 400_000), (6, 1, 0.702, 250_000), (6, 2, 0.65, 100_000)]  # fmt: skip


def test_cheapest_model_within_tolerance_per_approach():
    per_fold = analysis.bops_at_equal_accuracy(pd.concat([frame_for(0, FOLD0), frame_for(1, FOLD1)]), tolerance=0.01)
    fold0 = per_fold[per_fold["fold"] == 0].set_index("approach")["bops"]
    assert fold0["pruning only (32-bit)"] == 2_000_000  # 0.695 >= 0.69; 0.68 is not
    assert fold0["quantization only"] == 400_000
    assert fold0["QAP (any bit width)"] == 200_000 == fold0["QAP 6-bit"]
    fold1 = per_fold[per_fold["fold"] == 1].set_index("approach")["bops"]
    assert fold1["QAP (any bit width)"] == 250_000  # 0.702 >= 0.71 - 0.01


def test_claim_table_averages_per_fold_ratios_with_standard_errors():
    per_fold = analysis.bops_at_equal_accuracy(pd.concat([frame_for(0, FOLD0), frame_for(1, FOLD1)]), tolerance=0.01)
    claims = analysis.claim_table(per_fold)
    qap = claims.loc["QAP (any bit width)"]
    ratios = np.array([2_000_000 / 200_000, 2_500_000 / 250_000])
    assert qap["reduction vs pruning only"] == pytest.approx(ratios.mean())
    assert qap["reduction vs quantization only"] == pytest.approx(np.mean([400_000 / 200_000, 400_000 / 250_000]))
    assert qap["reduction vs quantization only_se"] == pytest.approx(np.std([2.0, 1.6], ddof=1) / np.sqrt(2))
    assert "10.0x" in analysis.claim_sentence(claims, 0.01)


def test_no_matching_model_gives_nan_and_says_so():
    bad = [(32, 0, 0.70, 4_000_000), (6, 0, 0.50, 400_000)]
    claims = analysis.claim_table(analysis.bops_at_equal_accuracy(frame_for(0, bad)))
    assert np.isnan(claims.loc["QAP (any bit width)", "BOPs"])
    assert "no claim can be made" in analysis.claim_sentence(claims, 0.01)


def test_reference_needs_the_float_model():
    with pytest.raises(ValueError, match="unpruned 32-bit"):
        analysis.bops_at_equal_accuracy(frame_for(0, [(6, 0, 0.7, 1)]))


def test_summarise_gives_fold_mean_and_standard_error():
    summary = tables.summarise(pd.concat([frame_for(0, FOLD0), frame_for(1, FOLD1)]))
    row = summary[(summary["bits"] == 32) & (summary["phase"] == 0)].iloc[0]
    assert row["accuracy"] == pytest.approx(0.705)
    assert row["accuracy_se"] == pytest.approx(np.std([0.70, 0.71], ddof=1) / np.sqrt(2))
    assert row["n_folds"] == 2
    single = tables.summarise(frame_for(0, FOLD0))
    assert single["accuracy_se"].isna().all()


def test_efficiency_spread_among_equally_accurate_models():
    summary = pd.DataFrame({"accuracy": [0.70, 0.699, 0.60], "neural_efficiency": [0.1, 0.3, 0.5], "bits": [32, 6, 4]})
    spread = analysis.efficiency_spread(summary, accuracy_window=0.01)
    assert spread["n_models"] == 2 and spread["ratio"] == pytest.approx(3.0)
    assert spread["lowest"]["bits"] == 32 and spread["highest"]["bits"] == 6
