"""Hypothesis profiles: the same commit gives the same verdict every time, and a wide random
search is one option away.

    default  derandomized (each test's examples are a fixed function of the test), no example
             database, 15 examples per test: what `./course test` and CI run.
    wide     random (a new search each run), 300 examples per test; a failure prints the
             falsifying example and a @reproduce_failure blob. Run it before trusting a
             change to the library: HYPOTHESIS_PROFILE=wide or --hypothesis-profile=wide.

Tests do not set max_examples themselves, so the profile decides how many examples each gets.
"""
import os

import pytest
from hypothesis import settings

settings.register_profile("default", derandomize=True, database=None, deadline=None,
                          max_examples=15, print_blob=True)
settings.register_profile("wide", derandomize=False, database=None, deadline=None,
                          max_examples=300, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_configure(config):
    """--hypothesis-profile wins over HYPOTHESIS_PROFILE, which wins over "default"
    (whichever of this hook and Hypothesis's own plugin runs first)."""
    name = config.getoption("--hypothesis-profile", default=None)
    settings.load_profile(name or os.environ.get("HYPOTHESIS_PROFILE", "default"))


# Variables that steer grading. nbval's kernels (the notebooks run after the tests, in this same
# process) inherit this environment: a class seed left behind by a test changes every hidden
# check's cases and so the stored outputs nbval compares.
GRADING_VARIABLES = ("COURSE_HIDDEN_SEED", "COURSE_DIR", "COURSE_EXCHANGE", "COURSE_GRADING_COPIES")


@pytest.fixture(autouse=True)
def _grading_environment_restored():
    """A test that leaves a grading variable changed fails (after the variable is restored):
    set them with monkeypatch, or in a subprocess's own environment."""
    before = {name: os.environ.get(name) for name in GRADING_VARIABLES}
    yield
    leaked = [name for name, value in before.items() if os.environ.get(name) != value]
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    assert not leaked, f"the test left {leaked} changed in os.environ"
