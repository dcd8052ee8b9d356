"""``save`` / ``load`` without pickle: loading a file can never run code.

Format (``tapegrad.save``): a ZIP archive holding ``tapegrad.json``, a JSON manifest of the
saved structure, and one ``tensors/<n>.npy`` file per tensor, written and read by NumPy with
``allow_pickle=False``. It stores tensors (and Parameters, with ``requires_grad``), NumPy
arrays, ``None``/bools/ints/floats/strings, lists, tuples and dicts (any keys of those kinds,
``OrderedDict`` order and a state dict's ``_metadata`` kept) - everything a module or
optimizer ``state_dict`` holds. A tensor object that appears twice is stored once and loads as
one object (tied weights stay tied); distinct views of one storage load as separate copies.

``tapegrad.load`` detects the format from the file's first bytes:

- a tapegrad archive: the saved structure;
- a NumPy ``.npz`` archive: ``{name: Tensor}``; a ``.npy`` file: a Tensor;
- a safetensors file: ``{name: Tensor}``, through the optional ``safetensors`` package
  (``pip install tapegrad[safetensors]``); ``save_safetensors`` writes one;
- a PyTorch pickle checkpoint (``torch.save``'s zip or legacy format) or anything else:
  ``LoadError``, never an unpickle.

Every malformed or hostile input (bad zip, bad JSON, unknown node types, missing or object
arrays, unsupported dtypes, excessive nesting) raises ``LoadError`` (a ``RuntimeError``).
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from collections import OrderedDict
from typing import IO, Any

import numpy as np

from tapegrad import _dtype
from tapegrad.nn.parameter import Parameter
from tapegrad.tensor import Tensor, _check_device

__all__ = ["LoadError", "load", "load_safetensors", "save", "save_safetensors"]

MANIFEST = "tapegrad.json"
FORMAT_VERSION = 1
_MAX_DEPTH = 200
_MAX_MANIFEST_BYTES = 64 * 1024 * 1024
_SAFETENSORS_HINT = "pip install tapegrad[safetensors]"

FileLike = str | os.PathLike[str] | IO[bytes]


class LoadError(RuntimeError):
    """Raised by ``tapegrad.load`` for a file that is malformed, hostile or not supported."""


# ----------------------------------------------------------------------------- save
class _Writer:
    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self.seen: dict[int, int] = {}
        self.keep: list[Any] = []  # keeps ids stable while saving

    def array(self, obj: Any, array: np.ndarray) -> str:
        index = self.seen.get(id(obj))
        if index is None:
            index = len(self.arrays)
            self.seen[id(obj)] = index
            self.keep.append(obj)
            self.arrays.append(array if array.flags.c_contiguous else np.array(array, order="C"))
        return f"tensors/{index}.npy"

    def encode(self, obj: Any, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise ValueError("tapegrad.save: the object is nested too deeply")
        if obj is None or isinstance(obj, bool | str):
            return obj
        if isinstance(obj, int):
            return obj
        if isinstance(obj, float):
            return obj
        if isinstance(obj, Tensor):
            if obj._array.dtype == object:
                raise TypeError("tapegrad.save: object tensors cannot be saved")
            node = {
                "type": "tensor",
                "file": self.array(obj, obj._array),
                "requires_grad": bool(obj.requires_grad),
            }
            if isinstance(obj, Parameter):
                node["parameter"] = True
            return node
        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                raise TypeError("tapegrad.save: NumPy object arrays cannot be saved")
            return {"type": "ndarray", "file": self.array(obj, obj)}
        if isinstance(obj, np.generic):
            return self.encode(obj.item(), depth)
        if isinstance(obj, _dtype.DType):
            return {"type": "dtype", "name": obj.name}
        if isinstance(obj, dict):
            node = {
                "type": "dict",
                "ordered": isinstance(obj, OrderedDict),
                "items": [
                    [self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in obj.items()
                ],
            }
            metadata = getattr(obj, "_metadata", None)
            if metadata is not None:
                node["metadata"] = self.encode(metadata, depth + 1)
            return node
        if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
            return {"type": "tuple", "items": [self.encode(v, depth + 1) for v in obj]}
        if isinstance(obj, list):
            return {"type": "list", "items": [self.encode(v, depth + 1) for v in obj]}
        raise TypeError(
            f"tapegrad.save cannot store objects of type {type(obj).__name__}: only tensors, "
            "NumPy arrays, None, bools, ints, floats, strings, lists, tuples and dicts (no "
            "pickle, so loading can never run code)"
        )


def save(
    obj: Any,
    f: FileLike,
    pickle_module: Any = None,
    pickle_protocol: int = 2,
    _use_new_zipfile_serialization: bool = True,
) -> None:
    """Save tensors, state dicts and nested containers to ``f`` (a path or binary file).

    A safe format (ZIP + JSON manifest + ``.npy`` arrays, no pickle); see the module doc.

    Example:
        >>> import io, tapegrad
        >>> from tapegrad.serialization import load, save
        >>> model = tapegrad.nn.Linear(2, 1)
        >>> buffer = io.BytesIO()
        >>> save({"model": model.state_dict(), "epoch": 3}, buffer)
        >>> _ = buffer.seek(0)
        >>> checkpoint = load(buffer)
        >>> checkpoint["epoch"], list(checkpoint["model"])
        (3, ['weight', 'bias'])
    """
    if pickle_module is not None:
        raise ValueError("tapegrad.save never pickles; pickle_module is not supported")
    writer = _Writer()
    manifest = {"format": "tapegrad", "version": FORMAT_VERSION, "root": writer.encode(obj)}
    text = json.dumps(manifest, allow_nan=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(MANIFEST, text)
        for index, array in enumerate(writer.arrays):
            data = io.BytesIO()
            np.save(data, array, allow_pickle=False)
            archive.writestr(f"tensors/{index}.npy", data.getvalue())
    if isinstance(f, str | os.PathLike):
        with open(f, "wb") as stream:
            stream.write(buffer.getvalue())
    else:
        f.write(buffer.getvalue())


# ----------------------------------------------------------------------------- load
def _read_bytes(f: FileLike) -> bytes:
    if isinstance(f, str | os.PathLike):
        with open(f, "rb") as stream:
            return stream.read()
    data = f.read()
    if not isinstance(data, bytes | bytearray):
        raise LoadError("tapegrad.load expects a path or a binary file object")
    return bytes(data)


def _load_npy(data: bytes, name: str) -> np.ndarray:
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as error:
        raise LoadError(
            f"tapegrad.load: array {name!r} cannot be loaded safely ({error})"
        ) from None
    except Exception as error:  # noqa: BLE001 (any parse failure of hostile bytes)
        raise LoadError(f"tapegrad.load: array {name!r} is corrupt ({error})") from None
    if not isinstance(array, np.ndarray) or array.dtype.hasobject:
        raise LoadError(f"tapegrad.load: array {name!r} has an unsupported dtype")
    try:
        _dtype.from_numpy_dtype(array.dtype)
    except Exception:  # noqa: BLE001
        raise LoadError(
            f"tapegrad.load: array {name!r} has unsupported dtype {array.dtype}"
        ) from None
    return array


def _tensor(array: np.ndarray) -> Tensor:
    if not array.flags.writeable:
        array = array.copy()
    return Tensor._from_array(array)


class _Reader:
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.names = set(archive.namelist())
        self.cache: dict[str, Any] = {}

    def array(self, name: Any) -> np.ndarray:
        if not isinstance(name, str) or name not in self.names or not name.endswith(".npy"):
            raise LoadError(f"tapegrad.load: the manifest names a missing array {name!r}")
        try:
            data = self.archive.read(name)
        except Exception as error:  # noqa: BLE001
            raise LoadError(f"tapegrad.load: cannot read {name!r} ({error})") from None
        return _load_npy(data, name)

    def decode(self, node: Any, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise LoadError("tapegrad.load: the manifest is nested too deeply")
        if node is None or isinstance(node, bool | int | float | str):
            return node
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            raise LoadError(f"tapegrad.load: malformed manifest node {str(node)[:80]!r}")
        kind = node["type"]
        if kind in ("tensor", "ndarray"):
            name = node.get("file")
            key = f"{kind}:{name}"
            if key in self.cache:
                return self.cache[key]
            array = self.array(name)
            if kind == "ndarray":
                value: Any = array
            else:
                requires_grad = node.get("requires_grad", False)
                if not isinstance(requires_grad, bool):
                    raise LoadError("tapegrad.load: malformed requires_grad flag")
                value = _tensor(array)
                if node.get("parameter"):
                    value = Parameter(value, requires_grad=requires_grad)
                elif requires_grad:
                    if not value.is_floating_point():
                        raise LoadError("tapegrad.load: only floating tensors can require grad")
                    value.requires_grad_(True)
            self.cache[key] = value
            return value
        if kind == "dtype":
            try:
                return _dtype.to_dtype(getattr(_dtype, str(node.get("name"))))
            except Exception:  # noqa: BLE001
                raise LoadError(f"tapegrad.load: unknown dtype {node.get('name')!r}") from None
        items = node.get("items")
        if not isinstance(items, list):
            raise LoadError(f"tapegrad.load: malformed {kind!r} node")
        if kind == "list":
            return [self.decode(v, depth + 1) for v in items]
        if kind == "tuple":
            return tuple(self.decode(v, depth + 1) for v in items)
        if kind == "dict":
            out: dict[Any, Any] = OrderedDict() if node.get("ordered") else {}
            for pair in items:
                if not isinstance(pair, list) or len(pair) != 2:
                    raise LoadError("tapegrad.load: malformed dict item")
                key = self.decode(pair[0], depth + 1)
                try:
                    hash(key)
                except TypeError:
                    raise LoadError("tapegrad.load: unhashable dict key") from None
                out[key] = self.decode(pair[1], depth + 1)
            if "metadata" in node:
                metadata = self.decode(node["metadata"], depth + 1)
                if isinstance(out, OrderedDict):
                    out._metadata = metadata  # type: ignore[attr-defined]
            return out
        raise LoadError(f"tapegrad.load: unknown manifest node type {kind!r}")


def _load_archive(data: bytes) -> Any:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise LoadError(f"tapegrad.load: not a valid archive ({error})") from None
    with archive:
        if MANIFEST in names:
            info = archive.getinfo(MANIFEST)
            if info.file_size > _MAX_MANIFEST_BYTES:
                raise LoadError("tapegrad.load: the manifest is too large")
            try:
                manifest = json.loads(archive.read(MANIFEST).decode("utf-8"))
            except Exception as error:  # noqa: BLE001
                raise LoadError(
                    f"tapegrad.load: the manifest is not valid JSON ({error})"
                ) from None
            if not isinstance(manifest, dict) or manifest.get("format") != "tapegrad":
                raise LoadError("tapegrad.load: the manifest is not a tapegrad manifest")
            if manifest.get("version") != FORMAT_VERSION:
                raise LoadError(
                    f"tapegrad.load: unsupported format version {manifest.get('version')!r}"
                )
            return _Reader(archive).decode(manifest.get("root"))
        if any(name.endswith("data.pkl") or name.endswith(".pkl") for name in names):
            raise LoadError(
                "tapegrad.load: this is a PyTorch pickle checkpoint (torch.save). tapegrad never "
                "unpickles, because unpickling can run arbitrary code. Convert it once, in a "
                "trusted environment, with safetensors (safetensors.torch.save_file) or "
                "numpy.savez, then load that file."
            )
        if names and all(name.endswith(".npy") for name in names):  # a NumPy .npz archive
            return {name[:-4]: _tensor(_load_npy(archive.read(name), name)) for name in names}
        raise LoadError(
            "tapegrad.load: a ZIP archive that is neither a tapegrad file nor a NumPy .npz archive"
        )


def _looks_like_safetensors(data: bytes) -> bool:
    if len(data) < 10:
        return False
    (length,) = struct.unpack("<Q", data[:8])
    return 2 <= length <= len(data) - 8 and data[8:9] == b"{"


def load(
    f: FileLike,
    map_location: Any = None,
    pickle_module: Any = None,
    *,
    weights_only: bool = True,
    mmap: Any = None,
    **pickle_load_args: Any,
) -> Any:
    """Load what ``tapegrad.save`` wrote (or a ``.npz``, ``.npy`` or safetensors file).

    Never unpickles: ``weights_only`` is accepted for torch compatibility and loading is
    always safe. ``map_location`` may only name the CPU. See the module doc for formats.

    Example:
        >>> import io, tapegrad
        >>> from tapegrad.serialization import load, save
        >>> buffer = io.BytesIO()
        >>> save([tapegrad.tensor([1, 2]), {"lr": 0.1}], buffer)
        >>> _ = buffer.seek(0)
        >>> load(buffer)
        [tensor([1, 2]), {'lr': 0.1}]
    """
    if pickle_module is not None:
        raise ValueError("tapegrad.load never unpickles; pickle_module is not supported")
    if (
        map_location is not None
        and not callable(map_location)
        and not isinstance(map_location, dict)
    ):
        _check_device(map_location)
    data = _read_bytes(f)
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _load_archive(data)
    if data[:6] == b"\x93NUMPY":
        return _tensor(_load_npy(data, "<npy>"))
    if _looks_like_safetensors(data):
        return _load_safetensors_bytes(data)
    if data[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):
        raise LoadError(
            "tapegrad.load: this is a pickle file (a legacy torch.save checkpoint?). "
            "tapegrad never unpickles, because unpickling can run arbitrary code."
        )
    raise LoadError(
        "tapegrad.load: unrecognised file format (expected a tapegrad archive, "
        "a NumPy .npz/.npy file or a safetensors file)"
    )


# ----------------------------------------------------------------------------- safetensors
def _safetensors_numpy() -> Any:
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError(
            "reading and writing safetensors files needs the optional 'safetensors' package: "
            f"{_SAFETENSORS_HINT}"
        ) from None
    return safetensors.numpy


def _load_safetensors_bytes(data: bytes) -> dict[str, Tensor]:
    module = _safetensors_numpy()
    try:
        arrays = module.load(data)
    except Exception as error:  # noqa: BLE001
        raise LoadError(f"tapegrad.load: invalid safetensors file ({error})") from None
    return {name: _tensor(np.array(array)) for name, array in arrays.items()}


def load_safetensors(f: FileLike) -> dict[str, Tensor]:
    """Read a safetensors file into ``{name: Tensor}`` (needs ``tapegrad[safetensors]``).

    Example:
        >>> from tapegrad.serialization import load_safetensors
        >>> callable(load_safetensors)
        True
    """
    return _load_safetensors_bytes(_read_bytes(f))


def save_safetensors(
    tensors: dict[str, Tensor], f: FileLike, metadata: dict[str, str] | None = None
) -> None:
    """Write ``{name: Tensor}`` as a safetensors file (needs ``tapegrad[safetensors]``).

    Example:
        >>> from tapegrad.serialization import save_safetensors
        >>> callable(save_safetensors)
        True
    """
    module = _safetensors_numpy()
    arrays = {name: np.array(t._array, order="C") for name, t in tensors.items()}
    data = module.save(arrays, metadata=metadata)
    if isinstance(f, str | os.PathLike):
        with open(f, "wb") as stream:
            stream.write(data)
    else:
        f.write(data)
