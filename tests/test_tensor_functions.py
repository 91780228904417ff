"""symgrad.torch_frontend.tensor_functions against torch: values, dtypes, gradients, grad_fn names, error texts.

Each case is a program over a library (`symgrad` or `torch`); it runs on both with the same float64
inputs, and its outputs, the gradient of a weighted sum of its float outputs, and the grad_fn names
of its outputs must agree."""

import numpy as np
import pytest

import symgrad

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4))
B3 = RNG.standard_normal((2, 3, 4))
V = RNG.standard_normal(5)


def idx(lib, values):
    return lib.tensor(values)


CASES = {
    "gather": lambda L, x: (x.gather(1, idx(L, [[0, 3], [1, 1], [2, 0]])), L.gather(x, 0, idx(L, [[2, 0, 1, 1]]))),
    "scatter": lambda L, x: (x.scatter(1, idx(L, [[3], [0], [2]]), x[:, :1] * 2),
                             x.scatter(0, idx(L, [[1, 0, 2, 1]]), 7.5)),
    "scatter_add": lambda L, x: (L.scatter_add(x, 1, idx(L, [[0, 0, 1], [3, 3, 3], [2, 1, 0]]), x[:, :3] ** 2),),
    "index_select": lambda L, x: (x.index_select(1, idx(L, [3, 0, 3])), L.index_select(x, 0, idx(L, [2]))),
    "masked_fill": lambda L, x: (x.masked_fill(x > 0.2, -1.0), x.masked_fill(x < 0, L.tensor(2.0, dtype=L.float64))),
    "where": lambda L, x: (L.where(x > 0, x, x * 3), x.where(x < 0.5, 0.25), *L.where(x > 0.5)),
    "sort": lambda L, x: (*x.sort(), *L.sort(x, dim=0, descending=True), x.argsort(dim=1, descending=True)),
    "topk": lambda L, x: (*x.topk(2), *L.topk(x, 1, dim=0, largest=False)),
    "chunk_split_unbind": lambda L, x: (*x.chunk(3, 1), *x.split(3, dim=1), *L.split(x, [1, 2]), *x.unbind(1)),
    "roll_flip": lambda L, x: (x.roll(1, 1), L.roll(x, (2, -1), (0, 1)), x.roll(5), x.flip(0), L.flip(x, (0, 1))),
    "cumsum_cumprod": lambda L, x: (x.cumprod(1), L.cumprod(x, dim=0), x.cumsum(0)),
    "einsum": lambda L, x: (L.einsum("ij,kj->ik", x, x), L.einsum("ij->j", [x]), L.einsum("ij,ij->", x, x)),
    "bmm_baddbmm": lambda L, x: (L.bmm(x.reshape(1, 3, 4), x.t().reshape(1, 4, 3)),
                                 L.baddbmm(x[:, :3].reshape(1, 3, 3), x.reshape(1, 3, 4), x.t().reshape(1, 4, 3),
                                           beta=0.5, alpha=2.0)),
    "addmm_outer": lambda L, x: (L.addmm(x[:, 0], x, x.t(), beta=2, alpha=0.5), x.addmm(x, x.t() @ x),
                                 L.outer(x[0], x[1]), x[0].outer(x[2, :2])),
    "norm": lambda L, x: (x.norm(), L.norm(x, dim=1), x.norm(p=1), x.norm(p=float("inf"), dim=0, keepdim=True),
                          x.norm(p=3, dim=(0, 1))),
    "clamp": lambda L, x: (x.clamp(-0.5, 0.5), L.clamp(x, min=0.1), x.clamp(max=L.tensor(0.0, dtype=L.float64))),
    "tril_triu": lambda L, x: (x.tril(), L.triu(x, 1), x.tril(-1), L.tril(x.reshape(1, 3, 4), 2)),
    "repeat_expand_tile": lambda L, x: (x.repeat(2, 1), x[0].repeat(2, 2), x[:1].expand(3, 4), L.tile(x, (2,)),
                                        x.tile((2, 1, 1))),
    "nonzero_unique": lambda L, x: (L.nonzero(x > 0), (x > 0).nonzero(as_tuple=True)[1],
                                    *L.unique(L.tensor([3, 1, 3, 2, 1]), return_inverse=True, return_counts=True),
                                    L.unique((x > 0).long())),
    "masked_select_take": lambda L, x: (x.masked_select(x > 0), L.masked_select(x, L.tensor([True, False, True, True])),
                                        x.take(idx(L, [0, 5, 11])), L.take_along_dim(x, idx(L, [[3], [0], [1]]), 1),
                                        L.take_along_dim(x, idx(L, [2, 7]))),
    "narrow_diagonal": lambda L, x: (x.narrow(1, 1, 2), L.narrow(x, 0, -2, 2), x.diagonal(), L.diagonal(x, 1),
                                     x[0].diag(), L.diag(x, -1), x[:, :3].trace()),
    "axes_stack": lambda L, x: (x.movedim(0, 1), L.moveaxis(x.reshape(3, 2, 2), (0, 1), (2, 0)), x.swapaxes(0, 1),
                                L.swapdims(x, 1, 0), L.broadcast_to(x[0], (2, 4)), L.hstack([x, x]),
                                L.vstack((x, x[:1])), L.fliplr(x), x.flipud(), L.diff(x), x.diff(dim=0)),
    "index_add_fill": lambda L, x: (x.index_add(0, idx(L, [2, 2]), x[:2] * 2),
                                    L.index_add(x, 1, idx(L, [0, 3]), x[:, :2], alpha=-1.5),
                                    x.index_fill(1, idx(L, [0, 2]), -2.0)),
    "fused_arithmetic": lambda L, x: (L.lerp(x, x * 2 + 1, 0.3), x.lerp(x.exp(), x.sigmoid()),
                                      L.addcmul(x, x, x.cos(), value=2), x.addcdiv(x, x * x + 1, value=-0.5),
                                      L.logaddexp(x, x[0])),
    "linalg": lambda L, x: (L.det(x[:, :3] + 2 * L.eye(3, dtype=L.float64)),
                            (x[:, :3] + 3 * L.eye(3, dtype=L.float64)).inverse(),
                            *L.slogdet(x[:, :3]), (x[:, :3] @ x[:, :3].t() + L.eye(3, dtype=L.float64)).logdet(),
                            L.tensordot(x, x, ([1], [1])), L.inner(x, x), L.kron(x[:2, :2], x[:1])),
    "count_nonzero": lambda L, x: (L.count_nonzero(x > 0), (x > 0.3).count_nonzero(dim=1)),
}


