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
    # The common case first, with no message to prepare: a float64 array of the right rank and
    # shape without NaN. Anything else goes through every check in order (``_array``).
    if (type(x) is _NDARRAY and x.dtype is _F64 and dtype == "float"
            and (ndim is None or x.ndim == ndim) and (min_ndim is None or x.ndim >= min_ndim)
            and (shape is None or x.shape[-len(shape):] == shape
                 or _tail_matches(x.shape, shape))):
        if not x.size:
            return x
        m = x.item(x.argmax())     # _has_nan inline: a call would be a fifth of the check
        if m == m:
            return x
    return _array(x, owner, arg, ndim, min_ndim, shape, dtype)


def _array(x: object, owner: str, arg: str, ndim: int | tuple[int, ...] | None,
           min_ndim: int | None, shape: tuple[int | None, ...] | None,
           dtype: str | None) -> np.ndarray:
    """``array``'s every check, in order, with its messages."""
    if not isinstance(x, np.ndarray):
        where = f"{owner}: {arg}"
        if hasattr(x, "detach"):
            raise TypeError(f"{where} must be a NumPy array, got a torch tensor "
                            f"(convert with .detach().numpy())")
        raise TypeError(f"{where} must be a NumPy array, got {type(x).__name__}")
    kind = x.dtype.kind
    if dtype is not None and kind not in _KINDS[dtype]:
        raise TypeError(f"{owner}: {arg} must have a {dtype} dtype, got {x.dtype}")
    if ndim is not None and x.ndim != ndim and (isinstance(ndim, int) or x.ndim not in ndim):
        want = " or ".join(str(a) for a in ((ndim,) if isinstance(ndim, int) else ndim))
        raise ValueError(f"{owner}: {arg} must have {want} dimensions, got shape {x.shape} "
                         f"({x.ndim} dimensions)")
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(f"{owner}: {arg} must have at least {min_ndim} dimensions, "
                         f"got shape {x.shape}")
    if shape is not None and not (len(shape) == 1 and x.ndim and shape[0] in (None, x.shape[-1])
                                  or _tail_matches(x.shape, shape)):
        want = "(..., " + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{owner}: {arg} must have shape {want}, got {x.shape}")
    if kind == "f" and x.size and _has_nan(x):
        first = tuple(int(i) for i in np.argwhere(np.isnan(x))[0])
        raise ValueError(f"{owner}: {arg} contains NaN: expected numbers, got NaN at index "
                         f"{first} (a NaN usually comes from 0/0, inf - inf or an overflow "
                         f"upstream)")
    return x


# -- the fast path of ``array`` (a time step validates small arrays: each microsecond counts) --
_KINDS = {"float": "f", "int": "iu", "bool": "b"}
_F64 = np.dtype(np.float64)
_NDARRAY = np.ndarray


def _has_nan(x: np.ndarray) -> bool:
    """Whether the non-empty float array ``x`` holds a NaN. Exact: argmax returns the index of
    the first NaN if there is one (NumPy treats NaN as the largest value), and it is a third
    cheaper than a sum on a time step's small arrays, and 3 to 4 times cheaper than
    ``np.isnan(x).any()``, with no temporary array and no overflow."""
    m = x.item(x.argmax())
    return m != m


def _tail_matches(have: tuple[int, ...], want: tuple[int | None, ...]) -> bool:
    """Whether ``have`` ends with ``want`` (None entries match anything)."""
    if len(have) < len(want):
        return False
    for s, t in zip(want, have[len(have) - len(want):]):
        if s is not None and s != t:
            return False
    return True


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


def number(value: object, owner: str, arg: str, low: float | None = None,
           high: float | None = None, open_low: bool = False, open_high: bool = False,
           want: str | None = None) -> float:
    """``value`` as a float if it is a finite real number in the range given (``low`` and
    ``high`` included unless ``open_low``/``open_high``), else a TypeError or ValueError in the
    course's form (``SGD: lr must be a finite number >= 0, got -0.1``); ``want`` replaces
    "a finite number >= 0" in the message."""
    parts = [f"{'>' if open_low else '>='} {low}"] if low is not None else []
    parts += [f"{'<' if open_high else '<='} {high}"] if high is not None else []
    want = want or "a finite number" + (" " + " and ".join(parts) if parts else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {arg} must be {want}, got {value!r} ({type(value).__name__})")
    v = float(value)
    outside = (v != v or v in (float("inf"), float("-inf"))
               or (low is not None and (v <= low if open_low else v < low))
               or (high is not None and (v >= high if open_high else v > high)))
    if outside:
        raise ValueError(f"{owner}: {arg} must be {want}, got {value!r}")
    return v


def nonneg_float(value: object, owner: str, arg: str) -> float:
    """A finite number >= 0 (a rate, a weight decay, an epsilon)."""
    return number(value, owner, arg, low=0)


def probability(value: object, owner: str, arg: str) -> float:
    """A number in [0, 1]."""
    return number(value, owner, arg, low=0, high=1, want="a probability in [0, 1]")


def generator(rng: object, owner: str, arg: str = "rng", allow_none: bool = True) -> None:
    """``rng`` must be a numpy.random.Generator (or None where the library's own is used)."""
    if rng is None and allow_none or isinstance(rng, np.random.Generator):
        return
    want = "a NumPy Generator" + (" or None" if allow_none else "")
    raise TypeError(f"{owner}: {arg} must be {want}, got {type(rng).__name__} "
                    f"(make one with np.random.default_rng(seed))")


def function(fn: object, owner: str, arg: str) -> None:
    """``fn`` must be callable."""
    if not callable(fn):
        raise TypeError(f"{owner}: {arg} must be callable, got {type(fn).__name__}")


def may_hold_nan(x: np.ndarray) -> bool:
    """Whether the float array ``x`` holds a NaN (exact; see ``_has_nan``): a module whose output
    a NaN in any input reaches can test that output once, and run ``array`` on its inputs (the
    test of each and its message) only when this fires."""
    try:
        m = x.item(x.argmax())     # _has_nan inline
    except ValueError:             # x is empty
        return False
    return m != m
