"""Chapter 1 graders: a catalogue of wrong answers (one at least per class of mistake: wrong
formula, delegation to a reference, float32, unstable formula, in-place change, Jacobian built),
each failing with the right diagnosis; every numeric form of a right answer passes; the right
answer passes with a warning and prints added."""
import numpy as np
import pytest
import scipy.special  # noqa: F401  (imported as a notebook would, before the exercise)
import torch  # noqa: F401

from labutils.grading import basics as g
from labutils.grading.core import time_limit
from labutils.nn import CrossEntropyLoss

from .graderlib import assert_right_answers_pass, assert_survives, fails, passes


def ref_linear_forward(x, W, b):
    return x @ W.T + b


def ref_linear_backward(dy, x, W):
    return dy @ W, dy.T @ x, dy.sum(0)


def ref_relu_backward(dy, x):
    return dy * (x > 0)


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


CHECKS = [(g.check_linear_forward, ref_linear_forward), (g.check_linear_backward, ref_linear_backward),
          (g.check_relu_backward, ref_relu_backward), (g.check_softmax_backward, ref_softmax_backward),
          (g.check_cross_entropy, ref_cross_entropy)]


@pytest.mark.parametrize("check,answer", CHECKS)
def test_right_answers_pass_also_noisy_and_float32_fails(check, answer):
    assert_right_answers_pass(check, answer)


@pytest.mark.parametrize("check,answer", CHECKS + [(g.check_numerical_gradient, ref_numerical_gradient)])
def test_graders_survive_what_student_code_does(check, answer):
    assert_survives(check, answer, array_args=check is not g.check_numerical_gradient)


def test_numerical_gradient_passes_and_says_the_gradient_checks():
    passes(g.check_numerical_gradient, ref_numerical_gradient)
    from .graderlib import noisy
    passes(g.check_numerical_gradient, noisy(ref_numerical_gradient))


def test_gradient_check_lines():
    assert "gradient check: correct" in passes(g.check_linear_backward, ref_linear_backward)
    out = passes(g.check_softmax_backward, ref_softmax_backward)
    assert "central differences" in out and "no Jacobian built" in out


# -- delegation ------------------------------------------------------------------------------

def _linear_module(x, W, b):
    from labutils import nn
    m = nn.Linear(W.shape[1], W.shape[0])
    m.params["weight"], m.params["bias"] = W, b
    return m(x)


def _torch_softmax_backward(dy, y):
    import torch
    x = torch.log(torch.tensor(y)).requires_grad_()
    torch.softmax(x, -1).backward(torch.tensor(dy))
    return x.grad.numpy()


@pytest.mark.parametrize("check,answer,name", [
    (g.check_linear_forward, _linear_module, "Linear"),
    (g.check_relu_backward, lambda dy, x: dy * __import__("torch").from_numpy(x).gt(0).numpy(),
     "from_numpy (torch"),
    (g.check_softmax_backward, _torch_softmax_backward, "tensor (torch"),
    (g.check_cross_entropy, lambda lg, t: CrossEntropyLoss()(lg, t), "CrossEntropyLoss"),
    (g.check_cross_entropy, lambda lg, t: np.mean(__import__("scipy.special", fromlist=["x"]).logsumexp(lg, axis=1)
                                                  - lg[np.arange(len(t)), t]), "logsumexp (scipy.special"),
    (g.check_numerical_gradient, g.reference_numerical_gradient, "numerical_gradient (labutils.gradcheck"),
])
def test_calling_a_reference_fails(check, answer, name):
    fails(check, answer, f"called {name}", "your own code")


# -- wrong formulas, each with its diagnosis ----------------------------------------------------

@pytest.mark.parametrize("fn,phrases", [
    (lambda x, W, b: x @ W + b, ["raised ValueError", "multiplied by its transpose"]),
    (lambda x, W, b: x @ W.T, ["bias is missing"]),
    (lambda x, W, b: x @ W.T + b.sum(), ["not per sample"]),
    (lambda x, W, b: (x @ W.T + b)[None], ["expected shape (4, 2), got shape (1, 4, 2)"]),
    (lambda x, W, b: (x @ W.T + b).T, ["expected shape (4, 2), got shape (2, 4)", "transposed?"]),
])
def test_linear_forward_mistakes(fn, phrases):
    fails(g.check_linear_forward, fn, *phrases)


@pytest.mark.parametrize("fn,phrases", [
    (lambda dy, x, W: (dy @ W, x.T @ dy, dy.sum(0)), ["dW: expected shape", "not the other way round"]),
    (lambda dy, x, W: (dy @ W.T, dy.T @ x, dy.sum(0)), ["through the weight itself"]),
    (lambda dy, x, W: (dy @ W, dy.T @ x, dy), ["db", "summed over the batch"]),
    (lambda dy, x, W: (dy @ W, dy.T @ x, dy.mean(0)), ["db is a sum over the batch, not a mean"]),
    (lambda dy, x, W: (dy @ W, dy.T @ x / len(x), dy.sum(0)), ["dw is a sum over the batch, not a mean", "gradient check against central differences: wrong"]),
    (lambda dy, x, W: (dy @ W, dy.T @ x), ["expected 3 results"]),
    (lambda dy, x, W: (dy @ W, dy.T @ x, None), ["db is None"]),
])
def test_linear_backward_mistakes(fn, phrases):
    fails(g.check_linear_backward, fn, *phrases)


@pytest.mark.parametrize("fn,phrase", [
    (lambda dy, x: (x > 0).astype(float), "multiply the local derivative"),
    (lambda dy, x: dy * (x >= 0), "strict (greater than, not greater or equal)"),
    (lambda dy, x: dy * np.maximum(x, 0), "not x itself"),
    (lambda dy, x: dy * (dy > 0), "where the input x is positive"),
])
def test_relu_backward_mistakes(fn, phrase):
    fails(g.check_relu_backward, fn, phrase)


