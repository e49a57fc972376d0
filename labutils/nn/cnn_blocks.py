"""Convolutional building blocks composed from labutils modules, with torch's child names, so
that a torch twin with the same structure loads in one ``load_state_dict`` call.

  conv_params, conv_macs    the cost of one k x k convolution (parameters, multiply-adds)
  PointwiseConv2d           1x1 convolution: a Linear layer over channels at every pixel
  DepthwiseSeparableConv2d  depthwise k x k (groups = C_in), then pointwise 1x1
      parameters  C_in·k² + C_in·C_out   vs   C_in·C_out·k² (standard), ratio 1/C_out + 1/k²
  NiNBlock                  k x k conv, ReLU, 1x1 conv, ReLU, 1x1 conv, ReLU (Lin et al., 2014)
  SqueezeExcitation         y = x · σ(fc2(act(fc1(avgpool(x))))), one gate per channel
                            (Hu et al., 2018; torchvision.ops.SqueezeExcitation's names)
  MBConv                    inverted residual: 1x1 expand, depthwise k x k, SE, 1x1 project,
                            + x when the shape allows (MobileNetV2, EfficientNet's block)

ResNet, ResNeXt and DenseNet blocks are in ``cnn_arch``. Every block checks its arguments and
its input at the door (``door``, ``door_grad``), so a wrong size is reported in the block's
name, not in the name of the child that would have failed. Backward of a block is the chain of
its children's backwards; where a tensor is used twice the gradients of its uses are added.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import numpy.typing as npt

from .. import validate
from ..module import Module, Sequential
from .activation import ReLU, Sigmoid
from .conv import Conv2d
from .norm import BatchNorm2d
from .pool import AdaptiveAvgPool2d

__all__ = ["PointwiseConv2d", "DepthwiseSeparableConv2d", "NiNBlock", "SqueezeExcitation",
           "MBConv", "conv_params", "conv_macs"]

NormLayer = Callable[[int], Module] | None


def sizes(owner: str, minimum: int = 1, **values: object) -> None:
    """Each keyword an int >= minimum (1: positive), or the course's error naming ``owner``."""
    for arg, value in values.items():
        validate.positive_int(value, owner, arg, minimum)


def divisible(owner: str, arg: str, value: int, groups_arg: str, groups: int) -> None:
    if value % groups:
        raise ValueError(f"{owner}: {arg} must be divisible by {groups_arg} ({groups}), "
                         f"got {value}")


def maker(owner: str, arg: str, value: object, optional: bool = False) -> None:
    """``value`` must be callable (a module class or a factory), or None when ``optional``."""
    if not (callable(value) or (optional and value is None)):
        want = "a callable returning a Module" + (" or None" if optional else "")
        raise TypeError(f"{owner}: {arg} must be {want}, got {value!r} ({type(value).__name__})")


def door(block: Module, x: object, channels: int, min_size: int = 1) -> np.ndarray:
    """Check a block's input: a float (N, channels, H, W) array with H, W >= min_size."""
    name = type(block).__name__
    validate.array(x, name, "input", ndim=4)
    if x.shape[1] != channels:
        raise ValueError(f"{name}: input must have {channels} channels, got {x.shape[1]} "
                         f"(shape {x.shape})")
    if min(x.shape[2:]) < min_size:
        raise ValueError(f"{name}: input must be at least {min_size} x {min_size} pixels, "
                         f"got {x.shape[2]} x {x.shape[3]}")
    block._out_shape = None
    return x


def leave(block: Module, y: np.ndarray) -> np.ndarray:
    """Record the output's shape (what backward checks dy against) and return y."""
    block._out_shape = y.shape
    return y


def door_grad(block: Module, dy: object) -> np.ndarray:
    """Check dy in backward: forward ran, and dy has the output's shape."""
    name = type(block).__name__
    shape = validate.forward_called(name, getattr(block, "_out_shape", None))
    return validate.grad(dy, shape, name)


