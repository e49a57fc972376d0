"""Chapter 4 figures: gradient flow through time, and attention alignments.

``gradient_flow`` measures ||∂h_T/∂h_k||₂ (spectral norm) for every k with the labutils
modules: a batch of H copies of one sequence is run forward, then backward with
dL/dh_T = I (copy i receives the unit vector e_i), so the gradient that BPTT carries back to
step k is, row by row, the Jacobian ∂h_T/∂h_k. For the LSTM the state is (h, c) and the norm
is that of [∂h_T/∂h_k, ∂h_T/∂c_k].
"""
import functools

import numpy as np

from .. import nn
from .explorer import FrameExplorer
from .style import OKABE_ITO, SEQUENTIAL, finish

__all__ = ["gradient_flow", "draw_gradient_flow", "draw_gradient_norms", "draw_alignment",
           "gradient_flow_explorer", "gradient_flow_alt", "NORM_LABEL", "STATE_NORM_LABEL", "scaled_orthogonal", "REMEMBER_BIAS"]

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
# Bias added in the explorer to the gate that keeps the old state (LSTM forget gate f, GRU
# update gate z), so that those gates start mostly open: σ(2) ≈ 0.88.
REMEMBER_BIAS = 2.0


def scaled_orthogonal(H, scale, rng):
    """scale · Q with Q orthogonal (Haar): every singular value and |eigenvalue| equals scale."""
    q, r = np.linalg.qr(rng.standard_normal((H, H)))
    return scale * q * np.sign(np.diag(r))


def gradient_flow(cell, scale, length, hidden_size=16, input_size=4, matrix="orthogonal",
                  gate_bias=0.0, seed=0):
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


NORM_LABEL = r"$\|\partial h_T / \partial h_k\|_2$"
# The LSTM's state is the pair (h_k, c_k): gradient_flow measures the Jacobian of h_T with
# respect to both, and a figure that shows it says so.
STATE_NORM_LABEL = r"$\|\partial h_T / \partial s_k\|_2$, $s_k = h_k$ or $(h_k, c_k)$ (LSTM)"


def draw_gradient_norms(fig, curves, title="Gradient norm backwards through time",
                        ylabel=NORM_LABEL):
    """curves: {label: (distance, norm)} -> one log-scale line each."""
    ax = fig.add_subplot(1, 1, 1)
    for (label, (d, n)), color in zip(curves.items(), OKABE_ITO * 3):
        ax.semilogy(d, np.maximum(n, 1e-300), label=label, color=color)
    finish(ax, title, "steps back in time, T − k", ylabel, legend=True)
    return ax


def draw_gradient_flow(fig, cell="RNN", scale=1.0, length=50, hidden_size=16, seed=0):
    """Left: ||∂h_T/∂h_k|| (LSTM: ||∂h_T/∂(h_k, c_k)||) against T − k (log scale). Right:
    four hidden units over time.
    Gated cells get REMEMBER_BIAS on their keep-the-old-state gate."""
    bias = 0.0 if cell == "RNN" else REMEMBER_BIAS
    r = gradient_flow(cell, scale, length, hidden_size, gate_bias=bias, seed=seed)
    fig.set_layout_engine(None)      # fixed margins: constrained layout costs half the time
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw=dict(left=0.09, right=0.98, bottom=0.16,
                                                   top=0.9, wspace=0.3))
    # log10 on a linear axis (plain tick labels draw much faster than log-axis mathtext);
    # the same limits in every frame, so that frames compare at a glance
    ax1.plot(r["distance"], np.log10(np.maximum(r["norm"], 1e-300)), color=OKABE_ITO[0])
    ax1.axhline(0.0, color="gray", lw=0.8, ls="--")
    ax1.set_ylim(-36, 14)
    gated = "" if cell == "RNN" else f", keep-gate bias +{bias:g}"
    state = "(h_k, c_k)" if cell == "LSTM" else "h_k"
    finish(ax1, f"{cell}, W_hh scale {scale:g}{gated}", "steps back in time, T - k",
           f"log10 ||dh_T / d{state}||")
    t = np.arange(1, length + 1)
    for j in range(4):
        ax2.plot(t, r["states"][:, j], color=OKABE_ITO[j], lw=1)
    ax2.set_ylim(-1.05, 1.05)
    finish(ax2, "four hidden units", "time step t", "h_t")
    return ax1, ax2


def draw_alignment(fig, weights, source, output, title="Attention alignment"):
    """weights (T_out, T_in): row i = how much output step i attends to each input position."""
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(weights, cmap=SEQUENTIAL, vmin=0, vmax=1)
    ax.set_xticks(range(len(source)), [str(s) for s in source])
    ax.set_yticks(range(len(output)), [str(s) for s in output])
    ax.grid(False)
    fig.colorbar(im, ax=ax, label="attention weight")
    finish(ax, title, "input sequence (source positions)", "output sequence (decoder steps)")
    return ax


def gradient_flow_alt(cell, scale, length):
    """Alt text of one explorer frame: what is measured (for the LSTM, its (h, c) state)."""
    state = ("its state (h_k, c_k), hidden and cell state together" if cell == "LSTM"
             else "the hidden state h_k")
    gated = "" if cell == "RNN" else f", keep-gate bias +{REMEMBER_BIAS:g}"
    return (f"{cell}, recurrent weights {scale:g} times an orthogonal matrix{gated}, "
            f"T = {length}. Left: log10 of the norm of the gradient of the last hidden state "
            f"h_T with respect to {state}, against the number of steps back T - k, with a "
            f"dashed line at 0 (norm 1). Right: four hidden units over time.")


def gradient_flow_explorer(cells=("RNN", "GRU", "LSTM"), scales=(0.5, 1.0, 3.0),
                           lengths=(30, 100)):
    """Cell type x recurrent-weight scale x sequence length, pre-drawn. A choice with one value
    is fixed rather than shown as a control. The default is 18 frames: each is drawn at twice
    the display resolution as a 256-colour PNG (about 60 kB) and stored in the notebook, which
    must stay under 3 MB."""
    grid = {"cell": list(cells), "scale": list(scales), "length": list(lengths)}
    fixed = {k: v[0] for k, v in grid.items() if len(v) == 1}
    grid = {k: v for k, v in grid.items() if len(v) > 1}
    return FrameExplorer(
        functools.partial(draw_gradient_flow, **fixed), grid,
        labels={"cell": "cell", "scale": "W_hh scale", "length": "length T"},
        alt=functools.partial(gradient_flow_alt, **fixed),
        figsize=(7.5, 3.0))
