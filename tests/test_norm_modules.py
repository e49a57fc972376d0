"""Chapter 2 normalization modules against torch (float64, train and eval, running
statistics after several steps), gradient checks, and their errors."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import labutils.nn as nn
from labutils.gradcheck import check_module
from labutils.torchcheck import compare_with_torch, parity_report, to_torch

seeds = st.integers(0, 2**31)


def data(rng, shape, scale=2.0, shift=0.5):
    """Well-conditioned input: spread out (never nearly constant over a reduction set).

    Reduction sets in the parity tests hold at least 3 entries: with 2, x̂ = ±d/sqrt(d² + 4ε)
    is ±1 up to ε, dL/dx is O(ε) and made only of cancellation, so a relative error
    between two correct implementations means nothing."""
    return shift + scale * rng.standard_normal(shape)


def randomise_affine(lab, torch_m, rng):
    """Non-trivial γ, β in torch (then loaded into labutils by compare_with_torch)."""
    with torch.no_grad():
        for name, p in torch_m.named_parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape))))


def assert_same_buffers(lab, torch_m):
    tb = dict(torch_m.named_buffers())
    assert set(lab.buffers) == set(tb), (set(lab.buffers), set(tb))
    floats = {}
    for k, v in lab.buffers.items():
        t = tb[k].numpy()
        if v.dtype.kind == "i":
            assert int(v) == int(t), (k, v, t)
        else:
            floats[k] = (v, t)
    r = parity_report(floats)
    assert r.ok, r


def run_steps(lab, torch_m, shapes, rng, train=True):
    """Several forward/backward steps on fresh batches in both; compare each step."""
    lab.train(train)
    torch_m.train(train)
    for shape in shapes:
        x = data(rng, shape)
        torch_m.zero_grad()
        r = compare_with_torch(lab, torch_m, x, load_state=False)
        assert r.ok, r
        assert_same_buffers(lab, torch_m)


# -- batch norm ------------------------------------------------------------------------

BATCHNORMS = [(nn.BatchNorm1d, torch.nn.BatchNorm1d, 2), (nn.BatchNorm1d, torch.nn.BatchNorm1d, 3),
              (nn.BatchNorm2d, torch.nn.BatchNorm2d, 4)]


@pytest.mark.parametrize("cls,tcls,ndim", BATCHNORMS)
@given(n=st.integers(3, 5), c=st.integers(1, 4), sp=st.integers(1, 3),
       momentum=st.sampled_from([0.1, 0.5, None]), affine=st.booleans(), seed=seeds)
def test_batchnorm_train_then_eval_matches_torch(cls, tcls, ndim, n, c, sp, momentum, affine, seed):
    rng = np.random.default_rng(seed)
    lab, tm = cls(c, momentum=momentum, affine=affine), tcls(c, momentum=momentum, affine=affine).double()
    randomise_affine(lab, tm, rng)
    lab.load_state_dict(tm.state_dict())
    shape = (n, c) + (sp,) * (ndim - 2)
    run_steps(lab, tm, [shape] * 3 + [(n + 1,) + shape[1:]], rng, train=True)
    assert int(lab.buffers["num_batches_tracked"]) == 4
    run_steps(lab, tm, [shape, (1,) + shape[1:]], rng, train=False)   # eval: batch of 1 is fine


@pytest.mark.parametrize("cls,tcls,ndim", BATCHNORMS)
def test_batchnorm_without_running_stats_uses_batch_stats_in_eval(cls, tcls, ndim):
    rng = np.random.default_rng(0)
    lab, tm = cls(3, track_running_stats=False), tcls(3, track_running_stats=False).double()
    assert "running_mean" not in lab.state_dict()
    lab.load_state_dict(tm.state_dict())
    run_steps(lab, tm, [(4, 3) + (2,) * (ndim - 2)], rng, train=False)


def test_running_variance_is_unbiased_and_momentum_none_is_cumulative():
    rng = np.random.default_rng(1)
    bn = nn.BatchNorm1d(2, momentum=None)
    batches = [data(rng, (5, 2)) for _ in range(3)]
    for x in batches:
        bn(x)
    np.testing.assert_allclose(bn.buffers["running_mean"],
                               np.mean([x.mean(0) for x in batches], axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.buffers["running_var"],
                               np.mean([x.var(0, ddof=1) for x in batches], axis=0), rtol=1e-12)
    bn2 = nn.BatchNorm1d(2, momentum=0.1)
    bn2(batches[0])
    np.testing.assert_allclose(bn2.buffers["running_var"], 0.9 + 0.1 * batches[0].var(0, ddof=1))


@pytest.mark.parametrize("cls,shape", [(nn.BatchNorm1d, (1, 3)), (nn.BatchNorm1d, (1, 3, 1)),
                                       (nn.BatchNorm2d, (1, 3, 1, 1))])
def test_batchnorm_refuses_one_value_per_channel_in_training_like_torch(cls, shape):
    x = np.ones(shape)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        getattr(torch.nn, cls.__name__)(3).double()(torch.from_numpy(x))
    with pytest.raises(ValueError, match=cls.__name__ + ".*more than 1 value per channel"):
        cls(3)(x)
    cls(3).eval()(x)                       # eval uses the running statistics: fine
    assert cls(3)(np.ones((2,) + shape[1:])).shape == (2,) + shape[1:]   # two values: fine


# -- instance norm ---------------------------------------------------------------------

INSTANCENORMS = [(nn.InstanceNorm1d, torch.nn.InstanceNorm1d, 1),
                 (nn.InstanceNorm2d, torch.nn.InstanceNorm2d, 2)]


@pytest.mark.parametrize("cls,tcls,spatial", INSTANCENORMS)
@given(n=st.integers(1, 4), c=st.integers(1, 4), sp=st.integers(3, 5), affine=st.booleans(),
       track=st.booleans(), momentum=st.sampled_from([0.1, 0.7, None]), unbatched=st.booleans(),
       seed=seeds)
def test_instancenorm_matches_torch(cls, tcls, spatial, n, c, sp, affine, track, momentum,
                                    unbatched, seed):
    rng = np.random.default_rng(seed)
    kw = dict(affine=affine, track_running_stats=track, momentum=momentum)
    lab, tm = cls(c, **kw), tcls(c, **kw).double()
    randomise_affine(lab, tm, rng)
    lab.load_state_dict(tm.state_dict())
    shape = ((n,) if not unbatched else ()) + (c,) + (sp,) * spatial
    run_steps(lab, tm, [shape] * 3, rng, train=True)
    run_steps(lab, tm, [shape], rng, train=False)


def test_instancenorm_refuses_one_spatial_element_like_torch():
    x = np.ones((4, 3, 1))
    with pytest.raises(ValueError, match="Expected more than 1 spatial element"):
        torch.nn.InstanceNorm1d(3).double()(torch.from_numpy(x))
    with pytest.raises(ValueError, match="InstanceNorm1d.*more than 1 spatial element"):
        nn.InstanceNorm1d(3)(x)
    with pytest.raises(ValueError, match="InstanceNorm2d.*more than 1 spatial element"):
        nn.InstanceNorm2d(3)(np.ones((2, 3, 1, 1)))
    nn.InstanceNorm1d(3, track_running_stats=True).eval()(x)   # running stats: allowed


# -- layer and group norm --------------------------------------------------------------

@given(lead=st.lists(st.integers(1, 3), max_size=2), norm=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       affine=st.booleans(), bias=st.booleans(), seed=seeds)
def test_layernorm_matches_torch_over_any_trailing_shape(lead, norm, affine, bias, seed):
    if int(np.prod(norm)) < 3:
        norm = norm[:-1] + [3]
    rng = np.random.default_rng(seed)
    lab = nn.LayerNorm(norm, elementwise_affine=affine, bias=bias)
    tm = torch.nn.LayerNorm(norm, elementwise_affine=affine, bias=bias).double()
    randomise_affine(lab, tm, rng)
    x = data(rng, (*lead, *norm))
    for mode in (True, False):
        lab.train(mode)
        tm.train(mode)
        tm.zero_grad()
        r = compare_with_torch(lab, tm, x)
        assert r.ok, r


@given(n=st.integers(1, 3), groups=st.sampled_from([1, 2, 3]), per=st.integers(1, 3),
       spatial=st.lists(st.integers(1, 3), max_size=2), affine=st.booleans(), seed=seeds)
def test_groupnorm_matches_torch(n, groups, per, spatial, affine, seed):
    c = groups * per
    if per * int(np.prod(spatial)) < 3:
        spatial = [3]
    rng = np.random.default_rng(seed)
    lab, tm = nn.GroupNorm(groups, c, affine=affine), torch.nn.GroupNorm(groups, c, affine=affine).double()
    randomise_affine(lab, tm, rng)
    r = compare_with_torch(lab, tm, data(rng, (n, c, *spatial)))
    assert r.ok, r


def test_layer_and_group_norm_accept_a_batch_of_one_in_training():
    assert nn.LayerNorm(3)(np.array([[1.0, 2.0, 4.0]])).shape == (1, 3)
    assert nn.GroupNorm(1, 2)(np.array([[[1.0, 2.0], [3.0, 5.0]]])).shape == (1, 2, 2)


# -- weight norm -----------------------------------------------------------------------

@given(lead=st.lists(st.integers(1, 3), max_size=2), n_in=st.integers(2, 5),
       n_out=st.integers(1, 5), bias=st.booleans(), seed=seeds)
def test_weight_norm_linear_matches_torch_parametrization(lead, n_in, n_out, bias, seed):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed % 1000)
    tm = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(n_in, n_out, bias))
    with torch.no_grad():   # g not equal to ||v||, so the test sees both parts
        tm.parametrizations.weight.original0.mul_(torch.from_numpy(1 + rng.random((n_out, 1))).float())
    assert "parametrizations.weight.original0" in tm.state_dict()
    lab = nn.WeightNormLinear(n_in, n_out, bias)
    pm = {"weight_g": "parametrizations.weight.original0", "weight_v": "parametrizations.weight.original1"}
    r = compare_with_torch(lab, tm, data(rng, (*lead, n_in)), param_map=pm)
    assert r.ok, r
    np.testing.assert_allclose(lab.weight, tm.weight.detach().numpy(), rtol=1e-12)


def test_weight_norm_from_linear_keeps_the_function_and_old_names_load():
    lin = nn.Linear(3, 2, rng=np.random.default_rng(0))
    wn = nn.weight_norm(lin)
    x = np.random.default_rng(1).standard_normal((4, 3))
    np.testing.assert_allclose(wn(x), lin(x), rtol=1e-13)
    other = nn.WeightNormLinear(3, 2)
    other.load_state_dict(wn.state_dict())       # weight_g / weight_v as they are
    np.testing.assert_allclose(other(x), lin(x), rtol=1e-13)
    with pytest.raises(TypeError, match="weight_norm: linear must be a labutils nn.Linear"):
        nn.weight_norm(torch.nn.Linear(3, 2))


# -- gradient checks -------------------------------------------------------------------

def _with_affine(m, rng):
    for k in m.params:
        m.params[k] = rng.standard_normal(m.params[k].shape)
    return m


@pytest.mark.parametrize("make,shape,train", [
    (lambda: nn.BatchNorm1d(3), (5, 3), True),
    (lambda: nn.BatchNorm1d(3), (4, 3, 2), True),
    (lambda: nn.BatchNorm2d(2), (3, 2, 2, 2), True),
    (lambda: nn.BatchNorm2d(2), (3, 2, 2, 2), False),
    (lambda: nn.BatchNorm1d(3, track_running_stats=False), (4, 3), False),
    (lambda: nn.InstanceNorm1d(2, affine=True), (3, 2, 4), True),
    (lambda: nn.InstanceNorm2d(2, affine=True, track_running_stats=True), (2, 2, 2, 3), False),
    (lambda: nn.InstanceNorm1d(2, affine=True), (2, 4), True),
    (lambda: nn.LayerNorm((2, 3)), (4, 2, 3), True),
    (lambda: nn.LayerNorm(4, bias=False), (3, 4), True),
    (lambda: nn.GroupNorm(2, 4), (3, 4, 3), True),
    (lambda: nn.GroupNorm(3, 3, affine=False), (2, 3, 2, 2), True),
    (lambda: nn.WeightNormLinear(3, 2), (4, 3), True),
])
def test_gradient_check(make, shape, train):
    rng = np.random.default_rng(7)
    m = _with_affine(make(), rng)
    if not train:   # eval with running statistics: make them non-trivial first
        m.train()
        m(data(rng, shape))
        m.eval()
    x = data(rng, shape)
    report = check_module(m, x)
    assert report.ok, report


def test_compact_backward_equals_step_by_step_graph():
    """The Ioffe-Szegedy chain (dσ², dμ, dx) and the compact form give the same dx."""
    rng = np.random.default_rng(3)
    x, dy, gamma, eps = data(rng, (6, 4)), rng.standard_normal((6, 4)), rng.standard_normal(4), 1e-5
    m = x.shape[0]
    mu, var = x.mean(0), x.var(0)
    xhat = (x - mu) / np.sqrt(var + eps)
    dxhat = dy * gamma
    dvar = np.sum(dxhat * (x - mu), 0) * -0.5 * (var + eps) ** -1.5
    dmu = np.sum(-dxhat / np.sqrt(var + eps), 0) + dvar * np.mean(-2 * (x - mu), 0)
    dx_steps = dxhat / np.sqrt(var + eps) + dvar * 2 * (x - mu) / m + dmu / m
    dx_compact = gamma / (m * np.sqrt(var + eps)) * (m * dy - dy.sum(0) - xhat * (dy * xhat).sum(0))
    np.testing.assert_allclose(dx_compact, dx_steps, rtol=1e-10, atol=1e-12)
    bn = _with_affine(nn.BatchNorm1d(4), np.random.default_rng(0))
    bn.params["weight"] = gamma
    bn(x)
    np.testing.assert_allclose(bn.backward(dy), dx_compact, rtol=1e-10, atol=1e-12)


# -- float32 ---------------------------------------------------------------------------

def test_float32_parameters_and_input():
    rng = np.random.default_rng(4)
    x = data(rng, (4, 3, 2)).astype(np.float32)
    bn = nn.BatchNorm1d(3, dtype=np.float32)
    y = bn(x)
    assert y.dtype == np.float32 and bn.buffers["running_var"].dtype == np.float32
    ref = torch.nn.BatchNorm1d(3)(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
    assert bn.backward(np.ones_like(y)).dtype == np.float32


# -- bad input -------------------------------------------------------------------------

@pytest.mark.parametrize("m,x,match", [
    (nn.BatchNorm1d(3), np.ones((2, 3, 4, 5)), "BatchNorm1d: input must have 2 or 3 dimensions"),
    (nn.BatchNorm1d(3), np.ones((2, 4)), r"BatchNorm1d: input must have shape \(N, 3\) or \(N, 3, L\), with 3 channels"),
    (nn.BatchNorm2d(3), np.ones((2, 3, 4)), "BatchNorm2d: input must have 4 dimensions"),
    (nn.BatchNorm2d(3), np.ones((2, 2, 4, 4)), r"BatchNorm2d: input must have shape \(N, 3, H, W\)"),
    (nn.InstanceNorm2d(3, affine=True), np.ones((2, 2, 4, 4)), "InstanceNorm2d: expected input's size"),
    (nn.InstanceNorm1d(3), np.ones((2,)), "InstanceNorm1d: input must have 2 or 3 dimensions"),
    (nn.LayerNorm((2, 3)), np.ones((4, 3, 2)), r"LayerNorm: input must have shape \(\.\.\., 2, 3\)"),
    (nn.GroupNorm(2, 4), np.ones((2, 3, 5)), r"GroupNorm: input must have shape \(N, 4, \*\)"),
    (nn.GroupNorm(2, 4), np.ones((4,)), "GroupNorm: input must have at least 2 dimensions"),
    (nn.WeightNormLinear(3, 2), np.ones((4, 2)), "WeightNormLinear: input must have shape"),
    (nn.BatchNorm1d(2), np.array([[1.0, np.nan], [2.0, 3.0]]), "BatchNorm1d: input contains NaN"),
])
def test_bad_input_raises_clear_value_error(m, x, match):
    with pytest.raises(ValueError, match=match):
        m(x)


def test_bad_types_and_arguments():
    with pytest.raises(TypeError, match="BatchNorm1d: input must have a float dtype"):
        nn.BatchNorm1d(2)(np.ones((3, 2), dtype=int))
    with pytest.raises(TypeError, match="BatchNorm2d: input must be a NumPy array, got a torch tensor"):
        nn.BatchNorm2d(2)(to_torch(np.ones((2, 2, 2, 2))))
    with pytest.raises(ValueError, match="GroupNorm: num_channels \\(5\\) must be divisible"):
        nn.GroupNorm(2, 5)
    with pytest.raises(ValueError, match="BatchNorm1d: momentum must be in"):
        nn.BatchNorm1d(2, momentum=1.5)
    with pytest.raises(RuntimeError, match="LayerNorm: backward called before forward"):
        nn.LayerNorm(2).backward(np.ones((1, 2)))
    bn = nn.BatchNorm1d(2)
    bn(np.array([[1.0, 2.0], [3.0, 5.0]]))
    with pytest.raises(ValueError, match="BatchNorm1d: grad_output must have the output's shape"):
        bn.backward(np.ones((3, 2)))


def test_instancenorm_warns_on_unused_num_features_like_torch():
    with pytest.warns(UserWarning, match="num_features"):
        nn.InstanceNorm1d(3)(np.arange(8.0).reshape(1, 2, 4))


def test_buffers_match_follows_the_running_statistics():
    from labutils.torchcheck import buffers_match
    lab, tm = nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3).double()
    x = np.random.default_rng(0).standard_normal((5, 3))
    assert buffers_match(lab, tm)
    lab(x)
    assert not buffers_match(lab, tm)          # lab has taken a step, torch not yet
    tm(torch.tensor(x))
    assert buffers_match(lab, tm)
    assert not buffers_match(nn.BatchNorm1d(3, track_running_stats=False), tm)   # names differ


def test_norm_pairs_agree_with_the_modules():
    rng = np.random.default_rng(7)
    x, dy = rng.standard_normal((4, 6, 3)), rng.standard_normal((4, 6, 3))
    w, b = rng.standard_normal(6), rng.standard_normal(6)
    for m, (fwd, bwd, args) in [
            (nn.GroupNorm(2, 6), (nn.group_norm_forward, nn.group_norm_backward, (x, 2, w, b, 1e-5))),
            (nn.BatchNorm1d(6), (nn.batch_norm_forward, nn.batch_norm_backward, (x, w, b, 1e-5)))]:
        m.params["weight"], m.params["bias"] = w, b
        y, cache = fwd(*args)
        grads = bwd(dy, cache)
        assert np.array_equal(m(x), y) and np.array_equal(m.backward(dy), grads["x"])
        assert np.array_equal(m.grads["weight"], grads["weight"])
    y, cache = nn.layer_norm_forward(x, None, None, 2, 1e-5)
    assert np.allclose(y.mean(axis=(1, 2)), 0) and set(nn.layer_norm_backward(dy, cache)) == {"x"}
