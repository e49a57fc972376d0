"""Chapter 3's newer exercises (im2col, vectorised conv forward, transposed convolution,
average-pool backward, layer costs, hidden tests of every exercise): each check passes a right
answer written the way a student would, and fails each class of wrong answer with its hint."""
import numpy as np
import pytest
import torch

from labutils import nn
from labutils.grading import cnn as g
from labutils.nn.conv import conv_transpose_forward

from .graderlib import assert_right_answers_pass, assert_survives, fails, noisy, passes
from .test_cnn_grading import (conv2d_backward, conv2d_forward, conv_output_size,
                               maxpool2d_backward, receptive_field)


# -- right answers, written as a student would ------------------------------------------------
def im2col(x, kh, kw, stride=1, padding=0):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    cols = np.empty((c, kh, kw, n, ho, wo))
    for i in range(kh):
        for j in range(kw):
            cols[:, i, j] = xp[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride].transpose(1, 0, 2, 3)
    return cols.reshape(c * kh * kw, n * ho * wo)


def conv2d_forward_im2col(x, w, b, stride=1, padding=0):
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    ho, wo = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    y = w.reshape(f, -1) @ im2col(x, kh, kw, stride, padding) + b[:, None]
    return y.reshape(f, n, ho, wo).transpose(1, 0, 2, 3)


def conv_transpose2d(z, w, stride=1, padding=0):
    n, f, ho, wo = z.shape
    _, c, kh, kw = w.shape
    hp, wp = (ho - 1) * stride + kh, (wo - 1) * stride + kw
    out = np.zeros((n, c, hp, wp))
    for i in range(kh):
        for j in range(kw):
            out[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride] += np.einsum(
                "nfhw,fc->nchw", z, w[:, :, i, j])
    return out[:, :, padding:hp - padding, padding:wp - padding]


def avgpool2d_backward(dy, x, kernel_size=2, stride=None, padding=0, count_include_pad=True):
    s, k, p = stride or kernel_size, kernel_size, padding
    n, c, h, w = x.shape
    ho, wo = dy.shape[2:]
    ones = np.pad(np.ones((h, w)), p)
    dxp = np.zeros((n, c, h + 2 * p, w + 2 * p))
    real = sum(ones[i:i + s * ho:s, j:j + s * wo:s] for i in range(k) for j in range(k))
    div = real if not count_include_pad else np.minimum(
        np.arange(ho) * s + k, h + 2 * p)[:, None] * 0 + k * k
    for i in range(k):
        for j in range(k):
            dxp[:, :, i:i + s * ho:s, j:j + s * wo:s] += dy / div
    return dxp[:, :, p:p + h, p:p + w]


