"""Autograder checks for chapter 4's backward exercises beyond the RNN's BPTT: the LSTM cell's
backward (a derivation, with a gradient check) and truncated BPTT. Same conventions and engine
as ``grading.rnn`` (torch's layouts, row vectors, float64; calls to ``labutils`` and torch are
forbidden; ``hidden=True`` draws other cases, from the class's seed under autograde).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..nn import rnn as steps
from .adapted import hidden_title, precision_hint, quiet
from .core import check_function, gradient_check
from .rnn import (_CANCEL, _SIG_RAW, _bptt_cases, _bptt_variant, _cell_cases, _limit, _rnn_forward,
                  _seed, _sig)

__all__ = ["check_lstm_cell_backward", "check_truncated_bptt"]

# -- 7. the LSTM cell backward ------------------------------------------------------------------

_LSTM_BACK_NAMES = ["dx", "dh", "dc", "dW_ih", "dW_hh", "db_ih", "db_hh"]


def _lstm_cell_backward(x: np.ndarray, h: np.ndarray, c: np.ndarray, W_ih: np.ndarray,
                        W_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray, dh_new: np.ndarray,
                        dc_new: np.ndarray) -> tuple[np.ndarray, ...]:
    _, cache = steps.lstm_step_forward(x, (h, c), W_ih, W_hh, b_ih, b_hh)
    g = steps.lstm_step_backward((dh_new, dc_new), cache)
    return (g.dx, g.dstate[0], g.dstate[1], g.dw_ih, g.dw_hh, g.db_ih, g.db_hh)


def _lstm_back_variant(tanh_path: bool = True, dc_keeps_f: bool = True, o_uses_tanh: bool = True,
                       f_uses_old_c: bool = True, g_deriv: str = "tanh",
                       sig: Callable[[np.ndarray], np.ndarray] = _sig, new_c_square: bool = False,
                       order: str = "ifgo") -> Callable[..., tuple[np.ndarray, ...]]:
    """An LSTM backward with one of the typical mistakes built in (for the hints)."""
    def back(x: np.ndarray, h: np.ndarray, c: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray,
             b_ih: np.ndarray, b_hh: np.ndarray, dh_new: np.ndarray,
             dc_new: np.ndarray) -> tuple[np.ndarray, ...]:
        H = h.shape[1]
        s = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
        blk = dict(zip(order, (s[:, k * H:(k + 1) * H] for k in range(4))))
        i, f, g, o = sig(blk["i"]), sig(blk["f"]), np.tanh(blk["g"]), sig(blk["o"])
        c_new = f * c + i * g
        tc = np.tanh(c_new)
        local = 1 - c_new * c_new if new_c_square else 1 - tc * tc
        dc = dc_new + (dh_new * o * local if tanh_path else 0)
        dg_pre = dc * i * ((1 - g * g) if g_deriv == "tanh" else g * (1 - g))
        parts = {"i": dc * g * i * (1 - i), "f": dc * (c if f_uses_old_c else c_new) * f * (1 - f),
                 "g": dg_pre, "o": dh_new * (tc if o_uses_tanh else c_new) * o * (1 - o)}
        ds = np.concatenate([parts[k] for k in order], axis=1)
        return (ds @ W_ih, ds @ W_hh, dc * f if dc_keeps_f else dc, ds.T @ x, ds.T @ h,
                ds.sum(0), ds.sum(0))
    return back


def _lstm_back_cases(seed: int) -> list[tuple[str, tuple[np.ndarray, ...]]]:
    r = np.random.default_rng(seed + 1000)
    return [(label, (*args, r.standard_normal(args[1].shape), r.standard_normal(args[1].shape)))
            for label, args in _cell_cases(seed, 4, lstm=True)]


def _lstm_back_mistakes() -> dict[str, Callable[..., tuple[np.ndarray, ...]]]:
    return {
        "the gradient reaching c' has two parts: dc' from the next step, and what h' = o tanh(c') "
        "sends (dh' times o times the tanh derivative at c')": _lstm_back_variant(tanh_path=False),
        "the tanh derivative at c' is 1 - tanh(c')², not 1 - c'²": _lstm_back_variant(
            new_c_square=True),
        "the old cell reaches the new one through the forget gate: dc = dc_total times f":
            _lstm_back_variant(dc_keeps_f=False),
        "h' = o tanh(c'): the output gate's gradient is dh' times tanh(c'), not times c'":
            _lstm_back_variant(o_uses_tanh=False),
        "the forget gate multiplies the OLD cell c: its gradient is dc_total times c, not c'":
            _lstm_back_variant(f_uses_old_c=False),
        "the candidate g goes through tanh (derivative 1 - g²); only i, f, o are sigmoids":
            _lstm_back_variant(g_deriv="sigmoid"),
        "torch's gate order is i, f, g, o (also for the stacked gradient of the pre-activations)":
            _lstm_back_variant(order="ifog"),
        _SIG_RAW: _lstm_back_variant(sig=_raw),
    }


def _raw(v: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return np.exp(v) / (1 + np.exp(v))


def check_lstm_cell_backward(lstm_cell_backward: Callable[..., Any], seed: int = 6,
                             time_limit_s: float | None = None, hidden: bool = False) -> None:
    """lstm_cell_backward(x (N, H_in), h (N, H), c (N, H), W_ih (4H, H_in), W_hh (4H, H), b_ih,
    b_hh, dh_new (N, H), dc_new (N, H)) -> (dx, dh, dc, dW_ih, dW_hh, db_ih, db_hh), where
    dh_new, dc_new are dL/dh', dL/dc' from the rest of the network (gates i, f, g, o)."""
    cases = _lstm_back_cases(_seed(seed, hidden))
    limit = _limit(time_limit_s)
    report = check_function(lstm_cell_backward, _lstm_cell_backward, cases,
                            names=_LSTM_BACK_NAMES, finish=False, time_limit_s=limit,
                            title=hidden_title(lstm_cell_backward, hidden),
                            mistakes=quiet(_lstm_back_mistakes()))
    precision_hint(report, _CANCEL)
    *arrays, dh_new, dc_new = cases[0][1]

    def loss() -> float:
        h2, c2 = steps.lstm_step_forward(arrays[0], (arrays[1], arrays[2]), *arrays[3:])[0]
        return np.sum(dh_new * h2) + np.sum(dc_new * c2)
    # dx, dh, dc, dW_ih, dW_hh, db_ih, db_hh: one per input array, in the inputs' order
    gradient_check(report, lstm_cell_backward, cases[0][1], loss, arrays, _LSTM_BACK_NAMES,
                   time_limit_s=limit)
    report.finish()


# -- 8. truncated BPTT ---------------------------------------------------------------------------

_TBPTT_NAMES = ["h_T", "dW_ih", "dW_hh", "db_ih", "db_hh"]


def _tbptt_variant(carry_state: bool = True, cut: bool = True, zero_start: bool = False,
                   keep_last: bool = True, sum_chunks: bool = True,
                   size: int = 0) -> Callable[..., tuple[np.ndarray, ...]]:
    """Truncated BPTT, right or with one of the typical mistakes built in (NumPy only)."""
    bptt = _bptt_variant()

    def tbptt(x: np.ndarray, h0: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray,
              b_ih: np.ndarray, b_hh: np.ndarray, dh: np.ndarray,
              k: int) -> tuple[np.ndarray, ...]:
        T, k2 = x.shape[0], max(1, k + size)
        if not cut:
            k2 = T
        h, total = h0, None
        for start in range(0, T, k2):
            stop = min(start + k2, T)
            if not keep_last and stop - start < k2:
                break
            h_in = h if carry_state else (np.zeros_like(h0) if zero_start else h0)
            grads = bptt(x[start:stop], h_in, W_ih, W_hh, b_ih, b_hh, dh[start:stop])[2:]
            h = _rnn_forward(x[start:stop], h_in, W_ih, W_hh, b_ih, b_hh)[-1]
            total = grads if total is None or not sum_chunks else [a + b for a, b in
                                                                   zip(total, grads)]
        return (h, *total)
    return tbptt


_truncated_bptt = _tbptt_variant()


def _tbptt_cases(seed: int) -> list[tuple[str, tuple[np.ndarray | int, ...]]]:
    r = np.random.default_rng(seed)
    base = _bptt_cases(seed)
    ks = [2, 1, 3, 2]
    cases = [(f"{label}, chunks of {k}", (*args, k)) for (label, args), k in zip(base, ks)]
    T, n, d, h = 7, 2, 3, 4
    cases.append(("7 steps in chunks of 3 (the last chunk is shorter)",
                  (r.standard_normal((T, n, d)), r.standard_normal((n, h)),
                   r.standard_normal((h, d)) / np.sqrt(d), r.standard_normal((h, h)) / np.sqrt(h),
                   0.3 * r.standard_normal(h), 0.3 * r.standard_normal(h),
                   r.standard_normal((T, n, h)), 3)))
    full = cases[0][1]
    cases.append(("chunks longer than the sequence: plain BPTT", (*full[:-1], 10)))
    return cases


def check_truncated_bptt(truncated_bptt: Callable[..., Any], seed: int = 7,
                         time_limit_s: float | None = None, hidden: bool = False) -> None:
    """truncated_bptt(x (T, N, H_in), h0 (N, H), W_ih, W_hh, b_ih, b_hh, dh (T, N, H), k)
    -> (h_T, dW_ih, dW_hh, db_ih, db_hh): the sequence is read in chunks of k steps (the last
    may be shorter); the state is carried from chunk to chunk, the gradient is not (each
    chunk's BPTT treats the state it starts from as a constant); the parameter gradients are
    summed over the chunks, and h_T is the state after the last step."""
    check_function(truncated_bptt, _truncated_bptt, _tbptt_cases(_seed(seed, hidden)),
                   names=_TBPTT_NAMES, time_limit_s=_limit(time_limit_s),
                   title=hidden_title(truncated_bptt, hidden), mistakes=quiet({
        "cut the gradient at every chunk's start: no gradient crosses from one chunk into the "
        "one before (here it flows through the whole sequence)": _tbptt_variant(cut=False),
        "carry the STATE from chunk to chunk: each chunk starts from the state the previous "
        "chunk ended in, not from h0": _tbptt_variant(carry_state=False),
        "carry the state from chunk to chunk: each chunk starts from the state the previous "
        "chunk ended in, not from zeros": _tbptt_variant(carry_state=False, zero_start=True),
        "the last chunk may be shorter than k: it still counts": _tbptt_variant(keep_last=False),
        "the parameter gradients are summed over ALL the chunks, not the last one's":
            _tbptt_variant(sum_chunks=False),
        "chunks of exactly k steps (steps 0..k-1, then k..2k-1, ...), not k + 1":
            _tbptt_variant(size=1),
        "chunks of exactly k steps (steps 0..k-1, then k..2k-1, ...), not k - 1":
            _tbptt_variant(size=-1),
    }))
