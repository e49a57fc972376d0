"""Autograder check for chapter 5's Primer exercise: the causal depthwise convolution along time
(``labutils.grading.attention`` re-exports it).

``causal_conv(x, w) -> y`` for x: (N, T, C) and w: (C, k):
y[n, t, c] = Σ_j w[c, j] · x[n, t − (k − 1) + j, c], with x = 0 before t = 0 (w[:, −1] weighs the
current token). The cases include k = 1, a kernel longer than the sequence and a single token.
Besides wrong values, the check catches what ``core`` does (delegation to the library's pair or
to torch, float32, NaN, in-place changes, time).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..nn.primer import causal_depthwise_conv_forward
from ..tolerances import GRADER_TIME_LIMIT
from .adapted import hidden_title, quiet
from .attention_blocks import _seed
from .core import check_function
from .published import published

__all__ = ["check_causal_conv", "reference_causal_conv"]


def _causal_conv(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The library's pair without a bias: x (N, T, C), w (C, k) -> y (N, T, C)."""
    return causal_depthwise_conv_forward(x, w, np.zeros(w.shape[0]))[0]


reference_causal_conv = published(_causal_conv, "reference_causal_conv")


def _shifted(x: np.ndarray, s: int) -> np.ndarray:
    """x moved s steps later in time (s < 0: earlier), zeros where nothing comes in."""
    out = np.zeros_like(x)
    t = x.shape[1]
    if abs(s) < t:
        out[:, max(s, 0):t + min(s, 0)] = x[:, max(-s, 0):t - max(s, 0)]
    return out


def _wrong(kind: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    def wrong(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        k = w.shape[1]
        if kind == "mixes channels":
            return np.broadcast_to(_causal_conv(x, w).sum(-1, keepdims=True), x.shape).copy()
        shifts = {"future": [-j for j in range(k)],                     # x[t + j]
                  "flipped": [j for j in range(k)],                     # x[t − j]
                  "centred": [(k - 1) // 2 - j for j in range(k)]}.get(kind)
        if shifts is None:                                              # np.roll wraps around
            return sum(w[:, j] * np.roll(x, k - 1 - j, axis=1) for j in range(k))
        return sum(w[:, j] * _shifted(x, s) for j, s in enumerate(shifts))
    return wrong


def _cases(r: np.random.Generator) -> list[tuple[str, tuple]]:
    return [(label, (r.standard_normal((n, t, c)), r.standard_normal((c, k))))
            for label, (n, t, c, k) in [
                ("batch of 2, 6 tokens, 4 channels, kernel 3", (2, 6, 4, 3)),
                ("kernel 1 (a scaling per channel)", (1, 5, 3, 1)),
                ("kernel 5 longer than the 3 tokens", (2, 3, 2, 5)),
                ("a single token, kernel 2", (3, 1, 4, 2))]]


def check_causal_conv(causal_conv: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                      seed: int | None = None, hidden: bool = False) -> None:
    """causal_conv(x (N, T, C), w (C, k)) -> y (N, T, C)."""
    check_function(causal_conv, _causal_conv, _cases(_seed(15, seed, hidden)),
                   time_limit_s=time_limit_s, title=hidden_title(causal_conv, hidden),
                   mistakes=quiet({
        "the convolution looked into the future: token t may only see tokens t − k + 1 .. t "
        "(pad k − 1 zeros at the START of time)": _wrong("future"),
        "the kernel runs the other way: w[:, −1] weighs the current token and w[:, 0] the one "
        "k − 1 steps back": _wrong("flipped"),
        "a centred window sees the future: a causal one ends at the current token":
            _wrong("centred"),
        "np.roll wraps around, so the first tokens saw the last ones: before t = 0 there are "
        "zeros": _wrong("roll"),
        "depthwise: each channel is convolved on its own, with its own kernel, and the "
        "channels are not summed": _wrong("mixes channels"),
    }))
