"""Embedding: a lookup table, torch.nn.Embedding.

A token index i picks row i of the weight W (num_embeddings, embedding_dim): y = W[i]. It is
the product of a one-hot row with W, so its backward is the scatter-add

    dW[i] += dy   for each position that looked up i (repeated indices add up)

and there is no gradient for the integer input. A ``padding_idx`` row is zero and gets none.
"""
from __future__ import annotations

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
    return weight[indices], EmbeddingCache(indices, weight.shape[0], padding_idx)


def embedding_backward(dy: np.ndarray, cache: EmbeddingCache) -> np.ndarray:
    """dy (*, D) -> dweight (V, D): scatter-add of dy into the rows looked up."""
    idx, V, padding_idx = cache
    dweight = np.zeros((V, dy.shape[-1]), dy.dtype)
    np.add.at(dweight, idx.reshape(-1), dy.reshape(-1, dy.shape[-1]))
    if padding_idx is not None:
        dweight[padding_idx] = 0
    return dweight


class Embedding(Module):
    """torch.nn.Embedding: a lookup table.  indices: (*) int -> y: (*, embedding_dim)

    weight: (num_embeddings, embedding_dim), initialised N(0, 1) as torch (the padding_idx
    row is zero and gets no gradient).  backward: dW[idx] += dy (scatter-add, repeated
    indices add up); no gradient for the integer input (returns None)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None and padding_idx < 0:
            padding_idx += num_embeddings
        self.padding_idx = padding_idx
        w = init.get_rng(rng).standard_normal((num_embeddings, embedding_dim)).astype(dtype)
        if padding_idx is not None:
            w[padding_idx] = 0
        self.add_param("weight", w)
        self._cache = None

    def forward(self, indices: np.ndarray) -> np.ndarray:
        validate.array(indices, "Embedding", "indices", dtype="int")
        if indices.size and (indices.min() < 0 or indices.max() >= self.num_embeddings):
            raise ValueError(f"Embedding: indices must be in [0, {self.num_embeddings}), got "
                             f"values from {indices.min()} to {indices.max()}")
        y, self._cache = embedding_forward(indices, self.params["weight"], self.padding_idx)
        return y

    def backward(self, dy: np.ndarray) -> None:
        cache = validate.forward_called("Embedding", self._cache)
        validate.grad(dy, cache.indices.shape + (self.embedding_dim,), "Embedding")
        self.grads["weight"] += embedding_backward(dy, cache)
        return None

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"
