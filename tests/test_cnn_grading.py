"""Chapter 3 graders: each passes a correct answer (written here independently, the way a
student would: loops over kernel offsets, explicit padding) and fails each typical mistake
with the right hint, and survives None, exceptions, NaN, wrong shapes, in-place changes and
endless loops."""
import numpy as np
import pytest

from labutils.grading import cnn as g

from .graderlib import assert_survives, fails, passes


# -- correct answers, written the way a student would ------------------------------------------
def conv2d_forward(x, w, b, stride=1, padding=0):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    y = np.zeros((n, f, ho, wo)) + b[:, None, None]
    for a in range(kh):
        for bb in range(kw):
            patch = xp[:, :, a:a + stride * ho:stride, bb:bb + stride * wo:stride]
            y += np.einsum("nchw,fc->nfhw", patch, w[:, :, a, bb])
    return y


def conv2d_backward(dy, x, w, stride=1, padding=0):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    ho, wo = dy.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for a in range(kh):
        for bb in range(kw):
            sl = (slice(None), slice(None), slice(a, a + stride * ho, stride),
                  slice(bb, bb + stride * wo, stride))
            dw[:, :, a, bb] = np.einsum("nfhw,nchw->fc", dy, xp[sl])
            dxp[sl] += np.einsum("nfhw,fc->nchw", dy, w[:, :, a, bb])
    return dxp[:, :, padding:padding + h, padding:padding + wd], dw, dy.sum(axis=(0, 2, 3))


def maxpool2d_backward(dy, x, kernel_size=2, stride=None):
    s = stride or kernel_size
    dx = np.zeros_like(x)
    n, c, ho, wo = dy.shape
    for i in range(ho):
        for j in range(wo):
            win = x[:, :, i * s:i * s + kernel_size, j * s:j * s + kernel_size].reshape(n, c, -1)
            a = win.argmax(-1)
            ii, jj = i * s + a // kernel_size, j * s + a % kernel_size
            for nn_ in range(n):
                for cc in range(c):
                    dx[nn_, cc, ii[nn_, cc], jj[nn_, cc]] += dy[nn_, cc, i, j]
    return dx


def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def receptive_field(layers):
    r, jump = 1, 1
    for k, s, d in layers:
        r += d * (k - 1) * jump
        jump *= s
    return r


CHECKS = [(g.check_conv2d_forward, conv2d_forward), (g.check_conv2d_backward, conv2d_backward),
          (g.check_maxpool2d_backward, maxpool2d_backward),
          (g.check_conv_output_size, conv_output_size), (g.check_receptive_field, receptive_field)]


@pytest.mark.parametrize("check,answer", CHECKS)
def test_correct_answer_passes(check, answer):
    out = passes(check, answer)
    assert "[FAIL]" not in out


def test_backward_check_prints_the_gradient_check_verdict():
    out = passes(g.check_conv2d_backward, conv2d_backward)
    assert out.count("agrees with central differences (gradient check: correct)") == 3


# -- typical mistakes ---------------------------------------------------------------------------
def test_conv_forward_mistakes():
    fails(g.check_conv2d_forward, lambda x, w, b, stride=1, padding=0:
          conv2d_forward(x, w[:, :, ::-1, ::-1], b, stride, padding), "kernel is flipped")
    fails(g.check_conv2d_forward, lambda x, w, b, stride=1, padding=0:
          conv2d_forward(x, w, 0 * b, stride, padding), "bias is missing")
    fails(g.check_conv2d_forward, lambda x, w, b, stride=1, padding=0:
          conv2d_forward(x, w, b, 1, padding), "stride is ignored")
    fails(g.check_conv2d_forward, lambda x, w, b, stride=1, padding=0:
          conv2d_forward(x, w, b, stride, 0), "padding is ignored")

    def one_side(x, w, b, stride=1, padding=0):
        xp = np.pad(x, ((0, 0), (0, 0), (padding, 0), (padding, 0)))
        return conv2d_forward(xp, w, b, stride, 0)
    fails(g.check_conv2d_forward, one_side, "padding on one side only")


