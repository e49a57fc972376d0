"""Recurrences that shorten the gradient's road through time: dilated, residual and skip RNNs.

One tanh recurrence with three wirings (torch has none of them as a module; the tests build each
twin from torch.nn.RNN and autograd). Rows as everywhere in chapter 4: x_t (N, H_in), h_t (N, H),
and h_s = h_0 for every s <= 0:

    dilated   h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-d} W_hhᵀ + b_hh)
              d interleaved chains; with d = 1 it is torch.nn.RNN, and for any d it equals
              torch.nn.RNN run on each subsequence x_j, x_{j+d}, x_{j+2d}, ... on its own
    residual  h_t = h_{t-1} + tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh)
    skip      h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh + h_{t-d} W_skipᵀ)
              the ordinary step and a long one, f(x_t, h_{t-1}, h_{t-d})

Backward is BPTT on that graph. With y_t = tanh(a_t) and ā_t = dL/da_t, from t = L down to 1:

    ā_t = h̄_t ⊙ (1 − y_t ⊙ y_t)          h̄_t: everything that reached h_t so far
    h̄_{t-d} += ā_t W_hh (dilated)       h̄_{t-1} += ā_t W_hh (+ h̄_t, residual)
    h̄_{t-d} += ā_t W_skip (skip)        dx_t = ā_t W_ih
    dW_ih = Σ_t ā_tᵀ x_t    dW_hh = Σ_t ā_tᵀ h_{parent}    dW_skip = Σ_t ā_tᵀ h_{t-d}

and dL/dh_0 collects what reached every h_s with s <= 0. A gradient from h_T to h_k crosses
(T − k)/d tanh derivatives in the dilated network instead of T − k; the residual one adds the
identity to every step's Jacobian, ∂h_t/∂h_{t-1} = I + diag(1 − y_t²) W_hh.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import init
from .. import validate
from ..module import Module

__all__ = ["DilatedRNN", "ResidualRNN", "SkipRNN", "variant_rnn_forward", "variant_rnn_backward"]


class VariantCache(NamedTuple):
    x: np.ndarray          # (L, N, H_in)
    hs: np.ndarray         # (L + 1, N, H): h_0, h_1, ..., h_L
    ys: np.ndarray         # (L, N, H): tanh(a_t), the step's new part
    weights: tuple         # (w_ih, w_hh, b_ih, b_hh, w_skip); biases and w_skip may be None
    dilation: int
    skip: int              # 0: no skip connection
    residual: bool


def _check_forward(owner: str, x: np.ndarray, h0: np.ndarray, weights: tuple) -> None:
    """Shapes at the door: x (L >= 1, N, H_in), h0 (N, H), w_ih (H, H_in), w_hh and w_skip
    (H, H), biases (H,), both given or both None. A mismatch names both arrays."""
    w_ih, w_hh, b_ih, b_hh, w_skip = weights
    for name, a, rank in (("x", x, 3), ("h0", h0, 2), ("w_ih", w_ih, 2), ("w_hh", w_hh, 2)):
        validate.array(a, owner, name, ndim=rank)
    if x.shape[0] == 0:
        raise ValueError(f"{owner}: x must have at least one time step, got shape {x.shape}")
    H = w_hh.shape[0]
    if (b_ih is None) != (b_hh is None):
        raise ValueError(f"{owner}: b_ih and b_hh must both be arrays or both None, got "
                         f"{type(b_ih).__name__} and {type(b_hh).__name__}")
    for name, a in (("b_ih", b_ih), ("b_hh", b_hh), ("w_skip", w_skip)):
        if a is not None:
            validate.array(a, owner, name, ndim=1 if name[0] == "b" else 2)
    expected = {"w_hh": (w_hh, (H, H), "square"), "w_ih": (w_ih, (H, w_ih.shape[1]), "w_hh's H"),
                "x": (x, x.shape[:2] + (w_ih.shape[1],), "w_ih's H_in"),
                "h0": (h0, (x.shape[1], H), "x's batch and w_hh's H"),
                "b_ih": (b_ih, (H,), "w_hh's H"), "b_hh": (b_hh, (H,), "w_hh's H"),
                "w_skip": (w_skip, (H, H), "w_hh's shape")}
    for name, (a, want, why) in expected.items():
        if a is not None and a.shape != want:
            raise ValueError(f"{owner}: {name} must have shape {want} ({why}: w_ih {w_ih.shape}, "
                             f"w_hh {w_hh.shape}, x {x.shape}), got {a.shape}")


def variant_rnn_forward(x: np.ndarray, h0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                        b_ih: np.ndarray | None = None, b_hh: np.ndarray | None = None,
                        dilation: int = 1, residual: bool = False, w_skip: np.ndarray | None = None,
                        skip: int = 0) -> tuple[np.ndarray, VariantCache]:
    """x (L, N, H_in), h0 (N, H), w_ih (H, H_in), w_hh (H, H), b_ih, b_hh (H,) or None,
    w_skip (H, H) or None -> output (L, N, H) = h_1 ... h_L, and the cache."""
    _check_forward("variant_rnn_forward", x, h0, (w_ih, w_hh, b_ih, b_hh, w_skip))
    dilation = validate.positive_int(dilation, "variant_rnn_forward", "dilation")
    if w_skip is not None:
        skip = validate.positive_int(skip, "variant_rnn_forward", "skip", minimum=2)
    if not isinstance(residual, (bool, np.bool_)):
        raise TypeError(f"variant_rnn_forward: residual must be a bool, got {residual!r}")
    hs, ys = [h0], []
    for t in range(1, len(x) + 1):
        a = x[t - 1] @ w_ih.T + hs[max(t - dilation, 0)] @ w_hh.T
        if b_ih is not None:
            a = a + b_ih + b_hh
        if w_skip is not None:
            a = a + hs[max(t - skip, 0)] @ w_skip.T
        ys.append(np.tanh(a))
        hs.append(hs[t - 1] + ys[-1] if residual else ys[-1])
    cache = VariantCache(x, np.stack(hs), np.stack(ys), (w_ih, w_hh, b_ih, b_hh, w_skip),
                         dilation, skip, residual)
    return cache.hs[1:], cache


def variant_rnn_backward(doutput: np.ndarray, cache: VariantCache) -> tuple[np.ndarray, ...]:
    """doutput (L, N, H) -> (dx (L, N, H_in), dh0 (N, H), dw_ih, dw_hh, db_ih, db_hh, dw_skip);
    db_* and dw_skip are None when the forward had none."""
    if not isinstance(cache, VariantCache):
        raise TypeError(f"variant_rnn_backward: cache must be the VariantCache that "
                        f"variant_rnn_forward returned, got {type(cache).__name__}")
    validate.grad(doutput, cache.hs[1:].shape, "variant_rnn_backward", "doutput")
    x, hs, ys, (w_ih, w_hh, b_ih, _, w_skip), d, skip, residual = cache
    dhs = np.zeros_like(hs)                     # dhs[t]: what has reached h_t so far
    dhs[1:] += doutput
    dx, dw_ih, dw_hh = np.zeros_like(x), np.zeros_like(w_ih), np.zeros_like(w_hh)
    dw_skip = None if w_skip is None else np.zeros_like(w_skip)
    db = np.zeros(w_hh.shape[0], dtype=hs.dtype)
    for t in range(len(x), 0, -1):
        da = dhs[t] * (1 - ys[t - 1] * ys[t - 1])
        parent = max(t - d, 0)
        dx[t - 1] = da @ w_ih
        dw_ih += da.T @ x[t - 1]
        dw_hh += da.T @ hs[parent]
        db += da.sum(axis=0)
        dhs[parent] += da @ w_hh
        if w_skip is not None:
            dw_skip += da.T @ hs[max(t - skip, 0)]
            dhs[max(t - skip, 0)] += da @ w_skip
        if residual:
            dhs[t - 1] += dhs[t]
    db_ih = None if b_ih is None else db
    return dx, dhs[0], dw_ih, dw_hh, db_ih, None if b_ih is None else db.copy(), dw_skip


class VariantRNN(Module):
    """The shared module: weight_ih_l0 (H, H_in), weight_hh_l0 (H, H), bias_ih_l0, bias_hh_l0
    (H,) under torch.nn.RNN's names, so a one-layer torch.nn.RNN's state dict loads into it.
    forward(input (L, N, H_in), h_0 (N, H) or None) -> output (L, N, H) = h_1 ... h_L;
    backward(grad_output (L, N, H)) -> (dinput (L, N, H_in), dh_0 (N, H))."""
    dilation, skip, residual = 1, 0, False

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_size = validate.positive_int(input_size, name, "input_size")
        self.hidden_size = validate.positive_int(hidden_size, name, "hidden_size")
        self.bias, H, bound = bias, hidden_size, 1 / math.sqrt(hidden_size)
        self.add_param("weight_ih_l0", init.uniform((H, input_size), bound, rng, dtype))
        self.add_param("weight_hh_l0", init.uniform((H, H), bound, rng, dtype))
        if bias:
            self.add_param("bias_ih_l0", init.uniform((H,), bound, rng, dtype))
            self.add_param("bias_hh_l0", init.uniform((H,), bound, rng, dtype))
        self._cache = None

    def _weights(self) -> tuple:
        p, b = self.params, self.bias
        return (p["weight_ih_l0"], p["weight_hh_l0"], p["bias_ih_l0"] if b else None,
                p["bias_hh_l0"] if b else None, p["weight_skip"] if self.skip else None)

    def forward(self, input: np.ndarray, h_0: np.ndarray | None = None) -> np.ndarray:
        name, H = type(self).__name__, self.hidden_size
        x = validate.array(input, name, "input", ndim=3, shape=(self.input_size,))
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"{name}: input must have at least one time step and one sequence, "
                             f"got shape {x.shape}")
        if h_0 is None:
            h_0 = np.zeros((x.shape[1], H), dtype=self.params["weight_hh_l0"].dtype)
        validate.array(h_0, name, "h_0", ndim=2)
        if h_0.shape != (x.shape[1], H):
            raise ValueError(f"{name}: h_0 must have shape {(x.shape[1], H)} (N, hidden_size), "
                             f"got {h_0.shape}")
        w_ih, w_hh, b_ih, b_hh, w_skip = self._weights()
        out, self._cache = variant_rnn_forward(x, h_0, w_ih, w_hh, b_ih, b_hh, self.dilation,
                                               self.residual, w_skip, self.skip)
        return out

    def backward(self, doutput: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        name = type(self).__name__
        cache = validate.forward_called(name, self._cache)
        validate.grad(doutput, cache.hs[1:].shape, name)
        *dinputs, dw_ih, dw_hh, db_ih, db_hh, dw_skip = variant_rnn_backward(doutput, cache)
        names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_skip")
        for n, g in zip(names, (dw_ih, dw_hh, db_ih, db_hh, dw_skip)):
            if g is not None:
                self.grads[n] += g
        return tuple(dinputs)

    def extra_repr(self) -> str:
        extra = f", dilation={self.dilation}" if self.dilation > 1 else ""
        extra += f", skip={self.skip}" if self.skip else ""
        return f"{self.input_size}, {self.hidden_size}{extra}" + ("" if self.bias else ", bias=False")


class DilatedRNN(VariantRNN):
    """h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-d} W_hhᵀ + b_hh), d = ``dilation`` >= 1 (d = 1: nn.RNN).
    input (L, N, H_in), h_0 (N, H) -> output (L, N, H)."""

    def __init__(self, input_size: int, hidden_size: int, dilation: int = 2, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        self.dilation = validate.positive_int(dilation, "DilatedRNN", "dilation")
        super().__init__(input_size, hidden_size, bias, rng, dtype)


class ResidualRNN(VariantRNN):
    """h_t = h_{t-1} + tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh): an identity path on the state.
    input (L, N, H_in), h_0 (N, H) -> output (L, N, H)."""
    residual = True


class SkipRNN(VariantRNN):
    """h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh + h_{t-d} W_skipᵀ), d = ``skip`` >= 2;
    one more parameter, weight_skip (H, H). input (L, N, H_in), h_0 (N, H) -> output (L, N, H)."""

    def __init__(self, input_size: int, hidden_size: int, skip: int = 2, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        self.skip = validate.positive_int(skip, "SkipRNN", "skip", minimum=2)
        super().__init__(input_size, hidden_size, bias, rng, dtype)
        bound = 1 / math.sqrt(hidden_size)
        self.add_param("weight_skip", init.uniform((hidden_size, hidden_size), bound, rng, dtype))
