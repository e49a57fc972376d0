"""Pooling, vectorised with strided window views (as in ``conv``), exactly as torch.

Output size per spatial axis (kernel k, stride s, padding p, dilation d):

    L_out = ⌊(L + 2p − d(k − 1) − 1)/s⌋ + 1               (ceil_mode=False)
    L_out = ⌈(L + 2p − d(k − 1) − 1)/s⌉ + 1, minus 1 if the last window would start at or
            beyond L + p (in the right padding only)       (ceil_mode=True)

max      y = max over the window (padding counts as −∞);  dx: dy routed to the argmax of each
         window (the first one in row-major order on ties, as torch), summed where windows overlap
average  y = (sum over the window) / divisor, where for a window starting at a = o·s − p
         the end is e = min(a + k, L + p) (a ceil-mode window may hang past the padding) and
           count_include_pad=True:  divisor = e − a            (padding counted, overhang not)
           count_include_pad=False: divisor = min(e, L) − max(a, 0)
         (products of these over the axes); dx: dy / divisor spread over the window
adaptive y[i] = mean of x[⌊iL/n⌋ : ⌈(i+1)L/n⌉] per axis: a linear map y = A_h x A_wᵀ
"""
from __future__ import annotations

import math
import numbers
from functools import partial
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from .. import validate
from ..module import Module
from .conv import col2im
from .spatial import Size, SpatialModule, spatial_ints

__all__ = ["MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool2d",
           "pool_output_size", "adaptive_pool_matrix", "max_pool_forward", "max_pool_backward",
           "avg_pool_forward", "avg_pool_backward", "adaptive_avg_pool_forward",
           "adaptive_avg_pool_backward", "PoolCache", "AdaptivePoolCache"]


