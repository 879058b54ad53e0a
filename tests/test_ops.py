"""Every differentiable op: against torch (values, dtypes, gradients) and float64 gradcheck.

Each case is (id, shapes, torch_fn, lg_fn or None when the same expression works
in both, options for helper_test_op). Both tests below run over the whole table.
"""
import numpy as np
import pytest

import loomgrad as lg
from helpers import HAVE_TORCH, helper_gradcheck, helper_test_op, requires_torch, torch

T = torch  # torch_fn lambdas below only run when torch is installed

POS = dict(low=0.5, high=2.0)  # log, sqrt, pow bases


def case(id, shapes, torch_fn, lg_fn=None, **opts):
    return pytest.param(shapes, torch_fn, lg_fn, opts, id=id)


CASES = [
    # arithmetic, broadcasting both ways, reflected operands
    case("add", [(3, 4), (3, 4)], lambda x, y: x + y),
    case("add_bcast", [(3, 1, 4), (2, 4)], lambda x, y: x + y),
    case("sub_bcast", [(4,), (3, 4)], lambda x, y: x - y),
    case("mul_bcast", [(2, 3, 1), (1, 4)], lambda x, y: x * y),
    case("div_bcast", [(3, 4), (4,)], lambda x, y: x / y, **POS),
    case("neg", [(3, 4)], lambda x: -x),
    case("scalar_ops", [(3, 4)], lambda x: 2 + x - 3 * x / 4 + (1 - x) * 0.5),
    case("rdiv_scalar", [(3, 4)], lambda x: 2 / x, **POS),
    case("pow_scalar", [(3, 4)], lambda x: x ** 2 + x ** 3),
    case("pow_frac", [(3, 4)], lambda x: x ** 0.5 + x ** -1.5, **POS),
    case("rpow", [(3, 4)], lambda x: 2 ** x),
    case("pow_tensor", [(3, 4), (4,)], lambda x, y: x ** y, **POS),
    # torch refuses ndarray operands on tensors that require grad; we take them both sides
    case("ndarray_operand", [(3, 4)], lambda x: x * T.tensor(np.arange(4.0)) - 1.0 + x,
         lambda x: x * np.arange(4.0) - np.ones(4) + x),
    case("ndarray_reflected", [(3, 4)], lambda x: x * T.arange(4.0) + x,
         lambda x: np.arange(4.0) * x + np.ones(4) - (1.0 - x)),
    # matmul: 2-D, batched, broadcast, 1-D rules
    case("mm", [(3, 4), (4, 5)], lambda x, y: x @ y),
    case("bmm", [(2, 3, 4), (2, 4, 5)], lambda x, y: x @ y),
    case("mm_batch_left", [(2, 3, 4), (4, 5)], lambda x, y: x @ y),
    case("mm_batch_right", [(3, 4), (2, 4, 5)], lambda x, y: x @ y),
    case("mm_bcast_batch", [(2, 1, 3, 4), (5, 4, 2)], lambda x, y: x @ y),
    case("mm_batch1", [(1, 3, 4), (2, 4, 5)], lambda x, y: x @ y),
    case("dot", [(4,), (4,)], lambda x, y: x @ y),
    case("vec_mat", [(4,), (4, 5)], lambda x, y: x @ y),
    case("mat_vec", [(3, 4), (4,)], lambda x, y: x @ y),
    case("vec_bmm", [(4,), (2, 4, 5)], lambda x, y: x @ y),
    case("bmm_vec", [(2, 3, 4), (4,)], lambda x, y: x @ y),
    case("matmul_fn", [(3, 4), (4, 2)], lambda x, y: T.matmul(x, y), lambda x, y: lg.matmul(x, y)),
    # unary maths and activations
    case("exp", [(3, 4)], lambda x: x.exp()),
    case("log", [(3, 4)], lambda x: x.log(), **POS),
    case("sqrt", [(3, 4)], lambda x: x.sqrt(), **POS),
    case("abs", [(3, 4)], lambda x: x.abs()),
    case("relu", [(3, 4)], lambda x: x.relu()),
    case("sigmoid", [(3, 4)], lambda x: x.sigmoid()),
    case("tanh", [(3, 4)], lambda x: x.tanh()),
    case("softplus", [(3, 4)], lambda x: T.nn.functional.softplus(x),
         lambda x: lg.softplus(x)),
    case("softplus_beta_threshold", [(4, 5)],
         lambda x: T.nn.functional.softplus(x, beta=2.0, threshold=1.5),
         lambda x: lg.softplus(x, beta=2.0, threshold=1.5)),
    case("silu", [(3, 4)], lambda x: T.nn.functional.silu(x), lambda x: lg.silu(x)),
    case("gelu", [(3, 4)], lambda x: T.nn.functional.gelu(x), lambda x: lg.gelu(x)),
    case("gelu_tanh", [(3, 4)], lambda x: T.nn.functional.gelu(x, approximate="tanh"),
         lambda x: lg.gelu(x, approximate="tanh")),
    case("exp_fn", [(3,)], lambda x: T.exp(x) + T.sigmoid(x) + T.tanh(x) + T.relu(x),
         lambda x: lg.exp(x) + lg.sigmoid(x) + lg.tanh(x) + lg.relu(x)),
    case("softmax", [(3, 5)], lambda x: x.softmax(-1)),
    case("softmax_dim0", [(3, 4, 2)], lambda x: x.softmax(0)),
    case("log_softmax", [(3, 5)], lambda x: x.log_softmax(1)),
    case("log_softmax_dim0", [(4, 3)], lambda x: T.log_softmax(x, 0),
         lambda x: lg.log_softmax(x, 0)),
    # reductions
    case("sum", [(3, 4)], lambda x: x.sum()),
    case("sum_dim", [(3, 4)], lambda x: x.sum(1)),
    case("sum_dims_keep", [(2, 3, 4)], lambda x: x.sum((0, 2), keepdim=True)),
    case("sum_neg_dim", [(2, 3, 4)], lambda x: x.sum(-1)),
    case("mean", [(3, 4)], lambda x: x.mean()),
    case("mean_dims", [(2, 3, 4)], lambda x: x.mean((0, -1))),
    case("mean_keep", [(2, 3, 4)], lambda x: x.mean(1, keepdim=True)),
    case("max", [(3, 4)], lambda x: x.max()),
    case("min", [(3, 4)], lambda x: x.min()),
    case("max_dim", [(3, 4)], lambda x: x.max(1)),
    case("min_dim_keep", [(3, 4)], lambda x: x.min(0, keepdim=True)),
    case("max_values", [(2, 3, 4)], lambda x: x.max(dim=-1).values),
    case("amax_dims", [(2, 3, 4)], lambda x: x.amax((0, 2))),
    case("amin_keep", [(2, 3, 4)], lambda x: x.amin(1, keepdim=True)),
    case("var", [(3, 4)], lambda x: x.var()),
    case("var_dim", [(3, 4)], lambda x: x.var(1)),
    case("var_biased", [(3, 4)], lambda x: x.var(0, unbiased=False)),
    case("var_correction", [(3, 4)], lambda x: x.var((0, 1), correction=0, keepdim=True)),
    case("std", [(3, 4)], lambda x: x.std(1)),
    # shapes
    case("reshape", [(3, 4)], lambda x: x.reshape(2, -1)),
    case("reshape_tuple", [(3, 4)], lambda x: x.reshape((4, 3))),
    case("view", [(2, 3, 4)], lambda x: x.view(-1, 4)),
    case("transpose", [(2, 3, 4)], lambda x: x.transpose(0, 2)),
    case("permute", [(2, 3, 4)], lambda x: x.permute(2, 0, 1)),
    case("T", [(3, 4)], lambda x: x.T),
    case("mT", [(2, 3, 4)], lambda x: x.mT),
    case("t", [(3, 4)], lambda x: x.t()),
    case("flatten", [(2, 3, 4)], lambda x: x.flatten()),
    case("flatten_range", [(2, 3, 4, 2)], lambda x: x.flatten(1, 2)),
    case("squeeze", [(3, 1, 4, 1)], lambda x: x.squeeze()),
    case("squeeze_dim", [(3, 1, 4, 1)], lambda x: x.squeeze(1)),
    case("unsqueeze", [(3, 4)], lambda x: x.unsqueeze(-1) + x.unsqueeze(0)[..., None]),
    case("expand", [(3, 1)], lambda x: x.expand(2, 3, 4)),
    case("contiguous_clone", [(3, 4)], lambda x: x.T.contiguous() * x.clone().T),
    # indexing
    case("index_int", [(3, 4)], lambda x: x[1]),
    case("index_slices", [(5, 6)], lambda x: x[1:4, ::2]),
    case("index_neg_step", [(5, 6)], lambda x: x.flip(0)[:, [4, 1]],  # torch: no negative steps
         lambda x: x[::-1, -2::-3]),
    case("index_none_ellipsis", [(2, 3, 4)], lambda x: x[None, ..., 1:]),
    case("index_list_repeats", [(4, 3)], lambda x: x[[0, 2, 0, 0]]),
    case("index_arrays", [(4, 3)], lambda x: x[[0, 1, 1], [2, 2, 0]]),
    case("index_tensor", [(4, 3)], lambda x: x[T.tensor([3, 3, 1])],
         lambda x: x[lg.tensor([3, 3, 1])]),
    case("index_mixed", [(4, 5, 3)], lambda x: x[1:, [0, 4, 4], 2]),
    case("index_mask", [(4, 3)], lambda x: x[x > 0]),
    case("index_row_mask", [(4, 3)], lambda x: x[np.array([True, False, True, True])]),
    # joining, selecting, clamping
    case("cat", [(2, 3), (4, 3)], lambda x, y: T.cat([x, y]), lambda x, y: lg.cat([x, y])),
    case("cat_dim1", [(2, 3), (2, 1)], lambda x, y: T.cat([x, y, x], dim=1),
         lambda x, y: lg.cat([x, y, x], dim=1)),
    case("stack", [(2, 3), (2, 3)], lambda x, y: T.stack([x, y], 1),
         lambda x, y: lg.stack([x, y], 1)),
    case("where", [(3, 4), (4,)], lambda x, y: T.where(x > 0, x, y),
         lambda x, y: lg.where(x > 0, x, y)),
    case("where_scalar", [(3, 4)], lambda x: T.where(x > 0, x, 0.0),
         lambda x: lg.where(x > 0, x, 0.0)),
    case("masked_fill", [(3, 4)], lambda x: x.masked_fill(x < 0, -1.0)),
    case("clamp", [(3, 4)], lambda x: x.clamp(-0.5, 0.7)),
    case("clamp_min", [(3, 4)], lambda x: x.clamp(min=0.1)),
    case("clamp_max", [(3, 4)], lambda x: T.clamp(x, max=0.3), lambda x: lg.clamp(x, max=0.3)),
    case("maximum", [(3, 4), (4,)], lambda x, y: T.maximum(x, y), lambda x, y: lg.maximum(x, y)),
    case("minimum", [(3, 1), (4,)], lambda x, y: T.minimum(x, y), lambda x, y: lg.minimum(x, y)),
    case("max_binary", [(3, 4), (3, 4)], lambda x, y: T.max(x, y), lambda x, y: lg.max(x, y)),
    case("split", [(5, 3)], lambda x: x.split(2)),
    case("chunk", [(3, 7)], lambda x: x.chunk(3, 1)),
    case("composite_mlp", [(5, 4), (4, 3), (3,)],
         lambda x, w, b: ((x @ w + b).tanh() ** 2).log_softmax(-1).mean()),
]


