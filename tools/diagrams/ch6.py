"""Chapter 6's diagrams (python tools/diagrams/ch6.py writes book/assets/diagrams/ch6_*.svg)."""
import matplotlib.pyplot as plt
from common import BLUE, GREEN, ORANGE, PINK, arrow, box, canvas, main


def favor_factorisation():
    """(QKᵀ)V with its L × L matrix, against φ(Q)(φ(K)ᵀV) with an m × d_v one."""
    fig, ax = canvas(8.4, 4.6, (0, 17), (0, 9.4))
    ax.set_title("Exact attention (top) forms L × L; FAVOR+ (bottom) multiplies the small side first")
    box(ax, 1.2, 7.3, 1.0, 2.2, "Q\nL × d")
    box(ax, 3.4, 7.9, 2.2, 1.0, "Kᵀ\nd × L")
    box(ax, 7.2, 7.3, 2.6, 2.6, "QKᵀ\nL × L", color=ORANGE)
    box(ax, 10.4, 7.3, 1.6, 2.6, "V\nL × d_v")
    box(ax, 13.8, 7.3, 1.6, 2.2, "out\nL × d_v", color=GREEN)
    arrow(ax, (4.6, 7.5), (5.8, 7.5), ORANGE, "O(L²d)", offset=(0, 0.35))
    arrow(ax, (8.6, 7.3), (9.8, 7.3), ORANGE)
    arrow(ax, (11.2, 7.3), (13.0, 7.3), ORANGE, "O(L²d_v)", offset=(0, 0.35))
    box(ax, 1.2, 2.6, 1.6, 2.2, "φ(Q)\nL × m")
    box(ax, 4.4, 3.9, 2.2, 1.4, "φ(K)ᵀ\nm × L")
    box(ax, 4.4, 1.9, 1.6, 1.6, "V\nL × d_v")
    box(ax, 8.0, 2.6, 1.6, 1.6, "φ(K)ᵀV\nm × d_v", color=PINK)
    box(ax, 13.8, 2.6, 1.6, 2.2, "out\nL × d_v", color=GREEN)
    arrow(ax, (5.5, 3.6), (7.2, 2.9), BLUE, "O(Lmd_v)", offset=(0.2, 0.5))
    arrow(ax, (5.2, 2.0), (7.2, 2.3), BLUE)
    arrow(ax, (8.8, 2.6), (13.0, 2.6), BLUE, "φ(Q) · (that): O(Lmd_v)", offset=(0, 0.35))
    arrow(ax, (2.0, 0.6), (13.0, 0.6), BLUE, "normalised row by row by φ(Q)(φ(K)ᵀ1)", offset=(4.0, 0.3))
    return fig


def causal_prefix_sums():
    """The causal mask beside the prefix sums S_i, z_i that replace it."""
    fig, ax = canvas(8.4, 4.6, (0, 17), (0, 9.2))
    ax.set_title("Causal: the masked L × L matrix (left) against running sums (right)")
    n = 6
    for i in range(n):
        for j in range(n):
            on = j <= i
            ax.add_patch(plt.Rectangle((0.6 + j * 0.9, 6.6 - i * 0.9), 0.85, 0.85,
                                       facecolor=ORANGE if on else "white", alpha=0.6 if on else 1,
                                       edgecolor="grey"))
    ax.text(3.3, 0.9, "row i: query i against keys j ≤ i\n(an L × L array, half of it wasted)",
            ha="center", va="center")
    xs = [8.6 + 1.35 * t for t in range(n)]
    for t, x in enumerate(xs):
        box(ax, x, 6.6, 1.1, 1.0, f"φ(k{t + 1})v{t + 1}ᵀ\nφ(k{t + 1})", fontsize=7)
        box(ax, x, 4.0, 1.1, 1.0, f"S{t + 1}, z{t + 1}", color=PINK)
        box(ax, x, 1.5, 1.1, 1.0, f"out{t + 1}", color=GREEN, fontsize=8)
        arrow(ax, (x, 6.1), (x, 4.5), BLUE)
        arrow(ax, (x, 3.5), (x, 2.0), GREEN, "φ(q)" if t == 0 else None, offset=(-0.4, 0))
        if t:
            arrow(ax, (xs[t - 1] + 0.55, 4.0), (x - 0.55, 4.0), PINK)
    ax.text(12.0, 8.0, "S_i = S_(i-1) + φ(k_i) v_iᵀ,   z_i = z_(i-1) + φ(k_i)", ha="center", color=PINK)
    ax.text(12.0, 0.5, "out_i = φ(q_i)ᵀ S_i / (φ(q_i)·z_i)", ha="center", color=GREEN)
    return fig


def recurrent_state():
    """Generation with a fixed-size state, beside the growing cache of softmax attention."""
    fig, ax = canvas(8.4, 4.2, (0, 17), (0, 8.4))
    ax.set_title("Generating token t: softmax reads a cache of t keys; FAVOR+ a state of fixed size")
    for t in range(1, 5):
        box(ax, 0.6 + 0.45 * t, 7.3 - 1.5 * t + 1.5, 0.9 * t, 0.9, f"K, V cache: {t} rows",
            color=ORANGE, fontsize=7)
    ax.text(3.0, 0.6, "softmax: memory and work per token grow with t", ha="center")
    for t, y in enumerate((6.8, 4.3, 1.8)):
        box(ax, 10.0, y, 2.4, 1.5, "S: m × d_v\nz: m", color=PINK)
        box(ax, 14.6, y, 1.8, 1.0, f"out{t + 1}", color=GREEN)
        box(ax, 6.8, y, 2.4, 1.0, f"φ(k{t + 1}), v{t + 1}, φ(q{t + 1})", fontsize=8)
        arrow(ax, (8.0, y), (8.8, y), BLUE)
        arrow(ax, (11.2, y), (13.7, y), GREEN, "φ(q)ᵀS / φ(q)·z", offset=(0, 0.3))
        if t < 2:
            arrow(ax, (10.0, y - 0.75), (10.0, y - 1.75), PINK, "update", offset=(0.6, 0))
    ax.text(11.8, 0.5, "FAVOR+: the same state size at every step", ha="center")
    return fig


DIAGRAMS = {"favor_factorisation": favor_factorisation, "causal_prefix_sums": causal_prefix_sums,
            "recurrent_state": recurrent_state}

if __name__ == "__main__":
    main(DIAGRAMS, "ch6")
