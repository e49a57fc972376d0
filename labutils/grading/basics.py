"""Autograder checks for chapter 1 (basics). Each takes the student's function."""
import numpy as np

from .. import nn
from ..gradcheck import numerical_gradient as _reference_numerical_gradient
from .core import Problem, Report, call_student, check_function, compare, gradient_check


def _rng(seed):
    return np.random.default_rng(seed)


# -- linear forward --------------------------------------------------------------------

def _linear_forward(x, W, b):
    return x @ W.T + b


def _linear_cases():
    r = _rng(0)
    return [
        ("batch of 4, 3 -> 2 features", (r.standard_normal((4, 3)), r.standard_normal((2, 3)), r.standard_normal(2))),
        ("batch of 1", (r.standard_normal((1, 5)), r.standard_normal((5, 5)), r.standard_normal(5))),
        ("square weight (4 -> 4)", (r.standard_normal((6, 4)), r.standard_normal((4, 4)), r.standard_normal(4))),
        ("leading dimensions (2, 3, 4)", (r.standard_normal((2, 3, 4)), r.standard_normal((5, 4)), r.standard_normal(5))),
    ]


def check_linear_forward(linear_forward):
    check_function(linear_forward, _linear_forward, _linear_cases(), mistakes={
        "the weight is (out, in): use x @ W.T, not x @ W": lambda x, W, b: x @ W + b,
        "the bias is missing": lambda x, W, b: x @ W.T,
    })


# -- linear backward (gradient check) ---------------------------------------------------

def _linear_backward(dy, x, W):
    x2, dy2 = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])
    return dy @ W, dy2.T @ x2, dy2.sum(axis=0)


