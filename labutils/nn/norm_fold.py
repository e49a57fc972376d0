"""Folding a trained batch norm into the layer before it, for inference.

In evaluation mode batch norm is a fixed affine map per output channel c,

    y_c = γ_c (z_c − μ_c) / sqrt(σ²_c + ε) + β_c      (μ, σ² the running statistics)

and the layer before it (Linear or conv) is affine too, z_c = w_c · x + b_c. Their
composition is one layer of the same kind: with s_c = γ_c / sqrt(σ²_c + ε),

    w'_c = s_c w_c        b'_c = s_c (b_c − μ_c) + β_c

so the deployed network computes the same outputs with one layer fewer. A layer without a
bias (the usual choice before batch norm, whose β makes it redundant) folds with b = 0.
"""
from __future__ import annotations

import numpy as np

from . import norm_checks as checks

__all__ = ["fold_batch_norm"]


def fold_batch_norm(weight: np.ndarray, bias: np.ndarray | None, gamma: np.ndarray,
                    beta: np.ndarray, running_mean: np.ndarray, running_var: np.ndarray,
                    eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """weight: (C_out, *) of a Linear (C_out, in) or conv (C_out, C_in, *k); bias: (C_out,)
    or None; gamma, beta, running_mean, running_var: (C_out,) -> (weight', bias')."""
    checks.fold_args(weight, bias, gamma, beta, running_mean, running_var, eps)
    scale = gamma / np.sqrt(running_var + eps)
    bias = np.zeros_like(running_mean) if bias is None else bias
    folded = scale.reshape((-1,) + (1,) * (weight.ndim - 1)) * weight
    return folded, scale * (bias - running_mean) + beta
