"""Autograder checks for chapter 5 (attention and the transformer). Each takes the
student's function; the labutils reference is the truth, and each typical mistake is a
function whose result, when the student's matches it on every case, earns its hint.

Besides wrong values, every check catches (see ``core``): calls to the course's references
(``scaled_dot_product_attention``, ``safe_softmax``, ``causal_mask``, ``sinusoidal_encoding``,
``MultiheadAttention.split_heads``, anything in ``labutils``), torch (``F.softmax``, autograd),
``scipy.special.softmax``; float32 answers; NaN or inf; changes made in place to an argument.
``check_attention`` has a case with scores near ±1000, where a softmax without its maximum
subtracted overflows; ``check_attention_backward`` may use the forward references
(``safe_softmax``, ``scaled_dot_product_attention``), never a backward one. ``seed`` picks
other random cases (for hidden tests)."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..nn.attention import AttendCache, attend_backward, safe_softmax
from ..nn.masks import causal_mask as _causal_mask
from ..nn.positional import sinusoidal_encoding as _sinusoidal
from ..tolerances import GRADER_TIME_LIMIT
from .adapted import check_adapted, hidden_title, quiet
from .core import Problem, check_function, gradient_check
from .hidden import seed as hidden_seed
from .published import published

__all__ = ["check_attention", "check_attention_backward", "check_causal_mask",
           "check_sinusoidal_encoding", "check_split_heads", "check_merge_heads",
           "reference_attention", "reference_attention_backward"]


def _rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed)


# -- scaled dot-product attention with a mask ---------------------------------------------------
def _reference_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                         mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """q: (*, Tq, d), k: (*, Tk, d), v: (*, Tk, dv), mask: bool broadcastable to (*, Tq, Tk),
    True = must not attend. -> (out (*, Tq, dv), weights (*, Tq, Tk)); a fully masked row
    gives zero weights."""
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    w = safe_softmax(np.where(mask, -np.inf, s))
    return w @ v, w


reference_attention = published(_reference_attention, "reference_attention")


def _attention_cases(seed: int | None = None) -> list[tuple[str, tuple]]:
    r = _rng(0 if seed is None else seed)
    none = np.zeros((1, 4), bool)
    pad = np.array([[False, False, True, True, False]])
    full_row = np.zeros((3, 4), bool)
    full_row[1] = True
    return [
        ("one sequence, 3 queries, 4 keys, no mask", (r.standard_normal((3, 4)),
                                                      r.standard_normal((4, 4)),
                                                      r.standard_normal((4, 2)), none)),
        ("batch of 2, two keys masked (padding)", (r.standard_normal((2, 3, 6)),
                                                   r.standard_normal((2, 5, 6)),
                                                   r.standard_normal((2, 5, 3)), pad)),
        ("causal mask, 5 queries = 5 keys", (r.standard_normal((1, 5, 3)),
                                             r.standard_normal((1, 5, 3)),
                                             r.standard_normal((1, 5, 3)), _causal_mask(5))),
        ("batch of 1, a single query and key", (r.standard_normal((1, 1, 4)),
                                                r.standard_normal((1, 1, 4)),
                                                r.standard_normal((1, 1, 2)),
                                                np.zeros((1, 1), bool))),
        ("a query with every key masked (weights must be 0, not NaN)",
         (r.standard_normal((2, 3, 4)), r.standard_normal((2, 4, 4)),
          r.standard_normal((2, 4, 5)), full_row)),
        ("large scores (near ±1000), one key masked",
         (40 * r.standard_normal((2, 3, 4)), 40 * r.standard_normal((2, 4, 4)),
          r.standard_normal((2, 4, 3)), np.array([[False, False, True, False]]))),
    ]


def _softmax(s: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        e = np.exp(s - s.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)


def _scores(q: np.ndarray, k: np.ndarray, scale: float) -> np.ndarray:
    return q @ np.swapaxes(k, -1, -2) * scale


def _variant(scale: Callable[[int], float] | None = None,
             softmax: Callable[[np.ndarray], np.ndarray] = safe_softmax, fill: float = -np.inf,
             invert: bool = False, after: bool = False) -> Callable[..., tuple]:
    """Attention with one typical mistake built in (scale None: 1/√d, the right one)."""
    def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                  m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = _scores(q, k, q.shape[-1] ** -.5 if scale is None else scale(q.shape[-1]))
        w = softmax(s) * ~m if after else softmax(np.where(~m if invert else m, fill, s))
        return w @ v, w
    return attention


_ATTENTION_MISTAKES = {
    "divide the scores by √d (the square root of the feature size d), not by d":
        _variant(scale=lambda d: 1 / d),
    "scale the scores by 1/√d before the softmax (√d keeps their variance near 1)":
        _variant(scale=lambda d: 1.0),
    "the softmax runs over the keys (the last axis), so that each query's weights sum to 1":
        _variant(softmax=lambda s: safe_softmax(s, axis=-2)),
    "True in the mask means 'must not attend': put -inf where mask is True, not where it is "
    "False": _variant(invert=True),
    "mask BEFORE the softmax (scores = -inf): zeroing weights after it leaves rows that no "
    "longer sum to 1": _variant(softmax=_softmax, after=True),
    "a fully masked row gives 0/0 = NaN in a plain softmax: make it give zeros (a 'safe' "
    "softmax: treat the row maximum -inf as 0 and divide only where the sum is > 0)":
        _variant(softmax=_softmax),
    "a large negative number (-1e9) instead of -inf gives a fully masked row uniform weights; "
    "it must give zeros": _variant(softmax=_softmax, fill=-1e9),
    "a softmax without the row maximum subtracted overflows on large scores (inf/inf gives "
    "NaN): subtract each row's largest unmasked score before the exponential":
        _variant(softmax=lambda s: _raw_softmax(s)),
    "two things: a softmax without the row maximum subtracted overflows on large scores, and "
    "a fully masked row gives 0/0; subtract the row maximum and make masked rows give zeros":
        _variant(softmax=lambda s: _raw_softmax(s, safe=False)),
}


def _raw_softmax(s: np.ndarray, safe: bool = True) -> np.ndarray:
    with np.errstate(all="ignore"):
        e = np.exp(s)
        total = e.sum(-1, keepdims=True)
        if not safe:
            return e / total
        return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def check_attention(attention: Callable[..., Any],
                    time_limit_s: float | None = GRADER_TIME_LIMIT, seed: int | None = None,
                    hidden: bool = False) -> None:
    """attention(q, k, v, mask) -> (out, weights); True in mask = must not attend.
    hidden=True: the hidden tests (other random cases)."""
    cases = _attention_cases(hidden_seed(99) if hidden else seed)
    check_function(attention, _reference_attention, cases,
                   names=["out", "weights"], mistakes=quiet(_ATTENTION_MISTAKES),
                   time_limit_s=time_limit_s, title=hidden_title(attention, hidden))


# -- its backward (gradient check) ------------------------------------------------------------
def _reference_attention_backward(dout: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                                  mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """-> (dq, dk, dv) of reference_attention's output for the upstream gradient dout."""
    scale = 1 / math.sqrt(q.shape[-1])
    _, w = _reference_attention(q, k, v, mask)
    ds, dv = attend_backward(dout, AttendCache(w, v))
    return scale * (ds @ k), scale * (np.swapaxes(ds, -1, -2) @ q), dv


