"""Chapter 6's checks of the random draws (re-exported by ``grading.performer``, where the
notebook imports them): ``check_unbiasedness_z`` (the z statistic of the estimates of exp(x·y))
and ``check_orthogonal_block`` (one block of orthogonal random features). Both must draw every
random number from the ``rng`` given: the same seed twice gives the same answer, another seed
another answer.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..nn import favor as P
from ..tolerances import GRADER_TIME_LIMIT
from .adapted import hidden_title
from .core import Problem, Report, call_student
from .hidden import seed as hidden_seed

__all__ = ["check_unbiasedness_z", "check_orthogonal_block"]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# -- 4. unbiasedness by simulation ------------------------------------------------------------

class _Recording:
    """A feature map that records the W it is given (shapes and how many different ones)."""

    def __init__(self, fmap: Callable[..., Any]) -> None:
        self.fmap, self.shapes, self.seen = fmap, set(), set()
        self.__name__ = getattr(fmap, "__name__", "features")

    def __deepcopy__(self, memo: dict) -> _Recording:   # the student's call must reach it
        return self

    def __call__(self, x: np.ndarray, W: np.ndarray) -> Any:
        W = np.asarray(W)
        self.shapes.add(W.shape)
        if len(self.seen) < 100_000:
            self.seen.add(hash(W.tobytes()))
        return self.fmap(x, W)


def _as_number(z: Any) -> float:
    """A float from any numeric form of a scalar (Python or NumPy number, 0-d array)."""
    if z is None:
        raise Problem("returned None: did you forget the `return` statement?", "none")
    if isinstance(z, (bool, np.bool_)) or not (
            isinstance(z, (int, float, np.integer, np.floating))
            or (isinstance(z, np.ndarray) and z.shape == () and z.dtype.kind in "iuf")):
        raise Problem(f"expected a number, got {type(z).__name__}"
                      + (f" of shape {z.shape}" if isinstance(z, np.ndarray) else ""), "type")
    return float(z)


def no_norm_factor(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    return np.exp(x @ W.T) / math.sqrt(len(W))


def ten_percent_high(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    return P.positive_features(x, W) * math.sqrt(1.10)


def ten_percent_low(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    return P.positive_features(x, W) * math.sqrt(0.90)


def _z_cases() -> list[tuple]:
    """(label, feature map, m, requirement on z, hint when it fails, seed) per case."""
    return [
        ("positive features, m = 16 (unbiased)", P.positive_features, 16, "small", None, 0),
        ("trigonometric features, m = 16 (unbiased)", P.trig_features, 16, "small", None, 1),
        ("hyperbolic features, m = 5 (unbiased)", P.hyperbolic_features, 5, "small", None, 2),
        ("positive features without exp(-|x|²/2) (biased high)", no_norm_factor, 16, "large+",
         "a clearly biased map must give a large z: divide by the standard error, the standard "
         "deviation over √n_draws, not by the standard deviation alone", 3),
        ("features 10 % too large (subtly biased)", ten_percent_high, 16, "large+",
         "with n_draws = 3000 a 10 % bias is many standard errors: divide by the standard "
         "deviation over √n_draws", 4),
        ("features 10 % too small (biased low)", ten_percent_low, 16, "large-",
         "with n_draws = 3000 a 10 % bias is many standard errors: divide by the standard "
         "deviation over √n_draws", 5),
    ]


def _student_z(unbiasedness_z: Any, rec: _Recording, x: np.ndarray, y: np.ndarray, m: int,
               n_draws: int, rng: np.random.Generator, time_limit_s: float) -> float:
    """The student's z for one case, or Problem (wrong W shapes, too few W, z not finite)."""
    z = _as_number(call_student(unbiasedness_z, (rec, x, y, m, n_draws, rng),
                                time_limit_s=time_limit_s))
    bad = sorted({s for s in rec.shapes if s != (m, len(x))})
    if bad:
        raise Problem(f"the feature map was given W of shape {bad[0]}; each draw is "
                      f"one W of shape (m, d) = {(m, len(x))}", "value")
    if len(rec.seen) != n_draws:
        raise Problem(f"{len(rec.seen)} different W were drawn for n_draws = {n_draws} "
                      f"estimates; each estimate needs its own W", "value")
    if not math.isfinite(z):
        raise Problem(f"z is {z}, not a finite number: the standard deviation of the "
                      f"estimates was 0 or not a number", "nan")
    return z


def _draw_hint(p: Problem, rec: _Recording) -> str | None:
    """The hint for a Problem raised by ``_student_z``."""
    if "different W were drawn" in str(p) or (p.kind == "nan" and len(rec.seen) == 1):
        return "draw a NEW W (m, d) from rng for every one of the n_draws estimates"
    if "was given W of shape" in str(p):
        return "use the m given (the number of features per draw), not a fixed number"
    return None


