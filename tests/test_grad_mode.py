"""Mode machinery and mode-state behaviour that needs no tensors.

B-numbers refer to /work/shared/reference/grad-mode-spec.md. Tests named ``*_improved`` cover
where tapegrad deliberately differs from PyTorch (async bodies and tasks, the decorator form of
set_multithreading_enabled, the never-entered warning).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gc
import inspect
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest

import tapegrad.autograd.grad_mode as gm
from tapegrad import _state
from tapegrad.utils._contextlib import (
    _DecoratorContextManager,
    _NoParamDecoratorContextManager,
    context_decorator,
)


@pytest.fixture(autouse=True)
def _default_modes() -> Iterator[None]:
    # Every test starts and ends from the defaults, so one failure cannot cascade.
    _state.install(_state.Modes())
    yield
    _state.install(_state.Modes())


def modes() -> tuple[bool, bool, bool, bool, bool]:
    """(grad, inference, fw_grad, multithreading, view_replay)."""
    m = _state.current()
    return (m.grad_enabled, m.inference_mode, m.fw_grad_enabled, m.multithreading, m.view_replay)


DEFAULTS = (True, False, True, True, False)
# Inside inference_mode(): torch's guard replaces the whole autograd state (observed, 2.13).
INFERENCE = (False, True, False, False, False)


def in_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a fresh thread and return its result."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join()
    return out[0]


@contextmanager
def no_warnings() -> Iterator[None]:
    """Assert that the block, and collecting its garbage, emits no warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
        gc.collect()
    assert [str(w.message) for w in caught] == []


def raise_inside(cm: Any, seen: list[tuple[bool, ...]]) -> None:
    """Enter ``cm``, record the modes inside it, and raise KeyError."""
    with cm:
        seen.append(modes())
        raise KeyError


# --- 1. decorator machinery -------------------------------------------------------------------


def test_b1_wrapper_keeps_metadata() -> None:
    def f(a: int, b: int = 2, *, c: int) -> int:
        """Doc."""
        return a + b + c

    for deco in (gm.no_grad(), gm.no_grad, gm.enable_grad, gm.inference_mode, gm.inference_mode()):
        wrapped = deco(f)
        assert wrapped.__name__ == "f"
        assert wrapped.__doc__ == "Doc."
        assert wrapped.__wrapped__ is f
        assert inspect.signature(wrapped) == inspect.signature(f)


def test_b1_fresh_clone_per_call_recursive() -> None:
    """B1: mutual recursion through decorated functions restores the caller's mode at each depth."""
    seen: list[tuple[int, bool]] = []

    @gm.enable_grad()
    def enabled(depth: int) -> None:
        seen.append((depth, gm.is_grad_enabled()))
        if depth:
            disabled(depth - 1)
        seen.append((depth, gm.is_grad_enabled()))

    @gm.no_grad()
    def disabled(depth: int) -> None:
        seen.append((depth, gm.is_grad_enabled()))
        if depth:
            enabled(depth - 1)
        seen.append((depth, gm.is_grad_enabled()))

    disabled(3)
    assert seen == [
        (3, False), (2, True), (1, False), (0, True), (0, True), (1, False), (2, True), (3, False)
    ]  # fmt: skip
    assert gm.is_grad_enabled()


def test_b1_decorating_instance_never_entered() -> None:
    deco = gm.no_grad()
    f = deco(gm.is_grad_enabled)
    assert f() is False
    assert gm.is_grad_enabled()
    assert deco.prev is False  # entering it would have saved True: only clones were entered


def test_b2_clone() -> None:
    for original in (gm.no_grad(), gm.enable_grad(), gm.inference_mode(False)):
        copy = original.clone()
        assert type(copy) is type(original)
        assert copy is not original
        with original, copy:
            pass
    assert copy.mode is False
    assert gm.set_grad_enabled(False).clone().mode is False
    assert gm.set_multithreading_enabled(False).clone().mode is False
    assert gm._force_original_view_tracking(True).clone().mode is True


def test_b2_clones_of_inert_modes_are_entered_by_wrappers() -> None:
    # The three inert modes' clones must be entered by every wrapper form (no warning).
    with no_warnings():
        for deco in (gm.no_grad, gm.enable_grad, gm.inference_mode):
            deco(lambda: None)()
            list(deco(lambda: (yield 1))())


