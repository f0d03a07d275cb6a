"""Classification metrics of a jet tagger, as pure functions of labels and scores.

Shapes: ``labels`` (n,) int class indices in [0, 5); ``scores`` (n, 5) class probabilities (any
monotone per-class score gives the same ROC-based numbers).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve


def accuracy(labels: np.ndarray, scores: np.ndarray) -> float:
    """Fraction of jets whose arg-max class is the true class: mean(argmax(scores) == labels)."""
    return float(np.mean(np.argmax(scores, axis=1) == labels))


def auc_per_class(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """One-vs-rest ROC AUC per class, shape (5,): AUC_k = P(score_k(sig) > score_k(bkg))."""
    return np.array([roc_auc_score(labels == k, scores[:, k]) for k in range(scores.shape[1])])


def macro_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Unweighted mean of the one-vs-rest AUCs (sklearn's ``average='macro'``, as the paper)."""
    return float(np.mean(auc_per_class(labels, scores)))


def background_efficiency_at(labels: np.ndarray, scores: np.ndarray, signal_efficiency: float = 0.5) -> np.ndarray:
    """False-positive rate of each one-vs-rest classifier at a given true-positive rate, shape (5,).

    eps_b(k) = FPR_k interpolated at TPR_k = ``signal_efficiency`` (the paper's
    ``np.interp(0.5, tpr, fpr)``). Lower is better.
    """
    result = []
    for k in range(scores.shape[1]):
        fpr, tpr, _ = roc_curve(labels == k, scores[:, k])
        result.append(np.interp(signal_efficiency, tpr, fpr))
    return np.array(result)


def roc_curves(labels: np.ndarray, scores: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per-class one-vs-rest (signal efficiency, background efficiency) arrays."""
    curves = []
    for k in range(scores.shape[1]):
        fpr, tpr, _ = roc_curve(labels == k, scores[:, k])
        curves.append((tpr, fpr))
    return curves


def normalised_confusion(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Row-normalised confusion matrix (5, 5): entry [i, j] = P(predicted j | true i)."""
    n_classes = scores.shape[1]
    return confusion_matrix(labels, np.argmax(scores, axis=1), labels=range(n_classes), normalize="true")
