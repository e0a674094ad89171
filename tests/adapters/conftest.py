"""Fixtures of the adapters' tests: the tiny competition and text envs that are always closed."""

from __future__ import annotations

import os

import pytest

import tiny_competition as tiny
from dojo_kernel.adapters.text import DojoTextEnv


@pytest.fixture(scope="module")
def competition(tmp_path_factory):
    return tiny.build(tmp_path_factory.mktemp("competitions"))


@pytest.fixture
def text_settings(competition, tmp_path):
    """Settings for envs on the tiny competition: no warm kernel unless asked (one more
    process on a small machine), the suite's isolation."""
    return {"output_dir": tmp_path / "runs", "warm_pool": 0,
            "isolation": os.environ.get("DOJO_TEST_ISOLATION", "auto")}


@pytest.fixture
def make_text_env(competition, text_settings):
    made: list[DojoTextEnv] = []

    def make(**options) -> DojoTextEnv:
        env = DojoTextEnv(competition.name, **{**text_settings, **options})
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()
