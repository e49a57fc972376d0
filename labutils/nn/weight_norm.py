"""Weight normalization (Salimans & Kingma, 2016): a Linear layer whose weight is
reparametrised row by row as w = g · v / ||v||, the twin of
``torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(...))``.

forward    w = g v / n,  n = ||v|| per row;   y = x wᵀ + b
backward   with dW = dyᵀ x the gradient w.r.t. the effective weight:
           dg = Σ_j dW_ij v_ij / n_i              (the part of dW along v)
           dv = (g / n) (dW − v · dg / n)           (the part of dW orthogonal to v, scaled)
The length of each row is learned by g alone; v only turns its direction.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import init, validate
from ..module import Module
from . import norm_checks as checks
from .linear import Linear, LinearCache, linear_backward, linear_forward

__all__ = ["WeightNormCache", "weight_norm_forward", "weight_norm_backward", "WeightNormLinear",
           "weight_norm"]


class WeightNormCache(NamedTuple):
    v: np.ndarray          # (out, in)
    g: np.ndarray          # (out, 1)
    linear: LinearCache    # the Linear with the effective weight


def weight_norm_forward(x: np.ndarray, g: np.ndarray, v: np.ndarray, bias: np.ndarray | None,
                        check: bool = True) -> tuple[np.ndarray, WeightNormCache]:
    """x: (*, in), g: (out, 1), v: (out, in), bias: (out,) or None -> y: (*, out).
    check=False: the caller (the module) has checked the arguments."""
    if check:
        checks.weight_norm_args(x, g, v, bias)
    w = g * v / np.linalg.norm(v, axis=1, keepdims=True)
    y, linear = linear_forward(x, w, bias)
    return y, WeightNormCache(v, g, linear)


def weight_norm_backward(dy: np.ndarray, cache: WeightNormCache, check: bool = True
                         ) -> dict[str, np.ndarray]:
    """dy: (*, out) -> {"x": (*, in), "g": (out, 1), "v": (out, in), "bias": (out,) if any}."""
    if check:
        checks.backward_args(dy, cache, WeightNormCache, "weight_norm_backward",
                             lambda c: c.linear.x.shape[:-1] + c.v.shape[:1])
    grads = linear_backward(dy, cache.linear)
    dW, v, g = grads.pop("weight"), cache.v, cache.g
    n = np.linalg.norm(v, axis=1, keepdims=True)
    dg = (dW * v).sum(axis=1, keepdims=True) / n
    return grads | {"g": dg, "v": (g / n) * (dW - v * dg / n)}


class WeightNormLinear(Module):
    """x: (*, in_features) -> y: (*, out_features)
    weight_g: (out, 1) magnitude    weight_v: (out, in) direction    bias: (out,)
    torch names them parametrizations.weight.original0 / original1; load_state_dict maps
    those names (and accepts the old weight_norm API's weight_g / weight_v as they are).
    """

    _TORCH_NAMES = {"parametrizations.weight.original0": "weight_g",
                    "parametrizations.weight.original1": "weight_v"}

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        super().__init__()
        in_features = validate.positive_int(in_features, "WeightNormLinear", "in_features")
        out_features = validate.positive_int(out_features, "WeightNormLinear", "out_features")
        self.in_features, self.out_features, self.has_bias = in_features, out_features, bias
        w, b = init.torch_default((out_features, in_features), rng, dtype, bias)
        self.add_param("weight_g", np.linalg.norm(w, axis=1, keepdims=True))
        self.add_param("weight_v", w)
        if bias:
            self.add_param("bias", b)
        self._cache = None

    @property
    def weight(self) -> np.ndarray:
        """The effective weight g v / ||v||, (out, in)."""
        v = self.params["weight_v"]
        return self.params["weight_g"] * v / np.linalg.norm(v, axis=1, keepdims=True)

    def _map_state_dict(self, state: dict) -> dict:
        if not any(k in state for k in self._TORCH_NAMES):
            return state
        return {self._TORCH_NAMES.get(k, k): v for k, v in state.items()}

    def forward(self, x: np.ndarray) -> np.ndarray:
        validate.array(x, "WeightNormLinear", "input", min_ndim=1, shape=(self.in_features,))
        y, self._cache = weight_norm_forward(x, self.params["weight_g"], self.params["weight_v"],
                                             self.params["bias"] if self.has_bias else None, False)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        cache = validate.forward_called("WeightNormLinear", self._cache)
        validate.grad(dy, cache.linear.x.shape[:-1] + (self.out_features,), "WeightNormLinear")
        grads = weight_norm_backward(dy, cache, check=False)
        self.grads["weight_g"] += grads["g"]
        self.grads["weight_v"] += grads["v"]
        if self.has_bias:
            self.grads["bias"] += grads["bias"]
        return grads["x"]

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.has_bias}"


def weight_norm(linear: Linear) -> WeightNormLinear:
    """A WeightNormLinear computing exactly what ``linear`` (a labutils Linear) computes:
    v = W and g = ||W|| row-wise (torch.nn.utils.parametrizations.weight_norm, dim=0)."""
    if not isinstance(linear, Linear):
        raise TypeError(f"weight_norm: linear must be a labutils nn.Linear, got "
                        f"{type(linear).__name__}")
    w = linear.params["weight"]
    m = WeightNormLinear(linear.in_features, linear.out_features, linear.has_bias, dtype=w.dtype)
    m.params["weight_v"] = w.copy()
    m.params["weight_g"] = np.linalg.norm(w, axis=1, keepdims=True)
    if linear.has_bias:
        m.params["bias"] = linear.params["bias"].copy()
    return m
