"""Torch oracle: random op sequences run through symgrad.Tensor and torch give the same values and
leaf gradients (float64). Each program is generated against torch (which fixes the shapes) as a list
of closures `step(lib, *operands)`, then replayed on symgrad with the same leaf values."""

import random
import warnings

import numpy as np
import pytest

import symgrad

torch = pytest.importorskip("torch")

N_PROGRAMS = 240


def _unary_steps(rng):
    exponent = rng.choice([2, 3, 0.5, -1.0, 1.5])
    return [
        ("exp", lambda L, x: L.exp(x.clamp(-3, 3))),
        ("tanh", lambda L, x: x.tanh()),
        ("sigmoid", lambda L, x: x.sigmoid()),
        ("relu", lambda L, x: x.relu()),
        ("abs", lambda L, x: x.abs() * 1.5),
        ("sin", lambda L, x: x.sin()),
        ("cos", lambda L, x: L.cos(x)),
        ("sqrt", lambda L, x: (x.abs() + 0.1).sqrt()),
        ("log", lambda L, x: (x.abs() + 0.5).log()),
        ("pow", lambda L, x: (x.abs() + 0.5) ** exponent),
        ("neg", lambda L, x: -x),
        ("rsub", lambda L, x: 2.0 - x),
        ("rdiv", lambda L, x: 1.0 / (x.abs() + 0.5)),
        ("scalar_mul", lambda L, x: 3 * x),
        ("clamp", lambda L, x: x.clamp(min=-0.5, max=0.7)),
        ("clamp_min", lambda L, x: x.clamp(min=0.1)),
        ("where", lambda L, x: L.where(x > 0, x, x * 0.1)),
        ("where_scalar", lambda L, x: L.where(x < 0.2, x, 0.0)),
        ("softmax", lambda L, x: x.softmax(dim=-1) if x.dim() else x),
        ("square", lambda L, x: x.square() if hasattr(x, "square") else x * x),
        ("branch", lambda L, x: x * 2 if x.sum() > 0 else x.exp().clamp(max=5)),
        ("item_branch", lambda L, x: x - x.mean() if float(x.max()) > 0.5 else x + 1),
    ]


def _reduce_step(rng, shape):
    kinds = ["sum", "mean", "amax", "prod", "var", "std", "max", "min"]
    kind = rng.choice(kinds)
    nd = len(shape)
    if nd == 0:
        return kind + "()", lambda L, x: x.sum()
    dim = rng.randrange(-nd, nd) if rng.random() < 0.7 else None
    keep = rng.random() < 0.5
    if kind in ("var", "std") and (dim is None and int(np.prod(shape)) < 2 or dim is not None and shape[dim] < 2):
        kind = "sum"
    if kind in ("max", "min"):
        if dim is None:
            return kind, lambda L, x: getattr(x, kind)()
        return f"{kind}({dim})", lambda L, x: getattr(x, kind)(dim=dim, keepdim=keep)[0]
    if kind == "amax":
        return f"amax({dim})", lambda L, x: x.amax(dim=() if dim is None else dim, keepdim=keep)
    if kind == "prod":
        return f"prod({dim})", (lambda L, x: x.prod()) if dim is None else (lambda L, x: x.prod(dim, keepdim=keep))
    if dim is None:
        return kind, lambda L, x: getattr(x, kind)()
    return f"{kind}({dim},{keep})", lambda L, x: getattr(x, kind)(dim=dim, keepdim=keep)


def _shape_step(rng, shape):
    nd = len(shape)
    options = [("unsqueeze", lambda L, x: x.unsqueeze(rng_dim)), ("flatten", lambda L, x: x.flatten())]
    rng_dim = rng.randrange(0, nd + 1)
    if nd >= 2:
        a, b = rng.sample(range(nd), 2)
        options += [("transpose", lambda L, x: x.transpose(a, b)), ("mT", lambda L, x: x.mT),
                    ("permute", lambda L, x: x.permute(*reversed(range(nd)))),
                    ("reshape", lambda L, x: x.reshape(-1, shape[-1])),
                    ("view", lambda L, x: x.view(shape[0], -1))]
    if 1 in shape:
        options.append(("squeeze", lambda L, x: x.squeeze()))
    if nd >= 1 and shape[0] == 1:
        options.append(("expand", lambda L, x: x.expand(3, *shape[1:])))
    if nd >= 1 and shape[0] > 1:
        i = rng.randrange(shape[0])
        idx = [rng.randrange(shape[0]) for _ in range(rng.randint(1, 4))]
        options += [("select", lambda L, x: x[i]), ("slice", lambda L, x: x[1:]),
                    ("step", lambda L, x: x[::2]), ("fancy", lambda L, x: x[L.tensor(idx)]),
                    ("mask", lambda L, x: x[x > 0] if bool((x > 0).any()) else x)]
    if nd >= 2:
        options.append(("ellipsis", lambda L, x: x[..., 0]))
    return rng.choice(options)


