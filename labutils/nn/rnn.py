"""Recurrent cells: one step of the Elman RNN (tanh, relu), the LSTM and the GRU, as in torch.nn.

In code the vectors are rows and a batch is a stack of rows: x (N, H_in), h and c (N, H).
Weights keep torch's names and layouts (``weight_ih`` (G H, H_in), ``weight_hh`` (G H, H), two
biases (G H,)), with G gate blocks stacked in torch's order: G = 1 (RNN), 4 (LSTM: i, f, g, o),
3 (GRU: r, z, n). Every step starts from the two projections

    gi = x W_ihᵀ + b_ih        gh = h W_hhᵀ + b_hh        (N, G H)

    RNN   h' = φ(gi + gh)                        φ = tanh or relu
    LSTM  i, f, g, o = σ, σ, tanh, σ of the four blocks of gi + gh
          c' = f ⊙ c + i ⊙ g        h' = o ⊙ tanh(c')
    GRU   r = σ(gi_r + gh_r)    z = σ(gi_z + gh_z)    n = tanh(gi_n + r ⊙ gh_n)
          h' = (1 − z) ⊙ n + z ⊙ h      (r multiplies W_hn h + b_hn; z keeps the OLD state)

Backward, from dL/dh' (and dL/dc' for the LSTM): each step finds d(gi) and d(gh), the gradients
of its two projections, and then, for every cell alike,

    dx = d(gi) W_ih        dh = d(gh) W_hh (+ the direct path: dh' ⊙ z for the GRU)
    dW_ih = d(gi)ᵀ x       dW_hh = d(gh)ᵀ h        db_ih = Σ_batch d(gi)    db_hh = Σ_batch d(gh)
    and for the LSTM       dc = dc_total ⊙ f, with dc_total = dc' + dh' ⊙ o ⊙ (1 − tanh²(c'))

where d(gi) = d(gh) except in the GRU, whose reset gate sits between W_hn h and n:
d(gh_n) = d(gi_n) ⊙ r.

Each cell is a functional pair, ``*_step_forward(x, state, w_ih, w_hh, b_ih, b_hh) ->
(state', cache)`` and ``*_step_backward(dstate', cache) -> RecurrentGrads`` (the state is h, or
the pair (h, c) for the LSTM). ``rnn_layers`` runs a pair along a sequence (backpropagation
through time); the modules ``RNNCell``, ``LSTMCell`` and ``GRUCell`` below are thin wrappers over
one step. ``rnn_layout.Layout`` is the one adapter between torch's layouts (unbatched inputs,
batch_first, the (h, c) pair) and the batched rows the pairs compute on, with the validation.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple

import numpy as np
from scipy.special import expit

from .. import init
from .. import validate
from ..module import Module
from .rnn_layout import (Layout, State, check_cache, check_step, no_grad,
                         validate_nonlinearity)

__all__ = ["RNNCell", "GRUCell", "LSTMCell", "rnn_step_forward", "rnn_step_backward",
           "lstm_step_forward", "lstm_step_backward", "gru_step_forward", "gru_step_backward",
           "RecurrentGrads"]

class Projections(NamedTuple):
    """What the two projections gi = x W_ihᵀ + b_ih and gh = h W_hhᵀ + b_hh need for backward."""
    x: np.ndarray          # (N, H_in)
    h: np.ndarray          # (N, H), the state that went into the step
    w_ih: np.ndarray       # (G H, H_in)
    w_hh: np.ndarray       # (G H, H)
    has_bias: bool


class RecurrentGrads(NamedTuple):
    """Gradients of a step (or of a whole sequence), one per input, in input order."""
    dx: np.ndarray                 # like x
    dstate: State                  # like the state that went in: dh, or (dh, dc)
    dw_ih: np.ndarray
    dw_hh: np.ndarray
    db_ih: np.ndarray | None       # None without biases
    db_hh: np.ndarray | None


def projections(x: np.ndarray, h: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                b_ih: np.ndarray | None = None, b_hh: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, Projections]:
    """gi = x W_ihᵀ + b_ih (N, G H) and gh = h W_hhᵀ + b_hh (N, G H); biases may be None."""
    gi, gh = x @ w_ih.T, h @ w_hh.T
    if b_ih is not None:
        gi, gh = gi + b_ih, gh + b_hh
    return gi, gh, Projections(x, h, w_ih, w_hh, b_ih is not None)


def projections_backward(dgi: np.ndarray, dgh: np.ndarray, p: Projections,
                         direct: State | None) -> RecurrentGrads:
    """d(gi), d(gh) (N, G H) -> every gradient; ``direct``: the part of dL/d(state) that does
    not go through W_hh (None for the RNN)."""
    dh = dgh @ p.w_hh
    dstate = dh if direct is None else add_to_hidden(direct, dh)
    db_ih, db_hh = (dgi.sum(axis=0), dgh.sum(axis=0)) if p.has_bias else (None, None)
    return RecurrentGrads(dgi @ p.w_ih, dstate, dgi.T @ p.x, dgh.T @ p.h, db_ih, db_hh)


# -- the Elman RNN ------------------------------------------------------------------------------

class RNNStepCache(NamedTuple):
    proj: Projections
    h_new: np.ndarray      # (N, H)
    a: np.ndarray          # (N, H) pre-activation gi + gh
    nonlinearity: str


def rnn_step_forward(x: np.ndarray, h: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                     b_ih: np.ndarray | None = None, b_hh: np.ndarray | None = None,
                     nonlinearity: str = "tanh") -> tuple[np.ndarray, RNNStepCache]:
    """h' = φ(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh), φ = tanh or relu.
    x (N, H_in), h (N, H), w_ih (H, H_in), w_hh (H, H), b_ih, b_hh (H,) -> h' (N, H)."""
    validate_nonlinearity("rnn_step_forward", nonlinearity)
    check_step("rnn_step_forward", x, h, (w_ih, w_hh, b_ih, b_hh), 1)
    return _rnn_step(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity)


