"""Bad-input recipes: chapter 3's convolutions (labutils/nn/conv.py: Conv1d/2d/3d,
ConvTranspose1d/2d, the forward/backward pairs, im2col, col2im and the output-size helpers).
The harness: tests/badinputs/__init__.py.

torch's behaviour, which the twins pin: an empty batch gives an empty output of the right
spatial size (for a transposed convolution too); an empty spatial axis, or a kernel larger than
the padded input, is refused."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import labutils.nn as nn
from labutils.nn.conv import (
    col2im,
    conv_backward,
    conv_forward,
    conv_output_size,
    conv_transpose_backward,
    conv_transpose_forward,
    conv_transpose_output_size,
    im2col,
)
from tests.badinputs import ALL, Recipe, expect_named_error, randn

KW = dict(in_channels=3, out_channels=4, kernel_size=3)
SIZES = ("in_channels", "out_channels", "kernel_size", "stride", "dilation", "groups")


def _twin(name: str, **kwargs: Any) -> Any:
    """The module's torch twin on the (empty-batch) input, float64."""
    return lambda _m, args: getattr(torch.nn, name)(**kwargs, dtype=torch.float64)(
        torch.from_numpy(args[0]))


def _conv(cls: type, nd: int, **kw: Any) -> Recipe:
    shape = (2, 3) + (5,) * nd
    return Recipe(cls, kwargs={**KW, **kw}, args=lambda: (randn(*shape),), names=("input",),
                  sizes=SIZES, counts=("padding",) + (("output_padding",)
                                                      if "Transpose" in cls.__name__ else ()),
                  fixed={0: (1,)}, ranks={0: (nd + 1, nd + 2)}, batch={0: 0},
                  twin=_twin(cls.__name__, **KW, **kw))


def _conv_cache() -> tuple:
    return conv_forward(randn(2, 3, 5, 5), randn(4, 3, 3, 3), randn(4), padding=1)[1]


def _transpose_cache() -> tuple:
    return conv_transpose_forward(randn(2, 4, 3, 3), randn(4, 3, 3, 3), randn(3), stride=2)[1]


def _pair_twin(transposed: bool) -> Any:
    def twin(_m: Any, args: tuple) -> torch.Tensor:
        x, w, b = (torch.from_numpy(a) for a in args)
        if transposed:
            return F.conv_transpose2d(x, w, b, stride=2)
        return F.conv2d(x, w, b, padding=1)
    return twin


