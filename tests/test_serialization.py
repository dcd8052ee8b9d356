"""tapegrad.serialization: round trips of state dicts and nested structures, other formats,
and hostile or garbled files (which must give a clear error and never run code)."""

from __future__ import annotations

import io
import json
import math
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tapegrad
from tapegrad import nn, optim
from tapegrad.serialization import LoadError, load, save


def round_trip(obj: Any) -> Any:
    buffer = io.BytesIO()
    save(obj, buffer)
    buffer.seek(0)
    return load(buffer)


def test_model_and_optimizer_state_dicts_round_trip(tmp_path: Path) -> None:
    tapegrad.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 2))
    opt = optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    model(tapegrad.randn(2, 1, 4, 4)).sum().backward()
    opt.step()
    path = tmp_path / "checkpoint.tg"
    save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 7}, path)
    loaded = load(path)
    assert loaded["epoch"] == 7
    state = model.state_dict()
    assert list(loaded["model"]) == list(state)
    assert isinstance(loaded["model"], OrderedDict)
    assert loaded["model"]._metadata == state._metadata
    for key, value in state.items():
        assert loaded["model"][key].dtype is value.dtype
        np.testing.assert_array_equal(np.asarray(loaded["model"][key]), np.asarray(value))
    assert loaded["optim"]["param_groups"] == opt.state_dict()["param_groups"]
    assert loaded["optim"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert sorted(loaded["optim"]["state"]) == sorted(opt.state_dict()["state"])
    twin = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 2))
    twin.load_state_dict(loaded["model"])
    opt_twin = optim.Adam(twin.parameters())
    opt_twin.load_state_dict(loaded["optim"])
    assert opt_twin.state[twin[0].weight]["step"].item() == 1.0


def test_nested_values_dtypes_and_identity_round_trip() -> None:
    shared = tapegrad.arange(3.0)
    param = nn.Parameter(tapegrad.ones(2, dtype=tapegrad.float64))
    obj = {
        "tensors": [
            shared,
            shared,
            tapegrad.tensor([True, False]),
            tapegrad.tensor([1, 2], dtype=tapegrad.int32),
            tapegrad.ones(2, dtype=tapegrad.float16),
            tapegrad.zeros(0, 3),
            tapegrad.tensor(5.0),
            tapegrad.ones(4)[::2],
        ],
        "param": param,
        "requires": tapegrad.ones(2, requires_grad=True),
        (1, "a"): None,
        3: [1.5, math.inf, -0.0, "text", True, None, (1, (2, 3))],
        "array": np.arange(4, dtype=np.int16),
        "dtype": tapegrad.float64,
        "numpy_scalar": np.float32(2.5),
    }
    out = round_trip(obj)
    tensors = out["tensors"]
    assert tensors[0] is tensors[1]  # one object saved once, loaded once
    for got, want in zip(tensors, obj["tensors"], strict=True):
        assert got.dtype is want.dtype
        assert got.shape == want.shape
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert type(out["param"]) is nn.Parameter
    assert out["param"].requires_grad
    assert out["requires"].requires_grad
    assert out["requires"].is_leaf
    assert out[(1, "a")] is None
    assert out[3] == [1.5, math.inf, -0.0, "text", True, None, (1, (2, 3))]
    assert out["array"].dtype == np.int16
    assert out["array"].tolist() == [0, 1, 2, 3]
    assert out["dtype"] is tapegrad.float64
    assert out["numpy_scalar"] == 2.5
    nan = round_trip([math.nan])
    assert math.isnan(nan[0])


def test_save_rejects_what_it_cannot_store_safely() -> None:
    with pytest.raises(TypeError, match="cannot store objects of type object"):
        save({"x": object()}, io.BytesIO())
    with pytest.raises(TypeError, match="object arrays cannot be saved"):
        save(np.array([1, "a"], dtype=object), io.BytesIO())
    with pytest.raises(ValueError, match="never pickles"):
        save({}, io.BytesIO(), pickle_module=pickle)


def test_saved_file_is_a_zip_with_a_json_manifest_and_npy_arrays() -> None:
    buffer = io.BytesIO()
    save({"w": tapegrad.ones(2)}, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("tapegrad.json"))
    assert names == ["tapegrad.json", "tensors/0.npy"]
    assert manifest["format"] == "tapegrad"
    assert manifest["version"] == 1


