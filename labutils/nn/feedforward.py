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
from .linear import Linear, LinearCache, linear_backward, linear_forward
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
    gate_t, mix = linear_forward(v_hat.swapaxes(1, 2), weight, bias)   # mix along positions
    gate = gate_t.swapaxes(1, 2)
    return u * gate, SpatialGatingCache(u, gate, mix)


def spatial_gating_backward(dy: np.ndarray, cache: SpatialGatingCache) -> dict[str, np.ndarray]:
    """dy: (N, seq_len, d) -> {"u", "v_hat": (N, seq_len, d), "weight", "bias"}."""
    grads = linear_backward((dy * cache.u).swapaxes(1, 2), cache.mix)
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
        self.d_ffn, self.seq_len = d_ffn, seq_len
        self.norm = LayerNorm(d_ffn // 2, dtype=dtype)
        self.proj = Linear(seq_len, seq_len, rng=rng, dtype=dtype)
        self.proj.params["weight"][...] *= init_scale * np.sqrt(seq_len)
        self.proj.params["bias"][...] = 1.0
        self._cache = None

    def forward(self, z: np.ndarray) -> np.ndarray:
        validate.array(z, "SpatialGatingUnit", "input", ndim=3, shape=(self.seq_len, self.d_ffn))
        u, v = np.split(z, 2, axis=-1)
        y, self._cache = spatial_gating_forward(u, self.norm(v), self.proj.params["weight"],
                                                self.proj.params["bias"])
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        cache = validate.forward_called("SpatialGatingUnit", self._cache)
        validate.grad(dy, cache.u.shape, "SpatialGatingUnit")
        grads = spatial_gating_backward(dy, cache)
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
        acts = {"relu": ReLU, "gelu": GELU}
        if activation not in acts:
            raise ValueError(f"FeedForward: activation must be 'relu' or 'gelu', got {activation!r}")
        self.linear1 = Linear(d_model, dim_feedforward, rng=rng, dtype=dtype)
        self.activation = acts[activation]()
        self.dropout = Dropout(dropout, rng=rng)
        self.linear2 = Linear(dim_feedforward, d_model, rng=rng, dtype=dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.linear2(self.dropout(self.activation(self.linear1(x))))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self.linear1.backward(self.activation.backward(
            self.dropout.backward(self.linear2.backward(dy))))