reference_attention_backward = published(_reference_attention_backward,
                                         "reference_attention_backward")


def _backward_mistake(kind: str) -> Callable[..., tuple]:
    def wrong(dout: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray,
              m: np.ndarray) -> tuple[np.ndarray, ...]:
        scale = 1 / math.sqrt(q.shape[-1])
        _, w = _reference_attention(q, k, v, m)
        if kind == "no mask":
            _, w = _reference_attention(q, k, v, np.zeros_like(m))
        dw = dout @ np.swapaxes(v, -1, -2)
        if kind == "diagonal":
            ds = w * (1 - w) * dw
        else:
            ds = w * (dw - (dw * w).sum(-1, keepdims=True))
        c = 1.0 if kind == "scale" else scale
        dq, dk = c * (ds @ k), c * (np.swapaxes(ds, -1, -2) @ q)
        dv = np.swapaxes(w, -1, -2) @ dout
        if kind == "dv":
            dv = w @ dout
        if kind == "dk":
            dk = c * (ds @ q)
        return dq, dk, dv
    return wrong


# the forward may be computed with the course's helpers; the backward must be the student's
_BACKWARD_ALLOW = ("labutils.nn.attention.safe_softmax", "labutils.nn.attention.masked_softmax",
                   "labutils.nn.attention.scaled_dot_product_attention")


