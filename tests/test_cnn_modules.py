"""Chapter 3 modules (convolution, transposed convolution, pooling, CNN blocks) against torch in
float64, against central differences, and their errors on bad input."""
import numpy as np
import pytest
import torch

import labutils.nn as nn
from labutils.gradcheck import check_module
from labutils.nn.conv import (ConvCache, ConvTransposeCache, col2im, conv_backward, conv_forward,
                              conv_output_size, conv_transpose_backward, conv_transpose_forward,
                              im2col)
from labutils.nn.pool import (adaptive_avg_pool_backward, adaptive_avg_pool_forward, avg_pool_backward,
                              avg_pool_forward, max_pool_backward, max_pool_forward, pool_output_size)
from labutils.torchcheck import compare_with_torch

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")

CONV = {1: (nn.Conv1d, torch.nn.Conv1d), 2: (nn.Conv2d, torch.nn.Conv2d),
        3: (nn.Conv3d, torch.nn.Conv3d)}
CONVT = {1: (nn.ConvTranspose1d, torch.nn.ConvTranspose1d),
         2: (nn.ConvTranspose2d, torch.nn.ConvTranspose2d)}


def _ints(rng, lo, hi, n):
    return tuple(int(v) for v in rng.integers(lo, hi, n))


def _conv_cases(n_cases, seed):
    """Random valid Conv configurations: (nd, args, x)."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < n_cases:
        nd = int(rng.integers(1, 4))
        g = int(rng.choice([1, 2, 3]))
        cin, cout = g * int(rng.integers(1, 3)), g * int(rng.integers(1, 3))
        k, s, d = _ints(rng, 1, 4, nd), _ints(rng, 1, 3, nd), _ints(rng, 1, 3, nd)
        p = _ints(rng, 0, 3, nd)
        if rng.random() < 0.25:
            s, p = (1,) * nd, str(rng.choice(["same", "valid"]))
        size = _ints(rng, 3, 8 if nd < 3 else 6, nd)
        pads = [(dd * (kk - 1)) if p == "same" else 0 if p == "valid" else 2 * pp
                for kk, dd, pp in zip(k, d, p if isinstance(p, tuple) else (0,) * nd)]
        if any(dd * (kk - 1) + 1 > n + q for kk, dd, n, q in zip(k, d, size, pads)):
            continue
        x = rng.standard_normal((int(rng.integers(1, 3)), cin, *size))
        cases.append((nd, (cin, cout, k, s, p, d, g, bool(rng.integers(0, 2))), x))
    return cases


@pytest.mark.parametrize("nd,args,x", _conv_cases(60, 0))
def test_conv_matches_torch(nd, args, x):
    lab, tor = CONV[nd]
    r = compare_with_torch(lab(*args), tor(*args), x)
    assert r.ok, r


def _convt_cases(n_cases, seed):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < n_cases:
        nd = int(rng.integers(1, 3))
        g = int(rng.choice([1, 2]))
        cin, cout = g * int(rng.integers(1, 3)), g * int(rng.integers(1, 3))
        k, s, d, p = _ints(rng, 1, 4, nd), _ints(rng, 1, 3, nd), _ints(rng, 1, 3, nd), _ints(rng, 0, 2, nd)
        op = tuple(int(rng.integers(0, max(a, b))) for a, b in zip(s, d))
        size = _ints(rng, 2, 6, nd)
        out = [(n - 1) * ss - 2 * pp + dd * (kk - 1) + o + 1
               for n, ss, pp, dd, kk, o in zip(size, s, p, d, k, op)]
        if min(out) < 1:
            continue
        x = rng.standard_normal((2, cin, *size))
        cases.append((nd, (cin, cout, k, s, p, op, g, bool(rng.integers(0, 2)), d), x))
    return cases


@pytest.mark.parametrize("nd,args,x", _convt_cases(30, 1))
def test_conv_transpose_matches_torch(nd, args, x):
    lab, tor = CONVT[nd]
    r = compare_with_torch(lab(*args), tor(*args), x)
    assert r.ok, r


@pytest.mark.parametrize("seed", range(5))
def test_conv_transpose_is_the_adjoint_of_conv(seed):
    """<conv(x), y> = <x, conv_transpose(y)> with the same weight."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((4, 3, 3, 2))
    x = rng.standard_normal((2, 3, 9, 8))
    y, _ = conv_forward(x, w, None, stride=2, padding=1, dilation=(1, 2))
    v = rng.standard_normal(y.shape)
    op = tuple((n + 2 - dd * (k - 1) - 1) % 2 for n, k, dd in zip(x.shape[2:], w.shape[2:], (1, 2)))
    xt, _ = conv_transpose_forward(v, w, None, stride=2, padding=1, dilation=(1, 2), output_padding=op)
    assert xt.shape == x.shape
    assert abs(np.sum(y * v) - np.sum(x * xt)) <= 1e-10 * np.abs(y * v).sum()


