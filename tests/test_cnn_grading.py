"""Chapter 3 graders: each passes a correct answer (written here independently, the way a
student would: loops over kernel offsets, explicit padding) and fails each typical mistake
with the right hint, and survives None, exceptions, NaN, wrong shapes, in-place changes and
endless loops."""
import inspect

import numpy as np
import pytest
import scipy.signal  # noqa: F401  (imported before the exercise, as a notebook would)
import torch

from labutils import nn
from labutils.grading import cnn as g
from labutils.nn.conv import conv_backward, conv_forward
from labutils.viz import receptive_field as rf

from .graderlib import assert_right_answers_pass, assert_survives, fails, notebook, passes


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
          (n + 2 * padding - dilation * (k - 1) - 1) // stride, "the + 1 for the first window is missing")
    fails(g.check_conv_output_size, lambda n, k, stride=1, padding=0, dilation=1:
          int(np.ceil((n + 2 * padding - dilation * (k - 1) - 1) / stride)) + 1, "not up")
    fails(g.check_conv_output_size, lambda n, k, stride=1, padding=0, dilation=1:
          (n + 2 * padding - dilation * (k - 1) - 1) / stride + 1, "whole number of windows")
    fails(g.check_conv_output_size, lambda n, k, stride=1, padding=0, dilation=1:
          (n + padding - dilation * (k - 1) - 1) // stride + 1, "both sides of the input")


def test_receptive_field_mistakes():
    def own_stride(layers):
        r, jump = 1, 1
        for k, s, d in layers:
            jump *= s
            r += d * (k - 1) * jump
        return r
    fails(g.check_receptive_field, own_stride, "BEFORE it")
    fails(g.check_receptive_field,
          lambda layers: receptive_field([(k, s, 1) for k, s, _ in layers]), "the dilation is ignored")
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


# -- the catalogue: right answers in every form, and each class of wrong answer ---------------------

@pytest.mark.parametrize("check,answer", CHECKS[:3])
def test_array_answers_pass_noisy_and_fail_in_float32(check, answer):
    assert_right_answers_pass(check, answer)


def test_integer_answers_pass_in_any_int_form_and_a_float_fails():
    from .graderlib import noisy
    assert "UserWarning" in passes(g.check_conv_output_size, noisy(conv_output_size))
    assert "UserWarning" in passes(g.check_receptive_field, noisy(receptive_field))
    passes(g.check_conv_output_size, lambda *a, **k: np.int64(conv_output_size(*a, **k)))
    passes(g.check_conv_output_size, lambda *a, **k: np.array(conv_output_size(*a, **k)))
    passes(g.check_receptive_field, lambda layers: np.int32(receptive_field(layers)))
    fails(g.check_conv_output_size, lambda *a, **k: float(conv_output_size(*a, **k)),
          "expected an int (a whole number), got float")
    fails(g.check_receptive_field, lambda layers: float(receptive_field(layers)), "expected an int")


# the notebook defines naive_conv2d (loops) before exercise 2, and imports conv_forward
NOTEBOOK = inspect.getsource(conv2d_forward).replace("def conv2d_forward", "def naive_conv2d") + """

def conv2d_forward(x, w, b, stride=1, padding=0):
    return naive_conv2d(x, w, b, stride, padding)


def conv2d_forward_via_labutils(x, w, b, stride=1, padding=0):
    return conv_forward(x, w, b, stride, padding)[0]


def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def conv2d_forward_own(x, w, b, stride=1, padding=0):
    ho = conv_output_size(x.shape[2], w.shape[2], stride, padding)
    assert ho == nn.conv_output_size(x.shape[2], w.shape[2], stride, padding)
    return conv2d_forward_reference(x, w, b, stride, padding)
"""


LIBRARY_IM2COL = """
def im2col(x, kh, kw, stride=1, padding=0):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = tuple(nn.conv_output_size(s, k, stride, padding) for s, k in zip(x.shape[2:], (kh, kw)))
    return lib_im2col(xp, (kh, kw), (stride, stride), (1, 1), out)[0]


def conv2d_forward(x, w, b, stride=1, padding=0):
    cols = im2col(x, w.shape[2], w.shape[3], stride, padding)
    return _rest_of_the_layer(cols, x, w, b, stride, padding)


def conv2d_forward_on_the_library(x, w, b, stride=1, padding=0):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = tuple(nn.conv_output_size(s, k, stride, padding) for s, k in zip(x.shape[2:], w.shape[2:]))
    cols = lib_im2col(xp, w.shape[2:], (stride, stride), (1, 1), out)[0]
    return _rest_of_the_layer(cols, x, w, b, stride, padding)


def _rest_of_the_layer(cols, x, w, b, stride, padding):
    ho = nn.conv_output_size(x.shape[2], w.shape[2], stride, padding)
    wo = nn.conv_output_size(x.shape[3], w.shape[3], stride, padding)
    y = w.reshape(len(w), -1) @ cols + b[:, None]
    return y.reshape(len(w), len(x), ho, wo).transpose(1, 0, 2, 3)
"""


OWN_IM2COL = """
def im2col(x, kh, kw, stride=1, padding=0):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = tuple(nn.conv_output_size(s, k, stride, padding) for s, k in zip(x.shape[2:], (kh, kw)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    win = win[:, :, ::stride, ::stride][:, :, :out[0], :out[1]]
    return win.transpose(1, 4, 5, 0, 2, 3).reshape(x.shape[1] * kh * kw, -1)


"""


def test_the_library_im2col_is_refused_and_the_students_own_allowed():
    """The allow list names the student's im2col (exercise 2, in the notebook), not any function
    called im2col: the library's fails exercise 2, and a later exercise that calls it directly.
    (A later exercise built on the student's own im2col is not failed again for what that
    im2col calls: exercise 2 has already.)"""
    from labutils.nn.conv import im2col as lib_im2col
    ns = notebook(LIBRARY_IM2COL, nn=nn, lib_im2col=lib_im2col)
    fails(g.check_im2col, ns["im2col"], "called im2col (labutils.nn.conv", "your own code")
    fails(g.check_conv2d_forward, ns["conv2d_forward_on_the_library"],
          "called im2col (labutils.nn.conv")
    own = notebook(OWN_IM2COL + LIBRARY_IM2COL.split("\n\n\n", 1)[1], nn=nn, lib_im2col=None)
    passes(g.check_im2col, own["im2col"])
    passes(g.check_conv2d_forward, own["conv2d_forward"])


def test_conv_forward_must_not_call_the_notebooks_loops_or_the_library():
    ns = notebook(NOTEBOOK, conv_forward=conv_forward, nn=nn, conv2d_forward_reference=conv2d_forward)
    fails(g.check_conv2d_forward, ns["conv2d_forward"], "called naive_conv2d (defined in the notebook)",
          "your own code")
    fails(g.check_conv2d_forward, ns["conv2d_forward_via_labutils"], "called conv_forward (labutils.nn.conv)")
    # the output size (exercise 1, the student's or the library's) may be used
    passes(g.check_conv2d_forward, ns["conv2d_forward_own"])


def _torch_conv(x, w, b, stride=1, padding=0):
    return torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                      stride, padding).numpy()


