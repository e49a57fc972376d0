"""Chapter 3's diagrams (python tools/diagrams/ch3.py writes book/assets/diagrams/ch3_*.svg)."""
import matplotlib.pyplot as plt
from common import BLUE, GREEN, ORANGE, PINK, SKY, arrow, box, canvas, main


def _grid(ax, x0, y0, rows, cols, cell=0.5, fill=None, edge="0.35"):
    """A rows x cols grid of squares with its top-left corner at (x0, y0); fill: {(r, c): colour}."""
    fill = fill or {}
    for r in range(rows):
        for c in range(cols):
            colour = fill.get((r, c))
            ax.add_patch(plt.Rectangle((x0 + c * cell, y0 - (r + 1) * cell), cell, cell,
                                       facecolor=colour or "white", alpha=0.55 if colour else 1,
                                       edgecolor=edge, lw=0.8))


def conv_window():
    """A 3x3 kernel over a 5x5 input padded by 1: stride 2 windows, and a dilation-2 window."""
    fig, ax = canvas(7.2, 3.6, (0, 14.4), (0, 7.2))
    ax.set_title("One output per window (p = 1, s = 2, k = 3); right: dilation d = 2", fontsize=10)
    pad = {(r, c): "0.8" for r in range(7) for c in range(7) if r in (0, 6) or c in (0, 6)}
    first = {(r, c): BLUE for r in range(3) for c in range(3)}
    second = {(r, c): ORANGE for r in range(3) for c in range(2, 5)}
    _grid(ax, 0.5, 6.2, 7, 7, 0.7, {**pad, **first, **second})
    ax.text(2.95, 0.75, "5 x 5 input, padded by 1 (grey)\nblue: output (0, 0); orange: output\n"
            "(0, 1), s = 2 pixels to the right", ha="center", va="center", fontsize=8)
    _grid(ax, 6.0, 4.8, 3, 3, 0.7, {(0, 0): BLUE, (0, 1): ORANGE})
    ax.text(7.05, 2.1, "3 x 3 output", ha="center", va="center", fontsize=8)
    arrow(ax, (5.5, 4.5), (6.0, 4.5), BLUE)
    dil = {(r, c): GREEN for r in (0, 2, 4) for c in (0, 2, 4)}
    _grid(ax, 9.3, 6.2, 7, 7, 0.7, {**pad, **dil})
    ax.text(11.75, 0.75, "d = 2: the 3 x 3 taps are 2 apart,\nthe window spans 5 x 5 pixels",
            ha="center", va="center", fontsize=8)
    return fig


def im2col():
    """Each window of the padded input becomes one column; the layer is one matrix product."""
    fig, ax = canvas(7.2, 3.6, (0, 14.4), (0, 7.2))
    ax.set_title("im2col: every window becomes a column; the layer is one product", fontsize=10)
    colours = [BLUE, ORANGE, GREEN, PINK]
    fill = {}
    for k, (r0, c0) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        for r in range(2):
            for c in range(2):
                fill.setdefault((r0 + r, c0 + c), colours[k])
    _grid(ax, 0.4, 5.6, 3, 3, 0.8, fill)
    ax.text(1.6, 2.2, "input 3 x 3 (C = 1),\n2 x 2 windows, s = 1:\n4 windows", ha="center",
            fontsize=8)
    arrow(ax, (3.0, 4.4), (4.6, 4.4), "black")
    for k, colour in enumerate(colours):
        _grid(ax, 4.8 + 0.6 * k, 5.6, 4, 1, 0.6, {(r, 0): colour for r in range(4)})
    ax.text(6.0, 2.2, "X_col, one column per window:\n(C·kh·kw, N·H_out·W_out) = (4, 4)",
            ha="center", fontsize=8)
    box(ax, 9.9, 5.6, 2.6, 0.8, "W_mat\n(F, C·kh·kw)", color=SKY, fontsize=8)
    box(ax, 9.9, 3.6, 2.6, 0.8, "Y = W_mat X_col\n(F, N·H_out·W_out)", color=BLUE, fontsize=8)
    arrow(ax, (7.4, 4.4), (8.6, 3.8), "black")
    arrow(ax, (9.9, 5.2), (9.9, 4.0), "black")
    ax.text(11.2, 2.2, "one product (BLAS), then a reshape\nto (N, F, H_out, W_out)", ha="center",
            fontsize=8)
    return fig


def receptive_field():
    """Three 3-tap layers: each output sees 3 units of the layer below, the input 7 pixels."""
    fig, ax = canvas(7.2, 3.6, (0, 14.4), (0, 7.2))
    ax.set_title("The receptive field grows through a stack: three 3-tap layers, r = 7", fontsize=10)
    n = 11
    ys = [1.0, 2.6, 4.2, 5.8]
    span = {0: range(2, 9), 1: range(3, 8), 2: range(4, 7), 3: range(5, 6)}
    for level, y in enumerate(ys):
        for i in range(n):
            inside = i in span[level]
            ax.add_patch(plt.Circle((2.2 + 1.05 * i, y), 0.28, facecolor=ORANGE if inside else "white",
                                    alpha=0.7 if inside else 1, edgecolor="0.3", lw=0.8))
        ax.text(0.1, y, ["input", "layer 1", "layer 2", "layer 3"][level], va="center", fontsize=8)
    for level in range(1, 4):
        for i in span[level]:
            for j in (i - 1, i, i + 1):
                ax.plot([2.2 + 1.05 * i, 2.2 + 1.05 * j], [ys[level] - 0.28, ys[level - 1] + 0.28],
                        color=BLUE, lw=0.7, alpha=0.7)
    ax.text(8.5, 0.3, "orange: what the top unit sees at each level (7 inputs)", ha="center",
            va="center", fontsize=8)
    return fig


