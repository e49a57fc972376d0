"""The fast paths of labutils/nn/conv_kernels.py against torch (issue 21): the batch split into
chunks (forced small here, so that every test runs several chunks and a short last one), the
stride-1 input gradient computed as a convolution with the flipped kernel against the col2im
path, and float32 kept float32 end to end."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labutils.nn import conv_kernels, parallel
from labutils.nn.conv import (conv_backward, conv_forward, conv_transpose_backward,
                              conv_transpose_forward)

CASES = [  # (x shape, weight shape, stride, padding, dilation, groups)
    ((5, 4, 7, 6), (6, 4, 3, 3), 1, 1, 1, 1),
    ((5, 4, 7, 6), (6, 2, 3, 2), 1, ((2, 0), (1, 1)), (2, 1), 2),
    ((3, 6, 9), (2, 6, 4), 1, 0, 2, 1),                          # C_out < C_in: dx as a conv
    ((3, 2, 9), (6, 2, 3), 1, 1, 1, 1),                          # C_out > 2 C_in: col2im
    ((4, 4, 8, 7), (4, 1, 3, 3), 2, 1, 1, 4),                     # depthwise, strided
    ((2, 3, 5, 4, 6), (4, 3, 2, 3, 3), (1, 2, 1), 1, 1, 1),
    ((2, 3, 6, 4, 6), (4, 3, 2, 3, 3), 1, 1, 1, 1),             # 3-D, wide rows, split samples
]


@pytest.fixture(params=[64, 30000, 1 << 30], ids=["tiny chunks", "uneven chunks", "one chunk"])
def chunk_bytes(request, monkeypatch, threads):
    monkeypatch.setattr(conv_kernels, "CHUNK_BYTES", request.param)
    return request.param


@pytest.fixture(params=[1, 2, 3], ids=["one thread", "two threads", "three threads"])
def threads(request, monkeypatch):
    """The chunks split among this many threads (labutils.nn.parallel), whatever the machine."""
    monkeypatch.setattr(parallel, "PARALLEL_FLOPS", 0 if request.param > 1 else float("inf"))
    monkeypatch.setattr(parallel, "_blas_threads", lambda: request.param)
    return request.param


def _torch_conv(x, w, b, stride, padding, dilation, groups):
    nd = x.ndim - 2
    if isinstance(padding, tuple):       # (lo, hi) pairs: pad first, as torch has no such form
        x = F.pad(x, [p for lo_hi in reversed(padding) for p in lo_hi])
        padding = 0
    return getattr(F, f"conv{nd}d")(x, w, b, stride, padding, dilation, groups)


@pytest.mark.parametrize("case", CASES)
def test_conv_pair_matches_torch_in_chunks(case, chunk_bytes):
    xs, ws, stride, padding, dilation, groups = case
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    y, cache = conv_forward(x, w, b, stride, padding, dilation, groups)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = conv_backward(dy, cache)
    t = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    yt = _torch_conv(*t, stride, padding, dilation, groups)
    yt.backward(torch.tensor(dy))
    for ours, theirs in [(y, yt), (dx, t[0].grad), (dw, t[1].grad), (db, t[2].grad)]:
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("stride,padding,output_padding,dilation,groups", [
    (1, 0, 0, 1, 1), (1, 1, 1, 2, 2), (2, 1, 1, 1, 1), (3, 0, 2, 1, 3)])
def test_conv_transpose_pair_matches_torch_in_chunks(stride, padding, output_padding, dilation,
                                                     groups, chunk_bytes):
    rng = np.random.default_rng(1)
    x, w, b = (rng.standard_normal((5, 6, 4, 5)), rng.standard_normal((6, 2, 3, 2)),
               rng.standard_normal(2 * groups))
    y, cache = conv_transpose_forward(x, w, b, stride, padding, output_padding, dilation, groups)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = conv_transpose_backward(dy, cache)
    t = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    yt = F.conv_transpose2d(*t, stride, padding, output_padding, groups, dilation)
    yt.backward(torch.tensor(dy))
    for ours, theirs in [(y, yt), (dx, t[0].grad), (dw, t[1].grad), (db, t[2].grad)]:
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-10)


def test_the_two_input_gradient_paths_agree():
    """Stride 1: dx as a convolution of dy with the flipped kernel equals col2im(W_matᵀ dY)."""
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((3, 4, 6, 7)), rng.standard_normal((4, 2, 3, 2))
    pads = ((1, 2), (0, 1))
    y, cache = conv_forward(x, w, None, 1, pads, (2, 1), 2)
    dy = rng.standard_normal(y.shape)
    as_conv = conv_kernels.input_grad(dy, w, x.shape, pads, (1, 1), (2, 1), 2)
    xp_shape = (3, 4, 6 + 3, 7 + 1)
    via_col2im = conv_kernels._crop(conv_kernels._col2im_chunks(dy, w, xp_shape, (1, 1), (2, 1), 2),
                                    pads, x.shape[2:])
    np.testing.assert_allclose(as_conv, via_col2im, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("transposed", [False, True])
def test_float32_stays_float32(transposed, chunk_bytes):
    """No float64 sneaks in (a float64 bias included: the output keeps the input's dtype)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4)                                     # float64 on purpose
    fwd, bwd = ((conv_transpose_forward, conv_transpose_backward) if transposed else
                (conv_forward, conv_backward))
    y, cache = fwd(x, w, b, 2, 1, 1, 1, 2) if transposed else fwd(x, w, b, 1, 1, 1, 2)
    grads = bwd(np.ones_like(y), cache)
    assert y.dtype == np.float32 and [g.dtype for g in grads[:2]] == [np.float32] * 2
