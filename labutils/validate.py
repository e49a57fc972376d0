"""Input validation with messages that name the module, the argument, what was expected and
what came, in one form: ``Owner: what was expected, got what came``. Every module calls
``validate.array`` on what it receives and ``validate.positive_int`` on its sizes.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def array(x: object, owner: str, arg: str = "input", ndim: int | tuple[int, ...] | None = None,
          min_ndim: int | None = None, shape: tuple[int | None, ...] | None = None,
          dtype: str | None = "float") -> np.ndarray:
    """Check ``x`` and return it; raise TypeError/ValueError with a clear message otherwise.

    ndim      -- an int or a tuple of allowed ranks
    min_ndim  -- the least rank allowed
    shape     -- a tuple matched from the END of x.shape; None entries match anything
    dtype     -- "float" (floating point), "int", "bool" or None (anything)
    """
    where = f"{owner}: {arg}"
    if hasattr(x, "detach") and not isinstance(x, np.ndarray):
        raise TypeError(f"{where} must be a NumPy array, got a torch tensor "
                        f"(convert with .detach().numpy())")
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{where} must be a NumPy array, got {type(x).__name__}")
    kinds = {"float": "f", "int": "iu", "bool": "b"}
    if dtype is not None and x.dtype.kind not in kinds[dtype]:
        raise TypeError(f"{where} must have a {dtype} dtype, got {x.dtype}")
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if allowed is not None and x.ndim not in allowed:
        want = " or ".join(str(a) for a in allowed)
        raise ValueError(f"{where} must have {want} dimensions, got shape {x.shape} "
                         f"({x.ndim} dimensions)")
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(f"{where} must have at least {min_ndim} dimensions, "
                         f"got shape {x.shape}")
    if shape is not None:
        tail = x.shape[len(x.shape) - len(shape):] if len(shape) else ()
        ok = len(x.shape) >= len(shape) and all(s is None or s == t for s, t in zip(shape, tail))
        if not ok:
            want = "(..., " + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{where} must have shape {want}, got {x.shape}")
    if x.dtype.kind == "f" and np.isnan(x).any():
        first = tuple(int(i) for i in np.argwhere(np.isnan(x))[0])
        raise ValueError(f"{where} contains NaN: expected numbers, got NaN at index {first} "
                         f"(a NaN usually comes from 0/0, inf - inf or an overflow upstream)")
    return x


def grad(dy: object, expected_shape: Sequence[int], owner: str,
         arg: str = "grad_output") -> np.ndarray:
    """Check an upstream gradient against the shape of the output it belongs to."""
    array(dy, owner, arg)
    if dy.shape != tuple(expected_shape):
        raise ValueError(f"{owner}: {arg} must have the output's shape {tuple(expected_shape)}, "
                         f"got {dy.shape}")
    return dy


def forward_called(owner: str, cache: T | None) -> T:
    if cache is None:
        raise RuntimeError(f"{owner}: backward called before forward (nothing cached)")
    return cache


def positive_int(value: object, owner: str, arg: str, minimum: int = 1) -> int:
    """``value`` as an int if it is an integer >= ``minimum`` (1 unless said), else a ValueError or
    TypeError in the course's form (``Linear: in_features must be a positive int, got 0``)."""
    want = "a positive int" if minimum == 1 else f"an int >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {arg} must be {want}, got {value!r} "
                        f"({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{owner}: {arg} must be {want}, got {value}")
    return int(value)
