"""Bad-input recipes: chapter 1's modules and pairs (linear, activations, losses, dropout,
residual, feed-forward, mixture of experts). The containers, optimisers, init, gradcheck and the
other top-level helpers are in recipes_basic_tools.py. The harness: tests/badinputs/__init__.py."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import labutils.nn as nn
from tests.badinputs import ALL, Recipe, expect_named_error, randn, rng

T = torch.from_numpy


def _linear_twin(m: nn.Linear, args: tuple) -> torch.Tensor:
    t = torch.nn.Linear(m.in_features, m.out_features, dtype=torch.float64)
    return t(T(args[0]))


def _linear_cache() -> tuple:
    return nn.linear_forward(randn(2, 4), randn(3, 4), randn(3))[1]


def _twin(make: Callable[[], Any]) -> Callable[[Any, tuple], Any]:
    """A twin for the empty batch: torch's module (or function) applied to the arguments."""
    return lambda _m, args: make()(*(T(a) if isinstance(a, np.ndarray) else a for a in args))


def _backward_args(forward: Callable, *args: Callable[[], np.ndarray], **kw: Any
                   ) -> Callable[[], tuple]:
    """(dy, cache) for a pair's backward: dy shaped like the forward's output."""
    def make() -> tuple:
        y, cache = forward(*(a() for a in args), **kw)
        return randn(*y.shape), cache
    return make


def _raises(call: Callable[[], Any], owner: str, arg: str | None = None) -> Callable[[], None]:
    return lambda: expect_named_error(call, owner, arg)


# -- activations: the modules, their forward and backward pairs ----------------------------------
_ACTIVATIONS = {   # class: (torch twin, kwargs, pair name)
    "ReLU": (torch.nn.ReLU, {}, "relu"),
    "LeakyReLU": (torch.nn.LeakyReLU, dict(negative_slope=0.1), "leaky_relu"),
    "ELU": (torch.nn.ELU, dict(alpha=1.5), "elu"),
    "SELU": (torch.nn.SELU, {}, "selu"),
    "GELU": (torch.nn.GELU, dict(approximate="tanh"), "gelu"),
    "Sigmoid": (torch.nn.Sigmoid, {}, "sigmoid"),
    "Tanh": (torch.nn.Tanh, {}, "tanh"),
    "Softplus": (torch.nn.Softplus, dict(beta=2.0, threshold=10.0), "softplus"),
    "Softmax": (torch.nn.Softmax, dict(dim=-1), "softmax"),
    "LogSoftmax": (torch.nn.LogSoftmax, dict(dim=-1), "log_softmax"),
}


def _activation_recipes() -> dict[str, Recipe]:
    out = {}
    for name, (twin, kw, pair) in _ACTIVATIONS.items():
        fwd, bwd = getattr(nn, f"{pair}_forward"), getattr(nn, f"{pair}_backward")
        out[f"nn.{name}"] = Recipe(getattr(nn, name), kwargs=kw, args=lambda: (randn(2, 3),),
                                   names=("input",), batch={0: 0},
                                   twin=lambda _m, a, t=twin, k=kw: t(**k)(T(a[0])))
        out[f"nn.{pair}_forward"] = Recipe(fwd, kwargs=kw, args=lambda: (randn(2, 3),),
                                           names=("x",), batch={0: 0})
        out[f"nn.{pair}_backward"] = Recipe(bwd, args=_backward_args(fwd, lambda: randn(2, 3), **kw),
                                            names=("dy", None), fixed={0: ALL})
    return out


