"""Eager Tensor semantics, each compared with torch where torch is installed."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import symgrad
from symgrad.compiler import cache

ROOT = Path(__file__).resolve().parent.parent


def _torch():
    return pytest.importorskip("torch")


# ----------------------------------------------------------------------------- tutorial
def test_tutorial_sections_print_what_the_tutorial_prints(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SYMGRAD_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "tutorial_autograd_sections.py")],
                         capture_output=True, text=True, env=env, check=True).stdout
    assert out == ("tensor([True, True])\ntensor([True, True])\n"
                   "Does `a` require gradients? : False\nDoes `b` require gradients?: True\n")


def test_warm_disk_cache_imports_no_sympy(tmp_path):
    script = ("import sys, symgrad as torch\n"
              "a = torch.tensor([2., 3.], requires_grad=True)\n"
              "b = torch.tensor([6., 4.], requires_grad=True)\n"
              "Q = 3*a**3 - b**2\n"
              "Q.backward(gradient=torch.ones(2))\n"
              "print(a.grad.tolist(), b.grad.tolist(), 'sympy' in sys.modules, 'jinja2' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SYMGRAD_CACHE_DIR": str(tmp_path)}
    cold = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    warm = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert cold.stdout.strip() == "[36.0, 81.0] [-12.0, -8.0] True True"
    assert warm.stdout.strip() == "[36.0, 81.0] [-12.0, -8.0] False False"


def test_training_loop_generates_once():
    symgrad.manual_seed(0)
    w = symgrad.randn(3, 2, requires_grad=True)
    before = cache.stats["generated"]
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(100):
        x = symgrad.tensor(rng.standard_normal((4, 3)), dtype=symgrad.float32)
        loss = ((x @ w).tanh() - 0.5).pow(2).mean()
        loss.backward()
        with symgrad.no_grad():
            w -= 0.1 * w.grad
        w.grad = None
        losses.append(loss.item())
    assert cache.stats["generated"] - before == 1
    assert np.mean(losses[-10:]) < np.mean(losses[:10])


def test_new_structure_generates_again_same_structure_does_not():
    x = symgrad.tensor([1.0, 2.0], requires_grad=True)
    before = cache.stats["generated"]
    for value in (1.0, 5.0):
        x = symgrad.tensor([value, 2.0], requires_grad=True)
        (x.sin() * 7.25).sum().backward()
    assert cache.stats["generated"] - before == 1
    (x.cos() * 7.25).sum().backward()
    assert cache.stats["generated"] - before == 2


# ----------------------------------------------------------------------------- grad bookkeeping
def test_requires_grad_propagation_leaf_and_grad_fn_names():
    x = symgrad.rand(2, 2)
    z = symgrad.rand((2, 2), requires_grad=True)
    assert not (x + x).requires_grad and (x + z).requires_grad
    assert z.is_leaf and not (x + z).is_leaf and (x + x).is_leaf
    cases = {"MulBackward0": z * 2, "SumBackward0": z.sum(), "PowBackward0": z ** 2, "SubBackward0": z - 1,
             "AddBackward0": z + x, "DivBackward0": z / 2, "MeanBackward0": z.mean(), "SumBackward1": z.sum(0),
             "MmBackward0": z @ z, "ExpBackward0": z.exp(), "ViewBackward0": z.reshape(4),
             "PermuteBackward0": z.T, "SelectBackward0": z[0], "RsubBackward1": 1 - z, "PowBackward1": z ** z}
    for name, t in cases.items():
        assert t.grad_fn.name() == name
        assert repr(t.grad_fn).startswith(f"<{name} object at 0x")
    (fn, _), (none, _) = (z * 2).grad_fn.next_functions
    assert fn.name() == "AccumulateGrad" and fn.variable is z and none is None


def test_grad_accumulates_and_can_be_reset():
    x = symgrad.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [4.0, 8.0]
    x.grad = None
    (3 * x).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_grad_of_non_leaf_warns_like_torch():
    x = symgrad.tensor([1.0], requires_grad=True)
    y = x * 2
    with pytest.warns(UserWarning, match="The .grad attribute of a Tensor that is not a leaf Tensor"):
        assert y.grad is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert x.grad is None


def test_backward_errors_match_torch():
    torch = _torch()
    for lib in (torch, symgrad):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
            (x * 2).backward()
        with pytest.raises(RuntimeError, match=r"Mismatch in shape: grad_output\[0\] has a shape of .*\[3\].* "
                                               r"and output\[0\] has a shape of .*\[2\]"):
            (x * 2).backward(lib.ones(3))
        with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
            lib.ones(2).sum().backward()


def test_second_backward_through_freed_graph():
    torch = _torch()
    for lib in (torch, symgrad):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = (x.exp() * x).sum()
        y.backward()
        with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time.*"
                                               "Specify retain_graph=True"):
            y.backward()
        y = (x.exp() * x).sum()
        y.backward(retain_graph=True)
        y.backward()
        np.testing.assert_allclose(np.asarray(x.grad.tolist()), 3 * np.exp([1.0, 2.0]) * [2.0, 3.0], rtol=1e-6)
        z = x + 1  # saves nothing: walking it again is allowed (as torch)
        z.sum().backward()
        z.sum().backward()


# ----------------------------------------------------------------------------- in-place
def test_inplace_on_leaf_requiring_grad_raises_but_not_under_no_grad():
    torch = _torch()
    for lib in (torch, symgrad):
        w = lib.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
            w.add_(1)
        with lib.no_grad():
            w.mul_(3)
            w -= 1
        assert w.tolist() == [2.0, 2.0] and w.requires_grad


def test_modified_saved_value_raises_instead_of_wrong_gradient():
    torch = _torch()
    for lib in (torch, symgrad):
        x = lib.tensor([0.5, -1.0], requires_grad=True)
        y = x.sigmoid()
        y.mul_(2)
        with pytest.raises(RuntimeError, match="one of the variables needed for gradient computation has been "
                                               "modified by an inplace operation.*is at version 1; expected version 0"):
            y.sum().backward()
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        c = lib.tensor([3.0, 4.0])
        loss = (w * c).sum()
        c.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()


def test_inplace_on_non_leaf_matches_torch():
    torch = _torch()
    results = []
    for lib in (torch, symgrad):
        x = lib.tensor([0.5, -1.0, 2.0], dtype=lib.float64, requires_grad=True)
        b = lib.tensor([1.5, 2.0, -0.5], dtype=lib.float64, requires_grad=True)
        a = x * 2
        a.mul_(b)
        a.add_(x)
        a += 1
        a[1] = x[0] * 3
        a.relu_()
        a.sum().backward()
        assert a._version > 0 if lib is torch else a._version_number > 0
        results.append((a.tolist(), x.grad.tolist(), b.grad.tolist(), a.grad_fn.name()))
    assert results[0] == results[1]


def test_version_counter_and_views_share_it():
    x = symgrad.zeros(2, 3)
    v = x[0]
    v.add_(1)
    assert x._version_number == 1 and x.tolist()[0] == [1.0, 1.0, 1.0]
    x[1] = 5.0
    assert x._version_number == 2 and x.tolist()[1] == [5.0, 5.0, 5.0]
    x.zero_()
    x.fill_(2.0)
    x.copy_(symgrad.ones(2, 3))
    assert x.tolist() == [[1.0] * 3] * 2


def test_inplace_on_view_of_leaf_raises():
    w = symgrad.ones(2, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        w[0].mul_(2)


# ----------------------------------------------------------------------------- modes and conversions
def test_no_grad_and_enable_grad_as_context_and_decorator():
    x = symgrad.ones(2, requires_grad=True)
    with symgrad.no_grad():
        assert not (x * 2).requires_grad
        with symgrad.enable_grad():
            assert (x * 2).requires_grad

    @symgrad.no_grad()
    def frozen(t):
        return t * 2

    @symgrad.enable_grad()
    def live(t):
        return t * 2

    assert not frozen(x).requires_grad
    with symgrad.no_grad():
        assert live(x).requires_grad
    assert (x * 2).requires_grad


def test_detach_numpy_item_tolist_and_metadata():
    x = symgrad.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Can't call numpy\(\) on Tensor that requires grad. Use "
                                           r"tensor.detach\(\).numpy\(\) instead."):
        x.numpy()
    d = x.detach()
    assert not d.requires_grad and d.numpy().dtype == np.float32
    assert x.sum().item() == 6.0 and x.tolist() == [[1.0, 2.0, 3.0]]
    assert x.shape == (1, 3) and x.size() == (1, 3) and x.size(1) == 3 and repr(x.shape) == "symgrad.Size([1, 3])"
    assert x.ndim == 2 and x.dim() == 2 and x.numel() == 3
    assert x.dtype == symgrad.float32 and symgrad.tensor([1.0], dtype=symgrad.float64).dtype == symgrad.float64
    assert symgrad.tensor([1, 2]).dtype == symgrad.int64 and (x > 1).dtype == symgrad.bool
    assert (x.double() * 2.5).dtype == symgrad.float64 and (x * 2.5).dtype == symgrad.float32
    y = symgrad.ones(3).requires_grad_()
    assert y.requires_grad and y.is_leaf


def test_reductions_with_dim_and_keepdim_match_torch():
    torch = _torch()
    data = np.random.default_rng(3).standard_normal((3, 4, 2))
    for name in ("sum", "mean", "var", "std", "prod", "amax"):
        for dim, keep in ((None, False), (1, False), (-1, True), ((0, 2), True)):
            if name == "prod" and isinstance(dim, tuple):
                continue
            kwargs = {} if dim is None else {"dim": dim, "keepdim": keep}
            t = getattr(torch.tensor(data, requires_grad=True), name)(**kwargs)
            s = getattr(symgrad.tensor(data, requires_grad=True), name)(**kwargs)
            np.testing.assert_allclose(s.detach().numpy(), t.detach().numpy(), rtol=1e-12)
    values, indices = symgrad.tensor(data).max(dim=1)
    t_values, t_indices = torch.tensor(data).max(dim=1)
    assert indices.tolist() == t_indices.tolist()
    np.testing.assert_allclose(values.numpy(), t_values.numpy())


def test_numpy_protocols_on_tensors():
    x = symgrad.tensor([0.5, 1.0], requires_grad=True)
    y = np.sin(x) * np.exp(x)
    assert y.grad_fn is not None
    total = np.sum(y)
    total.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([0.5, 1.0]) * (np.sin([0.5, 1.0]) + np.cos([0.5, 1.0])),
                               rtol=1e-6)
    assert symgrad.exp(symgrad.tensor([0.0])).tolist() == [1.0]


@pytest.mark.parametrize("make", [
    lambda L: L.tensor([True, True]),
    lambda L: L.tensor([2.0, 3.0], requires_grad=True),
    lambda L: L.tensor([2.0, 3.0], requires_grad=True).sum(),
    lambda L: L.tensor([1.0, 2.0], dtype=L.float64),
    lambda L: L.tensor([1.5, 2.25]),
    lambda L: L.tensor([1e-5, 1.0]),
    lambda L: L.tensor([True, False]),
    lambda L: L.tensor(3),
    lambda L: L.tensor([1, 2], dtype=L.int32),
    lambda L: L.zeros(0),
    lambda L: L.zeros(0, 3),
    lambda L: L.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True),
    lambda L: L.ones(3, 3, 3),
    lambda L: L.arange(2000.0),
    lambda L: L.tensor([float("nan"), 1.5, float("inf")]),
    lambda L: L.ones(3, 40, dtype=L.float64, requires_grad=True) * 2,
    lambda L: L.arange(12.0).reshape(3, 4) / 7,
    lambda L: L.tensor([-123456789.0, 0.5]),
])
def test_repr_matches_torch(make):
    torch = _torch()
    assert repr(make(symgrad)) == repr(make(torch)).replace("torch.", "symgrad.")


def test_data_and_detach_allow_in_place_writes_as_torch():
    torch = pytest.importorskip("torch")
    results = []
    for lib in (symgrad, torch):
        p = lib.nn.Parameter(lib.zeros(3))
        p.data[...] = 1.0
        p.detach()[0] = 5.0
        p.data.mul_(2)
        x = lib.tensor([1., 2.], requires_grad=True)
        y = x * x
        z = y * y
        y.detach().add_(1)  # shares y's version counter: backward must refuse
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.sum().backward()
        results.append(p.detach().numpy().tolist())
    assert results[0] == results[1] == [10.0, 2.0, 2.0]


@pytest.mark.parametrize("make", [
    lambda: symgrad.zeros(2, device="cuda"),
    lambda: symgrad.tensor([1.0], device="cuda:0"),
    lambda: symgrad.ones(2).to("cuda"),
    lambda: symgrad.ones(2).cuda(),
    lambda: symgrad.nn.Linear(2, 2).to("cuda"),
    lambda: symgrad.nn.Linear(2, 2, device="mps"),
])
def test_non_cpu_devices_are_an_error_not_ignored(make):
    with pytest.raises(RuntimeError, match=r"on the CPU with NumPy: device='(cuda|cuda:0|mps)' .*test_tensor_semantics"):
        make()


def test_cpu_device_is_accepted():
    assert symgrad.ones(2, device="cpu").to("cpu").numpy().tolist() == [1.0, 1.0]
    assert symgrad.nn.Linear(2, 2, device="cpu").to("cpu") is not None


def test_broadcast_mismatch_is_torchs_error_with_the_users_line():
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError) as ours:
        symgrad.zeros(2, 3) + symgrad.zeros(4, 5)
    with pytest.raises(RuntimeError) as theirs:
        torch.zeros(2, 3) + torch.zeros(4, 5)
    assert str(theirs.value) in str(ours.value)
    assert "test_tensor_semantics.py:" in str(ours.value)