def _pool_cases(n_cases, seed):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < n_cases:
        nd, kind = int(rng.integers(1, 3)), str(rng.choice(["max", "avg"]))
        k, s = _ints(rng, 1, 5, nd), _ints(rng, 1, 4, nd)
        p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
        ceil = bool(rng.integers(0, 2))
        size = _ints(rng, 2, 9, nd)
        x = rng.standard_normal((int(rng.integers(1, 3)), 2, *size))
        if kind == "max":
            d = _ints(rng, 1, 3, nd)
            args = (k, s, p, d, False, ceil)
        else:
            d = (1,) * nd
            args = (k, s, p, ceil, bool(rng.integers(0, 2)))
        try:
            out = [pool_output_size(n, kk, ss, pp, dd, ceil) for n, kk, ss, pp, dd in zip(size, k, s, p, d)]
        except ValueError:          # the window does not fit: refused, as torch's pooling does
            continue
        # every window must hold at least one real entry (torch gives -inf otherwise)
        if min(out) < 1 or any(dd * (kk - 1) + 1 > n + 2 * pp for n, kk, pp, dd in zip(size, k, p, d)):
            continue
        if any((o - 1) * ss - pp >= n or kk * dd <= pp for o, ss, pp, n, kk, dd in zip(out, s, p, size, k, d)):
            continue
        cases.append((nd, kind, args, x))
    return cases


@pytest.mark.parametrize("nd,kind,args,x", _pool_cases(50, 2))
def test_pool_matches_torch(nd, kind, args, x):
    lab = {"max": [nn.MaxPool1d, nn.MaxPool2d], "avg": [nn.AvgPool1d, nn.AvgPool2d]}[kind][nd - 1]
    tor = getattr(torch.nn, lab.__name__)
    r = compare_with_torch(lab(*args), tor(*args), x)
    assert r.ok, r


def test_avgpool_ceil_mode_edge_case_from_the_issue():
    y = nn.AvgPool1d(3, 2, 1, ceil_mode=True)(np.arange(1.0, 7.0)[None, None])
    np.testing.assert_allclose(y[0, 0], [1, 3, 5, 3])
    t = torch.nn.AvgPool1d(3, 2, 1, ceil_mode=True)(torch.arange(1.0, 7.0)[None, None])
    np.testing.assert_allclose(y[0, 0], t[0, 0].numpy())


@pytest.mark.parametrize("lab,tor,shape", [
    (lambda: nn.Conv2d(3, 4, 3, 2, 1), lambda: torch.nn.Conv2d(3, 4, 3, 2, 1), (3, 7, 6)),
    (lambda: nn.Conv1d(2, 4, 3, groups=2), lambda: torch.nn.Conv1d(2, 4, 3, groups=2), (2, 8)),
    (lambda: nn.ConvTranspose2d(2, 3, 3, 2, 1, 1), lambda: torch.nn.ConvTranspose2d(2, 3, 3, 2, 1, 1), (2, 4, 5)),
])
def test_unbatched_convolution_is_a_batch_of_one(lab, tor, shape):
    r = compare_with_torch(lab(), tor(), np.random.default_rng(9).standard_normal(shape))
    assert r.ok, r


