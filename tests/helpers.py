"""The suite's one torch-comparison helper (and a gradcheck helper).

    from helpers import helper_test_op, helper_gradcheck, requires_torch

``helper_test_op(shapes, torch_fn, lg_fn)`` builds seeded random float64
inputs, runs ``torch_fn`` on torch tensors and ``lg_fn`` (default: the same
function, when the expression reads the same in both, e.g. ``lambda x: x.exp()``)
on loomgrad tensors, and compares forward values, dtypes and every input's
gradient under the same random upstream gradient. Without torch installed
the loomgrad half still runs (forward + backward, and gradcheck when asked)
and the comparison is skipped.
"""
from __future__ import annotations

import numpy as np
import pytest

import loomgrad as lg

try:
    import torch
except ImportError:  # pragma: no cover - CI installs torch
    torch = None

HAVE_TORCH = torch is not None
requires_torch = pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
# GPU tests: @pytest.mark.cuda plus this, so they skip cleanly without a GPU.
requires_cuda = pytest.mark.skipif(not lg.cuda.is_available(),
                                   reason=f"no CUDA: {lg.cuda.unavailable_reason()}")


def torch_cuda():
    """torch for a test that needs torch.cuda tensors; skips the test when
    torch is missing or has no CUDA."""
    if torch is None:
        pytest.skip("torch is not installed")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    return torch


def make_inputs(shapes, dtype=np.float64, low=-2.0, high=2.0, seed=0):
    """Seeded uniform arrays on [low, high), one per shape."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(low, high, size=s).astype(dtype) for s in shapes]


def _as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _torch_dtype_name(t):
    return str(t.dtype).replace("torch.", "")


def _run(lib_tensor, fn, xs, grad_flags, weights):
    """Run ``fn`` on fresh tensors of library ``lib_tensor``; backward of
    sum(out_i * w_i) over floating outputs. Returns (inputs, outputs)."""
    ins = [lib_tensor(x, rg) for x, rg in zip(xs, grad_flags)]
    outs = _as_list(fn(*ins))
    loss = None
    for o, w in zip(outs, weights):
        if w is not None and o.requires_grad:
            term = (o * lib_tensor(w.astype(w.dtype), False)).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    return ins, outs


def helper_test_op(shapes, torch_fn, lg_fn=None, vals=None, dtype=np.float64, low=-2.0,
                   high=2.0, atol=1e-7, rtol=1e-6, grad_atol=None, grad_rtol=None,
                   forward_only=False, gradcheck=False, check_dtype=True, seed=0):
    """Compare ``lg_fn(*inputs)`` with ``torch_fn(*inputs)``: values, dtypes, gradients.

    shapes: one shape per input (ignored when ``vals``, a list of arrays, is
    given). Floating inputs require grad unless ``forward_only``. Outputs may
    be a tensor or a tuple (e.g. max's (values, indices)); each floating output
    gets a seeded random upstream gradient. ``gradcheck=True`` also runs
    float64 central differences on ``lg_fn``. Returns the loomgrad outputs.
    """
    lg_fn = torch_fn if lg_fn is None else lg_fn
    xs = [np.asarray(v) for v in vals] if vals is not None else \
        make_inputs(shapes, dtype, low, high, seed)
    grad_flags = [not forward_only and x.dtype.kind == "f" for x in xs]

    probe = _as_list(lg_fn(*[lg.tensor(x) for x in xs]))
    rng = np.random.default_rng(seed + 1)
    weights = [rng.standard_normal(o.shape).astype(o.dtype) if o.dtype.kind == "f" else None
               for o in probe]

    l_in, l_out = _run(lambda x, rg: lg.tensor(x, requires_grad=rg), lg_fn, xs, grad_flags,
                       weights)
    if gradcheck:
        lg.utils.gradcheck(lg_fn, [lg.tensor(x, requires_grad=rg) for x, rg in
                                   zip(xs, grad_flags)])
    if not HAVE_TORCH:
        return l_out

    t_in, t_out = _run(lambda x, rg: torch.tensor(x, requires_grad=rg), torch_fn, xs,
                       grad_flags, weights)
    assert len(l_out) == len(t_out), f"{len(l_out)} outputs vs torch's {len(t_out)}"
    for k, (lo, to) in enumerate(zip(l_out, t_out)):
        expect = to.detach().numpy()
        assert lo.shape == tuple(expect.shape), \
            f"output {k}: shape {lo.shape} vs torch {tuple(expect.shape)}"
        if check_dtype:
            assert str(lo.dtype) == _torch_dtype_name(to), \
                f"output {k}: dtype {lo.dtype} vs torch {to.dtype}"
        np.testing.assert_allclose(lo.detach().numpy(), expect, atol=atol, rtol=rtol,
                                   err_msg=f"forward output {k}")
    ga = atol * 10 if grad_atol is None else grad_atol
    gr = rtol * 10 if grad_rtol is None else grad_rtol
    for i, (li, ti) in enumerate(zip(l_in, t_in)):
        if not grad_flags[i]:
            continue
        if ti.grad is None:
            assert li.grad is None or not np.any(li.grad.numpy()), f"input {i}: torch has no grad"
            continue
        assert li.grad is not None, f"input {i}: no gradient, torch has one"
        np.testing.assert_allclose(li.grad.numpy(), ti.grad.numpy(), atol=ga, rtol=gr,
                                   err_msg=f"gradient of input {i}")
    return l_out


def helper_gradcheck(fn, shapes, low=-2.0, high=2.0, seed=0, vals=None, **kw):
    """``lg.utils.gradcheck`` of ``fn`` on seeded float64 inputs of ``shapes``."""
    xs = [np.asarray(v, np.float64) for v in vals] if vals is not None else \
        make_inputs(shapes, np.float64, low, high, seed)
    return lg.utils.gradcheck(fn, [lg.tensor(x, requires_grad=True) for x in xs], **kw)
