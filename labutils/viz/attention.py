"""Chapter 5 pictures: attention maps, positional encodings, sparse attention patterns, and
their two explorers. Drawing functions are pure: ``draw_*(fig, **values)``. What they draw
is computed elsewhere: the toy model's attention maps by ``labutils.lab.toy_transformer``."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..lab.toy_transformer import toy_attention_maps  # noqa: F401 (re-exported for saved notebooks)
from ..nn.positional import sinusoidal_encoding
from .explorer import FrameExplorer
from .style import DIVERGING, OKABE_ITO, SEQUENTIAL, finish

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from ..lab.toy_transformer import Seq2SeqTransformer

__all__ = ["draw_attention_map", "draw_positional", "draw_patterns", "draw_pair_counts",
           "attention_explorer", "positional_explorer", "toy_attention_maps"]


# -- attention maps --------------------------------------------------------------------------
def draw_attention_map(fig: Figure, weights: np.ndarray, query: int, query_labels: Sequence[str],
                       key_labels: Sequence[str], title: str) -> None:
    """Left: the (Tq, Tk) weights as a heat map, the chosen query's row outlined.
    Right: that query's weights over the key tokens (a bar chart)."""
    weights = np.asarray(weights)
    fig.set_layout_engine("none")          # fixed layout: explorers draw many frames
    ax_map = fig.add_axes([0.07, 0.15, 0.36, 0.72])
    ax_bar = fig.add_axes([0.54, 0.15, 0.44, 0.72])
    ax_map.imshow(weights, cmap=SEQUENTIAL, vmin=0, vmax=1, aspect="auto")
    ax_map.add_patch(_row_box(query, weights.shape[1]))
    ax_map.set_xticks(range(len(key_labels)), key_labels)
    ax_map.set_yticks(range(len(query_labels)), query_labels)
    ax_map.grid(False)
    finish(ax_map, title + "\n(dark 0 ... bright 1)", "key token", "query token")
    ax_bar.bar(range(weights.shape[1]), weights[query], color=OKABE_ITO[0])
    ax_bar.set_xticks(range(len(key_labels)), key_labels)
    ax_bar.set_ylim(0, 1)
    finish(ax_bar, f"query {query} ({query_labels[query]}): weights over the keys",
           "key token", "attention weight")


def _row_box(row: int, width: int) -> Rectangle:
    from matplotlib.patches import Rectangle
    return Rectangle((-0.5, row - 0.5), width, 1, fill=False, edgecolor=OKABE_ITO[3], lw=2.5)


def attention_explorer(model: Seq2SeqTransformer, src: np.ndarray, bos: int,
                       blocks: Sequence[str] = ("encoder self-attention, layer 0",
                                                "decoder cross-attention, layer 0"),
                       queries: Sequence[int] | None = None) -> FrameExplorer:
    """Explorer over attention block x head x query token of the toy model on ``src``
    (2 blocks x 2 heads x 8 queries = 32 pre-drawn frames by default)."""
    maps, src_labels, tgt_labels, _ = toy_attention_maps(model, src, bos)
    H = next(iter(maps.values())).shape[0]
    queries = list(range(max(maps[b].shape[1] for b in blocks))) if queries is None else queries

    def draw(fig: Figure, block: str, head: int, query: int) -> None:
        w = maps[block][head]
        q_labels = src_labels if block.startswith("encoder") else tgt_labels
        k_labels = tgt_labels if "decoder self" in block else src_labels
        draw_attention_map(fig, w, min(query, w.shape[0] - 1), q_labels, k_labels,
                           f"{block}, head {head}")
    def alt(block: str, head: int, query: int) -> str:
        w = maps[block][head]
        q = min(query, w.shape[0] - 1)
        q_labels = src_labels if block.startswith("encoder") else tgt_labels
        k_labels = tgt_labels if "decoder self" in block else src_labels
        top = int(np.argmax(w[q]))
        return (f"Attention weights of the trained toy sorting transformer, {block}, head "
                f"{head}: a heat map of queries by keys with query {q} (token {q_labels[q]}) "
                f"outlined, and a bar chart of that query's weights over the keys, the largest "
                f"{w[q, top]:.2f} on key {top} (token {k_labels[top]}).")

    return FrameExplorer(draw, {"block": list(blocks), "head": list(range(H)),
                                "query": list(queries)},
                         labels={"block": "attention", "head": "head", "query": "query"},
                         alt=alt,
                         figsize=(8, 3.3))


