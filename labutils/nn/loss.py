"""Losses. forward returns a 0-d array; backward(dy=1.0) returns a gradient per input.

MSELoss           L = mean((x − t)²)                 dx = 2 (x − t) / n,  dt = −dx
CrossEntropyLoss  L = mean_i [log Σ_c e^{x_ic} − x_{i,t_i}]      (logits x, class indices t)
                  dx = (softmax(x) − onehot(t)) / N, and no gradient for the integer targets.
("sum" instead of "mean" drops the 1/n and 1/N.)
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import validate
from ..module import Module

__all__ = ["MSECache", "mse_forward", "mse_backward", "CrossEntropyCache", "cross_entropy_forward",
           "cross_entropy_backward", "MSELoss", "CrossEntropyLoss"]


class MSECache(NamedTuple):
    diff: np.ndarray     # x − t
    scale: float         # 2/n for "mean", 2 for "sum"


def mse_forward(x: np.ndarray, target: np.ndarray, reduction: str = "mean"
                ) -> tuple[np.ndarray, MSECache]:
    """x, target: (*) -> L: ()."""
    diff = x - target
    total = np.sum(diff ** 2)
    mean = reduction == "mean"
    loss = np.asarray(total / x.size if mean else total)
    return loss, MSECache(diff, 2.0 / diff.size if mean else 2.0)


def mse_backward(dy: np.ndarray | float, cache: MSECache) -> tuple[np.ndarray, np.ndarray]:
    """dy: () -> (dx, dtarget), each (*)."""
    dx = np.asarray(dy) * cache.scale * cache.diff
    return dx, -dx


class CrossEntropyCache(NamedTuple):
    probs: np.ndarray    # softmax(x): (N, C)
    target: np.ndarray   # (N,)
    shape: tuple         # the input's shape, (N, C) or (C,)
    mean: bool


def cross_entropy_forward(x: np.ndarray, target: np.ndarray, reduction: str = "mean"
                          ) -> tuple[np.ndarray, CrossEntropyCache]:
    """logits x: (N, C) with target (N,) ints in [0, C), or (C,) with a 0-d target -> L: ().

    Stable for any logit size: log Σ e^x is computed as m + log Σ e^{x − m}, m = max x.
    """
    x2, t = np.atleast_2d(x), np.atleast_1d(target)
    shifted = x2 - x2.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    losses = -log_p[np.arange(len(t)), t]
    mean = reduction == "mean"
    loss = np.asarray(losses.mean() if mean else losses.sum())
    return loss, CrossEntropyCache(np.exp(log_p), t, x.shape, mean)


def cross_entropy_backward(dy: np.ndarray | float, cache: CrossEntropyCache) -> np.ndarray:
    """dy: () -> dx: the logits' shape (the integer targets get no gradient)."""
    p, t, shape, mean = cache
    dx = p.copy()
    dx[np.arange(len(t)), t] -= 1
    if mean:
        dx /= len(t)
    return (np.asarray(dy) * dx).reshape(shape)


def _reduction(name: str, reduction: str) -> str:
    if reduction not in ("mean", "sum"):
        raise ValueError(f"{name}: reduction must be 'mean' or 'sum', got {reduction!r}")
    return reduction


class MSELoss(Module):
    """input, target: same shape (*) -> L: ()."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _reduction("MSELoss", reduction)
        self._cache = None

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        validate.array(input, "MSELoss", "input")
        validate.array(target, "MSELoss", "target")
        if input.shape != target.shape:
            raise ValueError(f"MSELoss: target must have the input's shape {input.shape}, "
                             f"got {target.shape}")
        loss, self._cache = mse_forward(input, target, self.reduction)
        return loss

    def backward(self, dy: np.ndarray | float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        return mse_backward(dy, validate.forward_called("MSELoss", self._cache))


class CrossEntropyLoss(Module):
    """logits: (N, C) with target (N,) ints in [0, C), or (C,) with a 0-d target -> L: ()."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _reduction("CrossEntropyLoss", reduction)
        self._cache = None

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        validate.array(input, "CrossEntropyLoss", "input", ndim=(1, 2))
        validate.array(target, "CrossEntropyLoss", "target", ndim=input.ndim - 1, dtype="int")
        n, classes = np.atleast_2d(input).shape
        t = np.atleast_1d(target)
        if t.shape[0] != n:
            raise ValueError(f"CrossEntropyLoss: target must have shape ({n},) to match "
                             f"input {input.shape}, got {target.shape}")
        if t.size and (t.min() < 0 or t.max() >= classes):
            raise ValueError(f"CrossEntropyLoss: target values must be class indices in "
                             f"[0, {classes}), got values in [{t.min()}, {t.max()}]")
        loss, self._cache = cross_entropy_forward(input, target, self.reduction)
        return loss

    def backward(self, dy: np.ndarray | float = 1.0) -> tuple[np.ndarray, None]:
        cache = validate.forward_called("CrossEntropyLoss", self._cache)
        return cross_entropy_backward(dy, cache), None