def _activation_options() -> None:
    """The activations' constants are checked when the module is built, or at the pair's door."""
    x = randn(2, 3)
    for call, owner, arg in [
            (lambda: nn.LeakyReLU(negative_slope="0.1"), "LeakyReLU", "negative_slope"),
            (lambda: nn.ELU(alpha=float("nan")), "ELU", "alpha"),
            (lambda: nn.Softplus(beta=0), "Softplus", "beta"),
            (lambda: nn.Softplus(threshold=None), "Softplus", "threshold"),
            (lambda: nn.GELU(approximate="erf"), "GELU", "approximate"),
            (lambda: nn.Softmax(dim=1.0), "Softmax", "dim"),
            (lambda: nn.LogSoftmax(dim=True), "LogSoftmax", "dim"),
            (lambda: nn.Softmax(dim=2)(x), "Softmax", "dim"),
            (lambda: nn.softmax_forward(x, dim=-3), "softmax_forward", "dim"),
            (lambda: nn.leaky_relu_forward(x, None), "leaky_relu_forward", "negative_slope"),
            (lambda: nn.gelu_forward(x, approximate="Tanh"), "gelu_forward", "approximate"),
            (lambda: nn.softplus_forward(x, beta=0.0), "softplus_forward", "beta"),
            (lambda: nn.relu_backward(x, None), "relu_backward", "cache"),
            (lambda: nn.softmax_backward(x, nn.relu_forward(x)[1]), "softmax_backward", "cache")]:
        expect_named_error(call, owner, arg)


# -- losses ----------------------------------------------------------------------------------------
def _mse_cache() -> tuple:
    return np.asarray(0.7), nn.mse_forward(randn(2, 3), randn(2, 3))[1]


def _ce_cache() -> tuple:
    return np.asarray(0.7), nn.cross_entropy_forward(randn(2, 3), np.array([0, 2]))[1]


def _ce_args() -> tuple:
    return randn(2, 3), np.array([0, 2])


_LOSSES = {
    "nn.MSELoss": Recipe(nn.MSELoss, args=lambda: (randn(2, 3), randn(2, 3)),
                         names=("input", "target"), fixed={0: ALL, 1: ALL}, batch={0: 0, 1: 0},
                         twin=_twin(torch.nn.MSELoss),
                         extra=(_raises(lambda: nn.MSELoss("none"), "MSELoss", "reduction"),)),
    "nn.mse_forward": Recipe(nn.mse_forward, args=lambda: (randn(2, 3), randn(2, 3)),
                             names=("x", "target"), fixed={0: ALL, 1: ALL}, batch={0: 0, 1: 0}),
    "nn.mse_backward": Recipe(nn.mse_backward, args=_mse_cache, names=("dy", None),
                              ranks={0: (0,)}),
    "nn.CrossEntropyLoss": Recipe(
        nn.CrossEntropyLoss, args=_ce_args, names=("input", "target"), ints=(1,),
        fixed={1: (0,)}, ranks={0: (1, 2), 1: (1,)}, batch={0: 0, 1: 0},
        twin=_twin(torch.nn.CrossEntropyLoss),
        extra=(_raises(lambda: nn.CrossEntropyLoss()(randn(2, 3), np.array([0, 3])),
                       "CrossEntropyLoss", "target"),
               _raises(lambda: nn.CrossEntropyLoss()(randn(2, 3), np.array([-1, 0])),
                       "CrossEntropyLoss", "target"),
               _raises(lambda: nn.CrossEntropyLoss(reduction=None), "CrossEntropyLoss",
                       "reduction"))),
    "nn.cross_entropy_forward": Recipe(nn.cross_entropy_forward, args=_ce_args,
                                       names=("x", "target"), ints=(1,), fixed={1: (0,)},
                                       ranks={0: (1, 2), 1: (1,)}, batch={0: 0, 1: 0}),
    "nn.cross_entropy_backward": Recipe(nn.cross_entropy_backward, args=_ce_cache,
                                        names=("dy", None), ranks={0: (0,)}),
}


def _empty_losses_match_torch() -> None:
    """Sum over an empty batch is 0, the mean NaN, as in torch; the gradient is empty."""
    for reduction in ("mean", "sum"):
        ce = nn.CrossEntropyLoss(reduction)
        got = ce(np.zeros((0, 3)), np.zeros(0, dtype=np.int64))
        want = torch.nn.CrossEntropyLoss(reduction=reduction)(torch.zeros(0, 3),
                                                             torch.zeros(0, dtype=torch.long))
        np.testing.assert_equal(float(got), float(want))
        assert ce.backward()[0].shape == (0, 3)
        mse = nn.MSELoss(reduction)
        got = mse(np.zeros((0, 3)), np.zeros((0, 3)))
        np.testing.assert_equal(float(got), float(torch.nn.MSELoss(reduction=reduction)(
            torch.zeros(0, 3), torch.zeros(0, 3))))
        assert mse.backward()[0].shape == (0, 3)


