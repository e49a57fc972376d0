"""Autograder checks for chapter 4's exercises on the gradients' size, re-exported by
``grading.rnn`` (saved notebooks import them from there): clipping by global norm (torch's
formula, 1e-6 included) and the exploding condition, can_explode(W_hh, gamma) -> bool, judged on
matrices that separate the largest singular value from the spectral radius, the RMS and mean
singular values, the Frobenius norm, the largest entry and σ_max²; ``hidden=True`` draws other
cases (from the class's seed under autograde).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .adapted import check_adapted, hidden_title
from .core import Problem, Report, call_student
from .hidden import seed as hidden_seed
from .published import published
from .rnn import _limit, _rng, _seed

__all__ = ["check_clip_grad_norm", "check_can_explode", "reference_clip_grad_norm"]


# -- 5. clipping by global norm ----------------------------------------------------------------

def _clip_grad_norm(grads: Sequence[np.ndarray],
                    max_norm: float) -> tuple[list[np.ndarray], float]:
    """torch.nn.utils.clip_grad_norm_'s formula, on copies:
        total = sqrt(Σ_p ||g_p||²);  coef = max_norm / (total + 1e-6);
        if coef < 1: every g_p is multiplied by coef.   Returns (clipped grads, total)."""
    total = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    coef = min(1.0, max_norm / (total + 1e-6))
    return [g * coef for g in grads], total


# The notebook uses it after the exercise; a call from inside the exercise is forbidden.
reference_clip_grad_norm = published(_clip_grad_norm, "reference_clip_grad_norm")


def _clip_variant(kind: str) -> Callable[..., tuple[list[np.ndarray], float]]:
    def clip(grads: Sequence[np.ndarray], max_norm: float) -> tuple[list[np.ndarray], float]:
        total = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
        if kind == "per_tensor":
            out = [g * min(1.0, max_norm / (np.linalg.norm(g) + 1e-6)) for g in grads]
        elif kind == "no_eps":
            with np.errstate(all="ignore"):
                out = [g * min(1.0, max_norm / total) for g in grads]
        elif kind == "always":
            out = [g * max_norm / (total + 1e-6) for g in grads]
        elif kind == "sum_of_norms":
            s = sum(np.linalg.norm(g) for g in grads)
            out, total = [g * min(1.0, max_norm / (s + 1e-6)) for g in grads], s
        elif kind == "elementwise":
            out = [np.clip(g, -max_norm, max_norm) for g in grads]
        elif kind == "max_norm_1":
            out = [g * min(1.0, 1.0 / (total + 1e-6)) for g in grads]
        else:  # returns the norm after clipping
            out = [g * min(1.0, max_norm / (total + 1e-6)) for g in grads]
            total = min(total, max_norm)
        return out, total
    return clip


def _flat(out: Any, n: int) -> tuple[Any, ...]:
    """(list of n clipped gradients, total) -> (g_0, ..., g_{n-1}, total), or Problem."""
    if out is None:
        raise Problem("returned None: did you forget the `return` statement?", "none")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise Problem("expected 2 results: (list of clipped gradients, total_norm)", "shape")
    clipped, total = out
    if not isinstance(clipped, (list, tuple)) or len(clipped) != n:
        raise Problem(f"expected a list of {n} clipped gradients, got "
                      f"{type(clipped).__name__}" + (f" of {len(clipped)}" if isinstance(
                          clipped, (list, tuple)) else ""), "shape")
    return (*clipped, total)


def check_clip_grad_norm(clip_grad_norm: Callable[..., Any], seed: int = 4,
                         time_limit_s: float | None = None, hidden: bool = False) -> None:
    """clip_grad_norm(grads: list of arrays, max_norm) -> (list of clipped arrays, total_norm).
    The check uses torch's formula: coef = max_norm / (total_norm + 1e-6), applied when < 1."""
    r = _rng(_seed(seed, hidden))
    shapes = [(3, 4), (4,), (2, 2, 2)]
    big = [3 * r.standard_normal(s) for s in shapes]
    norm = np.sqrt(sum(np.sum(b * b) for b in big))
    cases = [
        ("total norm above max_norm: scaled down", (big, 1.0)),
        ("total norm below max_norm: unchanged", ([0.01 * g for g in big], 5.0)),
        ("small norm (0.5) above max_norm 0.1: the 1e-6 matters",
         ([g * 0.5 / norm for g in big], 0.1)),
        ("one large gradient among small ones",
         ([100 * big[0], 0.01 * big[1], 0.01 * big[2]], 2.0)),
        ("all gradients zero", ([np.zeros(s) for s in shapes], 1.0)),
    ]
    names = [f"gradient {k}" for k in range(3)] + ["total_norm"]
    mistakes = {hint: _clip_variant(kind) for hint, kind in [
        ("clip by the GLOBAL norm: one factor for all the gradients, from the norm of all of "
         "them together", "per_tensor"),
        ("torch divides by total_norm + 1e-6 (and so does this check)", "no_eps"),
        ("only scale DOWN: when the norm is already below max_norm, leave the gradients alone",
         "always"),
        ("the global norm is the square root of the sum of the squared norms, not the sum of "
         "the norms", "sum_of_norms"),
        ("clipping each entry to [-max_norm, max_norm] changes the direction; scale the whole "
         "gradient instead", "elementwise"),
        ("return the total norm BEFORE clipping (as torch does), not after", "after"),
        ("use the max_norm given, not a fixed 1", "max_norm_1"),
    ]}
    check_adapted(clip_grad_norm, _clip_grad_norm, cases, adapt=lambda out: _flat(out, 3),
                  names=names, mistakes=mistakes, time_limit_s=_limit(time_limit_s),
                  title=hidden_title(clip_grad_norm, hidden))


