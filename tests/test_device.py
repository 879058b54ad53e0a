"""Devices: lg.device, Tensor.to/.cuda/.cpu, factories with device=, Module.to, the
mixed-device check, checkpoints across devices, and `train --device cuda`.

The first half runs anywhere (CPU semantics and the errors without CUDA). The
@pytest.mark.cuda half runs every Tensor op, layer, loss and optimizer on the GPU
against the same thing on the CPU, and skips cleanly without a GPU.
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import pytest

import loomgrad as lg
from loomgrad import autograd, nn, optim
from loomgrad import train as lg_train
from loomgrad.nn import functional as F

from helpers import make_inputs, requires_cuda, torch_cuda
from test_ops import CASES as OP_CASES

try:  # the CNN and loss tables (those modules skip themselves without torch)
    from test_cnn_layers import AVGPOOL_CASES, CONV_CASES, MAXPOOL_CASES
    from test_nn import CE_CASES
except (ImportError, pytest.skip.Exception):  # pragma: no cover - CI installs torch
    AVGPOOL_CASES = CONV_CASES = MAXPOOL_CASES = CE_CASES = []

no_cuda = pytest.mark.skipif(lg.cuda.is_available(), reason="CUDA is available")


def host(t):
    """A Tensor's values as a NumPy array, from any device."""
    return t.detach().cpu().numpy()


# =========================================================================== anywhere
def test_device_objects_like_torch():
    d = lg.device("cuda")
    assert d == "cuda" and d.type == "cuda" and d.index is None
    assert lg.device("cuda:1").index == 1 and lg.device("cuda", 1) == "cuda:1"
    assert lg.device("cpu").type == "cpu" and lg.device("cpu").index is None
    assert lg.device(lg.device("cuda:0")) == "cuda:0"
    assert repr(lg.device("cuda:2")) == "device(type='cuda', index=2)"
    t = lg.ones(2)
    assert t.device == "cpu" and str(t.device) == "cpu" and not t.is_cuda
    assert t.device.type == "cpu"
    for bad in ("gpu", "cuda:x", "cuda:", "cpu:1", "CUDA", ""):
        with pytest.raises(ValueError, match="unknown device"):
            lg.device(bad)
    with pytest.raises(TypeError):
        lg.device(0)
    with pytest.raises(ValueError):
        lg.device("cuda:0", 1)


def test_to_cpu_returns_self_unless_something_changes():
    x = lg.randn(3, 4, requires_grad=True)
    assert x.to("cpu") is x and x.cpu() is x and x.to(lg.device("cpu")) is x
    assert x.to(device="cpu", dtype=lg.float32) is x and x.to(x) is x
    c = x.to("cpu", copy=True)
    assert c is not x and c.grad_fn is not None
    np.testing.assert_array_equal(host(c), host(x))


def test_to_dtype_and_device_is_differentiable():
    x = lg.randn(3, 4, requires_grad=True)
    y = x.to("cpu", lg.float64)
    assert y.dtype == np.float64 and y.device == "cpu" and y.requires_grad
    (y * 3).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), np.full((3, 4), 3.0))
    z = x.detach().to(dtype=lg.float16)
    assert z.dtype == np.float16 and not z.requires_grad


def test_invalid_device_strings_are_value_errors():
    x = lg.ones(2)
    for call in (lambda: x.to("gpu"), lambda: lg.zeros(2, device="tpu"),
                 lambda: lg.tensor([1.0], device="cuda:x"), lambda: nn.Linear(2, 2).to("gpu"),
                 lambda: lg.full((2,), 1.0, device="metal")):
        with pytest.raises(ValueError, match="unknown device"):
            call()


