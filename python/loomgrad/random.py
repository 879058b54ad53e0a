"""The library's one random-number generator.

Everything random in loomgrad (``rand``/``randn``, parameter init, dropout,
DataLoader shuffling) draws from :func:`get_generator`, so one
:func:`manual_seed` makes a run repeatable. Creation functions and init draw on
the host even for GPU tensors (one seed, the same values on every device);
dropout masks of GPU tensors come from a CuPy generator per GPU
(:func:`get_cuda_generator`), seeded by one draw from the global generator when
first used, so :func:`manual_seed` / :func:`set_rng_state` make GPU runs
repeatable too (but a mask differs from the CPU one for the same seed).
"""
from __future__ import annotations

import numpy as np

from . import cuda

__all__ = ["manual_seed", "seed", "get_generator", "get_cuda_generator", "get_rng_state",
           "set_rng_state"]

_generator = np.random.default_rng()
_cuda_generators = {}  # GPU id -> cupy.random.RandomState; dropped on every re-seed


def manual_seed(seed: int) -> np.random.Generator:
    """Re-seed the global generator (like ``torch.manual_seed``); returns it."""
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"manual_seed: seed must be >= 0, got {seed}")
    _generator = np.random.default_rng(int(seed))
    _cuda_generators.clear()
    return _generator


def seed() -> int:
    """Seed from OS entropy; returns the seed used."""
    s = int(np.random.SeedSequence().entropy % (2**63))
    manual_seed(s)
    return s


def get_generator() -> np.random.Generator:
    """The global ``numpy.random.Generator``."""
    return _generator


def get_cuda_generator(device_id=None):
    """The ``cupy.random.RandomState`` of GPU ``device_id`` (default: the current
    one), seeded by one draw from the global generator on first use."""
    cp = cuda._require()[1]
    dev = cp.cuda.Device().id if device_id is None else int(device_id)
    g = _cuda_generators.get(dev)
    if g is None:
        with cp.cuda.Device(dev):  # curand's state lives on that GPU
            g = cp.random.RandomState(int(_generator.integers(2**63)))
        _cuda_generators[dev] = g
    return g


def get_rng_state() -> dict:
    """A JSON-able copy of the generator state (for checkpoints)."""
    return _generator.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore :func:`get_rng_state`'s state; GPU generators are re-seeded from it."""
    _generator.bit_generator.state = state
    _cuda_generators.clear()
