"""Chapter 3's capstone: a small CNN built from the student's own convolution and pooling
functions, trained on oriented bars (a synthetic image task made here; nothing is downloaded).

    x, labels = oriented_bars(n, rng)                 # (n, 1, 12, 12), (n,) in {0, 1, 2, 3}
    model = bar_classifier(conv2d_forward, conv2d_backward, maxpool2d_backward, rng)
    losses = train(model, CrossEntropyLoss(), Adam(model, lr=0.01), random_batches(...), 200)

The network: conv 5x5 (1 -> 8, padding 2), ReLU, max-pool 2, conv 3x3 (8 -> 8, padding 1),
ReLU, max-pool 2, flatten, linear (8·3·3 -> 4). The convolutions call the student's
``conv2d_forward`` / ``conv2d_backward``, the poolings the student's ``maxpool2d_backward``
(their forward is the library's). Measured on the course's 2-core machine: 200 Adam steps of
batch 32 take about 1.5 s of CPU and reach a test accuracy near 0.99 (chance: 0.25).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..module import Module, Sequential
from ..nn.activation import ReLU
from ..nn.linear import Linear
from ..nn.pool import max_pool_forward

ANGLES = ("horizontal", "diagonal /", "vertical", "diagonal \\")


def oriented_bars(n: int, rng: np.random.Generator, size: int = 12, noise: float = 0.3
                  ) -> tuple[np.ndarray, np.ndarray]:
    """n noisy images of one short bar each, at 0°, 45°, 90° or 135° (the label), anywhere.

    -> x: (n, 1, size, size) float64, labels: (n,) int."""
    labels = rng.integers(0, 4, n)
    rows, cols = np.mgrid[0:size, 0:size]
    centre = rng.uniform(3, size - 4, (n, 2))
    half_length = rng.uniform(3, 5, n)
    angle = labels * np.pi / 4
    dr, dc = -np.sin(angle), np.cos(angle)             # image rows grow downwards
    rr = rows[None] - centre[:, 0, None, None]
    cc = cols[None] - centre[:, 1, None, None]
    along = rr * dr[:, None, None] + cc * dc[:, None, None]
    across = np.abs(-rr * dc[:, None, None] + cc * dr[:, None, None])
    x = ((across < 0.6) & (np.abs(along) <= half_length[:, None, None])).astype(float)
    x += noise * rng.standard_normal(x.shape)
    return x[:, None], labels


class StudentConv2d(Module):
    """A Conv2d (stride 1) whose forward and backward are the given functions:
    forward(x, w, b, stride, padding) -> y; backward(dy, x, w, stride, padding) -> dx, dw, db."""

    def __init__(self, forward: Callable, backward: Callable, c_in: int, c_out: int, k: int,
                 padding: int, rng: np.random.Generator) -> None:
        super().__init__()
        self._fwd, self._bwd, self.padding = forward, backward, padding
        self.add_param("weight", rng.standard_normal((c_out, c_in, k, k)) * np.sqrt(2 / (c_in * k * k)))
        self.add_param("bias", np.zeros(c_out))

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return self._fwd(x, self.params["weight"], self.params["bias"], 1, self.padding)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx, dw, db = self._bwd(dy, self._x, self.params["weight"], 1, self.padding)
        self.grads["weight"] += dw
        self.grads["bias"] += db
        return dx


class StudentMaxPool2d(Module):
    """2x2 max pooling (stride 2): the library's forward, the given backward(dy, x, 2)."""

    def __init__(self, backward: Callable) -> None:
        super().__init__()
        self._bwd = backward

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return max_pool_forward(x, 2)[0]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self._bwd(dy, self._x, 2)


class Flatten(Module):
    """(N, *) -> (N, prod(*)), and back in backward."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy.reshape(self._shape)


def bar_classifier(conv_forward: Callable, conv_backward: Callable, pool_backward: Callable,
                   rng: np.random.Generator, channels: int = 8, size: int = 12) -> Sequential:
    """The capstone's network (see the module doc) over the given functions."""
    return Sequential(StudentConv2d(conv_forward, conv_backward, 1, channels, 5, 2, rng), ReLU(),
                      StudentMaxPool2d(pool_backward),
                      StudentConv2d(conv_forward, conv_backward, channels, channels, 3, 1, rng),
                      ReLU(), StudentMaxPool2d(pool_backward), Flatten(),
                      Linear(channels * (size // 4) ** 2, 4, rng=rng))
