"""The array-library seam: which module (NumPy today, CuPy later) implements an array's ops.

Op forwards call ``xp(a).<function>`` instead of ``np.<function>`` wherever CuPy has the
same function, so a CuPy backend can slot in here without touching the op table.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["xp", "is_array"]


def xp(array: Any) -> ModuleType:
    """The array namespace that owns ``array`` (NumPy for ``np.ndarray`` and scalars)."""
    if type(array) is np.ndarray:
        return np
    module = type(array).__module__
    if module.startswith("cupy"):  # pragma: no cover - no CuPy on CPU machines
        import cupy

        return cupy
    return np


def is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray)


def _errstate_fallback(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with np.errstate(all="ignore"):
        return fn(*args, **kwargs)


try:  # NumPy 2 keeps the floating-point error state in a ContextVar; setting it is cheap
    from numpy._core._ufunc_config import (  # type: ignore[attr-defined]
        _extobj_contextvar,
        _make_extobj,
    )

    _IGNORE_ALL = _make_extobj(all="ignore")
    # The two halves of ``quietly`` as C callables, for the dispatcher's hot path.
    silence_fp_errors: Any = functools.partial(_extobj_contextvar.set, _IGNORE_ALL)
    restore_fp_errors: Any = _extobj_contextvar.reset

    def quietly(fn: Any, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` with NumPy's floating-point warnings off (torch is silent).

        Same as ``with np.errstate(all="ignore")``, without building the state on every call.
        """
        token = _extobj_contextvar.set(_IGNORE_ALL)
        try:
            return fn(*args, **kwargs)
        finally:
            _extobj_contextvar.reset(token)

except ImportError:  # pragma: no cover - older NumPy
    quietly = _errstate_fallback

    def silence_fp_errors() -> Any:
        state = np.errstate(all="ignore")
        state.__enter__()
        return state

    def restore_fp_errors(state: Any) -> None:
        state.__exit__(None, None, None)
