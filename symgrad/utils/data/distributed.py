"""`symgrad.utils.data.distributed.DistributedSampler`: each rank reads its own share of a dataset.

torch's rules: with `num_samples = ceil(len / num_replicas)` (or, with `drop_last` and a length that
does not divide, `ceil((len - num_replicas) / num_replicas)`) every rank gets exactly `num_samples`
indices: the (shuffled) index list is padded by repeating its start, or cut, to
`num_samples * num_replicas`, and rank r takes every `num_replicas`-th index starting at r.
Shuffling draws a permutation from NumPy's default generator seeded with `seed + epoch`, identical
on every rank (call `set_epoch(epoch)` before each epoch for a new order). The permutation is
NumPy's, not torch's: the same seed gives a different (but equally deterministic) order than torch.
`num_replicas` and `rank` default to the process group's (`symgrad.distributed`).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["DistributedSampler"]


class DistributedSampler:
    """Indices of this rank's share of `dataset` (torch.utils.data.distributed.DistributedSampler)."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False):
        if num_replicas is None or rank is None:
            from symgrad import distributed as dist

            if not dist.is_initialized():
                raise RuntimeError("Requires distributed package to be available: call "
                                   "symgrad.distributed.init_process_group('mpi') first, or pass "
                                   "num_replicas and rank")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.epoch = 0
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        n = len(dataset)
        if self.drop_last and n % self.num_replicas != 0:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Shuffle differently in each epoch (the same order on every rank)."""
        self.epoch = int(epoch)
