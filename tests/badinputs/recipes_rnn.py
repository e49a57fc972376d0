"""Bad-input recipes: chapter 4's recurrent cells, step pairs, sequence pairs and layers
(labutils/nn/rnn.py, rnn_layers.py, rnn_layout.py). The harness: tests/badinputs/__init__.py."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import labutils.nn as nn
from labutils.nn import rnn_layout
from tests.badinputs import ALL, Recipe, expect_named_error, randn

N, H_IN, H, L = 2, 3, 4, 5
_T = torch.from_numpy


def _weights(G: int) -> tuple:
    return randn(G * H, H_IN), randn(G * H, H), randn(G * H), randn(G * H)


def _twin(kind: str) -> Any:
    """torch's module of the same kind on the same arrays (states included when given)."""
    def twin(m: Any, args: tuple) -> Any:
        return getattr(torch.nn, kind)(H_IN, H, dtype=torch.float64)(*map(_T, args))
    return twin


def _cell(kind: str) -> Recipe:
    pair = kind == "LSTMCell"
    return Recipe(getattr(nn, kind), kwargs=dict(input_size=H_IN, hidden_size=H),
                  args=lambda: (randn(N, H_IN),) if pair else (randn(N, H_IN), randn(N, H)),
                  names=("input",) if pair else ("input", "hx"), optional=(1,),
                  sizes=("input_size", "hidden_size"), fixed={0: (-1,), 1: ALL},
                  ranks={0: (1, 2)}, batch={0: 0} if pair else {0: 0, 1: 0}, twin=_twin(kind),
                  grads=lambda out: (np.ones_like(out[0] if pair else out),),
                  extra=(_state_checks(kind),) if pair else ())


def _layer(kind: str) -> Recipe:
    pair = kind == "LSTM"
    return Recipe(getattr(nn, kind), kwargs=dict(input_size=H_IN, hidden_size=H),
                  args=lambda: (randn(L, N, H_IN),) if pair else (randn(L, N, H_IN),
                                                                   randn(1, N, H)),
                  names=("input",) if pair else ("input", "h_0"), optional=(1,),
                  sizes=("input_size", "hidden_size", "num_layers"),
                  fixed={0: (-1,), 1: ALL}, ranks={0: (2, 3)},
                  batch={0: 1} if pair else {0: 1, 1: 1}, twin=_twin(kind),
                  extra=((_state_checks(kind),) if pair else ()) + (_empty_sequence(kind),
                                                                    _batch_first(kind)))


def _state_checks(kind: str) -> Any:
    """The LSTM's pair (h, c): a bad part, a bad pair, a bad pair of gradients."""
    def check() -> None:
        cell = kind.endswith("Cell")
        m = getattr(nn, kind)(H_IN, H)
        x = randn(N, H_IN) if cell else randn(L, N, H_IN)
        good = randn(N, H) if cell else randn(1, N, H)
        c = "c" if cell else "c_0"
        for hx, arg in (((good, good[..., :1]), c), (good, "hx"), ((good, None), c)):
            expect_named_error(lambda: m(x, hx), kind, arg, state=m)
        out = m(x, (good, good))
        dh = np.ones_like(out[0] if cell else out[1][0])       # like h' (cell) or h_n (layer)
        bad = np.ones((1,) + dh.shape)
        expect_named_error(lambda: m.backward(*((dh, bad) if cell else (None, (dh, bad)))), kind,
                           "grad", state=m)
    return check


def _empty_sequence(kind: str) -> Any:
    """L = 0: torch raises, so must we, by name."""
    def check() -> None:
        with pytest.raises(RuntimeError):
            getattr(torch.nn, kind)(H_IN, H)(torch.zeros(0, N, H_IN))
        m = getattr(nn, kind)(H_IN, H)
        expect_named_error(lambda: m(np.zeros((0, N, H_IN))), kind, "input", state=m)
    return check


