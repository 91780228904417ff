"""symgrad.optim.rules: one rule serves both paths. Run eagerly it updates the arrays in place (and
leaves the gradient alone); traced by symgrad.compile (as symgrad.tools.aot traces it for train_step) it gives
the same numbers over several steps, for every SGD / Adam / AdamW option the tracer supports."""

import numpy as np
import pytest

import symgrad
from symgrad.optim import rules

SGD_OPTIONS = [dict(momentum=0.9), dict(momentum=0.9, dampening=0.3, weight_decay=0.1),
               dict(momentum=0.5, nesterov=True, maximize=True), dict(weight_decay=0.2)]
ADAM_OPTIONS = [dict(), dict(weight_decay=0.1), dict(weight_decay=0.1, decoupled_weight_decay=True),
                dict(amsgrad=True, maximize=True)]


def _grads(steps, dtype):
    rng = np.random.default_rng(0)
    return [rng.standard_normal((3, 4)).astype(dtype) for _ in range(steps)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("options", SGD_OPTIONS)
def test_sgd_traced_equals_eager_in_place(options, dtype):
    def traced_step(p, g, buf, step):
        return rules.sgd(p, g, buf if options.get("momentum") else None, lr=0.1, first_step=step == 0,
                         **options)[0 if not options.get("momentum") else slice(None)]

    step_fn = symgrad.compile(traced_step)
    p0 = np.linspace(-1, 1, 12).reshape(3, 4).astype(dtype)
    eager_p, eager_buf = p0.copy(), None
    traced_p, traced_buf = p0.copy(), np.zeros_like(p0)
    for k, g in enumerate(_grads(4, dtype)):
        g_before = g.copy()
        new_p, new_buf = rules.sgd(eager_p, g, eager_buf, lr=0.1, **options)
        assert new_p is eager_p  # in place
        np.testing.assert_array_equal(g, g_before)  # the gradient is never written to
        eager_buf = new_buf
        out = step_fn(traced_p, g, traced_buf, np.float64(k))
        traced_p, traced_buf = (out, traced_buf) if not options.get("momentum") else out
        assert traced_p.dtype == dtype
        np.testing.assert_allclose(traced_p, eager_p, rtol=1e-13, atol=1e-15 if dtype == np.float64 else 2e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("options", ADAM_OPTIONS)
def test_adam_traced_equals_eager_in_place(options, dtype):
    def traced_step(p, g, m, v, vmax, step):
        return rules.adam(p, g, m, v, vmax if options.get("amsgrad") else None, step + 1.0, lr=0.01, beta1=0.9,
                          beta2=0.99, eps=1e-8, **options)[:3 + bool(options.get("amsgrad"))]

    step_fn = symgrad.compile(traced_step)
    p0 = np.linspace(-1, 1, 12).reshape(3, 4).astype(dtype)
    eager = [p0.copy(), np.zeros_like(p0), np.zeros_like(p0), np.zeros_like(p0)]
    traced = [a.copy() for a in eager]
    for k, g in enumerate(_grads(5, dtype)):
        kept = [id(a) for a in eager]
        out = rules.adam(eager[0], g, eager[1], eager[2], eager[3] if options.get("amsgrad") else None, k + 1.0,
                         lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8, **options)
        assert [id(a) for a in out[:3]] == kept[:3]
        p, m, v, vmax = traced
        new = step_fn(p, g, m, v, vmax if options.get("amsgrad") else None, np.float64(k))
        traced[:len(new)] = new
        for a, b in zip(traced[:len(new)], eager):
            assert a.dtype == dtype
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15 if dtype == np.float64 else 2e-6)


RULES_WITH_WORK = [
    ("sgd", lambda a, g, k, work: rules.sgd(a[0], g, a[1], lr=0.1, momentum=0.9, nesterov=True, work=work)),
    ("adam", lambda a, g, k, work: rules.adam(a[0], g, a[1], a[2], a[3], k, lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8,
                                              amsgrad=True, weight_decay=0.1, work=work)),
    ("rmsprop", lambda a, g, k, work: rules.rmsprop(a[0], g, a[1], a[2], a[3], lr=0.01, alpha=0.9, eps=1e-8,
                                                    momentum=0.5, centered=True, work=work)),
    ("rmsprop-plain", lambda a, g, k, work: rules.rmsprop(a[0], g, a[1], None, None, lr=0.01, alpha=0.9, eps=1e-8,
                                                          work=work)),
    ("adagrad", lambda a, g, k, work: rules.adagrad(a[0], g, a[1], k, lr=0.1, lr_decay=0.01, work=work)),
    ("adamax", lambda a, g, k, work: rules.adamax(a[0], g, a[1], a[2], k, lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8,
                                                  work=work)),
]


@pytest.mark.parametrize("name, rule", RULES_WITH_WORK, ids=[n for n, _ in RULES_WITH_WORK])
def test_scratch_work_array_changes_nothing_but_allocation(name, rule):
    p0 = np.linspace(-1, 1, 12).reshape(3, 4)
    plain = [p0.copy()] + [np.full_like(p0, 0.1) for _ in range(3)]
    scratch = [a.copy() for a in plain]
    work = np.empty_like(p0)
    for k, g in enumerate(_grads(4, np.float64)):
        rule(plain, g, k + 1.0, None)
        rule(scratch, g, k + 1.0, work)
        for a, b in zip(plain, scratch):
            np.testing.assert_array_equal(a, b)
