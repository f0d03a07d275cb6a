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
    assert hgq_compare.factor_verdict(summary).startswith(
        "At float − 0.5 pp not every fold has a model of both methods (QAP reaches it in 3 of 3 folds, HGQ in 2);")


def test_the_lut_comparison_takes_each_methods_cheapest_firmware_that_reaches_the_target_and_the_verdict_says_so():
    qap = pd.DataFrame({"bits": [6, 6, 4], "weights pruned": [0.0, 0.8, 0.8], "accuracy (trained)": [0.70, 0.695, 0.68],
                        "LUT": [40_000, 12_000, 8_000]})  # fmt: skip
    hgq = pd.DataFrame({"beta": [1e-6, 1e-5], "accuracy (trained)": [0.698, 0.69], "LUT": [9_000, 3_000]})
    found = hgq_compare.lut_comparison(qap, hgq, 0.694)
    assert found["qap"]["LUT"] == 12_000 and found["hgq"]["LUT"] == 9_000 and found["ratio"] == pytest.approx(12 / 9)
    assert hgq_compare.lut_comparison(qap, hgq, 0.71) is None
    qap_rows, hgq_rows = frames()
    summary = hgq_compare.target_summary(hgq_compare.costs_at_targets(qap_rows, hgq_rows))
    convergence = pd.DataFrame({"beta": [1e-6, 1e-5], "epochs": [50.0, 100.0], "runs": [12, 12], "at_cap": [0, 3]})
    verdict = hgq_compare.hgq_verdict(summary, {0.01: found, 0.005: None}, convergence, 7200.0)
    assert "that reaches a target needs 1.3× HGQ's LUTs at float − 1 pp (12,000 for QAP's 6-bit, 80%-pruned model " \
        "against 9,000 for HGQ's β = 1e-06)." in verdict
    assert "3 of the 24 HGQ runs stopped at their epoch cap (3 of 12 at β = 1e-05)" in verdict
    assert verdict.endswith("HGQ's 24 runs trained for 2.0 hours in all, each on one core (the wall-clock time of "
                           "each run, summed).")
    assert "are not compared at equal accuracy" in hgq_compare.hgq_verdict(summary, {0.01: None}, convergence, 60.0)


def test_runs_that_stop_at_their_epoch_cap_are_counted_per_beta():
    hgq = pd.DataFrame({"beta": [1e-6, 1e-6, 1e-5, 1e-5], "fold": [0, 1, 0, 1], "epochs": [40, 100, 100, 100],
                        "max_epochs": [100] * 4})  # fmt: skip
    convergence = hgq_compare.hgq_convergence(hgq)
    assert convergence.to_dict("list") == {"beta": [1e-6, 1e-5], "epochs": [70.0, 100.0], "runs": [2, 2], "at_cap": [1, 2]}
    assert hgq_compare.convergence_sentence(convergence).startswith(
        "3 of the 4 HGQ runs stopped at their epoch cap (1 of 2 at β = 1e-06, 2 of 2 at β = 1e-05)")
    converged = hgq_compare.hgq_convergence(hgq.assign(epochs=[40, 50, 60, 99]))
    assert hgq_compare.convergence_sentence(converged) == "All 4 HGQ runs ended by early stopping, before their epoch cap."


def test_the_tables_show_each_target_per_method_and_each_beta():
    qap, hgq = frames()
    table = hgq_compare.target_table(hgq_compare.target_summary(hgq_compare.costs_at_targets(qap, hgq)))
    assert list(table["method"]) == ["QAP float", "QAP 6-bit", hgq_compare.QAP_ANY, "HGQ"]
    row = table.set_index("method").loc["QAP 6-bit"]
    assert row["float − 0.5 pp: granular BOPs"] == "300,000 ± 0" and row["float − 0.5 pp: / HGQ"] == "3.00 ± 0.00×"
    from qaplib.tables import summarise

    hgq = hgq.assign(phase=0, ebops=hgq["granular_bops"] / 4, effective_sparsity=0.5, mean_weight_bits=2.0,
                     epochs=[30, 100] * 3, max_epochs=100)  # fmt: skip
    shown = hgq_compare.hgq_table(summarise(hgq, by=("beta",)), hgq_compare.hgq_convergence(hgq))
    assert list(shown["β"]) == ["1e-07", "1e-05"] and list(shown["granular / EBOPs"]) == [4.0, 4.0]
    assert list(shown["epochs trained"]) == [30.0, 100.0] and list(shown["runs at the epoch cap"]) == ["0 of 3", "3 of 3"]