def _rnn_step(x: np.ndarray, h: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
              b_ih: np.ndarray | None = None, b_hh: np.ndarray | None = None,
              nonlinearity: str = "tanh") -> tuple[np.ndarray, RNNStepCache]:
    gi, gh, proj = projections(x, h, w_ih, w_hh, b_ih, b_hh)
    a = gi + gh
    h_new = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)
    return h_new, RNNStepCache(proj, h_new, a, nonlinearity)


def rnn_step_backward(dh_new: np.ndarray, cache: RNNStepCache) -> RecurrentGrads:
    """dL/dh' (N, H) -> dx (N, H_in), dh (N, H), dw_ih, dw_hh, db_ih, db_hh."""
    validate.grad(dh_new, check_cache(cache, RNNStepCache, "rnn_step").h_new.shape,
                  "rnn_step_backward", "dh_new")
    return _rnn_step_back(dh_new, cache)


def _rnn_step_back(dh_new: np.ndarray, cache: RNNStepCache) -> RecurrentGrads:
    if cache.nonlinearity == "tanh":
        da = dh_new * (1 - cache.h_new * cache.h_new)          # tanh' = 1 − tanh²
    else:
        da = dh_new * (cache.a > 0)
    return projections_backward(da, da, cache.proj, None)


# -- the LSTM -----------------------------------------------------------------------------------

class LSTMStepCache(NamedTuple):
    proj: Projections
    i: np.ndarray          # (N, H) input gate
    f: np.ndarray          # forget gate
    g: np.ndarray          # candidate
    o: np.ndarray          # output gate
    c: np.ndarray          # the old cell state
    tanh_c_new: np.ndarray


def lstm_step_forward(x: np.ndarray, state: tuple[np.ndarray, np.ndarray], w_ih: np.ndarray,
                      w_hh: np.ndarray, b_ih: np.ndarray | None = None,
                      b_hh: np.ndarray | None = None
                      ) -> tuple[tuple[np.ndarray, np.ndarray], LSTMStepCache]:
    """c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c'), gates i, f, g, o (torch's order).
    x (N, H_in), state (h, c) each (N, H), w_ih (4H, H_in), w_hh (4H, H), b_ih, b_hh (4H,)
    -> state' (h', c') each (N, H)."""
    if not (isinstance(state, (tuple, list)) and len(state) == 2):
        raise TypeError(f"lstm_step_forward: state must be a pair (h, c), got "
                        f"{type(state).__name__}")
    check_step("lstm_step_forward", x, state, (w_ih, w_hh, b_ih, b_hh), 4)
    return _lstm_step(x, tuple(state), w_ih, w_hh, b_ih, b_hh)