# -- 6. the exploding-gradient condition ----------------------------------------------------

def _can_explode(W_hh: np.ndarray, gamma: float) -> bool:
    return bool(np.linalg.norm(W_hh, 2) > 1 / gamma)


def _explode_cases(seed: int | None = None) -> list[tuple[str, tuple[np.ndarray, float]]]:
    """The fixed cases; with a seed (hidden tests), the same kinds of matrix drawn anew."""
    r = _rng(5 if seed is None else seed)
    Q = np.linalg.qr(r.standard_normal((4, 4)))[0]
    u = 0.0 if seed is None else r.uniform(-0.05, 0.05)     # hidden: scales moved a little
    top = 3.0 if seed is None else r.uniform(2.5, 4.0)
    return [
        (f"{1.2 + u:.3g} × orthogonal, tanh (γ = 1)", ((1.2 + u) * Q, 1.0)),
        (f"{0.9 + u:.3g} × orthogonal, tanh (γ = 1)", ((0.9 + u) * Q, 1.0)),
        (f"non-normal [[0.5, {top:.3g}], [0, 0.5]], tanh (γ = 1): spectral radius 0.5",
         (np.array([[0.5, top], [0.0, 0.5]]), 1.0)),
        (f"{1.5 + u:.3g} × orthogonal, sigmoid (γ = 1/4)", ((1.5 + u) * Q, 0.25)),
        (f"{3 + u:.3g} × orthogonal, sigmoid (γ = 1/4): σ_max below 1/γ, σ_max² above it",
         ((3.0 + u) * Q, 0.25)),
        (f"{5 + u:.3g} × orthogonal, sigmoid (γ = 1/4)", ((5.0 + u) * Q, 0.25)),
        (f"{0.5 + u:.3g} × orthogonal, sigmoid (γ = 1/4)", ((0.5 + u) * Q, 0.25)),
        ("diagonal (0.95, 0.2), tanh (γ = 1)", (np.diag([0.95, 0.2]), 1.0)),
        ("one large direction: singular values 1.5, 0.1, 0.1, 0.1 (γ = 1)",
         (Q @ np.diag([1.5, 0.1, 0.1, 0.1]) @ Q.T, 1.0)),
        ("σ_max exactly 1/γ: [[0, 2], [0.5, 0]], γ = 1/2",
         (np.array([[0.0, 2.0], [0.5, 0.0]]), 0.5)),
    ]


