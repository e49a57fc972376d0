"""Positions for attention, which by itself ignores order (it is permutation-equivariant).

Sinusoidal encoding (Vaswani et al., 2017), for positions t and pair index i = 0 .. d/2 − 1:

    PE[t, 2i]   = sin(ω_i t)        ω_i = base^(−2i/d)     (base = 10000)
    PE[t, 2i+1] = cos(ω_i t)

The pair i is a point on a circle turning at angular speed ω_i, so a shift by k positions is a
rotation that does not depend on t:  PE(t + k) = R_k PE(t), R_k block-diagonal with 2x2 blocks
[[cos ω_i k, sin ω_i k], [−sin ω_i k, cos ω_i k]], and
PE(t)·PE(s) = Σ_i cos(ω_i (t − s)) depends only on the distance t − s.

Learned absolute positions: an ``Embedding`` row per position, added to the token embedding.
Relative position bias: a learned scalar per head and clipped distance j − i, added to the
attention scores (as in T5 and Shaw et al.; here without T5's logarithmic buckets).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import validate
from ..module import Module
from .embedding import Embedding

__all__ = ["sinusoidal_encoding", "rotation_matrix", "SinusoidalPositionalEncoding",
           "LearnedPositionalEmbedding", "RelativePositionCache", "relative_position_bias_forward",
           "relative_position_bias_backward", "RelativePositionBias"]


def sinusoidal_encoding(num_positions: int, d_model: int, base: float = 10000.0,
                        dtype: type = np.float64) -> np.ndarray:
    """(num_positions, d_model) table: even columns sin(ω_i t), odd columns cos(ω_i t)."""
    num_positions = validate.positive_int(num_positions, "sinusoidal_encoding", "num_positions",
                                          minimum=0)
    d_model, base = check_table("sinusoidal_encoding", d_model, base)
    t = np.arange(num_positions)[:, None]
    omega = base ** (-np.arange(0, d_model, 2) / d_model)
    pe = np.empty((num_positions, d_model))
    pe[:, 0::2] = np.sin(omega * t)
    pe[:, 1::2] = np.cos(omega * t)
    return pe.astype(dtype)


def rotation_matrix(k: int, d_model: int, base: float = 10000.0) -> np.ndarray:
    """R_k (d_model, d_model) with PE(t + k) = R_k PE(t) for every t (column vectors).

    For a pair (s, c) = (sin ωt, cos ωt):  sin ω(t+k) = s cos ωk + c sin ωk,
                                           cos ω(t+k) = c cos ωk − s sin ωk.
    """
    k = validate.number(k, "rotation_matrix", "k")
    d_model, base = check_table("rotation_matrix", d_model, base)
    omega = base ** (-np.arange(0, d_model, 2) / d_model)
    R = np.zeros((d_model, d_model))
    for i, w in enumerate(omega):
        c, s = np.cos(w * k), np.sin(w * k)
        R[2 * i:2 * i + 2, 2 * i:2 * i + 2] = [[c, s], [-s, c]]
    return R


def check_table(owner: str, d_model: object, base: object) -> tuple[int, float]:
    """d_model an even positive int, base a finite number > 0."""
    d_model = validate.positive_int(d_model, owner, "d_model")
    if d_model % 2:
        raise ValueError(f"{owner}: d_model must be even (sin and cos pairs), got {d_model}")
    return d_model, validate.number(base, owner, "base", low=0, open_low=True)


def check_offset(owner: str, offset: object, T: int, max_len: int, hint: str = "") -> int:
    """An int >= 0 with offset + T <= max_len."""
    offset = validate.positive_int(offset, owner, "offset", minimum=0)
    if offset + T > max_len:
        raise ValueError(f"{owner}: positions offset + T must be <= max_len = {max_len}, got "
                         f"{offset} + {T} = {offset + T} (the input's T is its axis 1){hint}")
    return offset


class RelativePositionCache(NamedTuple):
    buckets: np.ndarray       # (tq, tk) int: the row of weight each (i, j) reads
    num_buckets: int


def relative_position_bias_forward(weight: np.ndarray, tq: int, tk: int,
                                   max_distance: int) -> tuple[np.ndarray, RelativePositionCache]:
    """bias[h, i, j] = weight[clip(j − i, −D, D) + D, h], D = max_distance, query i at position
    i + tk − tq (aligned to the END of the keys, as in cached decoding).
    weight (2D + 1, H) -> bias (H, tq, tk)."""
    owner = "relative_position_bias_forward"
    tq, tk = (validate.positive_int(v, owner, n) for n, v in (("tq", tq), ("tk", tk)))
    max_distance = validate.positive_int(max_distance, owner, "max_distance", minimum=0)
    validate.array(weight, owner, "weight", ndim=2, shape=(2 * max_distance + 1, None))
    return _bias(weight, tq, tk, max_distance)


def _bias(weight: np.ndarray, tq: int, tk: int,
          max_distance: int) -> tuple[np.ndarray, RelativePositionCache]:
    i = np.arange(tq)[:, None] + (tk - tq)
    j = np.arange(tk)[None, :]
    buckets = np.clip(j - i, -max_distance, max_distance) + max_distance
    return np.moveaxis(weight[buckets], -1, 0), RelativePositionCache(buckets, weight.shape[0])


def relative_position_bias_backward(dbias: np.ndarray,
                                    cache: RelativePositionCache) -> np.ndarray:
    """dbias (H, tq, tk) -> dweight (2D + 1, H): each bucket sums the dbias of its (i, j)."""
    if not isinstance(cache, RelativePositionCache):
        raise TypeError(f"relative_position_bias_backward: cache must be what "
                        f"relative_position_bias_forward returned (RelativePositionCache), "
                        f"got {type(cache).__name__}")
    validate.array(dbias, "relative_position_bias_backward", "dbias", ndim=3,
                   shape=cache.buckets.shape)
    return _bias_backward(dbias, cache)


def _bias_backward(dbias: np.ndarray, cache: RelativePositionCache) -> np.ndarray:
    H = dbias.shape[0]
    dweight = np.zeros((cache.num_buckets, H), dbias.dtype)
    np.add.at(dweight, cache.buckets.reshape(-1), np.moveaxis(dbias, 0, -1).reshape(-1, H))
    return dweight


class SinusoidalPositionalEncoding(Module):
    """y = x + PE[:T] (no parameters).  x: (N, T, d_model) -> y: (N, T, d_model);  dx = dy.

    ``offset`` shifts the positions (cached decoding: the new tokens start at ``offset``)."""

    def __init__(self, d_model: int, max_len: int = 512, base: float = 10000.0,
                 dtype: type = np.float64) -> None:
        super().__init__()
        d_model, base = check_table("SinusoidalPositionalEncoding", d_model, base)
        max_len = validate.positive_int(max_len, "SinusoidalPositionalEncoding", "max_len")
        self.d_model, self.max_len = d_model, max_len
        self.add_buffer("pe", sinusoidal_encoding(max_len, d_model, base, dtype))
        self._shape = None

    def forward(self, x: np.ndarray, offset: int = 0) -> np.ndarray:
        validate.array(x, "SinusoidalPositionalEncoding", "input", ndim=3, shape=(self.d_model,))
        T = x.shape[1]
        check_offset("SinusoidalPositionalEncoding", offset, T, self.max_len)
        self._shape = x.shape
        return x + self.buffers["pe"][offset:offset + T].astype(x.dtype)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        shape = validate.forward_called("SinusoidalPositionalEncoding", self._shape)
        return validate.grad(dy, shape, "SinusoidalPositionalEncoding")

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}"


class LearnedPositionalEmbedding(Module):
    """y = x + P[offset : offset + T], P a learned ``Embedding(max_len, d_model)`` (as BERT/GPT).

    x: (N, T, d_model) -> y: same;  dx = dy;  dP[t] += Σ_n dy[n, t]."""

    def __init__(self, max_len: int, d_model: int, rng: np.random.Generator | None = None,
                 dtype: type = np.float64) -> None:
        super().__init__()
        max_len, d_model = (validate.positive_int(v, "LearnedPositionalEmbedding", n)
                            for n, v in (("max_len", max_len), ("d_model", d_model)))
        validate.generator(rng, "LearnedPositionalEmbedding")
        self.max_len, self.d_model = max_len, d_model
        self.embedding = Embedding(max_len, d_model, rng=rng, dtype=dtype)
        self._shape = None

    def forward(self, x: np.ndarray, offset: int = 0) -> np.ndarray:
        validate.array(x, "LearnedPositionalEmbedding", "input", ndim=3, shape=(self.d_model,))
        check_offset("LearnedPositionalEmbedding", offset, x.shape[1], self.max_len,
                     "; a learned table cannot extrapolate, unlike the sinusoidal one")
        self._shape = x.shape
        pos = np.arange(offset, offset + x.shape[1])
        return x + self.embedding(pos)[None]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        shape = validate.forward_called("LearnedPositionalEmbedding", self._shape)
        validate.grad(dy, shape, "LearnedPositionalEmbedding")
        self.embedding.backward(dy.sum(axis=0))
        return dy


class RelativePositionBias(Module):
    """A learned bias per head and relative distance, added to the attention scores
    (``relative_position_bias_forward/backward``).

        bias[h, i, j] = weight[clip(j − i, −max_distance, max_distance) + max_distance, h]

    forward(tq, tk) -> bias: (num_heads, tq, tk). Queries are aligned to the END of the keys
    (query i sits at position i + tk − tq), as in cached decoding.
    weight: (2·max_distance + 1, num_heads), initialised at 0 (no preference at the start).
    backward(dbias (num_heads, tq, tk)) scatter-adds into weight; returns None.

    Use with MultiheadAttention: pass ``np.tile(bias, (N, 1, 1))`` as a float attn_mask
    (N·H, tq, tk); after ``mha.backward``, ``mha.score_grad`` (N, H, tq, tk) is dL/dscores, and
    ``bias_module.backward(mha.score_grad.sum(axis=0))`` trains the bias.
    """

    def __init__(self, num_heads: int, max_distance: int, dtype: type = np.float64) -> None:
        super().__init__()
        num_heads = validate.positive_int(num_heads, "RelativePositionBias", "num_heads")
        max_distance = validate.positive_int(max_distance, "RelativePositionBias", "max_distance",
                                             minimum=0)
        self.num_heads, self.max_distance = num_heads, max_distance
        self.add_param("weight", np.zeros((2 * max_distance + 1, num_heads), dtype))
        self._cache = None

    def buckets(self, tq: int, tk: int) -> np.ndarray:
        """(tq, tk) int: the row of weight that each (query, key) pair reads."""
        return _bias(self.params["weight"], *self._sizes(tq, tk), self.max_distance)[1].buckets

    def _sizes(self, tq: object, tk: object) -> tuple[int, int]:
        tk = tq if tk is None else tk
        return (validate.positive_int(tq, "RelativePositionBias", "tq"),
                validate.positive_int(tk, "RelativePositionBias", "tk"))

    def forward(self, tq: int, tk: int | None = None) -> np.ndarray:
        bias, self._cache = _bias(self.params["weight"], *self._sizes(tq, tk), self.max_distance)
        return bias

    def backward(self, dbias: np.ndarray) -> None:
        cache = validate.forward_called("RelativePositionBias", self._cache)
        validate.grad(dbias, (self.num_heads,) + cache.buckets.shape, "RelativePositionBias",
                      "the grad dbias")
        self.grads["weight"] += _bias_backward(dbias, cache)
        return None

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, max_distance={self.max_distance}"
