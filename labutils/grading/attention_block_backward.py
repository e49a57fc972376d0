"""Autograder check for chapter 5's pre-LN transformer block backward, assembled from the
backwards of its parts (``labutils.grading.attention`` re-exports it).

The block (torch's ``TransformerEncoderLayer(norm_first=True)`` without attention biases and
dropout; the capstone's block), for x: (N, T, E) and the parameters ``p`` (a dict, BLOCK_PARAMS):

    a = LN1(x)                          (ln1_w, ln1_b)
    h = x + MHA(a)                      (w_q, w_k, w_v, w_o: (E, E), y = x wᵀ; num_heads, mask)
    b = LN2(h)                          (ln2_w, ln2_b)
    y = h + W2 relu(W1 b + b1) + b2     (ff1: (F, E), ff1_b: (F,), ff2: (E, F), ff2_b: (E,))

``block_backward(dy, x, p, num_heads, mask) -> (dx, grads)``, grads a dict with one gradient per
key of ``p``. The student may call the library's pairs of the parts (layer norm, linear, ReLU)
and the notebook's own attention functions; the library's transformer layers and torch are
watched. The forward is ``labutils.lab.attention_capstone.pre_ln_block_forward``. Besides wrong values, the check catches what ``core`` does (delegation, float32, NaN,
in-place changes, time), and adds central-difference checks of dx and three parameters.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from ..lab.attention_capstone import BLOCK_PARAMS, pre_ln_block_forward
from ..nn.activation import relu_backward, relu_forward
from ..nn.linear import linear_backward, linear_forward
from ..nn.masks import causal_mask as _causal_mask
from ..nn.norm import layer_norm_backward, layer_norm_forward
from ..tolerances import GRADER_TIME_LIMIT
from .adapted import check_adapted, hidden_title
from .attention_blocks import CAPSTONE_ALLOW, _mha_backward, _mha_forward, _seed
from .core import Problem, call_student, compare, numeric_check
from .published import published
from .reveal import AGREES, DIFFERS, UNFINISHED

__all__ = [
    "BLOCK_ALLOW",
    "BLOCK_PARAMS",
    "check_block_backward",
    "reference_block_backward",
    "reference_block_forward",
    "reveal_block_backward",
]



def _watched_as(fn: Callable) -> str:
    """The dotted name under which the call watch sees ``fn`` run (for the library's pairs behind
    an argument-checking decorator, the watch reports the wrapped function's own name)."""
    return f"{fn.__module__}.{fn.__qualname__}"


# the parts' pairs the student assembles, beside the attention helpers of exercises 1-7
_PARTS = (layer_norm_forward, layer_norm_backward, linear_forward, linear_backward, relu_forward,
          relu_backward)
BLOCK_ALLOW = CAPSTONE_ALLOW + tuple(sorted({_watched_as(f) for f in _PARTS}))
_NAMES = ["dx"] + [f"grads['{k}']" for k in BLOCK_PARAMS]


def _block_forward(x: np.ndarray, p: dict, num_heads: int, mask: np.ndarray
                   ) -> tuple[np.ndarray, dict]:
    """x: (N, T, E) -> (y (N, T, E), cache: the intermediates and the parts' caches)."""
    return pre_ln_block_forward(x, p, num_heads, mask, _mha_forward)


def _block_backward(dy: np.ndarray, x: np.ndarray, p: dict, num_heads: int, mask: np.ndarray,
                    mistake: str = "") -> tuple[np.ndarray, dict]:
    """-> (dx (N, T, E), {name: gradient} for every name of BLOCK_PARAMS). ``mistake`` gives the
    grader's catalogue of wrong assemblies (see check_block_backward)."""
    mask = np.zeros_like(mask) if mistake == "mask" else mask
    _, c = _block_forward(x, p, num_heads, mask)
    ln1, ln2 = (c["ln2"], c["ln1"]) if mistake == "norms swapped" else (c["ln1"], c["ln2"])
    g2 = linear_backward(dy, c["ff2"])
    g1 = linear_backward(relu_backward(g2["x"], c["act"]), c["ff1"])
    n2 = layer_norm_backward(g1["x"], ln2)
    dh = {"no skip 2": n2["x"], "skip only 2": dy}.get(mistake, dy + n2["x"])
    da, *dw = _mha_backward(dy if mistake == "dy to attention" else dh, c["a"], p["w_q"],
                            p["w_k"], p["w_v"], p["w_o"], num_heads, mask)
    n1 = layer_norm_backward(da, ln1)
    dx = {"no skip 1": n1["x"], "skip only 1": dh, "no norm": dh + da}.get(mistake, dh + n1["x"])
    grads = dict(zip(BLOCK_PARAMS, (n1["weight"], n1["bias"], *dw, n2["weight"], n2["bias"],
                                    g1["weight"], g1["bias"], g2["weight"], g2["bias"])))
    return dx, grads


reference_block_forward = published(_block_forward, "reference_block_forward")
reference_block_backward = published(_block_backward, "reference_block_backward")


def _flat(out: Any) -> tuple:
    """(dx, grads dict) -> (dx, grads[name] for name in BLOCK_PARAMS), or Problem."""
    if out is None:
        raise Problem("returned None: did you forget the `return` statement?", "none")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        got = f"a {type(out).__name__}" + (
            f" of {len(out)}" if isinstance(out, (tuple, list)) else "")
        raise Problem(f"expected 2 results (dx, grads), got {got}", "shape")
    dx, grads = out
    if not isinstance(grads, dict):
        raise Problem(f"grads: expected a dict {{name: gradient}} with a key for every "
                      f"parameter, got a {type(grads).__name__}", "type")
    missing = [k for k in BLOCK_PARAMS if k not in grads]
    if missing:
        raise Problem(f"grads has no gradient for {', '.join(missing)}: one for every key of p",
                      "shape")
    return (dx, *(grads[k] for k in BLOCK_PARAMS))


def _params(r: np.random.Generator, e: int, f: int) -> dict:
    shapes = {"ln1_w": (e,), "ln1_b": (e,), "w_q": (e, e), "w_k": (e, e), "w_v": (e, e),
              "w_o": (e, e), "ln2_w": (e,), "ln2_b": (e,), "ff1": (f, e), "ff1_b": (f,),
              "ff2": (e, f), "ff2_b": (e,)}
    p = {k: r.standard_normal(s) / np.sqrt(s[-1] if len(s) == 2 else 1) for k, s in shapes.items()}
    for k in ("ln1_w", "ln2_w"):                  # the two norms' scales differ from each other
        p[k] = 1.0 + 0.5 * r.standard_normal(e)
    return p


def _cases(r: np.random.Generator) -> list[tuple[str, tuple]]:
    cases = []
    for label, (n, t, e, h), mask in [
            ("batch of 2, 4 tokens, E = 6, 2 heads, causal", (2, 4, 6, 2), _causal_mask(4)),
            ("batch of 1, 5 tokens, E = 8, 4 heads, no mask", (1, 5, 8, 4), np.zeros((5, 5), bool)),
            ("one head (E = 4), 3 tokens, causal", (3, 3, 4, 1), _causal_mask(3)),
            ("a single token, E = 6, 3 heads", (2, 1, 6, 3), np.zeros((1, 1), bool))]:
        x = r.standard_normal((n, t, e))
        cases.append((label, (r.standard_normal((n, t, e)), x, _params(r, e, 2 * e), h, mask)))
    return cases


def _wrong(kind: str) -> Callable[..., tuple]:
    def wrong(dy: np.ndarray, x: np.ndarray, p: dict, h: int, m: np.ndarray) -> tuple:
        return _block_backward(dy, x, p, h, m, mistake=kind)
    return wrong


_MISTAKES = {
    "h reaches y twice, by the skip and through LN2 and the feed-forward block: dh = dy + (the "
    "feed-forward branch's gradient), not the branch's alone": _wrong("no skip 2"),
    "x reaches h twice, by the skip and through LN1 and the attention: dx = dh + (the attention "
    "branch's gradient), not the branch's alone": _wrong("no skip 1"),
    "the feed-forward branch's gradient was lost (overwritten?): add it to the skip's, "
    "dh = dy + LN2's input gradient": _wrong("skip only 2"),
    "the attention branch's gradient was lost (overwritten?): add it to the skip's, "
    "dx = dh + LN1's input gradient": _wrong("skip only 1"),
    "the attention branch adds to h, so its upstream gradient is dh (both paths summed), not "
    "dy": _wrong("dy to attention"),
    "the two norms were swapped: go back through LN2 (its cache) on the feed-forward branch "
    "and through LN1 on the attention branch": _wrong("norms swapped"),
    "the layer norms have a backward too: pass each branch's gradient through "
    "layer_norm_backward with its cache, not straight to the skip": _wrong("no norm"),
    "the mask was ignored: the attention's backward takes the same mask as its forward":
        _wrong("mask"),
}


def check_block_backward(block_backward: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                         seed: int | None = None, hidden: bool = False) -> None:
    """block_backward(dy, x, p, num_heads, mask) -> (dx, grads {name: gradient})."""
    cases = _cases(_seed(13, seed, hidden))
    report = check_adapted(block_backward, _block_backward, cases, adapt=_flat, names=_NAMES,
                           time_limit_s=time_limit_s, allow=BLOCK_ALLOW, finish=False,
                           title=hidden_title(block_backward, hidden), mistakes=_MISTAKES)
    dy, x, p, h, mask = cases[0][1]
    try:
        got = _flat(call_student(block_backward, cases[0][1], None, time_limit_s,
                                 allow=BLOCK_ALLOW))
    except Problem as problem:
        report.fail("gradient check", f"could not run: {problem}")
        report.finish()
        return
    for name, grad, wrt in zip(_NAMES, got, (x, *(p[k] for k in BLOCK_PARAMS))):
        if name in ("dx", "grads['ln1_w']", "grads['w_q']", "grads['ff1']"):
            numeric_check(report, f"{name} by central differences", grad,
                          lambda: float(np.sum(dy * _block_forward(x, p, h, mask)[0])), wrt)
    report.finish()


def reveal_block_backward(block_backward: Callable, *args: Any) -> None:
    """The reveal cell after the exercise (not graded, never raises): the source of the library
    layer's backward, then the verdict of ``block_backward(*args)`` against the reference (as
    ``reveal.reveal``, with the parts' pairs allowed)."""
    from ..nn.transformer import TransformerEncoderLayer
    print(inspect.getsource(TransformerEncoderLayer.backward))
    try:
        expected = _flat(_block_backward(*args))
        compare(_flat(call_student(block_backward, args, None, GRADER_TIME_LIMIT,
                                   allow=BLOCK_ALLOW)), expected, names=_NAMES)
    except Problem as p:
        print(f"{UNFINISHED}: {getattr(block_backward, '__name__', 'your function')} still "
              f"raises NotImplementedError" if p.kind == "not filled" else f"{DIFFERS}: {p}")
        return
    except Exception as e:  # noqa: BLE001  (never raise: the reveal cell is not graded)
        print(f"{DIFFERS}: {type(e).__name__}: {e}")
        return
    print(AGREES)
