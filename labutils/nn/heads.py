"""Heads: the input projection of multi-head attention, and the split of a model-wide vector
into heads and back. Shared by ``MultiheadAttention`` and ``PerformerAttention``.

One weight (3E, E) = [W_q; W_k; W_v] and one bias (3E,) = [b_q; b_k; b_v] project the three
inputs (torch's ``in_proj_weight`` / ``in_proj_bias``):

    q = query W_qᵀ + b_q      k = key W_kᵀ + b_k      v = value W_vᵀ + b_v       each (N, T, E)

backward, for each of the three slices (x its input, dp = dL/dp its projection):

    dx = dp W_slice      dW_slice = Σ_{n,t} dp[n, t]ᵀ x[n, t]      db_slice = Σ_{n,t} dp[n, t]

The H heads of size d = E / H are E's consecutive blocks of d columns:

    split_heads: (N, T, E) -> (N, H, T, d)       merge_heads: (N, H, T, d) -> (N, T, H·d)

and merge_heads(split_heads(x, H)) = x. Both only move entries, so each is the other's backward.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import validate

__all__ = ["split_heads", "merge_heads", "InProjectionCache", "in_projection",
           "in_projection_backward"]


def split_heads(x: np.ndarray, num_heads: int) -> np.ndarray:
    """(N, T, E) -> (N, num_heads, T, E // num_heads): head h holds columns h·d .. (h+1)·d − 1."""
    _check_split(x, num_heads)
    N, T, E = x.shape
    return x.reshape(N, T, num_heads, E // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x: np.ndarray) -> np.ndarray:
    """(N, H, T, d) -> (N, T, H·d): the inverse of ``split_heads``."""
    validate.array(x, "merge_heads", "x", ndim=4, dtype=None)
    N, H, T, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(N, T, H * d)


class InProjectionCache(NamedTuple):
    """What ``in_projection_backward`` needs: the three inputs and the weight."""
    inputs: tuple[np.ndarray, np.ndarray, np.ndarray]     # query, key, value: (N, T*, E)
    weight: np.ndarray                                     # (3E, E)
    has_bias: bool


def in_projection(query: np.ndarray, key: np.ndarray, value: np.ndarray, weight: np.ndarray,
                  bias: np.ndarray | None = None
                  ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], InProjectionCache]:
    """((q, k, v), cache): x_i W_iᵀ + b_i for the slices i = 0, 1, 2 of weight (3E, E) and
    bias (3E,) (or None). query: (N, Tq, E), key and value: (N, Tk, E)
    -> q (N, Tq, E), k and v (N, Tk, E)."""
    _check_projection(query, key, value, weight, bias)
    return _in_projection(query, key, value, weight, bias)


def _in_projection(query: np.ndarray, key: np.ndarray, value: np.ndarray, weight: np.ndarray,
                   bias: np.ndarray | None
                   ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], InProjectionCache]:
    """``in_projection`` without the checks (for a module that checked its inputs). For
    self-attention (query, key and value the same array) one product gives all three."""
    E = weight.shape[1]
    if query is key and key is value:
        y = query @ weight.T                                   # (N, T, 3E) = [q | k | v]
        if bias is not None:
            y += bias
        out = [y[..., :E], y[..., E:2 * E], y[..., 2 * E:]]
    else:
        out = []
        for i, x in enumerate((query, key, value)):
            sl = slice(i * E, (i + 1) * E)
            y = x @ weight[sl].T
            out.append(y if bias is None else y + bias[sl])
    return tuple(out), InProjectionCache((query, key, value), weight, bias is not None)


def in_projection_backward(dprojected: tuple[np.ndarray, np.ndarray, np.ndarray],
                           cache: InProjectionCache
                           ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray,
                                      np.ndarray | None]:
    """(dq, dk, dv) -> ((dquery, dkey, dvalue), dweight (3E, E), dbias (3E,) or None)."""
    if not isinstance(cache, InProjectionCache):
        raise TypeError(f"in_projection_backward: cache must be the InProjectionCache of "
                        f"in_projection, got {type(cache).__name__}")
    if not isinstance(dprojected, (tuple, list)) or len(dprojected) != 3:
        raise TypeError(f"in_projection_backward: dprojected must be the three gradients "
                        f"(dq, dk, dv), got {type(dprojected).__name__}")
    for name, x, dp in zip(("dq", "dk", "dv"), cache.inputs, dprojected):
        validate.grad(dp, x.shape, "in_projection_backward", f"dprojected ({name})")
    return _in_projection_backward(dprojected, cache)


def _in_projection_backward(dprojected: tuple[np.ndarray, np.ndarray, np.ndarray],
                            cache: InProjectionCache
                            ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray,
                                       np.ndarray | None]:
    """``in_projection_backward`` without the checks."""
    weight = cache.weight
    E = weight.shape[1]
    dweight = np.zeros_like(weight)
    dbias = np.zeros(3 * E, weight.dtype) if cache.has_bias else None
    dinputs = []
    for i, (x, dp) in enumerate(zip(cache.inputs, dprojected)):
        sl = slice(i * E, (i + 1) * E)
        dweight[sl] = dp.reshape(-1, E).T @ x.reshape(-1, E)
        if dbias is not None:
            dbias[sl] = dp.reshape(-1, E).sum(axis=0)
        dinputs.append(dp @ weight[sl])
    return tuple(dinputs), dweight, dbias


# -- the front doors (issue 20) ----------------------------------------------------------------
def _check_split(x: np.ndarray, num_heads: int) -> None:
    validate.array(x, "split_heads", "x", ndim=3, dtype=None)
    validate.positive_int(num_heads, "split_heads", "num_heads")
    if x.shape[2] % num_heads:
        raise ValueError(f"split_heads: x's last axis must be divisible by num_heads "
                         f"({num_heads}), got shape {x.shape}")


def _check_projection(query: np.ndarray, key: np.ndarray, value: np.ndarray, weight: np.ndarray,
                      bias: np.ndarray | None) -> None:
    """weight (3E, E), bias (3E,) or None, query (N, Tq, E), key and value (N, Tk, E)."""
    owner = "in_projection"
    E = validate.array(weight, owner, "weight", ndim=2).shape[1]
    validate.array(weight, owner, "weight", shape=(3 * E, E))
    if bias is not None:
        validate.array(bias, owner, "bias", ndim=1, shape=(3 * E,))
    validate.array(query, owner, "query", ndim=3, shape=(E,))
    validate.array(key, owner, "key", ndim=3, shape=(query.shape[0], None, E))
    validate.array(value, owner, "value", ndim=3, shape=key.shape)
