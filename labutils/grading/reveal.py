"""The reveal cell after an exercise: the library's answer, shown only once the student has
written theirs, and one comparison that never raises (the cell is not graded; Run All goes on).

In the notebook, right after an exercise's check (and hidden-test) cells::

    from labutils.grading import reveal
    reveal(linear_backward, basics.library_linear_backward, dy, x, W,
           show=[nn.linear_forward, nn.linear_backward])

prints the source of the functions in ``show`` (the library's pair; by default the reference
itself), then the verdict of the student's function against ``reference`` (a function with the
exercise's signature, e.g. the library pair called in order) on one input:
"your answer agrees with the library", "your answer differs from the library: ..." or
"exercise not finished yet: ...". Nothing is graded here; the graded check is the cell above.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from ..tolerances import GRADER_RTOL, GRADER_TIME_LIMIT
from .compare import compare
from .run import Problem, call_student

__all__ = ["reveal", "verdict"]

AGREES = "your answer agrees with the library"
DIFFERS = "your answer differs from the library"
UNFINISHED = "exercise not finished yet"


def verdict(student: Callable, reference: Callable, *args: Any, names: Sequence[str] | None = None,
            rtol: float = GRADER_RTOL, **kwargs: Any) -> str:
    """The one-line verdict of ``student(*args, **kwargs)`` against ``reference(...)``."""
    try:
        expected = reference(*args, **kwargs)
        got = call_student(student, args, kwargs, GRADER_TIME_LIMIT)
        compare(got, expected, rtol, names)
    except Problem as p:
        if p.kind == "not filled":
            return f"{UNFINISHED}: {getattr(student, '__name__', 'your function')} still raises NotImplementedError"
        return f"{DIFFERS}: {p}"
    except Exception as e:   # noqa: BLE001  (never raise: the reveal cell is not graded)
        return f"{DIFFERS}: {type(e).__name__}: {e}"
    return AGREES


def reveal(student: Callable, reference: Callable, *args: Any, show: Sequence[Callable] = (),
           names: Sequence[str] | None = None, rtol: float = GRADER_RTOL, **kwargs: Any) -> None:
    """Print the source of each function in ``show`` (default: ``reference``), then the verdict
    of the student's function against ``reference`` on one input (``args``, ``kwargs``).
    Never raises."""
    for fn in show or [reference]:
        try:
            print(inspect.getsource(fn))
        except (OSError, TypeError):
            print(f"(the source of {getattr(fn, '__name__', fn)!r} is not available)")
    print(verdict(student, reference, *args, names=names, rtol=rtol, **kwargs))
