"""Chapter 5 graders of the blocks built on attention (multi-head forward and backward, rotary
embeddings, the weighted sequence loss, attention with a key-value cache): the notebook's
answers pass (with a print and a warning too), the hidden seeds pass, and a catalogue of wrong
answers, one from each class of mistake the engine knows where it applies (values, ignored
argument, unstable formula, float32, delegation, mutation, return type, what any code may do),
fails with the right diagnosis in a short report."""
import math

import numpy as np
import pytest
import torch

from labutils.grading import attention as g
from labutils.nn.rotary import rotary_forward

from . import graderlib
from .graderlib import assert_short, fails, noisy, passes
from .test_attention_grading import (
    DELEGATION,
    attention,
    attention_backward_own,
    merge_heads,
    split_heads,
)


# -- right answers, as the notebook writes them --------------------------------------------------
def mha_forward(x, w_q, w_k, w_v, w_o, num_heads, mask):
    q, k, v = (split_heads(x @ w.T, num_heads) for w in (w_q, w_k, w_v))
    out, _ = attention(q, k, v, mask)
    return merge_heads(out) @ w_o.T


def mha_backward(dout, x, w_q, w_k, w_v, w_o, num_heads, mask):
    q, k, v = (split_heads(x @ w.T, num_heads) for w in (w_q, w_k, w_v))
    out, _ = attention(q, k, v, mask)
    merged = merge_heads(out)
    dw_o = np.einsum("nti,ntj->ij", dout, merged)
    dq, dk, dv = attention_backward_own(split_heads(dout @ w_o, num_heads), q, k, v, mask)
    dQ, dK, dV = merge_heads(dq), merge_heads(dk), merge_heads(dv)
    dx = dQ @ w_q + dK @ w_k + dV @ w_v
    flat = x.reshape(-1, x.shape[-1])
    return (dx, dQ.reshape(-1, dQ.shape[-1]).T @ flat, dK.reshape(-1, dK.shape[-1]).T @ flat,
            dV.reshape(-1, dV.shape[-1]).T @ flat, dw_o)


def rotary(x, positions):
    d = x.shape[-1]
    angle = np.asarray(positions)[:, None] * 10000.0 ** (-np.arange(0, d, 2) / d)
    c, s = np.cos(angle), np.sin(angle)
    y = np.empty_like(x)
    y[..., 0::2] = x[..., 0::2] * c - x[..., 1::2] * s
    y[..., 1::2] = x[..., 0::2] * s + x[..., 1::2] * c
    return y


def sequence_cross_entropy(logits, targets, weights):
    z = logits - logits.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    onehot = np.eye(logits.shape[-1])[targets]
    total = weights.sum()
    loss = -(weights * (onehot * logp).sum(-1)).sum() / total
    return loss, (np.exp(logp) - onehot) * weights[..., None] / total


def attend_with_cache(q, k, v, k_cache, v_cache):
    k_all = np.concatenate([k_cache, k], axis=1)
    v_all = np.concatenate([v_cache, v], axis=1)
    tq, tk = q.shape[1], k_all.shape[1]
    mask = np.arange(tk)[None, :] > np.arange(tq)[:, None] + (tk - tq)
    out, _ = attention(q, k_all, v_all, mask)
    return out, k_all, v_all


REFERENCES = {g.check_mha_forward: mha_forward, g.check_mha_backward: mha_backward,
              g.check_rotary: rotary, g.check_sequence_cross_entropy: sequence_cross_entropy,
              g.check_attend_with_cache: attend_with_cache}




@pytest.mark.parametrize("check", list(REFERENCES), ids=lambda c: c.__name__)
def test_right_answers_pass_also_with_a_print_and_a_warning(check):
    out = passes(check, REFERENCES[check])
    if check is g.check_mha_backward:
        assert out.count("gradient check: correct") == 5
    out = passes(check, noisy(REFERENCES[check]))
    assert "a debug print" in out and "a warning from the student's code" in out


@pytest.mark.parametrize("check", list(REFERENCES), ids=lambda c: c.__name__)
def test_hidden_seeds_pass_too(check):
    passes(check, REFERENCES[check], seed=99)
    assert "Hidden tests of" in passes(check, REFERENCES[check], hidden=True)


def test_right_answers_in_other_forms_pass():
    passes(g.check_sequence_cross_entropy,      # a NumPy scalar loss and the course's softmax
           lambda lg, t, w: (np.float64(sequence_cross_entropy(lg, t, w)[0]),
                             sequence_cross_entropy(lg, t, w)[1]))
    passes(g.check_rotary, lambda x, p: rotary(x, list(p)))


