"""Whole NumPy functions differentiated by symgrad, checked against torch.autograd on the same code.

Each case is one ordinary NumPy function and its line-for-line PyTorch translation. The helper runs
`symgrad.value_and_grad` over every floating-point argument and compares value and gradients with
`torch.autograd.grad` in float64 (dtype included). Constants (labels, masks, weights) are closed over.
"""

import math

import numpy as np
import pytest

import symgrad

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL, ATOL = 1e-10, 1e-12
_rng = np.random.default_rng(20240611)


def R(*shape, low=-1.0, high=1.0, dtype=np.float64):
    return _rng.uniform(low, high, size=shape).astype(dtype)


def T(a):
    """A constant as a torch tensor."""
    return torch.from_numpy(np.array(a))


def _close(actual, expected, rtol, atol, what):
    expected = expected.detach().numpy()
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != torch {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != torch {expected.dtype}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def check(np_fn, torch_fn, *args, rtol=RTOL, atol=ATOL):
    """symgrad's value and gradients (w.r.t. every argument) equal torch.autograd's."""
    argnums = tuple(range(len(args)))
    value, grads = symgrad.value_and_grad(np_fn, argnums=argnums)(*args)
    targs = [torch.tensor(a, requires_grad=True) for a in args]
    out = torch_fn(*targs)
    expected = torch.autograd.grad(out, targs, allow_unused=True)
    _close(value, out, rtol, atol, "value")
    for i, (g, e) in enumerate(zip(grads, expected)):
        e = torch.zeros_like(targs[i]) if e is None else e
        _close(g, e, rtol, atol, f"gradient of argument {i}")


CASES = []


def case(name, np_fn, torch_fn, *args, **tol):
    CASES.append(pytest.param(np_fn, torch_fn, args, tol, id=name))


# ----------------------------------------------------------------------------- models
_target = R(6, 2)
case("mlp_tanh_2layer",
     lambda W1, b1, W2, b2, x: np.mean((np.tanh(x @ W1 + b1) @ W2 + b2 - _target) ** 2),
     lambda W1, b1, W2, b2, x: ((torch.tanh(x @ W1 + b1) @ W2 + b2 - T(_target)) ** 2).mean(),
     R(3, 5), R(5), R(5, 2), R(2), R(6, 3))


def _mlp3(W1, b1, W2, b2, W3, b3, x):
    h = np.maximum(x @ W1 + b1, 0)
    h = np.tanh(h @ W2 + b2)
    return np.sum((h @ W3 + b3 - _target) ** 2) / x.shape[0]


case("mlp_relu_tanh_3layer", _mlp3,
     lambda W1, b1, W2, b2, W3, b3, x: ((torch.tanh(torch.relu(x @ W1 + b1) @ W2 + b2) @ W3 + b3
                                         - T(_target)) ** 2).sum() / x.shape[0],
     R(3, 7), R(1, 7), R(7, 5), R(5), R(5, 2), R(2), R(6, 3))

_lse_w = R(4)


def _logsumexp(x):
    m = np.max(x, axis=1, keepdims=True)
    lse = np.log(np.sum(np.exp(x - m), axis=1)) + m[:, 0]
    return np.sum(lse * _lse_w)


case("logsumexp_stable", _logsumexp, lambda x: (torch.logsumexp(x, 1) * T(_lse_w)).sum(),
     R(4, 6, low=700, high=760))

_labels = np.array([2, 0, 3, 3, 1])


def _cross_entropy(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    n = logits.shape[0]
    return -np.mean(np.log(p[np.arange(n), _labels]))


case("softmax_cross_entropy", _cross_entropy, lambda z: F.cross_entropy(z, T(_labels)), R(5, 4, low=-3, high=3))


def _attention(q, k, v):
    d = q.shape[-1]
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    a = np.exp(s - s.max(axis=-1, keepdims=True))
    a = a / a.sum(axis=-1, keepdims=True)
    return np.sum((a @ v) ** 2)


case("attention", _attention,
     lambda q, k, v: ((F.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), -1) @ v) ** 2).sum(),
     R(2, 4, 3), R(2, 5, 3), R(2, 5, 2))

_ln_c = R(3, 6)


