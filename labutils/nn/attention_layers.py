"""The score-function attentions as modules: thin wrappers over the pairs of ``attention``.

    forward:   s = score(q, k) + bias;   context, w = attend(s, v)
    backward:  ds, dv = attend_backward(dcontext, dweights)
               dq, dk (and the parameter gradients) = score_backward(ds)

query: (N, Tq, Dq), key: (N, Tk, Dk), value: (N, Tk, Dv)
-> context (N, Tq, Dv), weights (N, Tq, Tk).
key_padding_mask: (N, Tk), attn_mask: (Tq, Tk) or (N, Tq, Tk); bool True = masked out (the
modules' convention, as torch.nn.MultiheadAttention), or float added to the scores.
backward(dcontext, dweights=None) -> (dquery, dkey, dvalue); parameter gradients accumulate.
"""
from __future__ import annotations

import math

import numpy as np

from .. import init, validate
from ..module import Module
from .attention import (additive_score_backward, additive_score_forward, attend_backward,
                        attend_forward, bilinear_score_backward, bilinear_score_forward,
                        dot_score_backward, dot_score_forward)
from .linear import Linear
from .masks import attention_bias

__all__ = ["AdditiveAttention", "BilinearAttention", "DotProductAttention",
           "ScaledDotProductAttention"]


