"""Chapter 2's diagrams (python tools/diagrams/ch2.py writes book/assets/diagrams/ch2_*.svg)."""
import matplotlib.pyplot as plt
from common import BLUE, GREEN, ORANGE, arrow, canvas, main

N, C, HW = 4, 6, 3                 # samples (depth), channels (across), positions (up)
DX, DY = 0.42, 0.3                 # the oblique offset of one sample


def _cube(ax, x0, y0, title, shaded):
    """The activation block drawn as N sample slices, back to front; ``shaded(n, c)`` says
    whether sample n's channel c (all its positions) is in the set that shares one mean."""
    for n in reversed(range(N)):
        ox, oy = x0 + n * DX, y0 + n * DY
        for c in range(C):
            on = shaded(n, c)
            ax.add_patch(plt.Rectangle((ox + c, oy), 1, HW, facecolor=ORANGE if on else "white",
                                       alpha=0.9 if on else 1.0, edgecolor="black", lw=0.8))
    ax.text(x0 + C / 2, y0 - 0.6, title, ha="center", va="top", fontsize=11)
    ax.annotate("", xy=(x0 + C, y0 - 0.25), xytext=(x0, y0 - 0.25),
                arrowprops={"arrowstyle": "->", "lw": 0.8})
    ax.text(x0 + C + 0.15, y0 - 0.25, "C", va="center", fontsize=9)
    ax.annotate("", xy=(x0 - 0.25, y0 + HW), xytext=(x0 - 0.25, y0), arrowprops={"arrowstyle": "->", "lw": 0.8})
    ax.text(x0 - 0.35, y0 + HW / 2, "H, W", ha="right", va="center", fontsize=9)
    ax.annotate("", xy=(x0 + C + 0.2 + (N - 1) * DX, y0 + (N - 1) * DY + 0.05), xytext=(x0 + C + 0.2, y0 + 0.05),
                arrowprops={"arrowstyle": "->", "lw": 0.8})
    ax.text(x0 + C + 0.35 + (N - 1) * DX, y0 + (N - 1) * DY, "N", va="center", fontsize=9)


def norm_axes():
    """The (N, C, H·W) block four times, shading the entries that share one mean and variance."""
    fig, ax = canvas(9.6, 3.4, (-1.2, 37), (-2.0, 5.2))
    ax.set_title("Which entries share one mean and variance (shaded): the front slice is sample 0")
    _cube(ax, 0, 0, "batch norm\none channel, all samples", lambda n, c: c == 1)
    _cube(ax, 9.5, 0, "layer norm\none sample, all channels", lambda n, c: n == 0)
    _cube(ax, 19, 0, "instance norm\none sample, one channel", lambda n, c: n == 0 and c == 1)
    _cube(ax, 28.5, 0, "group norm (G = 2)\none sample, 3 channels", lambda n, c: n == 0 and c < 3)
    return fig


def backward_projection():
    """dL/dx̂ split into its components along 1 (a shift) and x̂ (a scaling) and the rest."""
    fig, ax = canvas(8.4, 4.6, (-2.6, 12.5), (-1.9, 6.0))
    ax.set_title("The normalization backward removes what normalization cannot see")
    o, one, xh, rest = (0, 0), (3.2, -0.9), (1.3, 1.5), (0.0, 3.4)
    g = (one[0] + xh[0] + rest[0], one[1] + xh[1] + rest[1])
    arrow(ax, o, one, BLUE)
    ax.text(one[0] + 0.15, one[1] - 0.1, "direction 1\n(shift every entry)", color=BLUE, va="top", fontsize=9)
    arrow(ax, o, xh, GREEN)
    ax.text(xh[0] + 0.15, xh[1] - 0.1, "direction x̂\n(scale about\nthe mean)", color=GREEN, va="top", fontsize=9)
    arrow(ax, o, rest, "black")
    ax.text(-0.15, rest[1] * 0.55, "the rest:\northogonal\nto both", ha="right", fontsize=9)
    arrow(ax, o, g, ORANGE)
    ax.text(g[0] + 0.15, g[1] + 0.1, "gradient reaching x̂", color=ORANGE, fontsize=9)
    p = (one[0] + xh[0], one[1] + xh[1])
    for a, b in [(one, p), (xh, p), (p, g), (rest, g)]:
        ax.plot([a[0], b[0]], [a[1], b[1]], ls="--", color="gray", lw=0.8)
    ax.text(7.2, 4.8, "1. remove its component along 1\n    (its mean over the set)", fontsize=9, va="top")
    ax.text(7.2, 3.5, "2. remove its component along x̂\n    (1 and x̂ are orthogonal,\n    both of length √n)", fontsize=9, va="top")
    ax.text(7.2, 1.7, "3. divide what is left by σ̂:\n    that is dL/dx", fontsize=9, va="top")
    ax.text(7.2, 0.3, "a shift or a scaling of the set\nleaves x̂ unchanged, so dL/dx\nhas no component along them", fontsize=9,
            va="top", color="gray")
    return fig


DIAGRAMS = {"norm_axes": norm_axes, "backward_projection": backward_projection}

if __name__ == "__main__":
    main(DIAGRAMS, "ch2")
