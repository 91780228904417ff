"""symgrad.device, symgrad.cuda and `.to(...)` against torch on a CPU-only build: parsing, reprs,
equality, the no-accelerator answers, conversions, and the error for any non-CPU device."""

import pytest

import symgrad

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("args", [("cpu",), ("cuda",), ("cuda:1",), ("cuda", 2), ("mps",), ("cpu", 0)])
def test_device_objects_match_torch(args):
    ours, theirs = symgrad.device(*args), torch.device(*args)
    assert (repr(ours), str(ours), ours.type, ours.index) == (repr(theirs), str(theirs), theirs.type, theirs.index)
    assert ours == symgrad.device(ours) and hash(ours) == hash(symgrad.device(*args))
    assert (ours == str(ours)) == (theirs == str(theirs))


@pytest.mark.parametrize("text", ["gpu", "cuda:x"])
def test_invalid_device_strings_raise_like_torch(text):
    with pytest.raises(RuntimeError) as theirs:
        torch.device(text)
    with pytest.raises(RuntimeError) as ours:
        symgrad.device(text)
    assert str(ours.value).split(":")[0] == str(theirs.value).split(":")[0]


def test_no_accelerator_is_reported():
    assert symgrad.cuda.is_available() is torch.cuda.is_available() is False
    assert symgrad.cuda.device_count() == torch.cuda.device_count() == 0
    assert not symgrad.backends.mps.is_available() and not symgrad.accelerator.is_available()
    symgrad.cuda.manual_seed(0)  # a no-op without a GPU, as torch
    symgrad.cuda.manual_seed_all(0)
    assert symgrad.get_default_device() == symgrad.device("cpu")
    symgrad.set_default_device("cpu")
    device = "cuda" if symgrad.cuda.is_available() else "cpu"  # the tutorials' idiom
    assert symgrad.ones(2, device=device).device == symgrad.device("cpu")


def test_tensor_to_device_dtype_and_tensor():
    x = symgrad.tensor([1.0, 2.0], requires_grad=True)
    cpu = symgrad.device("cpu")
    assert x.to(cpu) is x and x.cpu() is x and x.to("cpu", non_blocking=True) is x
    assert x.device == cpu and str(x.device) == "cpu" and not x.is_cuda and x.is_cpu and x.get_device() == -1
    y = x.to(cpu, symgrad.float64)
    assert y.dtype == symgrad.float64 and y.grad_fn is not None
    assert x.to(device=cpu, dtype=symgrad.float64).dtype == symgrad.float64
    assert x.to(symgrad.zeros(1, dtype=symgrad.float64)).dtype == symgrad.float64
    y.sum().backward()
    assert x.grad.dtype == symgrad.float32


def test_module_to_device_and_dtype():
    model = symgrad.nn.Sequential(symgrad.nn.Linear(3, 2), symgrad.nn.ReLU())
    assert model.to(symgrad.device("cpu")) is model and model.cpu() is model
    assert model.to("cpu", symgrad.float64)[0].weight.dtype == symgrad.float64
    assert model.float()[0].weight.dtype == symgrad.float32
    assert model.double()[0].bias.dtype == symgrad.float64
    assert model.to(device="cpu")[0].weight.device == symgrad.device("cpu")


@pytest.mark.parametrize("make", [
    lambda: symgrad.zeros(2, device=symgrad.device("cuda")),
    lambda: symgrad.ones(2).to(symgrad.device("cuda", 0)),
    lambda: symgrad.ones(2).to("cuda:0", symgrad.float64),
    lambda: symgrad.nn.Linear(2, 2).to(symgrad.device("cuda")),
    lambda: symgrad.set_default_device("cuda"),
    lambda: symgrad.Generator(device="cuda"),
    lambda: symgrad.randperm(3, device="cuda"),
    lambda: symgrad.cuda.current_device(),
])
def test_cuda_raises_torchs_assertion_and_names_the_line(make):
    with pytest.raises(AssertionError, match=r"^Torch not compiled with CUDA enabled: symgrad computes on the CPU "
                                             r"with NumPy: device='cuda(:0)?' is not available \(test_devices.py:\d+"):
        make()


def test_other_devices_raise_runtime_error():
    with pytest.raises(RuntimeError, match="symgrad computes on the CPU with NumPy: device='mps'"):
        symgrad.ones(2).to("mps")
    with pytest.raises(RuntimeError, match="symgrad computes on the CPU with NumPy: device='meta'"):
        symgrad.ones(2, device=symgrad.device("meta"))


def test_a_bare_index_is_an_accelerator_and_refused_like_torch():
    for lib in (symgrad, torch):
        with pytest.raises(RuntimeError, match="Cannot access accelerator device when none is available."):
            lib.device(0)
