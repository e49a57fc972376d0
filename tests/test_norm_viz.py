"""Chapter 2 pictures: the statistic sets agree with what the modules compute, the drawing
shows them, and the explorer switches frames."""
import numpy as np
import pytest

import labutils.nn as nn
from labutils.viz import new_figure
from labutils.viz.norm import (draw_batch_noise, draw_norm_groups, draw_training_curves,
                               norm_explorer, statistic_sets)


def modules_for(shape, groups):
    n, c = shape[:2]
    return {"batch": nn.BatchNorm2d(c, affine=False), "layer": nn.LayerNorm(shape[1:], elementwise_affine=False),
            "instance": nn.InstanceNorm2d(c), "group": nn.GroupNorm(groups, c, affine=False)}


@pytest.mark.parametrize("method", ["batch", "layer", "instance", "group"])
@pytest.mark.parametrize("groups", [1, 2, 3, 6])
def test_sets_are_exactly_what_the_module_normalises_together(method, groups):
    """Add a constant to one set only: the module's output must not change (each set is
    shifted as a whole, so its own mean absorbs it); changing one entry changes only the
    outputs of its own set."""
    shape = (3, 6, 2, 2)
    ids = statistic_sets(method, shape, groups)
    m = modules_for(shape, groups)[method]
    x = np.random.default_rng(0).standard_normal(shape)
    y = m(x)
    for s in range(int(ids.max()) + 1):
        np.testing.assert_allclose(m(x + 5.0 * (ids == s)), y, atol=1e-9)
    x2 = x.copy()
    x2[0, 0, 0, 0] += 1.0
    changed = ~np.isclose(m(x2), y, atol=1e-12)
    assert (changed <= (ids == ids[0, 0, 0, 0])).all()
    assert changed.sum() == (ids == ids[0, 0, 0, 0]).sum()


def test_set_counts_and_bad_arguments():
    shape = (4, 6, 3, 3)
    assert statistic_sets("batch", shape).max() + 1 == 6
    assert statistic_sets("layer", shape).max() + 1 == 4
    assert statistic_sets("instance", shape).max() + 1 == 24
    assert statistic_sets("group", shape, 3).max() + 1 == 12
    np.testing.assert_array_equal(statistic_sets("group", shape, 1), statistic_sets("layer", shape))
    np.testing.assert_array_equal(statistic_sets("group", shape, 6), statistic_sets("instance", shape))
    with pytest.raises(ValueError, match="cannot form 4 equal groups"):
        statistic_sets("group", shape, 4)
    with pytest.raises(ValueError, match="method must be one of"):
        statistic_sets("batchnorm", shape)


def test_draw_norm_groups_draws_the_sets_with_title_and_labels():
    fig = new_figure()
    img = draw_norm_groups(fig, "group", 2, (4, 6, 3, 3))
    ax = fig.axes[0]
    shown = np.ma.getdata(ax.images[0].get_array())
    assert shown.shape == (4 * 4 - 1, 6 * 4 - 1)
    np.testing.assert_array_equal(np.isnan(img), np.ma.getmaskarray(ax.images[0].get_array()))
    assert set(np.unique(img[~np.isnan(img)])) == set(range(8))
    assert img[0, 0] == 0 and img[0, 3 * 4] == 1 and img[4, 0] == 2   # channel 3 starts group 1
    assert "group norm, G = 2: 8 sets" in ax.get_title()
    assert "27 values each" in ax.get_title()
    assert ax.get_xlabel() and ax.get_ylabel()
    assert len(ax.patches) == 8          # one outline per set
    first = ax.patches[0]                # sample 0, channels 0-2: 3 tiles of 3 + 2 gaps
    assert np.isclose(first.get_width(), 3 * 3 + 2 + 0.6) and np.isclose(first.get_height(), 3.6)


def test_explorer_switches_frames():
    ex = norm_explorer()
    assert len(ex.frames) == 7
    assert ex.current_index() == 0
    ex.set(method="group, G = 3")
    assert ex.current_index() == 5
    assert ex.current is ex.frames[5]
    ex.set(method="layer")
    assert ex.values == {"method": "layer"} and ex.current_index() == 1
    assert ex.pngs[0][:4] == b"\x89PNG"
    assert ex.pngs[3] != ex.pngs[4]          # G = 1 and G = 2 differ
    assert "share one mean and variance" in ex.alt


def test_explorer_frames_are_what_draw_norm_groups_draws():
    from labutils.viz import render_png
    ex = norm_explorer()
    assert ex.pngs[6] == render_png(lambda fig: draw_norm_groups(fig, "group", 6),
                                            {}, figsize=(6.4, 4.2))


def test_noise_and_training_figures():
    fig = new_figure()
    ax = draw_batch_noise(fig, [2, 8, 32], [0.7, 0.35, 0.18], [0.6, 0.26, 0.13])
    assert len(ax.lines) == 4 and ax.get_xscale() == "log"
    np.testing.assert_allclose(ax.lines[2].get_ydata(), 1 / np.sqrt([2, 8, 32]))
    fig = new_figure()
    ax = draw_training_curves(fig, {"plain": [1.0, 0.5, np.inf, np.nan], "BN": [1.0, 0.4, 0.2, 0.1]})
    assert len(ax.lines[0].get_xdata()) == 2          # cut at the first non-finite loss
    assert ax.lines[1].get_marker() == "x"            # divergence marked
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["plain", "BN"]
