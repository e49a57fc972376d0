"""Chapter 1's diagrams (python tools/diagrams/ch1.py writes book/assets/diagrams/ch1_*.svg).
No formula that an exercise asks for appears here before the exercise: the linear layer's
diagram shows shapes and what each gradient is made of, not the products."""
from common import BLUE, GREEN, ORANGE, PINK, arrow, box, canvas, main


def linear_shapes():
    """x (N, in), W (out, in), b (out,) -> y (N, out); each gradient and what it is made of."""
    fig, ax = canvas(8, 4.2, (0, 13), (0, 7))
    ax.set_title("A linear layer: forward (blue, green) and where each gradient comes from (orange)")
    box(ax, 1.4, 5.2, 1.8, 1.3, "x\n(N, in)")
    box(ax, 4.6, 6.3, 2.2, 0.9, "W  (out, in)", color=GREEN)
    box(ax, 4.6, 4.1, 2.2, 0.9, "b  (out,)", color=GREEN)
    box(ax, 7.9, 5.2, 2.4, 1.3, "y = x Wᵀ + b\n(N, out)")
    arrow(ax, (2.3, 5.2), (6.7, 5.2), BLUE)
    arrow(ax, (5.7, 6.2), (6.7, 5.6), GREEN)
    arrow(ax, (5.7, 4.2), (6.7, 4.8), GREEN)
    box(ax, 11.3, 5.2, 2.4, 1.3, "dy = ∂L/∂y\n(N, out)", color=ORANGE)
    arrow(ax, (10.1, 5.2), (9.1, 5.2), ORANGE)
    for x, text in [(1.9, "dx  (N, in)\nfrom dy and W"),
                    (6.0, "dW  (out, in)\nfrom dy and x,\nsummed over the batch"),
                    (10.4, "db  (out,)\nfrom dy,\nsummed over the batch")]:
        box(ax, x, 1.4, 3.4, 1.9, text, color=ORANGE)
    for x in (1.9, 6.0, 10.4):
        arrow(ax, (11.3, 4.55), (x, 2.35), ORANGE)
    return fig


def two_layer_graph():
    """The capstone's network as a computational graph, forward above, backward below."""
    fig, ax = canvas(10, 4.4, (0, 20), (0, 8.8))
    ax.set_title("The two-layer network: forward (blue, left to right), backward (orange, right to left)")
    nodes = [(1.2, "X"), (4.6, "Z"), (8.0, "H"), (11.6, "logits"), (15.4, "L")]
    ops = [(2.9, "linear_forward\nW1, b1"), (6.3, "relu"), (9.8, "linear_forward\nW2, b2"),
           (13.5, "cross_entropy\ntargets T")]
    for x, name in nodes:
        box(ax, x, 6.6, 1.5, 1.0, name)
    for (x0, _), (x1, _), (xo, op) in zip(nodes, nodes[1:], ops):
        arrow(ax, (x0 + 0.75, 6.6), (x1 - 0.75, 6.6), BLUE)
        ax.text(xo, 7.6, op, ha="center", va="bottom", color=BLUE, fontsize=9.5)
    grads = [(4.6, "dZ"), (8.0, "dH\ndW2, db2"), (11.6, "dlogits"), (15.4, "dL = 1")]
    bops = [(6.3, "relu_backward"), (9.8, "linear_backward"), (13.5, "cross_entropy\n_backward")]
    for x, name in grads:
        box(ax, x, 3.0, 1.7, 1.2, name, color=ORANGE)
    for (x0, _), (x1, _), (xo, op) in zip(grads, grads[1:], bops):
        arrow(ax, (x1 - 0.85, 3.0), (x0 + 0.85, 3.0), ORANGE)
        ax.text(xo, 1.9, op, ha="center", va="top", color=ORANGE, fontsize=9.5)
    box(ax, 1.2, 3.0, 1.7, 1.2, "dW1, db1", color=ORANGE)
    arrow(ax, (3.75, 3.0), (2.05, 3.0), ORANGE)
    ax.text(2.9, 1.9, "linear_backward", ha="center", va="top", color=ORANGE, fontsize=9.5)
    for x in (4.6, 8.0, 11.6):
        ax.plot([x, x], [6.05, 3.65], ls=":", color="grey", lw=1)
    ax.text(18.2, 6.6, "forward keeps\nZ, H, logits", ha="center", va="center", fontsize=9.5, color="grey")
    ax.text(18.2, 3.0, "backward reads\nthem (dotted)", ha="center", va="center", fontsize=9.5, color="grey")
    return fig