@requires_torch
@pytest.mark.parametrize("shapes,torch_fn,lg_fn,opts", CASES)
def test_op_matches_torch(shapes, torch_fn, lg_fn, opts):
    helper_test_op(shapes, torch_fn, lg_fn, **opts)


@pytest.mark.parametrize("shapes,torch_fn,lg_fn,opts", CASES)
def test_op_gradcheck(shapes, torch_fn, lg_fn, opts):
    fn = torch_fn if lg_fn is None else lg_fn
    helper_gradcheck(fn, shapes, low=opts.get("low", -2.0), high=opts.get("high", 2.0))


@requires_torch
@pytest.mark.parametrize("op", ["add", "mul", "matmul", "exp", "sigmoid", "softmax", "sum",
                                "max_dim", "getitem"])
def test_float32_matches_torch(op):
    fns = {"add": (lambda x, y: x + y, [(3, 4), (4,)]),
           "mul": (lambda x, y: x * y, [(3, 4), (3, 1)]),
           "matmul": (lambda x, y: x @ y, [(2, 8, 16), (16, 4)]),
           "exp": (lambda x: x.exp(), [(3, 4)]),
           "sigmoid": (lambda x: x.sigmoid(), [(3, 4)]),
           "softmax": (lambda x: x.softmax(-1), [(3, 4)]),
           "sum": (lambda x: x.sum(0), [(3, 4)]),
           "max_dim": (lambda x: x.max(1).values, [(3, 4)]),
           "getitem": (lambda x: x[[1, 1], 1:], [(3, 4)])}
    fn, shapes = fns[op]
    helper_test_op(shapes, fn, dtype=np.float32, atol=1e-5, rtol=1e-5)


