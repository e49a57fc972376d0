"""Chapter 1 graders: pass the reference, fail each typical mistake with the right hint,
and survive what a student's code does (None, exceptions, NaN, in-place changes, loops)."""
import numpy as np
import pytest

from labutils.grading import basics as g
from labutils.grading.core import time_limit
from labutils.nn import CrossEntropyLoss

from .graderlib import fails, passes


def ref_linear_forward(x, W, b):
    return x @ W.T + b


def ref_linear_backward(dy, x, W):
    return dy @ W, dy.reshape(-1, dy.shape[-1]).T @ x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1]).sum(0)


def ref_softmax_backward(dy, y):
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


def ref_cross_entropy(logits, t):
    m = logits.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
    return np.mean(lse - logits[np.arange(len(t)), t])


def ref_numerical_gradient(f, x, h=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f(x)
        x[i] = old - h
        fm = f(x)
        x[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad


def test_references_pass():
    passes(g.check_linear_forward, ref_linear_forward)
    out = passes(g.check_linear_backward, ref_linear_backward)
    assert "gradient check: correct" in out
    passes(g.check_relu_backward, lambda dy, x: dy * (x > 0))
    assert "central differences" in passes(g.check_softmax_backward, ref_softmax_backward)
    passes(g.check_cross_entropy, ref_cross_entropy)
    passes(g.check_numerical_gradient, ref_numerical_gradient)


def test_calling_the_course_reference_fails():
    fails(g.check_cross_entropy, lambda lg, t: CrossEntropyLoss()(lg, t), "called CrossEntropyLoss",
          "your own code")
    fails(g.check_numerical_gradient, g.reference_numerical_gradient, "called numerical_gradient")


@pytest.mark.parametrize("fn,phrases", [
    (lambda x, W, b: x @ W + b, ["raised ValueError", "x @ W.T"]),
    (lambda x, W, b: x @ W.T, ["bias is missing"]),
    (lambda x, W, b: None, ["returned None"]),
    (lambda x, W, b: (x @ W.T + b)[None], ["expected shape (4, 2), got shape (1, 4, 2)"]),
])
def test_linear_forward_mistakes(fn, phrases):
    fails(g.check_linear_forward, fn, *phrases)


@pytest.mark.parametrize("fn,phrases", [
    (lambda dy, x, W: (dy @ W, x.T @ dy, dy.sum(0)), ["dW: expected shape", "transpose"]),
    (lambda dy, x, W: (dy @ W, dy.T @ x, dy), ["db", "summed over the batch"]),
    (lambda dy, x, W: (dy @ W, dy.T @ x, dy.mean(0)), ["db is a sum over the batch, not a mean"]),
    (lambda dy, x, W: (dy @ W, dy.T @ x / len(x), dy.sum(0)), ["dw is a sum over the batch, not a mean", "gradient check against central differences: wrong"]),
    (lambda dy, x, W: (dy @ W, dy.T @ x), ["expected 3 results"]),
    (lambda dy, x, W: (dy @ W, dy.T @ x, None), ["db is None"]),
])
def test_linear_backward_mistakes(fn, phrases):
    fails(g.check_linear_backward, fn, *phrases)


def test_unfilled_exercise_is_named():
    def linear_forward(x, W, b):
        raise NotImplementedError()
    report = fails(g.check_linear_forward, linear_forward, "linear_forward is not filled in yet")
    assert report.count("[FAIL]") == 4


def test_exception_nan_and_in_place_are_reported():
    def boom(dy, x):
        return dy[:, 99]
    fails(g.check_relu_backward, boom, "raised IndexError")
    fails(g.check_relu_backward, lambda dy, x: dy * np.nan, "contains nan")

    def in_place(dy, x):
        dy[x <= 0] = 0
        return dy
    fails(g.check_relu_backward, in_place, "changed its argument 0 in place")


def test_relu_backward_mistakes():
    fails(g.check_relu_backward, lambda dy, x: (x > 0).astype(float), "multiply the local derivative")
    fails(g.check_relu_backward, lambda dy, x: dy * (x >= 0), "x > 0, not x >= 0")


def test_softmax_backward_mistakes():
    fails(g.check_softmax_backward, lambda dy, y: dy * y * (1 - y), "only the diagonal", "gradient check against central differences: wrong")
    fails(g.check_softmax_backward, lambda dy, y: y * (dy - (dy * y).sum(axis=0, keepdims=True)), "not over the batch")


def test_cross_entropy_mistakes():
    def naive(logits, t):
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return -np.mean(np.log(p[np.arange(len(t)), t]))
    with np.errstate(all="ignore"):
        fails(g.check_cross_entropy, naive, "huge logits", "contains nan", "log-sum-exp")
    fails(g.check_cross_entropy, lambda lg, t: ref_cross_entropy(lg, t) * len(t), "mean over the batch, not sum")


def test_numerical_gradient_mistakes():
    def forward_difference(f, x, h=1e-6):
        grad = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + h
            fp = f(x)
            x[i] = old
            grad[i] = (fp - f(x)) / h
        return grad
    fails(g.check_numerical_gradient, forward_difference, "forward difference")

    def forgets_to_restore(f, x, h=1e-6):
        grad = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            x[i] += h
            fp = f(x)
            x[i] -= 2 * h
            grad[i] = (fp - f(x)) / (2 * h)
        return grad
    fails(g.check_numerical_gradient, forgets_to_restore, "in place")


def test_endless_loop_is_interrupted_and_the_kernel_goes_on(monkeypatch):
    monkeypatch.setattr("labutils.grading.core.GRADER_TIME_LIMIT", 0.3)

    def spins(x, W, b):
        while True:
            pass
    from labutils.grading import core
    report = fails(lambda fn: core.check_function(fn, ref_linear_forward, [("c", (np.ones((1, 2)), np.ones((3, 2)), np.ones(3)))], time_limit_s=0.3), spins, "did not finish within 0.3 s")
    assert "endless loop" in report
    with time_limit(1.0):   # the alarm was cleared: later code runs normally
        assert sum(range(1000)) == 499500


def test_not_a_function():
    fails(g.check_linear_forward, None, "expected a function")
