"""`symgrad.utils.data`: PyTorch's data-loading names (datasets, samplers, DataLoader) on NumPy.

`dataset.py` (Dataset, IterableDataset, TensorDataset, Subset, ConcatDataset, ChainDataset,
random_split), `sampler.py` (Sequential/Random/SubsetRandom/WeightedRandom/Batch samplers),
`collate.py` (default_collate, default_convert) and `dataloader.py` (DataLoader). Shuffling and
splitting draw from a `symgrad.Generator` when one is given, else from `symgrad.default_generator`.
"""

from symgrad.utils.data import distributed  # noqa: F401 - DistributedSampler (torch's path: utils.data.distributed)
from symgrad.utils.data.collate import default_collate, default_convert
from symgrad.utils.data.dataloader import DataLoader, get_worker_info
from symgrad.utils.data.dataset import (
           ChainDataset,
           ConcatDataset,
           Dataset,
           IterableDataset,
           Subset,
           TensorDataset,
           random_split,
)
from symgrad.utils.data.sampler import (
           BatchSampler,
           RandomSampler,
           Sampler,
           SequentialSampler,
           SubsetRandomSampler,
           WeightedRandomSampler,
)

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "ChainDataset",
           "random_split", "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler", "DataLoader", "get_worker_info", "default_collate",
           "default_convert"]
