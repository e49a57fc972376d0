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
import math

import numpy as np

from ..nn import favor as P
from ..tolerances import GRADER_TIME_LIMIT
from .adapted import hidden_title, precision_hint, quiet
from .core import (LineCounter, Problem, Report, call_student, check_function, memory_growth,
                   no_python_loop)
from .hidden import seed as hidden_seed
from .performer_favor import (check_favor_backward, check_favor_step, check_positive_mse,
                              reference_favor_step, work_growth)
from .published import published

__all__ = ["check_positive_features", "check_favor_attention", "check_causal_favor",
           "check_unbiasedness_z", "check_orthogonal_block", "reference_unbiasedness_z",
           "check_positive_mse", "check_favor_backward", "check_favor_step",
           "reference_favor_step"]


def _rng(seed):
    return np.random.default_rng(seed)


def _sq(x):
    return np.sum(x * x, axis=-1, keepdims=True)


# -- 1. positive features ----------------------------------------------------------------

_LONG = "long vectors |x| = 10 (exponents near -50: float32 loses digits)"


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _long_vector_case(r):
    """|x| = 30 and a feature along it: the exponent ωᵀx - |x|²/2 is 270 (fine), but
    ωᵀx alone is 720, whose exponential overflows."""
    x = np.zeros((2, 4))
    x[0, 0], x[1, 1] = 30.0, 1.0
    W = r.standard_normal((6, 4))
    W[0] = [24.0, 0.1, -0.2, 0.3]
    return x, W


def check_positive_features(positive_features, time_limit_s=GRADER_TIME_LIMIT, seed=None,
                            hidden=False):
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
                            time_limit_s=time_limit_s, title=hidden_title(positive_features, hidden),
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


def _sized(seed, L, d=4, m=8, dv=2):
    """make_args for the complexity measurements: q, k, v of length L."""
    r = _rng(seed)
    return (r.standard_normal((L, d)) * .5, r.standard_normal((L, d)) * .5,
            r.standard_normal((L, dv)), r.standard_normal((m, d)))


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


# the FAVOR+ exercises may build on the course's feature map (the previous exercise)
_FAVOR_ALLOW = ("labutils.nn.favor.positive_features",)


def check_favor_attention(favor_attention, time_limit_s=GRADER_TIME_LIMIT, seed=None,
                          hidden=False):
    """favor_attention(q (..., L, d), k (..., S, d), v (..., S, dv), W (m, d)) -> (..., L, dv),
    positive features, q and k scaled by d^(-1/4), no L×S matrix, no loop per query."""
    def reference(q, k, v, W):
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

def _no_loop_over_pairs(report, student, make_args, sizes=(16, 64), **watch):
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


def check_causal_favor(causal_favor, time_limit_s=GRADER_TIME_LIMIT, seed=None, hidden=False):
    """causal_favor(q, k (..., L, d), v (..., L, dv), W (m, d)) -> (..., L, dv), query i using
    keys j <= i, by running (prefix) sums: memory linear in L."""
    def reference(q, k, v, W):
        return P.favor_attention(q, k, v, W, "positive", causal=True)

    def strict(q, k, v, W):       # j < i: the diagonal left out
        s = q.shape[-1] ** -.25
        A = np.tril(_phi(q * s, W) @ np.swapaxes(_phi(k * s, W), -1, -2), -1)
        return (A @ v) / A.sum(-1, keepdims=True)

    def full_normaliser(q, k, v, W):
        s = q.shape[-1] ** -.25
        A = _phi(q * s, W) @ np.swapaxes(_phi(k * s, W), -1, -2)
        return (np.tril(A) @ v) / A.sum(-1, keepdims=True)

    def reversed_prefix(q, k, v, W):   # keys j >= i (suffix sums)
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

def _unbiasedness_z(features, x, y, m, n_draws, rng):
    """z = (mean - exp(x·y)) / (s / √n) over n_draws independent iid W (m, d)."""
    est = np.array([features(x, W) @ features(y, W)
                    for W in (rng.standard_normal((m, len(x))) for _ in range(n_draws))])
    return float((est.mean() - math.exp(x @ y)) / (est.std(ddof=1) / math.sqrt(n_draws)))


reference_unbiasedness_z = published(_unbiasedness_z, "reference_unbiasedness_z")


