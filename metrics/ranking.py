"""Metrics for ranked label lists: each row holds space-separated labels, best first."""

from __future__ import annotations

import numpy as np

from .registry import ArrayLike, as_1d, register_metric


def _split(cell: object) -> list[str]:
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return []
    return str(cell).split()


@register_metric("map@k", higher_is_better=True, kind="ranking", aliases=("mapk", "mean_average_precision"))
def map_at_k(answers: ArrayLike, predictions: ArrayLike, k: int = 5) -> float:
    """Mean average precision at k; a row's relevant labels are its answer's labels.

    Each row scores sum(precision@i for each hit i <= k, first occurrence only) divided by
    min(len(answer), k); a row with no answer labels scores 0.
    """
    total = 0.0
    actual_rows, predicted_rows = as_1d(answers), as_1d(predictions)
    for actual_cell, predicted_cell in zip(actual_rows, predicted_rows):
        actual = set(_split(actual_cell))
        if not actual:
            continue
        hits, score, seen = 0, 0.0, set()
        for i, label in enumerate(_split(predicted_cell)[:k]):
            if label in actual and label not in seen:
                hits += 1
                score += hits / (i + 1)
            seen.add(label)
        total += score / min(len(actual), k)
    return total / len(actual_rows) if len(actual_rows) else 0.0


@register_metric("ndcg@k", higher_is_better=True, kind="ranking", aliases=("ndcg",))
def ndcg_at_k(answers: ArrayLike, predictions: ArrayLike, k: int = 5) -> float:
    """Normalised discounted cumulative gain at k with binary relevance (label in the answer)."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    total = 0.0
    actual_rows, predicted_rows = as_1d(answers), as_1d(predictions)
    for actual_cell, predicted_cell in zip(actual_rows, predicted_rows):
        actual = set(_split(actual_cell))
        if not actual:
            continue
        seen: set[str] = set()
        gains = []
        for label in _split(predicted_cell)[:k]:
            gains.append(1.0 if label in actual and label not in seen else 0.0)
            seen.add(label)
        dcg = float(np.dot(gains, discounts[: len(gains)]))
        ideal = float(discounts[: min(len(actual), k)].sum())
        total += dcg / ideal
    return total / len(actual_rows) if len(actual_rows) else 0.0