def test_npz_npy_and_safetensors_files_load(tmp_path: Path) -> None:
    np.savez(tmp_path / "weights.npz", weight=np.ones((2, 2), dtype=np.float32), steps=np.array(3))
    loaded = load(tmp_path / "weights.npz")
    assert sorted(loaded) == ["steps", "weight"]
    assert loaded["weight"].dtype is tapegrad.float32
    assert loaded["steps"].item() == 3
    np.save(tmp_path / "a.npy", np.arange(3.0))
    assert load(tmp_path / "a.npy").tolist() == [0.0, 1.0, 2.0]
    pytest.importorskip("safetensors")
    from tapegrad.serialization import load_safetensors, save_safetensors

    save_safetensors({"w": tapegrad.ones(2, 3), "b": tapegrad.arange(2)}, tmp_path / "m.st")
    auto = load(tmp_path / "m.st")
    assert sorted(auto) == ["b", "w"]
    assert auto["w"].shape == (2, 3)
    assert load_safetensors(tmp_path / "m.st")["b"].tolist() == [0, 1]


class _Exploit:
    def __reduce__(self) -> Any:
        return (exec, ("import builtins; builtins.TAPEGRAD_PWNED = True",))


def _archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def _manifest(root: Any) -> bytes:
    return json.dumps({"format": "tapegrad", "version": 1, "root": root}).encode()


HOSTILE = {
    "pickle_in_npy": _archive(
        {
            "tapegrad.json": _manifest({"type": "tensor", "file": "tensors/0.npy"}),
            "tensors/0.npy": _npy(np.array([_Exploit()], dtype=object), allow_pickle=True),
        }
    ),
    "raw_pickle": pickle.dumps(_Exploit()),
    "torch_style_zip": _archive(
        {"archive/data.pkl": pickle.dumps(_Exploit()), "archive/version": b"3"}
    ),
    "npz_with_pickle": _archive({"x.npy": _npy(np.array([_Exploit()], dtype=object), True)}),
    "bad_json": _archive({"tapegrad.json": b"{not json"}),
    "wrong_format": _archive({"tapegrad.json": json.dumps({"format": "x"}).encode()}),
    "future_version": _archive(
        {"tapegrad.json": json.dumps({"format": "tapegrad", "version": 99, "root": None}).encode()}
    ),
    "unknown_node": _archive({"tapegrad.json": _manifest({"type": "pickle", "data": "..."})}),
    "missing_array": _archive(
        {"tapegrad.json": _manifest({"type": "tensor", "file": "tensors/7.npy"})}
    ),
    "path_escape": _archive(
        {"tapegrad.json": _manifest({"type": "tensor", "file": "../../etc/passwd"})}
    ),
    "corrupt_npy": _archive(
        {
            "tapegrad.json": _manifest({"type": "tensor", "file": "tensors/0.npy"}),
            "tensors/0.npy": b"\x93NUMPYgarbage",
        }
    ),
    "unsupported_dtype": _archive(
        {
            "tapegrad.json": _manifest({"type": "tensor", "file": "tensors/0.npy"}),
            "tensors/0.npy": _npy(np.array(["abc"])),
        }
    ),
    "malformed_dict": _archive({"tapegrad.json": _manifest({"type": "dict", "items": [[1]]})}),
    "unhashable_key": _archive(
        {
            "tapegrad.json": _manifest(
                {"type": "dict", "items": [[{"type": "list", "items": []}, 1]]}
            )
        }
    ),
    "deep_nesting": _archive(
        {"tapegrad.json": _manifest(json.loads('{"type": "list", "items": [' * 300 + "]}" * 300))}
    ),
    "truncated": b"PK\x03\x04" + b"\x00" * 20,
    "garbage": b"hello, this is not a checkpoint",
    "empty": b"",
    "bad_safetensors": b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage-header}",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_or_garbled_files_raise_a_clear_error_and_run_nothing(name: str) -> None:
    import builtins

    data = HOSTILE[name]
    expected: Any = LoadError
    if name == "bad_safetensors":
        pytest.importorskip("safetensors")
    with pytest.raises(expected, match=r"tapegrad\.load"):
        load(io.BytesIO(data))
    assert not hasattr(builtins, "TAPEGRAD_PWNED")


def test_torch_checkpoint_error_names_the_way_out(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.ones(2)}, tmp_path / "model.pt")
    with pytest.raises(LoadError, match=r"PyTorch pickle checkpoint.*never unpickles"):
        load(tmp_path / "model.pt")


def test_load_arguments() -> None:
    buffer = io.BytesIO()
    save(tapegrad.ones(1), buffer)
    data = buffer.getvalue()
    assert load(io.BytesIO(data), map_location="cpu", weights_only=False).tolist() == [1.0]
    with pytest.raises(RuntimeError, match="backend"):
        load(io.BytesIO(data), map_location="cuda")
    with pytest.raises(ValueError, match="never unpickles"):
        load(io.BytesIO(data), pickle_module=pickle)
