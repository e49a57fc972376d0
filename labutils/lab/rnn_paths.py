"""Chapter 4's measurement of how a recurrence's wiring changes the gradient's road through time:
the exact ||∂h_T/∂h_0||₂ against the length T, for the modules of ``labutils.nn.rnn_variants``
given the same weights,

    plain      h_t = tanh(x_t W_ihᵀ + h_{t-1} W_hhᵀ)                 (DilatedRNN with d = 1)
    dilated    h_t = tanh(x_t W_ihᵀ + h_{t-d} W_hhᵀ)                 (d interleaved chains)
    residual   h_t = h_{t-1} + tanh(x_t W_ihᵀ + h_{t-1} W_hhᵀ)
    skip       h_t = tanh(x_t W_ihᵀ + h_{t-1} W_hhᵀ + h_{t-d} W_skipᵀ)

One backward gives the whole Jacobian: the module runs H copies of one sequence, copy i starts its
backward from dL/dh_T = e_i, and dL/dh_0 of copy i is row i of ∂h_T/∂h_0.
"""
from __future__ import annotations

import numpy as np

from .. import init
from .. import validate
from ..nn.rnn_variants import DilatedRNN, ResidualRNN, SkipRNN, VariantRNN

__all__ = ["KINDS", "make_variant", "jacobian_norm", "norms_against_length"]

KINDS = ("plain", "dilated", "residual", "skip")


def make_variant(kind: str, hidden_size: int = 16, scale: float = 0.9, dilation: int = 4,
                 seed: int = 0) -> VariantRNN:
    """The module of ``kind`` (2 input features, no biases) with W_hh = scale · a Haar orthogonal
    matrix and W_ih standard normal / √2, the same for every kind and seed (W_skip: its own)."""
    if kind not in KINDS:
        raise ValueError(f"make_variant: kind must be one of {KINDS}, got {kind!r}")
    rng = np.random.default_rng(seed)
    w_hh = scale * init.haar_orthogonal(hidden_size, rng)
    w_ih = rng.standard_normal((hidden_size, 2)) / np.sqrt(2)
    module = {"plain": lambda: DilatedRNN(2, hidden_size, 1, bias=False),
              "dilated": lambda: DilatedRNN(2, hidden_size, dilation, bias=False),
              "residual": lambda: ResidualRNN(2, hidden_size, bias=False),
              "skip": lambda: SkipRNN(2, hidden_size, dilation, bias=False, rng=rng)}[kind]()
    module.params["weight_hh_l0"][...] = w_hh
    module.params["weight_ih_l0"][...] = w_ih
    if kind == "skip":
        module.params["weight_skip"][...] = scale * init.haar_orthogonal(hidden_size, rng)
    return module


def jacobian_norm(module: VariantRNN, x: np.ndarray) -> float:
    """||∂h_T/∂h_0||₂ for one sequence x (T, H_in), from h_0 = 0."""
    validate.array(x, "jacobian_norm", "x", ndim=2, shape=(module.input_size,))
    H = module.hidden_size
    out = module(np.repeat(x[:, None, :], H, axis=1), np.zeros((H, H), dtype=x.dtype))
    dout = np.zeros_like(out)
    dout[-1] = np.eye(H)
    return float(np.linalg.norm(module.backward(dout)[1], 2))


def norms_against_length(kind: str, lengths: list[int], seed: int = 0,
                         **options: object) -> np.ndarray:
    """||∂h_T/∂h_0||₂ for each T in ``lengths``, on the first T steps of one input sequence
    (standard normal, seeded); ``options`` go to make_variant."""
    module = make_variant(kind, seed=seed, **options)
    x = np.random.default_rng(seed + 1).standard_normal((max(lengths), 2))
    return np.array([jacobian_norm(module, x[:T]) for T in lengths])
