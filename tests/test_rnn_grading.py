"""Chapter 4 graders: right answers in every form pass (with a print and a warning too); a
catalogue of wrong answers, at least one from each class of mistake the engine knows, fails
with the right diagnosis (values, range, precision, delegation, required arguments, mutation,
return type, what any code may do), in a short report without grader source."""

import numpy as np
import pytest
import torch

import labutils.nn as nn
from labutils.grading import rnn as g
from labutils.grading import rnn_gradients as gg

from . import graderlib
from .graderlib import assert_short, fails, noisy, passes


def sig(v):
    return 1 / (1 + np.exp(-v))


# -- right answers, as a student would write them -----------------------------------------------
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
    """The notebook's solution: the sigmoid as 1 / (1 + e^-s), stable for large positive s."""
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


def ref_clip(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(a * a) for a in grads)))
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        return [a * coef for a in grads], total
    return [a.copy() for a in grads], total


def can_explode(W, gamma):
    return bool(np.linalg.svd(W, compute_uv=False)[0] > 1 / gamma)




CHECKS = {g.check_rnn_cell_forward: ref_rnn_cell, g.check_rnn_bptt: ref_bptt,
          g.check_lstm_cell_forward: ref_lstm_cell, g.check_gru_cell_forward: ref_gru_cell,
          g.check_clip_grad_norm: ref_clip, g.check_can_explode: can_explode}


@pytest.mark.parametrize("check", list(CHECKS), ids=lambda c: c.__name__)
def test_right_answers_pass_also_with_a_print_and_a_warning(check):
    passes(check, CHECKS[check])
    out = passes(check, noisy(CHECKS[check]))
    assert "a debug print" in out and "a warning from the student's code" in out


def test_right_answers_in_other_forms_pass():
    out = passes(g.check_rnn_bptt, ref_bptt)
    assert out.count("gradient check: correct") == 6
    # a sigmoid that is stable both ways (no overflow warning at all)
    passes(g.check_lstm_cell_forward, lambda x, h, c, *p: _lstm_with(lambda v: 0.5 * (1 + np.tanh(v / 2)))(x, h, c, *p))
    # lists where arrays are natural, the total norm as a NumPy scalar, a 0-d array, a tuple
    passes(g.check_rnn_cell_forward, lambda *a: ref_rnn_cell(*a).tolist())
    passes(g.check_clip_grad_norm, lambda gr, m: (ref_clip(gr, m)[0], np.float64(ref_clip(gr, m)[1])))
    passes(g.check_clip_grad_norm, lambda gr, m: (tuple(ref_clip(gr, m)[0]), np.array(ref_clip(gr, m)[1])))
    passes(g.check_can_explode, lambda W, gm: np.linalg.norm(W, 2) > 1 / gm)           # np.bool_
    passes(g.check_can_explode, lambda W, gm: np.array(np.linalg.norm(W, 2) * gm > 1))  # 0-d array


def test_hidden_seeds_pass_too():
    passes(g.check_rnn_cell_forward, ref_rnn_cell, seed=10)
    passes(g.check_rnn_bptt, ref_bptt, seed=11)
    passes(g.check_lstm_cell_forward, ref_lstm_cell, seed=12)
    passes(g.check_gru_cell_forward, ref_gru_cell, seed=13)
    passes(g.check_clip_grad_norm, ref_clip, seed=14)
    for check in (g.check_rnn_cell_forward, g.check_rnn_bptt, g.check_lstm_cell_forward,
                  g.check_gru_cell_forward, g.check_clip_grad_norm):
        assert "Hidden tests of" in passes(check, CHECKS[check], hidden=True)
    fails(g.check_rnn_cell_forward, g._rnn_cell_mistakes()["tanh is missing: apply it to the whole "
          "pre-activation (both products and both biases)"], "Hidden tests of", hidden=True)


def test_published_reference_is_the_formula_and_torch_agrees():
    grads = [np.arange(6.0).reshape(2, 3), -np.ones(4)]
    clipped, total = g.reference_clip_grad_norm(grads, 1.0)
    ts = [torch.tensor(a.copy()) for a in grads]
    for t in ts:
        t.grad = t.clone()
    assert np.isclose(total, float(torch.nn.utils.clip_grad_norm_(ts, 1.0)), rtol=1e-12)
    assert all(np.allclose(c, t.grad.numpy(), rtol=1e-12) for c, t in zip(clipped, ts))


