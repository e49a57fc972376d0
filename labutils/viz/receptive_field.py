"""Chapter 3 pictures: receptive fields of stacked convolutions and poolings.

The formula and the measurement (the gradient of one output unit over the input) are computed
in ``labutils.lab.receptive_field``; this file draws them and writes their alt text. The names
of that file are re-exported here, as the chapter calls them ``rf.receptive_field``,
``rf.gradient_map``, ...
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..lab.receptive_field import (ARCHITECTURES, INPUT_SIZE, UNITS, build_network,  # noqa: F401
                                   count_peaks, describe, field_middle, gradient_map, output_size,
                                   receptive_field, rf_box, support_box, unit_position)
from .explorer import FrameExplorer
from .style import OKABE_ITO, SEQUENTIAL, finish

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from ..lab.receptive_field import Layer

__all__ = ["ARCHITECTURES", "UNITS", "receptive_field", "rf_box", "build_network", "describe",
           "gradient_map", "support_box", "field_middle", "count_peaks", "receptive_field_alt",
           "draw_receptive_field", "receptive_field_explorer"]


def _layers_and_title(architecture: str | list[Layer], n: int) -> tuple[list, str]:
    if isinstance(architecture, str):
        return ARCHITECTURES[architecture], architecture
    layers, title = [tuple(layer) for layer in architecture], describe(architecture)
    if output_size(layers, n) < 1:
        raise ValueError(f"draw_receptive_field: the layers {title} leave no output on a "
                         f"{n} x {n} input")
    return layers, title


def receptive_field_alt(architecture: str | list = "3 x conv3",
                        unit: str | tuple[int, int] = "centre", n: int = INPUT_SIZE) -> str:
    """Alt text for ``draw_receptive_field(fig, architecture, unit)``, computed from the same
    measurement, so that it is true for every frame (peaked or gridded, clipped or not)."""
    layers, title = _layers_and_title(architecture, n)
    pos = unit_position(layers, unit, n) if isinstance(unit, str) else tuple(unit)
    g = gradient_map(layers, pos, n)
    g = g / g.max()
    r = receptive_field(layers)[0]
    box = rf_box(layers, pos)
    (m0, m1), (k0, k1) = support_box(g)
    mid = field_middle(layers, pos, n)
    row = mid[0]
    clipped = any(lo < 0 or hi > n - 1 for lo, hi in box)
    # all-ones kernels are separable: the map is an outer product of two 1-D profiles, so
    # the row through the middle has the shape (number of peaks) of every row and column
    peaks = count_peaks(g[row, k0:k1 + 1])
    peak = tuple(int(i) for i in np.unravel_index(np.argmax(g), g.shape))
    share = round(100 * float(g[mid]))
    text = (f"{title}, output unit {pos}. Left: the gradient of that unit over the {n} x {n} "
            f"input, with the formula's receptive field (r = {r}) as a dashed box; ")
    if clipped:
        text += (f"the field reaches past the image border, and the measured support is the "
                 f"box clipped to the image (rows {m0}-{m1}, columns {k0}-{k1}). ")
    else:
        text += f"the measured support fills the box exactly ({m1 - m0 + 1} x {k1 - k0 + 1}). "
    if peaks == 1 and share == 100:
        text += "The gradient is brightest in the middle of the field and fades towards its edges. "
    elif peaks == 1:
        text += (f"The gradient has one peak, at input pixel {peak}, and fades towards the "
                 f"edges; the middle of the field, pixel {mid}, has {share}% of the peak value. ")
    else:
        text += (f"The gradient is uneven (gridding): bright and dim pixels alternate, and the "
                 f"middle of the field, pixel {mid}, has {share}% of the largest value. ")
    shape = "a single peak" if peaks == 1 else f"{peaks} separate peaks"
    text += (f"Right: the gradient along input row {row}, through the middle of the field: "
             f"{shape} inside the shaded span of the formula.")
    return text


def draw_receptive_field(fig: Figure, architecture: str | list = "3 x conv3",
                         unit: str | tuple[int, int] = "centre", n: int = INPUT_SIZE) -> tuple:
    """Left: gradient magnitude of one output unit over the input grid (the effective
    receptive field), with the formula's box and a dotted line on the unit's row. Right: the
    profile along that row, the input row through the middle of the unit's receptive field
    (``field_middle``), clipped to the image.

    architecture -- a name from ARCHITECTURES, or your own list of layers
                    ``(kind, kernel, stride, dilation, padding)`` with kind "conv" or "pool"
    unit         -- "centre", "edge" or "corner", or output coordinates (row, col)
    """
    layers, title = _layers_and_title(architecture, n)
    pos = unit_position(layers, unit, n) if isinstance(unit, str) else tuple(unit)
    g = gradient_map(layers, pos, n)
    g = g / g.max()
    r = receptive_field(layers)[0]
    (r0, r1), (c0, c1) = rf_box(layers, pos)
    (m0, m1), (k0, k1) = support_box(g)
    row = field_middle(layers, pos, n)[0]
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    ax.imshow(g, cmap=SEQUENTIAL, vmin=0, vmax=1, origin="upper")
    ax.add_patch(_rect(c0, r0, c1 - c0 + 1, r1 - r0 + 1))
    ax.axhline(row, color=OKABE_ITO[3], lw=1.5, ls=":")      # the row drawn on the right
    ax.grid(False)
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    finish(ax, f"output unit {pos}: r = {r}", "input column", "input row")
    ax2.stairs(g[row], np.arange(n + 1) - 0.5, fill=True, color=OKABE_ITO[0],
               label="gradient (normalised)")
    ax2.axvspan(max(c0, 0) - 0.5, min(c1, n - 1) + 0.5, color=OKABE_ITO[1], alpha=0.25,
                label=f"formula: {r} pixels")
    ax2.set_xlim(-0.5, n - 0.5)
    ax2.set_ylim(0, 1.4)
    finish(ax2, f"row {row}; measured support {m1 - m0 + 1} x {k1 - k0 + 1}", "input column",
           "|dy/dx|", legend=True)
    fig.suptitle(title)
    return ax, ax2


def _rect(x0: float, y0: float, w: float, h: float) -> Rectangle:
    from matplotlib.patches import Rectangle
    return Rectangle((x0 - 0.5, y0 - 0.5), w, h, fill=False, edgecolor=OKABE_ITO[1], lw=2,
                     ls="--", label="formula")


def receptive_field_explorer() -> FrameExplorer:
    """Pick an architecture and an output unit; frames are pre-drawn (10 of them)."""
    return FrameExplorer(draw_receptive_field, {"architecture": list(ARCHITECTURES), "unit": UNITS},
                         labels={"architecture": "layers", "unit": "output unit"},
                         figsize=(7.2, 3.4),
                         alt=receptive_field_alt)