def check_linear_backward(linear_backward):
    r = _rng(1)
    cases = []
    for label, (n, i, o) in [("batch of 5, 3 -> 4", (5, 3, 4)), ("batch of 1", (1, 3, 2)),
                             ("square weight", (3, 4, 4))]:
        x, W, dy = r.standard_normal((n, i)), r.standard_normal((o, i)), r.standard_normal((n, o))
        cases.append((label, (dy, x, W)))
    report = check_function(linear_backward, _linear_backward, cases, names=["dx", "dW", "db"],
                            finish=False, mistakes={
        "dW = dyᵀ x has the weight's shape (out, in); x.T @ dy is its transpose":
            lambda dy, x, W: (dy @ W, x.T @ dy, dy.sum(0)),
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
                   (x, W, b), ["dx", "dW", "db"])    # L = <dy, y>, so dL/dy = dy
    report.finish()


# -- ReLU backward ------------------------------------------------------------------------

def _relu_backward(dy, x):
    return dy * (x > 0)


def check_relu_backward(relu_backward):
    r = _rng(2)
    x = r.standard_normal((4, 5))
    x[0, :3] = 0.0  # the kink: torch (and the course) take derivative 0 at x = 0
    cases = [("random input with exact zeros", (r.standard_normal((4, 5)), x)),
             ("a single number", (np.array([2.0]), np.array([-1.0])))]
    check_function(relu_backward, _relu_backward, cases, mistakes={
        "multiply the local derivative by the upstream gradient dy": lambda dy, x: (x > 0).astype(float),
        "at x = 0 the convention (torch's) is derivative 0: use x > 0, not x >= 0":
            lambda dy, x: dy * (x >= 0),
        "the derivative of ReLU is 0 or 1, not x itself": lambda dy, x: dy * np.maximum(x, 0),
    })


# -- softmax backward (gradient check) ---------------------------------------------------

def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_backward(dy, y):
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


def check_softmax_backward(softmax_backward):
    r = _rng(3)
    cases = [(label, (r.standard_normal(s), _softmax(r.standard_normal(s))))
             for label, s in [("batch of 3, 5 classes", (3, 5)), ("one row", (1, 4)),
                              ("leading dims (2, 3, 4)", (2, 3, 4))]]
    report = check_function(softmax_backward, _softmax_backward, cases, finish=False, mistakes={
        "softmax couples the outputs: y_i (1 - y_i) is only the diagonal of the Jacobian; "
        "use dx = y * (dy - sum(dy * y, axis=-1, keepdims=True))":
            lambda dy, y: dy * y * (1 - y),
        "sum over the class axis (-1) with keepdims=True, not over the batch":
            lambda dy, y: y * (dy - (dy * y).sum(axis=0, keepdims=True)),
        "the sum is of dy * y, not of dy": lambda dy, y: y * (dy - dy.sum(axis=-1, keepdims=True)),
    })
    x, dy = r.standard_normal((2, 4)), r.standard_normal((2, 4))
    gradient_check(report, softmax_backward, (dy, _softmax(x)), lambda: np.sum(dy * _softmax(x)),
                   (x,), ["dx"])
    report.finish()


# -- cross-entropy from logits ---------------------------------------------------------------

def _cross_entropy(logits, targets):
    return nn.CrossEntropyLoss()(logits, targets)


def check_cross_entropy(cross_entropy):
    r = _rng(4)
    cases = [
        ("batch of 4, 3 classes", (r.standard_normal((4, 3)), r.integers(0, 3, 4))),
        ("batch of 1", (r.standard_normal((1, 6)), np.array([5]))),
        ("huge logits (1e4): must stay finite and exact", (1e4 * r.standard_normal((3, 5)), r.integers(0, 5, 3))),
    ]

    def naive(logits, targets):
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return -np.mean(np.log(p[np.arange(len(targets)), targets]))
    check_function(cross_entropy, _cross_entropy, cases, mistakes={
        "mean over the batch, not sum": lambda lg, t: nn.CrossEntropyLoss("sum")(lg, t),
        "exp overflows for large logits: subtract the row maximum first (log-sum-exp)": naive,
    })


# -- numerical gradient ----------------------------------------------------------------------

def check_numerical_gradient(numerical_gradient):
    """The student's central differences must agree with the exact gradient of known
    functions to 1e-7 (forward differences, with error O(h), do not)."""
    r = _rng(5)
    a = r.standard_normal(4)
    funcs = [
        ("f(x) = sum(sin(x) * x^2)", lambda x: np.sum(np.sin(x) * x ** 2),
         lambda x: np.cos(x) * x ** 2 + 2 * x * np.sin(x), r.standard_normal(5)),
        ("f(x) = log(sum(exp(a * x))) on a 2x2 array", lambda x: np.log(np.sum(np.exp(a.reshape(2, 2) * x))),
         lambda x: a.reshape(2, 2) * np.exp(a.reshape(2, 2) * x) / np.sum(np.exp(a.reshape(2, 2) * x)),
         r.standard_normal((2, 2))),
        ("f(x) = x^3 at a single point", lambda x: float(x[0] ** 3), lambda x: 3 * x ** 2, np.array([1.5])),
    ]
    report = Report("Checking numerical_gradient")
    for label, f, grad, x in funcs:
        got = None
        try:
            got = call_student(numerical_gradient, (f, x))
            compare(got, grad(x), rtol=1e-7)
            report.ok(label)
        except Problem as p:
            hint = None
            try:
                compare(got, _forward_difference(f, x.copy()), rtol=1e-9)
                hint = ("this is a forward difference (f(x+h) - f(x)) / h, error O(h); the "
                        "central difference (f(x+h) - f(x-h)) / 2h has error O(h^2)")
            except Problem:
                pass
            report.fail(label, str(p), hint)
    report.finish()


def _forward_difference(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f(x)
        x[i] = old
        g[i] = (fp - f(x)) / h
    return g


def reference_numerical_gradient(f, x, h=1e-6):
    """The reference answer: central differences of f(x) (f takes the array)."""
    return _reference_numerical_gradient(lambda: f(x), x, h)
