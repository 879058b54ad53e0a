"""Differentiable shape ops: reshape, permute, expand, indexing, cat/stack, where.

Same contract as functions/elementwise.py: ``forward`` on raw arrays,
``backward`` returns one gradient per input shaped like that input, and never
writes into the incoming gradient.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function, array_module, check_same_device
from .elementwise import unbroadcast


class Reshape(Function):
    def forward(self, a, shape):
        self.in_shape = a.shape
        return a.reshape(shape)

    def backward(self, g):
        return (g.reshape(self.in_shape),)


class Permute(Function):
    def forward(self, a, perm):
        self.perm = perm
        return a.transpose(perm)

    def backward(self, g):
        return (g.transpose(tuple(int(i) for i in np.argsort(self.perm))),)


class Expand(Function):
    def forward(self, a, shape):
        self.in_shape = a.shape
        return array_module(a).broadcast_to(a, shape)

    def backward(self, g):
        return (unbroadcast(g, self.in_shape),)


class Contiguous(Function):
    def forward(self, a):
        return array_module(a).ascontiguousarray(a)

    def backward(self, g):
        return (g,)


class Copy(Function):
    def forward(self, a, dtype=None):
        self.in_dtype = a.dtype
        return a.astype(dtype) if dtype is not None else a.copy()

    def backward(self, g):
        return (g.astype(self.in_dtype, copy=False),)


def _is_basic(index) -> bool:
    """True when ``index`` selects without advanced indexing (so no element repeats)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice))
               for i in items)


def _index_on(a, index):
    """``index`` with its arrays on ``a``'s device: host index arrays (from lists) are
    copied to the GPU for a GPU ``a``; a GPU index into host data is a device mix."""
    items = index if isinstance(index, tuple) else (index,)
    if isinstance(a, np.ndarray):
        for i in items:
            if hasattr(i, "__cuda_array_interface__"):
                check_same_device((a, i), "indexing")  # raises, naming both devices
        return index
    xp = array_module(a)
    moved = tuple(xp.asarray(i) if isinstance(i, np.ndarray) else i for i in items)
    return moved if isinstance(index, tuple) else moved[0]


class Getitem(Function):
    """``a[index]``; an index with integer arrays may repeat elements, so its
    backward accumulates with ``add.at`` instead of assigning."""

    def forward(self, a, index):
        index = _index_on(a, index)
        self.meta = (a.shape, a.dtype, index)
        return a[index]

    def backward(self, g):
        shape, dtype, index = self.meta
        xp = array_module(g)
        out = xp.zeros(shape, dtype=dtype)
        if _is_basic(index) or getattr(index, "dtype", None) == np.bool_:
            out[index] = g  # no element is picked twice: plain assignment
        else:
            xp.add.at(out, index, g)
        return (out,)


class Cat(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        self.sizes = [x.shape[axis] for x in arrays]
        return array_module(arrays[0]).concatenate(arrays, axis=axis)

    def backward(self, g):
        out, start = [], 0
        for n, need in zip(self.sizes, self.needs_input_grad):
            if need:
                sl = [slice(None)] * g.ndim
                sl[self.axis] = slice(start, start + n)
                out.append(g[tuple(sl)])
            else:
                out.append(None)
            start += n
        return tuple(out)


class Stack(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        return array_module(arrays[0]).stack(arrays, axis=axis)

    def backward(self, g):
        return tuple(g.take(i, axis=self.axis) if need else None
                     for i, need in enumerate(self.needs_input_grad))


class Where(Function):
    """``where(cond, a, b)``; ``cond`` is a constant (no gradient)."""

    def forward(self, a, b, cond):
        self.saved = (cond,)
        self.shapes = (a.shape, b.shape)
        return array_module(a).where(cond, a, b)

    def backward(self, g):
        (cond,) = self.saved
        xp = array_module(g)
        zero = xp.zeros((), dtype=g.dtype)
        sa, sb = self.shapes
        return (unbroadcast(xp.where(cond, g, zero), sa) if self.needs_input_grad[0] else None,
                unbroadcast(xp.where(cond, zero, g), sb) if self.needs_input_grad[1] else None)
