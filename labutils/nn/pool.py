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
import math

import numpy as np

from .. import validate
from ..module import Module
from .conv import _tuple, col2im

__all__ = ["MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool2d",
           "pool_output_size", "adaptive_pool_matrix"]


def pool_output_size(n, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Output length of torch's pooling along one axis (see the module docstring)."""
    stride = kernel_size if stride is None else stride
    span = dilation * (kernel_size - 1) + 1
    num = n + 2 * padding - span
    out = (-(-num // stride) if ceil_mode else num // stride) + 1
    if ceil_mode and (out - 1) * stride >= n + padding:
        out -= 1
    return out


def _windows(xp, kernel, stride, dilation, out):
    """View (N, C, *out, *kernel) of windows of xp (N, C, *S)."""
    st = xp.strides
    shape = (*xp.shape[:2], *out, *kernel)
    strides = (st[0], st[1], *(a * s for a, s in zip(st[2:], stride)),
               *(a * d for a, d in zip(st[2:], dilation)))
    return np.lib.stride_tricks.as_strided(xp, shape, strides, writeable=False)


class _PoolNd(Module):
    nd = 2

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = _tuple(kernel_size, self.nd, name, "kernel_size")
        self.stride = self.kernel_size if stride is None or stride == [] else _tuple(
            stride, self.nd, name, "stride")
        self.padding = _tuple(padding, self.nd, name, "padding")
        self.dilation = _tuple(dilation, self.nd, name, "dilation")
        self.ceil_mode = bool(ceil_mode)
        if min(self.kernel_size + self.stride + self.dilation) < 1:
            raise ValueError(f"{name}: kernel_size, stride and dilation must be positive")
        for p, k in zip(self.padding, self.kernel_size):
            if not 0 <= p <= k // 2:
                raise ValueError(f"{name}: padding {self.padding} must be non-negative and at "
                                 f"most half the kernel size {self.kernel_size} (as in torch)")
        self._cache = None

    def _geometry(self, x):
        """Output shape and the (lo, hi) padding that covers every window."""
        name = type(self).__name__
        validate.array(x, name, "input", ndim=(self.nd + 1, self.nd + 2))
        out, pads = [], []
        for ax, (n, k, s, p, d) in enumerate(zip(x.shape[-self.nd:], self.kernel_size,
                                                 self.stride, self.padding, self.dilation)):
            o = pool_output_size(n, k, s, p, d, self.ceil_mode)
            if o < 1:
                raise ValueError(f"{name}: the window (kernel {k}, dilation {d}) is larger than "
                                 f"the padded input along spatial axis {ax} ({n} + 2·{p}); "
                                 f"output size would be {o}")
            out.append(o)
            pads.append((p, max(p, (o - 1) * s + d * (k - 1) + 1 - n - p)))
        return tuple(out), tuple(pads)

    @staticmethod
    def _batched(x, nd):
        """Inputs without a batch axis (C, *S) are treated as a batch of one, as torch does."""
        return (x[None], True) if x.ndim == nd + 1 else (x, False)


class _MaxPoolNd(_PoolNd):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        if return_indices:
            raise ValueError(f"{type(self).__name__}: return_indices is not implemented")
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)

    def forward(self, x):
        out, pads = self._geometry(x)
        x4, unbatched = self._batched(x, self.nd)
        xp = np.pad(x4, ((0, 0), (0, 0), *pads), constant_values=-np.inf)
        win = _windows(xp, self.kernel_size, self.stride, self.dilation, out)
        flat = win.reshape(*win.shape[:2 + self.nd], -1)
        arg = flat.argmax(axis=-1)                                  # first maximum, as torch
        y = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
        self._cache = (x.shape, x4.shape, xp.shape, arg, out, unbatched)
        return y[0] if unbatched else y

    def backward(self, dy):
        name = type(self).__name__
        x_shape, x4_shape, xp_shape, arg, out, unbatched = validate.forward_called(name, self._cache)
        validate.grad(dy, (x_shape[0], *out) if unbatched else (*x4_shape[:2], *out), name)
        dy4 = dy[None] if unbatched else dy
        # flat index in xp of each window's argmax: window origin + kernel offset
        kidx = np.unravel_index(arg, self.kernel_size)
        pos = [np.arange(o).reshape((-1,) + (1,) * (self.nd - 1 - a)) * s + kk * d
               for a, (o, s, kk, d) in enumerate(zip(out, self.stride, kidx, self.dilation))]
        n, c = x4_shape[:2]
        lead = (np.arange(n)[:, None] * c + np.arange(c)).reshape(n, c, *(1,) * self.nd)
        flat = lead
        for a, p in enumerate(pos):
            flat = flat * xp_shape[2 + a] + p
        dxp = np.bincount(flat.ravel(), weights=dy4.ravel(), minlength=math.prod(xp_shape))
        dxp = dxp.reshape(xp_shape).astype(dy.dtype, copy=False)
        dx = dxp[(slice(None), slice(None)) + tuple(slice(p, p + m) for p, m in
                                                     zip(self.padding, x4_shape[2:]))]
        return dx[0] if unbatched else dx

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """x: (N, C, L) or (C, L) -> y: (N, C, L_out); see the module docstring."""
    nd = 1


class MaxPool2d(_MaxPoolNd):
    """x: (N, C, H, W) or (C, H, W) -> y: (N, C, H_out, W_out); see the module docstring."""
    nd = 2


class _AvgPoolNd(_PoolNd):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = count_include_pad
        if divisor_override is not None and divisor_override <= 0:
            raise ValueError(f"{type(self).__name__}: divisor_override must be positive")
        self.divisor_override = divisor_override

    def _divisor(self, in_shape, out):
        if self.divisor_override is not None:
            return float(self.divisor_override)
        div = 1.0
        for a, (n, o, k, s, p) in enumerate(zip(in_shape, out, self.kernel_size, self.stride,
                                                 self.padding)):
            start = np.arange(o) * s - p
            end = np.minimum(start + k, n + p)
            size = end - start if self.count_include_pad else (
                np.minimum(end, n) - np.maximum(start, 0))
            div = div * size.reshape((-1,) + (1,) * (self.nd - 1 - a))
        return div

    def forward(self, x):
        out, pads = self._geometry(x)
        x4, unbatched = self._batched(x, self.nd)
        xp = np.pad(x4, ((0, 0), (0, 0), *pads))
        win = _windows(xp, self.kernel_size, self.stride, self.dilation, out)
        div = self._divisor(x4.shape[2:], out)
        y = win.sum(axis=tuple(range(-self.nd, 0))) / div
        self._cache = (x.shape, x4.shape, xp.shape, out, div, unbatched)
        return (y[0] if unbatched else y).astype(x.dtype, copy=False)

    def backward(self, dy):
        name = type(self).__name__
        x_shape, x4_shape, xp_shape, out, div, unbatched = validate.forward_called(name, self._cache)
        validate.grad(dy, (x_shape[0], *out) if unbatched else (*x4_shape[:2], *out), name)
        g = (dy[None] if unbatched else dy) / div
        # every kernel offset receives g: col2im of g broadcast over the kernel axes
        cols = np.broadcast_to(np.moveaxis(g, 0, 1)[None, :, *(None,) * self.nd],
                               (1, x4_shape[1], *self.kernel_size, x4_shape[0], *out))
        dxp = col2im(cols, xp_shape, self.kernel_size, self.stride, self.dilation, out)
        dx = dxp[(slice(None), slice(None)) + tuple(slice(p, p + m) for p, m in
                                                     zip(self.padding, x4_shape[2:]))]
        dx = dx.astype(dy.dtype, copy=False)
        return dx[0] if unbatched else dx

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}, count_include_pad={self.count_include_pad}")


class AvgPool1d(_AvgPoolNd):
    """x: (N, C, L) or (C, L) -> y: (N, C, L_out); see the module docstring.
    ``AvgPool1d(3, 2, 1, ceil_mode=True)`` on 1..6 gives 1, 3, 5, 3: the last window starts at
    5 and is cut at L + p = 7, so it averages (6 + 0)/2."""
    nd = 1

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """x: (N, C, H, W) or (C, H, W) -> y: (N, C, H_out, W_out); see the module docstring."""
    nd = 2


def adaptive_pool_matrix(n_in, n_out, dtype=np.float64):
    """(n_out, n_in) averaging matrix of torch's adaptive pooling: row i averages
    x[⌊i·n_in/n_out⌋ : ⌈(i+1)·n_in/n_out⌉]."""
    i = np.arange(n_out)
    start = (i * n_in) // n_out
    end = -((-(i + 1) * n_in) // n_out)
    j = np.arange(n_in)
    inside = (j >= start[:, None]) & (j < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


class AdaptiveAvgPool2d(Module):
    """x: (N, C, H, W) or (C, H, W) -> y: (N, C, h, w) for output_size (h, w); an int means
    (h, h), None keeps that input size. Size 1 is global average pooling.

    forward  y = A_h x A_wᵀ          backward dx = A_hᵀ dy A_w       (A from adaptive_pool_matrix)
    """

    def __init__(self, output_size):
        super().__init__()
        size = (output_size, output_size) if output_size is None or isinstance(
            output_size, (int, np.integer)) else tuple(output_size)
        if len(size) != 2 or any(s is not None and (not isinstance(s, (int, np.integer)) or s < 1)
                                 for s in size):
            raise ValueError(f"AdaptiveAvgPool2d: output_size must be a positive int, None or a "
                             f"pair of them, got {output_size!r}")
        self.output_size = size
        self._cache = None

    def forward(self, x):
        validate.array(x, "AdaptiveAvgPool2d", "input", ndim=(3, 4))
        h, w = x.shape[-2:]
        oh, ow = (h if self.output_size[0] is None else self.output_size[0],
                  w if self.output_size[1] is None else self.output_size[1])
        a_h, a_w = adaptive_pool_matrix(h, oh, x.dtype), adaptive_pool_matrix(w, ow, x.dtype)
        self._cache = (x.shape, a_h, a_w)
        return np.einsum("ih,...hw,jw->...ij", a_h, x, a_w, optimize=True)

    def backward(self, dy):
        x_shape, a_h, a_w = validate.forward_called("AdaptiveAvgPool2d", self._cache)
        validate.grad(dy, (*x_shape[:-2], a_h.shape[0], a_w.shape[0]), "AdaptiveAvgPool2d")
        return np.einsum("ih,...ij,jw->...hw", a_h, dy, a_w, optimize=True)

    def extra_repr(self):
        return f"output_size={self.output_size}"
