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


def _column(ax, x, steps, width=2.8, height=0.75, top=6.1, gap=1.05):
    """Boxes stacked downwards at x, joined by arrows; steps: [(text, colour)]. -> their ys."""
    ys = [top - i * gap for i in range(len(steps))]
    for (text, colour), y in zip(steps, ys):
        box(ax, x, y, width, height, text, color=colour, fontsize=7)
    for a, b in zip(ys, ys[1:]):
        arrow(ax, (x, a - height / 2), (x, b + height / 2), "black")
    return ys


def _skip(ax, x, y_top, y_bottom, text, side=1.0):
    """The shortcut: a curved arrow from the input box down to the sum box, labelled."""
    ax.annotate("", xy=(x + side * 1.4, y_bottom + 0.1), xytext=(x + side * 1.4, y_top - 0.1),
                arrowprops=dict(arrowstyle="-|>", color=BLUE, lw=1.2,
                                connectionstyle=f"arc3,rad={-0.25 * side}"))
    ax.text(x + side * 2.25, (y_top + y_bottom) / 2, text, ha="center", va="center", color=BLUE,
            fontsize=7, rotation=90)


def resnet_blocks():
    """ResNet's basic block (two 3x3) beside its bottleneck (1x1, 3x3, 1x1), each + shortcut."""
    fig, ax = canvas(7.2, 4.0, (0, 14.4), (0, 8.0))
    ax.set_title("ResNet blocks: y = ReLU(F(x) + shortcut(x))", fontsize=10)
    basic = [("x (64 ch)", BLUE), ("3x3 conv 64→64, BN, ReLU", GREEN),
             ("3x3 conv 64→64, BN", GREEN), ("+ shortcut, ReLU", PINK)]
    ys = _column(ax, 3.2, basic, width=3.5, top=6.9, gap=1.45)
    _skip(ax, 3.5, ys[0], ys[-1], "identity (or 1x1 conv, BN\nwhen stride or width change)")
    ax.text(3.2, 1.2, "basic block (ResNet-18/34)\n2·9·64² = 73,728 weights", ha="center",
            fontsize=8)
    bottle = [("x (256 ch)", BLUE), ("1x1 conv 256→64, BN, ReLU", GREEN),
              ("3x3 conv 64→64, BN, ReLU", GREEN), ("1x1 conv 64→256, BN", GREEN),
              ("+ shortcut, ReLU", PINK)]
    ys = _column(ax, 10.0, bottle, width=3.5, top=6.9, gap=1.1)
    _skip(ax, 10.3, ys[0], ys[-1], "identity")
    ax.text(10.0, 1.2, "bottleneck (ResNet-50+): squeeze, 3x3, expand\n"
            "256·64 + 9·64² + 64·256 = 69,632 weights", ha="center", fontsize=8)
    return fig


def resnext():
    """ResNeXt: 32 parallel narrow paths, summed, are one grouped convolution."""
    fig, ax = canvas(7.2, 4.0, (0, 14.4), (0, 8.0))
    ax.set_title("ResNeXt: cardinality = the groups of one convolution", fontsize=10)
    box(ax, 3.4, 7.0, 3.0, 0.6, "x (256 ch)", color=BLUE, fontsize=7)
    for i, x in enumerate((1.0, 2.6, 5.6)):
        label = ("path 1", "path 2", "path 32")[i]
        _column(ax, x, [("1x1 256→4", GREEN), ("3x3 4→4", GREEN), ("1x1 4→256", GREEN)],
                width=1.4, height=0.6, top=5.8, gap=1.0)
        ax.text(x - 0.75, 6.45, label, ha="left", fontsize=7)
        arrow(ax, (3.4, 6.7), (x, 6.1), "black")
        arrow(ax, (x, 3.5), (3.4, 2.3), "black")
    ax.text(4.1, 4.8, "· · ·", ha="center", va="center", fontsize=12)
    box(ax, 3.4, 2.0, 3.0, 0.6, "Σ paths + x, ReLU", color=PINK, fontsize=7)
    ax.text(3.4, 0.9, "aggregated transformations:\n32 paths of width 4", ha="center", fontsize=8)
    ax.text(7.3, 4.6, "=", ha="center", va="center", fontsize=18)
    ys = _column(ax, 11.0, [("x (256 ch)", BLUE), ("1x1 conv 256→128, BN, ReLU", GREEN),
                            ("3x3 conv 128→128, groups = 32,\nBN, ReLU", ORANGE),
                            ("1x1 conv 128→256, BN", GREEN), ("+ x, ReLU", PINK)],
                 width=4.2, height=0.7, top=7.0, gap=1.25)
    _skip(ax, 11.8, ys[0], ys[-1], "identity")
    ax.text(11.0, 0.9, "one block, 70,144 weights either way;\nthe grouped 3x3: 9·128·4, "
            "1/32 of a dense one", ha="center", fontsize=8)
    return fig


def densenet():
    """A dense block (each layer sees the concatenation of all before it), then a transition."""
    fig, ax = canvas(7.2, 3.8, (0, 14.4), (0, 7.6))
    ax.set_title("DenseNet: concatenate every earlier map; a transition shrinks between blocks",
                 fontsize=10)
    xs = [1.0, 3.7, 6.4, 9.1]
    labels = ["x\n(C₀ ch)", "layer 1\nBN, ReLU,\n3x3 → k ch", "layer 2\nBN, ReLU,\n3x3 → k ch",
              "layer 3\nBN, ReLU,\n3x3 → k ch"]
    for x, text in zip(xs, labels):
        box(ax, x, 4.2, 1.8 if x > 1 else 1.2, 1.4, text, color=GREEN if x > 1 else BLUE,
            fontsize=7)
    colours = [BLUE, ORANGE, SKY]
    for i, x in enumerate(xs[:-1]):
        for j, target in enumerate(xs[i + 1:]):
            ax.annotate("", xy=(target - 0.5, 4.9), xytext=(x + 0.3, 4.9),
                        arrowprops=dict(arrowstyle="-|>", color=colours[i], lw=1.0,
                                        connectionstyle=f"arc3,rad={-0.25 - 0.12 * j}"))
    ax.text(5.0, 2.9, "each arc: a feature map concatenated (not added) to a later layer's input",
            ha="center", fontsize=8)
    box(ax, 11.7, 4.2, 1.8, 1.4, "concat x, f₁,\nf₂, f₃:\nC₀ + 3k ch", color=PINK, fontsize=7)
    arrow(ax, (10.0, 4.2), (10.8, 4.2), "black")
    box(ax, 11.6, 1.7, 3.2, 1.4, "transition: BN, ReLU,\n1x1 conv (θ·channels),\n2x2 avg pool "
        "(H/2, W/2)", color=ORANGE, fontsize=7)
    arrow(ax, (11.6, 3.5), (11.6, 2.4), "black")
    ax.text(5.0, 1.5, "layer ℓ reads C₀ + (ℓ−1)·k channels and adds k (the growth rate);\n"
            "in backward, a map's gradient sums what every later layer sends back", ha="center",
            fontsize=8)
    return fig


DIAGRAMS = {"conv_window": conv_window, "im2col": im2col, "receptive_field": receptive_field,
            "mbconv": mbconv, "unet": unet, "depthwise_separable": depthwise_separable,
            "resnet_blocks": resnet_blocks, "resnext": resnext, "densenet": densenet}

if __name__ == "__main__":
    main(DIAGRAMS, "ch3")