def test_b3_function_restores_after_return_and_exception() -> None:
    @gm.no_grad
    def boom() -> None:
        assert not gm.is_grad_enabled()
        raise ValueError("x")

    with pytest.raises(ValueError, match="x"):
        boom()
    assert gm.is_grad_enabled()
    assert gm.no_grad(gm.is_grad_enabled)() is False
    assert gm.is_grad_enabled()


def test_b3_context_manager_restores_after_exception() -> None:
    for cm in (
        lambda: gm.no_grad(),
        lambda: gm.set_grad_enabled(False),
        lambda: gm.inference_mode(),
        lambda: gm.set_multithreading_enabled(False),
        lambda: gm._force_original_view_tracking(True),
    ):
        inside: list[tuple[bool, ...]] = []
        with pytest.raises(KeyError):
            raise_inside(cm(), inside)
        assert inside[0] != DEFAULTS
        assert modes() == DEFAULTS
    _ = gm.set_grad_enabled(False)
    with pytest.raises(KeyError), gm.enable_grad():
        raise KeyError
    assert not gm.is_grad_enabled()


def test_b4_enter_returns_none_and_does_not_suppress() -> None:
    for make in (gm.no_grad, gm.enable_grad, gm.inference_mode, lambda: gm.set_grad_enabled(True)):
        with make() as value:
            assert value is None
    with pytest.raises(ZeroDivisionError), gm.no_grad():
        1 / 0


def test_b5_generator_mode_per_resume_send_and_return() -> None:
    log: list[Any] = []

    @gm.no_grad()
    def gen() -> Iterator[int]:
        log.append(("start", gm.is_grad_enabled()))
        for i in range(2):
            got = yield i
            log.append(("resume", i, got, gm.is_grad_enabled()))
        return "retval"

    assert inspect.isgeneratorfunction(gen)
    it = gen()
    assert log == []  # B5.1: nothing runs before the first next()
    assert next(it) == 0
    assert gm.is_grad_enabled()
    assert it.send("A") == 1
    assert gm.is_grad_enabled()
    with pytest.raises(StopIteration) as stop:
        it.send("B")
    assert stop.value.value == "retval"
    assert log == [("start", False), ("resume", 0, "A", False), ("resume", 1, "B", False)]
    assert gm.is_grad_enabled()


def test_b6_changes_inside_generator_do_not_survive_yield() -> None:
    @gm.no_grad()
    def gen() -> Iterator[bool]:
        _ = gm.set_grad_enabled(True)
        yield gm.is_grad_enabled()
        yield gm.is_grad_enabled()

    assert list(gen()) == [True, False]
    assert gm.is_grad_enabled()


def test_b7_throw_forwarded_under_mode() -> None:
    @gm.no_grad()
    def gen() -> Iterator[Any]:
        try:
            yield 1
        except ValueError:
            yield ("caught", gm.is_grad_enabled())
        yield 2

    it = gen()
    next(it)
    assert it.throw(ValueError("v")) == ("caught", False)
    assert gm.is_grad_enabled()
    with pytest.raises(KeyError):
        it.throw(KeyError("k"))  # not caught by the body: propagates to the caller
    assert gm.is_grad_enabled()


def test_b8_close_and_collection_run_cleanup_under_mode() -> None:
    log: list[Any] = []

    @gm.enable_grad()
    def gen() -> Iterator[int]:
        try:
            yield 1
        except GeneratorExit:
            log.append(("exit", gm.is_grad_enabled()))
            raise
        finally:
            log.append(("finally", gm.is_grad_enabled()))

    with gm.no_grad():
        it = gen()
        next(it)
        it.close()
        assert log == [("exit", True), ("finally", True)]
        assert not gm.is_grad_enabled()
        log.clear()
        it = gen()
        next(it)
        del it
        gc.collect()
        assert log == [("exit", True), ("finally", True)]
        assert not gm.is_grad_enabled()


def test_b9_generator_exception_propagates() -> None:
    @gm.no_grad()
    def gen() -> Iterator[int]:
        yield 1
        raise KeyError("k")

    it = gen()
    next(it)
    with pytest.raises(KeyError):
        next(it)
    assert gm.is_grad_enabled()


