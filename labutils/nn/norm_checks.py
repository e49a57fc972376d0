"""The doors of the normalization pairs and modules (``norm.py``, ``weight_norm.py``,
``norm_fold.py``): each checks the arguments of one call and raises ``TypeError`` or
``ValueError`` in the course's form, ``Owner: arg must be <expected>, got <what came>``,
before anything is computed or stored. Not public: the callers are the public names.
"""
from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any

from .. import validate

__all__: list[str] = []


def eps(value: object, owner: str, positive: bool = False) -> float:
    """``value`` as a float if it is a finite number >= 0 (> 0 if ``positive``: batch and
    instance norm, as torch's training refuses 0)."""
    want = "a positive finite float" if positive else "a finite float >= 0"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: eps must be {want}, got {value!r} ({type(value).__name__})")
    if not (math.isfinite(value) and (value > 0 if positive else value >= 0)):
        raise ValueError(f"{owner}: eps must be {want}, got {value!r}")
    return float(value)


def momentum(value: object, owner: str) -> float | None:
    """None (a cumulative average) or a float in [0, 1]."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: momentum must be a float in [0, 1] or None, got {value!r} "
                        f"({type(value).__name__})")
    if not 0 <= value <= 1:
        raise ValueError(f"{owner}: momentum must be in [0, 1] or None, got {value}")
    return float(value)


def eps_momentum(eps_: object, momentum_: object, owner: str) -> tuple[float, float | None]:
    """Batch and instance norm: eps > 0 (torch's training refuses 0) and momentum."""
    return eps(eps_, owner, positive=True), momentum(momentum_, owner)


def shape_arg(value: object, owner: str, arg: str) -> tuple[int, ...]:
    """An int or a non-empty sequence of positive ints, as a tuple (LayerNorm's
    normalized_shape)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return (validate.positive_int(value, owner, arg),)
    if not isinstance(value, (tuple, list)) or not value:
        raise TypeError(f"{owner}: {arg} must be a positive int or a non-empty tuple of them, "
                        f"got {value!r}")
    return tuple(validate.positive_int(v, owner, arg) for v in value)


def groups(num_groups: object, num_channels: object, owner: str,
           channels: str = "num_channels") -> tuple[int, int]:
    """Positive ints with num_groups dividing num_channels (``channels`` names it)."""
    g = validate.positive_int(num_groups, owner, "num_groups")
    c = validate.positive_int(num_channels, owner, channels)
    if c % g:
        raise ValueError(f"{owner}: {channels} ({c}) must be divisible by num_groups, got "
                         f"num_groups={g} (choose a divisor of {c})")
    return g, c


def vector(v: object, shape: tuple[int, ...], owner: str, arg: str, what: str,
           optional: bool = True) -> None:
    """``v`` a float array of exactly ``shape`` (``what`` says where it comes from), or None
    when ``optional``."""
    if v is None and optional:
        return
    validate.array(v, owner, arg)
    if v.shape != shape:
        raise ValueError(f"{owner}: {arg} must have shape {shape} ({what}), got {v.shape}")


def pair(first: object, second: object, owner: str, names: tuple[str, str] = ("weight", "bias")
         ) -> None:
    """Two arguments that come together or not at all (weight and bias: y = x̂ γ + β)."""
    if (first is None) != (second is None):
        given, missing = names if second is None else names[::-1]
        raise ValueError(f"{owner}: {missing} must be given with {given} (or both None), "
                         f"got {given} without {missing}")


def axes(value: object, ndim: int, owner: str) -> tuple[int, ...]:
    """A tuple of distinct axes of an ndim-array (an int means one axis), as NumPy takes them."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    ok = isinstance(value, tuple) and all(
        isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in value)
    if not ok or not all(-ndim <= a < ndim for a in value) or \
            len({a % ndim for a in value}) != len(value):
        raise ValueError(f"{owner}: axes must be an int or a tuple of distinct axes of the "
                         f"input (ints in [-{ndim}, {ndim})), got {value!r}")
    return tuple(int(a) for a in value)


def normalize_args(x: object, ax: object, eps_: object, owner: str = "normalize") -> None:
    validate.array(x, owner, "x")
    axes(ax, x.ndim, owner)
    eps(eps_, owner)


def normalize_backward_args(g: object, x_hat: object, inv_std: object, ax: object) -> None:
    owner = "normalize_backward"
    validate.array(x_hat, owner, "x_hat")
    validate.array(g, owner, "g")
    if g.shape != x_hat.shape:
        raise ValueError(f"{owner}: g must have x_hat's shape {x_hat.shape}, got {g.shape}")
    kept = tuple(1 if i in {a % x_hat.ndim for a in axes(ax, x_hat.ndim, owner)} else n
                 for i, n in enumerate(x_hat.shape))
    vector(inv_std, kept, owner, "inv_std", f"x_hat's shape with the axes {ax} kept as 1",
           optional=False)


def one_value(n: int, x_shape: tuple[int, ...], owner: str) -> None:
    """Batch statistics of a single value are refused (torch): x̂ = 0, no variance."""
    if n == 1:
        raise ValueError(f"{owner}: x must hold more than 1 value per normalized group when "
                         f"using its own statistics, got shape {x_shape}")


def one_value_per_channel(n: int, x_shape: tuple[int, ...], owner: str,
                          what: str = "value per channel") -> None:
    """A module's batch statistics over one value are refused, as torch."""
    if n == 1:
        raise ValueError(f"{owner}: Expected more than 1 {what} when training, got input size "
                         f"{tuple(x_shape)} (the mean of one value is that value: x̂ = 0 and "
                         f"the variance is undefined; use more values, or call .eval())")


