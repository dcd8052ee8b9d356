"""The array-library seam: which module (NumPy today, CuPy later) implements an array's ops.

Op forwards call ``xp(a).<function>`` instead of ``np.<function>`` wherever CuPy has the
same function, so a CuPy backend can slot in here without touching the op table.
"""

from __future__ import annotations

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
