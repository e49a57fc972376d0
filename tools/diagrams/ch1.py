"""Chapter 1's diagrams (python tools/diagrams/ch1.py writes book/assets/diagrams/ch1_*.svg)."""
from common import BLUE, GREEN, ORANGE, arrow, box, canvas, main


def linear_shapes():
    """x (N, in), W (out, in), b (out,) -> y (N, out); each gradient and what it is made of."""
    fig, ax = canvas(7.2, 3.6, (0, 12), (0, 6))
    ax.set_title("A linear layer: shapes forward (blue) and where each gradient comes from (orange)")
    box(ax, 1.5, 4.6, 1.6, 1.4, "x\n(N, in)")
    box(ax, 4.2, 5.3, 2.0, 0.9, "W\n(out, in)", color=GREEN)
    box(ax, 4.2, 3.9, 2.0, 0.8, "b\n(out,)", color=GREEN)
    box(ax, 7.0, 4.6, 1.6, 1.4, "y\n(N, out)")
    arrow(ax, (2.3, 4.6), (6.2, 4.6), BLUE, "y = x Wᵀ + b", offset=(0, -0.25))
    arrow(ax, (5.2, 5.3), (6.2, 4.9), GREEN)
    arrow(ax, (5.2, 3.9), (6.2, 4.3), GREEN)
    box(ax, 10.2, 4.6, 1.8, 1.4, "dy = ∂L/∂y\n(N, out)", color=ORANGE)
    arrow(ax, (9.3, 4.6), (7.8, 4.6), ORANGE)
    for x, text in [(1.5, "dx (N, in)\nfrom dy and W"), (5.2, "dW (out, in)\nfrom dy and x:\na sum over the batch"),
                    (9.0, "db (out,)\nfrom dy:\na sum over the batch")]:
        box(ax, x, 1.4, 2.6, 1.5, text, color=ORANGE)
    arrow(ax, (10.2, 3.9), (9.0, 2.15), ORANGE)
    arrow(ax, (9.6, 3.9), (5.6, 2.15), ORANGE)
    arrow(ax, (9.4, 4.0), (2.0, 2.15), ORANGE)
    return fig


DIAGRAMS = {"linear_shapes": linear_shapes}

if __name__ == "__main__":
    main(DIAGRAMS, "ch1")
