"""embedding: rows of a weight table picked by integer indices, as one autograd node."""
from __future__ import annotations

import numpy as np

from ...autograd import Function, array_module, check_same_device
from ...tensor import Tensor

__all__ = ["embedding"]


class _Embedding(Function):
    """out = weight[idx]; backward scatters-adds rows (repeated indices sum),
    the padding row gets none."""

    def forward(self, weight, *, idx, padding_idx):
        self.idx, self.padding_idx, self.shape = idx, padding_idx, weight.shape
        return weight[idx]

    def backward(self, g):
        xp = array_module(g)
        gw = xp.zeros(self.shape, g.dtype)
        # add.at accumulates over repeated indices (plain fancy assignment would not; on
        # the GPU it is an atomic scatter-add)
        # (idx.size, dim), not (-1, dim): reshape cannot infer -1 when dim is 0
        xp.add.at(gw, self.idx.reshape(-1), g.reshape(self.idx.size, self.shape[1]))
        if self.padding_idx is not None:
            gw[self.padding_idx] = 0
        return (gw,)


def _padding_idx(fn: str, padding_idx, num: int):
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
        raise TypeError(f"{fn}: padding_idx must be an int or None, got {padding_idx!r}")
    if not -num <= padding_idx < num:
        raise ValueError(f"{fn}: padding_idx must be within [-{num}, {num}), got {padding_idx}")
    return int(padding_idx) % num


def embedding(input, weight: Tensor, padding_idx=None, max_norm=None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ``input`` of
    any shape -> input.shape + (dim,). The gradient sums over repeated
    indices; the ``padding_idx`` row receives none."""
    fn = "embedding"
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise ValueError(f"{fn}: weight must be a 2-D Tensor (num_embeddings, embedding_dim)")
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError(f"{fn}: max_norm, scale_grad_by_freq and sparse are not "
                                  f"supported")
    idx = input.array if isinstance(input, Tensor) else array_module(weight.array).asarray(input)
    check_same_device((weight.array, idx), fn)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{fn}: input must hold integer indices, got dtype {idx.dtype} with "
                        f"shape {tuple(idx.shape)}")
    num = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        bad = idx[(idx < 0) | (idx >= num)].reshape(-1)[0]
        raise IndexError(f"{fn}: index {int(bad)} is out of range for {num} embeddings")
    return _Embedding.apply(weight, idx=idx.astype(np.int64, copy=False),
                            padding_idx=_padding_idx(fn, padding_idx, num))
