"""Normalization layers (torch.nn twins). Weight normalization is in ``weight_norm.py``.

Every activation normalization standardises x over a set S of n entries (the reduction axes)
and applies a per-channel (or per-feature) affine map:

    μ = mean_S(x)    σ² = mean_S((x − μ)²)  (biased)    x̂ = (x − μ) / sqrt(σ² + ε)
    y = γ x̂ + β

The methods differ only in S, for x of shape (N, C, *spatial):
    batch norm      S = (N, *spatial) for each channel c
    layer norm      S = the trailing normalized_shape axes of each sample
    instance norm   S = (*spatial) for each sample n and channel c
    group norm      S = (C/G channels of one group, *spatial) for each sample n and group g

All share one backward. With g = dL/dx̂ = γ dy and σ̂ = sqrt(σ² + ε),

    dx = (1/σ̂) (g − mean_S(g) − x̂ · mean_S(g x̂))
       = (γ / (n σ̂)) (n dy − Σ_S dy − x̂ Σ_S (dy x̂))     (the compact form, γ constant on S)
    dγ = Σ (dy x̂)   dβ = Σ dy    (sums over every axis except γ's own)

ε sits INSIDE the square root (torch, Ioffe & Szegedy 2015); the batch variance used to
normalise is the biased one (divide by n), the running variance stored for eval is the
unbiased one (divide by n − 1). In eval the running statistics are constants: dx = γ dy / σ̂.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import validate
from ..module import Module
from . import norm_checks as checks
from .weight_norm import WeightNormLinear, weight_norm  # their home was this file

__all__ = ["normalize", "normalize_backward", "NormCache", "batch_norm_forward",
           "batch_norm_backward", "layer_norm_forward", "layer_norm_backward",
           "group_norm_forward", "group_norm_backward", "BatchNorm1d", "BatchNorm2d", "LayerNorm",
           "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "WeightNormLinear", "weight_norm"]


def normalize(x: np.ndarray, axes: tuple[int, ...], eps: float, check: bool = True
              ) -> tuple[np.ndarray, np.ndarray]:
    """x̂ and 1/σ̂ over ``axes`` (biased variance, eps inside the square root). Every pair and
    module checks its arguments at its door (check=False: the caller has checked them)."""
    if check:
        checks.normalize_args(x, axes, eps)
    if x.size == 0:             # an empty batch: nothing to average, an empty x̂ (as torch)
        return x.copy(), np.ones_like(x.sum(axis=axes, keepdims=True))
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    return (x - mu) * inv_std, inv_std


def normalize_backward(g: np.ndarray, x_hat: np.ndarray, inv_std: np.ndarray,
                       axes: tuple[int, ...], check: bool = True) -> np.ndarray:
    """dL/dx from g = dL/dx̂ (the compact form above)."""
    if check:
        checks.normalize_backward_args(g, x_hat, inv_std, axes)
    if g.size == 0:
        return np.zeros_like(g)
    return inv_std * (g - g.mean(axis=axes, keepdims=True)
                      - x_hat * (g * x_hat).mean(axis=axes, keepdims=True))


class NormCache(NamedTuple):
    x_hat: np.ndarray             # the normalised input, in the shape it was normalised in
    inv_std: np.ndarray           # 1/σ̂, broadcastable to x_hat
    axes: tuple                   # the reduction axes S (of x_hat)
    batch_stats: bool             # False: running statistics (constants) were used
    weight: np.ndarray | None     # γ, broadcastable to dy, or None (no affine map)
    param_axes: tuple             # the axes dγ and dβ are summed over


def _affine_backward(dy: np.ndarray, cache: NormCache) -> tuple[np.ndarray, dict]:
    """g = γ dy, and {dγ, dβ} (empty without an affine map), shared by every pair below."""
    if cache.weight is None:
        return dy, {}
    sums = cache.param_axes
    return dy * cache.weight, {"weight": (dy * cache.x_hat).sum(axis=sums),
                               "bias": dy.sum(axis=sums)}


# -- batch norm (and instance norm: the same pair over other axes) ---------------------------

def _channel(v: np.ndarray | None, ndim: int) -> np.ndarray | None:
    """A (C,) vector shaped to broadcast along axis 1 of an ndim-array."""
    return None if v is None else v.reshape((1, -1) + (1,) * (ndim - 2))


def batch_norm_forward(x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None,
                       eps: float, running_mean: np.ndarray | None = None,
                       running_var: np.ndarray | None = None, axes: tuple[int, ...] | None = None,
                       check: bool = True) -> tuple[np.ndarray, NormCache]:
    """x: (N, C, *spatial); weight, bias, running_mean, running_var: (C,) -> y: same as x.

    Statistics over ``axes`` (default (0, *spatial): batch norm; (*spatial): instance norm), or
    the running statistics when they are given (eval).
    """
    if check:
        checks.batch_norm_args(x, weight, bias, eps, running_mean, running_var, axes)
    axes = (0,) + tuple(range(2, x.ndim)) if axes is None else axes
    batch_stats = running_mean is None
    if batch_stats:
        x_hat, inv_std = normalize(x, axes, eps, check=False)
    else:
        inv_std = 1.0 / np.sqrt(_channel(running_var, x.ndim) + eps)
        x_hat = (x - _channel(running_mean, x.ndim)) * inv_std
    y = x_hat if weight is None else x_hat * _channel(weight, x.ndim) + _channel(bias, x.ndim)
    others = (0,) + tuple(range(2, x.ndim))
    return y, NormCache(x_hat, inv_std, axes, batch_stats, _channel(weight, x.ndim), others)


def batch_norm_backward(dy: np.ndarray, cache: NormCache, check: bool = True
                        ) -> dict[str, np.ndarray]:
    """dy: (N, C, *spatial) -> {"x": same, "weight", "bias": (C,) when affine}."""
    if check:
        checks.backward_args(dy, cache, NormCache, "batch_norm_backward")
    g, grads = _affine_backward(dy, cache)
    if not cache.batch_stats:
        return grads | {"x": g * cache.inv_std}
    return grads | {"x": normalize_backward(g, cache.x_hat, cache.inv_std, cache.axes, False)}


# -- layer norm and group norm --------------------------------------------------------------

def layer_norm_forward(x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None,
                       normalized_ndim: int, eps: float, check: bool = True
                       ) -> tuple[np.ndarray, NormCache]:
    """x: (*, *normalized_shape); weight, bias: normalized_shape or None -> y: same as x."""
    if check:
        checks.layer_norm_args(x, weight, bias, normalized_ndim, eps)
    axes = tuple(range(x.ndim - normalized_ndim, x.ndim))
    x_hat, inv_std = normalize(x, axes, eps, check=False)
    y = x_hat if weight is None else x_hat * weight
    y = y if bias is None else y + bias
    lead = tuple(range(x.ndim - normalized_ndim))
    return y, NormCache(x_hat, inv_std, axes, True, weight, lead)


def layer_norm_backward(dy: np.ndarray, cache: NormCache, check: bool = True
                        ) -> dict[str, np.ndarray]:
    """dy: the input's shape -> {"x": same, "weight", "bias": normalized_shape when affine}."""
    if check:
        checks.backward_args(dy, cache, NormCache, "layer_norm_backward")
    g, grads = _affine_backward(dy, cache)
    return grads | {"x": normalize_backward(g, cache.x_hat, cache.inv_std, cache.axes, False)}


