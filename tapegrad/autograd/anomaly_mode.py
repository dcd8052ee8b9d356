"""Anomaly detection for the backward pass (mirrors ``torch.autograd.anomaly_mode``).

While it is on, every backward node remembers where the forward pass created it; a backward
that fails warns with that place before the error propagates, and (with ``check_nan``) a
node whose gradient holds a nan raises. The flag is process-global, as in PyTorch.
"""

from __future__ import annotations

import warnings
from typing import Any

from tapegrad import _state

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
           "is_anomaly_check_nan_enabled"]


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on (``torch.is_anomaly_enabled``).

    Example:
        >>> import tapegrad
        >>> tapegrad.is_anomaly_enabled()
        False
    """
    return _state.anomaly.enabled


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly detection raises on nan gradients (``torch.is_anomaly_check_nan_enabled``).

    Example:
        >>> import tapegrad
        >>> tapegrad.is_anomaly_check_nan_enabled()
        True
    """
    return _state.anomaly.check_nan


def _set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    for name, position, value in (("enabled", 1, enabled), ("check_nan", 2, check_nan)):
        if not isinstance(value, bool):  # torch's C setter takes a real bool only
            raise TypeError(f"set_anomaly_enabled(): argument '{name}' (position {position}) "
                            f"must be bool, not {type(value).__name__}")
    _restore((enabled, check_nan))


def _restore(previous: tuple[bool, bool]) -> None:
    _state.anomaly.enabled, _state.anomaly.check_nan = previous


def _current() -> tuple[bool, bool]:
    return _state.anomaly.enabled, _state.anomaly.check_nan


class detect_anomaly:
    r"""Context-manager that turns anomaly detection on for the autograd engine.

    Inside it, a backward node that raises (a saved tensor modified in place, a failing custom
    ``backward``, a hook) first warns with the traceback of the forward call that created the
    node, and, with ``check_nan=True``, a node whose gradient holds a nan raises
    ``RuntimeError: Function '<Node>' returned nan values in its <i>th output.``. It warns on
    construction that it slows things down: use it for debugging only. As in PyTorch it is a
    context manager only, not a decorator.

    Args:
        check_nan (bool): Whether to raise on a nan gradient (default ``True``).

    Example::
        >>> import warnings
        >>> import tapegrad
        >>> x = tapegrad.tensor([-1.0], requires_grad=True)
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     with tapegrad.autograd.detect_anomaly():
        ...         y = x.sqrt()
        ...         try:
        ...             y.backward()
        ...         except RuntimeError as error:
        ...             print(error)
        Function 'SqrtBackward0' returned nan values in its 0th output.
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.prev = is_anomaly_enabled()
        self.check_nan = check_nan
        self.prev_check_nan = is_anomaly_check_nan_enabled()
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                      "and should only be enabled for debugging.", UserWarning, stacklevel=2)

    def __enter__(self) -> None:
        _set_anomaly_enabled(True, self.check_nan)

    def __exit__(self, *args: Any) -> None:
        _restore((self.prev, self.prev_check_nan))


class set_detect_anomaly:
    r"""Context-manager that sets anomaly detection on or off (see :class:`detect_anomaly`).

    Like ``set_grad_enabled`` it acts on construction, so it also works as a plain function
    call; leaving a ``with`` block restores the flags from before construction.

    Args:
        mode (bool): Turn anomaly detection on (``True``) or off (``False``).
        check_nan (bool): Whether to raise on a nan gradient (default ``True``).

    Example::
        >>> import tapegrad
        >>> with tapegrad.autograd.set_detect_anomaly(True, check_nan=False):
        ...     tapegrad.is_anomaly_enabled(), tapegrad.is_anomaly_check_nan_enabled()
        (True, False)
        >>> tapegrad.is_anomaly_enabled()
        False
    """

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.prev = _current()
        _set_anomaly_enabled(mode, check_nan)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *args: Any) -> None:
        _restore(self.prev)
