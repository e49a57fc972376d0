"""``check_adapted``: ``check_function`` for answers that need one more step before the comparison
(a result to flatten, a dtype to insist on): ``adapt(result)`` returns what ``compare`` sees, or
raises Problem with its own diagnosis. The student's function is called exactly as given (so the
watch, the time budget and the input-mutation checks see its real arguments), and the mistakes'
results go through the same ``adapt`` before they are matched.

Example::

    check_adapted(clip_grad_norm, reference, cases, adapt=flatten, names=[...],
                  mistakes={"in words": wrong_function})
"""
from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..tolerances import GRADER_RTOL, GRADER_TIME_LIMIT
from .core import Report, call_student, diagnose_cases, grade_case


def check_adapted(student: Any, reference: Callable[..., Any], cases: Sequence[tuple], *,
                  adapt: Callable[[Any], Any], title: str | None = None,
                  mistakes: Mapping[str, Callable[..., Any]] | None = None,
                  names: Sequence[str] | None = None, rtol: float = GRADER_RTOL,
                  time_limit_s: float | None = GRADER_TIME_LIMIT, forbid: Sequence[str] = (),
                  allow: Sequence[str] = (), finish: bool = True) -> Report:
    """Run ``student`` and ``reference`` on every case (label, args[, kwargs]) and report."""
    title = title or f"Checking {getattr(student, '__name__', 'your function')}"
    report = Report(title, time_limit_s)
    records = []
    for case in cases:
        label, args, kwargs = (*case, {})[:3]
        expected = adapt(reference(*copy.deepcopy(args), **copy.deepcopy(kwargs)))
        grade_case(report, records, label, args, kwargs, expected, rtol, names,
                   lambda: adapt(call_student(student, args, kwargs, time_limit_s,
                                              forbid=forbid, allow=allow)))
    adapted = quiet({hint: (lambda wrong: lambda *a, **k: adapt(wrong(*a, **k)))(wrong)
                     for hint, wrong in (mistakes or {}).items()})
    report.hint(diagnose_cases(records, adapted, rtol, names))
    if finish:
        report.finish()
    return report


def quiet(mistakes: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """The mistakes, run with NumPy's floating-point warnings off: a mistake that overflows
    on purpose must not print a RuntimeWarning on stderr (nbgrader would score the cell 0)."""
    def wrap(wrong: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return wrong(*args, **kwargs)
        return run
    return {hint: wrap(wrong) for hint, wrong in mistakes.items()}


def hidden_title(fn: Any, hidden: bool) -> str | None:
    """The title of a check run as a hidden test (None: the usual 'Checking <name>')."""
    return f"Hidden tests of {getattr(fn, '__name__', 'your function')}" if hidden else None


def precision_hint(report: Report, case: str) -> None:
    """When ``case`` (built to lose digits in float32) fails by a small relative error and every
    other failure is also small or an overflow, say so: an observation, not a guess."""
    failed = [text for kind, text in report.entries if kind != "pass"]
    small = [t for t in failed if _small_error(t)]
    if (any(f"[FAIL] {case}:" in t for t in small)
            and all(t in small or " contains inf" in t for t in failed)):
        report.hint("the failures are small relative errors, largest where rounding matters "
                    "most: something was computed in float32 (or another short type); compute "
                    "in float64 throughout")


def _small_error(text: str) -> bool:
    found = re.search(r"relative error ([0-9.e+-]+) \(allowed", text)
    return found is not None and float(found.group(1)) < 1e-3
