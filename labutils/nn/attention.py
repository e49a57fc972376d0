"""Attention: score functions, a safe masked softmax, scaled dot-product attention and
multi-head attention.

Every attention here computes, for each query q_i and the keys k_j with values v_j,

    s_ij = score(q_i, k_j) + b_ij        b_ij = 0, or -inf where (i, j) is masked out
    w_ij = softmax_j(s_ij)               a row with every key masked gives w_i = 0 (not NaN)
    c_i  = Σ_j w_ij v_j

backward (g = dL/dc, G = dL/dw given from outside, e.g. a loss on the weights):

    dv_j = Σ_i w_ij g_i
    dw_ij = g_i · v_j + G_ij
    ds_ij = w_ij (dw_ij − Σ_j' w_ij' dw_ij')          (0 wherever w is 0: masked entries)
    dq, dk from ds through the score function.

Score functions (each a module with forward and backward):

    additive (Bahdanau)   s = vᵀ tanh(W_q q + W_k k + b)       AdditiveAttention
    bilinear (Luong)      s = qᵀ W k                            BilinearAttention
    dot (Luong)           s = qᵀ k                              DotProductAttention
    scaled dot (Vaswani)  s = qᵀ k / √d                          ScaledDotProductAttention

Mask conventions, as in torch (and they are opposite, so read twice):

* the MODULES here (``*Attention``, ``MultiheadAttention``) follow ``torch.nn.MultiheadAttention``:
  a boolean ``attn_mask`` / ``key_padding_mask`` entry True means "masked out, ignore";
* the FUNCTION ``scaled_dot_product_attention`` follows
  ``torch.nn.functional.scaled_dot_product_attention``: a boolean ``attn_mask`` entry True
  means "may attend there".

A float mask is added to the scores in both (use -inf to mask out).

A fully masked row (a query that may attend to no key) gives zero weights, a zero output and
a zero gradient (a "safe" softmax), as torch's functional form does. torch's
``MultiheadAttention`` gives NaN for such a row with ``need_weights=True`` and zeros with
``need_weights=False``; labutils always gives zeros, so compare with the latter.
"""
import math

import numpy as np

from .. import validate
from ..module import Module
from .dropout import Dropout
from .linear import Linear

__all__ = ["safe_softmax", "safe_softmax_backward", "masked_softmax", "causal_mask",
           "mask_to_bias", "scaled_dot_product_attention", "scaled_dot_product_attention_backward",
           "AdditiveAttention", "BilinearAttention", "DotProductAttention",
           "ScaledDotProductAttention", "MultiheadAttention", "full_pattern", "strided_pattern",
           "fixed_pattern", "sliding_window_pattern", "add_global_tokens", "bigbird_pattern"]


