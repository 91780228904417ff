"""Primitive rows of the matrix decompositions: cholesky, eigh and svd (real, batched as numpy.linalg).

A decomposition with several results is one row whose value packs them along the last axis
(`eigh`: (..., n, n + 1) = [V | w]; `svd`: U, s and Vh raveled side by side); `linalg_more`
unpacks them. The VJP rules are the standard ones (Murray 2016 for Cholesky; Giles 2008 and
Townsend 2016 for eigh and svd) written in the composite layer `F`, so they differentiate again.

NOTE: as numpy.linalg, cholesky and eigh read only the lower triangle of their operand, so the
gradient lands on the lower triangle (its symmetric part folded there); degenerate eigenvalues or
singular values give infinite gradients, as in every autodiff system.
"""

from __future__ import annotations

import numpy as np

from symgrad.core.rows import Statements, Structural


def _t(F, x):
    return F.swapaxes(x, -1, -2)


# `band`: x times a mask over its last two axes: `lower` below the diagonal, `diagonal` on it, `upper`
# above it. The masks are built by the generated code itself (no constant inputs); it is its own VJP.
def _band_mask(shape, lower, upper, diagonal):
    m, n = shape[-2], shape[-1]
    return (np.tril(np.full((m, n), float(lower)), -1) + np.triu(np.full((m, n), float(upper)), 1)
            + np.eye(m, n) * float(diagonal))


def _band_emit(names, lower, upper, diagonal):
    x = names[0]
    return (f"{x} * (np.tril(np.full({x}.shape[-2:], {float(lower)!r}), -1) + np.triu(np.full({x}.shape[-2:], "
            f"{float(upper)!r}), 1) + np.eye(*{x}.shape[-2:]) * {float(diagonal)!r})")


def band(F, x, lower, upper, diagonal):
    return F.bind("band", x, lower=float(lower), upper=float(upper), diagonal=float(diagonal))


def _eye_like(F, x):
    return band(F, F.ones_like(x), 0, 0, 1)


def _lower_read(F, b):
    """The gradient w.r.t. an operand of which only the lower triangle is read, from a symmetric b."""
    return band(F, b, 2, 0, 1)


def _symmetric(F, x):
    return (x + _t(F, x)) * 0.5


# ----------------------------------------------------------------------------- cholesky
def _cholesky_vjp(F, g, out, a):
    phi = band(F, F.matmul(_t(F, out), g), 1, 0, 0.5)
    left = F.solve(_t(F, out), phi)  # L^-T phi
    s = _t(F, F.solve(_t(F, out), _t(F, left)))  # L^-T phi L^-1
    return (_lower_read(F, _symmetric(F, s)),)


# ----------------------------------------------------------------------------- eigh
def _eigh_numpy(a):
    w, v = np.linalg.eigh(a)
    return np.concatenate([v, w[..., None, :]], axis=-2)


def _eigh_vjp(F, g, out, a):
    n = a.shape[-1]
    v, w = F.getitem(out, (Ellipsis, slice(0, n), slice(None))), F.getitem(out, (Ellipsis, n, slice(None)))
    gv, gw = F.getitem(g, (Ellipsis, slice(0, n), slice(None))), F.getitem(g, (Ellipsis, n, slice(None)))
    gap = F.expand_dims(w, -2) - F.expand_dims(w, -1)  # w_j - w_i
    f = band(F, 1.0 / (gap + _eye_like(F, gap)), 1, 1, 0)
    inner = band(F, F.expand_dims(gw, -2) + 0.0 * gap, 0, 0, 1) + f * F.matmul(_t(F, v), gv)
    b = F.matmul(F.matmul(v, inner), _t(F, v))
    return (_lower_read(F, _symmetric(F, b)),)


# ----------------------------------------------------------------------------- svd
def svd_sizes(shape) -> tuple[int, int, int]:
    m, n = shape[-2], shape[-1]
    return m, n, min(m, n)


