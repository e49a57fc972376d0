"""Chapter 4 figures: the gradient-flow measurement (labutils.lab.gradient_flow), its drawing,
the explorer, alignments."""
import numpy as np
import pytest

from labutils.lab import gradient_flow as flow
from labutils.viz import rnn as v
from labutils.viz.style import new_figure


def test_orthogonal_scale_sets_radius_and_sigma_max():
    r = flow.gradient_flow("RNN", 0.7, 5)
    assert r["radius"] == pytest.approx(0.7) and r["sigma_max"] == pytest.approx(0.7)
    g = flow.gradient_flow("RNN", 1.0, 5, matrix="gaussian", hidden_size=32)
    assert g["sigma_max"] > 1.5 * g["radius"]     # a Gaussian matrix: they differ a lot


def test_sufficient_condition_for_vanishing_holds_numerically():
    """tanh: γ = 1, so σ_max(W_hh) = 0.5 < 1/γ bounds ||∂h_T/∂h_k|| by 0.5^(T−k)."""
    r = flow.gradient_flow("RNN", 0.5, 40)
    assert r["norm"][0] == pytest.approx(1.0)
    assert np.all(r["norm"] <= 0.5 ** r["distance"] * (1 + 1e-9))
    assert r["norm"][-1] < 1e-12


def test_large_scale_explodes_and_gates_carry_gradient():
    assert flow.gradient_flow("RNN", 3.0, 60)["norm"][-1] > 1e6
    plain = flow.gradient_flow("LSTM", 1.0, 60)["norm"][-1]
    remember = flow.gradient_flow("LSTM", 1.0, 60, gate_bias=flow.REMEMBER_BIAS)["norm"][-1]
    assert remember > 1e3 * plain


def test_gradient_flow_rejects_unknown_cell():
    with pytest.raises(ValueError, match="cell must be one of"):
        flow.gradient_flow("Transformer", 1.0, 5)


def test_draw_gradient_flow_draws_the_measurement():
    fig = new_figure()
    ax1, ax2 = v.draw_gradient_flow(fig, "GRU", 1.5, 20)
    x, y = ax1.lines[0].get_data()
    assert len(x) == 21 and y[0] == pytest.approx(0.0)      # log10 of ||I|| = 1
    ref = flow.gradient_flow("GRU", 1.5, 20, gate_bias=flow.REMEMBER_BIAS)["norm"]
    np.testing.assert_allclose(y, np.log10(ref))
    assert "GRU" in ax1.get_title() and "1.5" in ax1.get_title()
    assert len(ax2.lines) == 4 and len(ax2.lines[0].get_xdata()) == 20
    assert ax1.get_xlabel() and ax1.get_ylabel() and ax2.get_xlabel()


def test_draw_gradient_norms_and_alignment():
    fig = new_figure()
    curves = {f"scale {s}": (r["distance"], r["norm"]) for s in (0.5, 1.0)
              for r in [flow.gradient_flow("RNN", s, 10)]}
    ax = v.draw_gradient_norms(fig, curves)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["scale 0.5", "scale 1.0"]
    fig = new_figure()
    w = np.eye(4)[::-1]
    ax = v.draw_alignment(fig, w, [1, 2, 3, 4], [4, 3, 2, 1])
    np.testing.assert_array_equal(ax.images[0].get_array(), w)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3", "4"]


def test_draw_position_accuracy_draws_each_curve_by_position():
    fig = new_figure()
    curves = {"teacher-forced": np.array([1.0, 0.9, 0.8]), "free-running": np.array([1.0, 0.7, 0.4])}
    ax = v.draw_position_accuracy(fig, curves, "exposure bias")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(curves)
    for line, acc in zip(ax.get_lines(), curves.values()):
        np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
        np.testing.assert_array_equal(line.get_ydata(), acc)
    assert ax.get_title() == "exposure bias" and ax.get_ylim() == (0, 1.05)


def test_explorer_frames_follow_the_controls():
    e = v.gradient_flow_explorer(cells=("RNN", "LSTM"), scales=(0.5, 3.0), lengths=(10,))
    assert len(e.frames) == 4 and e.current_index() == 0
    assert e.names == ["cell", "scale"]            # one length: fixed, not a control
    e.set(cell="LSTM", scale=3.0)
    assert e.current_index() == e.combos.index(("LSTM", 3.0)) == 3
    assert all(p[:8] == b"\x89PNG\r\n\x1a\n" for p in e.pngs)
    for (cell, scale), alt in zip(e.combos, e.alts):
        assert alt == v.gradient_flow_alt(cell, scale, 10) and alt.startswith(cell)
        assert ("(h_k, c_k)" in alt) == (cell == "LSTM") and "T = 10." in alt
    e = v.gradient_flow_explorer(cells=("GRU",), scales=(1.0, 3.0), lengths=(5, 8))
    assert e.names == ["scale", "length"] and len(e.frames) == 4
    assert e.alts[e.combos.index((3.0, 8))] == v.gradient_flow_alt("GRU", 3.0, 8)


def test_lstm_figures_say_that_the_whole_state_is_measured():
    """gradient_flow measures ||∂h_T/∂(h_k, c_k)|| for the LSTM, and its figures say so."""
    r = flow.gradient_flow("LSTM", 1.0, 3)
    assert r["norm"][0] == pytest.approx(1.0)     # ∂h_T/∂(h_T, c_T) = [I, 0]
    fig = new_figure()
    ax1, _ = v.draw_gradient_flow(fig, "LSTM", 1.0, 10)
    assert "(h_k, c_k)" in ax1.get_ylabel()
    fig = new_figure()
    ax1, _ = v.draw_gradient_flow(fig, "GRU", 1.0, 10)
    assert "(h_k, c_k)" not in ax1.get_ylabel() and "h_k" in ax1.get_ylabel()
    fig = new_figure()
    ax = v.draw_gradient_norms(fig, {"LSTM": (r["distance"], r["norm"])}, ylabel=v.STATE_NORM_LABEL)
    assert "(h_k, c_k)" in ax.get_ylabel()


def test_default_explorer_stays_small():
    """Its stored frames (2x resolution, 256 colours) stay well inside the notebook's 3 MB."""
    e = v.gradient_flow_explorer()
    assert e.names == ["cell", "scale", "length"]
    assert sum(len(p) for p in e.pngs) < 1_500_000


def test_viz_keeps_the_names_saved_notebooks_call():
    """Chapter 4 as released called rnnviz.gradient_flow, scaled_orthogonal and REMEMBER_BIAS."""
    assert v.gradient_flow is flow.gradient_flow and v.scaled_orthogonal is flow.scaled_orthogonal
    assert v.REMEMBER_BIAS == flow.REMEMBER_BIAS
