"""Single-process parts of data parallelism: DistributedSampler against torch's, the
post-accumulate-grad hook against torch's, and clear errors before `init_process_group`."""

from __future__ import annotations

import sys

import pytest

import symgrad
import symgrad.distributed as dist
from symgrad.nn.parallel import DistributedDataParallel
from symgrad.utils.data.distributed import DistributedSampler

torch = pytest.importorskip("torch")
from torch.utils.data.distributed import DistributedSampler as TorchSampler  # noqa: E402


@pytest.mark.parametrize("n, replicas, drop_last", [(10, 3, False), (10, 3, True), (2, 4, False),
                                                    (12, 4, False), (12, 4, True), (1, 3, False)])
def test_sampler_without_shuffle_matches_torch(n, replicas, drop_last):
    for rank in range(replicas):
        ours = DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        theirs = TorchSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs)


def test_sampler_shuffle_partitions_the_data_and_follows_the_epoch():
    def shares(epoch):
        samplers = [DistributedSampler(range(12), num_replicas=3, rank=r, seed=5) for r in range(3)]
        for s in samplers:
            s.set_epoch(epoch)
        return [list(s) for s in samplers]

    first = shares(0)
    assert sorted(sum(first, [])) == list(range(12))  # a partition: every sample once
    assert first == shares(0)  # deterministic
    assert first != shares(1)  # set_epoch reshuffles
    assert sorted(sum(shares(1), [])) == list(range(12))


def test_sampler_errors_as_torch():
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval \[0, 2\]"):
        DistributedSampler(range(4), num_replicas=3, rank=3)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(range(4))


def test_post_accumulate_grad_hook_matches_torch():
    def run(lib):
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        seen = []
        handle = w.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.tolist()))
        (w * w).sum().backward()
        (w * 3 + w).sum().backward()  # two uses: the hook still runs once, after accumulation
        handle.remove()
        (w * 3).sum().backward()
        return seen

    assert run(symgrad) == run(torch) == [[2.0, 4.0], [6.0, 8.0]]
    with pytest.raises(RuntimeError, match="non-leaf"):
        (symgrad.tensor([1.0], requires_grad=True) * 2).register_post_accumulate_grad_hook(print)


def test_post_accumulate_grad_hook_runs_for_compiled_models():
    model = symgrad.nn.Linear(3, 2)
    seen = []
    for p in model.parameters():
        p.register_post_accumulate_grad_hook(lambda p: seen.append(tuple(p.shape)))
    symgrad.compile(model)(symgrad.ones(4, 3)).sum().backward()
    assert sorted(seen) == [(2,), (2, 3)]


def test_clear_errors_before_init_process_group():
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.get_rank()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        DistributedDataParallel(symgrad.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="backend='mpi' only"):
        dist.init_process_group("nccl")


def test_without_mpi4py_init_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now raises ImportError
    assert not dist.is_available()
    with pytest.raises(RuntimeError, match=r'pip install "symgrad\[mpi\]"'):
        dist.init_process_group("mpi")
    assert not dist.is_initialized()
