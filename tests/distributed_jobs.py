"""Jobs for tests/test_distributed_mpi.py, run as `mpiexec -n 2 python distributed_jobs.py JOB OUT_DIR`.

Each training job runs the same float64 model and data in two ways: data-parallel (this rank's
share, from DistributedSampler, through DistributedDataParallel / all_reduce_tree) and, in the test
process, `reference(...)`: one process on the union of every rank's batch. Rank 0 writes the final
parameters to OUT_DIR/<variant>.npz.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import symgrad
import symgrad.distributed as dist
from symgrad import nn
from symgrad.nn.parallel import DistributedDataParallel as DDP
from symgrad.utils.data.distributed import DistributedSampler

N_SAMPLES, PER_RANK_BATCH, STEPS = 24, 3, 4


class Net(nn.Module):
    def __init__(self, hidden=8):
        super().__init__()
        self.fc1 = nn.Linear(4, hidden, dtype=symgrad.float64)
        self.fc2 = nn.Linear(hidden, 2, dtype=symgrad.float64)
        rng = np.random.default_rng(0)
        for p in self.parameters():
            p.data = symgrad.tensor(rng.standard_normal(tuple(p.shape)) * 0.5, dtype=symgrad.float64)

    def forward(self, x):
        return self.fc2(self.fc1(x).tanh())


def data():
    rng = np.random.default_rng(1)
    return rng.standard_normal((N_SAMPLES, 4)), rng.standard_normal((N_SAMPLES, 2))


def optimiser(kind, params):
    if kind == "sgd":
        return symgrad.optim.SGD(params, lr=0.1, momentum=0.9)
    return symgrad.optim.Adam(params, lr=0.05)


def batches(rank, world, steps=STEPS, start=0):
    """This rank's sample indices per step: DistributedSampler(shuffle) order, PER_RANK_BATCH at a time."""
    sampler = DistributedSampler(range(N_SAMPLES), num_replicas=world, rank=rank, shuffle=True, seed=3)
    sampler.set_epoch(0)
    order = list(sampler)
    return [order[(s * PER_RANK_BATCH) % len(order):][:PER_RANK_BATCH] for s in range(start, start + steps)]


def union_batches(world, steps=STEPS, start=0):
    per_rank = [batches(r, world, steps, start) for r in range(world)]
    return [sum((per_rank[r][s] for r in range(world)), []) for s in range(steps)]


def loss_fn(model, x, y):
    return nn.functional.mse_loss(model(x), y)


def train(model, opt, step_indices, compiled_loss=None):
    x_all, y_all = data()
    for idx in step_indices:
        x, y = symgrad.tensor(x_all[idx]), symgrad.tensor(y_all[idx])
        opt.zero_grad()
        loss = compiled_loss(x, y) if compiled_loss is not None else loss_fn(model, x, y)
        loss.backward()
        opt.step()


def params_of(model) -> dict:
    return {n: p.detach().numpy().copy() for n, p in model.named_parameters()}


def reference(kind, world=2, steps=STEPS):
    """One process, batch = the union of the ranks' batches."""
    model = Net()
    train(model, optimiser(kind, model.parameters()), union_batches(world, steps))
    return params_of(model)


def reference_functional(world=2, steps=STEPS, averaged=None):
    """Plain SGD on a NumPy function with value_and_grad; `averaged` averages the gradients."""
    x_all, y_all = data()
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((4, 2)), "b": np.zeros(2)}

    def loss(params, x, y):
        return np.mean((np.tanh(x @ params["w"]) + params["b"] - y) ** 2)

    value_and_grad = symgrad.value_and_grad(loss)
    if averaged is None:
        idx_steps, average = union_batches(world, steps), (lambda g: g)
    else:
        idx_steps, average = averaged
    for idx in idx_steps:
        _, g = value_and_grad(params, x_all[idx], y_all[idx])
        g = average(g)
        params = {k: params[k] - 0.2 * g[k] for k in params}
    return params


