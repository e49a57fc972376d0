"""Performer attention: multi-head attention whose softmax is replaced by FAVOR+.

Parameters are torch.nn.MultiheadAttention's, with the same names and layout, so that
``PerformerAttention.load_state_dict(mha.state_dict())`` works in one call and the two can be
compared (the Performer approximates MHA's output; it does not equal it):

    in_proj_weight (3E, E)  = [W_q; W_k; W_v]     in_proj_bias (3E,)
    out_proj.weight (E, E)                        out_proj.bias (E,)

forward (batch_first):  query (N, L, E), key (N, S, E), value (N, S, E)
    q, k, v = query W_qᵀ + b_q, ...  split into H heads of size h = E/H: (N, H, L, h)
              (in_projection and split_heads, nn/heads.py)
    o_head  = favor_forward(q, k, v, W, kind), or causal_favor_forward   (nn/favor.py)
    output  = concat_heads(o_head) W_oᵀ + b_o                       -> (output (N, L, E), None)
    (None where MHA would return attention weights: there is no L×S matrix to return.)

backward(d_output):  out_proj's backward, then FAVOR+'s backward for the FIXED random matrix
    W (favor_backward or causal_favor_backward), then the input projections
    (in_projection_backward):
    dW_q += Σ dqᵀ query,  db_q += Σ dq,  d_query = dq W_q   (likewise k, v)
    -> (d_query, d_key, d_value).

The random matrix ``feature_matrix`` (m, h), shared by the heads, is not a parameter and not
in the state dict (so MHA's state dict loads as it is); ``redraw_features(rng)`` draws a new
one, which training should do every so often.
"""
from __future__ import annotations

import math

import numpy as np

from .. import init, validate
from ..module import Module
from .favor import (KINDS, causal_favor_backward, causal_favor_forward, favor_backward,
                    favor_forward, iid_gaussian_matrix, orthogonal_gaussian_matrix)
from .heads import in_projection, in_projection_backward, merge_heads, split_heads
from .linear import Linear

__all__ = ["PerformerAttention"]


class PerformerAttention(Module):
    """Multi-head FAVOR+ attention with torch.nn.MultiheadAttention's parameters.

    embed_dim E, num_heads H (E divisible by H), nb_features m (default round(h log h),
    at least h), kind "positive" | "trig" | "hyperbolic", causal, orthogonal (ORF blocks).
    Inputs are batch_first: (N, L, E). Returns (output, None) like MHA with need_weights=False.
    """

    def __init__(self, embed_dim: int, num_heads: int, nb_features: int | None = None,
                 kind: str = "positive", causal: bool = False, orthogonal: bool = True,
                 bias: bool = True, batch_first: bool = True,
                 rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        super().__init__()
        embed_dim = validate.positive_int(embed_dim, "PerformerAttention", "embed_dim")
        num_heads = validate.positive_int(num_heads, "PerformerAttention", "num_heads")
        if embed_dim % num_heads:
            raise ValueError(f"PerformerAttention: embed_dim must be divisible by num_heads, "
                             f"got embed_dim {embed_dim} and num_heads {num_heads}")
        if kind not in KINDS:
            raise ValueError(f"PerformerAttention: kind must be one of {KINDS}, got {kind!r}")
        validate.generator(rng, "PerformerAttention")
        if not batch_first:
            raise ValueError("PerformerAttention: batch_first must be True (inputs (N, L, E)), "
                             "got False")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = h = embed_dim // num_heads
        self.nb_features = validate.positive_int(
            nb_features if nb_features is not None else
            max(h, int(round(h * math.log(h))) if h > 1 else 1), "PerformerAttention",
            "nb_features")
        self.kind, self.causal, self.orthogonal, self.has_bias = kind, causal, orthogonal, bias
        rng = init.get_rng(rng)
        self.add_param("in_proj_weight", init.xavier_uniform((3 * embed_dim, embed_dim),
                                                             rng=rng, dtype=dtype))
        if bias:
            self.add_param("in_proj_bias", np.zeros(3 * embed_dim, dtype=dtype))
        self.out_proj = Linear(embed_dim, embed_dim, bias, rng=rng, dtype=dtype)
        if bias:
            self.out_proj.params["bias"][...] = 0.0     # as torch's MHA initialises it
        self.redraw_features(rng)
        self._cache = None

    def redraw_features(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """Draw a new random matrix W (m, head_dim): orthogonal blocks or iid rows."""
        validate.generator(rng, "PerformerAttention.redraw_features")
        draw = orthogonal_gaussian_matrix if self.orthogonal else iid_gaussian_matrix
        self.feature_matrix = draw(self.nb_features, self.head_dim, init.get_rng(rng)).astype(
            self.params["in_proj_weight"].dtype)
        return self.feature_matrix

    def forward(self, query: np.ndarray, key: np.ndarray, value: np.ndarray
                ) -> tuple[np.ndarray, None]:
        """query (N, L, E), key and value (N, S, E) -> (output (N, L, E), None)."""
        E = self.embed_dim
        for name, x in (("query", query), ("key", key), ("value", value)):
            validate.array(x, "PerformerAttention", name, ndim=3, shape=(E,))
        if key.shape != value.shape or key.shape[0] != query.shape[0]:
            raise ValueError(f"PerformerAttention: key and value must be (N, S, E) with the "
                             f"query's N, got query {query.shape}, key {key.shape}, "
                             f"value {value.shape}")
        if self.causal and key.shape[1] != query.shape[1]:
            raise ValueError(f"PerformerAttention: causal attention needs L == S, got query "
                             f"{query.shape} and key {key.shape}")
        projected, proj_cache = in_projection(query, key, value, self.params["in_proj_weight"],
                                              self.params.get("in_proj_bias"))
        q, k, v = (split_heads(p, self.num_heads) for p in projected)
        favor = causal_favor_forward if self.causal else favor_forward
        o, favor_cache = favor(q, k, v, self.feature_matrix, self.kind)
        self._cache = (proj_cache, favor_cache)
        return self.out_proj(merge_heads(o)), None

    def backward(self, d_output: np.ndarray, d_weights: None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """d_output (N, L, E) -> (d_query, d_key, d_value); accumulates the parameter grads."""
        proj_cache, favor_cache = validate.forward_called("PerformerAttention", self._cache)
        validate.grad(d_output, proj_cache.inputs[0].shape, "PerformerAttention",
                      "the grad d_output")
        do = split_heads(self.out_proj.backward(d_output), self.num_heads)
        backward = causal_favor_backward if self.causal else favor_backward
        grads = backward(do, favor_cache)
        d_inputs, d_weight, d_bias = in_projection_backward(
            tuple(merge_heads(g) for g in grads), proj_cache)
        self.grads["in_proj_weight"] += d_weight
        if self.has_bias:
            self.grads["in_proj_bias"] += d_bias
        return d_inputs

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"nb_features={self.nb_features}, kind={self.kind!r}, causal={self.causal}")
