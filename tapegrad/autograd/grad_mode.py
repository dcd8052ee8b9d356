"""Public grad-mode context managers (mirrors ``torch.autograd.grad_mode``).

Every flag lives in the ``tapegrad._state`` record; this module only reads and switches it.
Where tapegrad deliberately differs from PyTorch: decorated coroutines and async generators run
their body under the mode and modes never leak between asyncio tasks; ``set_multithreading_enabled``
used as a decorator leaves no state changed; a mode object that is never entered warns.
"""

from __future__ import annotations

import threading
from typing import Any

from tapegrad import _C, _state
from tapegrad.tensor import Tensor
from tapegrad.utils._contextlib import (
    F,
    _DecoratorContextManager,
    _NoParamDecoratorContextManager,
)

__all__ = [
    "enable_grad",
    "enforce_grad_layout_policy",
    "inference_mode",
    "no_grad",
    "set_grad_enabled",
    "set_multithreading_enabled",
]


def is_grad_enabled() -> bool:
    """Return True if grad mode is currently enabled (in this thread and asyncio task).

    Example:
        >>> import tapegrad
        >>> tapegrad.is_grad_enabled()
        True
        >>> with tapegrad.no_grad():
        ...     tapegrad.is_grad_enabled()
        False
    """
    return _state.current().grad_enabled


def is_inference_mode_enabled() -> bool:
    """Return True if inference mode is currently enabled.

    Example:
        >>> import tapegrad
        >>> tapegrad.is_inference_mode_enabled()
        False
        >>> with tapegrad.inference_mode():
        ...     tapegrad.is_inference_mode_enabled()
        True
    """
    return _state.current().inference_mode


def is_multithreading_enabled() -> bool:
    """Return True if multithreaded backward is enabled (the default).

    tapegrad always runs backward on the calling thread; the flag is stored for parity.

    Example:
        >>> import tapegrad
        >>> tapegrad.autograd.is_multithreading_enabled()
        True
    """
    return _state.current().multithreading


def is_view_replay_enabled() -> bool:
    """Return True if autograd always replays views (see ``_force_original_view_tracking``).

    Example:
        >>> import tapegrad
        >>> tapegrad.autograd.is_view_replay_enabled()
        False
    """
    return _state.current().view_replay


_get_modes = _state.modes_var.get
_set_modes = _state.modes_var.set
_reset_modes = _state.modes_var.reset
_thread_records = _state.thread_records
_get_ident = threading.get_ident


def _check_bool(setter: str, mode: object) -> None:
    # torch's C setters accept a real bool only (B17).
    if not isinstance(mode, bool):
        raise TypeError(
            f"{setter}(): argument 'enabled' (position 1) must be bool, not {type(mode).__name__}"
        )


def _leave_block(self: no_grad | enable_grad | inference_mode, exc_type: Any, exc_value: Any,
                 traceback: Any) -> None:
    """``__exit__`` of the token-based mode blocks (the method itself: no extra frame)."""
    try:
        _reset_modes(self._token)
    except (ValueError, RuntimeError):  # left in another context or twice
        _state.install(_state.record_before(self._token))


def _grad_mode_before(self: no_grad | enable_grad) -> bool:
    """torch's ``prev``: the grad mode the block was entered from (AttributeError until then)."""
    return _state.record_before(self._token).grad_enabled


