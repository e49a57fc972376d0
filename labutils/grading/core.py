"""The engine of autograder cells. A chapter's check is usually one ``check_function`` call::

    def check_relu_backward(relu_backward):
        check_function(relu_backward, _reference, cases,
                       forbid=("relu_forward",),        # notebook helpers it must not call
                       mistakes={"in words, the mistake": wrong_function, ...})

and gains, with no code of its own: the watch on forbidden calls (``watch``), one time limit for
the whole exercise, the memory cap, captured warnings and stderr, input-mutation checks
(``run.call_student``), numeric forms, float64 and int checks (``compare``), a hint chosen by
the mistake that agrees with the answer on every case, and a short report without traceback
(``report``). Complexity checks (``complexity.no_python_loop``, ``memory_growth``) and gradient
checks (``gradient_check``) add lines to the Report that ``check_function(..., finish=False)``
returns; call ``report.finish()`` after them.

Always forbidden while the student's function runs: anything in ``labutils``, ``torch`` and
``scipy.special``; ``forbid`` adds notebook functions by name (``"naive_conv2d"``) or modules
(``"scipy.signal"``), ``allow`` exempts helpers (``"conv_output_size"``). A hidden-test cell
calls the same check with ``hidden=True`` (other cases, same engine): see
``basics.check_linear_backward``. Mistakes are written as functions and described in words,
never as code to paste; the grader's own computations run outside the watch, quietly
(``quiet``).
"""
from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..gradcheck import rel_error
from ..tolerances import GRADER_RTOL, GRADER_TIME_LIMIT
from .compare import compare
from .complexity import LineCounter, PeakMemory, memory_growth, no_python_loop
from .report import CheckFailed, Report
from .run import Budget, GraderTimeout, Problem, call_student, memory_cap, time_limit
from .watch import Watch

__all__ = ["Budget", "CheckFailed", "GraderTimeout", "LineCounter", "PeakMemory", "Problem",
           "Report", "Watch", "call_student", "check_function", "compare", "diagnose",
           "diagnose_cases", "gradient_check", "memory_cap", "memory_growth", "no_python_loop",
           "numeric_check", "quiet", "time_limit"]

_DIAGNOSABLE = ("value", "shape", "nan", "type")


