"""nn.MultiheadAttention (torch's constructor, parameter names, init, state_dict keys and
forward) on F.multi_head_attention_forward (nn/functional/attention.py)."""
from __future__ import annotations

import numbers

import numpy as np

from . import init
from .functional.attention import multi_head_attention_forward
from .linear import Linear
from .module import Module
from .parameter import Parameter

__all__ = ["MultiheadAttention", "NonDynamicallyQuantizableLinear"]


class NonDynamicallyQuantizableLinear(Linear):
    """A Linear under the name torch gives MultiheadAttention's ``out_proj`` (so reprs match)."""


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"MultiheadAttention: {name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"MultiheadAttention: {name} must be > 0, got {value}")
    return int(value)


class MultiheadAttention(Module):
    """Multi-head attention (torch.nn.MultiheadAttention): ``num_heads`` heads of
    ``embed_dim // num_heads`` features attend from the queries to the keys; the heads'
    outputs are joined and projected by ``out_proj``.

    Parameters as torch's: ``in_proj_weight`` (3E, E) and ``in_proj_bias`` (3E,) when key and
    value have E features, else ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim),
    ``v_proj_weight`` (E, vdim) and ``in_proj_bias``; ``out_proj`` (a Linear E -> E);
    ``bias_k``/``bias_v`` (1, 1, E) with ``add_bias_kv``. ``add_zero_attn`` appends a zero key
    and value. Init: xavier_uniform_ projections, zero biases, xavier_normal_ bias_k/bias_v.

    forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) -> (output, weights or None). Shapes
    (``batch_first=False``): query (L, N, E), key (S, N, kdim), value (S, N, vdim), output
    (L, N, E); ``batch_first=True`` swaps the first two dims; unbatched (L, E) inputs work too.
    key_padding_mask (N, S), attn_mask (L, S) or (N*num_heads, L, S): bool (True = masked
    out) or float (added to the scores). Weights: (N, L, S) averaged over heads, or
    (N, num_heads, L, S). Dropout on the weights in training mode.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        self.embed_dim = _positive_int("embed_dim", embed_dim)
        self.num_heads = _positive_int("num_heads", num_heads)
        if self.embed_dim % self.num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} must be divisible by "
                             f"num_heads {num_heads}")
        self.kdim = self.embed_dim if kdim is None else _positive_int("kdim", kdim)
        self.vdim = self.embed_dim if vdim is None else _positive_int("vdim", vdim)
        self._qkv_same_embed_dim = self.kdim == self.embed_dim and self.vdim == self.embed_dim
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        self.head_dim = self.embed_dim // self.num_heads
        dt = np.dtype(np.float32 if dtype is None else dtype)
        if dt.kind != "f":
            raise TypeError(f"MultiheadAttention: dtype must be floating point, got {dt}")
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(np.empty((3 * E, E), dt))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = Parameter(np.empty((E, E), dt))
            self.k_proj_weight = Parameter(np.empty((E, self.kdim), dt))
            self.v_proj_weight = Parameter(np.empty((E, self.vdim), dt))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(np.empty((3 * E,), dt))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(E, E, bias=bias, dtype=dt)
        if add_bias_kv:
            self.bias_k = Parameter(np.empty((1, 1, E), dt))
            self.bias_v = Parameter(np.empty((1, 1, E), dt))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = bool(add_zero_attn)
        self._reset_parameters()
        if device is not None:
            self.to(device)

    def _reset_parameters(self) -> None:
        """torch's init: xavier_uniform_ projection weights, zero biases, xavier_normal_
        bias_k/bias_v (out_proj.weight keeps Linear's init)."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True,
                attn_mask=None, average_attn_weights: bool = True, is_causal: bool = False):
        batched = getattr(query, "ndim", 0) == 3
        if self.batch_first and batched:
            # keep `query is key is value` so self-attention stays one projection GEMM
            if key is value:
                if query is key:
                    query = key = value = query.transpose(1, 0)
                else:
                    query, key = (x.transpose(1, 0) for x in (query, key))
                    value = key
            else:
                query, key, value = (x.transpose(1, 0) for x in (query, key, value))
        separate = not self._qkv_same_embed_dim
        out, weights = multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight,
            self.in_proj_bias, self.bias_k, self.bias_v, self.add_zero_attn, self.dropout,
            self.out_proj.weight, self.out_proj.bias, training=self.training,
            key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
            use_separate_proj_weight=separate, q_proj_weight=self.q_proj_weight,
            k_proj_weight=self.k_proj_weight, v_proj_weight=self.v_proj_weight,
            average_attn_weights=average_attn_weights, is_causal=is_causal)
        if self.batch_first and batched:
            out = out.transpose(1, 0)
        return out, weights
