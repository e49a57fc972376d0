"""Autograder checks for chapter 4 (recurrent networks). Each takes the student's function;
``time_limit_s`` (default: the course's GRADER_TIME_LIMIT) bounds the whole exercise,
``seed`` picks other random cases, and ``hidden=True`` (the hidden-test cell) runs other random
cases than the visible check, under the title "Hidden tests of ...".

Conventions the checks use (torch's): row vectors, x (N, H_in) and h (N, H); weights
W_ih (G H, H_in) and W_hh (G H, H) with the gate blocks stacked along rows (LSTM i, f, g, o;
GRU r, z, n); both biases b_ih and b_hh.

What every check catches besides wrong values (see ``core``): calls to the course's
references (``labutils``: ``nn.RNNCell``, ``nn.LSTMCell``, ``nn.RNN`` ... and the published
``reference_clip_grad_norm``), torch and its autograd, float32 answers, changes made in place
to an argument (arrays and the list of gradients), NaN and inf. The cell cases include a
"large pre-activation" case (a third of the units pushed to +800) on which tanh or the sigmoid
written with raw exponentials overflows to inf/inf, and a case with two large biases that
cancel, on which an answer computed in float32 and cast back loses its digits.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import nn, tolerances
from .adapted import hidden_title, precision_hint, quiet
from .core import check_function, gradient_check
from .hidden import seed as hidden_seed

__all__ = ["check_rnn_cell_forward", "check_rnn_bptt", "check_lstm_cell_forward",
           "check_gru_cell_forward", "check_clip_grad_norm", "check_can_explode",
           "reference_clip_grad_norm"]


def _limit(t: float | None) -> float:
    return tolerances.GRADER_TIME_LIMIT if t is None else t


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _seed(seed: int, hidden: bool) -> int:
    """hidden=True (the hidden-test cell): other random cases than the visible check's, the
    class's own under autograde (hidden.seed)."""
    return hidden_seed(seed + 100) if hidden else seed


def _sig(v: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-v))