def _lstm_step(x: np.ndarray, state: tuple[np.ndarray, np.ndarray], w_ih: np.ndarray,
               w_hh: np.ndarray, b_ih: np.ndarray | None = None, b_hh: np.ndarray | None = None
               ) -> tuple[tuple[np.ndarray, np.ndarray], LSTMStepCache]:
    h, c = state
    H = h.shape[-1]
    gi, gh, proj = projections(x, h, w_ih, w_hh, b_ih, b_hh)
    s = gi + gh
    i, f, o = expit(s[:, :H]), expit(s[:, H:2 * H]), expit(s[:, 3 * H:])
    g = np.tanh(s[:, 2 * H:3 * H])
    c_new = f * c + i * g
    tanh_c_new = np.tanh(c_new)
    return (o * tanh_c_new, c_new), LSTMStepCache(proj, i, f, g, o, c, tanh_c_new)


def lstm_step_backward(dstate_new: tuple[np.ndarray, np.ndarray],
                       cache: LSTMStepCache) -> RecurrentGrads:
    """(dL/dh', dL/dc') each (N, H) -> dx, (dh, dc), dw_ih, dw_hh, db_ih, db_hh."""
    shape = check_cache(cache, LSTMStepCache, "lstm_step").o.shape
    if not (isinstance(dstate_new, (tuple, list)) and len(dstate_new) == 2):
        raise TypeError(f"lstm_step_backward: dstate_new must be a pair (dh', dc'), got "
                        f"{type(dstate_new).__name__}")
    for g, name in zip(dstate_new, ("dstate_new[0] (dh')", "dstate_new[1] (dc')")):
        validate.grad(g, shape, "lstm_step_backward", name)
    return _lstm_step_back(tuple(dstate_new), cache)


def _lstm_step_back(dstate_new: tuple[np.ndarray, np.ndarray],
                    cache: LSTMStepCache) -> RecurrentGrads:
    dh_new, dc_new = dstate_new
    i, f, g, o, tc = cache.i, cache.f, cache.g, cache.o, cache.tanh_c_new
    dc = dc_new + dh_new * o * (1 - tc * tc)           # both paths into c'
    ds = np.concatenate([dc * g * i * (1 - i),         # σ' = σ (1 − σ)
                         dc * cache.c * f * (1 - f),
                         dc * i * (1 - g * g),
                         dh_new * tc * o * (1 - o)], axis=1)
    direct = (0, dc * f)               # c reaches c' through f; h only through W_hh
    return projections_backward(ds, ds, cache.proj, direct)


# -- the GRU ------------------------------------------------------------------------------------

class GRUStepCache(NamedTuple):
    proj: Projections
    r: np.ndarray          # (N, H) reset gate
    z: np.ndarray          # update gate (the weight of the old state)
    n: np.ndarray          # candidate
    gh_n: np.ndarray       # W_hn h + b_hn, what r multiplies


def gru_step_forward(x: np.ndarray, h: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                     b_ih: np.ndarray | None = None, b_hh: np.ndarray | None = None
                     ) -> tuple[np.ndarray, GRUStepCache]:
    """h' = (1 − z) ⊙ n + z ⊙ h, n = tanh(gi_n + r ⊙ gh_n), gates r, z, n (torch's order).
    x (N, H_in), h (N, H), w_ih (3H, H_in), w_hh (3H, H), b_ih, b_hh (3H,) -> h' (N, H)."""
    check_step("gru_step_forward", x, h, (w_ih, w_hh, b_ih, b_hh), 3)
    return _gru_step(x, h, w_ih, w_hh, b_ih, b_hh)


def _gru_step(x: np.ndarray, h: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
              b_ih: np.ndarray | None = None, b_hh: np.ndarray | None = None
              ) -> tuple[np.ndarray, GRUStepCache]:
    H = h.shape[-1]
    gi, gh, proj = projections(x, h, w_ih, w_hh, b_ih, b_hh)
    r = expit(gi[:, :H] + gh[:, :H])
    z = expit(gi[:, H:2 * H] + gh[:, H:2 * H])
    gh_n = gh[:, 2 * H:]
    n = np.tanh(gi[:, 2 * H:] + r * gh_n)
    return (1 - z) * n + z * h, GRUStepCache(proj, r, z, n, gh_n)


