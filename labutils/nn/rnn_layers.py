"""Recurrent layers over whole sequences: RNN (tanh, relu), GRU and LSTM, as in torch.nn.

Shapes (L = sequence length, N = batch, D = 2 if bidirectional else 1, H = hidden_size):

    input (L, N, H_in), or (N, L, H_in) with batch_first, or (L, H_in) unbatched
    h_0, c_0 (num_layers * D, N, H), or (num_layers * D, H) unbatched; zeros when not given
    output (L, N, D * H): the top layer's h_t, forward and reverse halves side by side
    h_n, c_n (num_layers * D, N, H): the last state of every layer and direction
        (index layer * D + direction; the reverse direction's "last" state is the one at t = 0)

Parameters, with torch's names and layouts (``_reverse`` for the reverse direction):

    weight_ih_l{k}: (G H, H_in) for layer 0, (G H, D H) above     weight_hh_l{k}: (G H, H)
    bias_ih_l{k}, bias_hh_l{k}: (G H,)       G = 1 (RNN), 3 (GRU: r, z, n), 4 (LSTM: i, f, g, o)

One layer in one direction runs a cell's step pair (``rnn.py``) along the sequence,
``sequence_forward``. Its backward is backpropagation through time, ``sequence_backward``:
going from t = L down to 1, the gradient reaching h_t is what the output at t sends plus what
step t+1 sends back (and dL/dc_t for the LSTM); the step's backward turns it into the gradients
of x_t, of the state before, and of the weights. The weights are the same at every step, so
their gradients are sums over time:

    dL/dW = Σ_t (the gradient step t finds for W)

A stacked network feeds each layer's output sequence to the next; the gradient of a layer's
input is the output gradient of the layer below (summed over the two directions).
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

from .. import init
from .. import validate
from ..module import Module
from .rnn import (GRU_STEP, LSTM_STEP, RNN_STEP, RecurrentGrads, add_param_grads,
                  add_to_hidden, hidden, map_state, no_grad, rnn_step, stack_states,
                  validate_nonlinearity)
from .rnn_layout import Layout, State, check_step

__all__ = ["RNN", "GRU", "LSTM", "sequence_forward", "sequence_backward"]


class SequenceCache(NamedTuple):
    steps: list        # the step caches, in the order the steps ran
    order: list        # the time index of each of those steps (descending for reverse)


def sequence_forward(step_forward: Callable, x: np.ndarray, state: State, weights: tuple,
                     reverse: bool = False) -> tuple[tuple[np.ndarray, State], SequenceCache]:
    """Run one step pair's forward along x (L, N, H_in) from ``state`` (h_0 (N, H), or
    (h_0, c_0)); ``weights`` = (w_ih, w_hh, b_ih, b_hh). Returns (output (L, N, H), the last
    state) and the cache. ``reverse`` reads the sequence from t = L down to 1."""
    validate.function(step_forward, "sequence_forward", "step_forward")
    check_step("sequence_forward", x, state, weights, state_names=("state", "state[1]"),
               sequence=True)
    if len(x) == 0:
        raise ValueError(f"sequence_forward: x must have a sequence length L >= 1, got shape "
                         f"{x.shape}")
    return _sequence_forward(step_forward, x, state, weights, reverse)


def _sequence_forward(step_forward: Callable, x: np.ndarray, state: State, weights: tuple,
                     reverse: bool = False) -> tuple[tuple[np.ndarray, State], SequenceCache]:
    """``sequence_forward`` past the door (the modules have checked their inputs)."""
    order = list(range(len(x)))[::-1] if reverse else list(range(len(x)))
    outputs, steps = [None] * len(x), []
    for t in order:
        state, cache = step_forward(x[t], state, *weights)
        steps.append(cache)
        outputs[t] = hidden(state)
    return (np.stack(outputs), state), SequenceCache(steps, order)


def sequence_backward(step_backward: Callable, doutput: np.ndarray | None, dstate: State,
                      cache: SequenceCache, record: list | None = None) -> RecurrentGrads:
    """Backpropagation through time. doutput (L, N, H) or None, dstate: dL/d(last state)
    -> dx (L, N, H_in), dL/d(h_0) (or (dh_0, dc_0)), and the weights' gradients summed over time.
    ``record``: a list that receives (dL/dh_k, dL/dc_k or None) for k = L, L-1, ..., 0."""
    check_sequence_grads(step_backward, doutput, dstate, cache)
    return _sequence_backward(step_backward, doutput, dstate, cache, record)


def _sequence_backward(step_backward: Callable, doutput: np.ndarray | None, dstate: State,
                       cache: SequenceCache, record: list | None = None) -> RecurrentGrads:
    """``sequence_backward`` past the door."""
    dx, total = [None] * len(cache.order), None
    for t, step in zip(cache.order[::-1], cache.steps[::-1]):
        if doutput is not None:
            dstate = add_to_hidden(dstate, doutput[t])        # what the output at t sends
        if record is not None:
            record.append(dstate if isinstance(dstate, tuple) else (dstate, None))
        g = step_backward(dstate, step)
        dx[t], dstate = g.dx, g.dstate                        # dstate now reaches step t - 1
        weights = (g.dw_ih, g.dw_hh, g.db_ih, g.db_hh)
        total = weights if total is None else [None if a is None else a + b
                                               for a, b in zip(total, weights)]
    if record is not None:
        record.append(dstate if isinstance(dstate, tuple) else (dstate, None))
    return RecurrentGrads(np.stack(dx), dstate, *total)


def check_sequence_grads(step_backward: Callable, doutput: object, dstate: object,
                         cache: object) -> None:
    """The door of ``sequence_backward``: doutput (L, N, H) or None; dstate like the last state,
    h (N, H) or a pair (dh, dc)."""
    owner = "sequence_backward"
    validate.function(step_backward, owner, "step_backward")
    if not isinstance(cache, SequenceCache):
        raise TypeError(f"{owner}: cache must be what sequence_forward returned (SequenceCache), "
                        f"got {type(cache).__name__}")
    h_shape = cache.steps[0].proj.h.shape
    if doutput is not None:
        validate.grad(doutput, (len(cache.steps),) + h_shape, owner, "doutput")
    pair = hasattr(cache.steps[0], "o")      # an LSTM step: its state is (h, c)
    if pair and not (isinstance(dstate, (tuple, list)) and len(dstate) == 2):
        raise TypeError(f"{owner}: dstate must be a pair (dh, dc) for the LSTM, got "
                        f"{type(dstate).__name__}")
    for g, name in zip(dstate if pair else (dstate,), ("dstate", "dstate[1]")):
        validate.grad(g, h_shape, owner, name)


# -- the sequence modules: layers x directions of sequence_forward ---------------------------------

class RNNBase(Module):
    """Stacked, optionally bidirectional recurrent layers over one step pair
    (torch.nn.RNNBase); see the module docstring for every shape."""
    step = RNN_STEP

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_layers = validate.positive_int(num_layers, name, "num_layers")
        self.input_size = validate.positive_int(input_size, name, "input_size")
        self.hidden_size = validate.positive_int(hidden_size, name, "hidden_size")
        if dropout:
            raise ValueError(f"{name}: dropout between layers is not implemented in labutils "
                             f"(got dropout={dropout}); use 0")
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.num_directions = 2 if bidirectional else 1
        self.record_state_grads = False   # when True, backward keeps dL/dh_k per step
        G, H, bound = self.step.gates, hidden_size, 1 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            n_in = input_size if layer == 0 else H * self.num_directions
            for d in range(self.num_directions):
                names = self.param_names(layer, d)
                self.add_param(names[0], init.uniform((G * H, n_in), bound, rng, dtype))
                self.add_param(names[1], init.uniform((G * H, H), bound, rng, dtype))
                if bias:
                    self.add_param(names[2], init.uniform((G * H,), bound, rng, dtype))
                    self.add_param(names[3], init.uniform((G * H,), bound, rng, dtype))
        self._cache = None

    def param_names(self, layer: int, direction: int) -> tuple:
        """(weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}), _reverse for d = 1;
        the biases are None without bias."""
        sfx = f"l{layer}" + ("_reverse" if direction else "")
        biases = (f"bias_ih_{sfx}", f"bias_hh_{sfx}") if self.bias else (None, None)
        return (f"weight_ih_{sfx}", f"weight_hh_{sfx}") + biases

    def forward(self, input: np.ndarray, hx: State | None = None) -> tuple[np.ndarray, State]:
        name, H, D = type(self).__name__, self.hidden_size, self.num_directions
        x, layout = Layout.of_input(name, input, self.input_size, True, self.batch_first)
        L, N = x.shape[:2]
        if L == 0:      # as torch; an empty batch (N = 0) is fine, as in torch
            raise ValueError(f"{name}: input must have a sequence length L >= 1, got shape "
                             f"{input.shape}")
        shape = (self.num_layers * D, N, H)
        state0 = layout.read_state(hx, self.step.pair, shape, ("h_0", "c_0"), "h_0",
                                   self.params["weight_hh_l0"].dtype)
        finals, caches = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                weights = [None if n is None else self.params[n]
                           for n in self.param_names(layer, d)]
                (out, last), cache = _sequence_forward(
                    self.step.forward, x, map_state(lambda a: a[layer * D + d], state0),
                    weights, reverse=d == 1)
                outs.append(out)
                finals.append(last)
                caches.append(cache)
            x = np.concatenate(outs, axis=-1)
        self._cache = (caches, layout, x.shape, shape)
        state_n = map_state(layout.from_rows, stack_states(finals))
        return layout.from_rows(x, sequence=True), state_n

    def backward(self, doutput: np.ndarray | None = None,
                 dstate: State | None = None) -> tuple[np.ndarray, State]:
        """doutput: like output, or None. dstate: like h_n (for LSTM a pair (dh_n, dc_n),
        either may be None), or None when the final state does not reach the loss.
        Returns (dinput, dh_0) -- for LSTM (dinput, (dh_0, dc_0))."""
        caches, layout, out_shape, shape = validate.forward_called(type(self).__name__,
                                                                   self._cache)
        no_grad(type(self).__name__, "grad of output and grad of h_n", doutput, dstate)
        H, D = self.hidden_size, self.num_directions
        dY = layout.read_grad(doutput, out_shape, "grad of output", sequence=True)
        dstate_n = layout.read_state_grad(dstate, self.step.pair, shape, ("h_n", "c_n"),
                                          self.params["weight_hh_l0"].dtype)
        dstate_0 = [None] * len(caches)
        self.state_grads = {}
        for layer in range(self.num_layers - 1, -1, -1):
            dX = 0
            for d in range(D):
                idx = layer * D + d
                record = [] if self.record_state_grads else None
                g = _sequence_backward(self.step.backward,
                                      None if dY is None else dY[..., d * H:(d + 1) * H],
                                      map_state(lambda a: a[idx], dstate_n), caches[idx], record)
                if record is not None:
                    self.state_grads[idx] = record[::-1]
                add_param_grads(self.grads, self.param_names(layer, d), g)
                dstate_0[idx] = g.dstate
                dX = dX + g.dx
            dY = dX
        dstate_0 = map_state(layout.from_rows, stack_states(dstate_0))
        return layout.from_rows(dY, sequence=True), dstate_0

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN, h_t = φ(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh), φ = tanh or relu
    (torch.nn.RNN). input (L, N, H_in) -> (output (L, N, D H), h_n (num_layers D, N, H))."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False,
                 rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        self.nonlinearity = validate_nonlinearity("RNN", nonlinearity)
        self.step = rnn_step(nonlinearity)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, rng, dtype)


class GRU(RNNBase):
    """Gated recurrent unit (torch.nn.GRU), gates r, z, n in that order:
    h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}, n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)).
    input (L, N, H_in) -> (output (L, N, D H), h_n (num_layers D, N, H))."""
    step = GRU_STEP


class LSTM(RNNBase):
    """Long short-term memory (torch.nn.LSTM), gates i, f, g, o in that order:
    c_t = f ⊙ c_{t-1} + i ⊙ g, h_t = o ⊙ tanh(c_t).
    input (L, N, H_in), hx = (h_0, c_0) -> (output (L, N, D H), (h_n, c_n))."""
    step = LSTM_STEP