# -- the other chapter 1 modules ---------------------------------------------------------------------
class _Residual(nn.Residual):
    """Residual around a fresh Linear(3, 3) (the harness builds modules from keywords)."""

    def __init__(self) -> None:
        super().__init__(nn.Linear(3, 3, rng=rng()))


def _keep() -> np.ndarray:
    return randn(2, 3) > 0


def _keep_extra() -> None:
    """keep may be None (nothing dropped); anything else must be a boolean mask of x's shape."""
    for keep in (randn(2, 3), np.ones((2, 4), bool), np.ones((3,), bool), [[True] * 3] * 2):
        expect_named_error(lambda: nn.dropout_forward(randn(2, 3), 0.5, keep),
                           "dropout_forward", "keep")


def _dropout_cache() -> tuple:
    return randn(2, 3), nn.dropout_forward(randn(2, 3), 0.5, _keep())[1]


def _gating_args() -> tuple:
    return randn(2, 3, 2), randn(2, 3, 2), randn(3, 3), randn(3)


_OTHERS = {
    "nn.Identity": Recipe(nn.Identity, args=lambda: (randn(2, 3),), names=("input",),
                          batch={0: 0}, twin=_twin(torch.nn.Identity)),
    "nn.Dropout": Recipe(nn.Dropout, kwargs=dict(p=0.5, rng=rng()), args=lambda: (randn(2, 3),),
                         names=("input",), probs=("p",), batch={0: 0},
                         twin=lambda m, a: torch.nn.Dropout(m.p)(T(a[0])),
                         extra=(_raises(lambda: nn.Dropout(rng=5), "Dropout", "rng"),)),
    "nn.dropout_forward": Recipe(nn.dropout_forward, args=lambda: (randn(2, 3), 0.5, _keep()),
                                 names=("x", "p", None), probs=(1,), fixed={0: (0, 1)},
                                 batch={0: 0, 2: 0}, extra=(_keep_extra,)),
    "nn.dropout_backward": Recipe(nn.dropout_backward, args=_dropout_cache, names=("dy", None),
                                  fixed={0: ALL}),
    "nn.Residual": Recipe(_Residual, owner="Residual", args=lambda: (randn(2, 3),),
                          names=("input",), batch={0: 0},
                          extra=(_raises(lambda: nn.Residual(None), "Residual", "module"),)),
    "nn.Highway": Recipe(nn.Highway, kwargs=dict(features=4, rng=rng()),
                         args=lambda: (randn(2, 4),), names=("input",), sizes=("features",),
                         fixed={0: (-1,)}, batch={0: 0},
                         extra=(_raises(lambda: nn.Highway(4, gate_bias="-2"), "Highway",
                                        "gate_bias"),)),
    "nn.highway_forward": Recipe(nn.highway_forward, args=lambda: (randn(2, 4),) * 3,
                                 names=("x", "h", "t"), fixed={1: ALL, 2: ALL},
                                 batch={0: 0, 1: 0, 2: 0}),
    "nn.highway_backward": Recipe(nn.highway_backward,
                                  args=_backward_args(nn.highway_forward, *[lambda: randn(2, 4)] * 3),
                                  names=("dy", None), fixed={0: ALL}),
    "nn.FeedForward": Recipe(nn.FeedForward, kwargs=dict(d_model=4, dim_feedforward=8, rng=rng()),
                             args=lambda: (randn(2, 4),), names=("input",),
                             sizes=("d_model", "dim_feedforward"), probs=("dropout",),
                             fixed={0: (-1,)}, batch={0: 0},
                             extra=(_raises(lambda: nn.FeedForward(4, 8, activation="tanh"),
                                            "FeedForward", "activation"),)),
    "nn.SpatialGatingUnit": Recipe(nn.SpatialGatingUnit, kwargs=dict(d_ffn=4, seq_len=3, rng=rng()),
                                   args=lambda: (randn(2, 3, 4),), names=("input",),
                                   sizes=("d_ffn", "seq_len"), fixed={0: (1, 2)}, ranks={0: (3,)},
                                   batch={0: 0},
                                   extra=(_raises(lambda: nn.SpatialGatingUnit(5, 3),
                                                  "SpatialGatingUnit", "d_ffn"),
                                          _raises(lambda: nn.SpatialGatingUnit(4, 3, init_scale=None),
                                                  "SpatialGatingUnit", "init_scale"))),
    "nn.spatial_gating_forward": Recipe(nn.spatial_gating_forward, args=_gating_args,
                                        names=("u", "v_hat", "weight", "bias"),
                                        fixed={1: ALL, 2: ALL, 3: ALL}, ranks={0: (3,)},
                                        batch={0: 0, 1: 0}),
    "nn.spatial_gating_backward": Recipe(nn.spatial_gating_backward,
                                         args=lambda: (randn(2, 3, 2),
                                                       nn.spatial_gating_forward(*_gating_args())[1]),
                                         names=("dy", None), fixed={0: ALL}),
    "nn.MixtureOfExperts": Recipe(
        nn.MixtureOfExperts, kwargs=dict(in_features=4, out_features=3, num_experts=4, k=2,
                                         rng=rng()),
        args=lambda: (randn(5, 4),), names=("input",),
        sizes=("in_features", "out_features", "num_experts", "k"), fixed={0: (-1,)}, batch={0: 0},
        extra=(_raises(lambda: nn.MixtureOfExperts(4, 3, 2, k=3), "MixtureOfExperts", "k"),
               _raises(lambda: nn.MixtureOfExperts(4, 3, 2, experts=[nn.Linear(4, 3)]),
                       "MixtureOfExperts", "experts"))),
    "nn.top_k_gate_forward": Recipe(nn.top_k_gate_forward, kwargs=dict(k=2),
                                    args=lambda: (randn(5, 4),), names=("logits",), sizes=("k",),
                                    ranks={0: (2,)}, batch={0: 0},
                                    extra=(_raises(lambda: nn.top_k_gate_forward(randn(5, 4), 5),
                                                   "top_k_gate_forward", "k"),)),
    "nn.top_k_gate_backward": Recipe(nn.top_k_gate_backward,
                                     args=_backward_args(nn.top_k_gate_forward,
                                                         lambda: randn(5, 4), k=2),
                                     names=("dg", None), fixed={0: ALL}),
}


