"""What the spatial modules of chapter 3 (convolutions, poolings) share: their per-axis
arguments, and torch's unbatched input (C, *S), computed as a batch of one.

The pairs in ``conv.py`` and ``pool.py`` always see a batch (N, C, *S); ``SpatialModule`` adds
and removes the batch axis around them and validates the input and the upstream gradient.
"""
from __future__ import annotations

import numbers
from typing import Callable

import numpy as np

from .. import validate
from ..module import Module

Size = int | tuple[int, ...]          # one int for every spatial axis, or one per axis

__all__ = ["Size", "spatial_ints", "SpatialModule"]


def spatial_ints(value: Size | list[int], nd: int, owner: str, arg: str,
                 minimum: int = 1) -> tuple[int, ...]:
    """``value`` (an int, or one int per spatial axis) as a tuple of ``nd`` ints >= minimum."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return (validate.positive_int(value, owner, arg, minimum),) * nd
    if not isinstance(value, (tuple, list)) or len(value) != nd:
        raise TypeError(f"{owner}: {arg} must be an int or a tuple of {nd} ints, got {value!r}")
    return tuple(validate.positive_int(v, owner, arg, minimum) for v in value)


class SpatialModule(Module):
    """A module over a forward/backward pair on (N, C, *S) arrays, ``nd`` spatial axes; an
    unbatched (C, *S) input is a batch of one, as in torch."""
    nd = 2

    def _run(self, x: np.ndarray, pair: Callable, channels: int | None = None,
             nonempty: bool = False) -> np.ndarray:
        """Validate x, run ``pair(x_batched) -> (y, cache)``, keep the cache, return y.
        nonempty: the channel and spatial axes must not be empty (only the batch may be)."""
        shape = None if channels is None else (channels,) + (None,) * self.nd
        name = type(self).__name__
        validate.array(x, name, "input", ndim=(self.nd + 1, self.nd + 2), shape=shape)
        if nonempty and 0 in x.shape[-self.nd - 1:]:
            raise ValueError(f"{name}: input must have non-empty channel and spatial axes (only "
                             f"the batch axis may be empty, as in torch), got shape {x.shape}")
        unbatched = x.ndim == self.nd + 1
        y, cache = pair(x[None] if unbatched else x)
        self._cache = (cache, y.shape, unbatched)
        return y[0] if unbatched else y

    def _run_backward(self, dy: np.ndarray, pair_backward: Callable) -> tuple[object, bool]:
        """Validate dy against the output, run ``pair_backward(dy_batched, cache)``; return its
        result and whether the input was unbatched (the caller drops the batch axis of dx)."""
        name = type(self).__name__
        cache, y_shape, unbatched = validate.forward_called(name, self._cache)
        validate.grad(dy, y_shape[1:] if unbatched else y_shape, name)
        return pair_backward(dy[None] if unbatched else dy, cache), unbatched
