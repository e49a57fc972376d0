"""Bad-input recipes: chapter 3's pooling (max, average, adaptive average: modules and pairs),
the output-size helpers and spatial_ints. The harness: tests/badinputs/__init__.py.

torch accepts an empty batch in every pooling and refuses an empty channel or spatial axis in
max and average pooling (adaptive pooling accepts C = 0 and an output size of 0); a kernel or
stride of 0 and a padding above half the kernel are refused."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import labutils.nn as nn
from labutils.nn.spatial import spatial_ints
from tests.badinputs import ALL, Recipe, expect_named_error, randn

T = torch.float64


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a)


def _pool_twin(m: Any, args: tuple) -> torch.Tensor:
    name = type(m).__name__
    kw = dict(kernel_size=m.kernel_size, stride=m.stride, padding=m.padding, ceil_mode=m.ceil_mode)
    if name.startswith("Max"):
        kw["dilation"] = m.dilation
    return getattr(torch.nn, name)(**kw)(_t(args[0]))


def _adaptive_twin(m: Any, args: tuple) -> torch.Tensor:
    return torch.nn.AdaptiveAvgPool2d(m.output_size)(_t(args[0]))


def _max_fn_twin(_: Any, args: tuple) -> torch.Tensor:
    return F.max_pool2d(_t(args[0]), 2, 2, 1)


def _avg_fn_twin(_: Any, args: tuple) -> torch.Tensor:
    return F.avg_pool2d(_t(args[0]), 2, 2, 1)


def _adaptive_fn_twin(_: Any, args: tuple) -> torch.Tensor:
    return F.adaptive_avg_pool2d(_t(args[0]), (2, 3))


def _max_cache() -> tuple:
    return nn.max_pool_forward(randn(2, 3, 6, 6), 2, 2, 1)[1]


def _avg_cache() -> tuple:
    return nn.avg_pool_forward(randn(2, 3, 6, 6), 2, 2, 1)[1]


def _adaptive_cache() -> tuple:
    return nn.adaptive_avg_pool_forward(randn(2, 3, 6, 6), (2, 3))[1]


def _bad_pool_arguments() -> None:
    x = randn(2, 3, 6, 6)
    cases = [
        (lambda: nn.MaxPool2d(2, stride=0), "MaxPool2d", "stride"),
        (lambda: nn.AvgPool1d(3, stride=(0,)), "AvgPool1d", "stride"),
        (lambda: nn.MaxPool1d(2, padding=2), "MaxPool1d", "padding"),
        (lambda: nn.AvgPool2d(3, padding=(1, 2)), "AvgPool2d", "padding"),
        (lambda: nn.AvgPool2d(2, divisor_override=0), "AvgPool2d", "divisor_override"),
        (lambda: nn.AvgPool2d(2, divisor_override=1.5), "AvgPool2d", "divisor_override"),
        (lambda: nn.AdaptiveAvgPool2d(-1), "AdaptiveAvgPool2d", "output_size"),
        (lambda: nn.AdaptiveAvgPool2d(2.5), "AdaptiveAvgPool2d", "output_size"),
        (lambda: nn.AdaptiveAvgPool2d("3"), "AdaptiveAvgPool2d", "output_size"),
        (lambda: nn.AdaptiveAvgPool2d(True), "AdaptiveAvgPool2d", "output_size"),
        (lambda: nn.AdaptiveAvgPool2d((1, 2, 3)), "AdaptiveAvgPool2d", "output_size"),
        (lambda: nn.AdaptiveAvgPool2d(None), "AdaptiveAvgPool2d", "output_size"),
        (lambda: nn.MaxPool2d(2)(np.zeros((2, 0, 4, 4))), "MaxPool2d", "input"),
        (lambda: nn.AvgPool1d(2)(np.zeros((2, 3, 0))), "AvgPool1d", "input"),
        (lambda: nn.AdaptiveAvgPool2d(2)(np.zeros((2, 3, 0, 4))), "AdaptiveAvgPool2d", "input"),
        (lambda: nn.MaxPool2d(4)(np.zeros((1, 1, 3, 3))), "MaxPool2d", "kernel"),
        (lambda: nn.pool_output_size(-1, 2), "pool_output_size", "n"),
        (lambda: nn.pool_output_size(6, 2, stride=0), "pool_output_size", "stride"),
        (lambda: nn.pool_output_size(6, 2, padding=2), "pool_output_size", "padding"),
        (lambda: nn.pool_output_size(2, 5), "pool_output_size", "kernel"),
        (lambda: nn.max_pool_forward(x, 2, stride=0), "max_pool_forward", "stride"),
        (lambda: nn.max_pool_forward(randn(3, 6), 2), "max_pool_forward", "x"),
        (lambda: nn.max_pool_forward(np.zeros((2, 3, 0, 4)), 2), "max_pool_forward", "x"),
        (lambda: nn.avg_pool_forward(x, 2, padding=2), "avg_pool_forward", "padding"),
        (lambda: nn.avg_pool_forward(x, 2, divisor_override=0), "avg_pool_forward",
         "divisor_override"),
        (lambda: nn.max_pool_backward(randn(2, 3, 4, 4), _avg_cache()), "max_pool_backward",
         "cache"),
        (lambda: nn.avg_pool_backward(randn(2, 3, 4, 4), None), "avg_pool_backward", "cache"),
        (lambda: nn.adaptive_avg_pool_forward(x, -1), "adaptive_avg_pool_forward", "output_size"),
        (lambda: nn.adaptive_avg_pool_forward(x, None), "adaptive_avg_pool_forward", "output_size"),
        (lambda: nn.adaptive_avg_pool_backward(randn(2, 3, 2, 3), None),
         "adaptive_avg_pool_backward", "cache"),
        (lambda: spatial_ints((2, 2, 2), 2, "Conv2d", "kernel_size"), "Conv2d", "kernel_size"),
    ]
    for call, owner, arg in cases:
        expect_named_error(call, owner, arg)


def _what_torch_accepts() -> None:
    """Accepted as torch accepts them: an adaptive output size of 0, an adaptive pool over no
    channels, stride=[] (the kernel), None in an adaptive output pair (the input's size), and an
    empty batch through the pairs, backward included."""
    x = randn(1, 2, 5, 5)
    for size in (0, (0, 3), (None, 3), (None, None)):
        assert nn.AdaptiveAvgPool2d(size)(x).shape == torch.nn.AdaptiveAvgPool2d(size)(_t(x)).shape
    assert nn.AdaptiveAvgPool2d(2)(np.zeros((2, 0, 4, 4))).shape == (2, 0, 2, 2)
    assert np.array_equal(nn.MaxPool2d(2, stride=[])(x), nn.MaxPool2d(2)(x))
    for forward, backward in ((nn.max_pool_forward, nn.max_pool_backward),
                              (nn.avg_pool_forward, nn.avg_pool_backward)):
        y, cache = forward(np.zeros((0, 3, 6, 6)), 3, 2, 1)
        assert y.shape == (0, 3, 3, 3) and backward(y, cache).shape == (0, 3, 6, 6)
    for n, k, s, p, d, ceil in ((7, 3, 2, 1, 1, True), (6, 2, 2, 1, 2, False),
                                (5, 3, 3, 0, 1, True)):
        ref = torch.nn.MaxPool1d(k, s, p, d, ceil_mode=ceil)(torch.zeros(1, 1, n)).shape[-1]
        assert nn.pool_output_size(n, k, s, p, d, ceil) == ref


_SPECIAL = (_bad_pool_arguments, _what_torch_accepts)


def _pool_module(cls: type, nd: int, extra: tuple = (), **kwargs: Any) -> Recipe:
    """A pooling module of kernel 2 on x (2, 3, 6, ...) with nd spatial axes."""
    dilation = ("dilation",) if cls.__name__.startswith("Max") else ()
    return Recipe(cls, kwargs=dict(kernel_size=2, **kwargs),
                  args=lambda: (randn(2, 3, *(6,) * nd),), names=("input",),
                  sizes=("kernel_size", *dilation), counts=("padding",),
                  ranks={0: (nd + 1, nd + 2)}, batch={0: 0}, twin=_pool_twin, extra=extra)


RECIPES = {
    "nn.MaxPool1d": _pool_module(nn.MaxPool1d, 1),
    "nn.MaxPool2d": _pool_module(nn.MaxPool2d, 2, _SPECIAL, padding=1),
    "nn.AvgPool1d": _pool_module(nn.AvgPool1d, 1, padding=1),
    "nn.AvgPool2d": _pool_module(nn.AvgPool2d, 2),
    "nn.AdaptiveAvgPool2d": Recipe(nn.AdaptiveAvgPool2d, kwargs=dict(output_size=(2, 3)),
                                   args=lambda: (randn(2, 3, 6, 6),), names=("input",),
                                   ranks={0: (3, 4)}, batch={0: 0}, twin=_adaptive_twin),
    "nn.max_pool_forward": Recipe(nn.max_pool_forward, args=lambda: (randn(2, 3, 6, 6),),
                                  names=("x",), kwargs=dict(kernel_size=2, stride=2, padding=1),
                                  sizes=("kernel_size", "dilation"), counts=("padding",),
                                  batch={0: 0}, twin=_max_fn_twin),
    "nn.max_pool_backward": Recipe(nn.max_pool_backward,
                                   args=lambda: (randn(2, 3, 4, 4), _max_cache()),
                                   names=("dy", None), fixed={0: ALL}),
    "nn.avg_pool_forward": Recipe(nn.avg_pool_forward, args=lambda: (randn(2, 3, 6, 6),),
                                  names=("x",), kwargs=dict(kernel_size=2, stride=2, padding=1),
                                  sizes=("kernel_size",), counts=("padding",), batch={0: 0},
                                  twin=_avg_fn_twin),
    "nn.avg_pool_backward": Recipe(nn.avg_pool_backward,
                                   args=lambda: (randn(2, 3, 4, 4), _avg_cache()),
                                   names=("dy", None), fixed={0: ALL}),
    "nn.adaptive_avg_pool_forward": Recipe(nn.adaptive_avg_pool_forward,
                                           args=lambda: (randn(2, 3, 6, 6),), names=("x",),
                                           kwargs=dict(output_size=(2, 3)), ranks={0: (3, 4)},
                                           batch={0: 0}, twin=_adaptive_fn_twin),
    "nn.adaptive_avg_pool_backward": Recipe(nn.adaptive_avg_pool_backward,
                                            args=lambda: (randn(2, 3, 2, 3), _adaptive_cache()),
                                            names=("dy", None), fixed={0: ALL}),
    "nn.adaptive_pool_matrix": Recipe(nn.adaptive_pool_matrix, args=lambda: (6, 4),
                                      names=("n_in", "n_out"), sizes=(0,), counts=(1,)),
    "nn.pool_output_size": Recipe(nn.pool_output_size, args=lambda: (6, 2),
                                  names=("n", "kernel_size"),
                                  kwargs=dict(stride=2, padding=1, dilation=1),
                                  sizes=(1, "dilation"), counts=(0, "padding")),
    "nn.spatial_ints": Recipe(spatial_ints, args=lambda: (2, 2, "MaxPool2d", "kernel_size"),
                              names=("kernel_size", None, None, None), sizes=(0,),
                              owner="MaxPool2d"),
}

EXEMPT = {
    "nn.SpatialModule": "a base class: no forward of its own and a constructor without "
                        "arguments; the pooling and convolution recipes go through its _run and "
                        "_run_backward doors",
}
