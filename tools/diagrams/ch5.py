"""Chapter 5's diagrams (python tools/diagrams/ch5.py writes book/assets/diagrams/ch5_*.svg)."""
import numpy as np
from common import BLUE, GREEN, ORANGE, PINK, RED, SKY, arrow, box, canvas, main


def sdpa_masks():
    """Q, K, V -> scores, + mask, safe softmax, times V; the two masks below."""
    fig, ax = canvas(8.4, 3.8, (0, 14), (0, 6.2))
    ax.set_title("Scaled dot-product attention with a mask (−∞ where a query must not attend)")
    box(ax, 1.2, 5.0, 1.6, 0.8, "Q (Tq, d)")
    box(ax, 1.2, 3.8, 1.6, 0.8, "K (Tk, d)")
    box(ax, 1.2, 2.6, 1.6, 0.8, "V (Tk, dv)")
    box(ax, 4.2, 4.4, 2.2, 1.1, "S = Q Kᵀ / √d\n(Tq, Tk)", color=GREEN)
    box(ax, 7.0, 4.4, 1.9, 1.1, "S + B\nB = 0 or −∞", color=PINK)
    box(ax, 9.8, 4.4, 2.1, 1.1, "W = safe softmax\nover each row", color=GREEN)
    box(ax, 12.5, 2.6, 2.0, 1.1, "O = W V\n(Tq, dv)", color=ORANGE)
    arrow(ax, (2.0, 5.0), (3.1, 4.6))
    arrow(ax, (2.0, 3.8), (3.1, 4.2))
    arrow(ax, (5.3, 4.4), (6.05, 4.4))
    arrow(ax, (7.95, 4.4), (8.75, 4.4))
    arrow(ax, (10.85, 4.4), (12.0, 3.15))
    arrow(ax, (2.0, 2.6), (11.5, 2.6))
    for x0, name, allowed in [(4.6, "key padding (keys 4, 5)", lambda i, j: j < 4),
                              (8.2, "causal, 4 queries, 5 keys", lambda i, j: j <= i + 1)]:
        ax.text(x0 + 0.6, 0.15, name, ha="center", va="center", fontsize=8)
        for i in range(4):
            for j in range(5):
                ok = allowed(i, j)
                box(ax, x0 + 0.3 * j, 1.75 - 0.3 * i, 0.28, 0.28, "", color=BLUE if ok else PINK,
                    fill=0.6 if ok else 0.05)
    ax.text(6.8, 2.15, "blue: may attend (B = 0); pink: B = −∞ (a fully masked row gets zero "
            "weights)", ha="center", va="center", fontsize=8)
    return fig


def multihead_split_merge():
    """(N, T, E) -> (N, T, H, d) -> (N, H, T, d) -> attention per head -> merge -> W_O."""
    fig, ax = canvas(8.4, 3.0, (0, 14), (0, 5))
    ax.set_title("Multi-head attention: split the width into heads, attend per head, merge")
    box(ax, 1.3, 2.5, 2.0, 1.3, "Q, K, V\n= X Wᵀ\n(N, T, E)")
    box(ax, 4.3, 2.5, 1.9, 1.3, "reshape\n(N, T, H, d)", color=GREEN)
    box(ax, 7.0, 2.5, 1.9, 1.3, "transpose\n(N, H, T, d)", color=GREEN)
    for k, y in enumerate((3.9, 2.5, 1.1)):
        box(ax, 9.6, y, 1.7, 0.9, f"attention\nhead {k if k < 2 else 'H−1'}", color=ORANGE)
        arrow(ax, (7.95, 2.5), (8.75, y))
        arrow(ax, (10.45, y), (11.3, 2.5))
    box(ax, 12.6, 2.5, 2.4, 1.7, "merge:\ntranspose,\nreshape to\n(N, T, E), W_O", color=GREEN)
    arrow(ax, (2.3, 2.5), (3.35, 2.5))
    arrow(ax, (5.25, 2.5), (6.05, 2.5))
    ax.text(7.0, 0.2, "E = H·d; head h takes the contiguous features h·d … (h+1)·d − 1",
            ha="center", va="center")
    return fig


def _residual(ax, x, y0, y1, label):
    """The skip path: from the right of the column at y0, up, and back in at y1."""
    ax.plot([x + 1.2, x + 1.7, x + 1.7], [y0, y0, y1], color=PINK, lw=1.5)
    arrow(ax, (x + 1.7, y1), (x + 1.2, y1), PINK)
    ax.text(x + 1.9, (y0 + y1) / 2, label, color=PINK, ha="left", va="center", fontsize=8)


def _block(ax, x, title, pre):
    ax.text(x, 6.7, title, ha="center", va="center", fontweight="bold")
    names = (["LayerNorm", "self-attention", "add", "LayerNorm", "feed-forward", "add"] if pre
             else ["self-attention", "add, LayerNorm", "feed-forward", "add, LayerNorm"])
    ys = np.linspace(1.3, 5.4, len(names))
    box(ax, x, 0.4, 2.4, 0.45, "x")
    box(ax, x, 6.15, 2.4, 0.45, "y")
    colors = {"self-attention": ORANGE, "feed-forward": ORANGE, "add": PINK}
    for y, name in zip(ys, names):
        box(ax, x, y, 2.4, 0.5, name, color=colors.get(name, GREEN))
    for y0, y1 in zip([0.4, *ys], [*ys, 6.15]):
        arrow(ax, (x, y0 + 0.25), (x, y1 - 0.25))
    adds = [y for y, n in zip(ys, names) if n.startswith("add")]
    _residual(ax, x, 0.4, adds[0], "identity" if pre else "skip")
    _residual(ax, x, adds[0] + 0.1, adds[1], "identity" if pre else "skip")