def _run(lib, case, data):
    x = lib.tensor(data, dtype=lib.float64, requires_grad=True)
    outs = CASES[case](lib, x)
    floats = [o for o in outs if o.dtype.is_floating_point and o.requires_grad]
    grad = None
    if floats:
        weights = [np.linspace(0.5, 1.5, o.numel()).reshape(tuple(o.shape)) for o in floats]
        total = sum((o * lib.tensor(w, dtype=lib.float64)).sum() for o, w in zip(floats, weights))
        total.backward()
        grad = x.grad.numpy().copy()
    names = [o.grad_fn.name() if o.grad_fn is not None else None for o in outs]
    return [(o.detach().numpy().copy(), str(o.dtype).split(".")[-1]) for o in outs], grad, names


@pytest.mark.parametrize("case", sorted(CASES))
def test_against_torch(case):
    ours, theirs = _run(symgrad, case, A), _run(torch, case, A)
    assert len(ours[0]) == len(theirs[0])
    for (value, dtype), (expected, expected_dtype) in zip(ours[0], theirs[0]):
        assert dtype == expected_dtype
        assert value.shape == expected.shape
        np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-12)
    if theirs[1] is None:
        assert ours[1] is None
    else:
        np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-10, atol=1e-12)
    if case not in NAMES_DIFFER:
        assert ours[2] == theirs[2]


# torch's einsum result carries the grad_fn of whatever its contraction path ends with (View, Sum, Bmm...)
NAMES_DIFFER = {"einsum", "axes_stack", "linalg"}  # diff (torch: SubBackward0 of narrowed views); tensordot,
# inner, kron (torch: View/UnsafeView of its own contraction)


def test_float32_results_keep_float32():
    x = symgrad.tensor(A, dtype=symgrad.float32)
    for result in (x.gather(1, symgrad.tensor([[0], [1], [2]])), x.masked_fill(x > 0, 1), x.cumprod(0),
                   x.norm(), x.sort().values, x.roll(1, 0), x.tril(), x.repeat(1, 2)):
        assert result.dtype == symgrad.float32


