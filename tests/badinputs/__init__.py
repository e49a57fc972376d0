"""Bad inputs for every public name of labutils (issue 20): the harness.

Each ``recipes_*.py`` file beside this one defines ``RECIPES``, a dict from a public name
("nn.Linear", "nn.linear_forward", "optim.SGD", "gradcheck.rel_error", ...; see
``public_names``) to a ``Recipe``: how to call the name *well*, and what it fixes about its
arguments. tests/test_bad_inputs.py then spoils one thing at a time, with Hypothesis choosing
what and how, and asserts that

- the call raises ``ValueError`` or ``TypeError`` (``RuntimeError`` for backward before
  forward) whose message starts with the name of the class or function, names the argument,
  says what came ("got ..."), and holds no text from inside NumPy or Python;
- nothing stored changed: a module's parameters, gradients, buffers and mode, and the caller's
  arrays, are exactly as they were (NaN included);
- an empty batch does what torch does (the recipe's ``twin``), or else raises a named error or
  returns an output with an empty batch, and leaves every buffer finite.

A new public name joins by being public: test_every_public_name_has_a_recipe fails until it has
a recipe (or an entry in EXEMPT with its reason).

Writing a recipe (see recipes_basic.py for examples):

    "nn.Linear": Recipe(nn.Linear, kwargs=dict(in_features=4, out_features=3),
                        args=lambda: (randn(2, 4),), names=("input",),
                        sizes=("in_features", "out_features"), fixed={0: (-1,)},
                        batch={0: 0}, twin=twins.linear)

For a class, ``call(**kwargs)`` builds the module and ``module(*args)`` runs forward; backward
is ``module.backward(dy)`` with ``dy`` shaped like the output (``grads`` overrides that). For a
function, ``call(*args, **kwargs)`` is the call. ``fixed[i]`` lists the axes of argument ``i``
whose size the module or function fixes (``ALL`` for every axis: a gradient against a cache),
``ranks[i]`` the ranks it accepts, ``batch[i]`` its batch axis.
"""
from __future__ import annotations

import copy
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ALL = "all"          # fixed[i] = ALL: every axis of argument i is fixed (e.g. a gradient)

# Text that betrays an error raised from inside NumPy or Python rather than at the door.
INTERNAL_TEXT = (
    "operands could not be broadcast", "could not broadcast", "not aligned", "core dimension",
    "cannot reshape array", "out of bounds", "division by zero", "math domain error",
    "negative dimensions", "'NoneType' object", "unsupported operand", "has no attribute",
    "is not subscriptable", "object is not iterable", "not supported between instances",
    "ufunc", "invalid literal", "setting an array element", "numpy.", "list indices",
    "takes from", "positional argument", "unexpected keyword", "Cannot cast", "zero-size array",
    "tuple index", "index out of range", "must be real number", "can't multiply sequence",
)

ERROR_TYPES = (ValueError, TypeError)
BAD_SIZES = (0, -1, -7, 2.5, "3", None, True)       # for sizes (positive ints)
BAD_COUNTS = (-1, -7, 2.5, "3", None, True)          # for counts (ints >= 0)
BAD_RATES = (-0.1, float("nan"), float("inf"), "0.1", None)     # for floats >= 0
BAD_PROBS = (-0.1, 1.5, float("nan"), "0.5", None)    # for probabilities in [0, 1]