def _layer_norm(x, g, b):
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return np.sum(((x - mu) / np.sqrt(var + 1e-5) * g + b) * _ln_c)


case("layer_norm", _layer_norm,
     lambda x, g, b: (F.layer_norm(x, (6,), g, b, eps=1e-5) * T(_ln_c)).sum(),
     R(3, 6), R(6), R(6))

# ----------------------------------------------------------------------------- indexing
_c_slice = R(3, 3)
case("slice_step", lambda x: np.sum(np.sin(x[1:, ::2]) * _c_slice),
     lambda x: (torch.sin(x[1:, ::2]) * T(_c_slice)).sum(), R(4, 5))
_neg_cols = np.arange(6)[-2::-2]
case("slice_negative_steps", lambda x: np.sum(x[::-1, -2::-2] ** 3 * _c_slice),
     lambda x: (torch.flip(x, [0])[:, T(_neg_cols)] ** 3 * T(_c_slice)).sum(), R(3, 6))
case("newaxis_ellipsis", lambda x, y: np.sum(np.exp(x[None, ..., 1] * y[:, None, None])) + np.sum(x[..., None, :2] ** 2),
     lambda x, y: torch.exp(x[None, ..., 1] * y[:, None, None]).sum() + (x[..., None, :2] ** 2).sum(),
     R(2, 3, 4), R(5))
_mask = R(4, 5) > 0.1
case("boolean_mask_constant", lambda x: np.sum(x[_mask] ** 3) + np.sum(np.where(_mask, x, -2 * x) ** 2),
     lambda x: (x[T(_mask)] ** 3).sum() + (torch.where(T(_mask), x, -2 * x) ** 2).sum(), R(4, 5))
_rows, _cols = np.array([0, 2, 2, 1]), np.array([1, 1, 1, 3])
case("fancy_index_repeated", lambda x: np.sum(x[_rows, _cols] * np.arange(1.0, 5.0)) + np.sum(x[[2, 0]] ** 2),
     lambda x: (x[T(_rows), T(_cols)] * torch.arange(1.0, 5.0, dtype=torch.float64)).sum()
     + (x[[2, 0]] ** 2).sum(), R(3, 4))

# ----------------------------------------------------------------------------- reductions
_red_c = R(4)
case("sum_mean_prod_axes",
     lambda x: np.sum(x.sum(axis=0) ** 2) + np.sum(np.mean(x, axis=(0, 2), keepdims=True) * 3)
     + np.sum(np.prod(x, axis=1)) + np.prod(x[0, 0]) + x.mean(),
     lambda x: (x.sum(0) ** 2).sum() + (x.mean((0, 2), keepdim=True) * 3).sum()
     + x.prod(1).sum() + x[0, 0].prod() + x.mean(),
     R(2, 3, 4, low=0.5, high=1.5))
_prod_x = R(3, 4)
_prod_x[0, 1] = 0.0
_prod_x[2, 0] = _prod_x[2, 3] = 0.0
case("prod_with_zeros", lambda x: np.sum(np.prod(x, axis=1) * np.array([1.0, 2.0, 3.0])) + np.sum(x.prod(0)),
     lambda x: (x.prod(1) * T([1.0, 2.0, 3.0])).sum() + x.prod(0).sum(), _prod_x)
_ties = _rng.integers(0, 3, size=(4, 5)).astype(np.float64)
case("max_min_ties",
     lambda x: np.sum(x.max(axis=1) * _red_c) + np.sum(np.min(x, axis=0, keepdims=True) ** 2) + np.max(x) + x.min(),
     lambda x: (torch.amax(x, 1) * T(_red_c)).sum() + (torch.amin(x, 0, keepdim=True) ** 2).sum()
     + torch.amax(x) + torch.amin(x),
     _ties)
case("var_std_ddof",
     lambda x: np.sum(np.var(x, axis=0, ddof=1) * _red_c) + np.sum(np.std(x, axis=1, keepdims=True))
     + np.std(x, ddof=1) + x.var(),
     lambda x: (torch.var(x, 0, correction=1) * T(_red_c)).sum() + torch.std(x, 1, correction=0, keepdim=True).sum()
     + torch.std(x, correction=1) + torch.var(x, correction=0),
     R(5, 4))
