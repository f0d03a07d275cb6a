"""Claim computations and fold summaries on hand-made result tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qaplib import analysis, generalization, tables


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
    assert "**10.0×** ± 0.00 fewer BOPs than pruning only" in analysis.claim_sentence(claims, 0.01)


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


def summary_rows(**columns):
    return pd.DataFrame(columns)


def test_scheme_verdict_names_the_better_scheme_from_the_numbers():
    summary = summary_rows(bits=[6, 6, 6, 6], phase=[0, 1, 0, 1], scheme=["ft", "ft", "lt", "lt"],
                           sparsity=[0.0, 0.5, 0.0, 0.5], accuracy=[0.70, 0.69, 0.70, 0.66],
                           neural_efficiency=[0.30, 0.32, 0.30, 0.36])  # fmt: skip
    difference = analysis.scheme_difference(summary)
    assert difference["accuracy FT - LT"].tolist() == pytest.approx([0.0, 0.03])
    text = analysis.scheme_verdict(difference)
    assert "fine-tuning (FT) is the more accurate scheme" in text and "+1.50 percentage points" in text
    assert "FT ahead at 1 of them" in text and "LT models use more" in text


def test_variant_verdict_says_which_removal_matters_and_in_which_direction():
    summary = summary_rows(bits=[32] * 6, phase=[0, 1] * 3, variant=["BN + L1"] * 2 + ["no BN"] * 2 + ["no L1"] * 2,
                           accuracy=[0.70, 0.69, 0.60, 0.58, 0.70, 0.695], neural_efficiency=[0.3] * 6)  # fmt: skip
    effects = analysis.variant_effects(summary)
    assert effects.set_index("variant")["accuracy change"].to_dict() == pytest.approx({"no BN": -0.105, "no L1": 0.0025})
    text = analysis.variant_verdict(effects)
    assert "Removing batch normalisation has the larger effect on accuracy: it lowers it by 10.50 percentage points" in text


def test_noise_verdict_reports_the_accuracy_lost_to_random_labels():
    summary = summary_rows(bits=[6] * 4, label_noise=[0.0, 0.0, 0.9, 0.9], phase=[0, 9, 0, 9], sparsity=[0, 0.9, 0, 0.9],
                           accuracy=[0.70, 0.68, 0.60, 0.50], neural_efficiency=[0.3] * 4)  # fmt: skip
    text = analysis.noise_verdict(analysis.noise_table(summary))
    assert "With 90% of the training labels randomised instead of none, the 6-bit model's clean-test accuracy changes by " \
           "-10.00 percentage points unpruned and by -18.00 percentage points when 90% pruned." in text


def test_baseline_verdict_states_the_threshold_outcome():
    from qaplib import fidelity

    low = fidelity.baseline_verdict(0.7024, 0.9155, "the generated default dataset", generated=True)
    assert "**70.24 %**" in low and "**below**" in low and "73 %" in low
    assert "below" not in fidelity.baseline_verdict(0.74, 0.93, "the generated default dataset", generated=True)
    real = fidelity.baseline_verdict(0.757, 0.94, "the file real.csv", generated=False)
    assert "threshold" not in real and "75.0–76.4 %" in real


def test_claims_under_each_count_pick_their_own_cheapest_model():
    frame = pd.concat([frame_for(0, FOLD0), frame_for(1, FOLD1)], ignore_index=True)
    # the quantizer zeroes a quarter of the unpruned 6-bit model's cost, little of the pruned ones'
    frame["effective_bops"] = frame["bops"] * np.where((frame["bits"] == 6) & (frame["phase"] == 0), 0.75, 0.95)
    frame.loc[frame["bits"] == 32, "effective_bops"] = frame["bops"]
    counts = analysis.claims_by_count(frame, 0.01)
    qap = counts.loc["QAP (any bit width)"]
    assert qap["vs quantization only (paper)"] == pytest.approx(np.mean([400_000 / 200_000, 400_000 / 250_000]))
    assert qap["vs quantization only (effective)"] == pytest.approx(np.mean([300_000 / 190_000, 300_000 / 237_500]))
    assert qap["vs pruning only (effective)"] == pytest.approx(np.mean([2e6 / 190_000, 2.5e6 / 237_500]))


def test_quantization_sparsity_and_its_verdict_from_the_numbers():
    summary = pd.DataFrame({"bits": [32, 32, 6, 6], "phase": [0, 1, 0, 1], "sparsity": [0.0, 0.9, 0.0, 0.9],
                            "effective_sparsity": [0.0, 0.9, 0.2, 0.92], "bops": [4e6, 1e6, 4e5, 1.6e5],
                            "effective_bops": [4e6, 1e6, 3.4e5, 1.52e5]})  # fmt: skip
    table = analysis.quantization_sparsity(summary)
    six = table[table["bits"] == 6].set_index("phase")
    assert six.loc[0, "added by quantization"] == pytest.approx(0.2) and six.loc[1, "effective / paper"] == pytest.approx(0.95)
    counts = pd.DataFrame({"vs quantization only (paper)": [2.7], "vs quantization only (effective)": [2.4],
                           "vs pruning only (paper)": [5.4], "vs pruning only (effective)": [5.7]},
                          index=["QAP (any bit width)"])  # fmt: skip
    text = analysis.quantization_sparsity_verdict(table, counts)
    assert "6-bit 20% of the kernel weights as zero beyond those pruned" in text and "15% to 15% below" in text
    assert "at most 5% (6-bit, 90% pruned)" in text
    assert "2.4× instead of 2.7×" in text and "5.7× instead of 5.4×" in text


def test_fidelity_comparison_states_each_real_statistic_beside_the_measured_one():
    from qaplib import fidelity
    from qaplib.generator.features import FEATURE_NAMES

    features = np.zeros((8, 16))
    features[:, FEATURE_NAMES.index("mass_mmdt")] = [10, 20, 30, 40, 80, 90, 100, 170]
    features[:, FEATURE_NAMES.index("multiplicity")] = [70, 60, 30, 40, 35, 45, 60, 65]
    features[:7, FEATURE_NAMES.index("d2_a1_b1_mmdt")] = 1.0  # one jet of eight differs
    features[:, FEATURE_NAMES.index("d2_b1_mmdt")] = 1.0
    labels = np.array([0, 0, 1, 1, 2, 3, 3, 4])
    table = fidelity.comparison_table(features, labels, FEATURE_NAMES, ("g", "q", "w", "z", "t"), 0.7, np.full(5, 0.9),
                                      0.65, 59).set_index("statistic")  # fmt: skip
    assert table.loc["multiplicity Q1 / median / Q3", "real set"] == "34 / 48 / 64"
    assert table.loc["multiplicity Q1 / median / Q3", "this dataset"] == "39 / 52 / 61"  # numpy's linear quartiles
    assert table.loc["multiplicity of w jets", "real set"] == "31, 35 (2 jets)"
    assert table.loc["multiplicity of w jets", "this dataset"] == "35 (median)"
    assert table.loc["multiplicity of q jets", "real set"] == "none printed"
    assert table.loc["d2_a1_b1 = d2_b1 exactly (float32)", "this dataset"] == "87.500% of the jets"
    assert table.loc["validation accuracy after one epoch", "this dataset"] == "0.650 (59 steps)"
    with_rate = fidelity.comparison_table(features, labels, FEATURE_NAMES, ("g", "q", "w", "z", "t"), 0.7, np.full(5, 0.9),
                                          0.65, 487, 1e-4).set_index("statistic")  # fmt: skip
    assert with_rate.loc["validation accuracy after one epoch", "this dataset"] == "0.650 (487 steps, Adam 0.0001)"
    assert with_rate.loc["validation accuracy after one epoch", "real set"] == "0.736 (487 steps, Adam 0.001)"
    assert fidelity.first_epoch_note(487, 1e-4) == (" One epoch here has 487 steps, as many steps as the real run's 487, "
                                                    "with Adam at 0.0001 against 0.001 there, so that run moves further "
                                                    "per step.")  # fmt: skip
    assert "59 steps, fewer steps than the real run's 487, with the same learning rate" in fidelity.first_epoch_note(59, 1e-3)
    assert set(table["source"]) <= set(fidelity.SOURCES) and "box plot" in fidelity.sources_note()
    assert table.loc["float tagger: AUC w", "real set"] == "0.954" and table.loc["float tagger: AUC w", "this dataset"] == "0.900"


def test_fidelity_study_table_gives_each_variant_its_change_against_the_base():
    from qaplib import fidelity_study

    auc = {c: [0.9, 0.9] for c in "gqwzt"}
    results = {
        "base": {"hypothesis": "reference", "accuracy": [0.70, 0.72], "multiplicity_quartiles": [37, 52, 73], "auc": auc},
        "readout thresholds": {"hypothesis": "1: thresholds", "accuracy": [0.73, 0.73], "multiplicity_quartiles": [31, 43, 59],
                               "auc": auc},
    }  # fmt: skip
    lines = fidelity_study.markdown_table(results).splitlines()
    assert lines[2] == "| base | reference | 71.00 ± 1.00 % | – | 37 / 52 / 73 | 0.900 / 0.900 |"
    assert lines[3].endswith("| 73.00 ± 0.00 % | +2.0 ± 1.0 pt | 31 / 43 / 59 | 0.900 / 0.900 |")
    settings = fidelity_study.variant_settings("readout thresholds", 1000)
    assert settings.min_track_pt_gev == 1.0 and settings.jets_per_class == 1000 and settings.jet_pt_min_gev == 900.0
    with pytest.raises(KeyError, match="unknown variant"):
        fidelity_study.variant_settings("nonsense", 1000)


def test_the_methods_page_shows_the_committed_fidelity_study_as_measured():
    import json

    from qaplib import fidelity_study
    from qaplib.provenance import REPO_ROOT

    methods = (REPO_ROOT / "book" / "methods.md").read_text()
    assert fidelity_study.markdown_table(fidelity_study.load_results()) in methods  # a generated block (qaplib.methods_page)
    rows = json.loads((fidelity_study.COMMITTED_STUDY / "learning_curve.json").read_text())
    assert fidelity_study.learning_curve_table(rows) in methods
    assert fidelity_study.ADOPTED in fidelity_study.load_results()


def test_signed_numbers_in_verdicts_never_read_minus_zero():
    from qaplib.analysis import _pp, _signed

    assert [_signed(v) for v in (-0.0004, 0.0004, 0.0006, -0.25)] == ["0.000", "0.000", "+0.001", "-0.250"]
    assert _pp(-0.00004) == "0.00 percentage points" and _pp(0.0123) == "+1.23 percentage points"


def test_the_scheme_verdict_names_the_pruning_range_that_decides_the_average():
    """issue 27: at the paper's scale "LT is more accurate on average" came from the 98.9 %-pruned phase alone, where
    FT collapses; over the phases up to 90 % FT led. The verdict now says so."""
    rows = []
    for bits in (32, 6):
        for phase, sparsity in enumerate((0.0, 0.5, 0.9, 0.989)):
            for scheme, accuracy in (("ft", 0.70 if phase < 3 else 0.40), ("lt", 0.698 if phase < 3 else 0.65)):
                rows.append({"bits": bits, "phase": phase, "scheme": scheme, "sparsity": sparsity, "accuracy": accuracy,
                             "neural_efficiency": 0.3})  # fmt: skip
    difference = analysis.scheme_difference(pd.DataFrame(rows))
    ranges = analysis.scheme_ranges(difference)
    assert ranges["range"].tolist() == ["0–90 % pruned", "98.9 % pruned"] and ranges["points"].tolist() == [6, 2]
    assert ranges["accuracy FT - LT"].tolist() == pytest.approx([0.002, -0.25])
    text = analysis.scheme_verdict(difference)
    assert "lottery-ticket rewinding (LT) is the more accurate scheme on average" in text
    assert "+0.20 percentage points over 0–90 % pruned (FT ahead at 6 of 6)" in text
    first = text.split(". ")[0]  # the at-a-glance table shows the first sentence: it names the deciding phase
    assert first.endswith(", but only because of the phases 98.9 % pruned: without them FT is ahead (+0.20 percentage points)")
    alike = difference.assign(**{"accuracy FT - LT": difference["accuracy FT - LT"].abs()})
    assert "weigh most in the sum; without them the average keeps its sign" in analysis.scheme_verdict(alike)


def test_the_efficiency_spread_is_also_given_within_batch_norm_on_and_off():
    """issue 27: the spread among equally accurate models came mostly from the models without batch norm; chapter 5
    now gives it within each group as well."""
    summary = pd.DataFrame({"accuracy": [0.700, 0.699, 0.698, 0.696, 0.695],
                            "neural_efficiency": [0.40, 0.42, 0.20, 0.30, 0.10],
                            "batchnorm": [True, True, False, False, True], "bits": [32, 6, 32, 6, 4]})  # fmt: skip
    spread = analysis.efficiency_spread(summary, accuracy_window=0.003)
    assert spread["ratio"] == pytest.approx(0.42 / 0.20)  # 4 models within 0.3 pp of the best
    assert spread["by_batchnorm"] == {True: {"n_models": 2, "ratio": pytest.approx(1.05)},
                                      False: {"n_models": 2, "ratio": pytest.approx(1.5)}}  # fmt: skip
    text = analysis._batchnorm_sentence(spread, 0.003)
    assert "the models with batch normalisation (2) differ by a factor 1.05, those without (2) by 1.50" in text
    assert "part of it lies between the models with and without batch normalisation" in text
    assert analysis.efficiency_spread(summary.drop(columns="batchnorm"), 0.003)["by_batchnorm"] == {}


def test_epoch_cap_counts_say_which_phases_ran_out_of_epochs():
    """issue 27: 44 of 76 unpruned paper-scale runs stop at the 250-epoch cap; a reader must see that per phase."""
    frame = pd.DataFrame({"phase": [0, 0, 0, 1, 1, 1], "target_sparsity": [0.0] * 3 + [0.5] * 3,
                          "epochs": [250, 120, 250, 40, 250, 249], "max_epochs": [250] * 6})  # fmt: skip
    table = analysis.epoch_cap_counts(frame)
    assert table[["phase", "runs", "at_cap"]].values.tolist() == [[0, 3, 2], [1, 3, 1]]
    assert table["fraction"].tolist() == pytest.approx([2 / 3, 1 / 3])


def test_efficiency_and_generalization_gives_a_rank_correlation_with_a_bootstrap_interval_over_configurations():
    """issue 27: the paper's third claim, tested: does neural efficiency predict the gap between training and test
    accuracy? Here the gap grows with efficiency in every configuration, so rho is +1 and its interval stays there."""
    rows = [{"bits": bits, "scheme": "ft", "phase": phase, "neural_efficiency": 0.1 * phase + 0.01 * k,
             "train_accuracy": 0.80 + 0.01 * phase + 0.001 * k, "accuracy": 0.70}
            for k, bits in enumerate((32, 12, 6, 4)) for phase in range(3)]  # fmt: skip
    result = generalization.efficiency_and_generalization(pd.DataFrame(rows), n_boot=200)
    assert result["rho"] == pytest.approx(1.0) and result["interval"] == pytest.approx((1.0, 1.0))
    assert (result["n"], result["configurations"]) == (12, 4)
    again = generalization.efficiency_and_generalization(pd.DataFrame(rows), n_boot=200)
    assert again == result  # seeded
    noisy = pd.DataFrame(rows).assign(train_accuracy=lambda f: 0.8 + 0.05 * np.sin(7.0 * np.arange(len(f))))
    spread = generalization.efficiency_and_generalization(noisy, n_boot=200)
    assert spread["interval"][0] < spread["rho"] < spread["interval"][1]


def test_the_claim_is_recomputed_under_every_definition_and_the_sentence_names_where_it_fails():
    """issue 27: a claim names the definition it rests on and says whether it survives reasonable others."""
    rows = []
    for fold in (0, 1):
        for bits, phase, accuracy, bops in ((32, 0, 0.700, 1000.0), (32, 1, 0.692, 300.0), (6, 0, 0.697, 120.0),
                                            (6, 1, 0.694, 40.0), (6, 2, 0.686, 10.0)):
            rows.append({"fold": fold, "bits": bits, "phase": phase, "accuracy": accuracy + 0.001 * fold, "bops": bops,
                         "effective_bops": bops, "sparsity": 0.5 * phase})  # fmt: skip
    table = analysis.claim_robustness(pd.DataFrame(rows))
    assert len(table) == 12 and set(table["kind"]) == {"absolute", "relative"}
    strict = table[(table["tolerance"] == 0.005) & (table["kind"] == "absolute")].iloc[0]
    assert strict["vs pruning only"] == pytest.approx(1000 / 120)  # pruning only: only the unpruned model is close
    assert strict["vs quantization only"] == pytest.approx(1.0) and not strict["holds"]  # QAP's pick is unpruned too
    loose = table[(table["tolerance"] == 0.02) & (table["kind"] == "absolute")].iloc[0]
    assert loose["vs pruning only"] == pytest.approx(300 / 10) and loose["vs quantization only"] == pytest.approx(12.0)
    sentence = analysis.robustness_sentence(table)
    assert sentence.startswith(f"The claim holds under {int(table['holds'].sum())} of 12 definitions")
    assert "not under 0.5 points with paper BOPs" in sentence
    assert "holds under all 12 definitions" in analysis.robustness_sentence(table.assign(holds=True))
    claims = analysis.claim_table(analysis.bops_at_equal_accuracy(pd.DataFrame(rows), 0.01))
    verdict = analysis.claim_verdict(claims, 0.01, table)
    first = verdict.split(". ")[0]  # the at-a-glance table shows the first sentence: it names where the claim holds
    assert first.startswith("At equal accuracy") and f"this holds under {int(table['holds'].sum())} of 12" in first


def noise_frame(efficiency_of, lost_of):
    """Chapter-6 rows: 2 bit widths x 2 folds x 3 phases, clean and 50 % noise; the clean model's efficiency and the
    accuracy the noisy one loses are given as functions of (bits, fold, phase)."""
    rows = []
    for bits in (32, 6):
        for fold in (0, 1):
            for phase in range(3):
                clean = {"bits": bits, "fold": fold, "phase": phase, "epochs": 10, "max_epochs": 10, "accuracy": 0.7,
                         "neural_efficiency": efficiency_of(bits, fold, phase)}  # fmt: skip
                rows += [clean | {"label_noise": 0.0},
                         clean | {"label_noise": 0.5, "accuracy": 0.7 - lost_of(bits, fold, phase), "neural_efficiency": 0.3}]
    return pd.DataFrame(rows)


def test_noise_loss_correlation_over_all_models_and_at_equal_phase():
    """issue 27: a correlation that both quantities share with the pruning phase is not evidence at equal phase."""
    shared = noise_frame(lambda b, f, p: 0.1 * p + 0.001 * b + 0.0003 * f, lambda b, f, p: 0.01 * p + 0.0001 * ((b + f) % 3))
    table = generalization.efficiency_and_noise_loss(shared, n_boot=200)
    assert table["rho"].iloc[0] > 0.8  # both grow with the phase
    assert abs(table["rho within phase"].iloc[0]) < 0.5
    assert table["low within phase"].iloc[0] < 0 < table["high within phase"].iloc[0]
    assert (table["points"].iloc[0], table["runs"].iloc[0]) == (12, 4)
    linked = noise_frame(lambda b, f, p: 0.1 * p + 0.001 * b + 0.0003 * f, lambda b, f, p: 0.01 * p + 0.0001 * b + 0.00003 * f)
    assert generalization.efficiency_and_noise_loss(linked, n_boot=200)["rho within phase"].iloc[0] == pytest.approx(1.0)


def test_generalization_verdict_says_whether_efficiency_predicts_beyond_the_fraction_pruned():
    gap = {"predictor": "neural_efficiency", "rho": 0.5, "interval": (0.2, 0.7), "rho_within_phase": 0.05,
           "interval_within_phase": (-0.2, 0.25), "n": 48, "configurations": 4}  # fmt: skip
    text = generalization.generalization_verdict(gap, pd.DataFrame(), pd.DataFrame())
    assert "ρ = +0.50 (+0.20 to +0.70) over all models" in text and "ρ = +0.05 (-0.20 to +0.25) at equal pruning phase" in text
    assert text.startswith("At equal pruning, a model's neural efficiency does not predict how well it generalizes")
    assert "follow the fraction pruned" in text and "not supported" in text
    supported = generalization.generalization_verdict(gap | {"interval_within_phase": (0.1, 0.3)}, pd.DataFrame(), pd.DataFrame())
    assert "carries information" in supported and "not supported" not in supported


def test_efficiency_change_with_noise_is_paired_by_fold():
    frame = noise_frame(lambda b, f, p: 0.4 + 0.01 * f, lambda b, f, p: 0.02)
    change = generalization.efficiency_change_with_noise(frame)
    assert change["efficiency change"].tolist() == pytest.approx([-0.105, -0.105])  # 0.3 - (0.4, 0.41)
    assert change["accuracy change"].tolist() == pytest.approx([-0.02, -0.02])
    assert change["noisy runs at cap"].tolist() == [2, 2]


def test_generalization_verdict_with_one_fold_prints_no_nan():
    frame = noise_frame(lambda b, f, p: 0.4, lambda b, f, p: 0.02)
    one_fold = frame[frame["fold"] == 0]
    gap = {"predictor": "neural_efficiency", "rho": 0.1, "interval": (-0.2, 0.3), "rho_within_phase": 0.0,
           "interval_within_phase": (-0.3, 0.3), "n": 6, "configurations": 2}  # fmt: skip
    text = generalization.generalization_verdict(gap, pd.DataFrame(), generalization.efficiency_change_with_noise(one_fold))
    assert "nan" not in text and "6-bit -0.100" in text