class no_grad(_NoParamDecoratorContextManager):
    r"""Context-manager that disables gradient calculation.

    Disabling gradient calculation is useful for inference, when you are sure
    that you will not call :meth:`Tensor.backward()`. It will reduce memory
    consumption for computations that would otherwise have `requires_grad=True`.

    In this mode, the result of every computation will have
    `requires_grad=False`, even when the inputs have `requires_grad=True`.
    There is an exception! All factory functions, or functions that create
    a new Tensor and take a requires_grad kwarg, will NOT be affected by
    this mode.

    This context manager is thread local; it will not affect computation
    in other threads. It is also local to the asyncio task that enters it.

    Also functions as a decorator, with or without parentheses, on functions,
    generator functions, coroutine functions and async generator functions.

    .. note::
        This API does not apply to forward-mode AD.
        If you want to disable forward AD for a computation, you can unpack
        your dual tensors.

    Example::
        >>> import tapegrad
        >>> x = tapegrad.tensor([1.], requires_grad=True)
        >>> with tapegrad.no_grad():
        ...     y = x * 2
        >>> y.requires_grad
        False
        >>> @tapegrad.no_grad()
        ... def doubler(x):
        ...     return x * 2
        >>> z = doubler(x)
        >>> z.requires_grad
        False
        >>> @tapegrad.no_grad
        ... def tripler(x):
        ...     return x * 3
        >>> z = tripler(x)
        >>> z.requires_grad
        False
        >>> # factory function exception
        >>> with tapegrad.no_grad():
        ...     a = tapegrad.nn.Parameter(tapegrad.rand(10))
        >>> a.requires_grad
        True
    """

    __slots__ = ("_token",)
    _none_is_an_argument = False

    @property
    def prev(self) -> bool:
        return _grad_mode_before(self) if hasattr(self, "_token") else False  # torch's init

    def __enter__(self) -> None:
        self._unused = False
        modes = _get_modes()  # _state.current() inlined: entering is hot
        if modes.thread != _get_ident():
            modes = _state.own_defaults()
        if modes.grad_enabled:
            modes = modes._twin or modes.twin()
        self._token = _set_modes(modes)

    __exit__ = _leave_block


class enable_grad(_NoParamDecoratorContextManager):
    r"""Context-manager that enables gradient calculation.

    Enables gradient calculation, if it has been disabled via :class:`~no_grad`
    or :class:`~set_grad_enabled`.

    This context manager is thread local; it will not affect computation
    in other threads. It is also local to the asyncio task that enters it.

    Also functions as a decorator, with or without parentheses.

    .. note::
        This API does not apply to forward-mode AD.

    Example::
        >>> import tapegrad
        >>> x = tapegrad.tensor([1.], requires_grad=True)
        >>> with tapegrad.no_grad():
        ...     with tapegrad.enable_grad():
        ...         y = x * 2
        >>> y.requires_grad
        True
        >>> y.backward()
        >>> x.grad
        tensor([2.])
        >>> @tapegrad.enable_grad()
        ... def doubler(x):
        ...     return x * 2
        >>> with tapegrad.no_grad():
        ...     z = doubler(x)
        >>> z.requires_grad
        True
        >>> @tapegrad.enable_grad
        ... def tripler(x):
        ...     return x * 3
        >>> with tapegrad.no_grad():
        ...     z = tripler(x)
        >>> z.requires_grad
        True
    """

    __slots__ = ("_token",)
    prev = property(_grad_mode_before)

    def __enter__(self) -> None:
        self._unused = False
        modes = _get_modes()  # _state.current() inlined: entering is hot
        if modes.thread != _get_ident():
            modes = _state.own_defaults()
        if not modes.grad_enabled:
            modes = modes._twin or modes.twin()
        self._token = _set_modes(modes)

    __exit__ = _leave_block


