"""Devices: ``lg.device("cpu" | "cuda" | "cuda:N")`` and moving arrays between them.

Naming CUDA needs no GPU; using it asks :mod:`loomgrad.cuda`, which says why
it is unavailable when it is.
"""
from __future__ import annotations

import numpy as np

from . import cuda

__all__ = ["device", "parse_device", "move", "as_cupy"]


class device(str):
    """A device name, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``: a str with torch's
    ``.type``/``.index``. ``lg.device("cuda")``, ``lg.device("cuda", 1)``; naming
    CUDA here needs no GPU (using it does)."""

    def __new__(cls, name, index=None):
        if isinstance(name, device) and index is None:
            return name
        if not isinstance(name, str):
            raise TypeError(f"device: expected a string like 'cpu' or 'cuda', got "
                            f"{type(name).__name__}")
        kind, colon, idx = name.partition(":")
        if index is not None:
            if colon:
                raise ValueError(f"device: {name!r} already has an index; got index={index!r}")
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
                raise ValueError(f"device: index must be an int >= 0, got {index!r}")
            idx, colon = str(int(index)), ":"
        if kind not in ("cpu", "cuda") or (colon and not idx.isdigit()) \
                or (kind == "cpu" and colon and idx != "0"):
            raise ValueError(f"unknown device {name!r}: expected 'cpu', 'cuda' or 'cuda:N'")
        return str.__new__(cls, "cpu" if kind == "cpu" else f"cuda:{int(idx)}" if colon
                           else "cuda")

    @property
    def type(self) -> str:
        return self.partition(":")[0]

    @property
    def index(self):
        return int(self.partition(":")[2]) if ":" in self else None

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + \
            (f", index={self.index})" if self.index is not None else ")")


_CPU = device("cpu")


def parse_device(d):
    """device 'cpu' or 'cuda:N' from a string/device/None; RuntimeError naming
    lg.cuda.unavailable_reason() when CUDA is asked for but unusable."""
    if d is None:
        return _CPU
    d = device(d)
    if d.type == "cpu":
        return _CPU
    cuda._require()  # RuntimeError naming why CUDA is unavailable
    idx = d.index or 0
    if idx >= cuda.device_count():
        raise RuntimeError(f"CUDA error: invalid device ordinal: {d} (this machine has "
                           f"{cuda.device_count()} GPU(s))")
    return device(f"cuda:{idx}")


def as_cupy(a):
    """A GPU array (CuPy, __cuda_array_interface__) as a CuPy array, no copy."""
    cp = cuda._require()[1]
    return a if isinstance(a, cp.ndarray) else cp.asarray(a)


def move(a, target):
    """``a`` copied to device ``target`` ('cpu', 'cuda' or 'cuda:N'); returned as is
    when it is already there."""
    target = device(target)
    if target.type == "cpu":
        return a if isinstance(a, np.ndarray) else a.get()
    cp = cuda._require()[1]
    with cp.cuda.Device(target.index or 0):
        # cupy.asarray would keep an array of another GPU where it is
        return cp.array(a, copy=not (isinstance(a, cp.ndarray)
                                     and a.device.id == (target.index or 0)))
