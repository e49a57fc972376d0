"""Convolution (cross-correlation, as in every framework) and transposed convolution, in 1, 2
and 3 spatial dimensions, vectorised with im2col.

With x padded to x̃ (p_lo zeros before, p_hi after along each spatial axis), stride s,
dilation d, kernel k, and groups G (each group maps C_in/G input channels to C_out/G outputs):

forward   y[n, f, o] = b[f] + Σ_{c ∈ group(f)} Σ_j  W[f, c, j] · x̃[n, c, s·o + d·j]
          L_out = ⌊(L_in + p_lo + p_hi − d(k − 1) − 1) / s⌋ + 1
backward  dW[f, c, j] += Σ_n Σ_o dy[n, f, o] · x̃[n, c, s·o + d·j]   (correlate x with dy)
          db[f]       += Σ_n Σ_o dy[n, f, o]
          dx̃[n, c, i] = Σ_f Σ_{o, j: s·o + d·j = i} dy[n, f, o] · W[f, c, j]
                        (a "full" convolution of the stride-dilated dy with the flipped kernel;
                        dx is dx̃ with the padding cut off)

Implementation (one matrix product per call, per direction):
  im2col  a strided *view* of x̃ with axes (G, C_in/G, *k, N, *L_out), copied once to the
          matrix X_col of shape (G, C_in/G·Πk, N·ΠL_out);
  forward Y = W_mat @ X_col,      W_mat: (G, C_out/G, C_in/G·Πk)
  backward dW = dY @ X_colᵀ,      dX_col = W_matᵀ @ dY, then col2im scatters dX_col back: a loop
          over the Πk kernel offsets (9 for a 3x3 kernel), each one vectorised slice addition;
          there is no Python loop over pixels, channels or groups.

A transposed convolution is the adjoint of a convolution with the same weight: its forward
is the convolution's input-gradient (col2im) and its backward the convolution's forward.
"""
import math

import numpy as np

from .. import init
from .. import validate
from ..module import Module

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
           "conv_output_size", "conv_transpose_output_size", "conv_forward",
           "conv_backward", "conv_transpose_forward", "im2col", "col2im"]


def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    """⌊(n + 2p − d(k − 1) − 1)/s⌋ + 1 (``padding`` may be a (lo, hi) pair)."""
    lo, hi = (padding, padding) if isinstance(padding, int) else padding
    return (n + lo + hi - dilation * (kernel_size - 1) - 1) // stride + 1


def conv_transpose_output_size(n, kernel_size, stride=1, padding=0, output_padding=0,
                               dilation=1):
    """(n − 1)s − 2p + d(k − 1) + output_padding + 1."""
    return (n - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1


def _tuple(value, n, owner, arg):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),) * n
    if isinstance(value, (tuple, list)) and len(value) == n and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        return tuple(int(v) for v in value)
    raise TypeError(f"{owner}: {arg} must be an int or a tuple of {n} ints, got {value!r}")