def _scipy_conv(x, w, b, stride=1, padding=0):
    xp = np.pad(x, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2))
    y = np.stack([sum(scipy.signal.correlate2d(xp[n, c], w[f, c], mode="valid") for c in range(x.shape[1]))
                  + b[f] for n in range(len(x)) for f in range(len(w))])
    return y.reshape(len(x), len(w), *y.shape[1:])[:, :, ::stride, ::stride]


def _autograd_backward(dy, x, w, stride=1, padding=0):
    xt, wt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    torch.nn.functional.conv2d(xt, wt, None, stride, padding).backward(torch.from_numpy(dy))
    return xt.grad.numpy(), wt.grad.numpy(), dy.sum(axis=(0, 2, 3))


def _labutils_backward(dy, x, w, stride=1, padding=0):
    _, cache = conv_forward(x, w, None, stride, padding)
    return conv_backward(dy, cache)


def _module_pool_backward(dy, x, kernel_size=2, stride=None):
    m = nn.MaxPool2d(kernel_size, stride)
    m(x)
    return m.backward(dy)


@pytest.mark.parametrize("check,answer,name", [
    (g.check_conv2d_forward, _torch_conv, "(torch"),
    (g.check_conv2d_forward, _scipy_conv, "correlate2d (scipy.signal"),
    (g.check_conv2d_backward, _autograd_backward, "(torch"),
    (g.check_conv2d_backward, _labutils_backward, "conv_forward (labutils.nn.conv"),
    (g.check_maxpool2d_backward, _module_pool_backward, "MaxPool2d (labutils"),
    (g.check_conv_output_size, nn.conv_output_size, "conv_output_size (labutils"),
    (g.check_receptive_field, lambda layers: rf.receptive_field([(None, k, s, d, 0) for k, s, d in layers])[0],
     "receptive_field (labutils.lab.receptive_field"),
])
def test_calling_a_reference_fails(check, answer, name):
    fails(check, answer, "called", name, "your own code")


