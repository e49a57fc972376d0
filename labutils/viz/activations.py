"""Chapter 1 pictures: activation functions and their derivatives (from the labutils
modules themselves: f from forward, f' from backward with dy = 1)."""
from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .. import nn
from .explorer import FrameExplorer
from .style import OKABE_ITO, finish

ACTIVATIONS = {
    "ReLU": nn.ReLU, "LeakyReLU(0.1)": lambda: nn.LeakyReLU(0.1), "ELU": nn.ELU, "SELU": nn.SELU,
    "GELU": nn.GELU, "GELU (tanh)": lambda: nn.GELU("tanh"), "Sigmoid": nn.Sigmoid,
    "Tanh": nn.Tanh, "Softplus": nn.Softplus, "Softplus(beta=3)": lambda: nn.Softplus(beta=3.0),
}


def activation_curves(name: str, x: np.ndarray | None = None,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, f(x), f'(x)) for the named activation."""
    x = np.linspace(-4, 4, 401) if x is None else x
    m = ACTIVATIONS[name]()
    y = m(x)
    return x, y, m.backward(np.ones_like(x))


def draw_activation(fig: Figure, name: str = "ReLU", derivative: bool = True) -> Axes:
    """f (solid) and, optionally, f' (dashed) on [-4, 4]."""
    ax = fig.add_subplot()
    x, y, dy = activation_curves(name)
    ax.plot(x, y, color=OKABE_ITO[0], lw=2, label=f"{name}(x)")
    if derivative:
        ax.plot(x, dy, color=OKABE_ITO[3], lw=2, ls="--", label="derivative")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_ylim(-2, 4)
    finish(ax, f"{name}" + (" and its derivative" if derivative else ""), "x", "value", legend=True)
    return ax


def activation_explorer() -> FrameExplorer:
    """Pick an activation; show or hide its derivative. Frames are pre-drawn."""
    return FrameExplorer(draw_activation, {"name": list(ACTIVATIONS), "derivative": [True, False]},
                         labels={"name": "activation", "derivative": "derivative"},
                         alt="An activation function on [-4, 4], solid, with its derivative dashed.",
                         figsize=(5.6, 3.2))
