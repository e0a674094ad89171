"""Fixtures of the reliability tests: one private copy of a built-in competition per session."""

from __future__ import annotations

import pytest

from dojo_kernel.competition import Competition

from .support import private_competition


@pytest.fixture(scope="session")
def reliability_competition(tmp_path_factory) -> Competition:
    """A copy of the built-in iris competition that hostile cells may damage at will."""
    return private_competition(tmp_path_factory.mktemp("reliability-competition"))
