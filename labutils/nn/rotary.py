"""Rotary position embeddings (RoPE; Su et al., 2021): positions as rotations of q and k.

Instead of adding a position vector to the input, rotate each (even, odd) feature pair of a
query or key at position t by the angle t·ω_i, with the frequencies of the sinusoidal table
(ω_i = base^(−2i/d), i = 0 .. d/2 − 1):

    y[2i]   = x[2i] cos(tω_i) − x[2i+1] sin(tω_i)
    y[2i+1] = x[2i] sin(tω_i) + x[2i+1] cos(tω_i)

that is y = R(t) x with R(t) block-diagonal and orthogonal, R(t)ᵀ R(s) = R(s − t). A query at
position m and a key at position n then score  (R(m) q)·(R(n) k) = q·R(n − m) k,  a function of
the offset n − m only: relative positions without a learned table, and for any length.

Backward: y = R(t) x is linear with an orthogonal matrix, so dx = R(t)ᵀ dy = R(−t) dy (the
rotation by the opposite angle).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import validate
from ..module import Module

__all__ = ["RotaryCache", "rotary_forward", "rotary_backward", "RotaryEmbedding"]


class RotaryCache(NamedTuple):
    cos: np.ndarray       # (T, d/2): cos(t ω_i)
    sin: np.ndarray       # (T, d/2): sin(t ω_i)


def _rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    even, odd = x[..., 0::2], x[..., 1::2]
    y = np.empty_like(x)
    y[..., 0::2] = even * cos - odd * sin
    y[..., 1::2] = even * sin + odd * cos
    return y


def rotary_forward(x: np.ndarray, positions: np.ndarray, base: float = 10000.0
                   ) -> tuple[np.ndarray, RotaryCache]:
    """x: (..., T, d) with d even, positions: (T,) -> y: (..., T, d), each pair of features of
    token t rotated by the angle positions[t]·ω_i."""
    owner = "rotary_forward"
    validate.array(x, owner, "x", min_ndim=2)
    if x.shape[-1] % 2:
        raise ValueError(f"{owner}: x must have an even feature size d (its last axis), got "
                         f"shape {x.shape}")
    validate.array(positions, owner, "positions", ndim=1, dtype=None)
    if positions.dtype.kind not in "iuf" or positions.shape[0] != x.shape[-2]:
        raise ValueError(f"{owner}: positions must be numbers of shape (T,) = (x.shape[-2],) = "
                         f"({x.shape[-2]},), got {positions.dtype} of shape {positions.shape}")
    base = validate.number(base, owner, "base", low=0, open_low=True)
    return _rotary(x, positions, base)


def _rotary(x: np.ndarray, positions: np.ndarray, base: float) -> tuple[np.ndarray, RotaryCache]:
    d = x.shape[-1]
    omega = base ** (-np.arange(0, d, 2) / d)
    angles = np.asarray(positions, dtype=np.float64)[:, None] * omega
    cache = RotaryCache(np.cos(angles), np.sin(angles))
    return _rotate(x, cache.cos, cache.sin), cache


def rotary_backward(dy: np.ndarray, cache: RotaryCache) -> np.ndarray:
    """dy: (..., T, d) -> dx = R(−t) dy, the transposed (inverse) rotation."""
    if not isinstance(cache, RotaryCache):
        raise TypeError(f"rotary_backward: cache must be what rotary_forward returned "
                        f"(RotaryCache), got {type(cache).__name__}")
    T, half = cache.cos.shape
    validate.array(dy, "rotary_backward", "dy", min_ndim=2, shape=(T, 2 * half))
    return _rotate(dy, cache.cos, -cache.sin)


class RotaryEmbedding(Module):
    """y = R(offset + t) x for the tokens t = 0 .. T−1 of x (no parameters).

    x: (..., T, d) -> y: (..., T, d). Apply it to the queries and the keys (per head), never to
    the values. ``offset``: the position of the first token (cached decoding)."""

    def __init__(self, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        self.dim = validate.positive_int(dim, "RotaryEmbedding", "dim")
        if dim % 2:
            raise ValueError(f"RotaryEmbedding: dim must be even, got {dim}")
        self.base = validate.number(base, "RotaryEmbedding", "base", low=0, open_low=True)
        self._cache = None

    def forward(self, x: np.ndarray, offset: int = 0) -> np.ndarray:
        validate.array(x, "RotaryEmbedding", "input", min_ndim=2, shape=(self.dim,))
        offset = validate.positive_int(offset, "RotaryEmbedding", "offset", minimum=0)
        y, cache = _rotary(x, offset + np.arange(x.shape[-2]), self.base)
        self._cache = (cache, x.shape)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        cache, shape = validate.forward_called("RotaryEmbedding", self._cache)
        validate.grad(dy, shape, "RotaryEmbedding")
        return _rotate(dy, cache.cos, -cache.sin)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, base={self.base}"
