"""Helpers for testing autograder checks: a check must pass the reference and fail each
typical mistake with the right words."""
import contextlib
import io
import linecache

import numpy as np
import pytest


def passes(check, fn, *args, **kwargs):
    """Run ``check(fn)``; assert it passes with nothing on stderr; return what it printed."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        check(fn, *args, **kwargs)
    assert "checks passed" in out.getvalue(), out.getvalue()
    assert err.getvalue() == "", f"a passing check wrote to stderr: {err.getvalue()}"
    return out.getvalue()


def fails(check, fn, *phrases, **kwargs):
    """Run ``check(fn)``; assert it raises AssertionError, writes nothing to stderr, prints a
    report of at most 15 lines that contains every phrase (case-insensitive). Returns it."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            pytest.raises(AssertionError):
        check(fn, **kwargs)
    assert err.getvalue() == "", f"a check wrote to stderr: {err.getvalue()}"
    text = out.getvalue().lower()
    for p in phrases:
        assert p.lower() in text, f"expected {p!r} in the report:\n{out.getvalue()}"
    assert_short(out.getvalue())
    return out.getvalue()


# -- what any student function may do (each grader must survive all of these) ----------------

def returns_none(*args, **kwargs):
    return None


def raises(*args, **kwargs):
    raise IndexError("tuple index out of range")


def not_filled(*args, **kwargs):
    raise NotImplementedError()


def spins(*args, **kwargs):
    while True:
        pass


def nan_like(answer):
    """A function returning NaN arrays shaped like ``answer``'s results."""
    def wrong(*args, **kwargs):
        out = answer(*args, **kwargs)
        if isinstance(out, tuple):
            return tuple(np.full(np.shape(o), np.nan) for o in out)
        return np.full(np.shape(out), np.nan)
    return wrong


def wrong_shape(answer):
    """``answer`` with its (first) result cut by one along the last axis (or given a new
    leading axis when there is nothing to cut)."""
    def wrong(*args, **kwargs):
        out = answer(*args, **kwargs)
        first, rest = (out[0], out[1:]) if isinstance(out, tuple) else (out, None)
        first = np.asarray(first)
        bad = first[..., :-1] if first.ndim and first.shape[-1] > 1 else first[None]
        return bad if rest is None else (bad, *rest)
    return wrong


def in_place(answer):
    """``answer``, but it also changes its first array (zeroed) or list (emptied) argument."""
    def wrong(*args, **kwargs):
        out = answer(*args, **kwargs)
        first = next(a for a in args if isinstance(a, (np.ndarray, list)))
        if isinstance(first, list):
            first.clear()
        else:
            first[...] = 0
        return out
    return wrong


def assert_survives(check, answer, array_args=True, returns_int=False):
    """``check`` fails with the right words on everything a student's code may do.
    returns_int: the answer is an int, so a NaN or an array is refused as not an int."""
    fails(check, returns_none, "returned None")
    fails(check, raises, "raised IndexError: tuple index out of range")
    fails(check, not_filled, "not filled in yet")
    fails(check, nan_like(answer), "expected an int" if returns_int else "contains NaN")
    fails(check, wrong_shape(answer), "expected an int" if returns_int else "expected shape")
    if array_args:
        fails(check, in_place(answer), "changed its argument 0 in place")
    fails(check, spins, "did not finish within 0.2 s", "endless loop", time_limit_s=0.2)
    fails(check, 42, "expected a function")


def assert_short(report):
    """A failing report: at most 15 lines, none of them grader source."""
    lines = report.splitlines()
    assert len(lines) <= 15, report
    for line in lines:
        assert not line.lstrip().startswith(("def ", "return ", "lambda", "File ")), report
        assert "labutils/grading" not in line and "Traceback" not in line, report


# -- classes of answers every check must judge right -------------------------------------------

def noisy(answer):
    """``answer`` that also warns and prints (on stdout and stderr): a right answer still."""
    import sys
    import warnings

    def right(*args, **kwargs):
        warnings.warn("a warning from the student's code")
        print("a debug print")
        print("a debug print on stderr", file=sys.stderr)
        return answer(*args, **kwargs)
    right.__name__ = getattr(answer, "__name__", "answer")
    return right


def float32(answer):
    """``answer`` computed, then returned in float32 (every float array of the result)."""
    def wrong(*args, **kwargs):
        out = answer(*args, **kwargs)
        cast = lambda o: np.asarray(o, dtype=np.float32)   # noqa: E731
        return tuple(cast(o) for o in out) if isinstance(out, tuple) else cast(out)
    return wrong


def assert_right_answers_pass(check, answer):
    """The answer passes, also with a warning and prints (nothing reaches stderr, the warning
    is reported on stdout), and its float32 version fails with that diagnosis."""
    passes(check, answer)
    out = passes(check, noisy(answer))
    assert "UserWarning: a warning from the student's code" in out
    fails(check, float32(answer), "float32, not float64")


def notebook(source, **names):
    """Run ``source`` as a notebook cell would: its functions' __globals__ is the returned
    namespace (the notebook's), and their lines are known (as IPython registers a cell's)."""
    ns = {"np": np, "__name__": "__main__", **names}
    filename = f"<notebook cell {len(linecache.cache)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), ns)
    return ns
