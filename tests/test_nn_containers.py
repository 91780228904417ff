"""nn containers (ModuleList, ModuleDict, ParameterList, ParameterDict), Flatten/Unflatten and
nn.utils (clip_grad_norm_, clip_grad_value_, parameters_to_vector, vector_to_parameters) against torch:
registered names, reprs, state-dict keys, values and gradients, errors."""

import math

import numpy as np
import pytest

import symgrad

torch = pytest.importorskip("torch")


def _both(build):
    return build(symgrad), build(torch)


def _same_repr(a, b):
    assert repr(a).replace("symgrad", "torch") == repr(b)


class Net:
    """The same model written against either library (a user's program with containers)."""

    @staticmethod
    def build(lib):
        class Model(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = lib.nn.ModuleList([lib.nn.Linear(4, 4) for _ in range(3)])
                self.heads = lib.nn.ModuleDict({"a": lib.nn.Linear(4, 2), "b": lib.nn.Linear(4, 3)})
                self.scales = lib.nn.ParameterList([lib.nn.Parameter(lib.ones(4)) for _ in range(3)])
                self.bias = lib.nn.ParameterDict({"a": lib.nn.Parameter(lib.zeros(2)),
                                                  "b": lib.nn.Parameter(lib.zeros(3))})

            def forward(self, x):
                for block, scale in zip(self.blocks, self.scales):
                    x = block(x).tanh() * scale
                return {k: head(x) + self.bias[k] for k, head in self.heads.items()}

        return Model()


def test_containers_register_like_torch_and_train_the_same():
    ours, theirs = _both(Net.build)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    ours.double()
    theirs.double()
    x = np.random.default_rng(0).standard_normal((5, 4))
    out_s, out_t = ours(symgrad.tensor(x)), theirs(torch.tensor(x))
    (out_s["a"].sum() + out_s["b"].pow(2).sum()).backward()
    (out_t["a"].sum() + out_t["b"].pow(2).sum()).backward()
    grads_t = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads_t[name].grad.numpy(), rtol=1e-12, err_msg=name)
    _same_repr(ours, theirs)


def test_module_list_operations_match_torch():
    for lib in (symgrad, torch):
        layers = lib.nn.ModuleList([lib.nn.ReLU(), lib.nn.Tanh() if hasattr(lib.nn, "Tanh") else lib.nn.Identity()])
        layers.append(lib.nn.Identity())
        layers.insert(0, lib.nn.Flatten())
        layers.extend([lib.nn.ReLU()])
        assert len(layers) == 5 and type(layers[-1]).__name__ == "ReLU" and type(layers[0]).__name__ == "Flatten"
        del layers[1]
        assert [k for k, _ in layers.named_children()] == ["0", "1", "2", "3"]
        assert type(layers.pop(0)).__name__ == "Flatten" and len(layers) == 3
        assert isinstance(layers[1:], lib.nn.ModuleList) and len(layers[1:]) == 2
        with pytest.raises(IndexError, match="index 7 is out of range"):
            layers[7]
        with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable, but got int"):
            layers.extend(3)


@pytest.mark.parametrize("build", [
    lambda lib: lib.nn.ModuleList([lib.nn.Linear(2, 2) for _ in range(3)] + [lib.nn.ReLU()]),
    lambda lib: lib.nn.ModuleList([lib.nn.Linear(2, 2)] + [lib.nn.ReLU()] * 2),
    lambda lib: lib.nn.ModuleList(),
    lambda lib: lib.nn.ModuleDict({"a": lib.nn.ReLU(), "b": lib.nn.Identity()}),
    lambda lib: lib.nn.ParameterList([lib.nn.Parameter(lib.ones(2, 3)), lib.ones(2)]),
    lambda lib: lib.nn.ParameterDict({"w": lib.nn.Parameter(lib.ones(2, 3))}),
    lambda lib: lib.nn.ParameterDict({"w": lib.ones(2, 3), "v": lib.zeros(1, dtype=lib.float64)}),
    lambda lib: lib.nn.Unflatten(1, (2, 3)),
    lambda lib: lib.nn.Sequential(lib.nn.Flatten(0, 1), lib.nn.Unflatten(0, (3, -1))),
])
def test_reprs_match_torch(build):
    ours, theirs = _both(build)
    _same_repr(ours, theirs)


def test_dict_containers_behave_like_torch():
    for lib in (symgrad, torch):
        heads = lib.nn.ModuleDict([("a", lib.nn.ReLU())])
        heads.update({"b": lib.nn.Identity()})
        heads["c"] = lib.nn.ReLU()
        assert list(heads) == list(heads.keys()) == ["a", "b", "c"] and "b" in heads and len(heads) == 3
        assert type(heads.pop("b")).__name__ == "Identity" and list(heads) == ["a", "c"]
        params = lib.nn.ParameterDict({"w": lib.ones(2)})
        params["v"] = lib.zeros(3)
        assert isinstance(params["v"], lib.nn.Parameter) and params["v"].requires_grad
        assert [n for n, _ in params.named_parameters()] == ["w", "v"]
        plist = lib.nn.ParameterList([lib.ones(1)])
        plist.append(lib.zeros(2))
        plist += [lib.zeros(3)]
        assert [tuple(p.shape) for p in plist] == [(1,), (2,), (3,)] and isinstance(plist[1], lib.nn.Parameter)
        with pytest.raises(ValueError, match="ModuleDict update sequence element #0 has length 1; 2 is required"):
            heads.update([("x",)])


