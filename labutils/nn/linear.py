"""Linear (affine) layer.

forward   y  = x Wᵀ + b                    x: (*, in_features) -> y: (*, out_features)
backward  dx = dy W                         dx: (*, in_features)
          dW = dyᵀ x   (summed over every leading position)    dW: (out_features, in_features)
          db = Σ dy    (likewise)                               db: (out_features,)
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import init, validate
from ..module import Module

__all__ = ["LinearCache", "linear_forward", "linear_backward", "Linear", "Identity"]


class LinearCache(NamedTuple):
    x: np.ndarray
    weight: np.ndarray
    has_bias: bool


def linear_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None
                   ) -> tuple[np.ndarray, LinearCache]:
    """x: (*, in), weight: (out, in), bias: (out,) or None -> y: (*, out)."""
    owner = "linear_forward"
    validate.array(weight, owner, "weight", ndim=2)
    validate.array(x, owner, "x", min_ndim=1)
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(f"{owner}: x must have shape (..., {weight.shape[1]}) to match weight "
                         f"{weight.shape} (out, in), got {x.shape}")
    if bias is not None:
        validate.array(bias, owner, "bias", ndim=1)
        if bias.shape != weight.shape[:1]:
            raise ValueError(f"{owner}: bias must have shape {weight.shape[:1]} to match weight "
                             f"{weight.shape} (out, in), got {bias.shape}")
    return _linear_forward(x, weight, bias)


def _linear_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None
                    ) -> tuple[np.ndarray, LinearCache]:
    y = x @ weight.T
    return (y if bias is None else y + bias), LinearCache(x, weight, bias is not None)


def linear_backward(dy: np.ndarray, cache: LinearCache) -> dict[str, np.ndarray]:
    """dy: (*, out) -> {"x": (*, in), "weight": (out, in), "bias": (out,) if there is one}."""
    if not isinstance(cache, LinearCache):
        raise TypeError(f"linear_backward: cache must be the LinearCache that linear_forward "
                        f"returned, got {type(cache).__name__}")
    validate.grad(dy, cache.x.shape[:-1] + cache.weight.shape[:1], "linear_backward", "dy")
    return _linear_backward(dy, cache)


def _linear_backward(dy: np.ndarray, cache: LinearCache) -> dict[str, np.ndarray]:
    x, weight, has_bias = cache
    x2, dy2 = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])
    grads = {"x": dy @ weight, "weight": dy2.T @ x2}
    if has_bias:
        grads["bias"] = dy2.sum(axis=0)
    return grads


class Linear(Module):
    """y = x Wᵀ + b (torch.nn.Linear). x: (*, in_features) -> y: (*, out_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        super().__init__()
        self.in_features = validate.positive_int(in_features, "Linear", "in_features")
        self.out_features = validate.positive_int(out_features, "Linear", "out_features")
        validate.generator(rng, "Linear")
        self.has_bias = bias
        w, b = init.torch_default((out_features, in_features), rng, dtype, bias)
        self.add_param("weight", w)
        if bias:
            self.add_param("bias", b)
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        validate.array(x, "Linear", "input", min_ndim=1, shape=(self.in_features,))
        y, self._cache = _linear_forward(x, self.params["weight"],
                                         self.params["bias"] if self.has_bias else None)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        cache = validate.forward_called("Linear", self._cache)
        validate.grad(dy, cache.x.shape[:-1] + (self.out_features,), "Linear")
        grads = _linear_backward(dy, cache)
        self.grads["weight"] += grads["weight"]
        if self.has_bias:
            self.grads["bias"] += grads["bias"]
        return grads["x"]

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.has_bias}"


class Identity(Module):
    """y = x (torch.nn.Identity)."""

    def __init__(self) -> None:
        super().__init__()
        self._shape = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = validate.array(x, "Identity", "input").shape
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return validate.grad(dy, validate.forward_called("Identity", self._shape), "Identity")