def check_function(student: Any, reference: Callable[..., Any], cases: Sequence[tuple],
                   *, title: str | None = None, mistakes: Mapping[str, Any] | None = None,
                   rtol: float = GRADER_RTOL, names: Sequence[str] | None = None,
                   time_limit_s: float | None = GRADER_TIME_LIMIT, finish: bool = True,
                   forbid: Sequence[str] = (), allow: Sequence[str] = ()) -> Report:
    """Run ``student`` and ``reference`` on every case and report.

    cases    -- list of (label, args) or (label, args, kwargs)
    mistakes -- {hint in words: wrong_function or a list of variants}, likeliest first: the
                hint of the first mistake that agrees with the answer on every case is shown;
                none if none agrees (the report then says only what was observed)
    names    -- names of the results, when the function returns a tuple
    forbid, allow -- see ``watch.Watch`` (torch, labutils, scipy.special are always forbidden)
    finish   -- False: return the Report unfinished, for further lines (gradient checks)
    """
    title = title or f"Checking {getattr(student, '__name__', 'your function')}"
    report = Report(title, time_limit_s)
    records = []
    for case in cases:
        label, args, kwargs = (*case, {})[:3]
        with quiet():
            expected = reference(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        grade_case(report, records, label, args, kwargs, expected, rtol, names,
                   lambda: call_student(student, args, kwargs, time_limit_s, forbid=forbid,
                                        allow=allow))
    report.hint(diagnose_cases(records, mistakes, rtol, names))
    if finish:
        report.finish()
    return report


def grade_case(report: Report, records: list[tuple], label: str, args: Sequence[Any],
               kwargs: Mapping[str, Any], expected: Any, rtol: float,
               names: Sequence[str] | None, run: Callable[[], Any]) -> None:
    """One case of a check: ``run()`` (the student's call) compared with ``expected``; adds a
    line to ``report`` and (args, kwargs, got, Problem or None) to ``records``."""
    got = None
    try:
        got = run()
        note = compare(got, expected, rtol, names)
    except Problem as p:
        report.fail(label, str(p))
        records.append((args, kwargs, got, p))
        return
    report.ok(label, f"ok ({note})" if note else "ok")
    records.append((args, kwargs, got, None))


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The grader's own computations (references, known mistakes) print no warnings."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _agrees(wrong: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any], got: Any,
            problem: Problem | None, rtol: float, names: Sequence[str] | None) -> bool:
    try:
        with quiet():
            out = wrong(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    except Exception as e:
        exc = getattr(problem, "exc", None)
        return exc is not None and type(e) is type(exc) and str(e) == str(exc)
    if problem is not None and problem.kind == "raised":
        return False
    try:
        compare(got, out, rtol, names)
    except Exception:
        return False
    return True


def diagnose_cases(records: Sequence[tuple], mistakes: Mapping[str, Any] | None,
                   rtol: float = GRADER_RTOL, names: Sequence[str] | None = None) -> str | None:
    """The hint of the first mistake that agrees with the student's answer on every case
    (records: (args, kwargs, got, Problem or None)), or None when none does: then the
    report only says what was observed."""
    relevant = [r for r in records if r[3] is None or r[3].kind in _DIAGNOSABLE + ("raised",)]
    if not any(r[3] is not None for r in relevant):
        return None
    for hint, variants in (mistakes or {}).items():
        for wrong in variants if isinstance(variants, (list, tuple)) else [variants]:
            if all(_agrees(wrong, a, k, g, p, rtol, names) for a, k, g, p in relevant):
                return hint
    return None


def diagnose(got: Any, args: Sequence[Any], kwargs: Mapping[str, Any],
             mistakes: Mapping[str, Any] | None, rtol: float = GRADER_RTOL,
             names: Sequence[str] | None = None, exc: BaseException | None = None) -> str | None:
    """One case only: the hint of the first known mistake whose result matches ``got``, or,
    when the student's function raised ``exc``, of the first that raises the same error."""
    problem = Problem("", "raised", exc) if exc is not None else Problem("", "value")
    for hint, variants in (mistakes or {}).items():
        for wrong in variants if isinstance(variants, (list, tuple)) else [variants]:
            if (got is not None or exc is not None) and _agrees(wrong, args, kwargs, got,
                                                                problem, rtol, names):
                return hint
    return None


def numeric_check(report: Report, label: str, got: Any, loss: Callable[[], float],
                  x: np.ndarray) -> None:
    """Add a line to ``report``: is ``got`` the gradient of the scalar ``loss()`` w.r.t. the
    array ``x`` (which loss reads), by central differences? Prints the verdict, not digits."""
    from ..gradcheck import numerical_gradient
    from ..tolerances import verdict
    try:
        if np.asarray(got).dtype.kind == "f" and np.asarray(got).dtype.itemsize < 8:
            report.fail(label, f"{np.asarray(got).dtype}, not float64: no gradient check")
            return
        got = np.asarray(got, dtype=np.float64)
        if got.shape != x.shape:
            raise ValueError(f"expected shape {x.shape}, got {got.shape}")
        err = rel_error(got, numerical_gradient(loss, x))
    except (TypeError, ValueError) as e:
        report.fail(label, f"could not compare with central differences ({e})")
        return
    v = verdict(err)
    if v == "correct":
        report.ok(label, "agrees with central differences (gradient check: correct)")
    else:
        report.fail(label, f"gradient check against central differences: {v} "
                           f"(relative error {err:.1e})")


def gradient_check(report: Report, student: Any, args: Sequence[Any], loss: Callable[[], float],
                   wrt: Sequence[np.ndarray], names: Sequence[str],
                   kwargs: Mapping[str, Any] | None = None,
                   time_limit_s: float | None = GRADER_TIME_LIMIT, **watch: Sequence[str]) -> None:
    """The gradient check of a backward exercise: run ``student(*args, **kwargs)`` and
    compare its results, named ``names``, with central differences of the scalar ``loss()``
    w.r.t. the arrays ``wrt`` (same order; loss reads them). Adds one line per result.
    ``watch``: forbid=..., allow=... as for check_function."""
    try:
        got = call_student(student, args, kwargs, time_limit_s, **watch)
        got = (got,) if len(names) == 1 else got
        if not isinstance(got, (tuple, list)) or len(got) != len(names):
            raise Problem(f"expected {len(names)} results ({', '.join(names)})")
    except Problem as p:
        report.fail("gradient check", f"could not run: {p}" if p.kind != "not run" else str(p))
        return
    for name, g, x in zip(names, got, wrt):
        numeric_check(report, f"{name} by central differences", g, loss, x)
