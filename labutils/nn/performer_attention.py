"""Performer attention: multi-head attention whose softmax is replaced by FAVOR+.

Parameters are torch.nn.MultiheadAttention's, with the same names and layout, so that
``PerformerAttention.load_state_dict(mha.state_dict())`` works in one call and the two can be
compared (the Performer approximates MHA's output; it does not equal it):

    in_proj_weight (3E, E)  = [W_q; W_k; W_v]     in_proj_bias (3E,)
    out_proj.weight (E, E)                        out_proj.bias (E,)

forward (batch_first):  query (N, L, E), key (N, S, E), value (N, S, E)
    q, k, v = query W_qᵀ + b_q, ...  split into H heads of size h = E/H: (N, H, L, h)
    o_head  = favor_attention(q, k, v, W, kind, causal)          (labutils.performer)
    output  = concat_heads(o_head) W_oᵀ + b_o                       -> (output (N, L, E), None)
    (None where MHA would return attention weights: there is no L×S matrix to return.)

backward(d_output):  out_proj's backward, then FAVOR+'s backward for the FIXED random matrix
    W (labutils.performer.favor_attention_backward), then the input projections:
    dW_q += Σ dqᵀ query,  db_q += Σ dq,  d_query = dq W_q   (likewise k, v)
    -> (d_query, d_key, d_value).

The random matrix ``feature_matrix`` (m, h), shared by the heads, is not a parameter and not
in the state dict (so MHA's state dict loads as it is); ``redraw_features(rng)`` draws a new
one, which training should do every so often.
"""
import math

import numpy as np

from .. import init
from .. import validate
from ..module import Module
from ..performer import (KINDS, favor_attention, favor_attention_backward, iid_gaussian_matrix,
                         orthogonal_gaussian_matrix)
from .linear import Linear

__all__ = ["PerformerAttention"]


class PerformerAttention(Module):
    """Multi-head FAVOR+ attention with torch.nn.MultiheadAttention's parameters.

    embed_dim E, num_heads H (E divisible by H), nb_features m (default round(h log h),
    at least h), kind "positive" | "trig" | "hyperbolic", causal, orthogonal (ORF blocks).
    Inputs are batch_first: (N, L, E). Returns (output, None) like MHA with need_weights=False.
    """

    def __init__(self, embed_dim, num_heads, nb_features=None, kind="positive", causal=False,
                 orthogonal=True, bias=True, batch_first=True, rng=None, dtype=np.float64):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"PerformerAttention: embed_dim ({embed_dim}) must be divisible "
                             f"by num_heads ({num_heads})")
        if kind not in KINDS:
            raise ValueError(f"PerformerAttention: kind must be one of {KINDS}, got {kind!r}")
        if not batch_first:
            raise ValueError("PerformerAttention: only batch_first=True inputs (N, L, E) "
                             "are supported")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        h = self.head_dim
        self.nb_features = nb_features if nb_features is not None else max(
            h, int(round(h * math.log(h))) if h > 1 else 1)
        if self.nb_features < 1:
            raise ValueError(f"PerformerAttention: nb_features must be at least 1, "
                             f"got {self.nb_features}")
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

    def redraw_features(self, rng=None):
        """Draw a new random matrix W (m, head_dim): orthogonal blocks or iid rows."""
        draw = orthogonal_gaussian_matrix if self.orthogonal else iid_gaussian_matrix
        self.feature_matrix = draw(self.nb_features, self.head_dim, init.get_rng(rng)).astype(
            self.params["in_proj_weight"].dtype)
        return self.feature_matrix

    def _split(self, x):           # (N, L, E) -> (N, H, L, h)
        n, length, _ = x.shape
        return x.reshape(n, length, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)

    def _merge(self, x):           # (N, H, L, h) -> (N, L, E)
        n, _, length, _ = x.shape
        return x.transpose(0, 2, 1, 3).reshape(n, length, self.embed_dim)

    def _project(self, x, i):
        E = self.embed_dim
        y = x @ self.params["in_proj_weight"][i * E:(i + 1) * E].T
        return y + self.params["in_proj_bias"][i * E:(i + 1) * E] if self.has_bias else y

    def forward(self, query, key, value):
        E = self.embed_dim
        validate.array(query, "PerformerAttention", "query", ndim=3, shape=(E,))
        validate.array(key, "PerformerAttention", "key", ndim=3, shape=(E,))
        validate.array(value, "PerformerAttention", "value", ndim=3, shape=(E,))
        if key.shape != value.shape or key.shape[0] != query.shape[0]:
            raise ValueError(f"PerformerAttention: key and value must be (N, S, E) with the "
                             f"query's N, got query {query.shape}, key {key.shape}, "
                             f"value {value.shape}")
        if self.causal and key.shape[1] != query.shape[1]:
            raise ValueError(f"PerformerAttention: causal attention needs L == S, got query "
                             f"{query.shape} and key {key.shape}")
        q, k, v = (self._split(self._project(x, i)) for i, x in enumerate((query, key, value)))
        o = favor_attention(q, k, v, self.feature_matrix, self.kind, self.causal)
        self._cache = (query, key, value, q, k, v)
        return self.out_proj(self._merge(o)), None

    def backward(self, d_output, d_weights=None):
        query, key, value, q, k, v = validate.forward_called("PerformerAttention", self._cache)
        validate.grad(d_output, query.shape, "PerformerAttention", "d_output")
        do = self._split(self.out_proj.backward(d_output))
        grads = favor_attention_backward(q, k, v, self.feature_matrix, do, self.kind, self.causal)
        E, out = self.embed_dim, []
        for i, (x, g) in enumerate(zip((query, key, value), grads)):
            g = self._merge(g)
            w = self.params["in_proj_weight"][i * E:(i + 1) * E]
            self.grads["in_proj_weight"][i * E:(i + 1) * E] += g.reshape(-1, E).T @ x.reshape(-1, E)
            if self.has_bias:
                self.grads["in_proj_bias"][i * E:(i + 1) * E] += g.reshape(-1, E).sum(axis=0)
            out.append(g @ w)
        return tuple(out)

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"nb_features={self.nb_features}, kind={self.kind!r}, causal={self.causal}")
