"""Multi-head attention (torch.nn.MultiheadAttention), written with the pairs of ``heads``
(input projection, split and merge) and ``attention`` (dot score, safe softmax).

    q, k, v = in_projection(query, key, value)           each (N, T, E), then split into H
                                                          heads of d = E/H:  (N, H, T, d)
    A_h = safe_softmax(q_h k_hᵀ / √d + bias)               O_h = dropout(A_h) v_h
    attn_output = out_proj(merge_heads(O))                (N, Tq, E)

backward, in reverse: out_proj, then per head dO -> (dA, dv) as in ``attend_backward`` (through
the dropout), dA -> dscores (softmax backward), dscores -> (dq, dk) (``dot_score_backward``),
merge the heads, and ``in_projection_backward`` gives the input and weight gradients.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import init, validate
from ..module import Module
from .attention import (DotScoreCache, dot_score_backward, dot_score_forward, safe_softmax,
                        safe_softmax_backward)
from .dropout import Dropout
from .heads import (InProjectionCache, in_projection, in_projection_backward, merge_heads,
                    split_heads)
from .linear import Linear
from .masks import attention_bias, causal_mask

__all__ = ["MultiheadAttention"]


class _MHACache(NamedTuple):
    projection: InProjectionCache
    score: DotScoreCache       # of the heads: q, k (N, H, T, d)
    weights: np.ndarray        # A (N, H, Tq, Tk)
    dropped: np.ndarray        # dropout(A)
    value: np.ndarray          # v split into heads (N, H, Tk, d)
    average: bool
    need_weights: bool


class MultiheadAttention(Module):
    """torch.nn.MultiheadAttention (kdim = vdim = embed_dim; no add_bias_kv / add_zero_attn).

    query: (N, Tq, E), key: (N, Tk, E), value: (N, Tk, E) with batch_first=True
    (else (T, N, E)) -> attn_output: same layout as query, attn_weights: (N, Tq, Tk) averaged
    over heads (or (N, H, Tq, Tk) with average_attn_weights=False; None if not need_weights).

    params: in_proj_weight (3E, E) = [W_q; W_k; W_v],  in_proj_bias (3E,),
            out_proj.weight (E, E), out_proj.bias (E,)
    key_padding_mask: (N, Tk), attn_mask: (Tq, Tk) or (N·H, Tq, Tk); bool True = MASKED OUT,
    or float added to the scores. is_causal=True with no attn_mask uses causal_mask(Tq, Tk).

    A fully masked query row gives A = 0, so attn_output = out_proj.bias there; torch does the
    same with need_weights=False and returns NaN with need_weights=True.
    backward(dout, dweights=None) -> (dquery, dkey, dvalue); it also leaves dL/dscores
    (N, H, Tq, Tk) in ``score_grad`` (the gradient of a float attn_mask, e.g. a learned bias).
    ``last_attention``: the per-head weights (N, H, Tq, Tk) of the last forward.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False, rng: np.random.Generator | None = None,
                 dtype: type = np.float64) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible "
                             f"by num_heads ({num_heads})")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.batch_first, self.has_bias = batch_first, bias
        self.add_param("in_proj_weight", init.xavier_uniform((3 * embed_dim, embed_dim), rng=rng,
                                                             dtype=dtype))
        if bias:
            self.add_param("in_proj_bias", np.zeros(3 * embed_dim, dtype))
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, rng=rng, dtype=dtype)
        if bias:
            self.out_proj.params["bias"][...] = 0
        self.dropout = Dropout(dropout, rng=rng)
        self._cache = None

    def split_heads(self, x: np.ndarray) -> np.ndarray:
        """(N, T, E) -> (N, H, T, d): ``heads.split_heads`` with this module's H."""
        return split_heads(x, self.num_heads)

    def merge_heads(self, x: np.ndarray) -> np.ndarray:
        """(N, H, T, d) -> (N, T, E): ``heads.merge_heads``."""
        return merge_heads(x)

    def _batch_first(self, query: np.ndarray, key: np.ndarray,
                     value: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        name, E = "MultiheadAttention", self.embed_dim
        for arg, x in (("query", query), ("key", key), ("value", value)):
            validate.array(x, name, arg, ndim=3, shape=(E,))
        if not self.batch_first:
            query, key, value = (x.swapaxes(0, 1) for x in (query, key, value))
        if key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]:
            layout = "(N, T, E)" if self.batch_first else "(T, N, E)"
            raise ValueError(f"{name}: query, key and value must share N and key/value their "
                             f"length, in layout {layout}; got query {query.shape}, key "
                             f"{key.shape}, value {value.shape} (batch-first view)")
        return query, key, value

    def forward(self, query: np.ndarray, key: np.ndarray, value: np.ndarray,
                key_padding_mask: np.ndarray | None = None, need_weights: bool = True,
                attn_mask: np.ndarray | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        query, key, value = self._batch_first(query, key, value)
        (N, tq, _), tk = query.shape, key.shape[1]
        if attn_mask is None and is_causal:
            attn_mask = causal_mask(tq, tk)
        bias = attention_bias("MultiheadAttention", (N, tq, tk), query.dtype, key_padding_mask,
                              attn_mask, num_heads=self.num_heads)
        projected, projection = in_projection(query, key, value, self.params["in_proj_weight"],
                                              self.params.get("in_proj_bias"))
        q, k, v = (split_heads(p, self.num_heads) for p in projected)
        scores, score = dot_score_forward(q, k, 1 / math.sqrt(self.head_dim))
        a = safe_softmax(scores + bias)
        a_drop = self.dropout(a)
        out = self.out_proj(merge_heads(a_drop @ v))
        self._cache = _MHACache(projection, score, a, a_drop, v, average_attn_weights,
                                need_weights)
        if not self.batch_first:
            out = out.swapaxes(0, 1)
        if not need_weights:
            return out, None
        return out, (a_drop.mean(axis=1) if average_attn_weights else a_drop)

    def backward(self, dout: np.ndarray,
                 dweights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        name = "MultiheadAttention"
        c = validate.forward_called(name, self._cache)
        query = c.projection.inputs[0]
        if not self.batch_first:
            validate.grad(dout, query.swapaxes(0, 1).shape, name, "dout")
            dout = dout.swapaxes(0, 1)
        validate.grad(dout, query.shape, name, "dout")
        do = split_heads(self.out_proj.backward(dout), self.num_heads)      # (N, H, Tq, d)
        da_drop = do @ c.value.swapaxes(-1, -2)
        dv = c.dropped.swapaxes(-1, -2) @ do
        if dweights is not None and c.need_weights:
            a = c.weights
            shape = (a.shape[0],) + a.shape[2:] if c.average else a.shape
            validate.grad(dweights, shape, name, "dweights")
            da_drop = da_drop + (dweights[:, None] / self.num_heads if c.average else dweights)
        ds = safe_softmax_backward(c.weights, self.dropout.backward(da_drop))
        self.score_grad = ds                                           # dL/d(scores + bias)
        dq, dk = dot_score_backward(ds, c.score)
        dinputs, dweight, dbias = in_projection_backward(
            tuple(merge_heads(d) for d in (dq, dk, dv)), c.projection)
        self.grads["in_proj_weight"] += dweight
        if self.has_bias:
            self.grads["in_proj_bias"] += dbias
        return tuple(dx if self.batch_first else dx.swapaxes(0, 1) for dx in dinputs)

    @property
    def last_attention(self) -> np.ndarray | None:
        """Per-head weights (N, H, Tq, Tk) of the last forward (None before any)."""
        return None if self._cache is None else self._cache.weights

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"batch_first={self.batch_first}")