def test_flatten_unflatten_values_and_gradients_match_torch():
    x = np.arange(24.0).reshape(2, 3, 4)
    for sizes in ((3, 4), (-1, 2), (2, 6)):
        dim = 1 if sizes != (2, 6) else 0
        xs = symgrad.tensor(x, requires_grad=True)
        xt = torch.tensor(x, requires_grad=True)
        flat_s = symgrad.nn.Flatten()(xs) if sizes != (2, 6) else symgrad.nn.Flatten(0, 1)(xs)
        flat_t = torch.nn.Flatten()(xt) if sizes != (2, 6) else torch.nn.Flatten(0, 1)(xt)
        if sizes == (2, 6):
            flat_s, flat_t = flat_s.reshape(12, 2), flat_t.reshape(12, 2)
            dim = 0
            sizes = (3, 4)
        ys, yt = symgrad.nn.Unflatten(dim, sizes)(flat_s), torch.nn.Unflatten(dim, sizes)(flat_t)
        assert tuple(ys.shape) == tuple(yt.shape)
        np.testing.assert_array_equal(ys.detach().numpy(), yt.detach().numpy())
        (ys * ys).sum().backward()
        (yt * yt).sum().backward()
        np.testing.assert_array_equal(xs.grad.numpy(), xt.grad.numpy())


def _with_grads(lib, dtype):
    rng = np.random.default_rng(1)
    params = [lib.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in ((3, 4), (5,), (2, 2))]
    grads = [rng.standard_normal(p.shape).astype(dtype) * 3 for p in params]
    for p, g in zip(params, grads):
        p.grad = lib.tensor(g)
    params.append(lib.tensor(np.ones(2, dtype=dtype), requires_grad=True))  # no grad: skipped
    return params


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("max_norm, norm_type", [(1.0, 2.0), (100.0, 2.0), (0.5, 1), (2.0, math.inf), (1.5, 3.0),
                                                 (1.0, 0.5)])
def test_clip_grad_norm_matches_torch(dtype, max_norm, norm_type):
    ours, theirs = _with_grads(symgrad, dtype), _with_grads(torch, dtype)
    total_s = symgrad.nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    assert total_s.dtype.name == str(total_t.dtype).split(".")[1]
    np.testing.assert_allclose(total_s.numpy(), total_t.numpy(), rtol=tol)
    for a, b in zip(ours[:3], theirs[:3]):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=tol)
    assert ours[3].grad is None


def test_clip_grad_norm_nonfinite_error_and_single_tensor():
    for lib in (symgrad, torch):
        p = lib.ones(3, requires_grad=True)
        p.grad = lib.tensor([1.0, float("inf"), 0.0])
        with pytest.raises(RuntimeError, match="The total norm of order 2.0 for gradients from `parameters` is "
                                               "non-finite, so it cannot be clipped"):
            lib.nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
        q = lib.ones(2, requires_grad=True)
        q.grad = lib.tensor([3.0, 4.0])
        assert float(lib.nn.utils.clip_grad_norm_(q, 1.0)) == pytest.approx(5.0)
        assert q.grad.numpy().tolist() == pytest.approx([0.6, 0.8], rel=1e-6)
        assert float(lib.nn.utils.clip_grad_norm_([lib.ones(1, requires_grad=True)], 1.0)) == 0.0


def test_clip_grad_value_matches_torch():
    ours, theirs = _with_grads(symgrad, np.float64), _with_grads(torch, np.float64)
    assert symgrad.nn.utils.clip_grad_value_(ours, 0.7) is None
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for a, b in zip(ours[:3], theirs[:3]):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_parameters_to_vector_and_back_match_torch():
    ours, theirs = _with_grads(symgrad, np.float64), _with_grads(torch, np.float64)
    vs, vt = symgrad.nn.utils.parameters_to_vector(ours), torch.nn.utils.parameters_to_vector(theirs)
    np.testing.assert_array_equal(vs.detach().numpy(), vt.detach().numpy())
    (vs * vs).sum().backward()  # differentiable, as torch
    (vt * vt).sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)
    new = np.arange(vs.numel(), dtype=np.float64)
    symgrad.nn.utils.vector_to_parameters(symgrad.tensor(new), ours)
    torch.nn.utils.vector_to_parameters(torch.tensor(new), theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    with pytest.raises(TypeError, match="expected symgrad.Tensor, but got: list"):
        symgrad.nn.utils.vector_to_parameters([1.0], ours)
