"""Chapter 4's diagrams (python tools/diagrams/ch4.py writes book/assets/diagrams/ch4_*.svg).

None of them shows an exercise's answer: the BPTT diagram shows which paths the gradient takes,
not the formulas; the cells show where the gates act, not their derivatives."""
from common import BLUE, GREEN, ORANGE, PINK, SKY, arrow, box, canvas, main


def bptt_unrolled():
    """An RNN unrolled over four steps; forward (blue) and the two gradient paths into h_t."""
    fig, ax = canvas(8.4, 4.4, (0, 14), (-0.6, 7))
    ax.set_title("An RNN unrolled in time: the forward pass (blue) and the gradient paths of "
                 "BPTT (orange)")
    box(ax, 1.0, 3.5, 1.2, 1.0, "h₀", color=SKY)
    for k, xc in enumerate([3.5, 6.5, 9.5, 12.5], start=1):
        box(ax, xc, 3.5, 1.6, 1.0, f"cell\n→ h{'₀₁₂₃₄'[k]}")
        box(ax, xc, 1.0, 1.2, 0.8, f"x{'₀₁₂₃₄'[k]}", color=GREEN)
        box(ax, xc, 6.0, 1.6, 0.8, f"loss at {k}", color=PINK)
        arrow(ax, (xc, 1.4), (xc, 3.0), GREEN)
        arrow(ax, (xc + 0.2, 4.0), (xc + 0.2, 5.6), BLUE)
        arrow(ax, (xc - 0.2, 5.6), (xc - 0.2, 4.0), ORANGE)
        arrow(ax, (xc - 3.0 + (0.6 if k == 1 else 0.8), 3.7), (xc - 0.8, 3.7), BLUE)
        if k > 1:
            arrow(ax, (xc - 0.8, 3.25), (xc - 2.2, 3.25), ORANGE)
    ax.text(1.0, 5.6, "the same\nweights in\nevery cell", ha="center", color=BLUE, fontsize=8)
    ax.text(7.0, -0.1, "orange: a state's gradient has two sources,\nits own loss (from above) "
            "and the next step (from the right)", ha="center", color=ORANGE, fontsize=8)
    return fig


def lstm_gru_cells():
    """The LSTM cell (two states, four gate blocks) beside the GRU cell (one state, three)."""
    fig, ax = canvas(9.6, 4.4, (0, 16), (0, 7.4))
    ax.set_title("LSTM (left): gates i, f, g, o and two states; GRU (right): gates r, z, n")
    # LSTM
    box(ax, 0.9, 5.6, 1.2, 0.8, "c_{t-1}", color=ORANGE)
    box(ax, 0.9, 1.6, 1.2, 0.8, "h_{t-1}", color=SKY)
    box(ax, 3.0, 0.6, 1.2, 0.7, "x_t", color=GREEN)
    box(ax, 3.6, 2.6, 3.2, 0.9, "i  f  g  o\nσ  σ  tanh  σ")
    box(ax, 3.2, 5.6, 0.8, 0.8, "× f")
    box(ax, 5.0, 5.6, 0.8, 0.8, "+ i·g")
    box(ax, 6.3, 4.1, 1.3, 0.8, "o · tanh")
    box(ax, 7.4, 5.6, 1.0, 0.8, "c_t", color=ORANGE)
    box(ax, 7.4, 2.6, 1.0, 0.8, "h_t", color=SKY)
    arrow(ax, (1.5, 5.6), (2.8, 5.6), ORANGE, "cell path")
    arrow(ax, (3.6, 5.6), (4.6, 5.6), ORANGE)
    arrow(ax, (5.4, 5.6), (6.9, 5.6), ORANGE)
    arrow(ax, (1.5, 1.6), (2.4, 2.3), SKY)
    arrow(ax, (3.0, 0.95), (3.2, 2.15), GREEN)
    arrow(ax, (3.0, 3.05), (3.2, 5.2), BLUE)
    arrow(ax, (4.0, 3.05), (4.9, 5.2), BLUE)
    arrow(ax, (5.8, 5.2), (6.2, 4.5), ORANGE)
    arrow(ax, (5.2, 3.05), (5.9, 3.7), BLUE)
    arrow(ax, (6.6, 3.7), (7.2, 3.0), SKY)
    # GRU
    box(ax, 9.1, 3.6, 1.2, 0.8, "h_{t-1}", color=SKY)
    box(ax, 11.4, 0.6, 1.2, 0.7, "x_t", color=GREEN)
    box(ax, 11.8, 2.6, 2.8, 0.9, "r  z  n\nσ  σ  tanh")
    box(ax, 12.6, 5.6, 2.6, 0.8, "(1 − z)·n + z·h_{t-1}")
    box(ax, 15.2, 5.6, 1.0, 0.8, "h_t", color=SKY)
    arrow(ax, (9.1, 4.0), (11.3, 5.6), ORANGE, "kept by z", offset=(-0.6, 0.3))
    arrow(ax, (9.7, 3.4), (10.4, 2.8), SKY)
    arrow(ax, (11.4, 0.95), (11.6, 2.15), GREEN)
    arrow(ax, (12.0, 3.05), (12.4, 5.2), BLUE)
    arrow(ax, (13.9, 5.6), (14.7, 5.6), SKY)
    ax.text(11.8, 1.8, "r scales W_hn h + b_hn (torch)", ha="center", fontsize=8)
    return fig


