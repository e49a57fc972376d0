"""Compare a student's result with the reference: ``compare``.

Accepted: any numeric form of a right answer (Python float or int, NumPy scalar, 0-d array, a
list where an array is natural). Refused, each with its own diagnosis: None, a wrong number of
results, a non-numeric object, float32/float16 (float64 in, float64 out), a float where an int is
asked, a wrong shape, NaN or inf where the reference is finite, and wrong values (the largest
difference and where).

Example::

    note = compare(got, expected, names=["dx", "dW"])   # raises Problem, or returns a note
                                                         # such as "a list, read as an array"
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..gradcheck import rel_error
from ..tolerances import GRADER_RTOL
from .run import Problem


def _leaves(x: Any) -> list[Any]:
    return list(x) if isinstance(x, (tuple, list)) else [x]


def _is_int(x: Any) -> bool:
    return isinstance(x, (numbers.Integral, np.integer)) and not isinstance(x, (bool, np.bool_))


def _form(g: Any) -> str | None:
    """How the student's value was read, when it was not already a float64 ndarray."""
    if isinstance(g, np.ndarray):
        return None
    if isinstance(g, (list, tuple)):
        return f"a {type(g).__name__}, read as an array"
    if isinstance(g, np.generic):      # float64 and int64 scalars are what NumPy returns: no note
        if g.dtype in (np.float64, np.int64):
            return None
        return f"a NumPy {g.dtype} scalar, read as a number"
    return f"a Python {type(g).__name__}, read as a number"


def _numeric(g: Any, label: str) -> np.ndarray:
    """``g`` as an ndarray, or a Problem saying why it cannot be one."""
    if type(g).__module__.split(".")[0] == "torch":
        raise Problem(f"{label}: expected a NumPy array, got a torch {type(g).__name__}", "type")
    try:
        a = np.asarray(g)
    except (TypeError, ValueError):
        raise Problem(f"{label}: expected an array, got a {type(g).__name__} that is not one "
                      f"(lists of different lengths?)", "type") from None
    if a.dtype.kind not in "biuf":
        raise Problem(f"{label}: expected numbers, got {type(g).__name__}"
                      f"{'' if a.dtype == object else ' of ' + str(a.dtype)}", "type")
    return a


def _first(mask: np.ndarray) -> str:
    idx = tuple(int(i) for i in np.argwhere(mask)[0])
    return f" (first at index {idx})" if idx else ""


def compare_one(g: Any, e: Any, rtol: float = GRADER_RTOL, label: str = "result") -> str | None:
    """Compare one result ``g`` with one expected value ``e``; see the module doc."""
    if g is None:
        raise Problem(f"{label} is None: did you forget to compute or return it?", "none")
    if _is_int(e):
        if not (_is_int(g) or (isinstance(g, np.ndarray) and g.ndim == 0 and g.dtype.kind in "iu")):
            shown = f" {g!r}" if isinstance(g, (float, np.floating)) else ""
            raise Problem(f"{label}: expected an int (a whole number), got "
                          f"{type(g).__name__}{shown}", "type")
    a = _numeric(g, label)
    e_orig, e = e, np.asarray(e)
    if e.dtype.kind == "f" and a.dtype.kind == "f" and a.dtype.itemsize < 8:
        raise Problem(f"{label} is {a.dtype}, not float64: compute in float64 throughout "
                      f"(float32 keeps about 7 digits; the inputs are float64)", "precision")
    a, e = a.astype(np.float64), e.astype(np.float64)
    if a.shape != e.shape:
        hint = ""
        if e.shape == ():
            hint = " (a single number)"
        elif a.shape == e.shape[::-1] and a.ndim == 2:
            hint = " (transposed?)"
        elif a.size == e.size:
            hint = " (same number of entries: a reshape or transpose missing?)"
        raise Problem(f"{label}: expected shape {e.shape}, got shape {a.shape}{hint}", "shape")
    bad_e = ~np.isfinite(e)
    if np.isnan(a).any() and not np.isnan(e).any():
        raise Problem(f"{label} contains NaN{_first(np.isnan(a))}: an overflow, a 0/0 or a "
                      f"log of 0?", "nan")
    if np.isinf(a).any() and not np.isinf(e).any():
        raise Problem(f"{label} contains inf{_first(np.isinf(a))}: an overflow?", "nan")
    if bad_e.any():
        same = np.isnan(a[bad_e]) & np.isnan(e[bad_e]) | (a[bad_e] == e[bad_e])
        if not same.all():
            i = tuple(int(k) for k in np.argwhere(bad_e)[~same][0])
            raise Problem(f"{label}: expected {e[i]} at index {i}, got {a[i]:.6g}", "value")
        if np.isinf(a[~bad_e]).any() or np.isnan(a[~bad_e]).any():
            raise Problem(f"{label} is not finite where a finite value is expected"
                          f"{_first(~np.isfinite(a) & ~bad_e)}", "nan")
        a, e = np.where(bad_e, 0.0, a), np.where(bad_e, 0.0, e)
    err = rel_error(a, e)
    if not err <= rtol and e.shape == () and _is_int(expected_int := e_orig):
        raise Problem(f"{label}: expected {expected_int}, got {g}", "value")
    if not err <= rtol:
        diff = np.abs(a - e)
        where = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
        at = f" at index {tuple(int(i) for i in where)}" if diff.ndim else ""
        raise Problem(f"{label}: relative error {err:.1e} (allowed {rtol:.0e}); largest "
                      f"difference{at}: expected {float(e[where]):.6g}, got {float(a[where]):.6g}",
                      "value")
    return _form(g)


def compare(got: Any, expected: Any, rtol: float = GRADER_RTOL,
            names: Sequence[str] | None = None) -> str | None:
    """Raise Problem if ``got`` does not match ``expected`` (an array, a number, or a tuple
    of them); return a note on how a non-array result was read (or None)."""
    exp_leaves = _leaves(expected)
    if got is None:
        raise Problem("returned None: did you forget the `return` statement?", "none")
    several = isinstance(expected, (tuple, list))
    got_leaves = _leaves(got) if several else [got]
    if several and not isinstance(got, (tuple, list)):
        raise Problem(f"expected {len(exp_leaves)} results ({', '.join(names or [])}), got one "
                      f"{type(got).__name__}", "shape")
    if len(got_leaves) != len(exp_leaves):
        raise Problem(f"expected {len(exp_leaves)} results ({', '.join(names or [])}), "
                      f"got {len(got_leaves)}", "shape")
    notes = []
    for k, (g, e) in enumerate(zip(got_leaves, exp_leaves)):
        label = names[k] if names else ("result" if len(exp_leaves) == 1 else f"result {k}")
        note = compare_one(g, e, rtol, label)
        if note and not (isinstance(g, (float, int)) and isinstance(e, (float, int))):
            notes.append(f"{label}: {note}" if several else note)
    return "; ".join(notes) or None