def test_unbatched_pooling_and_divisor_override():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 6))
    r = compare_with_torch(nn.MaxPool2d(2, 1, 1), torch.nn.MaxPool2d(2, 1, 1), x)
    assert r.ok, r
    r = compare_with_torch(nn.AvgPool2d(3, 2, 1, divisor_override=2),
                           torch.nn.AvgPool2d(3, 2, 1, divisor_override=2), x[None])
    assert r.ok, r


@pytest.mark.parametrize("out", [1, 2, 3, (2, 5), (None, 2), (7, 4)])
def test_adaptive_avg_pool_matches_torch(out):
    x = np.random.default_rng(4).standard_normal((2, 3, 7, 9))
    r = compare_with_torch(nn.AdaptiveAvgPool2d(out), torch.nn.AdaptiveAvgPool2d(out), x)
    assert r.ok, r


def test_max_pool_gradient_goes_to_the_first_maximum_on_ties():
    x = np.zeros((1, 1, 2, 2))
    m = nn.MaxPool2d(2)
    m(x)
    dx = m.backward(np.ones((1, 1, 1, 1)))
    tx = torch.zeros((1, 1, 2, 2), dtype=torch.float64, requires_grad=True)
    torch.nn.MaxPool2d(2)(tx).sum().backward()
    np.testing.assert_array_equal(dx, tx.grad.numpy())
    assert dx[0, 0, 0, 0] == 1 and dx.sum() == 1


# -- gradient checks -------------------------------------------------------------------------
@pytest.mark.parametrize("make,shape", [
    (lambda: nn.Conv1d(2, 3, 3, stride=2, padding=1, dilation=2), (2, 2, 9)),
    (lambda: nn.Conv2d(4, 4, (3, 2), stride=(2, 1), padding=1, groups=2), (2, 4, 5, 6)),
    (lambda: nn.Conv2d(2, 3, 3, padding="same", dilation=2), (1, 2, 6, 6)),
    (lambda: nn.Conv3d(2, 2, 2, stride=2, padding=1), (1, 2, 4, 3, 4)),
    (lambda: nn.ConvTranspose1d(2, 3, 3, stride=2, padding=1, output_padding=1), (2, 2, 5)),
    (lambda: nn.ConvTranspose2d(2, 4, 3, stride=2, groups=2, dilation=2), (1, 2, 3, 4)),
    (lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False), (2, 2, 6, 7)),
    (lambda: nn.AdaptiveAvgPool2d((3, 2)), (2, 2, 7, 5)),
    (lambda: nn.DepthwiseSeparableConv2d(3, 4), (2, 3, 5, 5)),
    (lambda: nn.DenseBlock(2, 2, 2, norm_layer=None), (2, 2, 4, 4)),
])
def test_gradients_match_central_differences(make, shape):
    x = np.random.default_rng(5).standard_normal(shape)
    report = check_module(make(), x)
    assert report.ok, report


def test_max_pool_gradient_check_away_from_ties():
    x = np.random.default_rng(6).permutation(60).reshape(1, 3, 4, 5) / 10.0  # distinct values
    report = check_module(nn.MaxPool2d(2, 1, padding=1, ceil_mode=True), x)
    assert report.ok, report