def transformer_block():
    """Pre-LN and post-LN encoder blocks side by side, with their residual paths."""
    fig, ax = canvas(7.0, 4.6, (0, 10), (0, 7))
    ax.set_title("A transformer block: post-LN (original) and pre-LN (identity path kept)")
    _block(ax, 2.5, "post-LN: LN(x + SA(x))", pre=False)
    _block(ax, 7.3, "pre-LN: x + SA(LN(x))", pre=True)
    return fig


def model_families():
    """Encoder-only, decoder-only and encoder-decoder, with their masks and objectives."""
    fig, ax = canvas(8.6, 3.6, (0, 15), (0, 6))
    ax.set_title("Three families: which tokens each position sees and which positions are trained")
    specs = [(2.4, "encoder-only (BERT)", "bidirectional\nself-attention",
              "predict the 15 % chosen\n(80 % [MASK], 10 % random,\n10 % unchanged)", BLUE),
             (7.4, "decoder-only (GPT)", "causal\nself-attention",
              "predict the next token\nat every position", ORANGE),
             (12.4, "encoder-decoder (T5)", "encoder + causal decoder\n+ cross-attention",
              "predict the target shifted\nby one, every position", GREEN)]
    for x, name, body, objective, color in specs:
        ax.text(x, 5.5, name, ha="center", va="center", fontweight="bold")
        box(ax, x, 3.9, 4.4, 1.2, body, color=color, fontsize=9)
        box(ax, x, 1.5, 4.4, 1.6, objective, color=SKY, fontsize=9)
        arrow(ax, (x, 3.25), (x, 2.35))
    return fig


def kv_cache():
    """One decoding step with a cache: one new query, keys and values appended."""
    fig, ax = canvas(8.4, 3.2, (0, 14), (0, 5.4))
    ax.set_title("Decoding with a key-value cache: each new token computes one q, k, v")
    for j in range(6):
        new = j == 5
        color = ORANGE if new else BLUE
        box(ax, 4.0 + 0.9 * j, 3.8, 0.8, 0.7, "k₅" if new else f"k{'₀₁₂₃₄'[j]}", color=color)
        box(ax, 4.0 + 0.9 * j, 2.8, 0.8, 0.7, "v₅" if new else f"v{'₀₁₂₃₄'[j]}", color=color)
    ax.text(5.8, 4.7, "cache: kept from earlier steps", ha="center", color=BLUE)
    ax.text(8.5, 4.7, "new", ha="center", color=ORANGE)
    box(ax, 10.6, 3.3, 1.8, 1.0, "new token\nq₅, k₅, v₅", color=ORANGE)
    arrow(ax, (9.7, 3.6), (8.95, 3.8), ORANGE)
    arrow(ax, (9.7, 3.0), (8.95, 2.8), ORANGE)
    box(ax, 6.3, 1.1, 5.0, 0.9, "q₅ attends to k₀ … k₅: O(T d) per token", color=GREEN)
    box(ax, 10.6, 1.1, 2.8, 0.9, "without the cache:\nO(T² d) per token", color=RED)
    ax.text(1.6, 3.3, "appended at\nevery step,\nnever changed\n(causal mask)", ha="center",
            va="center", fontsize=8)
    return fig


def sparse_patterns():
    """Four masks on 16 positions: causal, strided, sliding window, BigBird."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from labutils.nn.masks import bigbird_pattern, full_pattern, sliding_window_pattern, strided_pattern
    T = 16
    pats = [("full causal: T² / 2", full_pattern(T, causal=True)),
            ("strided (4): ~T√T", strided_pattern(T, 4)),
            ("window (w=2): T(2w+1)", sliding_window_pattern(T, 2)),
            ("BigBird: window + global\n+ random, ~T", bigbird_pattern(T, 1, (0,), 2,
                                                                     np.random.default_rng(0)))]
    fig, ax = canvas(8.6, 3.0, (0, 4 * 5.2), (0, 6.4))
    ax.set_title("Sparse attention patterns (query rows, key columns; dark = attended) and "
                 "their pairs per layer")
    for p, (name, pat) in enumerate(pats):
        x0 = 0.5 + 5.2 * p
        ax.imshow(pat.astype(float), cmap="Blues", vmin=0, vmax=1,
                  extent=(x0, x0 + 4.2, 0.4, 4.6), interpolation="nearest")
        ax.text(x0 + 2.1, 5.5, name, ha="center", va="center", fontsize=8)
    ax.set(xlim=(0, 4 * 5.2), ylim=(0, 6.4))
    return fig


DIAGRAMS = {"sdpa_masks": sdpa_masks, "multihead_split_merge": multihead_split_merge,
            "transformer_block": transformer_block, "model_families": model_families,
            "kv_cache": kv_cache, "sparse_patterns": sparse_patterns}

if __name__ == "__main__":
    main(DIAGRAMS, "ch5")
