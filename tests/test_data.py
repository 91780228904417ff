"""symgrad.utils.data against torch.utils.data: batches, collation, samplers, splits and errors.

Shuffled orders come from symgrad's own stream (NumPy's), so they are checked for determinism by seed
and for being permutations, not for equality with torch's order; everything else is compared with torch."""

import collections

import numpy as np
import pytest

import symgrad
from symgrad.utils import data as sdata

torch = pytest.importorskip("torch")
tdata = torch.utils.data


def _np(x):
    if isinstance(x, (list, tuple)):
        return [_np(v) for v in x]
    if isinstance(x, dict):
        return {k: _np(v) for k, v in x.items()}
    return (x.numpy().tolist(), str(x.dtype).split(".")[1]) if hasattr(x, "numpy") else x


def _datasets():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((11, 3)), rng.integers(0, 4, 11)
    return (sdata.TensorDataset(symgrad.tensor(x), symgrad.tensor(y)),
            tdata.TensorDataset(torch.tensor(x), torch.tensor(y)))


@pytest.mark.parametrize("kwargs", [dict(), dict(batch_size=4), dict(batch_size=4, drop_last=True),
                                    dict(batch_size=None), dict(batch_size=5, collate_fn=lambda b: len(b))])
def test_sequential_batches_match_torch(kwargs):
    ours, theirs = _datasets()
    a, b = sdata.DataLoader(ours, **kwargs), tdata.DataLoader(theirs, **kwargs)
    assert len(a) == len(b)
    assert [_np(batch) for batch in a] == [_np(batch) for batch in b]


def test_shuffle_is_a_permutation_and_deterministic_by_seed():
    ours, _ = _datasets()

    def epochs(seed, n=2):
        loader = sdata.DataLoader(ours, batch_size=3, shuffle=True, generator=symgrad.Generator().manual_seed(seed))
        return [[row for xb, yb in loader for row in xb.numpy().tolist()] for _ in range(n)]

    first, again, other = epochs(0), epochs(0), epochs(1)
    rows = sorted(ours.tensors[0].numpy().tolist())
    assert all(sorted(e) == rows for e in first)
    assert first == again
    assert first[0] != first[1] and first[0] != other[0]
    symgrad.manual_seed(5)
    global_a = [yb.numpy().tolist() for _, yb in sdata.DataLoader(ours, batch_size=4, shuffle=True)]
    symgrad.manual_seed(5)
    global_b = [yb.numpy().tolist() for _, yb in sdata.DataLoader(ours, batch_size=4, shuffle=True)]
    assert global_a == global_b


def test_sampler_and_batch_sampler_arguments():
    ours, theirs = _datasets()

    class EveryOther:  # any iterable of indices with __len__ is a sampler (e.g. DistributedSampler)
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(0, self.n, 2))

        def __len__(self):
            return (self.n + 1) // 2

    for lib, ds in ((sdata, ours), (tdata, theirs)):
        loader = lib.DataLoader(ds, batch_size=2, sampler=EveryOther(len(ds)))
        batched = lib.DataLoader(ds, batch_sampler=lib.BatchSampler(lib.SequentialSampler(ds), 3, True))
        assert len(loader) == 3 and len(batched) == 3
    a = [_np(b) for b in sdata.DataLoader(ours, batch_size=2, sampler=EveryOther(11))]
    b = [_np(b) for b in tdata.DataLoader(theirs, batch_size=2, sampler=EveryOther(11))]
    assert a == b
    a = [_np(b) for b in sdata.DataLoader(ours, batch_sampler=sdata.BatchSampler(range(11), 3, False))]
    b = [_np(b) for b in tdata.DataLoader(theirs, batch_sampler=tdata.BatchSampler(range(11), 3, False))]
    assert a == b
    for lib in (sdata, tdata):
        assert list(lib.BatchSampler(range(7), 3, drop_last=False)) == [[0, 1, 2], [3, 4, 5], [6]]
        assert len(lib.BatchSampler(range(7), 3, drop_last=True)) == 2


def test_random_samplers_are_seeded_permutations():
    g = symgrad.Generator().manual_seed(3)
    order = list(sdata.RandomSampler(range(9), generator=g))
    assert sorted(order) == list(range(9))
    assert order == list(sdata.RandomSampler(range(9), generator=symgrad.Generator().manual_seed(3)))
    drawn = list(sdata.RandomSampler(range(4), replacement=True, num_samples=20, generator=g))
    assert len(drawn) == 20 and set(drawn) <= set(range(4))
    assert len(list(sdata.RandomSampler(range(4), num_samples=10, generator=g))) == 10
    subset = list(sdata.SubsetRandomSampler([10, 20, 30, 40], generator=g))
    assert sorted(subset) == [10, 20, 30, 40]
    weighted = list(sdata.WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 50, generator=g))
    assert set(weighted) == {1, 3}


