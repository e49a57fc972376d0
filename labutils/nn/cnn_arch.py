"""The blocks of ResNet, ResNeXt and DenseNet, composed from labutils modules with torchvision's
child names, so that a torch twin of the same structure loads in one ``load_state_dict`` call.

Every block takes ``norm_layer``: a callable ``norm_layer(channels) -> Module`` (default
``BatchNorm2d``), or None for no normalisation; then the convolutions get biases instead.

  BasicBlock    ResNet-18/34: 3x3 conv (stride) → 3x3 conv, + shortcut, ReLU
  Bottleneck    ResNet-50+: 1x1 → 3x3 (stride, groups) → 1x1, + shortcut, ReLU
  ResNeXtBlock  the Bottleneck with groups = cardinality (Xie et al., 2017)
  DenseLayer    [norm] ReLU 3x3 conv -> growth_rate channels
  DenseBlock    each layer sees the concatenation of all earlier feature maps (Huang et al.)
  Transition    between dense blocks: norm, ReLU, 1x1 conv (fewer channels), 2x2 average pool

The shortcut of a residual block is the identity, or ``downsample`` = 1x1 conv (stride) + norm
when the shape changes. In backward, x is used twice: dx = main.backward(dz) + shortcut(dz).
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..module import Module, ModuleList, Sequential
from .activation import ReLU
from .cnn_blocks import NormLayer, divisible, door, door_grad, leave, maker, sizes
from .conv import Conv2d
from .norm import BatchNorm2d
from .pool import AvgPool2d

__all__ = ["BasicBlock", "Bottleneck", "ResNeXtBlock", "DenseLayer", "DenseBlock", "Transition"]

Rng = np.random.Generator | None


def _norm(norm_layer: NormLayer, channels: int) -> Module | None:
    return None if norm_layer is None else norm_layer(channels)


class _Residual(Module):
    """What the two ResNet blocks share: y = relu(main(x) + shortcut(x))."""

    def _shortcut(self, in_channels: int, out_channels: int, stride: int,
                  norm_layer: NormLayer, rng: Rng, dtype: npt.DTypeLike) -> None:
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            parts = [Conv2d(in_channels, out_channels, 1, stride, bias=norm_layer is None,
                            rng=rng, dtype=dtype)]
            if norm_layer is not None:
                parts.append(norm_layer(out_channels))
            self.downsample = Sequential(*parts)
        self.in_channels, self.out_channels = in_channels, out_channels

    def _main(self) -> list[Module]:
        raise NotImplementedError

    def forward(self, x: np.ndarray) -> np.ndarray:
        door(self, x, self.in_channels)
        h = x
        for m in self._main():
            h = m(h)
        skip = x if self.downsample is None else self.downsample(x)
        return leave(self, self.relu_out(h + skip))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dz = self.relu_out.backward(door_grad(self, dy))
        dx = dz
        for m in reversed(self._main()):
            dx = m.backward(dx)
        return dx + (dz if self.downsample is None else self.downsample.backward(dz))


def _check(owner: str, norm_layer: NormLayer, **values: int) -> None:
    sizes(owner, **values)
    maker(owner, "norm_layer", norm_layer, optional=True)


class BasicBlock(_Residual):
    """ResNet basic block (torchvision's names: conv1 bn1 conv2 bn2 downsample).

        h = relu(bn1(conv1_3x3(x; stride)));  y = relu(bn2(conv2_3x3(h)) + shortcut(x))

    x: (N, C_in, H, W) -> y: (N, C_out, ⌈H/s⌉, ⌈W/s⌉).  Weights: 9·C_in·C_out + 9·C_out².
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 norm_layer: NormLayer = BatchNorm2d, rng: Rng = None,
                 dtype: npt.DTypeLike = np.float64) -> None:
        super().__init__()
        _check(type(self).__name__, norm_layer, in_channels=in_channels,
               out_channels=out_channels, stride=stride)
        bias, kw = norm_layer is None, dict(rng=rng, dtype=dtype)
        self.conv1 = Conv2d(in_channels, out_channels, 3, stride, 1, bias=bias, **kw)
        self.bn1 = _norm(norm_layer, out_channels)
        self.relu1 = ReLU()
        self.conv2 = Conv2d(out_channels, out_channels, 3, 1, 1, bias=bias, **kw)
        self.bn2 = _norm(norm_layer, out_channels)
        self.relu_out = ReLU()
        self._shortcut(in_channels, out_channels, stride, norm_layer, rng, dtype)

    def _main(self) -> list[Module]:
        return [m for m in (self.conv1, self.bn1, self.relu1, self.conv2, self.bn2)
                if m is not None]