# -- the safe softmax ------------------------------------------------------------------------
def safe_softmax(scores, axis=-1):
    """softmax along ``axis`` where entries may be -inf (masked out). A slice that is all
    -inf gives zeros instead of 0/0 = NaN.

        m = max_j s_j (0 if every s_j = -inf);   e_j = exp(s_j − m);   w_j = e_j / Σ e (0 if Σ e = 0)
    """
    m = np.max(scores, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(scores - m)
    total = e.sum(axis=axis, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def safe_softmax_backward(weights, dweights, axis=-1):
    """ds = w ⊙ (dw − Σ dw ⊙ w): zero wherever w is zero, so masked entries and fully masked
    rows get no gradient."""
    return weights * (dweights - (dweights * weights).sum(axis=axis, keepdims=True))


def masked_softmax(scores, mask=None, axis=-1):
    """safe_softmax of ``scores`` with entries where ``mask`` is True (masked out) set to -inf.
    ``mask`` broadcasts against ``scores``."""
    if mask is None:
        return safe_softmax(scores, axis)
    return safe_softmax(np.where(mask, -np.inf, scores), axis)


def causal_mask(tq, tk=None, align="end"):
    """Boolean (tq, tk) mask, True = masked out (a key in the future of the query).

    align="end"   query i sits at absolute position i + (tk − tq): the last query sees every
                  key. This is what cached decoding needs (tq new tokens after tk − tq cached
                  ones) and what torch's ``causal_lower_right`` does.
    align="start" query i sits at position i (torch's ``is_causal=True`` and
                  ``causal_upper_left``); the same as "end" when tq == tk.
    """
    tk = tq if tk is None else tk
    if align not in ("end", "start"):
        raise ValueError(f"causal_mask: align must be 'end' or 'start', got {align!r}")
    offset = tk - tq if align == "end" else 0
    i = np.arange(tq)[:, None]
    j = np.arange(tk)[None, :]
    return j > i + offset


def mask_to_bias(mask, owner, arg, dtype, masked_value=True):
    """An additive float mask from a boolean one (``masked_value`` marks entries to drop)
    or a float one (returned as is, cast to ``dtype``). None stays None."""
    if mask is None:
        return None
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"{owner}: {arg} must be a NumPy array (bool or float), "
                        f"got {type(mask).__name__}")
    if mask.dtype == bool:
        drop = mask if masked_value else ~mask
        return np.where(drop, -np.inf, 0.0).astype(dtype)
    if mask.dtype.kind != "f":
        raise TypeError(f"{owner}: {arg} must be bool or float, got {mask.dtype}")
    if np.isnan(mask).any():
        raise ValueError(f"{owner}: {arg} contains NaN")
    return mask.astype(dtype, copy=False)


def _check_broadcast(bias, target, owner, arg):
    try:
        ok = np.broadcast_shapes(bias.shape, target) == tuple(target)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{owner}: {arg} of shape {bias.shape} does not broadcast to the "
                         f"scores' shape {target}")


# -- core: weights and context from scores -------------------------------------------------------
def _attend(scores, value):
    w = safe_softmax(scores)
    return w @ value, w


def _attend_backward(dcontext, dweights, w, value):
    """(ds, dvalue) from dL/dcontext and dL/dweights (may be None)."""
    dw = dcontext @ np.swapaxes(value, -1, -2)
    if dweights is not None:
        dw = dw + dweights
    dvalue = np.swapaxes(w, -1, -2) @ dcontext
    return safe_softmax_backward(w, dw), dvalue


def _sum_to(x, shape):
    """Sum ``x`` over the axes that were broadcast from ``shape``."""
    while x.ndim > len(shape):
        x = x.sum(axis=0)
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and x.shape[i] != 1)
    return x.sum(axis=axes, keepdims=True) if axes else x


# -- the functional form (torch.nn.functional.scaled_dot_product_attention) -------------------
def _sdpa_bias(query, key, attn_mask, is_causal):
    owner = "scaled_dot_product_attention"
    tq, tk = query.shape[-2], key.shape[-2]
    bias = mask_to_bias(attn_mask, owner, "attn_mask", query.dtype, masked_value=False)
    if bias is not None:
        _check_broadcast(bias, query.shape[:-2] + (tq, tk), owner, "attn_mask")
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{owner}: give attn_mask or is_causal=True, not both (as torch)")
        bias = np.where(causal_mask(tq, tk, align="start"), -np.inf, 0.0).astype(query.dtype)
    return bias


def _sdpa_check(query, key, value):
    owner = "scaled_dot_product_attention"
    validate.array(query, owner, "query", min_ndim=2)
    validate.array(key, owner, "key", min_ndim=2, shape=(query.shape[-1],))
    validate.array(value, owner, "value", min_ndim=2, shape=(key.shape[-2], None))
    try:
        np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except ValueError:
        raise ValueError(f"{owner}: batch dimensions of query {query.shape}, key {key.shape} "
                         f"and value {value.shape} do not broadcast") from None


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, return_weights=False):
    """torch.nn.functional.scaled_dot_product_attention (without dropout).

    query: (*, Tq, E), key: (*, Tk, E), value: (*, Tk, Ev) -> (*, Tq, Ev)
    attn_mask: bool, True = MAY ATTEND (torch's functional convention), or float added to the
               scores; broadcast to (*, Tq, Tk).
    is_causal: query i sees keys j <= i, aligned to the START (as torch); for Tq != Tk in
               cached decoding you want ``attn_mask=~causal_mask(Tq, Tk)`` (aligned to the end).
    scale: default 1/√E.  return_weights: also return the (*, Tq, Tk) weights.
    A query with every key masked gets zeros (torch does the same).
    """
    if dropout_p:
        raise ValueError("scaled_dot_product_attention: dropout_p is not supported "
                         "(use the Dropout module on the weights)")
    _sdpa_check(query, key, value)
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query @ np.swapaxes(key, -1, -2)) * scale
    bias = _sdpa_bias(query, key, attn_mask, is_causal)
    if bias is not None:
        scores = scores + bias
    out, w = _attend(scores, value)
    return (out, w) if return_weights else out


