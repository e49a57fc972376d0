"""Autograder checks for chapter 6 (Performer random features). Each takes the student's
function; the truth is ``labutils.nn.favor``. Statistical checks use fixed seeds and bounds
many standard errors wide, so a correct answer passes whatever order it draws numbers in.

Besides wrong values, every check catches (see ``core``): calls to the course's references
(``P.positive_features`` in the positive-features exercise, ``P.favor_attention`` and the other
``labutils`` functions everywhere; the FAVOR+ exercises may use ``P.positive_features``), torch,
float32 answers, NaN or inf, changes made in place. The FAVOR+ checks measure what the exercise
asks for: peak memory at two lengths (an L×S or L×L matrix fails) and, bidirectional, the Python
lines run at two lengths (a loop per query fails); causal, a loop per position is the exercise's
running sum, but a loop over pairs of positions fails. ``unbiasedness_z`` and
``orthogonal_block`` must draw every random number from the ``rng`` given (the same seed twice
gives the same answer, another seed another answer) and use ``m`` and ``n_draws``. ``seed``
picks other random cases (for hidden tests).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..nn import favor as P
from ..tolerances import GRADER_TIME_LIMIT
from .adapted import hidden_title, precision_hint, quiet
from .core import (LineCounter, Problem, Report, call_student, check_function, memory_growth,
                   no_python_loop)
from .hidden import seed as hidden_seed
from .performer_favor import (check_favor_backward, check_favor_step, check_positive_mse,
                              reference_favor_step, work_growth)
from .performer_checks import check_orthogonal_block, check_unbiasedness_z
from .published import published

__all__ = ["check_positive_features", "check_favor_attention", "check_causal_favor",
           "check_unbiasedness_z", "check_orthogonal_block", "reference_unbiasedness_z",
           "check_positive_mse", "check_favor_backward", "check_favor_step",
           "reference_favor_step"]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _sq(x: np.ndarray) -> np.ndarray:
    return np.sum(x * x, axis=-1, keepdims=True)


# -- 1. positive features ----------------------------------------------------------------

_LONG = "long vectors |x| = 10 (exponents near -50: float32 loses digits)"


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _long_vector_case(r: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """|x| = 30 and a feature along it: the exponent ωᵀx - |x|²/2 is 270 (fine), but
    ωᵀx alone is 720, whose exponential overflows."""
    x = np.zeros((2, 4))
    x[0, 0], x[1, 1] = 30.0, 1.0
    W = r.standard_normal((6, 4))
    W[0] = [24.0, 0.1, -0.2, 0.3]
    return x, W


def check_positive_features(positive_features: Callable[..., Any],
                            time_limit_s: float = GRADER_TIME_LIMIT, seed: int | None = None,
                            hidden: bool = False) -> None:
    """positive_features(x (..., d), W (m, d)) -> (..., m): exp(ωᵀx - |x|²/2) / √m.
    hidden=True: the hidden tests (other random cases)."""
    r = _rng(hidden_seed(606) if hidden else 60 if seed is None else seed)
    cases = [
        ("a batch of 5 vectors, d = 4, m = 7",
         (r.standard_normal((5, 4)), r.standard_normal((7, 4)))),
        ("a single vector (d,)", (r.standard_normal(3), r.standard_normal((6, 3)))),
        ("leading dimensions (2, 3, d)", (r.standard_normal((2, 3, 4)), r.standard_normal((5, 4)))),
        ("one feature (m = 1)", (r.standard_normal((3, 4)), r.standard_normal((1, 4)))),
        ("a long vector |x| = 3", (3 * np.eye(4)[:1], r.standard_normal((8, 4)))),
        (_LONG,
         (10 * _unit(r.standard_normal((3, 4))), r.standard_normal((7, 4)))),
        ("a very long vector |x| = 30, one feature along it", _long_vector_case(r)),
    ]
    report = check_function(positive_features, P.positive_features, cases, finish=False,
                            time_limit_s=time_limit_s,
                            title=hidden_title(positive_features, hidden),
                            mistakes=quiet({
        "divide by √m so that φ(x)·φ(y) is an average over the m features, not a sum":
            lambda x, W: np.exp(x @ W.T - _sq(x) / 2),
        "divide by the square root of m, the number of features (the rows of W), not of d":
            lambda x, W: np.exp(x @ W.T - _sq(x) / 2) / math.sqrt(W.shape[1]),
        "the factor exp(-|x|²/2) is missing (it turns E[exp(ωᵀ(x+y))] = exp(|x+y|²/2) "
        "into exp(x·y))":
            lambda x, W: np.exp(x @ W.T) / math.sqrt(len(W)),
        "the sign of |x|²/2: the exponent is ωᵀx minus half the squared norm":
            lambda x, W: np.exp(x @ W.T + _sq(x) / 2) / math.sqrt(len(W)),
        "the factor is exp(-|x|²/2), with |x|² the squared norm (a sum over the last axis)":
            lambda x, W: np.exp(x @ W.T - np.sqrt(_sq(x)) / 2) / math.sqrt(len(W)),
        "no 1/√d inside: these features estimate exp(x·y) for the vectors as given":
            lambda x, W: P.positive_features(x / x.shape[-1] ** 0.25, W),
        "W is (m, d): each feature is the projection of x on one ROW of W":
            lambda x, W: np.exp(x @ W - _sq(x) / 2) / math.sqrt(len(W)),
        "|x|² is each vector's own squared norm (a sum over the last axis only), not a sum "
        "over the whole batch":
            lambda x, W: np.exp(x @ W.T - np.sum(x * x) / 2) / math.sqrt(len(W)),
        "two separate exponentials, exp(ωᵀx) times exp(-|x|²/2): the first overflows for long "
        "vectors; take one exponential of the difference":
            lambda x, W: np.exp(x @ W.T) * np.exp(-_sq(x) / 2) / math.sqrt(len(W)),
    }))
    precision_hint(report, _LONG)
    report.finish()


# -- 2. FAVOR+ bidirectional -------------------------------------------------------------

def _favor_cases(seed: int, causal: bool = False) -> list[tuple[str, tuple[np.ndarray, ...]]]:
    r = _rng(seed)
    cases = [("L = 6, d = 4, m = 8, dv = 3",
              (r.standard_normal((6, 4)), r.standard_normal((6, 4)), r.standard_normal((6, 3)),
               r.standard_normal((8, 4)))),
             ("a single position (L = 1)",
              (r.standard_normal((1, 4)), r.standard_normal((1, 4)), r.standard_normal((1, 2)),
               r.standard_normal((5, 4)))),
             ("leading dimensions (2, 3, L, d)",
              (r.standard_normal((2, 3, 5, 8)) * .7, r.standard_normal((2, 3, 5, 8)) * .7,
               r.standard_normal((2, 3, 5, 4)), r.standard_normal((16, 8))))]
    if not causal:
        cases.append(("4 queries, 7 keys",
                      (r.standard_normal((4, 4)), r.standard_normal((7, 4)),
                       r.standard_normal((7, 2)), r.standard_normal((6, 4)))))
    return cases


def _sized(seed: int, L: int, d: int = 4, m: int = 8, dv: int = 2) -> tuple[np.ndarray, ...]:
    """make_args for the complexity measurements: q, k, v of length L."""
    r = _rng(seed)
    return (r.standard_normal((L, d)) * .5, r.standard_normal((L, d)) * .5,
            r.standard_normal((L, dv)), r.standard_normal((m, d)))


def _phi(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    return P.positive_features(x, W)


def _unnormalised(q: np.ndarray, k: np.ndarray, v: np.ndarray, W: np.ndarray) -> np.ndarray:
    s = q.shape[-1] ** -0.25
    return _phi(q * s, W) @ (np.swapaxes(_phi(k * s, W), -1, -2) @ v)


def _favor_scaled(q: np.ndarray, k: np.ndarray, v: np.ndarray, W: np.ndarray, sq: float,
                  sk: float, causal: bool = False) -> np.ndarray:
    A = _phi(q * sq, W) @ np.swapaxes(_phi(k * sk, W), -1, -2)
    if causal:
        A = np.tril(A)
    return (A @ v) / A.sum(-1, keepdims=True)


# the FAVOR+ exercises may build on the course's feature map (the previous exercise)
_FAVOR_ALLOW = ("labutils.nn.favor.positive_features",)


def check_favor_attention(favor_attention: Callable[..., Any],
                          time_limit_s: float = GRADER_TIME_LIMIT, seed: int | None = None,
                          hidden: bool = False) -> None:
    """favor_attention(q (..., L, d), k (..., S, d), v (..., S, dv), W (m, d)) -> (..., L, dv),
    positive features, q and k scaled by d^(-1/4), no L×S matrix, no loop per query."""
    def reference(q: np.ndarray, k: np.ndarray, v: np.ndarray, W: np.ndarray) -> np.ndarray:
        return P.favor_attention(q, k, v, W, "positive")
    seed = hidden_seed(605) if hidden else 61 if seed is None else seed
    report = check_function(favor_attention, reference, _favor_cases(seed),
                            title=hidden_title(favor_attention, hidden),
                            time_limit_s=time_limit_s, finish=False, allow=_FAVOR_ALLOW,
                            mistakes=quiet({
        "normalise: divide each query's row by the sum of its weights (the same product with "
        "v replaced by ones)": _unnormalised,
        "scale q and k by d^(-1/4) each (their product then carries 1/√d)":
            lambda q, k, v, W: _favor_scaled(q, k, v, W, 1, 1),
        "d^(-1/4) on each of q and k, not 1/√d on each (that gives 1/d in the product)":
            lambda q, k, v, W: _favor_scaled(q, k, v, W, q.shape[-1] ** -.5, q.shape[-1] ** -.5),
        "1/√d on q alone estimates the same kernel with other features: the course (and the "
        "paper) scale q and k by d^(-1/4) each":
            lambda q, k, v, W: _favor_scaled(q, k, v, W, q.shape[-1] ** -.5, 1),
        "these are trigonometric features; the exercise asks for positive ones":
            lambda q, k, v, W: P.favor_attention(q, k, v, W, "trig"),
    }))
    memory_growth(report, favor_attention, lambda L: _sized(70, L), sizes=(500, 2000),
                  what="an L × S matrix (queries times keys)", allow=_FAVOR_ALLOW,
                  label="memory grows like L, not L × S")
    no_python_loop(report, favor_attention, lambda L: _sized(71, L), sizes=(8, 64), per="row",
                   allow=_FAVOR_ALLOW, label="no Python loop per query")
    work_growth(report, favor_attention, lambda L: _sized(72, L), allow=_FAVOR_ALLOW,
                what="all L × S products, even a block at a time")
    report.finish()


# -- 3. FAVOR+ causal, by prefix sums ---------------------------------------------------------

def _no_loop_over_pairs(report: Report, student: Callable[..., Any],
                        make_args: Callable[[int], tuple], sizes: tuple[int, int] = (16, 64),
                        **watch: Any) -> None:
    """A loop per position is the running sum the exercise asks for (lines grow like L); a
    loop over pairs of positions (lines grow like L²) is the quadratic attention in disguise."""
    label = "no Python loop over pairs of positions"
    counts = []
    try:
        for L in sizes:
            probe = LineCounter(student)
            call_student(student, make_args(L), probe=probe, **watch)
            counts.append(max(probe.count, 1))
    except Problem as p:
        report.fail(label, f"could not measure: {p}")
        return
    power = math.log(counts[1] / counts[0]) / math.log(sizes[1] / sizes[0])
    if power > 1.5:
        report.fail(label, f"your code runs a Python loop over pairs (i, j): {counts[0]} Python "
                           f"lines ran for L = {sizes[0]}, {counts[1]} for L = {sizes[1]} (like "
                           f"L^{power:.1f}); carry the running sums from one position to the next")
    else:
        report.ok(label)


def check_causal_favor(causal_favor: Callable[..., Any], time_limit_s: float = GRADER_TIME_LIMIT,
                       seed: int | None = None, hidden: bool = False) -> None:
    """causal_favor(q, k (..., L, d), v (..., L, dv), W (m, d)) -> (..., L, dv), query i using
    keys j <= i, by running (prefix) sums: memory linear in L."""
    def reference(q: np.ndarray, k: np.ndarray, v: np.ndarray, W: np.ndarray) -> np.ndarray:
        return P.favor_attention(q, k, v, W, "positive", causal=True)

    def strict(q: np.ndarray, k: np.ndarray, v: np.ndarray,
               W: np.ndarray) -> np.ndarray:       # j < i: the diagonal left out
        s = q.shape[-1] ** -.25
        A = np.tril(_phi(q * s, W) @ np.swapaxes(_phi(k * s, W), -1, -2), -1)
        return (A @ v) / A.sum(-1, keepdims=True)

    def full_normaliser(q: np.ndarray, k: np.ndarray, v: np.ndarray, W: np.ndarray) -> np.ndarray:
        s = q.shape[-1] ** -.25
        A = _phi(q * s, W) @ np.swapaxes(_phi(k * s, W), -1, -2)
        return (np.tril(A) @ v) / A.sum(-1, keepdims=True)

    def reversed_prefix(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                        W: np.ndarray) -> np.ndarray:   # keys j >= i (suffix sums)
        s = q.shape[-1] ** -.25
        A = np.triu(_phi(q * s, W) @ np.swapaxes(_phi(k * s, W), -1, -2))
        return (A @ v) / A.sum(-1, keepdims=True)
    report = check_function(causal_favor, reference,
                            _favor_cases(hidden_seed(607) if hidden else
                                         62 if seed is None else seed,
                                         causal=True),
                            title=hidden_title(causal_favor, hidden),
                            time_limit_s=time_limit_s, finish=False, allow=_FAVOR_ALLOW,
                            mistakes=quiet({
        "causal: query i may only use keys j <= i (prefix sums), not all keys":
            lambda q, k, v, W: P.favor_attention(q, k, v, W, "positive"),
        "include the diagonal: query i attends to keys j <= i, itself included": strict,
        "the normaliser needs the same prefix: the sum of φ(k_j) over j <= i, not over all keys":
            full_normaliser,
        "the prefix runs over the PAST: query i uses keys j <= i, not j >= i": reversed_prefix,
    }))
    failed = report.failed
    _no_loop_over_pairs(report, causal_favor, lambda n: _sized(64, n), allow=_FAVOR_ALLOW)
    if report.failed == failed:    # a loop over pairs at L = 3000 would only use up the time
        L = 3000
        memory_growth(report, causal_favor, lambda n: _sized(63, n), sizes=(L // 2, L),
                      what="an L × L matrix", allow=_FAVOR_ALLOW,
                      label=f"memory at L = {L // 2} and {L}: grows like L (an L × L float64 "
                            f"matrix would need {L * L * 8 / 2**20:.0f} MB)")
        work_growth(report, causal_favor, lambda n: _sized(65, n), allow=_FAVOR_ALLOW)
    report.finish()


# -- 4. unbiasedness by simulation ------------------------------------------------------------

def _unbiasedness_z(features: Callable[[np.ndarray, np.ndarray], np.ndarray], x: np.ndarray,
                    y: np.ndarray, m: int, n_draws: int, rng: np.random.Generator) -> float:
    """z = (mean - exp(x·y)) / (s / √n) over n_draws independent iid W (m, d)."""
    est = np.array([features(x, W) @ features(y, W)
                    for W in (rng.standard_normal((m, len(x))) for _ in range(n_draws))])
    return float((est.mean() - math.exp(x @ y)) / (est.std(ddof=1) / math.sqrt(n_draws)))


reference_unbiasedness_z = published(_unbiasedness_z, "reference_unbiasedness_z")