def _bad_geometry() -> None:
    """What the spoils above do not reach: sizes that fit each other badly, an output that
    would be empty, windows past the end of the input, a cache of the wrong kind."""
    x, w = randn(2, 3, 5, 5), randn(4, 3, 3, 3)
    cases = [
        (lambda: nn.Conv2d(3, 4, 3, groups=2), "Conv2d", "groups"),
        (lambda: nn.Conv2d(4, 6, 3, groups=4), "Conv2d", "groups"),
        (lambda: nn.Conv2d(3, 4, 3, padding=((1, -1), (0, 0))), "Conv2d", "padding"),
        (lambda: nn.Conv2d(3, 4, 3, padding="full"), "Conv2d", "padding"),
        (lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same"), "Conv2d", "padding"),
        (lambda: nn.Conv2d(3, 4, (3, 3, 3)), "Conv2d", "kernel_size"),
        (lambda: nn.Conv2d(3, 4, 5)(randn(1, 3, 4, 9)), "Conv2d", "input"),
        (lambda: nn.Conv1d(3, 4, 3, dilation=3)(randn(1, 3, 6)), "Conv1d", "input"),
        (lambda: nn.Conv3d(3, 4, 3)(randn(1, 3, 0, 4, 4)), "Conv3d", "input"),
        (lambda: nn.Conv2d(3, 4, 3, groups=3)(randn(1, 3, 4, 4)), "Conv2d", "groups"),
        (lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=2), "ConvTranspose2d",
         "output_padding"),
        (lambda: nn.ConvTranspose1d(3, 4, 3, padding=2)(randn(1, 3, 1)), "ConvTranspose1d",
         "output"),
        (lambda: nn.ConvTranspose2d(3, 4, 3)(randn(1, 3, 0, 4)), "ConvTranspose2d", "x"),
        (lambda: conv_forward(x, w, groups=2), "conv_forward", "groups"),
        (lambda: conv_forward(x, randn(6, 2, 3, 3), groups=3), "conv_forward", "x"),
        (lambda: conv_forward(x, w, padding=-1), "conv_forward", "padding"),
        (lambda: conv_forward(x, randn(4, 3, 0, 3)), "conv_forward", "weight"),
        (lambda: conv_forward(x, randn(4, 3, 7, 3)), "conv_forward", "kernel"),
        (lambda: conv_forward(x, w, randn(5)), "conv_forward", "bias"),
        (lambda: conv_backward(randn(2, 4, 5, 5), _transpose_cache()), "conv_backward", "cache"),
        (lambda: conv_transpose_backward(randn(2, 3, 7, 7), None), "conv_transpose_backward",
         "cache"),
        (lambda: conv_transpose_forward(randn(2, 4, 3, 3), w, stride=2, output_padding=3),
         "conv_transpose_forward",
         "output_padding"),
        (lambda: conv_output_size(2, 5), "conv_output_size", "output"),
        (lambda: conv_output_size(4, 3, padding=(1, -2)), "conv_output_size", "padding"),
        (lambda: conv_transpose_output_size(1, 3, padding=2), "conv_transpose_output_size",
         "output"),
        (lambda: im2col(randn(2, 3, 6, 6), (3, 3), (1, 1), (1, 1), (5, 4)), "im2col", "xp"),
        (lambda: im2col(randn(2, 3, 6, 6), (3, 3), (2, 2), (1, 1), (4, 4)), "im2col", "out"),
        (lambda: im2col(randn(2, 3, 6, 6), (3, 3), (1, 1), (1, 1), (4, 4), 2), "im2col",
         "groups"),
        (lambda: im2col(randn(2, 3, 6), (3, 3), (1, 1), (1, 1), (4, 4)), "im2col", "xp"),
        (lambda: col2im(randn(1, 27, 32), (2, 3, 5, 6), (3, 3), (1, 1), (1, 1), (4, 4)),
         "col2im", "xp_shape"),
        (lambda: col2im(randn(1, 27, 32), (2, 3, 6), (3, 3), (1, 1), (1, 1), (4, 4)),
         "col2im", "xp_shape"),
        (lambda: col2im(randn(1, 27, 32), (2, -3, 6, 6), (3, 3), (1, 1), (1, 1), (4, 4)),
         "col2im", "xp_shape"),
        (lambda: col2im(randn(27, 32), (2, 3, 6, 6), (3, 3), (1, 1), (1, 1), (4, 4)),
         "col2im", "cols"),
    ]
    for call, owner, arg in cases:
        expect_named_error(call, owner, arg)


def _empty_transposed_input() -> None:
    """An empty batch through a transposed convolution: the empty output torch gives, and a
    backward that returns empty and zero gradients."""
    m = nn.ConvTranspose2d(3, 4, 3, stride=2)
    y = m(np.zeros((0, 3, 4, 4)))
    want = torch.nn.ConvTranspose2d(3, 4, 3, stride=2)(torch.zeros(0, 3, 4, 4))
    assert y.shape == tuple(want.shape) == (0, 4, 9, 9)
    dx = m.backward(np.zeros(y.shape))
    assert dx.shape == (0, 3, 4, 4) and not m.grads["weight"].any()


