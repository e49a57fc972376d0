"""Run a student's function safely: ``call_student``.

One call is guarded against everything a student's code may do:

- an endless loop: one time limit per *exercise* (``Budget``, started by ``Report``): a call that
  times out uses the whole budget and every later case of that exercise is "not run";
- a runaway allocation: ``memory_cap`` lowers RLIMIT_AS to the process's current size plus
  GRADER_MEMORY_LIMIT (Linux only; on macOS and Windows it does nothing: the kernel may die);
- warnings and stderr: captured, reported in the check's stdout report (nbgrader scores a cell
  with any stderr output zero);
- delegation: calls to forbidden references are watched (``watch.Watch``);
- changes made in place to an argument (arrays, lists, dicts).

Example::

    got = call_student(conv2d_forward, (x, w, b), {"stride": 2}, forbid=("naive_conv2d",))
"""
from __future__ import annotations

import contextlib
import copy
import numbers
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from types import FrameType
from typing import Any

import numpy as np

from ..tolerances import GRADER_MEMORY_LIMIT, GRADER_TIME_LIMIT
from .watch import Watch


class GraderTimeout(BaseException):
    """Raised by the time limit. A BaseException, so that a student's ``except Exception``
    does not swallow it; the alarm repeats every second in case a bare ``except`` did."""


class Problem(Exception):
    """What went wrong in one case, phrased for the student. ``kind`` says which class of
    mistake ("value", "shape", "raised", "nan", "none", "type", "precision", "delegation",
    "mutation", "timeout", "not run", "memory", "complexity", "other")."""

    def __init__(self, message: str, kind: str = "other", exc: BaseException | None = None):
        super().__init__(message)
        self.kind, self.exc = kind, exc


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt Python code that runs longer than ``seconds`` (SIGALRM; main thread on
    Unix only, elsewhere no limit). A single long NumPy call is interrupted when it returns."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable or not seconds:
        yield
        return

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise GraderTimeout()
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3), 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _process_size() -> int:
    with open("/proc/self/statm") as f:
        import resource
        return int(f.read().split()[0]) * resource.getpagesize()


@contextmanager
def memory_cap(extra_bytes: float | None = GRADER_MEMORY_LIMIT) -> Iterator[None]:
    """Cap the address space at the current size + ``extra_bytes`` while the block runs, so
    that a runaway allocation raises MemoryError (NumPy) or RuntimeError (torch) instead of
    killing the kernel. Linux only (RLIMIT_AS); elsewhere, or with extra_bytes None/0, a no-op."""
    if not extra_bytes or not sys.platform.startswith("linux"):
        yield
        return
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _process_size() + int(extra_bytes)
    for limit in (soft, hard):
        if limit != resource.RLIM_INFINITY:
            cap = min(cap, limit)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


class Budget:
    """The time one exercise may spend in the student's code, over all its cases. ``Report``
    makes one and makes it current; ``call_student`` draws on the current one."""
    current: Budget | None = None

    def __init__(self, seconds: float | None = GRADER_TIME_LIMIT, current: bool = True):
        self.seconds, self.used, self.exhausted, self.warnings = seconds, 0.0, False, []
        if current:
            Budget.current = self

    def remaining(self, cap: float | None) -> float | None:
        left = (self.seconds or 0) - self.used if self.seconds else None
        if cap and left is not None:
            return min(cap, left)
        return cap or left

    def close(self) -> None:
        if Budget.current is self:
            Budget.current = None


def _changed(orig: Any, seen: Any) -> bool:
    """Did the student's call change ``seen`` (a copy of ``orig``)?"""
    if isinstance(orig, np.ndarray):
        return not (isinstance(seen, np.ndarray) and orig.shape == seen.shape
                    and np.array_equal(orig, seen, equal_nan=orig.dtype.kind in "fc"))
    if isinstance(orig, (list, tuple)):
        return (type(orig) is not type(seen) or len(orig) != len(seen)
                or any(_changed(a, b) for a, b in zip(orig, seen)))
    if isinstance(orig, dict):
        return orig.keys() != seen.keys() or any(_changed(orig[k], seen[k]) for k in orig)
    if isinstance(orig, (numbers.Number, str)):
        return not (orig == seen or (orig != orig and seen != seen))
    return False


