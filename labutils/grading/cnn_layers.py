"""Autograder checks for chapter 3, continued: im2col, transposed convolution, average-pool
backward and the cost of a layer. Each takes the student's function (``cnn.py`` re-exports them).

    check_im2col(im2col)                          cols = im2col(x, kh, kw, stride, padding)
    check_conv_transpose2d(conv_transpose2d)      x = conv_transpose2d(z, w, stride, padding)
    check_avgpool2d_backward(avgpool2d_backward)  dx = avgpool2d_backward(dy, x, k, stride, padding,
                                                                          count_include_pad)
    check_conv_cost(conv_cost)                    params, macs = conv_cost(c_in, c_out, k, h_out,
                                                                           w_out, groups, bias)
    check_separable_cost(separable_cost)          params, macs = separable_cost(c_in, c_out, k,
                                                                                h_out, w_out)
"""
from collections.abc import Callable

import numpy as np

from .. import nn
from ..nn.conv import conv_forward, conv_transpose_forward
from ..nn.conv import im2col as _lib_im2col
from ..tolerances import GRADER_TIME_LIMIT
from .core import check_function, no_python_loop
from .hidden import seed as hidden_seed
from .report import Report
from .run import Problem, call_student

__all__ = ["check_im2col", "check_conv_transpose2d", "check_avgpool2d_backward",
           "check_conv_cost", "check_separable_cost", "no_pixel_loop"]

_FORBID = ("naive_conv2d", "scipy.signal", "scipy.ndimage")
# The output size (exercise 1, the student's or the library's: it computes no convolution) and,
# after exercise 2, the student's own im2col (defined in the notebook: __main__), not the
# library's. What an allowed function calls is not watched, so exercise 2 itself allows only
# the output size (allowing its own name would leave its body unwatched).
_ALLOW_SIZE = ("conv_output_size",)
_ALLOW = _ALLOW_SIZE + ("__main__.im2col",)


def _title(name: str, hidden: bool):
    return f"Hidden tests of {name}" if hidden else f"Checking {name}"


def no_pixel_loop(report: Report, student: Callable, make_args: Callable, time_limit_s: float,
                  label: str | None = None, allow: tuple[str, ...] = _ALLOW) -> None:
    """Fail when the Python work grows with the number of output rows (``make_args(h)`` ->
    the args tuple for an input of height h): a loop per output pixel or row."""
    no_python_loop(report, student, make_args, sizes=(8, 40), per="output row",
                   label=label or "vectorised (no Python loop over output positions)",
                   time_limit_s=time_limit_s, forbid=_FORBID, allow=allow)


# -- im2col --------------------------------------------------------------------------------
def _im2col(x: np.ndarray, kh: int, kw: int, stride: int = 1, padding: int = 0):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = tuple(nn.conv_output_size(n, k, stride, padding) for n, k in zip(x.shape[2:], (kh, kw)))
    return np.array(_lib_im2col(xp, (kh, kw), (stride, stride), (1, 1), out)[0])


def _im2col_wrong(which: str):
    def wrong(x: np.ndarray, kh: int, kw: int, stride: int = 1, padding: int = 0) -> None:
        n, c = x.shape[:2]
        cols = _im2col(x, kh, kw, stride if which != "stride" else 1,
                       padding if which != "padding" else 0)
        ho_wo = cols.shape[1] // n
        if which == "pixel_major":        # columns ordered (position, sample)
            return cols.reshape(-1, n, ho_wo).transpose(0, 2, 1).reshape(cols.shape)
        if which == "offset_major":       # rows ordered (i, j, channel)
            return cols.reshape(c, kh * kw, -1).transpose(1, 0, 2).reshape(cols.shape)
        if which == "transposed":
            return cols.T
        return cols
    return wrong


def _im2col_cases(seed: int):
    r = np.random.default_rng(seed)
    return [(label, (r.standard_normal(xs), kh, kw), {"stride": s, "padding": p})
            for label, xs, kh, kw, s, p in [
                ("batch of 2, 3 channels, 3x3 windows", (2, 3, 5, 6), 3, 3, 1, 0),
                ("stride 2, padding 1", (2, 2, 7, 7), 3, 3, 2, 1),
                ("batch of 1, 2x3 windows, padding 1", (1, 2, 4, 5), 2, 3, 1, 1),
                ("stride 3, padding 2, size not divisible", (2, 1, 8, 7), 3, 3, 3, 2)]]


