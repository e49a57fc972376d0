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
import numpy as np

from .. import init
from .. import validate
from ..module import Module

__all__ = ["sinusoidal_encoding", "rotation_matrix", "SinusoidalPositionalEncoding", "Embedding",
           "LearnedPositionalEmbedding", "RelativePositionBias"]


def sinusoidal_encoding(num_positions, d_model, base=10000.0, dtype=np.float64):
    """(num_positions, d_model) table: even columns sin(ω_i t), odd columns cos(ω_i t)."""
    if d_model < 2 or d_model % 2:
        raise ValueError(f"sinusoidal_encoding: d_model must be even and >= 2, got {d_model}")
    if num_positions < 0:
        raise ValueError(f"sinusoidal_encoding: num_positions must be >= 0, got {num_positions}")
    t = np.arange(num_positions)[:, None]
    omega = base ** (-np.arange(0, d_model, 2) / d_model)
    pe = np.empty((num_positions, d_model))
    pe[:, 0::2] = np.sin(omega * t)
    pe[:, 1::2] = np.cos(omega * t)
    return pe.astype(dtype)


def rotation_matrix(k, d_model, base=10000.0):
    """R_k (d_model, d_model) with PE(t + k) = R_k PE(t) for every t (column vectors).

    For a pair (s, c) = (sin ωt, cos ωt):  sin ω(t+k) = s cos ωk + c sin ωk,
                                           cos ω(t+k) = c cos ωk − s sin ωk.
    """
    omega = base ** (-np.arange(0, d_model, 2) / d_model)
    R = np.zeros((d_model, d_model))
    for i, w in enumerate(omega):
        c, s = np.cos(w * k), np.sin(w * k)
        R[2 * i:2 * i + 2, 2 * i:2 * i + 2] = [[c, s], [-s, c]]
    return R


class SinusoidalPositionalEncoding(Module):
    """y = x + PE[:T] (no parameters).  x: (N, T, d_model) -> y: (N, T, d_model);  dx = dy.

    ``offset`` shifts the positions (cached decoding: the new tokens start at ``offset``)."""

    def __init__(self, d_model, max_len=512, base=10000.0, dtype=np.float64):
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        self.add_buffer("pe", sinusoidal_encoding(max_len, d_model, base, dtype))
        self._shape = None

    def forward(self, x, offset=0):
        validate.array(x, "SinusoidalPositionalEncoding", "input", ndim=3, shape=(self.d_model,))
        T = x.shape[1]
        if offset + T > self.max_len:
            raise ValueError(f"SinusoidalPositionalEncoding: positions up to {offset + T} "
                             f"exceed max_len={self.max_len}")
        self._shape = x.shape
        return x + self.buffers["pe"][offset:offset + T].astype(x.dtype)

    def backward(self, dy):
        shape = validate.forward_called("SinusoidalPositionalEncoding", self._shape)
        return validate.grad(dy, shape, "SinusoidalPositionalEncoding")

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}"


