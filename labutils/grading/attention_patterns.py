"""Autograder check for chapter 5's section 10: Longformer's (dilated) sliding-window pattern
(``labutils.grading.attention`` re-exports it).

``window_pattern(T, window, dilation) -> bool (T, T)``, True where query i may attend to key j:
|i − j| <= window · dilation and i − j divisible by dilation (the diagonal included). The cases
cover dilation 1 (the plain window), a window wider than the sequence, and dilations 2 and 3.
Besides wrong values, the check refuses a mask that is not boolean, and catches what ``core``
does (delegation to the library's pattern, time).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..nn.masks import sliding_window_pattern
from ..tolerances import GRADER_TIME_LIMIT
from .adapted import check_adapted, hidden_title, quiet
from .attention import _boolean_mask
from .attention_blocks import _seed

__all__ = ["check_window_pattern"]


def _pattern(T: int, window: int, dilation: int) -> np.ndarray:
    return sliding_window_pattern(T, window, dilation)


def _wrong(kind: str) -> Callable[[int, int, int], np.ndarray]:
    def wrong(T: int, window: int, dilation: int) -> np.ndarray:
        i, j = np.arange(T)[:, None], np.arange(T)[None, :]
        d = np.abs(i - j)
        if kind == "no gaps":
            return d <= window * dilation
        if kind == "reach":
            return (d <= window) & (d % dilation == 0)
        if kind == "strict":
            return (d < window * dilation) & (d % dilation == 0)
        return (j <= i) & (d <= window * dilation) & (d % dilation == 0)      # one side only
    return wrong


def check_window_pattern(window_pattern: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                         seed: int | None = None, hidden: bool = False) -> None:
    """window_pattern(T, window, dilation) -> bool (T, T), True = may attend."""
    t = int(_seed(16, seed, hidden).integers(9, 14))
    cases = [("T = 8, window 2, dilation 1 (a band)", (8, 2, 1)),
             ("T = 10, window 2, dilation 2", (10, 2, 2)),
             (f"T = {t}, window 3, dilation 3", (t, 3, 3)),
             ("a window wider than T = 4", (4, 6, 1)),
             ("window 1, dilation 4 (T = 9)", (9, 1, 4))]
    check_adapted(window_pattern, _pattern, cases, adapt=_boolean_mask,
                  time_limit_s=time_limit_s, title=hidden_title(window_pattern, hidden),
                  mistakes=quiet({
        "dilation leaves gaps: only keys whose distance is a multiple of dilation count":
            _wrong("no gaps"),
        "with dilation the window reaches window · dilation steps on each side (window keys "
        "spaced dilation apart), not window steps": _wrong("reach"),
        "the key at distance exactly window · dilation is inside the window (<=, not <)":
            _wrong("strict"),
        "the window is on both sides of the query (Longformer's encoder is not causal)":
            _wrong("one side"),
    }))