# -- the catalogue: one or more wrong answers of each class, each with its diagnosis ------------
DELEGATION = "this exercise asks for your own code"


def f32(answer):
    """``answer`` computed in float32 (returned as float32)."""
    return lambda *a: answer(*(x.astype(np.float32) if isinstance(x, np.ndarray) else x for x in a))


def f32_cast_back(answer):
    """``answer`` computed in float32, then returned as float64: the digits are lost anyway."""
    def fn(*a):
        out = f32(answer)(*a)
        return tuple(o.astype(np.float64) for o in out) if isinstance(out, tuple) else out.astype(np.float64)
    return fn


def raw_tanh(v):
    return (np.exp(v) - np.exp(-v)) / (np.exp(v) + np.exp(-v))


def raw_sig(v):
    return np.exp(v) / (1 + np.exp(v))


def rnn_cell_with_torch(x, h, Wi, Wh, bi, bh):
    return torch.tanh(torch.from_numpy(x @ Wi.T + bi + h @ Wh.T + bh)).numpy()


def rnn_cell_with_labutils(x, h, Wi, Wh, bi, bh):
    cell = nn.RNNCell(Wi.shape[1], Wh.shape[1])
    cell.load_state_dict({"weight_ih": Wi, "weight_hh": Wh, "bias_ih": bi, "bias_hh": bh})
    return cell(x, h)


def rnn_cell_in_place(x, h, Wi, Wh, bi, bh):
    h += x @ Wi.T + bi + bh           # "saves memory"
    return np.tanh(h + (h - x @ Wi.T - bi - bh) @ Wh.T - (h - h))


@pytest.mark.parametrize("fn,phrases", [
    (lambda x, h, Wi, Wh, bi, bh: np.tanh(x @ Wi + bi + h @ Wh + bh),
     ["raised ValueError", "multiply x and h by their transposes"]),
    (lambda x, h, Wi, Wh, bi, bh: np.tanh(x @ Wi.T + bi + h @ Wh.T), ["two biases"]),
    (lambda x, h, Wi, Wh, bi, bh: sig(x @ Wi.T + bi + h @ Wh.T + bh), ["not the sigmoid"]),
    (lambda x, h, Wi, Wh, bi, bh: x @ Wi.T + bi + h @ Wh.T + bh, ["tanh is missing"]),
    (lambda x, h, Wi, Wh, bi, bh: np.tanh(x @ Wi.T + bi + bh), ["ignores the previous state h"]),
    (lambda x, h, Wi, Wh, bi, bh: raw_tanh(x @ Wi.T + bi + h @ Wh.T + bh),
     ["[FAIL] large pre-activations", "contains NaN", "use NumPy's own tanh"]),
    (f32(ref_rnn_cell), ["float32, not float64"]),
    (f32_cast_back(ref_rnn_cell), ["[FAIL] two large biases that cancel", "[pass] batch of 1",
                                   "computed in float32"]),
    (rnn_cell_with_torch, ["called", "(torch)", DELEGATION]),
    (rnn_cell_with_labutils, ["(labutils.nn.rnn)", DELEGATION]),
    (rnn_cell_in_place, ["changed its argument 1 in place"]),
])
def test_rnn_cell_catalogue(fn, phrases):
    assert_short(fails(g.check_rnn_cell_forward, fn, *phrases))


def _bptt_with_autograd(x, h0, W_ih, W_hh, b_ih, b_hh, dh):
    ts = [torch.tensor(a, requires_grad=True) for a in (x, h0, W_ih, W_hh, b_ih, b_hh)]
    h, hs = ts[1], []
    for t in range(x.shape[0]):
        h = torch.tanh(ts[0][t] @ ts[2].T + ts[4] + h @ ts[3].T + ts[5])
        hs.append(h)
    (torch.stack(hs) * torch.tensor(dh)).sum().backward()
    return tuple(t.grad.numpy() for t in ts)


def _bptt_numerically(x, h0, W_ih, W_hh, b_ih, b_hh, dh):
    from labutils.gradcheck import numerical_gradient
    arrays = [x, h0, W_ih, W_hh, b_ih, b_hh]

    def loss():
        return np.sum(dh * g._rnn_forward(*arrays))
    return tuple(numerical_gradient(loss, a) for a in arrays)


