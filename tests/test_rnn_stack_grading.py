"""Chapter 4's bidirectional-layer grader (grading.rnn_stack): the right answer passes (with
prints and a warning), its float32 version fails, and each typical mistake about torch's
bidirectional layout fails with its diagnosis, as does delegation and an in-place change."""
import numpy as np
import pytest
import torch

from labutils.grading import rnn_stack as gs

from . import graderlib
from .graderlib import assert_right_answers_pass, assert_short, fails, passes

DELEGATION = "this exercise asks for your own code"


def _run(xs, h, W_ih, W_hh, b_ih, b_hh):
    out = []
    for t in range(xs.shape[0]):
        h = np.tanh(xs[t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        out.append(h)
    return np.stack(out)


def bidirectional_rnn(x, h0, W_ih, W_hh, b_ih, b_hh, W_ih_r, W_hh_r, b_ih_r, b_hh_r):
    f = _run(x, h0[0], W_ih, W_hh, b_ih, b_hh)
    r = _run(x[::-1], h0[1], W_ih_r, W_hh_r, b_ih_r, b_hh_r)
    return np.concatenate([f, r[::-1]], axis=-1), np.stack([f[-1], r[-1]])


def test_right_answers_pass():
    assert_right_answers_pass(gs.check_bidirectional_rnn, bidirectional_rnn)
    assert "Hidden tests of" in passes(gs.check_bidirectional_rnn, bidirectional_rnn, hidden=True)
    passes(gs.check_bidirectional_rnn, lambda *a: list(bidirectional_rnn(*a)))


def _with_torch(x, h0, *w):
    m = torch.nn.RNN(x.shape[2], h0.shape[2], bidirectional=True, dtype=torch.float64)
    names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    m.load_state_dict({**{n: torch.tensor(a) for n, a in zip(names, w[:4])},
                       **{n + "_reverse": torch.tensor(a) for n, a in zip(names, w[4:])}})
    out, h_n = m(torch.tensor(x), torch.tensor(h0))
    return out.detach().numpy(), h_n.detach().numpy()


def _mutates_x(x, *rest):
    out = bidirectional_rnn(x.copy(), *rest)
    x[...] = 0
    return out


@pytest.mark.parametrize("fn,phrases", [
    (gs._bidir_variant(flip_back=False), ["[pass] 1 step", "go back in time order"]),
    (gs._bidir_variant(h_n_first=False), ["ends at t = 0"]),
    (gs._bidir_variant(forward_first=False), ["forward direction's half comes first"]),
    (gs._bidir_variant(reverse=False), ["reads the sequence backwards"]),
    (gs._bidir_variant(own_weights=False), ["its own weights"]),
    (gs._bidir_variant(own_h0=False), ["its own initial state, h0[1]"]),
    (graderlib.float32(bidirectional_rnn), ["float32, not float64"]),
    (_with_torch, ["(torch.nn", DELEGATION]),
    (lambda *a: gs._bidirectional_rnn(*a), ["(labutils", DELEGATION]),
    (_mutates_x, ["changed its argument 0 in place"]),
    (lambda *a: bidirectional_rnn(*a)[0], ["expected 2 results"]),
])
def test_bidirectional_catalogue(fn, phrases):
    assert_short(fails(gs.check_bidirectional_rnn, fn, *phrases))


def test_bidirectional_survives_anything():
    graderlib.assert_survives(gs.check_bidirectional_rnn, bidirectional_rnn)
