"""dtypes: tapegrad DType objects, their NumPy twins, the default dtype and torch's promotion."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "DType",
    "bool_",
    "float16",
    "float32",
    "float64",
    "int8",
    "int32",
    "int64",
    "uint8",
    "from_numpy_dtype",
    "get_default_dtype",
    "promote_types",
    "result_type",
    "to_dtype",
]

# Category ranks for promotion: bool < integral < floating.
_BOOL, _INT, _FLOAT = 0, 1, 2


class DType:
    """A tensor element type, e.g. ``tapegrad.float32``; compare with ``==`` or ``is``.

    Example:
        >>> import tapegrad
        >>> tapegrad.float32.is_floating_point, tapegrad.int64.itemsize
        (True, 8)
    """

    __slots__ = ("name", "np", "category", "itemsize", "legacy_name", "__weakref__")

    def __init__(self, name: str, np_dtype: Any, category: int, legacy_name: str) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)
        self.category = category
        self.itemsize = self.np.itemsize
        self.legacy_name = legacy_name

    @property
    def is_floating_point(self) -> bool:
        return self.category == _FLOAT

    @property
    def is_signed(self) -> bool:
        return self.name != "uint8" and self.name != "bool"

    @property
    def is_complex(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"tapegrad.{self.name}"

    def __reduce__(self) -> str:
        return self.name if self.name != "bool" else "bool_"


float16 = DType("float16", np.float16, _FLOAT, "HalfTensor")
float32 = DType("float32", np.float32, _FLOAT, "FloatTensor")
float64 = DType("float64", np.float64, _FLOAT, "DoubleTensor")
int8 = DType("int8", np.int8, _INT, "CharTensor")
int32 = DType("int32", np.int32, _INT, "IntTensor")
int64 = DType("int64", np.int64, _INT, "LongTensor")
uint8 = DType("uint8", np.uint8, _INT, "ByteTensor")
int16 = DType("int16", np.int16, _INT, "ShortTensor")
bool_ = DType("bool", np.bool_, _BOOL, "BoolTensor")

_ALL = (float16, float32, float64, int8, int16, int32, int64, uint8, bool_)
_BY_NUMPY: dict[np.dtype[Any], DType] = {d.np: d for d in _ALL}
NUMPY_TO_DTYPE = _BY_NUMPY  # read-only lookup for the tensor hot path


class _Defaults:
    __slots__ = ("dtype",)

    def __init__(self) -> None:
        self.dtype = float32


_defaults = _Defaults()


def get_default_dtype() -> DType:
    """The dtype of floating tensors built from Python floats (``float32`` unless changed)."""
    return _defaults.dtype


def set_default_dtype(dtype: DType) -> None:
    """Set the default floating dtype (only floating dtypes are allowed, as in torch)."""
    if not isinstance(dtype, DType) or not dtype.is_floating_point:
        raise TypeError("only floating-point types are supported as the default type")
    _defaults.dtype = dtype


def from_numpy_dtype(np_dtype: Any) -> DType:
    """The DType for a NumPy dtype; TypeError for types tapegrad does not support."""
    try:
        return _BY_NUMPY[np.dtype(np_dtype)]
    except (KeyError, TypeError):
        raise TypeError(
            f"can't convert np.ndarray of type {np.dtype(np_dtype)}. The only supported types "
            "are: float64, float32, float16, int64, int32, int16, int8, uint8, and bool."
        ) from None


def to_dtype(dtype: Any) -> DType:
    """Accept a DType, a NumPy dtype, or a Python type (float/int/bool) as torch does."""
    if isinstance(dtype, DType):
        return dtype
    if dtype is float:
        return float64
    if dtype is int:
        return int64
    if dtype is bool:
        return bool_
    return from_numpy_dtype(dtype)


def promote_types(a: DType, b: DType) -> DType:
    """torch.promote_types: the smallest dtype both ``a`` and ``b`` convert to safely."""
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    if a.category == _FLOAT:
        return a if a.itemsize >= b.itemsize else b
    # Integers: uint8 mixed with a signed type needs a signed type that holds 0..255.
    if a is uint8 or b is uint8:
        other = b if a is uint8 else a
        return int16 if other is int8 else other
    return a if a.itemsize >= b.itemsize else b


def _combine_categories(higher: DType | None, lower: DType | None) -> DType | None:
    if higher is None:
        return lower
    if lower is None or higher.category == _FLOAT:
        return higher
    if higher is bool_ or lower.category == _FLOAT:
        return promote_types(higher, lower)
    return higher


def scalar_dtype(value: Any) -> DType:
    """The dtype a Python scalar takes on its own (``tensor(2.5)`` is the default dtype)."""
    if isinstance(value, bool | np.bool_):
        return bool_
    if isinstance(value, int | np.integer):
        return int64
    return get_default_dtype()


def result_type(dims: list[DType], zero_dims: list[DType], scalars: list[Any]) -> DType:
    """torch's result type: dimensioned tensors beat 0-d tensors beat Python scalars, by category.

    ``dims`` are dtypes of tensors with ``ndim > 0``, ``zero_dims`` of 0-d tensors, and
    ``scalars`` the Python numbers ("weak" operands).
    """
    dim_result = _fold(dims)
    zero_result = _fold(zero_dims)
    scalar_result = _fold([scalar_dtype(s) for s in scalars])
    result = _combine_categories(dim_result, _combine_categories(zero_result, scalar_result))
    assert result is not None
    return result


def _fold(dtypes: list[DType]) -> DType | None:
    if not dtypes:
        return None
    out = dtypes[0]
    for d in dtypes[1:]:
        out = promote_types(out, d)
    return out