# -- positional encodings ---------------------------------------------------------------------
def draw_positional(fig: Figure, t: int, k: int, pair: int, num_positions: int = 64,
                    d_model: int = 32) -> None:
    """Three panels: the encoding (positions x dimensions) with positions t and t+k marked;
    the dot product PE(s)·PE(s+j) against the distance j (the same for every s); the pair
    ``pair`` (sin, cos) of frequency ω = 10000^(-2·pair/d) on its circle, where a shift by k
    is a rotation by the angle ω k."""
    pe = sinusoidal_encoding(num_positions, d_model)
    fig.set_layout_engine("none")          # fixed layout: explorers draw many frames
    ax_map = fig.add_axes([0.07, 0.14, 0.25, 0.66])
    ax_dot = fig.add_axes([0.40, 0.14, 0.29, 0.66])
    ax_rot = fig.add_axes([0.76, 0.14, 0.23, 0.66])
    ax_map.imshow(pe, cmap=DIVERGING, vmin=-1, vmax=1, aspect="auto")
    for pos, c in ((t, OKABE_ITO[1]), (t + k, OKABE_ITO[3])):
        ax_map.axhline(pos, color=c, lw=2)
    ax_map.axvline(2 * pair, color="black", lw=1, ls="--")
    ax_map.grid(False)
    finish(ax_map, f"PE, rows t = {t}\nand t + k = {t + k}", "dimension", "position")
    dist = np.arange(num_positions - t)
    dots = pe[t] @ pe[t:].T
    ax_dot.plot(dist, dots, color=OKABE_ITO[0], label=f"PE({t})·PE({t}+j)")
    ax_dot.plot(dist, pe[0] @ pe[:len(dist)].T, color=OKABE_ITO[2], ls=":", lw=2,
                label="PE(0)·PE(j)")
    ax_dot.plot([k], [pe[t] @ pe[t + k]], "o", color=OKABE_ITO[3], ms=8)
    finish(ax_dot, f"dot product at distance\nk = {k}: {pe[t] @ pe[t + k]:.2f}",
           "distance j", "dot product", legend=True)
    omega = 10000.0 ** (-2 * pair / d_model)
    circle = np.linspace(0, 2 * np.pi, 200)
    ax_rot.plot(np.cos(circle), np.sin(circle), color="0.7", lw=1)
    pts = pe[:, 2 * pair:2 * pair + 2]
    ax_rot.plot(pts[:, 1], pts[:, 0], ".", color=OKABE_ITO[5], ms=4, label="positions 0..63")
    for pos, c, name in ((t, OKABE_ITO[1], "t"), (t + k, OKABE_ITO[3], "t+k")):
        ax_rot.plot([0, pe[pos, 2 * pair + 1]], [0, pe[pos, 2 * pair]], color=c, lw=2, label=name)
    ax_rot.set_aspect("equal")
    ax_rot.set_xlim(-1.2, 1.2)
    ax_rot.set_ylim(-1.2, 1.2)
    finish(ax_rot, f"pair {pair}: ω = {omega:.3g}\nangle ωk = {omega * k:.2f} rad",
           "cos ωt (dim 2i+1)", "sin ωt (dim 2i)", legend=False)


def positional_explorer(ts: Sequence[int] = (0, 24), ks: Sequence[int] = (2, 24),
                        pairs: Sequence[int] = (0, 6)) -> FrameExplorer:
    """Explorer over position t, distance k and frequency pair (2 x 2 x 2 = 8 frames: each
    frame is stored in the notebook)."""
    return FrameExplorer(draw_positional, {"t": list(ts), "k": list(ks), "pair": list(pairs)},
                         labels={"t": "position t", "k": "distance k", "pair": "frequency i"},
                         alt=positional_alt, figsize=(10, 3.8))


def positional_alt(t: int, k: int, pair: int, num_positions: int = 64, d_model: int = 32) -> str:
    """The alt text of one positional-explorer frame (what ``draw_positional`` shows)."""
    pe = sinusoidal_encoding(num_positions, d_model)
    omega = 10000.0 ** (-2 * pair / d_model)
    return (f"Sinusoidal positional encoding: a heat map of {num_positions} positions by "
            f"{d_model} dimensions with rows t = {t} and t + k = {t + k} marked; the dot product "
            f"PE({t})·PE({t}+j) against the distance j, the same curve as PE(0)·PE(j), with its "
            f"value {pe[t] @ pe[t + k]:.2f} at j = {k} marked; and frequency pair {pair} "
            f"(ω = {omega:.3g}) as points on a circle, positions t and t + k drawn as two radii "
            f"an angle ωk = {omega * k:.2f} rad apart.")


# -- sparse patterns ---------------------------------------------------------------------------
def draw_patterns(fig: Figure, patterns: dict[str, np.ndarray], ncols: int = 3) -> None:
    """One panel per {name: (T, T) bool allowed pattern}, ``ncols`` to a row (few enough that
    titles and labels keep the size of the text around the figure); the title gives the pair
    count."""
    nrows = -(-len(patterns) // ncols)
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for ax, (name, p) in zip(axes, patterns.items()):
        ax.imshow(p, cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
        ax.grid(False)
        finish(ax, f"{name}\n{int(p.sum())} pairs", "key j", "query i")
    for ax in axes[len(patterns):]:
        ax.set_visible(False)


def draw_pair_counts(fig: Figure, Ts: Sequence[int], counts: dict[str, Sequence[int]]) -> None:
    """Attended pairs against the sequence length T (log-log), one line per pattern."""
    ax = fig.subplots()
    for (name, c), col in zip(counts.items(), OKABE_ITO):
        ax.loglog(Ts, c, "o-", color=col, label=name, ms=4)
    finish(ax, "attended (query, key) pairs against sequence length", "sequence length T",
           "pairs", legend=True)