@dataclass
class Recipe:
    """How to call one public name well, and what it fixes about its arguments."""
    call: Callable[..., Any]
    args: Callable[[], tuple] = lambda: ()
    names: tuple[str | None, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    sizes: tuple[str, ...] = ()        # kwargs that must be positive ints
    counts: tuple[str, ...] = ()       # kwargs that must be ints >= 0
    rates: tuple[str, ...] = ()        # kwargs that must be finite floats >= 0
    probs: tuple[str, ...] = ()        # kwargs that must be floats in [0, 1]
    fixed: dict[int, tuple[int, ...] | str] = field(default_factory=dict)
    ranks: dict[int, tuple[int, ...]] = field(default_factory=dict)
    batch: dict[int, int] = field(default_factory=dict)
    ints: tuple[int, ...] = ()         # argument indices that are integer arrays (no NaN/int spoil)
    optional: tuple[int, ...] = ()     # argument indices where None is a good value (no None spoil)
    twin: Callable[[Any, tuple], Any] | None = None   # (our module or None, args) -> torch result
    grads: Callable[[Any], tuple] | None = None       # output -> the gradients backward takes
    backward: bool = True              # a class whose instances have backward(dy)
    owner: str | None = None           # the name messages start with (default: call.__name__)
    extra: tuple[Callable[[], None], ...] = ()        # custom checks, each asserts on its own

    @property
    def is_class(self) -> bool:
        return inspect.isclass(self.call)

    @property
    def name(self) -> str:
        return self.owner or self.call.__name__

    def build(self, **overrides: Any) -> Any:
        return self.call(**{**self.kwargs, **overrides})

    def run(self, args: tuple, module: Any = None) -> Any:
        """Call the forward (of ``module``, built if None) or the function on ``args``."""
        if self.is_class:
            module = self.build() if module is None else module
            return module(*args)
        return self.call(*args, **self.kwargs)


# -- what a good message holds ----------------------------------------------------------------
def check_message(exc: BaseException, owner: str, arg: str | None = None,
                  types: tuple[type, ...] = ERROR_TYPES) -> None:
    """Assert ``exc`` is a named error: right type, starts with ``owner``, names ``arg``, says
    what came, and quotes nothing from inside NumPy or Python."""
    text = str(exc)
    where = f"{type(exc).__name__}: {text!r}"
    assert isinstance(exc, types), f"expected {[t.__name__ for t in types]}, got {where}"
    assert text.startswith(owner), f"message should start with {owner!r}: {where}"
    inside = [t for t in INTERNAL_TEXT if t in text]
    assert not inside, f"message quotes NumPy/Python internals {inside}: {where}"
    if arg is not None:
        assert arg in text, f"message should name the argument {arg!r}: {where}"
    assert "got" in text or "before" in text, f"message should say what came ('got ...'): {where}"


def expect_named_error(call: Callable[[], Any], owner: str, arg: str | None = None,
                       state: Any = None, types: tuple[type, ...] = ERROR_TYPES,
                       what: str = "") -> BaseException:
    """Run ``call``; assert it raises a named error and leaves ``state`` unchanged."""
    before = snapshot(state)
    try:
        call()
    except Exception as exc:  # noqa: BLE001  (the point is to inspect whatever came)
        check_message(exc, owner, arg, types)
        assert_same_state(before, snapshot(state), owner)
        return exc
    raise AssertionError(f"{owner}: accepted a bad input and returned ({what})")


# -- state ------------------------------------------------------------------------------------
def snapshot(obj: Any) -> dict[str, Any]:
    """Copies of everything a call could corrupt: a module's params, grads, buffers and mode;
    an optimiser's state; or the arrays of a tuple of arguments."""
    if obj is None:
        return {}
    if hasattr(obj, "params") and hasattr(obj, "buffers"):
        out = {f"param {k}": np.copy(v) for k, v in obj.params.items()}
        out |= {f"grad {k}": np.copy(v) for k, v in obj.grads.items()}
        out |= {f"buffer {k}": None if v is None else np.copy(v) for k, v in obj.buffers.items()}
        out |= {f"training {i}": m.training for i, m in enumerate(obj.modules())}
        return out
    if isinstance(obj, (tuple, list)):
        return {f"argument {i}": copy.deepcopy(a) for i, a in enumerate(obj)
                if isinstance(a, np.ndarray)}
    return {"object": copy.deepcopy(vars(obj))}


def assert_same_state(before: dict, after: dict, owner: str) -> None:
    assert before.keys() == after.keys(), f"{owner}: the call added or removed stored entries"
    for key, old in before.items():
        new = after[key]
        if isinstance(old, np.ndarray):
            same = (old.shape == new.shape and old.dtype == new.dtype
                    and np.array_equal(old, new, equal_nan=old.dtype.kind in "fc"))
        else:
            same = _equal(old, new)
        assert same, f"{owner}: a call that raised changed {key}"


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and \
            a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b) or (a != a and b != b)      # NaN == NaN here
    except Exception:  # noqa: BLE001
        return a is b


def buffers_finite(module: Any) -> list[str]:
    """Names of the float buffers of ``module`` holding a NaN or an infinity."""
    return [k for k, v in module.buffers.items()
            if isinstance(v, np.ndarray) and v.dtype.kind == "f" and not np.isfinite(v).all()]


# -- random good inputs -----------------------------------------------------------------------
_RNG = np.random.default_rng(0)


def randn(*shape: int) -> np.ndarray:
    """A fresh float64 standard-normal array."""
    return _RNG.standard_normal(shape)


def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# -- the public names -------------------------------------------------------------------------
SCANNED = ("module", "optim", "gradcheck", "init", "decoding", "tolerances", "torchcheck",
           "performer")


def public_names() -> list[str]:
    """Every public class and function of labutils outside lab/, viz/ and grading/ (notebook
    helpers, drawing and grading, each tested on its own): each file of labutils.nn by its
    ``__all__``, and the modules in SCANNED by ``__all__`` or by what they define. Result
    containers (NamedTuples) and constants are not calls and are left out."""
    import labutils.nn
    found = set()
    for info in pkgutil.iter_modules(labutils.nn.__path__):
        mod = importlib.import_module(f"labutils.nn.{info.name}")
        found |= {f"nn.{n}" for n in _callables(mod, getattr(mod, "__all__", ()))}
    for short in SCANNED:
        mod = importlib.import_module(f"labutils.{short}")
        names = getattr(mod, "__all__", None) or [
            n for n, v in vars(mod).items() if getattr(v, "__module__", None) == mod.__name__]
        for n in _callables(mod, names):
            obj = getattr(mod, n)
            home = getattr(obj, "__module__", "")
            found.add(f"nn.{n}" if home.startswith("labutils.nn.") else f"{short}.{n}")
    return sorted(found)


def _callables(mod: Any, names: Any) -> list[str]:
    out = []
    for n in names:
        obj = getattr(mod, n, None)
        if n.startswith("_") or not callable(obj):
            continue
        if inspect.isclass(obj) and issubclass(obj, tuple):       # NamedTuple caches
            continue
        out.append(n)
    return out


def all_recipes() -> dict[str, Recipe]:
    """RECIPES of every recipes_*.py beside this file (a name defined twice is an error)."""
    import tests.badinputs as here
    merged: dict[str, Recipe] = {}
    for info in pkgutil.iter_modules(here.__path__):
        if not info.name.startswith("recipes_"):
            continue
        mod = importlib.import_module(f"tests.badinputs.{info.name}")
        twice = merged.keys() & mod.RECIPES.keys()
        assert not twice, f"{info.name} defines recipes already defined elsewhere: {twice}"
        merged |= mod.RECIPES
    return merged


def all_exempt() -> dict[str, str]:
    """EXEMPT of every recipes_*.py: public name -> why it takes no bad-input recipe."""
    import tests.badinputs as here
    merged: dict[str, str] = {}
    for info in pkgutil.iter_modules(here.__path__):
        if info.name.startswith("recipes_"):
            merged |= getattr(importlib.import_module(f"tests.badinputs.{info.name}"),
                              "EXEMPT", {})
    return merged
