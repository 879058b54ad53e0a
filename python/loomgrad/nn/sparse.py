"""nn.Embedding and its functional form (torch.nn.Embedding / F.embedding)."""
from __future__ import annotations

import numpy as np

from ..autograd import Function, array_module, check_same_device
from ..tensor import Tensor
from . import init
from .module import Module, _host
from .parameter import Parameter

__all__ = ["Embedding", "embedding"]


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
    idx = input.data if isinstance(input, Tensor) else array_module(weight.data).asarray(input)
    check_same_device((weight.data, idx), fn)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{fn}: input must hold integer indices, got dtype {idx.dtype} with "
                        f"shape {tuple(idx.shape)}")
    num = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        bad = idx[(idx < 0) | (idx >= num)].reshape(-1)[0]
        raise IndexError(f"{fn}: index {int(bad)} is out of range for {num} embeddings")
    return _Embedding.apply(weight, idx=idx.astype(np.int64, copy=False),
                            padding_idx=_padding_idx(fn, padding_idx, num))


class Embedding(Module):
    """A lookup table (torch.nn.Embedding): integer input (*) -> (*, embedding_dim).

    ``weight`` (num_embeddings, embedding_dim) ~ N(0, 1) like torch, with the
    ``padding_idx`` row zeroed; that row gets no gradient.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None,
                 max_norm=None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight=None, _freeze: bool = False, device=None,
                 dtype=None):
        super().__init__()
        for name, v in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"Embedding: {name} must be an int >= 0, got {v!r}")
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError("Embedding: max_norm, scale_grad_by_freq and sparse are "
                                      "not supported")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx = _padding_idx("Embedding", padding_idx, self.num_embeddings)
        dt = np.dtype(np.float32 if dtype is None else dtype)
        if _weight is None:
            self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), dt),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            w = _host(_weight.data if isinstance(_weight, Tensor) else _weight)
            if w.shape != (self.num_embeddings, self.embedding_dim):
                raise ValueError(f"Embedding: _weight must have shape "
                                 f"{(self.num_embeddings, self.embedding_dim)}, got {w.shape}")
            self.weight = Parameter(w.astype(dt), requires_grad=not _freeze)
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx=None):
        """An Embedding holding a copy of ``embeddings`` (2-D); frozen by default."""
        w = _host(embeddings.data if isinstance(embeddings, Tensor) else embeddings)
        if w.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got {w.shape}")
        return cls(w.shape[0], w.shape[1], padding_idx=padding_idx, _weight=w, _freeze=freeze,
                   dtype=w.dtype)

    def forward(self, input):
        return embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + ("" if self.padding_idx is None else f", padding_idx={self.padding_idx}")