def scaled_dot_product_attention_backward(dout, query, key, value, attn_mask=None,
                                          is_causal=False, scale=None, dweights=None):
    """(dquery, dkey, dvalue) of ``scaled_dot_product_attention`` (recomputes the weights).

        ds = softmax backward;  dq = scale · ds k;  dk = scale · dsᵀ q;  dv = wᵀ dout
    Gradients are summed over broadcast batch dimensions.
    """
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    out, w = scaled_dot_product_attention(query, key, value, attn_mask, 0.0, is_causal, scale,
                                          return_weights=True)
    validate.grad(dout, out.shape, "scaled_dot_product_attention", "dout")
    ds, dv = _attend_backward(dout, dweights, w, value)
    dq = scale * (ds @ key)
    dk = scale * (np.swapaxes(ds, -1, -2) @ query)
    return _sum_to(dq, query.shape), _sum_to(dk, key.shape), _sum_to(dv, value.shape)


# -- score-function attention modules -------------------------------------------------------
class _ScoredAttention(Module):
    """Shared forward/backward: subclasses give ``_scores(q, k)`` and
    ``_scores_backward(ds) -> (dq, dk)`` (adding parameter gradients)."""

    def __init__(self):
        super().__init__()
        self._cache = None

    @property
    def _name(self):
        return type(self).__name__

    def _check_inputs(self, query, key, value, query_dim=None, key_dim=None):
        n = self._name
        validate.array(query, n, "query", ndim=3, shape=(query_dim,) if query_dim else None)
        validate.array(key, n, "key", ndim=3, shape=(key_dim,) if key_dim else None)
        validate.array(value, n, "value", ndim=3)
        if key.shape[:2] != value.shape[:2]:
            raise ValueError(f"{n}: key and value must have the same (N, Tk), got key "
                             f"{key.shape} and value {value.shape}")
        if query.shape[0] != key.shape[0]:
            raise ValueError(f"{n}: query and key must have the same batch size N, got query "
                             f"{query.shape} and key {key.shape}")

    def _bias(self, query, key, key_padding_mask, attn_mask):
        n, (N, tq), tk = self._name, query.shape[:2], key.shape[1]
        bias = np.zeros((N, tq, tk), dtype=query.dtype)
        if key_padding_mask is not None:
            kpm = mask_to_bias(key_padding_mask, n, "key_padding_mask", query.dtype)
            if kpm.shape != (N, tk):
                raise ValueError(f"{n}: key_padding_mask must have shape (N, Tk) = {(N, tk)}, "
                                 f"got {kpm.shape}")
            bias = bias + kpm[:, None, :]
        if attn_mask is not None:
            am = mask_to_bias(attn_mask, n, "attn_mask", query.dtype)
            if am.shape not in ((tq, tk), (N, tq, tk)):
                raise ValueError(f"{n}: attn_mask must have shape (Tq, Tk) = {(tq, tk)} or "
                                 f"(N, Tq, Tk), got {am.shape}")
            bias = bias + am
        return bias

    def forward(self, query, key, value, key_padding_mask=None, attn_mask=None):
        """query: (N, Tq, Dq), key: (N, Tk, Dk), value: (N, Tk, Dv);
        key_padding_mask: (N, Tk) bool, True = ignore that key; attn_mask: (Tq, Tk) or
        (N, Tq, Tk), bool True = masked out, or float added.
        -> context (N, Tq, Dv), weights (N, Tq, Tk)"""
        self._check_inputs(query, key, value)
        scores = self._scores(query, key) + self._bias(query, key, key_padding_mask, attn_mask)
        context, w = _attend(scores, value)
        self._cache = (w, value)
        return context, w

    def backward(self, dcontext, dweights=None):
        """-> (dquery, dkey, dvalue); parameter gradients are added to self.grads."""
        w, value = validate.forward_called(self._name, self._cache)
        validate.grad(dcontext, w.shape[:2] + value.shape[2:], self._name, "dcontext")
        if dweights is not None:
            validate.grad(dweights, w.shape, self._name, "dweights")
        ds, dvalue = _attend_backward(dcontext, dweights, w, value)
        dquery, dkey = self._scores_backward(ds)
        return dquery, dkey, dvalue