@requires_torch
def test_max_min_ties_match_torch():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    helper_test_op(None, lambda t: t.max(), vals=[x])
    helper_test_op(None, lambda t: t.min(), vals=[x])
    helper_test_op(None, lambda t: t.amax(1), vals=[x])
    helper_test_op(None, lambda t: t.max(1), vals=[x])
    helper_test_op(None, lambda a, b: T.maximum(a, b), lambda a, b: lg.maximum(a, b),
                   vals=[x, np.full((2, 3), 2.0)])
    helper_test_op(None, lambda a: a.clamp(1.0, 2.0), vals=[x])  # gradient at the bounds


@requires_torch
def test_relu_abs_at_zero_match_torch():
    x = np.array([-1.0, 0.0, 2.0])
    helper_test_op(None, lambda t: t.relu() + t.abs(), vals=[x])


@requires_torch
def test_softmax_extreme_logits_match_torch():
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])
    for dt in (np.float32, np.float64):
        out = helper_test_op(None, lambda t: t.softmax(-1), vals=[x.astype(dt)])
        assert np.isfinite(out[0].detach().numpy()).all()
        out = helper_test_op(None, lambda t: t.log_softmax(-1), vals=[x.astype(dt)])
        assert np.isfinite(out[0].detach().numpy()).all()
        helper_test_op(None, lambda t: t.sigmoid() + T.nn.functional.softplus(t),
                       lambda t: t.sigmoid() + lg.softplus(t), vals=[x.astype(dt)],
                       atol=1e-6, rtol=1e-6)


