"""Threads and asyncio under load: modes never leak, gradients stay exact.

- 8 threads, each under its own mode (default, ``no_grad``, ``enable_grad`` inside
  ``no_grad``, ``inference_mode``, a plain ``set_grad_enabled(False)``, ``inference_mode(False)``
  inside ``no_grad``, a ``@no_grad`` function, double backward), run forward and backward in a
  loop for a bounded time. Each checks its modes after every op and its gradients exactly
  (integer-valued float64 data, so every sum is exact).
- Concurrent backward into shared leaves, through separate graphs and through one retained
  graph, accumulates exactly; hooks run exactly once per backward.
- 100 asyncio tasks interleave ``no_grad`` / ``enable_grad`` / ``inference_mode`` bodies with
  ``await``s and never see each other's modes (tapegrad's documented difference from torch:
  modes are per task, README "Where tapegrad differs").
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import tapegrad

SECONDS = 0.8  # wall time each thread keeps looping (bounded also by MAX_ROUNDS)
MAX_ROUNDS = 400


def _data(n: int = 3) -> list[float]:
    return [float(v) for v in range(1, n + 1)]


@contextlib.contextmanager
def _plain_set_grad_enabled_false() -> Iterator[None]:
    tapegrad.set_grad_enabled(False)  # function form: stays off for this thread
    yield


@contextlib.contextmanager
def _nested(*managers: Callable[[], Any]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for manager in managers:
            stack.enter_context(manager())
        yield


# name -> (mode to enter, expected (grad enabled, inference mode), whether ops record)
THREAD_MODES: dict[str, tuple[Callable[[], Any], tuple[bool, bool], bool]] = {
    "default": (contextlib.nullcontext, (True, False), True),
    "no_grad": (tapegrad.no_grad, (False, False), False),
    "enable_in_no_grad": (lambda: _nested(tapegrad.no_grad, tapegrad.enable_grad),
                          (True, False), True),
    "inference": (tapegrad.inference_mode, (False, True), False),
    "plain_set_false": (_plain_set_grad_enabled_false, (False, False), False),
    "inference_off_in_no_grad": (lambda: _nested(tapegrad.no_grad,
                                                 lambda: tapegrad.inference_mode(False)),
                                 (True, False), True),
    "decorated": (contextlib.nullcontext, (False, False), False),  # see _decorated_round
    "double_backward": (contextlib.nullcontext, (True, False), True),
}


def _modes() -> tuple[bool, bool]:
    return tapegrad.is_grad_enabled(), tapegrad.is_inference_mode_enabled()


@tapegrad.no_grad()
def _decorated_forward(x: Any, k: float) -> tuple[Any, tuple[bool, bool]]:
    return (x * k + x * x).sum(), _modes()


def _round(name: str, k: float) -> None:
    """One forward/backward round under ``name``'s mode; raises AssertionError on any slip."""
    enter, expected, records = THREAD_MODES[name]
    data = _data()
    expected_grad = [k + 2 * v for v in data]
    x = tapegrad.tensor(data, dtype=tapegrad.float64, requires_grad=True)
    outside = (x * k + x * x).sum()  # built in this thread's default mode
    if name == "decorated":
        y, inside = _decorated_forward(x, k)
        assert inside == expected
        assert not y.requires_grad
        assert _modes() == (True, False)
        outside.backward()
        assert x.grad.tolist() == expected_grad
        return
    with enter():
        assert _modes() == expected
        y = (x * k + x * x).sum()
        assert _modes() == expected
        assert y.requires_grad is records
        assert y.is_inference() is expected[1]
        outside.backward()  # an existing graph works in any mode (spec B81, B54)
        assert _modes() == expected
        assert x.grad.tolist() == expected_grad
        if records:
            x.grad = None
            y.backward(retain_graph=True)
            assert _modes() == expected
            assert x.grad.tolist() == expected_grad
        if name == "double_backward":
            (g,) = tapegrad.autograd.grad(y, [x], create_graph=True)
            assert g.requires_grad
            (hessian_diagonal,) = tapegrad.autograd.grad(g.sum(), [x])
            assert hessian_diagonal.tolist() == [2.0] * len(data)
            assert _modes() == expected
        assert _modes() == expected
    if name == "plain_set_false":
        assert _modes() == (False, False)
        tapegrad.set_grad_enabled(True)
    assert _modes() == (True, False)


