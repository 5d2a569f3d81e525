"""Fixtures shared by the analysis tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator, so every test sees the same 'random' data."""
    return np.random.default_rng(20240521)
