"""Complexity without wall-clock time: measure the student's function at two sizes.

- ``LineCounter``: Python ``line`` events executed in the student's own file (the notebook cell:
  the function, its helpers, lambdas and comprehensions) plus Python calls anywhere. A per-row
  loop adds lines or calls per row; an array expression does not.
- ``PeakMemory``: the ``tracemalloc`` peak during the call (NumPy reports its buffers to it).

``no_python_loop`` and ``memory_growth`` add one line to a Report; both run the student's function
through ``call_student`` (time budget, watch, memory cap included).

Example::

    no_python_loop(report, softmax_backward, lambda n: (rng.normal(size=(n, 5)),) * 2,
                   sizes=(8, 64), per="row")
    memory_growth(report, softmax_backward, lambda n: (dy_of(n), y_of(n)), sizes=(64, 512),
                  max_power=1, what="the full n × n Jacobian of each row")
"""
from __future__ import annotations

import math
import sys
import tracemalloc
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

from .run import Problem, call_student

if TYPE_CHECKING:
    from .report import Report

Tracer = Callable[[FrameType, str, Any], Any]


class LineCounter:
    """Context manager counting Python work (``self.count``): the line events of code in
    ``fn``'s file, plus every Python function call anywhere (so that a loop hidden in a
    library, such as ``np.apply_along_axis`` calling a NumPy function per row, counts too)."""

    def __init__(self, fn: Callable[..., Any]):
        self.filename = getattr(getattr(fn, "__code__", None), "co_filename", None)
        self.count = 0

    def _global(self, frame: FrameType, event: str, arg: Any) -> Tracer | None:
        self.count += 1
        return self._local if frame.f_code.co_filename == self.filename else None

    def _local(self, frame: FrameType, event: str, arg: Any) -> Tracer:
        if event == "line":
            self.count += 1
        return self._local

    def __enter__(self) -> LineCounter:
        self._previous = sys.gettrace()
        sys.settrace(self._global)
        return self

    def __exit__(self, *exc: object) -> bool:
        sys.settrace(self._previous)
        return False


class PeakMemory:
    """Context manager: ``self.peak`` is the peak of traced memory (bytes) above the start."""

    def __enter__(self) -> PeakMemory:
        self._was = tracemalloc.is_tracing()
        if not self._was:
            tracemalloc.start()
        tracemalloc.reset_peak()
        self._base = tracemalloc.get_traced_memory()[0]
        return self

    def __exit__(self, *exc: object) -> bool:
        self.peak = max(tracemalloc.get_traced_memory()[1] - self._base, 1)
        if not self._was:
            tracemalloc.stop()
        return False


def _measure(student: Any, make_args: Callable[[int], tuple], sizes: Sequence[int],
             probe_of: Callable[[], Any], value: Callable[[Any], float],
             **watch: Sequence[str]) -> list[float]:
    out = []
    for n in sizes:
        probe = probe_of()
        call_student(student, make_args(n), probe=probe, **watch)
        out.append(value(probe))
    return out


def no_python_loop(report: Report, student: Any, make_args: Callable[[int], tuple],
                   sizes: Sequence[int] = (8, 64), per: str = "row", label: str | None = None,
                   **watch: Sequence[str]) -> None:
    """Fail when the Python lines executed grow with ``n`` (``make_args(n)`` -> the args
    tuple): at least one line per extra ``per`` means a Python loop over them."""
    label = label or f"vectorised over the {per}s (no Python loop per {per})"
    try:
        c1, c2 = _measure(student, make_args, sizes, lambda: LineCounter(student),
                          lambda p: p.count, **watch)
    except Problem as p:
        report.fail(label, str(p) if p.kind == "not run" else f"could not measure: {p}")
        return
    n1, n2 = sizes
    if c2 - c1 >= 0.5 * (n2 - n1):
        report.fail(label, f"your code runs a Python loop per {per}: {c1} Python steps ran "
                           f"for {n1} {per}s, {c2} for {n2}; the exercise asks for array "
                           f"operations on all {per}s at once")
    else:
        report.ok(label)


def memory_growth(report: Report, student: Any, make_args: Callable[[int], tuple],
                  sizes: Sequence[int] = (64, 512), max_power: float = 1.0, what: str = "memory",
                  label: str | None = None, **watch: Sequence[str]) -> None:
    """Fail when peak memory grows faster than ``n ** max_power`` (by half a power or more,
    and by over 1 MB): e.g. a full Jacobian where the exercise forbids it."""
    label = label or f"memory grows at most like n^{max_power:g}"
    try:
        p1, p2 = _measure(student, make_args, sizes, PeakMemory, lambda p: p.peak, **watch)
    except Problem as p:
        report.fail(label, str(p) if p.kind == "not run" else f"could not measure: {p}")
        return
    n1, n2 = sizes
    power = math.log(p2 / p1) / math.log(n2 / n1)
    if power >= max_power + 0.5 and p2 > 2**20:
        report.fail(label, f"peak memory grows like n^{power:.1f} (n = {n1}: {p1 / 1024:.0f} kB, "
                           f"n = {n2}: {p2 / 1024:.0f} kB): your code builds {what}, which the "
                           f"exercise asks you to avoid")
    else:
        report.ok(label)
