"""Convolutional building blocks composed from labutils modules, with torch's child names, so
that a torch twin with the same structure loads in one ``load_state_dict`` call.

Every block takes ``norm_layer``: a callable ``norm_layer(channels) -> Module`` (default
``BatchNorm2d``), or None for no normalisation; then the convolutions get biases instead.

  PointwiseConv2d           1x1 convolution: a Linear layer over channels at every pixel
  DepthwiseSeparableConv2d  depthwise k x k (groups = C_in), then pointwise 1x1
      parameters  C_in·k² + C_in·C_out   vs   C_in·C_out·k² (standard), ratio 1/C_out + 1/k²
  NiNBlock                  k x k conv, ReLU, 1x1 conv, ReLU, 1x1 conv, ReLU (Lin et al., 2014)
  Bottleneck                ResNet's 1x1 → 3x3 (stride, groups) → 1x1 block, + shortcut, ReLU
  ResNeXtBlock              the Bottleneck with groups = cardinality (Xie et al., 2017)
  DenseBlock                each layer sees the concatenation of all earlier feature maps
                            and adds ``growth_rate`` channels (Huang et al., 2017)
  SqueezeExcitation         y = x · σ(fc2(act(fc1(avgpool(x))))), one gate per channel
                            (Hu et al., 2018; torchvision.ops.SqueezeExcitation's names)
  MBConv                    inverted residual: 1x1 expand, depthwise k x k, SE, 1x1 project,
                            + x when the shape allows (MobileNetV2, EfficientNet's block)

Backward of a block is the chain of its children's backwards; where a tensor is used twice
(the shortcut, DenseNet's concatenation) the gradients of its uses are added.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import numpy.typing as npt

from .. import validate
from ..module import Module, ModuleList, Sequential
from .activation import ReLU, Sigmoid
from .conv import Conv2d
from .norm import BatchNorm2d
from .pool import AdaptiveAvgPool2d

__all__ = ["PointwiseConv2d", "DepthwiseSeparableConv2d", "NiNBlock", "Bottleneck",
           "ResNeXtBlock", "DenseLayer", "DenseBlock", "SqueezeExcitation", "MBConv",
           "conv_params", "conv_macs"]


def conv_params(c_in: int, c_out: int, k: int, groups: int = 1, bias: bool = False) -> int:
    """Parameters of a k x k convolution: C_out · (C_in/groups) · k² (+ C_out with bias)."""
    return c_out * (c_in // groups) * k * k + (c_out if bias else 0)


def conv_macs(c_in: int, c_out: int, k: int, h_out: int, w_out: int, groups: int = 1) -> int:
    """Multiply-adds of a k x k convolution producing an h_out x w_out map (one sample)."""
    return conv_params(c_in, c_out, k, groups) * h_out * w_out


NormLayer = Callable[[int], Module] | None


def _norm(norm_layer: NormLayer, channels: int) -> Module | None:
    return None if norm_layer is None else norm_layer(channels)


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
        self.depthwise = Conv2d(in_channels, in_channels, kernel_size, stride, padding,
                                groups=in_channels, bias=bias, rng=rng, dtype=dtype)
        self.pointwise = Conv2d(in_channels, out_channels, 1, bias=bias, rng=rng, dtype=dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.pointwise(self.depthwise(x))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self.depthwise.backward(self.pointwise.backward(dy))


class NiNBlock(Sequential):
    """Network-in-network block: Conv2d(k) ReLU Conv2d(1) ReLU Conv2d(1) ReLU, children named
    "0" ... "5" as in ``torch.nn.Sequential``.  x: (N, C_in, H, W) -> y: (N, C_out, H', W')"""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, rng: np.random.Generator | None = None,
                 dtype: npt.DTypeLike = np.float64) -> None:
        super().__init__(
            Conv2d(in_channels, out_channels, kernel_size, stride, padding, rng=rng, dtype=dtype),
            ReLU(),
            Conv2d(out_channels, out_channels, 1, rng=rng, dtype=dtype), ReLU(),
            Conv2d(out_channels, out_channels, 1, rng=rng, dtype=dtype), ReLU())


class Bottleneck(Module):
    """ResNet bottleneck (torchvision's names: conv1 bn1 conv2 bn2 conv3 bn3 downsample).

        h = relu(bn1(conv1_1x1(x)));  h = relu(bn2(conv2_3x3(h; stride, groups)))
        y = relu(bn3(conv3_1x1(h)) + shortcut(x))
        shortcut = identity, or downsample = Sequential(conv 1x1 stride, norm) when the shape
        changes (stride > 1 or in_channels != out_channels)

    x: (N, C_in, H, W) -> y: (N, C_out, ⌈H/s⌉, ⌈W/s⌉);  width: channels of the 3x3 conv.
    backward: dz = relu'·dy;  dx = main.backward(dz) + shortcut.backward(dz)
    """

    def __init__(self, in_channels: int, width: int, out_channels: int, stride: int = 1,
                 groups: int = 1, norm_layer: NormLayer = BatchNorm2d,
                 rng: np.random.Generator | None = None, dtype: npt.DTypeLike = np.float64) -> None:
        super().__init__()
        bias = norm_layer is None
        kw = dict(rng=rng, dtype=dtype)
        self.conv1 = Conv2d(in_channels, width, 1, bias=bias, **kw)
        self.bn1 = _norm(norm_layer, width)
        self.conv2 = Conv2d(width, width, 3, stride, 1, groups=groups, bias=bias, **kw)
        self.bn2 = _norm(norm_layer, width)
        self.conv3 = Conv2d(width, out_channels, 1, bias=bias, **kw)
        self.bn3 = _norm(norm_layer, out_channels)
        self.relu1, self.relu2, self.relu3 = ReLU(), ReLU(), ReLU()
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            parts = [Conv2d(in_channels, out_channels, 1, stride, bias=bias, **kw)]
            if norm_layer is not None:
                parts.append(norm_layer(out_channels))
            self.downsample = Sequential(*parts)
        self.in_channels = in_channels

    def _main(self) -> list[Module]:
        return [m for m in (self.conv1, self.bn1, self.relu1, self.conv2, self.bn2, self.relu2,
                            self.conv3, self.bn3) if m is not None]

    def forward(self, x: np.ndarray) -> np.ndarray:
        validate.array(x, type(self).__name__, "input", ndim=4,
                       shape=(self.in_channels, None, None))
        h = x
        for m in self._main():
            h = m(h)
        skip = x if self.downsample is None else self.downsample(x)
        return self.relu3(h + skip)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dz = self.relu3.backward(dy)
        dx = dz
        for m in reversed(self._main()):
            dx = m.backward(dx)
        return dx + (dz if self.downsample is None else self.downsample.backward(dz))


class ResNeXtBlock(Bottleneck):
    """ResNeXt block: a Bottleneck whose 3x3 conv is grouped, width = cardinality · base_width
    (the aggregated transformations Σ_i T_i(x) of Xie et al. are exactly a grouped conv
    between two 1x1 convs)."""

    def __init__(self, in_channels: int, out_channels: int, cardinality: int = 32,
                 base_width: int = 4, stride: int = 1, norm_layer: NormLayer = BatchNorm2d,
                 rng: np.random.Generator | None = None, dtype: npt.DTypeLike = np.float64) -> None:
        super().__init__(in_channels, cardinality * base_width, out_channels, stride,
                         cardinality, norm_layer, rng, dtype)


class DenseLayer(Sequential):
    """One DenseNet layer: [norm] ReLU Conv2d(3x3, padding 1) -> growth_rate channels.
    Children "0", "1", ("2") as in torch.nn.Sequential."""

    def __init__(self, in_channels: int, growth_rate: int, norm_layer: NormLayer = BatchNorm2d,
                 rng: np.random.Generator | None = None, dtype: npt.DTypeLike = np.float64) -> None:
        parts = [] if norm_layer is None else [norm_layer(in_channels)]
        parts += [ReLU(), Conv2d(in_channels, growth_rate, 3, 1, 1, bias=norm_layer is None,
                                 rng=rng, dtype=dtype)]
        super().__init__(*parts)


class DenseBlock(Module):
    """A small DenseNet block: layer i receives concat(x, f_0, ..., f_{i-1}) (channels
    C_in + i·g) and returns f_i (g channels); the block returns concat(x, f_0, ..., f_{L-1}).
    x: (N, C_in, H, W) -> y: (N, C_in + L·g, H, W); children ``layers.0``, ``layers.1``, ...

    backward: walk the layers in reverse; the gradient of the block's output w.r.t. the
    concatenation seen by layer i is the running sum of dy's slices and of what later layers
    sent back through their inputs.
    """

    def __init__(self, in_channels: int, growth_rate: int, num_layers: int,
                 norm_layer: NormLayer = BatchNorm2d, rng: np.random.Generator | None = None,
                 dtype: npt.DTypeLike = np.float64) -> None:
        super().__init__()
        self.in_channels, self.growth_rate = in_channels, growth_rate
        self.layers = ModuleList([DenseLayer(in_channels + i * growth_rate, growth_rate,
                                             norm_layer, rng, dtype) for i in range(num_layers)])
        self._shape = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        validate.array(x, "DenseBlock", "input", ndim=4, shape=(self.in_channels, None, None))
        feats = x
        for layer in self.layers:
            feats = np.concatenate([feats, layer(feats)], axis=1)
        self._shape = feats.shape
        return feats

    def backward(self, dy: np.ndarray) -> np.ndarray:
        shape = validate.forward_called("DenseBlock", self._shape)
        validate.grad(dy, shape, "DenseBlock")
        g = dy.copy()                         # d(block output) / d(concatenation so far)
        c = shape[1]
        for layer in reversed(list(self.layers)):
            c -= self.growth_rate
            g_in = layer.backward(g[:, c:])   # gradient w.r.t. this layer's own output slice
            g = g[:, :c] + g_in               # plus what flows through its input
        return g


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
        self.avgpool = AdaptiveAvgPool2d(1)
        self.fc1 = Conv2d(input_channels, squeeze_channels, 1, rng=rng, dtype=dtype)
        self.activation = activation()
        self.fc2 = Conv2d(squeeze_channels, input_channels, 1, rng=rng, dtype=dtype)
        self.scale_activation = Sigmoid()
        self._cache = None

    def _gate(self) -> list[Module]:
        return [self.avgpool, self.fc1, self.activation, self.fc2, self.scale_activation]

    def forward(self, x: np.ndarray) -> np.ndarray:
        g = x
        for m in self._gate():
            g = m(g)
        self._cache = (x, g)
        return g * x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x, g = validate.forward_called("SqueezeExcitation", self._cache)
        validate.grad(dy, x.shape, "SqueezeExcitation")
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

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = self.block(x)
        return y + x if self.use_residual else y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx = self.block.backward(dy)
        return dx + dy if self.use_residual else dx
