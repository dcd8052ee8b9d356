"""The decorator base shared by every mode context manager (mirrors ``torch.utils._contextlib``).

Behaviour follows PyTorch's, with three deliberate improvements:

- coroutine functions and async generator functions are wrapped so that the mode is active
  exactly while their body runs (PyTorch covers only the creation of the coroutine object);
- a mode object that is created but never entered nor used as a decorator warns when it is
  collected (a bare ``no_grad()`` statement has no effect);
- the generator wrapper uses the one-argument ``throw(exc)``.
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
import warnings
from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import AbstractContextManager
from typing import Any, Self, TypeVar, cast, overload

FuncType = Callable[..., Any]
F = TypeVar("F", bound=FuncType)
_CtxFactory = Callable[[], AbstractContextManager[Any]]


@types.coroutine
def _run_steps(
    ctx_factory: _CtxFactory, steps: Generator[Any, Any, Any]
) -> Generator[Any, Any, Any]:
    """Drive ``steps`` to completion, entering a fresh context around every step into it.

    ``steps`` is anything with ``send``/``throw``/``close``: a generator, or the iterator behind
    an awaitable (``coro.__await__()``, ``agen.asend(v)``). Values it yields go out to our
    caller, values and exceptions sent in go back to it, and its return value is ours. Being a
    ``types.coroutine``, it can be both ``yield from``-ed and awaited.
    """
    try:
        # Sending None starts it; no body code runs before the first step (B5.1).
        with ctx_factory():
            response = steps.send(None)
        while True:
            try:
                request = yield response
            except GeneratorExit:
                # close() or collection: let the body's finally blocks run under the mode (B8).
                with ctx_factory():
                    steps.close()
                raise
            except BaseException as exc:
                with ctx_factory():
                    response = steps.throw(exc)
            else:
                with ctx_factory():
                    response = steps.send(request)
    except StopIteration as stop:
        return stop.value


def _wrap_generator(ctx_factory: _CtxFactory, func: F) -> F:
    """Wrap a generator function; the mode is re-entered at every resume of its body (B5-B10)."""

    @functools.wraps(func)
    def generator_context(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        return (yield from _run_steps(ctx_factory, func(*args, **kwargs)))

    return cast(F, generator_context)


def _wrap_coroutine(ctx_factory: _CtxFactory, func: F) -> F:
    """Wrap a coroutine function; the mode is active during each step of its body only.

    Between steps the coroutine is suspended and other tasks run, so they never see the mode.
    """

    @functools.wraps(func)
    async def coroutine_context(*args: Any, **kwargs: Any) -> Any:
        return await _run_steps(ctx_factory, func(*args, **kwargs).__await__())

    return cast(F, coroutine_context)


def _wrap_async_generator(ctx_factory: _CtxFactory, func: F) -> F:
    """Wrap an async generator function; each ``asend``/``athrow``/``aclose`` step of the inner
    generator runs under a fresh context, driven step by step like a coroutine."""

    @functools.wraps(func)
    async def async_generator_context(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        agen = func(*args, **kwargs)
        try:
            response = await _run_steps(ctx_factory, agen.asend(None).__await__())
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    await _run_steps(ctx_factory, agen.aclose().__await__())
                    raise
                except BaseException as exc:
                    response = await _run_steps(ctx_factory, agen.athrow(exc).__await__())
                else:
                    response = await _run_steps(ctx_factory, agen.asend(request).__await__())
        except StopAsyncIteration:
            return

    return cast(F, async_generator_context)


def context_decorator(ctx: Any, func: F) -> F:
    """Like ``contextlib.ContextDecorator``, but by wrapping, and aware of generators and async.

    ``ctx`` is either a multi-shot context manager or a callable producing a fresh one. Classes
    are rejected: it is ambiguous whether only the constructor or all methods should be covered.

    Example:
        >>> from contextlib import contextmanager
        >>> @contextmanager
        ... def tagged():
        ...     print("enter")
        ...     yield
        ...     print("exit")
        >>> twice = context_decorator(tagged, lambda x: 2 * x)
        >>> twice(21)
        enter
        exit
        42
    """
    if callable(ctx) and hasattr(ctx, "__enter__"):
        raise AssertionError(
            f"Passed in {ctx} is both callable and also a valid context manager "
            "(has __enter__), making it ambiguous which interface to use.  If you "
            "intended to pass a context manager factory, rewrite your call as "
            "context_decorator(lambda: ctx()); if you intended to pass a context "
            "manager directly, rewrite your call as context_decorator(lambda: ctx)"
        )
    return _decorate(ctx if callable(ctx) else (lambda: ctx), func)


def _decorate(ctx_factory: _CtxFactory, func: F) -> F:
    """``context_decorator`` for a factory known to be one (it may be a context manager class)."""
    if inspect.isclass(func):
        raise RuntimeError(
            "Cannot decorate classes; it is ambiguous whether or not only the "
            "constructor or all methods should have the context manager applied; "
            "additionally, decorating a class at definition-site will prevent "
            "use of the identifier as a conventional type.  "
            "To specify which methods to decorate, decorate each of them "
            "individually."
        )
    if inspect.isgeneratorfunction(func):
        return _wrap_generator(ctx_factory, func)
    if inspect.iscoroutinefunction(func):
        return _wrap_coroutine(ctx_factory, func)
    if inspect.isasyncgenfunction(func):
        return _wrap_async_generator(ctx_factory, func)

    @functools.wraps(func)
    def decorate_context(*args: Any, **kwargs: Any) -> Any:
        with ctx_factory():
            return func(*args, **kwargs)

    return cast(F, decorate_context)


class _DecoratorContextManager:
    """Allow a context manager to be used as a decorator.

    Each call of a decorated function runs under a fresh ``clone()`` of the manager, so the
    decorating instance is never entered itself (B1).

    Subclasses whose constructor has no effect (``no_grad``, ``enable_grad``,
    ``inference_mode``) set ``self._unused = True`` when constructed and use
    ``_warn_if_never_used`` as their ``__del__``; that arms a
    ``UserWarning`` emitted if the instance is collected without having been entered, cloned
    or used as a decorator. Their ``__enter__`` disarms it (``self._unused = False``), as do
    ``__call__`` and ``clone``. Toggles that act at construction (``set_grad_enabled`` and
    friends) never arm it, as in PyTorch, so their function-style statements do not warn.
    """

    __slots__ = ("_unused",)

    def __call__(self, orig_func: F) -> F:
        self._unused = False
        if inspect.isclass(orig_func):
            warnings.warn(
                "Decorating classes is deprecated and will be disabled in "
                "future versions. You should only decorate functions or methods. "
                "To preserve the current behavior of class decoration, you can "
                "directly decorate the `__init__` method and nothing else.",
                FutureWarning,
                stacklevel=2,
            )
            func = cast(F, lambda *args, **kwargs: orig_func(*args, **kwargs))
        else:
            func = orig_func
        factory: _CtxFactory = self.clone
        if type(self).clone is _DecoratorContextManager.clone:
            factory = type(self)  # what the default clone does, one Python frame less per call
        return _decorate(factory, func)

    def __enter__(self) -> None:
        raise NotImplementedError

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        raise NotImplementedError

    def clone(self) -> Self:
        """Return a fresh, unentered copy (override if ``__init__`` takes parameters)."""
        self._unused = False  # cloning is a use: the copy is what gets entered
        return self.__class__()

    def _warn_if_never_used(self) -> None:
        """``__del__`` of the managers that arm the warning (only those: it runs for every
        instance)."""
        if self._unused:
            self._warn_unused()

    def _warn_unused(self) -> None:
        # At interpreter shutdown the warnings machinery may already be gone.
        if sys.is_finalizing():
            return
        name = type(self).__name__
        mode = getattr(self, "mode", True)
        call = f"{name}()" if mode is True else f"{name}({mode!r})"
        # stacklevel=3 (past this and __del__): refcounting collects a bare statement right
        # after it runs, in its own frame.
        warnings.warn(
            f"{call} was created but never entered; use `with tapegrad.{call}:` or decorate a "
            "function with it. A bare statement has no effect.",
            UserWarning,
            stacklevel=3,
        )


_NOT_GIVEN: Any = object()


class _NoParamDecoratorContextManager(_DecoratorContextManager):
    """Allow a context manager to be used as a decorator without parentheses (B16)."""

    __slots__ = ()
    __del__ = _DecoratorContextManager._warn_if_never_used
    # torch's no_grad has its own no-argument __init__, so no_grad(None) is a TypeError there,
    # while enable_grad(None) is an instance.
    _none_is_an_argument = True

    @overload
    def __new__(cls, orig_func: F) -> F: ...  # type: ignore[misc]
    @overload
    def __new__(cls, orig_func: None = None) -> Self: ...

    def __new__(cls, orig_func: Any = _NOT_GIVEN) -> Any:
        if orig_func is _NOT_GIVEN or (orig_func is None and cls._none_is_an_argument):
            # All construction happens here, none in __init__: entering a mode is hot.
            self = object.__new__(cls)
            self._unused = True
            return self
        if orig_func is None:
            raise TypeError(
                f"{cls.__name__}.__init__() takes 1 positional argument but 2 were given"
            )
        return cls()(orig_func)