# ============================================================================ jobs (under mpiexec)
def replica() -> Net:
    """This rank's model before DistributedDataParallel: ranks other than 0 start elsewhere, so equal
    results prove the broadcast of rank 0's parameters."""
    model = Net()
    if dist.get_rank() > 0:
        for p in model.parameters():
            p.data = p.detach() + 1.0
    return model


def job_train(out: Path):
    """Eager SGD-momentum and Adam, a compiled model, a compiled loss, the functional API, a checkpoint."""
    rank, world = dist.get_rank(), dist.get_world_size()
    mine = batches(rank, world)
    results = {}
    for kind in ("sgd", "adam"):
        ddp = DDP(replica())
        train(ddp, optimiser(kind, ddp.parameters()), mine)
        results[f"eager_{kind}"] = params_of(ddp.module)
    ddp = DDP(replica())
    compiled = symgrad.compile(ddp)
    train(compiled, optimiser("sgd", ddp.parameters()), mine)
    results["compiled_model_sgd"] = params_of(ddp.module)
    ddp = DDP(replica())
    step = symgrad.compile(lambda x, y: loss_fn(ddp, x, y))
    train(ddp, optimiser("adam", ddp.parameters()), mine, compiled_loss=step)
    results["compiled_loss_adam"] = params_of(ddp.module)
    results["functional_sgd"] = reference_functional(averaged=(mine, dist.all_reduce_tree))
    ddp = DDP(replica())
    opt = optimiser("adam", ddp.parameters())
    train(ddp, opt, mine)
    if rank == 0:
        symgrad.save({"model": ddp.module.state_dict(), "optimizer": opt.state_dict()}, out / "checkpoint.npz")
        for name, params in results.items():
            np.savez(out / f"{name}.npz", **params)
    dist.barrier()


def job_resume(out: Path):
    """Load rank 0's checkpoint (written by a 2-rank job) and train on with this job's world size."""
    rank, world = dist.get_rank(), dist.get_world_size()
    state = symgrad.load(out / "checkpoint.npz")
    ddp = DDP(Net())
    ddp.module.load_state_dict(state["model"])
    opt = optimiser("adam", ddp.parameters())
    opt.load_state_dict(state["optimizer"])
    # the same samples per step as the 2-rank run would have used next, split over this world
    x_steps = union_batches(2, STEPS, start=STEPS)
    mine = [idx[rank::world] for idx in x_steps]
    train(ddp, opt, mine)
    if rank == 0:
        np.savez(out / "resumed.npz", **params_of(ddp.module))


def aot_net():
    """Module factory for `symgrad compile --train ... --distributed` (tests/test_distributed_mpi.py)."""
    return Net()


def job_aot(out: Path):
    """Train with the --distributed packages out/aot_sgd and out/aot_adam (imported without symgrad)."""
    import importlib

    sys.path.insert(0, str(out))
    rank, world = dist.get_rank(), dist.get_world_size()
    x_all, y_all = data()
    for kind in ("sgd", "adam"):
        m = importlib.import_module(f"aot_{kind}")
        assert (m.rank(), m.world_size()) == (rank, world)
        params, state = m.load_params(), m.load_state()
        for idx in batches(rank, world):
            _, params, state = m.train_step(params, state, x_all[idx], y_all[idx])
        if rank == 0:
            np.savez(out / f"aot_{kind}_result.npz", **params)


