"""Bad-input recipes: chapter 2's normalization (batch, instance, layer and group norm, their
pairs, weight normalization, batch-norm folding). The harness: tests/badinputs/__init__.py.

The headline case of issue 20 is here: batch norm on an empty batch must not write NaN into its
running statistics (torch returns the empty output, counts the batch in num_batches_tracked and
leaves running_mean and running_var as they were)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import labutils.nn as nn
from labutils.nn.norm_fold import fold_batch_norm
from labutils.nn.weight_norm import weight_norm_backward, weight_norm_forward
from tests.badinputs import ALL, Recipe, expect_named_error, randn

T = torch.float64


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a)


# -- torch twins (the empty-batch behaviour) ---------------------------------------------------
def _bn_twin(m: Any, args: tuple) -> torch.Tensor:
    cls = {1: torch.nn.BatchNorm1d, 2: torch.nn.BatchNorm2d}[2 if args[0].ndim == 4 else 1]
    return cls(m.num_features, dtype=T)(_t(args[0]))


def _in_twin(m: Any, args: tuple) -> torch.Tensor:
    cls = torch.nn.InstanceNorm1d if m.spatial == 1 else torch.nn.InstanceNorm2d
    return cls(m.num_features, affine=m.affine, track_running_stats=m.track_running_stats,
               dtype=T)(_t(args[0]))


def _ln_twin(m: Any, args: tuple) -> torch.Tensor:
    return torch.nn.LayerNorm(m.normalized_shape, dtype=T)(_t(args[0]))


def _gn_twin(m: Any, args: tuple) -> torch.Tensor:
    return torch.nn.GroupNorm(m.num_groups, m.num_channels, dtype=T)(_t(args[0]))


def _wn_twin(m: Any, args: tuple) -> torch.Tensor:
    lin = torch.nn.Linear(m.in_features, m.out_features, dtype=T)
    return torch.nn.utils.parametrizations.weight_norm(lin)(_t(args[0]))


def _bn_fn_twin(_: Any, args: tuple) -> torch.Tensor:
    x, w, b = (_t(a) for a in args)
    return F.batch_norm(x, None, None, w, b, training=True)


def _ln_fn_twin(_: Any, args: tuple) -> torch.Tensor:
    x, w, b = (_t(a) for a in args)
    return F.layer_norm(x, tuple(w.shape), w, b)


def _gn_fn_twin(_: Any, args: tuple) -> torch.Tensor:
    return F.group_norm(_t(args[0]), args[1], _t(args[2]), _t(args[3]))


# -- caches for the backward pairs -------------------------------------------------------------
def _bn_cache() -> tuple:
    return nn.batch_norm_forward(randn(4, 3), randn(3), randn(3), 1e-5)[1]


def _ln_cache() -> tuple:
    return nn.layer_norm_forward(randn(2, 4), randn(4), randn(4), 1, 1e-5)[1]


def _gn_cache() -> tuple:
    return nn.group_norm_forward(randn(2, 4, 3), 2, randn(4), randn(4), 1e-5)[1]


def _wn_cache() -> tuple:
    return weight_norm_forward(randn(2, 4), 1 + np.abs(randn(3, 1)), randn(3, 4), randn(3))[1]


def _normalized() -> tuple:
    x_hat, inv_std = nn.normalize(randn(3, 4), (1,), 1e-5)
    return randn(3, 4), x_hat, inv_std


# -- the special cases ------------------------------------------------------------------
def _empty_batch_keeps_running_stats() -> None:
    """As torch: an empty batch in training returns an empty output and backward, counts in
    num_batches_tracked, and leaves running_mean and running_var exactly as they were."""
    for cls, tcls, shape in ((nn.BatchNorm1d, torch.nn.BatchNorm1d, (0, 3)),
                             (nn.BatchNorm1d, torch.nn.BatchNorm1d, (2, 3, 0)),
                             (nn.BatchNorm2d, torch.nn.BatchNorm2d, (0, 3, 4, 4))):
        for momentum in (0.1, None):
            lab, ref = cls(3, momentum=momentum), tcls(3, momentum=momentum, dtype=T)
            lab(randn(5, *shape[1:]) if shape[0] == 0 else randn(5, 3, 2))   # a real batch first
            ref(_t(randn(5, *shape[1:]) if shape[0] == 0 else randn(5, 3, 2)))
            before = {k: np.copy(v) for k, v in lab.buffers.items()}
            y = lab(np.zeros(shape))
            ref(torch.zeros(shape, dtype=T))
            assert y.shape == shape and lab.backward(np.zeros(shape)).shape == shape
            assert np.array_equal(lab.buffers["running_mean"], before["running_mean"])
            assert np.array_equal(lab.buffers["running_var"], before["running_var"])
            assert int(lab.buffers["num_batches_tracked"]) == int(ref.num_batches_tracked) == 2
            assert np.isfinite(lab.grads["weight"]).all()


def _empty_batch_then_cumulative_average() -> None:
    """momentum=None after an empty batch: the next batch is averaged with factor 1/3 (the empty
    one counted), exactly as torch."""
    lab, ref = nn.BatchNorm1d(3, momentum=None), torch.nn.BatchNorm1d(3, momentum=None, dtype=T)
    xs = [randn(4, 3), np.zeros((0, 3)), 2 + randn(6, 3)]
    for x in xs:
        lab(x)
        ref(_t(x))
    np.testing.assert_allclose(lab.buffers["running_mean"], ref.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(lab.buffers["running_var"], ref.running_var.numpy(), rtol=1e-12)


def _instance_norm_empty_keeps_stats_finite() -> None:
    """torch writes NaN into an instance norm's running statistics on an empty batch, and its
    affine instance norm crashes (IndexError); the course returns the empty output and keeps the
    statistics as they were."""
    for shape in ((0, 3, 5), (2, 3, 0)):
        m = nn.InstanceNorm1d(3, affine=True, track_running_stats=True)
        assert m(np.zeros(shape)).shape == shape
        assert m.backward(np.zeros(shape)).shape == shape
        assert np.array_equal(m.buffers["running_mean"], np.zeros(3))
        assert np.array_equal(m.buffers["running_var"], np.ones(3))
        assert np.array_equal(m.grads["weight"], np.zeros(3))


def _bad_norm_arguments() -> None:
    cases = [
        (lambda: nn.GroupNorm(3, 4), "GroupNorm", "num_groups"),
        (lambda: nn.GroupNorm(0, 4), "GroupNorm", "num_groups"),
        (lambda: nn.LayerNorm(()), "LayerNorm", "normalized_shape"),
        (lambda: nn.LayerNorm((4, 0)), "LayerNorm", "normalized_shape"),
        (lambda: nn.LayerNorm("4"), "LayerNorm", "normalized_shape"),
        (lambda: nn.BatchNorm1d(3, momentum=1.5), "BatchNorm1d", "momentum"),
        (lambda: nn.BatchNorm1d(3, momentum="0.1"), "BatchNorm1d", "momentum"),
        (lambda: nn.BatchNorm2d(3, eps=0.0), "BatchNorm2d", "eps"),
        (lambda: nn.InstanceNorm2d(3, eps=float("nan")), "InstanceNorm2d", "eps"),
        (lambda: nn.batch_norm_forward(randn(1, 3), None, None, 1e-5), "batch_norm_forward", "x"),
        (lambda: nn.batch_norm_forward(randn(4, 3), randn(3), None, 1e-5), "batch_norm_forward",
         "bias"),
        (lambda: nn.batch_norm_forward(randn(4, 3), None, None, 1e-5, np.zeros(3), -np.ones(3)),
         "batch_norm_forward", "running_var"),
        (lambda: nn.batch_norm_forward(randn(4, 3), None, None, 1e-5, np.zeros(3)),
         "batch_norm_forward", "running_var"),
        (lambda: nn.batch_norm_forward(randn(4, 3), None, None, 1e-5, axes=(0, 2)),
         "batch_norm_forward", "axes"),
        (lambda: nn.normalize(randn(2, 3), (1, 1), 1e-5), "normalize", "axes"),
        (lambda: nn.normalize(randn(2, 3), "1", 1e-5), "normalize", "axes"),
        (lambda: nn.normalize(randn(2, 3), [1], 1e-5), "normalize", "axes"),
        (lambda: nn.normalize(randn(2, 3), (2,), 1e-5), "normalize", "axes"),
        (lambda: nn.group_norm_forward(randn(2, 4, 3), 3, None, None, 1e-5), "group_norm_forward",
         "num_groups"),
        (lambda: nn.layer_norm_backward(randn(2, 4), _bn_cache()[:2]), "layer_norm_backward",
         "cache"),
        (lambda: weight_norm_backward(randn(2, 3), None), "weight_norm_backward", "cache"),
        (lambda: fold_batch_norm(randn(3, 4), None, randn(3), randn(3), randn(3), -np.ones(3)),
         "fold_batch_norm", "running_var"),
    ]
    for call, owner, arg in cases:
        expect_named_error(call, owner, arg)


def _instance_norm_unused_num_features_warns() -> None:
    """affine=False, no running statistics: torch warns on a wrong C and goes on; so does this."""
    with pytest.warns(UserWarning, match="InstanceNorm1d: expected input's size"):
        nn.InstanceNorm1d(3)(randn(2, 4, 5))


_SPECIAL = (_empty_batch_keeps_running_stats, _empty_batch_then_cumulative_average,
            _instance_norm_empty_keeps_stats_finite, _bad_norm_arguments,
            _instance_norm_unused_num_features_warns)


def _norm_module(cls: type, x_shape: tuple[int, ...], channels: int, twin: Any,
                 ranks: tuple[int, ...], **kwargs: Any) -> Recipe:
    """Batch or instance norm over 3 channels on axis ``channels`` of an x of ``x_shape``."""
    return Recipe(cls, kwargs=dict(num_features=3, **kwargs), args=lambda: (randn(*x_shape),),
                  names=("input",), sizes=("num_features",), rates=("eps",),
                  fixed={0: (channels,)}, ranks={0: ranks}, batch={0: 0}, twin=twin)


RECIPES = {
    "nn.BatchNorm1d": _norm_module(nn.BatchNorm1d, (4, 3, 5), 1, _bn_twin, (2, 3)),
    "nn.BatchNorm2d": _norm_module(nn.BatchNorm2d, (4, 3, 2, 2), 1, _bn_twin, (4,)),
    # track_running_stats: C is then checked (with neither, torch only warns: see _SPECIAL);
    # not affine: torch's affine instance norm crashes on an empty batch (an IndexError from
    # inside, torch 2.13), where the course returns the empty output, as torch does without affine
    "nn.InstanceNorm1d": _norm_module(nn.InstanceNorm1d, (2, 3, 5), -2, _in_twin, (2, 3),
                                      track_running_stats=True),
    "nn.InstanceNorm2d": _norm_module(nn.InstanceNorm2d, (2, 3, 4, 4), -3, _in_twin, (3, 4),
                                      track_running_stats=True),
    "nn.LayerNorm": Recipe(nn.LayerNorm, kwargs=dict(normalized_shape=4),
                           args=lambda: (randn(2, 5, 4),), names=("input",),
                           sizes=("normalized_shape",), rates=("eps",), fixed={0: (-1,)},
                           batch={0: 0}, twin=_ln_twin, extra=_SPECIAL),
    "nn.GroupNorm": Recipe(nn.GroupNorm, kwargs=dict(num_groups=2, num_channels=4),
                           args=lambda: (randn(2, 4, 3),), names=("input",),
                           sizes=("num_groups", "num_channels"), rates=("eps",), fixed={0: (1,)},
                           batch={0: 0}, twin=_gn_twin),
    "nn.WeightNormLinear": Recipe(nn.WeightNormLinear, kwargs=dict(in_features=4, out_features=3),
                                  args=lambda: (randn(2, 4),), names=("input",),
                                  sizes=("in_features", "out_features"), fixed={0: (-1,)},
                                  batch={0: 0}, twin=_wn_twin),
    "nn.weight_norm": Recipe(nn.weight_norm, args=lambda: (nn.Linear(4, 3),), names=("linear",)),
    "nn.normalize": Recipe(nn.normalize, args=lambda: (randn(3, 4),),
                           names=("x",), kwargs=dict(axes=(0,), eps=1e-5), rates=("eps",),
                           batch={0: 0}),
    "nn.normalize_backward": Recipe(nn.normalize_backward, args=_normalized,
                                    names=("g", "x_hat", "inv_std"), kwargs=dict(axes=(1,)),
                                    fixed={0: ALL, 1: ALL, 2: ALL}),
    "nn.batch_norm_forward": Recipe(nn.batch_norm_forward,
                                    args=lambda: (randn(4, 3), randn(3), randn(3)),
                                    names=("x", "weight", "bias"), kwargs=dict(eps=1e-5),
                                    rates=("eps",), fixed={0: (1,), 1: ALL, 2: ALL},
                                    ranks={0: (2, 3, 4)}, batch={0: 0}, twin=_bn_fn_twin),
    "nn.batch_norm_backward": Recipe(nn.batch_norm_backward,
                                     args=lambda: (randn(4, 3), _bn_cache()),
                                     names=("dy", None), fixed={0: ALL}),
    "nn.layer_norm_forward": Recipe(nn.layer_norm_forward,
                                    args=lambda: (randn(2, 4), randn(4), randn(4)),
                                    names=("x", "weight", "bias"),
                                    kwargs=dict(normalized_ndim=1, eps=1e-5),
                                    sizes=("normalized_ndim",), rates=("eps",), optional=(1, 2),
                                    fixed={0: (-1,), 1: ALL, 2: ALL}, batch={0: 0},
                                    twin=_ln_fn_twin),
    "nn.layer_norm_backward": Recipe(nn.layer_norm_backward,
                                     args=lambda: (randn(2, 4), _ln_cache()),
                                     names=("dy", None), fixed={0: ALL}),
    "nn.group_norm_forward": Recipe(nn.group_norm_forward,
                                    args=lambda: (randn(2, 4, 3), 2, randn(4), randn(4)),
                                    names=("x", "num_groups", "weight", "bias"),
                                    kwargs=dict(eps=1e-5), sizes=(1,), rates=("eps",),
                                    fixed={0: (1,), 2: ALL, 3: ALL}, batch={0: 0},
                                    twin=_gn_fn_twin),
    "nn.group_norm_backward": Recipe(nn.group_norm_backward,
                                     args=lambda: (randn(2, 4, 3), _gn_cache()),
                                     names=("dy", None), fixed={0: ALL}),
    "nn.weight_norm_forward": Recipe(weight_norm_forward,
                                     args=lambda: (randn(2, 4), 1 + np.abs(randn(3, 1)),
                                                   randn(3, 4), randn(3)),
                                     names=("x", "g", "v", "bias"), optional=(3,),
                                     fixed={0: (-1,), 1: ALL, 2: ALL, 3: ALL},
                                     ranks={1: (2,), 2: (2,), 3: (1,)}, batch={0: 0}),
    "nn.weight_norm_backward": Recipe(weight_norm_backward, args=lambda: (randn(2, 3), _wn_cache()),
                                      names=("dy", None), fixed={0: ALL}),
    "nn.fold_batch_norm": Recipe(fold_batch_norm,
                                 args=lambda: (randn(3, 2, 3, 3), randn(3), randn(3), randn(3),
                                               randn(3), 0.5 + np.abs(randn(3))),
                                 names=("weight", "bias", "gamma", "beta", "running_mean",
                                        "running_var"),
                                 kwargs=dict(eps=1e-5), rates=("eps",), optional=(1,),
                                 fixed={0: (0,), 1: ALL, 2: ALL, 3: ALL, 4: ALL, 5: ALL},
                                 ranks={1: (1,), 2: (1,), 3: (1,), 4: (1,), 5: (1,)}),
}

EXEMPT: dict[str, str] = {}