def test_b10_yield_from_sees_mode() -> None:
    def inner() -> Iterator[bool]:
        yield gm.is_grad_enabled()

    @gm.no_grad()
    def outer() -> Iterator[bool]:
        yield from inner()

    assert list(outer()) == [False]


def test_b11_only_true_generator_functions_special_cased() -> None:
    def body() -> Iterator[bool]:
        yield gm.is_grad_enabled()

    returns_gen = gm.no_grad()(lambda: body())
    assert not inspect.isgeneratorfunction(returns_gen)
    assert list(returns_gen()) == [True]

    def gen(x: int) -> Iterator[tuple[int, bool]]:
        yield x, gm.is_grad_enabled()

    assert list(gm.no_grad()(functools.partial(gen, 3))()) == [(3, False)]

    class Holder:
        @gm.no_grad()
        def method(self) -> Iterator[bool]:
            yield gm.is_grad_enabled()

    assert list(Holder().method()) == [False]


def test_b12_coroutine_body_runs_under_mode_improved() -> None:
    @gm.no_grad()
    async def body(x: int) -> tuple[int, bool, bool]:
        before = gm.is_grad_enabled()
        await asyncio.sleep(0)
        return x, before, gm.is_grad_enabled()

    assert inspect.iscoroutinefunction(body)
    assert body.__name__ == "body"
    assert asyncio.run(body(1)) == (1, False, False)
    assert gm.is_grad_enabled()

    @gm.inference_mode
    async def im() -> tuple[bool, bool]:
        return gm.is_inference_mode_enabled(), gm.is_grad_enabled()

    assert inspect.iscoroutinefunction(im)
    assert asyncio.run(im()) == (True, False)

    class Holder:
        @gm.enable_grad
        async def method(self) -> bool:
            return gm.is_grad_enabled()

    with gm.no_grad():
        assert asyncio.run(Holder().method()) is True
        assert not gm.is_grad_enabled()


def test_b12_coroutine_throw_and_cancel_improved() -> None:
    log: list[Any] = []

    @gm.no_grad
    async def worker(started: asyncio.Event) -> None:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            log.append(("cancelled", gm.is_grad_enabled()))
            raise
        finally:
            log.append(("finally", gm.is_grad_enabled()))

    async def main() -> None:
        started = asyncio.Event()
        task = asyncio.create_task(worker(started))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        log.append(("main", gm.is_grad_enabled()))

    asyncio.run(main())
    assert log == [("cancelled", False), ("finally", False), ("main", True)]


def test_b12_coroutine_close_runs_cleanup_under_mode_improved() -> None:
    log: list[bool] = []

    class Suspend:
        def __await__(self) -> Iterator[None]:
            yield

    @gm.no_grad
    async def body() -> None:
        try:
            await Suspend()
        finally:
            log.append(gm.is_grad_enabled())

    coro = body()
    coro.send(None)  # drive by hand: suspended at Suspend
    assert gm.is_grad_enabled()
    coro.close()
    assert log == [False]
    assert gm.is_grad_enabled()


def test_b12_async_generator_body_runs_under_mode_improved() -> None:
    log: list[Any] = []

    @gm.inference_mode()
    async def agen(n: int) -> Any:
        try:
            for i in range(n):
                got = yield i, gm.is_inference_mode_enabled()
                await asyncio.sleep(0)
                log.append((got, gm.is_inference_mode_enabled()))
        finally:
            log.append(("finally", gm.is_inference_mode_enabled()))

    assert inspect.isasyncgenfunction(agen)
    assert agen.__name__ == "agen"

    async def main() -> list[Any]:
        out = [item async for item in agen(2)]
        out.append(gm.is_inference_mode_enabled())
        it = agen(5)
        out.append(await it.asend(None))
        out.append(await it.asend("sent"))
        out.append(gm.is_inference_mode_enabled())
        await it.aclose()
        return out

    out = asyncio.run(main())
    assert out == [(0, True), (1, True), False, (0, True), (1, True), False]
    assert log == [(None, True), (None, True), ("finally", True), ("sent", True), ("finally", True)]


def test_b12_async_generator_athrow_improved() -> None:
    @gm.no_grad
    async def agen() -> Any:
        try:
            yield 1
        except ValueError:
            yield ("caught", gm.is_grad_enabled())

    async def main() -> list[Any]:
        it = agen()
        out = [await it.__anext__(), await it.athrow(ValueError()), gm.is_grad_enabled()]
        with pytest.raises(StopAsyncIteration):
            await it.__anext__()
        return out

    assert asyncio.run(main()) == [1, ("caught", False), True]


