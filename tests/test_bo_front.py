"""The BO front on every fold: which architectures are chosen, how the choice is recorded, and the paired comparison."""

from __future__ import annotations

import pandas as pd
import pytest

from qaplib import bo_front
from qaplib.bo_front import Definition


def fold_zero_rows(rows):
    return pd.DataFrame([{"bits": b, "widths": w, "accuracy": a, "bops": o} for b, w, a, o in rows])


def test_selection_takes_the_cheapest_architecture_per_target_and_the_best_pick():
    rows = fold_zero_rows([(6, "8-8-8", 0.650, 10), (6, "9-9-9", 0.682, 30), (6, "10-10-10", 0.6815, 20),
                           (6, "20-20-20", 0.695, 50), (6, "30-30-30", 0.697, 90), (6, "40-40-40", 0.690, 40)])  # fmt: skip
    chosen = bo_front.front_architectures(rows, {6: (30, 30, 30)}, reference=0.700)
    assert [(a.widths, a.reasons) for a in chosen] == [
        ((10, 10, 10), ("cheapest within 2 points",)),  # 0.6815 >= 0.68 and cheaper than 9-9-9
        ((40, 40, 40), ("cheapest within 1 points",)),  # 0.690 >= 0.69 at 40 BOPs
        ((20, 20, 20), ("cheapest within 0.5 points",)),
        ((30, 30, 30), ("best pick",)),
    ]


def test_one_architecture_can_be_chosen_for_several_reasons_and_an_unreached_target_adds_none():
    rows = fold_zero_rows([(4, "8-8-8", 0.689, 10), (4, "9-9-9", 0.60, 5)])
    chosen = bo_front.front_architectures(rows, {4: (8, 8, 8)}, reference=0.700)
    assert [(a.widths, a.reasons) for a in chosen] == [((8, 8, 8), ("cheapest within 2 points", "best pick"))]


def qap_rows(fold, points):
    """Points (bits, phase, accuracy, BOPs) of one fold's QAP curves."""
    return [{"fold": fold, "bits": b, "phase": p, "sparsity": p / 10, "accuracy": a, "bops": o} for b, p, a, o in points]


def bo_rows(fold, points):
    """Points (bits, widths, accuracy, BOPs, best) of one fold's BO architectures."""
    return [{"fold": fold, "bits": b, "widths": w, "accuracy": a, "bops": o, "best": best} for b, w, a, o, best in points]


# Two folds, float baseline 0.70 and 0.71. At 6 bits QAP reaches 0.695 at 200 (fold 0) and 0.705 at 250 (fold 1).
QAP = pd.DataFrame(qap_rows(0, [(32, 0, 0.70, 4000), (6, 0, 0.697, 400), (6, 1, 0.695, 200), (6, 2, 0.68, 100)])
                   + qap_rows(1, [(32, 0, 0.71, 4000), (6, 0, 0.707, 400), (6, 1, 0.705, 250), (6, 2, 0.69, 100)]))  # fmt: skip
BO = pd.DataFrame(bo_rows(0, [(6, "a", 0.692, 150, False), (6, "b", 0.699, 600, True)])
                  + bo_rows(1, [(6, "a", 0.698, 150, False), (6, "b", 0.709, 600, True)]))  # fmt: skip


def test_cheapest_adequate_models_are_paired_by_fold():
    paired = bo_front.paired_costs(QAP, BO, Definition("cheapest adequate", 0.01))
    assert paired["threshold"].tolist() == pytest.approx([0.69, 0.70])
    assert paired["BO widths"].tolist() == ["a", "b"]  # fold 1: "a" (0.698) misses 0.70
    assert paired["QAP BOPs"].tolist() == [200, 250]
    assert paired["ratio"].tolist() == pytest.approx([150 / 200, 600 / 250])


def test_best_pick_at_least_as_accurate_and_within_a_tolerance():
    strict = bo_front.paired_costs(QAP, BO, Definition("best pick", None))
    assert strict["QAP BOPs"].isna().all()  # no QAP phase reaches 0.699 (fold 0) or 0.709 (fold 1)
    loose = bo_front.paired_costs(QAP, BO, Definition("best pick", 0.005))
    assert loose["QAP BOPs"].tolist() == [200, 250]
    relative = bo_front.paired_costs(QAP, BO, Definition("best pick", 0.005, relative=True))
    assert relative["threshold"].tolist() == pytest.approx([0.699 * 0.995, 0.709 * 0.995])


