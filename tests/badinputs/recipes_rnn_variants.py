"""Bad-input recipes: chapter 4's recurrence variants (labutils.nn.rnn_variants: DilatedRNN,
ResidualRNN, SkipRNN and their functional pair). The harness: tests/badinputs/__init__.py."""
from __future__ import annotations

import labutils.nn as nn
from tests.badinputs import ALL, Recipe, randn


def _module(cls: type, **extra: int) -> Recipe:
    """input (L, N, H_in) and h_0 (N, H): H_in and h_0's whole shape are fixed by the module."""
    return Recipe(cls, kwargs=dict(input_size=3, hidden_size=4, **extra),
                  args=lambda: (randn(5, 2, 3), randn(2, 4)), names=("input", "h_0"),
                  sizes=("input_size", "hidden_size", *extra), fixed={0: (-1,), 1: ALL},
                  ranks={0: (3,), 1: (2,)}, batch={0: 1, 1: 0}, optional=(1,))


def _forward_args() -> tuple:
    return (randn(5, 2, 3), randn(2, 4), randn(4, 3), randn(4, 4), randn(4), randn(4))


def _cache() -> object:
    return nn.variant_rnn_forward(*_forward_args(), dilation=2)[1]


RECIPES = {
    "nn.DilatedRNN": _module(nn.DilatedRNN, dilation=2),
    "nn.ResidualRNN": _module(nn.ResidualRNN),
    "nn.SkipRNN": _module(nn.SkipRNN, skip=2),
    "nn.variant_rnn_forward": Recipe(
        nn.variant_rnn_forward, args=_forward_args,
        names=("x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"),
        fixed={0: (1, 2), 1: ALL, 2: ALL, 3: ALL, 4: ALL, 5: ALL},
        ranks={0: (3,), 1: (2,), 2: (2,), 3: (2,), 4: (1,), 5: (1,)}, batch={0: 1, 1: 0},
        kwargs=dict(dilation=2), sizes=("dilation",)),
    "nn.variant_rnn_backward": Recipe(nn.variant_rnn_backward,
                                      args=lambda: (randn(5, 2, 4), _cache()),
                                      names=("doutput", None), fixed={0: ALL}),
}

EXEMPT: dict[str, str] = {}