@pytest.mark.parametrize("call, error, message", [
    (lambda L, x: x.gather(1, L.tensor([0, 1])), RuntimeError,
     "Index tensor must have the same number of dimensions as input tensor"),
    (lambda L, x: x.index_select(0, L.tensor([[0]])), IndexError, "index_select(): Index is supposed to be a vector"),
    (lambda L, x: x.sum(3), IndexError, "Dimension out of range (expected to be in range of [-2, 1], but got 3)"),
    (lambda L, x: x.topk(5), RuntimeError, "selected index k out of range"),
    (lambda L, x: x.split([1, 1]), RuntimeError, "split_with_sizes expects split_sizes to sum exactly to 3"),
    (lambda L, x: x.repeat(2), RuntimeError, "Number of dimensions of repeat dims can not be smaller than number"),
    (lambda L, x: L.bmm(x, x), RuntimeError, "batch1 must be a 3D tensor"),
    (lambda L, x: L.addmm(x[0], x, x), RuntimeError, "mat1 and mat2 shapes cannot be multiplied (3x4 and 3x4)"),
    (lambda L, x: x.masked_fill(x, 0.0), RuntimeError, "masked_fill_ only supports boolean masks"),
    (lambda L, x: x.roll((1, 2), 0), RuntimeError, "shifts and dimensions must align"),
    (lambda L, x: x.narrow(1, 2, 3), RuntimeError, "start (2) + length (3) exceeds dimension size (4)."),
    (lambda L, x: L.det(x), RuntimeError, "linalg.det: A must be batches of square matrices, but they are 3 by 4"),
    (lambda L, x: x.masked_select(x), RuntimeError, "masked_select: expected BoolTensor for mask"),
])
def test_errors_as_torch(call, error, message):
    for lib in (torch, symgrad):
        x = lib.tensor(A)
        with pytest.raises(error) as info:
            call(lib, x)
        assert message in str(info.value), (lib.__name__, str(info.value))


def test_in_place_variants_match_torch():
    results = []
    for lib in (symgrad, torch):
        x = lib.tensor(A, dtype=lib.float64)
        x.masked_fill_(x > 0.5, 0.0)
        x.scatter_add_(0, lib.tensor([[2, 2, 0, 1]]), lib.ones(1, 4, dtype=lib.float64))
        x.triu_()
        results.append(x.numpy().copy())
    np.testing.assert_array_equal(*results)


def test_gradients_through_sort_and_gather_are_second_order_differentiable():
    outs = []
    for lib in (symgrad, torch):
        x = lib.tensor(V, dtype=lib.float64, requires_grad=True)
        y = (x.sort(descending=True).values[:3] ** 3).sum() + (x.gather(0, lib.tensor([4, 4, 1])) ** 2).sum()
        g, = lib.autograd.grad(y, x, create_graph=True)
        h, = lib.autograd.grad((g * g).sum(), x)
        outs.append((g.detach().numpy().copy(), h.numpy().copy()))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-12)
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-12)


def test_out_argument_as_torch():
    results = []
    for lib in (symgrad, torch):
        a, b = lib.tensor(A[0]), lib.tensor(A[1])
        out = lib.empty(4)
        returned = lib.add(a, b, out=out)
        grown = lib.empty(0)
        lib.mul(a, b, out=grown)
        results.append((returned is out, out.numpy().copy(), grown.numpy().copy()))
        with pytest.raises(RuntimeError, match=r"add\(\): functions with out=\.\.\. arguments don't support "
                                               "automatic differentiation"):
            lib.add(a.requires_grad_(), b, out=lib.empty(4))
    assert results[0][0] and results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_array_equal(results[0][2], results[1][2])


def test_new_factories_as_torch():
    for lib in (symgrad, torch):
        x = lib.tensor([1.5, 2.0], dtype=lib.float64)
        made = [x.new_ones(2, 3), x.new_zeros((1, 2)), x.new_full((2,), 7), x.new_tensor([1, 2]),
                x.new_ones(2, dtype=lib.int64)]
        assert [str(m.dtype).split(".")[-1] for m in made] == ["float64"] * 4 + ["int64"]
        assert [tuple(m.shape) for m in made] == [(2, 3), (1, 2), (2,), (2,), (2,)]
        assert made[2].tolist() == [7.0, 7.0]
