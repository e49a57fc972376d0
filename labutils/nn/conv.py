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
The products run per sample, a few samples at a time (conv_kernels.py says why, with the
measurements): the columns of sample n are X_col[n] (G, C_in/G·Πk, ΠL_out), and Y[n] = W_mat
X_col[n] is already y[n] in (C_out, ΠL_out) order.

A transposed convolution is the adjoint of a convolution with the same weight: its forward is
the convolution's input gradient (col2im of W_matᵀ x) and its backward the convolution's forward.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from .. import init, validate
from .conv_kernels import (
    Pads,
    _pad,
    _pad_pairs,
    col2im,
    conv_gemm,
    conv_output_size,
    conv_transpose_output_size,
    im2col,
    input_grad,
    weight_grad,
)
from .spatial import Size, SpatialModule, spatial_ints

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
           "conv_output_size", "conv_transpose_output_size", "conv_forward", "conv_backward",
           "conv_transpose_forward", "conv_transpose_backward", "ConvCache",
           "ConvTransposeCache", "im2col", "col2im"]



# -- convolution: the pair --------------------------------------------------------------------
class ConvCache(NamedTuple):
    """What conv_backward needs from conv_forward."""
    x_shape: tuple[int, ...]      # (N, C_in, *S), before padding
    y_shape: tuple[int, ...]      # (N, C_out, *L_out)
    weight: np.ndarray            # (C_out, C_in/G, *k)
    xp: np.ndarray                # x padded: (N, C_in, *S_padded)
    stride: tuple[int, ...]
    pads: Pads                    # (lo, hi) per spatial axis
    dilation: tuple[int, ...]
    groups: int

    @property
    def cols(self) -> np.ndarray:
        """X_col (G, C_in/G·Πk, N·ΠL_out), the matrix of the forward product (built on demand:
        the passes build it chunk by chunk)."""
        return im2col(self.xp, self.weight.shape[2:], self.stride, self.dilation,
                      self.y_shape[2:], self.groups)


def conv_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None,
                 stride: Size = 1, padding: Size | Pads = 0, dilation: Size = 1, groups: int = 1,
                 owner: str = "conv_forward") -> tuple[np.ndarray, ConvCache]:
    """y = W ⋆ x + b as one matrix product per sample: Y[n] = W_mat X_col[n].

    x: (N, C_in, *S)   weight: (C_out, C_in/G, *k)   bias: (C_out,) or None
    -> y: (N, C_out, *L_out), and the cache for conv_backward.
    stride, dilation: an int or one per spatial axis; padding: the same, or (lo, hi) pairs."""
    groups = _check_pair(x, weight, bias, groups, owner)
    stride, pads, dilation, out = _geometry(x.shape, weight.shape, stride, padding, dilation,
                                            owner)
    xp = _pad(x, pads)
    y = conv_gemm(xp, weight, stride, dilation, out, groups)        # (N, C_out, *L_out)
    if bias is not None:
        y += bias.reshape(-1, *(1,) * len(out))
    return y, ConvCache(x.shape, y.shape, weight, xp, stride, pads, dilation, groups)


def conv_backward(dy: np.ndarray, cache: ConvCache, need_dx: bool = True
                  ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """dy: (N, C_out, *L_out) -> dx: (N, C_in, *S) (None unless need_dx), dW: (C_out, C_in/G,
    *k), db: (C_out,).   dW = dY X_colᵀ;  db = Σ dy;  dx = col2im(W_matᵀ dY), padding cut off."""
    _check_cache(cache, ConvCache, "conv_backward", "conv_forward")
    validate.grad(dy, cache.y_shape, "conv_backward", "dy")
    _, _, w, xp, stride, pads, dilation, g = cache
    dw = weight_grad(dy, xp, w.shape[2:], stride, dilation, g)
    db = dy.sum(axis=(0, *range(2, dy.ndim)))
    if not need_dx:
        return None, dw, db
    return input_grad(dy, w, cache.x_shape, pads, stride, dilation, g), dw, db


# -- transposed convolution: the pair ---------------------------------------------------------
class ConvTransposeCache(NamedTuple):
    """What conv_transpose_backward needs from conv_transpose_forward."""
    x: np.ndarray                 # (N, C_in, *L)
    y_shape: tuple[int, ...]      # (N, C_out, *L_out)
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
    g = _check_pair(x, weight, bias, groups, owner, transposed=True)
    nd, kernel = weight.ndim - 2, weight.shape[2:]
    stride, dilation, padding, output_padding = (
        spatial_ints(v, nd, owner, arg, low) for v, arg, low in (
            (stride, "stride", 1), (dilation, "dilation", 1), (padding, "padding", 0),
            (output_padding, "output_padding", 0)))
    if any(op >= max(s, d) for op, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"{owner}: output_padding (one per axis) must be smaller than either "
                         f"stride {stride} or dilation {dilation}, got {output_padding}")
    out = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, k, s, p, op, d in
                zip(x.shape[2:], kernel, stride, padding, output_padding, dilation))
    if min(out) < 1:
        raise ValueError(f"{owner}: the output size must be positive, got {out} (input "
                         f"{x.shape[2:]}, kernel {kernel}, stride {stride}, padding {padding})")
    y = np.ascontiguousarray(input_grad(x, weight, (x.shape[0], weight.shape[1] * g, *out),
                                        tuple((p, p) for p in padding), stride, dilation, g))
    if bias is not None:
        y += bias.reshape(-1, *(1,) * nd)
    return y, ConvTransposeCache(x, y.shape, weight, stride, padding, dilation, g)


