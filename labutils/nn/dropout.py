"""Inverted dropout.

training: keep each entry with probability 1 − p, scale kept entries by 1/(1 − p)
          y = x ⊙ m,  m = keep / (1 − p)    so that E[y] = x;   dx = dy ⊙ m (the same mask)
eval:     y = x, dx = dy
"""
import numpy as np

from .. import init
from .. import validate
from ..module import Module


class Dropout(Module):
    """x: (*) -> y: (*). Its own generator ``rng``; ``next_keep`` (a boolean array) injects
    the keep-mask of the next training forward, to reproduce another framework's draw."""

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p}")
        self.p, self.rng, self.next_keep, self._mask = p, init.get_rng(rng), None, None

    def forward(self, x):
        validate.array(x, "Dropout", "input")
        if not self.training or self.p == 0:
            self._mask = np.ones((), dtype=x.dtype)
            return x
        keep = self.next_keep if self.next_keep is not None else self.rng.random(x.shape) >= self.p
        if keep.shape != x.shape:
            raise ValueError(f"Dropout: injected mask must have the input's shape {x.shape}, "
                             f"got {keep.shape}")
        self.next_keep = None
        self._mask = (keep / (1 - self.p)).astype(x.dtype) if self.p < 1 else np.zeros_like(x)
        return x * self._mask

    def backward(self, dy):
        mask = validate.forward_called("Dropout", self._mask)
        return dy * mask

    def extra_repr(self):
        return f"p={self.p}"