def _svd_numpy(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    lead = a.shape[:-2]
    return np.concatenate([u.reshape(lead + (-1,)), s, vh.reshape(lead + (-1,))], axis=-1)


def svd_parts(F, packed, shape):
    """(U, s, Vh) of a packed svd value (or cotangent) of an operand of `shape`."""
    m, n, k = svd_sizes(shape)
    lead = tuple(shape[:-2])

    def part(start, stop):
        return F.getitem(packed, (Ellipsis, slice(start, stop)))

    return (F.reshape(part(0, m * k), lead + (m, k)), part(m * k, m * k + k),
            F.reshape(part(m * k + k, m * k + k + k * n), lead + (k, n)))


def _svd_vjp(F, g, out, a):
    m, n, k = svd_sizes(a.shape)
    u, s, vh = svd_parts(F, out, a.shape)
    gu, gs, gvh = svd_parts(F, g, a.shape)
    v, gv = _t(F, vh), _t(F, gvh)
    s_row, s_col = F.expand_dims(s, -2), F.expand_dims(s, -1)
    gap = s_row * s_row - s_col * s_col
    f = band(F, 1.0 / (gap + _eye_like(F, gap)), 1, 1, 0)  # 1 / (s_j^2 - s_i^2) off the diagonal
    j = f * (F.matmul(_t(F, u), gu) - F.matmul(_t(F, gu), u))
    kk = f * (F.matmul(_t(F, v), gv) - F.matmul(_t(F, gv), v))
    core = j * s_row + s_col * kk + band(F, F.expand_dims(gs, -2) + 0.0 * gap, 0, 0, 1)
    grad = F.matmul(F.matmul(u, core), vh)
    if m > k:
        outside = gu - F.matmul(u, F.matmul(_t(F, u), gu))
        grad = grad + F.matmul(outside / s_row, vh)
    if n > k:
        outside = gvh - F.matmul(F.matmul(gvh, v), vh)
        grad = grad + F.matmul(u / s_row, outside)
    return (grad,)


def _svd_shape(a):
    shape, dtype = a
    m, n, k = svd_sizes(shape)
    return tuple(shape[:-2]) + (m * k + k + k * n,), dtype


_SPD = (np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]]),)
ROWS = [
    Structural("band", lambda x, lower, upper, diagonal: x * _band_mask(x.shape, lower, upper, diagonal),
               _band_emit, lambda F, g, out, x, **attrs: (band(F, g, **attrs),), shape=lambda x, **attrs: x,
               examples=((((3, 4),), dict(lower=2.0, upper=0.0, diagonal=0.5)),
                         (((2, 3, 3),), dict(lower=1.0, upper=1.0, diagonal=0.0)))),
    Structural("cholesky", np.linalg.cholesky, lambda n: f"np.linalg.cholesky({n[0]})", _cholesky_vjp,
               shape=lambda a: a, examples=((_SPD, {}),), torch_name="LinalgCholeskyExBackward0"),
    Structural("eigh", _eigh_numpy, Statements(lambda out, n: [
        f"{out}_w, {out}_v = np.linalg.eigh({n[0]})",
        f"{out} = np.concatenate([{out}_v, {out}_w[..., None, :]], axis=-2)"]),
               _eigh_vjp, shape=lambda a: (tuple(a[0][:-2]) + (a[0][-1] + 1, a[0][-1]), a[1]),
               examples=((_SPD, {}),), torch_name="LinalgEighBackward0"),
    Structural("svd", _svd_numpy, Statements(lambda out, n: [
        f"{out}_u, {out}_s, {out}_vh = np.linalg.svd({n[0]}, full_matrices=False)",
        f"{out}_lead = {n[0]}.shape[:-2]",
        f"{out} = np.concatenate([{out}_u.reshape({out}_lead + (-1,)), {out}_s, "
        f"{out}_vh.reshape({out}_lead + (-1,))], axis=-1)"]),
        _svd_vjp, shape=_svd_shape,
        examples=(((np.array([[2.0, 0.3, -0.5], [0.1, 1.0, 0.4]]),), {}),
                  ((np.array([[2.0, 0.3], [0.1, 1.0], [-0.5, 0.7]]),), {}),
                  ((_SPD[0] + np.triu(np.ones((3, 3))),), {})),
        torch_name="LinalgSvdBackward0"),
]
