"""Bad-input recipes: Primer's two changes (labutils/nn/primer.py: squared ReLU and the causal
depthwise convolution, pairs and modules). The harness: tests/badinputs/__init__.py."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import labutils.nn as nn
from tests.badinputs import ALL, Recipe, expect_named_error, randn

N, T, C, K = 2, 5, 4, 3


def _squared_relu_twin(_m: Any, args: tuple) -> torch.Tensor:
    return torch.relu(torch.from_numpy(args[0])) ** 2


def _conv_twin(m: Any, args: tuple) -> torch.Tensor:
    """torch's grouped conv1d, padded on the left: the same causal depthwise convolution."""
    weight = m.params["weight"] if m is not None else args[1]
    bias = m.params["bias"] if m is not None else args[2]
    x = torch.from_numpy(args[0]).transpose(1, 2)
    y = F.conv1d(F.pad(x, (weight.shape[1] - 1, 0)), torch.from_numpy(weight)[:, None],
                 torch.from_numpy(bias), groups=weight.shape[0])
    return y.transpose(1, 2)


def _conv_cache() -> Any:
    return nn.causal_depthwise_conv_forward(randn(N, T, C), randn(C, K), randn(C))[1]


def _conv_extra() -> None:
    """Mismatches between the arguments, and caches that are not the forward's."""
    name = "causal_depthwise_conv_forward"
    x = randn(N, T, C)
    expect_named_error(lambda: nn.causal_depthwise_conv_forward(x, randn(C, 0), randn(C)),
                       name, "weight")
    expect_named_error(lambda: nn.causal_depthwise_conv_forward(x, randn(C, K), randn(C + 1)),
                       name, "bias")
    expect_named_error(lambda: nn.causal_depthwise_conv_backward(randn(N, T, C), (1, 2)),
                       "causal_depthwise_conv_backward", "cache")
    expect_named_error(lambda: nn.squared_relu_backward(randn(N, C), [0.0] * C),
                       "squared_relu_backward", "cache")
    # the modules' backward refuses a gradient for another length of time
    conv = nn.CausalDepthwiseConv(C, K)
    conv(x)
    expect_named_error(lambda: conv.backward(randn(N, T + 1, C)), "CausalDepthwiseConv", "grad",
                       state=conv)
    # an empty time axis: torch's padded conv1d gives an empty result, so do we
    assert nn.CausalDepthwiseConv(C, K)(np.zeros((N, 0, C))).shape == (N, 0, C)


RECIPES = {
    "nn.squared_relu_forward": Recipe(nn.squared_relu_forward, args=lambda: (randn(N, C),),
                                      names=("x",), batch={0: 0}, twin=_squared_relu_twin),
    "nn.squared_relu_backward": Recipe(
        nn.squared_relu_backward,
        args=lambda: (randn(N, C), nn.squared_relu_forward(randn(N, C))[1]),
        names=("dy", None), fixed={0: ALL}),
    "nn.SquaredReLU": Recipe(nn.SquaredReLU, args=lambda: (randn(N, T, C),), names=("input",),
                             batch={0: 0}, twin=_squared_relu_twin),
    "nn.causal_depthwise_conv_forward": Recipe(
        nn.causal_depthwise_conv_forward, args=lambda: (randn(N, T, C), randn(C, K), randn(C)),
        names=("x", "weight", "bias"), fixed={0: (-1,), 1: (0,), 2: ALL},
        ranks={0: (3,), 1: (2,), 2: (1,)}, batch={0: 0}, twin=_conv_twin, extra=(_conv_extra,)),
    "nn.causal_depthwise_conv_backward": Recipe(
        nn.causal_depthwise_conv_backward, args=lambda: (randn(N, T, C), _conv_cache()),
        names=("dy", None), fixed={0: ALL}),
    "nn.CausalDepthwiseConv": Recipe(
        nn.CausalDepthwiseConv, kwargs=dict(channels=C, kernel_size=K),
        args=lambda: (randn(N, T, C),), names=("input",), sizes=("channels", "kernel_size"),
        fixed={0: (-1,)}, ranks={0: (3,)}, batch={0: 0}, twin=_conv_twin),
}

EXEMPT: dict[str, str] = {}
