"""Data-parallel training over MPI, written as PyTorch code: `mpiexec -n 2 python examples/data_parallel.py`.

Every rank builds the same model, `DistributedDataParallel` copies rank 0's parameters to the others
and averages the gradients after each `backward()`, and `DistributedSampler` gives every rank its own
share of each epoch. Rank 0 prints the loss and saves a checkpoint that resumes on any number of
ranks (`--resume`). Runs as a single process too (`python examples/data_parallel.py`).

Needs `pip install "symgrad[mpi]"`; as root in a container, Open MPI also needs
`export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1`.
"""

from __future__ import annotations

import argparse

import numpy as np

import symgrad as torch
import symgrad.distributed as dist
from symgrad import nn
from symgrad.nn.parallel import DistributedDataParallel
from symgrad.utils.data.distributed import DistributedSampler


def spirals(n: int = 600, seed: int = 0):
    """Three interleaved spirals in 2-D (a small classification set), the same on every rank."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    radius = rng.uniform(0.1, 1.0, n)
    angle = labels * 2 * np.pi / 3 + radius * 4 + rng.normal(0, 0.15, n)
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return points, labels


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32, help="per rank")
    parser.add_argument("--checkpoint", default="data_parallel.ckpt.npz")
    parser.add_argument("--resume", action="store_true", help="start from --checkpoint")
    args = parser.parse_args(argv)

    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3)).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    start_epoch = 0
    if args.resume:  # every rank reads rank 0's file; any world size
        state = torch.load(args.checkpoint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch = int(state["epoch"]) + 1
    ddp = DistributedDataParallel(model)
    points, labels = spirals()
    sampler = DistributedSampler(range(len(points)), shuffle=True, seed=0)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(start_epoch, start_epoch + args.epochs):
        sampler.set_epoch(epoch)
        order = list(sampler)
        total = np.zeros(2)  # (sum of losses, batches) on this rank
        for first in range(0, len(order), args.batch_size):
            idx = order[first:first + args.batch_size]
            x, y = torch.tensor(points[idx]), torch.tensor(labels[idx])
            optimizer.zero_grad()
            loss = loss_fn(ddp(x), y)
            loss.backward()
            optimizer.step()
            total += (loss.item(), 1)
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        if rank == 0 and (epoch % 5 == 4 or epoch == start_epoch + args.epochs - 1):
            print(f"epoch {epoch + 1:3d}  mean loss over {world} rank(s) {total[0] / total[1]:.4f}")
    if rank == 0:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch},
                   args.checkpoint)
        with torch.no_grad():
            accuracy = float((model(torch.tensor(points)).argmax(1).numpy() == labels).mean())
        print(f"train accuracy {accuracy:.1%}; checkpoint {args.checkpoint}")
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
