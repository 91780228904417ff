"""`symgrad.nn.parallel.DistributedDataParallel`: torch's data-parallel wrapper on `symgrad.distributed`.

Contract
--------
* Construction (a collective: every rank builds its replica): every rank's parameter and buffer
  names, shapes and dtypes are gathered; any difference raises RuntimeError on every rank naming
  the first mismatch and the ranks involved. Then rank 0's parameters and buffers are broadcast.
* Gradients: parameters that require grad are split into buckets (reverse registration order, as
  torch; one dtype per bucket, at most `bucket_cap_mb` MiB). A post-accumulate-grad hook on each
  parameter (`Tensor.register_post_accumulate_grad_hook`, run at the end of `backward()`) marks it
  ready; when a bucket is complete it is reduced with one MPI Allreduce of a fused buffer and
  every `.grad` becomes the average over ranks. Buckets are always reduced in the same order on
  every rank. Each bucket carries a "used" flag per parameter, so a parameter that got no gradient
  on some rank (`find_unused_parameters=True`) counts as zero there and keeps `.grad = None` only
  when no rank used it.
* The hooks drive everything, so `symgrad.compile(ddp)` (the compiled model) and compiled loss
  functions that call `ddp(...)` are averaged the same way: their backward modules accumulate into
  the same parameters. What `forward` itself does (the buffer broadcast, the unused-parameter
  search) runs only when the forward runs eagerly, i.e. while a compiled function traces.
* `no_sync()` skips the averaging for the backward passes run inside it (gradients accumulate
  locally; the next synchronised backward averages the sum). NOTE: the context is read when
  `backward()` runs (torch reads it in `forward`); both agree when forward and backward are inside.
* `broadcast_buffers=True` (torch's default) sends rank 0's buffers before each eager forward.
* A new forward while a reduction is half done (a parameter that did not take part in the loss and
  `find_unused_parameters=False`) raises torch's RuntimeError.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from symgrad import distributed as dist
from symgrad.interpret.tensor_core import Tensor
from symgrad.nn.module import Module

__all__ = ["DistributedDataParallel"]

_UNFINISHED = (
    "Expected to have finished reduction in the prior iteration before starting a new one. This error "
    "indicates that your module has parameters that were not used in producing loss. You can enable "
    "unused parameter detection by passing the keyword argument `find_unused_parameters=True` to "
    "`symgrad.nn.parallel.DistributedDataParallel`, and by making sure all `forward` function outputs "
    "participate in calculating loss. Parameters that did not receive a gradient: {names}")


class _Bucket:
    def __init__(self, names, params):
        self.names = names
        self.params = params
        self.dtype = _array(params[0]).dtype if params else np.dtype(np.float64)
        self.ready: set = set()


class DistributedDataParallel(Module):
    """Data parallelism over MPI ranks (torch.nn.parallel.DistributedDataParallel; see the module docstring)."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=25, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps an nn.Module, got {type(module).__name__}; to "
                            "compile a data-parallel model write symgrad.compile(DistributedDataParallel(model))")
        if not dist.is_initialized():
            raise ValueError("Default process group has not been initialized, please make sure to call "
                             "init_process_group.")
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.require_backward_grad_sync = True
        self.bucket_cap_mb = bucket_cap_mb
        _check_same_model(module)
        _broadcast_state(module)
        trainable = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._buckets = _make_buckets(trainable[::-1], bucket_cap_mb * 2 ** 20)
        self._bucket_of = {id(p): i for i, b in enumerate(self._buckets) for p in b.params}
        self._next_bucket = 0
        self._handles = [p.register_post_accumulate_grad_hook(self._on_grad_ready) for _, p in trainable]

    # ------------------------------------------------------------------ forward
    def forward(self, *inputs, **kwargs):
        self._check_finished()
        if self.broadcast_buffers:
            buffers = [b for b in self.module.buffers()]
            if buffers and dist.get_world_size() > 1:
                _broadcast_coalesced(buffers)
        output = self.module(*inputs, **kwargs)
        if self.find_unused_parameters and self.require_backward_grad_sync:
            self._mark_unused(output)
        return output

    def _check_finished(self) -> None:
        waiting = [b for b in self._buckets[self._next_bucket:] if b.ready]
        if waiting or self._next_bucket:
            ready = {i for b in self._buckets for i in b.ready}
            missing = [n for n, p in self.module.named_parameters() if p.requires_grad and id(p) not in ready]
            self._reset()
            raise RuntimeError(_UNFINISHED.format(names=", ".join(missing)))

    def _mark_unused(self, output) -> None:
        used = _leaves_reached(output)
        for bucket in self._buckets:
            bucket.ready.update(id(p) for p in bucket.params if id(p) not in used)
        self._reduce_ready_buckets()

    @contextmanager
    def no_sync(self):
        """Backward passes inside do not average gradients (they accumulate locally)."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    # ------------------------------------------------------------------ gradient averaging
    def _on_grad_ready(self, param: Tensor) -> None:
        if not self.require_backward_grad_sync:
            return
        self._buckets[self._bucket_of[id(param)]].ready.add(id(param))
        self._reduce_ready_buckets()

    def _reduce_ready_buckets(self) -> None:
        while self._next_bucket < len(self._buckets):
            bucket = self._buckets[self._next_bucket]
            if len(bucket.ready) < len(bucket.params):
                return
            _average(bucket)
            self._next_bucket += 1
        self._reset()

    def _reset(self) -> None:
        for bucket in self._buckets:
            bucket.ready.clear()
        self._next_bucket = 0


# ============================================================================ helpers
def _array(t: Tensor) -> np.ndarray:
    """The NumPy array `t` holds (shared memory)."""
    return t.detach().numpy()


def _make_buckets(named, cap_bytes) -> list:
    buckets, names, params, size = [], [], [], 0
    for name, p in named:
        if params and (_array(p).dtype != _array(params[0]).dtype or size + _array(p).nbytes > cap_bytes):
            buckets.append(_Bucket(names, params))
            names, params, size = [], [], 0
        names.append(name)
        params.append(p)
        size += _array(p).nbytes
    if params:
        buckets.append(_Bucket(names, params))
    return buckets


def _average(bucket: _Bucket) -> None:
    """One Allreduce of [grads..., used flags...]; .grad becomes the sum over ranks / world size."""
    world = dist.get_world_size()
    if world == 1:
        return
    grads = [p.grad for p in bucket.params]
    used = np.array([g is not None for g in grads], dtype=bucket.dtype)
    parts = [np.zeros(p.numel(), bucket.dtype) if g is None else _array(g).ravel()
             for p, g in zip(bucket.params, grads)]
    flat = np.concatenate(parts + [used])
    dist.all_reduce_coalesced([flat], op=dist.ReduceOp.SUM, check=False)
    offset = 0
    for p, g, n_used in zip(bucket.params, grads, flat[-len(used):]):
        total = flat[offset:offset + p.numel()].reshape(tuple(p.shape))
        offset += p.numel()
        if g is not None:
            np.divide(total, world, out=_array(g), casting="unsafe")
        elif n_used > 0:
            p.grad = Tensor(total / world)


def _describe_model(module) -> list:
    rows = [("parameter", n, tuple(p.shape), _array(p).dtype.name, bool(p.requires_grad))
            for n, p in module.named_parameters()]
    rows += [("buffer", n, tuple(b.shape), _array(b).dtype.name, False) for n, b in module.named_buffers()]
    return rows


def _check_same_model(module) -> None:
    mine = _describe_model(module)
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)
    reference = everyone[0]
    for rank, rows in enumerate(everyone[1:], start=1):
        if rows != reference:
            raise RuntimeError("DistributedDataParallel: the model on rank "
                               f"{rank} differs from rank 0's: {_first_difference(reference, rows, rank)}. "
                               "Every rank must build the same model (same parameters, shapes and dtypes, "
                               "registered in the same order).")


def _first_difference(reference, rows, rank) -> str:
    def text(row):
        kind, name, shape, dtype, grad = row
        return f"{kind} '{name}' {dtype}{list(shape)}" + (" (requires_grad=False)" if kind == "parameter"
                                                           and not grad else "")
    for a, b in zip(reference, rows):
        if a != b:
            return f"rank 0 has {text(a)} where rank {rank} has {text(b)}"
    longer, which = (reference, 0) if len(reference) > len(rows) else (rows, rank)
    return f"only rank {which} has {text(longer[min(len(reference), len(rows))])}"


def _broadcast_state(module) -> None:
    tensors = list(module.parameters()) + list(module.buffers())
    if tensors and dist.get_world_size() > 1:
        _broadcast_coalesced(tensors)


def _broadcast_coalesced(tensors) -> None:
    """Rank 0's values into every rank's tensors, one Bcast per dtype."""
    by_dtype: dict = {}
    for t in tensors:
        by_dtype.setdefault(_array(t).dtype, []).append(t)
    for group in by_dtype.values():
        flat = np.concatenate([t.detach().numpy().ravel() for t in group])
        dist.broadcast(flat, src=0)
        offset = 0
        for t in group:
            n = t.numel()
            np.copyto(_array(t), flat[offset:offset + n].reshape(t.shape))
            offset += n


def _leaves_reached(output) -> set:
    """ids of the leaf Tensors that the graphs of `output`'s Tensors reach (torch's unused-parameter search)."""
    from symgrad.core import tree

    stack = [t.grad_fn for t in tree.flatten(output)[0] if isinstance(t, Tensor) and t.grad_fn is not None]
    seen, leaves = set(), set()
    while stack:
        fn = stack.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        variable = getattr(fn, "variable", None)
        if variable is not None:
            leaves.add(id(variable))
            continue
        stack.extend(next_fn for next_fn, _ in getattr(fn, "next_functions", ()))
    for t in tree.flatten(output)[0]:
        if isinstance(t, Tensor) and t.is_leaf and t.requires_grad:
            leaves.add(id(t))
    return leaves
