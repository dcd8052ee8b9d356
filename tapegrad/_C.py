"""The ``torch._C`` entry points that PyTorch code calls directly for modes and versions.

PyTorch's Python layer (and code that copies it, such as the grad-mode seed) switches the
thread's autograd flags through ``torch._C``: ``_set_grad_enabled``, the view-replay and
multithreading setters, the inference-mode guard ``_InferenceMode`` and the version-counter
helpers. Each one here is a thin door into ``tapegrad._state`` or a tensor's counter, with
torch's argument checks.

Example:
    >>> import tapegrad
    >>> tapegrad._C._set_grad_enabled(False)
    >>> tapegrad.is_grad_enabled()
    False
    >>> tapegrad._C._set_grad_enabled(True)
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from tapegrad import _state
from tapegrad.tensor import Tensor


def _bool(setter: str, mode: object) -> bool:
    if not isinstance(mode, bool):  # torch's C setters take a real bool only
        raise TypeError(f"{setter}(): argument 'enabled' (position 1) must be bool, not "
                        f"{type(mode).__name__}")
    return mode


def is_grad_enabled() -> bool:
    return _state.current().grad_enabled


def _set_grad_enabled(mode: bool) -> None:
    _state.set_grad_enabled(_bool("set_grad_enabled", mode))


def _is_multithreading_enabled() -> bool:
    return _state.current().multithreading


def _set_multithreading_enabled(mode: bool) -> None:
    _state.update(multithreading=_bool("set_multithreading_enabled", mode))


def _is_view_replay_enabled() -> bool:
    return _state.current().view_replay


def _set_view_replay_enabled(mode: bool) -> None:
    _state.update(view_replay=_bool("set_view_replay_enabled", mode))


def _is_fwd_grad_enabled() -> bool:
    return _state.current().fw_grad_enabled


def _set_fwd_grad_enabled(mode: bool) -> None:
    if not isinstance(mode, bool):
        raise TypeError(f"enabled must be a bool (got {type(mode).__name__})")
    _state.update(fw_grad_enabled=mode)


def _is_grad_layout_enforcement_enabled() -> bool:
    return _state.current().grad_layout_enforced


def _set_grad_layout_enforcement_enabled(mode: bool) -> None:
    _state.update(grad_layout_enforced=_bool("set_grad_layout_enforcement_enabled", mode))


class _InferenceMode:
    """torch's inference-mode guard: entered on construction, left when it is deleted."""

    def __init__(self, mode: bool) -> None:
        self._token = _state.modes_var.set(
            _state.inference_records()[_bool("_InferenceMode", mode)])

    def __del__(self) -> None:
        try:
            _state.modes_var.reset(self._token)
        except (ValueError, RuntimeError):  # deleted in another context, or after it ended
            _state.install(_state.record_before(self._token))


def _increment_version(tensors: Sequence[Tensor]) -> None:
    for tensor in tensors:  # a tensor passed bare is iterated too, as in torch
        tensor._bump()


def _unsafe_set_version_counter(tensors: Sequence[Tensor], versions: Sequence[int]) -> None:
    if isinstance(tensors, Tensor) or not isinstance(tensors, Sequence):
        raise TypeError("_unsafe_set_version_counter(): incompatible function arguments")
    if len(tensors) != len(versions):
        raise RuntimeError(f"tensors_len={len(tensors)}, versions_len={len(versions)}")
    for tensor, version in zip(tensors, versions, strict=True):  # all checked before any set
        if tensor._vc is None:
            raise RuntimeError(
                "Tried to call torch.autograd._unsafe_set_version() on a tensor that does not "
                "have a version counter. Was it created in inference mode?")
        if version < 0:
            raise RuntimeError(f"Cannot set a version_counter to a value below 0: {version}")
    for tensor, version in zip(tensors, versions, strict=True):
        tensor._vc.value = int(version)


_autograd: Any = SimpleNamespace(_unsafe_set_version_counter=_unsafe_set_version_counter)