def _raw_sig(v: np.ndarray) -> np.ndarray:
    """The sigmoid written e^v / (1 + e^v): inf/inf = NaN for v > 709."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.exp(v) / (1 + np.exp(v))


def _raw_tanh(v: np.ndarray) -> np.ndarray:
    """tanh written with exponentials: inf/inf = NaN for |v| > 709."""
    with np.errstate(over="ignore", invalid="ignore"):
        return (np.exp(v) - np.exp(-v)) / (np.exp(v) + np.exp(-v))


def _cell(cls: type[nn.RNNCell | nn.LSTMCell | nn.GRUCell], W_ih: np.ndarray,
          W_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray,
          **kw: Any) -> nn.RNNCell | nn.LSTMCell | nn.GRUCell:
    """A labutils cell holding the given parameters (the reference)."""
    m = cls(W_ih.shape[1], W_hh.shape[1], **kw)
    m.load_state_dict({"weight_ih": W_ih, "weight_hh": W_hh, "bias_ih": b_ih, "bias_hh": b_hh})
    return m


_CANCEL = "two large biases that cancel (+500 and -500)"


def _cell_cases(seed: int, gates: int,
                lstm: bool = False) -> list[tuple[str, tuple[np.ndarray, ...]]]:
    """(label, args) with args (x, h, [c,] W_ih, W_hh, b_ih, b_hh)."""
    r = _rng(seed)
    cases = []
    for label, (n, d, h) in [("batch of 3, 4 -> 5 features", (3, 4, 5)), ("batch of 1", (1, 3, 2)),
                             ("square weights (4 -> 4)", (2, 4, 4)),
                             ("large pre-activations (a third of the units near +800)", (3, 3, 4)),
                             (_CANCEL, (2, 3, 4))]:
        args = [r.standard_normal((n, d)), r.standard_normal((n, h))]
        if lstm:
            args.append(r.standard_normal((n, h)))
        b_ih, b_hh = 0.5 * r.standard_normal(gates * h), 0.5 * r.standard_normal(gates * h)
        if label.startswith("large"):
            b_ih = b_ih + 800.0 * (np.arange(gates * h) % 3 == 0)   # positive only: no overflow
        elif label.startswith("two large"):                      # in a stable sigmoid
            b_ih, b_hh = b_ih + 500.0, b_hh - 500.0
        args += [r.standard_normal((gates * h, d)) / np.sqrt(d),
                 r.standard_normal((gates * h, h)) / np.sqrt(h), b_ih, b_hh]
        cases.append((label, tuple(args)))
    return cases


_TANH_RAW = ("tanh written with exponentials overflows for large pre-activations (inf/inf "
             "gives NaN): use NumPy's own tanh")
_SIG_RAW = ("the sigmoid written as e^s / (1 + e^s) overflows for large positive s (inf/inf "
            "gives NaN): write it so that no exponential of a large positive number is taken")


# -- 1. the RNN cell forward -------------------------------------------------------------------

def _rnn_cell_forward(x: np.ndarray, h: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray,
                      b_ih: np.ndarray, b_hh: np.ndarray) -> np.ndarray:
    return _cell(nn.RNNCell, W_ih, W_hh, b_ih, b_hh)(x, h)


def _rnn_cell_mistakes() -> dict[str, Callable[..., np.ndarray]]:
    return {
        "the weights are stored (out, in), as in torch: multiply x and h by their transposes":
            lambda x, h, Wi, Wh, bi, bh: np.tanh(x @ Wi + bi + h @ Wh + bh),
        "torch's RNN cell adds two biases, b_ih and b_hh: one of them is missing":
            lambda x, h, Wi, Wh, bi, bh: np.tanh(x @ Wi.T + bi + h @ Wh.T),
        "the nonlinearity is tanh (torch's default), not the sigmoid":
            lambda x, h, Wi, Wh, bi, bh: _sig(x @ Wi.T + bi + h @ Wh.T + bh),
        "tanh is missing: apply it to the whole pre-activation (both products and both biases)":
            lambda x, h, Wi, Wh, bi, bh: x @ Wi.T + bi + h @ Wh.T + bh,
        "the new state ignores the previous state h: it enters through W_hh":
            lambda x, h, Wi, Wh, bi, bh: np.tanh(x @ Wi.T + bi + bh),
        _TANH_RAW: lambda x, h, Wi, Wh, bi, bh: _raw_tanh(x @ Wi.T + bi + h @ Wh.T + bh),
    }


def check_rnn_cell_forward(rnn_cell_forward: Callable[..., Any], seed: int = 0,
                           time_limit_s: float | None = None, hidden: bool = False) -> None:
    """rnn_cell_forward(x (N, H_in), h (N, H), W_ih (H, H_in), W_hh (H, H), b_ih, b_hh)
    -> h' (N, H)."""
    report = check_function(rnn_cell_forward, _rnn_cell_forward,
                            _cell_cases(_seed(seed, hidden), 1), finish=False,
                            time_limit_s=_limit(time_limit_s),
                            title=hidden_title(rnn_cell_forward, hidden),
                            mistakes=quiet(_rnn_cell_mistakes()))
    precision_hint(report, _CANCEL)
    report.finish()


# -- 2. BPTT for the vanilla RNN (with a gradient check) -----------------------------------------

