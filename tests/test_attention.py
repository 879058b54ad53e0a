"""nn.MultiheadAttention, F.scaled_dot_product_attention and F.multi_head_attention_forward vs
torch (outputs, attention weights, every gradient, loaded state_dicts), float64 gradchecks,
and the errors for bad shapes."""
from __future__ import annotations

import numpy as np
import pytest

import loomgrad as lg
import loomgrad.nn.functional as F
from helpers import helper_gradcheck, helper_test_op, requires_cuda, requires_torch

torch = pytest.importorskip("torch")

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-9, atol=1e-11)}


def _tensors(arrays, requires_grad=True):
    """(loomgrad, torch) tensor lists of the same arrays; masks (bool, or given as
    ('float', array)) never require grad."""
    ours, theirs = [], []
    for a in arrays:
        if a is None:
            ours.append(None)
            theirs.append(None)
            continue
        rg = requires_grad and a.dtype.kind == "f"
        ours.append(lg.tensor(a, requires_grad=rg))
        theirs.append(torch.tensor(a, requires_grad=rg))
    return ours, theirs


def compare_with_torch(ours, theirs, arrays, n_inputs, kwargs, dtype, seed=1):
    """Load torch's (re-randomised) state_dict into ``ours``; call both on ``arrays`` (the
    first ``n_inputs`` require grad, the rest are masks passed by keyword names in
    ``kwargs['masks']``); compare every output, then every input and parameter gradient
    under one random upstream gradient per output."""
    assert list(ours.state_dict()) == list(theirs.state_dict())
    with torch.no_grad():
        for p in theirs.parameters():
            p.uniform_(-0.5, 0.5)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    masks = kwargs.pop("masks", ())
    xl, xt = _tensors(arrays[:n_inputs])
    ml, mt = _tensors(arrays[n_inputs:], requires_grad=False)
    kl = dict(kwargs, **dict(zip(masks, ml)))
    kt = dict(kwargs, **dict(zip(masks, mt)))
    outs_l, outs_t = ours(*xl, **kl), theirs(*xt, **kt)
    if not isinstance(outs_t, tuple):
        outs_l, outs_t = (outs_l,), (outs_t,)
    tol = TOL[dtype]
    rng = np.random.default_rng(seed)
    loss_l = loss_t = 0
    for k, (ol, ot) in enumerate(zip(outs_l, outs_t)):
        if ot is None:
            assert ol is None, f"output {k}: torch returns None"
            continue
        assert ol.dtype == dtype and tuple(ol.shape) == tuple(ot.shape), (ol.shape, ot.shape)
        np.testing.assert_allclose(ol.detach().numpy(), ot.detach().numpy(), err_msg=f"out {k}",
                                   **tol)
        g = rng.standard_normal(tuple(ot.shape)).astype(dtype)
        loss_l = loss_l + (ol * lg.tensor(g)).sum()
        loss_t = loss_t + (ot * torch.tensor(g)).sum()
    loss_l.backward()
    loss_t.backward()
    for i, (a, b) in enumerate(zip(xl, xt)):
        if a is not None and b.grad is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), err_msg=f"input {i}",
                                       **tol)
    named_t = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        pt = named_t[name]
        if pt.grad is None:
            assert p.grad is None or not np.any(p.grad.numpy()), name
        else:
            np.testing.assert_allclose(p.grad.numpy(), pt.grad.numpy(), err_msg=name, **tol)
    return outs_l


def _mha_pair(E, H, dtype, **kw):
    theirs = torch.nn.MultiheadAttention(E, H, **kw).to(getattr(torch, np.dtype(dtype).name))
    ours = lg.nn.MultiheadAttention(E, H, dtype=dtype, **kw)
    return ours, theirs


def _bool_mask(rng, shape):
    """A random bool mask (True = masked out) that leaves key 0 visible to every row."""
    m = rng.random(shape) < 0.4
    m[..., 0] = False
    return m


def _qkv(rng, L, S, N, E, dtype, batch_first, kdim=None, vdim=None, unbatched=False):
    def seq(n, f):
        shape = (n, f) if unbatched else ((N, n, f) if batch_first else (n, N, f))
        return rng.standard_normal(shape).astype(dtype)
    return seq(L, E), seq(S, kdim or E), seq(S, vdim or E)


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("mask_kind", ["none", "attn_bool", "attn_float", "attn_3d", "kpm_bool",
                                       "kpm_float", "both", "causal"])
