"""Autograder checks for chapter 6 (Performer random features). Each takes the student's
function; the truth is ``labutils.performer``. Statistical checks use fixed seeds and bounds
many standard errors wide, so a correct answer passes whatever order it draws numbers in."""
import math
import tracemalloc

import numpy as np

from .. import performer as P
from ..tolerances import GRADER_TIME_LIMIT
from .core import Problem, Report, call_student, check_function

__all__ = ["check_positive_features", "check_favor_attention", "check_causal_favor",
           "check_unbiasedness_z", "check_orthogonal_block"]


def _rng(seed):
    return np.random.default_rng(seed)


# -- 1. positive features ----------------------------------------------------------------

def check_positive_features(positive_features, time_limit_s=GRADER_TIME_LIMIT):
    r = _rng(60)
    cases = [
        ("a batch of 5 vectors, d = 4, m = 7",
         (r.standard_normal((5, 4)), r.standard_normal((7, 4)))),
        ("a single vector (d,)", (r.standard_normal(3), r.standard_normal((6, 3)))),
        ("leading dimensions (2, 3, d)", (r.standard_normal((2, 3, 4)), r.standard_normal((5, 4)))),
        ("one feature (m = 1)", (r.standard_normal((3, 4)), r.standard_normal((1, 4)))),
        ("a long vector |x| = 3", (3 * np.eye(4)[:1], r.standard_normal((8, 4)))),
    ]

    def sq(x):
        return np.sum(x * x, axis=-1, keepdims=True)
    check_function(positive_features, P.positive_features, cases, time_limit_s=time_limit_s,
                   mistakes={
        "divide by √m so that φ(x)·φ(y) is an average over the m features, not a sum":
            lambda x, W: np.exp(x @ W.T - sq(x) / 2),
        "the factor exp(-|x|²/2) is missing (it turns E[exp(ωᵀ(x+y))] = exp(|x+y|²/2) "
        "into exp(x·y))":
            lambda x, W: np.exp(x @ W.T) / math.sqrt(len(W)),
        "the sign of |x|²/2: it is exp(ωᵀx - |x|²/2)":
            lambda x, W: np.exp(x @ W.T + sq(x) / 2) / math.sqrt(len(W)),
        "the factor is exp(-|x|²/2), with |x|² the squared norm (a sum over the last axis)":
            lambda x, W: np.exp(x @ W.T - np.sqrt(sq(x)) / 2) / math.sqrt(len(W)),
        "no 1/√d inside: these features estimate exp(x·y) for the vectors as given":
            lambda x, W: P.positive_features(x / x.shape[-1] ** 0.25, W),
        "W is (m, d): the projections are x @ W.T":
            lambda x, W: np.exp(x @ W - sq(x) / 2) / math.sqrt(len(W)),
    })


# -- 2. FAVOR+ bidirectional -------------------------------------------------------------

def _favor_cases(seed, causal=False):
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


def _phi(x, W):
    return P.positive_features(x, W)


def _unnormalised(q, k, v, W):
    s = q.shape[-1] ** -0.25
    return _phi(q * s, W) @ (np.swapaxes(_phi(k * s, W), -1, -2) @ v)


def _favor_scaled(q, k, v, W, sq, sk, causal=False):
    A = _phi(q * sq, W) @ np.swapaxes(_phi(k * sk, W), -1, -2)
    if causal:
        A = np.tril(A)
    return (A @ v) / A.sum(-1, keepdims=True)


def check_favor_attention(favor_attention, time_limit_s=GRADER_TIME_LIMIT):
    def reference(q, k, v, W):
        return P.favor_attention(q, k, v, W, "positive")
    check_function(favor_attention, reference, _favor_cases(61), time_limit_s=time_limit_s,
                   mistakes={
        "normalise: divide φ(Q)(φ(K)ᵀV) by φ(Q)(φ(K)ᵀ1), row by row": _unnormalised,
        "scale q and k by d^(-1/4) each (their product then carries 1/√d)":
            lambda q, k, v, W: _favor_scaled(q, k, v, W, 1, 1),
        "d^(-1/4) on each of q and k, not 1/√d on each (that gives 1/d in the product)":
            lambda q, k, v, W: _favor_scaled(q, k, v, W, q.shape[-1] ** -.5, q.shape[-1] ** -.5),
        "1/√d on q alone estimates the same kernel with other features: the course (and the "
        "paper) scale q and k by d^(-1/4) each":
            lambda q, k, v, W: _favor_scaled(q, k, v, W, q.shape[-1] ** -.5, 1),
        "these are trigonometric features; the exercise asks for positive ones":
            lambda q, k, v, W: P.favor_attention(q, k, v, W, "trig"),
    })


# -- 3. FAVOR+ causal, by prefix sums ---------------------------------------------------------