def test_factories_take_device_cpu():
    makers = [lambda d: lg.zeros(2, 3, device=d), lambda d: lg.ones((2, 3), device=d),
              lambda d: lg.empty(2, device=d), lambda d: lg.full((2,), 7, device=d),
              lambda d: lg.rand(2, device=d), lambda d: lg.randn(2, device=d),
              lambda d: lg.arange(5, device=d), lambda d: lg.eye(3, device=d),
              lambda d: lg.linspace(0, 1, 4, device=d), lambda d: lg.randint(0, 9, (3,), device=d),
              lambda d: lg.zeros_like(lg.ones(2), device=d),
              lambda d: lg.randn_like(lg.ones(2), device=d),
              lambda d: lg.full_like(lg.ones(2), 3, device=d),
              lambda d: lg.tensor([1, 2], device=d), lambda d: lg.as_tensor([1.0], device=d)]
    for make in makers:
        for d in ("cpu", lg.device("cpu"), None):
            t = make(d)
            assert t.device == "cpu" and isinstance(t.array, np.ndarray)
    # random factories draw on the host: the same seed gives the same values anywhere
    lg.manual_seed(5)
    a = lg.randn(4, device="cpu")
    lg.manual_seed(5)
    np.testing.assert_array_equal(a.numpy(), lg.randn(4).numpy())


@no_cuda
def test_cuda_without_cuda_is_a_clear_runtime_error(tmp_path):
    why = lg.cuda.unavailable_reason()
    lg.save({"w": lg.ones(2)}, tmp_path / "ck")
    calls = [lambda: lg.ones(2).cuda(), lambda: lg.ones(2).to("cuda"),
             lambda: lg.zeros(2, device="cuda"), lambda: lg.randn(2, device="cuda:0"),
             lambda: lg.tensor([1.0], device="cuda"), lambda: nn.Linear(2, 2).cuda(),
             lambda: nn.Linear(2, 2, device="cuda"), lambda: nn.Linear(2, 2).to("cuda"),
             lambda: lg.load(tmp_path / "ck", map_location="cuda"),
             lambda: lg_train.run(lg_train.default_args(device="cuda", quiet=True))]
    for call in calls:
        with pytest.raises(RuntimeError, match="CUDA is not available") as e:
            call()
        assert why in str(e.value)


@no_cuda
def test_failed_module_cuda_leaves_the_module_on_the_cpu():
    m = nn.Linear(3, 2)
    w = m.weight
    with pytest.raises(RuntimeError):
        m.to("cuda")
    assert m.weight is w and isinstance(w.array, np.ndarray)


