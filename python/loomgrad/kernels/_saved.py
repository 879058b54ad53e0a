"""What the recurrent kernels' forwards hand their backwards: one class per kernel.

A forward returns one of these (references to its inputs, the gate
activations, the states); pass it to the matching ``*_backward`` unchanged and
do not modify the inputs in between. The CPU and GPU halves share the classes,
holding NumPy or CuPy arrays.
"""
from __future__ import annotations


class _Saved:
    """A forward's saved state: the fields a subclass lists in ``__slots__``,
    and ``caller``: the array library the forward was called with (set by
    kernels/_interop.py, so the backward answers in that kind)."""

    __slots__ = ("caller",)

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)


class CellSaved(_Saved):
    """What :func:`lstm_cell_backward` needs from :func:`lstm_cell`."""

    __slots__ = ("x", "h", "c", "w_ih", "w_hh", "gates", "c_out", "has_bias")


class SequenceSaved(_Saved):
    """What :func:`lstm_sequence_backward` needs from :func:`lstm_sequence`:
    gate activations (T, N, 4H), cell states (T, N, H), the output y and
    references to the inputs."""

    __slots__ = ("x", "h0", "c0", "w_ih", "w_hh", "y", "gates", "cs", "reverse", "has_bias")


class GRUSaved(_Saved):
    """What :func:`gru_sequence_backward` needs from :func:`gru_sequence`: acts
    (T, N, 4H) = r, z, n and hn = h W_hnᵀ + b_hn per step, the output y and
    references to the inputs."""

    __slots__ = ("x", "h0", "w_ih", "w_hh", "y", "acts", "reverse", "has_bias")