MEMORY_CASE_L = 3000
MEMORY_LIMIT_MB = 24.0    # an L×L float64 matrix at L = 3000 is 72 MB; prefix sums need < 1 MB


def check_causal_favor(causal_favor, time_limit_s=GRADER_TIME_LIMIT):
    def reference(q, k, v, W):
        return P.favor_attention(q, k, v, W, "positive", causal=True)

    def strict(q, k, v, W):       # j < i: the diagonal left out
        s = q.shape[-1] ** -.25
        A = np.tril(_phi(q * s, W) @ np.swapaxes(_phi(k * s, W), -1, -2), -1)
        with np.errstate(all="ignore"):
            return (A @ v) / A.sum(-1, keepdims=True)

    def full_normaliser(q, k, v, W):
        s = q.shape[-1] ** -.25
        A = _phi(q * s, W) @ np.swapaxes(_phi(k * s, W), -1, -2)
        return (np.tril(A) @ v) / A.sum(-1, keepdims=True)
    report = check_function(causal_favor, reference, _favor_cases(62, causal=True),
                            time_limit_s=time_limit_s, finish=False, mistakes={
        "causal: query i may only use keys j <= i (prefix sums), not all keys":
            lambda q, k, v, W: P.favor_attention(q, k, v, W, "positive"),
        "include the diagonal: query i attends to keys j <= i, itself included": strict,
        "the normaliser needs the same prefix: Σ_{j<=i} φ(k_j), not the sum over all keys":
            full_normaliser,
    })
    # Memory: the point of prefix sums is to never build the L×L matrix.
    r = _rng(63)
    L = MEMORY_CASE_L
    args = (r.standard_normal((L, 4)) * .5, r.standard_normal((L, 4)) * .5,
            r.standard_normal((L, 2)), r.standard_normal((8, 4)))
    label = f"memory at L = {L} (an L×L float64 matrix would need {L * L * 8 / 2**20:.0f} MB)"
    tracemalloc.start()
    try:
        got = call_student(causal_favor, args, time_limit_s=time_limit_s)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    except Problem as p:
        report.fail(label, str(p))
    else:
        if peak > MEMORY_LIMIT_MB:
            report.fail(label, f"peak memory above {MEMORY_LIMIT_MB:.0f} MB",
                        "an L×L matrix was built: accumulate S_i = Σ_{j<=i} φ(k_j) v_jᵀ and "
                        "z_i = Σ_{j<=i} φ(k_j) as running (prefix) sums instead")
        else:
            try:
                from .core import compare
                compare(got, reference(*args))
                report.ok(label, f"correct, and peak memory below {MEMORY_LIMIT_MB:.0f} MB")
            except Problem as p:
                report.fail(label, str(p))
    finally:
        tracemalloc.stop()
    report.finish()


# -- 4. unbiasedness by simulation ------------------------------------------------------------

def reference_unbiasedness_z(features, x, y, m, n_draws, rng):
    """z = (mean - exp(x·y)) / (s / √n) over n_draws independent iid W (m, d)."""
    est = np.array([features(x, W) @ features(y, W)
                    for W in (rng.standard_normal((m, len(x))) for _ in range(n_draws))])
    return float((est.mean() - math.exp(x @ y)) / (est.std(ddof=1) / math.sqrt(n_draws)))


def check_unbiasedness_z(unbiasedness_z, time_limit_s=GRADER_TIME_LIMIT):
    r = _rng(64)
    x, y = r.standard_normal(4) * .35, r.standard_normal(4) * .35

    def no_norm_factor(x, W):
        return np.exp(x @ W.T) / math.sqrt(len(W))

    def ten_percent_high(x, W):
        return P.positive_features(x, W) * math.sqrt(1.10)
    # (label, feature map, requirement on z, hint when it fails)
    cases = [
        ("positive features (unbiased)", P.positive_features, "small", None, 0),
        ("trigonometric features (unbiased)", P.trig_features, "small", None, 1),
        ("hyperbolic features (unbiased)", P.hyperbolic_features, "small", None, 2),
        ("positive features without exp(-|x|²/2) (biased high)", no_norm_factor, "large+",
         "a clearly biased map must give a large z: divide by the standard error s/√n_draws, "
         "not by s", 3),
        ("features 10 % too large (subtly biased)", ten_percent_high, "large+",
         "with n_draws = 3000 a 10 % bias is many standard errors: divide by s/√n_draws", 4),
    ]
    report = Report("Checking unbiasedness_z")
    for label, fmap, want, hint, seed in cases:
        try:
            z = call_student(unbiasedness_z, (fmap, x, y, 16, 3000, _rng(700 + seed)),
                             time_limit_s=time_limit_s)
            if z is None:
                raise Problem("returned None: did you forget the `return` statement?")
            try:
                z = float(z)
            except (TypeError, ValueError):
                raise Problem(f"expected a number, got {type(z).__name__}") from None
            if not math.isfinite(z):
                raise Problem(f"z is {z}")
        except Problem as p:
            h = ("s = 0 makes z infinite or NaN: draw a NEW W (m, d) for every one of the "
                 "n_draws estimates" if "z is" in str(p) else None)
            report.fail(label, str(p), h)
            continue
        if want == "small" and abs(z) < 4:
            report.ok(label, "|z| < 4: consistent with an unbiased estimator")
        elif want == "large+" and z > 6:
            report.ok(label, "z > 6: the bias is detected")
        elif want == "large+" and z < -6:
            report.fail(label, "z has the wrong sign for an estimator that is too large",
                        "z = (mean of the estimates - exp(x·y)) / (s / √n_draws)")
        elif want == "small":
            report.fail(label, "|z| >= 4 for an unbiased estimator",
                        "compare with exp(x·y) (not exp(x·y/√d)), use s = sample standard "
                        "deviation of the estimates, and draw W with iid N(0, 1) entries")
        else:
            report.fail(label, "|z| is too small for a biased estimator", hint)
    report.finish()


