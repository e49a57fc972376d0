"""Autograder checks for chapter 3 (convolutional networks). Each takes the student's function.

    check_conv2d_forward(conv2d_forward)          y = conv2d_forward(x, w, b, stride, padding)
    check_conv2d_backward(conv2d_backward)        dx, dw, db = conv2d_backward(dy, x, w, stride, padding)
    check_maxpool2d_backward(maxpool2d_backward)  dx = maxpool2d_backward(dy, x, kernel_size, stride)
    check_conv_output_size(conv_output_size)      n_out = conv_output_size(n, k, stride, padding, dilation)
    check_receptive_field(receptive_field)        r = receptive_field([(k, s, d), ...])

and, from ``cnn_layers``: check_im2col, check_conv_transpose2d, check_avgpool2d_backward,
check_conv_cost, check_separable_cost. Every check takes ``hidden=True`` (the hidden-test cell).
"""
from collections.abc import Callable

import numpy as np

from .. import nn
from ..nn.conv import conv_backward, conv_forward
from ..tolerances import GRADER_TIME_LIMIT
from .core import check_function, gradient_check
from .cnn_layers import (check_avgpool2d_backward, check_capstone, check_conv_cost,
                         check_conv_transpose2d, check_im2col, check_separable_cost, no_pixel_loop)
from .hidden import seed as hidden_seed

__all__ = ["check_conv2d_forward", "check_conv2d_backward", "check_maxpool2d_backward",
           "check_conv_output_size", "check_receptive_field", "check_im2col",
           "check_conv_transpose2d", "check_avgpool2d_backward", "check_conv_cost",
           "check_separable_cost", "check_capstone"]


def _rng(seed: int):
    return np.random.default_rng(seed)


def _title(name: str, hidden: bool):
    return f"Hidden tests of {name}" if hidden else f"Checking {name}"


# -- conv2d forward --------------------------------------------------------------------------
def _conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1,
                    padding: int = 0):
    return conv_forward(x, w, b, stride, padding)[0]


def _conv_cases(seed: int):
    r = _rng(seed)
    shapes = [("batch of 2, 3 -> 4 channels, 3x3 kernel", (2, 3, 6, 6), (4, 3, 3, 3), 1, 0),
              ("stride 2 and padding 1", (2, 2, 7, 7), (3, 2, 3, 3), 2, 1),
              ("batch of 1, rectangular input, 2x3 kernel", (1, 2, 5, 8), (2, 2, 2, 3), 1, 1),
              ("stride 3, padding 2, size not divisible", (2, 3, 8, 7), (3, 3, 3, 3), 3, 2),
              ("1x1 kernel, square channels", (3, 4, 4, 4), (4, 4, 1, 1), 1, 0)]
    return [(label, (r.standard_normal(xs), r.standard_normal(ws), r.standard_normal(ws[0])),
             {"stride": s, "padding": p}) for label, xs, ws, s, p in shapes]


# What a convolution exercise must not call: the notebook's own loop version, and SciPy's
# convolutions (torch and labutils' conv_forward are forbidden for every exercise).
_CONV_FORBID = ("naive_conv2d", "scipy.signal", "scipy.ndimage")
_CONV_ALLOW = ("conv_output_size", "__main__.im2col")   # earlier exercises (see cnn_layers)


