"""The doors of the attention pairs and of the functional form (``attention.py``): each checks
the arguments of one call and raises ``TypeError`` or ``ValueError`` in the course's form,
``Owner: arg must be <expected>, got <what came>``, before anything is computed. A caller that
has checked its own arguments calls the next pair with ``check=False``, so a chain such as
``scaled_dot_product_attention`` -> ``attention_forward`` -> ``dot_score_forward``,
``attend_forward`` -> ``safe_softmax`` checks once, at its door. Not public.
"""
from __future__ import annotations

import math

import numpy as np

from .. import validate
from .masks import _batch, _check_scale, _fits

__all__: list[str] = []


def batch_of(owner: str, **arrays: np.ndarray) -> tuple[int, ...]:
    """``_batch``, without NumPy's broadcast (4 us) when the batch shapes are equal (common)."""
    shapes = [x.shape[:-2] for x in arrays.values()]
    return shapes[0] if shapes.count(shapes[0]) == len(shapes) else _batch(owner, **arrays)


def pair_args(owner: str, query: np.ndarray, key: np.ndarray, scale: object) -> None:
    validate.array(query, owner, "query", min_ndim=2)
    validate.array(key, owner, "key", min_ndim=2, shape=(query.shape[-1],))
    batch_of(owner, query=query, key=key)
    _check_scale(owner, scale)


def query_key_args(owner: str, query: np.ndarray, key: np.ndarray) -> None:
    """query (N, Tq, Dq) and key (N, Tk, Dk) with the same N."""
    validate.array(query, owner, "query", ndim=3)
    validate.array(key, owner, "key", ndim=3)
    if key.shape[0] != query.shape[0]:
        raise ValueError(f"{owner}: key must have the query's batch size {query.shape[0]}, "
                         f"got shape {key.shape}")


def dscores_args(dscores: object, q: np.ndarray, k: np.ndarray) -> None:
    """dscores shaped like the scores (*, Tq, Tk) of q and k."""
    scores = batch_of("dot_score_backward", query=q, key=k) + (q.shape[-2], k.shape[-2])
    validate.grad(dscores, scores, "dot_score_backward", "dscores")


def attend_args(scores: np.ndarray, value: np.ndarray) -> None:
    validate.array(scores, "attend_forward", "scores", min_ndim=2)
    validate.array(value, "attend_forward", "value", min_ndim=2, shape=(scores.shape[-1], None))
    batch_of("attend_forward", scores=scores, value=value)


def grads_args(owner: str, w: np.ndarray, value: np.ndarray, dcontext: object,
               dweights: object) -> None:
    """dcontext shaped like the context (*, Tq, Dv); dweights like the weights, or None."""
    context = batch_of(owner, weights=w, value=value) + (w.shape[-2], value.shape[-1])
    validate.grad(dcontext, context, owner, "dcontext")
    if dweights is not None:
        validate.grad(dweights, w.shape, owner, "dweights")


def attention_args(owner: str, query: np.ndarray, key: np.ndarray, value: np.ndarray,
                   bias: object, scale: object) -> None:
    pair_args(owner, query, key, scale)
    validate.array(value, owner, "value", min_ndim=2, shape=(key.shape[-2], None))
    batch = batch_of(owner, query=query, key=key, value=value)
    if bias is not None:
        _fits(owner, "bias", validate.array(bias, owner, "bias"),
              batch + (query.shape[-2], key.shape[-2]))


def sdpa_args(owner: str, query: np.ndarray, key: np.ndarray, value: np.ndarray,
              scale: object) -> tuple[int, ...]:
    """The functional form's scale, query, key and value -> their batch dimensions."""
    _check_scale(owner, scale)
    validate.array(query, owner, "query", min_ndim=2)
    validate.array(key, owner, "key", min_ndim=2, shape=(query.shape[-1],))
    validate.array(value, owner, "value", min_ndim=2, shape=(key.shape[-2], None))
    return batch_of(owner, query=query, key=key, value=value)


def sdpa_common(query: object, key: object, value: object, attn_mask: object,
                scale: object) -> bool:
    """The functional form's common case, checked without the NaN tests: float arrays, none
    empty, of equal batch dimensions and matching sizes, no attn_mask, scale None or a finite
    float. A NaN in any of them then reaches the output (a NaN score makes its row of weights
    NaN), so the caller tests the output once and runs every check only when that fires."""
    if (attn_mask is not None or type(query) is not _ARRAY or type(key) is not _ARRAY
            or type(value) is not _ARRAY):
        return False
    qs, ks, vs, dtype = query.shape, key.shape, value.shape, query.dtype
    return ((qs == ks or len(qs) == len(ks) and qs[:-2] == ks[:-2] and qs[-1] == ks[-1])
            and (ks == vs or len(ks) == len(vs) and ks[:-1] == vs[:-1]) and len(qs) >= 2
            and key.dtype is dtype is value.dtype and (dtype is _F64 or dtype.kind == "f")
            and 0 not in qs and 0 not in vs
            and (scale is None or type(scale) is float and math.isfinite(scale)))


_ARRAY, _F64 = np.ndarray, np.dtype(np.float64)