def test_b13_tasks_never_see_each_others_modes_improved() -> None:
    log: list[tuple[str, bool]] = []

    async def with_block() -> None:
        with gm.no_grad():
            for _ in range(3):
                log.append(("a", gm.is_grad_enabled()))
                await asyncio.sleep(0)

    @gm.inference_mode
    async def decorated() -> None:
        for _ in range(3):
            log.append(("b", gm.is_inference_mode_enabled()))
            await asyncio.sleep(0)

    async def observer() -> None:
        for _ in range(4):
            log.append(("grad", gm.is_grad_enabled()))
            log.append(("inference", gm.is_inference_mode_enabled()))
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(with_block(), decorated(), observer())

    asyncio.run(main())
    assert {entry for entry in log if entry[0] == "a"} == {("a", False)}
    assert {entry for entry in log if entry[0] == "b"} == {("b", True)}
    assert {entry for entry in log if entry[0] == "grad"} == {("grad", True)}
    assert {entry for entry in log if entry[0] == "inference"} == {("inference", False)}
    assert len(log) == 14


def test_b14_decorating_a_class_warns_and_returns_function() -> None:
    class Foo:
        def __init__(self) -> None:
            self.init_grad = gm.is_grad_enabled()

        def method(self) -> bool:
            return gm.is_grad_enabled()

    with pytest.warns(
        FutureWarning, match="^Decorating classes is deprecated and will be disabled"
    ):
        decorated = gm.no_grad()(Foo)
    assert not inspect.isclass(decorated)
    obj = decorated()
    assert obj.init_grad is False
    assert obj.method() is True
    with pytest.raises(TypeError):
        isinstance(obj, decorated)  # type: ignore[arg-type]


def test_b14_decorating_functions_and_methods_does_not_warn() -> None:
    with no_warnings():

        class Foo:
            @gm.no_grad()
            def __init__(self) -> None:
                pass

            @gm.no_grad
            def method(self) -> None:
                pass

        Foo().method()


def test_b15_context_decorator_rejections() -> None:
    with pytest.raises(AssertionError, match=r"^Passed in .* is both callable and also a valid"):
        context_decorator(gm.set_grad_enabled(True), lambda: None)
    with pytest.raises(RuntimeError, match=r"^Cannot decorate classes; it is ambiguous"):
        context_decorator(lambda: gm.no_grad(), type("C", (), {}))


def test_b16_no_parenthesis_forms() -> None:
    def f() -> bool:
        return gm.is_grad_enabled()

    for wrapped in (gm.no_grad(f), gm.no_grad()(f), gm.no_grad(orig_func=f)):
        assert wrapped() is False
    _ = gm.set_grad_enabled(False)
    for wrapped in (gm.enable_grad(f), gm.enable_grad()(f), gm.enable_grad(orig_func=f)):
        assert wrapped() is True
    assert gm.is_grad_enabled() is False


def test_b16_edge_arguments() -> None:
    wrapper = gm.no_grad(5)  # type: ignore[call-overload]
    assert inspect.isfunction(wrapper)
    with pytest.raises(TypeError, match="'int' object is not callable"):
        wrapper()
    with (
        no_warnings(),
        pytest.raises(TypeError, match=r"no_grad.__init__\(\) takes 1 positional argument"),
    ):
        gm.no_grad(None)  # type: ignore[call-overload]
    instance = gm.enable_grad(None)
    assert isinstance(instance, gm.enable_grad)
    with instance:
        pass


def test_b16_class_hierarchy() -> None:
    for cls in (gm.no_grad, gm.enable_grad):
        assert cls.__mro__[1:] == (
            _NoParamDecoratorContextManager,
            _DecoratorContextManager,
            object,
        )
    for cls in (
        gm.set_grad_enabled,
        gm.inference_mode,
        gm.set_multithreading_enabled,
        gm._force_original_view_tracking,
        gm._unsafe_preserve_version_counter,
    ):
        assert cls.__mro__[1:] == (_DecoratorContextManager, object)


