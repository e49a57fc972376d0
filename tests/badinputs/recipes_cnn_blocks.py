"""Bad-input recipes: chapter 3's blocks (labutils/nn/cnn_blocks.py: the cost counters,
pointwise and depthwise-separable convolutions, NiN, squeeze-and-excitation, MBConv;
labutils/nn/cnn_arch.py: ResNet, ResNeXt and DenseNet blocks, the transition layer).
The harness: tests/badinputs/__init__.py.

Every block checks its arguments at the door and reports them in its own name
(``Bottleneck: input must have 64 channels, got 32``), never in the name of the child that would
have failed; an empty batch goes through as in torch (the twins are the tests' torch
composites of the same structure)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

import labutils.nn as nn
from tests.badinputs import Recipe, expect_named_error, randn
from tests.test_cnn_arch import TorchBasicBlock, torch_transition
from tests.test_cnn_efficient import TorchMBConv, TorchSE
from tests.test_cnn_modules import TorchBottleneck, TorchDense, TorchSeparable


def _twin(make: Callable[[], torch.nn.Module]) -> Callable[[Any, tuple], torch.Tensor]:
    """The empty batch through torch's composite of the same structure."""
    return lambda _m, args: make().double()(torch.from_numpy(args[0]))


def _block(cls: type, kwargs: dict, channels: int, twin: Callable[[], torch.nn.Module],
           sizes: tuple[str, ...], counts: tuple[str, ...] = (), side: int = 5,
           extra: tuple[Callable[[], None], ...] = ()) -> Recipe:
    """A block on a (2, channels, side, side) input: the channel axis is fixed, rank 4 only."""
    return Recipe(cls, kwargs=kwargs, args=lambda: (randn(2, channels, side, side),),
                  names=("input",), sizes=sizes, counts=counts, fixed={0: (1,)},
                  ranks={0: (4,)}, batch={0: 0}, twin=_twin(twin), extra=extra)


def _bad_block_arguments() -> None:
    """What the keyword spoils do not reach: divisibility, the norm_layer and activation
    factories, an input too small for the kernel, and the counters' groups."""
    cases = [
        (lambda: nn.Bottleneck(4, 6, 4, groups=4), "Bottleneck", "width"),
        (lambda: nn.BasicBlock(4, 4, norm_layer="bn"), "BasicBlock", "norm_layer"),
        (lambda: nn.DenseBlock(4, 2, 2, norm_layer=3), "DenseBlock", "norm_layer"),
        (lambda: nn.Transition(4, 2, norm_layer=1.0), "Transition", "norm_layer"),
        (lambda: nn.MBConv(4, 4, activation=None), "MBConv", "activation"),
        (lambda: nn.SqueezeExcitation(4, 2, activation="relu"), "SqueezeExcitation", "activation"),
        (lambda: nn.Transition(4, 2)(randn(1, 4, 1, 3)), "Transition", "input"),
        (lambda: nn.DepthwiseSeparableConv2d(2, 3, 5, padding=0)(randn(1, 2, 4, 6)),
         "DepthwiseSeparableConv2d", "input"),
        (lambda: nn.NiNBlock(2, 3, 5)(randn(1, 2, 3, 3)), "NiNBlock", "input"),
        (lambda: nn.conv_params(4, 6, 3, groups=4), "conv_params", "c_out"),
        (lambda: nn.conv_macs(6, 4, 3, 2, 2, groups=4), "conv_macs", "c_in"),
    ]
    for call, owner, arg in cases:
        expect_named_error(call, owner, arg)


RECIPES = {
    "nn.conv_params": Recipe(nn.conv_params, args=lambda: (4, 8, 3), names=("c_in", "c_out", "k"),
                             kwargs=dict(groups=2), sizes=(0, 1, 2, "groups")),
    "nn.conv_macs": Recipe(nn.conv_macs, args=lambda: (4, 8, 3, 5, 6),
                           names=("c_in", "c_out", "k", "h_out", "w_out"), kwargs=dict(groups=2),
                           sizes=(0, 1, 2, 3, 4, "groups")),
    "nn.PointwiseConv2d": Recipe(nn.PointwiseConv2d, kwargs=dict(in_channels=3, out_channels=4),
                                 args=lambda: (randn(2, 3, 4, 4),), names=("input",),
                                 sizes=("in_channels", "out_channels"), fixed={0: (1,)},
                                 ranks={0: (3, 4)}, batch={0: 0},
                                 twin=_twin(lambda: torch.nn.Conv2d(3, 4, 1))),
    "nn.DepthwiseSeparableConv2d": _block(
        nn.DepthwiseSeparableConv2d, dict(in_channels=3, out_channels=5), 3,
        lambda: TorchSeparable(3, 5), ("in_channels", "out_channels", "kernel_size", "stride"),
        counts=("padding",)),
    "nn.NiNBlock": _block(nn.NiNBlock, dict(in_channels=3, out_channels=4, kernel_size=3), 3,
                          lambda: torch.nn.Sequential(
                              torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 1),
                              torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 1), torch.nn.ReLU()),
                          ("in_channels", "out_channels", "kernel_size", "stride"),
                          counts=("padding",)),
    "nn.SqueezeExcitation": _block(nn.SqueezeExcitation,
                                   dict(input_channels=6, squeeze_channels=2), 6,
                                   lambda: TorchSE(6, 2), ("input_channels", "squeeze_channels")),
    "nn.MBConv": _block(nn.MBConv, dict(in_channels=4, out_channels=4), 4,
                        lambda: TorchMBConv(4, 4, 4, 3, 1),
                        ("in_channels", "out_channels", "expand_ratio", "kernel_size", "stride")),
    "nn.BasicBlock": _block(nn.BasicBlock, dict(in_channels=3, out_channels=4, stride=2), 3,
                            lambda: TorchBasicBlock(3, 4, 2),
                            ("in_channels", "out_channels", "stride"),
                            extra=(_bad_block_arguments,)),
    "nn.Bottleneck": _block(nn.Bottleneck, dict(in_channels=4, width=2, out_channels=6), 4,
                            lambda: TorchBottleneck(4, 2, 6),
                            ("in_channels", "width", "out_channels", "stride", "groups")),
    "nn.ResNeXtBlock": _block(nn.ResNeXtBlock,
                              dict(in_channels=4, out_channels=4, cardinality=2, base_width=2),
                              4, lambda: TorchBottleneck(4, 4, 4, groups=2),
                              ("in_channels", "out_channels", "cardinality", "base_width",
                               "stride")),
    "nn.DenseLayer": _block(nn.DenseLayer, dict(in_channels=3, growth_rate=2), 3,
                            lambda: TorchDense(3, 2, 1).layers[0], ("in_channels", "growth_rate")),
    "nn.DenseBlock": _block(nn.DenseBlock, dict(in_channels=3, growth_rate=2, num_layers=2), 3,
                            lambda: TorchDense(3, 2, 2),
                            ("in_channels", "growth_rate", "num_layers")),
    "nn.Transition": _block(nn.Transition, dict(in_channels=4, out_channels=2), 4,
                            lambda: torch_transition(4, 2), ("in_channels", "out_channels"),
                            side=4),
}