case("linalg_norm",
     lambda x, v: np.linalg.norm(x) + np.sum(np.linalg.norm(x, axis=1) * np.arange(3.0))
     + np.linalg.norm(v, ord=1) + np.linalg.norm(v, ord=np.inf) + np.linalg.norm(v),
     lambda x, v: torch.linalg.norm(x) + (torch.linalg.vector_norm(x, dim=1) * torch.arange(3.0, dtype=torch.float64)).sum()
     + torch.linalg.vector_norm(v, 1) + torch.linalg.vector_norm(v, math.inf) + torch.linalg.vector_norm(v),
     R(3, 4), np.array([0.3, -1.7, 0.9, -0.2]))
_cs_c = R(12)
case("cumsum", lambda x: np.sum(np.cumsum(x, axis=1) ** 2) + np.sum(np.cumsum(x) * _cs_c) + np.sum(x.cumsum(0) ** 3),
     lambda x: (torch.cumsum(x, 1) ** 2).sum() + (torch.cumsum(x.reshape(-1), 0) * T(_cs_c)).sum()
     + (torch.cumsum(x, 0) ** 3).sum(), R(3, 4))

# ----------------------------------------------------------------------------- shapes
_cat_c = R(1, 8, 2)


def _cat_stack_split(x, y):
    a, b, c = np.split(x, 3, axis=0)
    p, q = np.split(y, [1], axis=1)
    z = np.concatenate([c, a * 2, q], axis=1)
    return np.sum(np.stack([z, np.sin(z)], axis=-1) ** 2 * _cat_c) + np.sum(b * p)


def _cat_stack_split_t(x, y):
    a, b, c = torch.chunk(x, 3, 0)
    p, q = torch.tensor_split(y, [1], dim=1)
    z = torch.cat([c, a * 2, q], 1)
    return (torch.stack([z, torch.sin(z)], -1) ** 2 * T(_cat_c)).sum() + (b * p).sum()


case("concatenate_stack_split", _cat_stack_split, _cat_stack_split_t, R(3, 3), R(1, 3))
_pad_c = R(6, 7)
case("pad", lambda x: np.sum(np.pad(np.tanh(x), ((1, 2), (0, 3))) * _pad_c),
     lambda x: (F.pad(torch.tanh(x), (0, 3, 1, 2)) * T(_pad_c)).sum(), R(3, 4))
case("einsum",
     lambda a, b, v: np.sum(np.einsum("bij,bjk->bik", a, b) ** 2) + np.sum(np.einsum("...ij,j->...i", a, v) ** 3)
     + np.einsum("bij,bij->", a, a),
     lambda a, b, v: (torch.einsum("bij,bjk->bik", a, b) ** 2).sum() + (torch.einsum("...ij,j->...i", a, v) ** 3).sum()
     + torch.einsum("bij,bij->", a, a),
     R(2, 3, 4), R(2, 4, 5), R(4))
case("tensordot",
     lambda a, b, m: np.sum(np.tensordot(a, b, axes=([1, 2], [0, 1])) ** 2) + np.sum(np.tensordot(a, m, axes=1)),
     lambda a, b, m: (torch.tensordot(a, b, dims=([1, 2], [0, 1])) ** 2).sum() + torch.tensordot(a, m, dims=1).sum(),
     R(2, 3, 4), R(3, 4, 5), R(4, 2))
case("outer_trace", lambda u, v, x: np.sum(np.outer(u, v) ** 2) + np.trace(x @ x) + np.trace(x, offset=1),
     lambda u, v, x: (torch.outer(u, v) ** 2).sum() + torch.trace(x @ x) + torch.diagonal(x, offset=1).sum(),
     R(3), R(4), R(4, 4))
case("triu_tril", lambda x: np.sum(np.triu(x, 1) ** 2) + np.sum(np.tril(np.exp(x), -1)) + np.sum(np.triu(x) * 2),
     lambda x: (torch.triu(x, 1) ** 2).sum() + torch.tril(torch.exp(x), -1).sum() + (torch.triu(x) * 2).sum(),
     R(4, 5))
