"""lg.optim: SGD and Adam trajectories against torch.optim, state dicts, argument checks."""
import numpy as np
import pytest

import loomgrad as lg
from loomgrad import nn, optim

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (5,), (2, 2, 3)]


def _grad_fn(x):
    """A gradient that depends on the parameter, so trajectories really differ
    when an update rule is wrong."""
    return np.sin(3 * x) + 0.5 * x


def _trajectories(make_ours, make_torch, steps=6, dtype=np.float64, groups=None, none_at=None):
    """Run both optimizers from the same start with the same gradients;
    return lists of final parameter arrays (ours, torch's)."""
    rng = np.random.default_rng(0)
    starts = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    ours = [nn.Parameter(a.copy()) for a in starts]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in starts]
    if groups:
        opt = make_ours([{"params": [ours[i] for i in g], **o} for g, o in groups])
        topt = make_torch([{"params": [theirs[i] for i in g], **o} for g, o in groups])
    else:
        opt, topt = make_ours(ours), make_torch(theirs)
    for step in range(steps):
        for i, (p, tp) in enumerate(zip(ours, theirs)):
            if none_at is not None and (step, i) in none_at:
                p.grad, tp.grad = None, None
                continue
            g = _grad_fn(p.array)
            p.grad = lg.Tensor(g.copy())
            tp.grad = torch.tensor(g.copy())
        opt.step()
        topt.step()
        for p, tp in zip(ours, theirs):
            np.testing.assert_allclose(p.array, tp.detach().numpy(), rtol=1e-12, atol=1e-13,
                                       err_msg=f"diverged at step {step}")
    assert all(p.array.dtype == dtype for p in ours)
    return opt, ours


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.1, momentum=0.9, weight_decay=0.01),
    dict(lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.1, maximize=True),
]


@pytest.mark.parametrize("kw", SGD_CASES)
def test_sgd_matches_torch(kw):
    _trajectories(lambda ps: optim.SGD(ps, **kw), lambda ps: torch.optim.SGD(ps, **kw))


ADAM_CASES = [
    dict(),
    dict(lr=0.01, betas=(0.8, 0.99)),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.02, amsgrad=True),
    dict(lr=0.02, amsgrad=True, weight_decay=0.05, eps=1e-6, maximize=True),
]


@pytest.mark.parametrize("kw", ADAM_CASES)
def test_adam_matches_torch(kw):
    _trajectories(lambda ps: optim.Adam(ps, **kw), lambda ps: torch.optim.Adam(ps, **kw))


def test_param_groups_and_missing_grads_match_torch():
    groups = [([0, 2], dict(lr=0.05)), ([1], dict(momentum=0.9, nesterov=True))]
    opt, _ = _trajectories(lambda g: optim.SGD(g, lr=0.1), lambda g: torch.optim.SGD(g, lr=0.1),
                           groups=groups, none_at={(0, 1), (3, 0), (4, 2)})
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.1]
    assert opt.param_groups[1]["nesterov"] and not opt.param_groups[0]["nesterov"]
    _trajectories(lambda g: optim.Adam(g, lr=0.01), lambda g: torch.optim.Adam(g, lr=0.01),
                  groups=[([0], dict(betas=(0.5, 0.9))), ([1, 2], dict(amsgrad=True))],
                  none_at={(0, 0), (2, 1)})


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: optim.Adam(ps, lr=0.05, amsgrad=True)])
def test_float32_stays_float32(make):
    p = nn.Parameter(np.ones((3, 3), np.float32))
    opt = make([p])
    for _ in range(3):
        p.grad = lg.Tensor(np.full((3, 3), 0.5, np.float32))
        opt.step()
    assert p.array.dtype == np.float32
    assert all(v.dtype == np.float32 for v in opt.state[p].values() if hasattr(v, "dtype"))


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: optim.Adam(ps, lr=0.05, amsgrad=True)])
def test_state_dict_round_trip(make):
    rng = np.random.default_rng(1)
    start = [rng.standard_normal(s) for s in SHAPES]

    def run(params, opt, steps):
        for _ in range(steps):
            for p in params:
                p.grad = lg.Tensor(_grad_fn(p.array))
            opt.step()

    a = [nn.Parameter(x.copy()) for x in start]
    opt_a = make(a)
    run(a, opt_a, 3)
    sd = opt_a.state_dict()
    assert sorted(sd["state"]) == [0, 1, 2] and sd["param_groups"][0]["params"] == [0, 1, 2]
    b = [nn.Parameter(p.array.copy()) for p in a]
    opt_b = make(b)
    opt_b.load_state_dict(sd)
    run(a, opt_a, 3)
    run(b, opt_b, 3)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.array, q.array)
    # the saved dict is a snapshot: further steps did not change it
    assert all(sd["state"][i] is not opt_a.state[p] for i, p in enumerate(a))
    with pytest.raises(ValueError, match="group 0 has 3 parameter"):
        make(a[:2]).load_state_dict(sd)