# -- the catalogue ---------------------------------------------------------------------------------
def mha_mistake(kind):
    def f(x, w_q, w_k, w_v, w_o, h, m):
        if kind == "heads ignored":
            h = 1
        t = (lambda w: w) if kind == "no transpose" else (lambda w: w.T)
        q, k, v = (split_heads(x @ t(w), h) for w in (w_q, w_k, w_v))
        out = merge_heads(attention(q, k, v, np.zeros_like(m) if kind == "mask" else m)[0])
        return out if kind == "no out proj" else out @ t(w_o)
    return f


@pytest.mark.parametrize("fn,phrases", [
    (mha_mistake("heads ignored"), ["num_heads was ignored"]),
    (mha_mistake("no transpose"), ["x @ w.T, not x @ w"]),
    (mha_mistake("no out proj"), ["output projection"]),
    (mha_mistake("mask"), ["the mask was ignored"]),
    (lambda *a: mha_forward(*a).astype(np.float32), ["float32, not float64"]),
    (lambda *a: g.reference_mha_forward(*a), [DELEGATION]),
    (lambda x, wq, wk, wv, wo, h, m: torch.nn.functional.multi_head_attention_forward(
        *(torch.tensor(x).transpose(0, 1),) * 3, x.shape[-1], h, torch.tensor(np.vstack([wq, wk, wv])),
        None, None, None, False, 0.0, torch.tensor(wo), None, need_weights=False,
        attn_mask=torch.tensor(m))[0].transpose(0, 1).numpy(), ["(torch)", DELEGATION]),
])
def test_mha_forward_catalogue(fn, phrases):
    assert_short(fails(g.check_mha_forward, fn, *phrases))


def mha_bwd_mistake(kind):
    def f(dout, x, w_q, w_k, w_v, w_o, h, m):
        dx, dwq, dwk, dwv, dwo = mha_backward(dout, x, w_q, w_k, w_v, w_o, 1 if kind == "heads" else h, m)
        if kind == "transposed":
            return dx, dwq.T, dwk.T, dwv.T, dwo.T
        if kind == "only dq":
            q, k, v = (split_heads(x @ w.T, h) for w in (w_q, w_k, w_v))
            dq = attention_backward_own(split_heads(dout @ w_o, h), q, k, v, m)[0]
            return merge_heads(dq) @ w_q, dwq, dwk, dwv, dwo
        return dx, dwq, dwk, dwv, dwo
    return f


@pytest.mark.parametrize("fn,phrases", [
    (mha_bwd_mistake("transposed"), ["you returned its transpose", "dx by central differences: agrees"]),
    (mha_bwd_mistake("only dq"), ["the sum of the three paths",
                                  "gradient check against central differences: wrong"]),
    (mha_bwd_mistake("heads"), ["num_heads was ignored"]),
    (lambda *a: tuple(r.astype(np.float32) for r in mha_backward(*a)), ["float32, not float64"]),
    (lambda *a: g.reference_mha_backward(*a), [DELEGATION]),
    (lambda *a: mha_backward(*a)[:4], ["expected 5 results"]),
])
def test_mha_backward_catalogue(fn, phrases):
    assert_short(fails(g.check_mha_backward, fn, *phrases))