def test_conv_backward_mistakes():
    def unflipped(dy, x, w, stride=1, padding=0):
        dx, dw, db = conv2d_backward(dy, x, w, stride, padding)
        return conv2d_backward(dy, x, w[:, :, ::-1, ::-1], stride, padding)[0], dw, db
    report = fails(g.check_conv2d_backward, unflipped, "flipped by 180")
    assert "gradient check against central differences: wrong" in report

    def mean_dw(dy, x, w, stride=1, padding=0):
        dx, dw, db = conv2d_backward(dy, x, w, stride, padding)
        return dx, dw / len(x), db
    fails(g.check_conv2d_backward, mean_dw, "dw is a sum over the batch, not a mean")

    def db_per_sample(dy, x, w, stride=1, padding=0):
        dx, dw, _ = conv2d_backward(dy, x, w, stride, padding)
        return dx, dw, dy.sum(axis=(2, 3))
    fails(g.check_conv2d_backward, db_per_sample, "db must also be summed over the batch")

    def db_per_position(dy, x, w, stride=1, padding=0):
        dx, dw, _ = conv2d_backward(dy, x, w, stride, padding)
        return dx, dw, dy.sum(axis=0)
    fails(g.check_conv2d_backward, db_per_position, "summed over all output positions")

    def padded(dy, x, w, stride=1, padding=0):
        dx, dw, db = conv2d_backward(dy, x, w, stride, padding)
        return np.pad(dx, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2)), dw, db
    fails(g.check_conv2d_backward, padded, "dx still has the padding")


def test_maxpool_backward_mistakes():
    def even(dy, x, kernel_size=2, stride=None):
        s = stride or kernel_size
        dx = np.zeros_like(x)
        for a in range(kernel_size):
            for b in range(kernel_size):
                dx[:, :, a:a + s * dy.shape[2]:s, b:b + s * dy.shape[3]:s] += dy / kernel_size ** 2
        return dx
    fails(g.check_maxpool2d_backward, even, "average pooling")

    def overwrite(dy, x, kernel_size=2, stride=None):
        s = stride or kernel_size
        dx = np.zeros_like(x)
        n, c, ho, wo = dy.shape
        for i in range(ho):
            for j in range(wo):
                win = x[:, :, i * s:i * s + kernel_size, j * s:j * s + kernel_size].reshape(n, c, -1)
                a = win.argmax(-1)
                for nn_ in range(n):
                    for cc in range(c):
                        dx[nn_, cc, i * s + a[nn_, cc] // kernel_size,
                           j * s + a[nn_, cc] % kernel_size] = dy[nn_, cc, i, j]
        return dx
    fails(g.check_maxpool2d_backward, overwrite, "add (+=) the gradients")

    def all_ties(dy, x, kernel_size=2, stride=None):
        s = stride or kernel_size
        dx = np.zeros_like(x)
        n, c, ho, wo = dy.shape
        for i in range(ho):
            for j in range(wo):
                sl = (slice(None), slice(None), slice(i * s, i * s + kernel_size),
                      slice(j * s, j * s + kernel_size))
                m = x[sl].max(axis=(2, 3), keepdims=True)
                dx[sl] += (x[sl] == m) * dy[:, :, i:i + 1, j:j + 1]
        return dx
    fails(g.check_maxpool2d_backward, all_ties, "with ties, send the gradient to ONE position")


def test_output_size_mistakes():
    fails(g.check_conv_output_size, lambda n, k, stride=1, padding=0, dilation=1:
          (n + 2 * padding - k) // stride + 1, "dilation is ignored")
    fails(g.check_conv_output_size, lambda n, k, stride=1, padding=0, dilation=1:
          (n + 2 * padding - dilation * (k - 1) - 1) // stride, "'+ 1' is missing")
    fails(g.check_conv_output_size, lambda n, k, stride=1, padding=0, dilation=1:
          int(np.ceil((n + 2 * padding - dilation * (k - 1) - 1) / stride)) + 1, "not up")
    fails(g.check_conv_output_size, lambda n, k, stride=1, padding=0, dilation=1:
          (n + 2 * padding - dilation * (k - 1) - 1) / stride + 1, "whole number of windows")
    fails(g.check_conv_output_size, lambda n, k, stride=1, padding=0, dilation=1:
          (n + padding - dilation * (k - 1) - 1) // stride + 1, "both sides: 2p")


def test_receptive_field_mistakes():
    def own_stride(layers):
        r, jump = 1, 1
        for k, s, d in layers:
            jump *= s
            r += d * (k - 1) * jump
        return r
    fails(g.check_receptive_field, own_stride, "BEFORE it")
    fails(g.check_receptive_field,
          lambda layers: receptive_field([(k, s, 1) for k, s, _ in layers]), "d_l (k_l − 1)")
    fails(g.check_receptive_field, lambda layers: receptive_field(layers) - 1, "start from 1")


@pytest.mark.parametrize("check,answer", CHECKS)
def test_graders_survive_what_student_code_does(check, answer):
    # the calculators return ints; conv_output_size takes numbers only (nothing to change)
    assert_survives(check, answer, array_args=check is not g.check_conv_output_size,
                    returns_int=check in (g.check_conv_output_size, g.check_receptive_field))


def test_receptive_field_grader_catches_changes_to_the_list():
    def pops(layers):
        r = receptive_field(layers)
        layers.pop()
        return r
    fails(g.check_receptive_field, pops, "changed its argument 0 in place")
