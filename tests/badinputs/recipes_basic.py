"""Bad-input recipes: chapter 1's modules (linear, activations, losses, dropout, residual,
feed-forward, mixture of experts), the containers, optimisers, init, gradcheck and the other
top-level helpers. The harness: tests/badinputs/__init__.py."""
from __future__ import annotations

import torch

import labutils.nn as nn
from tests.badinputs import ALL, Recipe, randn


def _linear_twin(m: nn.Linear, args: tuple) -> torch.Tensor:
    t = torch.nn.Linear(m.in_features, m.out_features, dtype=torch.float64)
    return t(torch.from_numpy(args[0]))


def _linear_cache() -> tuple:
    return nn.linear_forward(randn(2, 4), randn(3, 4), randn(3))[1]


RECIPES = {
    "nn.Linear": Recipe(nn.Linear, kwargs=dict(in_features=4, out_features=3),
                        args=lambda: (randn(2, 4),), names=("input",),
                        sizes=("in_features", "out_features"), fixed={0: (-1,)},
                        batch={0: 0}, twin=_linear_twin),
    "nn.linear_forward": Recipe(nn.linear_forward, args=lambda: (randn(2, 4), randn(3, 4), randn(3)),
                                names=("x", "weight", "bias"), fixed={0: (-1,), 1: ALL, 2: ALL},
                                ranks={1: (2,), 2: (1,)}, batch={0: 0}),
    "nn.linear_backward": Recipe(nn.linear_backward,
                                 args=lambda: (randn(2, 3), _linear_cache()),
                                 names=("dy", None), fixed={0: ALL}),
}

EXEMPT: dict[str, str] = {}
