"""GPU half of the raw conv kernels (being written this session)."""
from __future__ import annotations

from . import _gpu  # noqa: F401


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    raise NotImplementedError("conv2d on GPU arrays: not written yet")


def conv2d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1,
                    need=(True, True, True)):
    raise NotImplementedError("conv2d_backward on GPU arrays: not written yet")