def _batch_first(kind: str) -> Any:
    """batch_first: an empty batch is the first axis, h_0's batch must match the input's."""
    def check() -> None:
        m = getattr(nn, kind)(H_IN, H, batch_first=True)
        t = getattr(torch.nn, kind)(H_IN, H, batch_first=True, dtype=torch.float64)
        out = m(np.zeros((0, L, H_IN)))[0]
        assert out.shape == tuple(t(torch.zeros(0, L, H_IN, dtype=torch.float64))[0].shape)
        h0 = np.zeros((1, N + 1, H))
        expect_named_error(lambda: m(np.zeros((N, L, H_IN)), (h0, h0) if kind == "LSTM" else h0),
                           kind, "h_0", state=m)
    return check


def _step(name: str, G: int) -> Recipe:
    pair = name.startswith("lstm")
    return Recipe(getattr(nn, name),
                  args=lambda: (randn(N, H_IN), (randn(N, H), randn(N, H)) if pair
                                else randn(N, H)) + _weights(G),
                  names=("x", "state" if pair else "h", "w_ih", "w_hh", "b_ih", "b_hh"),
                  fixed={0: (-1,), 1: ALL, 2: ALL, 3: ALL, 4: ALL, 5: ALL},
                  ranks={0: (2,)}, batch={0: 0} if pair else {0: 0, 1: 0})


def _step_cache(name: str, G: int) -> Any:
    pair = name.startswith("lstm")
    fwd = getattr(nn, name.replace("backward", "forward"))
    return fwd(randn(N, H_IN), (randn(N, H), randn(N, H)) if pair else randn(N, H),
               *_weights(G))[1]


def _step_back(name: str, G: int) -> Recipe:
    pair = name.startswith("lstm")
    return Recipe(getattr(nn, name),
                  args=lambda: ((randn(N, H), randn(N, H)) if pair else randn(N, H),
                                _step_cache(name, G)),
                  names=("dstate_new" if pair else "dh_new", None), fixed={0: ALL},
                  extra=(_lstm_back_parts,) if pair else ())


def _lstm_back_parts() -> None:
    cache = _step_cache("lstm_step_backward", 4)
    expect_named_error(lambda: nn.lstm_step_backward((randn(N, H), randn(N, H + 1)), cache),
                       "lstm_step_backward", "dstate_new")
    expect_named_error(lambda: nn.lstm_step_backward((randn(N, H), None), cache),
                       "lstm_step_backward", "dstate_new")


def _seq_args() -> tuple:
    return (nn.rnn_step_forward, randn(L, N, H_IN), randn(N, H), _weights(1))


def _seq_cache() -> Any:
    return nn.sequence_forward(*_seq_args())[1]


RECIPES = {
    "nn.RNNCell": _cell("RNNCell"),
    "nn.GRUCell": _cell("GRUCell"),
    "nn.LSTMCell": _cell("LSTMCell"),
    "nn.RNN": _layer("RNN"),
    "nn.GRU": _layer("GRU"),
    "nn.LSTM": _layer("LSTM"),
    "nn.rnn_step_forward": _step("rnn_step_forward", 1),
    "nn.gru_step_forward": _step("gru_step_forward", 3),
    "nn.lstm_step_forward": _step("lstm_step_forward", 4),
    "nn.rnn_step_backward": _step_back("rnn_step_backward", 1),
    "nn.gru_step_backward": _step_back("gru_step_backward", 3),
    "nn.lstm_step_backward": _step_back("lstm_step_backward", 4),
    "nn.sequence_forward": Recipe(nn.sequence_forward, args=_seq_args,
                                  names=("step_forward", "x", "state", None),
                                  fixed={1: (-1,), 2: ALL}, ranks={1: (3,)}),
    "nn.sequence_backward": Recipe(nn.sequence_backward,
                                   args=lambda: (nn.rnn_step_backward, randn(L, N, H),
                                                 randn(N, H), _seq_cache()),
                                   names=("step_backward", "doutput", "dstate", None),
                                   optional=(1,), fixed={1: ALL, 2: ALL}),
    "nn.validate_state": Recipe(rnn_layout.validate_state,
                                args=lambda: (randn(1, N, H), "RNN", "h_0", (1, N, H),
                                              ("num_layers * num_directions", "batch",
                                               "hidden_size")),
                                names=("h_0", None, None, None, None), fixed={0: ALL},
                                owner="RNN"),
}

EXEMPT: dict[str, str] = {}
