"""Convolution (cross-correlation, as in every framework) and transposed convolution, in 1, 2
and 3 spatial dimensions, vectorised with im2col.

With x padded to x̃ (p_lo zeros before, p_hi after along each spatial axis), stride s,
dilation d, kernel k, and groups G (each group maps C_in/G input channels to C_out/G outputs):

forward   y[n, f, o] = b[f] + Σ_{c ∈ group(f)} Σ_j  W[f, c, j] · x̃[n, c, s·o + d·j]
          L_out = ⌊(L_in + p_lo + p_hi − d(k − 1) − 1) / s⌋ + 1
backward  dW[f, c, j] = Σ_n Σ_o dy[n, f, o] · x̃[n, c, s·o + d·j]   (correlate x with dy)
          db[f]       = Σ_n Σ_o dy[n, f, o]
          dx̃[n, c, i] = Σ_f Σ_{o, j: s·o + d·j = i} dy[n, f, o] · W[f, c, j]
                        (a "full" convolution of the stride-dilated dy with the flipped kernel;
                        dx is dx̃ with the padding cut off)

As matrices (one product per direction):
  im2col  lays every window of x̃ out as a column: X_col (G, C_in/G·Πk, N·ΠL_out), built from a
          strided *view* of x̃ and copied once;
  forward Y = W_mat X_col,        W_mat: (G, C_out/G, C_in/G·Πk)
  backward dW = dY X_colᵀ,        dX_col = W_matᵀ dY, and col2im (the adjoint of im2col) adds
          every column back into the window it came from: a loop over the Πk kernel offsets (9
          for a 3x3 kernel), each one vectorised slice addition; no Python loop over pixels.

A transposed convolution is the adjoint of a convolution with the same weight: its forward is
the convolution's input gradient (col2im of W_matᵀ x) and its backward the convolution's forward.
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from .. import init
from .. import validate
from .spatial import Size, SpatialModule, spatial_ints

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
           "conv_output_size", "conv_transpose_output_size", "conv_forward", "conv_backward",
           "conv_transpose_forward", "conv_transpose_backward", "ConvCache",
           "ConvTransposeCache", "im2col", "col2im"]

Pads = tuple[tuple[int, int], ...]


def conv_output_size(n: int, kernel_size: int, stride: int = 1,
                     padding: int | tuple[int, int] = 0, dilation: int = 1) -> int:
    """⌊(n + 2p − d(k − 1) − 1)/s⌋ + 1 (``padding`` may be a (lo, hi) pair)."""
    lo, hi = (padding, padding) if isinstance(padding, numbers.Integral) else padding
    return (n + lo + hi - dilation * (kernel_size - 1) - 1) // stride + 1


def conv_transpose_output_size(n: int, kernel_size: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """(n − 1)s − 2p + d(k − 1) + output_padding + 1."""
    return (n - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1


# -- im2col / col2im ------------------------------------------------------------------------
def im2col(xp: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...],
           dilation: tuple[int, ...], out: tuple[int, ...], groups: int = 1) -> np.ndarray:
    """X_col (G, C/G·Πkernel, N·Πout) of the padded input xp (N, C, *S): column (n, o) of group
    g holds the window xp[n, g·C/G + c, s·o + d·j] for every (c, j), in that order.

    The windows are first a strided *view* of xp (no copy) with axes (G, C/G, *kernel, N, *out);
    the reshape to a matrix is the one copy."""
    n, c = xp.shape[:2]
    st, sp = xp.strides, xp.strides[2:]
    shape = (groups, c // groups, *kernel, n, *out)
    strides = (st[1] * (c // groups), st[1], *(a * d for a, d in zip(sp, dilation)), st[0],
               *(a * s for a, s in zip(sp, stride)))
    view = np.lib.stride_tricks.as_strided(xp, shape, strides, writeable=False)
    return view.reshape(groups, (c // groups) * math.prod(kernel), n * math.prod(out))


def col2im(cols: np.ndarray, xp_shape: tuple[int, ...], kernel: tuple[int, ...],
           stride: tuple[int, ...], dilation: tuple[int, ...], out: tuple[int, ...],
           groups: int = 1) -> np.ndarray:
    """The adjoint of ``im2col``: add the columns ``cols`` (G, C/G·Πkernel, N·Πout) back into
    the windows they came from, in a zero array of shape ``xp_shape`` (N, C, *S).
    One vectorised slice addition per kernel offset."""
    n, c = xp_shape[:2]
    nd = len(kernel)
    cols = cols.reshape(groups, c // groups, *kernel, n, *out)
    # (G, C/G, *k, N, *out) -> (N, C, *k, *out) as a view (G and C/G merge without a copy)
    perm = (nd + 2, 0, 1, *range(2, nd + 2), *range(nd + 3, 2 * nd + 3))
    view = cols.transpose(perm).reshape(n, c, *kernel, *out)
    dxp = np.zeros(xp_shape, dtype=cols.dtype)
    for j in np.ndindex(*kernel):
        target = (slice(None), slice(None)) + tuple(
            slice(d * jj, d * jj + s * (o - 1) + 1, s)
            for jj, s, d, o in zip(j, stride, dilation, out))
        dxp[target] += view[(slice(None), slice(None)) + j]
    return dxp


# -- convolution: the pair --------------------------------------------------------------------
class ConvCache(NamedTuple):
    """What conv_backward needs from conv_forward."""
    x_shape: tuple[int, ...]      # (N, C_in, *S), before padding
    weight: np.ndarray            # (C_out, C_in/G, *k)
    cols: np.ndarray              # X_col: (G, C_in/G·Πk, N·ΠL_out)
    stride: tuple[int, ...]
    pads: Pads                    # (lo, hi) per spatial axis
    dilation: tuple[int, ...]
    groups: int


def conv_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None,
                 stride: Size = 1, padding: Size | Pads = 0, dilation: Size = 1, groups: int = 1,
                 owner: str = "conv_forward") -> tuple[np.ndarray, ConvCache]:
    """y = W ⋆ x + b as one matrix product: Y = W_mat X_col.

    x: (N, C_in, *S)   weight: (C_out, C_in/G, *k)   bias: (C_out,) or None
    -> y: (N, C_out, *L_out), and the cache for conv_backward.
    stride, dilation: an int or one per spatial axis; padding: the same, or (lo, hi) pairs."""
    stride, pads, dilation, out = _geometry(x.shape, weight.shape, stride, padding, dilation,
                                            owner)
    kernel, c_out, g, nd = weight.shape[2:], weight.shape[0], groups, weight.ndim - 2
    cols = im2col(_pad(x, pads), kernel, stride, dilation, out, g)   # (G, C_in/G·Πk, N·ΠL_out)
    y = np.matmul(weight.reshape(g, c_out // g, -1), cols)          # (G, C_out/G, N·ΠL_out)
    y = np.ascontiguousarray(np.moveaxis(y.reshape(c_out, x.shape[0], *out), 1, 0))
    if bias is not None:
        y += bias.reshape(-1, *(1,) * nd)
    return y, ConvCache(x.shape, weight, cols, stride, pads, dilation, g)


def conv_backward(dy: np.ndarray, cache: ConvCache, need_dx: bool = True
                  ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """dy: (N, C_out, *L_out) -> dx: (N, C_in, *S) (None unless need_dx), dW: (C_out, C_in/G,
    *k), db: (C_out,).   dW = dY X_colᵀ;  db = Σ dy;  dx = col2im(W_matᵀ dY), padding cut off."""
    x_shape, w, cols, stride, pads, dilation, g = cache
    f, kernel, out = w.shape[0], w.shape[2:], dy.shape[2:]
    dy_mat = np.ascontiguousarray(np.moveaxis(dy, 1, 0)).reshape(g, f // g, -1)
    # dW = dY X_colᵀ per group (einsum: numpy's stacked matmul is slow on a transposed operand)
    dw = (dy_mat[0] @ cols[0].T if g == 1 else
          np.einsum("gfp,gcp->gfc", dy_mat, cols, optimize=True)).reshape(w.shape)
    db = dy.sum(axis=(0, *range(2, dy.ndim)))
    if not need_dx:
        return None, dw, db
    w_t = np.ascontiguousarray(w.reshape(g, f // g, -1).transpose(0, 2, 1))
    dcols = np.matmul(w_t, dy_mat)                                  # dX_col = W_matᵀ dY
    xp_shape = (*x_shape[:2], *(n + lo + hi for n, (lo, hi) in zip(x_shape[2:], pads)))
    dxp = col2im(dcols, xp_shape, kernel, stride, dilation, out, g)
    return _crop(dxp, pads, x_shape[2:]), dw, db


# -- transposed convolution: the pair ---------------------------------------------------------
class ConvTransposeCache(NamedTuple):
    """What conv_transpose_backward needs from conv_transpose_forward."""
    x: np.ndarray                 # (N, C_in, *L)
    weight: np.ndarray            # (C_in, C_out/G, *k)
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int


def conv_transpose_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None,
                           stride: Size = 1, padding: Size = 0, output_padding: Size = 0,
                           dilation: Size = 1, groups: int = 1,
                           owner: str = "conv_transpose_forward"
                           ) -> tuple[np.ndarray, ConvTransposeCache]:
    """The adjoint of conv_forward in its input, with the same weight: y = col2im(W_matᵀ x) + b.

    x: (N, C_in, *L)   weight: (C_in, C_out/G, *k)   bias: (C_out,) or None
    -> y: (N, C_out, *L_out), L_out = (L − 1)s − 2p + d(k − 1) + output_padding + 1."""
    nd, kernel, g = weight.ndim - 2, weight.shape[2:], groups
    stride = spatial_ints(stride, nd, owner, "stride")
    dilation = spatial_ints(dilation, nd, owner, "dilation")
    padding = spatial_ints(padding, nd, owner, "padding", 0)
    output_padding = spatial_ints(output_padding, nd, owner, "output_padding", 0)
    c_in, c_out = weight.shape[0], weight.shape[1] * g
    out = tuple(conv_transpose_output_size(n, k, s, p, op, d) for n, k, s, p, op, d in
                zip(x.shape[2:], kernel, stride, padding, output_padding, dilation))
    if min(out) < 1:
        raise ValueError(f"{owner}: the output size must be positive, got {out} (input "
                         f"{x.shape[2:]}, kernel {kernel}, stride {stride}, padding {padding})")
    x_mat = np.ascontiguousarray(np.moveaxis(x, 1, 0)).reshape(g, c_in // g, -1)
    w_t = np.ascontiguousarray(weight.reshape(g, c_in // g, -1).transpose(0, 2, 1))
    full = (x.shape[0], c_out, *(o + 2 * p for o, p in zip(out, padding)))
    yp = col2im(np.matmul(w_t, x_mat), full, kernel, stride, dilation, x.shape[2:], g)
    y = np.ascontiguousarray(_crop(yp, tuple((p, p) for p in padding), out))
    if bias is not None:
        y += bias.reshape(-1, *(1,) * nd)
    return y, ConvTransposeCache(x, weight, stride, padding, dilation, g)


def conv_transpose_backward(dy: np.ndarray, cache: ConvTransposeCache
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dy: (N, C_out, *L_out) -> dx: (N, C_in, *L), dW: (C_in, C_out/G, *k), db: (C_out,).

    x is the "output" of a convolution whose input is dy: dx = conv(dy padded by p, W), and
    dW is that convolution's weight gradient with x as its upstream gradient."""
    x, w, stride, padding, dilation, g = cache
    # pad dy by p and drop the output_padding tail, which no window of x reaches
    keep = tuple(slice(0, (n - 1) * s + d * (k - 1) + 1) for n, s, d, k in
                 zip(x.shape[2:], stride, dilation, w.shape[2:]))
    dyp = _pad(dy, tuple((p, p) for p in padding))[(slice(None), slice(None)) + keep]
    dx, conv_cache = conv_forward(dyp, w, None, stride, 0, dilation, g)
    _, dw, _ = conv_backward(x, conv_cache, need_dx=False)
    return dx, dw, dy.sum(axis=(0, *range(2, dy.ndim)))


