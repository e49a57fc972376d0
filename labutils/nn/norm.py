"""Normalization layers (torch.nn twins) and weight normalization.

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
unbiased one (divide by n − 1).
"""
import warnings

import numpy as np

from .. import init
from .. import validate
from ..module import Module

__all__ = ["normalize", "normalize_backward", "BatchNorm1d", "BatchNorm2d", "LayerNorm",
           "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "WeightNormLinear", "weight_norm"]


def normalize(x, axes, eps):
    """x̂ and 1/σ̂ over ``axes`` (biased variance, eps inside the square root)."""
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    return (x - mu) * inv_std, inv_std


def normalize_backward(g, x_hat, inv_std, axes):
    """dL/dx from g = dL/dx̂ (the compact form above)."""
    return inv_std * (g - g.mean(axis=axes, keepdims=True)
                      - x_hat * (g * x_hat).mean(axis=axes, keepdims=True))


def _channel_shape(ndim):
    """Shape that broadcasts a (C,) vector along axis 1 of an ndim-array."""
    return (1, -1) + (1,) * (ndim - 2)


# -- batch and instance norm -------------------------------------------------------------

class _NormBase(Module):
    """Shared by batch and instance norm: per-channel affine (axis 1) and running statistics
    (buffers running_mean, running_var, num_batches_tracked, as in torch)."""

    name = "_NormBase"

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, dtype=np.float64):
        super().__init__()
        if not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"{self.name}: num_features must be a positive int, got {num_features!r}")
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"{self.name}: momentum must be in [0, 1] or None, got {momentum}")
        if eps <= 0:
            raise ValueError(f"{self.name}: eps must be positive, got {eps}")
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.add_param("weight", np.ones(num_features, dtype))
            self.add_param("bias", np.zeros(num_features, dtype))
        if track_running_stats:
            self.add_buffer("running_mean", np.zeros(num_features, dtype))
            self.add_buffer("running_var", np.ones(num_features, dtype))
            self.add_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        self._cache = None

    def reset_running_stats(self):
        if self.track_running_stats:
            self._buffers["running_mean"][...] = 0
            self._buffers["running_var"][...] = 1
            self._buffers["num_batches_tracked"][...] = 0

    def _affine(self, x_hat):
        if not self.affine:
            return x_hat
        s = _channel_shape(x_hat.ndim)
        return x_hat * self.params["weight"].reshape(s) + self.params["bias"].reshape(s)

    def _update_running(self, mean, var_unbiased, factor):
        """running ← (1 − factor) running + factor · batch (in place, as torch)."""
        rm, rv = self._buffers["running_mean"], self._buffers["running_var"]
        rm[...] = (1 - factor) * rm + factor * mean
        rv[...] = (1 - factor) * rv + factor * var_unbiased

    def _from_running(self, x):
        """x̂ and 1/σ̂ from the running statistics (eval)."""
        s = _channel_shape(x.ndim)
        inv_std = 1.0 / np.sqrt(self._buffers["running_var"].reshape(s) + self.eps)
        return (x - self._buffers["running_mean"].reshape(s)) * inv_std, inv_std

    def backward(self, dy):
        x_hat, inv_std, axes, batch_stats = validate.forward_called(self.name, self._cache)
        validate.grad(dy, x_hat.shape, self.name)
        if self.affine:
            others = (0,) + tuple(range(2, x_hat.ndim))
            self.grads["weight"] += (dy * x_hat).sum(axis=others)
            self.grads["bias"] += dy.sum(axis=others)
            dy = dy * self.params["weight"].reshape(_channel_shape(dy.ndim))
        if not batch_stats:  # running statistics are constants: dx = γ dy / σ̂
            return dy * inv_std
        return normalize_backward(dy, x_hat, inv_std, axes)

    def extra_repr(self):
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
        as torch): one value gives x̂ = 0 and no variance to estimate.
    eval (with track_running_stats): x̂ = (x − running_mean) / sqrt(running_var + ε); the
        statistics are constants, so dx = γ dy / sqrt(running_var + ε).
    weight, bias, running_mean, running_var: (C,)   num_batches_tracked: () int64
    """

    def _check(self, x):
        raise NotImplementedError

    def forward(self, x):
        self._check(x)
        axes = (0,) + tuple(range(2, x.ndim))
        batch_stats = self.training or not self.track_running_stats
        if batch_stats:
            n = x.size // x.shape[1]
            if n == 1:
                raise ValueError(f"{self.name}: Expected more than 1 value per channel when "
                                 f"training, got input size {tuple(x.shape)} (the batch mean of "
                                 f"one value is that value: x̂ = 0 and the variance is undefined; "
                                 f"use a batch of 2 or more, or call .eval())")
            x_hat, inv_std = normalize(x, axes, self.eps)
            if self.training and self.track_running_stats:
                nbt = self._buffers["num_batches_tracked"]
                nbt[...] = nbt + 1
                factor = self.momentum if self.momentum is not None else 1.0 / float(nbt)
                var = x.var(axis=axes)
                self._update_running(x.mean(axis=axes), var * n / (n - 1), factor)
        else:
            x_hat, inv_std = self._from_running(x)
        self._cache = (x_hat, inv_std, axes, batch_stats)
        return self._affine(x_hat)


class BatchNorm1d(_BatchNorm):
    __doc__ = "x: (N, C) or (N, C, L) -> y: same shape.\n\n" + _BatchNorm.__doc__
    name = "BatchNorm1d"

    def _check(self, x):
        validate.array(x, self.name, "input", ndim=(2, 3))
        if x.shape[1] != self.num_features:
            raise ValueError(f"{self.name}: input must have {self.num_features} channels on axis 1 "
                             f"(shape (N, {self.num_features}) or (N, {self.num_features}, L)), "
                             f"got shape {x.shape}")


class BatchNorm2d(_BatchNorm):
    __doc__ = "x: (N, C, H, W) -> y: same shape.\n\n" + _BatchNorm.__doc__
    name = "BatchNorm2d"

    def _check(self, x):
        validate.array(x, self.name, "input", ndim=4)
        if x.shape[1] != self.num_features:
            raise ValueError(f"{self.name}: input must have shape (N, {self.num_features}, H, W), "
                             f"got {x.shape}")


class _InstanceNorm(_NormBase):
    """Instance normalization: statistics over the spatial axes of each (sample, channel).

    Defaults as torch: affine=False, track_running_stats=False. With track_running_stats the
    running statistics (per channel) are updated in training with the mean over the batch of
    the per-instance means and unbiased variances, and used in eval:
        running ← (1 − m) running + m · mean_N(per-instance statistic)
    momentum=None means m = 0 here, exactly as torch (it never updates; torch's cumulative
    average exists only in batch norm), and num_batches_tracked is not incremented.
    A single spatial element is refused whenever the input's own statistics are used.
    weight, bias, running_mean, running_var: (C,)
    """

    spatial = 1

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False,
                 track_running_stats=False, dtype=np.float64):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype)

    def forward(self, x):
        batched = self.spatial + 2
        validate.array(x, self.name, "input", ndim=(batched - 1, batched))
        if x.shape[-self.spatial - 1] != self.num_features:
            msg = (f"{self.name}: expected input's size at dim={x.ndim - self.spatial - 1} to match "
                   f"num_features ({self.num_features}), got shape {x.shape}")
            if self.affine or self.track_running_stats:
                raise ValueError(msg)
            warnings.warn(msg + " (num_features is unused with affine=False)", stacklevel=2)
        self._unbatched = x.ndim == batched - 1
        if self._unbatched:
            x = x[None]
        axes = tuple(range(2, x.ndim))
        batch_stats = self.training or not self.track_running_stats
        if batch_stats:
            n = int(np.prod(x.shape[2:]))
            if n == 1:
                raise ValueError(f"{self.name}: Expected more than 1 spatial element when "
                                 f"training, got input size {tuple(x.shape)} (one value per "
                                 f"instance has no variance)")
            x_hat, inv_std = normalize(x, axes, self.eps)
            if self.training and self.track_running_stats:
                factor = self.momentum if self.momentum is not None else 0.0
                self._update_running(x.mean(axis=axes).mean(axis=0),
                                     (x.var(axis=axes) * n / (n - 1)).mean(axis=0), factor)
        else:
            x_hat, inv_std = self._from_running(x)
        self._cache = (x_hat, inv_std, axes, batch_stats)
        y = self._affine(x_hat)
        return y[0] if self._unbatched else y

    def backward(self, dy):
        validate.forward_called(self.name, self._cache)
        if self._unbatched:
            validate.grad(dy, self._cache[0].shape[1:], self.name)
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


# -- layer and group norm ----------------------------------------------------------------

class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` axes of each sample.

    x: (*, *normalized_shape) -> y: same;  weight, bias: normalized_shape
    The same computation in training and eval (no running statistics); any batch size works.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 dtype=np.float64):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        self.has_bias = bias and elementwise_affine
        if elementwise_affine:
            self.add_param("weight", np.ones(shape, dtype))
            if bias:
                self.add_param("bias", np.zeros(shape, dtype))
        self._cache = None

    def forward(self, x):
        validate.array(x, "LayerNorm", "input", min_ndim=len(self.normalized_shape),
                    shape=self.normalized_shape)
        axes = tuple(range(x.ndim - len(self.normalized_shape), x.ndim))
        x_hat, inv_std = normalize(x, axes, self.eps)
        self._cache = (x_hat, inv_std, axes)
        if not self.elementwise_affine:
            return x_hat
        y = x_hat * self.params["weight"]
        return y + self.params["bias"] if self.has_bias else y

    def backward(self, dy):
        x_hat, inv_std, axes = validate.forward_called("LayerNorm", self._cache)
        validate.grad(dy, x_hat.shape, "LayerNorm")
        lead = tuple(range(x_hat.ndim - len(axes)))
        if self.elementwise_affine:
            self.grads["weight"] += (dy * x_hat).sum(axis=lead)
            if self.has_bias:
                self.grads["bias"] += dy.sum(axis=lead)
            dy = dy * self.params["weight"]
        return normalize_backward(dy, x_hat, inv_std, axes)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Split the C channels into num_groups groups of C/G consecutive channels; normalise
    each sample's group over its channels and spatial positions; per-channel affine.

    x: (N, C, *) -> y: same;  weight, bias: (C,)
    G = 1 is layer norm over (C, *) with per-channel γ; G = C is instance norm.
    Internally x is viewed as (N, G, C/G · prod(*)) and normalised over the last axis.
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, dtype=np.float64):
        super().__init__()
        if num_groups < 1 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        if affine:
            self.add_param("weight", np.ones(num_channels, dtype))
            self.add_param("bias", np.zeros(num_channels, dtype))
        self._cache = None

    def forward(self, x):
        validate.array(x, "GroupNorm", "input", min_ndim=2)
        if x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: input must have shape (N, {self.num_channels}, *), "
                             f"got {x.shape}")
        xg = x.reshape(x.shape[0], self.num_groups, -1)
        x_hat, inv_std = normalize(xg, (2,), self.eps)
        self._cache = (x_hat, inv_std, x.shape)
        x_hat = x_hat.reshape(x.shape)
        if not self.affine:
            return x_hat
        s = _channel_shape(x.ndim)
        return x_hat * self.params["weight"].reshape(s) + self.params["bias"].reshape(s)

    def backward(self, dy):
        x_hat, inv_std, shape = validate.forward_called("GroupNorm", self._cache)
        validate.grad(dy, shape, "GroupNorm")
        if self.affine:
            others = (0,) + tuple(range(2, len(shape)))
            self.grads["weight"] += (dy * x_hat.reshape(shape)).sum(axis=others)
            self.grads["bias"] += dy.sum(axis=others)
            dy = dy * self.params["weight"].reshape(_channel_shape(len(shape)))
        g = dy.reshape(x_hat.shape)
        return normalize_backward(g, x_hat, inv_std, (2,)).reshape(shape)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


# -- weight normalization ------------------------------------------------------------------

class WeightNormLinear(Module):
    """A Linear layer whose weight is reparametrised as w = g · v / ||v|| (row-wise norm):
    the twin of ``torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(...))``.

    x: (*, in_features) -> y: (*, out_features);   y = x wᵀ + b
    weight_g: (out, 1) magnitude    weight_v: (out, in) direction    bias: (out,)
    torch names them parametrizations.weight.original0 / original1; load_state_dict maps
    those names (and accepts the old weight_norm API's weight_g / weight_v as they are).

    backward, with dW = dyᵀ x the gradient w.r.t. the effective weight and n = ||v|| per row:
        dg = Σ_j dW_ij v_ij / n_i              (the part of dW along v)
        dv = (g / n) (dW − v · dg / n)           (the part of dW orthogonal to v, scaled)
    The length of each row is learned by g alone; v only turns its direction.
    """

    _TORCH_NAMES = {"parametrizations.weight.original0": "weight_g",
                    "parametrizations.weight.original1": "weight_v"}

    def __init__(self, in_features, out_features, bias=True, rng=None, dtype=np.float64):
        super().__init__()
        self.in_features, self.out_features, self.has_bias = in_features, out_features, bias
        w, b = init.torch_default((out_features, in_features), rng, dtype, bias)
        self.add_param("weight_g", np.linalg.norm(w, axis=1, keepdims=True))
        self.add_param("weight_v", w)
        if bias:
            self.add_param("bias", b)
        self._cache = None

    @property
    def weight(self):
        """The effective weight g v / ||v||, (out, in)."""
        v = self.params["weight_v"]
        return self.params["weight_g"] * v / np.linalg.norm(v, axis=1, keepdims=True)

    def _map_state_dict(self, state):
        if not any(k in state for k in self._TORCH_NAMES):
            return state
        return {self._TORCH_NAMES.get(k, k): v for k, v in state.items()}

    def forward(self, x):
        validate.array(x, "WeightNormLinear", "input", min_ndim=1, shape=(self.in_features,))
        w = self.weight
        self._cache = (x, w)
        y = x @ w.T
        return y + self.params["bias"] if self.has_bias else y

    def backward(self, dy):
        x, w = validate.forward_called("WeightNormLinear", self._cache)
        validate.grad(dy, x.shape[:-1] + (self.out_features,), "WeightNormLinear")
        x2, dy2 = x.reshape(-1, self.in_features), dy.reshape(-1, self.out_features)
        dW = dy2.T @ x2
        v, g = self.params["weight_v"], self.params["weight_g"]
        n = np.linalg.norm(v, axis=1, keepdims=True)
        dg = (dW * v).sum(axis=1, keepdims=True) / n
        self.grads["weight_g"] += dg
        self.grads["weight_v"] += (g / n) * (dW - v * dg / n)
        if self.has_bias:
            self.grads["bias"] += dy2.sum(axis=0)
        return dy @ w

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.has_bias}"


def weight_norm(linear):
    """A WeightNormLinear computing exactly what ``linear`` (a labutils Linear) computes:
    v = W and g = ||W|| row-wise (torch.nn.utils.parametrizations.weight_norm, dim=0)."""
    from .linear import Linear
    if not isinstance(linear, Linear):
        raise TypeError(f"weight_norm: expected a labutils Linear, got {type(linear).__name__}")
    w = linear.params["weight"]
    m = WeightNormLinear(linear.in_features, linear.out_features, linear.has_bias, dtype=w.dtype)
    m.params["weight_v"] = w.copy()
    m.params["weight_g"] = np.linalg.norm(w, axis=1, keepdims=True)
    if linear.has_bias:
        m.params["bias"] = linear.params["bias"].copy()
    return m