class set_grad_enabled(_DecoratorContextManager):
    r"""Context-manager that sets gradient calculation on or off.

    ``set_grad_enabled`` will enable or disable grads based on its argument :attr:`mode`.
    It can be used as a context-manager or as a function: constructing it already sets the
    mode, and leaving the ``with`` block restores the mode from before construction.

    This context manager is thread local; it will not affect computation
    in other threads. It is also local to the asyncio task that enters it.

    Args:
        mode (bool): Flag whether to enable grad (``True``), or disable
                     (``False``). This can be used to conditionally enable
                     gradients.

    .. note::
        This API does not apply to forward-mode AD.

    Example::
        >>> import tapegrad
        >>> x = tapegrad.tensor([1.], requires_grad=True)
        >>> is_train = False
        >>> with tapegrad.set_grad_enabled(is_train):
        ...     y = x * 2
        >>> y.requires_grad
        False
        >>> _ = tapegrad.set_grad_enabled(True)
        >>> y = x * 2
        >>> y.requires_grad
        True
        >>> _ = tapegrad.set_grad_enabled(False)
        >>> y = x * 2
        >>> y.requires_grad
        False
        >>> _ = tapegrad.set_grad_enabled(True)
    """

    __slots__ = ("mode", "prev")

    def __init__(self, mode: bool) -> None:
        if mode.__class__ is not bool:  # _check_bool's test, inlined: construction is hot
            _check_bool("set_grad_enabled", mode)
        self.mode = mode
        self.prev = _state.set_grad_enabled(mode)

    def __call__(self, orig_func: F) -> F:
        # Decorating must not change the caller's mode: undo the constructor's effect (B25).
        _state.set_grad_enabled(self.prev)
        return super().__call__(orig_func)

    def __enter__(self) -> None:
        _state.set_grad_enabled(self.mode)

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        _state.set_grad_enabled(self.prev)

    def __str__(self) -> str:
        return f"{type(self).__module__}.{type(self).__qualname__}(mode={self.mode})"

    def __repr__(self) -> str:
        return str(self)

    def clone(self) -> set_grad_enabled:
        r"""Create a copy of this class.

        Example:
            >>> import tapegrad
            >>> tapegrad.set_grad_enabled(True).clone()
            tapegrad.autograd.grad_mode.set_grad_enabled(mode=True)
        """
        return self.__class__(self.mode)


class inference_mode(_DecoratorContextManager):
    r"""Context manager that enables or disables inference mode.

    InferenceMode is analogous to :class:`~no_grad` and should be used
    when you are certain your operations will not interact with autograd
    (e.g., during data loading or model evaluation). Compared to
    :class:`~no_grad`, it removes additional overhead by disabling view
    tracking and version counter bumps. It is also more restrictive, in
    that tensors created in this mode cannot be used in computations
    recorded by autograd.

    This context manager is thread-local; it does not affect computation
    in other threads. It is also local to the asyncio task that enters it.

    Also functions as a decorator.

    .. note::
       Unlike some other mechanisms that locally enable or disable grad,
       entering inference_mode also disables forward-mode AD. Entering
       ``inference_mode(False)`` turns inference mode off and grad mode on, even inside
       :class:`~no_grad`.

    .. warning::
        `inference_mode` does NOT automatically set the model to evaluation mode.
        For proper inference behavior (e.g., disabling dropout, using running statistics
        in batch normalization), you must explicitly set your model to evaluation mode using
        `model.eval()` in addition to using this context manager.

    Args:
        mode (bool or function): Either a boolean flag to enable or disable
            inference mode, or a Python function to decorate with inference
            mode enabled.

    Example::
        >>> import tapegrad
        >>> x = tapegrad.ones(1, 2, 3, requires_grad=True)
        >>> with tapegrad.inference_mode():
        ...     y = x * x
        >>> y.requires_grad
        False
        >>> y._version
        Traceback (most recent call last):
            ...
        RuntimeError: Inference tensors do not track version counter.
        >>> @tapegrad.inference_mode()
        ... def func(x):
        ...     return x * x
        >>> out = func(x)
        >>> out.requires_grad
        False
        >>> @tapegrad.inference_mode
        ... def doubler(x):
        ...     return x * 2
        >>> out = doubler(x)
        >>> out.requires_grad
        False
    """

    __slots__ = ("mode", "_token")
    __del__ = _DecoratorContextManager._warn_if_never_used
    mode: bool

    def __new__(cls, mode: Any = True) -> Any:
        # A non-bool is a function to decorate: @inference_mode without parentheses (B18).
        if not isinstance(mode, bool):
            return cls()(mode)
        # All construction happens here, none in __init__: entering a mode is hot.
        self = object.__new__(cls)
        self.mode = mode
        self._unused = True
        return self

    def __enter__(self) -> None:
        self._unused = False
        # Snapshot the whole record; exit restores it, whatever changed inside (B29-B31).
        # Like torch's C++ guard, entering replaces the whole autograd state: observed in 2.13,
        # multithreading follows grad mode and view replay is reset to False.
        records = getattr(_thread_records, "inference", None) or _state.inference_records()
        self._token = _set_modes(records[self.mode])

    __exit__ = _leave_block

    def clone(self) -> inference_mode:
        r"""Create a copy of this class.

        Example:
            >>> import tapegrad
            >>> with tapegrad.inference_mode(False).clone():
            ...     tapegrad.is_inference_mode_enabled()
            False
        """
        self._unused = False  # cloning is a use: the copy is what gets entered
        return self.__class__(self.mode)


