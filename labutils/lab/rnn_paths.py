"""Chapter 4's measurement of how a recurrence's wiring changes the gradient's path through time:
the exact ||∂h_T/∂h_k||₂ for three tanh recurrences with the same weights,

    plain      h_t = tanh(U x_t + W h_{t-1})
    dilated    h_t = tanh(U x_t + W h_{t-d})          (d interleaved chains; h_{t-d} = h_0 early)
    residual   h_t = h_{t-1} + tanh(U x_t + W h_{t-1})

computed by accumulating Jacobians backwards along the graph: G_T = I, and each step t adds
G_t ∂h_t/∂h_parent to its parent's G. A dilated network's state h_k reaches h_T only when k is
on h_T's chain (T − k a multiple of d); the others get no gradient at all and are left out.
"""
from __future__ import annotations

import numpy as np

from .. import init

__all__ = ["path_norms", "KINDS"]

KINDS = ("plain", "dilated", "residual")


def _parent(kind: str, t: int, dilation: int) -> int:
    return max(t - dilation, 0) if kind == "dilated" else t - 1


def path_norms(kind: str, length: int = 60, hidden_size: int = 16, scale: float = 0.9,
               dilation: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """-> (distance T − k, ||∂h_T/∂h_k||₂) for the states k that reach h_T, nearest first.
    W = scale · a Haar orthogonal matrix, U and the inputs standard normal (2 input features)."""
    if kind not in KINDS:
        raise ValueError(f"path_norms: kind must be one of {KINDS}, got {kind!r}")
    rng = np.random.default_rng(seed)
    W = scale * init.haar_orthogonal(hidden_size, rng)
    U = rng.standard_normal((hidden_size, 2)) / np.sqrt(2)
    x = rng.standard_normal((length + 1, 2))
    h = [np.zeros(hidden_size)]
    local = [None]                               # ∂h_t/∂h_parent for t = 1 ... T
    for t in range(1, length + 1):
        a = np.tanh(U @ x[t] + W @ h[_parent(kind, t, dilation)])
        jac = (1 - a * a)[:, None] * W
        if kind == "residual":
            h.append(h[t - 1] + a)
            jac = np.eye(hidden_size) + jac
        else:
            h.append(a)
        local.append(jac)
    G = {length: np.eye(hidden_size)}
    for t in range(length, 0, -1):
        if t in G:
            p = _parent(kind, t, dilation)
            G[p] = G.get(p, 0) + G[t] @ local[t]
    ks = sorted(G, reverse=True)
    return (np.array([length - k for k in ks]),
            np.array([np.linalg.norm(G[k], 2) for k in ks]))
