"""Receptive fields of stacked convolutions and poolings: the formula and the measurement
(chapter 3; labutils.viz.receptive_field draws them).

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
from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .. import nn
from ..module import Sequential

__all__ = ["INPUT_SIZE", "ARCHITECTURES", "UNITS", "Layer", "receptive_field", "output_size",
           "unit_position", "rf_box", "build_network", "gradient_map", "support_box",
           "describe", "field_middle", "count_peaks"]

Layer = tuple[str, int, int, int, int]      # (kind, kernel, stride, dilation, padding)

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


def receptive_field(layers: list[Layer]) -> tuple[int, int, int]:
    """(r, jump, offset): receptive field size, input distance between neighbouring output
    units, and the input index of the first pixel seen by output unit 0."""
    r, jump, offset = 1, 1, 0
    for _, k, s, d, p in layers:
        r += d * (k - 1) * jump
        offset -= p * jump
        jump *= s
    return r, jump, offset


def output_size(layers: list[Layer], n: int = INPUT_SIZE) -> int:
    """Output size of the stack on an n x n input."""
    for _, k, s, d, p in layers:
        n = (n + 2 * p - d * (k - 1) - 1) // s + 1
    return n


def unit_position(layers: list[Layer], unit: str, n: int = INPUT_SIZE) -> tuple[int, int]:
    """Output coordinates (row, col) of the named unit: centre, edge (top middle), corner."""
    o = output_size(layers, n)
    return {"centre": (o // 2, o // 2), "edge": (0, o // 2), "corner": (0, 0)}[unit]


def rf_box(layers: list[Layer], position: tuple[int, int]
           ) -> tuple[tuple[int, int], tuple[int, int]]:
    """Formula's receptive field of the output unit at ``position``: ((row_lo, row_hi),
    (col_lo, col_hi)) in input coordinates, inclusive, before clipping to the input."""
    r, jump, offset = receptive_field(layers)
    return tuple((u * jump + offset, u * jump + offset + r - 1) for u in position)


def build_network(layers: list[Layer], dtype: npt.DTypeLike = np.float64) -> Sequential:
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


def gradient_map(layers: list[Layer], position: tuple[int, int], n: int = INPUT_SIZE
                 ) -> np.ndarray:
    """dy/dx over the n x n input for the output unit at ``position`` (a linear network, so the
    gradient does not depend on x)."""
    net = build_network(layers)
    y = net(np.zeros((1, 1, n, n)))
    dy = np.zeros_like(y)
    dy[(0, 0) + tuple(position)] = 1.0
    return net.backward(dy)[0, 0]


def support_box(grad: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
    """((row_lo, row_hi), (col_lo, col_hi)) of the non-zero entries of a 2-D gradient."""
    rows, cols = np.nonzero(grad)
    return (int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max()))


def describe(layers: list[Layer]) -> str:
    """A short name for a stack of layers: "conv3/2 d2, pool2/2, ..."."""
    parts = []
    for kind, k, s, d, _ in layers:
        parts.append(f"{kind}{k}" + (f"/{s}" if s > 1 else "") + (f" d{d}" if d > 1 else ""))
    return ", ".join(parts)


def field_middle(layers: list[Layer], position: tuple[int, int], n: int = INPUT_SIZE
                 ) -> tuple[int, int]:
    """(row, col): the input pixel in the middle of the unit's receptive field (the lower of
    the two middle pixels when r is even), clipped to the n x n input."""
    return tuple(min(max((lo + hi) // 2, 0), n - 1) for lo, hi in rf_box(layers, position))


def count_peaks(profile: np.ndarray | list[float]) -> int:
    """Number of local maxima of a 1-D profile, a plateau counting once."""
    v = np.round(np.asarray(profile, dtype=float), 12)
    v = v[np.r_[True, v[1:] != v[:-1]]]               # collapse plateaus
    if len(v) == 1:
        return 1
    left = np.r_[True, v[1:] > v[:-1]]
    right = np.r_[v[:-1] > v[1:], True]
    return int(np.sum(left & right))