def dilated_residual():
    """Four recurrences one above the other: plain, dilated (d = 2), skip (c_{t-1} and c_{t-2}),
    residual."""
    fig, ax = canvas(9.6, 6.0, (0, 16), (0, 10.3))
    ax.set_title("Paths through time: plain, dilated (d = 2), skip, residual")
    rows = {"plain": (8.5, "plain: f(x_t, c_{t-1})"), "dilated": (6.1, "dilated: f(x_t, c_{t-2})"),
            "skip": (3.7, "skip: f(x_t, c_{t-1}, c_{t-2})"),
            "residual": (1.4, "residual: c_t = c_{t-1} + f(x_t, c_{t-1})")}
    for y, label in rows.values():
        ax.text(0.2, y + 1.45, label, ha="left", va="center")
        for t in range(6):
            box(ax, 2.0 + 2.4 * t, y, 1.2, 0.7, f"c_{t + 1}")
    for kind in ("plain", "skip", "residual"):
        for t in range(5):
            arrow(ax, (2.6 + 2.4 * t, rows[kind][0]), (3.8 + 2.4 * t, rows[kind][0]), BLUE)
    for kind in ("dilated", "skip"):
        y = rows[kind][0] + 0.35
        for t in range(4):
            xa, xb = 2.0 + 2.4 * t, 2.0 + 2.4 * (t + 2)
            color = GREEN if kind == "skip" or t % 2 else BLUE
            ax.annotate("", xy=(xb - 0.3, y), xytext=(xa + 0.3, y),
                        arrowprops=dict(arrowstyle="-|>", color=color, lw=1.5,
                                        connectionstyle="arc3,rad=-0.35"))
    for t in range(5):
        ax.annotate("", xy=(3.8 + 2.4 * t, 1.2), xytext=(2.6 + 2.4 * t, 1.2),
                    arrowprops=dict(arrowstyle="-|>", color=ORANGE, lw=1.5,
                                    connectionstyle="arc3,rad=0.5"))
    ax.text(8.0, 0.15, "orange: the identity path (derivative 1); dilation halves the number of "
            "steps a gradient crosses; skip adds the long step to the short one", ha="center",
            color=ORANGE, fontsize=8)
    return fig


def encoder_decoder_attention():
    """A bidirectional encoder, a decoder, and attention weights from one decoder step."""
    fig, ax = canvas(9.0, 4.6, (0, 15), (0, 7.6))
    ax.set_title("Encoder-decoder with attention: decoder step i weighs every encoder output")
    for j in range(4):
        box(ax, 1.5 + 2.0 * j, 1.9, 1.4, 0.8, f"k_{j + 1}", color=GREEN)
        box(ax, 1.5 + 2.0 * j, 0.6, 1.0, 0.6, f"x_{j + 1}", color=SKY)
        arrow(ax, (1.5 + 2.0 * j, 0.9), (1.5 + 2.0 * j, 1.5), SKY)
        ax.annotate("", xy=(11.2, 5.0), xytext=(1.5 + 2.0 * j, 2.3),
                    arrowprops=dict(arrowstyle="-|>", color=ORANGE, lw=0.8 + 0.7 * j,
                                    alpha=0.9))
    ax.text(4.5, 3.0, "encoder (bidirectional GRU): outputs k_j", ha="center", color=GREEN)
    box(ax, 11.2, 5.4, 2.2, 0.8, "α_ij, context c_i", color=ORANGE)
    box(ax, 11.2, 3.4, 1.6, 0.8, "q_i", color=BLUE)
    box(ax, 13.6, 5.4, 1.2, 0.8, "y_i", color=PINK)
    box(ax, 11.2, 1.4, 1.6, 0.7, "y_{i-1}", color=SKY)
    arrow(ax, (11.2, 1.75), (11.2, 3.0), SKY)
    arrow(ax, (11.2, 3.8), (11.2, 5.0), BLUE, "query", offset=(0.6, 0))
    arrow(ax, (12.3, 5.4), (13.0, 5.4), PINK)
    ax.text(11.2, 7.0, "without attention, the decoder sees the source only through one state",
            ha="center", fontsize=8)
    return fig


DIAGRAMS = {"bptt_unrolled": bptt_unrolled, "lstm_gru_cells": lstm_gru_cells,
            "dilated_residual": dilated_residual,
            "encoder_decoder_attention": encoder_decoder_attention}

if __name__ == "__main__":
    main(DIAGRAMS, "ch4")
