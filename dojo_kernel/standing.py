"""Placing a score on a leaderboard: MLE-Dojo's position score, rank, MLE-bench's medals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Medal = Literal["gold", "silver", "bronze"]


def medal_positions(teams: int) -> tuple[int, int, int]:
    """The last rank that still earns gold, silver and bronze, by MLE-bench's bands.

    Fewer than 100 teams: top 10%, 20%, 40%. 100-249: top 10, 20%, 40%. 250-999: top
    10 + 0.2% of teams, top 50, top 100. 1000 and more: top 10 + 0.2%, 5%, 10%.
    """
    if teams < 1:
        raise ValueError(f"expected a leaderboard with at least one entry, got {teams}")
    if teams < 100:
        return max(1, int(teams * 0.1)), max(1, int(teams * 0.2)), max(1, int(teams * 0.4))
    if teams < 250:
        return 10, max(1, int(teams * 0.2)), max(1, int(teams * 0.4))
    if teams < 1000:
        return 10 + int(teams * 0.002), 50, 100
    return 10 + int(teams * 0.002), max(1, int(teams * 0.05)), max(1, int(teams * 0.1))


@dataclass(frozen=True)
class Standing:
    position: float  # MLE-Dojo's position score: share of entries the score beats or ties
    rank: int  # 1 + number of entries strictly better
    teams: int
    medal: Medal | None
    above_median: bool
    thresholds: dict[str, float]


def leaderboard_standing(score: float, scores: Sequence[float] | np.ndarray, higher_is_better: bool) -> Standing:
    """Place ``score`` on a leaderboard of ``scores`` (any order; direction from the metric).

    Position follows MLE-Dojo: the share of entries whose score is no better than this
    one, so a tie counts as beaten. Medals and "above median" follow MLE-bench: a medal
    needs a score at least as good as the entry at the band's last medal rank; above
    median must be strictly better than the median.
    """
    board = np.asarray(scores, dtype=float)
    board = board[~np.isnan(board)]
    teams = len(board)
    if teams == 0:
        raise ValueError("expected a leaderboard with at least one score, got none")
    best_first = np.sort(board)[::-1] if higher_is_better else np.sort(board)
    if higher_is_better:
        beaten, better = int(np.sum(board <= score)), int(np.sum(board > score))
    else:
        beaten, better = int(np.sum(board >= score)), int(np.sum(board < score))
    gold_at, silver_at, bronze_at = medal_positions(teams)
    thresholds = {
        "gold": float(best_first[gold_at - 1]),
        "silver": float(best_first[silver_at - 1]),
        "bronze": float(best_first[bronze_at - 1]),
        "median": float(np.median(board)),
    }

    def reaches(threshold: float) -> bool:
        return score >= threshold if higher_is_better else score <= threshold

    medal: Medal | None = None
    for name in ("gold", "silver", "bronze"):
        if reaches(thresholds[name]):
            medal = name  # type: ignore[assignment]
            break
    above = score > thresholds["median"] if higher_is_better else score < thresholds["median"]
    return Standing(beaten / teams, better + 1, teams, medal, bool(above), thresholds)
