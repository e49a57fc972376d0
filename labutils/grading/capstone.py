"""A chapter's capstone: built from the student's own functions, graded by what it achieves.

In the notebook::

    from labutils.grading import capstone
    capstone.require(linear_forward=(linear_forward, x, W, b), relu_backward=(relu_backward, dy, x))
    used = capstone.Counter(linear_forward=linear_forward, relu_backward=relu_backward)
    ... the capstone, calling used.linear_forward(...), used.relu_backward(...) ...
    capstone.used_all(used)            # each of the student's functions was really called
    capstone.achieved(acc >= 0.9, "training accuracy at least 0.90", f"{acc:.2f}")

``require`` calls each function once on a tiny input and, when any is unfinished (raises
NotImplementedError) or fails to run, raises ONE short ``Unfinished`` error naming every
exercise to finish first; the capstone cell is tagged ``raises-exception``, so Run All goes on.
A graded check cell after it re-tests the criterion (``achieved``), so nbgrader scores it.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..tolerances import GRADER_TIME_LIMIT
from .report import CheckFailed
from .run import Problem, call_student

__all__ = ["Counter", "Unfinished", "achieved", "require", "used_all"]


class Unfinished(CheckFailed):
    """An exercise the capstone needs is not finished. Shown as one line in IPython."""

    def _render_traceback_(self) -> list[str]:
        return [f"Capstone not run: {self}"]


def require(allow: tuple[str, ...] = (), **functions: tuple) -> None:
    """``name=(function, *tiny_args)``: call each; raise Unfinished naming those that are not
    filled in or raise. Returns nothing when all run. ``allow``: course helpers the exercises
    may call (as their checks allow, e.g. ``"labutils.nn.attention.safe_softmax"``)."""
    missing, broken = [], []
    for name, (fn, *args) in functions.items():
        try:
            call_student(fn, tuple(args), {}, GRADER_TIME_LIMIT, name=name, allow=allow)
        except Problem as p:
            (missing if p.kind == "not filled" else broken).append((name, p))
    if missing or broken:
        parts = []
        if missing:
            parts.append("finish the exercise" + ("s " if len(missing) > 1 else " ")
                         + ", ".join(f"`{n}`" for n, _ in missing) + " first")
        parts += [f"{n} fails: {p}" for n, p in broken]
        raise Unfinished("; ".join(parts))


class Counter:
    """Wraps the student's functions and counts their calls: ``used.name(...)`` calls the
    student's ``name`` and adds one to ``used.calls[name]``."""

    def __init__(self, **functions: Callable) -> None:
        self.calls = {name: 0 for name in functions}
        for name, fn in functions.items():
            setattr(self, name, self._wrap(name, fn))

    def _wrap(self, name: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return fn(*args, **kwargs)
        return counted


def used_all(counter: Counter) -> None:
    """Raise CheckFailed unless every wrapped function was called at least once."""
    unused = [n for n, k in counter.calls.items() if k == 0]
    if unused:
        raise CheckFailed("the capstone did not use your " + ", ".join(unused))
    print("the capstone used your " + ", ".join(f"{n} ({k} calls)" for n, k in counter.calls.items()))


def achieved(ok: bool, criterion: str, measured: str) -> None:
    """Print the verdict of the capstone's criterion; raise CheckFailed when it is not met."""
    if not ok:
        print(f"[FAIL] {criterion}: measured {measured}")
        raise CheckFailed(f"capstone criterion not met: {criterion} (measured {measured})")
    print(f"[pass] {criterion}: measured {measured}")
