"""Small helpers for hand-written differential tests: run a scenario on tapegrad and torch.

Example:
    >>> outcome(lambda: 1 / 0)
    ('ZeroDivisionError', 'division by zero')
    >>> describe(None) is None
    True
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

import tapegrad

__all__ = ["compare", "describe", "on_both", "outcome", "phrase", "warned"]


def phrase(error: BaseException, length: int = 60) -> str:
    """The opening words of an error message, with torch's module name normalised."""
    return str(error).replace("torch.", "tapegrad.")[:length]


def outcome(fn: Callable[[], Any], length: int = 60) -> Any:
    """``fn()``'s value, or ``(exception type name, opening words of its message)``."""
    try:
        return fn()
    except Exception as error:
        return (type(error).__name__, phrase(error, length))


def describe(t: Any, version: bool = True) -> Any:
    """What a user can observe about a tensor (or a tuple of them), in comparable form.

    Pass ``version=False`` for gradients: torch hands its engine buffers to ``.grad``, and
    their versions count the engine's own in-place accumulation.
    """
    if t is None:
        return None
    if isinstance(t, tuple | list):
        return tuple(describe(item, version) for item in t)
    if not hasattr(type(t), "requires_grad"):
        return t
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grad_fn = outcome(lambda: t.grad_fn)
        zero = getattr(t, "_is_zerotensor", lambda: False)()  # torch's ZeroTensor refuses .numpy()
        array = np.zeros(tuple(t.shape)) if zero else t.detach().numpy()
        values = np.asarray(np.asarray(array, dtype=np.float64).round(5))
        flat = values.astype(object).reshape(-1)
        flat[np.isnan(values).reshape(-1)] = "nan"  # so that nan == nan
        return (
            flat.reshape(values.shape).tolist(),
            tuple(t.shape),
            str(t.dtype).rsplit(".", 1)[-1],
            t.requires_grad,
            grad_fn if isinstance(grad_fn, tuple) else grad_fn is not None,
            "inference" if t.is_inference() else
            outcome(lambda: t._version) if version else None,
        )


def warned(fn: Callable[[], Any]) -> tuple[Any, tuple[str, ...]]:
    """``outcome(fn)`` and the categories of the warnings it emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = outcome(fn)
    return result, tuple(w.category.__name__ for w in caught)


def on_both(scenario: Callable[[Any], Any]) -> tuple[Any, Any]:
    """``scenario(tapegrad)`` and ``scenario(torch)``."""
    import torch

    return scenario(tapegrad), scenario(torch)


def compare(scenario: Callable[[Any], Any]) -> Any:
    """Assert that a scenario observes the same on tapegrad and on torch; return that."""
    ours, theirs = on_both(scenario)
    assert ours == theirs, f"\ntapegrad: {ours}\ntorch:    {theirs}"
    return ours