class Bottleneck(_Residual):
    """ResNet bottleneck (torchvision's names: conv1 bn1 conv2 bn2 conv3 bn3 downsample).

        h = relu(bn1(conv1_1x1(x)));  h = relu(bn2(conv2_3x3(h; stride, groups)))
        y = relu(bn3(conv3_1x1(h)) + shortcut(x))

    x: (N, C_in, H, W) -> y: (N, C_out, ⌈H/s⌉, ⌈W/s⌉);  width: channels of the 3x3 conv.
    Weights: C_in·w + 9·w²/groups + w·C_out.
    """

    def __init__(self, in_channels: int, width: int, out_channels: int, stride: int = 1,
                 groups: int = 1, norm_layer: NormLayer = BatchNorm2d, rng: Rng = None,
                 dtype: npt.DTypeLike = np.float64) -> None:
        super().__init__()
        name = type(self).__name__
        _check(name, norm_layer, in_channels=in_channels, width=width,
               out_channels=out_channels, stride=stride, groups=groups)
        divisible(name, "width", width, "groups", groups)
        bias, kw = norm_layer is None, dict(rng=rng, dtype=dtype)
        self.conv1 = Conv2d(in_channels, width, 1, bias=bias, **kw)
        self.bn1 = _norm(norm_layer, width)
        self.conv2 = Conv2d(width, width, 3, stride, 1, groups=groups, bias=bias, **kw)
        self.bn2 = _norm(norm_layer, width)
        self.conv3 = Conv2d(width, out_channels, 1, bias=bias, **kw)
        self.bn3 = _norm(norm_layer, out_channels)
        self.relu1, self.relu2, self.relu_out = ReLU(), ReLU(), ReLU()
        self._shortcut(in_channels, out_channels, stride, norm_layer, rng, dtype)

    def _main(self) -> list[Module]:
        return [m for m in (self.conv1, self.bn1, self.relu1, self.conv2, self.bn2, self.relu2,
                            self.conv3, self.bn3) if m is not None]


class ResNeXtBlock(Bottleneck):
    """ResNeXt block: a Bottleneck whose 3x3 conv is grouped, width = cardinality · base_width
    (the aggregated transformations Σ_i T_i(x) of Xie et al. are exactly a grouped conv
    between two 1x1 convs)."""

    def __init__(self, in_channels: int, out_channels: int, cardinality: int = 32,
                 base_width: int = 4, stride: int = 1, norm_layer: NormLayer = BatchNorm2d,
                 rng: Rng = None, dtype: npt.DTypeLike = np.float64) -> None:
        sizes(type(self).__name__, cardinality=cardinality, base_width=base_width)
        super().__init__(in_channels, cardinality * base_width, out_channels, stride,
                         cardinality, norm_layer, rng, dtype)