# -- padding and geometry -----------------------------------------------------------------
def _pad(x: np.ndarray, pads: Pads) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), *pads)) if any(lo or hi for lo, hi in pads) else x


def _crop(xp: np.ndarray, pads: Pads, size: tuple[int, ...]) -> np.ndarray:
    """Cut the padding off: xp[:, :, lo:lo + n] along every spatial axis."""
    return xp[(slice(None), slice(None)) + tuple(slice(lo, lo + n)
                                                 for n, (lo, _) in zip(size, pads))]


def _pad_pairs(padding: Size | Pads, nd: int, owner: str) -> Pads:
    """Padding as ((lo, hi), ...) per spatial axis."""
    if isinstance(padding, (tuple, list)) and len(padding) == nd and all(
            isinstance(p, (tuple, list)) for p in padding):
        return tuple((int(lo), int(hi)) for lo, hi in padding)
    return tuple((p, p) for p in spatial_ints(padding, nd, owner, "padding", 0))


def _geometry(x_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: Size,
              padding: Size | Pads, dilation: Size, owner: str
              ) -> tuple[tuple[int, ...], Pads, tuple[int, ...], tuple[int, ...]]:
    """conv_forward's arguments as tuples (stride, (lo, hi) pads, dilation) and L_out per axis,
    with a clear error when the kernel does not fit."""
    nd = len(w_shape) - 2
    stride = spatial_ints(stride, nd, owner, "stride")
    dilation = spatial_ints(dilation, nd, owner, "dilation")
    pads = _pad_pairs(padding, nd, owner)
    out = []
    for ax, (n, k, s, (lo, hi), d) in enumerate(zip(x_shape[2:], w_shape[2:], stride, pads,
                                                    dilation)):
        span = d * (k - 1) + 1
        if span > n + lo + hi:
            raise ValueError(
                f"{owner}: the kernel (size {k}, dilation {d}: it spans {span} positions) is "
                f"larger than the padded input along spatial axis {ax} ({n} + padding {lo}+{hi} "
                f"= {n + lo + hi}); use a smaller kernel or dilation, or more padding")
        out.append((n + lo + hi - span) // s + 1)
    return stride, pads, dilation, tuple(out)


def _same_or_valid(name: str, padding: str, kernel: tuple[int, ...], stride: Size, dilation: Size
                   ) -> Pads:
    """torch's padding='same' (total d(k − 1), the odd one at the end) or 'valid' (none)."""
    if padding not in ("same", "valid"):
        raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', "
                         f"got {padding!r}")
    if padding == "valid":
        return ((0, 0),) * len(kernel)
    if max(stride) > 1:
        raise ValueError(f"{name}: padding='same' is not supported for strided convolutions "
                         f"(as in torch): expected stride 1, got {stride}")
    return tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                 for d, k in zip(dilation, kernel))


