"""Autograder checks for chapter 2's derived exercises: the backward passes of batch norm,
layer norm (with one γ per feature) and weight norm, and folding batch norm into the layer
before it. Same engine and conventions as ``norm.py`` (which re-exports them)."""
from collections.abc import Callable

import numpy as np

from .. import nn
from ..nn.norm_fold import fold_batch_norm
from ..nn.weight_norm import weight_norm_backward, weight_norm_forward
from ..tolerances import GRADER_TIME_LIMIT
from .complexity import no_python_loop
from .core import check_function, gradient_check
from .hidden import seed as hidden_seed
from .norm import _EPS, _EPS_ARG, _MOMENTS, _hidden, _moments_var, _rng, _x
from .report import Report

_FORBID = ("torch_input_grad",)


def _compact(g: np.ndarray, xh: np.ndarray, inv: np.ndarray, axis: int | tuple[int, ...]):
    """The compact backward over ``axis`` (the grader's own, for its catalogue of mistakes)."""
    return inv * (g - g.mean(axis, keepdims=True) - xh * (g * xh).mean(axis, keepdims=True))


def _norm_back_wrong(kind: str, axis: int | tuple[int, ...], sums: int | str):
    """Typical wrong backward passes of a normalisation over ``axis`` of (x, gamma); the
    parameter gradients are summed over ``sums``."""
    def wrong(dy: np.ndarray, x: np.ndarray, gamma: np.ndarray, eps: float = 1e-5):
        var = _moments_var(x, axis) if kind == "moments" else x.var(axis, keepdims=True)
        inv = 1 / np.sqrt(var + eps)
        xh = (x - x.mean(axis, keepdims=True)) * inv
        g, other = dy * gamma, (-1 if axis == 0 else 0)
        sums_ = tuple(range(x.ndim - 1)) if sums == "lead" else sums
        dgamma, dbeta = (dy * xh).sum(sums_), dy.sum(sums_)
        dx = {"constant stats": lambda: g * inv,
              "no variance term": lambda: inv * (g - g.mean(axis, keepdims=True)),
              "gamma outside": lambda: gamma * _compact(dy, xh, inv, axis),
              "no gamma": lambda: _compact(dy, xh, inv, axis),
              "other axis": lambda: _compact(g, xh, inv, other),
              "other axis, gamma outside": lambda: gamma * _compact(dy, xh, inv, other),
              }.get(kind, lambda: _compact(g, xh, inv, axis))()
        if kind == "means":
            dgamma, dbeta = (dy * xh).mean(sums_), dy.mean(sums_)
        return dx, dgamma, dbeta
    return wrong


def _stats(x: np.ndarray, axis: int | tuple[int, ...], eps: float):
    inv = 1 / np.sqrt(x.var(axis, keepdims=True) + eps)
    return (x - x.mean(axis, keepdims=True)) * inv, inv


def _grad_check(report: Report, student: Callable, case: tuple, gamma_axis: int,
                time_limit_s: float):
    """dx, dgamma, dbeta of L = <dy, γ x̂ + β> against central differences."""
    dy, x, gamma = case
    beta = np.zeros_like(gamma)

    def loss():
        xh, _ = _stats(x, gamma_axis, 1e-5)
        return np.sum(dy * (gamma * xh + beta))
    gradient_check(report, student, (dy, x, gamma), loss, (x, gamma, beta),
                   ["dx", "dgamma", "dbeta"], time_limit_s=time_limit_s, forbid=_FORBID)
    report.finish()


def _common_mistakes(axis: int | tuple[int, ...], sums: int | str, axis_hint: str):
    w = lambda kind: _norm_back_wrong(kind, axis, sums)
    return {
        "dx is not only the upstream gradient times gamma over sigma: the mean and the "
        "variance depend on x too, and each adds a term": w("constant stats"),
        "the variance also depends on x: the term that flows through it (proportional to "
        "x_hat) is missing": w("no variance term"),
        axis_hint: w("other axis"),
        "dgamma and dbeta are sums over the batch, not means": w("means"),
        "gamma is missing from dx: the gradient that reaches x_hat is the upstream gradient "
        "times gamma": w("no gamma"),
        _MOMENTS: w("moments"),
    }


