"""The matrix products behind ``labutils.nn.conv``: im2col, col2im, and the three products of a
convolution (output, weight gradient, input gradient), each run over the batch in chunks.

Shapes: N samples, C channels, G groups, Πk kernel offsets, L = ΠL_out output positions.

  windows(xp)       (N, C, *k, *L_out)       every window of the padded input: a strided view
  im2col(xp)        X_col (G, C/G·Πk, N·L)   the chapter's matrix, one column per window
  _im2col_chunks    X_col of B samples       (B, G, C/G·Πk, L), copied into one reused buffer
                    (a sample larger than a chunk: in parts along its first output axis)
  conv_gemm         Y[n]  = W_mat X_col[n]   (G, C_out/G, C/G·Πk) @ (B, G, C/G·Πk, L)
  weight_grad       dWᵀ   = Σ_n X_col[n] dY[n]ᵀ
  input_grad        stride 1: a convolution of dy with the flipped kernel (conv_gemm again);
                    else dX_col[n] = W_matᵀ dY[n], then col2im adds each column into its window

Why per sample, a few samples at a time (measured on one core, Conv2d 64→64, batch 32, 32×32,
float32): the whole X_col is 75 MB. Allocating it fresh on every call costs more than filling it
(the first write to each new page is a page fault: 13.5 ms to build it against 3.8 ms to copy
into a buffer already in use), and NumPy's matmul on (C_out, C·Πk) @ (C·Πk, N·L) runs slower
than on the per-sample products (40 against 32 ms). Per sample, Y[n] lands in y[n] already in
(C_out, L) order, so no transposing copy follows, and the chunks bound the memory a call holds.
X_col is built twice (forward, and again for the weight gradient) rather than kept: one copy
into a buffer in cache costs less than keeping 75 MB alive between the passes. The copy's cost
is per contiguous run, not per byte: ``_wide`` makes the runs long for stride-1 convolutions.
The input gradient of a stride-1 convolution avoids col2im (whose 9 slice additions cost 15-20
ms here) by being a convolution itself. Result: the products take ~90 % of the time. A 3-D
sample's X_col (16 MB for 64 channels at 8x16x16) is split so that each part stays in cache
(copy and product 29.5 -> 23.7 ms per pass).
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterator

import numpy as np

from .. import validate
from .parallel import in_parallel
from .spatial import Size, spatial_ints

__all__: list[str] = []      # helpers of conv.py; the public names are there

Pads = tuple[tuple[int, int], ...]
CHUNK_BYTES = 2 * 2**20     # the size of one chunk's X_col or dX_col buffer (a core's L2)


def windows(xp: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...],
            dilation: tuple[int, ...], out: tuple[int, ...], wide: bool = False) -> np.ndarray:
    """The windows of xp (N, C, *S) as a read-only strided view (N, C, *kernel, *out):
    view[n, c, j, o] = xp[n, c, s·o + d·j] (no copy). The caller checks that they fit.
    wide: the last two output axes read as one run of xp's rows (see _wide): (..., M)."""
    st, sp = xp.strides[:2], xp.strides[2:]
    at = tuple(a * s for a, s in zip(sp, stride))
    if wide:
        out, at = (*out[:-2], (out[-2] - 1) * xp.shape[-1] + out[-1]), (*at[:-2], sp[-1])
    return np.lib.stride_tricks.as_strided(xp, (*xp.shape[:2], *kernel, *out),
                                           (*st, *(a * d for a, d in zip(sp, dilation)), *at),
                                           writeable=False)


