"""Attention as torch.nn.functional has it: scaled_dot_product_attention and
multi_head_attention_forward, composed of our autograd ops (matmul on our GEMM, the softmax row
kernel, linear, dropout), so every gradient comes from their backward rules.

Masks. A bool mask is turned into an additive one (0 or -inf, in the query's dtype); a float
mask is added as it is. The two functions read bool masks the opposite way, as torch does:
in ``scaled_dot_product_attention`` True means "may attend", in ``multi_head_attention_forward``
(``attn_mask`` and ``key_padding_mask``) True means "masked out".

A query row whose every key is masked: ``scaled_dot_product_attention`` returns zeros for it
and zero gradients (torch's "safe softmax", :class:`SafeSoftmax`); the ``need_weights=True``
path of ``multi_head_attention_forward`` uses the plain softmax and gives NaN there, as torch's
does (with ``need_weights=False`` it goes through scaled_dot_product_attention: zeros).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ...autograd import array_module
from ...functions.softmax import Softmax
from ...ops import cat
from ...tensor import Tensor
from ._checks import _check_probability, _check_tensor
from .activation import dropout
from .linear import linear

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward", "SafeSoftmax"]


class SafeSoftmax(Softmax):
    """softmax along ``axis`` that gives 0 (and a zero gradient) in a row whose inputs are all
    -inf, where the plain softmax gives NaN; backward is the softmax row kernel's (with s = 0
    in such a row, s * (g - sum(g * s)) is 0)."""

    def forward(self, a, axis):
        out = super().forward(a, axis)
        xp = array_module(a)
        dead = xp.isneginf(a).all(axis=axis, keepdims=True)
        if dead.any():
            out = xp.where(dead, xp.zeros((), out.dtype), out)
            self.saved = (out,)
        return out


def _shape(x) -> tuple:
    return tuple(x.shape)


def _float_input(fn: str, name: str, x) -> Tensor:
    _check_tensor(fn, name, x)
    if x.dtype.kind != "f":
        raise TypeError(f"{fn}: {name} must be floating point, got {x.dtype}")
    return x


def _additive_mask(fn: str, name: str, mask, like: Tensor, true_means_masked: bool):
    """``mask`` as a Tensor to add to the attention scores: a bool mask becomes -inf where
    it masks and 0 elsewhere, in ``like``'s dtype; a float mask is returned as it is (it must
    have ``like``'s dtype). None stays None."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise TypeError(f"{fn}: {name} must be a Tensor or None, got {type(mask).__name__}")
    if mask.dtype == np.bool_:
        xp = array_module(like.array)
        masked = mask.array if true_means_masked else ~mask.array
        return Tensor(xp.where(masked, xp.asarray(-np.inf, like.dtype),
                               xp.zeros((), like.dtype)))
    if mask.dtype.kind != "f":
        raise TypeError(f"{fn}: only bool and floating types of {name} are supported, got "
                        f"{mask.dtype}")
    if mask.dtype != like.dtype:
        raise TypeError(f"{fn}: a float {name} must have the query's dtype {like.dtype}, got "
                        f"{mask.dtype}")
    return mask


