"""Chapter 5 graders: right answers in every form pass (with a print and a warning too); a
catalogue of wrong answers, at least one from each class of mistake the engine knows, fails
with the right diagnosis (values, range, precision, delegation, mutation, return type, what any
code may do), in a short report without grader source."""
import math

import numpy as np
import pytest
import scipy.special
import torch
import torch.nn.functional as F

from labutils.grading import attention as g
from labutils.nn.attention import (causal_mask, safe_softmax, safe_softmax_backward,
                                   scaled_dot_product_attention,
                                   scaled_dot_product_attention_backward)
from labutils.nn.positional import sinusoidal_encoding

from . import graderlib
from .graderlib import assert_short, fails, noisy, passes


# -- right answers, as a student would write them (the notebook's solutions) ---------------------
def attention(q, k, v, mask):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    s = np.where(mask, -np.inf, s)
    m = s.max(axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(s - m)
    total = e.sum(axis=-1, keepdims=True)
    w = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
    return w @ v, w


def attention_backward(dout, q, k, v, mask):
    """The notebook's solution: the forward through the course's safe_softmax (allowed)."""
    scale = 1 / np.sqrt(q.shape[-1])
    s = np.where(mask, -np.inf, q @ np.swapaxes(k, -1, -2) * scale)
    w = safe_softmax(s)
    dw = dout @ np.swapaxes(v, -1, -2)
    ds = w * (dw - (w * dw).sum(axis=-1, keepdims=True))
    return scale * ds @ k, scale * np.swapaxes(ds, -1, -2) @ q, np.swapaxes(w, -1, -2) @ dout


def attention_backward_own(dout, q, k, v, mask):
    """The same with the student's own forward."""
    _, w = attention(q, k, v, mask)
    dw = dout @ np.swapaxes(v, -1, -2)
    ds = w * (dw - (w * dw).sum(-1, keepdims=True)) / math.sqrt(q.shape[-1])
    return ds @ k, np.swapaxes(ds, -1, -2) @ q, np.swapaxes(w, -1, -2) @ dout


def causal_mask_ex(tq, tk):
    return np.arange(tk)[None, :] > np.arange(tq)[:, None] + (tk - tq)


def sinusoidal(num_positions, d_model):
    t = np.arange(num_positions)[:, None]
    omega = 10000.0 ** (-np.arange(0, d_model, 2) / d_model)
    pe = np.zeros((num_positions, d_model))
    pe[:, 0::2] = np.sin(t * omega)
    pe[:, 1::2] = np.cos(t * omega)
    return pe


def split_heads(x, num_heads):
    N, T, E = x.shape
    return x.reshape(N, T, num_heads, E // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x):
    N, H, T, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(N, T, H * d)


REFERENCES = {
    g.check_attention: attention,
    g.check_attention_backward: attention_backward,
    g.check_causal_mask: causal_mask_ex,
    g.check_sinusoidal_encoding: sinusoidal,
    g.check_split_heads: split_heads,
    g.check_merge_heads: merge_heads,
}




@pytest.mark.parametrize("check", list(REFERENCES), ids=lambda c: c.__name__)
def test_right_answers_pass_also_with_a_print_and_a_warning(check):
    out = passes(check, REFERENCES[check])
    if check is g.check_attention_backward:
        assert out.count("gradient check: correct") == 3
    out = passes(check, noisy(REFERENCES[check]))
    assert "a debug print" in out and "a warning from the student's code" in out


def test_right_answers_in_other_forms_pass():
    passes(g.check_attention_backward, attention_backward_own)
    passes(g.check_attention_backward,        # the forward reference may give the weights
           lambda dout, q, k, v, m: _backward_from(
               scaled_dot_product_attention(q, k, v, attn_mask=~m, return_weights=True)[1],
               dout, q, k, v))
    passes(g.check_causal_mask, lambda tq, tk: np.triu(np.ones((tq, tk), bool), k=tk - tq + 1))
    passes(g.check_sinusoidal_encoding,
           lambda T, d: np.stack([f(t * 10000.0 ** (-2 * (j // 2) / d)) for t in range(T)
                                  for j, f in zip(range(d), [np.sin, np.cos] * d)]).reshape(T, d))
    passes(g.check_merge_heads, lambda x: merge_heads(x).tolist())    # a list, read as an array


def test_hidden_seeds_pass_too():
    for check in (g.check_attention, g.check_attention_backward, g.check_split_heads,
                  g.check_merge_heads, g.check_causal_mask, g.check_sinusoidal_encoding):
        passes(check, REFERENCES[check], seed=99)
        assert "Hidden tests of" in passes(check, REFERENCES[check], hidden=True)
    fails(g.check_attention, lambda q, k, v, m: g.reference_attention(q, k, v, m),
          "Hidden tests of", DELEGATION, hidden=True)


def _backward_from(w, dout, q, k, v):
    dw = dout @ np.swapaxes(v, -1, -2)
    ds = w * (dw - (w * dw).sum(-1, keepdims=True)) / math.sqrt(q.shape[-1])
    return ds @ k, np.swapaxes(ds, -1, -2) @ q, np.swapaxes(w, -1, -2) @ dout


# -- the catalogue -------------------------------------------------------------------------------
DELEGATION = "this exercise asks for your own code"


def scores(q, k, c):
    return q @ np.swapaxes(k, -1, -2) * c


def softmax(s, axis=-1):
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def own_safe_softmax(s, axis=-1):
    """The student's own safe softmax (a helper of the notebook, not the course's)."""
    m = s.max(axis=axis, keepdims=True)
    e = np.exp(s - np.where(np.isfinite(m), m, 0.0))
    total = e.sum(axis=axis, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def att_mistake(kind):
    safe_softmax = own_safe_softmax

    def f(q, k, v, m):
        c = 1 / math.sqrt(q.shape[-1])
        if kind == "by d":
            w = safe_softmax(np.where(m, -np.inf, scores(q, k, 1 / q.shape[-1])))
        elif kind == "no scale":
            w = safe_softmax(np.where(m, -np.inf, scores(q, k, 1.0)))
        elif kind == "axis":
            w = safe_softmax(np.where(m, -np.inf, scores(q, k, c)), axis=-2)
        elif kind == "inverted":
            w = safe_softmax(np.where(~m, -np.inf, scores(q, k, c)))
        elif kind == "after":
            w = softmax(scores(q, k, c)) * ~m
        elif kind == "naive":
            w = softmax(np.where(m, -np.inf, scores(q, k, c)))
        else:
            w = softmax(np.where(m, -1e9, scores(q, k, c)))
        return w @ v, w
    return f


def own_softmax_mistake(kind):
    """The student's own code (no course function), with one mistake."""
    def f(q, k, v, mask):
        s = np.where(mask, -np.inf, q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]))
        if kind == "no max, safe":
            e = np.exp(s)
            total = e.sum(-1, keepdims=True)
            w = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
        elif kind == "no max":
            e = np.exp(s)
            w = e / e.sum(-1, keepdims=True)
        elif kind == "log weights":
            m = np.where(np.isfinite(s.max(-1, keepdims=True)), s.max(-1, keepdims=True), 0)
            w = s - m                   # forgot the exponential: -inf stays in the weights
            return attention(q, k, v, mask)[0], w
        return w @ v, w
    return f


def att_in_place(q, k, v, mask):
    q /= np.sqrt(q.shape[-1])
    return attention(q * np.sqrt(q.shape[-1]), k, v, mask)


@pytest.mark.parametrize("fn,phrases", [
    (att_mistake("by d"), ["not by d"]),
    (att_mistake("no scale"), ["scale the scores by 1/√d"]),
    (att_mistake("axis"), ["over the keys"]),
    (att_mistake("inverted"), ["True in the mask means"]),
    (att_mistake("after"), ["mask BEFORE the softmax"]),
    (att_mistake("naive"), ["contains NaN", "0/0", "safe"]),
    (att_mistake("-1e9"), ["-1e9"]),
    (own_softmax_mistake("no max, safe"),
     ["[FAIL] large scores", "contains NaN", "without the row maximum subtracted"]),
    (own_softmax_mistake("no max"), ["[FAIL] large scores", "two things"]),
    (own_softmax_mistake("log weights"), ["weights contains inf"]),
    (lambda q, k, v, m: tuple(a.astype(np.float32) for a in attention(q, k, v, m)),
     ["float32, not float64"]),
    (lambda q, k, v, m: scaled_dot_product_attention(q, k, v, attn_mask=~m, return_weights=True),
     ["called scaled_dot_product_attention", DELEGATION]),
    (lambda q, k, v, m: (lambda w: (w @ v, w))(safe_softmax(np.where(m, -np.inf, scores(q, k, q.shape[-1] ** -.5)))),
     ["called safe_softmax", DELEGATION]),
    (lambda q, k, v, m: (lambda w: (w @ v, w))(
        np.nan_to_num(scipy.special.softmax(np.where(m, -np.inf, scores(q, k, q.shape[-1] ** -.5)), axis=-1))),
     ["softmax (scipy.special", DELEGATION]),
    (lambda q, k, v, m: tuple(t.numpy() for t in _torch_attention(q, k, v, m)), ["(torch)", DELEGATION]),
    (lambda q, k, v, m: g.reference_attention(q, k, v, m), [DELEGATION]),
    (att_in_place, ["changed its argument 0 in place"]),
    (lambda q, k, v, m: attention(q, k, v, m)[0], ["expected 2 results"]),
])
def test_attention_catalogue(fn, phrases):
    with np.errstate(all="ignore"):
        assert_short(fails(g.check_attention, fn, *phrases))


def _torch_attention(q, k, v, m):
    s = torch.tensor(q) @ torch.tensor(k).transpose(-1, -2) / math.sqrt(q.shape[-1])
    w = torch.nan_to_num(F.softmax(s.masked_fill(torch.tensor(m), -math.inf), dim=-1))
    return w @ torch.tensor(v), w


def test_attention_naive_softmax_fails_only_the_fully_masked_case():
    report = fails(g.check_attention, att_mistake("naive"), "contains NaN")
    assert report.count("[FAIL]") == 1


def bwd_mistake(kind):
    def f(dout, q, k, v, m):
        c = 1 / math.sqrt(q.shape[-1])
        _, w = attention(q, k, v, np.zeros_like(m) if kind == "no mask" else m)
        dw = dout @ np.swapaxes(v, -1, -2)
        ds = w * (1 - w) * dw if kind == "diagonal" else w * (dw - (w * dw).sum(-1, keepdims=True))
        if kind == "scale":
            c = 1.0
        dq, dk, dv = c * ds @ k, c * np.swapaxes(ds, -1, -2) @ q, np.swapaxes(w, -1, -2) @ dout
        if kind == "dv":
            dv = w @ dout
        if kind == "dk":
            dk = c * ds @ q
        return dq, dk, dv
    return f


def _backward_with(softmax_backward, dout, q, k, v, m):
    _, w = attention(q, k, v, m)
    ds = softmax_backward(w, dout @ np.swapaxes(v, -1, -2)) / math.sqrt(q.shape[-1])
    return ds @ k, np.swapaxes(ds, -1, -2) @ q, np.swapaxes(w, -1, -2) @ dout


def _backward_with_autograd(dout, q, k, v, m):
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    s = (tq @ tk.transpose(-1, -2) / math.sqrt(q.shape[-1])).masked_fill(torch.tensor(m), -math.inf)
    out = torch.nan_to_num(torch.softmax(s, -1)) @ tv
    out.backward(torch.tensor(dout))
    return tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy()


def _backward_numerically(dout, q, k, v, m):
    from labutils.gradcheck import numerical_gradient
    q, k, v = q.copy(), k.copy(), v.copy()

    def loss():
        return np.sum(dout * attention(q, k, v, m)[0])
    return tuple(numerical_gradient(loss, a) for a in (q, k, v))


@pytest.mark.parametrize("fn,phrases", [
    (bwd_mistake("diagonal"), ["only the diagonal"]),
    (bwd_mistake("scale"), ["carry the factor 1/√d", "dv by central differences: agrees"]),
    (bwd_mistake("dv"), ["dv: the output is the weights times v"]),
    (bwd_mistake("dk"), ["dk: the scores are q times k transposed"]),
    (bwd_mistake("no mask"), ["same mask as the forward"]),
    (lambda *a: tuple(x.astype(np.float32) for x in attention_backward(*a)), ["float32, not float64"]),
    (lambda dout, q, k, v, m: scaled_dot_product_attention_backward(dout, q, k, v, attn_mask=~m),
     ["called scaled_dot_product_attention_backward", DELEGATION]),
    (lambda *a: g.reference_attention_backward(*a), [DELEGATION]),
    (lambda dout, q, k, v, m: _backward_with(safe_softmax_backward, dout, q, k, v, m),
     ["called safe_softmax_backward", DELEGATION]),
    (_backward_with_autograd, ["(torch)", DELEGATION]),
    (_backward_numerically, ["numerical_gradient (labutils.gradcheck)", DELEGATION]),
    (lambda dout, q, k, v, m: attention_backward(dout, q, k, v, m) + (None,), ["expected 3 results"]),
])
def test_attention_backward_catalogue(fn, phrases):
    with np.errstate(all="ignore"):
        assert_short(fails(g.check_attention_backward, fn, *phrases))


def test_missing_transpose_in_dk_is_not_blamed_on_dv():
    report = fails(g.check_attention_backward, bwd_mistake("dk"), "dk:")
    assert "dv: the output" not in report


def test_attention_backward_gradient_check_says_wrong():
    report = fails(g.check_attention_backward, bwd_mistake("diagonal"))
    assert "gradient check against central differences: wrong" in report


@pytest.mark.parametrize("fn,phrases", [
    (lambda tq, tk: causal_mask_ex(tq, tk) if tq == tk else np.arange(tk)[None, :] > np.arange(tq)[:, None],
     ["align the mask to the END"]),
    (lambda tq, tk: ~causal_mask_ex(tq, tk), ["you returned the allowed ones"]),
    (lambda tq, tk: np.arange(tk)[None, :] >= np.arange(tq)[:, None] + tk - tq, ["attend to itself"]),
    (lambda tq, tk: causal_mask_ex(tq, tk).astype(int), ["must be a boolean array", "int64"]),
    (lambda tq, tk: causal_mask_ex(tq, tk).astype(float), ["must be a boolean array", "float64"]),
    (lambda tq, tk: causal_mask(tq, tk), ["called causal_mask (labutils.nn.masks)", DELEGATION]),
    (lambda tq, tk: torch.ones(tq, tk, dtype=torch.bool).triu(tk - tq + 1).numpy(), ["(torch)", DELEGATION]),
    (lambda tq, tk: causal_mask_ex(tq, tk).T, ["expected shape"]),
])
def test_causal_mask_catalogue(fn, phrases):
    assert_short(fails(g.check_causal_mask, fn, *phrases))


def pe(T, d, swap=False, two=2, halves=False, sign=-1):
    t, i = np.arange(T)[:, None], np.arange(d // 2)
    w = 10000.0 ** (sign * two * i / d)
    a, b = np.sin(t * w), np.cos(t * w)
    a, b = (b, a) if swap else (a, b)
    if halves:
        return np.hstack([a, b])
    out = np.zeros((T, d))
    out[:, ::2], out[:, 1::2] = a, b
    return out


@pytest.mark.parametrize("fn,phrases", [
    (lambda T, d: pe(T, d, swap=True), ["you swapped them"]),
    (lambda T, d: pe(T, d, two=1), ["the exponent is 2i/d"]),
    (lambda T, d: pe(T, d, halves=True), ["not in two halves"]),
    (lambda T, d: pe(T, d, sign=1), ["do not multiply"]),
    (lambda T, d: pe(T, d).astype(np.float32), ["float32, not float64"]),
    (lambda T, d: sinusoidal_encoding(T, d), ["called sinusoidal_encoding", DELEGATION]),
    (lambda T, d: pe(T, d)[:, :-1], ["expected shape"]),
])
def test_sinusoidal_catalogue(fn, phrases):
    assert_short(fails(g.check_sinusoidal_encoding, fn, *phrases))


def _split_with_labutils(x, h):
    from labutils.nn import MultiheadAttention
    return MultiheadAttention(x.shape[-1], h, batch_first=True).split_heads(x)


@pytest.mark.parametrize("fn,phrases", [
    (lambda x, h: x.reshape(x.shape[0], h, x.shape[1], -1), ["a direct reshape to (N, H, T, d)"]),
    (lambda x, h: x.reshape(x.shape[0], x.shape[1], h, -1), ["swap the T and H axes"]),
    (lambda x, h: x.reshape(*x.shape[:2], -1, h).transpose(0, 3, 1, 2), ["CONTIGUOUS"]),
    (lambda x, h: split_heads(x, h).astype(np.float32), ["float32, not float64"]),
    (_split_with_labutils, ["(labutils.nn.multihead_attention)", DELEGATION]),
    (lambda x, h: torch.tensor(x).unflatten(-1, (h, -1)).transpose(1, 2).numpy(), ["(torch)", DELEGATION]),
])
def test_split_heads_catalogue(fn, phrases):
    assert_short(fails(g.check_split_heads, fn, *phrases))


@pytest.mark.parametrize("fn,phrases", [
    (lambda x: x.reshape(x.shape[0], x.shape[2], -1), ["a direct reshape mixes tokens and heads"]),
    (lambda x: x.transpose(0, 2, 3, 1).reshape(x.shape[0], x.shape[2], -1), ["not (N, T, d, H)"]),
    (lambda x: merge_heads(x).astype(np.float32), ["float32, not float64"]),
    (lambda x: torch.tensor(x).transpose(1, 2).flatten(2).numpy(), ["(torch)", DELEGATION]),
])
def test_merge_heads_catalogue(fn, phrases):
    assert_short(fails(g.check_merge_heads, fn, *phrases))


# -- what any student function may do ----------------------------------------------------------
@pytest.mark.parametrize("check", list(REFERENCES), ids=lambda c: c.__name__)
def test_survives_anything(check):
    answer = REFERENCES[check]
    fails(check, graderlib.returns_none, "returned None")
    fails(check, graderlib.raises, "raised IndexError")
    fails(check, graderlib.not_filled, "not filled in yet")
    fails(check, graderlib.nan_like(answer),
          "must be a boolean array" if check is g.check_causal_mask else "contains NaN")
    fails(check, graderlib.wrong_shape(answer), "expected shape")
    if check not in (g.check_causal_mask, g.check_sinusoidal_encoding):   # no array inputs
        fails(check, graderlib.in_place(answer), "in place")
    assert_short(fails(check, graderlib.spins, "did not finish within 0.2 s", time_limit_s=0.2))
    fails(check, 42, "expected a function")