# -- blocks against torch twins with the same child names ------------------------------------
class TorchSeparable(torch.nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.depthwise = torch.nn.Conv2d(cin, cin, 3, 1, 1, groups=cin)
        self.pointwise = torch.nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class TorchBottleneck(torch.nn.Module):
    def __init__(self, cin, width, cout, stride=1, groups=1, norm=True):
        super().__init__()
        bn = (lambda c: torch.nn.BatchNorm2d(c)) if norm else (lambda c: torch.nn.Identity())
        self.conv1 = torch.nn.Conv2d(cin, width, 1, bias=not norm)
        self.bn1 = bn(width)
        self.conv2 = torch.nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=not norm)
        self.bn2 = bn(width)
        self.conv3 = torch.nn.Conv2d(width, cout, 1, bias=not norm)
        self.bn3 = bn(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            parts = [torch.nn.Conv2d(cin, cout, 1, stride, bias=not norm)]
            if norm:
                parts.append(torch.nn.BatchNorm2d(cout))
            self.downsample = torch.nn.Sequential(*parts)

    def forward(self, x):
        r = torch.relu
        h = r(self.bn1(self.conv1(x)))
        h = r(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        return r(h + (x if self.downsample is None else self.downsample(x)))


class TorchDense(torch.nn.Module):
    def __init__(self, cin, g, n, norm=True):
        super().__init__()
        def layer(c):
            parts = [torch.nn.BatchNorm2d(c)] if norm else []
            return torch.nn.Sequential(*parts, torch.nn.ReLU(), torch.nn.Conv2d(c, g, 3, 1, 1, bias=not norm))
        self.layers = torch.nn.ModuleList([layer(cin + i * g) for i in range(n)])

    def forward(self, x):
        for m in self.layers:
            x = torch.cat([x, m(x)], 1)
        return x


@pytest.mark.parametrize("lab,tor,shape", [
    (lambda: nn.DepthwiseSeparableConv2d(3, 5), lambda: TorchSeparable(3, 5), (2, 3, 6, 6)),
    (lambda: nn.NiNBlock(3, 4, 3, 2, 1),
     lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, 2, 1), torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 1),
                                 torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 1), torch.nn.ReLU()), (2, 3, 7, 7)),
    (lambda: nn.Bottleneck(8, 4, 8), lambda: TorchBottleneck(8, 4, 8), (2, 8, 5, 5)),
    (lambda: nn.Bottleneck(6, 4, 8, stride=2), lambda: TorchBottleneck(6, 4, 8, 2), (3, 6, 6, 5)),
    (lambda: nn.Bottleneck(6, 4, 8, stride=2, norm_layer=None),
     lambda: TorchBottleneck(6, 4, 8, 2, norm=False), (2, 6, 6, 5)),
    (lambda: nn.ResNeXtBlock(8, 8, cardinality=4, base_width=2, stride=2),
     lambda: TorchBottleneck(8, 8, 8, 2, groups=4), (2, 8, 6, 6)),
    (lambda: nn.DenseBlock(3, 2, 3), lambda: TorchDense(3, 2, 3), (2, 3, 5, 5)),
    (lambda: nn.DenseBlock(3, 2, 2, norm_layer=None), lambda: TorchDense(3, 2, 2, norm=False), (2, 3, 4, 4)),
])
def test_blocks_match_torch_twins(lab, tor, shape):
    x = np.random.default_rng(7).standard_normal(shape)
    r = compare_with_torch(lab(), tor(), x)
    assert r.ok, r


def test_separable_parameter_ratio():
    cin, cout, k = 32, 64, 3
    sep = nn.DepthwiseSeparableConv2d(cin, cout, k, bias=False)
    std = nn.Conv2d(cin, cout, k, bias=False)
    n_sep = sum(v.size for v in sep.params.values())
    n_std = sum(v.size for v in std.params.values())
    assert n_sep == cin * k * k + cin * cout == nn.conv_params(cin, cin, k, cin) + nn.conv_params(cin, cout, 1)
    assert n_sep / n_std == pytest.approx(1 / cout + 1 / k ** 2)


def test_float32_works():
    x = np.random.default_rng(8).standard_normal((2, 3, 6, 6)).astype(np.float32)
    m = nn.Conv2d(3, 4, 3, padding=1, dtype=np.float32)
    y = m(x)
    assert y.dtype == np.float32 and m.backward(np.ones_like(y)).dtype == np.float32
    assert m.grads["weight"].dtype == np.float32
    p = nn.MaxPool2d(2)
    assert p.backward(np.ones_like(p(x))).dtype == np.float32
    a = nn.AvgPool2d(2)
    assert a(x).dtype == np.float32 and a.backward(np.ones_like(a(x))).dtype == np.float32


# -- bad input --------------------------------------------------------------------------------
def test_kernel_larger_than_padded_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Conv2d: the kernel .* larger than the padded input"):
        nn.Conv2d(1, 1, 5, padding=1)(np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match=r"Conv1d: the kernel \(size 3, dilation 3.*spans 7"):
        nn.Conv1d(1, 1, 3, dilation=3)(np.zeros((1, 1, 6)))
    with pytest.raises(ValueError, match="MaxPool2d: the window"):
        nn.MaxPool2d(4)(np.zeros((1, 1, 3, 3)))


