"""Autograder checks for chapter 1's sections 5-7 (dropout, initialisation, the highway layer);
the conventions of ``basics`` (``hidden=True``, ``library_*`` pairs for the reveal cells)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import nn
from ..tolerances import GRADER_TIME_LIMIT
from .basics import _rng, _seed, _title
from .core import Problem, call_student, check_function, gradient_check

# -- inverted dropout ------------------------------------------------------------------------

def _dropout_pair(x: np.ndarray, p: float, keep: np.ndarray, training: bool, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mask = keep / (1 - p) if training else np.ones_like(x)
    return x * mask, dy * mask


def check_dropout(dropout_forward: Callable, dropout_backward: Callable,
                  time_limit_s: float = GRADER_TIME_LIMIT, hidden: bool = False) -> None:
    """dropout_forward(x, p, keep, training) -> (y, mask); dropout_backward(dy, mask) -> dx."""
    def dropout_forward_then_backward(x: np.ndarray, p: float, keep: np.ndarray, training: bool, dy: np.ndarray) -> tuple:
        y, mask = dropout_forward(x, p, keep, training)
        return y, dropout_backward(dy, mask)
    r = _rng(_seed(7, hidden))
    cases = []
    for label, shape, p, training in [("training, p = 0.3", (4, 5), 0.3, True),
                                      ("training, p = 0.5, leading dims", (2, 3, 4), 0.5, True),
                                      ("evaluation (training=False), p = 0.3", (3, 4), 0.3, False)]:
        keep = r.random(shape) >= p
        cases.append((label, (r.standard_normal(shape), p, keep, training, r.standard_normal(shape))))
    student = next((fn for fn in (dropout_forward, dropout_backward) if not callable(fn)),
                   dropout_forward_then_backward)     # not a function: the report says so
    check_function(student, _dropout_pair, cases, names=["y", "dx"],
                   time_limit_s=time_limit_s, title=_title("dropout_forward and dropout_backward", hidden),
                   mistakes={
        "the kept entries are scaled by 1/(1-p) (inverted dropout), so that the mean is unchanged":
            lambda x, p, k, tr, dy: (x * k, dy * k) if tr else (x, dy),
        "scale by 1/(1-p), the probability of KEEPING an entry, not 1/p":
            lambda x, p, k, tr, dy: (x * k / p, dy * k / p) if tr else (x, dy),
        "in evaluation mode (training=False) dropout is the identity: the argument training is ignored":
            lambda x, p, k, tr, dy: _dropout_pair(x, p, k, True, dy),
        "backward multiplies by the same scaled mask as forward (y = x * mask, so dx = dy * mask)":
            lambda x, p, k, tr, dy: (_dropout_pair(x, p, k, tr, dy)[0], dy * k if tr else dy),
        "backward goes through the same mask as forward: the entries dropped get no gradient":
            lambda x, p, k, tr, dy: (_dropout_pair(x, p, k, tr, dy)[0], dy),
    })


def library_dropout(x: np.ndarray, p: float, keep: np.ndarray, training: bool, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The library's pair (nn.dropout_forward, nn.dropout_backward) with the exercise's
    arguments: (y, dx)."""
    y, cache = nn.dropout_forward(x, p, keep if training else None)
    return y, nn.dropout_backward(dy, cache)


# -- the initialisation's scale (a derivation) ------------------------------------------------

def _init_std(fan_in: int, negative_slope: float = 0.0) -> float:
    return float(np.sqrt(2.0 / ((1 + negative_slope ** 2) * fan_in)))


def measured_scale(std: float, negative_slope: float = 0.0, n: int = 256, depth: int = 20,
                   batch: int = 256, seed: int = 0) -> float:
    """E[z²] of the last pre-activation over that of the first, through ``depth`` layers of
    width ``n`` with weights of standard deviation ``std`` and leaky-ReLU slope
    ``negative_slope`` (1 for the stable scale)."""
    r = _rng(seed)
    x, first = r.standard_normal((batch, n)), None
    for _ in range(depth):
        z = x @ (std * r.standard_normal((n, n))).T
        first = np.mean(z ** 2) if first is None else first
        x = np.where(z > 0, z, negative_slope * z)
    return float(np.mean(z ** 2) / first)