def _singular_values(W: np.ndarray) -> np.ndarray:
    return np.linalg.svd(W, compute_uv=False)


_EXPLODE_MISTAKES = {
    "use the largest SINGULAR value (the spectral norm), not the spectral radius: a "
    "non-normal matrix can have small eigenvalues and still stretch some vectors":
        lambda W, g: bool(np.max(np.abs(np.linalg.eigvals(W))) > 1 / g),
    "compare σ_max with 1/γ, not with γ": lambda W, g: bool(np.linalg.norm(W, 2) > g),
    "γ (the bound on the nonlinearity's derivative) matters: compare σ_max with 1/γ, not 1":
        lambda W, g: bool(np.linalg.norm(W, 2) > 1),
    "the condition is strict: when σ_max equals 1/γ exactly, no product of Jacobians can grow":
        lambda W, g: bool(np.linalg.norm(W, 2) >= 1 / g),
    "the condition uses the LARGEST singular value, not an average of them (such as the RMS "
    "singular value or their mean)":
        lambda W, g: bool(np.sqrt(np.mean(_singular_values(W) ** 2)) > 1 / g),
    "the bound is on σ_max times γ (one factor per step), not σ_max² or another power":
        lambda W, g: bool(np.linalg.norm(W, 2) ** 2 > 1 / g),
    "the bound needs the spectral norm (largest singular value), not the Frobenius norm":
        lambda W, g: bool(np.linalg.norm(W) > 1 / g),
    "this is a condition on the whole matrix (its largest singular value), not on its "
    "largest entry": lambda W, g: bool(np.max(np.abs(W)) > 1 / g),
}


def _as_bool(got: Any) -> bool:
    """True/False from bool, np.bool_ or a 0-d boolean array; else Problem."""
    if got is None:
        raise Problem("returned None: did you forget the `return` statement?", "none")
    if isinstance(got, np.ndarray) and got.shape == () and got.dtype == bool:
        return bool(got)
    if not isinstance(got, (bool, np.bool_)):
        raise Problem(f"expected True or False, got {type(got).__name__} {got!r:.40}", "type")
    return bool(got)


def check_can_explode(can_explode: Callable[..., Any], time_limit_s: float | None = None,
                      hidden: bool = False) -> None:
    """can_explode(W_hh (H, H), gamma) -> bool: True when the NECESSARY condition for
    exploding gradients holds, σ_max(W_hh) > 1/γ (γ bounds |σ'|); False: vanishing is certain."""
    report = Report(hidden_title(can_explode, hidden)
                    or f"Checking {getattr(can_explode, '__name__', 'your function')}",
                    _limit(time_limit_s))
    cases = _explode_cases(hidden_seed(105) if hidden else None)
    answers, problems = [], []
    for label, args in cases:
        expected, answer = _can_explode(*args), None
        try:
            answer = _as_bool(call_student(can_explode, args, time_limit_s=_limit(time_limit_s)))
            if answer != expected:
                raise Problem(f"expected {expected} (σ_max = {np.linalg.norm(args[0], 2):.3g}, "
                              f"1/γ = {1 / args[1]:g}), got {answer}", "value")
            problems.append(None)
        except Problem as p:
            problems.append(p)
        answers.append(answer)
    for (label, _), problem in zip(cases, problems):
        if problem is None:
            report.ok(label)
        else:
            report.fail(label, str(problem))
    # the hint: the known mistake that gives exactly the student's answers on every case
    if any(p is not None and p.kind == "value" for p in problems):
        report.hint(next((h for h, wrong in _EXPLODE_MISTAKES.items()
                          if all(a == wrong(*args) for a, (_, args) in zip(answers, cases))), None))
    report.finish()
