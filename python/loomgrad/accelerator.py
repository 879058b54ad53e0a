"""``lg.accelerator``: torch.accelerator's questions, answered for loomgrad's one
accelerator kind, CUDA (through CuPy; see :mod:`loomgrad.cuda`)."""
from __future__ import annotations

from . import cuda
from .device import device

__all__ = ["is_available", "current_accelerator", "device_count"]


def is_available() -> bool:
    """True when a CUDA device can be used."""
    return cuda.is_available()


def current_accelerator(check_available: bool = False):
    """``lg.device('cuda')`` when CUDA is usable, else None (torch's answer on a CPU-only
    machine)."""
    return device("cuda") if cuda.is_available() else None


def device_count() -> int:
    """Number of usable CUDA devices (0 without CUDA)."""
    return cuda.device_count() if cuda.is_available() else 0
