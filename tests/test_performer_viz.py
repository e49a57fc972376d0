"""Chapter 6 pictures: the drawings show the numbers they claim; the explorer's controls pick
the right pre-drawn frame."""
import math

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from labutils.lab import performer_experiments as PX  # noqa: E402
from labutils.nn import favor as F  # noqa: E402
from labutils.viz import performer as vp  # noqa: E402
from labutils.viz.explorer import render_png  # noqa: E402
from labutils.viz.style import new_figure  # noqa: E402


def test_pair_has_the_requested_norms_and_angle():
    x, y = vp.pair(0.5, 1.5, 120)
    assert np.isclose(np.linalg.norm(x), .5) and np.isclose(np.linalg.norm(y), 1.5)
    assert np.isclose(x @ y, .5 * 1.5 * math.cos(math.radians(120)))


@pytest.mark.parametrize("kind,angle", [("positive", 0), ("trig", 180), ("hyperbolic", 0)])
def test_estimator_drawing_shows_truth_and_lemma2(kind, angle):
    fig = new_figure()
    ax = vp.draw_estimator(fig, 0.5, 1.0, angle, 8, kind, n_draws=1500)
    x, y = vp.pair(0.5, 1.0, angle)
    true = math.exp(x @ y)
    vlines = [line.get_xdata()[0] for line in ax.lines]
    assert np.isclose(vlines[0], true)                                # the true value
    s = vp.estimator_summary(0.5, 1.0, angle, 8, kind, n_draws=1500)
    assert np.isclose(vlines[1], s["samples"].mean())                 # the sample mean
    band, = [p for p in ax.patches if "Lemma 2" in p.get_label()]
    rmse = math.sqrt(F.softmax_kernel_mse(x, y, 8, kind))
    assert np.isclose(band.get_x(), true - rmse) and np.isclose(band.get_width(), 2 * rmse)
    assert kind in ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    assert "Lemma 2" in ax.texts[0].get_text()
    # the Monte Carlo MSE agrees with Lemma 2 to within sampling error (small inputs here)
    assert abs(s["sample_mse"] - s["lemma_mse"]) < 0.25 * s["lemma_mse"]


def test_trig_exact_at_x_equal_y_is_drawn():
    ax = vp.draw_estimator(new_figure(), 1.0, 1.0, 0, 4, "trig", n_draws=200)
    s = vp.estimator_summary(1.0, 1.0, 0, 4, "trig", n_draws=200)
    assert s["lemma_mse"] == 0 and np.allclose(s["samples"], math.e)
    assert ax.get_xlim()[1] > ax.get_xlim()[0]


def test_explorer_controls_pick_the_right_frame():
    grid = {"x_norm": [0.5, 1.0], "y_norm": [1.0], "angle": [0, 180], "m": [4], "kind": ["positive", "trig"]}
    e = vp.estimator_explorer(grid)
    assert len(e.frames) == 8
    assert e.combos[e.current_index()] == (0.5, 1.0, 0, 4, "positive")
    e.set(angle=180, kind="trig")
    assert e.combos[e.current_index()] == (0.5, 1.0, 180, 4, "trig")
    e.set(x_norm=1.0)
    i = e.current_index()
    assert e.combos[i] == (1.0, 1.0, 180, 4, "trig")
    assert e.pngs[i] == render_png(vp.draw_estimator, dict(zip(e.names, e.combos[i])))
    pngs = list(e.pngs)
    assert len(set(pngs)) == len(pngs)
    # every frame's alt text says what that frame shows
    assert len(set(e.alts)) == len(e.alts)
    alt = e.alts[e.combos.index((0.5, 1.0, 0, 4, "positive"))]
    rel = math.sqrt(F.softmax_kernel_mse(*vp.pair(0.5, 1.0, 0), 4, "positive")) / math.exp(0.5)
    assert "positive features, m = 4, |x| = 0.5, |y| = 1.0, angle 0°" in alt and f"{rel:.2g}" in alt
    assert "exact" in vp.estimator_alt(1.0, 1.0, 0, 4, "trig")      # trig at x = y: no error


def test_default_grid_is_small():
    n = math.prod(len(v) for v in vp.EXPLORER_GRID.values())
    assert n <= 40


def test_relative_mse_figure_positive_flat_trig_grows():
    ax = vp.draw_relative_mse(new_figure(), n_draws=300)
    lines = {line.get_label(): line.get_ydata() for line in ax.lines}
    pos, trig = lines["positive: Lemma 2"], lines["trig: Lemma 2"]
    np.testing.assert_allclose(pos, math.expm1(1.0) / 16)
    assert trig[-1] > 100 * trig[1]
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


