"""Chapter 5, section 10: the grader of the dilated sliding-window pattern. The notebook's answer
passes (also as a loop, with a print and a warning, on the hidden seeds), a catalogue of wrong
answers fails with its diagnosis, a 0/1 array is refused, and what any student function may do
is caught."""
import numpy as np
import pytest

from labutils.grading import attention as g
from labutils.nn.masks import sliding_window_pattern

from . import graderlib
from .graderlib import assert_short, fails, noisy, passes
from .test_attention_grading import DELEGATION


def window_pattern(T, window, dilation):
    """The notebook's answer."""
    d = np.abs(np.arange(T)[:, None] - np.arange(T)[None, :])
    return (d <= window * dilation) & (d % dilation == 0)


def window_loop(T, window, dilation):
    p = np.zeros((T, T), bool)
    for i in range(T):
        for k in range(-window, window + 1):
            if 0 <= i + k * dilation < T:
                p[i, i + k * dilation] = True
    return p


def test_right_answers_pass():
    passes(g.check_window_pattern, window_pattern)
    passes(g.check_window_pattern, window_loop)
    assert "a debug print" in passes(g.check_window_pattern, noisy(window_pattern))
    passes(g.check_window_pattern, window_pattern, seed=99)
    assert "Hidden tests of" in passes(g.check_window_pattern, window_pattern, hidden=True)


def _d(T):
    return np.abs(np.arange(T)[:, None] - np.arange(T)[None, :])


@pytest.mark.parametrize("fn,phrases", [
    (lambda T, w, s: _d(T) <= w * s, ["dilation leaves gaps"]),
    (lambda T, w, s: (_d(T) <= w) & (_d(T) % s == 0), ["window · dilation steps on each side"]),
    (lambda T, w, s: (_d(T) < w * s) & (_d(T) % s == 0), ["(<=, not <)"]),
    (lambda T, w, s: np.tril(window_pattern(T, w, s)), ["on both sides of the query"]),
    (lambda *a: window_pattern(*a).astype(int), ["must be a boolean array"]),
    (lambda *a: ~window_pattern(*a), ["[FAIL]"]),
    (lambda *a: sliding_window_pattern(*a), ["called sliding_window_pattern", DELEGATION]),
    (graderlib.returns_none, ["returned None"]),
    (graderlib.raises, ["raised IndexError"]),
    (graderlib.not_filled, ["not filled in yet"]),
    (lambda *a: window_pattern(*a)[:-1], ["expected shape"]),
    (42, ["expected a function"]),
])
def test_catalogue(fn, phrases):
    assert_short(fails(g.check_window_pattern, fn, *phrases))


def test_endless_loop_is_stopped():
    assert_short(fails(g.check_window_pattern, graderlib.spins, "did not finish within 0.2 s",
                       time_limit_s=0.2))