_fr_c = R(3, 4)
case("flip_roll", lambda x: np.sum((np.flip(x, axis=0) + np.roll(x, 2, axis=1) + np.roll(x, -1)) ** 2 * _fr_c),
     lambda x: ((torch.flip(x, [0]) + torch.roll(x, 2, 1) + torch.roll(x, -1)) ** 2 * T(_fr_c)).sum(), R(3, 4))
_rep = np.array([1, 2, 0])
case("tile_repeat",
     lambda x: np.sum(np.tile(x, (2, 1, 3)) ** 2 * np.arange(72.0).reshape(2, 3, 12))
     + np.sum(np.repeat(x, 3, axis=1) ** 3) + np.sum(np.repeat(x, _rep, axis=0) * 2) + np.sum(x.repeat(2) ** 2),
     lambda x: (x.repeat(2, 1, 3) ** 2 * torch.arange(72.0, dtype=torch.float64).reshape(2, 3, 12)).sum()
     + (torch.repeat_interleave(x, 3, 1) ** 3).sum() + (torch.repeat_interleave(x, T(_rep), 0) * 2).sum()
     + (torch.repeat_interleave(x.reshape(-1), 2) ** 2).sum(),
     R(3, 4))
case("diff", lambda x: np.sum(np.diff(x, axis=0) ** 2) + np.sum(np.diff(x, n=2) ** 3),
     lambda x: (torch.diff(x, dim=0) ** 2).sum() + (torch.diff(x, n=2, dim=-1) ** 3).sum(), R(4, 5))
_sort_c = R(3, 5)
case("sort", lambda x: np.sum(np.sort(x, axis=1) * _sort_c) + np.sum(np.sort(x, axis=0)[0] ** 2),
     lambda x: (torch.sort(x, 1).values * T(_sort_c)).sum() + (torch.sort(x, 0).values[0] ** 2).sum(), R(3, 5))
case("reshape_transpose_broadcast",
     lambda x, b: np.sum((x.reshape(2, 6).T + b[:, None]) ** 2 * np.arange(12.0).reshape(6, 2))
     + np.sum(np.transpose(x, (2, 0, 1)) * np.exp(np.squeeze(np.expand_dims(b[:2], 0)))[:, None, None]),
     lambda x, b: ((x.reshape(2, 6).T + b[:, None]) ** 2 * torch.arange(12.0, dtype=torch.float64).reshape(6, 2)).sum()
     + (x.permute(2, 0, 1) * torch.exp(b[:2])[:, None, None]).sum(),
     R(2, 3, 2), R(6))

# ----------------------------------------------------------------------------- elementwise and kinks
_tie_x = np.array([[-1.0, 0.0, 0.5, 2.0], [0.3, -0.5, 1.0, -2.0]])
_tie_y = np.array([[-1.0, 1.0, 0.5, 1.0], [0.3, 0.0, -1.0, -2.0]])
case("where_clip_maximum_ties",
     lambda x, y: np.sum(np.maximum(x, y) * 2 + np.minimum(x, y) ** 2) + np.sum(np.clip(x, -0.5, 0.5) * np.arange(8.0).reshape(2, 4))
     + np.sum(np.where(x > 0, x ** 2, -y)),
     lambda x, y: (torch.maximum(x, y) * 2 + torch.minimum(x, y) ** 2).sum()
     + (torch.clamp(x, -0.5, 0.5) * torch.arange(8.0, dtype=torch.float64).reshape(2, 4)).sum()
     + torch.where(x > 0, x ** 2, -y).sum(),
     _tie_x, _tie_y)
_kink = np.array([-1.5, -0.0, 0.0, 0.7, 0.0, 2.0])
case("abs_relu_at_zero",
     lambda x: np.sum(np.abs(x) * np.arange(1.0, 7.0)) + np.sum(x * (x > 0) * 3) + np.sum(np.where(x > 0, x, 0) ** 2)
     + np.sum(np.maximum(x, 0) * 5),
     lambda x: (torch.abs(x) * torch.arange(1.0, 7.0, dtype=torch.float64)).sum() + (torch.relu(x) * 3).sum()
     + (torch.relu(x) ** 2).sum() + (torch.maximum(x, torch.zeros((), dtype=torch.float64)) * 5).sum(),
     _kink)
