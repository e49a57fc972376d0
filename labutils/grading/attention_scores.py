"""Autograder check for chapter 5's section 1: the backward of Luong's bilinear ("general")
score, s = q W kᵀ (``labutils.grading.attention`` re-exports it).

``bilinear_score_backward(ds, q, k, w) -> (dq, dk, dw)`` for q: (N, Tq, Dq), k: (N, Tk, Dk),
w: (Dq, Dk) and the upstream gradient ds: (N, Tq, Tk). The cases have Dq ≠ Dk and Tq ≠ Tk, where
a misplaced transpose gives a wrong shape, and a square case, where it gives wrong values.
Besides wrong values, the check catches what ``core`` does (delegation to the library's pair,
float32, NaN, in-place changes, time) and adds central-difference checks of the three results.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..nn.attention import bilinear_score_backward, bilinear_score_forward
from ..tolerances import GRADER_TIME_LIMIT
from .adapted import hidden_title, quiet
from .attention_blocks import _seed
from .core import check_function, gradient_check
from .published import published

__all__ = ["check_bilinear_score_backward", "reference_bilinear_score_backward"]


def _backward(ds: np.ndarray, q: np.ndarray, k: np.ndarray, w: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The library's pair, called in order: -> (dq (N, Tq, Dq), dk (N, Tk, Dk), dw (Dq, Dk))."""
    return bilinear_score_backward(ds, bilinear_score_forward(q, k, w)[1])


reference_bilinear_score_backward = published(_backward, "reference_bilinear_score_backward")


def _wrong(kind: str) -> Callable[..., tuple]:
    def wrong(ds: np.ndarray, q: np.ndarray, k: np.ndarray, w: np.ndarray) -> tuple:
        dq, dk, dw = _backward(ds, q, k, w)
        if kind == "dot":                 # the dot score's gradients: W forgotten
            return ds @ k, np.swapaxes(ds, 1, 2) @ q, dw
        if kind == "dw transposed":
            return dq, dk, dw.T
        return dq, dk, np.einsum("nqi,nqk,nkj->nij", q, ds, k)      # one dW per sample
    return wrong


def _cases(r: np.random.Generator) -> list[tuple[str, tuple]]:
    cases = []
    for label, (n, tq, tk, dq, dk) in [
            ("batch of 2, 3 queries, 5 keys, Dq = 4, Dk = 6", (2, 3, 5, 4, 6)),
            ("square: 4 queries, 4 keys, Dq = Dk = 3", (1, 4, 4, 3, 3)),
            ("a single query, 2 keys, Dq = 5, Dk = 2", (3, 1, 2, 5, 2))]:
        cases.append((label, (r.standard_normal((n, tq, tk)), r.standard_normal((n, tq, dq)),
                              r.standard_normal((n, tk, dk)), r.standard_normal((dq, dk)))))
    return cases


def check_bilinear_score_backward(bilinear_score_backward: Callable,
                                  time_limit_s: float = GRADER_TIME_LIMIT,
                                  seed: int | None = None, hidden: bool = False) -> None:
    """bilinear_score_backward(ds, q, k, w) -> (dq, dk, dw)."""
    cases = _cases(_seed(14, seed, hidden))
    names = ["dq", "dk", "dw"]
    report = check_function(
        bilinear_score_backward, _backward, cases, names=names, finish=False,
        time_limit_s=time_limit_s, title=hidden_title(bilinear_score_backward, hidden),
        mistakes=quiet({
            "W was left out (those are the dot score's gradients): s = q W kᵀ, so the query's "
            "gradient goes through k Wᵀ and the key's through q W": _wrong("dot"),
            "dw is (Dq, Dk), the shape of W: Σ_n q_nᵀ ds_n k_n; you returned its transpose":
                _wrong("dw transposed"),
            "W is shared by every sample: sum its gradient over the batch (one (Dq, Dk) "
            "array)": _wrong("dw per sample"),
        }))
    args = cases[0][1]
    ds = args[0]
    gradient_check(report, bilinear_score_backward, args,
                   lambda: float(np.sum(ds * bilinear_score_forward(*args[1:])[0])), args[1:],
                   names, time_limit_s=time_limit_s)
    report.finish()
