"""Chapter 5 graders: each passes the reference and fails each typical mistake with its hint,
and survives None, exceptions, NaN, wrong shapes, in-place changes and endless loops."""
import math

import numpy as np
import pytest

from labutils.grading import attention as g
from labutils.nn.attention import causal_mask, safe_softmax
from labutils.nn.positional import sinusoidal_encoding

from . import graderlib
from .graderlib import fails, passes, not_filled, raises, returns_none


# -- references (as a student would write them) -------------------------------------------------
def attention(q, k, v, mask):
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    w = safe_softmax(np.where(mask, -np.inf, s))
    return w @ v, w


def attention_backward(dout, q, k, v, mask):
    _, w = attention(q, k, v, mask)
    dw = dout @ np.swapaxes(v, -1, -2)
    ds = w * (dw - (w * dw).sum(-1, keepdims=True)) / math.sqrt(q.shape[-1])
    return ds @ k, np.swapaxes(ds, -1, -2) @ q, np.swapaxes(w, -1, -2) @ dout


def split_heads(x, num_heads):
    N, T, E = x.shape
    return x.reshape(N, T, num_heads, E // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x):
    N, H, T, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(N, T, H * d)


REFERENCES = {
    g.check_attention: attention,
    g.check_attention_backward: attention_backward,
    g.check_causal_mask: lambda tq, tk: causal_mask(tq, tk),
    g.check_sinusoidal_encoding: lambda T, d: sinusoidal_encoding(T, d),
    g.check_split_heads: split_heads,
    g.check_merge_heads: merge_heads,
}


@pytest.mark.parametrize("check", list(REFERENCES), ids=lambda c: c.__name__)
def test_reference_passes(check):
    out = passes(check, REFERENCES[check])
    if check is g.check_attention_backward:
        assert "gradient check: correct" in out


# -- each typical mistake gets its hint ----------------------------------------------------------
def scores(q, k, c):
    return q @ np.swapaxes(k, -1, -2) * c


def softmax(s, axis=-1):
    with np.errstate(invalid="ignore"):
        e = np.exp(s - s.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)


def att_mistake(kind):
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


@pytest.mark.parametrize("kind,phrase", [
    ("by d", "not by d"), ("no scale", "scale the scores by 1/√d"),
    ("axis", "over the keys"), ("inverted", "True in the mask means"),
    ("after", "mask BEFORE the softmax"), ("naive", "safe"), ("-1e9", "-1e9")])
def test_attention_mistakes(kind, phrase):
    fails(g.check_attention, att_mistake(kind), phrase)


def test_attention_naive_softmax_names_the_nan():
    report = fails(g.check_attention, att_mistake("naive"), "contains NaN", "0/0")
    assert report.count("[FAIL]") == 1          # only the fully masked case fails


def bwd_mistake(kind):
    def f(dout, q, k, v, m):
        c = 1 / math.sqrt(q.shape[-1])
        _, w = attention(q, k, v, m)
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


@pytest.mark.parametrize("kind,phrase", [
    ("diagonal", "only the diagonal"), ("scale", "carry the factor 1/√d"),
    ("dv", "dv = wᵀ dout"), ("dk", "dk = dsᵀ q")])
def test_attention_backward_mistakes(kind, phrase):
    fails(g.check_attention_backward, bwd_mistake(kind), phrase)


def test_attention_backward_reports_the_gradient_check_verdict():
    report = fails(g.check_attention_backward, bwd_mistake("scale"), "gradient check against "
                   "central differences: wrong")
    assert "dv by central differences: agrees" in report


@pytest.mark.parametrize("wrong,phrase", [
    (lambda tq, tk: causal_mask(tq, tk, align="start"), "align the mask to the END"),
    (lambda tq, tk: ~causal_mask(tq, tk), "you returned the allowed ones"),
    (lambda tq, tk: np.arange(tk)[None, :] >= np.arange(tq)[:, None] + tk - tq, "attend to itself"),
    (lambda tq, tk: causal_mask(tq, tk).astype(int), "must be a boolean array")])
def test_causal_mask_mistakes(wrong, phrase):
    fails(g.check_causal_mask, wrong, phrase)


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


@pytest.mark.parametrize("wrong,phrase", [
    (lambda T, d: pe(T, d, swap=True), "you swapped them"),
    (lambda T, d: pe(T, d, two=1), "the exponent is 2i/d"),
    (lambda T, d: pe(T, d, halves=True), "not in two halves"),
    (lambda T, d: pe(T, d, sign=1), "do not multiply")])
def test_sinusoidal_mistakes(wrong, phrase):
    fails(g.check_sinusoidal_encoding, wrong, phrase)


@pytest.mark.parametrize("wrong,phrase", [
    (lambda x, h: x.reshape(x.shape[0], h, x.shape[1], -1), "a direct reshape to (N, H, T, d)"),
    (lambda x, h: x.reshape(x.shape[0], x.shape[1], h, -1), "swap the T and H axes"),
    (lambda x, h: x.reshape(*x.shape[:2], -1, h).transpose(0, 3, 1, 2), "CONTIGUOUS")])
def test_split_heads_mistakes(wrong, phrase):
    fails(g.check_split_heads, wrong, phrase)


@pytest.mark.parametrize("wrong,phrase", [
    (lambda x: x.reshape(x.shape[0], x.shape[2], -1), "a direct reshape mixes tokens and heads"),
    (lambda x: x.transpose(0, 2, 3, 1).reshape(x.shape[0], x.shape[2], -1), "not (N, T, d, H)")])
def test_merge_heads_mistakes(wrong, phrase):
    fails(g.check_merge_heads, wrong, phrase)


# -- what any student function may do ----------------------------------------------------------
def nan_like(check):
    return graderlib.nan_like(REFERENCES[check])


def wrong_shape(check):
    return graderlib.wrong_shape(REFERENCES[check])


def in_place(check):
    return graderlib.in_place(REFERENCES[check])


@pytest.mark.parametrize("check", list(REFERENCES), ids=lambda c: c.__name__)
def test_survives_anything(check):
    fails(check, returns_none, "returned None")
    fails(check, raises, "raised IndexError")
    fails(check, not_filled, "not filled in yet")
    fails(check, nan_like(check),
          "must be a boolean array" if check is g.check_causal_mask else "contains NaN")
    fails(check, wrong_shape(check), "expected shape")
    if check not in (g.check_causal_mask, g.check_sinusoidal_encoding):   # no array inputs
        fails(check, in_place(check), "in place")


@pytest.mark.parametrize("check", [g.check_attention, g.check_causal_mask],
                         ids=lambda c: c.__name__)
def test_endless_loop_is_interrupted(check):
    def spins(*args):
        while True:
            pass
    fails(check, spins, "did not finish within 0.2 s", time_limit_s=0.2)
