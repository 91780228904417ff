"""symgrad.Generator and the global stream: determinism by seed, state save/restore, `generator=`
honoured by every drawing function, and torch's names and errors. (The numbers are NumPy's PCG64
stream, not torch's: the tests check determinism and independence, never torch's values.)"""

import numpy as np
import pytest

import symgrad

torch = pytest.importorskip("torch")

DRAWS = {
    "rand": lambda g: symgrad.rand(3, 2, generator=g),
    "randn": lambda g: symgrad.randn(4, generator=g),
    "randint": lambda g: symgrad.randint(0, 100, (5,), generator=g),
    "randperm": lambda g: symgrad.randperm(8, generator=g),
    "normal_": lambda g: symgrad.empty(4).normal_(2.0, 3.0, generator=g),
    "uniform_": lambda g: symgrad.empty(4).uniform_(-1.0, 1.0, generator=g),
    "init.normal_": lambda g: symgrad.nn.init.normal_(symgrad.empty(3), generator=g),
    "init.kaiming_uniform_": lambda g: symgrad.nn.init.kaiming_uniform_(symgrad.empty(3, 4), generator=g),
}


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_generator_is_honoured_and_deterministic(name):
    draw = DRAWS[name]
    a = draw(symgrad.Generator().manual_seed(7)).numpy()
    symgrad.manual_seed(1)  # the global stream must not matter
    b = draw(symgrad.Generator().manual_seed(7)).numpy()
    c = draw(symgrad.Generator().manual_seed(8)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_generator_does_not_touch_the_global_stream():
    symgrad.manual_seed(3)
    expected = symgrad.rand(3).numpy()
    symgrad.manual_seed(3)
    symgrad.randn(10, generator=symgrad.Generator().manual_seed(0))
    np.testing.assert_array_equal(symgrad.rand(3).numpy(), expected)


def test_manual_seed_makes_the_global_stream_repeat():
    symgrad.manual_seed(42)
    first = [symgrad.rand(2).numpy(), symgrad.randperm(5).numpy(), symgrad.randint(10, (3,)).numpy()]
    g = symgrad.manual_seed(42)
    assert g is symgrad.default_generator and symgrad.initial_seed() == 42
    second = [symgrad.rand(2).numpy(), symgrad.randperm(5).numpy(), symgrad.randint(10, (3,)).numpy()]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_get_state_and_set_state_restore_the_position():
    g = symgrad.Generator().manual_seed(11)
    symgrad.rand(5, generator=g)
    state = g.get_state()
    assert state.dtype == symgrad.uint8 and state.dim() == 1
    a = symgrad.randn(6, generator=g).numpy()
    other = symgrad.Generator().set_state(state)
    np.testing.assert_array_equal(symgrad.randn(6, generator=other).numpy(), a)
    assert other.initial_seed() == 11
    saved = symgrad.get_rng_state()
    b = symgrad.rand(4).numpy()
    symgrad.set_rng_state(saved)
    np.testing.assert_array_equal(symgrad.rand(4).numpy(), b)


def test_seed_and_initial_seed_like_torch():
    g = symgrad.Generator()
    assert g.initial_seed() == torch.Generator().initial_seed() == 67280421310721
    s = g.seed()
    assert g.initial_seed() == s and 0 <= s < 2 ** 64
    assert symgrad.Generator().manual_seed(-1).initial_seed() == torch.Generator().manual_seed(-1).initial_seed()
    assert g.device == symgrad.device("cpu")


def test_randperm_matches_torch_shape_dtype_and_errors():
    p = symgrad.randperm(6)
    assert sorted(p.numpy().tolist()) == list(range(6)) and p.dtype == symgrad.int64
    assert symgrad.randperm(4, dtype=symgrad.float32).dtype == symgrad.float32
    for lib in (symgrad, torch):
        with pytest.raises(RuntimeError, match=r"Trying to create tensor with negative dimension -1: \[-1\]"):
            lib.randperm(-1)
        with pytest.raises(TypeError, match="RNG state must be a (torch|symgrad).ByteTensor"):
            lib.Generator().set_state(lib.zeros(3))
        with pytest.raises(ValueError, match="Overflow when unpacking long long"):
            lib.Generator().manual_seed(2 ** 64)


def test_in_place_draw_into_a_leaf_that_requires_grad_is_refused_like_torch():
    for lib in (symgrad, torch):
        w = lib.zeros(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
            w.normal_()
        with lib.no_grad():
            w.uniform_(0.0, 1.0)
        assert float(w.detach().sum()) > 0


def test_compile_refuses_an_explicit_generator_instead_of_freezing_its_draws():
    g = symgrad.Generator().manual_seed(0)

    @symgrad.compile
    def noisy(x):
        return x * symgrad.rand(3, generator=g)

    with pytest.raises(RuntimeError, match=r"symgrad.compile cannot trace a draw from an explicit generator= "
                                           r"\(test_random.py:\d+"):
        noisy(symgrad.ones(3))
