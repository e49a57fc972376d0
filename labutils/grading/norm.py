"""Autograder checks for chapter 2 (normalization). Each takes the student's function.

The truth is the labutils modules (``labutils.nn.LayerNorm``, ``BatchNorm1d``,
``GroupNorm``), themselves checked against torch. The typical mistakes are written as
functions, so that a report can say which one the answer made.
"""
from collections.abc import Callable

import numpy as np

from .. import nn
from ..tolerances import GRADER_TIME_LIMIT
from .core import check_function
from .hidden import seed as hidden_seed

__all__ = [
    "check_batchnorm_backward",
    "check_batchnorm_eval",
    "check_batchnorm_train",
    "check_fold_batchnorm",
    "check_group_norm",
    "check_layer_norm",
    "check_layer_norm_backward",
    "check_weight_norm_backward",
    "library_batchnorm_backward",
    "library_batchnorm_eval",
    "library_batchnorm_train",
    "library_group_norm",
    "library_layer_norm",
    "library_layer_norm_backward",
    "library_weight_norm_backward",
]


def _rng(seed: int):
    return np.random.default_rng(seed)


def _hidden(student: Callable, reference: Callable, cases: list, name: str, time_limit_s: float,
            **kw: object):
    """The hidden tests of an exercise: its cases drawn from the class seed, same engine."""
    cases = [(f"hidden case: {c[0]}", *c[1:]) for c in cases]
    return check_function(student, reference, cases, time_limit_s=time_limit_s,
                          title=f"Hidden tests of {name}", **kw)


def _x(r: np.random.Generator, shape: tuple[int, ...], scale: float = 1.5, shift: float = 0.3):
    return shift + scale * r.standard_normal(shape)


def _std(x: np.ndarray, axes: int | tuple[int, ...], eps: float, ddof: int = 0) -> np.ndarray:
    return np.sqrt(x.var(axis=axes, keepdims=True, ddof=ddof) + eps)


def _moments_var(x: np.ndarray, axis: int | tuple[int, ...], keepdims: bool = True):
    """The unstable variance E[x²] − E[x]²: every digit is lost when |mean| ≫ spread."""
    return (x ** 2).mean(axis=axis, keepdims=keepdims) - x.mean(axis=axis, keepdims=keepdims) ** 2


_MOMENTS = ("the variance computed as the mean of the squares minus the square of the mean "
            "loses its digits when the mean is large compared with the spread (here 1e6 ± 1): "
            "average the squared deviations from the mean instead")
_EPS = "eps is added to the variance, inside the square root, not to the standard deviation"
_NO_EPS = "eps is missing: add it to the variance before the square root"
_EPS_ARG = "the eps argument is ignored: use the eps you are given (a case passes another value)"


