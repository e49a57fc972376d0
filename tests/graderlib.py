"""Helpers for testing autograder checks: a check must pass the reference and fail each
typical mistake with the right words."""
import contextlib
import io

import pytest


def passes(check, fn, *args, **kwargs):
    """Run ``check(fn)``; assert it passes; return what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        check(fn, *args, **kwargs)
    assert "checks passed" in out.getvalue(), out.getvalue()
    return out.getvalue()


def fails(check, fn, *phrases, **kwargs):
    """Run ``check(fn)``; assert it raises AssertionError and that the printed report
    contains every phrase (case-insensitive). Returns the report."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(AssertionError):
        check(fn, **kwargs)
    text = out.getvalue().lower()
    for p in phrases:
        assert p.lower() in text, f"expected {p!r} in the report:\n{out.getvalue()}"
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
    import numpy as np

    def wrong(*args, **kwargs):
        out = answer(*args, **kwargs)
        if isinstance(out, tuple):
            return tuple(np.full(np.shape(o), np.nan) for o in out)
        return np.full(np.shape(out), np.nan)
    return wrong