def check_attention_backward(attention_backward: Callable[..., Any],
                             time_limit_s: float | None = GRADER_TIME_LIMIT,
                             seed: int | None = None, hidden: bool = False) -> None:
    """attention_backward(dout, q, k, v, mask) -> (dq, dk, dv). hidden=True: other cases."""
    r = _rng(hidden_seed(101) if hidden else 1 if seed is None else seed)
    cases = []
    for label, (n, tq, tk, d, dv), mask in [
            ("3 queries, 3 keys, d = 4", (2, 3, 3, 4, 2), np.zeros((1, 3), bool)),
            ("3 queries, 5 keys, one key masked", (1, 3, 5, 2, 3),
             np.array([[False, True, False, False, False]])),
            ("causal mask", (2, 4, 4, 3, 3), _causal_mask(4)),
            ("a fully masked row gets no gradient", (1, 2, 3, 2, 2),
             np.array([[True, True, True], [False, False, True]]))]:
        q, k, v = r.standard_normal((n, tq, d)), r.standard_normal((n, tk, d)), \
            r.standard_normal((n, tk, dv))
        cases.append((label, (r.standard_normal((n, tq, dv)), q, k, v, mask)))
    report = check_function(attention_backward, _reference_attention_backward, cases,
                            names=["dq", "dk", "dv"], finish=False, allow=_BACKWARD_ALLOW,
                            title=hidden_title(attention_backward, hidden),
                            time_limit_s=time_limit_s, mistakes=quiet({
        "softmax couples the weights of a row: w(1 - w) is only the diagonal of its Jacobian; "
        "from each dw subtract the w-weighted mean of the row's dw before multiplying by w":
            _backward_mistake("diagonal"),
        "the scores are q·k / √d, so dq and dk carry the factor 1/√d too":
            _backward_mistake("scale"),
        "dv: the output is the weights times v, so dv is the TRANSPOSED weights times dout "
        "(keys, not queries, index dv)": _backward_mistake("dv"),
        "dk: the scores are q times k transposed, so dk is the TRANSPOSE of ds times q "
        "(dq is ds times k)": _backward_mistake("dk"),
        "the backward recomputes the weights with the same mask as the forward: masked keys "
        "get no gradient": _backward_mistake("no mask"),
    }))
    # The gradient check proper: the student's gradients against central differences.
    dout, q, k, v, mask = cases[1][1]
    gradient_check(report, attention_backward, (dout, q, k, v, mask),
                   lambda: np.sum(dout * _reference_attention(q, k, v, mask)[0]),
                   (q, k, v), ["dq", "dk", "dv"], time_limit_s=time_limit_s,
                   allow=_BACKWARD_ALLOW)
    report.finish()


# -- the causal mask ----------------------------------------------------------------------------
def _causal_reference(tq: int, tk: int) -> np.ndarray:
    return _causal_mask(tq, tk)


def _boolean_mask(out: Any) -> Any:
    """The student's mask must be boolean (True = masked): an int or float 0/1 array is not
    what ``np.where(mask, ...)`` and torch's masks expect."""
    if isinstance(out, np.ndarray) and out.dtype != bool:
        raise Problem(f"the mask must be a boolean array (True = must not attend), got dtype "
                      f"{out.dtype}", "type")
    return out