def highway_residual():
    """A residual block and a highway layer, with the routes back to x."""
    fig, ax = canvas(10, 4.2, (0, 20), (0, 8.4))
    ax.set_title("Residual block (left) and highway layer (right): the routes from x to y")
    box(ax, 1.2, 4.0, 1.4, 1.0, "x")
    box(ax, 4.4, 6.0, 2.8, 1.1, "F (e.g. linear,\nReLU)", color=GREEN)
    box(ax, 7.4, 4.0, 2.4, 1.0, "y = x + F(x)")
    arrow(ax, (1.9, 4.3), (3.0, 5.8), BLUE)
    arrow(ax, (5.8, 5.8), (6.8, 4.5), BLUE)
    arrow(ax, (1.9, 4.0), (6.2, 4.0), PINK)
    ax.text(4.1, 2.9, "identity: dy passes unchanged", ha="center", color=PINK)
    box(ax, 10.0, 4.0, 1.2, 1.0, "x")
    box(ax, 13.3, 6.6, 4.0, 1.0, "h = relu(W_H x + b_H)", color=GREEN)
    box(ax, 13.3, 4.6, 4.0, 1.0, "t = σ(W_T x + b_T)", color=GREEN)
    box(ax, 18.0, 4.0, 3.6, 1.2, "y = t h + (1 − t) x")
    arrow(ax, (10.6, 4.3), (11.3, 6.3), BLUE)
    arrow(ax, (10.6, 4.2), (11.3, 4.5), BLUE)
    arrow(ax, (15.3, 6.5), (17.0, 4.6), BLUE, "transform", offset=(1.1, 0.3))
    arrow(ax, (15.3, 4.5), (16.2, 4.2), BLUE, "gate", offset=(0, 0.35))
    ax.annotate("", xy=(16.6, 3.5), xytext=(10.6, 3.6),
                arrowprops=dict(arrowstyle="-|>", color=PINK, lw=1.5, connectionstyle="arc3,rad=0.25"))
    ax.text(13.6, 1.9, "carry: scaled by 1 − t", ha="center", color=PINK)
    ax.text(10, 0.4, "three routes lead back to x in a highway layer; one, unscaled, in a residual block",
            ha="center", fontsize=10)
    return fig


def moe_gate():
    """Top-k routing of one token through a mixture of experts."""
    fig, ax = canvas(10, 4.6, (0, 20), (0, 9.2))
    ax.set_title("Mixture of experts: the gate keeps the top k = 2 of 6 experts for one token")
    box(ax, 1.3, 4.6, 1.6, 1.0, "token x")
    box(ax, 4.6, 4.6, 2.4, 1.2, "gate logits\ng(x) = W_g x", color=GREEN)
    arrow(ax, (2.1, 4.6), (3.4, 4.6), BLUE)
    logits = [0.3, 2.1, -0.5, 1.4, 0.1, -1.2]
    kept = {1, 3}
    for e, val in enumerate(logits):
        y = 8.2 - 1.2 * e
        on = e in kept
        color = ORANGE if on else "grey"
        box(ax, 8.8, y, 3.0, 0.85, f"expert {e + 1}: {val:+.1f}", color=color, fill=0.25 if on else 0.05)
        arrow(ax, (5.8, 4.6), (7.3, y), color, lw=1.0 if on else 0.6)
        if on:
            arrow(ax, (10.3, y), (12.5, 4.6), ORANGE)
    box(ax, 14.0, 4.6, 3.2, 1.7, "softmax over\nthe kept logits\n(weights w, Σ w = 1)", color=ORANGE)
    box(ax, 18.2, 4.6, 3.4, 1.6, "y = Σ w_e E_e(x)\nover the kept e", color=BLUE)
    arrow(ax, (15.4, 4.6), (16.5, 4.6), BLUE)
    ax.text(10, 0.1, "grey experts are not run for this token and get no gradient;\n"
            "the choice itself (top-k) is piecewise constant: no gradient flows through it",
            ha="center", va="bottom", fontsize=10, color="grey")
    return fig


DIAGRAMS = {"linear_shapes": linear_shapes, "two_layer_graph": two_layer_graph,
            "highway_residual": highway_residual, "moe_gate": moe_gate}

if __name__ == "__main__":
    main(DIAGRAMS, "ch1")