class DenseLayer(Sequential):
    """One DenseNet layer: [norm] ReLU Conv2d(3x3, padding 1) -> growth_rate channels.
    Children "0", "1", ("2") as in torch.nn.Sequential.  x: (N, C_in, H, W) -> (N, g, H, W)"""

    def __init__(self, in_channels: int, growth_rate: int, norm_layer: NormLayer = BatchNorm2d,
                 rng: Rng = None, dtype: npt.DTypeLike = np.float64) -> None:
        _check(type(self).__name__, norm_layer, in_channels=in_channels, growth_rate=growth_rate)
        parts = [] if norm_layer is None else [norm_layer(in_channels)]
        parts += [ReLU(), Conv2d(in_channels, growth_rate, 3, 1, 1, bias=norm_layer is None,
                                 rng=rng, dtype=dtype)]
        super().__init__(*parts)
        self.in_channels = in_channels

    def forward(self, x: np.ndarray) -> np.ndarray:
        door(self, x, self.in_channels)
        return leave(self, super().forward(x))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return super().backward(door_grad(self, dy))


class DenseBlock(Module):
    """A small DenseNet block: layer i receives concat(x, f_0, ..., f_{i-1}) (channels
    C_in + i·g) and returns f_i (g channels); the block returns concat(x, f_0, ..., f_{L-1}).
    x: (N, C_in, H, W) -> y: (N, C_in + L·g, H, W); children ``layers.0``, ``layers.1``, ...

    backward: walk the layers in reverse; the gradient of the block's output w.r.t. the
    concatenation seen by layer i is the running sum of dy's slices and of what later layers
    sent back through their inputs.
    """

    def __init__(self, in_channels: int, growth_rate: int, num_layers: int,
                 norm_layer: NormLayer = BatchNorm2d, rng: Rng = None,
                 dtype: npt.DTypeLike = np.float64) -> None:
        super().__init__()
        _check(type(self).__name__, norm_layer, in_channels=in_channels,
               growth_rate=growth_rate, num_layers=num_layers)
        self.in_channels, self.growth_rate = in_channels, growth_rate
        self.layers = ModuleList([DenseLayer(in_channels + i * growth_rate, growth_rate,
                                             norm_layer, rng, dtype) for i in range(num_layers)])

    def forward(self, x: np.ndarray) -> np.ndarray:
        feats = door(self, x, self.in_channels)
        for layer in self.layers:
            feats = np.concatenate([feats, layer(feats)], axis=1)
        return leave(self, feats)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        g = door_grad(self, dy).copy()        # d(block output) / d(concatenation so far)
        c = dy.shape[1]
        for layer in reversed(list(self.layers)):
            c -= self.growth_rate
            g_in = layer.backward(g[:, c:])   # gradient w.r.t. this layer's own output slice
            g = g[:, :c] + g_in               # plus what flows through its input
        return g


class Transition(Module):
    """DenseNet transition layer (torchvision's names: norm relu conv pool).

        y = avgpool_2x2(conv_1x1(relu(norm(x))))     x: (N, C_in, H, W) -> (N, C_out, H/2, W/2)

    It shrinks the channels (DenseNet-BC: C_out = ⌊θ·C_in⌋, θ = 0.5) and the map (by 4), so the
    next dense block starts small. Weights: C_in·C_out (+ 2·C_in for the norm).
    """

    def __init__(self, in_channels: int, out_channels: int, norm_layer: NormLayer = BatchNorm2d,
                 rng: Rng = None, dtype: npt.DTypeLike = np.float64) -> None:
        super().__init__()
        _check(type(self).__name__, norm_layer, in_channels=in_channels,
               out_channels=out_channels)
        self.norm = _norm(norm_layer, in_channels)
        self.relu = ReLU()
        self.conv = Conv2d(in_channels, out_channels, 1, bias=norm_layer is None, rng=rng,
                           dtype=dtype)
        self.pool = AvgPool2d(2, 2)
        self.in_channels, self.out_channels = in_channels, out_channels

    def _parts(self) -> list[Module]:
        return [m for m in (self.norm, self.relu, self.conv, self.pool) if m is not None]

    def forward(self, x: np.ndarray) -> np.ndarray:
        h = door(self, x, self.in_channels, min_size=2)
        for m in self._parts():
            h = m(h)
        return leave(self, h)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx = door_grad(self, dy)
        for m in reversed(self._parts()):
            dx = m.backward(dx)
        return dx
