"""`symgrad.distributed`: torch.distributed's process-group names on MPI (through mpi4py).

Contract
--------
* `init_process_group(backend="mpi")` joins the job that an MPI launcher started (`mpiexec -n N
  python train.py`): rank and world size come from MPI, never from arguments (given ones must
  agree). mpi4py is imported here and only here, so single-process code never needs it; without
  it the call raises and says `pip install "symgrad[mpi]"`.
* Collectives take symgrad Tensors or NumPy arrays and work in place, as torch's:
  `all_reduce(t, op)` (ReduceOp.SUM / AVG / MAX / MIN / PRODUCT), `broadcast(t, src)`,
  `all_gather(list, t)`, `reduce_scatter(out, list, op)`, `barrier()`. Values are written into the
  array the tensor holds (its version counter is bumped, so a graph that saved it refuses to
  backward, as after any in-place change).
* Waiting sleeps: `barrier()` and every reduction of 64 KiB or more first wait for all ranks with
  an `Ibarrier` polled every 0.1 ms, so a rank that arrives early does not spin on a core that the
  others (on an oversubscribed machine) need, as MPI's blocking calls do.
* Every collective first compares, across ranks, what each rank asked for (the collective's name,
  dtype and shape): a mismatch raises ValueError on every rank naming each rank's request and the
  caller's `file:line`, instead of the undefined behaviour (a hang or a truncation) MPI would give.
* `all_reduce_coalesced(list, op)` reduces many tensors in one MPI call per dtype (one fused
  buffer); `all_reduce_tree(tree, op="avg")` does the same for a pytree of NumPy gradients (the
  functional API, `value_and_grad`) and returns a new tree.
* Faults: with more than one rank, `init_process_group` installs a `sys.excepthook` that prints the
  uncaught exception prefixed by the rank and then calls `MPI_Abort` on the world communicator, so
  an error on one rank ends every rank with a non-zero exit (never a hang in the next collective).
  `destroy_process_group()` restores the previous hook.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
import zlib

import numpy as np

from symgrad.core import tree
from symgrad.interpret.grad_mode import no_grad
from symgrad.interpret.tensor_core import Tensor

__all__ = [
    "ReduceOp", "is_available", "is_mpi_available", "init_process_group", "is_initialized",
    "destroy_process_group", "get_rank", "get_world_size", "get_backend", "all_reduce",
    "all_reduce_coalesced", "all_reduce_tree", "broadcast", "all_gather", "all_gather_object", "reduce_scatter",
    "barrier", "launched_ranks",
]

INSTALL_HINT = 'pip install "symgrad[mpi]"  (mpi4py and Open MPI wheels; no system MPI needed)'
_NOT_INITIALIZED = ("Default process group has not been initialized, please make sure to call "
                    "init_process_group.")
_LAUNCHER_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS")
_SLEEPING_WAIT_BYTES = 1 << 16  # reductions at least this large wait for the other ranks sleeping
_POLL_SECONDS = 1e-4


class ReduceOp:
    """torch.distributed.ReduceOp's members (compared as strings: "sum", "avg", ...)."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


_OPS = (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.PRODUCT, ReduceOp.MIN, ReduceOp.MAX)


class _World:
    def __init__(self, mpi, comm):
        self.mpi = mpi
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.previous_excepthook = None


_world: _World | None = None