def check_im2col(im2col: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                 hidden: bool = False) -> None:
    """hidden=True: the hidden tests (cases from the class seed), with the same watch and limits."""
    cases = _im2col_cases(hidden_seed(77) if hidden else 7)
    report = check_function(im2col, _im2col, cases, time_limit_s=time_limit_s, finish=False,
                            title=_title("im2col", hidden), forbid=_FORBID, allow=_ALLOW_SIZE,
                            mistakes={
        "the columns are in the wrong order: column n·H_out·W_out + u·W_out + v holds the window "
        "of sample n at output position (u, v) (samples outermost)": _im2col_wrong("pixel_major"),
        "the rows are in the wrong order: row c·kh·kw + i·kw + j holds channel c at kernel offset "
        "(i, j) (channels outermost, as in the weight's reshape)": _im2col_wrong("offset_major"),
        "the matrix is transposed: one COLUMN per window, one row per (channel, offset)":
            _im2col_wrong("transposed"),
        "the stride is ignored (a window must start every `stride` pixels)": _im2col_wrong("stride"),
        "the padding is ignored (pad p zeros on each side of both spatial axes)":
            _im2col_wrong("padding"),
    })
    r = np.random.default_rng(5)
    no_pixel_loop(report, im2col, lambda h: (r.standard_normal((1, 2, h, 6)), 3, 3),
                  time_limit_s, allow=_ALLOW_SIZE)
    report.finish()


# -- transposed convolution ------------------------------------------------------------------
def _conv_transpose2d(z: np.ndarray, w: np.ndarray, stride: int = 1, padding: int = 0):
    return conv_transpose_forward(z, w, None, stride, padding)[0]


def _transpose_cases(seed: int):
    r = np.random.default_rng(seed)
    return [(label, (r.standard_normal(zs), r.standard_normal(ws)), {"stride": s, "padding": p})
            for label, zs, ws, s, p in [
                ("batch of 2, 3 -> 2 channels, 3x3 kernel", (2, 3, 4, 4), (3, 2, 3, 3), 1, 0),
                ("stride 2 (upsampling)", (2, 2, 3, 4), (2, 3, 3, 3), 2, 0),
                ("stride 2, padding 1", (1, 2, 4, 3), (2, 2, 3, 3), 2, 1),
                ("batch of 1, 2x3 kernel, stride 3", (1, 1, 3, 2), (1, 2, 2, 3), 3, 0)]]


def _transpose_wrong(which: str):
    def wrong(z: np.ndarray, w: np.ndarray, stride: int = 1, padding: int = 0) -> None:
        if which == "flip":
            return _conv_transpose2d(z, w[:, :, ::-1, ::-1], stride, padding)
        if which == "uncropped":
            return _conv_transpose2d(z, w, stride, 0)
        if which == "stride":
            return _conv_transpose2d(z, w, 1, padding)
        return None
    return wrong


def _adjoint_line(report: Report, student: Callable, cases: list, time_limit_s: float):
    """<conv(x), z> = <x, convT(z)> on the first strided case, for the student's convT."""
    label = "adjoint: <conv(x), z> = <x, conv_transpose2d(z)> for a random x"
    _, (z, w), kw = cases[2]
    try:
        xt = np.asarray(call_student(student, (z, w), kw, time_limit_s, forbid=_FORBID,
                                     allow=_ALLOW), dtype=float)
    except (Problem, TypeError, ValueError) as p:
        report.fail(label, f"could not run it: {p}")
        return
    x = np.random.default_rng(3).standard_normal(xt.shape)
    try:
        y = conv_forward(x, w, None, **kw)[0]
    except ValueError:
        report.fail(label, f"an output of shape {xt.shape} is not the input of a convolution "
                           f"that gives z")
        return
    lhs, rhs = np.sum(y * z) if y.shape == z.shape else np.nan, np.sum(x * xt)
    if abs(lhs - rhs) <= 1e-9 * max(1.0, abs(lhs)):
        report.ok(label, "ok (equal)")
    else:
        report.fail(label, "the two inner products differ: your map is not the transpose of "
                           "the convolution with this weight")


