"""Autograder checks for chapter 1 (basics). Each takes the student's function, and
``hidden=True`` (the hidden-test cell: the same cases with values from the class seed).
``library_*`` functions are the library's pairs called with an exercise's signature (the
reveal cells compare the student's answer with them)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import nn
from ..gradcheck import numerical_gradient as _reference_numerical_gradient
from ..tolerances import GRADER_TIME_LIMIT
from .core import check_function, gradient_check, memory_growth, no_python_loop
from .hidden import seed as hidden_seed


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _seed(base: int, hidden: bool) -> int:
    return hidden_seed(1000 + base) if hidden else base


def _title(name: str, hidden: bool) -> str:
    return f"Hidden tests of {name}" if hidden else f"Checking {name}"


# -- linear forward --------------------------------------------------------------------

def _linear_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    return x @ W.T + b


def _linear_cases(seed: int = 0) -> list:
    r = _rng(seed)
    return [
        ("batch of 4, 3 -> 2 features", (r.standard_normal((4, 3)), r.standard_normal((2, 3)), r.standard_normal(2))),
        ("batch of 1", (r.standard_normal((1, 5)), r.standard_normal((5, 5)), r.standard_normal(5))),
        ("square weight (4 -> 4)", (r.standard_normal((6, 4)), r.standard_normal((4, 4)), r.standard_normal(4))),
        ("leading dimensions (2, 3, 4)", (r.standard_normal((2, 3, 4)), r.standard_normal((5, 4)), r.standard_normal(5))),
    ]


def check_linear_forward(linear_forward: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                         hidden: bool = False) -> None:
    check_function(linear_forward, _linear_forward, _linear_cases(_seed(0, hidden)),
                   time_limit_s=time_limit_s, title=_title("linear_forward", hidden), mistakes={
        "the weight is stored as (out, in): x must be multiplied by its transpose":
            lambda x, W, b: x @ W + b,
        "the bias is missing": lambda x, W, b: x @ W.T,
        "the bias is added to every feature of a sample, not per sample":
            lambda x, W, b: x @ W.T + b.sum(),
    })


# -- linear backward (gradient check) ---------------------------------------------------

def _linear_backward(dy: np.ndarray, x: np.ndarray, W: np.ndarray) -> tuple:
    x2, dy2 = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])
    return dy @ W, dy2.T @ x2, dy2.sum(axis=0)


def check_linear_backward(linear_backward: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                          hidden: bool = False) -> None:
    """hidden=True: the hidden tests (other shapes and seeds), with the same watch and limits."""
    r = _rng(hidden_seed(1234) if hidden else 1)
    cases = []
    for label, (n, i, o) in ([("hidden case: batch of 7, 2 -> 3", (7, 2, 3)),
                              ("hidden case: batch of 2, 6 -> 1", (2, 6, 1))] if hidden else
                             [("batch of 5, 3 -> 4", (5, 3, 4)), ("batch of 1", (1, 3, 2)),
                              ("square weight", (3, 4, 4))]):
        x, W, dy = r.standard_normal((n, i)), r.standard_normal((o, i)), r.standard_normal((n, o))
        cases.append((label, (dy, x, W)))
    if hidden:
        check_function(linear_backward, _linear_backward, cases, names=["dx", "dW", "db"],
                       time_limit_s=time_limit_s, title="Hidden tests of linear_backward")
        return
    report = check_function(linear_backward, _linear_backward, cases, names=["dx", "dW", "db"],
                            finish=False, time_limit_s=time_limit_s, mistakes={
        "dW has the weight's shape (out, in): it is the upstream gradient transposed times x, "
        "not the other way round": lambda dy, x, W: (dy @ W, x.T @ dy, dy.sum(0)),
        "dx goes back through the weight itself (out, in), not its transpose":
            lambda dy, x, W: (dy @ W.T, dy.T @ x, dy.sum(0)),
        "db must be summed over the batch (every example adds its gradient)":
            lambda dy, x, W: (dy @ W, dy.T @ x, dy),
        "db is a sum over the batch, not a mean":
            lambda dy, x, W: (dy @ W, dy.T @ x, dy.mean(0)),
        "dW is a sum over the batch, not a mean":
            lambda dy, x, W: (dy @ W, dy.T @ x / len(x), dy.sum(0)),
    })
    # The gradient check proper: the student's gradients against central differences.
    dy, x, W = cases[0][1]
    b = np.zeros(W.shape[0])
    gradient_check(report, linear_backward, (dy, x, W), lambda: np.sum(dy * (x @ W.T + b)),
                   (x, W, b), ["dx", "dW", "db"], time_limit_s=time_limit_s)    # L = <dy, y>, so dL/dy = dy
    report.finish()


# -- ReLU backward ------------------------------------------------------------------------

def _relu_backward(dy: np.ndarray, x: np.ndarray) -> np.ndarray:
    return dy * (x > 0)


def check_relu_backward(relu_backward: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                        hidden: bool = False) -> None:
    r = _rng(_seed(2, hidden))
    x = r.standard_normal((4, 5))
    x[0, :3] = 0.0  # the kink: torch (and the course) take derivative 0 at x = 0
    cases = [("random input with exact zeros", (r.standard_normal((4, 5)), x)),
             ("a single number", (np.array([2.0]), np.array([-1.0]))),
             ("only exact zeros", (r.standard_normal((2, 3)), np.zeros((2, 3))))]
    check_function(relu_backward, _relu_backward, cases, time_limit_s=time_limit_s,
                   title=_title("relu_backward", hidden), mistakes={
        "multiply the local derivative by the upstream gradient dy": lambda dy, x: (x > 0).astype(float),
        "at x = 0 the convention (torch's) is derivative 0: the comparison with 0 must be "
        "strict (greater than, not greater or equal)": lambda dy, x: dy * (x >= 0),
        "the derivative of ReLU is 0 or 1, not x itself": lambda dy, x: dy * np.maximum(x, 0),
        "the gradient flows where the INPUT x is positive, not where dy is":
            lambda dy, x: dy * (dy > 0),
    })


# -- softmax backward (gradient check) ---------------------------------------------------

def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


def check_softmax_backward(softmax_backward: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                           hidden: bool = False) -> None:
    r = _rng(_seed(3, hidden))
    cases = [(label, (r.standard_normal(s), _softmax(r.standard_normal(s))))
             for label, s in [("batch of 3, 5 classes", (3, 5)), ("one row", (1, 4)),
                              ("leading dims (2, 3, 4)", (2, 3, 4)),
                              ("as many rows as classes (4, 4)", (4, 4))]]
    report = check_function(softmax_backward, _softmax_backward, cases, finish=False,
                            time_limit_s=time_limit_s, title=_title("softmax_backward", hidden),
                            mistakes={
        "softmax couples its outputs: y (1 - y) is only the diagonal of the Jacobian; every "
        "output also depends on the other inputs, which subtracts a weighted sum of dy per row":
            lambda dy, y: dy * y * (1 - y),
        "the weighted sum is over the class axis (the last one), one per row, not over the batch":
            lambda dy, y: y * (dy - (dy * y).sum(axis=0, keepdims=True)),
        "the sum subtracted is of dy weighted by y, not of dy alone":
            lambda dy, y: y * (dy - dy.sum(axis=-1, keepdims=True)),
        "the row sums must keep their axis (one column per row) to broadcast against each "
        "row; without it they line up with the classes instead":
            lambda dy, y: y * (dy - (dy * y).sum(axis=-1)),
        "the result is multiplied by y at the end: the Jacobian is diag(y) - y yᵀ":
            lambda dy, y: dy - (dy * y).sum(axis=-1, keepdims=True),
    })
    x, dy = r.standard_normal((2, 4)), r.standard_normal((2, 4))
    gradient_check(report, softmax_backward, (dy, _softmax(x)), lambda: np.sum(dy * _softmax(x)),
                   (x,), ["dx"], time_limit_s=time_limit_s)

    def rows(n: int) -> tuple:   # 4 rows of n classes: linear memory is O(n), a Jacobian per row O(n^2)
        rr = _rng(30)
        return rr.standard_normal((4, n)), _softmax(rr.standard_normal((4, n)))
    memory_growth(report, softmax_backward, rows, sizes=(64, 512), max_power=1,
                  what="an n × n Jacobian per row", label="no Jacobian built (memory linear in n)")
    report.finish()


# -- cross-entropy from logits ---------------------------------------------------------------

def _cross_entropy(logits: np.ndarray, targets: np.ndarray) -> float:
    return nn.CrossEntropyLoss()(logits, targets)


def check_cross_entropy(cross_entropy: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                        hidden: bool = False) -> None:
    r = _rng(_seed(4, hidden))
    cases = [
        ("batch of 4, 3 classes", (r.standard_normal((4, 3)), r.integers(0, 3, 4))),
        ("batch of 1", (r.standard_normal((1, 6)), np.array([5]))),
        ("huge logits (1e4): must stay finite and exact", (1e4 * r.standard_normal((3, 5)), r.integers(0, 5, 3))),
        ("huge negative logits (-1e4 ± 3)", (-1e4 + 3 * r.standard_normal((3, 4)), r.integers(0, 4, 3))),
    ]

    def naive(logits: np.ndarray, targets: np.ndarray) -> float:
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return -np.mean(np.log(p[np.arange(len(targets)), targets]))

    def log_of_stable_softmax(logits: np.ndarray, targets: np.ndarray) -> float:
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        return -np.mean(np.log(p[np.arange(len(targets)), targets]))
    def global_max(logits: np.ndarray, targets: np.ndarray) -> float:
        m = logits.max()
        lse = m + np.log(np.exp(logits - m).sum(axis=1))
        return np.mean(lse - logits[np.arange(len(targets)), targets])
    check_function(cross_entropy, _cross_entropy, cases, time_limit_s=time_limit_s,
                   title=_title("cross_entropy", hidden), mistakes={
        "mean over the batch, not sum": lambda lg, t: len(t) * _cross_entropy(lg, t),
        "exp overflows for large logits: subtract each row's maximum before exponentiating "
        "(the log-sum-exp trick)": naive,
        "the probability of the target underflows to 0 for large logits, and its log is -inf: "
        "compute log-sum-exp minus the target's logit, never the log of a probability":
            log_of_stable_softmax,
        "subtract each row's OWN maximum: with the maximum of the whole batch, the rows far "
        "below it underflow to exp(...) = 0 and their log is -inf": global_max,
        "the loss is the log-sum-exp MINUS the target's logit (the sign is flipped)":
            lambda lg, t: -_cross_entropy(lg, t),
    })


# -- numerical gradient ----------------------------------------------------------------------

def _central(f: Callable, x: np.ndarray, h: float) -> np.ndarray:
    x, g = x.copy(), np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f(x)
        x[i] = old - h
        g[i] = (fp - f(x)) / (2 * h)
        x[i] = old
    return g


def _forward_difference(f: Callable, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    x, g = x.copy(), np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f(x)
        x[i] = old
        g[i] = (fp - f(x)) / h
    return g


def check_numerical_gradient(numerical_gradient: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                             hidden: bool = False) -> None:
    """The student's central differences must agree with the exact gradient of known
    functions to 1e-7 (forward differences, with error O(h), do not), and use the step h
    they are given (a large h, where central differences differ from the exact gradient)."""
    r = _rng(_seed(5, hidden))
    a = r.standard_normal(4).reshape(2, 2)
    funcs = [
        ("f(x) = sum(sin(x) * x^2)", lambda x: np.sum(np.sin(x) * x ** 2),
         lambda x: np.cos(x) * x ** 2 + 2 * x * np.sin(x), r.standard_normal(5)),
        ("f(x) = log(sum(exp(a * x))) on a 2x2 array", lambda x: np.log(np.sum(np.exp(a * x))),
         lambda x: a * np.exp(a * x) / np.sum(np.exp(a * x)), r.standard_normal((2, 2))),
        ("f(x) = x^3 at a single point", lambda x: float(x[0] ** 3), lambda x: 3 * x ** 2, np.array([1.5])),
    ]
    exact = {id(f): grad for _, f, grad, _ in funcs}
    cases = [(label, (f, x)) for label, f, _, x in funcs]
    cases.append(("the step h you are given: h = 0.01 on f(x) = sum(sin(x) * x^2)",
                  (funcs[0][1], funcs[0][3]), {"h": 1e-2}))

    def reference(f: Callable, x: np.ndarray, h: float | None = None) -> np.ndarray:
        return exact[id(f)](x) if h is None else _central(f, x, h)
    check_function(numerical_gradient, reference, cases, time_limit_s=time_limit_s,
                   title=_title("numerical_gradient", hidden), mistakes={
        "this is a forward difference (f(x + h) - f(x)) / h, with error O(h); the central "
        "difference, from x - h to x + h, has error O(h²)": _forward_difference,
        "the step h is ignored: use the h you are given (the check passes h = 0.01)":
            lambda f, x, h=1e-6: _central(f, x, 1e-6),
        "the central difference spans 2h (from x - h to x + h): divide by 2h, not h":
            lambda f, x, h=1e-6: 2 * _central(f, x, h),
    })


def reference_numerical_gradient(f: Callable, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """The reference answer: central differences of f(x) (f takes the array)."""
    return _reference_numerical_gradient(lambda: f(x), x, h)


# -- cross-entropy backward (a derivation) ---------------------------------------------------

def _cross_entropy_backward(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    p = _softmax(logits)
    p[np.arange(len(targets)), targets] -= 1
    return p / len(targets)


def check_cross_entropy_backward(cross_entropy_backward: Callable,
                                 time_limit_s: float = GRADER_TIME_LIMIT, hidden: bool = False) -> None:
    """The gradient of the mean cross-entropy with respect to the logits."""
    r = _rng(_seed(6, hidden))
    cases = [("batch of 4, 3 classes", (r.standard_normal((4, 3)), r.integers(0, 3, 4))),
             ("batch of 1", (r.standard_normal((1, 5)), np.array([2]))),
             ("huge logits (1e4): must stay finite", (1e4 * r.standard_normal((3, 4)), r.integers(0, 4, 3)))]

    def one_hot(lg: np.ndarray, t: np.ndarray) -> np.ndarray:
        return np.eye(lg.shape[1])[t]

    def naive_softmax(lg: np.ndarray) -> np.ndarray:
        return np.exp(lg) / np.exp(lg).sum(axis=1, keepdims=True)
    report = check_function(cross_entropy_backward, _cross_entropy_backward, cases, finish=False,
                            time_limit_s=time_limit_s,
                            title=_title("cross_entropy_backward", hidden), mistakes={
        "the loss is a mean over the batch: its gradient is divided by the batch size N":
            lambda lg, t: len(t) * _cross_entropy_backward(lg, t),
        "the sign is flipped: the gradient is the predicted probabilities MINUS the target's one-hot":
            lambda lg, t: -_cross_entropy_backward(lg, t),
        "the target's logit also appears in the loss with a minus sign: subtract 1 at the target":
            lambda lg, t: _softmax(lg) / len(t),
        "exp overflows for large logits: subtract each row's maximum before exponentiating":
            lambda lg, t: (naive_softmax(lg) - one_hot(lg, t)) / len(t),
    })
    logits, t = r.standard_normal((3, 4)), r.integers(0, 4, 3)
    gradient_check(report, cross_entropy_backward, (logits, t), lambda: _cross_entropy(logits, t),
                   (logits,), ["dlogits"], time_limit_s=time_limit_s)
    no_python_loop(report, cross_entropy_backward,
                   lambda n: (_rng(60).standard_normal((n, 3)), np.zeros(n, dtype=int)),
                   sizes=(8, 64), per="row")
    report.finish()


def library_cross_entropy_backward(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """nn.cross_entropy_forward then nn.cross_entropy_backward: dlogits."""
    return nn.cross_entropy_backward(1.0, nn.cross_entropy_forward(logits, targets)[1])


# -- the library's pairs with the exercises' signatures (for the reveal cells) ----------------

def library_linear_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    return nn.linear_forward(x, W, b)[0]


def library_linear_backward(dy: np.ndarray, x: np.ndarray, W: np.ndarray) -> tuple:
    """nn.linear_forward then nn.linear_backward: (dx, dW, db)."""
    g = nn.linear_backward(dy, nn.linear_forward(x, W, np.zeros(W.shape[0]))[1])
    return g["x"], g["weight"], g["bias"]


def library_relu_backward(dy: np.ndarray, x: np.ndarray) -> np.ndarray:
    return nn.relu_backward(dy, nn.relu_forward(x)[1])


def library_softmax_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """nn.softmax_backward with the forward's cache rebuilt from y (softmax over the last axis)."""
    return nn.softmax_backward(dy, nn.SoftmaxCache(y, -1))


def library_cross_entropy(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return nn.cross_entropy_forward(logits, targets)[0]
