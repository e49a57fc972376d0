"""Toy datasets of the chapters, small enough to train on in seconds on a laptop.

two_spirals    two interleaved arms, points spaced evenly in area (chapter 1's residual demo)
three_spirals  three arms, evenly spaced along each arm, angle noise (chapter 2's batch-norm runs)
"""
from __future__ import annotations

import numpy as np

from .. import validate


def two_spirals(n: int, rng: np.random.Generator, noise: float = 0.03
                ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points on two interleaved spiral arms (1.5 turns each) in the unit disc.

    Returns x: (n, 2) float64 and labels: (n,) int (0 or 1, the arm). Each point's arm is drawn
    at random; its angle t = 3π sqrt(u), u ~ U(0, 1), so the points are spread evenly in area;
    radius t / 3π; arm 1 is arm 0 turned by π; Gaussian noise of std ``noise`` on both axes.
    """
    n = validate.positive_int(n, "two_spirals", "n")
    t = np.sqrt(rng.random(n)) * 3 * np.pi
    arm = rng.integers(0, 2, n)
    r = t / (3 * np.pi)
    xy = np.stack([r * np.cos(t + np.pi * arm), r * np.sin(t + np.pi * arm)], 1)
    return xy + noise * rng.standard_normal((n, 2)), arm


def three_spirals(n_per_class: int = 200, rng: np.random.Generator | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Three spiral arms of ``n_per_class`` points each (cs231n's classic toy problem).

    Returns x: (3 n_per_class, 2) float64 and labels: (3 n_per_class,) int in {0, 1, 2}, class by
    class. Along arm c the radius grows linearly from 0 to 1 while the angle runs from 4c to
    4(c + 1) radians, plus Gaussian angle noise of std 0.2. ``rng`` defaults to seed 0.
    """
    n_per_class = validate.positive_int(n_per_class, "three_spirals", "n_per_class")
    rng = np.random.default_rng(0) if rng is None else rng
    xs, ys = [], []
    for c in range(3):
        t = np.linspace(0, 1, n_per_class)
        angle = np.linspace(4 * c, 4 * (c + 1), n_per_class) + 0.2 * rng.standard_normal(n_per_class)
        xs.append(np.c_[t * np.sin(angle), t * np.cos(angle)])
        ys.append(np.full(n_per_class, c))
    return np.concatenate(xs), np.concatenate(ys)
