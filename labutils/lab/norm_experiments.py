"""Chapter 2's experiments: batch norm in a deep plain ReLU network, trained at a learning rate
where the same network without it stalls or diverges.

deep_relu_net       depth − 1 hidden Linear (He-initialised) [+ a normalisation] + ReLU, then a
                    Linear to the classes; with a normalisation the hidden Linear has no bias
                    (β after it does that job)
FunctionalBatchNorm a BatchNorm1d built from three functions (training step, evaluation,
                    backward), e.g. the chapter's exercises
train_or_diverge    the course's ``train`` loop that also records a run whose weights blew up
                    (NaN or inf) as diverged instead of stopping with an error
compare_lr          final losses of the plain and the normalised network, same seeds
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import nn, optim
from ..module import Module
from .datasets import three_spirals
from .training import random_batches, train

NormFactory = Callable[[int], Module]


def deep_relu_net(depth: int, width: int = 32, norm: NormFactory | None = None, seed: int = 0,
                  n_in: int = 2, n_out: int = 3) -> nn.Sequential:
    """A plain ReLU network of ``depth`` Linear layers (He-normal weights, so that without any
    normalisation the activations keep their scale at initialisation); ``norm(width)`` after
    each hidden Linear when given."""
    r = np.random.default_rng(seed)
    layers, d = [], n_in
    for _ in range(depth - 1):
        lin = nn.Linear(d, width, bias=norm is None, rng=r)
        lin.params["weight"] = r.standard_normal((width, d)) * np.sqrt(2 / d)
        if norm is None:
            lin.params["bias"] = np.zeros(width)
        layers += [lin] + ([norm(width)] if norm is not None else []) + [nn.ReLU()]
        d = width
    return nn.Sequential(*layers, nn.Linear(d, n_out, rng=r))


class FunctionalBatchNorm(Module):
    """BatchNorm1d (x: (N, C)) computed by three functions with the chapter's signatures:
    train_fn(x, γ, β, running_mean, running_var, momentum, eps) -> (y, mean', var'),
    eval_fn(x, γ, β, running_mean, running_var, eps) -> y,
    backward_fn(dy, x, γ, eps) -> (dx, dγ, dβ)."""

    def __init__(self, num_features: int, train_fn: Callable, eval_fn: Callable,
                 backward_fn: Callable, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.fns, self.momentum, self.eps = (train_fn, eval_fn, backward_fn), momentum, eps
        self.add_param("weight", np.ones(num_features))
        self.add_param("bias", np.zeros(num_features))
        self.add_buffer("running_mean", np.zeros(num_features))
        self.add_buffer("running_var", np.ones(num_features))
        self._x = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        train_fn, eval_fn, _ = self.fns
        g, b = self.params["weight"], self.params["bias"]
        rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
        if not self.training:
            return eval_fn(x, g, b, rm, rv, self.eps)
        y, self.buffers["running_mean"], self.buffers["running_var"] = train_fn(
            x, g, b, rm, rv, self.momentum, self.eps)
        self._x = x
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx, dgamma, dbeta = self.fns[2](dy, self._x, self.params["weight"], self.eps)
        self.grads["weight"] += dgamma
        self.grads["bias"] += dbeta
        return dx


def train_or_diverge(model: Module, lr: float, steps: int, batch: int = 64, seed: int = 0
                     ) -> list[float]:
    """Plain SGD on three spirals (mini-batches drawn from ``seed + 1``): the loss of every
    step; a run whose numbers overflow (a layer refuses a NaN or inf, or the loss is not
    finite) is recorded as diverged: its losses end with inf."""
    x, t = three_spirals()
    batches = random_batches(x, t, batch, np.random.default_rng(seed + 1))
    losses: list[float] = []
    try:
        with np.errstate(all="ignore"):
            losses = train(model, nn.CrossEntropyLoss(), optim.SGD(model, lr=lr), batches, steps)
    except ValueError as e:           # a layer's input check: NaN or inf reached it
        if "NaN" not in str(e) and "inf" not in str(e):
            raise
        return [float("inf")]
    return losses if np.isfinite(losses[-1]) else losses[:-1] + [float("inf")]


def final_loss(losses: list[float], steps: int, last: int = 20) -> float:
    """The mean loss of the last ``last`` steps, or inf when the run diverged before ``steps``."""
    if len(losses) < steps or not np.all(np.isfinite(losses[-last:])):
        return float("inf")
    return float(np.mean(losses[-last:]))


def compare_lr(depths: list[int], lrs: list[float], steps: int = 150, seed: int = 0
               ) -> dict[tuple[int, float], tuple[float, float]]:
    """{(depth, lr): (final loss without, with BatchNorm1d)} on three spirals, same seeds."""
    out = {}
    for depth in depths:
        for lr in lrs:
            out[depth, lr] = tuple(
                final_loss(train_or_diverge(deep_relu_net(depth, norm=norm, seed=seed), lr, steps,
                                            seed=seed), steps)
                for norm in (None, nn.BatchNorm1d))
    return out
