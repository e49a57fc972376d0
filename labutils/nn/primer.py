"""Primer's two changes to the transformer (So et al., 2021, found by architecture search):

1. **Squared ReLU** in the feed-forward block:  y = relu(x)²,  dy/dx = 2 relu(x).
2. **A depthwise convolution after each of the Q, K, V projections** ("multi-dconv-head
   attention"): every feature channel is convolved along time with its own kernel of width
   k (3 in the paper), causally (position t sees t − k + 1 .. t), before the heads attend:

       y[n, t, c] = Σ_{j=0}^{k−1} w[c, j] · x[n, t − (k − 1) + j, c]      (x = 0 before t = 0)

   Backward: dx[n, s, c] = Σ_j w[c, j] · dy[n, s + (k − 1) − j, c] (the same sum read the other
   way), dw[c, j] = Σ_{n,t} dy[n, t, c] · x[n, t − (k − 1) + j, c], db[c] = Σ_{n,t} dy[n, t, c].
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import validate
from ..module import Module

__all__ = ["squared_relu_forward", "squared_relu_backward", "SquaredReLU", "DconvCache",
           "causal_depthwise_conv_forward", "causal_depthwise_conv_backward",
           "CausalDepthwiseConv"]


def squared_relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x: any shape -> (relu(x)², cache = relu(x))."""
    validate.array(x, "squared_relu_forward", "x")
    return _squared_relu_forward(x)


def _squared_relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = np.maximum(x, 0)
    return r * r, r


def squared_relu_backward(dy: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dy: the output's shape -> dx = dy · 2 relu(x)."""
    if not isinstance(cache, np.ndarray):
        raise TypeError(f"squared_relu_backward: cache must be the array relu(x) that "
                        f"squared_relu_forward returned, got {type(cache).__name__}")
    validate.grad(dy, cache.shape, "squared_relu_backward", "dy")
    return 2 * cache * dy


class SquaredReLU(Module):
    """y = relu(x)² elementwise (Primer's feed-forward activation)."""

    def __init__(self) -> None:
        super().__init__()
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        validate.array(x, "SquaredReLU", "input")
        y, self._cache = _squared_relu_forward(x)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        cache = validate.forward_called("SquaredReLU", self._cache)
        validate.grad(dy, cache.shape, "SquaredReLU")
        return 2 * cache * dy


class DconvCache(NamedTuple):
    padded: np.ndarray     # (N, T + k − 1, C): the input with k − 1 zeros in front
    weight: np.ndarray     # (C, k)


def _windows(padded: np.ndarray, k: int) -> np.ndarray:
    """(N, T + k − 1, C) -> (N, T, C, k): window j of position t is padded[t + j]."""
    if padded.shape[1] < k:                                   # T = 0: no window
        return np.zeros((padded.shape[0], 0, padded.shape[2], k))
    return np.lib.stride_tricks.sliding_window_view(padded, k, axis=1)


def causal_depthwise_conv_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray
                                  ) -> tuple[np.ndarray, DconvCache]:
    """x: (N, T, C), weight: (C, k), bias: (C,) -> y: (N, T, C)."""
    owner = "causal_depthwise_conv_forward"
    validate.array(x, owner, "x", ndim=3)
    validate.array(weight, owner, "weight", ndim=2)
    validate.array(bias, owner, "bias", ndim=1)
    if weight.shape[0] != x.shape[-1] or weight.shape[1] < 1:
        raise ValueError(f"{owner}: weight must have shape (C, k) with C = {x.shape[-1]}, the "
                         f"channels of x {x.shape}, and k >= 1, got {weight.shape}")
    if bias.shape != weight.shape[:1]:
        raise ValueError(f"{owner}: bias must have shape {weight.shape[:1]} to match weight "
                         f"{weight.shape}, got {bias.shape}")
    return _dconv_forward(x, weight, bias)


def _dconv_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray
                   ) -> tuple[np.ndarray, DconvCache]:
    k = weight.shape[1]
    padded = np.pad(x, ((0, 0), (k - 1, 0), (0, 0)))
    y = np.einsum("ntcj,cj->ntc", _windows(padded, k), weight) + bias
    return y, DconvCache(padded, weight)


def _output_shape(cache: DconvCache) -> tuple[int, ...]:
    n, length, c = cache.padded.shape
    return (n, length - cache.weight.shape[1] + 1, c)


def causal_depthwise_conv_backward(dy: np.ndarray, cache: DconvCache) -> dict[str, np.ndarray]:
    """dy: (N, T, C) -> {"x": (N, T, C), "weight": (C, k), "bias": (C,)}."""
    owner = "causal_depthwise_conv_backward"
    if not isinstance(cache, DconvCache):
        raise TypeError(f"{owner}: cache must be the DconvCache that causal_depthwise_conv_"
                        f"forward returned, got {type(cache).__name__}")
    validate.grad(dy, _output_shape(cache), owner, "dy")
    return _dconv_backward(dy, cache)


def _dconv_backward(dy: np.ndarray, cache: DconvCache) -> dict[str, np.ndarray]:
    k = cache.weight.shape[1]
    dw = np.einsum("ntcj,ntc->cj", _windows(cache.padded, k), dy)
    dy_padded = np.pad(dy, ((0, 0), (0, k - 1), (0, 0)))          # dy after the end is 0
    dx = np.einsum("nscj,cj->nsc", _windows(dy_padded, k), cache.weight[:, ::-1])
    return {"x": dx, "weight": dw, "bias": dy.sum(axis=(0, 1))}


class CausalDepthwiseConv(Module):
    """Primer's per-channel causal convolution along time. x: (N, T, C) -> (N, T, C).
    Initialised to the identity (weight 1 on the current position), so that inserting it into a
    trained model changes nothing until it learns."""

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.channels = validate.positive_int(channels, "CausalDepthwiseConv", "channels")
        self.kernel_size = validate.positive_int(kernel_size, "CausalDepthwiseConv",
                                                 "kernel_size")
        weight = np.zeros((channels, kernel_size))
        weight[:, -1] = 1.0
        self.add_param("weight", weight)
        self.add_param("bias", np.zeros(channels))
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        validate.array(x, "CausalDepthwiseConv", "input", ndim=3, shape=(self.channels,))
        y, self._cache = _dconv_forward(x, self.params["weight"], self.params["bias"])
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        cache = validate.forward_called("CausalDepthwiseConv", self._cache)
        validate.grad(dy, _output_shape(cache), "CausalDepthwiseConv")
        grads = _dconv_backward(dy, cache)
        self.grads["weight"] += grads["weight"]
        self.grads["bias"] += grads["bias"]
        return grads["x"]

    def extra_repr(self) -> str:
        return f"channels={self.channels}, kernel_size={self.kernel_size}"