def gru_step_backward(dh_new: np.ndarray, cache: GRUStepCache) -> RecurrentGrads:
    """dL/dh' (N, H) -> dx (N, H_in), dh (N, H), dw_ih, dw_hh, db_ih, db_hh."""
    validate.grad(dh_new, check_cache(cache, GRUStepCache, "gru_step").z.shape,
                  "gru_step_backward", "dh_new")
    return _gru_step_back(dh_new, cache)


def _gru_step_back(dh_new: np.ndarray, cache: GRUStepCache) -> RecurrentGrads:
    r, z, n = cache.r, cache.z, cache.n
    dn = dh_new * (1 - z) * (1 - n * n)                 # through n's tanh
    dr = dn * cache.gh_n * r * (1 - r)
    dz = dh_new * (cache.proj.h - n) * z * (1 - z)
    dgi = np.concatenate([dr, dz, dn], axis=1)
    dgh = np.concatenate([dr, dz, dn * r], axis=1)     # the reset gate sits on gh_n
    return projections_backward(dgi, dgh, cache.proj, dh_new * z)


# -- what a module needs to know about a cell ----------------------------------------------------
class StepPair(NamedTuple):
    """A cell's step pair, the number G of its gate blocks, and whether its state is (h, c)."""
    forward: Callable
    backward: Callable
    gates: int
    pair: bool


# The modules run the steps past the door: they have checked their inputs at their own.
RNN_STEP = StepPair(_rnn_step, _rnn_step_back, 1, False)
LSTM_STEP = StepPair(_lstm_step, _lstm_step_back, 4, True)
GRU_STEP = StepPair(_gru_step, _gru_step_back, 3, False)


def rnn_step(nonlinearity: str) -> StepPair:
    """The RNN's step pair with φ = tanh or relu."""
    return RNN_STEP._replace(forward=functools.partial(_rnn_step,
                                                       nonlinearity=nonlinearity))


# -- states: h or (h, c) ------------------------------------------------------------------------

def add_to_hidden(state: State, dh: np.ndarray) -> State:
    """state + dh on its hidden part: h + dh, or (h + dh, c)."""
    return (state[0] + dh, state[1]) if isinstance(state, tuple) else state + dh


def hidden(state: State) -> np.ndarray:
    """h of a state h or (h, c)."""
    return state[0] if isinstance(state, tuple) else state


def map_state(fn: Callable, *states: State) -> State:
    """fn applied to h (or to h and to c) of one or more states of the same kind."""
    if isinstance(states[0], tuple):
        return tuple(fn(*parts) for parts in zip(*states))
    return fn(*states)


def stack_states(states: list) -> State:
    """A list of states h or (h, c) -> one state whose arrays have a new first axis."""
    return map_state(lambda *a: np.stack(a), *states)


def add_param_grads(grads: dict, names: tuple, g: RecurrentGrads) -> None:
    """Add dw_ih, dw_hh (and db_ih, db_hh) into ``grads`` under ``names`` (or None: no bias)."""
    for name, d in zip(names, (g.dw_ih, g.dw_hh, g.db_ih, g.db_hh)):
        if name is not None:
            grads[name] += d


