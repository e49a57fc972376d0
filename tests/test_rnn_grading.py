"""Chapter 4 graders: pass the reference, fail each typical mistake with the right hint, and
survive what a student's code does (None, exceptions, NaN, in-place changes, endless loops)."""
import numpy as np
import pytest
import torch

from labutils.grading import rnn as g

from .graderlib import fails, passes


def sig(v):
    return 1 / (1 + np.exp(-v))


def ref_rnn_cell(x, h, W_ih, W_hh, b_ih, b_hh):
    return np.tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)


def ref_bptt(x, h0, W_ih, W_hh, b_ih, b_hh, dh):
    T = x.shape[0]
    hs, h = [], h0
    for t in range(T):
        h = np.tanh(x[t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        hs.append(h)
    dx, dW_ih, dW_hh = np.zeros_like(x), np.zeros_like(W_ih), np.zeros_like(W_hh)
    db, carry = np.zeros_like(b_ih), np.zeros_like(h0)
    for t in range(T - 1, -1, -1):
        da = (dh[t] + carry) * (1 - hs[t] ** 2)
        prev = hs[t - 1] if t else h0
        dx[t] = da @ W_ih
        dW_ih += da.T @ x[t]
        dW_hh += da.T @ prev
        db += da.sum(0)
        carry = da @ W_hh
    return dx, carry, dW_ih, dW_hh, db, db.copy()


def ref_lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    s = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    i, f, gg, o = np.split(s, 4, axis=1)
    c2 = sig(f) * c + sig(i) * np.tanh(gg)
    return sig(o) * np.tanh(c2), c2


def ref_gru_cell(x, h, W_ih, W_hh, b_ih, b_hh):
    gi, gh = x @ W_ih.T + b_ih, h @ W_hh.T + b_hh
    H = h.shape[1]
    r, z = sig(gi[:, :H] + gh[:, :H]), sig(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    return (1 - z) * n + z * h


def torch_clip(grads, max_norm):
    ts = [torch.tensor(a.copy()) for a in grads]
    for t in ts:
        t.grad = t.clone()
    total = torch.nn.utils.clip_grad_norm_(ts, max_norm)
    return [t.grad.numpy() for t in ts], float(total)


def can_explode(W, gamma):
    return bool(np.linalg.svd(W, compute_uv=False)[0] > 1 / gamma)


def test_references_pass():
    passes(g.check_rnn_cell_forward, ref_rnn_cell)
    out = passes(g.check_rnn_bptt, ref_bptt)
    assert out.count("gradient check: correct") == 6
    passes(g.check_lstm_cell_forward, ref_lstm_cell)
    passes(g.check_gru_cell_forward, ref_gru_cell)
    passes(g.check_clip_grad_norm, g.reference_clip_grad_norm)
    passes(g.check_clip_grad_norm, torch_clip)    # the check's formula is torch's
    passes(g.check_can_explode, can_explode)


def test_hidden_seeds_pass_too():
    passes(g.check_rnn_cell_forward, ref_rnn_cell, seed=10)
    passes(g.check_rnn_bptt, ref_bptt, seed=11)
    passes(g.check_lstm_cell_forward, ref_lstm_cell, seed=12)


@pytest.mark.parametrize("fn,phrases", [
    (lambda x, h, Wi, Wh, bi, bh: np.tanh(x @ Wi + bi + h @ Wh + bh), ["raised ValueError", "x @ W_ih.T"]),
    (lambda x, h, Wi, Wh, bi, bh: np.tanh(x @ Wi.T + bi + h @ Wh.T), ["two biases"]),
    (lambda x, h, Wi, Wh, bi, bh: sig(x @ Wi.T + bi + h @ Wh.T + bh), ["not the sigmoid"]),
    (lambda x, h, Wi, Wh, bi, bh: x @ Wi.T + bi + h @ Wh.T + bh, ["apply tanh"]),
    (lambda x, h, Wi, Wh, bi, bh: np.tanh(x @ Wi.T + bi + bh), ["add h @ W_hh.T"]),
    (lambda x, h, Wi, Wh, bi, bh: None, ["returned None"]),
    (lambda x, h, Wi, Wh, bi, bh: ref_rnn_cell(x, h, Wi, Wh, bi, bh) * np.nan, ["contains nan"]),
    (lambda x, h, Wi, Wh, bi, bh: ref_rnn_cell(x, h, Wi, Wh, bi, bh).T, ["expected shape"]),
])
def test_rnn_cell_mistakes(fn, phrases):
    fails(g.check_rnn_cell_forward, fn, *phrases)


def test_rnn_cell_in_place_and_exceptions():
    def in_place(x, h, Wi, Wh, bi, bh):
        h += x @ Wi.T
        return np.tanh(h + bi + h @ Wh.T + bh)
    fails(g.check_rnn_cell_forward, in_place, "changed its argument 1 in place")

    def boom(x, h, Wi, Wh, bi, bh):
        raise KeyError("oops")
    fails(g.check_rnn_cell_forward, boom, "raised KeyError")

    def rnn_cell_forward(x, h, Wi, Wh, bi, bh):
        raise NotImplementedError()
    fails(g.check_rnn_cell_forward, rnn_cell_forward, "not filled in yet")


def _bptt_mistake(**kw):
    return g._bptt_variant(**kw)


@pytest.mark.parametrize("kw,phrase", [
    (dict(carry=False), "collects two terms"),
    (dict(deriv="previous"), "the state this step produced"),
    (dict(sum_params=False), "sums over every time step"),
    (dict(carry_T=True), "not da @ w_hh.t"),
    (dict(use_deriv=False), "multiply by the tanh derivative"),
])
def test_bptt_mistakes_get_their_hint_and_a_wrong_gradient_check(kw, phrase):
    report = fails(g.check_rnn_bptt, _bptt_mistake(**kw), phrase)
    assert "gradient check against central differences: wrong" in report


def test_bptt_wrong_arity_and_nan():
    fails(g.check_rnn_bptt, lambda *a: ref_bptt(*a)[:5], "expected 6 results")
    fails(g.check_rnn_bptt, lambda *a: tuple(r * np.nan for r in ref_bptt(*a)), "contains nan")


def _lstm_order(order):
    def fn(x, h, c, W_ih, W_hh, b_ih, b_hh):
        s = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
        blocks = dict(zip(order, np.split(s, 4, axis=1)))
        c2 = sig(blocks["f"]) * c + sig(blocks["i"]) * np.tanh(blocks["g"])
        return sig(blocks["o"]) * np.tanh(c2), c2
    return fn


@pytest.mark.parametrize("fn,phrase", [
    (_lstm_order("ifog"), "not i, f, o, g"),
    (_lstm_order("figo"), "the input gate comes first"),
    (g._lstm_variant(g_act=sig), "the candidate g uses tanh"),
    (g._lstm_variant(use_i=False), "i ⊙ g"),
    (g._lstm_variant(out_tanh=False), "squash the cell"),
    (g._lstm_variant(new_c=False), "new cell state"),
    (lambda *a: ref_lstm_cell(*a)[0], "expected 2 results"),
])
def test_lstm_cell_mistakes(fn, phrase):
    fails(g.check_lstm_cell_forward, fn, phrase)


@pytest.mark.parametrize("fn,phrase", [
    (g._gru_variant(z_keeps_old=False), "keeps the old state"),
    (g._gru_variant(reset_after=False), "after the matrix product"),
    (g._gru_variant(order="zrn"), "order is r, z, n"),
])
def test_gru_cell_mistakes(fn, phrase):
    fails(g.check_gru_cell_forward, fn, phrase)


@pytest.mark.parametrize("kind,phrase", [
    ("per_tensor", "global norm"),
    ("no_eps", "total_norm + 1e-6"),
    ("always", "only scale down"),
    ("sum_of_norms", "not the sum of the norms"),
    ("elementwise", "changes the direction"),
    ("after", "before clipping"),
])
def test_clip_mistakes(kind, phrase):
    fails(g.check_clip_grad_norm, g._clip_variant(kind), phrase)


def test_clip_in_place_nan_and_shape():
    def in_place(grads, max_norm):
        total = np.sqrt(sum((a * a).sum() for a in grads))
        for a in grads:
            a *= min(1.0, max_norm / (total + 1e-6))
        return grads, total
    fails(g.check_clip_grad_norm, in_place, "changed its argument 0 in place")

    def no_eps_nan(grads, max_norm):
        total = np.sqrt(sum((a * a).sum() for a in grads))
        with np.errstate(all="ignore"):
            return [a * (max_norm / total) if total > max_norm or total == 0 else a for a in grads], total
    fails(g.check_clip_grad_norm, no_eps_nan, "all gradients zero", "contains nan")
    fails(g.check_clip_grad_norm, lambda grads, m: grads, "expected 2 results")
    fails(g.check_clip_grad_norm, lambda grads, m: None, "expected 2 results")


@pytest.mark.parametrize("fn,phrase", [
    (lambda W, gm: bool(np.max(np.abs(np.linalg.eigvals(W))) > 1 / gm), "spectral radius"),
    (lambda W, gm: bool(np.linalg.norm(W, 2) > gm), "not with γ"),
    (lambda W, gm: bool(np.linalg.norm(W) > 1 / gm), "frobenius"),
    (lambda W, gm: bool(np.max(np.abs(W)) > 1 / gm), "largest entry"),
    (lambda W, gm: None, "returned none"),
    (lambda W, gm: np.linalg.norm(W, 2), "expected true or false"),
])
def test_can_explode_mistakes(fn, phrase):
    fails(g.check_can_explode, fn, phrase)


@pytest.mark.parametrize("check,args", [
    (g.check_rnn_cell_forward, 6), (g.check_rnn_bptt, 7), (g.check_lstm_cell_forward, 7),
    (g.check_gru_cell_forward, 6), (g.check_clip_grad_norm, 2), (g.check_can_explode, 2),
])
def test_endless_loops_are_interrupted(check, args):
    def spins(*a):
        while True:
            pass
    report = fails(check, spins, "did not finish within 0.2 s", time_limit_s=0.2)
    assert "endless loop" in report


def test_not_a_function():
    fails(g.check_lstm_cell_forward, None, "expected a function")
    fails(g.check_can_explode, "True", "expected a function")


ALL_CHECKS = [(g.check_rnn_cell_forward, "returned none"), (g.check_rnn_bptt, "returned none"),
              (g.check_lstm_cell_forward, "returned none"), (g.check_gru_cell_forward, "returned none"),
              (g.check_clip_grad_norm, "expected 2 results"), (g.check_can_explode, "returned none")]


@pytest.mark.parametrize("check,none_phrase", ALL_CHECKS)
def test_every_check_survives_none_and_exceptions(check, none_phrase):
    fails(check, lambda *a: None, none_phrase)

    def boom(*a):
        return 1 / 0
    fails(check, boom, "raised ZeroDivisionError")
