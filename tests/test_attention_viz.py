"""Chapter 5 pictures and explorers: what the drawing functions draw, and that the explorer
controls select the right pre-drawn frame."""
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from labutils.lab.toy_transformer import load_toy_transformer, toy_attention_maps  # noqa: E402
from labutils.nn.masks import sliding_window_pattern, strided_pattern  # noqa: E402
from labutils.nn.positional import sinusoidal_encoding  # noqa: E402
from labutils.viz import new_figure  # noqa: E402
from labutils.viz import attention as va  # noqa: E402


def test_draw_attention_map_draws_the_weights_and_the_query_row():
    w = np.random.default_rng(0).dirichlet(np.ones(4), 3)
    fig = new_figure()
    va.draw_attention_map(fig, w, 1, ["a", "b", "c"], list("wxyz"), "my block")
    ax_map, ax_bar = fig.axes
    np.testing.assert_array_equal(ax_map.images[0].get_array(), w)
    assert "my block" in ax_map.get_title()
    assert [p.get_height() for p in ax_bar.patches] == pytest.approx(w[1])
    assert "query 1 (b)" in ax_bar.get_title()
    assert [t.get_text() for t in ax_bar.get_xticklabels()] == list("wxyz")
    assert ax_bar.get_ylabel() == "attention weight"


def test_draw_positional_marks_the_positions_and_the_dot_product():
    fig = new_figure()
    va.draw_positional(fig, t=3, k=5, pair=2, num_positions=32, d_model=16)
    ax_map, ax_dot, ax_rot = fig.axes
    np.testing.assert_allclose(ax_map.images[0].get_array(), sinusoidal_encoding(32, 16))
    pe = sinusoidal_encoding(32, 16)
    assert f"{pe[3] @ pe[8]:.2f}" in ax_dot.get_title()
    shifted, from_zero = ax_dot.lines[0].get_ydata(), ax_dot.lines[1].get_ydata()
    np.testing.assert_allclose(shifted, from_zero, atol=1e-10)   # depends only on distance
    assert "pair 2" in ax_rot.get_title()


def test_draw_patterns_and_counts():
    fig = new_figure()
    pats = {"strided": strided_pattern(16, 4), "window": sliding_window_pattern(16, 2)}
    va.draw_patterns(fig, pats)
    shown = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title().split("\n")[1] for a in shown] == [
        f"{int(p.sum())} pairs" for p in pats.values()]
    # six patterns: two rows of three, so each panel (and its title) keeps a legible size
    fig = new_figure((8, 6))
    va.draw_patterns(fig, {f"p{i}": strided_pattern(16, 4) for i in range(6)})
    fig.canvas.draw()
    rows = {round(a.get_position().y0, 2) for a in fig.axes}
    assert len(fig.axes) == 6 and len(rows) == 2
    fig = new_figure()
    va.draw_pair_counts(fig, [8, 16], {"full": [64, 256], "window": [40, 80]})
    assert fig.axes[0].get_xscale() == "log" and len(fig.axes[0].lines) == 2


def test_positional_explorer_frames_follow_the_controls():
    ex = va.positional_explorer(ts=(0, 5), ks=(1, 3), pairs=(0,))
    assert len(ex.frames) == 4
    ex.set(t=5, k=3)
    assert ex.current_index() == ex.combos.index((5, 3, 0))
    pe = sinusoidal_encoding(64, 32)
    assert "t + k = 8 marked" in ex.alts[ex.current_index()]
    assert f"{pe[5] @ pe[8]:.2f} at j = 3" in ex.alts[ex.current_index()]
    assert len(set(ex.alts)) == len(ex.alts)
    assert ex.pngs[0][:4] == b"\x89PNG"


def test_attention_explorer_on_the_toy_model():
    model, cfg = load_toy_transformer()
    src = np.array([4, 1, 3, 0, 2, 2, 9, 5])
    maps, src_labels, tgt_labels, out = toy_attention_maps(model, src, cfg["bos"])
    assert out.tolist() == sorted(src.tolist())
    assert maps["decoder cross-attention, layer 0"].shape == (2, 8, 8)
    np.testing.assert_allclose(maps["encoder self-attention, layer 0"].sum(-1), 1.0)
    ex = va.attention_explorer(model, src, cfg["bos"],
                               blocks=("decoder cross-attention, layer 0",), queries=(0, 6))
    assert len(ex.frames) == 2 * 2
    ex.set(head=1, query=6)
    assert ex.current_index() == ex.combos.index(("decoder cross-attention, layer 0", 1, 6))
    w = maps["decoder cross-attention, layer 0"][1, 6]
    alt = ex.alts[ex.current_index()]
    top = int(np.argmax(w))
    assert f"query 6 (token {tgt_labels[6]})" in alt and "head 1" in alt
    assert f"{w[top]:.2f} on key {top} (token {src_labels[top]})" in alt