class AdditiveAttention(_ScoredAttention):
    """Bahdanau attention. score(q, k) = vᵀ tanh(W_q q + W_k k + b)

    query: (N, Tq, query_dim), key: (N, Tk, key_dim), value: (N, Tk, value_dim),
    key_padding_mask: optional (N, Tk) bool, True = ignore that key
    -> context: (N, Tq, value_dim), weights: (N, Tq, Tk)
    params: query_proj.weight (hidden_dim, query_dim), key_proj.weight (hidden_dim, key_dim),
            key_proj.bias (hidden_dim,), score_proj.weight (1, hidden_dim)
    backward(dcontext, dweights=None) -> (dquery, dkey, dvalue)

    With a = W_q q_i, b = W_k k_j + b, h_ij = tanh(a_i + b_j) (N, Tq, Tk, hidden_dim):
        dv = Σ ds_ij h_ij;   dpre_ij = ds_ij v ⊙ (1 − h_ij²);   da_i = Σ_j dpre_ij;  db_j = Σ_i dpre_ij
    Memory O(N Tq Tk hidden_dim): fine for the course's sizes.
    """

    def __init__(self, query_dim, key_dim, hidden_dim, rng=None, dtype=np.float64):
        super().__init__()
        self.query_dim, self.key_dim, self.hidden_dim = query_dim, key_dim, hidden_dim
        self.query_proj = Linear(query_dim, hidden_dim, bias=False, rng=rng, dtype=dtype)
        self.key_proj = Linear(key_dim, hidden_dim, bias=True, rng=rng, dtype=dtype)
        self.score_proj = Linear(hidden_dim, 1, bias=False, rng=rng, dtype=dtype)

    def forward(self, query, key, value, key_padding_mask=None, attn_mask=None):
        self._check_inputs(query, key, value, self.query_dim, self.key_dim)
        return super().forward(query, key, value, key_padding_mask, attn_mask)

    def _scores(self, q, k):
        a, b = self.query_proj(q), self.key_proj(k)
        h = np.tanh(a[:, :, None, :] + b[:, None, :, :])
        self._h = h
        return self.score_proj(h)[..., 0]

    def _scores_backward(self, ds):
        h = self._h
        dh = self.score_proj.backward(ds[..., None])
        dpre = dh * (1 - h * h)
        return self.query_proj.backward(dpre.sum(axis=2)), self.key_proj.backward(dpre.sum(axis=1))

    def extra_repr(self):
        return f"query_dim={self.query_dim}, key_dim={self.key_dim}, hidden_dim={self.hidden_dim}"