# ============================================================================ process group
def is_available() -> bool:
    """True when mpi4py (and so an MPI library) can be imported."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


is_mpi_available = is_available


def launched_ranks() -> int:
    """The world size an MPI launcher announced in the environment (1 when not under a launcher)."""
    for name in _LAUNCHER_SIZE_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 1


def init_process_group(backend: str = "mpi", init_method=None, timeout=None, world_size: int = -1,
                       rank: int = -1, store=None, group_name: str = "", pg_options=None, device_id=None):
    """Join the MPI job (see the module docstring); `backend` must be "mpi"."""
    global _world
    if str(backend).lower() != "mpi":
        raise ValueError(f"symgrad.distributed supports backend='mpi' only, got backend={backend!r}: "
                         "start the script with `mpiexec -n N python script.py`")
    if _world is not None:
        raise ValueError("trying to initialize the default process group twice!")
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise RuntimeError(f"symgrad.distributed needs mpi4py and an MPI library: {INSTALL_HINT}") from error
    world = _World(MPI, MPI.COMM_WORLD)
    for name, given, actual in (("world_size", world_size, world.size), ("rank", rank, world.rank)):
        if given not in (-1, None) and int(given) != actual:
            raise ValueError(f"init_process_group({name}={given}) but the MPI launcher started this process "
                             f"with {name} {actual}; leave {name} out (MPI decides it)")
    if world.size > 1:
        world.previous_excepthook = sys.excepthook
        sys.excepthook = _abort_on_uncaught(world)
    _world = world


def _abort_on_uncaught(world: _World):
    def hook(kind, value, tb):
        text = "".join(traceback.format_exception(kind, value, tb))
        sys.stderr.write(f"[rank {world.rank}/{world.size}] {text}"
                         f"[rank {world.rank}/{world.size}] symgrad.distributed: uncaught exception; "
                         "aborting every rank of the job (MPI_Abort)\n")
        sys.stderr.flush()
        world.comm.Abort(1)

    return hook


def is_initialized() -> bool:
    """True once `init_process_group` has joined the MPI job, until `destroy_process_group`.

    >>> import symgrad.distributed as dist
    >>> dist.is_initialized()
    False
    """
    return _world is not None


def _require() -> _World:
    if _world is None:
        raise ValueError(_NOT_INITIALIZED)
    return _world


def destroy_process_group(group=None) -> None:
    """Leave the process group (MPI itself is finalized by mpi4py when Python exits)."""
    global _world
    world = _require()
    if world.previous_excepthook is not None:
        sys.excepthook = world.previous_excepthook
    _world = None


def get_rank(group=None) -> int:
    """This process's rank, 0 .. world size - 1 (torch.distributed.get_rank; `group` is accepted for
    torch's signature). Raises ValueError before `init_process_group`, with torch's message.

    >>> import symgrad.distributed as dist
    >>> dist.get_rank()
    Traceback (most recent call last):
    ValueError: Default process group has not been initialized, please make sure to call init_process_group.
    """
    return _require().rank


def get_world_size(group=None) -> int:
    """The number of ranks in the job (torch.distributed.get_world_size). Raises ValueError before
    `init_process_group`, as `get_rank`."""
    return _require().size


def get_backend(group=None) -> str:
    """The process group's backend: always "mpi" (torch.distributed.get_backend). Raises ValueError
    before `init_process_group`, as `get_rank`."""
    _require()
    return "mpi"


def barrier(group=None, async_op: bool = False, device_ids=None) -> None:
    """Wait, sleeping, until every rank calls barrier."""
    world = _require()
    if world.size > 1:
        _wait_for_every_rank(world)


# ============================================================================ checks
def _caller() -> str:
    """`file:line` of the first frame outside symgrad (the user's call)."""
    package = os.path.dirname(os.path.abspath(__file__))
    for frame in traceback.extract_stack()[::-1]:
        if not os.path.abspath(frame.filename).startswith(package + os.sep):
            return f"{frame.filename}:{frame.lineno}"
    return "<unknown>"


def _describe(array: np.ndarray) -> str:
    return f"{array.dtype.name}{list(array.shape)}"


def check_same_call(world: _World, request: str) -> None:
    """Raise ValueError on every rank unless every rank passes the same `request` text (one tiny
    Allreduce of the text's checksum, MAX and MIN at once)."""
    if world.size == 1:
        return
    digest = zlib.crc32(request.encode())
    both = np.array([digest, -digest], dtype=np.int64)
    world.comm.Allreduce(world.mpi.IN_PLACE, both, op=world.mpi.MAX)
    if both[0] == -both[1]:
        return
    requests = world.comm.allgather(request)
    listing = "; ".join(f"rank {r}: {text}" for r, text in enumerate(requests))
    raise ValueError(f"mismatched collectives across ranks ({_caller()}): {listing}. Every rank must call "
                     "the same collectives in the same order with tensors of the same shape and dtype.")


# ============================================================================ collectives
def _array_of(x, what: str) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.detach().numpy()
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"{what} takes a symgrad Tensor or a NumPy array, got {type(x).__name__}")


