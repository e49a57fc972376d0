"""Chapter 4's backward graders (grading.rnn_backward: the LSTM cell backward, truncated BPTT)
and the exploding condition's hidden test: right answers pass (with prints and a warning), the
float32 version fails, and a catalogue of wrong answers fails with the right diagnosis
(formula, unstable sigmoid, delegation to the library or torch, ignored argument, in-place
change, wrong type, what any code may do), in a short report."""
import numpy as np
import pytest
import torch

import labutils.nn as nn

from labutils.grading import rnn as g
from labutils.grading import rnn_gradients as gg
from labutils.grading import rnn_backward as gb

from . import graderlib
from .graderlib import assert_right_answers_pass, assert_short, fails, passes

DELEGATION = "this exercise asks for your own code"


def sig(v):
    return 1 / (1 + np.exp(-v))


# -- right answers, as a student would write them -----------------------------------------------
def lstm_cell_backward(x, h, c, W_ih, W_hh, b_ih, b_hh, dh_new, dc_new):
    H = h.shape[1]
    s = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    i, f, gg, o = sig(s[:, :H]), sig(s[:, H:2 * H]), np.tanh(s[:, 2 * H:3 * H]), sig(s[:, 3 * H:])
    tc = np.tanh(f * c + i * gg)
    dc = dc_new + dh_new * o * (1 - tc ** 2)
    ds = np.hstack([dc * gg * i * (1 - i), dc * c * f * (1 - f), dc * i * (1 - gg ** 2),
                    dh_new * tc * o * (1 - o)])
    return ds @ W_ih, ds @ W_hh, dc * f, ds.T @ x, ds.T @ h, ds.sum(0), ds.sum(0)


