"""symgrad.save / symgrad.load: state dicts as .npz without pickle; clear errors on bad files."""

import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import symgrad
from symgrad import nn


def test_state_dict_round_trip_keeps_order_dtypes_and_values(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    model.double()
    sd = model.state_dict()
    symgrad.save(sd, tmp_path / "m.npz")
    loaded = symgrad.load(tmp_path / "m.npz")
    assert isinstance(loaded, OrderedDict) and list(loaded) == list(sd)
    for k, v in sd.items():
        assert isinstance(loaded[k], symgrad.Tensor) and loaded[k].dtype == v.dtype and loaded[k].shape == v.shape
        np.testing.assert_array_equal(loaded[k].numpy(), v.numpy())
    assert loaded["1.num_batches_tracked"].dtype == symgrad.int64 and loaded["1.num_batches_tracked"].ndim == 0
    fresh = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2)).double()
    fresh.load_state_dict(loaded)
    x = symgrad.randn(2, 3, 3, 3, dtype=symgrad.float64)
    model.eval(), fresh.eval()
    np.testing.assert_array_equal(model(x).detach().numpy(), fresh(x).detach().numpy())


def test_nested_objects_round_trip(tmp_path):
    obj = {"state": {0: {"step": symgrad.tensor(3.0), "buf": np.arange(4.0)}},
           "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "nesterov": False, "foreach": None,
                             "params": [0, 1], "name": "all"}],
           "epoch": 7, "score": np.float32(0.5), "w": symgrad.ones(2, requires_grad=True)}
    symgrad.save(obj, tmp_path / "o.npz")
    back = symgrad.load(tmp_path / "o.npz")
    assert back["param_groups"] == obj["param_groups"] and back["epoch"] == 7
    assert isinstance(back["param_groups"][0]["betas"], tuple)
    assert back["state"][0]["step"].item() == 3.0 and back["state"][0]["step"].ndim == 0
    np.testing.assert_array_equal(back["state"][0]["buf"], np.arange(4.0))
    assert back["score"].dtype == np.float32 and back["w"].requires_grad and back["w"].is_leaf


def test_unsupported_objects_raise_naming_where(tmp_path):
    with pytest.raises(TypeError, match=r"obj\['model'\]\['f'\] is a function"):
        symgrad.save({"model": {"f": lambda: 0}}, tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


def test_truncated_file_gives_clear_error(tmp_path):
    symgrad.save(nn.Linear(50, 50).state_dict(), tmp_path / "m.npz")
    data = (tmp_path / "m.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated, corrupted or not an .npz"):
        symgrad.load(tmp_path / "cut.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="cannot read"):
        symgrad.load(tmp_path / "text.npz")


def test_corrupted_member_is_detected(tmp_path):
    symgrad.save({"w": symgrad.ones(1000)}, tmp_path / "m.npz")
    data = bytearray((tmp_path / "m.npz").read_bytes())
    with zipfile.ZipFile(tmp_path / "m.npz") as z:
        info = z.getinfo("a0.npy")
    at = info.header_offset + 30 + len(info.filename) + 200  # inside a0's data
    data[at] ^= 0xFF
    (tmp_path / "bad.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="cannot read"):
        symgrad.load(tmp_path / "bad.npz")


def test_foreign_npz_is_refused_by_load_but_usable_as_weights(tmp_path):
    np.savez(tmp_path / "plain.npz", **{"weight": np.ones((2, 3), np.float32), "bias": np.zeros(2, np.float32)})
    with pytest.raises(ValueError, match="not written by symgrad.save"):
        symgrad.load(tmp_path / "plain.npz")
    lin = nn.Linear(3, 2)
    from symgrad.serialization import load_state_arrays

    lin.load_state_dict(load_state_arrays(tmp_path / "plain.npz"))
    np.testing.assert_array_equal(lin.weight.detach().numpy(), np.ones((2, 3)))


def test_no_pickle_is_used(tmp_path):
    symgrad.save({"w": symgrad.ones(3)}, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:  # loads without pickle
        assert sorted(f.files) == ["__symgrad__", "a0"]
