"""GPU half of the raw lstm kernels (being written this session)."""
from __future__ import annotations

from . import _gpu  # noqa: F401


def lstm_cell(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    raise NotImplementedError("lstm_cell on GPU arrays: not written yet")


def lstm_cell_backward(dh_out, dc_out, saved, need_input_grads=True, need_weight_grads=True):
    raise NotImplementedError("lstm_cell_backward on GPU arrays: not written yet")


def lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    raise NotImplementedError("lstm_sequence on GPU arrays: not written yet")


def lstm_sequence_backward(dy, dh_n, dc_n, saved, need_input_grad=True, need_weight_grads=True):
    raise NotImplementedError("lstm_sequence_backward on GPU arrays: not written yet")
