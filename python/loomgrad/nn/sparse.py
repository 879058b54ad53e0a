"""nn.Embedding and its functional form (torch.nn.Embedding / F.embedding)."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from . import init
from .functional.sparse import _padding_idx, embedding
from .module import Module, _host
from .parameter import Parameter

__all__ = ["Embedding"]


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
            w = _host(_weight.array if isinstance(_weight, Tensor) else _weight)
            if w.shape != (self.num_embeddings, self.embedding_dim):
                raise ValueError(f"Embedding: _weight must have shape "
                                 f"{(self.num_embeddings, self.embedding_dim)}, got {w.shape}")
            self.weight = Parameter(w.astype(dt), requires_grad=not _freeze)
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.array[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx=None):
        """An Embedding holding a copy of ``embeddings`` (2-D); frozen by default."""
        w = _host(embeddings.array if isinstance(embeddings, Tensor) else embeddings)
        if w.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got {w.shape}")
        return cls(w.shape[0], w.shape[1], padding_idx=padding_idx, _weight=w, _freeze=freeze,
                   dtype=w.dtype)

    def forward(self, input):
        return embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + ("" if self.padding_idx is None else f", padding_idx={self.padding_idx}")