def test_threads_with_different_modes_never_leak_and_get_exact_gradients() -> None:
    names = list(THREAD_MODES)
    barrier = threading.Barrier(len(names))
    errors: list[str] = []
    rounds: dict[str, int] = {}

    def worker(name: str, k: float) -> None:
        try:
            barrier.wait()
            deadline = time.monotonic() + SECONDS
            count = 0
            while time.monotonic() < deadline and count < MAX_ROUNDS:
                _round(name, k)
                count += 1
            rounds[name] = count
        except BaseException as error:  # reported by the main thread
            errors.append(f"{name}: {type(error).__name__}: {error}")

    threads = [threading.Thread(target=worker, args=(n, float(i + 1)), name=n)
               for i, n in enumerate(names)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert set(rounds) == set(names)
    assert all(count > 0 for count in rounds.values()), rounds
    assert _modes() == (True, False)


def test_heavy_backward_on_worker_threads_while_other_threads_switch_modes() -> None:
    """tapegrad runs heavy independent nodes on a worker pool under the caller's modes."""
    errors: list[str] = []
    stop = threading.Event()

    def switcher(manager: Callable[[], Any], expected: tuple[bool, bool]) -> None:
        try:
            while not stop.is_set():
                with manager():
                    assert _modes() == expected
                assert _modes() == (True, False)
        except BaseException as error:
            errors.append(repr(error))

    switchers = [threading.Thread(target=switcher, args=args) for args in
                 [(tapegrad.no_grad, (False, False)), (tapegrad.inference_mode, (False, True))]]
    for t in switchers:
        t.start()
    try:
        base = np.arange(256 * 256, dtype=np.float64).reshape(256, 256) % 7
        for _ in range(2):
            x = tapegrad.tensor(base, requires_grad=True)
            parts = [(x * float(k)).sum() for k in range(1, 5)] + [(x * x).sum()]
            y = parts[0] + parts[1] + parts[2] + parts[3] + parts[4]
            with tapegrad.no_grad():
                y.backward()
                assert _modes() == (False, False)
            np.testing.assert_array_equal(x.grad.numpy(), 10.0 + 2 * base)
    finally:
        stop.set()
        for t in switchers:
            t.join(timeout=60)
    assert not errors, errors


def test_concurrent_backward_into_shared_leaves_accumulates_exactly() -> None:
    w = tapegrad.tensor(_data(4), dtype=tapegrad.float64, requires_grad=True)
    b = tapegrad.tensor(1.0, dtype=tapegrad.float64, requires_grad=True)
    shared = (w * w).sum() * b  # one retained graph, backpropagated by every thread
    hook_calls = []
    b.register_hook(lambda g: hook_calls.append(1))
    threads_count, steps = 8, 30
    barrier = threading.Barrier(threads_count)
    errors: list[str] = []
    private_grads: list[list[float]] = []

    def worker(k: int) -> None:
        try:
            barrier.wait()
            for _ in range(steps):
                ((w * k).sum() + b * k).backward()
                shared.backward(retain_graph=True)
                (g,) = tapegrad.autograd.grad((w * k).sum(), [w])  # per call, no accumulation
                private_grads.append(g.tolist())
        except BaseException as error:
            errors.append(repr(error))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(1, threads_count + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    total_k = steps * sum(range(1, threads_count + 1))
    calls = steps * threads_count
    expected_w = [total_k + calls * 2 * v for v in _data(4)]
    assert w.grad.tolist() == expected_w
    assert b.grad.item() == total_k + calls * sum(v * v for v in _data(4))
    assert len(hook_calls) == 2 * calls
    assert sorted(set(map(tuple, private_grads))) == [(float(k),) * 4 for k in range(1, 9)]


# -- asyncio ---------------------------------------------------------------------------------
def _task_modes(index: int) -> tuple[Callable[[], Any], tuple[bool, bool]]:
    choices: list[tuple[Callable[[], Any], tuple[bool, bool]]] = [
        (tapegrad.no_grad, (False, False)),
        (tapegrad.enable_grad, (True, False)),
        (tapegrad.inference_mode, (False, True)),
        (lambda: tapegrad.set_grad_enabled(False), (False, False)),
        (lambda: _nested(tapegrad.inference_mode, tapegrad.enable_grad), (True, True)),
    ]
    return choices[index % len(choices)]


async def _task(index: int, x: Any, log: list[str]) -> None:
    manager, expected = _task_modes(index)
    for round_ in range(5):
        assert _modes() == (True, False), (index, round_, "outside")
        with manager():
            for _ in range(3):
                assert _modes() == expected, (index, round_)
                y = x * 2
                assert y.requires_grad is (expected == (True, False))
                assert y.is_inference() is expected[1]
                await asyncio.sleep(0)  # every other task runs here
        assert _modes() == (True, False), (index, round_, "after")
        await asyncio.sleep(0)
    log.append(f"{index}")


async def _decorated_task(index: int, log: list[str]) -> None:
    @tapegrad.no_grad()
    async def body() -> tuple[bool, bool]:
        await asyncio.sleep(0)
        return _modes()

    for _ in range(5):
        assert await body() == (False, False)
        assert _modes() == (True, False)
    log.append(f"decorated {index}")


def test_hundred_asyncio_tasks_never_see_each_others_modes() -> None:
    x = tapegrad.ones(2, requires_grad=True)
    log: list[str] = []

    async def main() -> tuple[bool, bool]:
        tasks = [asyncio.create_task(_task(i, x, log)) for i in range(90)]
        tasks += [asyncio.create_task(_decorated_task(i, log)) for i in range(10)]
        await asyncio.gather(*tasks)
        with tapegrad.no_grad():  # a task created here starts from this context
            inherited = await asyncio.create_task(_report_modes())
        assert inherited == (False, False)
        return _modes()

    assert asyncio.run(main()) == (True, False)
    assert len(log) == 100
    assert _modes() == (True, False)


async def _report_modes() -> tuple[bool, bool]:
    await asyncio.sleep(0)
    return _modes()
