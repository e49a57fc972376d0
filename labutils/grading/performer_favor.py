"""Chapter 6's later checks (re-exported by ``grading.performer``): Lemma 2's variance of the
positive estimator, the FAVOR+ backward, one step of the recurrent (generation) form, and the
work counter that tells a running sum from a loop that re-reads the whole prefix.

``WorkCounter`` counts, without timing, the array elements NumPy operations read: q, k, v and W
are handed to the student as an ndarray subclass that adds the sizes of the operands of every
ufunc and array function it meets, and whose results carry the same counter. A running sum (or a
chunked one) reads O(L) elements in total, a loop that re-reads the prefix O(L²).
"""
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..nn import favor as P
from ..tolerances import GRADER_TIME_LIMIT
from .adapted import hidden_title, quiet
from .core import Problem, Report, call_student, check_function, memory_growth, no_python_loop
from .hidden import seed as hidden_seed
from .published import published

__all__ = [
    "check_favor_backward",
    "check_favor_step",
    "check_positive_mse",
    "reference_favor_step",
    "work_growth",
]

_ALLOW = ("labutils.nn.favor.positive_features",)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _phi(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    return P.positive_features(x, W)


# -- counting work ----------------------------------------------------------------------------

class _Counted(np.ndarray):
    """An array whose NumPy operations add their operands' sizes to ``_Counted.total``."""
    total = 0

    @staticmethod
    def _plain(a: Any) -> Any:
        if isinstance(a, _Counted):
            return a.view(np.ndarray)
        if isinstance(a, (list, tuple)):
            return type(a)(_Counted._plain(x) for x in a)
        return a

    @staticmethod
    def _size(args: tuple | list) -> int:
        return sum(a.size if isinstance(a, np.ndarray) else _Counted._size(a)
                   if isinstance(a, (list, tuple)) else 0 for a in args)

    @staticmethod
    def _wrap(r: Any) -> Any:
        if isinstance(r, np.ndarray) and not isinstance(r, _Counted):
            return r.view(_Counted)
        if isinstance(r, tuple):
            return tuple(_Counted._wrap(x) for x in r)
        return r

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        inputs = self._plain(inputs)
        _Counted.total += self._size(inputs)
        outs = kwargs.get("out")
        if outs:
            kwargs["out"] = self._plain(outs)
        r = getattr(ufunc, method)(*inputs, **kwargs)
        return outs[0] if outs and len(outs) == 1 else self._wrap(r)

    def __array_function__(self, func: Callable, types: tuple, args: tuple, kwargs: dict) -> Any:
        args, kwargs = self._plain(args), {k: self._plain(v) for k, v in kwargs.items()}
        _Counted.total += self._size(args) + self._size(tuple(kwargs.values()))
        return self._wrap(func(*args, **kwargs))


def work_growth(report: Report, student: Callable, make_args: Callable[[int], tuple],
                sizes: tuple[int, int] = (64, 256), label: str | None = None,
                what: str = "the whole prefix again for each position; carry the sums S and z "
                            "from one position (or chunk) to the next", **watch: Any) -> None:
    """Fail when the array elements read grow like n^1.5 or faster between two sizes."""
    label = label or "work grows like L (counted, not timed)"
    counts = []
    try:
        for n in sizes:
            args = tuple(np.asarray(a).view(_Counted) for a in make_args(n))
            _Counted.total = 0
            call_student(student, args, **{**watch, "allow": tuple(watch.get("allow", ()))
                                           + ("labutils.grading.performer_favor",)})
            counts.append(max(_Counted.total, 1))
    except Problem as p:
        report.fail(label, f"could not measure: {p}")
        return
    power = math.log(counts[1] / counts[0]) / math.log(sizes[1] / sizes[0])
    if power >= 1.5:
        report.fail(label, f"your code reads {counts[0]} array elements for L = {sizes[0]} and "
                           f"{counts[1]} for L = {sizes[1]} (like L^{power:.1f}): it computes "
                           f"{what}")
    else:
        report.ok(label)


# -- Lemma 2 for positive features --------------------------------------------------------------

def check_positive_mse(positive_mse: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                       seed: int | None = None, hidden: bool = False) -> None:
    """positive_mse(x (..., d), y (..., d), m) -> (...): the mean squared error of φ⁺(x)·φ⁺(y)
    with m iid features, as an estimate of exp(x·y)."""
    r = _rng(hidden_seed(611) if hidden else 66 if seed is None else seed)
    tiny = r.standard_normal(4)
    cases = [("one pair, d = 4, m = 8", (r.standard_normal(4) * .5, r.standard_normal(4) * .5, 8)),
             ("a batch of 5 pairs, m = 1", (r.standard_normal((5, 3)) * .4,
                                            r.standard_normal((5, 3)) * .4, 1)),
             ("y = -x: exact features, MSE 0", (tiny * .3, -tiny * .3, 4)),
             ("nearly opposite, |x + y| = 1e-9 (1 - exp(-a) loses every digit)",
              (tiny, -tiny + 1e-9 * np.eye(4)[0], 16))]

    def s2(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.sum((x + y) ** 2, axis=-1)

    def sm(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.exp(np.sum(x * y, axis=-1))
    check_function(positive_mse, lambda x, y, m: P.softmax_kernel_mse(x, y, m, "positive"),
                   cases, title=hidden_title(positive_mse, hidden), time_limit_s=time_limit_s,
                   mistakes=quiet({
        "the mean squared error of an average of m independent draws is the variance of one "
        "draw divided by m": lambda x, y, m: np.exp(s2(x, y)) * sm(x, y) ** 2 * -np.expm1(-s2(x, y)),
        "this is E[Z²], the second moment: the variance subtracts the squared mean exp(x·y)²":
            lambda x, y, m: np.exp(s2(x, y)) * sm(x, y) ** 2 / m,
        "this is the relative MSE (divided by exp(x·y)²); the exercise asks for the MSE itself":
            lambda x, y, m: -np.expm1(-s2(x, y)) * np.exp(s2(x, y)) / m,
        "ωᵀx and ωᵀy add up: the variance involves |x + y|², not |x - y|²":
            lambda x, y, m: P.softmax_kernel_mse(x, -y, m, "positive") * sm(x, y) ** 2
            / sm(x, -y) ** 2,
        "1 - exp(-a) for a tiny a cancels to 0 in floating point: write it with np.expm1":
            lambda x, y, m: np.exp(s2(x, y)) * sm(x, y) ** 2 * (1 - np.exp(-s2(x, y))) / m,
    }))


# -- the FAVOR+ backward ------------------------------------------------------------------------

def _backward_cases(seed: int) -> list:
    r = _rng(seed)
    return [("L = 5, S = 5, d = 4, m = 6, dv = 3",
             (r.standard_normal((5, 3)), r.standard_normal((5, 4)) * .6,
              r.standard_normal((5, 4)) * .6, r.standard_normal((5, 3)), r.standard_normal((6, 4)))),
            ("3 queries, 7 keys", (r.standard_normal((3, 2)), r.standard_normal((3, 4)) * .6,
                                   r.standard_normal((7, 4)) * .6, r.standard_normal((7, 2)),
                                   r.standard_normal((8, 4)))),
            ("leading dimensions (2, 2, L, d)",
             (r.standard_normal((2, 2, 4, 3)), r.standard_normal((2, 2, 4, 8)) * .5,
              r.standard_normal((2, 2, 4, 8)) * .5, r.standard_normal((2, 2, 4, 3)),
              r.standard_normal((16, 8))))]


def _backward_variant(dout: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                      W: np.ndarray, no_den: bool = False, no_norm: bool = False,
                      no_scale: bool = False) -> tuple:
    """Wrong backwards, for the hints: a term of the chain rule left out."""
    s = 1.0 if no_scale else q.shape[-1] ** -.25
    pq, pk = _phi(q * s, W), _phi(k * s, W)
    kv, z = np.swapaxes(pk, -1, -2) @ v, pk.sum(-2)
    D = (pq @ z[..., None])
    out = (pq @ kv) / D
    dN = dout / D
    dD = np.zeros_like(D) if no_den else -np.sum(dout * out, -1, keepdims=True) / D
    dpq = dN @ np.swapaxes(kv, -1, -2) + dD * z[..., None, :]
    dkv = np.swapaxes(pq, -1, -2) @ dN
    dz = np.swapaxes(pq, -1, -2) @ dD
    dpk = v @ np.swapaxes(dkv, -1, -2) + np.swapaxes(dz, -1, -2)
    dv = pk @ dkv

    def through(dphi: np.ndarray, phi: np.ndarray, x: np.ndarray) -> np.ndarray:
        g = dphi * phi
        return g @ W - (0 if no_norm else x * g.sum(-1, keepdims=True))
    return through(dpq, pq, q * s) * s, through(dpk, pk, k * s) * s, dv


def check_favor_backward(favor_backward: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                         seed: int | None = None, hidden: bool = False) -> None:
    """favor_backward(dout (..., L, dv), q (..., L, d), k (..., S, d), v (..., S, dv), W (m, d))
    -> (dq, dk, dv): the gradients of bidirectional FAVOR+ (positive features, d^(-1/4) on q
    and k, W fixed), without an L × S matrix."""
    def reference(dout: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                  W: np.ndarray) -> tuple:
        return P.favor_attention_backward(q, k, v, W, dout)
    seed = hidden_seed(612) if hidden else 67 if seed is None else seed
    report = check_function(favor_backward, reference, _backward_cases(seed),
                            names=("dq", "dk", "dv"), title=hidden_title(favor_backward, hidden),
                            time_limit_s=time_limit_s, finish=False, allow=_ALLOW,
                            mistakes=quiet({
        "the normaliser D = φ(q)·z depends on q and k too: its gradient, -Σ dout ⊙ out / D, "
        "adds a term to dφ(q) and to dφ(k)":
            lambda *a: _backward_variant(*a, no_den=True),
        "through the feature map: φ(x) = exp(Wx - |x|²/2)/√m, so the -|x|²/2 gives a term "
        "-x Σ_j dφ_j φ_j":
            lambda *a: _backward_variant(*a, no_norm=True),
        "q and k are scaled by d^(-1/4) before the features: the chain rule multiplies dq and "
        "dk by d^(-1/4) too":
            lambda *a: _backward_variant(*a, no_scale=True),
    }))

    def sized(L: int) -> tuple:
        r = _rng(72)
        return (r.standard_normal((L, 2)), r.standard_normal((L, 4)) * .5,
                r.standard_normal((L, 4)) * .5, r.standard_normal((L, 2)), r.standard_normal((8, 4)))
    memory_growth(report, favor_backward, sized, sizes=(500, 2000), allow=_ALLOW,
                  what="an L × S matrix (queries times keys)", label="memory grows like L, not L × S")
    no_python_loop(report, favor_backward, sized, sizes=(8, 64), per="row", allow=_ALLOW,
                   label="no Python loop per query")
    work_growth(report, favor_backward, sized, allow=_ALLOW,
                what="all L × S products, even a block at a time")
    report.finish()


# -- one step of the recurrent form -----------------------------------------------------------

def _step(S: np.ndarray, z: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray,
          W: np.ndarray, include: bool = True, update_z: bool = True, scale: bool = True) -> tuple:
    s = q.shape[-1] ** -.25 if scale else 1.0
    pq, pk = _phi(q * s, W), _phi(k * s, W)
    S2 = S + pk[..., :, None] * v[..., None, :]
    z2 = z + pk if update_z else z
    Sr, zr = (S2, z2) if include else (S, z)
    num = np.einsum("...m,...md->...d", pq, Sr)
    return num / np.einsum("...m,...m->...", pq, zr)[..., None], S2, z2


def _reference_step(S: np.ndarray, z: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                    W: np.ndarray) -> tuple:
    """(out, S + φ(k) vᵀ, z + φ(k)) with φ the positive features of d^(-1/4) q and k."""
    return _step(S, z, q, k, v, W)


reference_favor_step = published(_reference_step, "reference_favor_step")


def _sequence(step: Callable, q: np.ndarray, k: np.ndarray, v: np.ndarray, W: np.ndarray
              ) -> tuple[np.ndarray, set]:
    """Run ``step`` over a sequence from the zero state: outputs and every state's shape."""
    m, dv = W.shape[0], v.shape[-1]
    S, z = np.zeros(q.shape[:-2] + (m, dv)), np.zeros(q.shape[:-2] + (m,))
    outs, shapes = [], set()
    for t in range(q.shape[-2]):
        o, S, z = step(S, z, q[..., t, :], k[..., t, :], v[..., t, :], W)
        S, z = np.asarray(S), np.asarray(z)
        shapes.add((S.shape, z.shape))
        outs.append(np.asarray(o))
    return np.stack(outs, -2), shapes


def check_favor_step(favor_step: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                     seed: int | None = None, hidden: bool = False) -> None:
    """favor_step(S (..., m, dv), z (..., m), q (..., d), k (..., d), v (..., dv), W (m, d))
    -> (out (..., dv), S, z): one token of causal FAVOR+ as a recurrence; the state keeps its
    shape whatever the prefix, and a whole sequence of steps equals causal FAVOR+."""
    r = _rng(hidden_seed(613) if hidden else 68 if seed is None else seed)

    def state(lead: tuple, m: int, dv: int) -> tuple:
        return np.abs(r.standard_normal(lead + (m, dv))), np.abs(r.standard_normal(lead + (m,))) + .5
    cases = [("one token, d = 4, m = 6, dv = 3",
              (*state((), 6, 3), r.standard_normal(4), r.standard_normal(4),
               r.standard_normal(3), r.standard_normal((6, 4)))),
             ("the first token (zero state)",
              (np.zeros((5, 2)), np.zeros(5), r.standard_normal(4), r.standard_normal(4),
               r.standard_normal(2), r.standard_normal((5, 4)))),
             ("batch and heads (2, 3, ...)",
              (*state((2, 3), 8, 2), r.standard_normal((2, 3, 4)), r.standard_normal((2, 3, 4)),
               r.standard_normal((2, 3, 2)), r.standard_normal((8, 4))))]
    report = check_function(favor_step, _reference_step, cases, names=("out", "S", "z"),
                            title=hidden_title(favor_step, hidden), time_limit_s=time_limit_s,
                            finish=False, allow=_ALLOW, mistakes=quiet({
        "add the current token's φ(k) vᵀ and φ(k) to the state BEFORE reading it: query t "
        "attends to keys j <= t, itself included": lambda *a: _step(*a, include=False),
        "the normaliser's state z must grow too: z + φ(k)": lambda *a: _step(*a, update_z=False),
        "scale q and k by d^(-1/4) each, as in the parallel form": lambda *a: _step(*a, scale=False),
    }))
    label = "12 steps from the zero state: causal FAVOR+'s outputs, a state of fixed size"
    q, k, v = (r.standard_normal((2, 12, 4)) * .6 for _ in range(3))
    W = r.standard_normal((6, 4))
    try:
        out, shapes = call_student(lambda: _sequence(favor_step, q, k, v, W), (),
                                   time_limit_s=time_limit_s, allow=_ALLOW, name="favor_step")
        want = P.favor_attention(q, k, v, W, causal=True)
        if shapes != {((2, 6, 4), (2, 6))}:
            raise Problem(f"the state changed shape along the sequence: {sorted(shapes)}; it must "
                          f"stay S (..., m, dv) = (2, 6, 4) and z (..., m) = (2, 6)", "shape")
        if out.shape != want.shape or not np.allclose(out, want, rtol=1e-9, atol=1e-12):
            raise Problem("the outputs of the steps differ from causal FAVOR+", "value")
    except Problem as p:
        report.fail(label, str(p))
    else:
        report.ok(label)
    report.finish()
