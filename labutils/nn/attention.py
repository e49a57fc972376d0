"""Attention: a safe softmax, score functions, and scaled dot-product attention.

Every attention here computes, for each query q_i and the keys k_j with values v_j,

    s_ij = score(q_i, k_j) + b_ij        b_ij = 0, or -inf where (i, j) is masked out
    w_ij = softmax_j(s_ij)               a row with every key masked gives w_i = 0 (not NaN)
    c_i  = Σ_j w_ij v_j

backward (g = dL/dc, G = dL/dw given from outside, e.g. a loss on the weights):

    dv_j = Σ_i w_ij g_i
    dw_ij = g_i · v_j + G_ij
    ds_ij = w_ij (dw_ij − Σ_j' w_ij' dw_ij')          (0 wherever w is 0: masked entries)
    dq, dk from ds through the score function.

The pairs, top to bottom: ``safe_softmax`` (and its backward); ``attend_forward/backward``
(scores and values -> weights and context); the score functions

    dot (Luong), scaled dot (Vaswani)  s = qᵀ k · scale (scale 1 or 1/√d)   dot_score_*
    bilinear (Luong "general")         s = qᵀ W k                            bilinear_score_*
    additive (Bahdanau)                s = vᵀ tanh(W_q q + W_k k + b)        additive_score_*

and ``attention_forward/backward``: scaled dot-product attention with an additive bias, the
dot score followed by attend. ``scaled_dot_product_attention`` is torch's functional form
over them. The modules over these pairs are in ``attention_layers`` (the score-function
attentions) and ``multihead_attention``; the masks and sparse patterns are in ``masks``.

A fully masked row (a query that may attend to no key) gives zero weights, a zero output and
a zero gradient (a "safe" softmax), as torch's functional form does. torch's
``MultiheadAttention`` gives NaN for such a row with ``need_weights=True`` and zeros with
``need_weights=False``; labutils always gives zeros, so compare with the latter.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import validate
from .attention_checks import (attend_args, attention_args, dscores_args, grads_args, pair_args,
                               query_key_args, sdpa_args, sdpa_common)
from .masks import (_batch, _cached, _check_axis, _check_scale, _fits,  # noqa: F401 (re-exported)
                    add_global_tokens, bigbird_pattern, causal_mask, fixed_pattern, full_pattern,
                    mask_to_bias, sliding_window_pattern, strided_pattern)

__all__ = ["safe_softmax", "safe_softmax_backward", "masked_softmax", "AttendCache",
           "attend_forward", "attend_backward", "DotScoreCache", "dot_score_forward",
           "dot_score_backward", "BilinearScoreCache", "bilinear_score_forward",
           "bilinear_score_backward", "AdditiveScoreCache", "additive_score_forward",
           "additive_score_backward", "AttentionCache", "attention_forward", "attention_backward",
           "scaled_dot_product_attention", "scaled_dot_product_attention_backward"]


# -- the safe softmax ------------------------------------------------------------------------
def safe_softmax(scores: np.ndarray, axis: int = -1, check: bool = True) -> np.ndarray:
    """softmax along ``axis`` where entries may be -inf (masked out). A slice that is all
    -inf gives zeros instead of 0/0 = NaN. check=False: the caller has checked ``scores``.

        m = max_j s_j (0 if every s_j = -inf);   e_j = exp(s_j − m);
        w_j = e_j / Σ e (0 if Σ e = 0)
    """
    if check:
        _check_axis("safe_softmax", validate.array(scores, "safe_softmax", "scores", min_ndim=1),
                    axis)
    m = np.max(scores, axis=axis, keepdims=True, initial=-np.inf)     # initial: an empty axis
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(scores - m)
    total = e.sum(axis=axis, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total != 0)


def safe_softmax_backward(weights: np.ndarray, dweights: np.ndarray, axis: int = -1,
                          check: bool = True) -> np.ndarray:
    """ds = w ⊙ (dw − Σ dw ⊙ w): zero wherever w is zero, so masked entries and fully masked
    rows get no gradient."""
    owner = "safe_softmax_backward"
    if check:
        _check_axis(owner, validate.array(weights, owner, "weights", min_ndim=1), axis)
        validate.grad(dweights, weights.shape, owner, "dweights")
    return weights * (dweights - (dweights * weights).sum(axis=axis, keepdims=True))


def masked_softmax(scores: np.ndarray, mask: np.ndarray | None = None,
                   axis: int = -1) -> np.ndarray:
    """safe_softmax of ``scores`` with entries where ``mask`` is True (masked out) set to -inf.
    ``mask``: a bool array (True = masked out) that broadcasts against ``scores``. A float
    mask is refused: to add a float bias, add it to the scores (0.5 is not "half masked")."""
    _check_axis("masked_softmax", validate.array(scores, "masked_softmax", "scores", min_ndim=1),
                axis)
    if mask is not None:
        validate.array(mask, "masked_softmax", "mask", dtype=None)
        if mask.dtype != bool:
            raise TypeError(f"masked_softmax: mask must be a bool array (True = masked out; add "
                            f"a float bias to the scores instead), got dtype {mask.dtype}")
        _fits("masked_softmax", "mask", mask, scores.shape)
    if mask is None:
        return safe_softmax(scores, axis, check=False)
    return safe_softmax(np.where(mask, -np.inf, scores), axis, check=False)


# -- attend: weights and context from scores -------------------------------------------------
class AttendCache(NamedTuple):
    weights: np.ndarray     # (*, Tq, Tk)
    value: np.ndarray       # (*, Tk, Dv)


def attend_forward(scores: np.ndarray, value: np.ndarray,
                   check: bool = True) -> tuple[np.ndarray, AttendCache]:
    """scores (*, Tq, Tk) (bias included), value (*, Tk, Dv) -> context (*, Tq, Dv);
    w = safe_softmax(scores), context = w v. The weights are ``cache.weights``."""
    if check:
        attend_args(scores, value)
    w = safe_softmax(scores, check=False)
    return w @ value, AttendCache(w, value)


def attend_backward(dcontext: np.ndarray, cache: AttendCache, dweights: np.ndarray | None = None,
                    check: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """dcontext (*, Tq, Dv), dweights (*, Tq, Tk) or None -> (dscores, dvalue).

        dw = dcontext vᵀ (+ dweights);   dvalue = wᵀ dcontext;   dscores = softmax backward of dw
    """
    w, value = _cached("attend_backward", cache, AttendCache)
    if check:
        grads_args("attend_backward", w, value, dcontext, dweights)
    dw = dcontext @ np.swapaxes(value, -1, -2)
    if dweights is not None:
        dw = dw + dweights
    dvalue = np.swapaxes(w, -1, -2) @ dcontext
    return safe_softmax_backward(w, dw, check=False), dvalue


# -- score functions ----------------------------------------------------------------------------
class DotScoreCache(NamedTuple):
    query: np.ndarray       # (*, Tq, D)
    key: np.ndarray         # (*, Tk, D)
    scale: float


def dot_score_forward(query: np.ndarray, key: np.ndarray, scale: float = 1.0,
                      check: bool = True) -> tuple[np.ndarray, DotScoreCache]:
    """s = q kᵀ · scale.  query (*, Tq, D), key (*, Tk, D) -> scores (*, Tq, Tk)."""
    if check:
        pair_args("dot_score_forward", query, key, scale)
    return (query @ np.swapaxes(key, -1, -2)) * scale, DotScoreCache(query, key, scale)


def dot_score_backward(dscores: np.ndarray, cache: DotScoreCache,
                       check: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """-> (dquery, dkey):  dq = scale · ds k;   dk = scale · dsᵀ q."""
    q, k, c = _cached("dot_score_backward", cache, DotScoreCache)
    if check:
        dscores_args(dscores, q, k)
    return c * (dscores @ k), c * (np.swapaxes(dscores, -1, -2) @ q)


class BilinearScoreCache(NamedTuple):
    query: np.ndarray       # (N, Tq, Dq)
    key: np.ndarray         # (N, Tk, Dk)
    weight: np.ndarray      # (Dq, Dk)


def bilinear_score_forward(query: np.ndarray, key: np.ndarray,
                           weight: np.ndarray) -> tuple[np.ndarray, BilinearScoreCache]:
    """s = q W kᵀ.  query (N, Tq, Dq), key (N, Tk, Dk), weight (Dq, Dk) -> (N, Tq, Tk)."""
    query_key_args("bilinear_score_forward", query, key)
    validate.array(weight, "bilinear_score_forward", "weight", ndim=2,
                   shape=(query.shape[-1], key.shape[-1]))
    return (query @ weight) @ key.swapaxes(1, 2), BilinearScoreCache(query, key, weight)


def bilinear_score_backward(dscores: np.ndarray, cache: BilinearScoreCache
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (dquery, dkey, dweight):  dq = ds (k Wᵀ);  dk = dsᵀ (q W);  dW = Σ_n qᵀ ds k."""
    q, k, W = _cached("bilinear_score_backward", cache, BilinearScoreCache)
    validate.grad(dscores, q.shape[:2] + k.shape[1:2], "bilinear_score_backward", "dscores")
    dweight = np.einsum("nqi,nqk,nkj->ij", q, dscores, k)
    return dscores @ (k @ W.T), dscores.swapaxes(1, 2) @ (q @ W), dweight