@requires_torch
def test_integer_and_bool_ops_match_torch():
    a = np.array([[1, 2, 3], [4, 5, 6]])
    b = np.array([2, 0, 1])
    for fn in (lambda x, y: x + y, lambda x, y: x * y, lambda x, y: x - 2,
               lambda x, y: x * 1.5, lambda x, y: x / 2, lambda x, y: x // 2,
               lambda x, y: x % 4, lambda x, y: x.sum(), lambda x, y: x.max(),
               lambda x, y: x > y, lambda x, y: (x == 2) | (x > 4),
               lambda x, y: x @ y, lambda x, y: x[:, y], lambda x, y: x ** 2):
        helper_test_op(None, fn, vals=[a, b], forward_only=True)


def test_gradcheck_reports_wrong_gradients():
    with pytest.raises(AssertionError, match="input 0"):
        lg.utils.gradcheck(lambda x: x.detach() * x, [lg.randn(3, requires_grad=True)])
    with pytest.raises(AssertionError, match="input 1"):
        lg.utils.gradcheck(lambda x, y: x + y.detach() * y,
                           [lg.randn(3, requires_grad=True), lg.randn(3, requires_grad=True)])


def test_gradcheck_grad_output_and_float32_inputs():
    x = lg.randn(2, 3, requires_grad=True)  # float32: checked on a float64 copy
    assert lg.utils.gradcheck(lambda t: t.sigmoid(), [x], grad_output=np.ones((2, 3)))
    assert x.grad is None  # the caller's tensors are untouched