@no_cuda
def test_train_device_cuda_without_cuda_exits_2_without_traceback():
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    r = subprocess.run([sys.executable, "-m", "loomgrad", "train", "--device", "cuda",
                        "--epochs", "1", "--no-progress"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 2
    assert "CUDA is not available" in r.stderr and "Traceback" not in r.stderr


class _FakeDevice:
    def __init__(self, i):
        self.id = i


class _FakeGpuArray:
    """Only what the device check reads: a CUDA-array-interface object with a device id."""

    __cuda_array_interface__ = {}

    def __init__(self, i=0):
        self.device = _FakeDevice(i)


def test_device_check_names_both_devices():
    a, b = np.ones(2), np.ones(3)
    autograd.check_same_device((a, b), "Add")  # all CPU: fine
    autograd.check_same_device((a, np.float32(1.0)), "Add")  # NumPy scalars are CPU too
    autograd.check_same_device((_FakeGpuArray(0), _FakeGpuArray(0)), "Add")
    with pytest.raises(RuntimeError, match=r"cpu and cuda:0 \(in indexing\)"):
        lg.ones(3)[_FakeGpuArray(0)]
    assert autograd.device_name(a) == "cpu"
    assert autograd.device_name(_FakeGpuArray(3)) == "cuda:3"
    with pytest.raises(RuntimeError, match=r"same device.*cpu and cuda:0.*\(in Mul\)"):
        autograd.check_same_device((a, _FakeGpuArray(0)), "Mul")
    with pytest.raises(RuntimeError, match=r"cuda:0 and cuda:1"):
        autograd.check_same_device((_FakeGpuArray(0), _FakeGpuArray(1)), "Cat")


def test_module_to_cpu_keeps_parameter_objects_and_optimizer():
    m = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    params = list(m.parameters())
    opt = optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    m(lg.randn(5, 4)).sum().backward()
    opt.step()
    assert m.to("cpu") is m and m.cpu() is m and m.to(lg.device("cpu"), lg.float32) is m
    assert all(p is q for p, q in zip(m.parameters(), params))
    assert all(p.grad is not None for p in params)
    opt.step()


def test_checkpoint_load_map_location_cpu(tmp_path):
    m = nn.Linear(3, 2)
    lg.save(m.state_dict(), tmp_path / "ck")
    sd = lg.load(tmp_path / "ck", map_location="cpu")
    assert all(isinstance(v.array, np.ndarray) for v in sd.values())
    np.testing.assert_array_equal(sd["weight"].numpy(), m.weight.detach().numpy())
    with pytest.raises(ValueError, match="unknown device"):
        lg.load(tmp_path / "ck", map_location="gpu")


def test_manual_seed_drops_gpu_generators():
    lg.random._cuda_generators[0] = object()
    lg.manual_seed(1)
    assert not lg.random._cuda_generators
    lg.random._cuda_generators[0] = object()
    lg.set_rng_state(lg.get_rng_state())
    assert not lg.random._cuda_generators


def test_mpi_backend_refuses_gpu_arrays_clearly():
    from loomgrad import distributed as dist
    with pytest.raises(TypeError, match="backend='nccl' for GPU tensors"):
        dist._check_array(_FakeGpuArray(), "all_reduce")


# =========================================================================== on a GPU

def _grad_outputs(outs, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(o.shape).astype(o.dtype) if o.dtype.kind == "f" else None
            for o in outs]


def _flat(out):
    """Outputs as a flat list of Tensors (LSTM returns (y, (h, c)))."""
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    return [out]


def _backward(outs, dev):
    loss = None
    for o, w in zip(outs, _grad_outputs(outs)):
        if w is not None and o.requires_grad:
            term = (o * lg.tensor(w, device=dev)).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()


def _assert_close_lists(got, want, rtol, atol):
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert (g is None) == (w is None), i
        if g is not None:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"item {i}")


def _run_fn(fn, xs, dev, int_args=()):
    ins = [lg.tensor(x, device=dev, requires_grad=x.dtype.kind == "f") for x in xs]
    outs = _flat(fn(*ins, *[lg.tensor(a, device=dev) for a in int_args]))
    _backward(outs, dev)
    return [host(o) for o in outs] + [None if i.grad is None else host(i.grad) for i in ins]


def _gpu_vs_cpu_fn(fn, xs, int_args=(), rtol=1e-4, atol=1e-4):
    want = _run_fn(fn, xs, "cpu", int_args)
    got = _run_fn(fn, xs, "cuda", int_args)
    _assert_close_lists(got, want, rtol, atol)


GPU_OP_CASES = [p for p in OP_CASES if "ndarray" not in p.id]  # NumPy operands: a device mix


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("shapes,torch_fn,lg_fn,opts", GPU_OP_CASES)
def test_op_on_gpu_matches_cpu(shapes, torch_fn, lg_fn, opts):
    fn = torch_fn if lg_fn is None else lg_fn
    xs = make_inputs(shapes, np.float32, low=opts.get("low", -2.0), high=opts.get("high", 2.0))
    _gpu_vs_cpu_fn(fn, xs, rtol=1e-4, atol=1e-4)


@pytest.mark.cuda
@requires_cuda
def test_more_tensor_ops_on_gpu_match_cpu():
    x = make_inputs([(4, 6)], np.float32)[0]
    fns = [lambda t: t.sum(1), lambda t: t.mean(0, keepdim=True), lambda t: t.max(1).values,
           lambda t: t.amin(), lambda t: t.var(1), lambda t: t.std(), lambda t: t[1:3, ::2],
           lambda t: t[lg.tensor([0, 2, 2], device=t.device)], lambda t: t[[0, 2, 2], 1:],
           lambda t: t[t.detach() > 0], lambda t: t.reshape(3, 8).transpose(0, 1),
           lambda t: lg.cat([t, t * 2], 1), lambda t: lg.stack([t, t], 0).permute(2, 0, 1),
           lambda t: t.softmax(1), lambda t: t.log_softmax(0), lambda t: t.gelu(),
           lambda t: t.gelu("tanh"), lambda t: t.softplus(), lambda t: t.silu(),
           lambda t: t.clamp(-0.5, 0.5), lambda t: lg.where(t > 0, t, t * 0.1),
           lambda t: t.unsqueeze(0).expand(2, 4, 6).flatten(), lambda t: t.squeeze()]
    for fn in fns:
        _gpu_vs_cpu_fn(fn, [x])


@pytest.mark.cuda
@requires_cuda
def test_tensor_device_basics_on_gpu():
    import cupy
    x = lg.randn(3, 4, device="cuda")
    assert x.is_cuda and str(x.device) == "cuda:0" and x.device.type == "cuda"
    assert isinstance(x.array, cupy.ndarray)
    assert x.to("cuda") is x and x.cuda() is x and x.to("cuda:0") is x
    with pytest.raises(TypeError, match="use .cpu"):
        x.numpy()
    with pytest.raises(TypeError):
        np.asarray(x)
    assert x.cpu().tolist() == x.tolist() and "device='cuda:0'" in repr(x)
    assert isinstance(x.sum().item(), float)
    lg.manual_seed(3)
    a = lg.randn(5, device="cuda")
    lg.manual_seed(3)
    np.testing.assert_array_equal(host(a), lg.randn(5).numpy())
    for t in (lg.zeros(2, device="cuda"), lg.full((2,), 3.0, device="cuda"),
              lg.arange(4, device="cuda"), lg.ones_like(x), lg.empty_like(x),
              lg.tensor([1, 2], device="cuda"), lg.zeros(2).cuda(0)):
        assert t.is_cuda
    # .to across devices is differentiable: the gradient comes back to the source device
    w = lg.randn(3, requires_grad=True)
    y = w.cuda() * lg.tensor([1.0, 2.0, 3.0], device="cuda")
    y.sum().backward()
    assert isinstance(w.grad.array, np.ndarray)
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 2.0, 3.0])
    g = lg.randn(2, device="cuda", requires_grad=True)
    (g.cpu() * 2).sum().backward()
    assert g.grad.is_cuda
    # copy_ across devices, as torch
    c = lg.zeros(3, device="cuda")
    c.copy_(lg.tensor([1.0, 2.0, 3.0]))
    assert c.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.cuda