def _judge_z(report: Report, label: str, z: float, want: str, hint: str | None) -> None:
    """ok or fail for one z against its requirement (small, large+ or large-)."""
    if want == "small" and abs(z) < 4:
        report.ok(label, "|z| < 4: consistent with an unbiased estimator")
    elif (want == "large+" and z > 6) or (want == "large-" and z < -6):
        report.ok(label, f"z {'>' if want == 'large+' else '<'} "
                         f"{'' if want == 'large+' else '-'}6: the bias is detected")
    elif abs(z) > 6:
        report.fail(label, f"z has the wrong sign for an estimator that is too "
                           f"{'large' if want == 'large+' else 'small'}",
                    "z is signed: the mean of the estimates MINUS exp(x·y), over the "
                    "standard error")
    elif want == "small":
        report.fail(label, "|z| >= 4 for an unbiased estimator",
                    "compare with exp(x·y) (not exp(x·y/√d)), use the sample standard "
                    "deviation of the estimates, and draw W with iid N(0, 1) entries")
    else:
        report.fail(label, "|z| is too small for a biased estimator", hint)


def check_unbiasedness_z(unbiasedness_z: Callable[..., Any],
                         time_limit_s: float = GRADER_TIME_LIMIT, hidden: bool = False) -> None:
    """unbiasedness_z(features, x, y, m, n_draws, rng) -> z = (mean of the n_draws estimates
    φ(x)·φ(y) - exp(x·y)) / (their standard deviation / √n_draws), a new W (m, d) per draw.
    hidden=True: another pair x, y and other draws."""
    base = hidden_seed(614) if hidden else 64
    r = _rng(base)
    x, y = r.standard_normal(4) * .35, r.standard_normal(4) * .35
    n_draws = 3000
    report = Report(hidden_title(unbiasedness_z, hidden) or "Checking unbiasedness_z", time_limit_s)
    for label, fmap, m, want, hint, seed in _z_cases():
        rec = _Recording(fmap)
        try:
            z = _student_z(unbiasedness_z, rec, x, y, m, n_draws, _rng(base + 636 + seed),
                           time_limit_s)
        except Problem as p:
            report.fail(label, str(p), _draw_hint(p, rec))
            continue
        _judge_z(report, label, z, want, hint)
    _uses_rng(report, lambda rng: call_student(
        unbiasedness_z, (P.positive_features, x, y, 8, 200, rng), time_limit_s=time_limit_s),
        _as_number)
    report.finish()


def _uses_rng(report: Report, run: Callable[[np.random.Generator], Any],
              read: Callable[[Any], Any]) -> None:
    """Same seed twice -> the same answer; another seed -> another answer."""
    label = "every random number comes from the rng given"
    try:
        a, b, c = (read(run(_rng(s))) for s in (800, 800, 801))
    except Problem as p:
        report.fail(label, f"could not run: {p}")
        return
    same = np.array_equal(np.asarray(a), np.asarray(b))
    if not same:
        report.fail(label, "the same seed gave two different answers",
                    "draw every random number from the rng argument (not np.random's global "
                    "generator or a new generator)")
    elif np.array_equal(np.asarray(a), np.asarray(c)):
        report.fail(label, "two different seeds gave the same answer",
                    "draw every random number from the rng argument (not a generator with a "
                    "fixed seed of your own)")
    else:
        report.ok(label)


# -- 5. the orthogonal block -----------------------------------------------------------------

def _block(W: Any, d: int) -> np.ndarray:
    """The student's block as a float64 (d, d) array, or Problem."""
    if W is None:
        raise Problem("returned None: did you forget the `return` statement?", "none")
    W = np.asarray(W)
    if W.dtype.kind == "f" and W.dtype.itemsize < 8:
        raise Problem(f"the block is {W.dtype}, not float64: compute in float64 throughout",
                      "precision")
    if W.dtype.kind not in "iuf":
        raise Problem(f"expected an array of numbers, got dtype {W.dtype}", "type")
    W = W.astype(np.float64)
    if W.shape != (d, d):
        raise Problem(f"expected shape {(d, d)}, got {W.shape}", "shape")
    if not np.isfinite(W).all():
        raise Problem("contains NaN or inf", "nan")
    return W


def _check_single_blocks(report: Report, orthogonal_block: Callable[..., Any], base: int,
                         time_limit_s: float) -> None:
    """One block for d = 1, 3, 8: shape and exactly orthogonal rows."""
    for d in (1, 3, 8):
        label = f"one block, d = {d}"
        try:
            W = _block(call_student(orthogonal_block, (d, _rng(base + 65 + d)),
                                    time_limit_s=time_limit_s), d)
        except Problem as p:
            report.fail(label, str(p))
            continue
        G = W @ W.T
        off = np.abs(G - np.diag(np.diag(G))).max() / max(np.abs(G).max(), 1e-300)
        if off > 1e-10:
            report.fail(label, "rows are not orthogonal",
                        "take Q from the QR decomposition of a (d, d) Gaussian matrix: its "
                        "rows (and columns) are exactly orthogonal; then give each row a length")
            continue
        report.ok(label, "shape and exactly orthogonal rows")


