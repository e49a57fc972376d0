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
    # Shown at 100 CSS px per inch of figure; 11.5 pt is then about 16 px, the site's body text.
    # Inline figures are rendered at twice that ("retina", see use_style) for sharp screens.
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "font.size": 11.5,
    "axes.titlesize": 12.5,
    "legend.frameon": False,
    "figure.constrained_layout.use": True,
}


def use_style():
    """Apply the course style to matplotlib (notebooks call this once). In a notebook, inline
    figures are also sent at double resolution, shown at their nominal size ("retina")."""
    matplotlib.rcParams.update(STYLE)
    try:
        from IPython import get_ipython
        if get_ipython() is not None:
            from matplotlib_inline.backend_inline import set_matplotlib_formats
            set_matplotlib_formats("retina")
    except ImportError:
        pass


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
