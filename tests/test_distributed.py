"""lg.distributed, nn.parallel.DistributedDataParallel, data.DistributedSampler and the
post-accumulate-grad hooks DDP rides on.

Most tests need no MPI: the sampler against torch's, launcher environment parsing, and DDP's
bucketing/averaging on a fake in-process group. The 2-rank tests run ``mpirun -n 2`` over
loopback and skip (saying why) when mpirun or mpi4py is missing; CI installs both.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import loomgrad as lg
from loomgrad import autograd, train
from loomgrad import distributed as dist
from loomgrad.data import DataLoader, DistributedSampler, TensorDataset
from loomgrad.nn.parallel import DistributedDataParallel, _bucket_params

torch = pytest.importorskip("torch")


# ------------------------------------------------------------------ post-accumulate-grad hooks
def test_hook_runs_once_with_the_final_grad_of_a_reused_leaf():
    w = lg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.array.copy()))
    y = (w * w).sum() + (w * 3.0).sum()   # two paths into w: hook after both
    y.backward()
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], 2 * np.array([1.0, 2.0, 3.0]) + 3.0)
    np.testing.assert_allclose(w.grad.array, seen[0])
    y2 = (w * 2.0).sum()
    y2.backward()                         # accumulates; hook sees the sum
    assert len(seen) == 2
    np.testing.assert_allclose(seen[1], seen[0] + 2.0)


def test_hooked_grads_equal_unhooked_and_fire_before_backward_ends():
    lg.manual_seed(0)
    layers = [lg.nn.Linear(5, 5) for _ in range(4)]
    x = lg.randn(3, 5)

    def loss():
        h = x
        for m in layers:
            h = m(h).tanh()
        return (h * h).sum()

    loss().backward()
    ref = [m.weight.grad.array.copy() for m in layers]
    for m in layers:
        m.zero_grad()
    events = []
    for i, m in enumerate(layers):
        # when the last layer's hook runs, the first layer's grad is not there yet
        m.weight.register_post_accumulate_grad_hook(
            lambda t, i=i: events.append((i, layers[0].weight.grad is None)))
    events_cb = []
    handle = layers[0].bias.register_post_accumulate_grad_hook(
        lambda t: autograd.queue_callback(lambda: events_cb.append(len(events))))
    loss().backward()
    assert [i for i, _ in events] == [3, 2, 1, 0]
    assert events[0][1] is True            # overlap is possible: backward still running
    assert events_cb == [4]                # the queued callback ran after every hook
    for m, r in zip(layers, ref):
        np.testing.assert_allclose(m.weight.grad.array, r, rtol=1e-6)
    handle.remove()
    for m in layers:
        m.zero_grad()
    loss().backward()
    assert events_cb == [4]


def test_hook_errors_and_leaf_root():
    w = lg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="non-leaf"):
        (w * 2.0).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="require"):
        lg.tensor([1.0]).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(TypeError):
        w.register_post_accumulate_grad_hook(3)
    with pytest.raises(RuntimeError, match="backward"):
        autograd.queue_callback(lambda: None)
    calls = []
    w.register_post_accumulate_grad_hook(calls.append)
    w.backward(lg.tensor([1.0, 1.0]))     # the leaf is the root
    assert calls == [w]


# ------------------------------------------------------------------ DistributedSampler
@pytest.mark.parametrize("n", [1, 2, 5, 10, 17, 64, 101])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
def test_sampler_matches_torch(n, replicas, drop_last, shuffle):
    from torch.utils.data import DistributedSampler as TorchDS
    data = list(range(n))
    for rank in range(replicas):
        ours = DistributedSampler(data, num_replicas=replicas, rank=rank, shuffle=shuffle,
                                  seed=3, drop_last=drop_last)
        theirs = TorchDS(data, num_replicas=replicas, rank=rank, shuffle=shuffle, seed=3,
                         drop_last=drop_last)
        for epoch in (0, 1, 5):
            ours.set_epoch(epoch)
            theirs.set_epoch(epoch)
            assert list(ours) == list(theirs), (rank, epoch)
            assert len(ours) == len(theirs)


def test_sampler_arguments_and_dataloader():
    with pytest.raises(ValueError, match="rank"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(range(4))       # no group and no num_replicas/rank
    X = np.arange(10, dtype=np.float32).reshape(10, 1)
    ds = TensorDataset(X, np.arange(10))
    s = DistributedSampler(ds, num_replicas=2, rank=1, shuffle=False)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, batch_size=2, shuffle=True, sampler=s)
    loader = DataLoader(ds, batch_size=2, sampler=s)
    assert len(loader) == 3
    assert [b[1].array.tolist() for b in loader] == [[1, 3], [5, 7], [9]]


# ------------------------------------------------------------------ launcher environment
def test_env_rank_size_sources_and_priority():
    assert dist.env_rank_size({}) is None
    assert dist.env_rank_size({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == \
        (1, 4, 1, "torchrun-style")
    assert dist.env_rank_size({"SLURM_PROCID": "3", "SLURM_NTASKS": "8"})[:3] == (3, 8, None)
    assert dist.env_rank_size({"PMI_RANK": "2", "PMI_SIZE": "3"})[:2] == (2, 3)
    # mpirun inside a Slurm allocation: Open MPI's own variables win
    env = {"SLURM_PROCID": "0", "SLURM_NTASKS": "1", "OMPI_COMM_WORLD_RANK": "1",
           "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_RANK": "1"}
    assert dist.env_rank_size(env) == (1, 2, 1, "Open MPI")
    with pytest.raises(RuntimeError, match="inconsistent"):
        dist.env_rank_size({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(RuntimeError, match="not integers"):
        dist.env_rank_size({"RANK": "x", "WORLD_SIZE": "4"})


def test_env_disagreeing_with_mpi_is_a_clear_error():
    assert dist._check_env(1, 2, {"RANK": "1", "WORLD_SIZE": "2"})[:2] == (1, 2)
    with pytest.raises(RuntimeError, match="says rank 1 of 2, but MPI says rank 0 of 1"):
        dist._check_env(0, 1, {"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2"})


def test_import_does_not_touch_mpi_and_uninitialised_errors():
    code = "import sys, loomgrad; assert 'mpi4py' not in sys.modules and 'cupy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(ValueError, match="backend"):
        dist.init_process_group("gloo")


def test_nccl_without_cupy_is_a_clear_runtime_error():
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed here; this checks the message without it")
    except Exception:
        pass
    with pytest.raises(RuntimeError, match="CuPy with NCCL"):
        dist.init_process_group("nccl")
    assert not dist.is_initialized()


# ------------------------------------------------------------------ DDP on a fake group
class FakeGroup:
    """Pretends to be rank 0 of ``size`` ranks that all hold the same gradients: a SUM
    all-reduce multiplies by size. Records every collective."""

    backend = "fake"

    def __init__(self, size=2):
        self.rank, self.size = 0, size
        self.launches, self.broadcasts = [], []

    def iallreduce(self, a, op="sum"):
        self.launches.append((a.size, autograd._engine.depth > 0))
        a *= self.size
        return dist._Work(None, a)

    def allreduce(self, a, op="sum"):
        self.iallreduce(a, op)

    def broadcast(self, a, src):
        self.broadcasts.append(a.shape)

    def allgather(self, a):
        return np.stack([a] * self.size)

    def barrier(self):
        pass


def _mlp():
    lg.manual_seed(1)
    return lg.nn.Sequential(lg.nn.Linear(8, 16), lg.nn.ReLU(), lg.nn.Linear(16, 16),
                            lg.nn.ReLU(), lg.nn.Linear(16, 3))


def test_bucketing_reverse_order_dtype_and_cap():
    m = _mlp()
    params = list(reversed(list(m.parameters())))
    one = _bucket_params(params, 2**30)
    assert len(one) == 1 and one[0].numel == sum(p.array.size for p in params)
    assert one[0].params[0] is params[0]            # the last layer's bias first
    each = _bucket_params(params, 1)                # cap below any parameter: one each
    assert [b.params for b in each] == [[p] for p in params]
    cap = (16 * 3 + 3) * 4                          # last weight + bias fit exactly
    b = _bucket_params(params, cap)
    assert [len(x.params) for x in b][0] == 2 and b[0].numel * 4 <= cap
    mixed = [lg.nn.Parameter(lg.zeros(3)), lg.nn.Parameter(lg.zeros(3, dtype=lg.float64))]
    assert len(_bucket_params(mixed, 2**30)) == 2   # one dtype per bucket


@pytest.mark.parametrize("cap_mb", [25, 1e-6])
def test_ddp_grads_are_averaged_and_launched_during_backward(cap_mb):
    x, y = lg.randn(6, 8), lg.tensor(np.array([0, 1, 2, 0, 1, 2]))
    ref = _mlp()
    lg.nn.functional.cross_entropy(ref(x), y).backward()
    g = FakeGroup(size=2)
    ddp = DistributedDataParallel(_mlp(), bucket_cap_mb=cap_mb, process_group=g)
    assert len(g.broadcasts) == 6                   # every parameter from rank 0
    lg.nn.functional.cross_entropy(ddp(x), y).backward()
    for p, q in zip(ddp.module.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.array, q.grad.array, rtol=1e-6)  # (2 g) / 2
    n_buckets = 1 if cap_mb == 25 else 6
    assert len(g.launches) == n_buckets
    if n_buckets > 1:   # small buckets start while backward still runs (the overlap)
        assert all(during for _, during in g.launches)
        assert g.launches[0][0] == 3                # the last layer's bias comes first
    # a second step works the same (state was reset)
    ddp.module.zero_grad()
    lg.nn.functional.cross_entropy(ddp(x), y).backward()
    assert len(g.launches) == 2 * n_buckets


def test_ddp_no_sync_unused_params_and_state_dict():
    g = FakeGroup(size=2)
    m = _mlp()
    ddp = DistributedDataParallel(m, process_group=g)
    x = lg.randn(2, 8)
    with ddp.no_sync():
        ddp(x).sum().backward()
    assert g.launches == []
    local = m[0].weight.grad.array.copy()
    ddp(x).sum().backward()                         # averages the accumulated total
    np.testing.assert_allclose(m[0].weight.grad.array, 2 * local, rtol=1e-6)
    # a parameter that gets no gradient gets zeros (averaged with other ranks' if any)
    m2 = _mlp()
    extra = lg.nn.Linear(2, 2)
    holder = lg.nn.ModuleList([m2, extra])
    ddp2 = DistributedDataParallel(holder, process_group=FakeGroup(size=2))
    m2(x).sum().backward()
    np.testing.assert_array_equal(extra.weight.grad.array, 0)
    sd = ddp.state_dict()
    assert list(sd) == list(m.state_dict())         # no "module." prefix
    prefixed = {"module." + k: v.array * 0 for k, v in sd.items()}
    ddp.load_state_dict(prefixed)                   # torch-style keys load too
    assert float(np.abs(m[0].weight.array).max()) == 0
    assert next(iter(dict(ddp.named_parameters()))).startswith("module.")
    del ddp2


# ------------------------------------------------------------------ 2 ranks under mpirun
def _mpirun():
    exe = shutil.which("mpirun")
    if exe is None:
        pytest.skip("mpirun not found (apt-get install openmpi-bin libopenmpi-dev)")
    if not dist.is_available():
        pytest.skip("mpi4py not installed (pip install '.[distributed]')")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1", OMPI_MCA_rmaps_base_oversubscribe="1")
    cmd = [exe, "-n", "2", "--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,tcp",
           "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"]
    return cmd, env


_RANK_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import loomgrad as lg
    from loomgrad import train
    out = sys.argv[1]
    res = {}
    for model, epochs in (("mlp", 3), ("lenet", 1)):
        r = train.run(train.default_args(model=model, epochs=epochs, quiet=True,
                                         no_progress=True, distributed=True))
        rank = r["rank"]
        np.savez(f"{out}/{model}_rank{rank}.npz",
                 *[p.array for p in r["model"].parameters()])
        res[model] = dict(history=r["history"], diff=r["max_param_diff_across_ranks"],
                          world=r["world_size"])
    # the collectives on tensors, in place, all ranks
    d = lg.distributed
    t = lg.tensor([float(rank + 1), -float(rank)])
    d.all_reduce(t, op=d.ReduceOp.SUM); res["sum"] = t.array.tolist()
    t = lg.tensor([float(rank + 1)]); d.all_reduce(t, op=d.ReduceOp.AVG); res["avg"] = t.array.tolist()
    t = lg.tensor([float(rank + 1)]); d.all_reduce(t, op=d.ReduceOp.MAX); res["max"] = t.array.tolist()
    t = lg.tensor([float(rank + 1)]); d.all_reduce(t, op=d.ReduceOp.MIN); res["min"] = t.array.tolist()
    t = lg.tensor([float(rank + 10)] * 2); d.broadcast(t, src=1); res["bcast"] = t.array.tolist()
    parts = [lg.zeros(2) for _ in range(d.get_world_size())]
    d.all_gather(parts, lg.tensor([float(rank)] * 2)); res["gather"] = [p.array.tolist() for p in parts]
    d.barrier()
    json.dump(res, open(f"{out}/rank{rank}.json", "w"))
    d.destroy_process_group()
""")


