"""Metrics over text and label sets: word Jaccard, per-row F1 of label sets, edit distance."""

from __future__ import annotations

import numpy as np

from .registry import ArrayLike, as_1d, register_metric


def _words(cell: object) -> list[str]:
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return []
    return str(cell).split()


@register_metric("word_jaccard", higher_is_better=True, kind="text", aliases=("jaccard",))
def word_jaccard(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Mean over rows of |A & B| / |A | B| of the lower-cased word sets, as Kaggle's
    tweet-sentiment-extraction and chaii define it; two empty strings score 1."""
    total, rows = 0.0, list(zip(as_1d(answers), as_1d(predictions)))
    for actual, predicted in rows:
        a, b = set(str(actual).lower().split()), set(str(predicted).lower().split())
        total += 1.0 if not a and not b else len(a & b) / len(a | b)
    return total / len(rows) if rows else 0.0


@register_metric("mean_f1_sets", higher_is_better=True, kind="ranking", aliases=("mean_f1_tags", "f1_samples"))
def mean_f1_sets(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Mean over rows of the F1 score of the predicted label set against the answer's
    (space-separated labels; order and repeats do not matter), as Kaggle's "Mean F1"
    (facebook-recruiting-iii tags, shopee matches, plant-pathology-2021 labels) and
    ``sklearn.metrics.f1_score(average="samples")`` compute it; two empty sets score 1."""
    total, rows = 0.0, list(zip(as_1d(answers), as_1d(predictions)))
    for actual, predicted in rows:
        a, b = set(_words(actual)), set(_words(predicted))
        total += 1.0 if not a and not b else 2 * len(a & b) / (len(a) + len(b))
    return total / len(rows) if rows else 0.0


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


@register_metric("levenshtein_mean", higher_is_better=False, kind="text", aliases=("mean_levenshtein",))
def levenshtein_mean(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Mean character edit distance (insertions, deletions, substitutions cost 1) between
    answer and prediction, Kaggle's "Levenshtein Mean" (bms-molecular-translation)."""
    rows = list(zip(as_1d(answers), as_1d(predictions)))
    return float(np.mean([_levenshtein(str(a), str(p)) for a, p in rows])) if rows else 0.0


@register_metric("f2_micro_sets", higher_is_better=True, kind="ranking", aliases=("micro_f2",))
def f2_micro_sets(answers: ArrayLike, predictions: ArrayLike, beta: float = 2.0) -> float:
    """Micro-averaged F-beta (beta 2) of space-separated label sets: true positives, false
    positives and false negatives summed over all rows first, as Kaggle's "F-Score Beta
    (Micro)" (imet-2020-fgvc7) and ``sklearn.metrics.fbeta_score(average="micro")``."""
    tp = fp = fn = 0
    for actual, predicted in zip(as_1d(answers), as_1d(predictions)):
        a, b = set(_words(actual)), set(_words(predicted))
        tp, fp, fn = tp + len(a & b), fp + len(b - a), fn + len(a - b)
    b2 = beta * beta
    denominator = (1 + b2) * tp + b2 * fn + fp
    return (1 + b2) * tp / denominator if denominator else 1.0


@register_metric("kendall_tau_orders", higher_is_better=True, kind="ranking")
def kendall_tau_orders(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Kaggle's AI4Code Kendall tau: 1 - 4 * (inversions summed over rows) / (sum of
    n(n - 1)), each row a space-separated order of cell ids. A predicted id not in the
    row's answer is ignored; answer ids the prediction leaves out go to its end, in the
    answer's order (so a partial order is scored, not refused)."""
    inversions = pairs = 0
    for actual, predicted in zip(as_1d(answers), as_1d(predictions)):
        truth = _words(actual)
        position = {cell: i for i, cell in enumerate(truth)}
        seen, ranks = set(), []
        for cell in _words(predicted):
            if cell in position and cell not in seen:
                seen.add(cell)
                ranks.append(position[cell])
        ranks += [position[cell] for cell in truth if cell not in seen]
        inversions += sum(1 for i in range(len(ranks)) for j in range(i + 1, len(ranks)) if ranks[i] > ranks[j])
        pairs += len(truth) * (len(truth) - 1)
    return 1 - 4 * inversions / pairs if pairs else 1.0


def _span_characters(cell: object) -> set[int]:
    """Character positions of "start end;start end" spans (Kaggle's nbme format)."""
    characters: set[int] = set()
    for span in str(cell if cell is not None else "").replace(",", ";").split(";"):
        bounds = span.split()
        if len(bounds) == 2 and all(b.lstrip("-").isdigit() for b in bounds):
            characters.update(range(int(bounds[0]), int(bounds[1])))
    return characters


@register_metric("span_micro_f1", higher_is_better=True, kind="text", aliases=("character_span_f1",))
def span_micro_f1(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Micro F1 over character positions, each row's spans written "start end;start end"
    (end exclusive), as Kaggle's nbme-score-clinical-patient-notes scores them: true and
    false positives and false negatives are counted over all rows' characters together."""
    tp = fp = fn = 0
    for actual, predicted in zip(as_1d(answers), as_1d(predictions)):
        a, b = _span_characters(actual), _span_characters(predicted)
        tp, fp, fn = tp + len(a & b), fp + len(b - a), fn + len(a - b)
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


def _rle_pixels(cell: object) -> set[int]:
    """Pixel numbers of a run-length mask "start length start length" (1-based)."""
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return set()
    numbers = [int(x) for x in str(cell).split() if x.lstrip("-").isdigit()]
    return {p for start, length in zip(numbers[::2], numbers[1::2]) for p in range(start, start + length)}


@register_metric("mask_iou_precision", higher_is_better=True, kind="text", aliases=("tgs_salt_map",))
def mask_iou_precision(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Kaggle's tgs-salt-identification-challenge score: per image, the share of IoU
    thresholds 0.5, 0.55, ..., 0.95 that the IoU of the predicted and true run-length masks
    exceeds (one object per image, so precision at t is 1 or 0); an empty mask predicted
    for an empty truth scores 1, any other empty side 0; averaged over images."""
    thresholds = np.arange(0.5, 1.0, 0.05)
    scores = []
    for actual, predicted in zip(as_1d(answers), as_1d(predictions)):
        a, b = _rle_pixels(actual), _rle_pixels(predicted)
        if not a and not b:
            scores.append(1.0)
        elif not a or not b:
            scores.append(0.0)
        else:
            iou = len(a & b) / len(a | b)
            scores.append(float(np.mean(iou > thresholds)))
    return float(np.mean(scores)) if scores else 0.0