case("pow_float_exponents",
     lambda x, y: np.sum(x ** 2.5 + np.power(x, -0.5) + 2.0 ** y + x ** y + np.sqrt(x) + y ** 3 + np.float64(1.5) ** x),
     lambda x, y: (x ** 2.5 + x ** -0.5 + 2.0 ** y + x ** y + torch.sqrt(x) + y ** 3 + 1.5 ** x).sum(),
     R(5, low=0.3, high=2.0), R(5, low=-2, high=2))
case("arctan2", lambda y, x: np.sum(np.arctan2(y, x) * np.arange(1.0, 7.0)),
     lambda y, x: (torch.atan2(y, x) * torch.arange(1.0, 7.0, dtype=torch.float64)).sum(),
     R(6), np.array([0.5, -0.3, 1.2, -2.0, 0.1, 0.8]))
case("logaddexp_softplus",
     lambda x, y: np.sum(np.logaddexp(x, y) ** 2) + np.sum(np.logaddexp(0, x)) + np.sum(np.log1p(np.exp(y)) * 2),
     lambda x, y: (torch.logaddexp(x, y) ** 2).sum() + F.softplus(x).sum() + (F.softplus(y) * 2).sum(),
     R(6, low=-4, high=4), R(6, low=-4, high=4))
case("sigmoid_tanh_sin", lambda x: np.sum(1 / (1 + np.exp(-x)) * np.tanh(x) + np.sin(x) * np.cos(2 * x)),
     lambda x: (torch.sigmoid(x) * torch.tanh(x) + torch.sin(x) * torch.cos(2 * x)).sum(), R(7, low=-3, high=3))
case("expm1_log1p_log_exp", lambda x: np.sum(np.expm1(x) * np.log1p(x ** 2) + np.log(np.exp(x) + 1.5) / x),
     lambda x: (torch.expm1(x) * torch.log1p(x ** 2) + torch.log(torch.exp(x) + 1.5) / x).sum(),
     R(6, low=0.2, high=2))
case("matmul_batch_broadcast_1d",
     lambda a, b, v, w: np.sum((a @ b) ** 2) + np.sum(v @ b) + np.sum((a @ w) ** 3) + v @ w + np.sum(np.matmul(b, w)),
     lambda a, b, v, w: ((a @ b) ** 2).sum() + (v @ b).sum() + ((a @ w) ** 3).sum() + v @ w + torch.matmul(b, w).sum(),
     R(2, 1, 3, 4), R(3, 4, 4), R(4), R(4))
case("mlp_float32",
     lambda W, b, x: np.mean(np.tanh(x @ W + b) ** 2) + np.sum(1 / (1 + np.exp(-W))) * np.float32(0.5),
     lambda W, b, x: (torch.tanh(x @ W + b) ** 2).mean() + torch.sigmoid(W).sum() * 0.5,
     R(3, 4, dtype=np.float32), R(4, dtype=np.float32), R(5, 3, dtype=np.float32), rtol=2e-5, atol=1e-6)



def _setitem(x):
    y = x.copy()
    y[0, :] = 0.0
    y[1:, 1] = np.tanh(x[1:, 0])
    y[2] *= 3.0
    return np.sum(y**2 * np.arange(12.0).reshape(3, 4))


def _setitem_t(x):
    y = x.clone()
    y[0, :] = 0.0
    y[1:, 1] = torch.tanh(x[1:, 0])
    y[2] *= 3.0
    return (y**2 * torch.arange(12.0, dtype=torch.float64).reshape(3, 4)).sum()


case("setitem_functional", _setitem, _setitem_t, R(3, 4))


def _augmented(a):
    y = a * 1
    y += 2
    y *= a
    y[1] -= 5 * a[0]
    return np.sum(y**2 * a ** np.array([1, 2, 3, 4]) / np.array([1, 2, 3, 4]))


def _augmented_t(a):
    y = ((a * 1) + 2) * a
    y = torch.cat([y[:1], y[1:2] - 5 * a[0], y[2:]])
    return (y**2 * a ** T([1, 2, 3, 4]) / T([1, 2, 3, 4])).sum()