def _repeat_heads(x: Tensor, times: int) -> Tensor:
    """torch's ``x.repeat_interleave(times, dim=-3)``: each head of (..., H, S, E) ``times``
    times in a row, as an expand (backward sums the copies)."""
    if times == 1:
        return x
    lead, (h, s, e) = x.shape[:-3], x.shape[-3:]
    return x.unsqueeze(-3).expand(*lead, h, times, s, e).reshape(*lead, h * times, s, e)


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask=None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale=None,
                                 enable_gqa: bool = False) -> Tensor:
    """``softmax(query @ key.T * scale + mask) @ value`` (torch.nn.functional's).

    Shapes: query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); the
    leading dims broadcast. ``attn_mask`` broadcasts to (..., L, S): bool (True = may attend)
    or float (added to the scores). ``is_causal``: query i attends to keys 0..i (a top-left
    triangle; not together with ``attn_mask``). ``scale`` defaults to 1/sqrt(E). ``dropout_p``
    drops attention weights whenever it is > 0 (like torch, whatever the module's mode).
    ``enable_gqa``: key and value may have fewer heads (dim -3) than query, a divisor of its
    count; each is repeated for its group of query heads. A query row with every key masked
    gives zeros.
    """
    fn = "scaled_dot_product_attention"
    for name, x in (("query", query), ("key", key), ("value", value)):
        _float_input(fn, name, x)
        if x.ndim < 2:
            raise ValueError(f"{fn}: {name} must have at least 2 dims (..., seq, features), "
                             f"got shape {_shape(x)}")
    if not query.dtype == key.dtype == value.dtype:
        raise TypeError(f"{fn}: query, key and value must have one dtype, got {query.dtype}, "
                        f"{key.dtype} and {value.dtype}")
    if key.shape[-1] != query.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{fn}: expected query (..., L, E), key (..., S, E) and value "
                         f"(..., S, Ev), got query {_shape(query)}, key {_shape(key)} and value "
                         f"{_shape(value)}")
    _check_probability(fn, dropout_p)
    if enable_gqa and query.ndim >= 3 and key.ndim >= 3 and value.ndim >= 3:
        hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
        if hk == 0 or hv == 0 or hq % hk or hq % hv:
            raise ValueError(f"{fn}: with enable_gqa the heads (dim -3) of key ({hk}) and "
                             f"value ({hv}) must divide query's ({hq}); shapes query "
                             f"{_shape(query)}, key {_shape(key)}, value {_shape(value)}")
        key, value = _repeat_heads(key, hq // hk), _repeat_heads(value, hq // hv)
    try:
        batch = np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except ValueError:
        raise ValueError(f"{fn}: the leading dims of query {_shape(query)}, key {_shape(key)} "
                         f"and value {_shape(value)} do not broadcast") from None
    L, S = query.shape[-2], key.shape[-2]
    mask = _additive_mask(fn, "attn_mask", attn_mask, query, true_means_masked=False)
    if is_causal:
        if mask is not None:
            raise ValueError(f"{fn}: pass attn_mask or is_causal=True, not both (attn_mask "
                             f"{_shape(attn_mask)})")
        xp = array_module(query.array)
        mask = Tensor(xp.triu(xp.full((L, S), -np.inf, query.dtype), 1))
    if mask is not None:
        try:
            np.broadcast_shapes(mask.shape, batch + (L, S))
        except ValueError:
            raise ValueError(f"{fn}: attn_mask of shape {_shape(mask)} does not broadcast to "
                             f"the scores' shape {batch + (L, S)} (query {_shape(query)}, key "
                             f"{_shape(key)})") from None
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1]) if query.shape[-1] else 1.0
    elif isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise TypeError(f"{fn}: scale must be a number or None, got {type(scale).__name__}")
    scores = (query * float(scale)) @ key.transpose(-2, -1)
    if mask is None:
        weights = scores.softmax(-1)
    else:
        weights = SafeSoftmax.apply(scores + mask, axis=scores.ndim - 1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, True)
    return weights @ value


def _check_mha_shapes(fn, query, key, value, key_padding_mask, attn_mask, num_heads) -> bool:
    """torch's _mha_shape_check: True for batched (L, N, E) inputs, False for unbatched
    (L, E) ones; anything else a ValueError naming the argument and its shape."""
    if query.ndim not in (2, 3):
        raise ValueError(f"{fn}: query must be unbatched 2-D (L, E) or batched 3-D (L, N, E), "
                         f"got shape {_shape(query)}")
    batched = query.ndim == 3
    kind = "a batched (3-D)" if batched else "an unbatched (2-D)"
    for name, x in (("key", key), ("value", value)):
        if x.ndim != query.ndim:
            raise ValueError(f"{fn}: for {kind} query {_shape(query)}, {name} must be "
                             f"{query.ndim}-D, got shape {_shape(x)}")
    if key_padding_mask is not None and key_padding_mask.ndim != query.ndim - 1:
        raise ValueError(f"{fn}: for {kind} query, key_padding_mask must be "
                         f"{'2-D (N, S)' if batched else '1-D (S,)'}, got shape "
                         f"{_shape(key_padding_mask)}")
    if attn_mask is not None and (attn_mask.ndim not in (2, 3) or (
            not batched and attn_mask.ndim == 3 and attn_mask.shape[0] != num_heads)):
        raise ValueError(f"{fn}: for {kind} query, attn_mask must be 2-D (L, S) or 3-D "
                         f"({'N*num_heads' if batched else num_heads}, L, S), got shape "
                         f"{_shape(attn_mask)}")
    return batched


