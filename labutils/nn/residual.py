"""Skip connections: the residual block and the highway layer. torch has neither; the tests
compare each with the same formula written in torch and differentiated by autograd.

residual   y = x + f(x)                      dx = dy + (dy back through f)
highway    y = t ⊙ h + (1 − t) ⊙ x,  h = relu(W_H x + b_H),  t = σ(W_T x + b_T)
           dh = dy ⊙ t,   dt = dy ⊙ (h − x),   dx = dy ⊙ (1 − t) + (dh, dt back through
           their layers)
The carry path (1 − t) ⊙ x is what lets gradients through a deep stack: where the gate is
nearly closed (t ≈ 0) the layer is nearly the identity and dx ≈ dy.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import validate
from ..module import Module
from .activation import ReLU, Sigmoid
from .feedforward import FeedForward, SpatialGatingUnit  # noqa: F401  (their home was this file)
from .linear import Linear
from .moe import MixtureOfExperts  # noqa: F401  (likewise)

__all__ = ["HighwayCache", "highway_forward", "highway_backward", "Residual", "Highway"]


class HighwayCache(NamedTuple):
    x: np.ndarray
    h: np.ndarray
    t: np.ndarray


def highway_forward(x: np.ndarray, h: np.ndarray, t: np.ndarray
                    ) -> tuple[np.ndarray, HighwayCache]:
    """Mix the transform h and the carried input x by the gate t. x, h, t -> y: (*, features)."""
    validate.array(x, "highway_forward", "x", min_ndim=1)
    for name, a in (("h", h), ("t", t)):
        validate.array(a, "highway_forward", name)
        if a.shape != x.shape:
            raise ValueError(f"highway_forward: {name} must have x's shape {x.shape}, "
                             f"got {a.shape}")
    return _highway_forward(x, h, t)


def _highway_forward(x: np.ndarray, h: np.ndarray, t: np.ndarray
                     ) -> tuple[np.ndarray, HighwayCache]:
    return t * h + (1 - t) * x, HighwayCache(x, h, t)


def highway_backward(dy: np.ndarray, cache: HighwayCache
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dy: (*, features) -> (dx through the carry path only, dh, dt), each (*, features)."""
    if not isinstance(cache, HighwayCache):
        raise TypeError(f"highway_backward: cache must be the HighwayCache that highway_forward "
                        f"returned, got {type(cache).__name__}")
    validate.grad(dy, cache.x.shape, "highway_backward", "dy")
    return _highway_backward(dy, cache)


def _highway_backward(dy: np.ndarray, cache: HighwayCache
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, h, t = cache
    return dy * (1 - t), dy * t, dy * (h - x)


class Residual(Module):
    """y = x + f(x)                 dx = dy + f.backward(dy)       x, y: same shape"""

    def __init__(self, module: Module) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"Residual: module must be a labutils Module, "
                            f"got {type(module).__name__}")
        self.module, self._shape = module, None

    def forward(self, x: np.ndarray) -> np.ndarray:
        validate.array(x, "Residual", "input")
        y = self.module(x)
        if y.shape != x.shape:
            raise ValueError(f"Residual: the wrapped module must keep the input's shape "
                             f"{x.shape}, got {y.shape}")
        self._shape = x.shape
        return x + y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        validate.grad(dy, validate.forward_called("Residual", self._shape), "Residual")
        return dy + self.module.backward(dy)


class Highway(Module):
    """x, y: (*, features). The gate bias starts at ``gate_bias`` (negative): t ≈ σ(−2) ≈ 0.12,
    so the layer starts close to the identity and gradients pass through the carry path."""

    def __init__(self, features: int, gate_bias: float = -2.0,
                 rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        super().__init__()
        features = validate.positive_int(features, "Highway", "features")
        gate_bias = validate.number(gate_bias, "Highway", "gate_bias")
        validate.generator(rng, "Highway")
        self.transform, self.act = Linear(features, features, rng=rng, dtype=dtype), ReLU()
        self.gate, self.sigmoid = Linear(features, features, rng=rng, dtype=dtype), Sigmoid()
        self.gate.params["bias"][...] = gate_bias
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        validate.array(x, "Highway", "input", min_ndim=1, shape=(self.gate.in_features,))
        h = self.act(self.transform(x))
        t = self.sigmoid(self.gate(x))
        y, self._cache = _highway_forward(x, h, t)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        cache = validate.forward_called("Highway", self._cache)
        validate.grad(dy, cache.x.shape, "Highway")
        dx, dh, dt = _highway_backward(dy, cache)
        dx_h = self.transform.backward(self.act.backward(dh))
        dx_t = self.gate.backward(self.sigmoid.backward(dt))
        return dx + dx_h + dx_t