class TwoHeads(nn.Module):
    """A model whose forward uses one of two heads: rank-dependent unused parameters."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 2, dtype=symgrad.float64)
        self.b = nn.Linear(4, 2, dtype=symgrad.float64)
        rng = np.random.default_rng(2)
        for p in self.parameters():
            p.data = symgrad.tensor(rng.standard_normal(tuple(p.shape)), dtype=symgrad.float64)

    def forward(self, x, head):
        return (self.a if head == "a" else self.b)(x)


def two_heads_grads(rank: int, world: int = 2) -> dict:
    """Reference for job_hooks: {variant: {name: averaged gradient}} computed in one process."""
    x_all, _ = data()
    sums = {"unused": {}, "no_sync": {}}
    for r in range(world):
        model = TwoHeads()
        model(symgrad.tensor(x_all[[r]]), "a" if r == 0 else "b").pow(2).sum().backward()
        for n, p in model.named_parameters():
            if p.grad is not None:
                sums["unused"][n] = sums["unused"].get(n, 0) + p.grad.numpy() / world
        model = Net()
        for k in (r, r + world):  # two local backward passes inside no_sync, then one synchronised
            loss_fn(model, symgrad.tensor(x_all[[k]]), symgrad.tensor(np.zeros((1, 2)))).backward()
        loss_fn(model, symgrad.tensor(x_all[[r + 2 * world]]), symgrad.tensor(np.zeros((1, 2)))).backward()
        for n, p in model.named_parameters():
            sums["no_sync"][n] = sums["no_sync"].get(n, 0) + p.grad.numpy() / world
    sums["unused"]["counter"] = np.array([10.0])  # rank 0's buffer, broadcast before the forward
    return sums


def job_hooks(out: Path):
    """find_unused_parameters (rank 0 uses head a, rank 1 head b) and no_sync accumulation."""
    rank, world = dist.get_rank(), dist.get_world_size()
    x_all, _ = data()
    model = TwoHeads()
    model.register_buffer("counter", symgrad.tensor([float(rank + 1)]))  # differs per rank
    ddp = DDP(model, find_unused_parameters=True)
    model.counter.data = symgrad.tensor([10.0 * (rank + 1)])  # changed after construction
    ddp(symgrad.tensor(x_all[[rank]]), "a" if rank == 0 else "b").pow(2).sum().backward()
    unused = {n: p.grad.numpy() for n, p in ddp.module.named_parameters()}
    unused["counter"] = model.counter.numpy()  # rank 0's, sent before the forward
    ddp = DDP(Net())
    zeros = symgrad.tensor(np.zeros((1, 2)))
    with ddp.no_sync():
        for k in (rank, rank + world):
            loss_fn(ddp, symgrad.tensor(x_all[[k]]), zeros).backward()
    loss_fn(ddp, symgrad.tensor(x_all[[rank + 2 * world]]), zeros).backward()
    no_sync = {n: p.grad.numpy() for n, p in ddp.module.named_parameters()}
    np.savez(out / f"hooks_{rank}.npz", **{f"unused/{n}": g for n, g in unused.items()},
             **{f"no_sync/{n}": g for n, g in no_sync.items()})


def job_unfinished_reduction(out: Path):
    """Head b never takes part and find_unused_parameters is off: the next forward raises torch's error."""
    ddp = DDP(TwoHeads())
    x = symgrad.tensor(np.ones((1, 4)))
    for _ in range(2):
        ddp(x, "a").sum().backward()


def job_aot_fault(out: Path):
    """An exception on rank 1 after a step of a --distributed package aborts the job."""
    sys.path.insert(0, str(out))
    import aot_sgd as m

    params, state = m.load_params(), m.load_state()
    x_all, y_all = data()
    idx = batches(m.rank(), m.world_size())[0]
    m.train_step(params, state, x_all[idx], y_all[idx])
    if m.rank() == 1:
        raise RuntimeError("deliberate failure in the package on rank 1")
    m.train_step(params, state, x_all[idx], y_all[idx])


def job_fault(out: Path):
    ddp = DDP(Net())
    opt = optimiser("sgd", ddp.parameters())
    train(ddp, opt, batches(dist.get_rank(), dist.get_world_size(), steps=1))
    if dist.get_rank() == 1:
        raise RuntimeError("deliberate failure on rank 1")
    train(ddp, opt, batches(0, dist.get_world_size(), steps=1))  # rank 0 waits in the next all-reduce


def job_mismatched_model(out: Path):
    DDP(Net(hidden=8 if dist.get_rank() == 0 else 5))


def job_mismatched_collective(out: Path):
    dist.all_reduce(np.ones(3 + dist.get_rank()), op=dist.ReduceOp.SUM)


if __name__ == "__main__":
    dist.init_process_group("mpi")
    globals()["job_" + sys.argv[1]](Path(sys.argv[2]))
    dist.destroy_process_group()