# -- im2col / col2im ------------------------------------------------------------------------
def im2col(xp, kernel, stride, dilation, out, groups=1):
    """A strided view of the padded input ``xp`` (N, C, *S) with axes
    (G, C/G, *kernel, N, *out): entry [g, c, j, n, o] = xp[n, g·C/G + c, s·o + d·j]."""
    n, c = xp.shape[:2]
    st = xp.strides
    sp = st[2:]
    shape = (groups, c // groups, *kernel, n, *out)
    strides = (st[1] * (c // groups), st[1], *(a * d for a, d in zip(sp, dilation)), st[0],
               *(a * s for a, s in zip(sp, stride)))
    return np.lib.stride_tricks.as_strided(xp, shape, strides, writeable=False)


def col2im(cols, xp_shape, kernel, stride, dilation, out):
    """The adjoint of ``im2col``: sum ``cols`` (G, C/G, *kernel, N, *out) back into a zero
    array of shape ``xp_shape`` (N, C, *S). One vectorised slice addition per kernel offset."""
    n, c = xp_shape[:2]
    dxp = np.zeros(xp_shape, dtype=cols.dtype)
    nd = len(kernel)
    # (G, C/G, *k, N, *out) -> (N, G·C/G, *k, *out) as a view (G and C/G merge without a copy)
    perm = (nd + 2, 0, 1, *range(2, nd + 2), *range(nd + 3, 2 * nd + 3))
    view = cols.transpose(perm)
    view = view.reshape(n, c, *kernel, *out)
    for j in np.ndindex(*kernel):
        target = (slice(None), slice(None)) + tuple(
            slice(d * jj, d * jj + s * (o - 1) + 1, s)
            for jj, s, d, o in zip(j, stride, dilation, out))
        dxp[target] += view[(slice(None), slice(None)) + j]
    return dxp


# -- functional forms --------------------------------------------------------------------------
def _pad(x, pads):
    if not any(lo or hi for lo, hi in pads):
        return x
    return np.pad(x, ((0, 0), (0, 0), *pads))


def conv_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                 owner="conv", keep_cols=False):
    """y = conv(x, W) + b for x: (N, C_in, *S), weight: (C_out, C_in/G, *k).
    ``padding``: an int, a tuple of ints, or a tuple of (lo, hi) pairs, one per spatial axis.
    Returns y, or (y, X_col) with ``keep_cols``."""
    nd = weight.ndim - 2
    stride, dilation = _tuple(stride, nd, owner, "stride"), _tuple(dilation, nd, owner, "dilation")
    pads = _pairs(padding, nd, owner)
    kernel = weight.shape[2:]
    out = _out_shape(x.shape[2:], kernel, stride, pads, dilation, owner)
    xp = _pad(x, pads)
    cols = im2col(xp, kernel, stride, dilation, out, groups)
    g, cg = groups, x.shape[1] // groups
    cols = cols.reshape(g, cg * math.prod(kernel), -1)          # the one copy
    w = weight.reshape(g, weight.shape[0] // g, -1)
    y = np.matmul(w, cols)                                        # (G, F/G, N·Πout)
    y = y.reshape(weight.shape[0], x.shape[0], *out)
    y = np.ascontiguousarray(np.moveaxis(y, 1, 0))
    if bias is not None:
        y += bias.reshape(-1, *(1,) * nd)
    return (y, cols) if keep_cols else y


def conv_backward(dy, x_shape, weight, cols, stride=1, padding=0, dilation=1, groups=1,
                  owner="conv", need_dx=True):
    """(dx, dW, db) of conv_forward, from the X_col it kept. dx is None unless ``need_dx``."""
    nd = weight.ndim - 2
    stride, dilation = _tuple(stride, nd, owner, "stride"), _tuple(dilation, nd, owner, "dilation")
    pads = _pairs(padding, nd, owner)
    kernel, out = weight.shape[2:], dy.shape[2:]
    g, f = groups, weight.shape[0]
    dy_mat = np.ascontiguousarray(np.moveaxis(dy, 1, 0)).reshape(g, f // g, -1)
    # dW = dY @ X_colᵀ for every group (einsum: numpy's stacked matmul is slow on a
    # transposed operand; the contraction runs over the long N·Πout axis of both)
    if g == 1:
        dw = (dy_mat[0] @ cols[0].T).reshape(weight.shape)
    else:
        dw = np.einsum("gfp,gcp->gfc", dy_mat, cols, optimize=True).reshape(weight.shape)
    db = dy.sum(axis=(0, *range(2, dy.ndim)))
    dx = None
    if need_dx:
        w_t = np.ascontiguousarray(weight.reshape(g, f // g, -1).transpose(0, 2, 1))
        dcols = np.matmul(w_t, dy_mat)
        dcols = dcols.reshape(g, x_shape[1] // g, *kernel, x_shape[0], *out)
        xp_shape = (*x_shape[:2], *(n + lo + hi for n, (lo, hi) in zip(x_shape[2:], pads)))
        dxp = col2im(dcols, xp_shape, kernel, stride, dilation, out)
        dx = dxp[(slice(None), slice(None)) + tuple(slice(lo, lo + n)
                                                    for n, (lo, _) in zip(x_shape[2:], pads))]
    return dx, dw, db


def conv_transpose_forward(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                           dilation=1, groups=1, owner="conv_transpose"):
    """The adjoint of conv_forward in its input: x: (N, C_in, *L), weight: (C_in, C_out/G, *k)
    -> y: (N, C_out, *L_out), L_out = (L − 1)s − 2p + d(k − 1) + output_padding + 1."""
    nd = weight.ndim - 2
    stride, dilation = _tuple(stride, nd, owner, "stride"), _tuple(dilation, nd, owner, "dilation")
    padding = _tuple(padding, nd, owner, "padding")
    output_padding = _tuple(output_padding, nd, owner, "output_padding")
    kernel, g = weight.shape[2:], groups
    c_in, c_out = weight.shape[0], weight.shape[1] * groups
    n = x.shape[0]
    out = tuple(conv_transpose_output_size(L, k, s, p, op, d) for L, k, s, p, op, d in
                zip(x.shape[2:], kernel, stride, padding, output_padding, dilation))
    if min(out) < 1:
        raise ValueError(f"{owner}: the output size {out} is not positive (input {x.shape[2:]}, "
                         f"kernel {kernel}, stride {stride}, padding {padding})")
    x_mat = np.ascontiguousarray(np.moveaxis(x, 1, 0)).reshape(g, c_in // g, -1)
    w_t = np.ascontiguousarray(weight.reshape(g, c_in // g, -1).transpose(0, 2, 1))
    dcols = np.matmul(w_t, x_mat)
    dcols = dcols.reshape(g, c_out // g, *kernel, n, *x.shape[2:])
    full = (n, c_out, *(o + 2 * p for o, p in zip(out, padding)))
    yp = col2im(dcols, full, kernel, stride, dilation, x.shape[2:])
    y = np.ascontiguousarray(yp[(slice(None), slice(None)) +
                                tuple(slice(p, p + o) for p, o in zip(padding, out))])
    if bias is not None:
        y += bias.reshape(-1, *(1,) * nd)
    return y


def _pairs(padding, nd, owner):
    """Padding as ((lo, hi), ...) per spatial axis."""
    if isinstance(padding, (tuple, list)) and len(padding) == nd and all(
            isinstance(p, (tuple, list)) for p in padding):
        return tuple((int(lo), int(hi)) for lo, hi in padding)
    return tuple((p, p) for p in _tuple(padding, nd, owner, "padding"))


def _out_shape(size, kernel, stride, pads, dilation, owner):
    out = []
    for ax, (n, k, s, (lo, hi), d) in enumerate(zip(size, kernel, stride, pads, dilation)):
        span = d * (k - 1) + 1
        if span > n + lo + hi:
            raise ValueError(
                f"{owner}: the kernel (size {k}, dilation {d}: it spans {span} positions) is "
                f"larger than the padded input along spatial axis {ax} ({n} + padding {lo}+{hi} "
                f"= {n + lo + hi}); use a smaller kernel or dilation, or more padding")
        out.append((n + lo + hi - span) // s + 1)
    return tuple(out)


# -- modules -----------------------------------------------------------------------------------
class _ConvNd(Module):
    """Common code of Conv1d/2d/3d (see the module docstring for the formulas)."""
    nd = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", rng=None, dtype=np.float64):
        super().__init__()
        name = type(self).__name__
        for arg, v in (("in_channels", in_channels), ("out_channels", out_channels),
                       ("groups", groups)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}: {arg} must be a positive int, got {v!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is implemented, "
                             f"got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _tuple(kernel_size, self.nd, name, "kernel_size")
        self.stride = _tuple(stride, self.nd, name, "stride")
        self.dilation = _tuple(dilation, self.nd, name, "dilation")
        if min(self.kernel_size + self.stride + self.dilation) < 1:
            raise ValueError(f"{name}: kernel_size, stride and dilation must be positive")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', "
                                 f"got {padding!r}")
            if padding == "same" and max(self.stride) > 1:
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 f"convolutions (stride {self.stride}), as in torch")
            if padding == "valid":
                self._pads = ((0, 0),) * self.nd
            else:   # torch: total d(k-1), the odd one out goes at the end
                tot = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
                self._pads = tuple((t // 2, t - t // 2) for t in tot)
        else:
            self._pads = tuple((p, p) for p in _tuple(padding, self.nd, name, "padding"))
            if min(p for p, _ in self._pads) < 0:
                raise ValueError(f"{name}: padding must be non-negative, got {padding!r}")
        self.padding = padding
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        w, b = init.torch_default(shape, rng, dtype, bias)
        self.add_param("weight", w)
        self.has_bias = bias
        if bias:
            self.add_param("bias", b)
        self._cache = None

    def forward(self, x):
        name = type(self).__name__
        validate.array(x, name, "input", ndim=(self.nd + 1, self.nd + 2),
                    shape=(self.in_channels,) + (None,) * self.nd)
        unbatched = x.ndim == self.nd + 1          # (C, *S): a batch of one, as torch
        x = x[None] if unbatched else x
        w = self.params["weight"]
        y, cols = conv_forward(x, w, self.params["bias"] if self.has_bias else None, self.stride,
                               self._pads, self.dilation, self.groups, owner=name, keep_cols=True)
        self._cache = (x.shape, cols, y.shape, unbatched)
        return y[0] if unbatched else y

    def backward(self, dy):
        name = type(self).__name__
        x_shape, cols, y_shape, unbatched = validate.forward_called(name, self._cache)
        validate.grad(dy, y_shape[1:] if unbatched else y_shape, name)
        dx, dw, db = conv_backward(dy[None] if unbatched else dy, x_shape, self.params["weight"],
                                   cols, self.stride, self._pads, self.dilation, self.groups,
                                   owner=name)
        self.grads["weight"] += dw
        if self.has_bias:
            self.grads["bias"] += db
        return dx[0] if unbatched else dx

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"groups={self.groups}, bias={self.has_bias}")


class Conv1d(_ConvNd):
    """1-D convolution.  x: (N, C_in, L) -> y: (N, C_out, L_out)
    weight: (C_out, C_in/groups, k)   bias: (C_out,)"""
    nd = 1


class Conv2d(_ConvNd):
    """2-D convolution.  x: (N, C_in, H, W) -> y: (N, C_out, H_out, W_out)
    weight: (C_out, C_in/groups, k_h, k_w)   bias: (C_out,)

    forward  y = W ⋆ x + b (cross-correlation);  backward dx = full conv of dy with the flipped
    W; dW += x ⋆ dy; db += Σ dy. Formulas and implementation: the ``conv`` module docstring."""
    nd = 2


class Conv3d(_ConvNd):
    """3-D convolution.  x: (N, C_in, D, H, W) -> y: (N, C_out, D_out, H_out, W_out)
    weight: (C_out, C_in/groups, k_d, k_h, k_w)   bias: (C_out,)"""
    nd = 3


class _ConvTransposeNd(Module):
    """Transposed convolution: the adjoint of _ConvNd's input map with the same weight.

    x: (N, C_in, *L) -> y: (N, C_out, *L_out),  L_out = (L − 1)s − 2p + d(k − 1) + op + 1
    weight: (C_in, C_out/groups, *k)   bias: (C_out,)
    forward  y = convᵀ(x) + b  (col2im of Wᵀx)
    backward dx = conv(dy, W)  (im2col of dy, one matmul); dW += correlation of dy with x;
             db += Σ dy
    """
    nd = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 rng=None, dtype=np.float64):
        super().__init__()
        name = type(self).__name__
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _tuple(kernel_size, self.nd, name, "kernel_size")
        self.stride = _tuple(stride, self.nd, name, "stride")
        self.padding = _tuple(padding, self.nd, name, "padding")
        self.output_padding = _tuple(output_padding, self.nd, name, "output_padding")
        self.dilation = _tuple(dilation, self.nd, name, "dilation")
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if not 0 <= op < max(s, d):
                raise ValueError(f"{name}: output_padding {self.output_padding} must be smaller "
                                 f"than either stride {self.stride} or dilation {self.dilation}")
        shape = (in_channels, out_channels // groups, *self.kernel_size)
        w, _ = init.torch_default(shape, rng, dtype, False)
        self.add_param("weight", w)
        self.has_bias = bias
        if bias:
            bound = 1 / math.sqrt(init.fans(shape)[0])
            self.add_param("bias", init.get_rng(rng).uniform(-bound, bound, out_channels).astype(dtype))
        self._cache = None

    def forward(self, x):
        name = type(self).__name__
        validate.array(x, name, "input", ndim=(self.nd + 1, self.nd + 2),
                    shape=(self.in_channels,) + (None,) * self.nd)
        unbatched = x.ndim == self.nd + 1          # (C, *L): a batch of one, as torch
        x = x[None] if unbatched else x
        y = conv_transpose_forward(x, self.params["weight"],
                                   self.params["bias"] if self.has_bias else None, self.stride,
                                   self.padding, self.output_padding, self.dilation, self.groups,
                                   owner=name)
        self._cache = (x, y.shape, unbatched)
        return y[0] if unbatched else y

    def backward(self, dy):
        name = type(self).__name__
        x, y_shape, unbatched = validate.forward_called(name, self._cache)
        validate.grad(dy, y_shape[1:] if unbatched else y_shape, name)
        dy = dy[None] if unbatched else dy
        # x is the "output" of a convolution whose input is dy: dx = conv(dy, W). Pad dy by p
        # and drop the output_padding tail, which no window of x reaches.
        nd = self.nd
        keep = tuple(slice(0, (n - 1) * s + d * (k - 1) + 1) for n, s, d, k in
                     zip(x.shape[2:], self.stride, self.dilation, self.kernel_size))
        dyp = _pad(dy, tuple((p, p) for p in self.padding))[(slice(None), slice(None)) + keep]
        zero = ((0, 0),) * nd
        dx, cols = conv_forward(dyp, self.params["weight"], None, self.stride, zero,
                                self.dilation, self.groups, owner=name, keep_cols=True)
        # the convolution's weight gradient, with dyp as its input and x as its upstream gradient
        _, dw, _ = conv_backward(x, dyp.shape, self.params["weight"], cols, self.stride, zero,
                                 self.dilation, self.groups, owner=name, need_dx=False)
        self.grads["weight"] += dw
        if self.has_bias:
            self.grads["bias"] += dy.sum(axis=(0, *range(2, dy.ndim)))
        return dx[0] if unbatched else dx

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, "
                f"output_padding={self.output_padding}, groups={self.groups}")


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution.  x: (N, C_in, L) -> y: (N, C_out, L_out)"""
    nd = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution.  x: (N, C_in, H, W) -> y: (N, C_out, H_out, W_out)"""
    nd = 2