def check_conv2d_forward(conv2d_forward: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                         hidden: bool = False) -> None:
    """hidden=True: the hidden tests (other shapes and seeds), with the same watch and limits.
    Both reject a Python loop over output positions (counted, not timed)."""
    cases = _conv_cases(hidden_seed(4321) if hidden else 0)
    report = check_function(conv2d_forward, _conv2d_forward, cases, time_limit_s=time_limit_s,
                            title="Hidden tests of conv2d_forward" if hidden else
                            "Checking conv2d_forward", forbid=_CONV_FORBID, allow=_CONV_ALLOW,
                            finish=False, mistakes={
        "the kernel is flipped (that is the textbook convolution): deep-learning layers compute "
        "the cross-correlation, which slides the kernel as it is":
            lambda x, w, b, stride=1, padding=0: conv_forward(x, w[:, :, ::-1, ::-1], b, stride, padding)[0],
        "the bias is missing (add b[f] to every position of output channel f)":
            lambda x, w, b, stride=1, padding=0: conv_forward(x, w, None, stride, padding)[0],
        "the stride is ignored (a window must start every `stride` pixels)":
            lambda x, w, b, stride=1, padding=0: conv_forward(x, w, b, 1, padding)[0],
        "the padding is ignored (pad p zeros on each side of both spatial axes)":
            lambda x, w, b, stride=1, padding=0: conv_forward(x, w, b, stride, 0)[0],
        "padding on one side only: the zeros go before AND after, along each spatial axis":
            lambda x, w, b, stride=1, padding=0: conv_forward(x, w, b, stride, ((padding, 0), (padding, 0)))[0],
    })
    r = _rng(5)
    no_pixel_loop(report, conv2d_forward, lambda h: (r.standard_normal((1, 2, h, 6)),
                                                     r.standard_normal((3, 2, 3, 3)), np.zeros(3)),
                  time_limit_s)
    report.finish()


# -- conv2d backward (gradient check) -----------------------------------------------------------
def _conv2d_backward(dy: np.ndarray, x: np.ndarray, w: np.ndarray, stride: int = 1,
                     padding: int = 0):
    _, cache = conv_forward(x, w, None, stride, padding)
    return conv_backward(dy, cache)


def _backward_cases(seed: int):
    r = _rng(seed)
    cases = []
    for label, xs, ws, s, p in [("batch of 2, 3x3 kernel", (2, 2, 5, 5), (3, 2, 3, 3), 1, 0),
                                ("stride 2, padding 1", (2, 2, 6, 7), (2, 2, 3, 3), 2, 1),
                                ("batch of 1, 2x3 kernel, padding 1", (1, 3, 4, 5), (2, 3, 2, 3), 1, 1)]:
        x, w = r.standard_normal(xs), r.standard_normal(ws)
        y = conv_forward(x, w, None, s, p)[0]
        cases.append((label, (r.standard_normal(y.shape), x, w), {"stride": s, "padding": p}))
    return cases