def _write(target, values: np.ndarray) -> None:
    if isinstance(target, Tensor):
        with no_grad():
            target.detach().copy_(Tensor(values))  # bumps the shared version counter
    else:
        np.copyto(target, values, casting="unsafe")


def _mpi_op(world: _World, op: str):
    op = str(op).lower()
    if op not in _OPS:
        raise ValueError(f"op must be one of ReduceOp.SUM, AVG, PRODUCT, MIN, MAX; got {op!r}")
    mpi = world.mpi
    return {"sum": mpi.SUM, "avg": mpi.SUM, "product": mpi.PROD, "min": mpi.MIN, "max": mpi.MAX}[op]


def _reduced(world: _World, flat: np.ndarray, op: str) -> np.ndarray:
    """A reduced copy of `flat` (AVG: the sum divided by the world size)."""
    result = np.array(flat, copy=True, order="C")
    _reduce_in_place(world, result, op)
    return result


def _reduce_in_place(world: _World, array: np.ndarray, op: str) -> None:
    """Allreduce of one C-contiguous array into itself."""
    mpi_op = _mpi_op(world, op)
    if str(op).lower() == ReduceOp.AVG and array.dtype.kind not in "fc":
        raise ValueError(f"ReduceOp.AVG needs a floating-point tensor, got {array.dtype.name}")
    if world.size > 1:
        if array.nbytes >= _SLEEPING_WAIT_BYTES:
            _wait_for_every_rank(world)
        world.comm.Allreduce(world.mpi.IN_PLACE, array, op=mpi_op)
    if str(op).lower() == ReduceOp.AVG:
        array /= world.size


def _wait_for_every_rank(world: _World) -> None:
    """Sleep (not spin, as MPI's blocking calls do) until every rank has arrived."""
    request = world.comm.Ibarrier()
    while not request.Test():
        time.sleep(_POLL_SECONDS)


def _in_place_ok(target) -> bool:
    """True for a C-contiguous NumPy array, which MPI can reduce without a copy."""
    return isinstance(target, np.ndarray) and target.flags.c_contiguous and target.flags.writeable


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op: bool = False) -> None:
    """Reduce `tensor` across ranks in place (torch.distributed.all_reduce)."""
    world = _require()
    array = _array_of(tensor, "all_reduce")
    check_same_call(world, f"all_reduce(op={op}) of {_describe(array)}")
    if _in_place_ok(tensor):
        _reduce_in_place(world, tensor, op)
    else:
        _write(tensor, _reduced(world, array, op))


def all_reduce_coalesced(tensors, op=ReduceOp.SUM, group=None, async_op: bool = False, *,
                         check: bool = True) -> None:
    """Reduce a list of tensors in place with one MPI call per dtype (a fused buffer).
    `check=False` skips the cross-rank comparison of shapes (callers that verified them once)."""
    world = _require()
    tensors = list(tensors)
    arrays = [_array_of(t, "all_reduce_coalesced") for t in tensors]
    if check:
        check_same_call(world, f"all_reduce_coalesced(op={op}) of " + ", ".join(map(_describe, arrays)))
    if len(tensors) == 1 and _in_place_ok(tensors[0]):  # one fused buffer already (DDP's buckets)
        _reduce_in_place(world, tensors[0], op)
        return
    for target, value in zip(tensors, _fused(world, arrays, op)):
        _write(target, value)


def _fused(world: _World, arrays: list, op: str) -> list:
    """The reduced arrays, computed with one Allreduce per dtype over their concatenation."""
    results = [None] * len(arrays)
    by_dtype: dict = {}
    for i, a in enumerate(arrays):
        by_dtype.setdefault(a.dtype, []).append(i)
    for dtype, indices in by_dtype.items():
        flat = np.concatenate([arrays[i].ravel() for i in indices]) if indices else np.empty(0, dtype)
        reduced = _reduced(world, flat.astype(dtype, copy=False), op)
        offset = 0
        for i in indices:
            n = arrays[i].size
            results[i] = reduced[offset:offset + n].reshape(arrays[i].shape)
            offset += n
    return results


