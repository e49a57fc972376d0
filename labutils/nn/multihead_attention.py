"""Multi-head attention (torch.nn.MultiheadAttention), written with the pairs of ``heads``
(input projection, split and merge) and a softmax taken one block of query rows at a time.

    q, k, v = in_projection(query, key, value)         each (N, T, E), split into H heads
                                                        of d = E/H: views (N, H, T, d)
    S = q kᵀ/√d + bias      A = softmax(S)              (N, H, Tq, Tk), all heads in one matmul
    O = dropout(A) v        attn_output = out_proj(merge_heads(O))       (N, Tq, E)

The (Tq, Tk) matrices never exist whole. As in FlashAttention, the queries go in blocks of
rows, one tile (N, H, rows, Tk) of at most TILE_BYTES at a time, in buffers kept from call
to call; the forward keeps, per query row, only the log-sum-exp L_i = log Σ_j exp(S_ij)
(+inf for a row with no key left: its weights are 0), and backward recomputes each tile
A = exp(S − L):

    dA' = dO vᵀ (+ dweights)       dv = Σ_tiles dropout(A)ᵀ dO      dA = dropout backward of dA'
    dS = A ⊙ (dA − rowsum(dA ⊙ A))          computed in dA's buffer (the softmax backward)
    dq = dS k /√d          dk = dSᵀ q /√d                (q is kept already divided by √d)

Where the time goes (E = 64, H = 4, d = 16; benchmarks/bench_attention.py): the products with
a (Tq, Tk) side (q kᵀ and A v forward; q kᵀ again, dO vᵀ, Aᵀ dO, dS k, dSᵀ q backward; each
2·N·H·Tq·Tk·d flops) and the elementwise passes over the tiles (max, subtract, exp, sum; the
softmax backward) are all quadratic in T; the exp is the largest single pass. The projections
and out_proj are linear in T. Memory beyond the inputs is O(N·H·T) (L, the heads) plus two
tiles, where storing A would be O(N·H·T²) (attention dropout, while training, keeps its
(N, H, Tq, Tk) mask; a float attn_mask is the caller's own (Tq, Tk) array).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import init, validate
from ..module import Module
from .dropout import Dropout
from .heads import (InProjectionCache, _in_projection, _in_projection_backward, merge_heads,
                    split_heads)
from .linear import Linear, _linear_forward
from .masks import _bias_terms, causal_mask

__all__ = ["MultiheadAttention"]

TILE_BYTES = 2 * 2 ** 20      # one tile of scores: small enough to stay in cache, reused
_ARRAY, _F64 = np.ndarray, np.dtype(np.float64)


class _MHACache(NamedTuple):
    projection: InProjectionCache
    q: np.ndarray                 # (N, H, Tq, d), already divided by √d
    k: np.ndarray                 # (N, H, Tk, d)
    v: np.ndarray                 # (N, H, Tk, d)
    bias: tuple[np.ndarray, ...]  # the masks, each broadcasting to (N, H, Tq, Tk)
    lse: np.ndarray               # L = log Σ_j exp(S_ij): (N, H, Tq, 1); +inf: no key
    drop: np.ndarray | None       # dropout's mask keep/(1 − p) on A (N, H, Tq, Tk), or None
    average: bool
    need_weights: bool
    float_mask: bool              # a float attn_mask: keep its gradient in score_grad


def _heads(x: np.ndarray, num_heads: int) -> np.ndarray:
    """split_heads without its checks: (N, T, E) -> (N, H, T, d), a view."""
    N, T, E = x.shape
    return x.reshape(N, T, num_heads, E // num_heads).transpose(0, 2, 1, 3)


def _merged(x: np.ndarray) -> np.ndarray:
    """merge_heads without its checks: (N, H, T, d) -> (N, T, H·d)."""
    N, H, T, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(N, T, H * d)


def _row_blocks(tq: int, row_entries: int, itemsize: int) -> list[slice]:
    """Blocks of query rows whose tiles (row_entries numbers a row) fit in TILE_BYTES."""
    rows = max(1, TILE_BYTES // max(1, row_entries * itemsize))
    return [slice(i, min(i + rows, tq)) for i in range(0, tq, rows)]


def _tile(scratch: dict | None, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A scratch array kept from call to call in ``scratch`` (allocated again only when the
    shape or dtype changes: no fresh pages to fault in at every step); None: a new one."""
    buf = None if scratch is None else scratch.get(name)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = np.empty(shape, dtype)
        if scratch is not None:
            scratch[name] = buf
    return buf


def _scores(c: _MHACache, rows: slice, out: np.ndarray) -> np.ndarray:
    """The tile S[:, :, rows] = q[rows] kᵀ/√d + bias, written into ``out``."""
    np.matmul(c.q[:, :, rows], c.k.swapaxes(-1, -2), out=out)
    for b in c.bias:
        out += b if b.shape[-2] == 1 else b[:, :, rows]
    return out


