"""QAP against HGQ at accuracy targets (issue 28): the cheapest model of each method per fold, paired ratios."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qaplib import hgq_compare


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    qap, hgq = [], []
    for fold in range(3):
        base = 0.70 + 0.001 * fold
        qap.append({"fold": fold, "bits": 32, "phase": 0, "sparsity": 0.0, "accuracy": base, "effective_bops": 1e6})
        for phase, (accuracy, cost) in enumerate([(base - 0.002, 3e5), (base - 0.008, 2e5), (base - 0.03, 5e4)]):
            qap.append({"fold": fold, "bits": 6, "phase": phase, "sparsity": phase / 4, "accuracy": accuracy,
                        "effective_bops": cost})  # fmt: skip
        for beta, accuracy, cost in [(1e-7, base - 0.001, 1e5), (1e-5, base - 0.015, 2e4 * (1 + fold))]:
            hgq.append({"fold": fold, "beta": beta, "accuracy": accuracy, "granular_bops": cost})
    return pd.DataFrame(qap), pd.DataFrame(hgq)


def test_each_method_takes_its_cheapest_model_that_reaches_each_fold_target():
    qap, hgq = frames()
    costs = hgq_compare.costs_at_targets(qap, hgq).set_index(["fold", "tolerance", "method"])
    assert costs.loc[(0, 0.005, "QAP 6-bit"), "cost"] == 3e5 and costs.loc[(0, 0.01, "QAP 6-bit"), "cost"] == 2e5
    assert costs.loc[(0, 0.005, "HGQ"), "cost"] == 1e5 and costs.loc[(2, 0.02, "HGQ"), "cost"] == 6e4
    assert costs.loc[(1, 0.02, hgq_compare.QAP_ANY), "cost"] == 2e5  # the 6-bit phase 1, cheaper than float
    assert costs.loc[(1, 0.02, "HGQ"), "beta"] == 1e-5 and np.isnan(costs.loc[(1, 0.02, "HGQ"), "bits"])


def test_the_summary_pairs_folds_and_the_verdict_states_the_factor():
    qap, hgq = frames()
    summary = hgq_compare.target_summary(hgq_compare.costs_at_targets(qap, hgq)).set_index(["tolerance", "method"])
    row = summary.loc[(0.02, hgq_compare.QAP_ANY)]
    ratios = np.array([2e5 / 2e4, 2e5 / 4e4, 2e5 / 6e4])
    se = ratios.std(ddof=1) / np.sqrt(3)
    assert row["ratio_to_hgq"] == pytest.approx(ratios.mean()) and row["ratio_se"] == pytest.approx(se)
    assert row["cost"] == 2e5 and row["folds"] == row["of"] == 3
    verdict = hgq_compare.factor_verdict(summary.reset_index())
    assert f"at float − 2 pp QAP needs {ratios.mean():.1f} ± {se:.1f} times" in verdict and "stays below the 20×" in verdict
    assert hgq_compare.factor_verdict(summary.reset_index(), 3).endswith("reaches the 3× of HGQ's paper on this count.")


def test_a_target_that_one_method_misses_in_a_fold_is_said_so():
    qap, hgq = frames()
    hgq = hgq[~((hgq["fold"] == 1) & (hgq["beta"] == 1e-7))]  # fold 1 has no HGQ model within 0.5 pp
    summary = hgq_compare.target_summary(hgq_compare.costs_at_targets(qap, hgq))
    assert hgq_compare.factor_verdict(summary).startswith("At float − 0.5 pp not every fold has a model of both methods;")