def all_reduce_tree(grads, op=ReduceOp.AVG):
    """A new pytree (nested tuples/lists/dicts) whose leaves are `grads`' leaves reduced across ranks,
    in one MPI call per dtype. Leaves may be NumPy arrays, NumPy/Python scalars or Tensors (as arrays).

    For the functional API: `loss, g = value_and_grad(f)(params, batch); g = all_reduce_tree(g)`.
    """
    world = _require()
    leaves, structure = tree.flatten(grads)
    arrays = [np.asarray(_array_of(x, "all_reduce_tree") if isinstance(x, Tensor) else x) for x in leaves]
    check_same_call(world, f"all_reduce_tree(op={op}) of {structure!r} " + ", ".join(map(_describe, arrays)))
    reduced = _fused(world, arrays, op)
    return tree.unflatten(structure, [_like(x, r) for x, r in zip(leaves, reduced)])


def _like(leaf, value: np.ndarray):
    """`value` in the kind of `leaf`: a Tensor, an array, or a NumPy scalar for a scalar leaf."""
    if isinstance(leaf, Tensor):
        return Tensor(value)
    return value if isinstance(leaf, np.ndarray) else value[()]


def all_gather_object(object_list: list, obj, group=None) -> None:
    """Fill `object_list` (world size entries) with every rank's picklable `obj` (torch's name)."""
    world = _require()
    if len(object_list) != world.size:
        raise ValueError(f"all_gather_object: object_list has {len(object_list)} entries but the world size "
                         f"is {world.size}")
    object_list[:] = world.comm.allgather(obj)


def broadcast(tensor, src: int = 0, group=None, async_op: bool = False) -> None:
    """Overwrite `tensor` on every rank with rank `src`'s (torch.distributed.broadcast)."""
    world = _require()
    array = _array_of(tensor, "broadcast")
    check_same_call(world, f"broadcast(src={src}) of {_describe(array)}")
    buffer = np.ascontiguousarray(array).copy()
    if world.size > 1:
        world.comm.Bcast(buffer, root=src)
    _write(tensor, buffer)


def all_gather(tensor_list: list, tensor, group=None, async_op: bool = False) -> None:
    """Fill `tensor_list` (world size entries) with every rank's `tensor` (torch.distributed.all_gather)."""
    world = _require()
    array = np.ascontiguousarray(_array_of(tensor, "all_gather"))
    if len(tensor_list) != world.size:
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} entries but the world size is "
                         f"{world.size}")
    check_same_call(world, f"all_gather of {_describe(array)}")
    gathered = np.empty((world.size,) + array.shape, dtype=array.dtype)
    world.comm.Allgather(array, gathered)
    for target, value in zip(tensor_list, gathered):
        _write(target, value)


def reduce_scatter(output, input_list: list, op=ReduceOp.SUM, group=None, async_op: bool = False) -> None:
    """`output` on rank r becomes the reduction over ranks of `input_list[r]` (torch.distributed.reduce_scatter)."""
    world = _require()
    if len(input_list) != world.size:
        raise ValueError(f"reduce_scatter: input_list has {len(input_list)} entries but the world size is "
                         f"{world.size}")
    out = _array_of(output, "reduce_scatter")
    inputs = [np.asarray(_array_of(x, "reduce_scatter"), dtype=out.dtype) for x in input_list]
    if any(x.shape != out.shape for x in inputs):
        raise ValueError(f"reduce_scatter: every input must have the output's shape {list(out.shape)}")
    check_same_call(world, f"reduce_scatter(op={op}) of {_describe(out)}")
    send = np.concatenate([x.ravel() for x in inputs])
    received = np.empty(out.size, dtype=out.dtype)
    world.comm.Reduce_scatter_block(send, received, op=_mpi_op(world, op))
    if str(op).lower() == ReduceOp.AVG:
        received = received / world.size
    _write(output, received.reshape(out.shape))