@pytest.mark.parametrize("make,x,pattern", [
    (lambda: nn.Conv2d(3, 4, 3), np.zeros((3, 5)), "Conv2d: input must have 3 or 4 dimensions"),
    (lambda: nn.Conv2d(3, 4, 3), np.zeros((2, 2, 5, 5)), r"Conv2d: input must have shape \(\.\.\., 3"),
    (lambda: nn.Conv1d(3, 4, 3), np.zeros((2, 3, 5), dtype=int), "Conv1d: input must have a float"),
    (lambda: nn.Conv2d(1, 1, 1), np.full((1, 1, 2, 2), np.nan), "Conv2d: input contains NaN"),
    (lambda: nn.ConvTranspose2d(2, 1, 3), np.zeros((1, 3, 4, 4)), "ConvTranspose2d: input must have shape"),
    (lambda: nn.AvgPool1d(2), np.zeros(4), "AvgPool1d: input must have 2 or 3 dimensions"),
])
def test_bad_input(make, x, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        make()(x)


def test_bad_arguments():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="output_padding .* must be smaller"):
        nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="at most half the kernel"):
        nn.MaxPool2d(2, padding=2)
    with pytest.raises(TypeError, match="kernel_size must be an int or a tuple of 2 ints"):
        nn.Conv2d(3, 4, (3, 3, 3))
    m = nn.Conv2d(1, 1, 3)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        m.backward(np.zeros((1, 1, 1, 1)))
    m(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="grad_output must have the output's shape"):
        m.backward(np.zeros((1, 1, 3, 3)))


def test_output_size_formula():
    for n in range(5, 12):
        for k, s, p, d in [(3, 1, 1, 1), (3, 2, 1, 1), (5, 2, 2, 1), (3, 1, 2, 2), (2, 3, 0, 3)]:
            y = torch.nn.functional.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s,
                                           padding=p, dilation=d)
            assert conv_output_size(n, k, s, p, d) == y.shape[-1]


# -- the public pairs (what the modules wrap and the chapter prints) ----------------------------
def _torch_grads(fn, *arrays):
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*ts)
    return y, ts


@pytest.mark.parametrize("seed", range(4))
def test_conv_pair_matches_torch_autograd(seed):
    """conv_forward / conv_backward called directly: groups, dilation, stride, padding."""
    rng = np.random.default_rng(seed)
    g = int(rng.integers(1, 3))
    x = rng.standard_normal((2, 2 * g, 7, 6))
    w = rng.standard_normal((2 * g, 2, 3, 2))
    b = rng.standard_normal(2 * g)
    kw = dict(stride=(1, 2), padding=(1, 0), dilation=(2, 1), groups=g)
    y, cache = conv_forward(x, w, b, **kw)
    assert isinstance(cache, ConvCache) and cache.x_shape == x.shape and cache.groups == g
    yt, (xt, wt, bt) = _torch_grads(lambda a, c, d: torch.nn.functional.conv2d(a, c, d, **kw), x, w, b)
    dy = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(dy))
    assert np.abs(y - yt.detach().numpy()).max() < 1e-10
    for mine, ref in zip(conv_backward(dy, cache), (xt.grad, wt.grad, bt.grad)):
        assert np.abs(mine - ref.numpy()).max() < 1e-10


def test_conv_transpose_pair_matches_torch_autograd():
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((2, 4, 5, 4)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(6)
    kw = dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1)
    y, cache = conv_transpose_forward(x, w, b, **kw)
    assert isinstance(cache, ConvTransposeCache)
    yt, ts = _torch_grads(lambda a, c, d: torch.nn.functional.conv_transpose2d(a, c, d, **kw), x, w, b)
    dy = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(dy))
    assert np.abs(y - yt.detach().numpy()).max() < 1e-10
    for mine, ref in zip(conv_transpose_backward(dy, cache), ts):
        assert np.abs(mine - ref.grad.numpy()).max() < 1e-10


