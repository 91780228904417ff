"""Calling conventions shared by the transformations (`grad`, `value_and_grad`, ...).

* `traced_output(out)`: what the user's function returned, as one traced value (an object array
  built from traced values, e.g. `np.r_[x, y].sum()`'s pieces, becomes a traced array).
* `is_scalar_like(shape)`: a loss may be any size-1 array (shape (), (1,), (1, 1)...), as in
  HIPS autograd and PyTorch; its value keeps its shape.
"""

from __future__ import annotations

import numpy as np

from .numpy_arrays import plain


def traced_output(out):
    return plain(out)


def is_scalar_like(shape) -> bool:
    return int(np.prod(shape, dtype=np.int64)) == 1