def _judge_directions(report: Report, label: str, Ws: np.ndarray, norms: np.ndarray, d: int,
                      n: int) -> None:
    """Unit rows uniform on the sphere (Haar): fourth moment and mean of each entry."""
    U = Ws / norms.reshape(n, d, 1)
    z = np.abs(U.mean(0)) / (U.std(0) / math.sqrt(n))
    fourth = np.mean(U ** 4)              # Haar: E[u_i^4] = 3 / (d (d + 2))
    se4 = np.std(U ** 4) / math.sqrt(U.size / d)
    if abs(fourth - 3 / (d * (d + 2))) > 6 * se4:
        report.fail(label, f"the directions are not uniform on the sphere: the mean of "
                           f"u_i⁴ over the unit rows is {fourth:.3f}, not 3/(d(d+2)) = "
                           f"{3 / (d * (d + 2)):.3f}",
                    "start from the QR decomposition of a (d, d) Gaussian matrix, not from "
                    "axes or a permutation")
    elif z.max() > 6:
        report.fail(label, "the directions are not uniformly distributed (Haar): their "
                           "average is far from 0",
                    "QR's sign convention (R's diagonal may be negative) makes Q "
                    "non-uniform: flip the sign of each column of Q whose diagonal entry "
                    "of R is negative")
    else:
        report.ok(label, "lengths chi(d), directions consistent with Haar")


def _judge_blocks(report: Report, label: str, Ws: np.ndarray, d: int, n: int) -> None:
    """Row lengths chi(d), one per row, then the directions (``_judge_directions``)."""
    norms = np.linalg.norm(Ws, axis=-1).ravel()
    r2 = norms ** 2
    if np.allclose(norms, 1):
        report.fail(label, "every row has length 1",
                    "give each row its own length, drawn from chi(d): the norm of a fresh "
                    "N(0, I_d) vector, so that each row is marginally N(0, I_d)")
    elif np.allclose(np.linalg.norm(Ws, axis=-1), np.linalg.norm(Ws, axis=-1)[:, :1]):
        report.fail(label, "within each block every row has the same length",
                    "each row needs its own chi(d) length (the norm of its own fresh N(0, I_d) "
                    "vector); one length per block makes the rows dependent in length")
    elif np.allclose(norms, norms[0]):
        report.fail(label, f"every row has the same length {norms[0]:.3g}",
                    "the lengths must be random, chi(d) (the norm of a fresh N(0, I_d) "
                    "vector), not a constant such as √d")
    elif abs(r2.mean() - d) > 5 * math.sqrt(2 * d / r2.size) or abs(r2.var() - 2 * d) > 0.2 * 2 * d:
        report.fail(label, f"squared row lengths have mean {r2.mean():.2f} and variance "
                           f"{r2.var():.2f}; chi(d)² has mean d = {d} and variance 2d = {2 * d}",
                    "draw each length as the norm of a fresh N(0, I_d) vector")
    else:
        _judge_directions(report, label, Ws, norms, d, n)


def check_orthogonal_block(orthogonal_block: Callable[..., Any],
                           time_limit_s: float = GRADER_TIME_LIMIT, hidden: bool = False) -> None:
    """orthogonal_block(d, rng) -> (d, d): exactly orthogonal rows, Haar directions, chi(d)
    row lengths, one per row (each row marginally N(0, I_d)). hidden=True: other seeds."""
    base = hidden_seed(615) if hidden else 0
    report = Report(hidden_title(orthogonal_block, hidden) or "Checking orthogonal_block",
                    time_limit_s)
    _check_single_blocks(report, orthogonal_block, base, time_limit_s)
    _uses_rng(report, lambda rng: _block(call_student(orthogonal_block, (3, rng),
                                                      time_limit_s=time_limit_s), 3),
              lambda W: W)
    if report.failed:              # the statistics would only repeat what failed above
        report.finish()
        return
    # statistics over many blocks: rows must be N(0, I_d) marginally, directions Haar
    d, n = 3, 3000
    label = f"{n} blocks, d = {d}: row lengths and directions"

    def many(rng: np.random.Generator) -> list:
        return [orthogonal_block(d, rng) for _ in range(n)]
    try:
        Ws = call_student(many, (_rng(base + 69),), time_limit_s=time_limit_s,
                          name="orthogonal_block")
        Ws = np.stack([_block(W, d) for W in Ws])
    except Problem as p:
        report.fail(label, str(p))
        report.finish()
        return
    _judge_blocks(report, label, Ws, d, n)
    report.finish()
