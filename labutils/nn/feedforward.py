"""Position-wise feed-forward blocks: the transformer's two-layer MLP, and gMLP's spatial
gating unit (Liu et al., 2021), which mixes positions instead of channels.

feed-forward   y = linear2(dropout(act(linear1(x))))          x, y: (*, d_model)

spatial gating split the channels z = [u, v] in halves, then
               y = u ⊙ (W · LayerNorm(v) + b)                 W: (seq_len, seq_len)
               gate[n, i, d] = Σ_j W_ij v̂[n, j, d] + b_i      (a Linear along the positions)
  backward     du = dy ⊙ gate;   dgate = dy ⊙ u;   dv̂, dW, db from the Linear along positions;
               dv from dv̂ through the layer norm.
W starts near 0 and b at 1, so the unit starts as y ≈ u (close to a plain feed-forward network).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import validate
from ..module import Module
from .activation import GELU, ReLU
from .dropout import Dropout
from .linear import Linear, LinearCache, _linear_backward, _linear_forward
from .norm import LayerNorm

__all__ = ["SpatialGatingCache", "spatial_gating_forward", "spatial_gating_backward",
           "SpatialGatingUnit", "FeedForward"]


class SpatialGatingCache(NamedTuple):
    u: np.ndarray          # (N, seq_len, d)
    gate: np.ndarray       # (N, seq_len, d)
    mix: LinearCache       # the Linear along positions, on v̂ swapped to (N, d, seq_len)


def spatial_gating_forward(u: np.ndarray, v_hat: np.ndarray, weight: np.ndarray,
                           bias: np.ndarray) -> tuple[np.ndarray, SpatialGatingCache]:
    """u, v_hat: (N, seq_len, d); weight: (seq_len, seq_len); bias: (seq_len,)
    -> y: (N, seq_len, d)."""
    owner = "spatial_gating_forward"
    validate.array(u, owner, "u", ndim=3)
    validate.array(v_hat, owner, "v_hat", ndim=3)
    validate.array(weight, owner, "weight", ndim=2)
    validate.array(bias, owner, "bias", ndim=1)
    seq_len = u.shape[1]
    for name, a, want in (("v_hat", v_hat, u.shape), ("weight", weight, (seq_len, seq_len)),
                          ("bias", bias, (seq_len,))):
        if a.shape != want:
            raise ValueError(f"{owner}: {name} must have shape {want} to match u {u.shape} "
                             f"(N, seq_len, d), got {a.shape}")
    return _spatial_gating_forward(u, v_hat, weight, bias)


def _spatial_gating_forward(u: np.ndarray, v_hat: np.ndarray, weight: np.ndarray,
                            bias: np.ndarray) -> tuple[np.ndarray, SpatialGatingCache]:
    gate_t, mix = _linear_forward(v_hat.swapaxes(1, 2), weight, bias)   # mix along positions
    gate = gate_t.swapaxes(1, 2)
    return u * gate, SpatialGatingCache(u, gate, mix)


def spatial_gating_backward(dy: np.ndarray, cache: SpatialGatingCache) -> dict[str, np.ndarray]:
    """dy: (N, seq_len, d) -> {"u", "v_hat": (N, seq_len, d), "weight", "bias"}."""
    if not isinstance(cache, SpatialGatingCache):
        raise TypeError(f"spatial_gating_backward: cache must be the SpatialGatingCache that "
                        f"spatial_gating_forward returned, got {type(cache).__name__}")
    validate.grad(dy, cache.u.shape, "spatial_gating_backward", "dy")
    return _spatial_gating_backward(dy, cache)


def _spatial_gating_backward(dy: np.ndarray, cache: SpatialGatingCache) -> dict[str, np.ndarray]:
    grads = _linear_backward((dy * cache.u).swapaxes(1, 2), cache.mix)
    return {"u": dy * cache.gate, "v_hat": grads["x"].swapaxes(1, 2),
            "weight": grads["weight"], "bias": grads["bias"]}


class SpatialGatingUnit(Module):
    """z: (N, seq_len, d_ffn) -> y: (N, seq_len, d_ffn // 2); submodules norm and proj."""

    def __init__(self, d_ffn: int, seq_len: int, init_scale: float = 1e-3,
                 rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        super().__init__()
        d_ffn = validate.positive_int(d_ffn, "SpatialGatingUnit", "d_ffn")
        seq_len = validate.positive_int(seq_len, "SpatialGatingUnit", "seq_len")
        if d_ffn % 2:
            raise ValueError(f"SpatialGatingUnit: d_ffn must be even, got {d_ffn}")
        init_scale = validate.number(init_scale, "SpatialGatingUnit", "init_scale")
        validate.generator(rng, "SpatialGatingUnit")
        self.d_ffn, self.seq_len = d_ffn, seq_len
        self.norm = LayerNorm(d_ffn // 2, dtype=dtype)
        self.proj = Linear(seq_len, seq_len, rng=rng, dtype=dtype)
        self.proj.params["weight"][...] *= init_scale * np.sqrt(seq_len)
        self.proj.params["bias"][...] = 1.0
        self._cache = None

    def forward(self, z: np.ndarray) -> np.ndarray:
        validate.array(z, "SpatialGatingUnit", "input", ndim=3, shape=(self.seq_len, self.d_ffn))
        u, v = np.split(z, 2, axis=-1)
        y, self._cache = _spatial_gating_forward(u, self.norm(v), self.proj.params["weight"],
                                                self.proj.params["bias"])
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        cache = validate.forward_called("SpatialGatingUnit", self._cache)
        validate.grad(dy, cache.u.shape, "SpatialGatingUnit")
        grads = _spatial_gating_backward(dy, cache)
        self.proj.grads["weight"] += grads["weight"]
        self.proj.grads["bias"] += grads["bias"]
        return np.concatenate([grads["u"], self.norm.backward(grads["v_hat"])], axis=-1)


class FeedForward(Module):
    """The transformer's position-wise feed-forward block, with torch's layer names:

        y = linear2(dropout(act(linear1(x))))      x, y: (*, d_model); hidden: (*, dim_feedforward)
    """

    def __init__(self, d_model: int, dim_feedforward: int, dropout: float = 0.0,
                 activation: str = "relu", rng: np.random.Generator | None = None,
                 dtype: type = np.float64) -> None:
        super().__init__()
        d_model = validate.positive_int(d_model, "FeedForward", "d_model")
        dim_feedforward = validate.positive_int(dim_feedforward, "FeedForward", "dim_feedforward")
        dropout = validate.probability(dropout, "FeedForward", "dropout")
        validate.generator(rng, "FeedForward")
        acts = {"relu": ReLU, "gelu": GELU}
        if activation not in acts:
            raise ValueError(f"FeedForward: activation must be 'relu' or 'gelu', got {activation!r}")
        self.d_model, self._shape = d_model, None
        self.linear1 = Linear(d_model, dim_feedforward, rng=rng, dtype=dtype)
        self.activation = acts[activation]()
        self.dropout = Dropout(dropout, rng=rng)
        self.linear2 = Linear(dim_feedforward, d_model, rng=rng, dtype=dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        validate.array(x, "FeedForward", "input", min_ndim=1, shape=(self.d_model,))
        y = self.linear2(self.dropout(self.activation(self.linear1(x))))
        self._shape = x.shape
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        validate.grad(dy, validate.forward_called("FeedForward", self._shape), "FeedForward")
        return self.linear1.backward(self.activation.backward(
            self.dropout.backward(self.linear2.backward(dy))))
