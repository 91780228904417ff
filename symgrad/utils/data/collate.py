"""`default_collate` / `default_convert` (torch.utils.data's): samples → a batch of tensors.

`default_collate(batch)` follows the structure of the first sample: tensors are stacked (a new first
dimension), NumPy arrays and NumPy scalars become tensors and are stacked, Python floats become a
float64 tensor, ints an int64 tensor, bools a bool tensor, strings stay a list; dicts, named tuples
and sequences are collated field by field (a tuple becomes a list, as torch). `default_convert`
(used when `batch_size=None`) only turns NumPy arrays into tensors.
"""

from __future__ import annotations

import collections.abc
import numbers

import numpy as np

from symgrad.interpret.dtypes import bool as bool_
from symgrad.interpret.dtypes import float64, int64
from symgrad.interpret.factories import as_tensor, from_numpy
from symgrad.interpret.tensor_core import Tensor
from symgrad.torch_frontend._tensor_ops import stack

__all__ = ["default_collate", "default_convert"]

_FORMAT_ERROR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def _array_to_tensor(array: np.ndarray):
    if array.dtype.kind in "USO":
        raise TypeError(_FORMAT_ERROR.format(array.dtype))
    return from_numpy(np.array(array))


def default_collate(batch):
    """Stack a list of samples into one batch (see the module docstring).

    >>> import symgrad
    >>> from symgrad.utils.data import default_collate
    >>> default_collate([(symgrad.tensor([1.0, 2.0]), 0), (symgrad.tensor([3.0, 4.0]), 1)])
    [tensor([[1., 2.],
            [3., 4.]]), tensor([0, 1])]
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        return stack([_array_to_tensor(b) for b in batch], 0)
    if isinstance(elem, np.generic):
        return _array_to_tensor(np.array(batch))
    if isinstance(elem, bool):
        return as_tensor(list(batch), dtype=bool_)
    if isinstance(elem, numbers.Integral):
        return as_tensor(list(batch), dtype=int64)
    if isinstance(elem, numbers.Real):
        return as_tensor(list(batch), dtype=float64)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return type(elem)({key: default_collate([d[key] for d in batch]) for key in elem}) \
            if type(elem) is not dict else {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if not all(len(b) == size for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        collated = [default_collate(list(samples)) for samples in zip(*batch)]
        if isinstance(elem, tuple):
            return collated
        try:
            return type(elem)(collated)
        except TypeError:
            return collated
    raise TypeError(_FORMAT_ERROR.format(type(elem)))


def default_convert(data):
    """NumPy arrays (also inside dicts and sequences) become tensors; everything else is unchanged."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "USO":
        return from_numpy(data)
    if isinstance(data, np.generic) and data.dtype.kind not in "USO":
        return as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return {key: default_convert(value) for key, value in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(default_convert(d) for d in data)
    return data