@requires_cuda
def test_mixing_devices_raises_naming_both():
    a, b = lg.ones(2), lg.ones(2, device="cuda")
    for call in (lambda: a + b, lambda: b * a, lambda: a @ b, lambda: lg.cat([a, b]),
                 lambda: a < b, lambda: lg.where(b > 0, a, b),
                 lambda: F.cross_entropy(lg.ones(2, 3, device="cuda"), lg.tensor([0, 1])),
                 lambda: nn.Linear(2, 2)(b)):
        with pytest.raises(RuntimeError, match="same device.*cpu and cuda:0"):
            call()


def _module_pair(make):
    lg.manual_seed(0)
    m_cpu = make()
    m_gpu = make()
    m_gpu.load_state_dict(m_cpu.state_dict())
    assert m_gpu.to("cuda") is m_gpu
    return m_cpu, m_gpu


def _run_module(m, xs, dev, train=True):
    m.train(train)
    ins = [lg.tensor(x, device=dev, requires_grad=x.dtype.kind == "f") for x in xs]
    outs = _flat(m(*ins))
    _backward(outs, dev)
    return ([host(o) for o in outs] + [None if i.grad is None else host(i.grad) for i in ins]
            + [host(p.grad) for p in m.parameters()] + [host(b) for b in m.buffers()])


def _module_gpu_vs_cpu(make, xs, rtol=1e-4, atol=1e-4, train=True):
    m_cpu, m_gpu = _module_pair(make)
    _assert_close_lists(_run_module(m_gpu, xs, "cuda", train),
                        _run_module(m_cpu, xs, "cpu", train), rtol, atol)


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("xs,ws,bias,kw", [c for c in CONV_CASES if 0 not in c[0]])
def test_conv2d_layer_on_gpu_matches_cpu(xs, ws, bias, kw):
    K, Cg, R, S = ws
    C = xs[-3]
    x = make_inputs([xs], np.float32)[0]
    red = Cg * R * S
    _module_gpu_vs_cpu(lambda: nn.Conv2d(C, K, (R, S), bias=bias, **kw), [x],
                       rtol=1e-3, atol=1e-4 * red)


