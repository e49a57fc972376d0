"""Autograder check for chapter 4's bidirectional layer: how torch assembles ``output`` and
``h_n`` from the two directions of one tanh RNN layer. Same engine and conventions as
``grading.rnn`` (calls to ``labutils`` and torch are forbidden; ``hidden=True`` draws other
cases, from the class's seed under autograde).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import nn
from .adapted import hidden_title, quiet
from .core import check_function
from .rnn import _limit, _rnn_forward, _seed

__all__ = ["check_bidirectional_rnn"]


def _bidirectional_rnn(x: np.ndarray, h0: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray,
                       b_ih: np.ndarray, b_hh: np.ndarray, W_ih_r: np.ndarray,
                       W_hh_r: np.ndarray, b_ih_r: np.ndarray,
                       b_hh_r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = nn.RNN(W_ih.shape[1], W_hh.shape[1], bidirectional=True)
    m.load_state_dict({"weight_ih_l0": W_ih, "weight_hh_l0": W_hh, "bias_ih_l0": b_ih,
                       "bias_hh_l0": b_hh, "weight_ih_l0_reverse": W_ih_r,
                       "weight_hh_l0_reverse": W_hh_r, "bias_ih_l0_reverse": b_ih_r,
                       "bias_hh_l0_reverse": b_hh_r})
    return m(x, h0)


def _bidir_variant(flip_back: bool = True, h_n_first: bool = True, forward_first: bool = True,
                   reverse: bool = True, own_weights: bool = True,
                   own_h0: bool = True) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """A bidirectional layer with one of the typical mistakes built in (NumPy only)."""
    def bidir(x: np.ndarray, h0: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray,
              b_ih: np.ndarray, b_hh: np.ndarray, W_ih_r: np.ndarray, W_hh_r: np.ndarray,
              b_ih_r: np.ndarray, b_hh_r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fwd = _rnn_forward(x, h0[0], W_ih, W_hh, b_ih, b_hh)
        w_r = (W_ih_r, W_hh_r, b_ih_r, b_hh_r) if own_weights else (W_ih, W_hh, b_ih, b_hh)
        rev_in = x[::-1] if reverse else x
        rev = _rnn_forward(rev_in, h0[1] if own_h0 else h0[0], *w_r)
        rev_out = rev[::-1] if (flip_back and reverse) else rev
        out = np.concatenate([fwd, rev_out] if forward_first else [rev_out, fwd], axis=-1)
        h_rev = rev[-1] if h_n_first else rev_out[-1]
        return out, np.stack([fwd[-1], h_rev])
    return bidir


def _bidir_cases(seed: int) -> list[tuple[str, tuple[np.ndarray, ...]]]:
    r = np.random.default_rng(seed)
    cases = []
    for label, (L, n, d, h) in [("5 steps, batch of 2, 3 -> 4 features", (5, 2, 3, 4)),
                                ("1 step", (1, 3, 2, 3)), ("6 steps, batch of 1", (6, 1, 2, 2))]:
        weights = []
        for _ in range(2):
            weights += [r.standard_normal((h, d)) / np.sqrt(d), r.standard_normal((h, h)) / np.sqrt(h),
                        0.3 * r.standard_normal(h), 0.3 * r.standard_normal(h)]
        cases.append((label, (r.standard_normal((L, n, d)), r.standard_normal((2, n, h)),
                              *weights)))
    return cases


def check_bidirectional_rnn(bidirectional_rnn: Callable[..., Any], seed: int = 8,
                            time_limit_s: float | None = None, hidden: bool = False) -> None:
    """bidirectional_rnn(x (L, N, H_in), h0 (2, N, H), W_ih, W_hh, b_ih, b_hh, W_ih_r, W_hh_r,
    b_ih_r, b_hh_r) -> (output (L, N, 2H), h_n (2, N, H)), as torch.nn.RNN(bidirectional=True)
    with one layer: the forward direction reads t = 0 ... L-1 from h0[0], the reverse direction
    t = L-1 ... 0 from h0[1] with its own weights."""
    check_function(bidirectional_rnn, _bidirectional_rnn, _bidir_cases(_seed(seed, hidden)),
                   names=["output", "h_n"], time_limit_s=_limit(time_limit_s),
                   title=hidden_title(bidirectional_rnn, hidden), mistakes=quiet({
        "the reverse direction's outputs go back in time order: output[t] holds both "
        "directions' states at position t": _bidir_variant(flip_back=False),
        "the reverse direction ends at t = 0: its final state in h_n is the one it reached "
        "there, not the one at position L - 1": _bidir_variant(h_n_first=False),
        "the forward direction's half comes first in output, then the reverse one's":
            _bidir_variant(forward_first=False),
        "the reverse direction reads the sequence backwards, from t = L - 1 down to 0":
            _bidir_variant(reverse=False),
        "the reverse direction has its own weights (the _reverse ones)":
            _bidir_variant(own_weights=False),
        "the reverse direction starts from its own initial state, h0[1]":
            _bidir_variant(own_h0=False),
    }))
