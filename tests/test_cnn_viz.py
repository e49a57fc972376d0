"""Chapter 3 explorer: the receptive-field formula against the measured gradient support, what
the drawing shows, and the controls picking frames."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from labutils.viz import receptive_field as rf  # noqa: E402
from labutils.viz.style import new_figure  # noqa: E402


@pytest.mark.parametrize("name", list(rf.ARCHITECTURES))
def test_formula_equals_measured_support_for_an_inner_unit(name):
    layers = rf.ARCHITECTURES[name]
    pos = rf.unit_position(layers, "centre")
    g = rf.gradient_map(layers, pos)
    assert rf.support_box(g) == rf.rf_box(layers, pos)
    r = rf.receptive_field(layers)[0]
    assert all(hi - lo + 1 == r for lo, hi in rf.support_box(g))


@pytest.mark.parametrize("name", list(rf.ARCHITECTURES))
def test_border_units_see_the_formula_box_clipped_to_the_input(name):
    layers = rf.ARCHITECTURES[name]
    for unit in ("edge", "corner"):
        pos = rf.unit_position(layers, unit)
        box = rf.rf_box(layers, pos)
        clipped = tuple((max(lo, 0), min(hi, rf.INPUT_SIZE - 1)) for lo, hi in box)
        assert rf.support_box(rf.gradient_map(layers, pos)) == clipped


def test_gradient_map_agrees_with_torch_autograd():
    layers = rf.ARCHITECTURES["ResNet stem: conv7/2, pool3/2, conv3"]
    pos = rf.unit_position(layers, "centre")
    x = torch.zeros(1, 1, rf.INPUT_SIZE, rf.INPUT_SIZE, dtype=torch.float64, requires_grad=True)
    h = x
    for kind, k, s, d, p in layers:
        if kind == "conv":
            h = torch.nn.functional.conv2d(h, torch.ones(1, 1, k, k, dtype=torch.float64), None, s, p, d)
        else:
            h = torch.nn.functional.avg_pool2d(h, k, s, p)
    h[0, 0][pos].backward()
    np.testing.assert_allclose(rf.gradient_map(layers, pos), x.grad[0, 0].numpy(), rtol=1e-12)


def test_dilation_extends_the_formula():
    layers = rf.ARCHITECTURES["conv3, dilation 1, 2, 4"]
    assert rf.receptive_field(layers)[0] == 1 + 2 * (1 + 2 + 4)
    assert rf.receptive_field(rf.ARCHITECTURES["3 x conv3, stride 2"])[0] == 1 + 2 * (1 + 2 + 4)


def test_effective_receptive_field_is_not_uniform():
    layers = rf.ARCHITECTURES["3 x conv3"]
    g = rf.gradient_map(layers, rf.unit_position(layers, "centre"))
    row = g[16, 13:20]
    assert row.argmax() == 3 and row[0] < row[3] / 5   # peaked: 1, 3, 6, 7, 6, 3, 1 pattern


def test_drawing_shows_the_gradient_the_box_and_the_values():
    fig = new_figure((7.2, 3.4))
    ax, ax2 = rf.draw_receptive_field(fig, "VGG: 2 x (conv3, conv3, pool2)", "centre")
    img = ax.images[0].get_array()
    layers = rf.ARCHITECTURES["VGG: 2 x (conv3, conv3, pool2)"]
    g = rf.gradient_map(layers, rf.unit_position(layers, "centre"))
    np.testing.assert_allclose(img, g / g.max())
    rect = ax.patches[0]
    assert (rect.get_x(), rect.get_y(), rect.get_width(), rect.get_height()) == (9.5, 9.5, 16, 16)
    assert "r = 16" in ax.get_title() and "measured support 16 x 16" in ax2.get_title()
    assert ax2.get_title().startswith("row 17;")   # rows 10..25: 17 is the (lower) middle row
    assert "row 17" in ax2.get_title()            # rows 10..25: 17 is the (lower) middle row
    assert ax.get_xlabel() and ax.get_ylabel() and ax2.get_xlabel() and ax2.get_ylabel()
    assert fig._suptitle.get_text() == "VGG: 2 x (conv3, conv3, pool2)"


def test_explorer_controls_pick_the_right_frame():
    e = rf.receptive_field_explorer()
    assert len(e.frames) == len(rf.ARCHITECTURES) * len(rf.UNITS) <= 40
    assert e.combos[e.current_index()] == ("3 x conv3", "centre")
    e.set(architecture="conv3, dilation 1, 2, 4", unit="corner")
    assert e.combos[e.current_index()] == ("conv3, dilation 1, 2, 4", "corner")
    e.set(architecture="3 x conv3, stride 2")
    assert e.combos[e.current_index()] == ("3 x conv3, stride 2", "corner")
    pngs = list(e.pngs)
    assert all(p[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs) and len(set(pngs)) == len(pngs)
    for combo, alt in zip(e.combos, e.alts):      # each frame's own, true, alt text
        assert alt == rf.receptive_field_alt(*combo) and alt.startswith(combo[0])
    assert len(set(e.alts)) == len(e.alts)


def _profile(ax2):
    """Heights of the stairs drawn in the right panel."""
    return ax2.patches[0].get_path().vertices[:, 1]


@pytest.mark.parametrize("name", ["3 x conv3, stride 2", "ResNet stem: conv7/2, pool3/2, conv3"])
@pytest.mark.parametrize("unit", rf.UNITS)
def test_right_panel_shows_the_selected_units_row_not_the_row_of_the_maximum(name, unit):
    layers = rf.ARCHITECTURES[name]
    pos = rf.unit_position(layers, unit)
    g = rf.gradient_map(layers, pos)
    g = g / g.max()
    (r0, r1), _ = rf.rf_box(layers, pos)
    row = min(max((r0 + r1) // 2, 0), rf.INPUT_SIZE - 1)
    assert rf.field_middle(layers, pos) == (row, row)
    assert row != int(np.argmax(g.max(axis=1)))      # these stacks are dim in the middle
    fig = new_figure((7.2, 3.4))
    ax, ax2 = rf.draw_receptive_field(fig, name, unit)
    heights = set(np.round(_profile(ax2), 12)) - {0.0}
    assert heights == set(np.round(g[row], 12)) - {0.0}
    assert heights != set(np.round(g[g.max(axis=1).argmax()], 12)) - {0.0}
    assert f"row {row};" in ax2.get_title()
    assert ax.lines[0].get_ydata()[0] == row       # the dotted line marks the same row


def test_count_peaks():
    assert rf.count_peaks([1, 3, 6, 7, 6, 3, 1]) == 1
    assert rf.count_peaks([1, 2, 2, 1]) == 1                     # a plateau is one peak
    assert rf.count_peaks([1, 1, 2, 1, 3, 2, 3, 1, 3]) == 4
    assert rf.count_peaks([5]) == 1 and rf.count_peaks([3, 1]) == 1


def test_alt_text_is_true_for_each_kind_of_frame():
    peaked = rf.receptive_field_alt("3 x conv3", "centre")
    assert "brightest in the middle" in peaked and "a single peak" in peaked
    assert "gridding" not in peaked and "clipped" not in peaked
    for name in ("3 x conv3, stride 2", "conv3, dilation 1, 2, 4"):
        alt = rf.receptive_field_alt(name, "centre")
        assert "gridding" in alt and "brightest in the middle" not in alt
        assert "pixel (16, 16), has 11% of the largest value" in alt   # 1/9 of the maximum
        assert "6 separate peaks" in alt
    corner = rf.receptive_field_alt("3 x conv3", "corner")
    assert "clipped to the image (rows 0-3, columns 0-3)" in corner
    assert "one peak, at input pixel (1, 1)" in corner and "64%" in corner
    own = rf.receptive_field_alt([("conv", 5, 1, 1, 2), ("pool", 2, 2, 1, 0)], (3, 5))
    assert own.startswith("conv5, pool2/2, output unit (3, 5).")


def test_drawing_accepts_your_own_stack_of_layers():
    layers = [("conv", 5, 1, 1, 2), ("pool", 2, 2, 1, 0), ("conv", 3, 1, 2, 2)]
    fig = new_figure((7.2, 3.4))
    ax, ax2 = rf.draw_receptive_field(fig, layers, unit=(3, 5))
    r = 1 + 4 + 1 + 2 * 2 * 2
    assert rf.receptive_field(layers)[0] == r and f"r = {r}" in ax.get_title()
    assert fig._suptitle.get_text() == "conv5, pool2/2, conv3 d2"
    assert "(3, 5)" in ax.get_title()
    with pytest.raises(ValueError, match="leave no output"):
        rf.draw_receptive_field(new_figure(), [("conv", 3, 2, 1, 0)] * 6)


def test_viz_reexports_the_lab_computation():
    """The formula and the measurement live in labutils.lab.receptive_field; the chapter (and a
    student's saved notebook) still calls them as rf.receptive_field, rf.gradient_map, ..."""
    from labutils.lab import receptive_field as lab_rf
    for name in ("ARCHITECTURES", "UNITS", "receptive_field", "rf_box", "unit_position", "output_size",
                 "build_network", "gradient_map", "support_box", "field_middle", "count_peaks", "describe"):
        assert getattr(rf, name) is getattr(lab_rf, name), name
