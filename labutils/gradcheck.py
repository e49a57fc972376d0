"""Numerical gradients by central differences, and gradient checks of modules.

    df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / 2h        error O(h^2) + O(eps/h)

For a module with outputs y (any nesting of tuples), the check uses the scalar loss
L = sum_j <R_j, y_j> with fixed random R_j, whose gradient w.r.t. y_j is R_j: the backward
pass is then fed R and its results are compared with central differences of L.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from . import validate
from .module import Module
from .tolerances import GRADCHECK_STEP, verdict

# A module's outputs (or their gradients): an array, None, or a tuple/list of such trees.
Tree = np.ndarray | None | tuple["Tree", ...] | list["Tree"]


def _numbers(a: object, owner: str, arg: str) -> np.ndarray:
    """``a`` (an array, a torch tensor, a list or a number) as a float64 array; NaN passes
    through (the error is then NaN: "wrong"), anything that is not numbers is refused."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    kind = np.asarray(a).dtype.kind if a is not None and not isinstance(a, str) else "O"
    if kind not in "biuf":
        raise TypeError(f"{owner}: {arg} must be an array of numbers, got {type(a).__name__}")
    return np.asarray(a, dtype=np.float64)


def rel_error(a: ArrayLike, b: ArrayLike) -> float:
    """|a - b| / max(|a|, |b|) with Euclidean norms over the whole arrays (0 if both are 0).
    a and b must have the same shape (no silent broadcast)."""
    a, b = _numbers(a, "rel_error", "a"), _numbers(b, "rel_error", "b")
    if a.shape != b.shape:
        raise ValueError(f"rel_error: a and b must have the same shape, got a {a.shape} "
                         f"and b {b.shape}")
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)


def floored_error(a: ArrayLike, b: ArrayLike, floor: float) -> float:
    """|a - b| / max(|a|, |b|, floor), Euclidean norms over the whole arrays.

    ``rel_error`` with an absolute floor under the denominator: two arrays far smaller
    than ``floor`` (rounding noise against an exact zero) compare as close, because their
    difference is measured against ``floor``. With ``floor=0`` this is ``rel_error``.
    Arrays of different shapes give ``inf`` (never a silent broadcast).
    """
    a, b = _numbers(a, "floored_error", "a"), _numbers(b, "floored_error", "b")
    floor = validate.nonneg_float(floor, "floored_error", "floor")
    if a.shape != b.shape:
        return float("inf")
    scale = max(np.linalg.norm(a), np.linalg.norm(b), floor)
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)


def numerical_gradient(f: Callable[[], float], x: np.ndarray,
                       h: float = GRADCHECK_STEP) -> np.ndarray:
    """Gradient of the scalar function ``f()`` w.r.t. the array ``x``, which f reads.

    ``x`` is perturbed in place one entry at a time and restored afterwards (also when ``f``
    raises).
    """
    _check_difference("numerical_gradient", f, x, h)
    grad = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        try:
            x[i] = old + h
            f_plus = float(f())
            x[i] = old - h
            f_minus = float(f())
        finally:
            x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def _check_difference(owner: str, f: object, x: object, h: object) -> None:
    validate.function(f, owner, "f")
    validate.array(x, owner, "x")
    validate.number(h, owner, "h", low=0, open_low=True)


def directional_derivative(f: Callable[[], float], x: np.ndarray, u: np.ndarray,
                           h: float = GRADCHECK_STEP) -> float:
    """(f(x + h u) - f(x - h u)) / 2h for the scalar function ``f()`` reading ``x``."""
    _check_difference("directional_derivative", f, x, h)
    validate.array(u, "directional_derivative", "u")
    if u.shape != x.shape:
        raise ValueError(f"directional_derivative: u must have x's shape {x.shape}, "
                         f"got {u.shape}")
    old = x.copy()
    try:
        x[...] = old + h * u
        f_plus = float(f())
        x[...] = old - h * u
        f_minus = float(f())
    finally:
        x[...] = old
    return (f_plus - f_minus) / (2 * h)


def flatten(tree: Tree) -> list[np.ndarray | None]:
    """Arrays (and Nones) of a nested tuple/list structure, in order."""
    if isinstance(tree, (tuple, list)):
        return [leaf for t in tree for leaf in flatten(t)]
    return [tree]


def unflatten(tree: Tree, leaves: Iterable[np.ndarray | None]) -> Tree:
    """Rebuild ``tree``'s structure from a flat iterable of leaves, exactly as many as
    ``flatten(tree)`` gives."""
    if isinstance(leaves, (str, bytes)) or not hasattr(leaves, "__iter__"):
        raise TypeError(f"unflatten: leaves must be an iterable of arrays, "
                        f"got {type(leaves).__name__}")
    leaves, want = list(leaves), len(flatten(tree))
    if len(leaves) != want:
        raise ValueError(f"unflatten: leaves must hold {want} leaves to fill tree, "
                         f"got {len(leaves)}")
    it = iter(leaves)

    def build(t: Tree) -> Tree:
        if isinstance(t, (tuple, list)):
            return type(t)(build(s) for s in t)
        return next(it)
    return build(tree)