@pytest.mark.parametrize(
    ("arg", "name"),
    [(1, "int"), (0, "int"), (None, "NoneType"), ("x", "str"), (len, "builtin_function_or_method")],
)
def test_b17_set_grad_enabled_requires_bool(arg: Any, name: str) -> None:
    message = rf"^set_grad_enabled\(\): argument 'enabled' \(position 1\) must be bool, not {name}$"
    with pytest.raises(TypeError, match=message):
        gm.set_grad_enabled(arg)
    assert gm.is_grad_enabled()


def test_b17_bare_decorator_form_raises() -> None:
    with pytest.raises(TypeError, match=r"must be bool, not function$"):

        @gm.set_grad_enabled  # type: ignore[arg-type]
        def f() -> None:
            pass


def test_b17_other_toggles_require_bool() -> None:
    with pytest.raises(
        TypeError, match=r"^set_multithreading_enabled\(\): .* must be bool, not int$"
    ):
        gm.set_multithreading_enabled(1)  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"^set_view_replay_enabled\(\): .* must be bool, not NoneType$"
    ):
        gm._force_original_view_tracking(None)  # type: ignore[arg-type]
    assert modes() == DEFAULTS


def test_b18_inference_mode_spellings() -> None:
    def f() -> tuple[bool, bool]:
        return gm.is_inference_mode_enabled(), gm.is_grad_enabled()

    for wrapped in (
        gm.inference_mode(f),
        gm.inference_mode(mode=f),
        gm.inference_mode()(f),
        gm.inference_mode(True)(f),
        gm.inference_mode(mode=True)(f),
    ):
        assert wrapped() == (True, False)
    assert gm.inference_mode(False)(f)() == (False, True)
    assert inspect.isfunction(gm.inference_mode(1))
    assert inspect.isfunction(gm.inference_mode(None))
    assert modes() == DEFAULTS


def test_b19_reusing_one_instance_nested() -> None:
    ng = gm.no_grad()
    with ng, ng:
        pass
    assert gm.is_grad_enabled() is False  # leaks, as in PyTorch

    _state.install(_state.Modes(grad_enabled=False))
    eg = gm.enable_grad()
    with eg, eg:
        pass
    assert gm.is_grad_enabled() is True

    _state.install(_state.Modes())
    im = gm.inference_mode()
    with im, im:
        pass
    assert gm.is_inference_mode_enabled() is True

    _state.install(_state.Modes())
    sg = gm.set_grad_enabled(False)
    with sg:
        with sg:
            pass
        assert gm.is_grad_enabled() is True  # inner exit restored construction-time prev
    assert gm.is_grad_enabled() is True


# --- 2. no_grad / enable_grad / set_grad_enabled ----------------------------------------------


def test_b20_no_grad_saves_at_enter() -> None:
    ng = gm.no_grad()
    assert ng.prev is False
    assert gm.is_grad_enabled()  # constructing changed nothing
    _ = gm.set_grad_enabled(False)
    with ng:
        assert not gm.is_grad_enabled()
    assert gm.is_grad_enabled() is False


def test_b21_enable_grad_saves_at_enter() -> None:
    eg = gm.enable_grad()
    assert not hasattr(eg, "prev")
    _ = gm.set_grad_enabled(False)
    with eg:
        assert gm.is_grad_enabled()
    assert gm.is_grad_enabled() is False


def test_b22_set_grad_enabled_acts_at_construction() -> None:
    obj = gm.set_grad_enabled(False)
    assert gm.is_grad_enabled() is False
    assert repr(obj) == str(obj) == "tapegrad.autograd.grad_mode.set_grad_enabled(mode=False)"
    _ = gm.set_grad_enabled(True)
    assert gm.is_grad_enabled() is True


def test_b23_exit_restores_construction_time_value() -> None:
    c = gm.set_grad_enabled(False)
    assert not gm.is_grad_enabled()
    with c:
        assert not gm.is_grad_enabled()
    assert gm.is_grad_enabled()

    _ = gm.set_grad_enabled(False)
    c = gm.set_grad_enabled(True)  # prev captured as False
    with c:
        assert gm.is_grad_enabled()
    assert gm.is_grad_enabled() is False


def test_b24_function_form_inside_with_wins_until_exit() -> None:
    for block in (lambda: gm.set_grad_enabled(False), gm.no_grad):
        with block():
            _ = gm.set_grad_enabled(True)
            assert gm.is_grad_enabled()
        assert gm.is_grad_enabled()