def _good_edges() -> None:
    """What must still work: unbatched inputs, (lo, hi) padding, 'same' and 'valid', the
    output-size helpers at the edge (an output of exactly 1)."""
    assert nn.Conv2d(3, 4, 3)(randn(3, 5, 5)).shape == (4, 3, 3)
    assert nn.Conv2d(3, 4, 3, padding=((0, 2), (1, 0)))(randn(1, 3, 5, 5)).shape == (1, 4, 5, 4)
    assert nn.Conv1d(3, 4, 4, padding="same")(randn(1, 3, 5)).shape == (1, 4, 5)
    assert conv_output_size(3, 3) == 1 and conv_output_size(0, 1, padding=(1, 0)) == 1
    assert conv_transpose_output_size(1, 1) == 1


RECIPES = {
    "nn.Conv1d": _conv(nn.Conv1d, 1, padding=1),
    "nn.Conv2d": _conv(nn.Conv2d, 2, padding=1),
    "nn.Conv3d": _conv(nn.Conv3d, 3, padding=1),
    "nn.ConvTranspose1d": _conv(nn.ConvTranspose1d, 1, stride=2),
    "nn.ConvTranspose2d": _conv(nn.ConvTranspose2d, 2, stride=2, padding=1),
    "nn.conv_forward": Recipe(
        conv_forward, args=lambda: (randn(2, 3, 5, 5), randn(4, 3, 3, 3), randn(4)),
        names=("x", "weight", "bias"), kwargs=dict(padding=1),
        sizes=("stride", "dilation", "groups"), counts=("padding",),
        fixed={0: (1,), 1: (0, 1), 2: ALL}, ranks={0: (4,)}, optional=(2,), batch={0: 0},
        twin=_pair_twin(False), extra=(_bad_geometry, _good_edges)),
    "nn.conv_backward": Recipe(conv_backward, args=lambda: (randn(2, 4, 5, 5), _conv_cache()),
                               names=("dy", None), fixed={0: ALL}),
    "nn.conv_transpose_forward": Recipe(
        conv_transpose_forward, args=lambda: (randn(2, 4, 3, 3), randn(4, 3, 3, 3), randn(3)),
        names=("x", "weight", "bias"), kwargs=dict(stride=2),
        sizes=("stride", "dilation", "groups"), counts=("padding", "output_padding"),
        fixed={0: (1,), 1: (0, 1), 2: ALL}, ranks={0: (4,)}, optional=(2,), batch={0: 0},
        twin=_pair_twin(True), extra=(_empty_transposed_input,)),
    "nn.conv_transpose_backward": Recipe(conv_transpose_backward,
                                         args=lambda: (randn(2, 3, 7, 7), _transpose_cache()),
                                         names=("dy", None), fixed={0: ALL}),
    "nn.conv_output_size": Recipe(conv_output_size, args=lambda: (10, 3),
                                  names=("n", "kernel_size"), kwargs=dict(stride=2, padding=1),
                                  sizes=(1, "stride", "dilation"), counts=(0, "padding")),
    "nn.conv_transpose_output_size": Recipe(
        conv_transpose_output_size, args=lambda: (4, 3), names=("n", "kernel_size"),
        kwargs=dict(stride=2, padding=1, output_padding=1),
        sizes=(0, 1, "stride", "dilation"), counts=("padding", "output_padding")),
    "nn.im2col": Recipe(im2col, args=lambda: (randn(2, 3, 6, 6),), names=("xp",),
                        kwargs=dict(kernel=(3, 3), stride=(1, 1), dilation=(1, 1), out=(4, 4)),
                        sizes=("kernel", "stride", "dilation", "out", "groups"),
                        ranks={0: (4,)}, batch={0: 0}),
    "nn.col2im": Recipe(col2im, args=lambda: (randn(1, 27, 32), (2, 3, 6, 6)),
                        names=("cols", None),
                        kwargs=dict(kernel=(3, 3), stride=(1, 1), dilation=(1, 1), out=(4, 4)),
                        sizes=("kernel", "stride", "dilation", "out", "groups"),
                        fixed={0: ALL}),
}

EXEMPT: dict[str, str] = {}
