"""Activation functions. An element-wise one keeps x (or y) and multiplies dy by the derivative:

    x: (*) -> y: (*)        dx = dy ⊙ f'(x)

    relu        y = max(x, 0)                          f' = 1 for x > 0, else 0 (torch: 0 at 0)
    leaky_relu  y = x for x > 0, else a x              f' = 1 or a
    elu         y = x for x > 0, else α (e^x − 1)      f' = 1 or α e^x = y + α
    selu        y = λ elu_α(x)  (Klambauer et al. 2017's constants)   f' = λ or y + λα
    gelu        y = x Φ(x)                             f' = Φ(x) + x φ(x)
                tanh form: y = ½x(1 + t), t = tanh(u), u = √(2/π)(x + 0.044715x³)
                           f' = ½(1 + t) + ½x(1 − t²) √(2/π)(1 + 3·0.044715x²)
    sigmoid     y = 1 / (1 + e^−x)                     f' = y (1 − y)
    tanh        y = tanh x                             f' = 1 − y²
    softplus    y = log(1 + e^{βx}) / β, and x where βx > threshold (as torch)
                                                       f' = sigmoid(βx), and 1 above the threshold

Softmax and log-softmax act along ``dim``; their backward is a Jacobian-vector product that
never forms the (n x n) Jacobian:

    softmax      y = e^x / Σ e^x       dx = y ⊙ (dy − Σ_dim dy ⊙ y)
    log_softmax  y = x − log Σ e^x     dx = dy − e^y Σ_dim dy
"""
from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy.special import erf, expit

from .. import validate
from ..module import Module

__all__ = ["ActivationCache", "SoftmaxCache", "relu_forward", "relu_backward", "leaky_relu_forward",
           "leaky_relu_backward", "elu_forward", "elu_backward", "selu_forward", "selu_backward",
           "gelu_forward", "gelu_backward", "sigmoid_forward", "sigmoid_backward", "tanh_forward",
           "tanh_backward", "softplus_forward", "softplus_backward", "softmax_forward",
           "softmax_backward", "log_softmax_forward", "log_softmax_backward", "ReLU", "LeakyReLU",
           "ELU", "SELU", "GELU", "Sigmoid", "Tanh", "Softplus", "Softmax", "LogSoftmax"]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_GELU_C = math.sqrt(2 / math.pi)


class ActivationCache(NamedTuple):
    """What an activation's backward needs: its input, its output and its constants."""
    x: np.ndarray
    y: np.ndarray
    slope: float = 0.0          # leaky_relu's negative_slope, elu's alpha, softplus's beta
    threshold: float = 0.0      # softplus's threshold
    approximate: str = "none"   # gelu's form


class SoftmaxCache(NamedTuple):
    y: np.ndarray
    dim: int


def _options(owner: str, options: dict, x: np.ndarray | None = None) -> None:
    """Check an activation's constants (and ``dim`` against ``x`` when it is given)."""
    for key, value in options.items():
        if key == "approximate" and value not in ("none", "tanh"):
            raise ValueError(f"{owner}: approximate must be 'none' or 'tanh', got {value!r}")
        if key in ("negative_slope", "alpha", "beta", "threshold"):
            if validate.number(value, owner, key) == 0 and key == "beta":
                raise ValueError(f"{owner}: beta must be a nonzero number, got {value!r}")
        if key == "dim":
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{owner}: dim must be an int, got {value!r}")
            if x is not None and not -x.ndim <= value < x.ndim:
                raise ValueError(f"{owner}: dim must be in [{-x.ndim}, {x.ndim}) for input of "
                                 f"shape {x.shape}, got dim={value}")


def _door(fn: Callable) -> Callable:
    """The public pair function: ``fn`` behind a check of its arguments, in its own name.
    The modules below check their input in their own name and call ``fn`` itself
    (``pair.__wrapped__``), so nothing is checked twice."""
    name, signature = fn.__name__, inspect.signature(fn)
    cache_type = SoftmaxCache if name.startswith(("softmax", "log_softmax")) else ActivationCache

    @functools.wraps(fn)
    def forward(x: np.ndarray, *args: object, **kwargs: object) -> tuple:
        validate.array(x, name, "x", min_ndim=1 if cache_type is SoftmaxCache else None)
        bound = signature.bind(x, *args, **kwargs)
        bound.apply_defaults()
        _options(name, {k: v for k, v in bound.arguments.items() if k != "x"}, x)
        return fn(x, *args, **kwargs)

    @functools.wraps(fn)
    def backward(dy: np.ndarray, cache: tuple) -> np.ndarray:
        if not isinstance(cache, cache_type):
            raise TypeError(f"{name}: cache must be the {cache_type.__name__} that "
                            f"{name[:-8]}forward returned, got {type(cache).__name__}")
        validate.grad(dy, cache.y.shape, name, "dy")
        return fn(dy, cache)
    return forward if name.endswith("_forward") else backward


