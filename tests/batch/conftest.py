"""Fixtures of the batch's tests."""

from __future__ import annotations

import pytest

from .helpers import tiny_competitions


@pytest.fixture(scope="module")
def competitions(tmp_path_factory):
    """The two tiny competitions, built once per test module in a data root of its own."""
    with tiny_competitions(tmp_path_factory.mktemp("dojo-data")) as names:
        yield names