def check_conv_transpose2d(conv_transpose2d: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                           hidden: bool = False) -> None:
    """hidden=True: the hidden tests (cases from the class seed), with the same watch and limits."""
    cases = _transpose_cases(hidden_seed(88) if hidden else 8)
    report = check_function(conv_transpose2d, _conv_transpose2d, cases, finish=False,
                            time_limit_s=time_limit_s, title=_title("conv_transpose2d", hidden),
                            forbid=_FORBID, allow=_ALLOW, mistakes={
        "the kernel is flipped: the transpose stamps w[f, c, i, j] at output position "
        "s·u + i − p, exactly where the convolution read its input (written as a correlation "
        "of the spread-out z, it needs the kernel flipped)": _transpose_wrong("flip"),
        "the padding is not cut off: the convolution padded its input by p, so its transpose "
        "drops p rows and columns on each side": _transpose_wrong("uncropped"),
        "the stride is ignored: neighbouring inputs stamp their kernels `stride` pixels apart":
            _transpose_wrong("stride"),
    })
    _adjoint_line(report, conv_transpose2d, cases, time_limit_s)
    report.finish()


# -- average-pool backward ---------------------------------------------------------------------
def _avgpool2d_backward(dy: np.ndarray, x: np.ndarray, kernel_size: int = 2,
                        stride: int | None = None, padding: int = 0,
                        count_include_pad: bool = True):
    m = nn.AvgPool2d(kernel_size, stride, padding, count_include_pad=count_include_pad)
    m(x)
    return m.backward(dy)


def _avg_wrong(which: str):
    def wrong(dy: np.ndarray, x: np.ndarray, kernel_size: int = 2, stride: int | None = None,
              padding: int = 0, count_include_pad: bool = True) -> None:
        s = stride if which != "stride1" else (stride or 1)
        if which == "stride1":
            return _spread(dy, x.shape, kernel_size, s, padding, count_include_pad)
        if which == "no_division":
            return _avgpool2d_backward(dy, x, kernel_size, s, padding) * kernel_size ** 2
        include = {"always_k2": True, "never_k2": False}.get(which, count_include_pad)
        if which == "swapped":
            include = not count_include_pad
        if which == "uncropped":
            xp = np.pad(x, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2))
            return _avgpool2d_backward(dy, xp, kernel_size, s, 0)
        return _avgpool2d_backward(dy, x, kernel_size, s, padding, include)
    return wrong


def _spread(dy: np.ndarray, x_shape: tuple[int, ...], k: int, s: int, p: int,
            count_include_pad: bool):
    """dy / divisor added over each window (stride s), for any stride: how a loop writes it."""
    n, c, h, w = x_shape
    ho, wo = dy.shape[2:]
    real = np.zeros((ho, wo))
    ones = np.pad(np.ones((h, w)), p)
    for i in range(k):
        for j in range(k):
            real += ones[i:i + s * ho:s, j:j + s * wo:s][:ho, :wo]
    div = k * k if count_include_pad else real
    dxp = np.zeros((n, c, max(h + 2 * p, s * (ho - 1) + k), max(w + 2 * p, s * (wo - 1) + k)))
    for i in range(k):
        for j in range(k):
            dxp[:, :, i:i + s * ho:s, j:j + s * wo:s] += dy / div
    return dxp[:, :, p:p + h, p:p + w]


def _avg_cases(seed: int):
    r = np.random.default_rng(seed)
    cases = []
    for label, xs, k, s, p, inc in [("2x2 windows, stride 2", (2, 3, 4, 6), 2, None, 0, True),
                                    ("3x3, stride 2, padding 1, count_include_pad=True",
                                     (2, 2, 7, 6), 3, 2, 1, True),
                                    ("3x3, stride 2, padding 1, count_include_pad=False",
                                     (2, 2, 7, 6), 3, 2, 1, False),
                                    ("batch of 1, overlapping 3x3 windows, stride 1, padding 1, "
                                     "count_include_pad=False", (1, 2, 5, 5), 3, 1, 1, False)]:
        x = r.standard_normal(xs)
        y = nn.AvgPool2d(k, s, p, count_include_pad=inc)(x)
        cases.append((label, (r.standard_normal(y.shape), x),
                      {"kernel_size": k, "stride": s, "padding": p, "count_include_pad": inc}))
    return cases