def test_mha_matches_torch(dtype, batch_first, need_weights, average, mask_kind):
    rng = np.random.default_rng(0)
    E, H, L, S, N = 6, 3, 5, 7, 2
    ours, theirs = _mha_pair(E, H, dtype, batch_first=batch_first)
    q, k, v = _qkv(rng, L, S, N, E, dtype, batch_first)
    masks, arrays = [], [q, k, v]
    kwargs = dict(need_weights=need_weights, average_attn_weights=average)
    if mask_kind in ("attn_bool", "both"):
        masks.append("attn_mask")
        arrays.append(_bool_mask(rng, (L, S)))
    if mask_kind == "attn_float":
        masks.append("attn_mask")
        arrays.append(rng.standard_normal((L, S)).astype(dtype))
    if mask_kind == "attn_3d":
        masks.append("attn_mask")
        arrays.append(_bool_mask(rng, (N * H, L, S)))
    if mask_kind in ("kpm_bool", "both"):
        masks.append("key_padding_mask")
        arrays.append(_bool_mask(rng, (N, S)))
    if mask_kind == "kpm_float":
        masks.append("key_padding_mask")
        arrays.append(np.where(rng.random((N, S)) < 0.3, -np.inf, 0.0).astype(dtype))
        arrays[-1][:, 0] = 0.0
    if mask_kind == "causal":  # self-attention with the causal mask and the is_causal hint
        k = v = q
        arrays = [q, q, q, np.triu(np.ones((L, L), bool), 1)]
        masks.append("attn_mask")
        kwargs["is_causal"] = True
    kwargs["masks"] = masks
    outs = compare_with_torch(ours, theirs, arrays, 3, kwargs, dtype)
    if need_weights:
        want = (N, L, arrays[1].shape[1 if batch_first else 0]) if average else \
            (N, H, L, arrays[1].shape[1 if batch_first else 0])
        assert tuple(outs[1].shape) == want
    else:
        assert outs[1] is None


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [
    dict(bias=False), dict(add_bias_kv=True), dict(add_zero_attn=True),
    dict(add_bias_kv=True, add_zero_attn=True), dict(kdim=4, vdim=5),
    dict(kdim=4, vdim=5, bias=False, batch_first=True), dict(add_bias_kv=True, kdim=3, vdim=7)])
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_options_match_torch(dtype, options, need_weights):
    rng = np.random.default_rng(2)
    E, H, L, S, N = 8, 2, 3, 4, 3
    ours, theirs = _mha_pair(E, H, dtype, **options)
    q, k, v = _qkv(rng, L, S, N, E, dtype, options.get("batch_first", False),
                   options.get("kdim"), options.get("vdim"))
    kpm = _bool_mask(rng, (N, S))
    attn = _bool_mask(rng, (L, S))
    compare_with_torch(ours, theirs, [q, k, v, kpm, attn], 3,
                       dict(need_weights=need_weights, masks=("key_padding_mask", "attn_mask")),
                       dtype)


@requires_torch
@pytest.mark.parametrize("case", ["unbatched", "n1", "one_head", "self_attention_bf",
                                  "eval", "unbatched_3d_mask", "L1_S1"])
def test_mha_edge_shapes_match_torch(case):
    rng = np.random.default_rng(3)
    dtype = np.float64
    E, H = (5, 1) if case == "one_head" else (4, 2)
    L, S, N = (1, 1, 2) if case == "L1_S1" else (3, 6, 1 if case == "n1" else 2)
    bf = case == "self_attention_bf"
    ours, theirs = _mha_pair(E, H, dtype, batch_first=bf)
    unbatched = case.startswith("unbatched")
    q, k, v = _qkv(rng, L, S, N, E, dtype, bf, unbatched=unbatched)
    arrays, masks = [q, k, v], []
    if case == "self_attention_bf":
        arrays = [q, q, q]
    if case == "eval":
        ours.eval()
        theirs.eval()
    if case == "unbatched_3d_mask":
        arrays.append(_bool_mask(rng, (H, L, S)))
        masks.append("attn_mask")
    if unbatched:
        arrays.append(_bool_mask(rng, (S,)))
        masks.append("key_padding_mask")
    compare_with_torch(ours, theirs, arrays, 3, dict(masks=masks), dtype)


@requires_torch
def test_mha_state_dict_keys_repr_and_init():
    for kw in ({}, dict(kdim=3, vdim=5), dict(add_bias_kv=True, bias=False)):
        ours, theirs = _mha_pair(8, 4, np.float32, **kw)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert repr(ours) == repr(theirs)
        for (n, p), (nt, pt) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert n == nt and tuple(p.shape) == tuple(pt.shape)
    lg.manual_seed(0)
    m = lg.nn.MultiheadAttention(64, 8, add_bias_kv=True)
    bound = np.sqrt(6.0 / (64 + 3 * 64))  # xavier_uniform_ on (3E, E)
    w = m.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert not np.any(m.in_proj_bias.detach().numpy())
    assert not np.any(m.out_proj.bias.detach().numpy())
    assert m.bias_k.detach().numpy().std() > 0


