"""Issue 14: optim.LBFGS against torch.optim.LBFGS on the same closure (trajectories)."""
import numpy as np
import pytest
import torch

import loomgrad as lg


def _problem(mod, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, 5))
    y = (X @ rng.standard_normal(5) > 0).astype(np.int64)
    W0 = rng.standard_normal((2, 5)) * 0.1
    b0 = np.zeros(2)
    tdt = {np.float64: mod.float64, np.float32: mod.float32}[dtype]
    W = mod.tensor(W0.astype(dtype), requires_grad=True)
    b = mod.tensor(b0.astype(dtype), requires_grad=True)
    Xt, yt = mod.tensor(X.astype(dtype)), mod.tensor(y)
    F = lg.nn.functional if mod is lg else torch.nn.functional

    def closure():
        for p in (W, b):
            p.grad = None
        loss = F.cross_entropy(Xt @ W.T + b, yt) + 0.01 * (W * W).sum()
        loss.backward()
        return loss
    assert tdt is not None
    return (W, b), closure


def _rosenbrock(mod, dtype):
    x = mod.tensor(np.array([-1.5, 2.0], dtype), requires_grad=True)

    def closure():
        x.grad = None
        loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
        loss.backward()
        return loss
    return (x,), closure


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
@pytest.mark.parametrize("history", [3, 100])
@pytest.mark.parametrize("problem", [_problem, _rosenbrock])
def test_lbfgs_trajectory_matches_torch_float64(line_search, history, problem):
    trajectories = []
    for mod in (lg, torch):
        params, closure = problem(mod, np.float64)
        opt = mod.optim.LBFGS(params, lr=1 if line_search else 0.5, max_iter=7,
                              history_size=history, line_search_fn=line_search)
        traj = []
        for _ in range(4):  # Rosenbrock amplifies rounding (dot-product order): ~1e-8 by now
            loss = opt.step(closure)
            traj.append([float(loss.detach())] + [np.array(p.detach().numpy()) for p in params])
        st = opt.state[params[0]]
        traj.append((st["func_evals"], st["n_iter"]))
        trajectories.append(traj)
    ours, theirs = trajectories
    assert ours[-1] == theirs[-1]  # the same number of evaluations and iterations
    for a, b in zip(ours[:-1], theirs[:-1]):
        np.testing.assert_allclose(a[0], b[0], rtol=1e-7, atol=1e-12)
        for pa, pb in zip(a[1:], b[1:]):
            np.testing.assert_allclose(pa, pb, rtol=1e-6, atol=1e-9)  # dot-product order


def test_lbfgs_float32_close_to_torch():
    finals = []
    for mod in (lg, torch):
        params, closure = _problem(mod, np.float32)
        opt = mod.optim.LBFGS(params, history_size=10, max_iter=20,
                              line_search_fn="strong_wolfe")
        for _ in range(3):
            opt.step(closure)
        finals.append(float(closure().detach()))
    np.testing.assert_allclose(finals[0], finals[1], rtol=1e-4)


def test_lbfgs_argument_checks():
    p = lg.nn.Parameter(lg.zeros(2))
    with pytest.raises(ValueError, match="line_search_fn"):
        lg.optim.LBFGS([p], line_search_fn="armijo")
    with pytest.raises(ValueError, match="history_size"):
        lg.optim.LBFGS([p], history_size=0)
    with pytest.raises(ValueError, match="closure"):
        lg.optim.LBFGS([p]).step(None)