def rnn_bptt(x, h0, W_ih, W_hh, b_ih, b_hh, dh):
    hs, h = [], h0
    for t in range(x.shape[0]):
        h = np.tanh(x[t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        hs.append(h)
    dW_ih, dW_hh, db, carry = 0 * W_ih, 0 * W_hh, 0 * b_ih, 0 * h0
    for t in range(x.shape[0] - 1, -1, -1):
        da = (dh[t] + carry) * (1 - hs[t] ** 2)
        dW_ih, dW_hh = dW_ih + da.T @ x[t], dW_hh + da.T @ (hs[t - 1] if t else h0)
        db, carry = db + da.sum(0), da @ W_hh
    return None, carry, dW_ih, dW_hh, db, db.copy(), hs[-1]


def truncated_bptt(x, h0, W_ih, W_hh, b_ih, b_hh, dh, k):
    """The notebook's solution: each chunk's BPTT from the carried state."""
    h, total = h0, [0, 0, 0, 0]
    for start in range(0, x.shape[0], k):
        out = rnn_bptt(x[start:start + k], h, W_ih, W_hh, b_ih, b_hh, dh[start:start + k])
        total = [a + b for a, b in zip(total, out[2:6])]
        h = out[6]
    return (h, *total)


def test_right_answers_pass():
    assert_right_answers_pass(gb.check_lstm_cell_backward, lstm_cell_backward)
    assert_right_answers_pass(gb.check_truncated_bptt, truncated_bptt)


def test_hidden_tests_pass_and_say_so():
    for check, fn in [(gb.check_lstm_cell_backward, lstm_cell_backward),
                      (gb.check_truncated_bptt, truncated_bptt),
                      (g.check_can_explode, lambda W, gm: bool(np.linalg.norm(W, 2) > 1 / gm))]:
        assert "Hidden tests of" in passes(check, fn, hidden=True)


def test_hidden_cases_differ_from_the_visible_ones():
    assert gb._lstm_back_cases(6)[0][0] == gb._lstm_back_cases(106)[0][0]
    assert not np.array_equal(gb._lstm_back_cases(6)[0][1][0], gb._lstm_back_cases(106)[0][1][0])
    visible, hidden = gg._explode_cases(), gg._explode_cases(105)
    assert not np.array_equal(visible[0][1][0], hidden[0][1][0])
    assert [gg._can_explode(*a) for _, a in visible] == [gg._can_explode(*a) for _, a in hidden]


def test_the_exploding_cases_separate_sigma_max_from_its_square_and_the_rms():
    cases = [a for _, a in gg._explode_cases()]
    right = [gg._can_explode(*a) for a in cases]
    for hint in ("not σ_max²", "not an average"):
        wrong = next(f for h, f in gg._EXPLODE_MISTAKES.items() if hint in h)
        assert [wrong(*a) for a in cases] != right
    report = fails(g.check_can_explode, lambda W, gm: bool(np.linalg.norm(W, 2) ** 2 > 1 / gm),
                   "[FAIL] 3 × orthogonal", "not σ_max² or another power")
    assert_short(report)


# -- the LSTM backward's catalogue ---------------------------------------------------------------
def _lstm_back_with_autograd(x, h, c, W_ih, W_hh, b_ih, b_hh, dh_new, dc_new):
    ts = [torch.tensor(a, requires_grad=True) for a in (x, h, c, W_ih, W_hh, b_ih, b_hh)]
    cell = torch.nn.functional
    s = ts[0] @ ts[3].T + ts[5] + ts[1] @ ts[4].T + ts[6]
    i, f, gg, o = s.chunk(4, dim=1)
    c2 = cell.sigmoid(f) * ts[2] + cell.sigmoid(i) * torch.tanh(gg)
    h2 = cell.sigmoid(o) * torch.tanh(c2)
    ((h2 * torch.tensor(dh_new)).sum() + (c2 * torch.tensor(dc_new)).sum()).backward()
    return tuple(t.grad.numpy() for t in ts)


def _lstm_back_with_labutils(*args):
    return gb._lstm_cell_backward(*args)


def _lstm_back_mutates_dc(x, h, c, W_ih, W_hh, b_ih, b_hh, dh_new, dc_new):
    out = lstm_cell_backward(x, h, c, W_ih, W_hh, b_ih, b_hh, dh_new, dc_new.copy())
    dc_new *= 0
    return out


def _lstm_back_ignores_dc(x, h, c, W_ih, W_hh, b_ih, b_hh, dh_new, dc_new):
    return lstm_cell_backward(x, h, c, W_ih, W_hh, b_ih, b_hh, dh_new, 0 * dc_new)


_M = gb._lstm_back_mistakes()


def _mistake(words):
    return next(f for h, f in _M.items() if words in h)


@pytest.mark.parametrize("fn,phrases", [
    (_mistake("two parts"), ["has two parts"]),
    (_mistake("not 1 - c'²"), ["1 - tanh(c')²"]),
    (_mistake("through the forget gate"), ["dc = dc_total times f"]),
    (_mistake("not times c'"), ["dh' times tanh(c')"]),
    (_mistake("OLD cell"), ["multiplies the old cell c"]),
    (_mistake("only i, f, o"), ["derivative 1 - g²"]),
    (_mistake("i, f, g, o (also"), ["torch's gate order"]),
    (_mistake("overflows"), ["[FAIL] large pre-activations", "contains NaN"]),
    (_lstm_back_ignores_dc, ["[FAIL] batch of 3", "dc by central differences"]),
    (graderlib.float32(lstm_cell_backward), ["float32, not float64"]),
    (_lstm_back_with_autograd, ["(torch)", DELEGATION]),
    (_lstm_back_with_labutils, ["(labutils.nn.rnn)", DELEGATION]),
    (_lstm_back_mutates_dc, ["changed its argument 8 in place"]),
    (lambda *a: lstm_cell_backward(*a)[:6], ["expected 7 results"]),
    (lambda *a: list(lstm_cell_backward(*a)), None),
])
def test_lstm_backward_catalogue(fn, phrases):
    if phrases is None:                      # a list instead of a tuple is still right
        passes(gb.check_lstm_cell_backward, fn)
        return
    assert_short(fails(gb.check_lstm_cell_backward, fn, *phrases))


def test_lstm_backward_survives_anything():
    graderlib.assert_survives(gb.check_lstm_cell_backward, lstm_cell_backward)


# -- truncated BPTT's catalogue ------------------------------------------------------------------
def _tbptt_with_labutils(x, h0, W_ih, W_hh, b_ih, b_hh, dh, k):
    """Each chunk's gradients from the course's nn.RNN."""
    h, total = h0, [0, 0, 0, 0]
    for start in range(0, x.shape[0], k):
        m = nn.RNN(W_ih.shape[1], W_hh.shape[0])
        m.load_state_dict({"weight_ih_l0": W_ih, "weight_hh_l0": W_hh, "bias_ih_l0": b_ih,
                           "bias_hh_l0": b_hh})
        out, h_n = m(x[start:start + k], h[None])
        m.backward(dh[start:start + k], None)
        total = [a + m.grads[n] for a, n in zip(total, ["weight_ih_l0", "weight_hh_l0",
                                                         "bias_ih_l0", "bias_hh_l0"])]
        h = h_n[0]
    return (h, *total)


def _tbptt_mutates_h0(x, h0, W_ih, W_hh, b_ih, b_hh, dh, k):
    out = truncated_bptt(x, h0.copy(), W_ih, W_hh, b_ih, b_hh, dh, k)
    h0[...] = 0
    return out


@pytest.mark.parametrize("fn,phrases", [
    (gb._tbptt_variant(cut=False), ["cut the gradient at every chunk's start"]),
    (gb._tbptt_variant(carry_state=False), ["not from h0"]),
    (gb._tbptt_variant(carry_state=False, zero_start=True), ["not from zeros"]),
    (gb._tbptt_variant(keep_last=False), ["[FAIL] 7 steps in chunks of 3", "it still counts"]),
    (gb._tbptt_variant(sum_chunks=False), ["summed over all the chunks"]),
    (gb._tbptt_variant(size=1), ["chunks of exactly k steps"]),
    (gb._tbptt_variant(size=-1), ["chunks of exactly k steps"]),
    (lambda x, h0, *rest: truncated_bptt(x, h0, *rest[:-1], x.shape[0]),
     ["[pass] chunks longer than the sequence", "cut the gradient"]),     # k ignored
    (graderlib.float32(truncated_bptt), ["float32, not float64"]),
    (_tbptt_with_labutils, ["(labutils", DELEGATION]),
    (_tbptt_mutates_h0, ["changed its argument 1 in place"]),
    (lambda *a: truncated_bptt(*a)[1:], ["expected 5 results"]),
])
def test_truncated_bptt_catalogue(fn, phrases):
    assert_short(fails(gb.check_truncated_bptt, fn, *phrases))


def test_truncated_bptt_survives_anything():
    graderlib.assert_survives(gb.check_truncated_bptt, truncated_bptt)