class AdditiveScoreCache(NamedTuple):
    query: np.ndarray       # (N, Tq, Dq)
    key: np.ndarray         # (N, Tk, Dk)
    hidden: np.ndarray      # h = tanh(a_i + b_j): (N, Tq, Tk, Dh)
    w_query: np.ndarray     # (Dh, Dq)
    w_key: np.ndarray       # (Dh, Dk)
    w_score: np.ndarray     # (1, Dh)


def additive_score_forward(query: np.ndarray, key: np.ndarray, w_query: np.ndarray,
                           w_key: np.ndarray, b_key: np.ndarray, w_score: np.ndarray
                           ) -> tuple[np.ndarray, AdditiveScoreCache]:
    """s_ij = vᵀ tanh(W_q q_i + W_k k_j + b), v = w_score[0].
    query (N, Tq, Dq), key (N, Tk, Dk); w_query (Dh, Dq), w_key (Dh, Dk), b_key (Dh,),
    w_score (1, Dh) -> scores (N, Tq, Tk). Memory O(N Tq Tk Dh): fine for the course's sizes."""
    owner = "additive_score_forward"
    query_key_args(owner, query, key)
    dh = validate.array(w_query, owner, "w_query", ndim=2, shape=(None, query.shape[-1])).shape[0]
    validate.array(w_key, owner, "w_key (Dh from w_query)", ndim=2, shape=(dh, key.shape[-1]))
    validate.array(b_key, owner, "b_key (Dh from w_query)", ndim=1, shape=(dh,))
    validate.array(w_score, owner, "w_score (Dh from w_query)", ndim=2, shape=(1, dh))
    a, b = query @ w_query.T, key @ w_key.T + b_key
    h = np.tanh(a[:, :, None, :] + b[:, None, :, :])
    scores = (h @ w_score.T)[..., 0]
    return scores, AdditiveScoreCache(query, key, h, w_query, w_key, w_score)