def test_two_ranks_equal_single_process(tmp_path):
    cmd, env = _mpirun()
    script = tmp_path / "ranks.py"
    script.write_text(_RANK_SCRIPT)
    p = subprocess.run(cmd + [sys.executable, str(script), str(tmp_path)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    res = [json.load(open(tmp_path / f"rank{r}.json")) for r in (0, 1)]
    for model in ("mlp", "lenet"):
        assert res[0][model]["world"] == 2 and res[0][model]["diff"] == 0.0
        a = np.load(tmp_path / f"{model}_rank0.npz")
        b = np.load(tmp_path / f"{model}_rank1.npz")
        for k in a.files:                             # identical, bit for bit
            np.testing.assert_array_equal(a[k], b[k])
    # the mlp (no dropout) equals one process on the whole global batch
    single = train.run(train.default_args(model="mlp", epochs=3, quiet=True,
                                                no_progress=True))
    losses = [h["train_loss"] for h in res[0]["mlp"]["history"]]
    np.testing.assert_allclose(losses, [h["train_loss"] for h in single["history"]], rtol=1e-5)
    a = np.load(tmp_path / "mlp_rank0.npz")
    for k, p in zip(a.files, single["model"].parameters()):
        np.testing.assert_allclose(a[k], p.array, rtol=1e-4, atol=1e-5)
    r = res[1]
    assert r["sum"] == [3.0, -1.0] and r["avg"] == [1.5] and r["max"] == [2.0] \
        and r["min"] == [1.0] and r["bcast"] == [11.0, 11.0] and r["gather"] == [[0, 0], [1, 1]]


def test_cli_train_distributed_prints_on_rank_0_only():
    cmd, env = _mpirun()
    p = subprocess.run(cmd + [sys.executable, "-m", "loomgrad", "train", "--distributed",
                              "--epochs", "1", "--no-progress"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert p.stdout.count("test accuracy:") == 1, p.stdout
