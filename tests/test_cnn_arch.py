"""ResNet basic block, DenseNet transition and a dense block followed by its transition against
torch twins of the same structure (float64: forward, input and parameter gradients); the
blocks' door checks name the block, not the child that would have failed."""
import numpy as np
import pytest
import torch

import labutils.nn as nn
from labutils.gradcheck import check_module
from labutils.torchcheck import compare_with_torch

from .test_cnn_modules import TorchDense


class TorchBasicBlock(torch.nn.Module):
    """torchvision.models.resnet.BasicBlock's structure (torchvision is not installed)."""

    def __init__(self, cin, cout, stride=1, norm=True):
        super().__init__()
        bn = torch.nn.BatchNorm2d if norm else (lambda c: torch.nn.Identity())
        self.conv1 = torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=not norm)
        self.bn1 = bn(cout)
        self.conv2 = torch.nn.Conv2d(cout, cout, 3, 1, 1, bias=not norm)
        self.bn2 = bn(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            parts = [torch.nn.Conv2d(cin, cout, 1, stride, bias=not norm)]
            self.downsample = torch.nn.Sequential(*parts, *([torch.nn.BatchNorm2d(cout)] if norm else []))

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return torch.relu(h + (x if self.downsample is None else self.downsample(x)))


def torch_transition(cin, cout, norm=True):
    """torchvision.models.densenet._Transition's structure and names."""
    m = torch.nn.Sequential()
    if norm:
        m.add_module("norm", torch.nn.BatchNorm2d(cin))
    m.add_module("relu", torch.nn.ReLU())
    m.add_module("conv", torch.nn.Conv2d(cin, cout, 1, bias=not norm))
    m.add_module("pool", torch.nn.AvgPool2d(2, 2))
    return m


class DenseStage(nn.Module):
    """A dense block, then its transition: the DenseNet stage, as a labutils composite."""

    def __init__(self, cin, g, n, cout):
        super().__init__()
        self.block = nn.DenseBlock(cin, g, n)
        self.transition = nn.Transition(cin + n * g, cout)

    def forward(self, x):
        return self.transition(self.block(x))

    def backward(self, dy):
        return self.block.backward(self.transition.backward(dy))


class TorchDenseStage(torch.nn.Module):
    def __init__(self, cin, g, n, cout):
        super().__init__()
        self.block = TorchDense(cin, g, n)
        self.transition = torch_transition(cin + n * g, cout)

    def forward(self, x):
        return self.transition(self.block(x))


@pytest.mark.parametrize("lab,tor,shape", [
    (lambda: nn.BasicBlock(4, 4), lambda: TorchBasicBlock(4, 4), (2, 4, 5, 5)),
    (lambda: nn.BasicBlock(3, 6, stride=2), lambda: TorchBasicBlock(3, 6, 2), (3, 3, 7, 6)),
    (lambda: nn.BasicBlock(4, 5, norm_layer=None), lambda: TorchBasicBlock(4, 5, norm=False), (2, 4, 5, 4)),
    (lambda: nn.Transition(6, 3), lambda: torch_transition(6, 3), (2, 6, 6, 5)),
    (lambda: nn.Transition(4, 2, norm_layer=None), lambda: torch_transition(4, 2, norm=False), (2, 4, 4, 4)),
    (lambda: DenseStage(3, 2, 3, 4), lambda: TorchDenseStage(3, 2, 3, 4), (2, 3, 6, 6)),
])
def test_blocks_match_torch_twins(lab, tor, shape):
    x = np.random.default_rng(11).standard_normal(shape)
    r = compare_with_torch(lab(), tor(), x)
    assert r.ok, r
    assert len(r.errors) > 2           # the output, the input's gradient and parameter gradients


@pytest.mark.parametrize("make,shape", [
    (lambda: nn.BasicBlock(2, 3, stride=2, norm_layer=None), (2, 2, 5, 5)),
    (lambda: nn.Transition(3, 2, norm_layer=None), (2, 3, 4, 5)),
])
def test_gradients_match_central_differences(make, shape):
    report = check_module(make(), np.random.default_rng(12).standard_normal(shape))
    assert report.ok, report


def test_resnext_is_the_sum_of_its_paths():
    """Without norms, the grouped 3x3 of a ResNeXt block equals `cardinality` separate paths
    1x1 -> 3x3 -> 1x1 (each on its slice of the width), summed before the shortcut."""
    rng = np.random.default_rng(13)
    block = nn.ResNeXtBlock(6, 6, cardinality=3, base_width=2, norm_layer=None, rng=rng)
    x = rng.standard_normal((2, 6, 5, 5))
    p = block.params
    total = p["conv3.bias"][None, :, None, None] + x
    for i in range(3):
        s = slice(2 * i, 2 * i + 2)
        a = nn.Conv2d(6, 2, 1)
        a.load_state_dict({"weight": p["conv1.weight"][s], "bias": p["conv1.bias"][s]})
        b = nn.Conv2d(2, 2, 3, padding=1)
        b.load_state_dict({"weight": p["conv2.weight"][s], "bias": p["conv2.bias"][s]})
        c = nn.Conv2d(2, 6, 1, bias=False)
        c.load_state_dict({"weight": p["conv3.weight"][:, s]})
        total = total + c(np.maximum(b(np.maximum(a(x), 0)), 0))
    assert np.abs(block(x) - np.maximum(total, 0)).max() < 1e-12


def test_costs_of_the_architectures():
    basic = nn.BasicBlock(64, 64)
    bottleneck = nn.Bottleneck(256, 64, 256)
    resnext = nn.ResNeXtBlock(256, 256, cardinality=32, base_width=4)
    n = lambda m: sum(v.size for k, v in m.params.items() if "conv" in k)   # conv weights only
    assert n(basic) == 2 * 9 * 64 * 64
    assert n(bottleneck) == 256 * 64 + 9 * 64 * 64 + 64 * 256
    assert n(resnext) == 256 * 128 + 9 * 128 * 4 + 128 * 256 == 32 * (256 * 4 + 9 * 4 * 4 + 4 * 256)
    assert n(nn.Transition(128, 64)) == 128 * 64


@pytest.mark.parametrize("make,x,error,message", [
    (lambda: nn.Bottleneck(64, 16, 64), np.zeros((1, 32, 4, 4)), ValueError,
     "Bottleneck: input must have 64 channels, got 32"),
    (lambda: nn.BasicBlock(3, 4), np.zeros((3, 4, 4)), ValueError,
     "BasicBlock: input must have 4 dimensions"),
    (lambda: nn.ResNeXtBlock(8, 8, 2, 2), np.zeros((1, 4, 3, 3)), ValueError,
     "ResNeXtBlock: input must have 8 channels, got 4"),
    (lambda: nn.DenseBlock(3, 2, 2), np.zeros((1, 3, 4, 4), dtype=int), TypeError,
     "DenseBlock: input must have a float dtype"),
    (lambda: nn.DenseLayer(5, 2), np.zeros((1, 4, 4, 4)), ValueError,
     "DenseLayer: input must have 5 channels, got 4"),
    (lambda: nn.Transition(4, 2), np.zeros((1, 4, 1, 4)), ValueError,
     "Transition: input must be at least 2 x 2 pixels, got 1 x 4"),
    (lambda: nn.DepthwiseSeparableConv2d(2, 3, 5, padding=0), np.zeros((1, 2, 4, 4)), ValueError,
     "DepthwiseSeparableConv2d: input must be at least 5 x 5 pixels, got 4 x 4"),
    (lambda: nn.NiNBlock(2, 3, 3), np.zeros((1, 3, 4, 4)), ValueError,
     "NiNBlock: input must have 2 channels, got 3"),
    (lambda: nn.SqueezeExcitation(4, 2), np.zeros((1, 3, 4, 4)), ValueError,
     "SqueezeExcitation: input must have 4 channels, got 3"),
    (lambda: nn.MBConv(4, 4), np.full((1, 4, 3, 3), np.nan), ValueError, "MBConv: input contains NaN"),
])
def test_forward_checks_name_the_block(make, x, error, message):
    with pytest.raises(error) as e:
        make()(x)
    assert str(e.value).startswith(message)


@pytest.mark.parametrize("make,shape", [
    (lambda: nn.BasicBlock(2, 2), (1, 2, 4, 4)), (lambda: nn.Bottleneck(2, 2, 2), (1, 2, 4, 4)),
    (lambda: nn.DenseBlock(2, 1, 2), (1, 2, 4, 4)), (lambda: nn.Transition(2, 1), (1, 2, 4, 4)),
    (lambda: nn.DenseLayer(2, 1), (1, 2, 4, 4)), (lambda: nn.NiNBlock(2, 2, 3, padding=1), (1, 2, 4, 4)),
    (lambda: nn.DepthwiseSeparableConv2d(2, 2), (1, 2, 4, 4)), (lambda: nn.MBConv(2, 2), (2, 2, 4, 4)),
    (lambda: nn.SqueezeExcitation(2, 1), (1, 2, 4, 4)),
])
def test_backward_checks_name_the_block(make, shape):
    m = make()
    name = type(m).__name__
    with pytest.raises(RuntimeError, match=f"^{name}: backward called before forward"):
        m.backward(np.zeros(shape))
    y = m(np.random.default_rng(0).standard_normal(shape))
    with pytest.raises(ValueError, match=rf"^{name}: grad_output must have the output's shape"):
        m.backward(np.zeros(y.shape[:-1] + (y.shape[-1] + 1,)))
    assert m.backward(np.ones_like(y)).shape == shape


@pytest.mark.parametrize("make,error,message", [
    (lambda: nn.BasicBlock(0, 4), ValueError, "BasicBlock: in_channels must be a positive int, got 0"),
    (lambda: nn.Bottleneck(4, 6, 4, groups=4), ValueError,
     "Bottleneck: width must be divisible by groups (4), got 6"),
    (lambda: nn.ResNeXtBlock(4, 4, cardinality=0), ValueError,
     "ResNeXtBlock: cardinality must be a positive int, got 0"),
    (lambda: nn.DenseBlock(4, 2, 2.0), TypeError, "DenseBlock: num_layers must be a positive int, got 2.0"),
    (lambda: nn.Transition(4, 2, norm_layer=3), TypeError,
     "Transition: norm_layer must be a callable returning a Module or None, got 3"),
    (lambda: nn.MBConv(4, 4, stride=0), ValueError, "MBConv: stride must be a positive int, got 0"),
    (lambda: nn.SqueezeExcitation(4, 0), ValueError,
     "SqueezeExcitation: squeeze_channels must be a positive int, got 0"),
    (lambda: nn.DepthwiseSeparableConv2d(2, 2, padding=-1), ValueError,
     "DepthwiseSeparableConv2d: padding must be an int >= 0, got -1"),
    (lambda: nn.conv_macs(4, 6, 3, 8, 8, groups=4), ValueError,
     "conv_macs: c_out must be divisible by groups (4), got 6"),
    (lambda: nn.conv_params(4, 4, 0), ValueError, "conv_params: k must be a positive int, got 0"),
])
def test_constructor_checks_name_the_block(make, error, message):
    with pytest.raises(error) as e:
        make()
    assert str(e.value).startswith(message)