case("augmented_assignment_int_arrays", _augmented, _augmented_t, R(4))
case("dot_inner_vdot_T",
     lambda a, b, u: np.sum(np.dot(a, b) ** 2) + np.inner(u, u * 2) + np.vdot(a, a) + np.sum(a.T @ a),
     lambda a, b, u: ((a @ b) ** 2).sum() + torch.inner(u, u * 2) + torch.vdot(a.reshape(-1), a.reshape(-1))
     + (a.T @ a).sum(),
     R(3, 4), R(4, 2), R(5))
case("hstack_vstack_average",
     lambda a, b: np.sum(np.hstack([a, b, a]) ** 2 * np.arange(9.0)) + np.sum(np.vstack([a, b]) * 2)
     + np.average(a, weights=np.array([1.0, 2.0, 5.0])),
     lambda a, b: (torch.hstack([a, b, a]) ** 2 * torch.arange(9.0, dtype=torch.float64)).sum()
     + (torch.vstack([a, b]) * 2).sum() + (a * T([1.0, 2.0, 5.0])).sum() / 8.0,
     R(3), R(3))
case("argmax_gather", lambda x: np.sum(x[np.arange(4), np.argmax(x, axis=1)] ** 2)
     + np.sum(np.take_along_axis(x, np.argmin(x, axis=0)[None], axis=0)),
     lambda x: (x.gather(1, x.argmax(1, keepdim=True)) ** 2).sum() + x.gather(0, x.argmin(0, keepdim=True)).sum(),
     R(4, 5))

# ----------------------------------------------------------------------------- linear algebra and friends
_SPD = R(4, 4) + 4 * np.eye(4)  # well conditioned
case("linalg_inv", lambda a: np.sum(np.linalg.inv(a) ** 2), lambda a: (torch.linalg.inv(a) ** 2).sum(), _SPD)
case("linalg_solve_vector_and_matrix",
     lambda a, b, c: np.sum(np.linalg.solve(a, b) ** 2) + np.sum(np.linalg.solve(a, c)),
     lambda a, b, c: (torch.linalg.solve(a, b) ** 2).sum() + torch.linalg.solve(a, c).sum(),
     _SPD, R(4), R(4, 3))
case("linalg_det_slogdet_batched",
     lambda a: np.sum(np.linalg.det(a)) + np.sum(np.linalg.slogdet(a)[1]),
     lambda a: torch.linalg.det(a).sum() + torch.linalg.slogdet(a)[1].sum(),
     np.stack([_SPD, _SPD.T + np.eye(4)]))
case("matrix_power", lambda a: np.sum(np.linalg.matrix_power(a, 3)) + np.sum(np.linalg.matrix_power(a, -1)),
     lambda a: torch.linalg.matrix_power(a, 3).sum() + torch.linalg.matrix_power(a, -1).sum(), _SPD / 4)
case("diag_both_ways", lambda v, m: np.sum(np.diag(v, 1) @ m[:5, :5]) + np.sum(np.diag(m, -1) ** 2),
     lambda v, m: (torch.diag(v, 1) @ m[:5, :5]).sum() + (torch.diag(m, -1) ** 2).sum(), R(4), R(6, 6))
case("einsum_repeated_indices", lambda a, x: np.einsum("ii->", a) * np.einsum("ij,jj->i", x, a).sum(),
     lambda a, x: torch.einsum("ii->", a) * torch.einsum("ij,jj->i", x, a).sum(), R(4, 4), R(3, 4))
case("kron_sinc", lambda a, b: np.sum(np.kron(a, b) ** 2) + np.sum(np.sinc(a)),
     lambda a, b: (torch.kron(a, b) ** 2).sum() + torch.sinc(a).sum(), R(2, 3), R(3, 2))

try:  # a SciPy ufunc is dispatched like a NumPy one
    from scipy.special import erf as _erf
    from scipy.special import expit as _expit

    case("scipy_erf_expit", lambda x: np.sum(_erf(x) * x) + np.sum(_expit(x) ** 2),
         lambda x: (torch.erf(x) * x).sum() + (torch.sigmoid(x) ** 2).sum(), R(6, low=-2, high=2))