def _attend(c: _MHACache, weights: np.ndarray | None,
            scratch: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Forward, block by block -> (O (N, H, Tq, d), L (N, H, Tq, 1)). Writes the weights
    (dropout included) into ``weights`` (N, Tq, Tk) averaged over heads, or (N, H, Tq, Tk)."""
    N, H, tq, _ = c.q.shape
    o, lse = np.empty_like(c.q), np.empty((N, H, tq, 1), c.q.dtype)
    blocks = _row_blocks(tq, N * H * c.k.shape[2], c.q.itemsize)
    tile = _tile(scratch, "a", (N, H, blocks[0].stop if blocks else 0, c.k.shape[2]), c.q.dtype)
    for rows in blocks:
        s = _scores(c, rows, tile[:, :, :rows.stop - rows.start])
        m = s.max(axis=-1, keepdims=True, initial=-np.inf)     # initial: Tk may be 0
        m[m == -np.inf] = 0                                      # a row with every key masked
        s -= m
        np.exp(s, out=s)
        total = s.sum(axis=-1, keepdims=True)
        inv = np.divide(1, total, out=np.zeros_like(total), where=total > 0)
        # total >= 1 where a key is left (its largest term is e⁰ = 1); L = +inf where none is;
        # NaN where a score is NaN (the forward then names it: _out_projection)
        lse[:, :, rows] = np.where(total == 0, np.inf, m + np.log(np.maximum(total, 1)))
        if c.drop is not None:
            s *= c.drop[:, :, rows]
        np.matmul(s, c.v, out=o[:, :, rows])
        o[:, :, rows] *= inv
        if weights is not None:
            s *= inv
            weights[..., rows, :] = s.mean(axis=1) if c.average else s
    return o, lse


def _attend_backward(c: _MHACache, do: np.ndarray, dweights: np.ndarray | None,
                     score_grad: np.ndarray | None, scratch: dict | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dO (N, H, Tq, d) -> (dq, dk, dv) of the heads, recomputing A one block at a time.
    ``dweights``: dL/d(the weights returned), broadcast to (N, H, Tq, Tk) or None."""
    N, H, tq, d = c.q.shape
    dq, dk, dv = np.empty_like(c.q), np.zeros_like(c.k), np.zeros_like(c.v)
    blocks = _row_blocks(tq, N * H * c.k.shape[2], c.q.itemsize)
    shape = (N, H, blocks[0].stop if blocks else 0, c.k.shape[2])
    tile_a, tile_d = _tile(scratch, "a", shape, c.q.dtype), _tile(scratch, "d", shape, c.q.dtype)
    for rows in blocks:
        a = _scores(c, rows, tile_a[:, :, :rows.stop - rows.start])
        a -= c.lse[:, :, rows]
        np.exp(a, out=a)                                             # A, recomputed
        a_drop = a if c.drop is None else a * c.drop[:, :, rows]
        dv += a_drop.swapaxes(-1, -2) @ do[:, :, rows]
        da = np.matmul(do[:, :, rows], c.v.swapaxes(-1, -2), out=tile_d[:, :, :a.shape[2]])
        if dweights is not None:
            da += dweights[:, :, rows]
        if c.drop is not None:
            da *= c.drop[:, :, rows]
        da -= np.vecdot(da, a)[..., None]                            # rowsum(dA ⊙ A)
        da *= a                                                      # dS, in dA's buffer
        if score_grad is not None:
            score_grad[:, :, rows] = da
        np.matmul(da, c.k, out=dq[:, :, rows])
        dk += da.swapaxes(-1, -2) @ c.q[:, :, rows]
    return dq / math.sqrt(d), dk, dv


class MultiheadAttention(Module):
    """torch.nn.MultiheadAttention (kdim = vdim = embed_dim; no add_bias_kv / add_zero_attn).

    query: (N, Tq, E), key: (N, Tk, E), value: (N, Tk, E) with batch_first=True
    (else (T, N, E)) -> attn_output: same layout as query, attn_weights: (N, Tq, Tk) averaged
    over heads (or (N, H, Tq, Tk) with average_attn_weights=False; None if not need_weights).

    params: in_proj_weight (3E, E) = [W_q; W_k; W_v],  in_proj_bias (3E,),
            out_proj.weight (E, E), out_proj.bias (E,)
    key_padding_mask: (N, Tk), attn_mask: (Tq, Tk) or (N·H, Tq, Tk); bool True = MASKED OUT,
    or float added to the scores. is_causal=True with no attn_mask uses causal_mask(Tq, Tk).

    A fully masked query row (or Tk = 0) gives A = 0, so attn_output = out_proj.bias there;
    torch does the same with need_weights=False and returns NaN with need_weights=True.
    backward(dout, dweights=None) -> (dquery, dkey, dvalue). After a forward with a float
    attn_mask it also leaves dL/dscores (N, H, Tq, Tk) in ``score_grad`` (the gradient of that
    mask, e.g. a learned bias); otherwise ``score_grad`` is None (no (Tq, Tk) array is kept).
    ``last_attention``: the per-head weights (N, H, Tq, Tk) of the last forward (recomputed).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False, rng: np.random.Generator | None = None,
                 dtype: type = np.float64) -> None:
        super().__init__()
        _check_sizes(embed_dim, num_heads, dropout, dtype)
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
        self._cache, self.score_grad, self._scratch = None, None, {}   # _scratch: the tiles

    def split_heads(self, x: np.ndarray) -> np.ndarray:
        """(N, T, E) -> (N, H, T, d): ``heads.split_heads`` with this module's H."""
        return split_heads(x, self.num_heads)

    def merge_heads(self, x: np.ndarray) -> np.ndarray:
        """(N, H, T, d) -> (N, T, E): ``heads.merge_heads``."""
        return merge_heads(x)

    def _common(self, query: object, key: object, value: object) -> bool:
        """The common case, every check of ``_batch_first`` but NaN's (see forward): float
        arrays of one dtype, (N, T, E) or (T, N, E), none empty, key and value alike, one N."""
        if type(query) is not _ARRAY or type(key) is not _ARRAY or type(value) is not _ARRAY:
            return False
        qs, ks, dtype, n = query.shape, key.shape, query.dtype, 0 if self.batch_first else 1
        return (len(qs) == len(ks) == 3 and qs[2] == ks[2] == self.embed_dim and qs[n] == ks[n]
                and ks == value.shape and key.dtype is dtype is value.dtype
                and (dtype is _F64 or dtype.kind == "f") and 0 not in qs and 0 not in ks)

    def _batch_first(self, query: np.ndarray, key: np.ndarray, value: np.ndarray,
                     checked: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """query, key, value checked (unless ``checked``) and in the (N, T, E) layout."""
        name, E = "MultiheadAttention", self.embed_dim
        for arg, x in (() if checked else (("query", query), ("key", key), ("value", value))):
            if arg == "query" or x is not query:           # self-attention: checked once
                validate.array(x, name, arg, ndim=3, shape=(E,))
            if x.dtype != query.dtype:
                raise TypeError(f"{name}: {arg} must have the query's dtype {query.dtype}, "
                                f"got {x.dtype}")
        if not self.batch_first:
            query, key, value = (x.swapaxes(0, 1) for x in (query, key, value))
        if not checked and (key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]):
            layout = "(N, T, E)" if self.batch_first else "(T, N, E)"
            raise ValueError(f"{name}: query, key and value must share N and key/value their "
                             f"length, in layout {layout}; got query {query.shape}, key "
                             f"{key.shape}, value {value.shape} (batch-first view)")
        return query, key, value

    def _dropout_mask(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray | None:
        """keep/(1 − p) for the weights (N, H, Tq, Tk), or None when nothing is dropped."""
        drop = self.dropout
        if not (drop.training and drop.p):
            return None
        keep = drop.next_keep if drop.next_keep is not None else drop.rng.random(shape) >= drop.p
        if keep.shape != shape:
            raise ValueError(f"MultiheadAttention: dropout.next_keep must have the weights' "
                             f"shape {shape}, got {keep.shape}")
        drop.next_keep = None
        return np.zeros(shape, dtype) if drop.p == 1 else (keep / (1 - drop.p)).astype(dtype)

    def forward(self, query: np.ndarray, key: np.ndarray, value: np.ndarray,
                key_padding_mask: np.ndarray | None = None, need_weights: bool = True,
                attn_mask: np.ndarray | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        inputs = (query, key, value)
        fast = (key_padding_mask is None and attn_mask is None and not is_causal
                and not (self.dropout.training and self.dropout.p)
                and self._common(query, key, value))
        query, key, value = self._batch_first(query, key, value, checked=fast)
        (N, tq, _), tk, H = query.shape, key.shape[1], self.num_heads
        if attn_mask is None and is_causal:
            attn_mask = causal_mask(tq, tk)
        bias = _bias_terms("MultiheadAttention", (N, tq, tk), query.dtype, key_padding_mask,
                           attn_mask, H)
        projected, projection = _in_projection(query, key, value, self.params["in_proj_weight"],
                                               self.params.get("in_proj_bias"))
        q, k, v = (_heads(p, H) for p in projected)
        cache = _MHACache(projection, q / math.sqrt(self.head_dim), k, v, bias, None,
                          self._dropout_mask((N, H, tq, tk), query.dtype), average_attn_weights,
                          need_weights, attn_mask is not None and attn_mask.dtype != bool)
        weights = None
        if need_weights:
            weights = np.empty((N, tq, tk) if average_attn_weights else (N, H, tq, tk), q.dtype)
        o, lse = _attend(cache, weights, self._scratch)
        out = self._out_projection(_merged(o), inputs, fast, lse)
        self._cache = cache._replace(lse=lse)
        return (out if self.batch_first else out.swapaxes(0, 1)), weights

    def _out_projection(self, merged: np.ndarray, inputs: tuple, fast: bool,
                        lse: np.ndarray) -> np.ndarray:
        """out_proj(merged) (merged is this forward's own array: not checked again). A NaN in
        a score, or in an input when ``fast`` (no mask hides a key), reaches the output: it is
        tested once and, when that fires, named (out_proj keeps its cache only when nothing is
        raised, so a call that raises changes nothing)."""
        p = self.out_proj.params
        out, cache = _linear_forward(merged, p["weight"], p["bias"] if self.has_bias else None)
        if validate.may_hold_nan(out):
            if fast:
                self._batch_first(*inputs)                  # names an input that holds NaN
            if validate.may_hold_nan(lse):
                raise ValueError("MultiheadAttention: the scores must be numbers, got NaN (an "
                                 "infinite input, weight or float mask?)")
        self.out_proj._cache = cache
        return out

    def backward(self, dout: np.ndarray,
                 dweights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        name = "MultiheadAttention"
        c = validate.forward_called(name, self._cache)
        query, H = c.projection.inputs[0], self.num_heads
        expected = query.shape if self.batch_first else query.swapaxes(0, 1).shape
        validate.array(dout, name, "dout (the gradient of attn_output)")
        if dout.shape != expected:
            raise ValueError(f"{name}: dout must have the output's shape {expected}, got "
                             f"{dout.shape} (dout is the gradient of attn_output)")
        dweights = self._check_dweights(c, dweights)
        do = _heads(self.out_proj.backward(dout if self.batch_first
                                           else dout.swapaxes(0, 1)), H)        # (N, H, Tq, d)
        score_grad = np.empty(c.q.shape[:3] + c.k.shape[2:3], c.q.dtype) if c.float_mask else None
        dq, dk, dv = _attend_backward(c, do, dweights, score_grad, self._scratch)
        self.score_grad = score_grad                                   # dL/d(scores + bias)
        dinputs, dweight, dbias = _in_projection_backward(
            tuple(_merged(d) for d in (dq, dk, dv)), c.projection)
        self.grads["in_proj_weight"] += dweight
        if self.has_bias:
            self.grads["in_proj_bias"] += dbias
        return tuple(dx if self.batch_first else dx.swapaxes(0, 1) for dx in dinputs)

    def _check_dweights(self, c: _MHACache, dweights: np.ndarray | None) -> np.ndarray | None:
        """dweights as (N, H or 1, Tq, Tk) (averaged weights: divided by H), or None."""
        if dweights is None:
            return None
        name = "MultiheadAttention"
        if not c.need_weights:
            raise ValueError(f"{name}: dweights must be None after a forward with "
                             f"need_weights=False (no weights were returned), got an array")
        N, H, tq, _ = c.q.shape
        shape = (N, tq, c.k.shape[2]) if c.average else (N, H, tq, c.k.shape[2])
        validate.grad(dweights, shape, name, "dweights (the gradient of attn_weights)")
        return dweights[:, None] / H if c.average else dweights

    @property
    def last_attention(self) -> np.ndarray | None:
        """Per-head weights (N, H, Tq, Tk) of the last forward (None before any), recomputed
        from what the forward kept: A = exp(S − L)."""
        c = self._cache
        if c is None:
            return None
        a = _scores(c, slice(None), np.empty(c.q.shape[:3] + c.k.shape[2:3], c.q.dtype))
        a -= c.lse
        return np.exp(a, out=a)

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"batch_first={self.batch_first}")


def _check_sizes(embed_dim: object, num_heads: object, dropout: object, dtype: object) -> None:
    name = "MultiheadAttention"
    validate.positive_int(embed_dim, name, "embed_dim")
    validate.positive_int(num_heads, name, "num_heads")
    if embed_dim % num_heads:
        raise ValueError(f"{name}: embed_dim ({embed_dim}) must be divisible by num_heads "
                         f"({num_heads}), got a remainder of {embed_dim % num_heads}")
    validate.probability(dropout, name, "dropout")
    try:
        kind, got = np.dtype(dtype).kind, np.dtype(dtype).name
    except TypeError:
        kind, got = None, repr(dtype)
    if kind != "f":
        raise TypeError(f"{name}: dtype must be a floating-point type, got {got}")