# -- batch norm backward ------------------------------------------------------------------

def _batchnorm_backward(dy: np.ndarray, x: np.ndarray, gamma: np.ndarray, eps: float = 1e-5):
    m = nn.BatchNorm1d(x.shape[1], eps=eps, track_running_stats=False)
    m.params["weight"] = gamma.astype(np.float64)
    m(x)
    dx = m.backward(dy)
    return dx, m.grads["weight"].copy(), m.grads["bias"].copy()


def check_batchnorm_backward(batchnorm_backward: Callable,
                             time_limit_s: float = GRADER_TIME_LIMIT,
                             hidden: bool = False) -> None:
    r = _rng(hidden_seed(123) if hidden else 23)
    cases = [(label, (r.standard_normal((n, c)), _x(r, (n, c)), 1 + 0.5 * r.standard_normal(c)))
             for label, (n, c) in [("batch of 6, 3 features", (6, 3)), ("batch of 2", (2, 3)),
                                   ("batch of 10, 1 feature", (10, 1))]]
    cases.append(("large mean, small spread (1e6 ± 1)",
                  (r.standard_normal((5, 2)), _x(r, (5, 2), 1.0, 1e6), np.ones(2))))
    names = ["dx", "dgamma", "dbeta"]
    if hidden:
        _hidden(batchnorm_backward, _batchnorm_backward, cases, "batchnorm_backward",
                time_limit_s, names=names, forbid=_FORBID)
        return
    mistakes = _common_mistakes(0, 0, "the means in dx are over the batch (axis 0), one per "
                                      "feature")
    mistakes[next(k for k in mistakes if "over the batch (axis 0)" in k)] = [
        _norm_back_wrong("other axis", 0, 0), _norm_back_wrong("other axis, gamma outside", 0, 0)]
    report = check_function(batchnorm_backward, _batchnorm_backward, cases, names=names,
                            finish=False, time_limit_s=time_limit_s, mistakes=mistakes,
                            forbid=_FORBID)
    _grad_check(report, batchnorm_backward, cases[0][1], 0, time_limit_s)


# -- layer norm backward, one gamma per feature ----------------------------------------------

def _layer_norm_backward(dy: np.ndarray, x: np.ndarray, gamma: np.ndarray, eps: float = 1e-5):
    _, cache = nn.layer_norm_forward(x, gamma.astype(np.float64), np.zeros_like(gamma, float),
                                     1, eps)
    grads = nn.layer_norm_backward(dy, cache)
    return grads["x"], grads["weight"], grads["bias"]


def check_layer_norm_backward(layer_norm_backward: Callable,
                              time_limit_s: float = GRADER_TIME_LIMIT,
                              hidden: bool = False) -> None:
    r = _rng(hidden_seed(125) if hidden else 25)
    cases = [(label, (r.standard_normal(s), _x(r, s), 1 + 0.8 * r.standard_normal(s[-1])))
             for label, s in [("4 samples of 5 features", (4, 5)), ("a single sample of 6", (1, 6)),
                              ("(2, 3, 4): a batch of sequences, 4 features per token", (2, 3, 4))]]
    cases.append(("small spread (eps matters)", (r.standard_normal((3, 4)),
                                                 0.01 * r.standard_normal((3, 4)),
                                                 1 + r.standard_normal(4)), {"eps": 1e-3}))
    cases.append(("large mean, small spread (1e6 ± 1)",
                  (r.standard_normal((3, 5)), _x(r, (3, 5), 1.0, 1e6), 1 + r.standard_normal(5))))
    names = ["dx", "dgamma", "dbeta"]
    if hidden:
        _hidden(layer_norm_backward, _layer_norm_backward, cases, "layer_norm_backward",
                time_limit_s, names=names, forbid=_FORBID)
        return
    mistakes = {"gamma differs from feature to feature, inside the set each mean runs over: it "
                "cannot be taken out of the means (multiply dy by gamma first, then remove the "
                "means)": _norm_back_wrong("gamma outside", -1, "lead")}
    mistakes.update(_common_mistakes(-1, "lead", "layer norm's means are over each sample's "
                                     "features (the last axis), not over the batch"))
    mistakes["dgamma and dbeta are summed over every leading axis (all samples and positions), "
             "not only the first"] = _ln_first_axis_sums
    mistakes[_EPS_ARG] = lambda dy, x, gamma, eps=1e-5: _layer_norm_backward(dy, x, gamma)
    report = check_function(layer_norm_backward, _layer_norm_backward, cases, names=names,
                            finish=False, time_limit_s=time_limit_s, mistakes=mistakes,
                            forbid=_FORBID)
    _grad_check(report, layer_norm_backward, cases[0][1], -1, time_limit_s)