def _bptt_raw_tanh(x, h0, W_ih, W_hh, b_ih, b_hh, dh):
    hs, h = [], h0
    for t in range(x.shape[0]):
        h = raw_tanh(x[t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        hs.append(h)
    return _bptt_from(hs, x, h0, W_ih, W_hh, b_ih, dh)


def _bptt_from(hs, x, h0, W_ih, W_hh, b_ih, dh):
    dx, dW_ih, dW_hh = np.zeros_like(x), np.zeros_like(W_ih), np.zeros_like(W_hh)
    db, carry = np.zeros_like(b_ih), np.zeros_like(h0)
    for t in range(x.shape[0] - 1, -1, -1):
        da = (dh[t] + carry) * (1 - hs[t] ** 2)
        dx[t] = da @ W_ih
        dW_ih += da.T @ x[t]
        dW_hh += da.T @ (hs[t - 1] if t else h0)
        db += da.sum(0)
        carry = da @ W_hh
    return dx, carry, dW_ih, dW_hh, db, db.copy()


def _bptt_mutates_dh(x, h0, W_ih, W_hh, b_ih, b_hh, dh):
    out = ref_bptt(x, h0, W_ih, W_hh, b_ih, b_hh, dh.copy())
    dh[:] = 0
    return out


@pytest.mark.parametrize("fn,phrases", [
    (g._bptt_variant(carry=False), ["collects two terms"]),
    (g._bptt_variant(deriv="previous"), ["the state this step produced"]),
    (g._bptt_variant(sum_params=False), ["sums over every time step"]),
    (g._bptt_variant(carry_T=True), ["through W_hh itself (not its transpose)"]),
    (g._bptt_variant(use_deriv=False), ["multiply by the tanh derivative"]),
    (g._bptt_variant(zero_h0=True), ["starts from the given h0, not from zeros"]),
    (_bptt_raw_tanh, ["[FAIL] 4 steps, half the units saturated", "contains NaN"]),
    (f32(ref_bptt), ["float32, not float64"]),
    (_bptt_with_autograd, ["(torch)", DELEGATION]),
    (_bptt_numerically, ["called numerical_gradient (labutils.gradcheck)", DELEGATION]),
    (_bptt_mutates_dh, ["changed its argument 6 in place"]),
    (lambda *a: ref_bptt(*a)[:5], ["expected 6 results"]),
])
def test_bptt_catalogue(fn, phrases):
    report = fails(g.check_rnn_bptt, fn, *phrases)
    assert_short(report)


@pytest.mark.parametrize("kw", [dict(carry=False), dict(carry_T=True), dict(use_deriv=False)])
def test_bptt_gradient_check_says_wrong(kw):
    report = fails(g.check_rnn_bptt, g._bptt_variant(**kw))
    assert "gradient check against central differences: wrong" in report or "other cases" in report


def _lstm_order(order):
    def fn(x, h, c, W_ih, W_hh, b_ih, b_hh):
        s = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
        blocks = dict(zip(order, np.split(s, 4, axis=1)))
        c2 = sig(blocks["f"]) * c + sig(blocks["i"]) * np.tanh(blocks["g"])
        return sig(blocks["o"]) * np.tanh(c2), c2
    return fn


def _lstm_with(sigmoid, tanh=np.tanh):
    def fn(x, h, c, W_ih, W_hh, b_ih, b_hh):
        s = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
        i, f, gg, o = np.split(s, 4, axis=1)
        c2 = sigmoid(f) * c + sigmoid(i) * tanh(gg)
        return sigmoid(o) * np.tanh(c2), c2
    return fn


def _lstm_with_torch(x, h, c, W_ih, W_hh, b_ih, b_hh):
    cell = torch.nn.LSTMCell(W_ih.shape[1], W_hh.shape[1]).double()
    cell.load_state_dict({"weight_ih": torch.tensor(W_ih), "weight_hh": torch.tensor(W_hh),
                          "bias_ih": torch.tensor(b_ih), "bias_hh": torch.tensor(b_hh)})
    h2, c2 = cell(torch.tensor(x), (torch.tensor(h), torch.tensor(c)))
    return h2.detach().numpy(), c2.detach().numpy()


def _lstm_with_labutils(x, h, c, W_ih, W_hh, b_ih, b_hh):
    cell = nn.LSTMCell(W_ih.shape[1], W_hh.shape[1])
    cell.load_state_dict({"weight_ih": W_ih, "weight_hh": W_hh, "bias_ih": b_ih, "bias_hh": b_hh})
    return cell(x, (h, c))


def _lstm_in_place(x, h, c, W_ih, W_hh, b_ih, b_hh):
    h2, c2 = ref_lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh)
    c *= 0
    c += c2
    return h2, c


@pytest.mark.parametrize("fn,phrases", [
    (_lstm_order("ifog"), ["not i, f, o, g"]),
    (_lstm_order("figo"), ["the input gate comes first"]),
    (g._lstm_variant(g_act=sig), ["the candidate g uses tanh"]),
    (g._lstm_variant(use_i=False), ["i times g"]),
    (g._lstm_variant(use_c=False), ["the term f times c is missing"]),
    (g._lstm_variant(out_tanh=False), ["squash the cell"]),
    (g._lstm_variant(new_c=False), ["new cell state"]),
    (lambda *a: ref_lstm_cell(*a)[::-1], ["return h' first"]),
    (lambda *a: ref_lstm_cell(*a)[0], ["expected 2 results"]),
    (_lstm_with(raw_sig), ["[FAIL] large pre-activations", "contains NaN", "e^s / (1 + e^s)"]),
    (_lstm_with(sig, raw_tanh), ["[FAIL] large pre-activations", "contains NaN", "NumPy's own tanh"]),
    (f32(ref_lstm_cell), ["float32, not float64"]),
    (f32_cast_back(ref_lstm_cell), ["[FAIL] two large biases that cancel", "computed in float32"]),
    (_lstm_with_torch, ["called LSTMCell (torch", DELEGATION]),
    (_lstm_with_labutils, ["(labutils.nn.rnn)", DELEGATION]),
    (_lstm_in_place, ["changed its argument 2 in place"]),
])
def test_lstm_cell_catalogue(fn, phrases):
    assert_short(fails(g.check_lstm_cell_forward, fn, *phrases))


def _gru_with_torch(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.gru_cell(*(torch.tensor(a) for a in (x, h, W_ih, W_hh, b_ih, b_hh))).numpy()


def _gru_in_place(x, h, W_ih, W_hh, b_ih, b_hh):
    out = ref_gru_cell(x, h, W_ih, W_hh, b_ih, b_hh)
    W_ih[...] = 0
    return out


@pytest.mark.parametrize("fn,phrases", [
    (g._gru_variant(z_keeps_old=False), ["keeps the old state"]),
    (g._gru_variant(reset_after=False), ["after the matrix product"]),
    (g._gru_variant(order="zrn"), ["order is r, z, n"]),
    (g._gru_variant(keep_h=False), ["the z times h term is missing"]),
    (g._gru_variant(sig=raw_sig), ["[FAIL] large pre-activations", "contains NaN", "e^s / (1 + e^s)"]),
    (f32(ref_gru_cell), ["float32, not float64"]),
    (f32_cast_back(ref_gru_cell), ["[FAIL] two large biases that cancel", "computed in float32"]),
    (_gru_with_torch, ["(torch)", DELEGATION]),
    (lambda *a: g._gru_cell_forward(*a), ["(labutils.nn.rnn)", DELEGATION]),
    (_gru_in_place, ["changed its argument 2 in place"]),
])
def test_gru_cell_catalogue(fn, phrases):
    assert_short(fails(g.check_gru_cell_forward, fn, *phrases))


def _clip_list_changed(grads, max_norm):
    out = ref_clip(grads, max_norm)
    grads[:] = out[0]                      # "update the gradients" in the caller's list
    return out


def _clip_arrays_changed(grads, max_norm):
    total = np.sqrt(sum((a * a).sum() for a in grads))
    for a in grads:
        a *= min(1.0, max_norm / (total + 1e-6))
    return grads, total


def _clip_with_torch(grads, max_norm):
    ts = [torch.tensor(a.copy()) for a in grads]
    for t in ts:
        t.grad = t.clone()
    total = torch.nn.utils.clip_grad_norm_(ts, max_norm)
    return [t.grad.numpy() for t in ts], float(total)


def _clip_no_eps_nan(grads, max_norm):
    total = np.sqrt(sum((a * a).sum() for a in grads))
    return [a * (max_norm / total) if total > max_norm or total == 0 else a for a in grads], total


@pytest.mark.parametrize("fn,phrases", [
    (gg._clip_variant("per_tensor"), ["global norm"]),
    (gg._clip_variant("no_eps"), ["total_norm + 1e-6"]),
    (gg._clip_variant("always"), ["only scale down"]),
    (gg._clip_variant("sum_of_norms"), ["not the sum of the norms"]),
    (gg._clip_variant("elementwise"), ["changes the direction"]),
    (gg._clip_variant("after"), ["before clipping"]),
    (gg._clip_variant("max_norm_1"), ["use the max_norm given"]),
    (_clip_no_eps_nan, ["all gradients zero", "contains nan"]),
    (lambda grads, m: ref_clip([a.astype(np.float32) for a in grads], m), ["float32, not float64"]),
    (_clip_with_torch, ["(torch)", DELEGATION]),
    (g.reference_clip_grad_norm, ["(labutils.references.rnn_gradients)", DELEGATION]),
    (lambda grads, m: g.reference_clip_grad_norm(grads, m), ["reference_clip_grad_norm", DELEGATION]),
    (_clip_list_changed, ["changed its argument 0 in place"]),
    (_clip_arrays_changed, ["changed its argument 0 in place"]),
    (lambda grads, m: grads, ["expected 2 results"]),
    (lambda grads, m: (ref_clip(grads, m)[0][:2], 1.0), ["expected a list of 3 clipped gradients"]),
])
def test_clip_catalogue(fn, phrases):
    assert_short(fails(g.check_clip_grad_norm, fn, *phrases))


@pytest.mark.parametrize("fn,phrases", [
    (lambda W, gm: bool(np.max(np.abs(np.linalg.eigvals(W))) > 1 / gm), ["spectral radius"]),
    (lambda W, gm: bool(np.sqrt(np.mean(np.linalg.svd(W, compute_uv=False) ** 2)) > 1 / gm),
     ["[FAIL] one large direction", "not an average of them"]),
    (lambda W, gm: bool(np.linalg.norm(W, "fro") / np.sqrt(len(W)) > 1 / gm), ["not an average"]),
    (lambda W, gm: bool(np.mean(np.linalg.svd(W, compute_uv=False)) > 1 / gm), ["not an average"]),
    (lambda W, gm: bool(np.linalg.norm(W, 2) > gm), ["not with γ"]),
    (lambda W, gm: bool(np.linalg.norm(W, 2) > 1), ["γ (the bound on the nonlinearity's derivative) matters"]),
    (lambda W, gm: bool(np.linalg.norm(W, 2) * gm >= 1), ["[FAIL] σ_max exactly 1/γ", "the condition is strict"]),
    (lambda W, gm: bool(np.linalg.norm(W) > 1 / gm), ["frobenius"]),
    (lambda W, gm: bool(np.max(np.abs(W)) > 1 / gm), ["largest entry"]),
    (lambda W, gm: np.linalg.norm(W, 2), ["expected true or false, got float64"]),
    (lambda W, gm: int(np.linalg.norm(W, 2) > 1 / gm), ["expected true or false, got int"]),
    (lambda W, gm: torch.linalg.matrix_norm(torch.tensor(W), 2).item() > 1 / gm, ["(torch)", DELEGATION]),
    (lambda W, gm: None, ["returned none"]),
])
def test_can_explode_catalogue(fn, phrases):
    assert_short(fails(g.check_can_explode, fn, *phrases))


def test_can_explode_mutation():
    def scales_in_place(W, gamma):
        W *= gamma
        return bool(np.linalg.norm(W, 2) > 1)
    fails(g.check_can_explode, scales_in_place, "changed its argument 0 in place")


# -- what any student function may do -----------------------------------------------------------
@pytest.mark.parametrize("check", [g.check_rnn_cell_forward, g.check_lstm_cell_forward,
                                   g.check_gru_cell_forward, g.check_rnn_bptt],
                         ids=lambda c: c.__name__)
def test_survives_anything(check):
    graderlib.assert_survives(check, CHECKS[check])


@pytest.mark.parametrize("check,none_phrase", [(g.check_clip_grad_norm, "returned none"),
                                               (g.check_can_explode, "returned none")],
                         ids=["clip", "explode"])
def test_survives_anything_scalar_checks(check, none_phrase):
    fails(check, graderlib.returns_none, none_phrase)
    fails(check, graderlib.raises, "raised IndexError")
    fails(check, graderlib.not_filled, "not filled in yet")
    out = fails(check, graderlib.spins, "did not finish within 0.2 s", "endless loop", time_limit_s=0.2)
    assert_short(out)
    fails(check, 42, "expected a function")