def rot(x, p, direction=1, halves=False, i_over_d=False):
    d = x.shape[-1]
    expo = np.arange(d // 2) / d if i_over_d else np.arange(0, d, 2) / d
    a = np.asarray(p)[:, None] * 10000.0 ** -expo
    c, s = np.cos(a), direction * np.sin(a)
    if halves:
        u, w = x[..., :d // 2], x[..., d // 2:]
        return np.concatenate([u * c - w * s, u * s + w * c], -1)
    return rotary(x, p) if direction == 1 and not i_over_d else _interleave(x, c, s)


def _interleave(x, c, s):
    y = np.empty_like(x)
    y[..., 0::2] = x[..., 0::2] * c - x[..., 1::2] * s
    y[..., 1::2] = x[..., 0::2] * s + x[..., 1::2] * c
    return y


def rotary_in_place(x, p):
    y = rotary(x, p)
    x[...] = y
    return y


@pytest.mark.parametrize("fn,phrases", [
    (lambda x, p: rotary(x, np.arange(x.shape[-2])), ["the positions were ignored"]),
    (lambda x, p: rot(x, p, direction=-1), ["turns the wrong way"]),
    (lambda x, p: rot(x, p, halves=True), ["not i and i + d/2"]),
    (lambda x, p: rot(x, p, i_over_d=True), ["the exponent is 2i/d"]),
    (lambda x, p: rotary(x, p).astype(np.float32), ["float32, not float64"]),
    (lambda x, p: rotary_forward(x, p)[0], ["called rotary_forward", DELEGATION]),
    (rotary_in_place, ["changed its argument 0 in place"]),
])
def test_rotary_catalogue(fn, phrases):
    assert_short(fails(g.check_rotary, fn, *phrases))


def loss_unstable(logits, t, w):
    e = np.exp(logits)
    p = e / e.sum(-1, keepdims=True)
    onehot = np.eye(logits.shape[-1])[t]
    return -(w * np.log((p * onehot).sum(-1))).sum() / w.sum(), (p - onehot) * w[..., None] / w.sum()


def loss_loop(logits, t, w):
    """Right, with a Python loop over positions: allowed (this exercise asks for no vectorisation)."""
    loss, grad = 0.0, np.zeros_like(logits)
    for idx in np.ndindex(t.shape):
        z = logits[idx] - logits[idx].max()
        p = np.exp(z) / np.exp(z).sum()
        loss -= w[idx] * (z[t[idx]] - math.log(np.exp(z).sum()))
        grad[idx] = w[idx] * (p - np.eye(len(p))[t[idx]])
    return loss / w.sum(), grad / w.sum()


def test_loss_with_a_loop_passes():
    passes(g.check_sequence_cross_entropy, loss_loop)


@pytest.mark.parametrize("fn,phrases", [
    (lambda lg, t, w: sequence_cross_entropy(lg, t, np.ones_like(w)), ["the weights were ignored"]),
    (lambda lg, t, w: tuple(r * w.sum() / w.size for r in sequence_cross_entropy(lg, t, w)),
     ["not by the number of all positions"]),
    (lambda lg, t, w: (sequence_cross_entropy(lg, t, w)[0],
                       sequence_cross_entropy(lg, t, np.ones_like(w))[1] * w.size / w.sum()),
     ["a position with weight 0 gets no gradient"]),
    (lambda lg, t, w: (sequence_cross_entropy(lg, t, w)[0],
                       sequence_cross_entropy(lg, t, w)[1] + np.eye(lg.shape[-1])[t] * w[..., None] / w.sum()),
     ["softmax MINUS the one-hot"]),
    (loss_unstable, ["[FAIL] large logits", "subtract each row's maximum"]),
    (lambda *a: tuple(np.float32(r) for r in sequence_cross_entropy(*a)), ["float32"]),
    (lambda *a: g.reference_sequence_cross_entropy(*a), [DELEGATION]),
    (lambda lg, t, w: (lambda tl: (tl.item(), torch.autograd.grad(tl, lg_t)[0].numpy()))(
        torch.nn.functional.cross_entropy(lg_t := torch.tensor(lg, requires_grad=True).flatten(0, 1),
                                          torch.tensor(t).flatten(), reduction="none")
        .mul(torch.tensor(w).flatten()).sum() / w.sum()), ["(torch)", DELEGATION]),
    (lambda *a: sequence_cross_entropy(*a)[0], ["expected 2 results"]),
])
def test_sequence_cross_entropy_catalogue(fn, phrases):
    with np.errstate(all="ignore"):
        assert_short(fails(g.check_sequence_cross_entropy, fn, *phrases))


def cache_mistake(kind):
    def f(q, k, v, kc, vc):
        if kind == "no cache":
            return attend_with_cache(q, k, v, kc[:, :0], vc[:, :0])[0], *attend_with_cache(q, k, v, kc, vc)[1:]
        k_all = np.concatenate([k, kc] if kind == "order" else [kc, k], axis=1)
        v_all = np.concatenate([v, vc] if kind == "order" else [vc, v], axis=1)
        tq, tk = q.shape[1], k_all.shape[1]
        if kind == "start":
            mask = np.arange(tk)[None, :] > np.arange(tq)[:, None]
        elif kind == "no mask":
            mask = np.zeros((tq, tk), bool)
        else:
            mask = np.arange(tk)[None, :] > np.arange(tq)[:, None] + (tk - tq)
        return attention(q, k_all, v_all, mask)[0], k_all, v_all
    return f


def cache_in_place(q, k, v, kc, vc):
    out = attend_with_cache(q, k, v, kc, vc)
    kc *= 0
    return out


@pytest.mark.parametrize("fn,phrases", [
    (cache_mistake("no cache"), ["the cached keys and values were ignored"]),
    (cache_mistake("order"), ["AFTER the cached ones"]),
    (cache_mistake("start"), ["aligns to the END"]),
    (cache_mistake("no mask"), ["causal mask among themselves"]),
    (lambda *a: tuple(r.astype(np.float32) for r in attend_with_cache(*a)), ["float32, not float64"]),
    (lambda q, k, v, kc, vc: (g.reference_attention(q, np.concatenate([kc, k], 1), np.concatenate(
        [vc, v], 1), np.arange(kc.shape[1] + k.shape[1])[None, :] > np.arange(q.shape[1])[:, None]
        + kc.shape[1])[0], np.concatenate([kc, k], 1), np.concatenate([vc, v], 1)), [DELEGATION]),
    (cache_in_place, ["changed its argument 3 in place"]),
    (lambda *a: attend_with_cache(*a)[0], ["expected 3 results"]),
])
def test_attend_with_cache_catalogue(fn, phrases):
    assert_short(fails(g.check_attend_with_cache, fn, *phrases))


# -- what any student function may do --------------------------------------------------------------
@pytest.mark.parametrize("check", list(REFERENCES), ids=lambda c: c.__name__)
def test_survives_anything(check):
    graderlib.assert_survives(check, REFERENCES[check])


# -- beam search -----------------------------------------------------------------------------------
def beam_search_ex(step_fn, bos, max_len, beam_size):
    prefixes, scores = np.array([[bos]]), np.zeros(1)
    for _ in range(max_len):
        total = scores[:, None] + step_fn(prefixes)
        best = np.argsort(-total, axis=None, kind="stable")[:beam_size]
        rows, toks = np.divmod(best, total.shape[1])
        prefixes = np.concatenate([prefixes[rows], toks[:, None]], axis=1)
        scores = total[rows, toks]
    return prefixes[0, 1:], float(scores[0])


def test_beam_search_right_answers_pass():
    passes(g.check_beam_search, beam_search_ex)
    passes(g.check_beam_search, noisy(beam_search_ex))
    passes(g.check_beam_search, beam_search_ex, seed=5)
    assert "Hidden tests of" in passes(g.check_beam_search, beam_search_ex, hidden=True)
    passes(g.check_beam_search, lambda *a: (list(beam_search_ex(*a)[0]), beam_search_ex(*a)[1]))


def beam_last_step(step_fn, bos, max_len, beam_size):
    prefixes, scores = np.array([[bos]]), np.zeros(1)
    for _ in range(max_len):
        logp = step_fn(prefixes)
        best = np.argsort(-logp, axis=None, kind="stable")[:beam_size]
        rows, toks = np.divmod(best, logp.shape[1])
        prefixes = np.concatenate([prefixes[rows], toks[:, None]], axis=1)
        scores = scores[rows] + logp[rows, toks]
    return prefixes[0, 1:], float(scores[0])


@pytest.mark.parametrize("fn,phrases", [
    (lambda f, b, n, k: beam_search_ex(f, b, n, 1), ["beam_size was ignored", "[FAIL] a greedy trap"]),
    (beam_last_step, ["TOTAL log-probability"]),
    (lambda *a: (beam_search_ex(*a)[0], np.float32(beam_search_ex(*a)[1])), ["float32"]),
    (lambda f, b, n, k: (np.concatenate([[b], beam_search_ex(f, b, n, k)[0]]), beam_search_ex(f, b, n, k)[1]),
     ["expected shape"]),
    (lambda *a: g.reference_beam_search(*a), [DELEGATION]),
    (lambda f, b, n, k: (lambda r: (r[0][0], r[0][1]))(__import__("labutils.lab.decoding", fromlist=["x"])
                                                       .beam_search(f, b, n, k)),
     ["called beam_search", DELEGATION]),
    (lambda *a: beam_search_ex(*a)[0], ["expected 2 results"]),
    (graderlib.returns_none, ["returned None"]),
    (graderlib.not_filled, ["not filled in yet"]),
    (graderlib.raises, ["raised IndexError"]),
])
def test_beam_search_catalogue(fn, phrases):
    assert_short(fails(g.check_beam_search, fn, *phrases))


def test_beam_search_endless_loop_is_stopped():
    assert_short(fails(g.check_beam_search, graderlib.spins, "did not finish within 0.2 s", time_limit_s=0.2))