def _wrong_backward(**change: object):
    def wrong(dy: np.ndarray, x: np.ndarray, w: np.ndarray, stride: int = 1,
              padding: int = 0) -> None:
        dx, dw, db = _conv2d_backward(dy, x, w, stride, padding)
        if "flip" in change:
            dx = _conv2d_backward(dy, x, w[:, :, ::-1, ::-1], stride, padding)[0]
        if "mean" in change:
            dw = dw / len(x)
        if "db_batch" in change:
            db = dy.sum(axis=(2, 3))
        if "db_pos" in change:
            db = dy.sum(axis=0)
        if "uncropped" in change:   # the gradient of the padded input, padding rows included
            xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
            dx = _conv2d_backward(dy, xp, w, stride, 0)[0]
        if "zero-padded" in change:
            dx = np.pad(dx, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        if "swapped" in change:
            dw = dw.transpose(1, 0, 2, 3)
        if "overwrite" in change:
            dx = _overwriting_dx(dy, x, w, stride, padding)
        return dx, dw, db
    return wrong


def _overwriting_dx(dy: np.ndarray, x: np.ndarray, w: np.ndarray, stride: int, padding: int):
    """dx by kernel offsets with = instead of +=: where windows overlap, the last offset wins."""
    n, c, h, wd = x.shape
    _, _, kh, kw = w.shape
    ho, wo = dy.shape[2:]
    dxp = np.zeros((n, c, h + 2 * padding, wd + 2 * padding))
    for a in range(kh):
        for b in range(kw):
            sl = (slice(None), slice(None), slice(a, a + stride * ho, stride),
                  slice(b, b + stride * wo, stride))
            dxp[sl] = np.einsum("nfhw,fc->nchw", dy, w[:, :, a, b])
    return dxp[:, :, padding:padding + h, padding:padding + wd]


def check_conv2d_backward(conv2d_backward: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                          hidden: bool = False) -> None:
    """hidden=True: the same cases with values from the class seed."""
    cases = _backward_cases(hidden_seed(1001) if hidden else 1)
    report = check_function(conv2d_backward, _conv2d_backward, cases, names=["dx", "dw", "db"],
                            time_limit_s=time_limit_s, finish=False, forbid=_CONV_FORBID,
                            allow=_CONV_ALLOW, title=_title("conv2d_backward", hidden), mistakes={
        "dx slides the kernel flipped by 180°: each input received, from every window it was "
        "in, the weight that multiplied it times that output's gradient": _wrong_backward(flip=True),
        "dw is a sum over the batch, not a mean": _wrong_backward(mean=True),
        "db must also be summed over the batch": _wrong_backward(db_batch=True),
        "db must also be summed over all output positions": _wrong_backward(db_pos=True),
        "dw has the kernel's layout (out channels, in channels, kh, kw): its first two axes "
        "are swapped": _wrong_backward(swapped=True),
        "where windows overlap, ADD the contributions to dx (one input is in several "
        "windows): an assignment keeps only the last one": _wrong_backward(overwrite=True),
        "dx still has the padding: it is the gradient of the padded input; cut the padding "
        "rows and columns off each side":
            [_wrong_backward(uncropped=True), _wrong_backward(**{"zero-padded": True})],
    })
    # the gradient check proper: the student's gradients against central differences
    label, (dy, x, w), kw = cases[1]
    b = np.zeros(w.shape[0])
    gradient_check(report, conv2d_backward, (dy, x, w), lambda: np.sum(dy * conv_forward(x, w, b, **kw)[0]),
                   (x, w, b), ["dx", "dw", "db"], kw, time_limit_s, forbid=_CONV_FORBID,
                   allow=_CONV_ALLOW)    # L = <dy, y>
    report.finish()


# -- max-pool backward ---------------------------------------------------------------------
def _maxpool2d_backward(dy: np.ndarray, x: np.ndarray, kernel_size: int = 2,
                        stride: int | None = None):
    m = nn.MaxPool2d(kernel_size, stride)
    m(x)
    return m.backward(dy)


def _pool_cases(seed: int):
    r = _rng(seed)
    cases = []
    for label, xs, k, s, ties in [("2x2 windows, stride 2", (2, 3, 4, 6), 2, None, False),
                                  ("overlapping 3x3 windows, stride 2", (2, 2, 7, 7), 3, 2, False),
                                  ("batch of 1, overlapping 2x2 windows, stride 1", (1, 2, 5, 5), 2, 1, False),
                                  ("ties inside a window (integer-valued input)", (2, 2, 4, 4), 2, 2, True)]:
        x = r.integers(0, 2, xs).astype(float) if ties else r.standard_normal(xs)
        y = nn.MaxPool2d(k, s)(x)
        cases.append((label, (r.standard_normal(y.shape), x), {"kernel_size": k, "stride": s}))
    return cases


def _pool_avg(dy: np.ndarray, x: np.ndarray, kernel_size: int = 2, stride: int | None = None):
    m = nn.AvgPool2d(kernel_size, stride)
    m(x)
    return m.backward(dy)


def _pool_overwrite(dy: np.ndarray, x: np.ndarray, kernel_size: int = 2,
                    stride: int | None = None):
    """Assignment instead of accumulation: where windows share an argmax, one dy wins."""
    s = kernel_size if stride is None else stride
    n, c, h, w = dy.shape
    flat = np.zeros(x.size)
    win = np.lib.stride_tricks.sliding_window_view(x, (kernel_size, kernel_size), axis=(2, 3))
    win = win[:, :, ::s, ::s][:, :, :h, :w].reshape(n, c, h, w, -1)
    a = win.argmax(-1)
    i = np.arange(h)[:, None] * s + a // kernel_size
    j = np.arange(w) * s + a % kernel_size
    idx = ((np.arange(n)[:, None, None, None] * c + np.arange(c)[:, None, None]) * x.shape[2] + i) * x.shape[3] + j
    flat[idx.ravel()] = dy.ravel()
    return flat.reshape(x.shape)


def _pool_all_ties(dy: np.ndarray, x: np.ndarray, kernel_size: int = 2, stride: int | None = None):
    s = kernel_size if stride is None else stride
    y = nn.MaxPool2d(kernel_size, s)(x)
    dx = np.zeros_like(x)
    for a in range(kernel_size):
        for b in range(kernel_size):
            sl = (slice(None), slice(None), slice(a, a + s * (y.shape[2] - 1) + 1, s),
                  slice(b, b + s * (y.shape[3] - 1) + 1, s))
            dx[sl] += dy * (x[sl] == y)
    return dx


def _pool_routed(dy: np.ndarray, x: np.ndarray, k: int, s: int, last: bool = False):
    """Route dy[i, j] to the first (or last) maximum of the window at (s·i, s·j), for the
    windows dy has, whatever the stride: how a student's loop over dy's positions works."""
    n, c, h, w = dy.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    flat = win[:, :, :h, :w].reshape(n, c, h, w, -1)
    a = k * k - 1 - flat[..., ::-1].argmax(-1) if last else flat.argmax(-1)
    i, j = np.arange(h)[:, None] * s + a // k, np.arange(w) * s + a % k
    dx = np.zeros_like(x)
    np.add.at(dx, (np.arange(n)[:, None, None, None], np.arange(c)[:, None, None], i, j), dy)
    return dx


def _pool_last_max(dy: np.ndarray, x: np.ndarray, kernel_size: int = 2, stride: int | None = None):
    """Ties resolved to the LAST maximum of each window (>= where > is right)."""
    return _pool_routed(dy, x, kernel_size, kernel_size if stride is None else stride, last=True)


def check_maxpool2d_backward(maxpool2d_backward: Callable,
                             time_limit_s: float = GRADER_TIME_LIMIT,
                             hidden: bool = False) -> None:
    """hidden=True: the same cases with values from the class seed."""
    check_function(maxpool2d_backward, _maxpool2d_backward,
                   _pool_cases(hidden_seed(1002) if hidden else 2), time_limit_s=time_limit_s,
                   title=_title("maxpool2d_backward", hidden),
                   allow=_CONV_ALLOW, mistakes={
        "the gradient is spread evenly over the window: that is average pooling; max pooling "
        "sends all of dy to the argmax": _pool_avg,
        "where windows overlap, add (+=) the gradients: one input can be the maximum of "
        "several windows": _pool_overwrite,
        "with ties, send the gradient to ONE position (torch: the first maximum in row-major "
        "order), not to every entry equal to the maximum": _pool_all_ties,
        "stride=None means stride = kernel_size (windows side by side), not stride 1":
            lambda dy, x, kernel_size=2, stride=None: _pool_routed(dy, x, kernel_size, stride or 1),
        "with ties, the gradient goes to the FIRST maximum of the window (row-major order), not "
        "the last: the comparison that updates the maximum must be strict": _pool_last_max,
    })


# -- output size -------------------------------------------------------------------------
def _conv_output_size(n: int, kernel_size: int, stride: int = 1, padding: int = 0,
                      dilation: int = 1):
    return (n + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def _size_settings(hidden: bool):
    if not hidden:
        return [(32, 3, 1, 1, 1), (32, 3, 2, 1, 1), (7, 3, 2, 0, 1), (224, 7, 2, 3, 1),
                (10, 3, 1, 0, 2), (28, 5, 3, 2, 2), (5, 5, 1, 0, 1), (9, 2, 2, 0, 3)]
    r = _rng(hidden_seed(1003))
    out = []
    while len(out) < 8:
        n, k, s, p, d = (int(v) for v in (r.integers(5, 60), r.integers(1, 8), r.integers(1, 4),
                                          r.integers(0, 4), r.integers(1, 4)))
        if d * (k - 1) + 1 <= n + 2 * p:
            out.append((n, k, s, p, d))
    return out


def check_conv_output_size(conv_output_size: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                           hidden: bool = False) -> None:
    """hidden=True: eight random settings from the class seed."""
    cases = [(f"n={n}, k={k}, s={s}, p={p}, d={d}", (n, k), {"stride": s, "padding": p, "dilation": d})
             for n, k, s, p, d in _size_settings(hidden)]
    check_function(conv_output_size, _conv_output_size, cases, time_limit_s=time_limit_s,
                   title=_title("conv_output_size", hidden), mistakes={
        "the + 1 for the first window is missing (a kernel as large as the input still gives "
        "one output)":
            lambda n, k, stride=1, padding=0, dilation=1: (n + 2 * padding - dilation * (k - 1) - 1) // stride,
        "the dilation is ignored: a dilated kernel spans d·(k − 1) + 1 inputs":
            lambda n, k, stride=1, padding=0, dilation=1: (n + 2 * padding - k) // stride + 1,
        "a dilated kernel spans d·(k − 1) + 1 inputs, not d·k":
            lambda n, k, stride=1, padding=0, dilation=1: (n + 2 * padding - dilation * k) // stride + 1,
        "round down (floor), not up: a window that does not fit is dropped":
            lambda n, k, stride=1, padding=0, dilation=1: -(-(n + 2 * padding - dilation * (k - 1) - 1) // stride) + 1,
        "the result is a whole number of windows (an int): the division by the stride rounds "
        "down":
            lambda n, k, stride=1, padding=0, dilation=1: (n + 2 * padding - dilation * (k - 1) - 1) / stride + 1,
        "the padding is added on both sides of the input (twice p)":
            lambda n, k, stride=1, padding=0, dilation=1: (n + padding - dilation * (k - 1) - 1) // stride + 1,
    })


# -- receptive field -------------------------------------------------------------------------
def _receptive_field(layers: list):
    r, jump = 1, 1
    for k, s, d in layers:
        r += d * (k - 1) * jump
        jump *= s
    return r


def _rf_wrong(which: str):
    def wrong(layers: list) -> None:
        r, jump = 1, 1
        for k, s, d in layers:
            if which == "own_stride":
                jump *= s
            r += (1 if which == "no_dilation" else d) * (k - 1) * jump
            if which not in ("own_stride", "no_stride"):
                jump *= s
        return r - 1 if which == "no_one" else r
    return wrong


def _random_stack(seed: int):
    r = _rng(seed)
    return [(int(r.choice([1, 2, 3, 5, 7])), int(r.integers(1, 3)), int(r.integers(1, 4)))
            for _ in range(int(r.integers(2, 6)))]


def check_receptive_field(receptive_field: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                          hidden: bool = False) -> None:
    """hidden=True: five random stacks from the class seed."""
    cases = [(f"hidden stack {i}", (_random_stack(hidden_seed(1004) + i),)) for i in range(5)]
    cases = cases if hidden else [(label, (layers,)) for label, layers in [
        ("one 3x3 layer", [(3, 1, 1)]),
        ("three 3x3 layers", [(3, 1, 1)] * 3),
        ("VGG-like: conv3, conv3, pool2 (stride 2), conv3", [(3, 1, 1), (3, 1, 1), (2, 2, 1), (3, 1, 1)]),
        ("strided: three conv3 with stride 2", [(3, 2, 1)] * 3),
        ("dilated: 3x3 with dilation 1, 2, 4", [(3, 1, 1), (3, 1, 2), (3, 1, 4)]),
        ("ResNet stem: conv7/2, maxpool3/2, conv3", [(7, 2, 1), (3, 2, 1), (3, 1, 1)]),
        ("mixed: conv5/2 dilation 2, conv3/1 dilation 3", [(5, 2, 2), (3, 1, 3)]),
    ]]
    check_function(receptive_field, _receptive_field, cases, time_limit_s=time_limit_s,
                   title=_title("receptive_field", hidden), mistakes={
        "a layer's own stride does not widen its own window: what a layer adds is scaled by "
        "the product of the strides of the layers BEFORE it": _rf_wrong("own_stride"),
        "the dilation is ignored: a dilated kernel spans d·(k − 1) + 1 inputs":
            _rf_wrong("no_dilation"),
        "the strides are ignored: after a stride-s layer, one step of the next layer moves s "
        "inputs": _rf_wrong("no_stride"),
        "start from 1 (one output unit sees one input pixel through a 1x1 stack)": _rf_wrong("no_one"),
    })
