"""Inverted dropout.

training: keep each entry with probability 1 − p, scale kept entries by 1/(1 − p)
          y = x ⊙ m,  m = keep / (1 − p)    so that E[y] = x;   dx = dy ⊙ m (the same mask)
eval:     y = x, dx = dy
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import init, validate
from ..module import Module

__all__ = ["DropoutCache", "dropout_forward", "dropout_backward", "Dropout"]


class DropoutCache(NamedTuple):
    mask: np.ndarray     # keep / (1 − p), the input's shape (a 0-d 1 when nothing is dropped)
    shape: tuple         # the input's shape


def dropout_forward(x: np.ndarray, p: float, keep: np.ndarray | None
                    ) -> tuple[np.ndarray, DropoutCache]:
    """x: (*) -> y: (*). ``keep``: boolean (*) mask of the entries kept, or None (nothing
    dropped: eval, or p = 0)."""
    validate.array(x, "dropout_forward", "x")
    p = validate.probability(p, "dropout_forward", "p")
    if keep is not None:
        validate.array(keep, "dropout_forward", "keep", dtype="bool")
        if keep.shape != x.shape:
            raise ValueError(f"dropout_forward: keep must have x's shape {x.shape}, "
                             f"got {keep.shape}")
    return _dropout_forward(x, p, keep)


def _dropout_forward(x: np.ndarray, p: float, keep: np.ndarray | None
                     ) -> tuple[np.ndarray, DropoutCache]:
    if keep is None:
        return x, DropoutCache(np.ones((), dtype=x.dtype), x.shape)
    mask = (keep / (1 - p)).astype(x.dtype) if p < 1 else np.zeros_like(x)
    return x * mask, DropoutCache(mask, x.shape)


def dropout_backward(dy: np.ndarray, cache: DropoutCache) -> np.ndarray:
    """dy: (*) -> dx: (*), the forward's mask applied again."""
    if not isinstance(cache, DropoutCache):
        raise TypeError(f"dropout_backward: cache must be the DropoutCache that dropout_forward "
                        f"returned, got {type(cache).__name__}")
    return validate.grad(dy, cache.shape, "dropout_backward", "dy") * cache.mask


class Dropout(Module):
    """x: (*) -> y: (*). Its own generator ``rng``; ``next_keep`` (a boolean array) injects
    the keep-mask of the next training forward, to reproduce another framework's draw."""

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        p = validate.probability(p, "Dropout", "p")
        validate.generator(rng, "Dropout")
        self.p, self.rng, self.next_keep, self._cache = p, init.get_rng(rng), None, None

    def forward(self, x: np.ndarray) -> np.ndarray:
        validate.array(x, "Dropout", "input")
        keep = None
        if self.training and self.p != 0:
            keep = self.next_keep
            if keep is None:
                keep = self.rng.random(x.shape) >= self.p
            elif keep.shape != x.shape:
                raise ValueError(f"Dropout: next_keep (the injected mask) must have the input's "
                                 f"shape {x.shape}, got {keep.shape}")
            self.next_keep = None
        y, self._cache = _dropout_forward(x, self.p, keep)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        cache = validate.forward_called("Dropout", self._cache)
        return validate.grad(dy, cache.shape, "Dropout") * cache.mask

    def extra_repr(self) -> str:
        return f"p={self.p}"
