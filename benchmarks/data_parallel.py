"""Data-parallel scaling: `python -m benchmarks.data_parallel [--quick] [--ranks 1 2]`.

Runs the same compute-bound training step (an MLP 784-H-H-10 in float64, eager symgrad `Tensor`
code under `DistributedDataParallel`, SGD with momentum, per-rank batch B) under `mpiexec -n 1` and
`mpiexec -n N`, one thread per rank, and reports per-rank step time (median), throughput
(samples/s over all ranks) and the weak-scaling efficiency `throughput(N) / (N * throughput(1))`.
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


def _worker(hidden: int, batch: int, seconds: float, out: str) -> None:
    import numpy as np

    import symgrad
    import symgrad.distributed as dist
    from symgrad import nn
    from symgrad.nn.parallel import DistributedDataParallel

    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    symgrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                          nn.Linear(hidden, 10)).double()
    ddp = DistributedDataParallel(model)
    opt = symgrad.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(rank)
    x = symgrad.tensor(rng.standard_normal((batch, 784)))
    y = symgrad.tensor(rng.integers(0, 10, batch))
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
        warm = np.array([time.perf_counter() - t0])
        dist.all_reduce(warm, op=dist.ReduceOp.MAX)
        times = []
        for _ in range(max(5, int(seconds / max(warm[0], 1e-6)))):
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

        grads = [p.grad for p in ddp.parameters()]
        result["step_no_sync"] = timed(local_step)
        result["allreduce"] = timed(lambda: dist.all_reduce_coalesced(grads, op=dist.ReduceOp.AVG, check=False))
        result["grad_bytes"] = int(sum(g.numpy().nbytes for g in grads))
    if rank == 0:
        Path(out).write_text(json.dumps(result))
    dist.destroy_process_group()


def _mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else "mpiexec"


def _launch(ranks: int, hidden: int, batch: int, seconds: float) -> dict:
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               PRTE_MCA_rmaps_default_mapping_policy=":oversubscribe", PRTE_MCA_hwloc_default_binding_policy="none",
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [_mpiexec(), "-n", str(ranks), sys.executable, "-m", "benchmarks.data_parallel", "--worker",
                   str(hidden), str(batch), str(seconds), str(out)]
        subprocess.run(command, check=True, env=env, cwd=ROOT, timeout=600)
        return json.loads(out.read_text())


def rows(ranks=(1, 2), hidden: int = 1024, batch: int = 256, seconds: float = 5.0) -> list[str]:
    results = {n: _launch(n, hidden, batch, seconds) for n in ranks}
    base = results[ranks[0]]
    base_throughput = base["batch"] * base["ranks"] / base["step"]
    lines = [f"MLP 784-{hidden}-{hidden}-10 float64, SGD-momentum step, per-rank batch {batch}, one thread "
             "per rank (medians)", "",
             "| ranks | step time | throughput | scaling efficiency | step without averaging (no_sync) | "
             "gradient all-reduce alone |", "|---|---|---|---|---|---|"]
    for n, r in results.items():
        throughput = r["batch"] * n / r["step"]
        efficiency = throughput / (n / base["ranks"] * base_throughput)
        extra = (f"{r['step_no_sync'] * 1e3:.1f} ms | {r['allreduce'] * 1e3:.2f} ms "
                 f"({r['grad_bytes'] / 2**20:.1f} MiB)") if "allreduce" in r else "| "
        lines.append(f"| {n} | {r['step'] * 1e3:.1f} ms | {throughput:,.0f} samples/s | {efficiency:.0%} | {extra} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.data_parallel", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small model for a smoke run")
    parser.add_argument("--ranks", nargs="*", type=int, default=[1, 2], help="world sizes (default: 1 2)")
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=256, help="per-rank batch (default 256)")
    parser.add_argument("--seconds", type=float, default=5.0, help="timing budget per measurement")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        hidden, batch, seconds, out = args.worker
        _worker(int(hidden), int(batch), float(seconds), out)
        return 0
    if args.quick:
        args.hidden, args.batch, args.seconds = 64, 32, 0.5
    print("\n".join(rows(tuple(args.ranks), args.hidden, args.batch, args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