def _conv_sizes(owner: str, c_in: int, c_out: int, k: int, groups: int) -> None:
    sizes(owner, c_in=c_in, c_out=c_out, k=k, groups=groups)
    divisible(owner, "c_in", c_in, "groups", groups)
    divisible(owner, "c_out", c_out, "groups", groups)


def conv_params(c_in: int, c_out: int, k: int, groups: int = 1, bias: bool = False) -> int:
    """Parameters of a k x k convolution: C_out · (C_in/groups) · k² (+ C_out with bias)."""
    _conv_sizes("conv_params", c_in, c_out, k, groups)
    return c_out * (c_in // groups) * k * k + (c_out if bias else 0)


def conv_macs(c_in: int, c_out: int, k: int, h_out: int, w_out: int, groups: int = 1) -> int:
    """Multiply-adds of a k x k convolution producing an h_out x w_out map (one sample):
    each weight is used once per output position."""
    _conv_sizes("conv_macs", c_in, c_out, k, groups)
    sizes("conv_macs", h_out=h_out, w_out=w_out)
    return c_out * (c_in // groups) * k * k * h_out * w_out


class PointwiseConv2d(Conv2d):
    """1x1 convolution.  x: (N, C_in, H, W) -> y: (N, C_out, H, W);  weight (C_out, C_in, 1, 1).
    y[n, :, i, j] = W x[n, :, i, j] + b: a Linear layer applied at every pixel."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype: npt.DTypeLike = np.float64) -> None:
        super().__init__(in_channels, out_channels, 1, bias=bias, rng=rng, dtype=dtype)


class DepthwiseSeparableConv2d(Module):
    """depthwise: Conv2d(C_in, C_in, k, groups=C_in), pointwise: Conv2d(C_in, C_out, 1).
    x: (N, C_in, H, W) -> y: (N, C_out, H_out, W_out). Children ``depthwise``, ``pointwise``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: int = 1, bias: bool = True, rng: np.random.Generator | None = None,
                 dtype: npt.DTypeLike = np.float64) -> None:
        super().__init__()
        name = type(self).__name__
        sizes(name, in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size,
              stride=stride)
        sizes(name, 0, padding=padding)
        self.depthwise = Conv2d(in_channels, in_channels, kernel_size, stride, padding,
                                groups=in_channels, bias=bias, rng=rng, dtype=dtype)
        self.pointwise = Conv2d(in_channels, out_channels, 1, bias=bias, rng=rng, dtype=dtype)
        self.in_channels, self._min = in_channels, max(1, kernel_size - 2 * padding)

    def forward(self, x: np.ndarray) -> np.ndarray:
        door(self, x, self.in_channels, self._min)
        return leave(self, self.pointwise(self.depthwise(x)))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        door_grad(self, dy)
        return self.depthwise.backward(self.pointwise.backward(dy))


class NiNBlock(Sequential):
    """Network-in-network block: Conv2d(k) ReLU Conv2d(1) ReLU Conv2d(1) ReLU, children named
    "0" ... "5" as in ``torch.nn.Sequential``.  x: (N, C_in, H, W) -> y: (N, C_out, H', W')"""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, rng: np.random.Generator | None = None,
                 dtype: npt.DTypeLike = np.float64) -> None:
        name = type(self).__name__
        sizes(name, in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size,
              stride=stride)
        sizes(name, 0, padding=padding)
        super().__init__(
            Conv2d(in_channels, out_channels, kernel_size, stride, padding, rng=rng, dtype=dtype),
            ReLU(),
            Conv2d(out_channels, out_channels, 1, rng=rng, dtype=dtype), ReLU(),
            Conv2d(out_channels, out_channels, 1, rng=rng, dtype=dtype), ReLU())
        self.in_channels, self._min = in_channels, max(1, kernel_size - 2 * padding)

    def forward(self, x: np.ndarray) -> np.ndarray:
        door(self, x, self.in_channels, self._min)
        return leave(self, super().forward(x))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return super().backward(door_grad(self, dy))