except ImportError:  # pragma: no cover
    pass


@pytest.mark.parametrize("np_fn, torch_fn, args, tol", CASES)
def test_matches_torch(np_fn, torch_fn, args, tol):
    check(np_fn, torch_fn, *args, **tol)


def test_case_count():
    assert len(CASES) >= 30


# ----------------------------------------------------------------------------- API-shaped cases
def test_tutorial_polynomial_vjp():
    a, b = np.array([2.0, 3.0]), np.array([6.0, 4.0])
    out, vjp_fn = symgrad.vjp(lambda a, b: 3 * a**3 - b**2, a, b)
    ct = np.array([1.0, -2.0])
    da, db = vjp_fn(ct)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    q = 3 * ta**3 - tb**2
    q.backward(gradient=torch.tensor(ct))
    _close(out, q, RTOL, ATOL, "Q")
    _close(da, ta.grad, RTOL, ATOL, "dQ/da")
    _close(db, tb.grad, RTOL, ATOL, "dQ/db")
    np.testing.assert_allclose(da, 9 * a**2 * ct)
    np.testing.assert_allclose(db, -2 * b * ct)


def test_float32_gradients_stay_float32():
    W, x = R(3, 2, dtype=np.float32), R(4, 3, dtype=np.float32)
    dW, dx = symgrad.grad(lambda W, x: np.sum(np.tanh(x @ W) ** 2), argnums=(0, 1))(W, x)
    assert dW.dtype == np.float32 and dx.dtype == np.float32
    tW, tx = torch.tensor(W, requires_grad=True), torch.tensor(x, requires_grad=True)
    (torch.tanh(tx @ tW) ** 2).sum().backward()
    np.testing.assert_allclose(dW, tW.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_pytree_dict_params():
    params = {"W1": R(3, 4), "b1": R(4), "out": {"W": R(4, 1), "b": R(1)}}
    x, y = R(5, 3), R(5, 1)

    def loss(p, x):
        h = np.tanh(x @ p["W1"] + p["b1"])
        return np.mean((h @ p["out"]["W"] + p["out"]["b"] - y) ** 2)

    grads = symgrad.grad(loss)(params, x)
    assert set(grads) == {"W1", "b1", "out"} and set(grads["out"]) == {"W", "b"}
    tp = {k: torch.tensor(params[k], requires_grad=True) for k in ("W1", "b1")}
    tp["out"] = {k: torch.tensor(params["out"][k], requires_grad=True) for k in ("W", "b")}
    tx = torch.tensor(x)
    h = torch.tanh(tx @ tp["W1"] + tp["b1"])
    ((h @ tp["out"]["W"] + tp["out"]["b"] - T(y)) ** 2).mean().backward()
    for k in ("W1", "b1"):
        _close(grads[k], tp[k].grad, RTOL, ATOL, k)
    for k in ("W", "b"):
        _close(grads["out"][k], tp["out"][k].grad, RTOL, ATOL, "out." + k)


def test_has_aux():
    w, x = R(3), R(4, 3)

    def f(w, x):
        pred = np.tanh(x @ w)
        return np.sum(pred**2), {"pred": pred, "n": 4}

    (value, aux), dw = symgrad.value_and_grad(f, has_aux=True)(w, x)
    dw2, aux2 = symgrad.grad(f, has_aux=True)(w, x)
    tw = torch.tensor(w, requires_grad=True)
    tpred = torch.tanh(torch.tensor(x) @ tw)
    tval = (tpred**2).sum()
    tval.backward()
    _close(value, tval, RTOL, ATOL, "value")
    _close(dw, tw.grad, RTOL, ATOL, "dw")
    _close(dw2, tw.grad, RTOL, ATOL, "dw (grad)")
    np.testing.assert_allclose(aux["pred"], tpred.detach().numpy(), rtol=RTOL)
    np.testing.assert_allclose(aux2["pred"], tpred.detach().numpy(), rtol=RTOL)
    assert aux["n"] == 4 and aux2["n"] == 4


def test_control_flow_guard_retraces():
    def f(x):
        if np.sum(x) > 0:
            return np.sum(x**2)
        return np.sum(np.sin(x) * 3)

    def f_t(x):
        return (x**2).sum() if x.sum() > 0 else (torch.sin(x) * 3).sum()

    g = symgrad.value_and_grad(f)
    pos, neg = np.array([0.5, 1.0, -0.2]), np.array([-0.5, 1.0, -0.9])
    for x in (pos, neg, pos, neg * 2, pos * 3):  # the branch flips between calls of one signature
        value, dx = g(x)
        tx = torch.tensor(x, requires_grad=True)
        out = f_t(tx)
        out.backward()
        _close(value, out, RTOL, ATOL, f"value at {x}")
        _close(dx, tx.grad, RTOL, ATOL, f"gradient at {x}")


def test_control_flow_loop_on_value():
    def f(x):
        total = np.sum(x)
        while np.max(np.abs(x)) > 1.0:  # number of iterations depends on the value
            x = x * 0.5
        return np.sum(x**3) + total

    def f_t(x):
        total = x.sum()
        while torch.amax(torch.abs(x)) > 1.0:
            x = x * 0.5
        return (x**3).sum() + total

    g = symgrad.grad(f)
    for x in (np.array([0.5, -0.7]), np.array([3.0, 0.1]), np.array([0.2, 0.9]), np.array([-9.0, 2.0])):
        tx = torch.tensor(x, requires_grad=True)
        f_t(tx).backward()
        _close(g(x), tx.grad, RTOL, ATOL, f"gradient at {x}")


def test_cross_entropy_with_integer_label_argument():
    logits = R(5, 4, low=-3, high=3)

    def loss(z, y):
        z = z - np.max(z, axis=1, keepdims=True)
        logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
        return -np.mean(logp[np.arange(z.shape[0]), y])

    g = symgrad.value_and_grad(loss)
    for labels in (np.array([2, 0, 3, 3, 1]), np.array([1, 1, 0, 2, 3])):  # same signature, new labels
        value, dz = g(logits, labels)
        tz = torch.tensor(logits, requires_grad=True)
        out = F.cross_entropy(tz, torch.tensor(labels))
        out.backward()
        _close(value, out, RTOL, ATOL, f"value for {labels}")
        _close(dz, tz.grad, RTOL, ATOL, f"gradient for {labels}")


def test_boolean_mask_from_traced_values():
    g = symgrad.grad(lambda x: np.sum(x[x > 0] ** 2) + np.sum(np.abs(x[x <= 0])))
    for x in (np.array([0.5, -1.0, 2.0]), np.array([-0.5, -1.0, 2.0]), np.array([0.1, 0.2, 0.3])):
        tx = torch.tensor(x, requires_grad=True)
        ((tx[tx > 0] ** 2).sum() + tx[tx <= 0].abs().sum()).backward()
        _close(g(x), tx.grad, RTOL, ATOL, f"gradient at {x}")


def test_vjp_tuple_output_float32():
    a, b = R(3, dtype=np.float32), R(3, dtype=np.float32)
    (p, q), vjp_fn = symgrad.vjp(lambda a, b: (a * b, np.sin(a) + np.sum(b)), a, b)
    ca, cb = np.ones(3, np.float32), np.arange(3, dtype=np.float32)
    da, db = vjp_fn((ca, cb))
    assert p.dtype == q.dtype == da.dtype == db.dtype == np.float32
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    tp, tq = ta * tb, torch.sin(ta) + tb.sum()
    torch.autograd.backward([tp, tq], [torch.tensor(ca), torch.tensor(cb)])
    _close(da, ta.grad, 1e-6, 1e-6, "da")
    _close(db, tb.grad, 1e-6, 1e-6, "db")


def test_retrace_on_new_shape_and_dtype():
    g = symgrad.grad(lambda x: np.sum(np.tanh(x) * np.arange(x.shape[-1])))
    for x in (R(3), R(2, 5), R(3, dtype=np.float32)):
        tx = torch.tensor(x, requires_grad=True)
        (torch.tanh(tx) * torch.arange(x.shape[-1])).sum().backward()
        tol = 1e-6 if x.dtype == np.float32 else RTOL
        _close(g(x), tx.grad, tol, tol, f"shape {x.shape} {x.dtype}")