class _Recording:
    """A feature map that records the W it is given (shapes and how many different ones)."""

    def __init__(self, fmap):
        self.fmap, self.shapes, self.seen = fmap, set(), set()
        self.__name__ = getattr(fmap, "__name__", "features")

    def __deepcopy__(self, memo):       # the student's call must reach this recorder
        return self

    def __call__(self, x, W):
        W = np.asarray(W)
        self.shapes.add(W.shape)
        if len(self.seen) < 100_000:
            self.seen.add(hash(W.tobytes()))
        return self.fmap(x, W)


def _as_number(z):
    """A float from any numeric form of a scalar (Python or NumPy number, 0-d array)."""
    if z is None:
        raise Problem("returned None: did you forget the `return` statement?", "none")
    if isinstance(z, (bool, np.bool_)) or not (
            isinstance(z, (int, float, np.integer, np.floating))
            or (isinstance(z, np.ndarray) and z.shape == () and z.dtype.kind in "iuf")):
        raise Problem(f"expected a number, got {type(z).__name__}"
                      + (f" of shape {z.shape}" if isinstance(z, np.ndarray) else ""), "type")
    return float(z)


def check_unbiasedness_z(unbiasedness_z, time_limit_s=GRADER_TIME_LIMIT, hidden=False):
    """unbiasedness_z(features, x, y, m, n_draws, rng) -> z = (mean of the n_draws estimates
    φ(x)·φ(y) - exp(x·y)) / (their standard deviation / √n_draws), a new W (m, d) per draw.
    hidden=True: another pair x, y and other draws."""
    base = hidden_seed(614) if hidden else 64
    r = _rng(base)
    x, y = r.standard_normal(4) * .35, r.standard_normal(4) * .35

    def no_norm_factor(x, W):
        return np.exp(x @ W.T) / math.sqrt(len(W))

    def ten_percent_high(x, W):
        return P.positive_features(x, W) * math.sqrt(1.10)

    def ten_percent_low(x, W):
        return P.positive_features(x, W) * math.sqrt(0.90)
    # (label, feature map, m, requirement on z, hint when it fails, seed)
    cases = [
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
    n_draws = 3000
    report = Report(hidden_title(unbiasedness_z, hidden) or "Checking unbiasedness_z", time_limit_s)
    for label, fmap, m, want, hint, seed in cases:
        rec = _Recording(fmap)
        try:
            z = _as_number(call_student(unbiasedness_z,
                                        (rec, x, y, m, n_draws, _rng(base + 636 + seed)),
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
        except Problem as p:
            h = None
            if "different W were drawn" in str(p) or (p.kind == "nan" and len(rec.seen) == 1):
                h = "draw a NEW W (m, d) from rng for every one of the n_draws estimates"
            elif "was given W of shape" in str(p):
                h = "use the m given (the number of features per draw), not a fixed number"
            report.fail(label, str(p), h)
            continue
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
    _uses_rng(report, lambda rng: call_student(
        unbiasedness_z, (P.positive_features, x, y, 8, 200, rng), time_limit_s=time_limit_s),
        _as_number)
    report.finish()


def _uses_rng(report, run, read):
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

def _block(W, d):
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


def check_orthogonal_block(orthogonal_block, time_limit_s=GRADER_TIME_LIMIT, hidden=False):
    """orthogonal_block(d, rng) -> (d, d): exactly orthogonal rows, Haar directions, chi(d)
    row lengths, one per row (each row marginally N(0, I_d)). hidden=True: other seeds."""
    base = hidden_seed(615) if hidden else 0
    report = Report(hidden_title(orthogonal_block, hidden) or "Checking orthogonal_block",
                    time_limit_s)
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
    _uses_rng(report, lambda rng: _block(call_student(orthogonal_block, (3, rng),
                                                      time_limit_s=time_limit_s), 3),
              lambda W: W)
    if report.failed:              # the statistics would only repeat what failed above
        report.finish()
        return
    # statistics over many blocks: rows must be N(0, I_d) marginally, directions Haar
    d, n = 3, 3000
    label = f"{n} blocks, d = {d}: row lengths and directions"

    def many(rng):
        return [orthogonal_block(d, rng) for _ in range(n)]
    try:
        Ws = call_student(many, (_rng(base + 69),), time_limit_s=time_limit_s, name="orthogonal_block")
        Ws = np.stack([_block(W, d) for W in Ws])
    except Problem as p:
        report.fail(label, str(p))
        report.finish()
        return
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
    report.finish()