def additive_score_backward(dscores: np.ndarray, cache: AdditiveScoreCache
                            ) -> tuple[np.ndarray, ...]:
    """-> (dquery, dkey, dw_query, dw_key, db_key, dw_score). With h_ij = tanh(a_i + b_j):

        dv = Σ ds_ij h_ij;   dpre_ij = ds_ij v ⊙ (1 − h_ij²);
        da_i = Σ_j dpre_ij;  db_j = Σ_i dpre_ij   (then through a = W_q q and b = W_k k + b)
    """
    q, k, h, Wq, Wk, v = _cached("additive_score_backward", cache, AdditiveScoreCache)
    validate.grad(dscores, h.shape[:3], "additive_score_backward", "dscores")
    dw_score = np.einsum("nqk,nqkh->h", dscores, h)[None]
    dpre = dscores[..., None] * v[0] * (1 - h * h)
    da, db = dpre.sum(axis=2), dpre.sum(axis=1)
    dw_query = da.reshape(-1, da.shape[-1]).T @ q.reshape(-1, q.shape[-1])
    dw_key = db.reshape(-1, db.shape[-1]).T @ k.reshape(-1, k.shape[-1])
    return da @ Wq, db @ Wk, dw_query, dw_key, db.sum(axis=(0, 1)), dw_score


# -- scaled dot-product attention: the dot score, then attend --------------------------------------
class AttentionCache(NamedTuple):
    score: DotScoreCache
    attend: AttendCache


def attention_forward(query: np.ndarray, key: np.ndarray, value: np.ndarray,
                      bias: np.ndarray | None = None, scale: float | None = None,
                      check: bool = True) -> tuple[np.ndarray, AttentionCache]:
    """context = softmax(q kᵀ · scale + bias) v, scale = 1/√D by default.

    query (*, Tq, D), key (*, Tk, D), value (*, Tk, Dv), bias broadcast to (*, Tq, Tk)
    (0 or -inf, or any float) -> context (*, Tq, Dv); the weights are ``cache.attend.weights``.
    """
    if check:       # then each step below need not check again
        attention_args("attention_forward", query, key, value, bias, scale)
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores, score_cache = dot_score_forward(query, key, scale, check=False)
    context, attend_cache = attend_forward(scores if bias is None else scores + bias, value,
                                           check=False)
    return context, AttentionCache(score_cache, attend_cache)