class BilinearAttention(_ScoredAttention):
    """Luong's "general" score: score(q, k) = qᵀ W k.

    query: (N, Tq, query_dim), key: (N, Tk, key_dim), value: (N, Tk, value_dim)
    -> context (N, Tq, value_dim), weights (N, Tq, Tk);  weight: (query_dim, key_dim)
    backward: dq = ds (k Wᵀ);  dk = dsᵀ (q W);  dW += Σ_n qᵀ ds k
    """

    def __init__(self, query_dim, key_dim, rng=None, dtype=np.float64):
        super().__init__()
        from .. import init
        self.query_dim, self.key_dim = query_dim, key_dim
        bound = 1 / math.sqrt(key_dim)
        self.add_param("weight", init.uniform((query_dim, key_dim), bound, rng, dtype))

    def forward(self, query, key, value, key_padding_mask=None, attn_mask=None):
        self._check_inputs(query, key, value, self.query_dim, self.key_dim)
        return super().forward(query, key, value, key_padding_mask, attn_mask)

    def _scores(self, q, k):
        self._qk = (q, k)
        return (q @ self.params["weight"]) @ k.swapaxes(1, 2)

    def _scores_backward(self, ds):
        q, k = self._qk
        W = self.params["weight"]
        self.grads["weight"] += np.einsum("nqi,nqk,nkj->ij", q, ds, k)
        return ds @ (k @ W.T), ds.swapaxes(1, 2) @ (q @ W)

    def extra_repr(self):
        return f"query_dim={self.query_dim}, key_dim={self.key_dim}"


class DotProductAttention(_ScoredAttention):
    """Luong's "dot" score s = qᵀ k · scale (scale = 1 by default); no parameters.

    query: (N, Tq, D), key: (N, Tk, D), value: (N, Tk, Dv) -> context (N, Tq, Dv), weights (N, Tq, Tk)
    backward: dq = scale · ds k;  dk = scale · dsᵀ q
    """

    def __init__(self, scale=1.0):
        super().__init__()
        self.scale = scale

    def forward(self, query, key, value, key_padding_mask=None, attn_mask=None):
        validate.array(query, self._name, "query", ndim=3)
        self._check_inputs(query, key, value, None, query.shape[-1])
        return super().forward(query, key, value, key_padding_mask, attn_mask)

    def _scale(self, d):
        return self.scale

    def _scores(self, q, k):
        self._qk = (q, k)
        return (q @ k.swapaxes(1, 2)) * self._scale(q.shape[-1])

    def _scores_backward(self, ds):
        q, k = self._qk
        c = self._scale(q.shape[-1])
        return c * (ds @ k), c * (ds.swapaxes(1, 2) @ q)

    def extra_repr(self):
        return f"scale={self.scale}"


class ScaledDotProductAttention(DotProductAttention):
    """Vaswani et al.'s score s = qᵀ k / √D (module form; its functional twin is
    ``scaled_dot_product_attention``, whose boolean masks mean the opposite: True = attend).

    query: (N, Tq, D), key: (N, Tk, D), value: (N, Tk, Dv) -> context (N, Tq, Dv), weights (N, Tq, Tk)
    """

    def __init__(self):
        super().__init__(scale=None)

    def _scale(self, d):
        return 1 / math.sqrt(d)

    def extra_repr(self):
        return ""