def _wide(xp: np.ndarray, stride: tuple[int, ...], out: tuple[int, ...], per_window: int,
          window: int) -> bool:
    """Whether to read the last two spatial axes as one. With stride 1 along both, the window of
    one kernel offset over output rows 0..H_out − 1 is a single run of M = (H_out − 1)·W_p + W_out
    entries of xp's flattened rows, so the copy moves runs of M entries instead of W_out (the
    copy's cost is per run: 3.4 -> 0.8 ms at 16x16). The product then also computes the
    W_p − W_out positions between the rows, dropped afterwards: worth it while that extra work
    (per_window outputs per position) stays small: at most 8·W_out (one thread: break-even
    near 8·W_out; with two BLAS threads the products scale and the copy does not, so the wide
    copy pays more: Conv3d 64->64 at 8x16x16 is wide), and while the window (its C/G·Πk
    entries) is no shorter than per_window (else the extra copy of the output between the rows
    outweighs the shorter copy of the windows)."""
    if len(out) < 2 or stride[-2:] != (1, 1) or xp.strides[-2] != xp.shape[-1] * xp.strides[-1]:
        return False
    return (xp.shape[-1] - out[-1]) * per_window <= 8 * out[-1] and window >= per_window


def _unwide(a: np.ndarray, out: tuple[int, ...], width: int) -> np.ndarray:
    """a (..., Πout[:-2]·M) as a view (..., *out) without the positions between the rows."""
    s, m = a.strides[-1], (out[-2] - 1) * width + out[-1]
    lead = [m * s * math.prod(out[i + 1:-2]) for i in range(len(out) - 2)]
    return np.lib.stride_tricks.as_strided(a, (*a.shape[:-1], *out),
                                           (*a.strides[:-1], *lead, width * s, s))


def add_windows(dxp: np.ndarray, cols: np.ndarray, stride: tuple[int, ...],
                dilation: tuple[int, ...]) -> None:
    """The adjoint of ``windows``: dxp (B, C, *S) += every entry of cols (B, C, *k, *out) at the
    place its window took it from. One vectorised slice addition per kernel offset (9 for a
    3×3 kernel), none per pixel."""
    nd = len(stride)
    kernel, out = cols.shape[2:2 + nd], cols.shape[2 + nd:]
    for j in np.ndindex(*kernel):
        target = (slice(None), slice(None)) + tuple(
            slice(d * jj, d * jj + s * (o - 1) + 1, s)
            for jj, s, d, o in zip(j, stride, dilation, out))
        dxp[target] += cols[(slice(None), slice(None)) + j]