def attention_backward(dcontext: np.ndarray, cache: AttentionCache,
                       dweights: np.ndarray | None = None, check: bool = True
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (dquery, dkey, dvalue), unsummed over broadcast batch dimensions."""
    attend = _cached("attention_backward", cache, AttentionCache).attend
    if check:
        grads_args("attention_backward", attend.weights, attend.value, dcontext, dweights)
    dscores, dvalue = attend_backward(dcontext, cache.attend, dweights, check=False)
    dquery, dkey = dot_score_backward(dscores, cache.score, check=False)
    return dquery, dkey, dvalue


# -- the functional form (torch.nn.functional.scaled_dot_product_attention) -------------------
_SDPA = "scaled_dot_product_attention"


def _sum_to(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``x`` over the axes that were broadcast from ``shape``."""
    while x.ndim > len(shape):
        x = x.sum(axis=0)
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and x.shape[i] != 1)
    return x.sum(axis=axes, keepdims=True) if axes else x


def _sdpa_bias(owner: str, query: np.ndarray, key: np.ndarray, value: np.ndarray,
               attn_mask: np.ndarray | None, is_causal: bool, scale: object,
               check: bool = True) -> np.ndarray | None:
    """Check the arguments of the functional form (check=False: ``sdpa_common`` has); -> the
    additive bias of its scores."""
    batch = sdpa_args(owner, query, key, value, scale) if check else query.shape[:-2]
    tq, tk = query.shape[-2], key.shape[-2]
    bias = mask_to_bias(attn_mask, owner, "attn_mask", query.dtype, masked_value=False)
    if bias is not None:
        _fits(owner, "attn_mask", bias, batch + (tq, tk))
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{owner}: give attn_mask or is_causal=True, not both (as torch), "
                             f"got both")
        bias = np.where(causal_mask(tq, tk, align="start"), -np.inf, 0.0).astype(query.dtype)
    return bias


def scaled_dot_product_attention(query: np.ndarray, key: np.ndarray, value: np.ndarray,
                                 attn_mask: np.ndarray | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 return_weights: bool = False
                                 ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """torch.nn.functional.scaled_dot_product_attention (without dropout).

    query: (*, Tq, E), key: (*, Tk, E), value: (*, Tk, Ev) -> (*, Tq, Ev)
    attn_mask: bool, True = MAY ATTEND (torch's functional convention), or float added to the
               scores; broadcast to (*, Tq, Tk).
    is_causal: query i sees keys j <= i, aligned to the START (as torch); for Tq != Tk in
               cached decoding you want ``attn_mask=~causal_mask(Tq, Tk)`` (aligned to the end).
    scale: default 1/√E.  return_weights: also return the (*, Tq, Tk) weights.
    A query with every key masked gets zeros (torch does the same).
    """
    if isinstance(dropout_p, bool) or dropout_p != 0:
        raise ValueError(f"{_SDPA}: dropout_p must be 0 (use the Dropout module on the "
                         f"weights), got {dropout_p}")
    common = sdpa_common(query, key, value, attn_mask, scale)
    bias = _sdpa_bias(_SDPA, query, key, value, attn_mask, is_causal, scale, check=not common)
    out, cache = attention_forward(query, key, value, bias, scale, check=False)    # checked above
    if common and validate.may_hold_nan(out):
        _sdpa_bias(_SDPA, query, key, value, attn_mask, is_causal, scale)   # which input, if any
    return (out, cache.attend.weights) if return_weights else out


def scaled_dot_product_attention_backward(dout: np.ndarray, query: np.ndarray, key: np.ndarray,
                                          value: np.ndarray, attn_mask: np.ndarray | None = None,
                                          is_causal: bool = False, scale: float | None = None,
                                          dweights: np.ndarray | None = None
                                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dquery, dkey, dvalue) of ``scaled_dot_product_attention`` (recomputes the forward with
    ``attention_forward`` and goes back with ``attention_backward``). Gradients are summed
    over broadcast batch dimensions."""
    owner = _SDPA + "_backward"
    bias = _sdpa_bias(owner, query, key, value, attn_mask, is_causal, scale)
    out, cache = attention_forward(query, key, value, bias, scale, check=False)
    validate.grad(dout, out.shape, owner, "dout")
    if dweights is not None:
        validate.grad(dweights, cache.attend.weights.shape, owner, "dweights")
    dq, dk, dv = attention_backward(dout, cache, dweights, check=False)
    return _sum_to(dq, query.shape), _sum_to(dk, key.shape), _sum_to(dv, value.shape)


# -- compatibility: the modules moved to attention_layers and multihead_attention -------------
_MOVED = {"AdditiveAttention": "attention_layers", "BilinearAttention": "attention_layers",
          "DotProductAttention": "attention_layers",
          "ScaledDotProductAttention": "attention_layers",
          "MultiheadAttention": "multihead_attention"}


def __getattr__(name: str) -> object:
    """``from labutils.nn.attention import MultiheadAttention`` (older code) still works."""
    if name in _MOVED:
        import importlib
        return getattr(importlib.import_module(f"{__package__}.{_MOVED[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