def mbconv():
    """MBConv: expand 1x1, depthwise kxk, squeeze-and-excitation, project 1x1, + x."""
    fig, ax = canvas(7.2, 3.8, (0, 14.4), (0, 7.6))
    ax.set_title("MBConv (inverted residual) with squeeze-and-excitation", fontsize=10)
    steps = [("x\n(C)", 0.9, BLUE), ("1x1 expand\nBN, act\n(t·C)", 3.0, GREEN),
             ("k x k depthwise\n(groups t·C,\nstride s)\nBN, act", 5.6, GREEN),
             ("× gates\n(t·C)", 8.2, PINK), ("1x1 project\nBN\n(C_out)", 10.5, GREEN),
             ("+ x\n(if s = 1 and\nC_out = C)", 12.9, BLUE)]
    for text, x, colour in steps:
        box(ax, x, 4.6, 2.0 if x > 1 else 1.2, 1.7, text, color=colour, fontsize=7)
    for (_, a, _), (_, b, _) in zip(steps, steps[1:]):
        arrow(ax, (a + (0.6 if a < 1 else 1.0), 4.6), (b - 1.0, 4.6), "black")
    box(ax, 8.2, 1.5, 5.2, 1.2, "squeeze-excitation: global avg pool → 1x1 squeeze → act\n"
        "→ 1x1 excite → sigmoid: one gate in (0, 1) per channel", color=ORANGE, fontsize=8)
    arrow(ax, (6.6, 3.8), (7.0, 2.1), ORANGE)
    arrow(ax, (8.2, 2.1), (8.2, 3.8), ORANGE)
    ax.annotate("", xy=(12.9, 5.4), xytext=(0.9, 5.4),
                arrowprops=dict(arrowstyle="-|>", color=BLUE, lw=1.2, connectionstyle="arc3,rad=-0.25"))
    ax.text(6.9, 6.1, "shortcut between the narrow ends", ha="center", color=BLUE, fontsize=8)
    return fig


def unet():
    """The tiny U-Net: contracting path, bottom, expanding path, skip concatenation, head."""
    fig, ax = canvas(7.2, 3.8, (0, 14.4), (0, 7.6))
    ax.set_title("A one-level U-Net: the skip's feature map is concatenated after upsampling", fontsize=10)
    box(ax, 1.3, 5.6, 2.0, 1.2, "input\n(1, 12, 12)", color=BLUE, fontsize=8)
    box(ax, 4.4, 5.6, 2.6, 1.2, "2 x (conv3, ReLU)\n(c, 12, 12)", color=GREEN, fontsize=8)
    box(ax, 7.2, 1.6, 3.0, 1.2, "maxpool 2, conv3, ReLU\n(2c, 6, 6)", color=GREEN, fontsize=8)
    box(ax, 10.0, 3.6, 2.6, 1.2, "ConvTranspose 2x2/2\n(c, 12, 12)", color=ORANGE, fontsize=8)
    box(ax, 10.0, 5.6, 2.6, 1.2, "concat\n(2c, 12, 12)", color=PINK, fontsize=8)
    box(ax, 13.0, 5.6, 2.2, 1.2, "conv3, ReLU,\nconv1 → 2 classes\nper pixel", color=BLUE, fontsize=7)
    arrow(ax, (2.3, 5.6), (3.1, 5.6), "black")
    arrow(ax, (4.4, 5.0), (6.4, 2.2), "black", "contracting", offset=(-0.9, 0))
    arrow(ax, (8.0, 2.2), (9.6, 3.0), "black", "expanding", offset=(0.9, -0.2))
    arrow(ax, (10.0, 4.2), (10.0, 5.0), "black")
    arrow(ax, (5.7, 5.6), (8.7, 5.6), PINK, "skip (copy)", offset=(0, 0.3))
    arrow(ax, (11.3, 5.6), (11.9, 5.6), "black")
    return fig


def depthwise_separable():
    """A k x k convolution against depthwise k x k + pointwise 1 x 1."""
    fig, ax = canvas(7.2, 3.4, (0, 14.4), (0, 6.8))
    ax.set_title("Depthwise-separable: filter each channel alone, then mix channels", fontsize=10)
    box(ax, 2.6, 5.0, 4.6, 1.2, "standard k x k conv: every output\nchannel reads every input channel",
        color=BLUE, fontsize=7)
    ax.text(8.8, 5.0, "C_out·C_in·k² weights", ha="center", va="center", fontsize=9)
    box(ax, 2.6, 2.4, 4.6, 1.2, "depthwise k x k (groups = C_in):\none filter per input channel",
        color=GREEN, fontsize=7)
    box(ax, 7.9, 2.4, 4.2, 1.2, "pointwise 1 x 1:\nC_in -> C_out at every pixel", color=ORANGE,
        fontsize=7)
    arrow(ax, (4.9, 2.4), (5.8, 2.4), "black")
    ax.text(12.4, 2.4, "C_in·k² + C_in·C_out\nweights", ha="center", va="center", fontsize=9)
    ax.text(7.2, 0.6, "MobileNet, Xception: the same map, a fraction of the cost", ha="center",
            fontsize=8)
    return fig


DIAGRAMS = {"conv_window": conv_window, "im2col": im2col, "receptive_field": receptive_field,
            "mbconv": mbconv, "unet": unet, "depthwise_separable": depthwise_separable}

if __name__ == "__main__":
    main(DIAGRAMS, "ch3")
