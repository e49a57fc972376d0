"""The doors of ``favor.py`` (FAVOR+): what each function checks before it computes, in the
course's message form (``favor_forward: k must ..., got ...``). Internal: no public names."""
from __future__ import annotations

import numpy as np

from .. import validate

__all__: list[str] = []

KINDS = ("positive", "trig", "hyperbolic")


def check_kind(kind: object, owner: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"{owner}: kind must be one of {KINDS}, got {kind!r}")


def check_draw(m: object, d: object, rng: object, owner: str) -> tuple[int, int]:
    """Sizes m, d >= 1 and a numpy Generator (an int seed or None is refused: say which)."""
    m, d = (validate.positive_int(v, owner, n) for n, v in (("m", m), ("d", d)))
    validate.generator(rng, owner, allow_none=False)
    return m, d


def check_xw(x: object, W: object, owner: str, name: str = "x") -> None:
    """x (..., d) and W (m, d), m >= 1."""
    validate.array(W, owner, "W", ndim=2)
    if W.shape[0] < 1:
        raise ValueError(f"{owner}: W must have at least one row (m >= 1 random features), "
                         f"got shape {W.shape}")
    validate.array(x, owner, name, min_ndim=1)
    if x.shape[-1] != W.shape[1]:
        raise ValueError(f"{owner}: W must be (m, d) with d = {name}.shape[-1] = "
                         f"{x.shape[-1]}, got W of shape {W.shape}")


def check_favor(q: object, k: object, v: object, W: object, kind: object, causal: bool,
                owner: str, eps: object = 0.0, chunk: object = 1) -> None:
    """q (..., L, d), k (..., S, d), v (..., S, dv), W (m, d); L == S when causal; eps a
    finite number >= 0, chunk an int >= 1."""
    check_kind(kind, owner)
    validate.array(q, owner, "q", min_ndim=2)
    validate.array(k, owner, "k", min_ndim=2)
    if k.shape[-1] != q.shape[-1]:
        raise ValueError(f"{owner}: k must have the feature size of q, d = q.shape[-1] = "
                         f"{q.shape[-1]}, got k of shape {k.shape}")
    validate.array(v, owner, "v", min_ndim=2)
    if k.shape[:-1] != v.shape[:-1]:
        raise ValueError(f"{owner}: k and v must share (..., S), got {k.shape} and {v.shape}")
    if q.shape[:-2] != k.shape[:-2]:
        raise ValueError(f"{owner}: q and k must share their leading dimensions, got "
                         f"{q.shape} and {k.shape}")
    if causal and q.shape[-2] != k.shape[-2]:
        raise ValueError(f"{owner}: causal attention needs as many queries as keys, got "
                         f"q {q.shape} and k {k.shape}")
    check_xw(q, W, owner, "q")
    validate.nonneg_float(eps, owner, "eps")
    validate.positive_int(chunk, owner, "chunk")


def check_grad(g: object, cache: object, kind: type, like: str, owner: str,
               arg: str) -> None:
    """A cache from the matching forward and an upstream gradient shaped like ``cache.<like>``."""
    if not isinstance(cache, kind):
        raise TypeError(f"{owner}: cache must be what the forward returned ({kind.__name__}), "
                        f"got {type(cache).__name__}")
    validate.grad(g, getattr(cache, like).shape, owner, arg)