def _enter_inference_mode(mode: bool) -> inference_mode:
    """Enter inference mode (on or off) and return the guard to pass to ``_exit_inference_mode``.

    Example:
        >>> import tapegrad
        >>> from tapegrad.autograd.grad_mode import _enter_inference_mode, _exit_inference_mode
        >>> guard = _enter_inference_mode(True)
        >>> tapegrad.is_inference_mode_enabled()
        True
        >>> _exit_inference_mode(guard)
        >>> tapegrad.is_inference_mode_enabled()
        False
    """
    guard = inference_mode(bool(mode))  # torch's guard also takes ints and None
    guard.__enter__()
    return guard


def _exit_inference_mode(mode: inference_mode) -> None:
    """Exit a guard returned by ``_enter_inference_mode``."""
    mode.__exit__(None, None, None)


class set_multithreading_enabled(_DecoratorContextManager):
    r"""Context-manager that enables or disables multithreaded backward.

    In PyTorch, ``mode=False`` makes backward for accelerator devices run on the calling thread
    instead of per-device worker threads. In tapegrad it does the same for the engine's
    worker pool, which otherwise runs independent heavy nodes beside the calling thread; the
    flag is reported by ``tapegrad.autograd.is_multithreading_enabled()``.

    This can be used as a context-manager or as a function: constructing it already sets the
    flag, and leaving the ``with`` block restores the value from before construction. It is
    thread-local and will not affect computation in other threads.

    Unlike PyTorch, using it as a decorator leaves the flag unchanged outside the calls.

    Args:
        mode (bool): Whether to enable multithreaded backward (``True``,
                    default) or disable (``False``).

    Example::
        >>> import tapegrad
        >>> with tapegrad.autograd.set_multithreading_enabled(False):
        ...     tapegrad.autograd.is_multithreading_enabled()
        False
        >>> tapegrad.autograd.is_multithreading_enabled()
        True
    """

    def __init__(self, mode: bool) -> None:
        _check_bool("set_multithreading_enabled", mode)
        self.prev = _state.current().multithreading
        _state.update(multithreading=mode)
        self.mode = mode

    def __call__(self, orig_func: F) -> F:
        # torch leaks the constructor's effect here (B37); undo it like set_grad_enabled does.
        _state.update(multithreading=self.prev)
        return super().__call__(orig_func)

    def __enter__(self) -> None:
        pass

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        _state.update(multithreading=self.prev)

    def clone(self) -> set_multithreading_enabled:
        r"""Create a copy of this class."""
        return self.__class__(self.mode)


