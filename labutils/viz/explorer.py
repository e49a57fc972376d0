"""Explorers: ipywidgets whose pictures are pre-drawn, so they also work in the static site.

An explorer is a pure drawing function ``draw(fig, **values) -> None`` and a few controls,
each with a small set of values. Every combination is drawn once, as a PNG, into a
``Stack``; the controls select the frame *in the browser* (``jslink``), with no kernel. In a
live kernel the same wiring runs, plus a Python observer, so tests can set a control and
read which frame is shown. Keep the number of combinations small (about 40 at most).

    explorer = FrameExplorer(draw, {"name": ["relu", "gelu"], "show_derivative": [False, True]})
    explorer.widget          # what the notebook displays
    explorer.set(name="gelu")  # what a test does; explorer.current is then that frame's values

Each frame is an ``<img>`` with its own alt text (``alt`` may be a sentence or a function of
the controls' values), drawn at twice the resolution it is shown at, so it stays sharp on
high-density screens while its labels keep the size of the text around it.
"""
from __future__ import annotations

import base64
import html
import io
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence

import ipywidgets as widgets

from .style import new_figure


# Frames are shown at DISPLAY_DPI CSS pixels per inch of figure (the same as inline figures,
# see style.py) and rendered at RENDER_DPI, twice that, for high-density screens.
DISPLAY_DPI = 100
RENDER_DPI = 2 * DISPLAY_DPI


def render_png(draw: Callable[..., object], values: Mapping[str, object],
               figsize: tuple[float, float] = (6.4, 3.6), dpi: float = RENDER_DPI) -> bytes:
    """PNG bytes of ``draw(fig, **values)``."""
    import matplotlib.pyplot as plt
    fig = new_figure(figsize)
    try:
        draw(fig, **values)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return palette_png(buf.getvalue())


def palette_png(png: bytes) -> bytes:
    """The same picture as a 256-colour PNG: about a third of the bytes for line plots and
    heat maps (explorers store dozens of frames in the notebook), with no visible change."""
    from PIL import Image
    img = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    img.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, format="png", optimize=True)
    return out.getvalue()


def frame_html(png: bytes, alt: str, width_px: int) -> str:
    """An ``<img>`` showing ``png`` (bytes) at ``width_px`` CSS pixels (or narrower), with alt text."""
    src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return (f'<img class="explorer-frame" src="{src}" alt="{html.escape(alt, quote=True)}" '
            f'style="width: {width_px}px; max-width: 100%; height: auto;">')


def _control(name: str, options: Iterable[object], label: str,
             ) -> widgets.ToggleButtons | widgets.SelectionSlider | widgets.Dropdown:
    opts = list(options)
    if all(isinstance(o, bool) for o in opts) and len(opts) == 2:
        return widgets.ToggleButtons(options=[(str(o), o) for o in opts], value=opts[0],
                                     description=label)
    if all(isinstance(o, (int, float)) and not isinstance(o, bool) for o in opts) and len(opts) > 3:
        return widgets.SelectionSlider(options=opts, value=opts[0], description=label,
                                       continuous_update=True)
    return widgets.Dropdown(options=[(str(o), o) for o in opts], value=opts[0], description=label)


class FrameExplorer:
    """Controls over pre-drawn frames; see the module docstring.

    draw     -- draw(fig, **values)
    grid     -- {control name: list of values}; the first value of each is the default
    labels   -- {control name: label shown beside the control}
    alt      -- the images' alt text: a sentence, or a function ``alt(**values) -> str`` that
                describes each frame (preferred when frames differ in what they show)

    ``frames`` are the HTML widgets shown; ``pngs[i]`` and ``alts[i]`` are frame i's picture
    and alt text.
    """

    def __init__(self, draw: Callable[..., object], grid: Mapping[str, Sequence[object]],
                 labels: Mapping[str, str] | None = None, alt: str | Callable[..., str] = "",
                 figsize: tuple[float, float] = (6.4, 3.6), dpi: float = RENDER_DPI) -> None:
        self.draw, self.grid, self.alt = draw, dict(grid), alt
        labels = labels or {}
        self.names = list(self.grid)
        self.combos = list(itertools.product(*self.grid.values()))
        if len(self.combos) > 64:
            raise ValueError(f"FrameExplorer: {len(self.combos)} frames is too many to pre-draw "
                             f"(keep it under 64)")
        values = [dict(zip(self.names, c)) for c in self.combos]
        self.alts = [(alt(**v) if callable(alt) else alt) for v in values]
        if not all(isinstance(a, str) and a.strip() for a in self.alts):
            raise ValueError("FrameExplorer: every frame needs alt text (a sentence, or a "
                             "function of the controls' values returning one)")
        self.pngs = [render_png(draw, v, figsize, dpi) for v in values]
        width = round(figsize[0] * DISPLAY_DPI)
        self.frames = [widgets.HTML(value=frame_html(png, a, width))
                       for png, a in zip(self.pngs, self.alts)]
        self.stack = widgets.Stack(children=self.frames, selected_index=0)
        self.controls = {n: _control(n, v, labels.get(n, n)) for n, v in self.grid.items()}
        self._link()
        self.widget = widgets.VBox([widgets.HBox(list(self.controls.values())), self.stack])
        self.widget.add_class("course-explorer")

    def _index(self, values: Mapping[str, object]) -> int:
        return self.combos.index(tuple(values[n] for n in self.names))

    def _link(self) -> None:
        """One control: jslink its position to the Stack. Several: nested Stacks (below)."""
        if len(self.controls) == 1:
            (name, ctrl), = self.controls.items()
            # Selection widgets expose their position as 'index', which equals the frame index.
            widgets.jslink((ctrl, "index"), (self.stack, "selected_index"))
        else:
            self._link_many()
        for ctrl in self.controls.values():
            ctrl.observe(self._on_change, names="value")

    def _link_many(self) -> None:
        """Several controls: nest Stacks, one level per control, each level jslinked to its
        control, so the browser picks the frame without a kernel."""
        def build(level: int, prefix: list[object]) -> widgets.HTML | widgets.Stack:
            if level == len(self.names):
                return self.frames[self.combos.index(tuple(prefix))]
            ctrl = self.controls[self.names[level]]
            children = [build(level + 1, prefix + [v]) for v in self.grid[self.names[level]]]
            stack = widgets.Stack(children=children, selected_index=0)
            widgets.jslink((ctrl, "index"), (stack, "selected_index"))
            self._level_stacks.setdefault(level, []).append(stack)
            return stack
        self._level_stacks = {}
        self.stack = build(0, [])

    def _on_change(self, change: Mapping[str, object]) -> None:
        idx = self._index(self.values)
        if len(self.controls) == 1:
            self.stack.selected_index = idx
        else:
            for level, stacks in self._level_stacks.items():
                for s in stacks:
                    s.selected_index = self.controls[self.names[level]].index

    @property
    def values(self) -> dict[str, object]:
        return {n: c.value for n, c in self.controls.items()}

    def set(self, **values: object) -> None:
        for n, v in values.items():
            if n not in self.controls:
                raise KeyError(f"FrameExplorer: no control named {n!r} (have {self.names})")
            self.controls[n].value = v

    @property
    def current(self) -> widgets.HTML:
        """The frame shown now (follows the nested stacks as the browser would)."""
        node = self.stack
        while isinstance(node, widgets.Stack):
            node = node.children[node.selected_index]
        return node

    def current_index(self) -> int:
        return self.frames.index(self.current)

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)
