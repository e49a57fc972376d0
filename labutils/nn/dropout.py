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


def dropout_forward(x: np.ndarray, p: float, keep: np.ndarray | None
                    ) -> tuple[np.ndarray, DropoutCache]:
    """x: (*) -> y: (*). ``keep``: boolean (*) mask of the entries kept, or None (nothing
    dropped: eval, or p = 0)."""
    if keep is None:
        return x, DropoutCache(np.ones((), dtype=x.dtype))
    mask = (keep / (1 - p)).astype(x.dtype) if p < 1 else np.zeros_like(x)
    return x * mask, DropoutCache(mask)


def dropout_backward(dy: np.ndarray, cache: DropoutCache) -> np.ndarray:
    return dy * cache.mask


class Dropout(Module):
    """x: (*) -> y: (*). Its own generator ``rng``; ``next_keep`` (a boolean array) injects
    the keep-mask of the next training forward, to reproduce another framework's draw."""

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p}")
        self.p, self.rng, self.next_keep, self._cache = p, init.get_rng(rng), None, None

    def forward(self, x: np.ndarray) -> np.ndarray:
        validate.array(x, "Dropout", "input")
        keep = None
        if self.training and self.p != 0:
            keep = self.next_keep if self.next_keep is not None else self.rng.random(x.shape) >= self.p
            if keep.shape != x.shape:
                raise ValueError(f"Dropout: injected mask must have the input's shape {x.shape}, "
                                 f"got {keep.shape}")
            self.next_keep = None
        y, self._cache = dropout_forward(x, self.p, keep)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dropout_backward(dy, validate.forward_called("Dropout", self._cache))

    def extra_repr(self) -> str:
        return f"p={self.p}"