def check_avgpool2d_backward(avgpool2d_backward: Callable,
                             time_limit_s: float = GRADER_TIME_LIMIT,
                             hidden: bool = False) -> None:
    """hidden=True: the hidden tests (cases from the class seed), with the same watch and limits."""
    report = check_function(avgpool2d_backward, _avgpool2d_backward,
                            _avg_cases(hidden_seed(99) if hidden else 9), finish=False,
                            time_limit_s=time_limit_s, title=_title("avgpool2d_backward", hidden),
                            allow=_ALLOW, mistakes={
        "count_include_pad=False: divide by the number of REAL inputs in the window (padding "
        "zeros do not count), True: by the whole window k²": _avg_wrong("swapped"),
        "the divisor is always k²: with count_include_pad=False a window that overlaps the "
        "padding holds fewer real inputs": _avg_wrong("always_k2"),
        "the divisor is always the number of real inputs: with count_include_pad=True (the "
        "default) the padding zeros count too": _avg_wrong("never_k2"),
        "the gradient is not divided by the window's divisor (the forward pass divided the sum)":
            _avg_wrong("no_division"),
        "dx still has the padding: cut p rows and columns off each side":
            _avg_wrong("uncropped"),
        "stride=None means stride = kernel_size (windows side by side), not stride 1":
            _avg_wrong("stride1"),
    })
    r = np.random.default_rng(6)

    def args(h: int) -> None:
        x = r.standard_normal((1, 2, 2 * h, 6))
        return np.ones((1, 2, h, 3)), x, 2
    no_pixel_loop(report, avgpool2d_backward, args, time_limit_s)
    report.finish()


