"""Chapter 4's measurement of gradient flow through time.

``gradient_flow`` measures ||∂h_T/∂h_k||₂ (spectral norm) for every k with the labutils
modules: a batch of H copies of one sequence is run forward, then backward with
dL/dh_T = I (copy i receives the unit vector e_i), so the gradient that BPTT carries back to
step k is, row by row, the Jacobian ∂h_T/∂h_k. For the LSTM the state is (h, c) and the norm
is that of [∂h_T/∂h_k, ∂h_T/∂c_k]. ``labutils.viz.rnn`` draws it.
"""
from __future__ import annotations

import numpy as np

from .. import init, nn

__all__ = ["gradient_flow", "scaled_orthogonal", "REMEMBER_BIAS", "GATES"]

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
# Bias added to the gate that keeps the old state (LSTM forget gate f, GRU update gate z), so
# that those gates start mostly open: σ(2) ≈ 0.88.
REMEMBER_BIAS = 2.0


def scaled_orthogonal(H: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """scale · Q with Q orthogonal (Haar): every singular value and |eigenvalue| equals scale."""
    return scale * init.haar_orthogonal(H, rng)


def gradient_flow(cell: str, scale: float, length: int, hidden_size: int = 16,
                  input_size: int = 4, matrix: str = "orthogonal", gate_bias: float = 0.0,
                  seed: int = 0) -> dict:
    """Measure how the gradient decays or grows backwards through time.

    cell      -- "RNN" (tanh), "GRU" or "LSTM"
    scale     -- every recurrent block (each gate's H x H part of weight_hh) is scale · M, with
                 M orthogonal (matrix="orthogonal") or Gaussian N(0, 1/H) (matrix="gaussian")
    gate_bias -- added to the bias of the gate that keeps the old state (LSTM f, GRU z)
    Returns a dict: distance (T − k for k = T..0), norm (||∂h_T/∂h_k||₂ in that order; for
    the LSTM ||∂h_T/∂(h_k, c_k)||₂, the Jacobian with respect to its whole state),
    states (T, H) hidden trajectory, radius and sigma_max of the first recurrent block.
    """
    if cell not in GATES:
        raise ValueError(f"gradient_flow: cell must be one of {list(GATES)}, got {cell!r}")
    if matrix not in ("orthogonal", "gaussian"):
        raise ValueError(f"gradient_flow: matrix must be 'orthogonal' or 'gaussian', "
                         f"got {matrix!r}")
    rng = np.random.default_rng(seed)
    H, G = hidden_size, GATES[cell]
    m = getattr(nn, cell)(input_size, H, rng=rng)
    w = m.params["weight_hh_l0"]
    for g in range(G):
        w[g * H:(g + 1) * H] = (scaled_orthogonal(H, scale, rng) if matrix == "orthogonal"
                                else scale * rng.standard_normal((H, H)) / np.sqrt(H))
    if cell != "RNN":   # LSTM rows i, f, g, o and GRU rows r, z, n: the second block keeps
        m.params["bias_hh_l0"][H:2 * H] += gate_bias
    x = np.repeat(rng.standard_normal((length, 1, input_size)), H, axis=1)
    m.record_state_grads = True
    out, _ = m(x)
    eye = np.eye(H)[None]
    m.backward(None, (eye, None) if cell == "LSTM" else eye)
    per_step = m.state_grads[0]          # dL/dh_k (and dL/dc_k), k = 0 .. T
    norms = np.array([np.linalg.norm(dh if dc is None else np.concatenate([dh, dc], axis=1), 2)
                      for dh, dc in per_step])
    block = w[:H]
    return {"distance": np.arange(length + 1), "norm": norms[::-1], "states": out[:, 0],
            "radius": float(np.max(np.abs(np.linalg.eigvals(block)))),
            "sigma_max": float(np.linalg.norm(block, 2))}
