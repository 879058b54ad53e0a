"""The library's one random-number generator.

Everything random in loomgrad (``rand``/``randn``, parameter init, dropout,
DataLoader shuffling) draws from :func:`get_generator`, so one
:func:`manual_seed` makes a run repeatable.
"""
from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "seed", "get_generator", "get_rng_state", "set_rng_state"]

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Re-seed the global generator (like ``torch.manual_seed``); returns it."""
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"manual_seed: seed must be >= 0, got {seed}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def seed() -> int:
    """Seed from OS entropy; returns the seed used."""
    s = int(np.random.SeedSequence().entropy % (2**63))
    manual_seed(s)
    return s


def get_generator() -> np.random.Generator:
    """The global ``numpy.random.Generator``."""
    return _generator


def get_rng_state() -> dict:
    """A JSON-able copy of the generator state (for checkpoints)."""
    return _generator.bit_generator.state


def set_rng_state(state: dict) -> None:
    _generator.bit_generator.state = state