def _in_projection(fn, query, key, value, E, in_proj_weight, in_proj_bias, separate,
                   q_proj_weight, k_proj_weight, v_proj_weight):
    """q, k, v = the three input projections. Packed weights (3E, E): one GEMM for
    self-attention (query is key is value), else one per input on slices of the weight."""
    b_q = b_k = b_v = None
    if in_proj_bias is not None:
        _check_tensor(fn, "in_proj_bias", in_proj_bias)
        if _shape(in_proj_bias) != (3 * E,):
            raise ValueError(f"{fn}: in_proj_bias must have shape ({3 * E},), got "
                             f"{_shape(in_proj_bias)}")
        b_q, b_k, b_v = in_proj_bias[:E], in_proj_bias[E:2 * E], in_proj_bias[2 * E:]
    if separate:
        ws = (q_proj_weight, k_proj_weight, v_proj_weight)
        for name, w, x in zip(("q_proj_weight", "k_proj_weight", "v_proj_weight"), ws,
                              (query, key, value)):
            _check_tensor(fn, name, w)
            if _shape(w) != (E, x.shape[-1]):
                raise ValueError(f"{fn}: {name} must have shape ({E}, {x.shape[-1]}) for an "
                                 f"input of shape {_shape(x)}, got {_shape(w)}")
        return (linear(query, ws[0], b_q), linear(key, ws[1], b_k), linear(value, ws[2], b_v))
    _check_tensor(fn, "in_proj_weight", in_proj_weight)
    if _shape(in_proj_weight) != (3 * E, E):
        raise ValueError(f"{fn}: in_proj_weight must have shape ({3 * E}, {E}), got "
                         f"{_shape(in_proj_weight)}")
    for name, x in (("key", key), ("value", value)):
        if x.shape[-1] != E:
            raise ValueError(f"{fn}: {name}'s features must equal embed_dim {E} with packed "
                             f"projection weights (use_separate_proj_weight for kdim/vdim), got "
                             f"{name} {_shape(x)}")
    if query is key and key is value:
        return linear(query, in_proj_weight, in_proj_bias).split(E, dim=-1)
    w = in_proj_weight
    return (linear(query, w[:E], b_q), linear(key, w[E:2 * E], b_k),
            linear(value, w[2 * E:], b_v))


def _pad_last(mask: Tensor | None) -> Tensor | None:
    """``mask`` with one zero column appended to its last dim (the key that bias_k or
    add_zero_attn adds is never masked)."""
    if mask is None:
        return None
    xp = array_module(mask.array)
    return cat([mask, Tensor(xp.zeros(mask.shape[:-1] + (1,), mask.dtype))], dim=-1)


