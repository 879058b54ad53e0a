"""Shared pytest setup: tests/ on sys.path (``from helpers import ...``), a fixed seed."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _seed_loomgrad():
    """Each test starts from the same global generator state (repeatable runs)."""
    import loomgrad as lg
    lg.manual_seed(0)
    yield