def _linear_extra() -> None:
    """bias may be None (no bias); anything else must be an (out,) float array."""
    for bias in (randn(4), randn(1, 3), [0.0, 1.0, 2.0], np.array([0.0, np.nan, 1.0]),
                 np.arange(3)):
        expect_named_error(lambda: nn.linear_forward(randn(2, 4), randn(3, 4), bias),
                           "linear_forward", "bias")
    expect_named_error(lambda: nn.linear_backward(randn(2, 3), None), "linear_backward", "cache")
    expect_named_error(lambda: nn.Linear(4, 3, rng=0), "Linear", "rng")


RECIPES = {
    "nn.Linear": Recipe(nn.Linear, kwargs=dict(in_features=4, out_features=3),
                        args=lambda: (randn(2, 4),), names=("input",),
                        sizes=("in_features", "out_features"), fixed={0: (-1,)},
                        batch={0: 0}, twin=_linear_twin, extra=(_linear_extra,)),
    "nn.linear_forward": Recipe(nn.linear_forward, args=lambda: (randn(2, 4), randn(3, 4), randn(3)),
                                names=("x", "weight", None), fixed={0: (-1,), 1: ALL},
                                ranks={1: (2,)}, batch={0: 0}),
    "nn.linear_backward": Recipe(nn.linear_backward,
                                 args=lambda: (randn(2, 3), _linear_cache()),
                                 names=("dy", None), fixed={0: ALL}),
    **_activation_recipes(),
    **_LOSSES,
    **_OTHERS,
}
RECIPES["nn.ReLU"].extra = (_activation_options,)
RECIPES["nn.MSELoss"].extra += (_empty_losses_match_torch,)

EXEMPT: dict[str, str] = {}