def multi_head_attention_forward(query: Tensor, key: Tensor, value: Tensor,
                                 embed_dim_to_check: int, num_heads: int, in_proj_weight,
                                 in_proj_bias, bias_k, bias_v, add_zero_attn: bool,
                                 dropout_p: float, out_proj_weight: Tensor, out_proj_bias,
                                 training: bool = True, key_padding_mask=None,
                                 need_weights: bool = True, attn_mask=None,
                                 use_separate_proj_weight: bool = False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights: bool = True,
                                 is_causal: bool = False):
    """torch.nn.functional.multi_head_attention_forward, sequence-first.

    Shapes: query (L, N, E), key (S, N, Ek), value (S, N, Ev), or unbatched (L, E), (S, Ek),
    (S, Ev); key_padding_mask (N, S) / (S,); attn_mask (L, S) or (N*num_heads, L, S).
    Bool masks: True = masked out; float masks are added to the scores. Returns (output
    (L, N, E), weights): weights (N, L, S) averaged over heads, (N, num_heads, L, S) without
    averaging, or None unless ``need_weights``. ``is_causal`` is a hint that ``attn_mask`` is
    causal (it requires attn_mask; with no key_padding_mask and need_weights=False the mask is
    replaced by the causal one, as torch does). Dropout on the weights only when ``training``.
    """
    fn = "multi_head_attention_forward"
    for name, x in (("query", query), ("key", key), ("value", value)):
        _float_input(fn, name, x)
    if not query.dtype == key.dtype == value.dtype:
        raise TypeError(f"{fn}: query, key and value must have one dtype, got {query.dtype}, "
                        f"{key.dtype} and {value.dtype}")
    for name, m in (("key_padding_mask", key_padding_mask), ("attn_mask", attn_mask)):
        if m is not None and not isinstance(m, Tensor):
            raise TypeError(f"{fn}: {name} must be a Tensor or None, got {type(m).__name__}")
    batched = _check_mha_shapes(fn, query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    if embed_dim != embed_dim_to_check:
        raise ValueError(f"{fn}: query's features must be embed_dim {embed_dim_to_check}, got "
                         f"query {_shape(query)}")
    if num_heads <= 0 or embed_dim % num_heads:
        raise ValueError(f"{fn}: embed_dim {embed_dim} must be divisible by num_heads "
                         f"{num_heads}")
    head_dim = embed_dim // num_heads
    if use_separate_proj_weight:
        if key.shape[:2] != value.shape[:2]:
            raise ValueError(f"{fn}: key's sequence and batch dims {_shape(key)[:2]} must "
                             f"equal value's {_shape(value)[:2]}")
    elif key.shape != value.shape:
        raise ValueError(f"{fn}: key shape {_shape(key)} must equal value shape "
                         f"{_shape(value)}")
    if key.shape[1] != bsz:
        raise ValueError(f"{fn}: key and value must have query's batch size {bsz}, got key "
                         f"{_shape(key)} for query {_shape(query)}")
    key_padding_mask = _additive_mask(fn, "key_padding_mask", key_padding_mask, query, True)
    if is_causal and attn_mask is None:
        raise ValueError(f"{fn}: is_causal=True is a hint that attn_mask is the causal mask; "
                         f"attn_mask is needed with it")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # scaled_dot_product_attention's is_causal does the masking
    else:
        attn_mask = _additive_mask(fn, "attn_mask", attn_mask, query, True)
        is_causal = False
    q, k, v = _in_projection(fn, query, key, value, embed_dim, in_proj_weight, in_proj_bias,
                             use_separate_proj_weight, q_proj_weight, k_proj_weight,
                             v_proj_weight)
    if attn_mask is not None:
        want = (tgt_len, src_len) if attn_mask.ndim == 2 else \
            (bsz * num_heads, tgt_len, src_len)
        if _shape(attn_mask) != want:
            raise ValueError(f"{fn}: attn_mask must have shape {want} for query "
                             f"{_shape(query)} and key {_shape(key)}, got {_shape(attn_mask)}")
        if attn_mask.ndim == 2:
            attn_mask = attn_mask.unsqueeze(0)
    if (bias_k is None) != (bias_v is None):
        raise ValueError(f"{fn}: bias_k and bias_v must both be given or both be None")
    if bias_k is not None:
        if static_k is not None or static_v is not None:
            raise ValueError(f"{fn}: bias_k/bias_v cannot be combined with static_k/static_v")
        for name, b in (("bias_k", bias_k), ("bias_v", bias_v)):
            if _shape(b) != (1, 1, embed_dim):
                raise ValueError(f"{fn}: {name} must have shape (1, 1, {embed_dim}), got "
                                 f"{_shape(b)}")
        k = cat([k, bias_k.expand(1, bsz, embed_dim)])
        v = cat([v, bias_v.expand(1, bsz, embed_dim)])
        attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)
    bh = bsz * num_heads
    q = q.reshape(tgt_len, bh, head_dim).transpose(0, 1)
    k = _heads(fn, "static_k", static_k, k, bh, head_dim)
    v = _heads(fn, "static_v", static_v, v, bh, head_dim)
    if add_zero_attn:
        xp = array_module(q.array)
        zeros = Tensor(xp.zeros((bh, 1, head_dim), q.dtype))
        k, v = cat([k, zeros], dim=1), cat([v, zeros], dim=1)
        attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)
    src_len = k.shape[1]
    if key_padding_mask is not None:
        if _shape(key_padding_mask) != (bsz, src_len):
            raise ValueError(f"{fn}: key_padding_mask must have shape {(bsz, src_len)} (N, S), "
                             f"got {_shape(key_padding_mask)}")
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len) \
            .expand(bsz, num_heads, 1, src_len).reshape(bh, 1, src_len)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    _check_probability(fn, dropout_p)
    if not training:
        dropout_p = 0.0
    if need_weights:
        scores = (q * math.sqrt(1.0 / head_dim)) @ k.transpose(-2, -1)
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = scores.softmax(-1)
        if dropout_p > 0.0:
            weights = dropout(weights, dropout_p, True)
        out = (weights @ v).transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(dim=1)
    else:
        if attn_mask is not None:
            attn_mask = attn_mask.unsqueeze(0) if attn_mask.shape[0] == 1 else \
                attn_mask.reshape(bsz, num_heads, -1, src_len)
        out = scaled_dot_product_attention(
            q.reshape(bsz, num_heads, tgt_len, head_dim),
            k.reshape(bsz, num_heads, src_len, head_dim),
            v.reshape(bsz, num_heads, src_len, head_dim), attn_mask, dropout_p, is_causal)
        out = out.permute(2, 0, 1, 3).reshape(tgt_len * bsz, embed_dim)
        weights = None
    out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, -1)
    if not batched:
        out = out.squeeze(1)
        if weights is not None:
            weights = weights.squeeze(0)
    return out, weights


def _heads(fn, name, static, x, bh, head_dim):
    """(S, N, E) projections as (N*num_heads, S, head_dim), or the caller's ``static``
    keys/values of that shape instead."""
    if static is None:
        return x.reshape(x.shape[0], bh, head_dim).transpose(0, 1)
    _check_tensor(fn, name, static)
    if static.ndim != 3 or static.shape[0] != bh or static.shape[2] != head_dim:
        raise ValueError(f"{fn}: {name} must have shape ({bh}, S, {head_dim}) "
                         f"(N*num_heads, S, head_dim), got {_shape(static)}")
    return static