# -- modules: thin wrappers over the pairs ---------------------------------------------------
class _ConvModule(SpatialModule):
    """What Conv and ConvTranspose modules share: argument checks, and the pair's gradients
    accumulated into ``grads``."""

    def _arguments(self, in_channels: int, out_channels: int, kernel_size: Size, stride: Size,
                   dilation: Size, groups: int, bias: bool, padding_mode: str) -> None:
        name = type(self).__name__
        for arg, v in (("in_channels", in_channels), ("out_channels", out_channels),
                       ("groups", groups)):
            validate.positive_int(v, name, arg)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels and out_channels must be divisible by groups "
                             f"({groups}), got {in_channels} and {out_channels}")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: padding_mode must be 'zeros' (the only one implemented), "
                             f"got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = spatial_ints(kernel_size, self.nd, name, "kernel_size")
        self.stride = spatial_ints(stride, self.nd, name, "stride")
        self.dilation = spatial_ints(dilation, self.nd, name, "dilation")
        self.has_bias = bias
        self._cache = None

    def backward(self, dy: np.ndarray) -> np.ndarray:
        (dx, dw, db), unbatched = self._run_backward(dy, self._pair_backward)
        self.grads["weight"] += dw
        if self.has_bias:
            self.grads["bias"] += db
        return dx[0] if unbatched else dx


