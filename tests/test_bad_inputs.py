"""Every bad input gets a named error and corrupts nothing (issue 20).

The recipes in tests/badinputs/recipes_*.py say how to call each public name of labutils well;
these tests spoil one thing at a time (Hypothesis chooses which argument and how) and assert a
named error, or torch's own behaviour for an empty batch. The harness and what a good message
holds are in tests/badinputs/__init__.py.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tests.badinputs import (ALL, BAD_COUNTS, BAD_PROBS, BAD_RATES, BAD_SIZES, Recipe,
                             all_exempt, all_recipes, buffers_finite, check_message,
                             expect_named_error, public_names)

RECIPES = all_recipes()
EXEMPT = all_exempt()


def _having(test: str) -> list[str]:
    """Names of the recipes a test applies to (the others are not skipped: not listed)."""
    keep = {
        "keywords": lambda r: bool(r.sizes or r.counts or r.rates or r.probs),
        "arguments": lambda r: bool(_spoilable(r)),
        "gradient": lambda r: r.is_class and r.backward,
        "batch": lambda r: bool(r.batch),
        "extra": lambda r: bool(r.extra),
    }[test]
    return [n for n, r in sorted(RECIPES.items()) if keep(r)]


def _spoilable(r: Recipe) -> list[int]:
    return [i for i, n in enumerate(r.names) if n is not None]


# -- coverage ---------------------------------------------------------------------------------
def test_every_public_name_has_a_recipe() -> None:
    public = set(public_names())
    missing = sorted(public - RECIPES.keys() - EXEMPT.keys())
    assert not missing, f"{len(missing)} public names have no bad-input recipe: {missing}"
    stale = sorted((RECIPES.keys() | EXEMPT.keys()) - public)
    assert not stale, f"recipes or exemptions for names that are not public: {stale}"


def test_harness_catches_a_bare_numpy_error() -> None:
    """The message check refuses what the issue calls out: a NumPy error, even renamed."""
    def linear(x: np.ndarray) -> np.ndarray:
        try:
            return x @ np.ones((4, 3))
        except ValueError as e:
            raise ValueError("Linear: " + str(e)) from None
    with pytest.raises(AssertionError, match="internals"):
        expect_named_error(lambda: linear(np.ones((2, 5))), "Linear", "input")
    with pytest.raises(AssertionError, match="accepted"):
        expect_named_error(lambda: linear(np.ones((2, 4))), "Linear", "input")


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_the_good_call_works(name: str) -> None:
    """Each recipe's own call succeeds (else every bad-input test below would pass vacuously)."""
    r = RECIPES[name]
    module = r.build() if r.is_class else None
    out = r.run(r.args(), module)
    if r.is_class and r.backward:
        module.backward(*_grads(r, out))


# -- keyword arguments: sizes, counts, rates, probabilities -------------------------------------
@pytest.mark.parametrize("name", _having("keywords"))
@given(data=st.data())
def test_bad_keyword(name: str, data: st.DataObject) -> None:
    r = RECIPES[name]
    kinds = [(k, BAD_SIZES) for k in r.sizes] + [(k, BAD_COUNTS) for k in r.counts] + \
        [(k, BAD_RATES) for k in r.rates] + [(k, BAD_PROBS) for k in r.probs]
    key, values = data.draw(st.sampled_from(kinds), label="argument")
    value = data.draw(st.sampled_from(values), label="value")
    if r.is_class:
        call = lambda: r.build(**{key: value})  # noqa: E731
    elif isinstance(key, int):
        call = lambda: r.call(*_replace(r.args(), key, value), **r.kwargs)  # noqa: E731
    else:
        call = lambda: r.call(*r.args(), **{**r.kwargs, key: value})  # noqa: E731
    label = r.names[key] if isinstance(key, int) else key
    expect_named_error(call, r.name, label, what=f"{label}={value!r}")


# -- array arguments ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", _having("arguments"))
@given(data=st.data())
def test_bad_argument(name: str, data: st.DataObject) -> None:
    r = RECIPES[name]
    module = r.build() if r.is_class else None
    args = r.args()
    i = data.draw(st.sampled_from(_spoilable(r)), label="argument")
    bad, how = _spoil(r, i, args[i], data)
    bad_args = _replace(args, i, bad)
    state = module if module is not None else args
    expect_named_error(lambda: r.run(bad_args, module), r.name, r.names[i], state=state,
                       what=f"{r.names[i]} {how}")


