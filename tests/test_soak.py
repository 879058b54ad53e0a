"""Soak, concurrency and determinism: long runs keep memory flat and free
their graphs; kernels give the same answers from 4 Python threads at once as
serially (the GIL is released, the kernels are re-entrant), also while
lg.set_num_threads changes; a fixed seed and thread count repeat a CPU
training run bit for bit.

The soak steps default to 2,000 (a few seconds); LOOMGRAD_SOAK_STEPS=N runs
longer by hand. Marked ``soak`` (``-m "not soak"`` skips them).
"""
from __future__ import annotations

import gc
import os
import threading
import weakref

import numpy as np
import pytest

import loomgrad as lg
from loomgrad import kernels as K, train
from loomgrad.nn import functional as F

STEPS = int(os.environ.get("LOOMGRAD_SOAK_STEPS", "2000"))
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


@pytest.fixture
def fixed_threads():
    before = lg.get_num_threads()
    lg.set_num_threads(2)
    yield 2
    lg.set_num_threads(before)


def _lenet_step_fn(batch=16):
    lg.manual_seed(0)
    X, y = lg.data.load_digits_arrays("train", seed=0, flatten=False)
    model = lg.models.lenet()
    opt = lg.optim.Adam(model.parameters(), lr=1e-3)

    def step(i):
        j = (i * batch) % (len(y) - batch)
        opt.zero_grad()
        loss = F.cross_entropy(model(lg.Tensor(X[j:j + batch])), y[j:j + batch])
        loss.backward()
        opt.step()
        return float(loss.item())
    return step


@pytest.mark.soak
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm")
def test_lenet_soak_memory_flat():
    step = _lenet_step_fn()
    warm = min(300, STEPS // 4)
    for i in range(warm):  # allocator pools, caches and the optimizer state settle
        step(i)
    gc.collect()
    rss0, peak, losses = _rss_bytes(), 0, []
    for i in range(warm, STEPS):
        losses.append(step(i))
        if i % 100 == 0:
            peak = max(peak, _rss_bytes() - rss0)
    gc.collect()
    growth = _rss_bytes() - rss0
    # A leak of one batch's activations per step (~100 KB) would be >150 MB here.
    assert max(growth, peak) < 24 << 20, f"resident memory grew {growth / 2**20:.1f} MiB " \
                                         f"(peak {peak / 2**20:.1f} MiB) over {STEPS} steps"
    assert np.isfinite(losses).all() and np.mean(losses[-100:]) < np.mean(losses[:100])


def test_graph_freed_after_backward():
    lg.manual_seed(0)
    model = lg.models.lenet()
    x = lg.randn(4, 1, 8, 8)
    logits = model(x)
    loss = F.cross_entropy(logits, np.array([0, 1, 2, 3]))
    nodes, stack = [], [loss.grad_fn]
    while stack:  # every node of the graph
        n = stack.pop()
        if n is None or not hasattr(n, "edges") or any(n is m for m in nodes):
            continue
        nodes.append(n)
        stack.extend(e for e in n.edges if e is not None and not isinstance(e, lg.Tensor))
    owned = {id(p.array) for p in model.parameters()} | {id(x.array)}
    saved = [weakref.ref(a) for n in nodes for a in (n.saved if isinstance(n.saved, tuple)
                                                     else ()) if isinstance(a, np.ndarray)
             and id(a) not in owned]
    node_refs = [weakref.ref(n) for n in nodes]
    assert len(nodes) > 5 and saved
    loss.backward()
    del nodes, n, stack
    gc.disable()  # freed by reference counting alone: no cycles keep the graph
    try:
        assert all(r() is None for r in saved), "saved activations outlive backward"
        del loss, logits
        assert all(r() is None for r in node_refs), "graph nodes outlive their output"
    finally:
        gc.enable()


# ------------------------------------------------------------ concurrency
def _kernel_calls():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((96, 80)).astype(np.float32), rng.standard_normal((80, 72))
    b = b.astype(np.float32)
    x = rng.standard_normal((4, 3, 17, 17))
    w = rng.standard_normal((8, 3, 3, 3))
    logits, target = rng.standard_normal((64, 10)), rng.integers(0, 10, 64)
    xs = rng.standard_normal((6, 4, 5))
    w_ih, w_hh = rng.standard_normal((32, 5)) * 0.3, rng.standard_normal((32, 8)) * 0.3
    return {
        "gemm": lambda: K.gemm(a, b),
        "conv2d": lambda: K.conv2d(x, w, None, 1, 1),
        "conv2d_backward": lambda: K.conv2d_backward(np.ones((4, 8, 17, 17)), x, w, 1, 1),
        "max_pool2d": lambda: K.max_pool2d(x, 2),
        "avg_pool2d": lambda: K.avg_pool2d(x, 3, 2, 1),
        "xent": lambda: (K.softmax_cross_entropy(logits, target),
                         K.softmax_cross_entropy_backward(1.0, logits, target)),
        "lstm": lambda: K.lstm_sequence(xs, None, None, w_ih, w_hh)[:3],
    }


def _flat(res):
    if isinstance(res, (tuple, list)):
        return [y for r in res for y in _flat(r)]
    return [] if res is None else [np.asarray(res)]


def _run_threads(fn, n_threads=4, repeats=8):
    results, errors = [None] * n_threads, []
    barrier = threading.Barrier(n_threads)

    def work(k):
        try:
            barrier.wait()
            results[k] = [fn() for _ in range(repeats)]
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return [r for rs in results for r in rs]


@pytest.mark.parametrize("name", list(_kernel_calls()))
def test_kernels_from_four_threads_match_serial(name, fixed_threads):
    fn = _kernel_calls()[name]
    want = _flat(fn())
    for got in _run_threads(fn):
        for g, w in zip(_flat(got), want):
            np.testing.assert_array_equal(g, w, err_msg=name)  # bitwise: same thread count


def test_set_num_threads_while_kernels_run(fixed_threads):
    calls = _kernel_calls()
    want = {k: _flat(f()) for k, f in calls.items()}
    stop = threading.Event()

    def flip():
        n = 0
        while not stop.is_set():
            lg.set_num_threads(1 + n % 3)
            n += 1
    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        for _ in range(3):
            got = _run_threads(lambda: {k: _flat(f()) for k, f in calls.items()}, repeats=2)
            for res in got:
                for k in calls:  # another thread count may sum in another order
                    for g, w in zip(res[k], want[k]):
                        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=k)
    finally:
        stop.set()
        flipper.join()


# ------------------------------------------------------------ determinism
@pytest.mark.parametrize("model,kw", [("mlp", dict(hidden=(32,))),
                                      ("lenet", dict(batch_size=128))])
def test_training_is_bitwise_repeatable(tmp_path, fixed_threads, model, kw):
    runs = []
    for k in range(2):
        args = train.default_args(model=model, epochs=2, quiet=True, no_progress=True,
                                  checkpoint=str(tmp_path / f"run{k}"), **kw)
        runs.append((train.run(args), lg.load(tmp_path / f"run{k}")))
    (r0, c0), (r1, c1) = runs
    assert r0["history"] == r1["history"]
    for key in c0["model"]:
        np.testing.assert_array_equal(c0["model"][key].array, c1["model"][key].array, err_msg=key)