class enforce_grad_layout_policy(_DecoratorContextManager):
    r"""Context-manager that sets whether the gradient layout contract is enforced.

    The contract lays out a leaf's first ``.grad`` like the leaf (its strides, for a
    non-overlapping dense leaf; contiguous otherwise). With ``enable=False`` PyTorch may hand
    ``.grad`` an incoming gradient of another layout without copying it. tapegrad always
    copies the first gradient into the contract's layout, so the relaxed policy gives the
    same ``.grad``; the flag is kept and reported as PyTorch's is
    (``tapegrad._C._is_grad_layout_enforcement_enabled()``).

    This can be used as a context-manager or as a function: constructing it already sets the
    flag, and leaving the ``with`` block restores the value from before construction. Used
    as a decorator it leaves the flag unchanged outside the calls. It is thread-local, and
    inference mode resets it to ``True`` inside its block, as in PyTorch.

    Args:
        enable (bool): Whether to enforce the gradient layout contract (``True``, default)
                       or relax it (``False``).

    Example::
        >>> import tapegrad
        >>> p = tapegrad.zeros(3, 4).t().requires_grad_()
        >>> with tapegrad.autograd.enforce_grad_layout_policy(False):
        ...     (p * 2).sum().backward()
        >>> p.grad.stride()
        (1, 4)
    """

    def __init__(self, enable: bool = True) -> None:
        _check_bool("set_grad_layout_enforcement_enabled", enable)
        self.prev = _state.current().grad_layout_enforced
        _state.update(grad_layout_enforced=enable)
        self.mode = enable

    def __call__(self, orig_func: F) -> F:
        _state.update(grad_layout_enforced=self.prev)
        return super().__call__(orig_func)

    def __enter__(self) -> None:
        pass

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        _state.update(grad_layout_enforced=self.prev)

    def clone(self) -> enforce_grad_layout_policy:
        r"""Create a copy of this class."""
        return self.__class__(self.mode)


class _force_original_view_tracking(_DecoratorContextManager):
    r"""Context-manager that sets whether or not to always enable view-replay in autograd.

    It enables or disables view-replay based on its argument :attr:`mode`.
    It can be used as a context-manager or as a function.

    This context manager is thread local; it will not affect computation
    in other threads.

    When a tensor view is mutated, the autograd engine needs to decide whether or not
    to regenerate the "updated view" by either replaying the chain of views from the updated base,
    or with a single call to as_strided.

    If view replay is set to True, then autograd will always use view replay.
    Otherwise, it will fall back to its existing logic.

    Args:
        mode (bool): Flag whether to enable view-replay (``True``), or disable
                     (``False``).

    Example::
        >>> import tapegrad
        >>> with tapegrad.autograd._force_original_view_tracking(True):
        ...     tapegrad.autograd.is_view_replay_enabled()
        True
        >>> tapegrad.autograd.is_view_replay_enabled()
        False
    """

    def __init__(self, mode: bool) -> None:
        _check_bool("set_view_replay_enabled", mode)
        self.prev = _state.current().view_replay
        self.mode = mode
        _state.update(view_replay=mode)

    def __call__(self, orig_func: F) -> F:
        _state.update(view_replay=self.prev)
        return super().__call__(orig_func)

    def __enter__(self) -> None:
        _state.update(view_replay=self.mode)

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        _state.update(view_replay=self.prev)

    def clone(self) -> _force_original_view_tracking:
        return self.__class__(self.mode)


class _unsafe_preserve_version_counter(_DecoratorContextManager):
    r"""DO NOT USE THIS UNLESS YOU KNOW EXACTLY WHAT YOU'RE DOING.

    This context manager can lead to arbitrary silent-correctness issues in any other part of
    your code (even the ones not touched directly by the context manager)!

    Ordinarily, autograd will track mutations to tensors by incrementing its `._version`
    attribute. This is generally important for correctness, as for example, mutating a tensor
    that autograd has saved for the backwards pass can result in incorrect gradients, and
    autograd uses the version counter to detect and error out in this situation.

    However, there are rare instances where it might be useful to hide mutations from autograd.
    For example: if a tensor is very large, and you'd like to free its memory by storing it
    elsewhere, and re-populate the tensor right before it is needed by autograd.

    The versions are recorded at construction and restored on exit. As in PyTorch, it cannot be
    used as a decorator (``clone()`` has no tensors to pass).

    Args:
        tensors (Tensor or tuple of Tensor): the tensors whose version counters to preserve.

    .. note::
        This API does not apply to forward-mode AD.
    """

    def __init__(self, tensors: Tensor | tuple[Tensor, ...]) -> None:
        self.tensors = (tensors,) if isinstance(tensors, Tensor) else tensors
        if not isinstance(self.tensors, tuple):
            raise AssertionError("Expected tensors to be a tuple")
        self.prev_versions = tuple(t._version for t in self.tensors)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *args: Any) -> None:
        _C._autograd._unsafe_set_version_counter(self.tensors, self.prev_versions)