def test_b25_set_grad_enabled_decorator_leaves_caller_mode() -> None:
    @gm.set_grad_enabled(False)
    def f() -> bool:
        return gm.is_grad_enabled()

    assert gm.is_grad_enabled()
    assert f() is False
    assert gm.is_grad_enabled()

    obj = gm.set_grad_enabled(False)
    assert not gm.is_grad_enabled()
    g = obj(gm.is_grad_enabled)
    assert gm.is_grad_enabled()
    assert g() is False


def test_b26_decorated_call_inside_with_restores_to_caller() -> None:
    @gm.no_grad()
    def f() -> bool:
        return gm.is_grad_enabled()

    with gm.no_grad():
        assert f() is False
        assert gm.is_grad_enabled() is False
    assert gm.is_grad_enabled()


# --- 3. inference_mode -------------------------------------------------------------------------


def test_b29_construction_has_no_effect_exit_restores() -> None:
    im, off = gm.inference_mode(), gm.inference_mode(mode=False)
    assert (im.mode, off.mode) == (True, False)
    assert modes() == DEFAULTS
    _ = gm.set_grad_enabled(False)
    with im:
        pass
    assert modes() == (False, False, True, True, False)
    with off:
        pass


def test_b30_enter_true_and_false() -> None:
    with gm.inference_mode():
        assert modes() == INFERENCE
        with gm.inference_mode(False):
            assert modes() == (True, False, True, True, False)
        assert modes() == INFERENCE
    assert modes() == DEFAULTS
    with gm.no_grad(), gm.inference_mode(False):
        assert gm.is_grad_enabled()

    gm.set_multithreading_enabled(False)
    gm._force_original_view_tracking(True)
    with gm.inference_mode():
        assert modes() == INFERENCE
        with gm.inference_mode(False):
            assert modes() == (True, False, True, True, False)
    assert modes() == (True, False, True, False, True)

    @gm.inference_mode(False)
    def f() -> tuple[bool, bool]:
        return gm.is_inference_mode_enabled(), gm.is_grad_enabled()

    with gm.no_grad():
        assert f() == (False, True)


def test_b31_grad_switch_inside_inference_mode_does_not_leak() -> None:
    with gm.inference_mode():
        with gm.enable_grad():
            assert (gm.is_grad_enabled(), gm.is_inference_mode_enabled()) == (True, True)
        _ = gm.set_grad_enabled(True)
        assert gm.is_inference_mode_enabled()
    assert modes() == DEFAULTS

    _ = gm.set_grad_enabled(False)
    with gm.inference_mode():
        _ = gm.set_grad_enabled(True)
    assert gm.is_grad_enabled() is False


def test_b32_inference_flag_default_and_new_thread() -> None:
    assert gm.is_inference_mode_enabled() is False
    with gm.inference_mode():
        assert in_thread(gm.is_inference_mode_enabled) is False


def test_b33_inference_mode_on_generators() -> None:
    @gm.inference_mode()
    def gen() -> Iterator[bool]:
        yield gm.is_inference_mode_enabled()

    assert list(gen()) == [True]
    assert not gm.is_inference_mode_enabled()


def test_b34_private_enter_exit_helpers() -> None:
    with no_warnings():
        guard = gm._enter_inference_mode(True)
        assert modes() == INFERENCE
        gm._exit_inference_mode(guard)
        assert modes() == DEFAULTS
        guard = gm._enter_inference_mode(False)
        assert modes() == DEFAULTS
        gm._exit_inference_mode(guard)


# --- 4. other toggles --------------------------------------------------------------------------


def test_b35_set_multithreading_enabled_acts_at_construction() -> None:
    assert gm.is_multithreading_enabled() is True
    with gm.set_multithreading_enabled(False):
        assert gm.is_multithreading_enabled() is False
        gm.set_multithreading_enabled(True)
        assert gm.is_multithreading_enabled() is True
    assert gm.is_multithreading_enabled() is True

    obj = gm.set_multithreading_enabled(False)
    assert gm.is_multithreading_enabled() is False
    gm.set_multithreading_enabled(True)
    with obj:  # __enter__ does nothing
        assert gm.is_multithreading_enabled() is True
    assert gm.is_multithreading_enabled() is True  # exit restores construction-time prev