@requires_torch
def test_mha_fully_masked_row_follows_torch():
    """need_weights=True: NaN in the masked-out row (torch's plain softmax); need_weights=False:
    zeros there (scaled_dot_product_attention's safe softmax), as torch."""
    rng = np.random.default_rng(4)
    ours, theirs = _mha_pair(4, 2, np.float64)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((3, 2, 4))
    kpm = np.zeros((2, 3), bool)
    kpm[0] = True
    for need in (True, False):
        a = ours(*[lg.tensor(x)] * 3, key_padding_mask=lg.tensor(kpm), need_weights=need)[0]
        b = theirs(*[torch.tensor(x)] * 3, key_padding_mask=torch.tensor(kpm),
                   need_weights=need)[0]
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12,
                                   atol=1e-12)  # NaNs compare equal
        assert np.isnan(a.detach().numpy()[:, 0]).all() == need


def test_mha_dropout_in_training_only():
    lg.manual_seed(0)
    m = lg.nn.MultiheadAttention(8, 2, dropout=0.5)
    x = lg.randn(4, 3, 8)
    _, w1 = m(x, x, x, average_attn_weights=False)
    assert (w1.detach().numpy() == 0).mean() > 0.2  # dropped weights
    m.eval()
    _, w2 = m(x, x, x, average_attn_weights=False)
    np.testing.assert_allclose(w2.detach().numpy().sum(-1), 1.0, rtol=1e-5)


# --- scaled_dot_product_attention -----------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ["plain", "bool_mask", "float_mask", "bcast_mask", "causal_wide",
                                  "causal_tall", "scale", "3d", "2d", "bcast_batch", "ev_differs"])
def test_sdpa_matches_torch(dtype, case):
    rng = np.random.default_rng(5)
    qs, ks, vs = (2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7 if case == "ev_differs" else 5)
    if case == "3d":
        qs, ks, vs = qs[1:], ks[1:], vs[1:]
    if case == "2d":
        qs, ks, vs = qs[2:], ks[2:], vs[2:]
    if case == "bcast_batch":
        ks, vs = (1, 3, 6, 5), (1, 3, 6, 5)
    if case == "causal_tall":
        qs = (2, 3, 8, 5)
    arrays = [rng.standard_normal(s).astype(dtype) for s in (qs, ks, vs)]
    kw = {}
    L, S = qs[-2], ks[-2]
    mask = None
    if case == "bool_mask":
        mask = rng.random((2, 3, L, S)) > 0.3
        mask[..., 0] = True
    if case == "float_mask":
        mask = rng.standard_normal((L, S)).astype(dtype)
    if case == "bcast_mask":
        mask = rng.random((3, 1, S)) > 0.3
        mask[..., 0] = True
    if case.startswith("causal"):
        kw["is_causal"] = True
    if case == "scale":
        kw["scale"] = 0.37

    def run(lib, q, k, v):
        m = None if mask is None else lib.tensor(mask)
        return lib.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m, **kw)
    tol = TOL[dtype]
    helper_test_op(None, lambda q, k, v: run(torch, q, k, v), lambda q, k, v: run(lg, q, k, v),
                   vals=arrays, dtype=dtype, atol=tol["atol"], rtol=tol["rtol"],
                   grad_atol=tol["atol"] * 10, grad_rtol=tol["rtol"] * 10)


@requires_torch
def test_sdpa_gqa_matches_torch():
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal(s) for s in ((2, 6, 3, 4), (2, 2, 5, 4), (2, 3, 5, 4))]
    helper_test_op(None, lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(
                       q, k, v, enable_gqa=True),
                   lambda q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True),
                   vals=arrays, atol=1e-11, rtol=1e-9)


@requires_torch
def test_sdpa_fully_masked_rows_are_zero_with_zero_gradients():
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)),
              rng.standard_normal((2, 5, 4))]
    mask = np.ones((3, 5), bool)
    mask[1] = False
    out = helper_test_op(None, lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(
                             q, k, v, attn_mask=torch.tensor(mask)),
                         lambda q, k, v: F.scaled_dot_product_attention(
                             q, k, v, attn_mask=lg.tensor(mask)),
                         vals=arrays, atol=1e-11, rtol=1e-9)
    assert not np.any(out[0].detach().numpy()[:, 1])