POOL_CASES = ([("max",) + c for c in MAXPOOL_CASES if 0 not in c[0]]
              + [("avg",) + c for c in AVGPOOL_CASES if 0 not in c[0]])


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("kind,xs,kw", POOL_CASES)
def test_pools_on_gpu_match_cpu(kind, xs, kw):
    x = make_inputs([xs], np.float32)[0]
    if kind == "max":
        _module_gpu_vs_cpu(lambda: nn.MaxPool2d(**kw), [x], rtol=1e-6, atol=1e-6)
        _gpu_vs_cpu_fn(lambda t: F.max_pool2d(t, **kw, return_indices=True), [x], rtol=0,
                       atol=1e-6)
    else:
        _module_gpu_vs_cpu(lambda: nn.AvgPool2d(**kw), [x], rtol=1e-5, atol=1e-6)
        _module_gpu_vs_cpu(lambda: nn.AdaptiveAvgPool2d((2, 3)), [x], rtol=1e-5, atol=1e-6)


@pytest.mark.cuda
@requires_cuda
def test_layers_on_gpu_match_cpu():
    x2, x4 = make_inputs([(6, 5), (3, 2, 7, 6)], np.float32)
    seq = make_inputs([(7, 3, 5)], np.float32)[0]
    _module_gpu_vs_cpu(lambda: nn.Linear(5, 4), [x2])
    _module_gpu_vs_cpu(lambda: nn.Linear(5, 4, bias=False), [seq])
    _module_gpu_vs_cpu(lambda: nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Dropout(0.0),
                                             nn.Linear(8, 3), nn.Tanh()), [x2])
    _module_gpu_vs_cpu(lambda: nn.BatchNorm2d(2), [x4], atol=1e-4)
    _module_gpu_vs_cpu(lambda: nn.BatchNorm2d(2), [x4], train=False)
    _module_gpu_vs_cpu(lambda: nn.BatchNorm1d(5), [x2], atol=1e-4)
    _module_gpu_vs_cpu(lambda: nn.Dropout(0.0), [x2])
    _module_gpu_vs_cpu(lambda: nn.Dropout(0.5), [x2], train=False)
    idx = np.array([[0, 3, 3], [9, 0, 3]], np.int64)  # repeats: the gradient scatter-adds
    _module_gpu_vs_cpu(lambda: nn.Embedding(10, 4, padding_idx=9), [idx])
    _module_gpu_vs_cpu(lambda: nn.LSTM(5, 6, num_layers=2, bidirectional=True), [seq],
                       rtol=1e-3, atol=1e-4)
    _module_gpu_vs_cpu(lambda: nn.LSTM(5, 6, batch_first=True), [seq], rtol=1e-3, atol=1e-4)
    _module_gpu_vs_cpu(lambda: nn.LSTMCell(5, 6), [x2], rtol=1e-3, atol=1e-4)
    _module_gpu_vs_cpu(lambda: nn.GRU(5, 6, num_layers=2, bidirectional=True), [seq],
                       rtol=1e-3, atol=1e-4)


@pytest.mark.cuda
@requires_cuda
def test_dropout_on_gpu_keeps_the_rate_and_is_seeded():
    x = lg.ones(200, 500, device="cuda")
    lg.manual_seed(7)
    a = host(F.dropout(x, 0.3))
    lg.manual_seed(7)
    b = host(F.dropout(x, 0.3))
    np.testing.assert_array_equal(a, b)
    assert abs((a == 0).mean() - 0.3) < 0.01
    np.testing.assert_allclose(a[a != 0], 1 / 0.7, rtol=1e-6)


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("kw", CE_CASES)
def test_cross_entropy_on_gpu_matches_cpu(kw):
    logits = make_inputs([(6, 5)], np.float32)[0]
    target = np.array([0, 2, 4, 1, 2, 3], np.int64)

    def fn(z, t):
        w = kw.get("weight")
        extra = {} if w is None else {"weight": lg.tensor(w.astype(np.float32), device=z.device)}
        return F.cross_entropy(z, t, **{**kw, **extra})
    _gpu_vs_cpu_fn(fn, [logits], int_args=[target])