def test_b36_multithreading_flag_is_thread_local() -> None:
    gm.set_multithreading_enabled(False)
    assert in_thread(gm.is_multithreading_enabled) is True
    assert gm.is_multithreading_enabled() is False


def test_b37_set_multithreading_decorator_leaves_state_improved() -> None:
    @gm.set_multithreading_enabled(False)
    def f() -> bool:
        return gm.is_multithreading_enabled()

    assert gm.is_multithreading_enabled() is True  # PyTorch leaves False here
    assert f() is False
    assert gm.is_multithreading_enabled() is True


def test_b39_force_original_view_tracking() -> None:
    assert gm.is_view_replay_enabled() is False
    with gm._force_original_view_tracking(True):
        assert gm.is_view_replay_enabled()
        gm._force_original_view_tracking(False)
        assert not gm.is_view_replay_enabled()
    assert gm.is_view_replay_enabled() is False

    obj = gm._force_original_view_tracking(True)
    gm._force_original_view_tracking(False)
    with obj:  # __enter__ sets the mode again
        assert gm.is_view_replay_enabled()
    assert gm.is_view_replay_enabled() is False

    @gm._force_original_view_tracking(True)
    def f() -> bool:
        return gm.is_view_replay_enabled()

    assert gm.is_view_replay_enabled() is False
    assert f() is True
    assert gm.is_view_replay_enabled() is False
    gm._force_original_view_tracking(True)
    assert in_thread(gm.is_view_replay_enabled) is False


class FakeCounter:
    def __init__(self, value: int) -> None:
        self.value = value


class FakeTensor:
    """Just the version-counter surface of a Tensor (the real ones are tested with tensors)."""

    def __init__(self, version: int) -> None:
        self._vc = FakeCounter(version)

    @property
    def _version(self) -> int:
        return self._vc.value


def test_b41_preserve_version_counter_tuple_of_fakes() -> None:
    a, b = FakeTensor(0), FakeTensor(3)
    guard = gm._unsafe_preserve_version_counter((a, b))
    a._vc.value = 1
    with guard:
        a._vc.value, b._vc.value = 2, 7
    assert (a._version, b._version) == (0, 3)


def test_b41_preserve_version_counter_rejects_list() -> None:
    with pytest.raises(AssertionError, match=r"^Expected tensors to be a tuple$"):
        gm._unsafe_preserve_version_counter([FakeTensor(0)])  # type: ignore[arg-type]


def test_b45_preserve_version_counter_as_decorator_fails_at_call() -> None:
    f = gm._unsafe_preserve_version_counter(())(lambda: None)
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'tensors'"):
        f()


# --- 5. threads ---------------------------------------------------------------------------------


def test_b47_new_threads_start_from_defaults() -> None:
    with (
        gm.no_grad(),
        gm.inference_mode(),
        gm._force_original_view_tracking(True),
        gm.set_multithreading_enabled(False),
    ):
        assert modes() == (False, True, False, False, True)
        assert in_thread(modes) == DEFAULTS
    _ = gm.set_grad_enabled(False)
    assert in_thread(modes) == DEFAULTS


def test_b48_pooled_thread_keeps_its_own_state() -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(lambda: gm.set_grad_enabled(False).mode).result() is False
        assert pool.submit(gm.is_grad_enabled).result() is False  # persists in that worker
        assert gm.is_grad_enabled() is True  # never affects the main thread
        pool.submit(lambda: gm.set_grad_enabled(True)).result()


# --- improvements: the never-entered warning --------------------------------------------------

NEVER_ENTERED = r"was created but never entered; use `with tapegrad\.{}:`"


@pytest.mark.parametrize(
    ("make", "call"),
    [
        (lambda: gm.no_grad(), "no_grad()"),
        (lambda: gm.enable_grad(), "enable_grad()"),
        (lambda: gm.inference_mode(), "inference_mode()"),
        (lambda: gm.inference_mode(True), "inference_mode()"),
        (lambda: gm.inference_mode(False), "inference_mode(False)"),
    ],
)
def test_b20_never_entered_mode_warns_improved(make: Callable[[], Any], call: str) -> None:
    escaped = call.replace("(", r"\(").replace(")", r"\)")
    with pytest.warns(UserWarning, match=NEVER_ENTERED.format(escaped)) as record:
        make()
    assert "A bare statement has no effect." in str(record[0].message)