def test_attention_errors_per_seed_and_error_bars():
    ms = (8, 64)
    err = vp.attention_errors(L=16, d=8, ms=ms, scale=0.4, n_seeds=3)
    assert set(err) == {(k, m) for k in ("positive", "trig") for m in ("iid", "orthogonal")}
    for ea, eo in err.values():
        assert ea.shape == eo.shape == (3, 2) and (ea > 0).all()
        assert len({tuple(row) for row in eo}) == 3              # each seed its own draw
    again = vp.attention_errors(L=16, d=8, ms=ms, scale=0.4, n_seeds=3)
    np.testing.assert_array_equal(again[("trig", "iid")][1], err[("trig", "iid")][1])
    mean, bars = vp.mean_and_sem(np.array([[1.0, 50.0], [3.0, 70.0]]))
    np.testing.assert_allclose(mean, [2.0, 10.0])                 # errors above 10 count as 10
    np.testing.assert_allclose(bars[1], [1.0, 0.0])
    assert (bars[0] < mean).all()                                 # stays above 0 on a log axis


def test_error_figure_names_every_line_and_draws_the_means():
    ms = (8, 64)
    err = vp.attention_errors(L=16, d=8, ms=ms, scale=0.4, n_seeds=3)
    fig = new_figure((8, 7))
    axes = vp.draw_attention_errors(fig, {0.4: err, 0.8: err}, ms)
    assert axes.shape == (2, 2)
    legend, = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert sorted(labels) == sorted(f"{k} features, {m} rows" for k, m in err)
    assert "3 seeds" in legend.get_title().get_text()
    for ax in axes.flat:
        data = [c for c in ax.containers]                         # one errorbar per line
        assert [c.get_label() for c in data] == [f"{k} features, {m} rows" for k, m in err]
        looks = {(line.get_color(), line.get_linestyle()) for line in (c.lines[0] for c in data)}
        assert len(looks) == 4                                    # every line looks different
    shown = axes[0, 1].containers[0].lines[0].get_ydata()
    np.testing.assert_allclose(shown, vp.mean_and_sem(err[("positive", "iid")][1])[0])


def test_scale_regime():
    sc, f, u = vp.scale_regime(scales=(0.25, 2.0), L=16, d=8, ms=(16, 512), n_seeds=3)
    assert f.shape == (3, 2, 2) and u.shape == (3, 2)
    assert (f[:, 1, 0] < f[:, 0, 0]).all()            # more features, smaller error
    ax = vp.draw_scale_regime(new_figure(), sc, f, u, (16, 512))
    lines = [c.lines[0] for c in ax.containers]
    np.testing.assert_allclose(lines[1].get_ydata(), f[:, 1].mean(0))
    np.testing.assert_allclose(lines[2].get_ydata(), u.mean(0))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [c.get_label() for c in ax.containers] and len(set(labels)) == 3


def test_cost_table_measures_in_a_fresh_process():
    rows = PX.cost_table(Ls=(64, 512), d=16, m=32, repeats=1)
    assert [r["L"] for r in rows] == [64, 512]
    for r in rows:
        assert all(r[key] > 0 for key in ("exact_ms", "favor_ms", "exact_mb", "favor_mb"))
    # the (L, L) score array: 512² float64 is 2 MB; FAVOR+ never holds it
    assert rows[1]["exact_mb"] > 2 > rows[1]["favor_mb"]


def test_viz_draws_what_the_lab_computes():
    """The numbers behind the pictures live in labutils.lab (viz re-exports the old names)."""
    for name in ("pair", "estimator_summary", "attention_errors", "mean_and_sem", "scale_regime",
                 "relative_mse_curves"):
        assert getattr(vp, name) is getattr(PX, name), name


def test_relative_mse_curves_follow_lemma2():
    """Positive features: relative MSE (e^{|s|²} - 1)/m whatever SM is; trig: it grows as SM -> 0."""
    sms, curves = PX.relative_mse_curves(s_norm=1.0, m=16, n_draws=300)
    assert len(sms) == 13 and sms[0] > sms[-1]
    np.testing.assert_allclose(curves["positive"][0], (math.e - 1) / 16, rtol=1e-9)
    assert curves["trig"][0][-1] > 100 * curves["trig"][0][1]
    assert abs(curves["positive"][1][0] / curves["positive"][0][0] - 1) < 0.5    # Monte Carlo