def _jacobian_softmax_backward(dy, y):
    jac = y[..., :, None] * (np.eye(y.shape[-1]) - y[..., None, :])
    return np.einsum("...ij,...i->...j", jac, dy)


@pytest.mark.parametrize("fn,phrases", [
    (lambda dy, y: dy * y * (1 - y), ["only the diagonal", "gradient check against central differences: wrong"]),
    (lambda dy, y: y * (dy - (dy * y).sum(axis=0, keepdims=True)), ["not over the batch"]),
    (lambda dy, y: y * (dy - dy.sum(axis=-1, keepdims=True)), ["of dy weighted by y"]),
    (lambda dy, y: dy - (dy * y).sum(axis=-1, keepdims=True), ["multiplied by y at the end"]),
    (lambda dy, y: y * (dy - (dy * y).sum(axis=-1)), ["keep their axis"]),
    (_jacobian_softmax_backward, ["peak memory grows like n^", "jacobian per row"]),
])
def test_softmax_backward_mistakes(fn, phrases):
    fails(g.check_softmax_backward, fn, *phrases)


def _naive_cross_entropy(logits, t):
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return -np.mean(np.log(p[np.arange(len(t)), t]))


def _log_of_softmax(logits, t):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return -np.mean(np.log((e / e.sum(axis=1, keepdims=True))[np.arange(len(t)), t]))


@pytest.mark.parametrize("fn,phrases", [
    (_naive_cross_entropy, ["huge logits", "subtract each row's maximum"]),
    (_log_of_softmax, ["contains inf", "never the log of a probability"]),
    (lambda lg, t: ref_cross_entropy(lg, t) * len(t), ["mean over the batch, not sum"]),
    (lambda lg, t: -ref_cross_entropy(lg, t), ["sign is flipped"]),
    (lambda lg, t: np.mean(lg.max() + np.log(np.exp(lg - lg.max()).sum(1)) - lg[np.arange(len(t)), t]),
     ["each row's own maximum"]),
    (lambda lg, t: ref_cross_entropy(lg.astype(np.float32), t), ["float32, not float64"]),
])
def test_cross_entropy_mistakes(fn, phrases):
    out = fails(g.check_cross_entropy, fn, *phrases)
    assert "RuntimeWarning" in out or fn not in (_naive_cross_entropy, _log_of_softmax)


@pytest.mark.parametrize("form", [
    lambda v: float(v), lambda v: v.item(), lambda v: np.float64(v), lambda v: np.asarray(v),
])
def test_every_numeric_form_of_the_loss_passes(form):
    """Issue 10, item 5: a right cross_entropy returning float(...) or .item() crashed the check."""
    out = passes(g.check_cross_entropy, lambda lg, t: form(ref_cross_entropy(lg, t)))
    assert "[FAIL]" not in out
    if type(form(np.float64(1.0))) is float:
        assert "a Python float, read as a number" in out      # what was converted is said


def test_row_maxima_kept_as_a_column_still_give_the_right_mean():
    """(N, 1) + (N,) broadcasts to N x N, but the mean of that table is the right loss: not a
    mistake, so the check must accept it."""
    passes(g.check_cross_entropy, lambda lg, t: np.mean(
        lg.max(1, keepdims=True) + np.log(np.exp(lg - lg.max(1, keepdims=True)).sum(1))
        - lg[np.arange(len(t)), t]))


def test_a_list_where_an_array_is_natural_passes():
    out = passes(g.check_linear_forward, lambda x, W, b: (x @ W.T + b).tolist())
    assert "a list, read as an array" in out


def _forward_difference(f, x, h=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f(x)
        x[i] = old
        grad[i] = (fp - f(x)) / h
    return grad


def _forgets_to_restore(f, x, h=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        x[i] += h
        fp = f(x)
        x[i] -= 2 * h
        grad[i] = (fp - f(x)) / (2 * h)
    return grad


@pytest.mark.parametrize("fn,phrase", [
    (_forward_difference, "forward difference"),
    (lambda f, x, h=1e-6: ref_numerical_gradient(f, x, 1e-6), "the step h is ignored"),
    (lambda f, x, h=1e-6: 2 * ref_numerical_gradient(f, x, h), "divide by 2h"),
    (_forgets_to_restore, "changed its argument 1 in place"),
    (lambda f, x, h=1e-6: ref_numerical_gradient(f, x, h).astype(np.float32), "float32"),
])
def test_numerical_gradient_mistakes(fn, phrase):
    fails(g.check_numerical_gradient, fn, phrase)


# -- the engine seen through a chapter's checks ----------------------------------------------------

def test_unfilled_exercise_is_named():
    def linear_forward(x, W, b):
        raise NotImplementedError()
    report = fails(g.check_linear_forward, linear_forward, "linear_forward is not filled in yet")
    assert report.count("[FAIL]") == 4


def test_endless_loop_costs_one_time_limit_and_the_kernel_goes_on():
    def spins(x, W, b):
        while True:
            pass
    report = fails(g.check_linear_forward.__wrapped__ if hasattr(g.check_linear_forward, "__wrapped__")
                   else (lambda fn: g.check_function(fn, ref_linear_forward, g._linear_cases(),
                                                     time_limit_s=0.3)),
                   spins, "did not finish within 0.3 s", "3 more cases not run")
    assert "endless loop" in report
    with time_limit(1.0):   # the alarm was cleared: later code runs normally
        assert sum(range(1000)) == 499500


def test_not_a_function():
    fails(g.check_linear_forward, None, "expected a function")