def test_b20_never_entered_warning_points_at_statement_improved() -> None:
    frame = inspect.currentframe()
    assert frame is not None
    line = frame.f_lineno + 2
    with pytest.warns(UserWarning, match="never entered") as record:
        gm.no_grad()
    assert (record[0].filename, record[0].lineno) == (__file__, line)


def test_b20_legitimate_uses_do_not_warn_improved() -> None:
    async def main() -> None:
        @gm.no_grad
        async def coro() -> None:
            await asyncio.sleep(0)

        @gm.inference_mode
        async def agen() -> Any:
            yield 1
            await asyncio.sleep(0)

        await coro()
        _ = [x async for x in agen()]

    with no_warnings():
        gm.set_grad_enabled(True)
        gm.set_multithreading_enabled(True)
        gm._force_original_view_tracking(False)
        with gm.no_grad(), gm.enable_grad(), gm.inference_mode(), gm.inference_mode(False):
            pass
        kept = gm.no_grad()
        with kept:
            pass
        for deco in (gm.no_grad, gm.no_grad(), gm.enable_grad, gm.inference_mode()):
            deco(lambda: None)()
            list(deco(lambda: (yield))())
        gm.inference_mode(lambda: None)()
        with kept.clone(), gm.inference_mode(False).clone(), gm.no_grad().clone():
            pass
        gm._exit_inference_mode(gm._enter_inference_mode(True))
        asyncio.run(main())


def test_b20_subclass_without_base_init_does_not_warn_improved() -> None:
    class Toggle(_DecoratorContextManager):
        def __init__(self) -> None:  # acts at construction, like set_grad_enabled
            pass

    with no_warnings():
        Toggle()


# --- improvements: restoration after exceptions in every form ---------------------------------


def test_mode_restored_after_exception_every_form_improved() -> None:
    @gm.no_grad
    def plain() -> None:
        raise KeyError

    @gm.no_grad
    def gen() -> Iterator[None]:
        yield
        raise KeyError

    @gm.no_grad
    async def coro() -> None:
        await asyncio.sleep(0)
        raise KeyError

    @gm.no_grad
    async def agen() -> Any:
        yield
        raise KeyError

    async def drive_agen() -> None:
        async for _ in agen():
            assert gm.is_grad_enabled()

    with pytest.raises(KeyError), gm.no_grad():
        raise KeyError
    assert modes() == DEFAULTS
    with pytest.raises(KeyError):
        plain()
    assert modes() == DEFAULTS
    with pytest.raises(KeyError):
        list(gen())
    assert modes() == DEFAULTS
    with pytest.raises(KeyError):
        asyncio.run(coro())
    assert modes() == DEFAULTS
    with pytest.raises(KeyError):
        asyncio.run(drive_agen())
    assert modes() == DEFAULTS


@pytest.mark.parametrize("mode", ["no_grad", "enable_grad", "inference_mode"])
def test_a_block_exited_in_another_context_restores_the_mode_from_before_it(mode: str) -> None:
    # Mode blocks undo their ContextVar token on exit; a block left in another context (a
    # plain generator resumed by another task) or left twice falls back to reinstalling the
    # record from before the block, which is what torch's thread-local flag gives there.
    _ = gm.set_grad_enabled(mode != "enable_grad")  # so that each block changes something
    before = (gm.is_grad_enabled(), gm.is_inference_mode_enabled())

    def body() -> Any:
        with getattr(gm, mode)():
            yield (gm.is_grad_enabled(), gm.is_inference_mode_enabled())
        yield (gm.is_grad_enabled(), gm.is_inference_mode_enabled())

    steps = body()
    inside = contextvars.copy_context().run(next, steps)
    assert inside != before
    assert contextvars.copy_context().run(next, steps) == before  # exited in a fresh context
    assert (gm.is_grad_enabled(), gm.is_inference_mode_enabled()) == before

    block = getattr(gm, mode)()
    block.__enter__()
    block.__exit__(None, None, None)
    block.__exit__(None, None, None)  # twice: still the mode from before the block
    assert (gm.is_grad_enabled(), gm.is_inference_mode_enabled()) == before