def conv_transpose_backward(dy: np.ndarray, cache: ConvTransposeCache
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dy: (N, C_out, *L_out) -> dx: (N, C_in, *L), dW: (C_in, C_out/G, *k), db: (C_out,).

    x is the "output" of a convolution whose input is dy: dx = conv(dy padded by p, W), and
    dW is that convolution's weight gradient with x as its upstream gradient."""
    _check_cache(cache, ConvTransposeCache, "conv_transpose_backward", "conv_transpose_forward")
    validate.grad(dy, cache.y_shape, "conv_transpose_backward", "dy")
    x, _, w, stride, padding, dilation, g = cache
    # pad dy by p and drop the output_padding tail, which no window of x reaches
    keep = tuple(slice(0, (n - 1) * s + d * (k - 1) + 1) for n, s, d, k in
                 zip(x.shape[2:], stride, dilation, w.shape[2:]))
    dyp = _pad(dy, tuple((p, p) for p in padding))[(slice(None), slice(None)) + keep]
    dx = conv_gemm(dyp, w, stride, dilation, x.shape[2:], g)
    dw = weight_grad(x, dyp, w.shape[2:], stride, dilation, g)
    return dx, dw, dy.sum(axis=(0, *range(2, dy.ndim)))


# -- checks, padding and geometry ---------------------------------------------------------
def _check_pair(x: object, weight: object, bias: object, groups: object, owner: str,
                transposed: bool = False) -> int:
    """Validate a pair's arrays and return groups as an int. weight: (C_out, C_in/G, *k), or
    (C_in, C_out/G, *k) for a transposed convolution."""
    validate.array(weight, owner, "weight", ndim=(3, 4, 5))
    if 0 in weight.shape:
        raise ValueError(f"{owner}: weight must have no empty axis, got shape {weight.shape}")
    groups = validate.positive_int(groups, owner, "groups")
    if weight.shape[0] % groups:
        raise ValueError(f"{owner}: groups must divide weight.shape[0] = {weight.shape[0]}, "
                         f"got {groups}")
    c_in, c_out = ((weight.shape[0], weight.shape[1] * groups) if transposed else
                   (weight.shape[1] * groups, weight.shape[0]))
    validate.array(x, owner, "x", ndim=weight.ndim)
    if x.shape[1] != c_in:
        raise ValueError(f"{owner}: x (the input) must have {c_in} channels for a weight of "
                         f"shape {weight.shape} and groups {groups}, got shape {x.shape}")
    if 0 in x.shape[2:]:
        raise ValueError(f"{owner}: x (the input) must have non-empty spatial axes, got shape "
                         f"{x.shape}")
    if bias is not None:
        validate.array(bias, owner, "bias", ndim=1)
        if bias.shape != (c_out,):
            raise ValueError(f"{owner}: bias must have shape ({c_out},), one per output channel "
                             f"of a weight of shape {weight.shape}, got {bias.shape}")
    return groups


def _check_cache(cache: object, kind: type, owner: str, maker: str) -> None:
    if not isinstance(cache, kind):
        raise TypeError(f"{owner}: cache must be the {kind.__name__} that {maker} returned, "
                        f"got {type(cache).__name__}")


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
                f"= {n + lo + hi}); use a smaller kernel or dilation, or more padding, "
                f"got input shape {x_shape}")
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
            raise ValueError(f"{name}: output_padding (one per axis) must be smaller than "
                             f"either stride {self.stride} or dilation {self.dilation}, got "
                             f"{self.output_padding}")
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