class SqueezeExcitation(Module):
    """Squeeze-and-excitation (torchvision's names: avgpool fc1 activation fc2 scale_activation).

        g = σ(fc2(act(fc1(avgpool(x)))))   (N, C, 1, 1): one gate in (0, 1) per channel
        y = g · x                           x: (N, C, H, W) -> y: (N, C, H, W)

    backward: x is used twice, so dx = g·dy + (the gate path's backward of Σ_hw dy·x).
    Cost: 2·C·C_squeeze weights (+ biases), about nothing next to the convolutions around it.
    """

    def __init__(self, input_channels: int, squeeze_channels: int,
                 activation: Callable[[], Module] = ReLU, rng: np.random.Generator | None = None,
                 dtype: npt.DTypeLike = np.float64) -> None:
        super().__init__()
        name = type(self).__name__
        sizes(name, input_channels=input_channels, squeeze_channels=squeeze_channels)
        maker(name, "activation", activation)
        self.avgpool = AdaptiveAvgPool2d(1)
        self.fc1 = Conv2d(input_channels, squeeze_channels, 1, rng=rng, dtype=dtype)
        self.activation = activation()
        self.fc2 = Conv2d(squeeze_channels, input_channels, 1, rng=rng, dtype=dtype)
        self.scale_activation = Sigmoid()
        self.input_channels, self._cache = input_channels, None

    def _gate(self) -> list[Module]:
        return [self.avgpool, self.fc1, self.activation, self.fc2, self.scale_activation]

    def forward(self, x: np.ndarray) -> np.ndarray:
        door(self, x, self.input_channels)
        g = x
        for m in self._gate():
            g = m(g)
        self._cache = (x, g)
        return leave(self, g * x)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        door_grad(self, dy)
        x, g = self._cache
        dg = (dy * x).sum(axis=(2, 3), keepdims=True)
        for m in reversed(self._gate()):
            dg = m.backward(dg)
        return g * dy + dg


class MBConv(Module):
    """Inverted residual block with squeeze-and-excitation (MobileNetV2 / EfficientNet).

        h = act(bn0(expand_1x1(x)))          C_in -> C_in·expand_ratio (skipped when ratio 1)
        h = act(bn1(depthwise_kxk(h)))       groups = channels, stride s
        h = se(h)                            squeeze to max(1, C_in // 4) channels
        y = bn2(project_1x1(h)) [+ x]        -> C_out; + x when s = 1 and C_in = C_out
    EfficientNet uses SiLU for ``activation``; pass any module class (default ReLU).
    x: (N, C_in, H, W) -> y: (N, C_out, ⌈H/s⌉, ⌈W/s⌉) for odd kernel_size.
    """

    def __init__(self, in_channels: int, out_channels: int, expand_ratio: int = 4,
                 kernel_size: int = 3, stride: int = 1, activation: Callable[[], Module] = ReLU,
                 rng: np.random.Generator | None = None, dtype: npt.DTypeLike = np.float64) -> None:
        super().__init__()
        name = type(self).__name__
        sizes(name, in_channels=in_channels, out_channels=out_channels,
              expand_ratio=expand_ratio, kernel_size=kernel_size, stride=stride)
        maker(name, "activation", activation)
        kw = dict(rng=rng, dtype=dtype)
        mid = in_channels * expand_ratio
        parts = []
        if expand_ratio != 1:
            parts += [Conv2d(in_channels, mid, 1, bias=False, **kw), BatchNorm2d(mid), activation()]
        parts += [Conv2d(mid, mid, kernel_size, stride, kernel_size // 2, groups=mid, bias=False,
                         **kw), BatchNorm2d(mid), activation(),
                  SqueezeExcitation(mid, max(1, in_channels // 4), activation, **kw),
                  Conv2d(mid, out_channels, 1, bias=False, **kw), BatchNorm2d(out_channels)]
        self.block = Sequential(*parts)
        self.use_residual = stride == 1 and in_channels == out_channels
        self.in_channels = in_channels

    def forward(self, x: np.ndarray) -> np.ndarray:
        door(self, x, self.in_channels)
        y = self.block(x)
        return leave(self, y + x if self.use_residual else y)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        door_grad(self, dy)
        dx = self.block.backward(dy)
        return dx + dy if self.use_residual else dx