def test_zero_grad_and_add_param_group():
    p, q = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))
    opt = optim.SGD([p], lr=0.1)
    opt.add_param_group({"params": [q], "lr": 0.01})
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert opt.param_groups[1]["momentum"] == 0
    p.grad, q.grad = lg.Tensor(np.ones(2)), lg.Tensor(np.ones(3))
    opt.zero_grad(set_to_none=False)
    assert not p.grad.array.any() and not q.grad.array.any()
    opt.zero_grad()
    assert p.grad is None and q.grad is None
    opt.step()  # no grads: nothing changes, nothing fails
    np.testing.assert_array_equal(p.array, 1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [p]})
    with pytest.raises(ValueError, match="unknown option"):
        opt.add_param_group({"params": [nn.Parameter(np.ones(1))], "betas": (0.9, 0.9)})


def test_closure_and_model_training_step():
    lg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    x = lg.Tensor(np.random.default_rng(0).standard_normal((16, 3)).astype(np.float32))
    y = lg.Tensor((x.array.sum(1, keepdims=True) > 0).astype(np.float32))
    opt = optim.Adam(model.parameters(), lr=0.05)

    def closure():
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    first = float(opt.step(closure).item())
    for _ in range(50):
        last = float(opt.step(closure).item())
    assert last < 0.5 * first


@pytest.mark.parametrize("make,match", [
    (lambda ps: optim.SGD(ps, lr=-0.1), "lr"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=-1), "momentum"),
    (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=-1), "weight_decay"),
    (lambda ps: optim.SGD(ps, lr=0.1, nesterov=True), "nesterov"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
    (lambda ps: optim.Adam(ps, lr=-1e-3), "lr"),
    (lambda ps: optim.Adam(ps, betas=(1.0, 0.999)), r"betas\[0\]"),
    (lambda ps: optim.Adam(ps, betas=(0.9, -0.1)), r"betas\[1\]"),
    (lambda ps: optim.Adam(ps, betas=(0.9,)), "betas"),
    (lambda ps: optim.Adam(ps, eps=-1.0), "eps"),
    (lambda ps: optim.Adam(ps, weight_decay=-0.1), "weight_decay"),
    (lambda ps: optim.Adam([{"params": ps, "lr": -1.0}]), "lr"),
    (lambda ps: optim.SGD([], lr=0.1), "empty parameter list"),
])
def test_bad_hyperparameters_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make([nn.Parameter(np.ones(2))])


def test_bad_params_raise_type_error():
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(nn.Parameter(np.ones(2)), lr=0.1)
    with pytest.raises(TypeError, match=r"params\[1\] is a ndarray"):
        optim.SGD([nn.Parameter(np.ones(2)), np.ones(2)], lr=0.1)
    with pytest.raises(TypeError, match="lr must be a number"):
        optim.Adam([nn.Parameter(np.ones(2))], lr="fast")
