"""Datasets (torch.utils.data's): Dataset, IterableDataset, TensorDataset, Subset, ConcatDataset,
ChainDataset and random_split.

A map-style dataset has `__getitem__(index)` and `__len__`; an iterable one has `__iter__`.
`random_split(dataset, lengths, generator)` takes lengths or fractions (torch's rounding: floors,
then one more to the first splits until the total is reached) and shuffles with `generator`
(default: `symgrad.default_generator`), so the same seed gives the same split.
"""

from __future__ import annotations

import bisect
import itertools
import math
import warnings

from symgrad.interpret.tensor_core import Tensor
from symgrad.random import default_generator, randperm

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "ChainDataset",
           "random_split"]


class Dataset:
    """A map-style dataset: subclasses define `__getitem__` (and usually `__len__`)."""

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of samples: subclasses define `__iter__`."""

    def __iter__(self):
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")

    def __add__(self, other):
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    """Samples are the tensors' rows: `dataset[i] == tuple(t[i] for t in tensors)` (torch's TensorDataset).

    Args: *tensors: tensors with the same first dimension. Raises AssertionError ("Size mismatch
    between tensors") when they differ, as torch.

    >>> import symgrad
    >>> from symgrad.utils.data import TensorDataset
    >>> ds = TensorDataset(symgrad.arange(6.0).reshape(3, 2), symgrad.tensor([0, 1, 0]))
    >>> len(ds), ds[1]
    (3, (tensor([2., 3.]), tensor(1)))
    """

    def __init__(self, *tensors: Tensor):
        if not all(tensors[0].size(0) == t.size(0) for t in tensors):
            raise AssertionError("Size mismatch between tensors")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].size(0)


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order (torch's Subset).

    >>> from symgrad.utils.data import Subset
    >>> list(Subset(["a", "b", "c"], [2, 0]))
    ['c', 'a']
    """

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Several map-style datasets one after the other."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if len(self.datasets) == 0:
            raise AssertionError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise AssertionError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        offset = idx - (self.cumulative_sizes[which - 1] if which > 0 else 0)
        return self.datasets[which][offset]


class ChainDataset(IterableDataset):
    """Several iterable datasets one after the other."""

    def __init__(self, datasets):
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)


def _lengths(lengths, total: int) -> list:
    """Fractions summing to 1 become lengths (torch's rounding); integer lengths pass through."""
    if not (math.isclose(sum(lengths), 1) and sum(lengths) <= 1):
        return list(lengths)
    counts = []
    for i, frac in enumerate(lengths):
        if frac < 0 or frac > 1:
            raise ValueError(f"Fraction at index {i} is not between 0 and 1")
        counts.append(int(math.floor(total * frac)))
    for i in range(total - sum(counts)):
        counts[i % len(counts)] += 1
    for i, length in enumerate(counts):
        if length == 0:
            warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.",
                          stacklevel=3)
    return counts


def random_split(dataset, lengths, generator=default_generator) -> list:
    """Split `dataset` into non-overlapping random Subsets of the given lengths (or fractions).

    Args: dataset; lengths: integers summing to `len(dataset)`, or fractions summing to 1;
    generator: a `symgrad.Generator` (the global stream by default). Returns a list of `Subset`s.
    Raises ValueError when the lengths do not add up.

    >>> import symgrad
    >>> from symgrad.utils.data import random_split
    >>> train, test = random_split(range(5), [3, 2], generator=symgrad.Generator().manual_seed(0))
    >>> len(train), len(test), sorted(list(train) + list(test))
    (3, 2, [0, 1, 2, 3, 4])
    """
    lengths = _lengths(lengths, len(dataset))
    if sum(lengths) != len(dataset):
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    indices = randperm(sum(lengths), generator=generator).tolist()
    return [Subset(dataset, indices[offset - length:offset])
            for offset, length in zip(itertools.accumulate(lengths), lengths)]
