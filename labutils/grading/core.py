"""The machinery of autograder cells: call a student's function safely, compare with the
reference, recognise the usual mistakes, print a short report, raise AssertionError.

A chapter's checks (``labutils.grading.basics`` ...) are a few lines each on top of
``check_function``; anything unusual composes ``Report``, ``call_student`` and ``compare``.
"""
import copy
import signal
import threading
from contextlib import contextmanager

import numpy as np

from ..gradcheck import rel_error
from ..tolerances import GRADER_RTOL, GRADER_TIME_LIMIT


class GraderTimeout(Exception):
    pass


@contextmanager
def time_limit(seconds):
    """Interrupt Python code that runs longer than ``seconds`` (SIGALRM; main thread on
    Unix only, elsewhere no limit). A single long NumPy call is interrupted only when it
    returns, and running out of memory cannot be stopped from here."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable or not seconds:
        yield
        return

    def on_alarm(signum, frame):
        raise GraderTimeout()
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Problem(Exception):
    """What went wrong in one case, phrased for the student."""


def call_student(fn, args, kwargs=None, time_limit_s=GRADER_TIME_LIMIT, name=None):
    """Run ``fn(*args, **kwargs)`` on copies of the arguments. Returns its result, or raises
    Problem for: not a function, not filled in, an exception, a time-out, or a change made
    in place to an input array."""
    name = name or getattr(fn, "__name__", "your function")
    kwargs = kwargs or {}
    if not callable(fn):
        raise Problem(f"expected a function, got {type(fn).__name__}")
    given = copy.deepcopy(args), copy.deepcopy(kwargs)
    try:
        with time_limit(time_limit_s):
            result = fn(*given[0], **given[1])
    except NotImplementedError:
        raise Problem(f"{name} is not filled in yet: replace `raise NotImplementedError()` "
                      f"with your code") from None
    except GraderTimeout:
        raise Problem(f"{name} did not finish within {time_limit_s:g} s: an endless loop? "
                      f"(a loop over every element can also be this slow; vectorise)") from None
    except Exception as e:  # the student's code may raise anything
        problem = Problem(f"{name} raised {type(e).__name__}: {e}")
        problem.exc = e
        raise problem from None
    for i, (orig, seen) in enumerate(zip(args, given[0])):
        if isinstance(orig, np.ndarray) and not np.array_equal(orig, seen, equal_nan=True):
            raise Problem(f"{name} changed its argument {i} in place; work on a copy "
                          f"(x = x.copy()) or build a new array")
    return result


def _leaves(x):
    return list(x) if isinstance(x, (tuple, list)) else [x]


def compare(got, expected, rtol=GRADER_RTOL, names=None):
    """Raise Problem if ``got`` does not match ``expected`` (an array, a number, or a tuple
    of them). Messages give expected vs received shape, the largest error and where."""
    exp_leaves = _leaves(expected)
    if got is None:
        raise Problem("returned None: did you forget the `return` statement?")
    got_leaves = _leaves(got) if isinstance(expected, (tuple, list)) else [got]
    if len(got_leaves) != len(exp_leaves):
        raise Problem(f"expected {len(exp_leaves)} results ({', '.join(names or [])}), "
                      f"got {len(got_leaves)}")
    for k, (g, e) in enumerate(zip(got_leaves, exp_leaves)):
        label = names[k] if names else ("result" if len(exp_leaves) == 1 else f"result {k}")
        if g is None:
            raise Problem(f"{label} is None: did you forget to compute or return it?")
        try:
            g = np.asarray(g, dtype=np.float64) if np.ndim(e) or np.isscalar(e) else g
        except (TypeError, ValueError):
            raise Problem(f"{label}: expected an array, got {type(g).__name__}") from None
        e = np.asarray(e, dtype=np.float64)
        if g.shape != e.shape:
            hint = ""
            if g.shape == e.shape[::-1] and g.ndim == 2:
                hint = " (transposed?)"
            elif g.size == e.size:
                hint = " (same number of entries: a reshape or transpose missing?)"
            raise Problem(f"{label}: expected shape {e.shape}, got {g.shape}{hint}")
        if np.isnan(g).any() and not np.isnan(e).any():
            where = tuple(int(i) for i in np.argwhere(np.isnan(g))[0])
            raise Problem(f"{label} contains NaN (first at index {where}); an overflow, a "
                          f"0/0 or a log of 0?")
        err = rel_error(np.nan_to_num(g), np.nan_to_num(e))
        if not err <= rtol:
            diff = np.abs(np.nan_to_num(g) - np.nan_to_num(e))
            where = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
            at = f" at index {tuple(int(i) for i in where)}" if diff.ndim else ""
            exp_v, got_v = (e[where], g[where]) if diff.ndim else (e, g)
            raise Problem(f"{label}: relative error {err:.1e} (allowed {rtol:.0e}); largest "
                          f"difference{at}: expected {float(exp_v):.6g}, got {float(got_v):.6g}")


class Report:
    """Collects one line per case and ends with a verdict. ``finish()`` prints the report
    and raises AssertionError when any case failed, so that nbgrader scores the cell."""

    def __init__(self, title):
        self.title, self.lines, self.failed = title, [], 0

    def ok(self, case, detail="ok"):
        self.lines.append(f"  [pass] {case}: {detail}")

    def fail(self, case, message, hint=None):
        self.failed += 1
        self.lines.append(f"  [FAIL] {case}: {message}")
        if hint:
            self.lines.append(f"         hint: {hint}")

    def finish(self):
        n = len([line for line in self.lines if line.startswith("  [")])
        print(f"{self.title}")
        print("\n".join(self.lines))
        if self.failed:
            print(f"{self.failed} of {n} checks failed.")
            first = next(line for line in self.lines if "[FAIL]" in line).strip()
            raise AssertionError(f"{self.title}: {first}")
        print(f"All {n} checks passed.")


def check_function(student, reference, cases, *, title=None, mistakes=None,
                   rtol=GRADER_RTOL, names=None, time_limit_s=GRADER_TIME_LIMIT, finish=True):
    """Run ``student`` and ``reference`` on every case and report.

    cases    -- list of (label, args) or (label, args, kwargs)
    mistakes -- {hint: wrong_function}: when a failing answer matches what a wrong_function
                returns on the same case, the report gives that hint
    names    -- names of the results, when the function returns a tuple
    finish   -- False: return the Report unfinished, for further lines (gradient checks)
    """
    title = title or f"Checking {getattr(student, '__name__', 'your function')}"
    report = Report(title)
    for case in cases:
        label, args, kwargs = (*case, {})[:3]
        expected = reference(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        got = None
        try:
            got = call_student(student, args, kwargs, time_limit_s)
            compare(got, expected, rtol, names)
        except Problem as p:
            report.fail(label, str(p), diagnose(got, args, kwargs, mistakes, rtol, names,
                                                 getattr(p, "exc", None)))
            continue
        report.ok(label)
    if finish:
        report.finish()
    return report


def diagnose(got, args, kwargs, mistakes, rtol, names, exc=None):
    """The hint of the first known mistake whose result matches ``got``, or, when the
    student's function raised ``exc``, of the first mistake that raises the same error."""
    for hint, wrong in (mistakes or {}).items():
        try:
            expected_wrong = wrong(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        except Exception as e:
            if exc is not None and type(e) is type(exc) and str(e) == str(exc):
                return hint
            continue
        if got is None:
            continue
        try:
            compare(got, expected_wrong, rtol, names)
        except Exception:
            continue
        return hint
    return None


def numeric_check(report, label, got, loss, x):
    """Add a line to ``report``: is ``got`` the gradient of the scalar ``loss()`` w.r.t. the
    array ``x`` (which loss reads), by central differences? Prints the verdict, not digits."""
    from ..gradcheck import numerical_gradient
    from ..tolerances import verdict
    try:
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


def gradient_check(report, student, args, loss, wrt, names, kwargs=None,
                   time_limit_s=GRADER_TIME_LIMIT):
    """The gradient check of a backward exercise: run ``student(*args, **kwargs)`` and
    compare its results, named ``names``, with central differences of the scalar ``loss()``
    w.r.t. the arrays ``wrt`` (same order; loss reads them). Adds one line per result."""
    try:
        got = call_student(student, args, kwargs, time_limit_s)
        got = (got,) if len(names) == 1 else got
        if not isinstance(got, (tuple, list)) or len(got) != len(names):
            raise Problem(f"expected {len(names)} results ({', '.join(names)})")
    except Problem as p:
        report.fail("gradient check", f"could not run: {p}")
        return
    for name, g, x in zip(names, got, wrt):
        numeric_check(report, f"{name} by central differences", g, loss, x)