class _ConvNd(_ConvModule):
    """Conv1d/2d/3d over conv_forward / conv_backward."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Size, stride: Size = 1,
                 padding: Size | str = 0, dilation: Size = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", rng: np.random.Generator | None = None,
                 dtype: npt.DTypeLike = np.float64) -> None:
        super().__init__()
        name = type(self).__name__
        self._arguments(in_channels, out_channels, kernel_size, stride, dilation, groups, bias,
                        padding_mode)
        self._pads = (_same_or_valid(name, padding, self.kernel_size, self.stride, self.dilation)
                      if isinstance(padding, str) else _pad_pairs(padding, self.nd, name))
        self.padding = padding
        w, b = init.torch_default((out_channels, in_channels // groups, *self.kernel_size),
                                  rng, dtype, bias)
        self.add_param("weight", w)
        if bias:
            self.add_param("bias", b)

    _pair_backward = staticmethod(conv_backward)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._run(x, lambda x4: conv_forward(
            x4, self.params["weight"], self.params.get("bias"), self.stride, self._pads,
            self.dilation, self.groups, owner=type(self).__name__), self.in_channels)

    def extra_repr(self) -> str:
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
    W; dW += x ⋆ dy; db += Σ dy. Formulas: the ``conv`` module docstring; code: conv_forward,
    conv_backward."""
    nd = 2


