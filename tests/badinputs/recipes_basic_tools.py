"""Bad-input recipes: the containers (Module, Sequential, ModuleList), the optimisers, init,
gradcheck, tolerances, torchcheck, decoding and chapter 6's experiment functions
(labutils.performer). Chapter 1's modules are in recipes_basic.py. The harness:
tests/badinputs/__init__.py."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import labutils.nn as nn
from labutils import decoding, gradcheck, init, optim, performer, tolerances, torchcheck
from labutils.module import Module, ModuleList, Sequential
from tests.badinputs import ALL, Recipe, expect_named_error, randn, rng


def _raises(call: Callable[[], Any], owner: str, arg: str | None = None) -> Callable[[], None]:
    return lambda: expect_named_error(call, owner, arg)


def _checks(*checks: tuple) -> tuple[Callable[[], None], ...]:
    """Extra checks from (call, owner, arg) triples."""
    return tuple(_raises(*c) for c in checks)


def _linear() -> nn.Linear:
    """A Linear(4, 3) with gradients accumulated, as an optimiser finds it."""
    m = nn.Linear(4, 3, rng=rng())
    m(randn(2, 4))
    m.backward(randn(2, 3))
    return m


# -- containers ------------------------------------------------------------------------------
def _load(state: Any) -> Module:
    return nn.Linear(4, 3, rng=rng()).load_state_dict(state)


def _load_changes_nothing() -> None:
    """A state dict with one bad entry is refused before anything is loaded."""
    m = nn.Linear(4, 3, rng=rng())
    state = {"weight": np.zeros((3, 4)), "bias": np.zeros(4)}
    expect_named_error(lambda: m.load_state_dict(state), "Linear.load_state_dict", "bias", state=m)
    state = {"weight": np.zeros((3, 4)), "bias": None}
    expect_named_error(lambda: m.load_state_dict(state), "Linear.load_state_dict", "bias", state=m)
    expect_named_error(lambda: m.load_state_dict([("weight", np.zeros((3, 4)))]),
                       "Linear.load_state_dict", "state", state=m)
    m.load_state_dict({"weight": torch.zeros(3, 4), "bias": [1.0, 2.0, 3.0]})   # tensors, lists
    assert m.params["bias"].tolist() == [1.0, 2.0, 3.0]
    expect_named_error(lambda: m.train("eval"), "Linear.train", "mode", state=m)


def _sequential(*modules: Any) -> Sequential:
    return Sequential(*modules)


def _module_list(modules: Any) -> ModuleList:
    return ModuleList(modules)


_CONTAINERS = {
    "module.Module": Recipe(_load, owner="Linear.load_state_dict",
                            args=lambda: (nn.Linear(4, 3).state_dict(),), names=("state",),
                            extra=(_load_changes_nothing,)),
    "module.Sequential": Recipe(_sequential, owner="Sequential",
                                args=lambda: (nn.Linear(4, 3), nn.ReLU()),
                                names=("modules", "modules"),
                                extra=_checks((lambda: Sequential(nn.ReLU(), np.ones(3)),
                                               "Sequential", "modules[1]"))),
    "module.ModuleList": Recipe(_module_list, owner="ModuleList",
                                args=lambda: ([nn.Linear(4, 3), nn.ReLU()],), names=("modules",),
                                extra=_checks((lambda: ModuleList([nn.ReLU(), "relu"]),
                                               "ModuleList", "modules[1]"),
                                              (lambda: ModuleList(nn.ReLU()), "ModuleList",
                                               "modules"))),
}


# -- optimisers --------------------------------------------------------------------------------
def _sgd(module: Module, **kw: Any) -> optim.SGD:
    opt = optim.SGD(module, **kw)
    opt.step()
    return opt


def _adam(module: Module, **kw: Any) -> optim.Adam:
    opt = optim.Adam(module, **kw)
    opt.step()
    return opt


def _optimizer(module: Module) -> optim.Optimizer:
    return optim.Optimizer(module)


def _betas() -> None:
    for betas in [(0.9, 1.0), (-0.1, 0.9), (0.9, float("nan")), (0.9,), None, ("0.9", 0.99)]:
        expect_named_error(lambda: optim.Adam(_linear(), betas=betas), "Adam", "betas")


_OPTIMISERS = {
    "optim.SGD": Recipe(_sgd, owner="SGD", args=lambda: (_linear(),), names=("module",),
                        kwargs=dict(lr=0.1, momentum=0.9, weight_decay=0.01),
                        rates=("lr", "momentum", "weight_decay"),
                        extra=_checks((lambda: optim.SGD(_linear(), lr=0.1, nesterov=True),
                                       "SGD", "momentum"))),
    "optim.Adam": Recipe(_adam, owner="Adam", args=lambda: (_linear(),), names=("module",),
                         kwargs=dict(lr=0.01, eps=1e-8, weight_decay=0.01),
                         rates=("lr", "eps", "weight_decay"), extra=(_betas,)),
    "optim.Optimizer": Recipe(_optimizer, owner="Optimizer", args=lambda: (_linear(),),
                              names=("module",)),
}


# -- gradcheck and tolerances ----------------------------------------------------------------------
def _difference_args(*extra: np.ndarray) -> tuple:
    x = randn(3)
    return (lambda: float(np.sum(x ** 3)), x, *extra)


def _restores_x() -> None:
    """x is restored when f raises half way (the perturbation must not stay)."""
    x = randn(3)
    calls = []

    def f() -> float:
        calls.append(1)
        if len(calls) == 2:
            raise ZeroDivisionError("a bug in f")
        return float(np.sum(x))
    before = x.copy()
    try:
        gradcheck.numerical_gradient(f, x)
    except ZeroDivisionError:
        pass
    np.testing.assert_array_equal(x, before)


def _metrics() -> None:
    """NaN gives a NaN error ("wrong"), torch tensors and lists are numbers; None is refused."""
    a = randn(3)
    assert math.isnan(gradcheck.rel_error(a, np.array([np.nan, 0.0, 0.0])))
    assert gradcheck.rel_error(torch.from_numpy(a), a.tolist()) == 0.0
    assert gradcheck.floored_error(a, randn(4), 1.0) == float("inf")
    assert tolerances.verdict(float("nan")) == "wrong"


_GRADCHECK = {
    "gradcheck.rel_error": Recipe(
        gradcheck.rel_error, args=lambda: (randn(3), randn(3)), names=(None, None),
        extra=(_metrics, *_checks((lambda: gradcheck.rel_error(None, randn(3)), "rel_error", "a"),
                                  (lambda: gradcheck.rel_error(randn(3), "x"), "rel_error", "b"),
                                  (lambda: gradcheck.rel_error(randn(3), randn(1, 3)),
                                   "rel_error", "b")))),
    "gradcheck.floored_error": Recipe(
        gradcheck.floored_error, args=lambda: (randn(3), randn(3), 1.0), names=(None, None, "floor"),
        rates=(2,), extra=_checks((lambda: gradcheck.floored_error(None, randn(3), 1.0),
                                   "floored_error", "a"))),
    "gradcheck.numerical_gradient": Recipe(gradcheck.numerical_gradient, args=_difference_args,
                                           names=("f", "x"), kwargs=dict(h=1e-6), rates=("h",),
                                           extra=(_restores_x,)),
    "gradcheck.directional_derivative": Recipe(
        gradcheck.directional_derivative, args=lambda: _difference_args(randn(3)),
        names=("f", "x", "u"), kwargs=dict(h=1e-6), rates=("h",), fixed={2: ALL}),
    "gradcheck.flatten": Recipe(gradcheck.flatten, args=lambda: ((randn(2), (None, randn(3))),)),
    "gradcheck.unflatten": Recipe(
        gradcheck.unflatten, args=lambda: ((randn(2), (None, randn(3))), [1, 2, 3]),
        names=(None, "leaves"),
        extra=_checks((lambda: gradcheck.unflatten((1, (2, 3)), [1, 2]), "unflatten", "leaves"),
                      (lambda: gradcheck.unflatten((1, 2), [1, 2, 3]), "unflatten", "leaves"))),
    "gradcheck.check_module": Recipe(
        gradcheck.check_module, args=lambda: (nn.Linear(3, 2, rng=rng()), randn(2, 3)),
        names=("module", None), sizes=("n_directions",), counts=("max_entries", "seed"),
        rates=("h",), extra=_checks((lambda: gradcheck.check_module(
            nn.Linear(3, 2), randn(2, 3), check_inputs=[1]), "check_module", "check_inputs"))),
    "tolerances.verdict": Recipe(tolerances.verdict, args=lambda: (1e-9,), names=("rel_err",),
                                 extra=_checks((lambda: tolerances.verdict("1e-9"), "verdict",
                                                "rel_err"))),
}
EXEMPT = {
    "gradcheck.ErrorReport": "a result container (a dict of errors): made by check_module",
    "gradcheck.GradCheckReport": "a result container: made by check_module",
    "torchcheck.ParityReport": "a result container: made by parity_report",
}


# -- init ---------------------------------------------------------------------------------------
def _draw_checks(fn: Callable, **kw: Any) -> tuple[Callable[[], None], ...]:
    name = fn.__name__
    return _checks((lambda: fn((3, 4), rng=5, **kw), name, "rng"),
                   (lambda: fn((3, 4), dtype=np.int64, **kw), name, "dtype"),
                   (lambda: fn((3, -4), **kw), name, "shape[1]"),
                   (lambda: fn([3, 2.5], **kw), name, "shape[1]"))


def _draw(fn: Callable, **kw: Any) -> Recipe:
    return Recipe(fn, args=lambda: ((3, 4),), names=("shape",), kwargs=dict(rng=rng(), **kw),
                  extra=_draw_checks(fn))


_INIT = {
    "init.xavier_uniform": _draw(init.xavier_uniform, gain=2.0),
    "init.xavier_normal": _draw(init.xavier_normal, gain=2.0),
    "init.kaiming_uniform": _draw(init.kaiming_uniform, a=0.1, mode="fan_out"),
    "init.kaiming_normal": _draw(init.kaiming_normal, a=0.1, mode="fan_out"),
    "init.uniform": Recipe(init.uniform, args=lambda: ((3,),), names=("shape",),
                           kwargs=dict(bound=0.5, rng=rng()), rates=("bound",)),
    "init.torch_default": Recipe(init.torch_default, args=lambda: ((3, 4),),
                                 names=("weight_shape",), kwargs=dict(rng=rng())),
    "init.fans": Recipe(init.fans, args=lambda: ((3, 4, 2),), names=("shape",),
                        extra=_checks((lambda: init.fans((3,)), "fans", "shape"),
                                      (lambda: init.fans((3, 0)), "fans", "shape[1]"))),
    "init.calculate_gain": Recipe(
        init.calculate_gain, args=lambda: ("leaky_relu",), names=("nonlinearity",),
        kwargs=dict(param=0.2),
        extra=_checks((lambda: init.calculate_gain("leaky_relu", "0.2"), "calculate_gain", "param"),
                      (lambda: init.kaiming_normal((3, 4), mode="fan"), "kaiming_normal", "mode"),
                      (lambda: init.xavier_normal((3, 4), gain=None), "xavier_normal", "gain"))),
    "init.haar_orthogonal": Recipe(
        init.haar_orthogonal, kwargs=dict(d=3, rng=rng(), batch=(2,)), sizes=("d",),
        extra=_checks((lambda: init.haar_orthogonal(3, batch=(-1,)), "haar_orthogonal", "batch[0]"),
                      (lambda: init.haar_orthogonal(3, rng=0), "haar_orthogonal", "rng"))),
    "init.manual_seed": Recipe(init.manual_seed, kwargs=dict(seed=0), counts=("seed",)),
    "init.get_rng": Recipe(init.get_rng, args=lambda: (rng(),),
                           extra=_checks((lambda: init.get_rng(3), "get_rng", "rng"),
                                         (lambda: init.get_rng(np.random.RandomState(0)),
                                          "get_rng", "rng"))),
}


# -- decoding -------------------------------------------------------------------------------------
_TABLE = np.log(np.array([0.1, 0.2, 0.3, 0.4]))


def _step(prefixes: np.ndarray) -> np.ndarray:
    """A model over 4 tokens that always predicts the same distribution."""
    return np.tile(_TABLE, (len(prefixes), 1))


_DECODING = {
    "decoding.greedy_decode": Recipe(
        decoding.greedy_decode, args=lambda: (_step,), names=("step_fn",),
        kwargs=dict(bos=0, max_len=3, batch_size=2, eos=1), sizes=("max_len", "batch_size"),
        counts=("bos",),
        extra=_checks((lambda: decoding.greedy_decode(_step, 0, 3, eos=-1), "greedy_decode", "eos"),
                      (lambda: decoding.greedy_decode(lambda p: _TABLE, 0, 3), "greedy_decode",
                       "step_fn"))),
    "decoding.beam_search": Recipe(
        decoding.beam_search, args=lambda: (_step,), names=("step_fn",),
        kwargs=dict(bos=0, max_len=3, beam_size=2, eos=1, length_penalty=0.5),
        sizes=("max_len", "beam_size"), counts=("bos",),
        extra=_checks((lambda: decoding.beam_search(_step, 0, 3, length_penalty=None),
                       "beam_search", "length_penalty"))),
    "decoding.log_softmax": Recipe(
        decoding.log_softmax, args=lambda: (randn(2, 4),), names=("logits",), batch={0: 0},
        twin=lambda _m, a: torch.log_softmax(torch.from_numpy(a[0]), dim=-1),
        extra=_checks((lambda: decoding.log_softmax(randn(2, 4), axis=2), "log_softmax", "axis"))),
}


# -- torchcheck and chapter 6's experiments ----------------------------------------------------------
def _performer() -> nn.PerformerAttention:
    return nn.PerformerAttention(8, 2, nb_features=4, rng=rng())


def _pairs() -> dict:
    return {"y": (randn(3), torch.zeros(3))}


def _exact_twin(_m: Any, args: tuple) -> torch.Tensor:
    return F.scaled_dot_product_attention(*(torch.from_numpy(a) for a in args))


def _no_keys() -> None:
    """No keys at all (S = 0): zeros, as torch."""
    q, k, v = randn(2, 5, 4), randn(2, 0, 4), randn(2, 0, 3)
    np.testing.assert_array_equal(performer.exact_attention(q, k, v),
                                  _exact_twin(None, (q, k, v)).numpy())


_TORCH = {
    "torchcheck.to_torch": Recipe(torchcheck.to_torch, args=lambda: (randn(2),),
                                  extra=_checks((lambda: torchcheck.to_torch(np.array([None, 1])),
                                                 "to_torch", "x"))),
    "torchcheck.parity_report": Recipe(
        torchcheck.parity_report, args=lambda: (_pairs(), _pairs()),
        extra=_checks((lambda: torchcheck.parity_report([randn(3)]), "parity_report", "outputs"),
                      (lambda: torchcheck.parity_report({"y": randn(3)}), "parity_report", "outputs"),
                      (lambda: torchcheck.parity_report(None, {"y": (None, randn(3))}),
                       "parity_report", "grads"))),
    "torchcheck.compare_with_torch": Recipe(
        torchcheck.compare_with_torch,
        args=lambda: (nn.Linear(4, 3), torch.nn.Linear(4, 3), randn(2, 4)),
        names=("module", "torch_module", None), counts=("seed",)),
    "torchcheck.buffers_match": Recipe(
        torchcheck.buffers_match, args=lambda: (nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)),
        names=("module", "torch_module"), rates=("rtol",)),
    "torchcheck.favor_mha_twin": Recipe(torchcheck.favor_mha_twin, args=lambda: (_performer(),),
                                        names=("module",)),
    "performer.torch_twin": Recipe(performer.torch_twin, args=lambda: (_performer(),),
                                   names=("module",)),
    "performer.exact_attention": Recipe(
        performer.exact_attention, args=lambda: (randn(2, 5, 4), randn(2, 6, 4), randn(2, 6, 3)),
        names=("q", "k", "v"), fixed={0: (0, -1), 1: (0, -2, -1), 2: (0, -2)},
        batch={0: 0, 1: 0, 2: 0}, twin=_exact_twin, extra=(_no_keys,)),
    "performer.sample_matrices": Recipe(
        performer.sample_matrices, kwargs=dict(n=2, m=3, d=4, rng=rng(), orthogonal=True),
        sizes=("n", "m", "d"),
        extra=_checks((lambda: performer.sample_matrices(2, 3, 4, None), "sample_matrices", "rng"),
                      (lambda: performer.sample_matrices(2, 3, 4, 7), "sample_matrices", "rng"))),
    "performer.kernel_estimates": Recipe(
        performer.kernel_estimates, args=lambda: (randn(4), randn(4), randn(2, 3, 4)),
        names=("x", "y", "Ws"), kwargs=dict(kind="positive"), fixed={0: (0,), 1: (0,), 2: (-1,)},
        ranks={0: (1,), 1: (1,), 2: (3,)}),
    "performer.cost_table": Recipe(
        performer.cost_table, kwargs=dict(Ls=(8,), d=4, m=4, repeats=1, threads=1),
        sizes=("d", "m", "repeats", "threads"), counts=("seed",),
        extra=_checks((lambda: performer.cost_table(Ls=(8, 0)), "cost_table", "Ls[1]"))),
}

RECIPES = {**_CONTAINERS, **_OPTIMISERS, **_GRADCHECK, **_INIT, **_DECODING, **_TORCH}