@pytest.mark.parametrize("kind", ["max", "avg", "adaptive"])
def test_pool_pairs_match_torch_autograd(kind):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 7, 6))
    if kind == "max":
        y, cache = max_pool_forward(x, 3, 2, 1, 1, ceil_mode=True)
        ref = lambda a: torch.nn.functional.max_pool2d(a, 3, 2, 1, 1, ceil_mode=True)
        back = max_pool_backward
    elif kind == "avg":
        y, cache = avg_pool_forward(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)
        ref = lambda a: torch.nn.functional.avg_pool2d(a, 3, 2, 1, ceil_mode=True, count_include_pad=False)
        back = avg_pool_backward
    else:
        y, cache = adaptive_avg_pool_forward(x, (4, 3))
        ref = lambda a: torch.nn.functional.adaptive_avg_pool2d(a, (4, 3))
        back = adaptive_avg_pool_backward
    yt, (xt,) = _torch_grads(ref, x)
    dy = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(dy))
    assert np.abs(y - yt.detach().numpy()).max() < 1e-10
    assert np.abs(back(dy, cache) - xt.grad.numpy()).max() < 1e-10


def test_im2col_and_col2im_are_adjoint():
    """<im2col(x), c> = <x, col2im(c)>: col2im is the transpose of im2col."""
    rng = np.random.default_rng(5)
    xp = rng.standard_normal((2, 4, 7, 8))
    kernel, stride, dilation, groups = (3, 2), (2, 1), (1, 2), 2
    out = tuple((n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(xp.shape[2:], kernel, stride, dilation))
    cols = im2col(xp, kernel, stride, dilation, out, groups)
    assert cols.shape == (groups, 2 * 3 * 2, 2 * out[0] * out[1])
    c = rng.standard_normal(cols.shape)
    back = col2im(c, xp.shape, kernel, stride, dilation, out, groups)
    assert abs(np.sum(cols * c) - np.sum(xp * back)) <= 1e-10 * np.abs(cols * c).sum()


@pytest.mark.parametrize("make,error,message", [
    (lambda: nn.Conv2d(1, 1, 0), ValueError, "Conv2d: kernel_size must be a positive int, got 0"),
    (lambda: nn.Conv1d(0, 1, 3), ValueError, "Conv1d: in_channels must be a positive int, got 0"),
    (lambda: nn.Conv2d(1, 1, 3, padding=-1), ValueError, "Conv2d: padding must be an int >= 0, got -1"),
    (lambda: nn.ConvTranspose2d(1, 1, 3, stride=(1, 0)), ValueError,
     "ConvTranspose2d: stride must be a positive int, got 0"),
    (lambda: nn.MaxPool2d(2, dilation=0), ValueError, "MaxPool2d: dilation must be a positive int, got 0"),
    (lambda: nn.AvgPool1d(2.5), TypeError, "AvgPool1d: kernel_size must be an int or a tuple of 1 ints, got 2.5"),
])
def test_argument_errors_follow_the_convention(make, error, message):
    """'ClassName: what was expected, got what came'."""
    with pytest.raises(error) as e:
        make()
    assert str(e.value).startswith(message)


def test_public_functions_and_methods_have_type_hints():
    import inspect

    import labutils.lab.receptive_field as lab_rf
    import labutils.nn.cnn_arch as arch
    import labutils.nn.cnn_blocks as blocks
    import labutils.nn.conv as conv
    import labutils.nn.pool as pool
    import labutils.nn.spatial as spatial
    import labutils.viz.receptive_field as viz_rf
    missing = []
    for mod in (conv, pool, blocks, arch, spatial, lab_rf, viz_rf):
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.isfunction(obj):
                fns = [obj]
            elif inspect.isclass(obj) and not issubclass(obj, tuple):
                fns = [f for k, f in inspect.getmembers(obj, inspect.isfunction)
                       if (not k.startswith("_") or k == "__init__")
                       and f.__module__ == mod.__name__]
            else:
                continue
            for f in fns:
                names = [p for p in inspect.signature(f).parameters if p not in ("self", "cls")]
                missing += [f"{mod.__name__}.{f.__qualname__}: {a}" for a in names + ["return"]
                            if a not in f.__annotations__]
    assert not missing, missing
