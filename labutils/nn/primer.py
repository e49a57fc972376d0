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
    r = np.maximum(x, 0)
    return r * r, r


def squared_relu_backward(dy: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = dy · 2 relu(x)."""
    return 2 * cache * dy


class SquaredReLU(Module):
    """y = relu(x)² elementwise (Primer's feed-forward activation)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        y, self._cache = squared_relu_forward(x)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return squared_relu_backward(dy, validate.forward_called("SquaredReLU",
                                                                 getattr(self, "_cache", None)))


class DconvCache(NamedTuple):
    padded: np.ndarray     # (N, T + k − 1, C): the input with k − 1 zeros in front
    weight: np.ndarray     # (C, k)


def _windows(padded: np.ndarray, k: int) -> np.ndarray:
    """(N, T + k − 1, C) -> (N, T, C, k): window j of position t is padded[t + j]."""
    return np.lib.stride_tricks.sliding_window_view(padded, k, axis=1)


def causal_depthwise_conv_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray
                                  ) -> tuple[np.ndarray, DconvCache]:
    """x: (N, T, C), weight: (C, k), bias: (C,) -> y: (N, T, C)."""
    k = weight.shape[1]
    padded = np.pad(x, ((0, 0), (k - 1, 0), (0, 0)))
    y = np.einsum("ntcj,cj->ntc", _windows(padded, k), weight) + bias
    return y, DconvCache(padded, weight)


def causal_depthwise_conv_backward(dy: np.ndarray, cache: DconvCache) -> dict[str, np.ndarray]:
    """dy: (N, T, C) -> {"x": (N, T, C), "weight": (C, k), "bias": (C,)}."""
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
        y, self._cache = causal_depthwise_conv_forward(x, self.params["weight"],
                                                       self.params["bias"])
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        grads = causal_depthwise_conv_backward(
            dy, validate.forward_called("CausalDepthwiseConv", self._cache))
        self.grads["weight"] += grads["weight"]
        self.grads["bias"] += grads["bias"]
        return grads["x"]

    def extra_repr(self) -> str:
        return f"channels={self.channels}, kernel_size={self.kernel_size}"
