"""RMSprop, Adagrad, Adadelta, AdamW trajectories against torch.optim; lr schedulers
against torch.optim.lr_scheduler; InverseTimeDecay against its formula."""
import math
import warnings

import numpy as np
import pytest

import loomgrad as lg
from loomgrad import nn, optim
from loomgrad.optim import lr_scheduler

torch = pytest.importorskip("torch")
import test_optim  # noqa: E402  (its trajectory harness: same grads, compare every step)

_trajectories = test_optim._trajectories

CASES = [
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.005, centered=True, momentum=0.5, weight_decay=0.1, maximize=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1, initial_accumulator_value=0.5, eps=1e-6)),
    ("Adagrad", dict(lr=0.05, lr_decay=0.01, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4)),
    ("Adadelta", dict(weight_decay=0.1, maximize=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, betas=(0.8, 0.99))),
    ("AdamW", dict(lr=0.02, amsgrad=True)),
    ("AdamW", dict(lr=0.02, amsgrad=True, weight_decay=0.0, eps=1e-6, maximize=True)),
]


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_trajectory_matches_torch(name, kw):
    _trajectories(lambda ps: getattr(optim, name)(ps, **kw),
                  lambda ps: getattr(torch.optim, name)(ps, **kw), steps=8)


@pytest.mark.parametrize("name", ["RMSprop", "Adagrad", "Adadelta", "AdamW"])
def test_groups_missing_grads_float32_and_state_dict(name):
    opt_cls, t_cls = getattr(optim, name), getattr(torch.optim, name)
    # param groups with their own options, and some steps without a gradient
    _trajectories(lambda g: opt_cls(g, lr=0.05), lambda g: t_cls(g, lr=0.05),
                  groups=[([0], dict(lr=0.01)), ([1, 2], dict(weight_decay=0.1))],
                  none_at={(0, 0), (2, 1), (3, 2)})
    # float32 stays float32, state too
    p = nn.Parameter(np.ones((3, 3), np.float32))
    opt = opt_cls([p], lr=0.1)
    for _ in range(3):
        p.grad = lg.Tensor(np.full((3, 3), 0.5, np.float32))
        opt.step()
    assert p.array.dtype == np.float32
    assert all(v.dtype == np.float32 for v in opt.state[p].values() if hasattr(v, "dtype"))
    # state_dict round trip continues the same trajectory
    rng = np.random.default_rng(1)
    a = [nn.Parameter(rng.standard_normal(s)) for s in test_optim.SHAPES]
    b = [nn.Parameter(x.array.copy()) for x in a]
    opt_a, opt_b = opt_cls(a, lr=0.05), opt_cls(b, lr=0.05)

    def run(params, o, steps):
        for _ in range(steps):
            for q in params:
                q.grad = lg.Tensor(test_optim._grad_fn(q.array))
            o.step()
    run(a, opt_a, 3)
    run(b, opt_b, 3)
    opt_b2 = opt_cls(b, lr=0.05)
    opt_b2.load_state_dict(opt_a.state_dict())
    run(a, opt_a, 3)
    run(b, opt_b2, 3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.array, y.array)


def test_adamw_weight_decay_is_decoupled():
    # zero gradient: Adam's L2 decay still moves p through m/v; AdamW only shrinks p
    p = nn.Parameter(np.full(3, 2.0))
    opt = optim.AdamW([p], lr=0.1, weight_decay=0.5)
    p.grad = lg.Tensor(np.zeros(3))
    opt.step()
    np.testing.assert_allclose(p.array, 2.0 * (1 - 0.1 * 0.5))
    assert optim.AdamW([nn.Parameter(np.ones(1))]).defaults["weight_decay"] == 1e-2


@pytest.mark.parametrize("make", [
    lambda ps: optim.RMSprop(ps, lr=-1), lambda ps: optim.RMSprop(ps, alpha=-0.1),
    lambda ps: optim.RMSprop(ps, momentum=-1), lambda ps: optim.Adagrad(ps, lr_decay=-1),
    lambda ps: optim.Adagrad(ps, initial_accumulator_value=-1),
    lambda ps: optim.Adadelta(ps, rho=1.5), lambda ps: optim.Adadelta(ps, eps=-1),
    lambda ps: optim.AdamW(ps, betas=(1.0, 0.9)), lambda ps: optim.AdamW(ps, weight_decay=-1),
])
def test_bad_hyperparameters(make):
    with pytest.raises(ValueError):
        make([nn.Parameter(np.ones(2))])