class _ScoredAttention(Module):
    """Shared forward/backward: subclasses give ``_scores(q, k) -> (s, cache)`` and
    ``_scores_backward(ds, cache) -> (dq, dk)`` (adding parameter gradients)."""

    def __init__(self) -> None:
        super().__init__()
        self._cache = None

    def _dims(self, query: np.ndarray) -> tuple[int | None, int | None]:
        """The feature sizes (query_dim, key_dim) that the inputs must have."""
        return self.query_dim, self.key_dim

    def _check_inputs(self, query: np.ndarray, key: np.ndarray, value: np.ndarray) -> None:
        n = type(self).__name__
        query_dim, key_dim = self._dims(query)
        validate.array(query, n, "query", ndim=3, shape=(query_dim,) if query_dim else None)
        validate.array(key, n, "key", ndim=3, shape=(key_dim,) if key_dim else None)
        validate.array(value, n, "value", ndim=3)
        if key.shape[:2] != value.shape[:2]:
            raise ValueError(f"{n}: key and value must have the same (N, Tk), got key "
                             f"{key.shape} and value {value.shape}")
        if query.shape[0] != key.shape[0]:
            raise ValueError(f"{n}: query and key must have the same batch size N, got query "
                             f"{query.shape} and key {key.shape}")

    def forward(self, query: np.ndarray, key: np.ndarray, value: np.ndarray,
                key_padding_mask: np.ndarray | None = None,
                attn_mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """-> context (N, Tq, Dv), weights (N, Tq, Tk)"""
        self._check_inputs(query, key, value)
        bias = attention_bias(type(self).__name__, query.shape[:2] + key.shape[1:2], query.dtype,
                              key_padding_mask, attn_mask)
        scores, score_cache = self._scores(query, key)
        context, attend_cache = attend_forward(scores + bias, value, check=False)
        self._cache = (score_cache, attend_cache)
        return context, attend_cache.weights

    def backward(self, dcontext: np.ndarray,
                 dweights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """-> (dquery, dkey, dvalue); parameter gradients are added to self.grads."""
        n = type(self).__name__
        score_cache, attend_cache = validate.forward_called(n, self._cache)
        w, value = attend_cache
        validate.grad(dcontext, w.shape[:2] + value.shape[2:], n, "the grad dcontext")
        if dweights is not None:
            validate.grad(dweights, w.shape, n, "the grad dweights")
        dscores, dvalue = attend_backward(dcontext, attend_cache, dweights, check=False)
        dquery, dkey = self._scores_backward(dscores, score_cache)
        return dquery, dkey, dvalue


class AdditiveAttention(_ScoredAttention):
    """Bahdanau attention: score(q, k) = vᵀ tanh(W_q q + W_k k + b)  (``additive_score_*``).

    query: (N, Tq, query_dim), key: (N, Tk, key_dim), value: (N, Tk, value_dim)
    params: query_proj.weight (hidden_dim, query_dim), key_proj.weight (hidden_dim, key_dim),
            key_proj.bias (hidden_dim,), score_proj.weight (1, hidden_dim)
    """

    def __init__(self, query_dim: int, key_dim: int, hidden_dim: int,
                 rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        super().__init__()
        query_dim, key_dim, hidden_dim = (
            validate.positive_int(v, "AdditiveAttention", n) for n, v in
            (("query_dim", query_dim), ("key_dim", key_dim), ("hidden_dim", hidden_dim)))
        validate.generator(rng, "AdditiveAttention")
        self.query_dim, self.key_dim, self.hidden_dim = query_dim, key_dim, hidden_dim
        self.query_proj = Linear(query_dim, hidden_dim, bias=False, rng=rng, dtype=dtype)
        self.key_proj = Linear(key_dim, hidden_dim, bias=True, rng=rng, dtype=dtype)
        self.score_proj = Linear(hidden_dim, 1, bias=False, rng=rng, dtype=dtype)

    def _scores(self, q: np.ndarray, k: np.ndarray) -> tuple:
        return additive_score_forward(q, k, self.query_proj.params["weight"],
                                      self.key_proj.params["weight"],
                                      self.key_proj.params["bias"],
                                      self.score_proj.params["weight"])

    def _scores_backward(self, ds: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray]:
        dq, dk, dw_query, dw_key, db_key, dw_score = additive_score_backward(ds, cache)
        self.query_proj.grads["weight"] += dw_query
        self.key_proj.grads["weight"] += dw_key
        self.key_proj.grads["bias"] += db_key
        self.score_proj.grads["weight"] += dw_score
        return dq, dk

    def extra_repr(self) -> str:
        return f"query_dim={self.query_dim}, key_dim={self.key_dim}, hidden_dim={self.hidden_dim}"


class BilinearAttention(_ScoredAttention):
    """Luong's "general" score: score(q, k) = qᵀ W k  (``bilinear_score_*``).

    query: (N, Tq, query_dim), key: (N, Tk, key_dim);  weight: (query_dim, key_dim)
    """

    def __init__(self, query_dim: int, key_dim: int, rng: np.random.Generator | None = None,
                 dtype: type = np.float64) -> None:
        super().__init__()
        query_dim, key_dim = (validate.positive_int(v, "BilinearAttention", n)
                              for n, v in (("query_dim", query_dim), ("key_dim", key_dim)))
        validate.generator(rng, "BilinearAttention")
        self.query_dim, self.key_dim = query_dim, key_dim
        bound = 1 / math.sqrt(key_dim)
        self.add_param("weight", init.uniform((query_dim, key_dim), bound, rng, dtype))

    def _scores(self, q: np.ndarray, k: np.ndarray) -> tuple:
        return bilinear_score_forward(q, k, self.params["weight"])

    def _scores_backward(self, ds: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray]:
        dq, dk, dweight = bilinear_score_backward(ds, cache)
        self.grads["weight"] += dweight
        return dq, dk

    def extra_repr(self) -> str:
        return f"query_dim={self.query_dim}, key_dim={self.key_dim}"


class DotProductAttention(_ScoredAttention):
    """Luong's "dot" score s = qᵀ k · scale (scale = 1 by default; ``dot_score_*``); no
    parameters.  query: (N, Tq, D), key: (N, Tk, D), value: (N, Tk, Dv)."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = validate.number(scale, type(self).__name__, "scale")

    def _check_inputs(self, query: np.ndarray, key: np.ndarray, value: np.ndarray) -> None:
        super()._check_inputs(query, key, value)
        if key.shape[-1] != query.shape[-1]:
            raise ValueError(f"{type(self).__name__}: key must have shape (..., "
                             f"{query.shape[-1]}), the query's feature size D = query.shape[-1], "
                             f"got key of shape {key.shape} (query {query.shape})")

    def _dims(self, query: np.ndarray) -> tuple[int | None, int | None]:
        return None, None

    def _scale(self, d: int) -> float:
        return self.scale

    def _scores(self, q: np.ndarray, k: np.ndarray) -> tuple:
        return dot_score_forward(q, k, self._scale(q.shape[-1]), check=False)

    def _scores_backward(self, ds: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray]:
        return dot_score_backward(ds, cache, check=False)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class ScaledDotProductAttention(DotProductAttention):
    """Vaswani et al.'s score s = qᵀ k / √D (module form; its functional twin is
    ``scaled_dot_product_attention``, whose boolean masks mean the opposite: True = attend).

    query: (N, Tq, D), key: (N, Tk, D), value: (N, Tk, Dv)
    -> context (N, Tq, Dv), weights (N, Tq, Tk)
    """

    def __init__(self) -> None:
        super().__init__()
        self.scale = None           # 1/√D, from the inputs' D

    def _scale(self, d: int) -> float:
        return 1 / math.sqrt(d)

    def extra_repr(self) -> str:
        return ""
