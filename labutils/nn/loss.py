"""Losses. forward returns a 0-d array; backward(dy=1.0) returns a gradient per input.

MSELoss           L = mean((x − t)²)                 dx = 2 (x − t) / n,  dt = −dx
CrossEntropyLoss  L = mean_i [log Σ_c e^{x_ic} − x_{i,t_i}]      (logits x, class indices t)
                  dx = (softmax(x) − onehot(t)) / N, and no gradient for the integer targets.
"""
import numpy as np

from .. import validate
from ..module import Module


def _reduction(name, reduction):
    if reduction not in ("mean", "sum"):
        raise ValueError(f"{name}: reduction must be 'mean' or 'sum', got {reduction!r}")
    return reduction


class MSELoss(Module):
    """input, target: same shape (*) -> L: ()."""

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = _reduction("MSELoss", reduction)

    def forward(self, input, target):
        validate.array(input, "MSELoss", "input")
        validate.array(target, "MSELoss", "target")
        if input.shape != target.shape:
            raise ValueError(f"MSELoss: target must have the input's shape {input.shape}, "
                             f"got {target.shape}")
        self._diff = input - target
        total = np.sum(self._diff ** 2)
        return np.asarray(total / input.size if self.reduction == "mean" else total)

    def backward(self, dy=1.0):
        diff = validate.forward_called("MSELoss", getattr(self, "_diff", None))
        scale = 2.0 / diff.size if self.reduction == "mean" else 2.0
        dx = np.asarray(dy) * scale * diff
        return dx, -dx


class CrossEntropyLoss(Module):
    """logits: (N, C) with target (N,) ints in [0, C), or (C,) with a 0-d target -> L: ().

    Stable for any logit size: log Σ e^x is computed as m + log Σ e^{x − m}, m = max x.
    """

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = _reduction("CrossEntropyLoss", reduction)

    def forward(self, input, target):
        validate.array(input, "CrossEntropyLoss", "input", ndim=(1, 2))
        validate.array(target, "CrossEntropyLoss", "target", ndim=input.ndim - 1, dtype="int")
        x, t = np.atleast_2d(input), np.atleast_1d(target)
        if t.shape[0] != x.shape[0]:
            raise ValueError(f"CrossEntropyLoss: target must have shape ({x.shape[0]},) to match "
                             f"input {input.shape}, got {target.shape}")
        if t.size and (t.min() < 0 or t.max() >= x.shape[1]):
            raise ValueError(f"CrossEntropyLoss: target values must be class indices in "
                             f"[0, {x.shape[1]}), got values in [{t.min()}, {t.max()}]")
        shifted = x - x.max(axis=1, keepdims=True)
        log_z = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        log_p = shifted - log_z
        losses = -log_p[np.arange(len(t)), t]
        self._cache = (np.exp(log_p), t, input.shape)
        return np.asarray(losses.mean() if self.reduction == "mean" else losses.sum())

    def backward(self, dy=1.0):
        p, t, shape = validate.forward_called("CrossEntropyLoss", getattr(self, "_cache", None))
        dx = p.copy()
        dx[np.arange(len(t)), t] -= 1
        if self.reduction == "mean":
            dx /= len(t)
        return (np.asarray(dy) * dx).reshape(shape), None