@pytest.mark.parametrize("lengths", [[3, 8], [0.5, 0.5], [0.3, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], [1.0]])
def test_random_split_lengths_match_torch_and_cover_the_dataset(lengths):
    ours = sdata.random_split(range(11), lengths, generator=symgrad.Generator().manual_seed(0))
    theirs = tdata.random_split(range(11), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    assert sorted(i for s in ours for i in s) == list(range(11))
    again = sdata.random_split(range(11), lengths, generator=symgrad.Generator().manual_seed(0))
    assert [list(s) for s in ours] == [list(s) for s in again]


def test_concat_subset_and_iterable_datasets_match_torch():
    for lib in (sdata, tdata):
        both = lib.ConcatDataset([lib.Subset(range(10), [3, 1, 4]), list("abcd")])
        assert len(both) == 7 and [both[i] for i in range(7)] == [3, 1, 4, "a", "b", "c", "d"]
        assert both[-1] == "d" and both.cumulative_sizes == [3, 7]

    def stream(lib):
        class Numbers(lib.IterableDataset):
            def __iter__(self):
                return iter(np.arange(7.0))

        return Numbers()

    for kwargs in (dict(batch_size=3), dict(batch_size=3, drop_last=True), dict(batch_size=None)):
        a = [_np(b) for b in sdata.DataLoader(stream(sdata), **kwargs)]
        b = [_np(b) for b in tdata.DataLoader(stream(tdata), **kwargs)]
        assert a == b


def test_default_collate_matches_torch():
    Point = collections.namedtuple("Point", "x y")
    batches = [
        [(1, 2.5, "a", {"k": [1, 2]}), (3, 4.5, "b", {"k": [3, 4]})],
        [np.arange(3.0), np.ones(3)],
        [np.float32(1.5), np.float32(2.5)],
        [Point(1, np.zeros(2)), Point(2, np.ones(2))],
        [[True, 1], [False, 2]],
    ]
    for batch in batches:
        ours = sdata.default_collate(batch)
        theirs = tdata.default_collate(batch)
        assert type(ours).__name__ == type(theirs).__name__
        assert _np(list(ours) if isinstance(ours, tuple) else ours) == _np(
            list(theirs) if isinstance(theirs, tuple) else theirs)
    t = [symgrad.ones(2), symgrad.zeros(2)]
    assert sdata.default_collate(t).numpy().tolist() == [[1.0, 1.0], [0.0, 0.0]]


@pytest.mark.parametrize("make, error, message", [
    (lambda lib, ds: lib.DataLoader(ds, sampler=range(3), shuffle=True), ValueError,
     "sampler option is mutually exclusive with shuffle"),
    (lambda lib, ds: lib.DataLoader(ds, batch_sampler=[[0]], batch_size=2), ValueError,
     "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last"),
    (lambda lib, ds: lib.DataLoader(ds, batch_size=None, drop_last=True), ValueError,
     "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"),
    (lambda lib, ds: lib.random_split(ds, [5, 5]), ValueError,
     "Sum of input lengths does not equal the length of the input dataset!"),
    (lambda lib, ds: lib.TensorDataset(ds.tensors[0], ds.tensors[1][:3]), AssertionError,
     "Size mismatch between tensors"),
    (lambda lib, ds: lib.ConcatDataset([]), AssertionError, "datasets should not be an empty iterable"),
    (lambda lib, ds: lib.BatchSampler(range(3), 0, False), ValueError,
     "batch_size should be a positive integer value, but got batch_size=0"),
])
def test_errors_match_torch(make, error, message):
    ours, theirs = _datasets()
    for lib, ds in ((sdata, ours), (tdata, theirs)):
        with pytest.raises(error, match=message.replace("(", r"\(")):
            make(lib, ds)


def test_iterable_dataset_refuses_shuffle_like_torch():
    for lib in (sdata, tdata):
        class Stream(lib.IterableDataset):
            def __iter__(self):
                return iter(range(3))

        with pytest.raises(ValueError, match="expected unspecified shuffle option, but got shuffle=True"):
            lib.DataLoader(Stream(), shuffle=True)