class Embedding(Module):
    """torch.nn.Embedding: a lookup table.  indices: (*) int -> y: (*, embedding_dim)

    weight: (num_embeddings, embedding_dim), initialised N(0, 1) as torch (the padding_idx
    row is zero and gets no gradient).  backward: dW[idx] += dy (scatter-add, repeated
    indices add up); no gradient for the integer input (returns None)."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, rng=None,
                 dtype=np.float64):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None and padding_idx < 0:
            padding_idx += num_embeddings
        self.padding_idx = padding_idx
        w = init.get_rng(rng).standard_normal((num_embeddings, embedding_dim)).astype(dtype)
        if padding_idx is not None:
            w[padding_idx] = 0
        self.add_param("weight", w)
        self._idx = None

    def forward(self, indices):
        validate.array(indices, "Embedding", "indices", dtype="int")
        if indices.size and (indices.min() < 0 or indices.max() >= self.num_embeddings):
            raise ValueError(f"Embedding: indices must be in [0, {self.num_embeddings}), got "
                             f"values from {indices.min()} to {indices.max()}")
        self._idx = indices
        return self.params["weight"][indices]

    def backward(self, dy):
        idx = validate.forward_called("Embedding", self._idx)
        validate.grad(dy, idx.shape + (self.embedding_dim,), "Embedding")
        g = np.zeros_like(self.grads["weight"])
        np.add.at(g, idx.reshape(-1), dy.reshape(-1, self.embedding_dim))
        if self.padding_idx is not None:
            g[self.padding_idx] = 0
        self.grads["weight"] += g
        return None

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class LearnedPositionalEmbedding(Module):
    """y = x + P[offset : offset + T], P a learned ``Embedding(max_len, d_model)`` (as BERT/GPT).

    x: (N, T, d_model) -> y: same;  dx = dy;  dP[t] += Σ_n dy[n, t]."""

    def __init__(self, max_len, d_model, rng=None, dtype=np.float64):
        super().__init__()
        self.max_len, self.d_model = max_len, d_model
        self.embedding = Embedding(max_len, d_model, rng=rng, dtype=dtype)
        self._shape = None

    def forward(self, x, offset=0):
        validate.array(x, "LearnedPositionalEmbedding", "input", ndim=3, shape=(self.d_model,))
        if offset + x.shape[1] > self.max_len:
            raise ValueError(f"LearnedPositionalEmbedding: positions up to {offset + x.shape[1]}"
                             f" exceed max_len={self.max_len} (a learned table cannot "
                             f"extrapolate, unlike the sinusoidal one)")
        self._shape = x.shape
        pos = np.arange(offset, offset + x.shape[1])
        return x + self.embedding(pos)[None]

    def backward(self, dy):
        shape = validate.forward_called("LearnedPositionalEmbedding", self._shape)
        validate.grad(dy, shape, "LearnedPositionalEmbedding")
        self.embedding.backward(dy.sum(axis=0))
        return dy


class RelativePositionBias(Module):
    """A learned bias per head and relative distance, added to the attention scores.

        bias[h, i, j] = weight[clip(j − i, −max_distance, max_distance) + max_distance, h]

    forward(tq, tk) -> bias: (num_heads, tq, tk). Queries are aligned to the END of the keys
    (query i sits at position i + tk − tq), as in cached decoding.
    weight: (2·max_distance + 1, num_heads), initialised at 0 (no preference at the start).
    backward(dbias (num_heads, tq, tk)) scatter-adds into weight; returns None.

    Use with MultiheadAttention: pass ``np.tile(bias, (N, 1, 1))`` as a float attn_mask
    (N·H, tq, tk); after ``mha.backward``, ``mha.score_grad`` (N, H, tq, tk) is dL/dscores, and
    ``bias_module.backward(mha.score_grad.sum(axis=0))`` trains the bias.
    """

    def __init__(self, num_heads, max_distance, dtype=np.float64):
        super().__init__()
        self.num_heads, self.max_distance = num_heads, max_distance
        self.add_param("weight", np.zeros((2 * max_distance + 1, num_heads), dtype))
        self._idx = None

    def buckets(self, tq, tk):
        i = np.arange(tq)[:, None] + (tk - tq)
        j = np.arange(tk)[None, :]
        return np.clip(j - i, -self.max_distance, self.max_distance) + self.max_distance

    def forward(self, tq, tk=None):
        tk = tq if tk is None else tk
        for name, v in (("tq", tq), ("tk", tk)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"RelativePositionBias: {name} must be a positive int, got {v!r}")
        self._idx = self.buckets(tq, tk)
        return np.moveaxis(self.params["weight"][self._idx], -1, 0)

    def backward(self, dbias):
        idx = validate.forward_called("RelativePositionBias", self._idx)
        validate.grad(dbias, (self.num_heads,) + idx.shape, "RelativePositionBias", "dbias")
        np.add.at(self.grads["weight"], idx.reshape(-1),
                  np.moveaxis(dbias, 0, -1).reshape(-1, self.num_heads))
        return None

    def extra_repr(self):
        return f"num_heads={self.num_heads}, max_distance={self.max_distance}"