# -- the cells: one step as a module ---------------------------------------------------------------
class RNNCellBase(Module):
    """One step as a module (torch.nn.RNNCellBase): weight_ih (G H, H_in), weight_hh (G H, H),
    bias_ih, bias_hh (G H,); forward and backward are one call of the cell's step pair.
    input (N, H_in) or (H_in,) -> the new state h' (or (h', c')), like the state."""
    step = RNN_STEP

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_size = validate.positive_int(input_size, name, "input_size")
        self.hidden_size = validate.positive_int(hidden_size, name, "hidden_size")
        self.bias = bias
        G, H, bound = self.step.gates, hidden_size, 1 / math.sqrt(hidden_size)
        self.add_param("weight_ih", init.uniform((G * H, input_size), bound, rng, dtype))
        self.add_param("weight_hh", init.uniform((G * H, H), bound, rng, dtype))
        if bias:
            self.add_param("bias_ih", init.uniform((G * H,), bound, rng, dtype))
            self.add_param("bias_hh", init.uniform((G * H,), bound, rng, dtype))
        self._cache, self._rows = None, Layout(name, True, 0)    # _rows: a batch of rows

    def param_names(self) -> tuple:
        return ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if self.bias else (None, None))

    def forward(self, input: np.ndarray, hx: State | None = None) -> State:
        weights = [None if n is None else self.params[n] for n in self.param_names()]
        fast = self._common(input, hx, weights[1].dtype)
        x, state, layout = (input, hx, self._rows) if fast else self._read(input, hx)
        state_new, cache = self.step.forward(x, state, *weights)
        if fast and validate.may_hold_nan(state_new[-1] if self.step.pair else state_new):
            self._read(input, hx)       # a NaN in an input reaches the output: name it
        self._cache = (cache, layout, (x.shape[0], self.hidden_size))
        return map_state(layout.from_rows, state_new)

    def _common(self, input: object, hx: object, dtype: np.dtype) -> bool:
        """input (N, H_in), hx (N, H) or (h, c), of the weights' dtype: all checks but NaN's."""
        a, pair, c = np.ndarray, self.step.pair, None
        if pair:
            if type(hx) is not tuple or len(hx) != 2:
                return False
            hx, c = hx
        if (type(input) is not a or type(hx) is not a or input.dtype is not dtype
                or hx.dtype is not dtype or pair and (type(c) is not a or c.dtype is not dtype
                                                      or c.shape != hx.shape)):
            return False
        try:
            (n, h_in), (m, h) = input.shape, hx.shape
        except ValueError:                                  # not 2-D
            return False
        return n == m and h_in == self.input_size and h == self.hidden_size

    def _read(self, input: np.ndarray, hx: State | None) -> tuple:
        """Every check, NaN included -> (x, state, layout) as rows."""
        x, layout = Layout.of_input(type(self).__name__, input, self.input_size, sequence=False)
        state = layout.read_state(hx, self.step.pair, (x.shape[0], self.hidden_size), ("h", "c"),
                                  "hx", self.params["weight_hh"].dtype)
        return x, state, layout

    def backward(self, dh: np.ndarray | None = None,
                 dc: np.ndarray | None = None) -> tuple[np.ndarray, State]:
        """dh (and dc for LSTMCell), like the outputs, or None -> (dinput, dhx); LSTM: (dh, dc)."""
        cache, layout, shape = validate.forward_called(type(self).__name__, self._cache)
        pair = self.step.pair
        no_grad(type(self).__name__, "grad of h'" + (" and grad of c'" if pair else ""), dh, dc)
        dstate = layout.read_state_grad((dh, dc) if pair else dh, pair, shape, ("h'", "c'"),
                                        self.params["weight_hh"].dtype)
        g = self.step.backward(dstate, cache)
        add_param_grads(self.grads, self.param_names(), g)
        return layout.from_rows(g.dx), map_state(layout.from_rows, g.dstate)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(RNNCellBase):
    """One step of the Elman RNN (torch.nn.RNNCell): h' = φ(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh),
    φ = tanh or relu. input (N, H_in) or (H_in,), hx (N, H) or (H,) -> h' (N, H) or (H,)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", rng: np.random.Generator | None = None,
                 dtype: type = np.float64) -> None:
        self.nonlinearity = validate_nonlinearity("RNNCell", nonlinearity)
        self.step = rnn_step(nonlinearity)
        super().__init__(input_size, hidden_size, bias, rng, dtype)


class GRUCell(RNNCellBase):
    """One GRU step (torch.nn.GRUCell), gates r, z, n; h' = (1 − z) ⊙ n + z ⊙ h.
    input (N, H_in), hx (N, H) -> h' (N, H)."""
    step = GRU_STEP


class LSTMCell(RNNCellBase):
    """One LSTM step (torch.nn.LSTMCell), gates i, f, g, o; c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c').
    input (N, H_in), hx = (h, c) -> (h', c')."""
    step = LSTM_STEP


# The released chapter 4 (before the renovation) printed ``rnn._step``; a saved copy still runs.
_step = rnn_step_forward
