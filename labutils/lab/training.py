"""The one training loop of the course, and the small helpers around it.

Every step is the same five lines, whatever the model:

    loss = loss_fn(model(x), targets)        forward, keeping what backward needs
    optimizer.zero_grad()                    the grads accumulate, so clear them
    model.backward(loss_fn.backward()[0])    dL/d(output), then back through the model
    optimizer.step()                         p <- p - lr · (the optimizer's direction)

``train`` runs them ``steps`` times and returns the losses; a loss that is not finite (a
diverging run) is recorded and ends the training, without overflow warnings.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import validate
from ..module import Module
from ..optim import Optimizer

Batch = tuple[np.ndarray | tuple[np.ndarray, ...], np.ndarray]


def full_batch(x: np.ndarray, targets: np.ndarray) -> Callable[[int], Batch]:
    """A batch source that gives the whole data set at every step."""
    return lambda step: (x, targets)


def random_batches(x: np.ndarray, targets: np.ndarray, size: int,
                   rng: np.random.Generator) -> Callable[[int], Batch]:
    """A batch source that draws ``size`` examples without replacement at every step.

    x: (N, *), targets: (N, *) -> each batch (size, *), (size, *).
    """
    size = validate.positive_int(size, "random_batches", "size")
    if size > len(x):
        raise ValueError(f"random_batches: size must be at most the number of examples "
                         f"{len(x)}, got {size}")

    def batch(step: int) -> Batch:
        idx = rng.choice(len(x), size, replace=False)
        return x[idx], targets[idx]
    return batch


def train(model: Module, loss_fn: Module, optimizer: Optimizer,
          batches: Callable[[int], Batch], steps: int) -> list[float]:
    """Train ``model`` for ``steps`` steps; return the loss of every step taken.

    batches: step -> (x, targets), e.g. ``full_batch(x, t)`` or ``random_batches(x, t, 64, rng)``.
    x may be a tuple of arrays (the model's several inputs: ``model(*x)``); a model that returns
    a tuple (prediction, state) is trained on its prediction; a prediction (*, C) with class
    indices (*) is scored as (-1, C) against (-1,) (a loss per position of a sequence).
    A loss that is not finite is recorded and ends the training (the list is then shorter).
    """
    steps = validate.positive_int(steps, "train", "steps")
    losses = []
    with np.errstate(over="ignore", invalid="ignore"):   # a diverging run: recorded, not warned
        for step in range(steps):
            x, targets = batches(step)
            out = model(*x) if isinstance(x, tuple) else model(x)
            pred = out[0] if isinstance(out, tuple) else out
            per_position = pred.ndim > 2 and targets.ndim == pred.ndim - 1
            flat = pred.reshape(-1, pred.shape[-1]) if per_position else pred
            loss = loss_fn(flat, targets.reshape(-1) if per_position else targets)
            losses.append(float(loss))
            if not np.isfinite(loss):
                break
            optimizer.zero_grad()
            model.backward(loss_fn.backward()[0].reshape(pred.shape))
            optimizer.step()
    return losses


def accuracy(model: Module, x: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of examples whose largest output is the label, computed in eval mode (the
    model's mode is restored afterwards). x: (N, *) -> outputs (N, C); labels: (N,)."""
    was_training = model.training
    model.eval()
    with np.errstate(over="ignore", invalid="ignore"):
        predicted = model(x).argmax(axis=1)
    model.train(was_training)
    return float((predicted == labels).mean())
