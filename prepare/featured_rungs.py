"""Reference solutions that make their own features first: the top of an honest ladder.

The generic rungs of ``ladder.py`` see a table as it is: numbers imputed, text columns
one-hot encoded (at most 30 values each). Where a careful person would do more (read the
free text word by word, take the hour out of a timestamp, add up charges), a ladder of
generic rungs alone puts a plain agent that does it above every reference solution, and
the board no longer ranks. A :class:`FeaturedModel` is such a careful solution: a function
that adds features to the raw table, TF-IDF for the free-text columns, optionally the mean
target of the row's group (a person seen in other years), the usual preprocessor for the
rest, then the estimator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline


def _as_is(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


class FeaturedModel(BaseEstimator):
    """``estimator`` on ``features(raw table)``, free-text columns read by TF-IDF.

    ``takes_raw_frame`` tells ``ladder.fit_tabular_ladder`` to hand it the table as it is.
    ``chars``: TF-IDF of character 2-5-grams as well as of words and word pairs (spelling,
    punctuation and emoji, which say who typed a text as much as its words do).
    """

    takes_raw_frame = True

    def __init__(self, estimator: Any = None, features: Callable[[pd.DataFrame], pd.DataFrame] = _as_is,
                 text: Sequence[str] = (), chars: bool = False, scale: bool = True, group: str | None = None) -> None:
        self.estimator, self.features, self.text, self.chars, self.scale = estimator, features, text, chars, scale
        self.group = group  # a column whose rows share a target level (one person over several years)

    def _pipeline(self, frame: pd.DataFrame) -> Any:
        from .ladder import preprocessor

        rest = [c for c in frame.columns if c not in self.text]
        parts: list[Any] = [("rest", preprocessor(pd.DataFrame(frame[rest]), scale=self.scale), rest)] if rest else []
        for column in self.text:
            parts.append((f"words_{column}", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True), column))
            if self.chars:
                parts.append((f"chars_{column}", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=3,
                                                                 sublinear_tf=True, lowercase=False), column))
        return make_pipeline(ColumnTransformer(parts), clone(self.estimator))

    def _featured(self, frame: pd.DataFrame, fitted: bool = False) -> pd.DataFrame:
        featured = self.features(pd.DataFrame(frame).copy())
        for column in self.text:  # a missing text is an empty one
            featured[column] = featured[column].fillna("").astype(str)
        if fitted and self.group is not None:
            featured = self._with_group_mean(featured, self.group_means_, self.group_counts_)
        return featured

    def _with_group_mean(self, featured: pd.DataFrame, means: pd.Series, counts: pd.Series) -> pd.DataFrame:
        keys = featured[self.group]
        featured[f"{self.group}_mean_target"] = keys.map(means).to_numpy(dtype=float)  # NaN: a group not seen
        featured[f"{self.group}_rows"] = keys.map(counts).fillna(0).to_numpy(dtype=float)
        return featured.drop(columns=[self.group])

    def _group_encoded(self, featured: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
        """The mean target of each row's group in the training rows; for a training row, from the
        other folds only, or its own target would leak into its feature."""
        from sklearn.model_selection import KFold

        keys, target = featured[self.group], pd.Series(np.asarray(y, dtype=float), index=featured.index)
        parts = []
        for fit_rows, held_rows in KFold(5, shuffle=True, random_state=0).split(featured):
            grouped = target.iloc[fit_rows].groupby(keys.iloc[fit_rows].to_numpy())
            parts.append(self._with_group_mean(featured.iloc[held_rows].copy(), grouped.mean(), grouped.size()))
        grouped = target.groupby(keys.to_numpy())
        self.group_means_: pd.Series = cast(pd.Series, grouped.mean())  # a Series grouped gives Series
        self.group_counts_: pd.Series = cast(pd.Series, grouped.size())
        return pd.concat(parts).loc[featured.index]

    def fit(self, frame: pd.DataFrame, y: np.ndarray) -> FeaturedModel:
        featured = self._featured(frame)
        if self.group is not None:
            featured = self._group_encoded(featured, y)
        self.model_ = self._pipeline(featured).fit(featured, y)
        if hasattr(self.model_, "classes_"):
            self.classes_ = self.model_.classes_
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model_.predict(self._featured(frame, fitted=True))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_proba(self._featured(frame, fitted=True))