def test_output_size_hints_name_the_right_mistake():
    """Issue 11: a missing + 1 was told about the 2p padding (both give 31 for n = 32, p = 1)."""
    out = fails(g.check_conv_output_size, lambda n, k, stride=1, padding=0, dilation=1:
                (n + 2 * padding - dilation * (k - 1) - 1) // stride, "the + 1 for the first window")
    assert "both sides" not in out
    out = fails(g.check_conv_output_size, lambda n, k, stride=1, padding=0, dilation=1:
                (n + padding - dilation * (k - 1) - 1) // stride + 1, "both sides of the input")
    assert "+ 1" not in out


def test_uncropped_dx_gets_the_padding_hint():
    """Issue 11: a student who returns the gradient of the padded input (never cropped) was
    never told; the old mistake padded the right dx with zeros, which no student does."""
    def uncropped(dy, x, w, stride=1, padding=0):
        xp = np.pad(x, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2))
        dxp, dw, db = conv2d_backward(dy, xp, w, stride, 0)
        return dxp, dw, db
    fails(g.check_conv2d_backward, uncropped, "dx still has the padding")


def test_maxpool_ties_to_the_last_maximum_fail():
    def last_max(dy, x, kernel_size=2, stride=None):
        s = stride or kernel_size
        dx = np.zeros_like(x)
        n, c, ho, wo = dy.shape
        for i in range(ho):
            for j in range(wo):
                for a in range(n):
                    for b in range(c):
                        win = x[a, b, i * s:i * s + kernel_size, j * s:j * s + kernel_size]
                        best, where = -np.inf, (0, 0)
                        for u in range(kernel_size):
                            for v in range(kernel_size):
                                if win[u, v] >= best:       # >= : the last maximum wins
                                    best, where = win[u, v], (u, v)
                        dx[a, b, i * s + where[0], j * s + where[1]] += dy[a, b, i, j]
        return dx
    fails(g.check_maxpool2d_backward, last_max, "the first maximum of the window", "must be strict")


def test_receptive_field_ignoring_strides_fails():
    fails(g.check_receptive_field, lambda layers: receptive_field([(k, 1, d) for k, _, d in layers]),
          "the strides are ignored")


def test_hidden_tests_run_through_the_same_engine():
    """A hidden-test cell calls check_...(fn, hidden=True): same watch, one time limit, no stderr."""
    from labutils.grading import basics, norm
    from .test_basics_grading import ref_linear_backward
    from .test_norm_grading import layer_norm
    for check, answer in [(g.check_conv2d_forward, conv2d_forward),
                          (basics.check_linear_backward, ref_linear_backward),
                          (norm.check_layer_norm, layer_norm)]:
        assert "Hidden tests of" in passes(check, answer, hidden=True)
        fails(lambda fn, **kw: check(fn, hidden=True, **kw), spins_forever, "did not finish",
              time_limit_s=0.2)
    ns = notebook(NOTEBOOK, conv_forward=conv_forward, nn=nn, conv2d_forward_reference=conv2d_forward)
    fails(lambda fn: g.check_conv2d_forward(fn, hidden=True), ns["conv2d_forward_via_labutils"],
          "called conv_forward")


def spins_forever(*args, **kwargs):
    while True:
        pass


def test_dilation_times_k_is_diagnosed():
    fails(g.check_conv_output_size, lambda n, k, stride=1, padding=0, dilation=1:
          (n + 2 * padding - dilation * k) // stride + 1, "not d·k")


def test_more_conv_backward_and_pool_mistakes():
    def swapped(dy, x, w, stride=1, padding=0):
        dx, dw, db = conv2d_backward(dy, x, w, stride, padding)
        return dx, dw.transpose(1, 0, 2, 3), db
    fails(g.check_conv2d_backward, swapped, "first two axes are swapped")

    def overwrites(dy, x, w, stride=1, padding=0):
        n, c, h, wd = x.shape
        ho, wo = dy.shape[2:]
        dx, dw, db = conv2d_backward(dy, x, w, stride, padding)
        dxp = np.zeros((n, c, h + 2 * padding, wd + 2 * padding))
        for a in range(w.shape[2]):
            for bb in range(w.shape[3]):
                sl = (slice(None), slice(None), slice(a, a + stride * ho, stride),
                      slice(bb, bb + stride * wo, stride))
                dxp[sl] = np.einsum("nfhw,fc->nchw", dy, w[:, :, a, bb])     # = instead of +=
        return dxp[:, :, padding:padding + h, padding:padding + wd], dw, db
    fails(g.check_conv2d_backward, overwrites, "add the contributions to dx")
    fails(g.check_maxpool2d_backward, lambda dy, x, kernel_size=2, stride=None:
          maxpool2d_backward(dy, x, kernel_size, stride or 1), "stride=None means stride = kernel_size")