def _chunks(n: int, per_sample_bytes: int, lead: int) -> list[tuple[slice, slice]]:
    """(samples, positions along the first output axis) of each chunk: about CHUNK_BYTES of
    whole samples or, when one sample is larger, one sample in slices along that axis (of
    length ``lead``; 1 where it cannot be split)."""
    if per_sample_bytes <= CHUNK_BYTES or lead == 1:
        step = max(1, CHUNK_BYTES // max(per_sample_bytes, 1))
        return [(slice(i, min(i + step, n)), slice(None)) for i in range(0, n, step)]
    step = max(1, lead * CHUNK_BYTES // per_sample_bytes)
    return [(slice(i, i + 1), slice(j, min(j + step, lead)))
            for i in range(n) for j in range(0, lead, step)]


def _plan(xp: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...],
          dilation: tuple[int, ...], out: tuple[int, ...], dtype: np.dtype, wide: bool
          ) -> tuple[np.ndarray, list[tuple[slice, slice]]]:
    """The windows of xp as a view (N, C, *k, *P) and its chunks (see _chunks)."""
    view = windows(xp, kernel, stride, dilation, out, wide)        # (N, C, *k, *P)
    positions = view.shape[2 + len(kernel):]
    return view, _chunks(xp.shape[0], math.prod(view.shape[1:]) * dtype.itemsize,
                         positions[0] if len(positions) > 1 else 1)


def _im2col_chunks(view: np.ndarray, chunks: list[tuple[slice, slice]], nd: int, groups: int
                   ) -> Iterator[tuple[tuple, np.ndarray]]:
    """(where, X_col there) for each of ``chunks`` of the windows ``view`` (N, C, *k, *P):
    (B, G, C/G·Πk, P) with P the chunk's positions (Πout[:-2]·M per sample when wide), copied
    into one buffer reused from chunk to chunk. ``where`` indexes the chunk's part of y or dy:
    (samples, all channels, the slice of the first output axis)."""
    buf = np.empty(min(view.size, CHUNK_BYTES // view.itemsize + math.prod(view.shape[1:])),
                   view.dtype)
    for rows, part in chunks:
        part_view = view[(rows,) + (slice(None),) * (1 + nd) + (part,)]
        cols = buf[:part_view.size].reshape(part_view.shape)
        np.copyto(cols, part_view)                              # the one copy of each window
        b, p = cols.shape[0], math.prod(cols.shape[2 + nd:])
        yield (rows, slice(None), part), cols.reshape(b, groups, -1, p)


def _out_part(out: tuple[int, ...], part: slice) -> tuple[int, ...]:
    """The output shape of the chunk that holds ``part`` of the first output axis."""
    return (len(range(*part.indices(out[0]))), *out[1:])


def conv_gemm(xp: np.ndarray, w: np.ndarray, stride: tuple[int, ...],
              dilation: tuple[int, ...], out: tuple[int, ...], groups: int) -> np.ndarray:
    """y = W ⋆ xp without bias.  xp: (N, C, *S) padded, w: (C_out, C/G, *k) -> (N, C_out, *out).
    Y[n] = W_mat X_col[n] for a chunk of samples (or of one sample) at a time."""
    n, c_out, g = xp.shape[0], w.shape[0], groups
    wide = _wide(xp, stride, out, c_out // g, w[0].size)
    w_mat = w.reshape(g, c_out // g, -1)                            # (G, C_out/G, C/G·Πk)
    y = np.empty((n, c_out, *out), np.result_type(xp, w))
    view, chunks = _plan(xp, w.shape[2:], stride, dilation, out, y.dtype, wide)

    def work(part: list) -> None:
        buf = None
        for at, cols in _im2col_chunks(view, part, len(out), g):
            b, p = cols.shape[0], cols.shape[-1]
            if not wide:                                            # straight into y
                np.matmul(w_mat, cols, out=y[at].reshape(b, g, c_out // g, p))
                continue
            buf = np.empty(b * c_out * p, y.dtype) if buf is None else buf
            y_part = np.matmul(w_mat, cols, out=buf[:b * c_out * p].reshape(b, g, -1, p))
            y[at] = _unwide(y_part.reshape(b, c_out, p), _out_part(out, at[2]), xp.shape[-1])
    in_parallel(work, chunks, 2 * w.size * n * math.prod(out))
    return y


def weight_grad(dy: np.ndarray, xp: np.ndarray, kernel: tuple[int, ...],
                stride: tuple[int, ...], dilation: tuple[int, ...], groups: int) -> np.ndarray:
    """dW = Σ_n dY[n] X_col[n]ᵀ.  dy: (N, C_out, *out), xp: (N, C, *S) -> (C_out, C/G, *k).
    Computed as its transpose Σ_n X_col[n] dY[n]ᵀ, NumPy's faster orientation of this product
    (summed per part of the chunks, then over the parts); when wide, dY gets zeros at the
    positions between the rows."""
    f, g, out = dy.shape[1], groups, dy.shape[2:]
    dtype = np.result_type(dy, xp)
    wide = _wide(xp, stride, out, f // g, xp.shape[1] // g * math.prod(kernel))
    view, chunks = _plan(xp, kernel, stride, dilation, out, dtype, wide)

    def work(part: list) -> np.ndarray:
        dw_t = np.zeros((g, xp.shape[1] // g * math.prod(kernel), f // g), dtype)
        dy_b = None
        for at, cols in _im2col_chunks(view, part, len(out), g):
            b, p, dy_part = cols.shape[0], cols.shape[-1], dy[at]
            if wide:
                dy_b = np.empty(b * f * p, dtype) if dy_b is None else dy_b
                dy_b[:b * f * p] = 0                                # the positions between rows
                _unwide(dy_b[:b * f * p].reshape(b, f, p), dy_part.shape[2:], xp.shape[-1]
                        )[...] = dy_part
                dy_part = dy_b[:b * f * p]
            dy_t = dy_part.reshape(b, g, f // g, p).swapaxes(-1, -2)    # (B, G, P, C_out/G)
            dw_t += np.matmul(cols, dy_t).sum(axis=0)
        return dw_t
    flops = 2 * f * xp.shape[1] // g * math.prod(kernel) * dy.shape[0] * math.prod(out)
    dw_t = sum(in_parallel(work, chunks, flops))
    return np.ascontiguousarray(dw_t.swapaxes(1, 2)).reshape(f, -1, *kernel)


def input_grad(dy: np.ndarray, w: np.ndarray, x_shape: tuple[int, ...], pads: Pads,
               stride: tuple[int, ...], dilation: tuple[int, ...], groups: int) -> np.ndarray:
    """dx of a convolution of x (x_shape, padded by pads) with w (C_out, C/G, *k), given
    dy (N, C_out, *out) -> (N, C, *S).

    Stride 1: dx is itself a convolution, of dy padded by d(k − 1) − p with the flipped kernel
    (channels in and out swapped), and runs on conv_gemm, whose copy (im2col of dy: C_out·Πk
    rows) is cheaper than col2im's slice additions (C·Πk rows) unless C_out > C.
    Otherwise dx = col2im(W_matᵀ dY)."""
    if max(stride) == 1 and dy.shape[1] <= 2 * x_shape[1]:
        around = tuple((d * (k - 1) - lo, s + lo - n) for d, k, (lo, _), s, n in
                       zip(dilation, w.shape[2:], pads, x_shape[2:], dy.shape[2:]))
        return conv_gemm(_pad(dy, around), _flipped(w, groups), stride, dilation,
                         x_shape[2:], groups)
    xp_shape = (dy.shape[0], x_shape[1], *(s + lo + hi for s, (lo, hi) in zip(x_shape[2:],
                                                                                 pads)))
    return _crop(_col2im_chunks(dy, w, xp_shape, stride, dilation, groups), pads, x_shape[2:])


def _flipped(w: np.ndarray, groups: int) -> np.ndarray:
    """w (C_out, C/G, *k) -> (C, C_out/G, *k), flipped along every spatial axis: the weight of
    the convolution that maps dy to dx."""
    f, c_g, kernel = w.shape[0], w.shape[1], w.shape[2:]
    w_t = w.reshape(groups, f // groups, c_g, *kernel).swapaxes(1, 2)
    flip = (slice(None),) * 3 + (slice(None, None, -1),) * len(kernel)
    return np.ascontiguousarray(w_t[flip]).reshape(groups * c_g, f // groups, *kernel)


def _col2im_chunks(dy: np.ndarray, w: np.ndarray, xp_shape: tuple[int, ...],
                   stride: tuple[int, ...], dilation: tuple[int, ...], groups: int
                   ) -> np.ndarray:
    """dxp = col2im(W_matᵀ dY) of the padded input, chunk by chunk (one buffer reused)."""
    n, f, g = dy.shape[0], dy.shape[1], groups
    kernel, out, c = w.shape[2:], dy.shape[2:], xp_shape[1]
    dtype = np.result_type(dy, w)
    w_t = np.ascontiguousarray(w.reshape(g, f // g, -1).swapaxes(1, 2))  # (G, C/G·Πk, C_out/G)
    dy_mat = dy.reshape(n, g, f // g, math.prod(out))                  # (N, G, C_out/G, L)
    dxp = np.zeros(xp_shape, dtype)
    chunks = [rows for rows, _ in _chunks(n, c * math.prod(kernel) * math.prod(out) *
                                          dtype.itemsize, 1)]

    def work(part: list) -> None:
        buf = np.empty((part[0].stop - part[0].start, g, c // g * math.prod(kernel),
                        math.prod(out)), dtype)
        for rows in part:
            b = rows.stop - rows.start
            dcols = np.matmul(w_t, dy_mat[rows], out=buf[:b])       # dX_col: (B, G, C/G·Πk, L)
            add_windows(dxp[rows], dcols.reshape(b, c, *kernel, *out), stride, dilation)
    if chunks:
        in_parallel(work, chunks, 2 * w.size * n * math.prod(out))
    return dxp



# -- the output sizes, im2col and col2im (public in labutils.nn.conv) ----------------------
def conv_output_size(n: int, kernel_size: int, stride: int = 1,
                     padding: int | tuple[int, int] = 0, dilation: int = 1) -> int:
    """⌊(n + 2p − d(k − 1) − 1)/s⌋ + 1 (``padding`` may be a (lo, hi) pair)."""
    owner = "conv_output_size"
    n, k, s, d = _sizes(owner, n=(n, 0), kernel_size=(kernel_size, 1), stride=(stride, 1),
                        dilation=(dilation, 1))
    lo, hi = _pad_pairs(padding if isinstance(padding, numbers.Integral) else (padding,), 1,
                        owner)[0]
    return _positive_size(owner, (n + lo + hi - d * (k - 1) - 1) // s + 1,
                          f"n {n} + padding {lo}+{hi} with a kernel of {k} (dilation {d})")


def conv_transpose_output_size(n: int, kernel_size: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """(n − 1)s − 2p + d(k − 1) + output_padding + 1."""
    owner = "conv_transpose_output_size"
    n, k, s, p, op, d = _sizes(owner, n=(n, 1), kernel_size=(kernel_size, 1),
                               stride=(stride, 1), padding=(padding, 0),
                               output_padding=(output_padding, 0), dilation=(dilation, 1))
    return _positive_size(owner, (n - 1) * s - 2 * p + d * (k - 1) + op + 1,
                          f"n {n}, kernel {k}, stride {s}, padding {p}")


def _sizes(owner: str, **values: tuple[object, int]) -> tuple[int, ...]:
    """Each keyword's value as an int >= its minimum, else a named error."""
    return tuple(validate.positive_int(v, owner, arg, low) for arg, (v, low) in values.items())


def _positive_size(owner: str, size: int, what: str) -> int:
    if size < 1:
        raise ValueError(f"{owner}: the output would be empty: {what} gives an output size of "
                         f"{size}, got too small an input for this kernel")
    return size


# -- im2col / col2im ------------------------------------------------------------------------
def im2col(xp: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...],
           dilation: tuple[int, ...], out: tuple[int, ...], groups: int = 1) -> np.ndarray:
    """X_col (G, C/G·Πkernel, N·Πout) of the padded input xp (N, C, *S): column (n, o) of group
    g holds the window xp[n, g·C/G + c, s·o + d·j] for every (c, j), in that order.

    The windows are first a strided *view* of xp (no copy) with axes (G, C/G, *kernel, N, *out);
    the reshape to a matrix is the one copy."""
    validate.array(xp, "im2col", "xp", min_ndim=3)
    kernel, stride, dilation, out, groups = _window_args(
        "im2col", xp.shape, kernel, stride, dilation, out, groups)
    n, c, nd = xp.shape[0], xp.shape[1], len(kernel)
    view = windows(xp, kernel, stride, dilation, out).reshape(n, groups, c // groups,
                                                              *kernel, *out)
    # (N, G, C/G, *k, *out) -> (G, C/G, *k, N, *out)
    view = view.transpose(1, 2, *range(3, nd + 3), 0, *range(nd + 3, 2 * nd + 3))
    return view.reshape(groups, (c // groups) * math.prod(kernel), n * math.prod(out))


def col2im(cols: np.ndarray, xp_shape: tuple[int, ...], kernel: tuple[int, ...],
           stride: tuple[int, ...], dilation: tuple[int, ...], out: tuple[int, ...],
           groups: int = 1) -> np.ndarray:
    """The adjoint of ``im2col``: add the columns ``cols`` (G, C/G·Πkernel, N·Πout) back into
    the windows they came from, in a zero array of shape ``xp_shape`` (N, C, *S).
    One vectorised slice addition per kernel offset."""
    validate.array(cols, "col2im", "cols")
    if not isinstance(xp_shape, (tuple, list)) or len(xp_shape) < 3:
        raise TypeError(f"col2im: xp_shape must be a tuple (N, C, *S), got {xp_shape!r}")
    xp_shape = tuple(validate.positive_int(v, "col2im", "xp_shape", int(i != 0))
                     for i, v in enumerate(xp_shape))
    kernel, stride, dilation, out, groups = _window_args(
        "col2im", xp_shape, kernel, stride, dilation, out, groups)
    n, c, nd = xp_shape[0], xp_shape[1], len(kernel)
    want = (groups, c // groups * math.prod(kernel), n * math.prod(out))
    if cols.shape not in (want, (groups, c // groups, *kernel, n, *out)):
        raise ValueError(f"col2im: cols must have shape {want} (G, C/G·Πkernel, N·Πout), "
                         f"got {cols.shape}")
    cols = cols.reshape(groups, c // groups, *kernel, n, *out)
    # (G, C/G, *k, N, *out) -> (N, C, *k, *out) as a view (G and C/G merge without a copy)
    perm = (nd + 2, 0, 1, *range(2, nd + 2), *range(nd + 3, 2 * nd + 3))
    dxp = np.zeros(xp_shape, dtype=cols.dtype)
    add_windows(dxp, cols.transpose(perm).reshape(n, c, *kernel, *out), stride, dilation)
    return dxp


def _window_args(owner: str, shape: tuple[int, ...], kernel: Size, stride: Size,
                 dilation: Size, out: Size, groups: int) -> tuple:
    """im2col's and col2im's geometry as tuples, refused unless every window lies inside."""
    nd, what = len(shape) - 2, "xp" if owner == "im2col" else "xp_shape"
    if isinstance(kernel, (tuple, list)) and len(kernel) != nd:
        raise ValueError(f"{owner}: {what} must have {len(kernel)} spatial axes to match kernel "
                         f"{tuple(kernel)}, got shape {tuple(shape)}")
    kernel, stride, dilation, out = (spatial_ints(v, nd, owner, arg) for v, arg in (
        (kernel, "kernel"), (stride, "stride"), (dilation, "dilation"), (out, "out")))
    groups = validate.positive_int(groups, owner, "groups")
    if shape[1] % groups:
        raise ValueError(f"{owner}: groups must divide the {shape[1]} channels, got {groups}")
    for ax, (n, k, s, d, o) in enumerate(zip(shape[2:], kernel, stride, dilation, out)):
        if (o - 1) * s + d * (k - 1) + 1 > n:
            raise ValueError(f"{owner}: {what} is too small for out {out}: along spatial axis "
                             f"{ax} the last window ends at {(o - 1) * s + d * (k - 1) + 1}, "
                             f"past its {n} positions; got {what} shape {tuple(shape)}")
    return kernel, stride, dilation, out, groups


# -- padding ------------------------------------------------------------------------------
def _pad(x: np.ndarray, pads: Pads) -> np.ndarray:
    """x (N, C, *S) with lo zeros before and hi after each spatial axis (a negative amount cuts
    that many positions off instead)."""
    if not any(lo or hi for lo, hi in pads):
        return x
    if min(min(p) for p in pads) < 0:
        x = x[(slice(None), slice(None)) + tuple(slice(max(-lo, 0), n - max(-hi, 0))
                                                 for n, (lo, hi) in zip(x.shape[2:], pads))]
    return np.pad(x, ((0, 0), (0, 0), *((max(lo, 0), max(hi, 0)) for lo, hi in pads)))


def _crop(xp: np.ndarray, pads: Pads, size: tuple[int, ...]) -> np.ndarray:
    """Cut the padding off: xp[:, :, lo:lo + n] along every spatial axis."""
    return xp[(slice(None), slice(None)) + tuple(slice(lo, lo + n)
                                                 for n, (lo, _) in zip(size, pads))]


def _pad_pairs(padding: Size | Pads, nd: int, owner: str) -> Pads:
    """Padding as ((lo, hi), ...) per spatial axis, each an int >= 0."""
    if isinstance(padding, (tuple, list)) and len(padding) == nd and all(
            isinstance(p, (tuple, list)) for p in padding):
        if any(len(p) != 2 for p in padding):
            raise TypeError(f"{owner}: padding must be (lo, hi) pairs, got {padding!r}")
        return tuple((validate.positive_int(lo, owner, "padding", 0),
                      validate.positive_int(hi, owner, "padding", 0)) for lo, hi in padding)
    return tuple((p, p) for p in spatial_ints(padding, nd, owner, "padding", 0))