def channels(x: object, c: int, owner: str, layout: str, **expect: object) -> None:
    """A module's input: a float array (rank as ``expect`` says) with c channels on axis 1;
    ``layout`` is its shape with {c} for the channels, e.g. "(N, {c}, H, W)"."""
    validate.array(x, owner, "input", **expect)
    if x.shape[1] != c:
        raise ValueError(f"{owner}: input must have shape {layout.format(c=c)}, with {c} "
                         f"channels on axis 1, got {x.shape}")


def module_backward(dy: object, cache: object, owner: str) -> object:
    """A module's backward: forward was called, and dy has the output's shape."""
    cache = validate.forward_called(owner, cache)
    validate.grad(dy, cache.x_hat.shape, owner)
    return cache


def instance_input(x: object, c: int, owner: str, spatial: int, strict: bool) -> None:
    """(N, C, *S) or (C, *S): a wrong C is an error when C sizes parameters or statistics,
    else only a warning (as torch: num_features is unused)."""
    validate.array(x, owner, "input", ndim=(spatial + 1, spatial + 2))
    if x.shape[-spatial - 1] != c:
        msg = (f"{owner}: expected input's size at dim={x.ndim - spatial - 1} to match "
               f"num_features ({c}), got shape {x.shape}")
        if strict:
            raise ValueError(msg)
        warnings.warn(msg + " (num_features is unused with affine=False)", stacklevel=4)


def batch_norm_args(x: object, weight: object, bias: object, eps_: object,
                    running_mean: object, running_var: object, ax: object) -> None:
    owner = "batch_norm_forward"
    validate.array(x, owner, "x", min_ndim=2)
    c = x.shape[1:2]
    for arg, v in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                   ("running_var", running_var)):
        vector(v, c, owner, arg, "one per channel, axis 1 of x")
    pair(weight, bias, owner)
    pair(running_mean, running_var, owner, ("running_mean", "running_var"))
    if running_var is not None and running_var.min(initial=0) < 0:
        raise ValueError(f"{owner}: running_var must be >= 0, got {running_var.min()}")
    eps(eps_, owner)
    if ax is not None:
        ax = axes(ax, x.ndim, owner)
    if running_mean is None:
        reduced = (0, *range(2, x.ndim)) if ax is None else ax
        one_value(math.prod(x.shape[a] for a in reduced), x.shape, owner)


def layer_norm_args(x: object, weight: object, bias: object, normalized_ndim: object,
                    eps_: object) -> None:
    owner = "layer_norm_forward"
    nd = validate.positive_int(normalized_ndim, owner, "normalized_ndim")
    validate.array(x, owner, "x", min_ndim=nd)
    for arg, v in (("weight", weight), ("bias", bias)):
        vector(v, x.shape[x.ndim - nd:], owner, arg, "the normalized trailing axes of x")
    eps(eps_, owner)


def group_norm_args(x: object, num_groups: object, weight: object, bias: object,
                    eps_: object) -> None:
    owner = "group_norm_forward"
    validate.array(x, owner, "x", min_ndim=2)
    groups(num_groups, x.shape[1], owner, "the channels of x (axis 1)")
    for arg, v in (("weight", weight), ("bias", bias)):
        vector(v, x.shape[1:2], owner, arg, "one per channel, axis 1 of x")
    pair(weight, bias, owner)
    eps(eps_, owner)


def backward_args(dy: object, cache: object, cache_type: type, owner: str,
                  output_shape: Callable[[Any], tuple[int, ...]] = lambda c: c.x_hat.shape
                  ) -> None:
    """The cache is the forward's (not None, not another pair's); dy has the output's shape,
    ``output_shape(cache)`` (the normalized x̂'s shape unless said)."""
    if not isinstance(cache, cache_type):
        raise TypeError(f"{owner}: cache must be the {cache_type.__name__} returned by the "
                        f"forward, got {type(cache).__name__}")
    validate.grad(dy, output_shape(cache), owner, "dy")


def fold_args(weight: object, bias: object, gamma: object, beta: object, running_mean: object,
              running_var: object, eps_: object) -> None:
    owner = "fold_batch_norm"
    validate.array(weight, owner, "weight", min_ndim=2)
    c = weight.shape[:1]
    vector(bias, c, owner, "bias", "one per output channel, axis 0 of weight")
    for arg, v in (("gamma", gamma), ("beta", beta), ("running_mean", running_mean),
                   ("running_var", running_var)):
        vector(v, c, owner, arg, "one per output channel, axis 0 of weight", optional=False)
    if running_var.min(initial=0) < 0:
        raise ValueError(f"{owner}: running_var must be >= 0, got {running_var.min()}")
    eps(eps_, owner)


def weight_norm_args(x: object, g: object, v: object, bias: object) -> None:
    owner = "weight_norm_forward"
    validate.array(v, owner, "v", ndim=2)
    validate.array(x, owner, "x", min_ndim=1)
    if x.shape[-1] != v.shape[1]:
        raise ValueError(f"{owner}: x must end with v's in_features {v.shape[1]} (x: (*, in), "
                         f"v: (out, in)), got x of shape {x.shape} and v of shape {v.shape}")
    vector(g, v.shape[:1] + (1,), owner, "g", "(out, 1): one length per row of v", False)
    vector(bias, v.shape[:1], owner, "bias", "one per row of v")