def check_causal_mask(causal_mask: Callable[..., Any],
                      time_limit_s: float | None = GRADER_TIME_LIMIT, seed: int | None = None,
                      hidden: bool = False) -> None:
    """causal_mask(tq, tk) -> bool (tq, tk), True where key j is in the future of query i
    (query i at position i + tk - tq). hidden=True: other sizes (from the class seed)."""
    n, c = _rng(hidden_seed(103) if hidden else 3 if seed is None else seed).integers(2, 9, 2)
    cases = [("4 queries, 4 keys", (4, 4)), ("a single token", (1, 1)),
             ("1 new query after 4 cached keys (cached decoding)", (1, 5)),
             ("3 new queries after 4 cached keys", (3, 7)), ("2 queries, 2 keys", (2, 2)),
             (f"{n} new queries after {c} cached keys", (int(n), int(n + c)))]
    check_adapted(causal_mask, _causal_reference, cases, adapt=_boolean_mask,
                  title=hidden_title(causal_mask, hidden),
                  time_limit_s=time_limit_s, mistakes=quiet({
        "with fewer queries than keys, align the mask to the END: the last query is the newest "
        "token and sees every key (query i sits at position i + tk - tq)":
            lambda tq, tk: _causal_mask(tq, tk, align="start"),
        "True marks the keys a query must NOT see (its future); you returned the allowed ones":
            lambda tq, tk: ~_causal_mask(tq, tk),
        "a token may attend to itself: the diagonal is not masked (a strict comparison)":
            lambda tq, tk: np.arange(tk)[None, :] >= np.arange(tq)[:, None] + (tk - tq),
    }))


