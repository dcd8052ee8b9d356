"""Shared fixtures: a seeded NumPy generator per test, float64 default dtype, and torch."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import tapegrad


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A ``numpy.random.Generator`` seeded from the test's id: reproducible, order-independent.

    Tests draw all their random data from it and never touch the global ``np.random`` state.
    """
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def float64() -> Iterator[None]:
    """Run the test with float64 as tapegrad's default dtype (restored afterwards)."""
    previous = tapegrad.get_default_dtype()
    tapegrad.set_default_dtype(tapegrad.float64)
    try:
        yield
    finally:
        tapegrad.set_default_dtype(previous)


@pytest.fixture
def torch() -> Any:
    """The torch module (the parity oracle); the test is skipped where torch is missing."""
    return pytest.importorskip("torch")
