"""Losses. forward returns a 0-d array; backward(dy=1.0) returns a gradient per input.

MSELoss           L = mean((x − t)²)                 dx = 2 (x − t) / n,  dt = −dx
CrossEntropyLoss  L = mean_i [log Σ_c e^{x_ic} − x_{i,t_i}]      (logits x, class indices t)
                  dx = (softmax(x) − onehot(t)) / N, and no gradient for the integer targets.
("sum" instead of "mean" drops the 1/n and 1/N.) The mean over an empty batch is NaN, as in
torch, and its gradient is empty.
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


def _reduction(owner: str, reduction: object) -> str:
    if reduction not in ("mean", "sum"):
        raise ValueError(f"{owner}: reduction must be 'mean' or 'sum', got {reduction!r}")
    return reduction


def _loss_grad(dy: object, owner: str, arg: str) -> np.ndarray:
    """The upstream gradient of a loss: a float or a 0-d float array."""
    if isinstance(dy, (float, np.floating)):
        dy = np.asarray(dy)
    return validate.grad(dy, (), owner, arg)


def _check_mse(x: np.ndarray, target: np.ndarray, owner: str, names: tuple[str, str]) -> None:
    validate.array(x, owner, names[0])
    validate.array(target, owner, "target")
    if x.shape != target.shape:
        raise ValueError(f"{owner}: target must have the {names[0]}'s shape {x.shape}, "
                         f"got {target.shape}")


def mse_forward(x: np.ndarray, target: np.ndarray, reduction: str = "mean"
                ) -> tuple[np.ndarray, MSECache]:
    """x, target: (*) -> L: ()."""
    _check_mse(x, target, "mse_forward", ("x", "target"))
    return _mse_forward(x, target, _reduction("mse_forward", reduction))


def _mse_forward(x: np.ndarray, target: np.ndarray, reduction: str) -> tuple[np.ndarray, MSECache]:
    diff = x - target
    total = np.sum(diff ** 2)
    if reduction == "sum":
        return np.asarray(total), MSECache(diff, 2.0)
    n = diff.size
    return np.asarray(total / n if n else np.nan), MSECache(diff, 2.0 / max(n, 1))


def mse_backward(dy: np.ndarray | float, cache: MSECache) -> tuple[np.ndarray, np.ndarray]:
    """dy: () -> (dx, dtarget), each (*)."""
    if not isinstance(cache, MSECache):
        raise TypeError(f"mse_backward: cache must be the MSECache that mse_forward returned, "
                        f"got {type(cache).__name__}")
    dx = _loss_grad(dy, "mse_backward", "dy") * cache.scale * cache.diff
    return dx, -dx


class CrossEntropyCache(NamedTuple):
    probs: np.ndarray    # softmax(x): (N, C)
    target: np.ndarray   # (N,)
    shape: tuple         # the input's shape, (N, C) or (C,)
    mean: bool


def _check_cross_entropy(x: np.ndarray, target: np.ndarray, owner: str, arg: str) -> None:
    validate.array(x, owner, arg, ndim=(1, 2))
    validate.array(target, owner, "target", ndim=x.ndim - 1, dtype="int")
    n, classes = np.atleast_2d(x).shape
    t = np.atleast_1d(target)
    if t.shape[0] != n:
        raise ValueError(f"{owner}: target must have shape ({n},) to match {arg} {x.shape}, "
                         f"got {target.shape}")
    if t.size and (t.min() < 0 or t.max() >= classes):
        raise ValueError(f"{owner}: target values must be class indices in [0, {classes}), "
                         f"got values in [{t.min()}, {t.max()}]")


def cross_entropy_forward(x: np.ndarray, target: np.ndarray, reduction: str = "mean"
                          ) -> tuple[np.ndarray, CrossEntropyCache]:
    """logits x: (N, C) with target (N,) ints in [0, C), or (C,) with a 0-d target -> L: ().

    Stable for any logit size: log Σ e^x is computed as m + log Σ e^{x − m}, m = max x.
    """
    _check_cross_entropy(x, target, "cross_entropy_forward", "x")
    return _cross_entropy_forward(x, target, _reduction("cross_entropy_forward", reduction))


def _cross_entropy_forward(x: np.ndarray, target: np.ndarray, reduction: str
                           ) -> tuple[np.ndarray, CrossEntropyCache]:
    x2, t = np.atleast_2d(x), np.atleast_1d(target)
    shifted = x2 - x2.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    losses = -log_p[np.arange(len(t)), t]
    mean = reduction == "mean"
    loss = np.asarray((losses.mean() if len(t) else np.nan) if mean else losses.sum())
    return loss, CrossEntropyCache(np.exp(log_p), t, x.shape, mean)


def cross_entropy_backward(dy: np.ndarray | float, cache: CrossEntropyCache) -> np.ndarray:
    """dy: () -> dx: the logits' shape (the integer targets get no gradient)."""
    if not isinstance(cache, CrossEntropyCache):
        raise TypeError(f"cross_entropy_backward: cache must be the CrossEntropyCache that "
                        f"cross_entropy_forward returned, got {type(cache).__name__}")
    return _cross_entropy_backward(_loss_grad(dy, "cross_entropy_backward", "dy"), cache)


def _cross_entropy_backward(dy: np.ndarray, cache: CrossEntropyCache) -> np.ndarray:
    p, t, shape, mean = cache
    dx = p.copy()
    dx[np.arange(len(t)), t] -= 1
    if mean:
        dx /= max(len(t), 1)
    return (dy * dx).reshape(shape)


class MSELoss(Module):
    """input, target: same shape (*) -> L: ()."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _reduction("MSELoss", reduction)
        self._cache = None

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        _check_mse(input, target, "MSELoss", ("input", "target"))
        loss, self._cache = _mse_forward(input, target, self.reduction)
        return loss

    def backward(self, dy: np.ndarray | float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        cache = validate.forward_called("MSELoss", self._cache)
        dx = _loss_grad(dy, "MSELoss", "grad_output") * cache.scale * cache.diff
        return dx, -dx


class CrossEntropyLoss(Module):
    """logits: (N, C) with target (N,) ints in [0, C), or (C,) with a 0-d target -> L: ()."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _reduction("CrossEntropyLoss", reduction)
        self._cache = None

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        _check_cross_entropy(input, target, "CrossEntropyLoss", "input")
        loss, self._cache = _cross_entropy_forward(input, target, self.reduction)
        return loss

    def backward(self, dy: np.ndarray | float = 1.0) -> tuple[np.ndarray, None]:
        cache = validate.forward_called("CrossEntropyLoss", self._cache)
        return _cross_entropy_backward(_loss_grad(dy, "CrossEntropyLoss", "grad_output"),
                                       cache), None