def conv_cost(c_in, c_out, k, h_out, w_out, groups=1, bias=True):
    params = c_out * (c_in // groups) * k * k + (c_out if bias else 0)
    return params, c_out * (c_in // groups) * k * k * h_out * w_out


def separable_cost(c_in, c_out, k, h_out, w_out):
    params = c_in * k * k + c_in * c_out
    return params, params * h_out * w_out


NEW = [(g.check_im2col, im2col), (g.check_conv_transpose2d, conv_transpose2d),
       (g.check_avgpool2d_backward, avgpool2d_backward), (g.check_conv_cost, conv_cost),
       (g.check_separable_cost, separable_cost)]
ALL = NEW + [(g.check_conv2d_forward, conv2d_forward_im2col),
             (g.check_conv2d_backward, conv2d_backward), (g.check_maxpool2d_backward, maxpool2d_backward),
             (g.check_conv_output_size, conv_output_size), (g.check_receptive_field, receptive_field)]


@pytest.mark.parametrize("check,answer", NEW + ALL[5:6])
def test_right_answers_pass(check, answer):
    out = passes(check, answer)
    assert "[FAIL]" not in out


@pytest.mark.parametrize("check,answer", ALL)
def test_hidden_tests_pass_right_answers_and_refuse_unfinished(check, answer, monkeypatch):
    monkeypatch.setenv("COURSE_HIDDEN_SEED", "a class seed")
    assert "Hidden tests of" in passes(check, answer, hidden=True)
    fails(lambda fn: check(fn, hidden=True), lambda *a, **k: (_ for _ in ()).throw(NotImplementedError()),
          "not filled in yet")


@pytest.mark.parametrize("check,answer", NEW[:3])
def test_array_answers_pass_noisy_and_fail_in_float32(check, answer):
    assert_right_answers_pass(check, answer)


@pytest.mark.parametrize("check,answer", NEW)
def test_graders_survive_what_student_code_does(check, answer):
    costs = check in (g.check_conv_cost, g.check_separable_cost)
    assert_survives(check, answer, array_args=not costs, returns_int=False) if not costs else None
    if costs:
        fails(check, lambda *a, **k: None, "returned None")
        fails(check, lambda *a, **k: tuple(float(v) for v in answer(*a, **k)), "expected an int")
        assert "UserWarning" in passes(check, noisy(answer))
        passes(check, lambda *a, **k: tuple(np.int64(v) for v in answer(*a, **k)))


# -- loops where vectorised code is asked: counted, not timed ---------------------------------
def im2col_per_pixel(x, kh, kw, stride=1, padding=0):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    cols = np.empty((c * kh * kw, n, ho, wo))
    for u in range(ho):
        for v in range(wo):
            cols[:, :, u, v] = xp[:, :, u * stride:u * stride + kh,
                                  v * stride:v * stride + kw].reshape(n, -1).T
    return cols.reshape(c * kh * kw, -1)


def naive_forward(x, w, b, stride=1, padding=0):
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    y = np.empty((n, f, ho, wo))
    for u in range(ho):
        for v in range(wo):
            win = xp[:, :, u * stride:u * stride + kh, v * stride:v * stride + kw]
            y[:, :, u, v] = np.einsum("nchw,fchw->nf", win, w) + b
    return y


def test_loops_over_output_positions_fail():
    fails(g.check_im2col, im2col_per_pixel, "python loop per output row")
    fails(g.check_conv2d_forward, naive_forward, "python loop per output row")
    # a loop over the kernel offsets (k² steps, whatever the image size) is vectorised enough
    passes(g.check_conv2d_forward, conv2d_forward)

    def avg_loop(dy, x, kernel_size=2, stride=None, padding=0, count_include_pad=True):
        out = np.zeros_like(x)
        for u in range(dy.shape[2]):
            out += avgpool2d_backward(dy * (np.arange(dy.shape[2])[:, None] == u), x, kernel_size,
                                      stride, padding, count_include_pad)
        return out
    fails(g.check_avgpool2d_backward, avg_loop, "python loop per output row")


# -- the catalogues -------------------------------------------------------------------------
def test_im2col_mistakes():
    def pixel_major(x, kh, kw, stride=1, padding=0):
        cols = im2col(x, kh, kw, stride, padding)
        return cols.reshape(len(cols), len(x), -1).transpose(0, 2, 1).reshape(cols.shape)
    fails(g.check_im2col, pixel_major, "samples outermost")

    def offset_major(x, kh, kw, stride=1, padding=0):
        cols = im2col(x, kh, kw, stride, padding)
        return cols.reshape(x.shape[1], kh * kw, -1).transpose(1, 0, 2).reshape(cols.shape)
    fails(g.check_im2col, offset_major, "channels outermost")
    fails(g.check_im2col, lambda x, kh, kw, stride=1, padding=0: im2col(x, kh, kw, stride, padding).T,
          "one COLUMN per window")
    fails(g.check_im2col, lambda x, kh, kw, stride=1, padding=0: im2col(x, kh, kw, 1, padding),
          "stride is ignored")
    fails(g.check_im2col, lambda x, kh, kw, stride=1, padding=0: im2col(x, kh, kw, stride, 0),
          "padding is ignored")


def test_conv_transpose_mistakes_and_the_adjoint_line():
    out = passes(g.check_conv_transpose2d, conv_transpose2d)
    assert "adjoint: <conv(x), z> = <x, conv_transpose2d(z)>" in out
    out = fails(g.check_conv_transpose2d, lambda z, w, stride=1, padding=0:
                conv_transpose2d(z, w[:, :, ::-1, ::-1], stride, padding), "kernel is flipped")
    assert "the two inner products differ" in out
    fails(g.check_conv_transpose2d, lambda z, w, stride=1, padding=0:
          conv_transpose2d(z, w, stride, 0), "padding is not cut off")
    fails(g.check_conv_transpose2d, lambda z, w, stride=1, padding=0:
          conv_transpose2d(z, w, 1, padding), "stride is ignored")

    def correlate_spread(z, w, stride=1, padding=0):
        kh, kw = w.shape[2:]
        zs = np.zeros((*z.shape[:2], (z.shape[2] - 1) * stride + 1, (z.shape[3] - 1) * stride + 1))
        zs[:, :, ::stride, ::stride] = z
        zp = np.pad(zs, ((0, 0), (0, 0), (kh - 1,) * 2, (kw - 1,) * 2))
        y = conv2d_forward(zp, w.transpose(1, 0, 2, 3), np.zeros(w.shape[1]))
        return y[:, :, padding:y.shape[2] - padding, padding:y.shape[3] - padding]
    fails(g.check_conv_transpose2d, correlate_spread, "needs the kernel flipped")
    assert "[pass]" not in fails(g.check_conv_transpose2d, correlate_spread)


def test_conv_transpose_agrees_with_torch_and_refuses_delegation():
    z, w = np.random.default_rng(0).standard_normal((2, 3, 4, 5)), np.ones((3, 2, 3, 3))
    t = torch.nn.functional.conv_transpose2d(torch.from_numpy(z), torch.from_numpy(w), None, 2, 1)
    assert np.allclose(conv_transpose2d(z, w, 2, 1), t.numpy(), rtol=1e-12, atol=1e-12)
    fails(g.check_conv_transpose2d, lambda z, w, stride=1, padding=0:
          conv_transpose_forward(z, w, None, stride, padding)[0], "called", "your own code")
    fails(g.check_conv_transpose2d, lambda z, w, stride=1, padding=0:
          torch.nn.functional.conv_transpose2d(torch.from_numpy(z), torch.from_numpy(w), None,
                                               stride, padding).numpy(), "(torch")


def test_avgpool_backward_mistakes():
    def swapped(dy, x, kernel_size=2, stride=None, padding=0, count_include_pad=True):
        return avgpool2d_backward(dy, x, kernel_size, stride, padding, not count_include_pad)
    fails(g.check_avgpool2d_backward, swapped, "REAL inputs")
    fails(g.check_avgpool2d_backward, lambda dy, x, kernel_size=2, stride=None, padding=0,
          count_include_pad=True: avgpool2d_backward(dy, x, kernel_size, stride, padding, True),
          "always k²")
    fails(g.check_avgpool2d_backward, lambda dy, x, kernel_size=2, stride=None, padding=0,
          count_include_pad=True: avgpool2d_backward(dy, x, kernel_size, stride, padding, False),
          "padding zeros count too")
    fails(g.check_avgpool2d_backward, lambda dy, x, kernel_size=2, stride=None, padding=0,
          count_include_pad=True: avgpool2d_backward(dy, x, kernel_size, stride or 1, padding,
                                                     count_include_pad), "stride=None means")

    def uncropped(dy, x, kernel_size=2, stride=None, padding=0, count_include_pad=True):
        xp = np.pad(x, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2))
        return avgpool2d_backward(dy, xp, kernel_size, stride, 0, count_include_pad)
    fails(g.check_avgpool2d_backward, uncropped, "dx still has the padding")

    def module(dy, x, kernel_size=2, stride=None, padding=0, count_include_pad=True):
        m = nn.AvgPool2d(kernel_size, stride, padding, count_include_pad=count_include_pad)
        m(x)
        return m.backward(dy)
    fails(g.check_avgpool2d_backward, module, "AvgPool2d (labutils")


def test_cost_mistakes():
    fails(g.check_conv_cost, lambda a, b, k, h, w, groups=1, bias=True: conv_cost(a, b, k, h, w, 1, bias),
          "groups are ignored")
    fails(g.check_conv_cost, lambda a, b, k, h, w, groups=1, bias=True: conv_cost(a, b, k, h, w, groups, False),
          "bias (one per output channel")
    fails(g.check_conv_cost, lambda a, b, k, h, w, groups=1, bias=True:
          (conv_cost(a, b, k, h, w, groups, bias)[0], conv_cost(a, b, k, 1, 1, groups)[1]),
          "per output position")
    fails(g.check_conv_cost, lambda a, b, k, h, w, groups=1, bias=True:
          (conv_cost(a, b, k, h, w, groups, bias)[0], conv_cost(a, b, k, h, w, groups, bias)[0] * h * w),
          "not a multiply-add")
    fails(g.check_conv_cost, lambda a, b, k, h, w, groups=1, bias=True:
          conv_cost(a // groups, b, k, h, w, groups, bias), "divide by the groups once")
    fails(g.check_conv_cost, lambda a, b, k, h, w, groups=1, bias=True:
          (b * a // groups * k + (b if bias else 0), b * a // groups * k * h * w), "not k")
    fails(g.check_separable_cost, lambda a, b, k, h, w:
          (a * a * k * k + a * b, (a * a * k * k + a * b) * h * w), "filters each channel ALONE")
    fails(g.check_separable_cost, lambda a, b, k, h, w: (a * k * k, a * k * k * h * w), "is missing")
    fails(g.check_separable_cost, lambda a, b, k, h, w:
          (a * k * k + a * b * k * k, (a * k * k + a * b * k * k) * h * w), "no k²")
    fails(g.check_separable_cost, lambda a, b, k, h, w:
          (b * k * k + a * b, (b * k * k + a * b) * h * w), "keeps C_in channels")
    fails(g.check_separable_cost, lambda a, b, k, h, w: conv_cost(a, b, k, h, w, a, False),
          "params: expected")      # no hint fits: the report says what it saw


# -- the capstone ----------------------------------------------------------------------------
def test_capstone_check_reads_the_result():
    passes(g.check_capstone, {"accuracy": 0.95, "calls": {"conv2d_forward": 3}})
    fails(g.check_capstone, None, "did not run", "finish the exercises")
    fails(g.check_capstone, {"accuracy": 0.5, "calls": {"conv2d_forward": 3}}, "test accuracy at least 0.90")
    fails(g.check_capstone, {"accuracy": 0.95, "calls": {"conv2d_forward": 0}}, "not used: conv2d_forward")


def test_capstone_network_trains_on_the_students_functions():
    """The capstone's network, on answers written as a student would, learns the bars past the
    criterion in a shorter run than the notebook's, calling the given functions."""
    from labutils.lab import cnn_capstone as cap
    from labutils.lab.training import accuracy, random_batches, train
    from labutils.optim import Adam
    rng = np.random.default_rng(0)
    x, y = cap.oriented_bars(600, rng)
    assert x.shape == (600, 1, 12, 12) and set(np.unique(y)) == {0, 1, 2, 3}
    calls = {"fwd": 0}

    def fwd(*a):
        calls["fwd"] += 1
        return conv2d_forward_im2col(*a)
    model = cap.bar_classifier(fwd, conv2d_backward, maxpool2d_backward, rng)
    w0 = model[0].params["weight"].copy()
    train(model, nn.CrossEntropyLoss(), Adam(model, lr=0.01), random_batches(x[:400], y[:400], 32, rng), 150)
    assert accuracy(model, x[400:], y[400:]) >= 0.9
    assert calls["fwd"] > 300 and not np.allclose(model[0].params["weight"], w0)