def pool_output_size(n: int, kernel_size: int, stride: int | None = None, padding: int = 0,
                     dilation: int = 1, ceil_mode: bool = False, owner: str = "pool_output_size"
                     ) -> int:
    """Output length of torch's pooling along one axis (see the module docstring). Arguments
    torch's pooling refuses are refused here too (errors name ``owner``): a window that does not
    fit (output < 1), a padding larger than half the kernel."""
    n = validate.positive_int(n, owner, "n", minimum=0)
    kernel_size = validate.positive_int(kernel_size, owner, "kernel_size")
    stride = kernel_size if stride is None else validate.positive_int(stride, owner, "stride")
    padding = validate.positive_int(padding, owner, "padding", minimum=0)
    dilation = validate.positive_int(dilation, owner, "dilation")
    _check_padding((padding,), (kernel_size,), owner)
    span = dilation * (kernel_size - 1) + 1
    num = n + 2 * padding - span
    out = (-(-num // stride) if ceil_mode else num // stride) + 1
    if ceil_mode and (out - 1) * stride >= n + padding:
        out -= 1
    if out < 1:
        raise ValueError(f"{owner}: the window (kernel {kernel_size}, dilation {dilation}) must "
                         f"fit in the padded input, got size {n} + 2·{padding}; the output size "
                         f"would be {out}")
    return out


class PoolCache(NamedTuple):
    """What max_pool_backward and avg_pool_backward need from their forward."""
    x_shape: tuple[int, ...]      # (N, C, *S)
    xp_shape: tuple[int, ...]     # the padded input (N, C, *S_padded)
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    out: tuple[int, ...]          # L_out per spatial axis
    argmax: np.ndarray | None     # max: (N, C, *out) flat kernel index of each window's maximum
    divisor: np.ndarray | float | None   # average: per-window divisor, broadcast to *out


def _geometry(x_shape: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
              padding: tuple[int, ...], dilation: tuple[int, ...], ceil_mode: bool, owner: str
              ) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
    """L_out per axis, and the (lo, hi) padding that covers every window (ceil mode included)."""
    out, pads = [], []
    for n, k, s, p, d in zip(x_shape[2:], kernel, stride, padding, dilation):
        o = pool_output_size(n, k, s, p, d, ceil_mode, owner)
        out.append(o)
        pads.append((p, max(p, (o - 1) * s + d * (k - 1) + 1 - n - p)))
    return tuple(out), tuple(pads)


def _windows(xp: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...],
             dilation: tuple[int, ...], out: tuple[int, ...]) -> np.ndarray:
    """View (N, C, *out, *kernel) of the windows of xp (N, C, *S)."""
    st = xp.strides
    shape = (*xp.shape[:2], *out, *kernel)
    strides = (st[0], st[1], *(a * s for a, s in zip(st[2:], stride)),
               *(a * d for a, d in zip(st[2:], dilation)))
    return np.lib.stride_tricks.as_strided(xp, shape, strides, writeable=False)


def _check_padding(padding: tuple[int, ...], kernel: tuple[int, ...], owner: str) -> None:
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{owner}: padding must be at most half the kernel size {kernel} (as "
                         f"in torch), got {padding}")


def _check_input(x: np.ndarray, owner: str, arg: str = "x") -> None:
    """(N, C, *S) with C and every S > 0 (torch: only the batch may be empty)."""
    validate.array(x, owner, arg, min_ndim=3)
    if 0 in x.shape[1:]:
        raise ValueError(f"{owner}: {arg} must have non-empty channel and spatial axes (only the "
                         f"batch axis may be empty, as in torch), got shape {x.shape}")


def _args(x: np.ndarray, kernel_size: Size, stride: Size | None, padding: Size, dilation: Size,
          owner: str, check: bool
          ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """The per-axis arguments as tuples; with ``check``, x is checked first."""
    if check:
        _check_input(x, owner)
    nd = x.ndim - 2
    kernel = spatial_ints(kernel_size, nd, owner, "kernel_size")
    stride = kernel if stride is None else spatial_ints(stride, nd, owner, "stride")
    padding = spatial_ints(padding, nd, owner, "padding", 0)
    _check_padding(padding, kernel, owner)
    return kernel, stride, padding, spatial_ints(dilation, nd, owner, "dilation")


def _check_cache(dy: np.ndarray, cache: PoolCache, owner: str, field: str) -> None:
    """A backward's door: the forward's PoolCache (of the right pair), dy of the output's shape."""
    if not isinstance(cache, PoolCache) or getattr(cache, field) is None:
        raise TypeError(f"{owner}: cache must be the PoolCache returned by the forward of the "
                        f"pair, got {type(cache).__name__}")
    validate.grad(dy, cache.x_shape[:2] + cache.out, owner, "dy")


# -- max pooling: the pair ------------------------------------------------------------------
def max_pool_forward(x: np.ndarray, kernel_size: Size, stride: Size | None = None,
                     padding: Size = 0, dilation: Size = 1, ceil_mode: bool = False,
                     owner: str = "max_pool_forward", check: bool = True
                     ) -> tuple[np.ndarray, PoolCache]:
    """x: (N, C, *S) -> y: (N, C, *L_out), y = max over each window (padding is −∞).
    Errors name ``owner``; check=False: the caller (a module) has checked x."""
    kernel, stride, padding, dilation = _args(x, kernel_size, stride, padding, dilation, owner,
                                              check)
    out, pads = _geometry(x.shape, kernel, stride, padding, dilation, ceil_mode, owner)
    xp = np.pad(x, ((0, 0), (0, 0), *pads), constant_values=-np.inf)
    win = _windows(xp, kernel, stride, dilation, out)
    flat = win.reshape(*win.shape[:2 + len(out)], math.prod(kernel))     # (N, C, *out, Πk)
    arg = flat.argmax(axis=-1)                                    # first maximum, as torch
    y = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
    return y, PoolCache(x.shape, xp.shape, kernel, stride, padding, dilation, out, arg, None)


def max_pool_backward(dy: np.ndarray, cache: PoolCache, check: bool = True) -> np.ndarray:
    """dy: (N, C, *L_out) -> dx: (N, C, *S): each dy goes to its window's argmax, summed where
    windows overlap (one bincount over flat indices into the padded input)."""
    if check:
        _check_cache(dy, cache, "max_pool_backward", "argmax")
    x_shape, xp_shape, kernel, stride, padding, dilation, out, arg, _ = cache
    nd = len(out)
    kidx = np.unravel_index(arg, kernel)                          # kernel offset of the max
    n, c = x_shape[:2]
    flat = (np.arange(n)[:, None] * c + np.arange(c)).reshape(n, c, *(1,) * nd)
    for a, (o, s, kk, d) in enumerate(zip(out, stride, kidx, dilation)):
        pos = np.arange(o).reshape((-1,) + (1,) * (nd - 1 - a)) * s + kk * d
        flat = flat * xp_shape[2 + a] + pos                       # window origin + offset
    dxp = np.bincount(flat.ravel(), weights=dy.ravel(), minlength=math.prod(xp_shape))
    dxp = dxp.reshape(xp_shape).astype(dy.dtype, copy=False)
    return dxp[(slice(None), slice(None)) + tuple(slice(p, p + m) for p, m in
                                                  zip(padding, x_shape[2:]))]


# -- average pooling: the pair --------------------------------------------------------------
def _divisor(x_shape: tuple[int, ...], out: tuple[int, ...], kernel: tuple[int, ...],
             stride: tuple[int, ...], padding: tuple[int, ...], count_include_pad: bool
             ) -> np.ndarray | float:
    div = 1.0
    nd = len(out)
    for a, (n, o, k, s, p) in enumerate(zip(x_shape[2:], out, kernel, stride, padding)):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        size = end - start if count_include_pad else np.minimum(end, n) - np.maximum(start, 0)
        div = div * size.reshape((-1,) + (1,) * (nd - 1 - a))
    return div


def avg_pool_forward(x: np.ndarray, kernel_size: Size, stride: Size | None = None,
                     padding: Size = 0, ceil_mode: bool = False, count_include_pad: bool = True,
                     divisor_override: int | None = None, owner: str = "avg_pool_forward",
                     check: bool = True) -> tuple[np.ndarray, PoolCache]:
    """x: (N, C, *S) -> y: (N, C, *L_out), y = (sum over each window) / divisor.
    Errors name ``owner``; check=False: the caller (a module) has checked x."""
    kernel, stride, padding, dilation = _args(x, kernel_size, stride, padding, 1, owner, check)
    if divisor_override is not None:
        validate.positive_int(divisor_override, owner, "divisor_override")
    out, pads = _geometry(x.shape, kernel, stride, padding, dilation, ceil_mode, owner)
    xp = np.pad(x, ((0, 0), (0, 0), *pads))
    div = (float(divisor_override) if divisor_override is not None else
           _divisor(x.shape, out, kernel, stride, padding, count_include_pad))
    y = _windows(xp, kernel, stride, dilation, out).sum(axis=tuple(range(-len(out), 0))) / div
    cache = PoolCache(x.shape, xp.shape, kernel, stride, padding, dilation, out, None, div)
    return y.astype(x.dtype, copy=False), cache


def avg_pool_backward(dy: np.ndarray, cache: PoolCache, check: bool = True) -> np.ndarray:
    """dy: (N, C, *L_out) -> dx: (N, C, *S): dy / divisor added to every entry of its window
    (col2im of dy / divisor repeated over the kernel offsets)."""
    if check:
        _check_cache(dy, cache, "avg_pool_backward", "divisor")
    x_shape, xp_shape, kernel, stride, padding, dilation, out, _, div = cache
    g = np.moveaxis(dy / div, 0, 1)                               # (C, N, *out)
    cols = np.broadcast_to(g[None, :, *(None,) * len(out)],
                           (1, x_shape[1], *kernel, x_shape[0], *out))
    dxp = col2im(cols, xp_shape, kernel, stride, dilation, out)
    dx = dxp[(slice(None), slice(None)) + tuple(slice(p, p + m) for p, m in
                                                zip(padding, x_shape[2:]))]
    return dx.astype(dy.dtype, copy=False)


# -- adaptive average pooling: the pair -----------------------------------------------------
def adaptive_pool_matrix(n_in: int, n_out: int, dtype: npt.DTypeLike = np.float64) -> np.ndarray:
    """(n_out, n_in) averaging matrix of torch's adaptive pooling: row i averages
    x[⌊i·n_in/n_out⌋ : ⌈(i+1)·n_in/n_out⌉]. n_out = 0 gives an empty matrix (as torch)."""
    n_in = validate.positive_int(n_in, "adaptive_pool_matrix", "n_in")
    n_out = validate.positive_int(n_out, "adaptive_pool_matrix", "n_out", minimum=0)
    i = np.arange(n_out)
    start = (i * n_in) // n_out
    end = -((-(i + 1) * n_in) // n_out)
    j = np.arange(n_in)
    inside = (j >= start[:, None]) & (j < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


class AdaptivePoolCache(NamedTuple):
    a_h: np.ndarray               # (h_out, H)
    a_w: np.ndarray               # (w_out, W)
    x_shape: tuple[int, ...] = ()  # (*, H, W) of the input


def _adaptive_size(output_size: object, owner: str) -> tuple[int | None, int | None]:
    """An int >= 0, or a pair of ints >= 0 or None (None keeps that input size), as torch."""
    size = (output_size,) * 2 if isinstance(output_size, numbers.Integral) else output_size
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise TypeError(f"{owner}: output_size must be an int or a pair of ints or None, got "
                        f"{output_size!r}")
    return tuple(None if s is None else validate.positive_int(s, owner, "output_size", 0)
                 for s in size)


def _check_adaptive(x: np.ndarray, owner: str, arg: str) -> None:
    validate.array(x, owner, arg, ndim=(3, 4))
    if 0 in x.shape[-2:]:
        raise ValueError(f"{owner}: {arg} must have non-empty spatial axes (H, W), got shape "
                         f"{x.shape}")


def adaptive_avg_pool_forward(x: np.ndarray, output_size: int | tuple[int | None, int | None],
                              check: bool = True) -> tuple[np.ndarray, AdaptivePoolCache]:
    """x: (N, C, H, W) or (C, H, W) -> y: (*, h_out, w_out),  y = A_h x A_wᵀ; output_size as
    AdaptiveAvgPool2d's. check=False: the caller (the module) has checked x."""
    owner = "adaptive_avg_pool_forward"
    if check:
        _check_adaptive(x, owner, "x")
    h, w = (n if o is None else o for n, o in zip(x.shape[-2:], _adaptive_size(output_size, owner)))
    a_h = adaptive_pool_matrix(x.shape[-2], h, x.dtype)
    a_w = adaptive_pool_matrix(x.shape[-1], w, x.dtype)
    y = np.einsum("ih,...hw,jw->...ij", a_h, x, a_w, optimize=True)
    return y, AdaptivePoolCache(a_h, a_w, x.shape)


def adaptive_avg_pool_backward(dy: np.ndarray, cache: AdaptivePoolCache, check: bool = True
                               ) -> np.ndarray:
    """dy: (*, h_out, w_out) -> dx: (*, H, W),  dx = A_hᵀ dy A_w."""
    if check:
        if not isinstance(cache, AdaptivePoolCache):
            raise TypeError(f"adaptive_avg_pool_backward: cache must be the AdaptivePoolCache "
                            f"returned by the forward, got {type(cache).__name__}")
        validate.grad(dy, cache.x_shape[:-2] + (len(cache.a_h), len(cache.a_w)),
                      "adaptive_avg_pool_backward", "dy")
    return np.einsum("ih,...ij,jw->...hw", cache.a_h, dy, cache.a_w, optimize=True)


# -- modules: thin wrappers over the pairs ---------------------------------------------------
class _PoolNd(SpatialModule):
    """Common arguments and the unbatched (C, *S) input of the pooling modules."""
    nd = 2

    def __init__(self, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
                 dilation: Size = 1, ceil_mode: bool = False) -> None:
        super().__init__()
        name = type(self).__name__
        self.kernel_size = spatial_ints(kernel_size, self.nd, name, "kernel_size")
        default = stride is None or (isinstance(stride, list) and not stride)     # torch: [] too
        self.stride = self.kernel_size if default else spatial_ints(stride, self.nd, name, "stride")
        self.padding = spatial_ints(padding, self.nd, name, "padding", 0)
        _check_padding(self.padding, self.kernel_size, name)
        self.dilation = spatial_ints(dilation, self.nd, name, "dilation")
        self.ceil_mode = bool(ceil_mode)
        self._cache = None

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx, unbatched = self._run_backward(dy, self._pair_backward)
        return dx[0] if unbatched else dx

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class _MaxPoolNd(_PoolNd):
    _pair_backward = staticmethod(partial(max_pool_backward, check=False))

    def __init__(self, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
                 dilation: Size = 1, return_indices: bool = False, ceil_mode: bool = False) -> None:
        if return_indices:
            raise ValueError(f"{type(self).__name__}: return_indices must be False (True is "
                             f"not implemented), got {return_indices!r}")
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._run(x, lambda x4: max_pool_forward(
            x4, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
            owner=type(self).__name__, check=False), nonempty=True)


class MaxPool1d(_MaxPoolNd):
    """x: (N, C, L) or (C, L) -> y: (N, C, L_out); see the module docstring."""
    nd = 1


class MaxPool2d(_MaxPoolNd):
    """x: (N, C, H, W) or (C, H, W) -> y: (N, C, H_out, W_out); see the module docstring."""
    nd = 2


class _AvgPoolNd(_PoolNd):
    _pair_backward = staticmethod(partial(avg_pool_backward, check=False))

    def __init__(self, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: float | None = None) -> None:
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = count_include_pad
        self.divisor_override = None if divisor_override is None else validate.positive_int(
            divisor_override, type(self).__name__, "divisor_override")

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._run(x, lambda x4: avg_pool_forward(
            x4, self.kernel_size, self.stride, self.padding, self.ceil_mode,
            self.count_include_pad, self.divisor_override, owner=type(self).__name__,
            check=False), nonempty=True)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}, count_include_pad={self.count_include_pad}")


class AvgPool1d(_AvgPoolNd):
    """x: (N, C, L) or (C, L) -> y: (N, C, L_out); see the module docstring.
    ``AvgPool1d(3, 2, 1, ceil_mode=True)`` on 1..6 gives 1, 3, 5, 3: the last window starts at
    5 and is cut at L + p = 7, so it averages (6 + 0)/2."""
    nd = 1

    def __init__(self, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """x: (N, C, H, W) or (C, H, W) -> y: (N, C, H_out, W_out); see the module docstring."""
    nd = 2


class AdaptiveAvgPool2d(Module):
    """x: (N, C, H, W) or (C, H, W) -> y: (N, C, h, w) for output_size (h, w); an int means
    (h, h), a None in the pair keeps that input size. Size 1 is global average pooling.

    forward  y = A_h x A_wᵀ          backward dx = A_hᵀ dy A_w       (A from adaptive_pool_matrix)
    """

    def __init__(self, output_size: int | tuple[int | None, int | None]) -> None:
        super().__init__()
        self.output_size = _adaptive_size(output_size, "AdaptiveAvgPool2d")
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        _check_adaptive(x, "AdaptiveAvgPool2d", "input")
        y, cache = adaptive_avg_pool_forward(x, self.output_size, check=False)
        self._cache = (cache, y.shape)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        cache, y_shape = validate.forward_called("AdaptiveAvgPool2d", self._cache)
        validate.grad(dy, y_shape, "AdaptiveAvgPool2d")
        return adaptive_avg_pool_backward(dy, cache, check=False)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