def _rnn_forward(x: np.ndarray, h0: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray,
                 b_ih: np.ndarray, b_hh: np.ndarray) -> np.ndarray:
    hs, h = [], h0
    for t in range(x.shape[0]):
        h = np.tanh(x[t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        hs.append(h)
    return np.stack(hs)


def _rnn_bptt(x: np.ndarray, h0: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray,
              b_ih: np.ndarray, b_hh: np.ndarray, dh: np.ndarray) -> tuple[np.ndarray, ...]:
    m = nn.RNN(W_ih.shape[1], W_hh.shape[1])
    m.load_state_dict({"weight_ih_l0": W_ih, "weight_hh_l0": W_hh, "bias_ih_l0": b_ih,
                       "bias_hh_l0": b_hh})
    m(x, h0[None])
    dx, dh0 = m.backward(dh, None)
    g = m.grads
    return (dx, dh0[0], g["weight_ih_l0"].copy(), g["weight_hh_l0"].copy(),
            g["bias_ih_l0"].copy(), g["bias_hh_l0"].copy())


def _bptt_variant(carry: bool = True, deriv: str = "own", sum_params: bool = True,
                  carry_T: bool = False, use_deriv: bool = True,
                  zero_h0: bool = False) -> Callable[..., tuple[np.ndarray, ...]]:
    """A BPTT with one of the typical mistakes built in (for the hints)."""
    def bptt(x: np.ndarray, h0: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray,
             b_ih: np.ndarray, b_hh: np.ndarray, dh: np.ndarray) -> tuple[np.ndarray, ...]:
        h0 = np.zeros_like(h0) if zero_h0 else h0
        hs = _rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh)
        prev = np.concatenate([h0[None], hs[:-1]])
        T = x.shape[0]
        dx, dW_ih, dW_hh = np.zeros_like(x), np.zeros_like(W_ih), np.zeros_like(W_hh)
        db, dnext = np.zeros_like(b_ih), np.zeros_like(h0)
        for t in range(T - 1, -1, -1):
            g = dh[t] + (dnext if carry else 0)
            local = 1 - (hs[t] if deriv == "own" else prev[t]) ** 2
            da = g * local if use_deriv else g
            dx[t] = da @ W_ih
            if sum_params or t == T - 1:
                dW_ih += da.T @ x[t]
                dW_hh += da.T @ prev[t]
                db += da.sum(0)
            dnext = da @ (W_hh.T if carry_T else W_hh)
        return dx, dnext, dW_ih, dW_hh, db, db.copy()
    return bptt


def _bptt_cases(seed: int) -> list[tuple[str, tuple[np.ndarray, ...]]]:
    r = _rng(seed)
    cases = []
    for label, (T, n, d, h) in [("5 steps, batch of 2, 3 -> 4 features", (5, 2, 3, 4)),
                                ("1 step (no recurrence yet)", (1, 3, 2, 3)),
                                ("8 steps, batch of 1", (8, 1, 2, 3)),
                                ("4 steps, half the units saturated (bias +800)", (4, 2, 3, 4))]:
        b_ih = 0.3 * r.standard_normal(h)
        if "saturated" in label:
            b_ih = b_ih + 800.0 * (np.arange(h) % 2)
        cases.append((label, (r.standard_normal((T, n, d)), r.standard_normal((n, h)),
                              r.standard_normal((h, d)) / np.sqrt(d),
                              r.standard_normal((h, h)) / np.sqrt(h),
                              b_ih, 0.3 * r.standard_normal(h),
                              r.standard_normal((T, n, h)))))
    return cases


_BPTT_NAMES = ["dx", "dh0", "dW_ih", "dW_hh", "db_ih", "db_hh"]


def check_rnn_bptt(rnn_bptt: Callable[..., Any], seed: int = 1,
                   time_limit_s: float | None = None, hidden: bool = False) -> None:
    """rnn_bptt(x (T, N, H_in), h0 (N, H), W_ih, W_hh, b_ih, b_hh, dh (T, N, H))
    -> (dx, dh0, dW_ih, dW_hh, db_ih, db_hh), where dh[t] = dL/dh_{t+1} is what the loss sends
    to the state after step t directly (h_1 ... h_T are the states after each step)."""
    cases = _bptt_cases(_seed(seed, hidden))
    limit = _limit(time_limit_s)
    report = check_function(rnn_bptt, _rnn_bptt, cases, names=_BPTT_NAMES, finish=False,
                            title=hidden_title(rnn_bptt, hidden),
                            time_limit_s=limit, mistakes=quiet({
        "the gradient reaching h_t collects two terms: what the output sends (dh[t]) and what "
        "step t+1 sends back through W_hh": _bptt_variant(carry=False),
        "the tanh derivative at step t uses the state this step produced, h_t, not the "
        "previous state h_(t-1)": _bptt_variant(deriv="previous"),
        "parameter gradients are sums over every time step, not the last step's term":
            _bptt_variant(sum_params=False),
        "the forward multiplies the state by the transpose of W_hh, so the gradient goes back "
        "through W_hh itself (not its transpose)": _bptt_variant(carry_T=True),
        "multiply by the tanh derivative (one minus the square of the new state) before going "
        "through the weights": _bptt_variant(use_deriv=False),
        "the forward pass starts from the given h0, not from zeros": _bptt_variant(zero_h0=True),
    }))
    # The gradient check proper: the student's gradients against central differences of
    # L = Σ_t <dh[t], h_t>, whose gradient w.r.t. the states is dh.
    *arrays, dh = cases[0][1]
    gradient_check(report, rnn_bptt, cases[0][1], lambda: np.sum(dh * _rnn_forward(*arrays)),
                   arrays, _BPTT_NAMES, time_limit_s=limit)
    report.finish()


# -- 3. the LSTM cell forward, torch's gate order -------------------------------------------------

def _lstm_cell_forward(x: np.ndarray, h: np.ndarray, c: np.ndarray, W_ih: np.ndarray,
                       W_hh: np.ndarray, b_ih: np.ndarray,
                       b_hh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _cell(nn.LSTMCell, W_ih, W_hh, b_ih, b_hh)(x, (h, c))


def _lstm_variant(order: str = "ifgo", g_act: Callable[[np.ndarray], np.ndarray] = np.tanh,
                  use_i: bool = True, out_tanh: bool = True, new_c: bool = True,
                  use_c: bool = True, sig: Callable[[np.ndarray], np.ndarray] = _sig,
                  swap_out: bool = False) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    def lstm(x: np.ndarray, h: np.ndarray, c: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray,
             b_ih: np.ndarray, b_hh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
        H = h.shape[1]
        blocks = dict(zip(order, (s[:, k * H:(k + 1) * H] for k in range(4))))
        i, f, o, g = sig(blocks["i"]), sig(blocks["f"]), sig(blocks["o"]), g_act(blocks["g"])
        c_new = f * (c if use_c else 0) + (i * g if use_i else g)
        cc = c_new if new_c else c
        h_new = o * (np.tanh(cc) if out_tanh else cc)
        return (c_new, h_new) if swap_out else (h_new, c_new)
    return lstm


def check_lstm_cell_forward(lstm_cell_forward: Callable[..., Any], seed: int = 2,
                            time_limit_s: float | None = None, hidden: bool = False) -> None:
    """lstm_cell_forward(x (N, H_in), h (N, H), c (N, H), W_ih (4H, H_in), W_hh (4H, H), b_ih, b_hh)
    -> (h', c'), gates in torch's order i, f, g, o."""
    report = check_function(
        lstm_cell_forward, _lstm_cell_forward, _cell_cases(_seed(seed, hidden), 4, lstm=True),
        names=["h'", "c'"], finish=False,
                   time_limit_s=_limit(time_limit_s), title=hidden_title(lstm_cell_forward, hidden),
                   mistakes=quiet({
        "torch's gate order is i, f, g, o (input, forget, cell candidate, output), not i, f, o, g":
            _lstm_variant(order="ifog"),
        "torch's gate order is i, f, g, o: the input gate comes first, then the forget gate":
            _lstm_variant(order="figo"),
        "the candidate g uses tanh (values in [-1, 1]), the three gates the sigmoid":
            _lstm_variant(g_act=_sig),
        "the input gate scales the candidate: the new cell adds i times g, not g alone":
            _lstm_variant(use_i=False),
        "the new cell keeps the old one, scaled by the forget gate: the term f times c is missing":
            _lstm_variant(use_c=False),
        "h' is the output gate times tanh of the cell: squash the cell before the output gate":
            _lstm_variant(out_tanh=False),
        "h' uses the NEW cell state c', not the previous c": _lstm_variant(new_c=False),
        "return h' first, then c'": _lstm_variant(swap_out=True),
        _SIG_RAW: _lstm_variant(sig=_raw_sig),
        _TANH_RAW: _lstm_variant(g_act=_raw_tanh),
    }))
    precision_hint(report, _CANCEL)
    report.finish()


# -- 4. the GRU cell forward, torch's conventions --------------------------------------------

def _gru_cell_forward(x: np.ndarray, h: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray,
                      b_ih: np.ndarray, b_hh: np.ndarray) -> np.ndarray:
    return _cell(nn.GRUCell, W_ih, W_hh, b_ih, b_hh)(x, h)


def _gru_variant(z_keeps_old: bool = True, reset_after: bool = True, order: str = "rzn",
                 sig: Callable[[np.ndarray], np.ndarray] = _sig,
                 keep_h: bool = True) -> Callable[..., np.ndarray]:
    def gru(x: np.ndarray, h: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray,
            b_ih: np.ndarray, b_hh: np.ndarray) -> np.ndarray:
        H = h.shape[1]
        gi, gh = x @ W_ih.T + b_ih, h @ W_hh.T + b_hh
        sl = {k: slice(j * H, (j + 1) * H) for j, k in enumerate(order)}
        r = sig(gi[:, sl["r"]] + gh[:, sl["r"]])
        z = sig(gi[:, sl["z"]] + gh[:, sl["z"]])
        if reset_after:
            n = np.tanh(gi[:, sl["n"]] + r * gh[:, sl["n"]])
        else:
            n = np.tanh(gi[:, sl["n"]] + (r * h) @ W_hh[sl["n"]].T + b_hh[sl["n"]])
        old = h if keep_h else 0
        return (1 - z) * n + z * old if z_keeps_old else z * n + (1 - z) * old
    return gru


def check_gru_cell_forward(gru_cell_forward: Callable[..., Any], seed: int = 3,
                           time_limit_s: float | None = None, hidden: bool = False) -> None:
    """gru_cell_forward(x (N, H_in), h (N, H), W_ih (3H, H_in), W_hh (3H, H), b_ih, b_hh) -> h',
    gates r, z, n as in torch."""
    report = check_function(gru_cell_forward, _gru_cell_forward,
                            _cell_cases(_seed(seed, hidden), 3), finish=False, time_limit_s=_limit(time_limit_s), title=hidden_title(gru_cell_forward, hidden),
                   mistakes=quiet({
        "torch's update gate z keeps the OLD state: h' mixes (1 - z) of n with z of h (the "
        "other convention, found in some papers and tutorials, swaps z and 1 - z: the same "
        "model, but not torch's)": _gru_variant(z_keeps_old=False),
        "torch applies the reset gate after the matrix product: r multiplies W_hn h + b_hn, "
        "it does not multiply h before W_hn": _gru_variant(reset_after=False),
        "torch's gate order is r, z, n (reset, update, new)": _gru_variant(order="zrn"),
        "h' mixes the candidate n with the previous state h: the z times h term is missing":
            _gru_variant(keep_h=False),
        _SIG_RAW: _gru_variant(sig=_raw_sig),
    }))
    precision_hint(report, _CANCEL)
    report.finish()


# -- 5. and 6. clipping and the exploding condition: in rnn_gradients.py, re-exported here ------
from .rnn_gradients import (check_can_explode, check_clip_grad_norm,  # noqa: E402
                            reference_clip_grad_norm)
