"""Differential tests: the same mode scenario run with torch 2.13 and with tapegrad.

Each scenario takes an API namespace (torch's or tapegrad's) and returns a log of observed modes,
results and errors; both logs must be equal. Only shared behaviours are compared: the deliberate
differences (async bodies and tasks B12/B13, the set_multithreading_enabled decorator B37, the
never-entered warning) are tested in test_grad_mode.py.
"""

from __future__ import annotations

import gc
import threading
import warnings
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

import tapegrad.autograd.grad_mode as gm
from tapegrad import _state

torch = pytest.importorskip("torch")

TORCH = SimpleNamespace(
    no_grad=torch.no_grad,
    enable_grad=torch.enable_grad,
    set_grad_enabled=torch.set_grad_enabled,
    inference_mode=torch.inference_mode,
    set_multithreading_enabled=torch.autograd.set_multithreading_enabled,
    force_view_tracking=torch.autograd._force_original_view_tracking,
    preserve_version_counter=torch.autograd._unsafe_preserve_version_counter,
    enter_inference_mode=torch.autograd.grad_mode._enter_inference_mode,
    exit_inference_mode=torch.autograd.grad_mode._exit_inference_mode,
    is_grad_enabled=torch.is_grad_enabled,
    is_inference_mode_enabled=torch.is_inference_mode_enabled,
    is_multithreading_enabled=torch.autograd.is_multithreading_enabled,
    is_view_replay_enabled=torch.autograd.is_view_replay_enabled,
    is_fw_grad_enabled=torch.autograd.forward_ad._is_fwd_grad_enabled,
)
TAPEGRAD = SimpleNamespace(
    no_grad=gm.no_grad,
    enable_grad=gm.enable_grad,
    set_grad_enabled=gm.set_grad_enabled,
    inference_mode=gm.inference_mode,
    set_multithreading_enabled=gm.set_multithreading_enabled,
    force_view_tracking=gm._force_original_view_tracking,
    preserve_version_counter=gm._unsafe_preserve_version_counter,
    enter_inference_mode=gm._enter_inference_mode,
    exit_inference_mode=gm._exit_inference_mode,
    is_grad_enabled=gm.is_grad_enabled,
    is_inference_mode_enabled=gm.is_inference_mode_enabled,
    is_multithreading_enabled=gm.is_multithreading_enabled,
    is_view_replay_enabled=gm.is_view_replay_enabled,
    is_fw_grad_enabled=lambda: _state.current().fw_grad_enabled,
)

Log = list[Any]
SCENARIOS: list[Callable[[SimpleNamespace, Log], None]] = []


def scenario(fn: Callable[[SimpleNamespace, Log], None]) -> Callable[[SimpleNamespace, Log], None]:
    SCENARIOS.append(fn)
    return fn


def modes(api: SimpleNamespace) -> tuple[bool, ...]:
    return (
        api.is_grad_enabled(),
        api.is_inference_mode_enabled(),
        api.is_fw_grad_enabled(),
        api.is_multithreading_enabled(),
        api.is_view_replay_enabled(),
    )


def error(fn: Callable[[], Any]) -> tuple[str, str] | None:
    """Run ``fn``; return (exception type, message) or None."""
    try:
        fn()
    except Exception as exc:
        return type(exc).__name__, str(exc)
    return None