def check_init_std(init_std: Callable, time_limit_s: float = GRADER_TIME_LIMIT, hidden: bool = False) -> None:
    """init_std(fan_in, negative_slope=0.0): the weights' standard deviation that keeps the
    second moment of the pre-activations constant through a stack of leaky-ReLU layers."""
    r = _rng(_seed(8, hidden))
    cases = [(f"fan_in = {n}, negative_slope = {a}", (n,), {"negative_slope": a})
             for n, a in [(int(r.integers(50, 500)), 0.0), (int(r.integers(10, 100)), 0.2),
                          (int(r.integers(10, 100)), 1.0)]]
    cases.insert(0, ("fan_in = 256 (ReLU, the default slope 0)", (256,)))
    variance = 0.5 - 1 / (2 * np.pi)
    report = check_function(init_std, _init_std, cases, finish=False, time_limit_s=time_limit_s,
                            title=_title("init_std", hidden), mistakes={
        "this is the variance s²; the function returns the standard deviation s":
            lambda n, negative_slope=0.0: _init_std(n, negative_slope) ** 2,
        "the activation's slope for negative inputs changes E[x²]: negative_slope is ignored":
            lambda n, negative_slope=0.0: _init_std(n),
        "a ReLU keeps only half of E[z²] (the positive half): the recursion has a factor 1/2 "
        "(with slope a: (1 + a²)/2)": lambda n, negative_slope=0.0: float(np.sqrt(1 / n)),
        "the recursion needs the second moment E[x²] of the layer's input, not its variance":
            lambda n, negative_slope=0.0: float(np.sqrt(1 / (variance * n))),
    })
    label = "measured: E[z²] through 20 ReLU layers of width 256 stays within a factor 2"
    try:
        s = float(call_student(init_std, (256,), {}, time_limit_s))
        ratio = measured_scale(s)
        (report.ok if 0.5 < ratio < 2 else report.fail)(label, f"ratio {ratio:.2g}")
    except (Problem, TypeError, ValueError) as p:
        report.fail(label, f"could not measure ({p})")
    report.finish()


# -- the highway layer's backward (a derivation) ------------------------------------------------

def _highway_forward(x: np.ndarray, W_H: np.ndarray, b_H: np.ndarray, W_T: np.ndarray, b_T: np.ndarray) -> tuple:
    a_h, a_t = x @ W_H.T + b_H, x @ W_T.T + b_T
    h, t = np.maximum(a_h, 0), 1 / (1 + np.exp(-a_t))
    return t * h + (1 - t) * x, (a_h, h, t)


def _highway_backward(dy: np.ndarray, x: np.ndarray, W_H: np.ndarray, b_H: np.ndarray, W_T: np.ndarray, b_T: np.ndarray) -> tuple:
    _, (a_h, h, t) = _highway_forward(x, W_H, b_H, W_T, b_T)
    d_ah = dy * t * (a_h > 0)
    d_at = dy * (h - x) * t * (1 - t)
    return (dy * (1 - t) + d_ah @ W_H + d_at @ W_T, d_ah.T @ x, d_ah.sum(0), d_at.T @ x, d_at.sum(0))


def _highway_mistake(route: str) -> Callable:
    def wrong(dy: np.ndarray, x: np.ndarray, W_H: np.ndarray, b_H: np.ndarray, W_T: np.ndarray, b_T: np.ndarray) -> tuple:
        _, (a_h, h, t) = _highway_forward(x, W_H, b_H, W_T, b_T)
        d_ah = dy * t * (a_h > 0) if route != "relu" else dy * t
        d_at = {"gate": dy * h, "sign": dy * (x - h), "sigmoid": dy * (h - x)}.get(
            route, dy * (h - x)) * (1 if route == "sigmoid" else t * (1 - t))
        carry = 0 if route == "carry" else dy * (1 - t)
        return (carry + d_ah @ W_H + d_at @ W_T, d_ah.T @ x, d_ah.sum(0), d_at.T @ x, d_at.sum(0))
    return wrong


HIGHWAY_NAMES = ["dx", "dW_H", "db_H", "dW_T", "db_T"]