@pytest.mark.cuda
@requires_cuda
def test_other_losses_on_gpu_match_cpu():
    x, y = make_inputs([(4, 5), (4, 5)], np.float32)
    p, q = make_inputs([(4, 5), (4, 5)], np.float32, low=0.05, high=0.95)
    t = np.array([1, 0, 4, 2], np.int64)
    for red in ("mean", "sum", "none"):
        _gpu_vs_cpu_fn(lambda a, b: F.mse_loss(a, b, reduction=red), [x, y])
        _gpu_vs_cpu_fn(lambda a, b: F.l1_loss(a, b, reduction=red), [x, y])
        _gpu_vs_cpu_fn(lambda a, b: F.huber_loss(a, b, reduction=red, delta=0.7), [x, y])
        _gpu_vs_cpu_fn(lambda a, b: F.binary_cross_entropy(a, b, reduction=red), [p, q])
        _gpu_vs_cpu_fn(lambda a, b: F.binary_cross_entropy_with_logits(
            a, b, reduction=red, pos_weight=lg.tensor(np.arange(1.0, 6.0, dtype=np.float32),
                                                      device=a.device)), [x, q])
        _gpu_vs_cpu_fn(lambda a, i: F.nll_loss(a.log_softmax(1), i, reduction=red), [x],
                       int_args=[t])
    # float64 logits on the GPU take the array-maths path (the CUDA kernel is float32)
    _gpu_vs_cpu_fn(lambda a, i: F.cross_entropy(a, i, label_smoothing=0.1),
                   [x.astype(np.float64)], int_args=[t], rtol=1e-10, atol=1e-10)


def _train_params(opt_cls, kw, dev, steps=3):
    lg.manual_seed(0)
    big = nn.Linear(300, 230)  # > 64K elements: the CPU SGD takes its blocked path
    small = nn.Linear(4, 3)
    big.to(dev)
    small.to(dev)
    params = list(big.parameters()) + list(small.parameters())
    opt = opt_cls(params, **kw)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        for p in params:
            p.grad = lg.tensor(rng.standard_normal(p.shape).astype(np.float32), device=dev)
        opt.step()
    return [host(p) for p in params], opt