def _ln_first_axis_sums(dy: np.ndarray, x: np.ndarray, gamma: np.ndarray, eps: float = 1e-5):
    xh, _ = _stats(x, -1, eps)
    return _layer_norm_backward(dy, x, gamma, eps)[0], (dy * xh).sum(0), dy.sum(0)


# -- weight norm backward ---------------------------------------------------------------------

def _weight_norm_backward(dW: np.ndarray, g: np.ndarray, v: np.ndarray):
    _, cache = weight_norm_forward(np.eye(v.shape[1]), g, v, None)   # x = I: dW = dyᵀ x = dy
    grads = weight_norm_backward(dW.T, cache)
    return grads["g"], grads["v"]


def _wn_wrong(kind: str):
    def wrong(dW: np.ndarray, g: np.ndarray, v: np.ndarray):
        n = np.sqrt((v ** 2).sum()) if kind == "frobenius" else np.linalg.norm(v, axis=1, keepdims=True)
        dg = (dW * v).sum(axis=1, keepdims=True) / n
        if kind == "columns":
            dg = (dW * v).sum(axis=0, keepdims=True) / n
        dv = {"no projection": lambda: g / n * dW, "no scale": lambda: dW - v * dg / n,
              "g outside": lambda: g * (dW - v * dg / n)}.get(kind, lambda: g / n * (dW - v * dg / n))()
        dg = dg * n if kind == "dg unscaled" else dg
        return (dg.ravel() if kind == "flat dg" else dg), dv
    return wrong


def _wn_cases(r: np.random.Generator):
    cases = []
    for label, (o, i), scale in [("3 output units, 4 inputs", (3, 4), 1.0),
                                 ("one output unit, 5 inputs", (1, 5), 1.0),
                                 ("4 output units, 2 inputs", (4, 2), 1.0),
                                 ("long v (norm about 1e3)", (3, 3), 1e3)]:
        cases.append((label, (r.standard_normal((o, i)), r.standard_normal((o, 1)),
                              scale * r.standard_normal((o, i)))))
    return cases


def check_weight_norm_backward(weight_norm_backward: Callable,
                               time_limit_s: float = GRADER_TIME_LIMIT,
                               hidden: bool = False) -> None:
    cases = _wn_cases(_rng(hidden_seed(126) if hidden else 26))
    names = ["dg", "dv"]
    if hidden:
        _hidden(weight_norm_backward, _weight_norm_backward, cases, "weight_norm_backward",
                time_limit_s, names=names)
        return
    report = check_function(weight_norm_backward, _weight_norm_backward, cases, names=names,
                            finish=False, time_limit_s=time_limit_s, mistakes={
        "only turning v changes w (its length is g's job): remove from dv the part of dW along "
        "v": _wn_wrong("no projection"),
        "dv is missing the factor g / ||v||: w depends on v through v / ||v||, times g":
            [_wn_wrong("no scale"), _wn_wrong("g outside")],
        "||v|| is the norm of each row (one output unit), not of the whole matrix":
            _wn_wrong("frobenius"),
        "dg is the component of dW along the unit vector v / ||v||: divide by ||v||":
            _wn_wrong("dg unscaled"),
        "each row's sum runs over its inputs (axis 1), one dg per output unit":
            _wn_wrong("columns"),
        "dg has the shape of g, (out, 1): keep the summed axis (keepdims=True)":
            _wn_wrong("flat dg"),
    })
    dW, g, v = cases[0][1]
    no_python_loop(report, weight_norm_backward, lambda n: (np.ones((n, 3)), np.ones((n, 1)),
                                                            np.arange(3 * n, dtype=float).reshape(n, 3) + 1),
                   per="row", time_limit_s=time_limit_s)

    def loss():
        return np.sum(dW * g * v / np.linalg.norm(v, axis=1, keepdims=True))
    gradient_check(report, weight_norm_backward, (dW, g, v), loss, (g, v), names,
                   time_limit_s=time_limit_s)
    report.finish()