# -- the element-wise pairs: (y, cache) forward, dx backward ------------------------------

@_door
def relu_forward(x: np.ndarray) -> tuple[np.ndarray, ActivationCache]:
    y = np.maximum(x, 0)
    return y, ActivationCache(x, y)


@_door
def relu_backward(dy: np.ndarray, cache: ActivationCache) -> np.ndarray:
    return dy * (cache.x > 0).astype(cache.x.dtype)


@_door
def leaky_relu_forward(x: np.ndarray, negative_slope: float = 0.01
                       ) -> tuple[np.ndarray, ActivationCache]:
    y = np.where(x > 0, x, negative_slope * x)
    return y, ActivationCache(x, y, slope=negative_slope)


@_door
def leaky_relu_backward(dy: np.ndarray, cache: ActivationCache) -> np.ndarray:
    return dy * np.where(cache.x > 0, 1.0, cache.slope).astype(cache.x.dtype)


@_door
def elu_forward(x: np.ndarray, alpha: float = 1.0) -> tuple[np.ndarray, ActivationCache]:
    y = np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
    return y, ActivationCache(x, y, slope=alpha)


@_door
def elu_backward(dy: np.ndarray, cache: ActivationCache) -> np.ndarray:
    return dy * np.where(cache.x > 0, 1.0, cache.y + cache.slope).astype(cache.x.dtype)


@_door
def selu_forward(x: np.ndarray) -> tuple[np.ndarray, ActivationCache]:
    y = SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0)))
    return y, ActivationCache(x, y)


@_door
def selu_backward(dy: np.ndarray, cache: ActivationCache) -> np.ndarray:
    x, y = cache.x, cache.y
    return dy * np.where(x > 0, SELU_SCALE, y + SELU_SCALE * SELU_ALPHA).astype(x.dtype)


@_door
def gelu_forward(x: np.ndarray, approximate: str = "none") -> tuple[np.ndarray, ActivationCache]:
    if approximate == "tanh":
        y = 0.5 * x * (1 + np.tanh(_GELU_C * (x + 0.044715 * x ** 3)))
    else:
        y = 0.5 * x * (1 + erf(x / math.sqrt(2)))
    return y, ActivationCache(x, y, approximate=approximate)


@_door
def gelu_backward(dy: np.ndarray, cache: ActivationCache) -> np.ndarray:
    x = cache.x
    if cache.approximate == "tanh":
        t = np.tanh(_GELU_C * (x + 0.044715 * x ** 3))
        return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * x * x))
    phi = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return dy * (0.5 * (1 + erf(x / math.sqrt(2))) + x * phi)


@_door
def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, ActivationCache]:
    y = expit(x)
    return y, ActivationCache(x, y)


@_door
def sigmoid_backward(dy: np.ndarray, cache: ActivationCache) -> np.ndarray:
    return dy * (cache.y * (1 - cache.y))


@_door
def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, ActivationCache]:
    y = np.tanh(x)
    return y, ActivationCache(x, y)


@_door
def tanh_backward(dy: np.ndarray, cache: ActivationCache) -> np.ndarray:
    return dy * (1 - cache.y * cache.y)


@_door
def softplus_forward(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0
                     ) -> tuple[np.ndarray, ActivationCache]:
    bx = beta * x
    y = np.where(bx > threshold, x, np.logaddexp(0, bx) / beta)
    return y, ActivationCache(x, y, slope=beta, threshold=threshold)


@_door
def softplus_backward(dy: np.ndarray, cache: ActivationCache) -> np.ndarray:
    bx = cache.slope * cache.x
    return dy * np.where(bx > cache.threshold, 1.0, expit(bx)).astype(cache.x.dtype)


# -- along one axis ---------------------------------------------------------------------

@_door
def softmax_forward(x: np.ndarray, dim: int = -1) -> tuple[np.ndarray, SoftmaxCache]:
    """x: (*) -> y: (*), each slice along ``dim`` positive and summing to 1."""
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    y = e / e.sum(axis=dim, keepdims=True)
    return y, SoftmaxCache(y, dim)


