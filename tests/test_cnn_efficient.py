"""Chapter 3's efficient blocks: squeeze-and-excitation and MBConv against torch composites of
the same structure (float64: forward, input and parameter gradients), and their costs."""
import numpy as np
import pytest
import torch

from labutils import nn
from labutils.gradcheck import check_module
from labutils.torchcheck import compare_with_torch


class TorchSE(torch.nn.Module):
    """torchvision.ops.SqueezeExcitation, written out (torchvision is not a dependency)."""

    def __init__(self, c, s):
        super().__init__()
        self.avgpool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc1, self.fc2 = torch.nn.Conv2d(c, s, 1), torch.nn.Conv2d(s, c, 1)
        self.activation, self.scale_activation = torch.nn.ReLU(), torch.nn.Sigmoid()

    def forward(self, x):
        return x * self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))


class TorchMBConv(torch.nn.Module):
    def __init__(self, cin, cout, expand, k, stride):
        super().__init__()
        mid = cin * expand
        parts = []
        if expand != 1:
            parts += [torch.nn.Conv2d(cin, mid, 1, bias=False), torch.nn.BatchNorm2d(mid), torch.nn.ReLU()]
        parts += [torch.nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False),
                  torch.nn.BatchNorm2d(mid), torch.nn.ReLU(), TorchSE(mid, max(1, cin // 4)),
                  torch.nn.Conv2d(mid, cout, 1, bias=False), torch.nn.BatchNorm2d(cout)]
        self.block = torch.nn.Sequential(*parts)
        self.res = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return y + x if self.res else y


@pytest.mark.parametrize("lab,tor,shape", [
    (lambda: nn.SqueezeExcitation(6, 2), lambda: TorchSE(6, 2), (2, 6, 5, 4)),
    (lambda: nn.MBConv(4, 4, 4, 3, 1), lambda: TorchMBConv(4, 4, 4, 3, 1), (2, 4, 6, 6)),
    (lambda: nn.MBConv(4, 6, 2, 5, 2), lambda: TorchMBConv(4, 6, 2, 5, 2), (3, 4, 7, 6)),
    (lambda: nn.MBConv(8, 8, 1, 3, 1), lambda: TorchMBConv(8, 8, 1, 3, 1), (2, 8, 4, 4)),
])
def test_efficient_blocks_match_torch_composites(lab, tor, shape):
    x = np.random.default_rng(3).standard_normal(shape)
    r = compare_with_torch(lab(), tor(), x)
    assert r.ok, r


def test_squeeze_excitation_gradient_check_and_shapes():
    se = nn.SqueezeExcitation(4, 2)
    x = np.random.default_rng(1).standard_normal((2, 4, 3, 3))
    assert se(x).shape == x.shape
    assert check_module(se, x).ok
    assert nn.MBConv(4, 6, 2, 3, 2)(np.zeros((1, 4, 7, 7))).shape == (1, 6, 4, 4)


def test_mbconv_is_cheaper_than_a_plain_convolution_of_the_same_width():
    """An MBConv 32 -> 32 (expansion 4, 3x3) against a plain 3x3 convolution 32 -> 32: the
    inverted residual computes on 128 channels yet has fewer weights than one 3x3 conv 128 -> 128."""
    n = lambda m: sum(v.size for k, v in m.params.items() if "weight" in k or "bias" in k)  # noqa: E731
    mb = nn.MBConv(32, 32, 4, 3)
    assert n(mb) < n(nn.Conv2d(128, 128, 3, bias=False)) / 4
    expected = 32 * 128 + 128 * 9 + (128 * 8 + 8 + 8 * 128 + 128) + 128 * 32 + 2 * (128 + 128 + 32)
    assert n(mb) == expected


# -- the tiny U-Net (labutils.lab.unet) -------------------------------------------------------
def test_tiny_unet_shapes_and_gradient_check():
    from labutils.lab import unet as U
    rng = np.random.default_rng(0)
    model = U.TinyUNet(2, rng)
    x = rng.standard_normal((2, 1, 4, 6))
    assert dict(U.shapes(model, x)) == {
        "input": (2, 1, 4, 6), "contracting (skip)": (2, 2, 4, 6), "bottom (pooled)": (2, 4, 2, 3),
        "expanding (transposed conv)": (2, 2, 4, 6), "concatenated": (2, 4, 4, 6),
        "logits (class last)": (2, 4, 6, 2)}
    assert check_module(model, x).ok


def test_tiny_unet_matches_the_same_network_in_torch():
    from labutils.lab import unet as U
    rng = np.random.default_rng(1)
    model = U.TinyUNet(3, rng)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in model.params.items()}
    x = rng.standard_normal((2, 1, 6, 4))
    F = torch.nn.functional

    def torch_unet(x):
        skip = F.relu(F.conv2d(F.relu(F.conv2d(x, t["down.0.weight"], t["down.0.bias"], padding=1)),
                               t["down.2.weight"], t["down.2.bias"], padding=1))
        bottom = F.relu(F.conv2d(F.max_pool2d(skip, 2), t["bottom.1.weight"], t["bottom.1.bias"], padding=1))
        up = F.conv_transpose2d(bottom, t["up.weight"], t["up.bias"], stride=2)
        h = F.relu(F.conv2d(torch.cat([skip, up], 1), t["head.0.weight"], t["head.0.bias"], padding=1))
        return F.conv2d(h, t["head.2.weight"], t["head.2.bias"]).permute(0, 2, 3, 1)
    y = model(x)
    dy = rng.standard_normal(y.shape)
    model.backward(dy)
    yt = torch_unet(torch.tensor(x))
    yt.backward(torch.tensor(dy))
    from labutils.torchcheck import parity_report
    report = parity_report({"logits": (y, yt.detach())},
                           {k: (model.grads[k], v.grad) for k, v in t.items()})
    assert report.ok, report