# -- multi-head attention ---------------------------------------------------------------------
class MultiheadAttention(Module):
    """torch.nn.MultiheadAttention (kdim = vdim = embed_dim; no add_bias_kv / add_zero_attn).

    query: (N, Tq, E), key: (N, Tk, E), value: (N, Tk, E) with batch_first=True
    (else (T, N, E)) -> attn_output: same layout as query, attn_weights: (N, Tq, Tk) averaged
    over heads (or (N, H, Tq, Tk) with average_attn_weights=False; None if not need_weights).

    params: in_proj_weight (3E, E) = [W_q; W_k; W_v],  in_proj_bias (3E,),
            out_proj.weight (E, E), out_proj.bias (E,)
    key_padding_mask: (N, Tk), attn_mask: (Tq, Tk) or (N·H, Tq, Tk); bool True = MASKED OUT,
    or float added to the scores. is_causal=True with no attn_mask uses causal_mask(Tq, Tk).

        Q = query W_qᵀ + b_q, split into H heads of d = E/H:  (N, H, Tq, d)    (likewise K, V)
        A_h = safe_softmax(Q_h K_hᵀ / √d + bias)            O_h = A_h V_h
        merge heads: O (N, Tq, E);   attn_output = out_proj(O)

    A fully masked query row gives A = 0, so attn_output = out_proj.bias there; torch does the
    same with need_weights=False and returns NaN with need_weights=True.
    backward(dout, dweights=None) -> (dquery, dkey, dvalue); it also leaves dL/dscores
    (N, H, Tq, Tk) in ``score_grad`` (the gradient of a float attn_mask, e.g. a learned bias).
    ``last_attention``: the per-head weights (N, H, Tq, Tk) of the last forward.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, batch_first=False,
                 rng=None, dtype=np.float64):
        super().__init__()
        from .. import init
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

    # shapes: split (N, T, E) -> (N, H, T, d) and back
    def split_heads(self, x):
        N, T, _ = x.shape
        return x.reshape(N, T, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)

    def merge_heads(self, x):
        N, H, T, d = x.shape
        return x.transpose(0, 2, 1, 3).reshape(N, T, H * d)

    def _bias(self, N, tq, tk, key_padding_mask, attn_mask, is_causal, dtype):
        name, H = "MultiheadAttention", self.num_heads
        bias = np.zeros((N, H, tq, tk), dtype=dtype)
        if key_padding_mask is not None:
            kpm = mask_to_bias(key_padding_mask, name, "key_padding_mask", dtype)
            if kpm.shape != (N, tk):
                raise ValueError(f"{name}: key_padding_mask must have shape (N, Tk) = "
                                 f"{(N, tk)}, got {kpm.shape}")
            bias = bias + kpm[:, None, None, :]
        if attn_mask is None and is_causal:
            attn_mask = causal_mask(tq, tk)
        if attn_mask is not None:
            am = mask_to_bias(attn_mask, name, "attn_mask", dtype)
            if am.shape == (tq, tk):
                bias = bias + am
            elif am.shape == (N * H, tq, tk):
                bias = bias + am.reshape(N, H, tq, tk)
            else:
                raise ValueError(f"{name}: attn_mask must have shape (Tq, Tk) = {(tq, tk)} or "
                                 f"(N*num_heads, Tq, Tk) = {(N * H, tq, tk)}, got {am.shape}")
        return bias

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        name, E = "MultiheadAttention", self.embed_dim
        validate.array(query, name, "query", ndim=3, shape=(E,))
        validate.array(key, name, "key", ndim=3, shape=(E,))
        validate.array(value, name, "value", ndim=3, shape=(E,))
        if not self.batch_first:
            query, key, value = (x.swapaxes(0, 1) for x in (query, key, value))
        if key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]:
            layout = "(N, T, E)" if self.batch_first else "(T, N, E)"
            raise ValueError(f"{name}: query, key and value must share N and key/value their "
                             f"length, in layout {layout}; got query {query.shape}, key "
                             f"{key.shape}, value {value.shape} (batch-first view)")
        (N, tq, _), tk = query.shape, key.shape[1]
        W, b = self.params["in_proj_weight"], self.params["in_proj_bias"] if self.has_bias else None
        proj = [x @ W[i * E:(i + 1) * E].T + (b[i * E:(i + 1) * E] if b is not None else 0)
                for i, x in enumerate((query, key, value))]
        q, k, v = (self.split_heads(p) for p in proj)
        scale = 1 / math.sqrt(self.head_dim)
        scores = (q @ k.swapaxes(-1, -2)) * scale
        scores = scores + self._bias(N, tq, tk, key_padding_mask, attn_mask, is_causal, q.dtype)
        a = safe_softmax(scores)
        a_drop = self.dropout(a)
        o = self.merge_heads(a_drop @ v)
        out = self.out_proj(o)
        self._cache = (query, key, value, q, k, v, a, a_drop, scale, average_attn_weights,
                       need_weights)
        if not self.batch_first:
            out = out.swapaxes(0, 1)
        if not need_weights:
            return out, None
        return out, (a_drop.mean(axis=1) if average_attn_weights else a_drop)

    def backward(self, dout, dweights=None):
        name, E = "MultiheadAttention", self.embed_dim
        query, key, value, q, k, v, a, a_drop, scale, avg, need = validate.forward_called(
            name, self._cache)
        if not self.batch_first:
            validate.grad(dout, query.swapaxes(0, 1).shape, name, "dout")
            dout = dout.swapaxes(0, 1)
        validate.grad(dout, query.shape, name, "dout")
        do = self.split_heads(self.out_proj.backward(dout))           # (N, H, Tq, d)
        da_drop = do @ v.swapaxes(-1, -2)
        dv = a_drop.swapaxes(-1, -2) @ do
        if dweights is not None and need:
            shape = (a.shape[0],) + a.shape[2:] if avg else a.shape
            validate.grad(dweights, shape, name, "dweights")
            da_drop = da_drop + (dweights[:, None] / self.num_heads if avg else dweights)
        da = self.dropout.backward(da_drop)
        ds = safe_softmax_backward(a, da)
        self.score_grad = ds                                           # dL/d(scores + bias)
        dq = scale * (ds @ k)
        dk = scale * (ds.swapaxes(-1, -2) @ q)
        W = self.params["in_proj_weight"]
        grads = []
        for i, (x, dp) in enumerate(zip((query, key, value), (dq, dk, dv))):
            dp = self.merge_heads(dp)
            sl = slice(i * E, (i + 1) * E)
            self.grads["in_proj_weight"][sl] += dp.reshape(-1, E).T @ x.reshape(-1, E)
            if self.has_bias:
                self.grads["in_proj_bias"][sl] += dp.reshape(-1, E).sum(axis=0)
            dx = dp @ W[sl]
            grads.append(dx if self.batch_first else dx.swapaxes(0, 1))
        return tuple(grads)

    @property
    def last_attention(self):
        """Per-head weights (N, H, Tq, Tk) of the last forward (None before any)."""
        return None if self._cache is None else self._cache[6]

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"batch_first={self.batch_first}")


# -- sparse attention patterns -------------------------------------------------------------------
# Each returns a boolean (T, T) array ALLOWED[i, j] = True where query i may attend to key j
# (the functional convention); pass ``~allowed`` as attn_mask to the modules above.
def full_pattern(T, causal=False):
    """Dense attention: T² pairs, or T(T+1)/2 with a causal mask."""
    return ~causal_mask(T) if causal else np.ones((T, T), bool)


def strided_pattern(T, stride):
    """Sparse Transformer, strided (Child et al., 2019), causal: the previous ``stride``
    positions (a local band) and every ``stride``-th position before (i − j divisible by
    stride: diagonals every stride steps).
    About T(stride + T/stride) pairs, O(T√T) with stride ≈ √T."""
    i, j = np.arange(T, dtype=np.int32)[:, None], np.arange(T, dtype=np.int32)[None, :]
    return (j <= i) & ((i - j < stride) | ((i - j) % stride == 0))


def fixed_pattern(T, stride, c=1):
    """Sparse Transformer, fixed, causal: the query's own block of ``stride`` positions, plus
    the last ``c`` positions of every block ("summary" cells that carry information on)."""
    i, j = np.arange(T, dtype=np.int32)[:, None], np.arange(T, dtype=np.int32)[None, :]
    return (j <= i) & ((i // stride == j // stride) | (j % stride >= stride - c))


def sliding_window_pattern(T, window, dilation=1):
    """Longformer's (dilated) sliding window: keys within ``window`` steps of size
    ``dilation`` on each side, |i − j| <= window·dilation and (i − j) divisible by dilation.
    About T(2·window + 1) pairs: linear in T."""
    i, j = np.arange(T, dtype=np.int32)[:, None], np.arange(T, dtype=np.int32)[None, :]
    d = np.abs(i - j)
    return (d <= window * dilation) & (d % dilation == 0)


def add_global_tokens(pattern, tokens):
    """Longformer / BigBird global tokens (e.g. [CLS]): they attend to every position and
    every position attends to them (a full row and a full column each)."""
    p = pattern.copy()
    p[list(tokens), :] = True
    p[:, list(tokens)] = True
    return p


def bigbird_pattern(T, window, global_tokens=(0,), num_random=2, rng=None):
    """BigBird: sliding window + global tokens + ``num_random`` random keys per query."""
    rng = np.random.default_rng(0) if rng is None else rng
    p = sliding_window_pattern(T, window)
    for i in range(T):
        p[i, rng.choice(T, size=min(num_random, T), replace=False)] = True
    return add_global_tokens(p, global_tokens)
