"""Classification metrics: labels and probabilities."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from .registry import ArrayLike, UndefinedMetric, as_1d, as_2d, register_metric, require_two_classes
from .registry import sklearn_metrics as skm

# Kaggle's log loss clips probabilities to [EPS, 1 - EPS] so one confident mistake costs
# about 34.5 rather than infinity.
EPS = 1e-15


def _labels(answers: ArrayLike, predictions: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    return as_1d(answers), as_1d(predictions)


def _one_hot(answers: ArrayLike, predictions: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Answers as a 0/1 matrix matching the prediction columns.

    Answers may already be one column per class (Kaggle's solution files), or one label
    per row, which is then matched to the prediction frame's column names.
    """
    probs = as_2d(predictions)
    answer_array = np.asarray(answers)
    if answer_array.ndim == 2 and answer_array.shape[1] == probs.shape[1]:
        return as_2d(answers), probs
    labels = as_1d(answers)
    if isinstance(predictions, pd.DataFrame):
        classes = np.asarray(predictions.columns).astype(str)
        labels = labels.astype(str)
    else:
        classes = np.arange(probs.shape[1])
    truth = (labels[:, None] == classes[None, :]).astype(float)
    return truth, probs


@register_metric("accuracy", higher_is_better=True, kind="label", aliases=("acc", "categorization_accuracy"))
def accuracy(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Share of rows whose predicted label equals the answer."""
    y, p = _labels(answers, predictions)
    return float(np.mean(y == p))


@register_metric("exact_match", higher_is_better=True, kind="text", aliases=("text_accuracy",))
def exact_match(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Share of rows whose predicted free text equals the answer exactly (no label set:
    any string is a valid prediction, as in text normalization)."""
    y, p = _labels(answers, predictions)
    return float(np.mean(y.astype(str) == p.astype(str)))


@register_metric("balanced_accuracy", higher_is_better=True, kind="label")
def balanced_accuracy(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Mean recall over the classes present in the answers."""
    return skm.balanced_accuracy_score(*_labels(answers, predictions))


def _f1(answers: ArrayLike, predictions: ArrayLike, average: str = "binary", pos_label: object = 1) -> float:
    y, p = _labels(answers, predictions)
    if average == "binary":
        return skm.f1_score(y, p, average="binary", pos_label=pos_label, zero_division=0)
    return skm.f1_score(y, p, average=average, zero_division=0)


# functools.partial of a module-level function, not a closure, so that metrics pickle
# (a Competition travels to worker processes).
register_metric(
    "f1",
    functools.partial(_f1, average="binary"),
    higher_is_better=True,
    kind="label",
    aliases=("f1_binary",),
    description="F1 score of the positive class (pos_label, default 1).",
)
for _average in ("micro", "macro", "weighted"):
    register_metric(
        f"f1_{_average}",
        functools.partial(_f1, average=_average),
        higher_is_better=True,
        kind="label",
        description=f"F1 score, {_average} average over the classes.",
    )


@register_metric("mcc", higher_is_better=True, kind="label", aliases=("matthews_corrcoef",))
def mcc(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Matthews correlation coefficient."""
    return skm.matthews_corrcoef(*_labels(answers, predictions))


@register_metric("quadratic_weighted_kappa", higher_is_better=True, kind="label", aliases=("qwk", "kappa_quadratic"))
def quadratic_weighted_kappa(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Cohen's kappa with quadratic weights, for ordinal labels, as
    ``sklearn.metrics.cohen_kappa_score(weights="quadratic")``."""
    return skm.cohen_kappa_score(*_labels(answers, predictions), weights="quadratic")


@register_metric("roc_auc", higher_is_better=True, kind="probability", aliases=("auc", "area_under_roc"))
def roc_auc(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Area under the ROC curve for a binary target (ties count half), as
    ``sklearn.metrics.roc_auc_score``; undefined (UndefinedMetric) when the answers hold
    one class only."""
    truth = as_1d(answers)
    require_two_classes(truth, "ROC AUC")
    return skm.roc_auc_score(truth, as_1d(predictions).astype(float))


@register_metric(
    "roc_auc_ovr", higher_is_better=True, kind="probability", multi_target=True, aliases=("multiclass_auc",)
)
def roc_auc_ovr(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Multiclass ROC AUC: one class against the rest, macro average over classes, as
    ``sklearn.metrics.roc_auc_score(multi_class="ovr")``; a class absent from the answers
    makes it undefined."""
    truth, probs = _one_hot(answers, predictions)
    return _columnwise_auc(truth, probs, "multiclass ROC AUC, class")


@register_metric(
    "mean_columnwise_auc", higher_is_better=True, kind="probability", multi_target=True, aliases=("mcauc",)
)
def mean_columnwise_auc(answers: ArrayLike, predictions: ArrayLike) -> float:
    """ROC AUC of each target column (each a binary target), averaged; a column whose
    answers hold one class makes it undefined (Kaggle's jigsaw scorer refuses it too)."""
    truth, probs = as_2d(answers), as_2d(predictions)
    return _columnwise_auc(truth, probs, "ROC AUC of column")


def _columnwise_auc(truth: np.ndarray, probs: np.ndarray, what: str) -> float:
    scores = []
    for j in range(truth.shape[1]):
        require_two_classes(truth[:, j], f"{what} {j}")
        scores.append(skm.roc_auc_score(truth[:, j], probs[:, j]))
    return float(np.mean(scores))


@register_metric("log_loss", higher_is_better=False, kind="probability", aliases=("logloss", "binary_log_loss"))
def log_loss(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Binary cross-entropy with Kaggle's clipping to [1e-15, 1 - 1e-15]."""
    y = as_1d(answers).astype(float)
    p = np.clip(as_1d(predictions).astype(float), EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


@register_metric(
    "multiclass_log_loss",
    higher_is_better=False,
    kind="probability",
    multi_target=True,
    aliases=("mlogloss", "multi_logloss", "categorical_crossentropy"),
)
def multiclass_log_loss(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Kaggle's multiclass log loss: each row divided by its sum, then clipped to [1e-15, 1 - 1e-15]."""
    truth, probs = _one_hot(answers, predictions)
    sums = probs.sum(axis=1, keepdims=True)
    probs = np.divide(probs, sums, out=np.full_like(probs, 1.0 / probs.shape[1]), where=sums > 0)
    probs = np.clip(probs, EPS, 1 - EPS)
    return float(-np.mean(np.sum(truth * np.log(probs), axis=1)))


@register_metric("normalized_gini", higher_is_better=True, kind="continuous", aliases=("gini",))
def normalized_gini(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Gini of the predictions' ordering divided by the best possible Gini.

    Rows with tied predictions share their answers' mean, so the value does not depend on
    row order (for a binary target it equals 2 * AUC - 1).
    """
    y = as_1d(answers).astype(float)
    p = as_1d(predictions).astype(float)
    if np.ptp(y) == 0:  # the best possible Gini is 0: the ratio divides by it
        raise UndefinedMetric(
            "normalized Gini is undefined when the answers are constant (all rows are "
            f"{y[0]:g}): the best possible Gini, its denominator, is 0",
            side="answers",
        )
    return _gini(y, p) / _gini(y, y)


def _gini(actual: np.ndarray, predicted: np.ndarray) -> float:
    order = np.argsort(-predicted, kind="mergesort")
    sorted_pred, sorted_actual = predicted[order], actual[order]
    # average the answers within each group of tied predictions
    _, group, counts = np.unique(-sorted_pred, return_inverse=True, return_counts=True)
    sorted_actual = (np.bincount(group, weights=sorted_actual) / counts)[group]
    n = len(actual)
    cumulative = np.cumsum(sorted_actual) / sorted_actual.sum()
    return float(cumulative.sum() / n - (n + 1) / (2 * n))


@register_metric(
    "balanced_log_loss", higher_is_better=False, kind="probability", multi_target=True, aliases=("balanced_logloss",)
)
def balanced_log_loss(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Kaggle's balanced log loss (ICR - Identifying Age-Related Conditions): each class's
    mean of -log p over its own rows, averaged over the classes, so every class weighs the
    same whatever its size. Rows are divided by their sum and clipped to [1e-15, 1 - 1e-15]
    first, as for the multiclass log loss. A class absent from the answers is left out of
    the average (it has no rows to average over)."""
    truth, probs = _one_hot(answers, predictions)
    sums = probs.sum(axis=1, keepdims=True)
    probs = np.divide(probs, sums, out=np.full_like(probs, 1.0 / probs.shape[1]), where=sums > 0)
    probs = np.clip(probs, EPS, 1 - EPS)
    counts = truth.sum(axis=0)
    present = counts > 0
    per_class = -(truth * np.log(probs)).sum(axis=0)[present] / counts[present]
    return float(np.mean(per_class))


@register_metric("kl_divergence", higher_is_better=False, kind="probability", multi_target=True, aliases=("kld",))
def kl_divergence(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Mean over rows of KL(answer || prediction) = sum y log(y / p), answers and
    predictions each divided by their row sums and predictions clipped to [1e-15, 1], as
    Kaggle's "Kullback Leibler Divergence" (hms-harmful-brain-activity-classification)."""
    y, p = as_2d(answers), as_2d(predictions)
    y = y / np.clip(y.sum(axis=1, keepdims=True), EPS, None)
    p = np.clip(p / np.clip(p.sum(axis=1, keepdims=True), EPS, None), EPS, 1)
    terms = np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / p), 0.0)
    return float(np.mean(terms.sum(axis=1)))


@register_metric("lwlrap", higher_is_better=True, kind="probability", multi_target=True,
                 aliases=("label_weighted_lrap",))
def lwlrap(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Label-weighted label-ranking average precision (freesound-audio-tagging-2019): for
    each true label of a row, the precision of the row's ranking at that label's rank;
    averaged per class, and the classes weighted by how many true labels they have. It
    equals ``sklearn.metrics.label_ranking_average_precision_score`` with each row
    weighted by its number of true labels (ties aside)."""
    truth, scores = as_2d(answers) > 0, as_2d(predictions)
    n_rows, n_classes = truth.shape
    precision = np.zeros((n_rows, n_classes))
    for row in range(n_rows):
        positives = np.flatnonzero(truth[row])
        if not len(positives):
            continue
        ranking = np.empty(n_classes, dtype=int)
        ranking[np.argsort(-scores[row], kind="stable")] = np.arange(n_classes)
        hits = np.zeros(n_classes, dtype=bool)
        hits[ranking[positives]] = True
        precision[row, positives] = np.cumsum(hits)[ranking[positives]] / (1 + ranking[positives])
    labels_per_class = truth.sum(axis=0)
    if labels_per_class.sum() == 0:
        raise UndefinedMetric("lwlrap is undefined when no row has a true label", side="answers")
    per_class = precision.sum(axis=0) / np.maximum(1, labels_per_class)
    return float(np.sum(per_class * labels_per_class / labels_per_class.sum()))


def _auc_where(truth: np.ndarray, scores: np.ndarray, rows: np.ndarray, what: str) -> float:
    require_two_classes(truth[rows], what)
    return float(skm.roc_auc_score(truth[rows], scores[rows]))


@register_metric("bias_auc", higher_is_better=True, kind="probability", aliases=("jigsaw_bias_auc",))
def bias_auc(answers: ArrayLike, predictions: ArrayLike, subgroups: ArrayLike | None = None, power: float = -5) -> float:
    """Kaggle's jigsaw-unintended-bias-in-toxicity-classification score: 0.25 * overall ROC
    AUC + 0.75 * the mean of three power means (p = -5) over the identity subgroups of the
    subgroup AUC, the BPSN AUC (background positives, subgroup negatives) and the BNSP AUC
    (background negatives, subgroup positives). Targets and identities count from 0.5; the
    identity columns come from the answers (``metric_kwargs subgroup_columns``)."""
    truth = as_1d(answers).astype(float) >= 0.5
    scores = as_1d(predictions).astype(float)
    overall = _auc_where(truth, scores, np.ones(len(truth), dtype=bool), "overall ROC AUC")
    if subgroups is None:
        return overall
    groups = pd.DataFrame(subgroups).apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy() >= 0.5
    per_kind: list[list[float]] = [[], [], []]
    for j in range(groups.shape[1]):
        member = groups[:, j]
        name = f"subgroup {j}"
        per_kind[0].append(_auc_where(truth, scores, member, f"ROC AUC of {name}"))
        per_kind[1].append(_auc_where(truth, scores, (member & ~truth) | (~member & truth), f"BPSN AUC of {name}"))
        per_kind[2].append(_auc_where(truth, scores, (member & truth) | (~member & ~truth), f"BNSP AUC of {name}"))
    means = [float(np.mean(np.power(values, power)) ** (1 / power)) for values in per_kind]
    return 0.25 * overall + 0.75 * float(np.mean(means))


@register_metric("hierarchical_macro_recall", higher_is_better=True, kind="label", aliases=("weighted_macro_recall",))
def hierarchical_macro_recall(
    answers: ArrayLike, predictions: ArrayLike, groups: ArrayLike | None = None,
    group_weights: dict[str, float] | None = None,
) -> float:
    """Kaggle's bengaliai-cv19 score: the macro-averaged recall of each component's rows
    (the groups: grapheme_root, vowel_diacritic, consonant_diacritic), then their average
    weighted by ``group_weights`` (2 for grapheme_root there; a group not named weighs 1).
    Without groups it is the macro recall of all rows."""
    truth, guess = (np.asarray(a).astype(str) for a in _labels(answers, predictions))
    names = np.zeros(len(truth), dtype=str) if groups is None else np.asarray(groups).astype(str)
    scores, weights = [], []
    for name in sorted(set(names.tolist())):
        rows = names == name
        scores.append(skm.recall_score(truth[rows], guess[rows], average="macro", zero_division=0))
        weights.append((group_weights or {}).get(name, 1.0))
    return float(np.average(scores, weights=weights))