# -- parameters and multiply-adds ------------------------------------------------------------
def _conv_cost(c_in: int, c_out: int, k: int, h_out: int, w_out: int, groups: int = 1,
               bias: bool = True):
    # the formula, not nn.conv_params: the catalogue's wrong answers call this with sizes that
    # the library rightly refuses (C_in/G channels that G does not divide)
    weights = c_out * (c_in // groups) * k * k
    return weights + (c_out if bias else 0), weights * h_out * w_out


def _separable_cost(c_in: int, c_out: int, k: int, h_out: int, w_out: int):
    dw, pw = _conv_cost(c_in, c_in, k, h_out, w_out, c_in, False), _conv_cost(c_in, c_out, 1,
                                                                            h_out, w_out,
                                                                            1, False)
    return dw[0] + pw[0], dw[1] + pw[1]


def _cost_cases(seed: int, hidden: bool):
    r = np.random.default_rng(seed)
    fixed = [(64, 128, 3, 32, 32, 1, True), (3, 16, 5, 28, 28, 1, False),
             (32, 64, 3, 16, 8, 4, True), (16, 16, 3, 7, 7, 16, False), (256, 64, 1, 14, 14, 1, True)]
    rand = [(int(8 * r.integers(1, 9)), int(8 * r.integers(1, 9)), int(r.choice([1, 3, 5, 7])),
             int(r.integers(3, 40)), int(r.integers(3, 40)), int(r.choice([1, 2, 4, 8])),
             bool(r.integers(0, 2))) for _ in range(3)]
    return [(f"C_in={a}, C_out={b}, k={k}, {h}x{w} output, groups={g}, bias={bias}",
             (a, b, k, h, w), {"groups": g, "bias": bias})
            for a, b, k, h, w, g, bias in (rand if hidden else fixed)]


def _cost_wrong(which: str):
    def wrong(c_in: int, c_out: int, k: int, h_out: int, w_out: int, groups: int = 1,
              bias: bool = True) -> None:
        p, m = _conv_cost(c_in, c_out, k, h_out, w_out, groups, bias)
        return {"groups": _conv_cost(c_in, c_out, k, h_out, w_out, 1, bias),
                "bias": (p - (c_out if bias else 0), m),
                "per_pos": (p, m // (h_out * w_out)),
                "bias_macs": (p, p * h_out * w_out),
                "groups2": _conv_cost(c_in // groups, c_out, k, h_out, w_out, groups, bias),
                "k1": (c_out * c_in // groups * k + (c_out if bias else 0),
                       c_out * c_in // groups * k * h_out * w_out)}[which]
    return wrong


def check_conv_cost(conv_cost: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                    hidden: bool = False) -> None:
    """hidden=True: the hidden tests (random layers from the class seed)."""
    check_function(conv_cost, _conv_cost, _cost_cases(hidden_seed(11) if hidden else 1, hidden),
                   names=["params", "macs"], time_limit_s=time_limit_s,
                   title=_title("conv_cost", hidden), mistakes={
        "the groups are ignored: each output channel sees only C_in/G input channels":
            _cost_wrong("groups"),
        "divide by the groups once: G groups of C_out/G filters, each over C_in/G channels":
            _cost_wrong("groups2"),
        "a k x k kernel has k² taps per input channel, not k": _cost_wrong("k1"),
        "the bias (one per output channel, when bias=True) is missing from the parameters":
            _cost_wrong("bias"),
        "the multiply-adds are per output position: multiply by H_out·W_out":
            _cost_wrong("per_pos"),
        "the bias is an addition, not a multiply-add: leave it out of the multiply-adds":
            _cost_wrong("bias_macs"),
    })


def _sep_wrong(which: str):
    def wrong(c_in: int, c_out: int, k: int, h_out: int, w_out: int) -> None:
        p, m = _separable_cost(c_in, c_out, k, h_out, w_out)
        return {"dense_dw": _conv_cost(c_in, c_in, k, h_out, w_out, 1, False)[0]
                + c_in * c_out, "no_pw": c_in * k * k, "pw_k": c_in * k * k + c_in * c_out * k * k,
                "cout_dw": c_out * k * k + c_in * c_out}[which], None

    def both(*args: object) -> None:
        p = wrong(*args)[0]
        return p, p * args[3] * args[4]
    return both


def check_separable_cost(separable_cost: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                         hidden: bool = False) -> None:
    """hidden=True: the hidden tests (random layers from the class seed)."""
    cases = [(label[:label.index(", groups")], args)
             for label, args, _ in _cost_cases(hidden_seed(12) if hidden else 2, hidden)]
    check_function(separable_cost, _separable_cost, cases, names=["params", "macs"],
                   time_limit_s=time_limit_s, title=_title("separable_cost", hidden), mistakes={
        "the depthwise step filters each channel ALONE (groups = C_in): C_in·k² weights, not "
        "C_in²·k²": _sep_wrong("dense_dw"),
        "the pointwise 1x1 convolution (C_in·C_out weights) that mixes the channels is missing":
            _sep_wrong("no_pw"),
        "the pointwise step is a 1x1 convolution: C_in·C_out weights, no k²": _sep_wrong("pw_k"),
        "the depthwise step keeps C_in channels (one filter per input channel), not C_out":
            _sep_wrong("cout_dw"),
    })


# -- the capstone ---------------------------------------------------------------------------
CAPSTONE_ACCURACY = 0.90


def check_capstone(result: dict | None) -> None:
    """The capstone cell's ``result`` dict (None when it did not run): the student's functions
    were used and the test accuracy reached CAPSTONE_ACCURACY (printed as a verdict)."""
    report = Report("Checking the capstone (a CNN from your convolution and pooling functions)")
    if not result:
        report.fail("capstone", "did not run: finish the exercises its cell names, then run it "
                                "again")
        report.finish()
    unused = [n for n, k in result["calls"].items() if not k]
    (report.fail if unused else report.ok)(
        "built from your functions", f"not used: {', '.join(unused)}" if unused else "ok")
    acc = result["accuracy"]
    (report.ok if acc >= CAPSTONE_ACCURACY else report.fail)(
        f"test accuracy at least {CAPSTONE_ACCURACY:.2f}",
        "reached" if acc >= CAPSTONE_ACCURACY else f"{acc:.2f}")
    report.finish()