def in_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a fresh thread (fresh mode state in both libraries); return or re-raise."""
    out: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            out.append(fn())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return out[0]


# --- scenarios ---------------------------------------------------------------------------------


@scenario
def nesting_no_grad_enable_grad(api: SimpleNamespace, log: Log) -> None:
    """B20, B21, B26."""
    with api.no_grad():
        log.append(modes(api))
        with api.enable_grad():
            log.append(modes(api))
        log.append(modes(api))
        log.append(api.no_grad()(api.is_grad_enabled)())
        log.append(modes(api))
    log.append(modes(api))


@scenario
def decorator_spellings(api: SimpleNamespace, log: Log) -> None:
    """B1, B16, B18."""
    f = api.is_grad_enabled
    log.extend(w() for w in (api.no_grad(f), api.no_grad()(f), api.no_grad(orig_func=f)))
    with api.no_grad():
        log.extend(w() for w in (api.enable_grad(f), api.enable_grad()(f)))
    g = api.is_inference_mode_enabled
    log.extend(w() for w in (api.inference_mode(g), api.inference_mode(mode=g)))
    log.extend(api.inference_mode(m)(g)() for m in (True, False))
    log.append(modes(api))


@scenario
def exceptions_restore(api: SimpleNamespace, log: Log) -> None:
    """B3, B4, B9."""

    def boom() -> None:
        log.append(modes(api))
        raise ValueError("v")

    for make in (api.no_grad, lambda: api.inference_mode(), lambda: api.set_grad_enabled(False)):
        log.append(error(make()(boom)))
        log.append(modes(api))

        def in_with(make: Callable[[], Any] = make) -> None:
            with make() as value:
                log.append(value)
                boom()

        log.append(error(in_with))
        log.append(modes(api))


@scenario
def generator_protocol(api: SimpleNamespace, log: Log) -> None:
    """B5-B10."""

    @api.no_grad()
    def gen() -> Iterator[Any]:
        log.append(("start", api.is_grad_enabled()))
        got = yield 0
        log.append(("got", got, api.is_grad_enabled()))
        api.set_grad_enabled(True)
        try:
            yield api.is_grad_enabled()
        except KeyError:
            yield ("caught", api.is_grad_enabled())
        log.append(("resumed", api.is_grad_enabled()))
        yield from iter([api.is_grad_enabled()])
        return "retval"

    it = gen()
    log.append(("created", modes(api)))
    log.append(next(it))
    log.append(it.send("A"))
    log.append(it.throw(KeyError("k")))
    log.append(modes(api))
    log.append(list(it))
    log.append(modes(api))
    it = gen()
    next(it)
    log.append(error(lambda: it.throw(IndexError("i"))))
    log.append(modes(api))


@scenario
def generator_close_and_collect(api: SimpleNamespace, log: Log) -> None:
    """B8."""

    @api.enable_grad()
    def gen() -> Iterator[int]:
        try:
            yield 1
        finally:
            log.append(("finally", api.is_grad_enabled()))

    with api.no_grad():
        it = gen()
        next(it)
        it.close()
        it = gen()
        next(it)
        del it
        gc.collect()
        log.append(modes(api))


@scenario
def generator_return_value(api: SimpleNamespace, log: Log) -> None:
    """B5.4."""

    @api.inference_mode()
    def gen() -> Iterator[bool]:
        yield api.is_inference_mode_enabled()
        return "done"

    it = gen()
    log.append(next(it))
    try:
        next(it)
    except StopIteration as stop:
        log.append(stop.value)


@scenario
def class_decoration(api: SimpleNamespace, log: Log) -> None:
    """B14."""

    class Foo:
        def __init__(self) -> None:
            log.append(("init", api.is_grad_enabled()))

        def method(self) -> None:
            log.append(("method", api.is_grad_enabled()))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decorated = api.no_grad()(Foo)
    log.append([(w.category.__name__, str(w.message)) for w in caught])
    log.append(type(decorated).__name__)
    decorated().method()


@scenario
def edge_arguments(api: SimpleNamespace, log: Log) -> None:
    """B16, B17, B18."""
    log.append(type(api.no_grad(5)).__name__)
    log.append(error(api.no_grad(5)))
    log.append(error(lambda: api.no_grad(None)))
    instance = api.enable_grad(None)
    log.append(type(instance).__name__)
    with instance:
        log.append(modes(api))
    for arg in (1, 0, None, "x", len):
        log.append(error(lambda arg=arg: api.set_grad_enabled(arg)))
    log.append(error(lambda: api.set_multithreading_enabled(1)))
    log.append(error(lambda: api.force_view_tracking(None)))
    log.append(type(api.inference_mode(1)).__name__)
    log.append(type(api.inference_mode(None)).__name__)
    log.append(modes(api))


@scenario
def instance_reuse(api: SimpleNamespace, log: Log) -> None:
    """B19."""
    ng = api.no_grad()
    with ng, ng:
        pass
    log.append(modes(api))
    eg = api.enable_grad()
    with eg, eg:
        pass
    log.append(modes(api))
    im = api.inference_mode()
    with im:
        with im:
            pass
        log.append(modes(api))
    log.append(modes(api))
    api.set_grad_enabled(True)
    sg = api.set_grad_enabled(False)
    with sg:
        with sg:
            pass
        log.append(modes(api))
    log.append(modes(api))


@scenario
def set_grad_enabled_semantics(api: SimpleNamespace, log: Log) -> None:
    """B22-B25."""
    obj = api.set_grad_enabled(False)
    log.append((modes(api), repr(obj).split(".")[-1], str(obj).split(".")[-1]))
    api.set_grad_enabled(True)
    c = api.set_grad_enabled(False)
    with c:
        log.append(modes(api))
    log.append(modes(api))
    with api.set_grad_enabled(False):
        api.set_grad_enabled(True)
        log.append(modes(api))
    log.append(modes(api))
    deco = api.set_grad_enabled(False)
    log.append(modes(api))
    f = deco(api.is_grad_enabled)
    log.append((modes(api), f(), modes(api)))


@scenario
def inference_mode_semantics(api: SimpleNamespace, log: Log) -> None:
    """B29-B31, B34."""
    im, off = api.inference_mode(), api.inference_mode(mode=False)
    log.append((im.mode, off.mode, modes(api)))
    with off:
        log.append(modes(api))
    with im:
        log.append(modes(api))
        with api.inference_mode(False):
            log.append(modes(api))
        with api.enable_grad():
            log.append(modes(api))
        api.set_grad_enabled(True)
        log.append(modes(api))
    log.append(modes(api))
    api.set_grad_enabled(False)
    with api.inference_mode():
        api.set_grad_enabled(True)
    log.append(modes(api))
    with api.inference_mode(False):
        log.append(modes(api))
    log.append(api.inference_mode(False)(lambda: modes(api))())
    guard = api.enter_inference_mode(True)
    log.append(modes(api))
    api.exit_inference_mode(guard)
    log.append(modes(api))


@scenario
def inference_mode_replaces_whole_state(api: SimpleNamespace, log: Log) -> None:
    """B30: entering also resets multithreading and view replay (observed in 2.13)."""
    api.set_multithreading_enabled(False)
    api.force_view_tracking(True)
    with api.inference_mode():
        log.append(modes(api))
        with api.inference_mode(False):
            log.append(modes(api))
        api.set_multithreading_enabled(True)
        api.force_view_tracking(False)
        log.append(modes(api))
    log.append(modes(api))


@scenario
def multithreading_toggle(api: SimpleNamespace, log: Log) -> None:
    """B35 (context manager and function forms; the decorator form is B37, a difference)."""
    with api.set_multithreading_enabled(False):
        log.append(modes(api))
        api.set_multithreading_enabled(True)
        log.append(modes(api))
    log.append(modes(api))
    obj = api.set_multithreading_enabled(False)
    log.append(modes(api))
    api.set_multithreading_enabled(True)
    with obj:
        log.append(modes(api))
    log.append(modes(api))


@scenario
def view_tracking_toggle(api: SimpleNamespace, log: Log) -> None:
    """B39."""
    with api.force_view_tracking(True):
        log.append(modes(api))
        api.force_view_tracking(False)
        log.append(modes(api))
    log.append(modes(api))
    obj = api.force_view_tracking(True)
    api.force_view_tracking(False)
    with obj:
        log.append(modes(api))
    log.append(modes(api))
    f = api.force_view_tracking(True)(lambda: modes(api))
    log.append((modes(api), f(), modes(api)))


@scenario
def preserve_version_counter_edges(api: SimpleNamespace, log: Log) -> None:
    """B41: a list is rejected; B45: the decorator form fails at call time."""
    log.append(error(lambda: api.preserve_version_counter([])))
    log.append(error(lambda: api.preserve_version_counter(5)))
    log.append(error(api.preserve_version_counter(())(lambda: None)))


@scenario
def threads_start_from_defaults(api: SimpleNamespace, log: Log) -> None:
    """B32, B36, B47, B48."""
    with api.no_grad(), api.inference_mode(), api.force_view_tracking(True):
        api.set_multithreading_enabled(False)
        log.append(modes(api))
        log.append(in_thread(lambda: modes(api)))
    log.append(in_thread(lambda: (api.set_grad_enabled(False), modes(api))[1]))
    log.append(modes(api))


def observe(run: Callable[[SimpleNamespace, Log], None], api: SimpleNamespace) -> Log:
    log: Log = []
    in_thread(lambda: run(api, log))
    return log


@pytest.mark.parametrize("run", SCENARIOS, ids=lambda fn: fn.__name__)
def test_same_as_torch(run: Callable[[SimpleNamespace, Log], None]) -> None:
    # Each run gets a fresh thread, so mode state left behind (B19) cannot leak anywhere.
    assert observe(run, TAPEGRAD) == observe(run, TORCH)