def test_matmul_uses_our_gemm(monkeypatch):
    calls = []
    real = lg.kernels.gemm

    def spy(a, b, **kw):
        calls.append((a.shape, b.shape, kw.get("trans_a", False), kw.get("trans_b", False)))
        return real(a, b, **kw)
    monkeypatch.setattr(lg.kernels, "gemm", spy)
    a = lg.randn(3, 4, requires_grad=True)
    b = lg.randn(4, 5, requires_grad=True)
    (a @ b).sum().backward()
    assert calls[0][:2] == ((3, 4), (4, 5))
    # backward uses the transpose flags, not materialised transposes
    assert ((3, 5), (4, 5), False, True) in calls and ((3, 4), (3, 5), True, False) in calls


def test_helper_runs_without_torch(monkeypatch):
    import helpers
    monkeypatch.setattr(helpers, "HAVE_TORCH", False)
    monkeypatch.setattr(helpers, "torch", None)
    out = helper_test_op([(2, 3)], lambda x: x.exp(), gradcheck=True)
    assert out[0].shape == (2, 3)
    with pytest.raises(AssertionError, match="input 0"):  # gradcheck still guards
        helper_test_op([(2,)], lambda x: x.detach() * x, gradcheck=True)


@requires_torch
def test_function_forms_match_torch():
    helper_test_op([(3, 4), (4,)], lambda x, y: T.add(x, y, alpha=2) - T.sub(x, y, alpha=0.5),
                   lambda x, y: lg.add(x, y, alpha=2) - lg.sub(x, y, alpha=0.5))
    helper_test_op([(3, 4)], lambda x: T.sum(x, 1) + T.mean(x, 1) + T.var(x, 1) + T.amax(x, 1),
                   lambda x: lg.sum(x, 1) + lg.mean(x, 1) + lg.var(x, 1) + lg.amax(x, 1))
    helper_test_op([(2, 3, 4)], lambda x: T.flatten(T.permute(x, (2, 0, 1)), 1) + 0,
                   lambda x: lg.flatten(lg.permute(x, (2, 0, 1)), 1) + 0)
    helper_test_op([(2, 3)], lambda x: T.unsqueeze(T.transpose(T.reshape(x, (3, 2)), 0, 1), 0),
                   lambda x: lg.unsqueeze(lg.transpose(lg.reshape(x, (3, 2)), 0, 1), 0))
    helper_test_op([(2, 1)], lambda x: T.pow(x, 2) + T.pow(2.0, x) + T.squeeze(x, 1)[:, None],
                   lambda x: lg.pow(x, 2) + lg.pow(2.0, x) + lg.squeeze(x, 1)[:, None])
    helper_test_op([(2, 3)], lambda x: T.abs(x) + T.sqrt(T.exp(x)) + T.log(T.exp(x)) + T.neg(x),
                   lambda x: lg.abs(x) + lg.sqrt(lg.exp(x)) + lg.log(lg.exp(x)) + lg.neg(x))
    helper_test_op([(2, 3)], lambda x: T.clamp(x, -1, 1) * T.softmax(x, 1) + T.max(x, 1)[0][:, None],
                   lambda x: lg.clamp(x, -1, 1) * lg.softmax(x, 1) + lg.max(x, 1)[0][:, None])


@pytest.mark.parametrize("sa,sb", [((2, 0), (0, 3)), ((4, 2, 0), (0, 3)), ((4, 2, 0), (4, 0, 3)),
                                   ((0, 3), (3, 2)), ((2, 3), (3, 0)), ((3, 0, 2), (2, 5)),
                                   ((0,), (0,))])
def test_matmul_zero_size_matches_torch(sa, sb):
    helper_test_op([sa, sb], lambda a, b: a @ b, lambda a, b: a @ b)


def test_softmax_runs_on_the_cpu_row_kernels(monkeypatch):
    calls = []
    for name in ("softmax", "softmax_backward", "log_softmax", "log_softmax_backward"):
        real = getattr(lg.kernels, name)
        monkeypatch.setattr(lg.kernels, name,
                            lambda *a, _real=real, _n=name: calls.append(_n) or _real(*a))
    x = lg.randn(3, 4, 5, requires_grad=True)
    (x.softmax(1) * lg.randn(3, 4, 5)).sum().backward()
    (x.log_softmax(0) * lg.randn(3, 4, 5)).sum().backward()
    assert calls == ["softmax", "softmax_backward", "log_softmax", "log_softmax_backward"]