def test_sdpa_gradcheck_float64():
    rng = np.random.default_rng(8)
    mask = rng.random((3, 4)) > 0.3
    mask[:, 0] = True
    fmask = lg.tensor(rng.standard_normal((3, 4)))
    helper_gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, lg.tensor(mask)),
                     [(2, 3, 5), (2, 4, 5), (2, 4, 3)])
    helper_gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, fmask),
                     [(2, 3, 5), (2, 4, 5), (2, 4, 3)])
    helper_gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                     [(3, 5), (4, 5), (4, 2)])
    # a float mask that requires grad gets its gradient too
    helper_gradcheck(lambda q, m: F.scaled_dot_product_attention(q, q, q, m), [(2, 3, 4), (3, 3)])


def test_mha_forward_gradcheck_float64():
    """F.multi_head_attention_forward: gradients of inputs and every weight by differences."""
    rng = np.random.default_rng(9)
    E, H, L, S, N = 4, 2, 3, 4, 2
    kpm = lg.tensor(_bool_mask(rng, (N, S)))
    attn = lg.tensor(rng.standard_normal((L, S)))

    def packed(q, k, v, w_in, b_in, w_out, b_out, bk, bv):
        out, w = F.multi_head_attention_forward(
            q, k, v, E, H, w_in, b_in, bk, bv, True, 0.0, w_out, b_out, key_padding_mask=kpm,
            attn_mask=attn, average_attn_weights=False)
        return out, w
    helper_gradcheck(packed, [(L, N, E), (S, N, E), (S, N, E), (3 * E, E), (3 * E,), (E, E),
                              (E,), (1, 1, E), (1, 1, E)], low=-1, high=1)

    def separate(q, k, v, wq, wk, wv, b_in, w_out):
        return F.multi_head_attention_forward(
            q, k, v, E, H, None, b_in, None, None, False, 0.0, w_out, None,
            need_weights=False, key_padding_mask=kpm, use_separate_proj_weight=True,
            q_proj_weight=wq, k_proj_weight=wk, v_proj_weight=wv)[0]
    helper_gradcheck(separate, [(L, N, E), (S, N, 3), (S, N, 5), (E, E), (E, 3), (E, 5),
                                (3 * E,), (E, E)], low=-1, high=1)


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_on_gpu_matches_cpu(need_weights):
    """The same module and masks on the GPU (float32, CuPy arrays under every op) give the CPU's
    output, weights and gradients."""
    rng = np.random.default_rng(10)
    lg.manual_seed(0)
    cpu = lg.nn.MultiheadAttention(8, 2, add_bias_kv=True, batch_first=True)
    gpu = lg.nn.MultiheadAttention(8, 2, add_bias_kv=True, batch_first=True).to("cuda")
    gpu.load_state_dict(cpu.state_dict())
    x = rng.standard_normal((3, 5, 8)).astype(np.float32)
    kpm, attn = _bool_mask(rng, (3, 5)), rng.standard_normal((5, 5)).astype(np.float32)
    results = []
    for m, dev in ((cpu, "cpu"), (gpu, "cuda")):
        xt = lg.tensor(x, device=dev, requires_grad=True)
        out, w = m(xt, xt, xt, key_padding_mask=lg.tensor(kpm, device=dev),
                   attn_mask=lg.tensor(attn, device=dev), need_weights=need_weights)
        loss = out.sum() if w is None else out.sum() + (w * w).sum()
        loss.backward()
        results.append([out, xt.grad] + ([] if w is None else [w]) +
                       [p.grad for p in m.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(b.cpu().detach().numpy(), a.detach().numpy(), rtol=1e-4,
                                   atol=1e-5)


@requires_torch
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_forward_static_kv_matches_torch(need_weights):
    """static_k / static_v (N*num_heads, S, head_dim) replace the projected keys and values."""
    rng = np.random.default_rng(11)
    E, H, L, S, N = 6, 2, 3, 5, 2
    arrays = [rng.standard_normal(s) for s in ((L, N, E), (S, N, E), (S, N, E), (3 * E, E),
                                                (3 * E,), (E, E), (E,), (N * H, 4, E // H),
                                                (N * H, 4, E // H))]
    kpm = _bool_mask(rng, (N, 4))

    def run(lib, q, k, v, w_in, b_in, w_out, b_out, sk, sv):
        return lib.nn.functional.multi_head_attention_forward(
            q, k, v, E, H, w_in, b_in, None, None, False, 0.0, w_out, b_out,
            key_padding_mask=lib.tensor(kpm), need_weights=need_weights, static_k=sk,
            static_v=sv)[0]
    helper_test_op(None, lambda *a: run(torch, *a), lambda *a: run(lg, *a), vals=arrays,
                   atol=1e-11, rtol=1e-9)


# --- errors -------------------------------------------------------------------------------

def test_mha_bad_arguments_name_them():
    with pytest.raises(ValueError, match=r"embed_dim 10 must be divisible by num_heads 3"):
        lg.nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="num_heads must be > 0"):
        lg.nn.MultiheadAttention(4, 0)
    with pytest.raises(TypeError, match="embed_dim must be an int"):
        lg.nn.MultiheadAttention(4.0, 2)
    m = lg.nn.MultiheadAttention(4, 2)
    x = lg.randn(3, 2, 4)
    with pytest.raises(ValueError, match=r"attn_mask must have shape \(3, 3\).*got \(3, 4\)"):
        m(x, x, x, attn_mask=lg.zeros(3, 4, dtype=lg.bool))
    with pytest.raises(ValueError, match=r"attn_mask must have shape \(4, 3, 3\).*got \(2, 3, 3\)"):
        m(x, x, x, attn_mask=lg.zeros(2, 3, 3, dtype=lg.bool))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(2, 3\).*\(3, 2\)"):
        m(x, x, x, key_padding_mask=lg.zeros(3, 2, dtype=lg.bool))
    with pytest.raises(ValueError, match=r"key_padding_mask must be 2-D.*\(3,\)"):
        m(x, x, x, key_padding_mask=lg.zeros(3, dtype=lg.bool))
    with pytest.raises(ValueError, match=r"query must be unbatched 2-D.*\(1, 3, 2, 4\)"):
        m(lg.randn(1, 3, 2, 4), x, x)
    with pytest.raises(ValueError, match=r"key must be 3-D, got shape \(3, 4\)"):
        m(x, lg.randn(3, 4), x)
    with pytest.raises(ValueError, match=r"query's features must be embed_dim 4.*\(3, 2, 5\)"):
        m(lg.randn(3, 2, 5), x, x)
    with pytest.raises(ValueError, match=r"key shape \(3, 2, 4\) must equal value shape"):
        m(x, x, lg.randn(5, 2, 4))
    with pytest.raises(ValueError, match=r"batch size 2.*key \(3, 1, 4\)"):
        m(x, lg.randn(3, 1, 4), lg.randn(3, 1, 4))
    with pytest.raises(TypeError, match="only bool and floating types of attn_mask"):
        m(x, x, x, attn_mask=lg.zeros(3, 3, dtype=lg.int64))
    with pytest.raises(TypeError, match="must have the query's dtype float32"):
        m(x, x, x, attn_mask=lg.zeros(3, 3, dtype=lg.float64))
    with pytest.raises(ValueError, match="attn_mask is needed"):
        m(x, x, x, is_causal=True)
    with pytest.raises(TypeError, match="query must be a Tensor"):
        m(np.zeros((3, 2, 4), np.float32), x, x)


def test_sdpa_bad_arguments_name_them():
    q, k, v = lg.randn(2, 3, 4), lg.randn(2, 5, 4), lg.randn(2, 5, 6)
    with pytest.raises(ValueError, match=r"query \(2, 3, 4\), key \(2, 5, 3\)"):
        F.scaled_dot_product_attention(q, lg.randn(2, 5, 3), v)
    with pytest.raises(ValueError, match=r"attn_mask of shape \(4, 5\) does not broadcast to "
                                         r"the scores' shape \(2, 3, 5\)"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=lg.zeros(4, 5, dtype=lg.bool))
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=lg.zeros(3, 5), is_causal=True)
    with pytest.raises(ValueError, match=r"leading dims .* do not broadcast"):
        F.scaled_dot_product_attention(q, lg.randn(3, 5, 4), lg.randn(3, 5, 6))
    with pytest.raises(ValueError, match="must divide query's"):
        F.scaled_dot_product_attention(lg.randn(1, 3, 2, 4), lg.randn(1, 2, 2, 4),
                                       lg.randn(1, 2, 2, 4), enable_gqa=True)
    with pytest.raises(TypeError, match="one dtype"):
        F.scaled_dot_product_attention(q, k.double(), v)
    with pytest.raises(ValueError, match="p must be a probability"):
        F.scaled_dot_product_attention(q, k, v, dropout_p=1.5)
    with pytest.raises(ValueError, match=r"at least 2 dims.*\(4,\)"):
        F.scaled_dot_product_attention(lg.randn(4), k, v)
