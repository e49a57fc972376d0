"""Sparsely-gated mixture of experts (Shazeer et al., 2017), without the noise term.

    logits = x W_gᵀ;  keep the top k per token;  g = softmax over the kept logits (0 elsewhere)
    y = Σ_e g_e E_e(x)            each expert runs only on the tokens routed to it

backward: expert e gets g_e dy on its tokens; dg_e = <dy, E_e(x)>; the softmax backward runs
over the kept logits only,
    dlogits = g ⊙ (dg − Σ_e g_e dg_e)          (zero outside the top k, since g is)
The choice of the top k is piecewise constant, so no gradient flows through *which* experts were
chosen, only through the weights of those kept.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import validate
from ..module import Module, ModuleList
from .linear import Linear

__all__ = ["TopKGateCache", "top_k_gate_forward", "top_k_gate_backward", "MoECache",
           "MixtureOfExperts"]


class TopKGateCache(NamedTuple):
    g: np.ndarray          # (T, E) gate weights, zero outside each token's top k


def top_k_gate_forward(logits: np.ndarray, k: int) -> tuple[np.ndarray, TopKGateCache]:
    """logits: (T, E) -> g: (T, E), a softmax over each row's k largest logits, 0 elsewhere."""
    validate.array(logits, "top_k_gate_forward", "logits", ndim=2)
    k = validate.positive_int(k, "top_k_gate_forward", "k")
    if k > logits.shape[1]:
        raise ValueError(f"top_k_gate_forward: k must be at most the number of experts "
                         f"{logits.shape[1]} (logits' last axis), got {k}")
    return _top_k_gate_forward(logits, k)


def _top_k_gate_forward(logits: np.ndarray, k: int) -> tuple[np.ndarray, TopKGateCache]:
    top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    kept = np.take_along_axis(logits, top, axis=1)
    w = np.exp(kept - kept.max(axis=1, keepdims=True))
    g = np.zeros_like(logits)
    np.put_along_axis(g, top, w / w.sum(axis=1, keepdims=True), axis=1)
    return g, TopKGateCache(g)


def top_k_gate_backward(dg: np.ndarray, cache: TopKGateCache) -> np.ndarray:
    """dg: (T, E) -> dlogits: (T, E)."""
    if not isinstance(cache, TopKGateCache):
        raise TypeError(f"top_k_gate_backward: cache must be the TopKGateCache that "
                        f"top_k_gate_forward returned, got {type(cache).__name__}")
    validate.grad(dg, cache.g.shape, "top_k_gate_backward", "dg")
    return _top_k_gate_backward(dg, cache)


def _top_k_gate_backward(dg: np.ndarray, cache: TopKGateCache) -> np.ndarray:
    g = cache.g
    return g * (dg - (g * dg).sum(axis=1, keepdims=True))


class MoECache(NamedTuple):
    shape: tuple           # the input's shape (*, in_features)
    gate: TopKGateCache
    outputs: dict          # expert e -> (its tokens, E_e(x) on them)


def _describe(experts: object) -> str:
    if isinstance(experts, (list, tuple)):
        return f"a {type(experts).__name__} of {len(experts)}"
    return type(experts).__name__


class MixtureOfExperts(Module):
    """x: (*, in_features) -> y: (*, out_features); experts: Linear(in, out) unless given;
    gate: Linear(in, num_experts, bias=False)."""

    def __init__(self, in_features: int, out_features: int, num_experts: int, k: int = 2,
                 experts: list[Module] | None = None, rng: np.random.Generator | None = None,
                 dtype: type = np.float64) -> None:
        super().__init__()
        for arg, value in (("in_features", in_features), ("out_features", out_features),
                           ("num_experts", num_experts), ("k", k)):
            validate.positive_int(value, "MixtureOfExperts", arg)
        if k > num_experts:
            raise ValueError(f"MixtureOfExperts: k must be at most num_experts={num_experts}, "
                             f"got k={k}")
        validate.generator(rng, "MixtureOfExperts")
        if experts is not None and (not isinstance(experts, (list, tuple))
                                    or len(experts) != num_experts):
            raise ValueError(f"MixtureOfExperts: experts must be a list of num_experts="
                             f"{num_experts} modules, got {_describe(experts)}")
        self.in_features, self.out_features, self.k = in_features, out_features, k
        self.gate = Linear(in_features, num_experts, bias=False, rng=rng, dtype=dtype)
        self.experts = ModuleList(experts or [Linear(in_features, out_features, rng=rng, dtype=dtype)
                                              for _ in range(num_experts)])
        self._cache = None

    def route(self, x2: np.ndarray) -> np.ndarray:
        """Gate weights g: (T, E), zero outside each token's top k (x2: (T, in_features))."""
        return _top_k_gate_forward(self.gate(x2), self.k)[0]

    def forward(self, x: np.ndarray) -> np.ndarray:
        validate.array(x, "MixtureOfExperts", "input", min_ndim=1, shape=(self.in_features,))
        x2 = x.reshape(-1, self.in_features)
        g, gate_cache = _top_k_gate_forward(self.gate(x2), self.k)
        y = np.zeros((len(x2), self.out_features), dtype=np.result_type(x2, g))
        outputs = {}
        for e, expert in enumerate(self.experts):
            tokens = np.nonzero(g[:, e])[0]
            if len(tokens):
                outputs[e] = (tokens, expert(x2[tokens]))
                y[tokens] += g[tokens, e, None] * outputs[e][1]
        self._cache = MoECache(x.shape, gate_cache, outputs)
        return y.reshape(*x.shape[:-1], self.out_features)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        shape, gate_cache, outputs = validate.forward_called("MixtureOfExperts", self._cache)
        validate.grad(dy, shape[:-1] + (self.out_features,), "MixtureOfExperts")
        g = gate_cache.g
        dy2 = dy.reshape(-1, self.out_features)
        dx = np.zeros((len(dy2), self.in_features), dtype=dy2.dtype)
        dg = np.zeros_like(g)
        for e, (tokens, out) in outputs.items():
            dg[tokens, e] = (dy2[tokens] * out).sum(axis=1)
            dx[tokens] += self.experts[e].backward(g[tokens, e, None] * dy2[tokens])
        dx += self.gate.backward(_top_k_gate_backward(dg, gate_cache))
        return dx.reshape(shape)
