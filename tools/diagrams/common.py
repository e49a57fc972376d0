"""What every chapter's diagram script shares: the course style, deterministic SVG output.

A chapter's script ``tools/diagrams/chN.py`` defines ``DIAGRAMS = {"name": draw_function}``
(each draws one figure and returns it) and ends with ``if __name__ == "__main__": main(DIAGRAMS)``.
``python tools/diagrams/chN.py`` writes ``book/assets/diagrams/chN_<name>.svg``;
tests/test_diagrams.py regenerates them into a temporary folder and compares.
"""
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from labutils.viz.style import OKABE_ITO, use_style  # noqa: E402

OUT = ROOT / "book" / "assets" / "diagrams"
BLUE, ORANGE, GREEN, RED, PINK, SKY = OKABE_ITO[:6]


def box(ax, x, y, w, h, text, color=BLUE, fill=0.15, **kw):
    """A labelled rectangle centred at (x, y)."""
    ax.add_patch(plt.Rectangle((x - w / 2, y - h / 2), w, h, facecolor=color, alpha=fill,
                               edgecolor=color, lw=1.5))
    ax.add_patch(plt.Rectangle((x - w / 2, y - h / 2), w, h, fill=False, edgecolor=color, lw=1.5))
    ax.text(x, y, text, ha="center", va="center", **kw)


def arrow(ax, start, end, color="black", text=None, offset=(0, 0.15), **kw):
    """An arrow from start to end, optionally labelled at its middle."""
    ax.annotate("", xy=end, xytext=start,
                arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.5, "shrinkA": 2, "shrinkB": 2, **kw})
    if text:
        ax.text((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1], text,
                ha="center", va="center", color=color)


def canvas(width, height, xlim, ylim):
    """A white figure with a blank axes spanning the data ranges."""
    use_style()
    fig = plt.figure(figsize=(width, height), layout="none")
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.88))
    ax.set(xlim=xlim, ylim=ylim)
    ax.axis("off")
    return fig, ax


def write(diagrams, prefix, out=OUT):
    """Draw every diagram and save it as ``<out>/<prefix>_<name>.svg``; return the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": "course", "svg.fonttype": "path"}):
        for name, draw in diagrams.items():
            fig = draw()
            path = out / f"{prefix}_{name}.svg"
            fig.savefig(path, format="svg", facecolor="white", metadata={"Date": None})
            plt.close(fig)
            paths.append(path)
    return paths


def main(diagrams, prefix):
    for p in write(diagrams, prefix):
        print(p.relative_to(ROOT))
