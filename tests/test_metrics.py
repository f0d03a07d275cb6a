"""Classification metrics: exact values on hand-made scores."""

from __future__ import annotations

import numpy as np
import pytest

from qaplib import metrics

LABELS = np.array([0, 0, 1, 1, 2, 3, 4, 4])


def perfect_scores(labels):
    return np.eye(5)[labels]


def test_accuracy_counts_argmax_hits():
    scores = perfect_scores(LABELS)
    scores[0] = np.eye(5)[1]  # one miss out of eight
    assert metrics.accuracy(LABELS, scores) == pytest.approx(7 / 8)


def test_perfect_scores_give_auc_one_and_zero_background():
    scores = perfect_scores(LABELS)
    assert metrics.auc_per_class(LABELS, scores) == pytest.approx(np.ones(5))
    assert metrics.macro_auc(LABELS, scores) == 1.0
    assert metrics.background_efficiency_at(LABELS, scores, 0.5) == pytest.approx(np.zeros(5))


def test_auc_of_a_hand_ranked_class():
    labels = np.array([0, 0, 1, 1])
    scores = np.zeros((4, 5))
    scores[:, 0] = [0.9, 0.2, 0.5, 0.1]  # signal scores 0.9, 0.2; background 0.5, 0.1 -> 3 of 4 pairs right
    assert metrics.auc_per_class(labels, scores)[0] == pytest.approx(0.75)


def test_background_efficiency_interpolates_the_roc():
    labels = np.array([0, 0, 1, 1])
    scores = np.zeros((4, 5))
    scores[:, 0] = [0.9, 0.2, 0.5, 0.1]
    # ROC of class 0: (fpr, tpr) = (0,0), (0,0.5), (0.5,0.5), (0.5,1), (1,1)
    assert metrics.background_efficiency_at(labels, scores, 0.25)[0] == pytest.approx(0.0)
    assert metrics.background_efficiency_at(labels, scores, 0.75)[0] == pytest.approx(0.5)


def test_confusion_rows_sum_to_one():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, 200)
    matrix = metrics.normalised_confusion(labels, rng.random((200, 5)))
    assert matrix.shape == (5, 5)
    assert np.allclose(matrix.sum(axis=1), 1)
