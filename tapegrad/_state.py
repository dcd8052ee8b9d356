"""All mutable global state of tapegrad: the mode record and the default RNG.

The mode record lives in one ``ContextVar``. A ContextVar is thread-local (each thread
starts from the defaults, as in PyTorch) and also task-local under asyncio, so
``with no_grad(): await x`` cannot leak into other tasks. Each record is stamped with
the thread that installed it; a record seen from another thread (an interpreter that
copies contexts into new threads) reads as the defaults, so the thread rule does not
depend on the interpreter's ``thread_inherit_context`` flag.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

import numpy as np

__all__ = ["Modes", "current", "update", "switch", "install", "default_generator"]

_get_ident = threading.get_ident


class Modes:
    """A snapshot of every mode flag, stamped with its owning thread. Treat it as immutable:
    a mode change installs another record (``replace``) and never edits one."""

    __slots__ = (
        "grad_enabled",
        "inference_mode",
        "fw_grad_enabled",
        "multithreading",
        "view_replay",
        "grad_layout_enforced",
        "thread",
        "_twin",
    )

    def __init__(
        self,
        grad_enabled: bool = True,
        inference_mode: bool = False,
        fw_grad_enabled: bool = True,
        multithreading: bool = True,
        view_replay: bool = False,
        grad_layout_enforced: bool = True,
        thread: int = 0,
    ) -> None:
        self.grad_enabled = grad_enabled
        self.inference_mode = inference_mode
        self.fw_grad_enabled = fw_grad_enabled
        self.multithreading = multithreading
        self.view_replay = view_replay
        self.grad_layout_enforced = grad_layout_enforced
        self.thread = thread
        self._twin: Modes | None = None  # the same record with grad_enabled flipped, cached

    def replace(self, **changes: Any) -> Modes:
        fields = {name: getattr(self, name) for name in Modes.__slots__[:-1]}
        fields.update(changes)
        fields["thread"] = _get_ident()
        return Modes(**fields)

    def twin(self) -> Modes:
        """This record with ``grad_enabled`` flipped (cached both ways: no_grad is hot)."""
        twin = self._twin
        if twin is None:
            twin = self.replace(grad_enabled=not self.grad_enabled)
            twin._twin = self
            self._twin = twin
        return twin

    def __repr__(self) -> str:
        flags = ", ".join(f"{n}={getattr(self, n)}" for n in Modes.__slots__[:-2])
        return f"Modes({flags})"


DEFAULTS = Modes()
_modes: ContextVar[Modes] = ContextVar("tapegrad_modes", default=DEFAULTS)
_thread_defaults = threading.local()  # each thread's own stamped copy of DEFAULTS
# The hottest mode blocks (no_grad, enable_grad, inference_mode) use the variable and the
# per-thread records themselves.
modes_var = _modes
thread_records = _thread_defaults


def current() -> Modes:
    """The calling thread's (and asyncio task's) mode record."""
    modes = _modes.get()
    if modes.thread != _get_ident() and modes is not DEFAULTS:
        return DEFAULTS
    return modes


def own_defaults() -> Modes:
    """This thread's stamped copy of DEFAULTS (so that it may cache its twin)."""
    own: Modes | None = getattr(_thread_defaults, "record", None)
    if own is None:
        own = _thread_defaults.record = DEFAULTS.replace()
    return own


def install(modes: Modes) -> None:
    """Make ``modes`` current for this thread/task (restamped for this thread)."""
    if modes.thread != _get_ident():
        modes = own_defaults() if modes is DEFAULTS else modes.replace()
    _modes.set(modes)


def update(**changes: Any) -> Modes:
    """Change some flags; return the record that was current before."""
    previous = current()
    _modes.set(previous.replace(**changes))
    return previous


def inference_records() -> tuple[Modes, Modes]:
    """This thread's two ``inference_mode(mode)`` records, indexed by ``mode`` (built once:
    entering them is hot)."""
    records: tuple[Modes, Modes] | None = getattr(_thread_defaults, "inference", None)
    if records is None:
        ident = _get_ident()
        records = _thread_defaults.inference = (
            Modes(True, False, True, True, False, True, ident),
            Modes(False, True, False, False, False, True, ident),
        )
    return records


def set_grad_enabled(flag: bool) -> bool:
    """Set the grad flag; return its previous value (the hot path of no_grad/enable_grad)."""
    modes = _modes.get()
    if modes.thread != _get_ident():
        modes = own_defaults()
    previous = modes.grad_enabled
    if previous != flag:
        twin = modes._twin
        _modes.set(twin if twin is not None else modes.twin())
    return previous


def record_before(token: Token[Modes]) -> Modes:
    """The record that was current before the ``_modes.set`` that returned ``token`` (what a
    mode block left in another context than it was entered in, or left twice, restores)."""
    previous = token.old_value
    if previous is Token.MISSING or previous.thread != _get_ident():
        return DEFAULTS
    return previous


@contextmanager
def switch(**changes: Any) -> Iterator[None]:
    """Private context manager for core code: change flags, restore the record on exit."""
    previous = update(**changes)
    try:
        yield
    finally:
        install(previous)


# Forward-AD dual levels are process-global in PyTorch (B49), unlike the modes above.
class _ForwardLevels:
    __slots__ = ("current", "lock", "ids")

    def __init__(self) -> None:
        self.current: int | None = None
        self.lock = threading.Lock()
        self.ids = itertools.count()


forward_levels = _ForwardLevels()


# Anomaly detection is process-global in PyTorch too (a thread started inside
# detect_anomaly sees it on).
class _AnomalyMode:
    __slots__ = ("enabled", "check_nan")

    def __init__(self) -> None:
        self.enabled = False
        self.check_nan = True


anomaly = _AnomalyMode()


class _BackwardPool:
    """The engine's worker threads for multithreaded backward, created on first use."""

    __slots__ = ("executor", "lock", "local")

    def __init__(self) -> None:
        self.executor: ThreadPoolExecutor | None = None
        self.lock = threading.Lock()
        self.local = threading.local()


_backward_pool = _BackwardPool()


def backward_pool() -> ThreadPoolExecutor:
    with _backward_pool.lock:
        if _backward_pool.executor is None:
            workers = max(2, min(4, os.cpu_count() or 2))
            _backward_pool.executor = ThreadPoolExecutor(workers, "tapegrad-backward")
        return _backward_pool.executor


def in_backward_worker() -> bool:
    """True on an engine worker thread (a reentrant backward there runs serially)."""
    return getattr(_backward_pool.local, "active", False)


def run_as_backward_worker(modes: Modes, fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn`` on a worker thread under the submitting thread's ``modes``."""
    _backward_pool.local.active = True
    install(modes)
    try:
        return fn(*args)
    finally:
        install(DEFAULTS)
        _backward_pool.local.active = False


# Sequence numbers order graph nodes (the engine runs newest first).
node_sequence = itertools.count()


class _GeneratorBox:
    """Holds the default Generator; ``manual_seed`` replaces its NumPy state."""

    __slots__ = ("rng",)

    def __init__(self) -> None:
        self.rng = np.random.default_rng()


default_generator = _GeneratorBox()
