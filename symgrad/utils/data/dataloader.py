"""`DataLoader` (torch.utils.data's): batches from a dataset, in the main process.

Contract: `DataLoader(dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, ..., generator=None)` with torch's
argument rules and error texts. The sampler (any iterable of indices with `__len__`: SequentialSampler,
RandomSampler(generator=...) when `shuffle=True`, or the one given) drives a BatchSampler; each batch is
`collate_fn([dataset[i] for i in batch])` (default: `default_collate`). `batch_size=None` disables
batching (each sample through `default_convert`). An IterableDataset is read in order and grouped.
`num_workers`, `pin_memory`, `timeout`, `prefetch_factor`... are accepted and change nothing: the
samples are loaded in the main process, so the batches are the same as torch's with workers.
"""

from __future__ import annotations

from symgrad.utils.data.collate import default_collate, default_convert
from symgrad.utils.data.dataset import IterableDataset
from symgrad.utils.data.sampler import BatchSampler, RandomSampler, SequentialSampler

__all__ = ["DataLoader", "get_worker_info"]


def get_worker_info():
    """None: symgrad loads in the main process (there are no worker processes)."""
    return None


class DataLoader:
    """Iterate over `dataset` in (shuffled, collated) batches (torch's DataLoader; see the module docstring).

    Args: dataset (map-style or iterable); batch_size (None: no batching); shuffle; sampler;
    batch_sampler; collate_fn (default: `default_collate`, stacking samples into tensors); drop_last;
    generator: the `symgrad.Generator` that shuffles; num_workers, pin_memory, timeout, worker_init_fn,
    prefetch_factor, persistent_workers and the rest: torch's signature (loading runs in the main
    process). Raises ValueError for contradicting options (as torch: `shuffle` with a `sampler`,
    negative `num_workers`, ...).

    >>> import symgrad
    >>> from symgrad.utils.data import DataLoader, TensorDataset
    >>> ds = TensorDataset(symgrad.arange(6.0).reshape(3, 2), symgrad.tensor([0, 1, 0]))
    >>> [tuple(y.tolist() for y in batch) for batch in DataLoader(ds, batch_size=2)]
    [([[0.0, 1.0], [2.0, 3.0]], [0, 1]), ([[4.0, 5.0]], [0])]
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        self.dataset, self.num_workers, self.pin_memory, self.timeout = dataset, num_workers, pin_memory, timeout
        self.worker_init_fn, self.generator, self.prefetch_factor = worker_init_fn, generator, prefetch_factor
        self.persistent_workers, self.multiprocessing_context = persistent_workers, multiprocessing_context
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            _check_iterable_options(shuffle, sampler, batch_sampler)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with "
                             "drop_last")
        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size, self.drop_last = batch_size, drop_last
        self.sampler, self.batch_sampler = sampler, batch_sampler
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None or (self._iterable and self.batch_size is not None)

    def __iter__(self):
        if self._iterable:
            yield from self._iterate_stream()
            return
        if self.batch_sampler is None:
            for index in self.sampler:
                yield self.collate_fn(self.dataset[index])
            return
        fetch_many = getattr(self.dataset, "__getitems__", None)
        for indices in self.batch_sampler:
            samples = fetch_many(indices) if fetch_many is not None else [self.dataset[i] for i in indices]
            yield self.collate_fn(samples)

    def _iterate_stream(self):
        if self.batch_size is None:
            for sample in self.dataset:
                yield self.collate_fn(sample)
            return
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)


def _check_iterable_options(shuffle, sampler, batch_sampler) -> None:
    """An IterableDataset has no indices: torch refuses shuffle, sampler and batch_sampler."""
    for name, value, given in (("shuffle", shuffle, shuffle not in (None, False)),
                               ("sampler", sampler, sampler is not None),
                               ("batch_sampler", batch_sampler, batch_sampler is not None)):
        if given:
            raise ValueError(f"DataLoader with IterableDataset: expected unspecified {name} option, but got "
                             f"{name}={value}")