# -- the sinusoidal encoding -------------------------------------------------------------------
def _pe_variant(T: int, d: int, swap: bool = False, no_two: bool = False, halves: bool = False,
                multiply: bool = False) -> np.ndarray:
    t = np.arange(T)[:, None]
    i = np.arange(d // 2)
    expo = (i / d) if no_two else (2 * i / d)
    omega = 10000.0 ** expo if multiply else 10000.0 ** (-expo)
    a, b = np.sin(omega * t), np.cos(omega * t)
    if swap:
        a, b = b, a
    if halves:
        return np.concatenate([a, b], axis=1)
    pe = np.empty((T, d))
    pe[:, 0::2], pe[:, 1::2] = a, b
    return pe


def check_sinusoidal_encoding(sinusoidal_encoding: Callable[..., Any],
                              time_limit_s: float | None = GRADER_TIME_LIMIT,
                              seed: int | None = None, hidden: bool = False) -> None:
    """sinusoidal_encoding(num_positions, d_model) -> (num_positions, d_model).
    hidden=True: other sizes (from the class seed)."""
    t, h = _rng(hidden_seed(104) if hidden else 4 if seed is None else seed).integers(3, 40, 2)
    cases = [("10 positions, d = 8", (10, 8)), ("1 position, d = 2", (1, 2)),
             ("50 positions, d = 16", (50, 16)), ("7 positions, d = 4", (7, 4)),
             ("1000 positions, d = 64", (1000, 64)),
             (f"{t} positions, d = {2 * h}", (int(t), int(2 * h)))]
    check_function(sinusoidal_encoding, lambda T, d: _sinusoidal(T, d), cases,
                   title=hidden_title(sinusoidal_encoding, hidden),
                   time_limit_s=time_limit_s, mistakes=quiet({
        "even columns (2i) hold sin, odd columns (2i+1) hold cos; you swapped them":
            lambda T, d: _pe_variant(T, d, swap=True),
        "the frequency of pair i is 10000^(-2i/d), with i the PAIR index (0 .. d/2 - 1): the "
        "exponent is 2i/d, you used i/d":
            lambda T, d: _pe_variant(T, d, no_two=True),
        "sin and cos of the same frequency sit side by side (columns 2i and 2i+1), not in two "
        "halves": lambda T, d: _pe_variant(T, d, halves=True),
        "divide the position by 10000^(2i/d) (the frequencies decrease), do not multiply":
            lambda T, d: _pe_variant(T, d, multiply=True),
    }))


# -- multi-head split and merge ------------------------------------------------------------------
def _split(x: np.ndarray, h: int) -> np.ndarray:
    N, T, E = x.shape
    return x.reshape(N, T, h, E // h).transpose(0, 2, 1, 3)


def _merge(x: np.ndarray) -> np.ndarray:
    N, H, T, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(N, T, H * d)


def check_split_heads(split_heads: Callable[..., Any],
                      time_limit_s: float | None = GRADER_TIME_LIMIT, seed: int | None = None,
                      hidden: bool = False) -> None:
    """split_heads(x (N, T, E), num_heads) -> (N, num_heads, T, E // num_heads)."""
    r = _rng(hidden_seed(105) if hidden else 5 if seed is None else seed)
    cases = [("batch of 2, 4 tokens, E = 6, 3 heads", (r.standard_normal((2, 4, 6)), 3)),
             ("one head (nothing to split)", (r.standard_normal((1, 3, 4)), 1)),
             ("batch of 1, 5 tokens, E = 8, 2 heads", (r.standard_normal((1, 5, 8)), 2)),
             ("as many heads as features", (r.standard_normal((2, 2, 4)), 4))]
    check_function(split_heads, _split, cases, time_limit_s=time_limit_s,
                   title=hidden_title(split_heads, hidden), mistakes=quiet({
        "reshape to (N, T, H, d) first, then move the head axis to the second place; a "
        "direct reshape to (N, H, T, d) mixes tokens and features":
            lambda x, h: x.reshape(x.shape[0], h, x.shape[1], x.shape[2] // h),
        "the result is (N, H, T, d): after the reshape to (N, T, H, d) swap the T and H axes":
            lambda x, h: x.reshape(x.shape[0], x.shape[1], h, x.shape[2] // h),
        "head h takes the CONTIGUOUS features h*d .. (h+1)*d - 1 (as torch), not every H-th one":
            lambda x, h: x.reshape(*x.shape[:2], x.shape[2] // h, h).transpose(0, 3, 1, 2),
    }))


def check_merge_heads(merge_heads: Callable[..., Any],
                      time_limit_s: float | None = GRADER_TIME_LIMIT, seed: int | None = None,
                      hidden: bool = False) -> None:
    """merge_heads(x (N, H, T, d)) -> (N, T, H * d)."""
    r = _rng(hidden_seed(106) if hidden else 6 if seed is None else seed)
    cases = [("batch of 2, 3 heads, 4 tokens, d = 2", (r.standard_normal((2, 3, 4, 2)),)),
             ("one head", (r.standard_normal((1, 1, 3, 4)),)),
             ("batch of 1, 2 heads, 5 tokens, d = 3", (r.standard_normal((1, 2, 5, 3)),))]
    check_function(merge_heads, _merge, cases, time_limit_s=time_limit_s,
                   title=hidden_title(merge_heads, hidden), mistakes=quiet({
        "move the head axis back next to d first (to (N, T, H, d)), then reshape to "
        "(N, T, H*d); a direct reshape mixes tokens and heads":
            lambda x: x.reshape(x.shape[0], x.shape[2], -1),
        "concatenate the heads in order: transpose to (N, T, H, d), not (N, T, d, H)":
            lambda x: x.transpose(0, 2, 3, 1).reshape(x.shape[0], x.shape[2], -1),
    }))


# -- the blocks built on attention (in their own file; imported here for the notebook) ---------
from .attention_blocks import *  # noqa: E402,F401,F403
from .attention_blocks import __all__ as _blocks_all  # noqa: E402

__all__ += _blocks_all
from .attention_block_backward import *  # noqa: E402,F401,F403
from .attention_block_backward import __all__ as _block_all  # noqa: E402

__all__ += _block_all
from .attention_scores import *  # noqa: E402,F401,F403
from .attention_scores import __all__ as _scores_all  # noqa: E402

__all__ += _scores_all
from .attention_primer import *  # noqa: E402,F401,F403
from .attention_primer import __all__ as _primer_all  # noqa: E402

__all__ += _primer_all
from .attention_patterns import *  # noqa: E402,F401,F403
from .attention_patterns import __all__ as _patterns_all  # noqa: E402

__all__ += _patterns_all
