"""Chapter 4 figures: gradient flow through time, and attention alignments. Drawing only:
the measurement is ``labutils.lab.gradient_flow.gradient_flow`` (re-exported here, with
``scaled_orthogonal`` and ``REMEMBER_BIAS``, for notebooks saved before it moved).
"""
from __future__ import annotations

import functools

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..lab.gradient_flow import REMEMBER_BIAS, gradient_flow, scaled_orthogonal
from .explorer import FrameExplorer
from .style import OKABE_ITO, SEQUENTIAL, finish

__all__ = ["draw_gradient_flow", "draw_gradient_norms", "draw_alignment", "draw_position_accuracy",
           "gradient_flow_explorer", "gradient_flow_alt", "NORM_LABEL", "STATE_NORM_LABEL",
           "gradient_flow", "scaled_orthogonal", "REMEMBER_BIAS"]


NORM_LABEL = r"$\|\partial h_T / \partial h_k\|_2$"
# The LSTM's state is the pair (h_k, c_k): gradient_flow measures the Jacobian of h_T with
# respect to both, and a figure that shows it says so.
STATE_NORM_LABEL = r"$\|\partial h_T / \partial s_k\|_2$, $s_k = h_k$ or $(h_k, c_k)$ (LSTM)"


def draw_gradient_norms(fig: Figure, curves: dict,
                        title: str = "Gradient norm backwards through time",
                        ylabel: str = NORM_LABEL,
                        xlabel: str = "steps back in time, T − k") -> Axes:
    """curves: {label: (distance, norm)} -> one log-scale line each."""
    ax = fig.add_subplot(1, 1, 1)
    for (label, (d, n)), color in zip(curves.items(), OKABE_ITO * 3):
        ax.semilogy(d, np.maximum(n, 1e-300), label=label, color=color)
    finish(ax, title, xlabel, ylabel, legend=True)
    return ax


def draw_gradient_flow(fig: Figure, cell: str = "RNN", scale: float = 1.0, length: int = 50,
                       hidden_size: int = 16, seed: int = 0) -> tuple[Axes, Axes]:
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


def draw_alignment(fig: Figure, weights: np.ndarray, source: list, output: list,
                   title: str = "Attention alignment") -> Axes:
    """weights (T_out, T_in): row i = how much output step i attends to each input position."""
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(weights, cmap=SEQUENTIAL, vmin=0, vmax=1)
    ax.set_xticks(range(len(source)), [str(s) for s in source])
    ax.set_yticks(range(len(output)), [str(s) for s in output])
    ax.grid(False)
    fig.colorbar(im, ax=ax, label="attention weight")
    finish(ax, title, "input sequence (source positions)", "output sequence (decoder steps)")
    return ax


def draw_position_accuracy(fig: Figure, curves: dict,
                           title: str = "Accuracy at each output position") -> Axes:
    """curves: {label: accuracy per output position (T_out,)} -> one line with markers each,
    positions counted from 1, accuracy from 0 to 1."""
    ax = fig.add_subplot(1, 1, 1)
    for (label, acc), color in zip(curves.items(), OKABE_ITO):
        ax.plot(np.arange(1, len(acc) + 1), acc, "o-", label=label, color=color)
    ax.set_ylim(0, 1.05)
    finish(ax, title, "output position", "fraction of symbols right", legend=True)
    return ax


def gradient_flow_alt(cell: str, scale: float, length: int) -> str:
    """Alt text of one explorer frame: what is measured (for the LSTM, its (h, c) state)."""
    state = ("its state (h_k, c_k), hidden and cell state together" if cell == "LSTM"
             else "the hidden state h_k")
    gated = "" if cell == "RNN" else f", keep-gate bias +{REMEMBER_BIAS:g}"
    return (f"{cell}, recurrent weights {scale:g} times an orthogonal matrix{gated}, "
            f"T = {length}. Left: log10 of the norm of the gradient of the last hidden state "
            f"h_T with respect to {state}, against the number of steps back T - k, with a "
            f"dashed line at 0 (norm 1). Right: four hidden units over time.")


def gradient_flow_explorer(cells: tuple = ("RNN", "GRU", "LSTM"),
                           scales: tuple = (0.5, 1.0, 3.0),
                           lengths: tuple = (30, 100)) -> FrameExplorer:
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
