"""GPU half of the raw pool kernels (being written this session)."""
from __future__ import annotations

from . import _gpu  # noqa: F401


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    raise NotImplementedError("max_pool2d on GPU arrays: not written yet")


def max_pool2d_backward(grad_out, indices, input_shape, kernel_size, stride=None, padding=0,
                        dilation=1, ceil_mode=False):
    raise NotImplementedError("max_pool2d_backward on GPU arrays: not written yet")


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    raise NotImplementedError("avg_pool2d on GPU arrays: not written yet")


def avg_pool2d_backward(grad_out, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None):
    raise NotImplementedError("avg_pool2d_backward on GPU arrays: not written yet")


def adaptive_avg_pool2d(x, output_size):
    raise NotImplementedError("adaptive_avg_pool2d on GPU arrays: not written yet")


def adaptive_avg_pool2d_backward(grad_out, input_shape):
    raise NotImplementedError("adaptive_avg_pool2d_backward on GPU arrays: not written yet")