OPTIMIZERS = [
    (optim.SGD, dict(lr=0.1)), (optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    (optim.Adam, dict(lr=0.01)), (optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    (optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
    (optim.RMSprop, dict(lr=0.01)), (optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.5)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.01)), (optim.Adadelta, dict(lr=1.0)),
]


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("opt_cls,kw", OPTIMIZERS)
def test_optimizer_step_on_gpu_matches_cpu(opt_cls, kw):
    want, _ = _train_params(opt_cls, kw, "cpu")
    got, opt = _train_params(opt_cls, kw, "cuda")
    _assert_close_lists(got, want, rtol=1e-5, atol=1e-6)
    for _, state in opt.state.items():  # state lives on its parameter's device
        for v in state.values():
            assert not isinstance(v, np.ndarray)


@pytest.mark.cuda
@requires_cuda
def test_model_to_round_trip_keeps_parameters_and_optimizer():
    m = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    params = list(m.parameters())
    before = [p.detach().numpy().copy() for p in params]
    opt = optim.Adam(m.parameters(), lr=0.01)  # made before the move: still valid after
    m.cuda()
    assert all(p is q and p.is_cuda for p, q in zip(m.parameters(), params))
    assert all(b.is_cuda for b in m.buffers())
    m(lg.randn(6, 4, device="cuda")).sum().backward()
    opt.step()
    assert all(p.grad.is_cuda for p in params)
    m.cpu()
    assert all(isinstance(p.array, np.ndarray) and isinstance(p.grad.array, np.ndarray)
               for p in params)
    assert any(not np.allclose(p.numpy(force=True), b) for p, b in zip(params, before))
    # a GPU state_dict loads into a CPU model and back (copied to each parameter's device)
    g = nn.Linear(4, 3).cuda()
    c = nn.Linear(4, 3)
    c.load_state_dict(g.state_dict())
    np.testing.assert_array_equal(c.weight.detach().numpy(), host(g.weight))
    g2 = nn.Linear(4, 3).cuda()
    g2.load_state_dict(c.state_dict())
    assert g2.weight.is_cuda


@pytest.mark.cuda
@requires_cuda
def test_lenet_trained_on_gpu_reaches_cpu_accuracy_and_its_checkpoint_loads_on_cpu(
        tmp_path, monkeypatch):
    import cupy

    class HostDraws:
        """The CPU run's dropout draws, copied to the GPU: with the same seed both runs
        then see the same init, batches and masks, and differ by rounding only (masks
        drawn on the GPU alone move 8-epoch accuracy by a few percent)."""

        def random_sample(self, size, dtype):
            return cupy.asarray(lg.random.get_generator().random(size))

    monkeypatch.setattr(lg.random, "get_cuda_generator", lambda device_id=None: HostDraws())
    kw = dict(model="lenet", epochs=8, quiet=True, no_progress=True, seed=0)
    cpu = lg_train.run(lg_train.default_args(**kw))
    gpu = lg_train.run(lg_train.default_args(device="cuda", checkpoint=str(tmp_path / "ck"),
                                             **kw))
    assert all(p.is_cuda for p in gpu["model"].parameters())
    assert abs(gpu["test_accuracy"] - cpu["test_accuracy"]) <= 0.01
    assert gpu["test_accuracy"] > 0.9
    ck = lg.load(tmp_path / "ck")
    assert all(isinstance(v.array, np.ndarray) for v in ck["model"].values())
    from loomgrad import data, models
    X, _ = data.load_digits_arrays("test", seed=0, flatten=False)
    m = models.lenet(in_channels=1, num_classes=10, image_size=X.shape[2:])
    m.load_state_dict(ck["model"])
    m.eval()
    gpu["model"].eval()
    with lg.no_grad():
        np.testing.assert_allclose(m(lg.tensor(X)).numpy(),
                                   host(gpu["model"](lg.tensor(X, device="cuda"))),
                                   rtol=1e-4, atol=1e-4)
    # and --resume of a GPU checkpoint goes on on the GPU
    more = lg_train.run(lg_train.default_args(device="cuda", checkpoint=str(tmp_path / "ck"),
                                              resume=True, **{**kw, "epochs": 9}))
    assert len(more["history"]) == 9


@pytest.mark.cuda
@requires_cuda
def test_charlstm_trains_on_gpu():
    res = lg_train.run(argparse.Namespace(model="charlstm", device="cuda", epochs=1,
                                          quiet=True, no_progress=True, hidden=(32,),
                                          max_chars=4000, seq_len=16, batch_size=8,
                                          sample_length=20))
    assert np.isfinite(res["val_perplexity"][-1]) and len(res["sample"]) == 24


@pytest.mark.cuda
@requires_cuda
def test_training_step_on_a_non_default_stream_matches_cpu():
    import cupy
    x = make_inputs([(3, 2, 8, 8)], np.float32)[0]

    def make():
        return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(64, 5))
    want = _run_module(_module_pair(make)[0], [x], "cpu")
    m_gpu = _module_pair(make)[1]
    with cupy.cuda.Stream(non_blocking=True) as s:
        got = _run_module(m_gpu, [x], "cuda")
        s.synchronize()
    _assert_close_lists(got, want, rtol=1e-3, atol=1e-4)


@pytest.mark.cuda
@requires_cuda
def test_torch_cuda_tensors_become_gpu_tensors():
    torch = torch_cuda()
    src = torch.arange(12, dtype=torch.float32, device="cuda").reshape(3, 4)
    for t in (lg.from_dlpack(src), lg.Tensor(src), lg.tensor(src), lg.as_tensor(src)):
        assert t.is_cuda and t.shape == (3, 4)
        np.testing.assert_array_equal(host(t), src.cpu().numpy())
    w = lg.tensor(np.ones((4, 2), np.float32), device="cuda", requires_grad=True)
    (lg.from_dlpack(src) @ w).sum().backward()
    np.testing.assert_allclose(host(w.grad), src.cpu().numpy().sum(0)[:, None].repeat(2, 1))
    m = nn.Linear(4, 2).cuda()
    m.load_state_dict({"weight": torch.ones(2, 4, device="cuda"),
                       "bias": torch.zeros(2, device="cuda")})
    np.testing.assert_array_equal(host(m.weight), np.ones((2, 4)))


@pytest.mark.cuda
@requires_cuda
def test_optimizers_made_before_model_cuda_work():
    for opt_cls, kw in OPTIMIZERS:
        m = nn.Linear(3, 2)
        opt = opt_cls(m.parameters(), **kw)  # Adagrad makes its state here, on the CPU
        m.cuda()
        m(lg.randn(4, 3, device="cuda")).sum().backward()
        opt.step()
        assert all(p.is_cuda for p in m.parameters())