# -- 5. the orthogonal block -----------------------------------------------------------------

def check_orthogonal_block(orthogonal_block, time_limit_s=GRADER_TIME_LIMIT):
    report = Report("Checking orthogonal_block")
    blocks = {}
    for d in (1, 3, 8):
        label = f"one block, d = {d}"
        try:
            W = call_student(orthogonal_block, (d, _rng(65 + d)), time_limit_s=time_limit_s)
            if W is None:
                raise Problem("returned None: did you forget the `return` statement?")
            W = np.asarray(W, dtype=float)
            if W.shape != (d, d):
                raise Problem(f"expected shape {(d, d)}, got {W.shape}")
            if np.isnan(W).any():
                raise Problem("contains NaN")
        except Problem as p:
            report.fail(label, str(p))
            continue
        G = W @ W.T
        off = np.abs(G - np.diag(np.diag(G))).max() / max(np.abs(G).max(), 1e-300)
        if off > 1e-10:
            report.fail(label, "rows are not orthogonal",
                        "take Q from np.linalg.qr of a (d, d) Gaussian matrix: its rows "
                        "(or columns) are exactly orthogonal; then scale each row")
            continue
        blocks[d] = W
        report.ok(label, "shape and exactly orthogonal rows")
    # statistics over many blocks: rows must be N(0, I_d) marginally, directions Haar
    d, n = 3, 3000
    label = f"{n} blocks, d = {d}: row lengths and directions"
    def many(rng):
        return [orthogonal_block(d, rng) for _ in range(n)]
    try:
        Ws = call_student(many, (_rng(69),), time_limit_s=time_limit_s, name="orthogonal_block")
        Ws = np.stack([np.asarray(W, dtype=float) for W in Ws])
        if Ws.shape != (n, d, d):
            raise Problem(f"expected blocks of shape {(d, d)}, got {Ws.shape[1:]}")
    except (Problem, ValueError, TypeError) as p:
        report.fail(label, str(p))
        report.finish()
        return
    norms = np.linalg.norm(Ws, axis=-1).ravel()
    r2 = norms ** 2
    if np.allclose(norms, 1):
        report.fail(label, "every row has length 1",
                    "give each row its own length, drawn from chi(d): the norm of a fresh "
                    "N(0, I_d) vector, so that each row is marginally N(0, I_d)")
    elif np.allclose(norms, norms[0]):
        report.fail(label, f"every row has the same length {norms[0]:.3g}",
                    "the lengths must be random, chi(d) (the norm of a fresh N(0, I_d) "
                    "vector), not a constant such as √d")
    elif abs(r2.mean() - d) > 5 * math.sqrt(2 * d / r2.size) or abs(r2.var() - 2 * d) > 0.2 * 2 * d:
        report.fail(label, f"squared row lengths have mean {r2.mean():.2f} and variance "
                           f"{r2.var():.2f}; chi(d)² has mean d = {d} and variance 2d = {2 * d}",
                    "draw each length as np.linalg.norm of a fresh N(0, I_d) vector")
    else:
        U = Ws / norms.reshape(n, d, 1)
        z = np.abs(U.mean(0)) / (U.std(0) / math.sqrt(n))
        if z.max() > 6:
            report.fail(label, "the directions are not uniformly distributed (Haar): their "
                               "average is far from 0",
                        "np.linalg.qr returns Q with a sign convention (R's diagonal may be "
                        "negative) that makes Q non-uniform; multiply Q's columns by "
                        "np.sign(np.diag(R))")
        else:
            report.ok(label, "lengths chi(d), directions consistent with Haar")
    report.finish()