def _binary_step(rng, shapes):
    kind = rng.choice(["add", "sub", "mul", "div", "maximum", "minimum", "matmul", "cat", "stack"])
    return kind


def make_program(seed):
    rng = random.Random(seed)
    n_leaves = rng.randint(1, 3)
    leaf_shapes = []
    for _ in range(n_leaves):
        nd = rng.randint(0, 3)
        leaf_shapes.append(tuple(rng.randint(1, 4) for _ in range(nd)))
    gen = np.random.default_rng(seed)
    leaf_values = [gen.standard_normal(s) for s in leaf_shapes]
    frozen = gen.standard_normal(leaf_shapes[0])
    steps = []  # (name, operand positions, fn)
    pool = [torch.tensor(v, requires_grad=True) for v in leaf_values] + [torch.tensor(frozen)]
    for _ in range(rng.randint(3, 9)):
        r = rng.random()
        i = rng.randrange(len(pool))
        x = pool[i]
        if r < 0.35:
            name, fn = rng.choice(_unary_steps(rng))
            operands = (i,)
        elif r < 0.5:
            name, fn = _reduce_step(rng, tuple(x.shape))
            operands = (i,)
        elif r < 0.7:
            name, fn = _shape_step(rng, tuple(x.shape))
            operands = (i,)
        else:
            j = rng.randrange(len(pool))
            y = pool[j]
            name = _binary_step(rng, None)
            try:
                np.broadcast_shapes(tuple(x.shape), tuple(y.shape))
                broadcast_ok = True
            except ValueError:
                broadcast_ok = False
            if name == "matmul" and x.dim() >= 1 and y.dim() >= 1 and x.shape[-1] == (y.shape[0] if y.dim() == 1 else y.shape[-2]):
                def fn(L, a, b):
                    return a @ b
            elif name in ("cat", "stack") and x.shape == y.shape and x.dim() >= 1:
                fn = (lambda L, a, b: L.cat([a, b], dim=-1)) if name == "cat" else (lambda L, a, b: L.stack([a, b], 0))
            elif broadcast_ok:
                fn = {"add": lambda L, a, b: a + b, "sub": lambda L, a, b: a - b, "mul": lambda L, a, b: a * b,
                      "div": lambda L, a, b: a / (b.abs() + 0.5), "maximum": lambda L, a, b: L.maximum(a, b),
                      "minimum": lambda L, a, b: L.minimum(a, b), "matmul": lambda L, a, b: a * b,
                      "cat": lambda L, a, b: a + b, "stack": lambda L, a, b: b - a}[name]
            else:
                def fn(L, a, b):
                    return a.sum() * b
            operands = (i, j)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = fn(torch, *(pool[k] for k in operands))
        steps.append((name, operands, fn))
        pool.append(out)
    return leaf_values, frozen, steps


def run(lib, leaf_values, frozen, steps, seed):
    leaves = [lib.tensor(v, requires_grad=True) for v in leaf_values]
    pool = leaves + [lib.tensor(frozen)]
    for _, operands, fn in steps:
        pool.append(fn(lib, *(pool[k] for k in operands)))
    outs = [t for t in pool[len(leaves) + 1:] if t.requires_grad]
    if not outs:
        return [t.detach().numpy() for t in pool], None
    rng = np.random.default_rng(seed + 1)
    if seed % 3 == 0:  # a non-scalar root with an explicit gradient
        root = outs[-1]
        root.backward(gradient=lib.tensor(rng.standard_normal(tuple(root.shape))))
    else:
        total = outs[0].sum()
        for t in outs[1:]:
            total = total + (t * t).mean() if t.numel() else total
        total.backward()
    grads = [None if l.grad is None else l.grad.numpy() for l in leaves]
    return [t.detach().numpy() for t in pool], grads


def _as64(leaf_values):
    return [np.asarray(v, dtype=np.float64) for v in leaf_values]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("block", range(8))
def test_random_programs_match_torch(block):
    per_block = N_PROGRAMS // 8
    for seed in range(block * per_block, (block + 1) * per_block):
        leaf_values, frozen, steps = make_program(seed)
        names = [s[0] for s in steps]
        t_values, t_grads = run(torch, leaf_values, frozen, steps, seed)
        s_values, s_grads = run(symgrad, leaf_values, frozen, steps, seed)
        for k, (a, b) in enumerate(zip(t_values, s_values)):
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-11, err_msg=f"seed {seed} value {k} {names}")
        if t_grads is None:
            assert s_grads is None
            continue
        for k, (a, b) in enumerate(zip(t_grads, s_grads)):
            assert (a is None) == (b is None), f"seed {seed} leaf {k} {names}"
            if a is not None:
                np.testing.assert_allclose(b, a, rtol=1e-8, atol=1e-10, err_msg=f"seed {seed} grad {k} {names}")
