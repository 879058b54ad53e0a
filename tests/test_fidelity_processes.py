"""Issue 14, processes: DataLoader workers (order, seeding, errors, dead workers),
lg.multiprocessing (a dead process is an error), shared memory and Hogwild training."""
import os
import random

import numpy as np
import pytest

import loomgrad as lg
from loomgrad.utils.data import DataLoader, Dataset, TensorDataset, get_worker_info


class Squares(Dataset):
    def __len__(self):
        return 23

    def __getitem__(self, i):
        return lg.tensor([float(i * i)]), i


class Fails(Squares):
    def __getitem__(self, i):
        if i == 13:
            raise KeyError(f"no sample {i}")
        return super().__getitem__(i)


class Dies(Squares):
    def __getitem__(self, i):
        if i == 9:
            os._exit(7)
        return super().__getitem__(i)


class Seeds(Squares):
    def __getitem__(self, i):
        info = get_worker_info()
        return (info.id, info.seed, float(lg.rand(1).item()), random.random())


@pytest.mark.parametrize("dataset", ["tensors", "samples"])
def test_workers_give_the_same_batches_in_order(dataset):
    if dataset == "tensors":
        ds = TensorDataset(lg.arange(50).float().reshape(25, 2), lg.arange(25))
    else:
        ds = Squares()
    single = list(DataLoader(ds, batch_size=4, shuffle=True, seed=5))
    for kw in ({}, {"persistent_workers": True, "prefetch_factor": 1}, {"pin_memory": True}):
        loader = DataLoader(ds, batch_size=4, shuffle=True, seed=5, num_workers=2, **kw)
        multi = list(loader)
        assert len(multi) == len(single)
        for a, b in zip(single, multi):
            for x, y in zip(a, b):
                np.testing.assert_array_equal(x.array, y.array)
        if kw.get("persistent_workers"):
            assert loader._pool is not None and len(loader._pool.procs) == 2
            second = list(loader)  # the same workers, a new epoch
            assert len(second) == len(single)
            del loader


def test_break_then_persistent_epoch_drops_stale_batches():
    ds = Squares()
    loader = DataLoader(ds, batch_size=2, num_workers=2, persistent_workers=True)
    for i, _ in enumerate(loader):
        if i == 1:
            break
    full = list(loader)
    assert [b[1].tolist() for b in full] == [[2 * k, 2 * k + 1] for k in range(11)] + [[22]]


def test_workers_are_seeded_per_worker_like_torch():
    out = list(DataLoader(Seeds(), batch_size=1, num_workers=2, seed=1,
                          collate_fn=lambda b: b[0]))
    ids = {o[0] for o in out}
    assert ids == {0, 1}
    seeds = {o[0]: o[1] for o in out}
    assert seeds[1] == seeds[0] + 1  # base_seed + worker_id, as torch
    first_draws = {}
    for wid, _, lg_draw, py_draw in out:
        first_draws.setdefault(wid, (lg_draw, py_draw))
    assert first_draws[0] != first_draws[1]
    assert get_worker_info() is None  # in the main process


def test_a_worker_exception_is_reraised_with_its_traceback():
    with pytest.raises(KeyError, match="(?s)worker process.*no sample 13"):
        list(DataLoader(Fails(), batch_size=2, num_workers=2))


def test_a_dead_worker_is_an_error_not_a_hang():
    with pytest.raises(RuntimeError, match="worker .*exited with code 7"):
        list(DataLoader(Dies(), batch_size=2, num_workers=2))


def test_loader_argument_checks():
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(Squares(), num_workers=-1)
    with pytest.raises(ValueError, match="persistent_workers"):
        DataLoader(Squares(), persistent_workers=True)


def _fail():
    raise ValueError("bad worker")


def test_a_failed_process_is_an_error_in_the_parent():
    p = lg.multiprocessing.Process(target=_fail)
    p.start()
    with pytest.raises(lg.multiprocessing.ProcessExitedError, match="(?s)code 1.*bad worker"):
        p.join()
    p = lg.multiprocessing.Process(target=os._exit, args=(3,))
    p.start()
    with pytest.raises(lg.multiprocessing.ProcessExitedError, match="code 3"):
        p.join()
    ok = lg.multiprocessing.Process(target=print, args=("",))
    ok.start()
    ok.join()
    assert ok.exitcode == 0


def test_spawn_raises_the_first_failure():
    with pytest.raises(lg.multiprocessing.ProcessExitedError, match="bad worker"):
        lg.multiprocessing.spawn(_fail_rank, nprocs=2, start_method="fork")


def _fail_rank(rank):
    if rank == 1:
        _fail()


def test_forked_children_run_kernels_on_one_thread():
    a = np.random.default_rng(0).random((300, 300), dtype=np.float32)
    lg.kernels.matmul(a, a)  # the parent's OpenMP pool exists now

    def child():
        assert lg.get_num_threads() == 1
        np.testing.assert_allclose(lg.kernels.matmul(a, a), a @ a, rtol=1e-4)
        with pytest.raises(RuntimeError, match="spawn"):
            lg.set_num_threads(2)
    p = lg.multiprocessing.Process(target=child)
    p.start()
    p.join(timeout=60)
    assert p.exitcode == 0


def test_share_memory_is_seen_by_forked_processes():
    m = lg.nn.Linear(3, 2)
    assert m.share_memory() is m
    assert all(p.is_shared() for p in m.parameters())
    before = m.weight.array.copy()

    def child():
        with lg.no_grad():
            m.weight.add_(1.0)
    p = lg.multiprocessing.Process(target=child)
    p.start()
    p.join()
    np.testing.assert_allclose(m.weight.array, before + 1)


def _train(model, X, y, epochs, seed):
    opt = lg.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True, seed=seed)
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            lg.nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()


def _accuracy(model, X, y):
    with lg.no_grad():
        return float((model(X).argmax(1) == y).float().mean().item())


def _mlp():
    lg.manual_seed(0)
    return lg.nn.Sequential(lg.nn.Linear(64, 32), lg.nn.ReLU(), lg.nn.Linear(32, 10))


def test_hogwild_two_processes_reach_the_single_process_accuracy():
    X, y = lg.data.digits("train")
    Xt, yt = lg.data.digits("test")
    single = _mlp()
    _train(single, X, y, epochs=8, seed=0)
    acc1 = _accuracy(single, Xt, yt)

    model = _mlp().share_memory()
    procs = [lg.multiprocessing.Process(target=_train, args=(model, X, y, 8, rank))
             for rank in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    acc2 = _accuracy(model, Xt, yt)
    assert acc1 > 0.88
    assert acc2 >= acc1 - 0.03, (acc1, acc2)