def check_highway_backward(highway_backward: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                           hidden: bool = False) -> None:
    """highway_backward(dy, x, W_H, b_H, W_T, b_T) -> (dx, dW_H, db_H, dW_T, db_T)."""
    r = _rng(_seed(9, hidden))
    cases = []
    for label, (n, d) in [("batch of 5, width 4", (5, 4)), ("batch of 1, width 3", (1, 3)),
                          ("batch of 3, width 6", (3, 6))]:
        cases.append((label, (r.standard_normal((n, d)), r.standard_normal((n, d)),
                              r.standard_normal((d, d)), r.standard_normal(d),
                              r.standard_normal((d, d)), r.standard_normal(d))))
    report = check_function(highway_backward, _highway_backward, cases, names=HIGHWAY_NAMES,
                            finish=False, time_limit_s=time_limit_s,
                            title=_title("highway_backward", hidden), mistakes={
        "the carry route (1 - t) * x also reaches x: dx has a third term, dy times (1 - t)":
            _highway_mistake("carry"),
        "the gate t multiplies h AND, through 1 - t, x: its upstream gradient is dy times (h - x)":
            _highway_mistake("gate"),
        "the gate's gradient has the sign of h - x (y grows with t where h > x), not x - h":
            _highway_mistake("sign"),
        "the gate is a sigmoid: multiply by its derivative t (1 - t)": _highway_mistake("sigmoid"),
        "h is a ReLU: the gradient passes only where its input W_H x + b_H is positive":
            _highway_mistake("relu"),
    })
    dy, x, W_H, b_H, W_T, b_T = cases[0][1]
    gradient_check(report, highway_backward, cases[0][1],
                   lambda: np.sum(dy * _highway_forward(x, W_H, b_H, W_T, b_T)[0]),
                   (x, W_H, b_H, W_T, b_T), HIGHWAY_NAMES, time_limit_s=time_limit_s)
    report.finish()


def library_highway_backward(dy: np.ndarray, x: np.ndarray, W_H: np.ndarray, b_H: np.ndarray, W_T: np.ndarray, b_T: np.ndarray) -> tuple:
    """nn.Highway's forward and backward with these weights: (dx, dW_H, db_H, dW_T, db_T)."""
    layer = nn.Highway(x.shape[-1])
    layer.load_state_dict({"transform.weight": W_H, "transform.bias": b_H,
                           "gate.weight": W_T, "gate.bias": b_T})
    layer.zero_grad()
    layer(x)
    dx = layer.backward(dy)
    return (dx, layer.transform.grads["weight"], layer.transform.grads["bias"],
            layer.gate.grads["weight"], layer.gate.grads["bias"])


def library_init_std(fan_in: int, negative_slope: float = 0.0) -> float:
    """The standard deviation of labutils.init.kaiming_normal (torch's): gain / sqrt(fan_in)."""
    from .. import init
    return init.calculate_gain("leaky_relu", negative_slope) / np.sqrt(fan_in)


# -- the capstone: a two-layer network from the student's own functions ----------------------

CAPSTONE_ACCURACY = 0.9


def check_capstone(result: dict | None) -> None:
    """The capstone cell's ``result`` dict (None when it did not run): the student's functions
    were used, their gradients agree with their own numerical_gradient, and the training
    accuracy reached CAPSTONE_ACCURACY."""
    from ..tolerances import verdict
    from .report import Report
    report = Report("Checking the capstone (a two-layer network from your functions)")
    if not result:
        report.fail("capstone", "did not run: finish the exercises its cell names, then run it again")
        report.finish()
    unused = [n for n, k in result["calls"].items() if not k]
    (report.fail if unused else report.ok)(
        "built from your functions", f"not used: {', '.join(unused)}" if unused else "ok")
    v = verdict(result["gradient_check"])
    (report.ok if v == "correct" else report.fail)(
        "your backward against your numerical_gradient", f"gradient check: {v}")
    acc = result["accuracy"]
    (report.ok if acc >= CAPSTONE_ACCURACY else report.fail)(
        f"training accuracy at least {CAPSTONE_ACCURACY:.2f}", f"{acc:.2f}")
    report.finish()