@dataclass
class ErrorReport:
    """Relative error per compared array ("input 0", "param weight", ...)."""
    errors: dict[str, float] = field(default_factory=dict)

    @property
    def worst(self) -> float:
        """The largest error; NaN if any error is NaN (max() alone would skip it)."""
        errs = list(self.errors.values())
        return float("nan") if any(e != e for e in errs) else max(errs, default=0.0)


class GradCheckReport(ErrorReport):
    """Analytic gradients against central differences."""

    @property
    def ok(self) -> bool:
        return all(verdict(e) == "correct" for e in self.errors.values())

    def summary(self) -> str:
        """One verdict per array, without the digits that vary from CPU to CPU."""
        return "\n".join(f"{name:<28} {verdict(err)}" for name, err in self.errors.items())

    def __str__(self) -> str:
        rows = [f"{name:<28} rel. error {err:9.2e}  {verdict(err)}"
                for name, err in self.errors.items()]
        return "\n".join(rows)


def check_module(module: Module, *inputs: object, seed: int = 0, max_entries: int = 200,
                 n_directions: int = 4, h: float = GRADCHECK_STEP,
                 check_inputs: Sequence[int] | None = None) -> GradCheckReport:
    """Compare ``module.backward`` with central differences, for every floating input and
    every parameter. Arrays with more than ``max_entries`` entries are checked along
    ``n_directions`` random unit directions instead of entry by entry.

    ``check_inputs``: indices of the inputs to check (default: every floating-point array).
    Returns a GradCheckReport; the module's grads are left zeroed.
    """
    _check_gradcheck_args(module, inputs, seed, max_entries, n_directions, h, check_inputs)
    rng = np.random.default_rng(seed)
    out = module(*inputs)
    leaves = flatten(out)
    weights = [None if y is None else rng.standard_normal(np.shape(y)) for y in leaves]

    def loss() -> float:
        ys = flatten(module(*inputs))
        return sum(float(np.sum(w * y)) for w, y in zip(weights, ys) if w is not None)

    module.zero_grad()
    module(*inputs)
    dx = module.backward(*_as_grad_args(out, weights))
    dx = dx if isinstance(dx, tuple) else (dx,)
    analytic_params = {k: g.copy() for k, g in module.grads.items()}
    module.zero_grad()

    if check_inputs is None:
        check_inputs = [i for i, x in enumerate(inputs)
                        if isinstance(x, np.ndarray) and x.dtype.kind == "f"]
    targets = [(f"input {i}", inputs[i], dx[i]) for i in check_inputs]
    targets += [(f"param {k}", module.params[k], analytic_params[k]) for k in module.params]

    report = GradCheckReport()
    for name, x, analytic in targets:
        if analytic is None:
            raise AssertionError(f"check_module: backward returned None for {name}")
        if x.size <= max_entries:
            numeric = numerical_gradient(loss, x, h)
            report.errors[name] = rel_error(analytic, numeric)
        else:
            # Compare <grad, u> with the difference quotient along u, relative to |grad|
            # (= the largest <grad, u> over unit u): a projection that happens to be small
            # must not inflate the error of a correct gradient.
            errs, scale = [], max(np.linalg.norm(analytic), 1e-300)
            for _ in range(n_directions):
                u = rng.standard_normal(x.shape)
                u /= np.linalg.norm(u)
                numeric = directional_derivative(loss, x, u, h)
                errs.append(abs(np.sum(analytic * u) - numeric) / max(scale, abs(numeric)))
            report.errors[name + " (directions)"] = max(errs)
    return report


def _check_gradcheck_args(module: object, inputs: tuple, seed: object, max_entries: object,
                          n_directions: object, h: object, check_inputs: object) -> None:
    owner = "check_module"
    if not isinstance(module, Module):
        raise TypeError(f"{owner}: module must be a labutils Module, got {type(module).__name__}")
    validate.positive_int(seed, owner, "seed", minimum=0)
    validate.positive_int(max_entries, owner, "max_entries", minimum=0)
    validate.positive_int(n_directions, owner, "n_directions")
    validate.number(h, owner, "h", low=0, open_low=True)
    if check_inputs is not None:
        bad = [i for i in check_inputs if not isinstance(i, int) or not -len(inputs) <= i
               < len(inputs) or not isinstance(inputs[i], np.ndarray)
               or inputs[i].dtype.kind != "f"]
        if bad:
            raise ValueError(f"{owner}: check_inputs must index floating-point array inputs "
                             f"(there are {len(inputs)} inputs), got {list(check_inputs)}")


def _as_grad_args(out: Tree, weights: list[np.ndarray | None]) -> tuple[Tree, ...]:
    """The backward arguments: one per top-level output, shaped like that output."""
    structured = unflatten(out, weights)
    return structured if isinstance(out, tuple) else (structured,)