def test_outcome_needs_two_standard_errors_and_names_unreached_targets():
    table = bo_front.bo_robustness(QAP, BO, [Definition("cheapest adequate", 0.01), Definition("best pick", None)])
    assert table["outcome"].tolist() == ["no clear difference", "only BO reaches it in every fold (QAP in 0)"]
    far = bo_front.bo_robustness(QAP, BO.assign(bops=BO["bops"] * 10), [Definition("best pick", 0.005)])
    assert far["outcome"].tolist() == ["QAP cheaper"]
    near = bo_front.bo_robustness(QAP, BO.assign(bops=BO["bops"] / 10), [Definition("best pick", 0.005)])
    assert near["outcome"].tolist() == ["BO cheaper"]


def test_verdict_names_where_the_claim_fails():
    cheap_bo = BO.assign(bops=BO["bops"] / 10)
    table = bo_front.bo_robustness(QAP, cheap_bo, [Definition("best pick", 0.005), Definition("best pick", 0.02)])
    text = bo_front.robustness_verdict(table)
    assert "holds under 0 of 2 definitions" in text
    assert "BO is cheaper by more than two standard errors under best pick, QAP within 0.5 pp (6-bit); best pick, QAP " \
           "within 2 pp (6-bit)" in text
    held = bo_front.robustness_verdict(bo_front.bo_robustness(QAP, BO.assign(bops=BO["bops"] * 10),
                                                              [Definition("best pick", 0.005)]))  # fmt: skip
    assert "holds under 1 of 1 definitions" in held and "fails" not in held
    assert "; BO is cheaper by more" in text  # one sentence: the at-a-glance table shows the first


def test_there_are_thirteen_definitions_and_each_describes_itself_once():
    names = [d.describe() for d in bo_front.definitions()]
    assert len(names) == len(set(names)) == 13
    assert "cheapest models within 1 % of the float baseline" in names


def test_robustness_matrix_puts_bit_widths_widest_first():
    qap = pd.concat([QAP, QAP[QAP["bits"] == 6].assign(bits=4)])
    bo = pd.concat([BO, BO.assign(bits=4)])
    matrix = bo_front.robustness_matrix(bo_front.bo_robustness(qap, bo, [Definition("best pick", 0.005)]))
    assert list(matrix.columns) == ["definition", "6-bit", "4-bit"]
    assert matrix.iloc[0]["6-bit"] == "2.70× ± 0.30 QAP"  # 600 / 200 and 600 / 250
    assert matrix.iloc[0]["definition"] == "best pick, QAP within 0.5 pp"
    outcomes = ("BO cheaper", "no clear difference", "only QAP reaches it in every fold (BO in 3)")
    assert [bo_front.short_outcome(o) for o in outcomes] == ["BO", "≈", "only QAP"]


def test_a_selection_is_made_once_and_read_back_from_the_committed_root(tmp_path, monkeypatch):
    from qaplib.store import ResultStore

    committed, scratch = tmp_path / "committed", tmp_path / "scratch"
    made = []

    def fake_make(*args):
        made.append(1)
        return [bo_front.Architecture(6, (8, 8, 8), ("best pick",))]

    monkeypatch.setattr(bo_front, "selection_key", lambda *args: "a" * 24)
    monkeypatch.setattr(bo_front, "_baseline", lambda profile: None)
    monkeypatch.setattr(bo_front, "run_key", lambda spec: "b" * 24)
    monkeypatch.setattr(bo_front, "front_architectures", fake_make)
    monkeypatch.setattr(bo_front, "best_trial", lambda trials: trials[0])

    class Loaded:
        phases = [{"accuracy": 0.7}]

    monkeypatch.setattr(ResultStore, "load", lambda self, key: Loaded())
    from qaplib.bayesopt import Trial
    from qaplib.profiles import get_profile

    trials = {6: [Trial((8, 8, 8), 1.0, "c" * 24)]}
    fold_zero = pd.DataFrame({"key": ["c" * 24]})
    first = bo_front.read_or_make_selection(ResultStore(committed), get_profile("smoke"), [], trials, fold_zero)
    again = bo_front.read_or_make_selection(ResultStore(scratch, read_only=(committed,)), get_profile("smoke"), [], trials,
                                            fold_zero)  # fmt: skip
    assert first == again and len(made) == 1
    assert not (scratch / bo_front.SELECTION_DIR).exists()  # served from the committed root, not copied