def _bcast(v: np.ndarray, ndim: int):
    """A (C,) vector shaped to broadcast along axis 1 of an ndim-array."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


# -- layer norm over arbitrary trailing axes -------------------------------------------------

def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5):
    m = nn.LayerNorm(gamma.shape, eps=eps)
    m.params["weight"], m.params["bias"] = gamma.astype(np.float64), beta.astype(np.float64)
    return m(x)


def _ln_wrong(axes_of: Callable, eps_out: bool = False, ddof: int = 0, affine: bool = True,
              moments: bool = False):
    def wrong(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5):
        axes = axes_of(x, gamma)
        mu = x.mean(axis=axes, keepdims=True)
        sd = (np.sqrt(x.var(axis=axes, keepdims=True)) + eps) if eps_out else _std(x, axes, eps, ddof)
        if moments:
            sd = np.sqrt(_moments_var(x, axes) + eps)
        xh = (x - mu) / sd
        return gamma * xh + beta if affine else xh
    return wrong


def _trailing(x: np.ndarray, gamma: np.ndarray):
    return tuple(range(x.ndim - gamma.ndim, x.ndim))


def check_layer_norm(layer_norm: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                     hidden: bool = False) -> None:
    """hidden=True: the hidden tests (other shapes and seeds), with the same watch and limits."""
    if hidden:
        r = _rng(hidden_seed(99))
        cases = [("hidden case: (2, 1, 3, 2, 2) over the last three axes",
                  (r.standard_normal((2, 1, 3, 2, 2)), np.ones((3, 2, 2)), np.zeros((3, 2, 2)))),
                 ("hidden case: (3, 2, 4) over the last axis",
                  (_x(r, (3, 2, 4)), 1 + 0.5 * r.standard_normal(4), r.standard_normal(4)))]
        check_function(layer_norm, _layer_norm, cases, time_limit_s=time_limit_s,
                       title="Hidden tests of layer_norm")
        return
    r = _rng(20)
    cases = []
    for label, shape, k in [("(4, 5), normalized over the last axis", (4, 5), 1),
                            ("(2, 3, 4), normalized over the last two axes", (2, 3, 4), 2),
                            ("a single sample (1, 6)", (1, 6), 1),
                            ("(2, 2, 3, 2), normalized over the last three axes", (2, 2, 3, 2), 3)]:
        s = shape[len(shape) - k:]
        cases.append((label, (_x(r, shape), 1 + 0.5 * r.standard_normal(s), r.standard_normal(s))))
    cases.append(("small spread (eps matters)",
                  (0.01 * r.standard_normal((3, 4)), np.ones(4), np.zeros(4)), {"eps": 1e-3}))
    cases.append(("(3, 4, 5) with gamma over the last axis only (5,)",
                  (_x(r, (3, 4, 5)), 1 + 0.5 * r.standard_normal(5), r.standard_normal(5))))
    cases.append(("large mean, small spread (1e6 ± 1)",
                  (_x(r, (3, 6), 1.0, 1e6), 1 + 0.5 * r.standard_normal(6), r.standard_normal(6))))
    check_function(layer_norm, _layer_norm, cases, time_limit_s=time_limit_s, mistakes={
        "normalise over ALL the trailing axes that gamma covers (as many as gamma has), not only "
        "the last one": _ln_wrong(lambda x, g: (-1,)),
        "normalise over the trailing axes that gamma covers only, not over every axis but the "
        "batch axis": _ln_wrong(lambda x, g: tuple(range(1, x.ndim))),
        "layer norm takes the statistics of each sample over its features; averaging over the "
        "batch axis (0) is batch norm": _ln_wrong(lambda x, g: (0,)),
        _EPS: _ln_wrong(_trailing, eps_out=True),
        "normalise with the biased variance (divide by the number of entries n, not n − 1)":
            _ln_wrong(_trailing, ddof=1),
        "the learned scale gamma and shift beta are not applied after normalising":
            _ln_wrong(_trailing, affine=False),
        _MOMENTS: _ln_wrong(_trailing, moments=True),
        _EPS_ARG: lambda x, gamma, beta, eps=1e-5: _layer_norm(x, gamma, beta),
        _NO_EPS: lambda x, gamma, beta, eps=1e-5: _layer_norm(x, gamma, beta, 0.0),
    })


# -- batch norm, training step (with the running statistics) -------------------------------

def _batchnorm_train(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, running_mean: np.ndarray,
                     running_var: np.ndarray, momentum: float = 0.1, eps: float = 1e-5):
    m = nn.BatchNorm1d(x.shape[1], eps=eps, momentum=momentum)
    m.params["weight"], m.params["bias"] = gamma.astype(np.float64), beta.astype(np.float64)
    m.buffers["running_mean"], m.buffers["running_var"] = running_mean.copy(), running_var.copy()
    y = m(x)
    return y, m.buffers["running_mean"], m.buffers["running_var"]


def _bn_train_wrong(axis: int = 0, eps_out: bool = False, ddof_norm: int = 0, ddof_run: int = 1,
                    swap: bool = False, use_running: bool = False, moments: bool = False) -> Callable:
    def wrong(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, running_mean: np.ndarray,
              running_var: np.ndarray, momentum: float = 0.1, eps: float = 1e-5):
        mu, var = x.mean(axis=axis, keepdims=True), x.var(axis=axis, keepdims=True, ddof=ddof_norm)
        if moments:
            var = _moments_var(x, axis)
        if use_running:
            mu, var = running_mean, running_var
        sd = np.sqrt(var) + eps if eps_out else np.sqrt(var + eps)
        y = gamma * (x - mu) / sd + beta
        bm, bv = x.mean(axis=0), x.var(axis=0, ddof=ddof_run)
        a = 1 - momentum if swap else momentum
        return y, (1 - a) * running_mean + a * bm, (1 - a) * running_var + a * bv
    return wrong


def _bn_cases(r: np.random.Generator):
    cases = []
    for label, (n, c), mom in [("batch of 8, 3 features", (8, 3), 0.1),
                               ("batch of 2 (the smallest allowed)", (2, 4), 0.1),
                               ("momentum 0.5", (5, 2), 0.5)]:
        cases.append((label, (_x(r, (n, c)), 1 + 0.5 * r.standard_normal(c), r.standard_normal(c),
                              r.standard_normal(c), 0.5 + r.random(c)), {"momentum": mom}))
    cases.append(("small spread (eps matters)", (0.01 * r.standard_normal((6, 2)), np.ones(2),
                                                 np.zeros(2), np.zeros(2), np.ones(2)),
                  {"eps": 1e-3}))
    cases.append(("large mean, small spread (1e6 ± 1)", (_x(r, (6, 3), 1.0, 1e6), np.ones(3),
                                                        np.zeros(3), np.zeros(3), np.ones(3))))
    return cases


def check_batchnorm_train(batchnorm_train: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                          hidden: bool = False) -> None:
    if hidden:
        _hidden(batchnorm_train, _batchnorm_train, _bn_cases(_rng(hidden_seed(121))),
                "batchnorm_train", time_limit_s, names=["y", "new running_mean", "new running_var"])
        return
    check_function(batchnorm_train, _batchnorm_train, _bn_cases(_rng(21)), time_limit_s=time_limit_s,
                   names=["y", "new running_mean", "new running_var"], mistakes={
        "the running variance stores the UNBIASED batch variance (divide by N − 1); "
        "x itself is normalised with the biased one (divide by N)": _bn_train_wrong(ddof_run=0),
        "normalise x with the biased batch variance (divide by N); only the running estimate "
        "uses the unbiased one": _bn_train_wrong(ddof_norm=1),
        "torch's momentum is the weight of the NEW batch statistic in the running average, "
        "not of the old running value (Keras uses the opposite convention)":
            _bn_train_wrong(swap=True),
        "in training, normalise with the statistics of the current batch, not the running ones":
            _bn_train_wrong(use_running=True),
        "wrong axis: batch norm takes each feature's statistics over the batch (axis 0), not each "
        "sample's over its features (axis 1, that is layer norm)": _bn_train_wrong(axis=1),
        _EPS: _bn_train_wrong(eps_out=True),
        _MOMENTS: _bn_train_wrong(moments=True),
        _EPS_ARG: lambda x, g, b, rm, rv, momentum=0.1, eps=1e-5:
            _batchnorm_train(x, g, b, rm, rv, momentum),
        "the momentum argument is ignored: use the momentum you are given (a case passes 0.5)":
            lambda x, g, b, rm, rv, momentum=0.1, eps=1e-5: _batchnorm_train(x, g, b, rm, rv, 0.1, eps),
        "the running statistics are returned unchanged: move them towards the batch's":
            lambda x, g, b, rm, rv, momentum=0.1, eps=1e-5:
            (_batchnorm_train(x, g, b, rm, rv, momentum, eps)[0], rm, rv),
    })


# -- batch norm, evaluation -------------------------------------------------------------

def _batchnorm_eval(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, running_mean: np.ndarray,
                    running_var: np.ndarray, eps: float = 1e-5):
    m = nn.BatchNorm1d(x.shape[1], eps=eps).eval()
    m.params["weight"], m.params["bias"] = gamma.astype(np.float64), beta.astype(np.float64)
    m.buffers["running_mean"], m.buffers["running_var"] = running_mean.copy(), running_var.copy()
    return m(x)


def check_batchnorm_eval(batchnorm_eval: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                         hidden: bool = False) -> None:
    r = _rng(hidden_seed(122) if hidden else 22)
    cases = [(label, (_x(r, (n, c)), 1 + 0.5 * r.standard_normal(c), r.standard_normal(c),
                      r.standard_normal(c), 0.5 + r.random(c)))
             for label, (n, c) in [("batch of 6, 3 features", (6, 3)),
                                   ("a single example (eval allows batch 1)", (1, 4))]]
    cases.append(("small running variance (eps matters)",
                  (r.standard_normal((3, 2)), np.ones(2), np.zeros(2), np.zeros(2),
                   np.array([1e-4, 4e-4])), {"eps": 1e-3}))
    if hidden:
        _hidden(batchnorm_eval, _batchnorm_eval, cases, "batchnorm_eval", time_limit_s)
        return

    def batch_stats(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, rm: np.ndarray,
                    rv: np.ndarray, eps: float = 1e-5):
        return gamma * (x - x.mean(0)) / np.sqrt(x.var(0) + eps) + beta

    check_function(batchnorm_eval, _batchnorm_eval, cases, time_limit_s=time_limit_s, mistakes={
        "forgot the running statistics: in eval, normalise with running_mean and running_var, "
        "not the batch's own mean and variance": batch_stats,
        _EPS: lambda x, g, b, rm, rv, eps=1e-5: g * (x - rm) / (np.sqrt(rv) + eps) + b,
        _EPS_ARG: lambda x, g, b, rm, rv, eps=1e-5: _batchnorm_eval(x, g, b, rm, rv),
        "eps is missing: divide by the square root of running_var PLUS eps":
            lambda x, g, b, rm, rv, eps=1e-5: g * (x - rm) / np.sqrt(rv) + b,
        "running_var is a variance: divide by the standard deviation (its square root, after "
        "adding eps)":
            lambda x, g, b, rm, rv, eps=1e-5: g * (x - rm) / (rv + eps) + b,
    })


# -- group norm ---------------------------------------------------------------------------

def _group_norm(x: np.ndarray, num_groups: int, gamma: np.ndarray, beta: np.ndarray,
                eps: float = 1e-5):
    m = nn.GroupNorm(num_groups, x.shape[1], eps=eps)
    m.params["weight"], m.params["bias"] = gamma.astype(np.float64), beta.astype(np.float64)
    return m(x)


def _gn_wrong(kind: str):
    def wrong(x: np.ndarray, num_groups: int, gamma: np.ndarray, beta: np.ndarray,
              eps: float = 1e-5):
        n, c = x.shape[:2]
        if kind == "interleaved":
            xg = x.reshape(n, c // num_groups, num_groups, -1).swapaxes(1, 2).reshape(n, num_groups, -1)
        else:
            g = {"instance": c, "layer": 1}.get(kind, num_groups)
            xg = x.reshape(n, g, -1)
        axes = (0, 2) if kind == "batch" else (2,)
        mu = xg.mean(axis=axes, keepdims=True)
        sd = np.sqrt(xg.var(axis=axes, keepdims=True)) + eps if kind == "eps" else _std(xg, axes, eps)
        if kind == "moments":
            sd = np.sqrt(_moments_var(xg, axes) + eps)
        xh = (xg - mu) / sd
        if kind == "interleaved":
            xh = xh.reshape(n, num_groups, c // num_groups, -1).swapaxes(1, 2)
        xh = xh.reshape(x.shape)
        if kind == "no affine":
            return xh
        return _bcast(gamma, x.ndim) * xh + _bcast(beta, x.ndim)
    return wrong


def check_group_norm(group_norm: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                     hidden: bool = False) -> None:
    r = _rng(hidden_seed(124) if hidden else 24)
    cases = []
    for label, shape, g in [("(2, 6, 4), 3 groups", (2, 6, 4), 3),
                            ("(2, 4, 3, 3), 2 groups", (2, 4, 3, 3), 2),
                            ("a single image (1, 6, 2, 2), 2 groups", (1, 6, 2, 2), 2),
                            ("no spatial axes (3, 8), 4 groups", (3, 8), 4)]:
        c = shape[1]
        cases.append((label, (_x(r, shape), g, 1 + 0.5 * r.standard_normal(c), r.standard_normal(c))))
    cases.append(("small spread (eps matters)",
                  (0.01 * r.standard_normal((2, 4, 3)), 2, np.ones(4), np.zeros(4)), {"eps": 1e-3}))
    cases.append(("large mean, small spread (1e6 ± 1), (2, 4, 3), 2 groups",
                  (_x(r, (2, 4, 3), 1.0, 1e6), 2, np.ones(4), np.zeros(4))))
    if hidden:
        _hidden(group_norm, _group_norm, cases, "group_norm", time_limit_s)
        return
    check_function(group_norm, _group_norm, cases, time_limit_s=time_limit_s, mistakes={
        "a group holds C/G CONSECUTIVE channels (the first C/G channels form group 0), not "
        "every G-th channel": _gn_wrong("interleaved"),
        "the statistics are per sample: do not average over the batch axis": _gn_wrong("batch"),
        "that is instance norm (one group per channel): use num_groups groups of C/G channels":
            _gn_wrong("instance"),
        "that is layer norm (one group of all channels): use num_groups groups":
            _gn_wrong("layer"),
        _EPS: _gn_wrong("eps"),
        "apply gamma and beta per channel, after the normalised groups are put back in the "
        "shape of x": _gn_wrong("no affine"),
        _MOMENTS: _gn_wrong("moments"),
        _EPS_ARG: lambda x, num_groups, gamma, beta, eps=1e-5: _group_norm(x, num_groups, gamma, beta),
        _NO_EPS: lambda x, num_groups, gamma, beta, eps=1e-5: _group_norm(x, num_groups, gamma, beta, 0.0),
    })


# the backward exercises and the folding exercise live next door (one page each)
from .norm_backward import (
    _batchnorm_backward,
    _layer_norm_backward,
    _weight_norm_backward,
    check_batchnorm_backward,
    check_fold_batchnorm,
    check_layer_norm_backward,
    check_weight_norm_backward,
)

# the library's answers with each exercise's signature, for the reveal cells
library_layer_norm, library_group_norm = _layer_norm, _group_norm
library_batchnorm_train, library_batchnorm_eval = _batchnorm_train, _batchnorm_eval
library_batchnorm_backward, library_layer_norm_backward = _batchnorm_backward, _layer_norm_backward
library_weight_norm_backward = _weight_norm_backward
