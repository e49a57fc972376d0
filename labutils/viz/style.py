"""One plotting style for the course: colour-blind-safe colours (Okabe-Ito), perceptually
uniform colormaps, white figure backgrounds that stay readable in the site's dark mode,
and helpers that every chapter's figures use."""
from __future__ import annotations

import io

import matplotlib
import matplotlib.pyplot as plt
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure

# Okabe & Ito (2008), safe for the common colour-vision deficiencies.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
SEQUENTIAL = "viridis"      # magnitudes (attention weights, gradient norms)
DIVERGING = "RdBu_r"        # signed values around 0 (weights, encodings)

STYLE = {
    "axes.prop_cycle": cycler(color=OKABE_ITO),
    "image.cmap": SEQUENTIAL,
    "figure.facecolor": "white",      # not transparent: dark mode would hide black text
    "savefig.facecolor": "white",
    "axes.facecolor": "white",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    # Shown at 100 CSS px per inch of figure; 11.5 pt is then about 16 px, the site's body text.
    # Inline figures are rendered at twice that ("retina", see use_style) for sharp screens.
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "font.size": 11.5,
    "axes.titlesize": 12.5,
    "legend.frameon": False,
    "figure.constrained_layout.use": True,
}


def use_style() -> None:
    """Apply the course style to matplotlib (notebooks call this once). In a notebook, inline
    figures are also sent at double resolution, shown at their nominal size ("retina")."""
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None and "inline" in matplotlib.get_backend(auto_select=False):
        # Set up the inline backend now (importing it does), not at the first figure, where it
        # would register its own PNG formatter over ours.
        import matplotlib_inline.backend_inline  # noqa: F401
        from matplotlib.figure import Figure
        shell.display_formatter.formatters["image/png"].for_type(Figure, retina_png)
    matplotlib.rcParams.update(STYLE)


def retina_png(fig: Figure) -> tuple[bytes, dict[str, int]]:
    """An inline figure as a 256-colour PNG at twice its size, shown at its size (the PNG's
    width and height in the output's metadata), so it is sharp and small in the notebook."""
    from .explorer import palette_png
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=2 * fig.dpi, bbox_inches="tight")
    png = palette_png(buf.getvalue())
    w, h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    return png, {"width": w // 2, "height": h // 2}


def new_figure(figsize: tuple[float, float] = (6.4, 3.6)) -> Figure:
    """A figure in the course style, not registered with pyplot's current-figure state
    unless shown (explorers draw many frames and close each)."""
    with matplotlib.rc_context(STYLE):
        return plt.figure(figsize=figsize)


def finish(ax: Axes, title: str, xlabel: str, ylabel: str, legend: bool = False) -> Axes:
    """Every axis gets a title and labels; ``legend`` adds a legend."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend:
        ax.legend()
    return ax