@_door
def softmax_backward(dy: np.ndarray, cache: SoftmaxCache) -> np.ndarray:
    y, dim = cache
    return y * (dy - (dy * y).sum(axis=dim, keepdims=True))


@_door
def log_softmax_forward(x: np.ndarray, dim: int = -1) -> tuple[np.ndarray, SoftmaxCache]:
    """x: (*) -> y: (*), log-probabilities along ``dim`` (stable: x − max first)."""
    shifted = x - x.max(axis=dim, keepdims=True)
    y = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
    return y, SoftmaxCache(y, dim)


@_door
def log_softmax_backward(dy: np.ndarray, cache: SoftmaxCache) -> np.ndarray:
    y, dim = cache
    return dy - np.exp(y) * dy.sum(axis=dim, keepdims=True)


# -- the modules: validation, then the pair -------------------------------------------------

class _Activation(Module):
    """Subclasses set ``pair = (forward, backward)`` and ``options()`` (the forward's keywords,
    checked when the module is built)."""

    pair: tuple = ()

    def __init__(self) -> None:
        super().__init__()
        _options(type(self).__name__, self.options())
        self._cache = None

    def options(self) -> dict:
        return {}

    def _check(self, x: np.ndarray) -> None:
        validate.array(x, type(self).__name__, "input")

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check(x)
        y, self._cache = type(self).pair[0].__wrapped__(x, **self.options())
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        cache = validate.forward_called(type(self).__name__, self._cache)
        validate.grad(dy, cache.y.shape, type(self).__name__)
        return type(self).pair[1].__wrapped__(dy, cache)


class ReLU(_Activation):
    """max(x, 0); derivative 1 for x > 0, else 0 (torch takes 0 at x = 0)."""
    pair = (relu_forward, relu_backward)


class LeakyReLU(_Activation):
    """x for x > 0, negative_slope * x otherwise."""
    pair = (leaky_relu_forward, leaky_relu_backward)

    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = negative_slope
        super().__init__()

    def options(self) -> dict:
        return {"negative_slope": self.negative_slope}


class ELU(_Activation):
    """x for x > 0, alpha (e^x − 1) otherwise; derivative alpha e^x = y + alpha there."""
    pair = (elu_forward, elu_backward)

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha
        super().__init__()

    def options(self) -> dict:
        return {"alpha": self.alpha}


class SELU(_Activation):
    """scale * ELU_alpha(x) with the self-normalising constants of Klambauer et al. (2017)."""
    pair = (selu_forward, selu_backward)
    alpha, scale = SELU_ALPHA, SELU_SCALE


class GELU(_Activation):
    """x Φ(x) (approximate='none') or its tanh approximation (approximate='tanh')."""
    pair = (gelu_forward, gelu_backward)

    def __init__(self, approximate: str = "none") -> None:
        self.approximate = approximate
        super().__init__()

    def options(self) -> dict:
        return {"approximate": self.approximate}


class Sigmoid(_Activation):
    """1 / (1 + e^−x); derivative y (1 − y)."""
    pair = (sigmoid_forward, sigmoid_backward)


class Tanh(_Activation):
    """tanh x; derivative 1 − y²."""
    pair = (tanh_forward, tanh_backward)


class Softplus(_Activation):
    """(1/beta) log(1 + e^(beta x)), and x itself where beta x > threshold (as torch)."""
    pair = (softplus_forward, softplus_backward)

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        self.beta, self.threshold = beta, threshold
        super().__init__()

    def options(self) -> dict:
        return {"beta": self.beta, "threshold": self.threshold}


class _AlongDim(_Activation):
    def __init__(self, dim: int) -> None:
        self.dim = dim
        super().__init__()

    def options(self) -> dict:
        return {"dim": self.dim}

    def _check(self, x: np.ndarray) -> None:
        validate.array(x, type(self).__name__, "input", min_ndim=1)
        _options(type(self).__name__, self.options(), x)


class Softmax(_AlongDim):
    """softmax along ``dim``: x: (*) -> y: (*)."""
    pair = (softmax_forward, softmax_backward)


class LogSoftmax(_AlongDim):
    """log-softmax along ``dim``: x: (*) -> y: (*)."""
    pair = (log_softmax_forward, log_softmax_backward)