# -- folding batch norm into the layer before it -------------------------------------------------

def _fold_wrong(kind: str):
    def wrong(weight: np.ndarray, bias: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
              running_mean: np.ndarray, running_var: np.ndarray, eps: float = 1e-5):
        var = {"no eps": running_var, "no sqrt": None}.get(kind, running_var + eps)
        s = gamma / (running_var + eps) if kind == "no sqrt" else gamma / np.sqrt(var)
        if kind == "eps outside":
            s = gamma / (np.sqrt(running_var) + eps)
        w = s[:, None] * weight if kind == "linear only" else \
            s.reshape((-1,) + (1,) * (weight.ndim - 1)) * weight
        b = {"bias unscaled": lambda: bias - s * running_mean + beta,
             "no bias": lambda: beta - s * running_mean,
             "no mean": lambda: s * bias + beta,
             "no beta": lambda: s * (bias - running_mean)}.get(kind, lambda: s * (bias - running_mean) + beta)()
        return w, b
    return wrong


def check_fold_batchnorm(fold_batchnorm: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                         hidden: bool = False) -> None:
    r = _rng(hidden_seed(127) if hidden else 27)
    cases = []
    for label, shape in [("Linear 4 -> 3", (3, 4)), ("Linear 2 -> 1", (1, 2)),
                         ("conv with 4 output channels, 2 input channels, 3 x 3",
                          (4, 2, 3, 3))]:
        c = shape[0]
        cases.append((label, (r.standard_normal(shape), r.standard_normal(c),
                              1 + 0.5 * r.standard_normal(c), r.standard_normal(c),
                              r.standard_normal(c), 0.5 + r.random(c))))
    cases.append(("small running variance (eps matters)",
                  (r.standard_normal((2, 3)), r.standard_normal(2), np.ones(2), np.zeros(2),
                   np.zeros(2), np.array([1e-4, 4e-4])), {"eps": 1e-3}))
    names = ["folded weight", "folded bias"]
    if hidden:
        _hidden(fold_batchnorm, fold_batch_norm, cases, "fold_batchnorm", time_limit_s, names=names)
        return
    check_function(fold_batchnorm, fold_batch_norm, cases, names=names, time_limit_s=time_limit_s,
                   mistakes={
        "the layer's bias goes through the batch norm too: subtract the running mean from it "
        "and scale the difference": _fold_wrong("bias unscaled"),
        "the layer's own bias is missing from the folded bias": _fold_wrong("no bias"),
        "the running mean is missing: batch norm subtracts it before scaling": _fold_wrong("no mean"),
        "beta is missing: batch norm adds it after scaling": _fold_wrong("no beta"),
        "running_var is a variance: the scale divides gamma by its square root (after adding eps)":
            _fold_wrong("no sqrt"),
        _EPS: _fold_wrong("eps outside"),
        _EPS_ARG: lambda w, b, g, be, rm, rv, eps=1e-5: fold_batch_norm(w, b, g, be, rm, rv),
        "eps is missing: divide by the square root of running_var PLUS eps": _fold_wrong("no eps"),
        "a conv weight (C_out, C_in, kH, kW) is scaled per output channel too: shape the scale "
        "to broadcast along the first axis only": _fold_wrong("linear only"),
    })
