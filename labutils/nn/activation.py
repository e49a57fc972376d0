"""Activation functions. Element-wise ones keep x (or y) and multiply dy by the derivative:

    x: (*) -> y: (*)        dx = dy * f'(x)

Softmax and LogSoftmax act along ``dim``; their backward is a Jacobian-vector product that
never forms the (n x n) Jacobian:

    softmax      y = e^x / Σ e^x       dx = y ⊙ (dy − Σ_dim dy ⊙ y)
    log_softmax  y = x − log Σ e^x     dx = dy − e^y Σ_dim dy
"""
import math

import numpy as np
from scipy.special import erf, expit

from .. import validate
from ..module import Module


class _Elementwise(Module):
    """Subclasses define ``f(x) -> y`` and ``df(x, y) -> f'(x)``."""

    def forward(self, x):
        validate.array(x, type(self).__name__, "input")
        self._x, self._y = x, self.f(x)
        return self._y

    def backward(self, dy):
        x = validate.forward_called(type(self).__name__, getattr(self, "_x", None))
        validate.grad(dy, x.shape, type(self).__name__)
        return dy * self.df(x, self._y)


class ReLU(_Elementwise):
    """max(x, 0); derivative 1 for x > 0, else 0 (torch takes 0 at x = 0)."""

    def f(self, x):
        return np.maximum(x, 0)

    def df(self, x, y):
        return (x > 0).astype(x.dtype)


class LeakyReLU(_Elementwise):
    """x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def f(self, x):
        return np.where(x > 0, x, self.negative_slope * x)

    def df(self, x, y):
        return np.where(x > 0, 1.0, self.negative_slope).astype(x.dtype)


class ELU(_Elementwise):
    """x for x > 0, alpha (e^x − 1) otherwise; derivative alpha e^x = y + alpha there."""

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = alpha

    def f(self, x):
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))

    def df(self, x, y):
        return np.where(x > 0, 1.0, y + self.alpha).astype(x.dtype)


class SELU(_Elementwise):
    """scale * ELU_alpha(x) with the self-normalising constants of Klambauer et al. (2017)."""
    alpha = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946

    def f(self, x):
        return self.scale * np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))

    def df(self, x, y):
        return np.where(x > 0, self.scale, y + self.scale * self.alpha).astype(x.dtype)


class GELU(_Elementwise):
    """x Φ(x) (approximate='none') or its tanh approximation (approximate='tanh').

    exact: f' = Φ(x) + x φ(x)
    tanh:  f = ½x(1 + t), t = tanh(u), u = √(2/π)(x + 0.044715x³)
           f' = ½(1 + t) + ½x(1 − t²) √(2/π)(1 + 3·0.044715x²)
    """
    _c = math.sqrt(2 / math.pi)

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def f(self, x):
        if self.approximate == "tanh":
            return 0.5 * x * (1 + np.tanh(self._c * (x + 0.044715 * x ** 3)))
        return 0.5 * x * (1 + erf(x / math.sqrt(2)))

    def df(self, x, y):
        if self.approximate == "tanh":
            t = np.tanh(self._c * (x + 0.044715 * x ** 3))
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * self._c * (1 + 3 * 0.044715 * x * x)
        return 0.5 * (1 + erf(x / math.sqrt(2))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


class Sigmoid(_Elementwise):
    """1 / (1 + e^−x); derivative y (1 − y)."""

    def f(self, x):
        return expit(x)

    def df(self, x, y):
        return y * (1 - y)


class Tanh(_Elementwise):
    """tanh x; derivative 1 − y²."""

    def f(self, x):
        return np.tanh(x)

    def df(self, x, y):
        return 1 - y * y


class Softplus(_Elementwise):
    """(1/beta) log(1 + e^(beta x)), and x itself where beta x > threshold (as torch);
    derivative sigmoid(beta x), and 1 above the threshold."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def f(self, x):
        bx = self.beta * x
        return np.where(bx > self.threshold, x, np.logaddexp(0, bx) / self.beta)

    def df(self, x, y):
        bx = self.beta * x
        return np.where(bx > self.threshold, 1.0, expit(bx)).astype(x.dtype)


class _AlongDim(Module):
    def __init__(self, dim):
        super().__init__()
        if not isinstance(dim, int):
            raise TypeError(f"{type(self).__name__}: dim must be an int, got {dim!r}")
        self.dim = dim

    def _check(self, x):
        validate.array(x, type(self).__name__, "input", min_ndim=1)
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"{type(self).__name__}: dim={self.dim} is out of range for input "
                             f"of shape {x.shape}")


class Softmax(_AlongDim):
    def forward(self, x):
        self._check(x)
        e = np.exp(x - x.max(axis=self.dim, keepdims=True))
        self._y = e / e.sum(axis=self.dim, keepdims=True)
        return self._y

    def backward(self, dy):
        y = validate.forward_called("Softmax", getattr(self, "_y", None))
        validate.grad(dy, y.shape, "Softmax")
        return y * (dy - (dy * y).sum(axis=self.dim, keepdims=True))


class LogSoftmax(_AlongDim):
    def forward(self, x):
        self._check(x)
        shifted = x - x.max(axis=self.dim, keepdims=True)
        self._y = shifted - np.log(np.exp(shifted).sum(axis=self.dim, keepdims=True))
        return self._y

    def backward(self, dy):
        y = validate.forward_called("LogSoftmax", getattr(self, "_y", None))
        validate.grad(dy, y.shape, "LogSoftmax")
        return dy - np.exp(y) * dy.sum(axis=self.dim, keepdims=True)