class Conv3d(_ConvNd):
    """3-D convolution.  x: (N, C_in, D, H, W) -> y: (N, C_out, D_out, H_out, W_out)
    weight: (C_out, C_in/groups, k_d, k_h, k_w)   bias: (C_out,)"""
    nd = 3


class _ConvTransposeNd(_ConvModule):
    """Transposed convolution over conv_transpose_forward / conv_transpose_backward.

    x: (N, C_in, *L) -> y: (N, C_out, *L_out),  L_out = (L − 1)s − 2p + d(k − 1) + op + 1
    weight: (C_in, C_out/groups, *k)   bias: (C_out,)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Size, stride: Size = 1,
                 padding: Size = 0, output_padding: Size = 0, groups: int = 1,
                 bias: bool = True, dilation: Size = 1, padding_mode: str = "zeros",
                 rng: np.random.Generator | None = None, dtype: npt.DTypeLike = np.float64) -> None:
        super().__init__()
        name = type(self).__name__
        self._arguments(in_channels, out_channels, kernel_size, stride, dilation, groups, bias,
                        padding_mode)
        self.padding = spatial_ints(padding, self.nd, name, "padding", 0)
        self.output_padding = spatial_ints(output_padding, self.nd, name, "output_padding", 0)
        if any(op >= max(s, d) for op, s, d in zip(self.output_padding, self.stride,
                                                    self.dilation)):
            raise ValueError(f"{name}: output_padding {self.output_padding} must be smaller "
                             f"than either stride {self.stride} or dilation {self.dilation}")
        shape = (in_channels, out_channels // groups, *self.kernel_size)
        self.add_param("weight", init.torch_default(shape, rng, dtype, False)[0])
        if bias:
            bound = 1 / math.sqrt(init.fans(shape)[0])
            b = init.get_rng(rng).uniform(-bound, bound, out_channels).astype(dtype)
            self.add_param("bias", b)

    _pair_backward = staticmethod(conv_transpose_backward)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._run(x, lambda x4: conv_transpose_forward(
            x4, self.params["weight"], self.params.get("bias"), self.stride, self.padding,
            self.output_padding, self.dilation, self.groups, owner=type(self).__name__),
            self.in_channels)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, "
                f"output_padding={self.output_padding}, groups={self.groups}")


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution.  x: (N, C_in, L) -> y: (N, C_out, L_out)"""
    nd = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution.  x: (N, C_in, H, W) -> y: (N, C_out, H_out, W_out)"""
    nd = 2