def _where(exc: BaseException, fn: Any) -> str:
    """' (in f, at `the line`)': the deepest frame of the student's file in the traceback."""
    filename = getattr(getattr(fn, "__code__", None), "co_filename", None)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    if not frames or "labutils" in (filename or ""):
        return ""
    f = frames[-1]
    line = (f.line or "").strip()[:60]
    return f" (in {f.name}, at `{line}`)" if line else f" (in {f.name})"


def call_student(fn: Any, args: Sequence[Any], kwargs: Mapping[str, Any] | None = None,
                 time_limit_s: float | None = GRADER_TIME_LIMIT, name: str | None = None, *,
                 forbid: Sequence[str] = (), allow: Sequence[str] = (),
                 probe: AbstractContextManager | None = None) -> Any:
    """Run ``fn(*args, **kwargs)`` on copies of the arguments and return its result, or raise
    Problem: not a function, not filled in, an exception, out of time (for the exercise, see
    Budget) or memory, a forbidden call (``forbid``/``allow``, see watch.Watch), a change
    made in place to an argument. Warnings are collected for the report. ``probe`` is a
    context manager entered around the call only (complexity measurements)."""
    name = name or getattr(fn, "__name__", "your function")
    kwargs = kwargs or {}
    if not callable(fn):
        raise Problem(f"expected a function, got {type(fn).__name__}", "type")
    budget = Budget.current or Budget(None, current=False)
    if budget.exhausted:
        raise Problem("not run: the time limit of this exercise was used up above", "not run")
    limit = budget.remaining(time_limit_s)
    if limit is not None and limit <= 0.01:
        budget.exhausted = True
        raise Problem("not run: the time limit of this exercise was used up above", "not run")
    given = copy.deepcopy(args), copy.deepcopy(kwargs)
    watch = Watch(fn, forbid, allow, (args, kwargs))
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught, \
                np.errstate(divide="warn", over="warn", invalid="warn", under="ignore"), \
                contextlib.redirect_stderr(sys.stdout), time_limit(limit), memory_cap():
            warnings.simplefilter("always")
            with probe or contextlib.nullcontext(), watch:
                result = fn(*given[0], **given[1])
    except NotImplementedError:
        raise Problem(f"{name} is not filled in yet: replace `raise NotImplementedError()` "
                      f"with your code", "not filled") from None
    except GraderTimeout:
        budget.exhausted = True
        raise Problem(f"{name} did not finish within {limit:g} s, the time limit of this "
                      f"exercise: an endless loop? (a Python loop over every element can also "
                      f"be this slow)", "timeout") from None
    except MemoryError as e:
        raise Problem(f"{name} ran out of memory (it asked for more than the "
                      f"{GRADER_MEMORY_LIMIT / 2**30:g} GB a check allows): an array far "
                      f"larger than needed?", "memory", e) from None
    except Exception as e:  # the student's code may raise anything
        if watch.called:       # a forbidden call is the first thing to fix
            raise Problem(watch.message(name), "delegation") from None
        if isinstance(e, RuntimeError) and "alloc" in str(e).lower():
            raise Problem(f"{name} ran out of memory (torch could not allocate): an array far "
                          f"larger than needed?", "memory", e) from None
        msg = str(e).splitlines()[0][:200] if str(e) else ""
        raise Problem(f"{name} raised {type(e).__name__}: {msg}{_where(e, fn)}", "raised", e) from None
    finally:
        budget.used += time.perf_counter() - start
        for w in caught if "caught" in locals() else []:
            text = f"{w.category.__name__}: {w.message}"
            if text not in budget.warnings:
                budget.warnings.append(text)
    if watch.called:
        raise Problem(watch.message(name), "delegation")
    _check_unchanged(name, args, kwargs, given)
    return result


def _check_unchanged(name: str, args: Sequence[Any], kwargs: Mapping[str, Any],
                     given: tuple[Sequence[Any], Mapping[str, Any]]) -> None:
    """Raise Problem when the student's call changed one of its arguments in place
    (``given``: the copies of ``args`` and ``kwargs`` it received)."""
    for i, (orig, seen) in enumerate(zip(args, given[0])):
        if _changed(orig, seen):
            raise Problem(f"{name} changed its argument {i} in place; work on a copy or build "
                          f"a new {'array' if isinstance(orig, np.ndarray) else 'object'}",
                          "mutation")
    for key, orig in kwargs.items():
        if _changed(orig, given[1][key]):
            raise Problem(f"{name} changed its argument {key} in place", "mutation")
