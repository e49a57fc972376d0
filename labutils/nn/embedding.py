"""Embedding: a lookup table, torch.nn.Embedding.

A token index i picks row i of the weight W (num_embeddings, embedding_dim): y = W[i]. It is
the product of a one-hot row with W, so its backward is the scatter-add

    dW[i] += dy   for each position that looked up i (repeated indices add up)

and there is no gradient for the integer input. A ``padding_idx`` row is zero and gets none.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .. import init, validate
from ..module import Module

__all__ = ["EmbeddingCache", "embedding_forward", "embedding_backward", "Embedding"]


class EmbeddingCache(NamedTuple):
    indices: np.ndarray               # (*) int
    num_embeddings: int
    padding_idx: int | None


def embedding_forward(indices: np.ndarray, weight: np.ndarray,
                      padding_idx: int | None = None) -> tuple[np.ndarray, EmbeddingCache]:
    """indices (*) int, weight (V, D) -> y (*, D) = weight[indices]."""
    validate.array(weight, "embedding_forward", "weight", ndim=2)
    V = weight.shape[0]
    check_indices(indices, V, "embedding_forward")
    padding_idx = check_padding_idx(padding_idx, V, "embedding_forward")
    return weight[indices], EmbeddingCache(indices, V, padding_idx)


def embedding_backward(dy: np.ndarray, cache: EmbeddingCache) -> np.ndarray:
    """dy (*, D) -> dweight (V, D): scatter-add of dy into the rows looked up."""
    if not isinstance(cache, EmbeddingCache):
        raise TypeError(f"embedding_backward: cache must be what embedding_forward returned "
                        f"(EmbeddingCache), got {type(cache).__name__}")
    idx, V, padding_idx = cache
    validate.array(dy, "embedding_backward", "dy", ndim=idx.ndim + 1)
    if dy.shape[:-1] != idx.shape:
        raise ValueError(f"embedding_backward: dy must have shape indices.shape + (D,) = "
                         f"{idx.shape + ('D',)}, got {dy.shape}")
    return _scatter(dy, cache)


def _scatter(dy: np.ndarray, cache: EmbeddingCache) -> np.ndarray:
    idx, V, padding_idx = cache
    dweight = np.zeros((V, dy.shape[-1]), dy.dtype)
    np.add.at(dweight, idx.reshape(-1), dy.reshape(-1, dy.shape[-1]))
    if padding_idx is not None:
        dweight[padding_idx] = 0
    return dweight


def check_indices(indices: object, V: int, owner: str) -> np.ndarray:
    """An integer array whose values are row numbers of a table of V rows."""
    validate.array(indices, owner, "indices", dtype="int")
    if indices.size and (indices.min() < 0 or indices.max() >= V):
        raise ValueError(f"{owner}: indices must be in [0, {V}), got values from "
                         f"{indices.min()} to {indices.max()}")
    return indices


def check_padding_idx(padding_idx: object, V: int, owner: str) -> int | None:
    """None, or an int in [-V, V) (a negative one counts from the end, as in torch) -> the row."""
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral):
        raise TypeError(f"{owner}: padding_idx must be an int or None, got {padding_idx!r} "
                        f"({type(padding_idx).__name__})")
    if not -V <= padding_idx < V:
        raise ValueError(f"{owner}: padding_idx must be in [-{V}, {V}) (num_embeddings = {V}), "
                         f"got {padding_idx}")
    return int(padding_idx) % V


class Embedding(Module):
    """torch.nn.Embedding: a lookup table.  indices: (*) int -> y: (*, embedding_dim)

    weight: (num_embeddings, embedding_dim), initialised N(0, 1) as torch (the padding_idx
    row is zero and gets no gradient).  backward: dW[idx] += dy (scatter-add, repeated
    indices add up); no gradient for the integer input (returns None)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        super().__init__()
        num_embeddings, embedding_dim = (validate.positive_int(v, "Embedding", n) for n, v in
                                         (("num_embeddings", num_embeddings),
                                          ("embedding_dim", embedding_dim)))
        validate.generator(rng, "Embedding")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx = check_padding_idx(padding_idx, num_embeddings,
                                                           "Embedding")
        w = init.get_rng(rng).standard_normal((num_embeddings, embedding_dim)).astype(dtype)
        if padding_idx is not None:
            w[padding_idx] = 0
        self.add_param("weight", w)
        self._cache = None

    def forward(self, indices: np.ndarray) -> np.ndarray:
        check_indices(indices, self.num_embeddings, "Embedding")
        self._cache = EmbeddingCache(indices, self.num_embeddings, self.padding_idx)
        return self.params["weight"][indices]

    def backward(self, dy: np.ndarray) -> None:
        cache = validate.forward_called("Embedding", self._cache)
        validate.grad(dy, cache.indices.shape + (self.embedding_dim,), "Embedding")
        self.grads["weight"] += _scatter(dy, cache)
        return None

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"
