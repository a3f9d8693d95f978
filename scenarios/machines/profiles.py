"""Hypothesis settings profiles for the machines: ``ci`` (quick, every CI run) and
``thorough`` (long runs, the example database kept between runs)."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

#: Where ``thorough`` keeps the failing and interesting examples between runs.
DATABASE = Path(os.environ.get("LINELAB_FUZZ_DB", Path.home() / ".cache" / "linelab" / "fuzz-db"))

_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]


def register() -> None:
    """Register the profiles (idempotent); load one with ``settings.load_profile``."""
    settings.register_profile(
        "ci",
        max_examples=8,
        stateful_step_count=20,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=_SLOW,
        print_blob=True,
    )
    settings.register_profile(
        "thorough",
        max_examples=500,
        stateful_step_count=100,
        deadline=None,
        database=DirectoryBasedExampleDatabase(str(DATABASE)),
        suppress_health_check=_SLOW,
        print_blob=True,
    )


def ci() -> settings:
    register()
    return settings.get_profile("ci")


def thorough() -> settings:
    register()
    return settings.get_profile("thorough")
