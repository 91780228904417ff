"""Data-parallel scaling: `python -m benchmarks.data_parallel [--quick] [--ranks 1 2]`.

Runs the same compute-bound training step (an MLP 784-H-H-10 in float64, eager Tensor code under
`DistributedDataParallel`, SGD with momentum, per-rank batch B), written once in PyTorch's language,
with symgrad (MPI) and, as the peer, torch (DDP over gloo), under `mpiexec -n 1` and `mpiexec -n N`,
one thread per rank, and reports per-rank step time (median), throughput (samples/s over all ranks)
and the weak-scaling efficiency `throughput(N) / (N * throughput(1))`.
For N ranks it also times the same step inside `no_sync()` (no gradient averaging: what the
ranks cost each other through shared cores and memory bandwidth) and the fused all-reduce of the
gradients alone, so the loss splits into contention and communication.

Needs the [mpi] extra (mpi4py + an MPI launcher); Open MPI's root/oversubscribe variables are set.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import common  # noqa: F401 - one thread per rank

ROOT = Path(__file__).resolve().parent.parent


def _init(library: str):
    """(library module, its distributed module, DistributedDataParallel) with the process group joined."""
    if library == "torch":
        import torch
        import torch.distributed as dist

        torch.set_num_threads(1)
        rank, world = int(os.environ["OMPI_COMM_WORLD_RANK"]), int(os.environ["OMPI_COMM_WORLD_SIZE"])
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        dist.init_process_group("gloo", rank=rank, world_size=world)
        return torch, dist, torch.nn.parallel.DistributedDataParallel
    import symgrad
    import symgrad.distributed as dist
    from symgrad.nn.parallel import DistributedDataParallel

    dist.init_process_group("mpi")
    return symgrad, dist, DistributedDataParallel


def _worker(library: str, hidden: int, batch: int, seconds: float, out: str) -> None:
    """The same PyTorch-language program for symgrad (MPI) and torch (gloo)."""
    import numpy as np

    lib, dist, DDP = _init(library)
    nn = lib.nn
    rank, world = dist.get_rank(), dist.get_world_size()
    lib.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                          nn.Linear(hidden, 10)).double()
    ddp = DDP(model)
    opt = lib.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(rank)
    x = lib.tensor(rng.standard_normal((batch, 784)))
    y = lib.tensor(rng.integers(0, 10, batch))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(ddp(x), y).backward()
        opt.step()

    def timed(fn) -> float:
        """Median of a number of steps that every rank agrees on (from the slowest warm-up)."""
        fn()
        t0 = time.perf_counter()
        fn()
        warm = lib.tensor([time.perf_counter() - t0])
        dist.all_reduce(warm, op=dist.ReduceOp.MAX)
        times = []
        for _ in range(max(5, int(seconds / max(warm.item(), 1e-6)))):
            dist.barrier()  # every rank starts the step together
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return float(np.median(times))

    result = {"ranks": world, "batch": batch, "hidden": hidden, "step": timed(step)}
    if world > 1:
        def local_step():
            with ddp.no_sync():
                step()

        n_values = sum(p.numel() for p in model.parameters())
        flat = np.zeros(n_values) if library == "symgrad" else lib.zeros(n_values, dtype=lib.float64)
        result["step_no_sync"] = timed(local_step)
        result["allreduce"] = timed(lambda: dist.all_reduce(flat))
        result["grad_bytes"] = n_values * 8
    if rank == 0:
        Path(out).write_text(json.dumps(result))
    dist.destroy_process_group()


def _mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else "mpiexec"


def _launch(library: str, ranks: int, hidden: int, batch: int, seconds: float) -> dict:
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               PRTE_MCA_rmaps_default_mapping_policy=":oversubscribe", PRTE_MCA_hwloc_default_binding_policy="none",
               OMPI_MCA_mpi_yield_when_idle="1", MASTER_PORT=str(29500 + os.getpid() % 1000),
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [_mpiexec(), "-n", str(ranks), sys.executable, "-m", "benchmarks.data_parallel", "--worker", library,
                   str(hidden), str(batch), str(seconds), str(out)]
        subprocess.run(command, check=True, env=env, cwd=ROOT, timeout=600)
        return json.loads(out.read_text())


def _peers() -> list[str]:
    try:
        import torch  # noqa: F401
    except ImportError:
        return ["symgrad"]
    return ["symgrad", "torch"]


def rows(ranks=(1, 2), hidden: int = 1024, batch: int = 256, seconds: float = 5.0) -> list[str]:
    lines = [f"MLP 784-{hidden}-{hidden}-10 float64, SGD-momentum step, per-rank batch {batch}, one thread "
             "per rank, medians; symgrad over MPI (Open MPI), torch DDP over gloo, each launched by mpiexec", "",
             "| library | ranks | step time | throughput | scaling efficiency | step inside no_sync() | "
             "all-reduce of the gradients alone |", "|---|---|---|---|---|---|---|"]
    for library in _peers():
        results = {n: _launch(library, n, hidden, batch, seconds) for n in ranks}
        base = results[ranks[0]]
        base_throughput = base["batch"] * base["ranks"] / base["step"]
        for n, r in results.items():
            throughput = r["batch"] * n / r["step"]
            efficiency = throughput / (n / base["ranks"] * base_throughput)
            extra = (f"{r['step_no_sync'] * 1e3:.1f} ms | {r['allreduce'] * 1e3:.1f} ms "
                     f"({r['grad_bytes'] / 2**20:.1f} MiB)") if "allreduce" in r else " | "
            lines.append(f"| {library} | {n} | {r['step'] * 1e3:.1f} ms | {throughput:,.0f} samples/s | "
                         f"{efficiency:.0%} | {extra} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.data_parallel", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small model for a smoke run")
    parser.add_argument("--ranks", nargs="*", type=int, default=[1, 2], help="world sizes (default: 1 2)")
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=256, help="per-rank batch (default 256)")
    parser.add_argument("--seconds", type=float, default=5.0, help="timing budget per measurement")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        library, hidden, batch, seconds, out = args.worker
        _worker(library, int(hidden), int(batch), float(seconds), out)
        return 0
    if args.quick:
        args.hidden, args.batch, args.seconds = 64, 32, 0.5
    print("\n".join(rows(tuple(args.ranks), args.hidden, args.batch, args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
