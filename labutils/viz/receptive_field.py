"""Chapter 3 pictures: receptive fields of stacked convolutions and poolings.

A layer is ``(kind, kernel, stride, dilation, padding)`` with kind "conv" or "pool". For a
stack of layers l = 1..L, with jump J_l = Π_{l'<l} s_l' (the input distance between two
neighbouring units of layer l's input):

    receptive field   r = 1 + Σ_l d_l (k_l − 1) J_l
    first input pixel seen by output unit u:   u · J_{L+1} − Σ_l p_l J_l

The measurement: a network of labutils modules with one channel, every weight 1 and average
pooling, fed the gradient one-hot at output unit u; the input gradient is then positive
exactly on the pixels that can influence u (the measured receptive field) and its size counts
the paths from each pixel to u: it is largest in the middle, the *effective* receptive field
(Luo et al., 2016). Max pooling has the same support (each pixel of the window can be the
maximum) but sends the gradient of one input to one pixel only.
"""
import numpy as np

from .. import nn
from ..module import Sequential
from .explorer import FrameExplorer
from .style import OKABE_ITO, SEQUENTIAL, finish

__all__ = ["ARCHITECTURES", "UNITS", "receptive_field", "rf_box", "build_network", "describe",
           "gradient_map", "support_box", "field_middle", "count_peaks", "receptive_field_alt",
           "draw_receptive_field", "receptive_field_explorer"]

INPUT_SIZE = 32

ARCHITECTURES = {
    "3 x conv3": [("conv", 3, 1, 1, 1)] * 3,
    "3 x conv3, stride 2": [("conv", 3, 2, 1, 1)] * 3,
    "conv3, dilation 1, 2, 4": [("conv", 3, 1, 1, 1), ("conv", 3, 1, 2, 2), ("conv", 3, 1, 4, 4)],
    "VGG: 2 x (conv3, conv3, pool2)": [("conv", 3, 1, 1, 1), ("conv", 3, 1, 1, 1),
                                       ("pool", 2, 2, 1, 0)] * 2,
    "ResNet stem: conv7/2, pool3/2, conv3": [("conv", 7, 2, 1, 3), ("pool", 3, 2, 1, 1),
                                             ("conv", 3, 1, 1, 1)],
}
UNITS = ["centre", "corner"]


def receptive_field(layers):
    """(r, jump, offset): receptive field size, input distance between neighbouring output
    units, and the input index of the first pixel seen by output unit 0."""
    r, jump, offset = 1, 1, 0
    for _, k, s, d, p in layers:
        r += d * (k - 1) * jump
        offset -= p * jump
        jump *= s
    return r, jump, offset


def output_size(layers, n=INPUT_SIZE):
    for _, k, s, d, p in layers:
        n = (n + 2 * p - d * (k - 1) - 1) // s + 1
    return n


def unit_position(layers, unit, n=INPUT_SIZE):
    """Output coordinates (row, col) of the named unit: centre, edge (top middle), corner."""
    o = output_size(layers, n)
    return {"centre": (o // 2, o // 2), "edge": (0, o // 2), "corner": (0, 0)}[unit]


def rf_box(layers, position):
    """Formula's receptive field of the output unit at ``position``: ((row_lo, row_hi),
    (col_lo, col_hi)) in input coordinates, inclusive, before clipping to the input."""
    r, jump, offset = receptive_field(layers)
    return tuple((u * jump + offset, u * jump + offset + r - 1) for u in position)


def build_network(layers, dtype=np.float64):
    """One-channel labutils network of the layers: convolutions with all weights 1 and no
    bias, average pooling (counting the padding, so every window sum is scaled alike)."""
    mods = []
    for kind, k, s, d, p in layers:
        if kind == "conv":
            m = nn.Conv2d(1, 1, k, s, p, d, bias=False, dtype=dtype)
            m.params["weight"][...] = 1.0
        else:
            m = nn.AvgPool2d(k, s, p)
        mods.append(m)
    return Sequential(*mods)


def gradient_map(layers, position, n=INPUT_SIZE):
    """dy/dx over the n x n input for the output unit at ``position`` (a linear network, so the
    gradient does not depend on x)."""
    net = build_network(layers)
    y = net(np.zeros((1, 1, n, n)))
    dy = np.zeros_like(y)
    dy[(0, 0) + tuple(position)] = 1.0
    return net.backward(dy)[0, 0]


def support_box(grad):
    """((row_lo, row_hi), (col_lo, col_hi)) of the non-zero entries of a 2-D gradient."""
    rows, cols = np.nonzero(grad)
    return (int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max()))


def describe(layers):
    """A short name for a stack of layers: "conv3/2 d2, pool2/2, ..."."""
    parts = []
    for kind, k, s, d, _ in layers:
        parts.append(f"{kind}{k}" + (f"/{s}" if s > 1 else "") + (f" d{d}" if d > 1 else ""))
    return ", ".join(parts)


def _layers_and_title(architecture, n):
    if isinstance(architecture, str):
        return ARCHITECTURES[architecture], architecture
    layers, title = [tuple(layer) for layer in architecture], describe(architecture)
    if output_size(layers, n) < 1:
        raise ValueError(f"draw_receptive_field: the layers {title} leave no output on a "
                         f"{n} x {n} input")
    return layers, title


def field_middle(layers, position, n=INPUT_SIZE):
    """(row, col): the input pixel in the middle of the unit's receptive field (the lower of
    the two middle pixels when r is even), clipped to the n x n input."""
    return tuple(min(max((lo + hi) // 2, 0), n - 1) for lo, hi in rf_box(layers, position))


def count_peaks(profile):
    """Number of local maxima of a 1-D profile, a plateau counting once."""
    v = np.round(np.asarray(profile, dtype=float), 12)
    v = v[np.r_[True, v[1:] != v[:-1]]]               # collapse plateaus
    if len(v) == 1:
        return 1
    left = np.r_[True, v[1:] > v[:-1]]
    right = np.r_[v[:-1] > v[1:], True]
    return int(np.sum(left & right))


def receptive_field_alt(architecture="3 x conv3", unit="centre", n=INPUT_SIZE):
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


def draw_receptive_field(fig, architecture="3 x conv3", unit="centre", n=INPUT_SIZE):
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


def _rect(x0, y0, w, h):
    from matplotlib.patches import Rectangle
    return Rectangle((x0 - 0.5, y0 - 0.5), w, h, fill=False, edgecolor=OKABE_ITO[1], lw=2,
                     ls="--", label="formula")


def receptive_field_explorer():
    """Pick an architecture and an output unit; frames are pre-drawn (10 of them)."""
    return FrameExplorer(draw_receptive_field, {"architecture": list(ARCHITECTURES), "unit": UNITS},
                         labels={"architecture": "layers", "unit": "output unit"},
                         figsize=(7.2, 3.4),
                         alt=receptive_field_alt)
