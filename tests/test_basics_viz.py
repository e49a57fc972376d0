"""Chapter 1 explorer: the drawing shows the module's values; the controls pick frames."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from labutils.viz import activations as va  # noqa: E402
from labutils.viz.style import new_figure  # noqa: E402


@pytest.mark.parametrize("name,torch_fn", [("GELU", torch.nn.functional.gelu),
                                           ("Tanh", torch.tanh), ("Softplus", torch.nn.functional.softplus)])
def test_drawn_curves_are_the_function_and_its_derivative(name, torch_fn):
    fig = new_figure()
    ax = va.draw_activation(fig, name, derivative=True)
    (x, y), (x2, dy) = ax.lines[0].get_data(), ax.lines[1].get_data()
    tx = torch.tensor(x, requires_grad=True)
    ty = torch_fn(tx)
    ty.sum().backward()
    np.testing.assert_allclose(y, ty.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(dy, tx.grad.numpy(), atol=1e-12)
    assert name in ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


def test_derivative_can_be_hidden():
    ax = va.draw_activation(new_figure(), "ReLU", derivative=False)
    assert len([line for line in ax.lines if line.get_linestyle() == "--"]) == 0


def test_explorer_controls_pick_the_right_frame():
    e = va.activation_explorer()
    assert len(e.frames) == 2 * len(va.ACTIVATIONS)
    assert e.combos[e.current_index()] == ("ReLU", True)
    e.set(name="Tanh", derivative=False)
    assert e.combos[e.current_index()] == ("Tanh", False)
    e.set(name="SELU")
    assert e.combos[e.current_index()] == ("SELU", False)
    # every frame is a distinct PNG picture
    pngs = list(e.pngs)
    assert all(p[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs) and len(set(pngs)) == len(pngs)


def test_frames_follow_the_drawing_function():
    """Frame i is exactly what draw_activation renders for combination i."""
    from labutils.viz.explorer import render_png
    e = va.activation_explorer()
    i = e.combos.index(("GELU", False))
    assert e.pngs[i] == render_png(va.draw_activation, {"name": "GELU", "derivative": False},
                                         figsize=(5.6, 3.2))
