"""One plotting style for the course: colour-blind-safe colours (Okabe-Ito), perceptually
uniform colormaps, white figure backgrounds that stay readable in the site's dark mode,
and helpers that every chapter's figures use."""
import matplotlib
import matplotlib.pyplot as plt
from cycler import cycler

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
    "figure.dpi": 80,
    "savefig.dpi": 80,
    "font.size": 10,
    "axes.titlesize": 11,
    "legend.frameon": False,
    "figure.constrained_layout.use": True,
}


def use_style():
    """Apply the course style to matplotlib (notebooks call this once)."""
    matplotlib.rcParams.update(STYLE)


def new_figure(figsize=(6.4, 3.6)):
    """A figure in the course style, not registered with pyplot's current-figure state
    unless shown (explorers draw many frames and close each)."""
    with matplotlib.rc_context(STYLE):
        return plt.figure(figsize=figsize)


def finish(ax, title, xlabel, ylabel, legend=False):
    """Every axis gets a title and labels; ``legend`` adds a legend."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend:
        ax.legend()
    return ax