# --------------------------------------------------------------------------- schedulers
def _pair_of_optimizers(lrs=(0.1, 0.02)):
    ours = optim.SGD([{"params": [nn.Parameter(np.ones(2))], "lr": lr} for lr in lrs], lr=1.0)
    theirs = torch.optim.SGD([{"params": [torch.zeros(2, requires_grad=True)], "lr": lr}
                              for lr in lrs], lr=1.0)
    return ours, theirs


SCHEDULES = [
    ("StepLR", dict(step_size=3)),
    ("StepLR", dict(step_size=5, gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001)),
]


@pytest.mark.parametrize("name,kw", SCHEDULES)
def test_scheduler_matches_torch_over_many_steps(name, kw):
    ours, theirs = _pair_of_optimizers()
    s = getattr(lr_scheduler, name)(ours, **kw)
    ts = getattr(torch.optim.lr_scheduler, name)(theirs, **kw)
    assert s.get_last_lr() == ts.get_last_lr()
    for epoch in range(1, 61):  # past T_max: cosine keeps going (and restarts) like torch
        ours.step()
        theirs.step()
        s.step()
        ts.step()
        np.testing.assert_allclose(s.get_last_lr(), ts.get_last_lr(), rtol=1e-12, atol=1e-15,
                                   err_msg=f"epoch {epoch}")
        assert [g["lr"] for g in ours.param_groups] == s.get_last_lr()
    assert s.last_epoch == ts.last_epoch == 60
    # the closed form (step(epoch)) agrees with torch's closed form
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for e in (0, 4, 13, 29):
            s.step(e)
            ts.step(e)
            np.testing.assert_allclose(s.get_last_lr(), ts.get_last_lr(), rtol=1e-12)


def test_scheduler_state_dict_resumes():
    ours, _ = _pair_of_optimizers()
    s = lr_scheduler.CosineAnnealingLR(ours, T_max=10)
    for _ in range(4):
        ours.step()
        s.step()
    sd = s.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 4 and sd["base_lrs"] == [0.1, 0.02]
    trail = []
    for _ in range(3):
        s.step()
        trail.append(s.get_last_lr())
    ours2, _ = _pair_of_optimizers()
    s2 = lr_scheduler.CosineAnnealingLR(ours2, T_max=10)
    s2.load_state_dict(sd)
    for g, lr in zip(ours2.param_groups, sd["_last_lr"]):
        g["lr"] = lr  # the optimizer's own state_dict would carry this
    assert [s2.step() or s2.get_last_lr() for _ in range(3)] == trail


def test_inverse_time_decay_formula():
    ours, _ = _pair_of_optimizers((0.5, 0.2))
    s = lr_scheduler.InverseTimeDecay(ours, decay_rate=0.25)
    assert s.get_last_lr() == [0.5, 0.2]
    for epoch in range(1, 40):
        s.step()
        for base, lr, g in zip((0.5, 0.2), s.get_last_lr(), ours.param_groups):
            assert lr == pytest.approx(base / (1 + 0.25 * epoch), rel=1e-15)
            assert g["lr"] == lr
    s.step(100)
    assert s.get_last_lr()[0] == pytest.approx(0.5 / 26)
    assert lr_scheduler.InverseTimeDecay(ours, 0.0).get_last_lr() == [g["initial_lr"] for g in
                                                                       ours.param_groups]


def test_scheduler_errors():
    opt, _ = _pair_of_optimizers()
    with pytest.raises(TypeError, match="not an Optimizer"):
        lr_scheduler.StepLR("sgd", 3)
    with pytest.raises(ValueError, match="step_size"):
        lr_scheduler.StepLR(opt, 0)
    with pytest.raises(ValueError, match="T_max"):
        lr_scheduler.CosineAnnealingLR(opt, 0)
    with pytest.raises(ValueError, match="decay_rate"):
        lr_scheduler.InverseTimeDecay(opt, -1.0)
    fresh = optim.SGD([nn.Parameter(np.ones(1))], lr=0.1)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.ExponentialLR(fresh, 0.9, last_epoch=3)


def test_scheduler_drives_training():
    lg.manual_seed(0)
    p = nn.Parameter(np.array([3.0]))
    opt = optim.SGD([p], lr=0.4)
    s = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    seen = []
    for _ in range(6):
        p.grad = lg.Tensor(2 * p.array)  # d/dp p**2
        opt.step()
        seen.append(opt.param_groups[0]["lr"])
        s.step()
    assert seen == [0.4, 0.4, 0.2, 0.2, 0.1, 0.1]
    assert abs(p.array[0]) < 3.0 * math.prod(abs(1 - 2 * lr) for lr in seen) + 1e-12
