"""FrameExplorer: every frame is an image with its own alt text, drawn at twice the size it is
shown at; the controls pick frames; bad alt text is refused with a clear message."""
import base64
import re

import pytest

from labutils.viz import FrameExplorer
from labutils.viz.explorer import DISPLAY_DPI, RENDER_DPI


def draw(fig, a, b):
    ax = fig.subplots()
    ax.plot([0, 1], [a, b])
    ax.set_title(f"a={a}, b={b}")


def frame_parts(widget_html):
    m = re.fullmatch(r'<img class="explorer-frame" src="data:image/png;base64,([^"]+)" '
                     r'alt="([^"]*)" style="width: (\d+)px; max-width: 100%; height: auto;">',
                     widget_html)
    assert m, widget_html[:200]
    return base64.b64decode(m.group(1)), m.group(2), int(m.group(3))


def test_each_frame_carries_its_own_alt_text_and_picture():
    e = FrameExplorer(draw, {"a": [0, 1], "b": [2, 3]},
                      alt=lambda a, b: f"A line from {a} to {b} & back")
    assert len(e.frames) == 4
    for i, (a, b) in enumerate(e.combos):
        png, alt, width = frame_parts(e.frames[i].value)
        assert png == e.pngs[i] and png[:8] == b"\x89PNG\r\n\x1a\n"
        assert alt == f"A line from {a} to {b} &amp; back" == e.alts[i].replace("&", "&amp;")
        assert width == round(6.4 * DISPLAY_DPI)
    assert len(set(e.pngs)) == 4
    e.set(a=1, b=3)
    assert e.current is e.frames[3] and "from 1 to 3" in e.current.value


def test_frames_are_rendered_at_twice_their_display_size():
    e = FrameExplorer(draw, {"a": [0], "b": [1]}, alt="one line", figsize=(4.0, 3.0))
    png = e.pngs[0]
    w, h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (w, h) == (4 * RENDER_DPI, 3 * RENDER_DPI) and RENDER_DPI == 2 * DISPLAY_DPI
    assert frame_parts(e.frames[0].value)[2] == 4 * DISPLAY_DPI


@pytest.mark.parametrize("alt", ["", "   ", lambda a, b: "" if a else "x", lambda a, b: None])
def test_missing_alt_text_is_refused(alt):
    with pytest.raises(ValueError, match="alt text"):
        FrameExplorer(draw, {"a": [0, 1], "b": [2]}, alt=alt)


def test_frames_are_256_colour_pngs_of_the_drawing():
    """Quantised to a palette (a third of the bytes) without changing the picture much."""
    import io

    import numpy as np
    from PIL import Image

    from labutils.viz.explorer import render_png
    png = render_png(draw, {"a": 0, "b": 1})
    img = Image.open(io.BytesIO(png))
    assert img.mode == "P"
    from labutils.viz.style import new_figure
    fig = new_figure()
    draw(fig, 0, 1)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=RENDER_DPI)
    full = np.asarray(Image.open(buf).convert("RGB"), dtype=float)
    quant = np.asarray(img.convert("RGB"), dtype=float)
    assert full.shape == quant.shape and np.abs(full - quant).mean() < 2.0


def test_inline_figures_are_sent_at_twice_their_shown_size():
    """use_style's PNG formatter: a palette PNG at 2x, with the 1x size in its metadata."""
    import io

    from PIL import Image

    from labutils.viz.style import new_figure, retina_png
    fig = new_figure((4.0, 3.0))
    draw(fig, 0, 1)
    png, meta = retina_png(fig)
    img = Image.open(io.BytesIO(png))
    assert img.mode == "P"
    assert (meta["width"], meta["height"]) == (img.width // 2, img.height // 2)
    assert abs(meta["width"] - 4.0 * DISPLAY_DPI) < 0.1 * 4.0 * DISPLAY_DPI   # tight bbox trims a little