def _spoil(r: Recipe, i: int, x: Any, data: st.DataObject) -> tuple[Any, str]:
    kinds = [] if i in r.optional else ["None"]
    if isinstance(x, np.ndarray):
        kinds += ["list", "torch"]
        if i not in r.ints and x.dtype.kind == "f":
            kinds += ["int"] + (["NaN"] if x.size else [])
        if i in r.ranks or r.fixed.get(i) == ALL:
            kinds.append("rank")
        if i in r.fixed:
            kinds.append("size")
    how = data.draw(st.sampled_from(kinds), label="spoil")
    if how == "None":
        return None, "None"
    if how == "list":
        return (x.tolist() if x.ndim else [x.item()]), "as a list"
    if how == "torch":
        return torch.from_numpy(np.copy(x)), "as a torch tensor"
    if how == "int":
        return np.round(x).astype(np.int64), "of integer dtype"
    if how == "NaN":
        bad = np.copy(x)
        bad.flat[data.draw(st.integers(0, x.size - 1), label="where")] = np.nan
        return bad, "holding a NaN"
    if how == "rank":
        allowed = r.ranks.get(i, (x.ndim,))
        choices = [k for k in (x.ndim - 1, x.ndim + 1) if k >= 0 and k not in allowed]
        k = data.draw(st.sampled_from(choices), label="rank")
        return (x[0] if k < x.ndim else np.stack([x, x])), f"of rank {k}"
    axes = range(x.ndim) if r.fixed[i] == ALL else r.fixed[i]
    axis = data.draw(st.sampled_from(list(axes)), label="axis") % x.ndim
    n = x.shape[axis]
    if n and data.draw(st.booleans(), label="shrink"):
        bad = x.take(range(n - 1), axis=axis)
    else:
        pad = [(0, 0)] * x.ndim
        pad[axis] = (0, 1)
        bad = np.pad(x, pad)
    return bad, f"with axis {axis} of size {bad.shape[axis]} instead of {x.shape[axis]}"


def _replace(args: tuple, i: int, value: Any) -> tuple:
    return args[:i] + (value,) + args[i + 1:]


# -- backward -------------------------------------------------------------------------------------
def _grads(r: Recipe, out: Any) -> tuple:
    if r.grads is not None:
        return r.grads(out)
    y = out[0] if isinstance(out, tuple) else out
    return (np.random.default_rng(1).standard_normal(y.shape).astype(y.dtype),)


@pytest.mark.parametrize("name", _having("gradient"))
@given(data=st.data())
def test_bad_gradient(name: str, data: st.DataObject) -> None:
    """backward refuses a gradient of the wrong shape (broadcastable ones too), dtype, None or
    NaN, and leaves the accumulated gradients as they were."""
    r = RECIPES[name]
    module = r.build()
    dys = _grads(r, module(*r.args()))
    dy = dys[0]
    how = data.draw(st.sampled_from(["None", "int", "NaN", "bigger", "broadcast", "rank"]),
                    label="spoil")
    bigger = dy.shape[:-1] + (dy.shape[-1] + 1,) if dy.ndim else (2,)     # a loss's dy is 0-d
    bad = {"None": None, "int": np.ones(dy.shape, dtype=np.int64),
           "NaN": np.full(dy.shape, np.nan), "bigger": np.zeros(bigger),
           "broadcast": np.zeros((1,) * dy.ndim), "rank": np.zeros((1,) + dy.shape)}[how]
    if how == "broadcast" and bad.shape == dy.shape:
        bad = np.zeros(dy.shape[1:] if dy.ndim else (1,))
    expect_named_error(lambda: module.backward(bad, *dys[1:]), r.name, "grad", state=module,
                       what=f"gradient {how}")


@pytest.mark.parametrize("name", _having("gradient"))
def test_backward_before_forward(name: str) -> None:
    r = RECIPES[name]
    dys = _grads(r, r.build()(*r.args()))
    fresh = r.build()
    expect_named_error(lambda: fresh.backward(*dys), r.name, state=fresh,
                       types=(RuntimeError,), what="backward before forward")


# -- empty batch ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", _having("batch"))
def test_empty_batch(name: str) -> None:
    """An empty batch does what torch does: the same output shape, or an error where torch
    raises; buffers stay finite (batch norm must not average over nothing)."""
    r = RECIPES[name]
    args = tuple(np.take(a, [], axis=r.batch[i]) if i in r.batch else a
                 for i, a in enumerate(r.args()))
    module = r.build() if r.is_class else None
    expected, torch_raised = None, False
    if r.twin is not None:
        try:
            expected = r.twin(module, args)
        except Exception:  # noqa: BLE001  (torch refuses: so must we)
            torch_raised = True
    try:
        out = r.run(args, module)
    except Exception as exc:  # noqa: BLE001
        check_message(exc, r.name)
        assert r.twin is None or torch_raised, f"{name}: raised where torch returns ({exc})"
        return
    assert not torch_raised, f"{name}: returned where torch raises"
    y = out[0] if isinstance(out, tuple) else out
    if expected is not None:
        want = expected[0] if isinstance(expected, tuple) else expected
        assert tuple(y.shape) == tuple(want.shape), f"{name}: {y.shape} vs torch {want.shape}"
    if module is not None:
        assert not buffers_finite(module), f"{name}: NaN in buffers {buffers_finite(module)}"
        if r.backward:
            module.backward(*_grads(r, out))


@pytest.mark.parametrize("name", _having("extra"))
def test_extra_checks(name: str) -> None:
    for check in RECIPES[name].extra:
        check()