def group_norm_forward(x: np.ndarray, num_groups: int, weight: np.ndarray | None,
                       bias: np.ndarray | None, eps: float, check: bool = True
                       ) -> tuple[np.ndarray, NormCache]:
    """x: (N, C, *), viewed as (N, G, C/G · prod(*)) and normalised over its last axis;
    weight, bias: (C,) -> y: same as x."""
    if check:
        checks.group_norm_args(x, num_groups, weight, bias, eps)
    grouped = (len(x), num_groups, math.prod(x.shape[1:]) // num_groups)
    x_hat, inv_std = normalize(x.reshape(grouped), (2,), eps, check=False)
    x_hat = x_hat.reshape(x.shape)
    y = x_hat if weight is None else x_hat * _channel(weight, x.ndim) + _channel(bias, x.ndim)
    others = (0,) + tuple(range(2, x.ndim))
    return y, NormCache(x_hat, inv_std, (2,), True, _channel(weight, x.ndim), others)


def group_norm_backward(dy: np.ndarray, cache: NormCache, check: bool = True
                        ) -> dict[str, np.ndarray]:
    """dy: (N, C, *) -> {"x": same, "weight", "bias": (C,) when affine}."""
    if check:
        checks.backward_args(dy, cache, NormCache, "group_norm_backward")
    g, grads = _affine_backward(dy, cache)
    grouped = cache.inv_std.shape[:2] + (math.prod(dy.shape[1:]) // cache.inv_std.shape[1],)
    dx = normalize_backward(g.reshape(grouped), cache.x_hat.reshape(grouped), cache.inv_std, (2,),
                            False)
    return grads | {"x": dx.reshape(dy.shape)}


# -- the modules --------------------------------------------------------------------------

def _add_param_grads(module: Module, grads: dict[str, np.ndarray]) -> np.ndarray:
    """Accumulate a pair's dγ, dβ into the module's grads (those it has); return dx."""
    for name in ("weight", "bias"):
        if name in module._params:
            module.grads[name] += grads[name]
    return grads["x"]


class _NormBase(Module):
    """Shared by batch and instance norm: per-channel affine (axis 1) and running statistics
    (buffers running_mean, running_var, num_batches_tracked, as in torch)."""

    name = "_NormBase"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 dtype: type = np.float64) -> None:
        super().__init__()
        self.num_features = validate.positive_int(num_features, self.name, "num_features")
        self.eps, self.momentum = checks.eps_momentum(eps, momentum, self.name)
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.add_param("weight", np.ones(num_features, dtype))
            self.add_param("bias", np.zeros(num_features, dtype))
        if track_running_stats:
            self.add_buffer("running_mean", np.zeros(num_features, dtype))
            self.add_buffer("running_var", np.ones(num_features, dtype))
            self.add_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        self._cache = None

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self._buffers["running_mean"][...] = 0
            self._buffers["running_var"][...] = 1
            self._buffers["num_batches_tracked"][...] = 0

    def _update_running(self, mean: np.ndarray, var_unbiased: np.ndarray, factor: float) -> None:
        """running ← (1 − factor) running + factor · batch (in place, as torch)."""
        rm, rv = self._buffers["running_mean"], self._buffers["running_var"]
        rm[...] = (1 - factor) * rm + factor * mean
        rv[...] = (1 - factor) * rv + factor * var_unbiased

    def _normalize(self, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        """The pair's forward, with batch statistics in training (or without running ones)."""
        running = not (self.training or not self.track_running_stats)
        w, b = (self.params["weight"], self.params["bias"]) if self.affine else (None, None)
        stats = (self._buffers["running_mean"], self._buffers["running_var"]) if running else ()
        y, self._cache = batch_norm_forward(x, w, b, self.eps, *stats, axes=axes, check=False)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        cache = checks.module_backward(dy, self._cache, self.name)
        return _add_param_grads(self, batch_norm_backward(dy, cache, check=False))

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    """Batch normalization over axis 1 (channels): statistics over (N, *spatial).

    training (or track_running_stats=False): x̂ from the batch's mean and biased variance;
        with track_running_stats, num_batches_tracked += 1 and, with n = N·prod(spatial),
            running_mean ← (1 − m) running_mean + m μ
            running_var  ← (1 − m) running_var  + m σ² n / (n − 1)      (unbiased)
        where m = momentum, or 1 / num_batches_tracked when momentum is None (the
        cumulative average of all batches seen). A batch with n = 1 is refused (ValueError,
        as torch): one value gives x̂ = 0 and no variance to estimate. An empty batch gives an
        empty output, and counts in num_batches_tracked but leaves the running statistics (torch).
    eval (with track_running_stats): x̂ = (x − running_mean) / sqrt(running_var + ε); the
        statistics are constants, so dx = γ dy / sqrt(running_var + ε).
    weight, bias, running_mean, running_var: (C,)   num_batches_tracked: () int64
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check(x)      # the subclass's: the ranks it accepts
        axes = (0,) + tuple(range(2, x.ndim))
        if self.training or not self.track_running_stats:
            n = x.size // x.shape[1]
            checks.one_value_per_channel(n, x.shape, self.name)
            if self.training and self.track_running_stats:
                nbt = self._buffers["num_batches_tracked"]
                nbt[...] = nbt + 1
                factor = self.momentum if self.momentum is not None else 1.0 / float(nbt)
                if n > 0:
                    self._update_running(x.mean(axis=axes), x.var(axis=axes) * n / (n - 1), factor)
        return self._normalize(x, axes)


class BatchNorm1d(_BatchNorm):
    __doc__ = "x: (N, C) or (N, C, L) -> y: same shape.\n\n" + _BatchNorm.__doc__
    name = "BatchNorm1d"

    def _check(self, x: np.ndarray) -> None:
        checks.channels(x, self.num_features, self.name, "(N, {c}) or (N, {c}, L)", ndim=(2, 3))


class BatchNorm2d(_BatchNorm):
    __doc__ = "x: (N, C, H, W) -> y: same shape.\n\n" + _BatchNorm.__doc__
    name = "BatchNorm2d"

    def _check(self, x: np.ndarray) -> None:
        checks.channels(x, self.num_features, self.name, "(N, {c}, H, W)", ndim=4)


class _InstanceNorm(_NormBase):
    """Instance normalization: statistics over the spatial axes of each (sample, channel).

    Defaults as torch: affine=False, track_running_stats=False. With track_running_stats the
    running statistics (per channel) are updated in training with the mean over the batch of
    the per-instance means and unbiased variances, and used in eval:
        running ← (1 − m) running + m · mean_N(per-instance statistic)
    momentum=None means m = 0 here, exactly as torch (it never updates; torch's cumulative
    average exists only in batch norm), and num_batches_tracked is not incremented.
    A single spatial element is refused whenever the input's own statistics are used; an empty
    input leaves the running statistics as they were (torch writes NaN into them).
    weight, bias, running_mean, running_var: (C,)
    """

    spatial = 1

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False,
                 dtype: type = np.float64) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype)

    def _check(self, x: np.ndarray) -> None:
        checks.instance_input(x, self.num_features, self.name, self.spatial,
                              strict=self.affine or self.track_running_stats)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check(x)
        self._unbatched = x.ndim == self.spatial + 1
        x = x[None] if self._unbatched else x
        axes = tuple(range(2, x.ndim))
        if self.training or not self.track_running_stats:
            n = int(np.prod(x.shape[2:]))
            checks.one_value_per_channel(n, x.shape, self.name, "spatial element")
            if self.training and self.track_running_stats and x.size:
                factor = self.momentum if self.momentum is not None else 0.0
                self._update_running(x.mean(axis=axes).mean(axis=0),
                                     (x.var(axis=axes) * n / (n - 1)).mean(axis=0), factor)
        y = self._normalize(x, axes)
        return y[0] if self._unbatched else y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        cache = validate.forward_called(self.name, self._cache)
        if self._unbatched:
            validate.grad(dy, cache.x_hat.shape[1:], self.name)
            return super().backward(dy[None])[0]
        return super().backward(dy)


class InstanceNorm1d(_InstanceNorm):
    __doc__ = "x: (N, C, L) or (C, L) -> y: same shape.\n\n" + _InstanceNorm.__doc__
    name = "InstanceNorm1d"
    spatial = 1


class InstanceNorm2d(_InstanceNorm):
    __doc__ = "x: (N, C, H, W) or (C, H, W) -> y: same shape.\n\n" + _InstanceNorm.__doc__
    name = "InstanceNorm2d"
    spatial = 2


class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` axes of each sample.

    x: (*, *normalized_shape) -> y: same;  weight, bias: normalized_shape
    The same computation in training and eval (no running statistics); any batch size works.
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True,
                 dtype: type = np.float64) -> None:
        super().__init__()
        shape = checks.shape_arg(normalized_shape, "LayerNorm", "normalized_shape")
        self.normalized_shape, self.eps = shape, checks.eps(eps, "LayerNorm")
        self.elementwise_affine, self.has_bias = elementwise_affine, bias and elementwise_affine
        if elementwise_affine:
            self.add_param("weight", np.ones(shape, dtype))
            if bias:
                self.add_param("bias", np.zeros(shape, dtype))
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        validate.array(x, "LayerNorm", "input", shape=self.normalized_shape)
        w = self.params["weight"] if self.elementwise_affine else None
        b = self.params["bias"] if self.has_bias else None
        y, self._cache = layer_norm_forward(x, w, b, len(self.normalized_shape), self.eps, False)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        cache = checks.module_backward(dy, self._cache, "LayerNorm")
        return _add_param_grads(self, layer_norm_backward(dy, cache, check=False))

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Split the C channels into num_groups groups of C/G consecutive channels; normalise
    each sample's group over its channels and spatial positions; per-channel affine.

    x: (N, C, *) -> y: same;  weight, bias: (C,)
    G = 1 is layer norm over (C, *) with per-channel γ; G = C is instance norm.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 dtype: type = np.float64) -> None:
        super().__init__()
        self.num_groups, self.num_channels = checks.groups(num_groups, num_channels, "GroupNorm")
        self.eps, self.affine = checks.eps(eps, "GroupNorm"), affine
        if affine:
            self.add_param("weight", np.ones(self.num_channels, dtype))
            self.add_param("bias", np.zeros(self.num_channels, dtype))
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        checks.channels(x, self.num_channels, "GroupNorm", "(N, {c}, *)", min_ndim=2)
        w, b = (self.params["weight"], self.params["bias"]) if self.affine else (None, None)
        y, self._cache = group_norm_forward(x, self.num_groups, w, b, self.eps, check=False)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        cache = checks.module_backward(dy, self._cache, "GroupNorm")
        return _add_param_grads(self, group_norm_backward(dy, cache, check=False))

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
