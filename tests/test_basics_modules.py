"""Chapter 1 modules against torch (float64) and central differences, and their errors."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import labutils.nn as nn
from labutils.gradcheck import check_module
from labutils.torchcheck import compare_with_torch, parity_report

shapes = st.lists(st.integers(1, 4), min_size=0, max_size=2)


def away_from_kinks(rng, shape):
    """Entries with |x| >= 0.05: central differences never straddle the kink at 0."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 0.05, 0.05 + np.abs(x), x) * 2


ACTIVATIONS = [
    (lambda: nn.ReLU(), lambda: torch.nn.ReLU()),
    (lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2)),
    (lambda: nn.ELU(0.7), lambda: torch.nn.ELU(0.7)),
    (lambda: nn.SELU(), lambda: torch.nn.SELU()),
    (lambda: nn.GELU(), lambda: torch.nn.GELU()),
    (lambda: nn.GELU("tanh"), lambda: torch.nn.GELU("tanh")),
    (lambda: nn.Sigmoid(), lambda: torch.nn.Sigmoid()),
    (lambda: nn.Tanh(), lambda: torch.nn.Tanh()),
    (lambda: nn.Softplus(), lambda: torch.nn.Softplus()),
    (lambda: nn.Softplus(beta=2.0, threshold=1.5), lambda: torch.nn.Softplus(2.0, 1.5)),
]


@given(lead=shapes, n_in=st.integers(1, 6), n_out=st.integers(1, 6), bias=st.booleans(),
       seed=st.integers(0, 2**31))
def test_linear_matches_torch(lead, n_in, n_out, bias, seed):
    x = np.random.default_rng(seed).standard_normal((*lead, n_in))
    r = compare_with_torch(nn.Linear(n_in, n_out, bias), torch.nn.Linear(n_in, n_out, bias), x)
    assert r.ok, r


@pytest.mark.parametrize("make,make_torch", ACTIVATIONS)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3), seed=st.integers(0, 2**31))
def test_activations_match_torch(make, make_torch, shape, seed):
    x = away_from_kinks(np.random.default_rng(seed), shape)
    r = compare_with_torch(make(), make_torch(), x)
    assert r.ok, r


@pytest.mark.parametrize("cls", [nn.Softmax, nn.LogSoftmax])
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3), data=st.data(),
       seed=st.integers(0, 2**31))
def test_softmax_family_matches_torch_over_any_dim(cls, shape, data, seed):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = 3 * np.random.default_rng(seed).standard_normal(shape)
    r = compare_with_torch(cls(dim), getattr(torch.nn, cls.__name__)(dim), x)
    assert r.ok, r


def test_softmax_is_exact_for_huge_logits():
    x = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4]])
    y = nn.Softmax(1)(x)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, torch.softmax(torch.tensor(x), 1).numpy(), rtol=1e-15)


@given(n=st.integers(1, 6), c=st.integers(1, 7), scale=st.sampled_from([1.0, 30.0, 1e4]),
       seed=st.integers(0, 2**31))
def test_cross_entropy_matches_torch_and_is_stable(n, c, scale, seed):
    rng = np.random.default_rng(seed)
    x, t = scale * rng.standard_normal((n, c)), rng.integers(0, c, n)
    loss = nn.CrossEntropyLoss()
    y = loss(x, t)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.cross_entropy(tx, torch.tensor(t))
    ty.backward()
    dx, dt = loss.backward()
    assert np.isfinite(y) and dt is None
    r = parity_report({"loss": (y, ty)}, {"grad input": (dx, tx.grad)})
    assert r.ok, r


def test_cross_entropy_unbatched_and_sum():
    rng = np.random.default_rng(1)
    x, t = rng.standard_normal(5), np.array(3)
    y = nn.CrossEntropyLoss()(x, t)
    assert np.isclose(y, torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(3)).item())
    x2, t2 = rng.standard_normal((4, 5)), rng.integers(0, 5, 4)
    s = nn.CrossEntropyLoss("sum")(x2, t2)
    assert np.isclose(s, torch.nn.functional.cross_entropy(torch.tensor(x2), torch.tensor(t2),
                                                           reduction="sum").item())


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_matches_torch(reduction):
    rng = np.random.default_rng(2)
    x, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    r = compare_with_torch(nn.MSELoss(reduction), torch.nn.MSELoss(reduction=reduction), x, t)
    assert r.ok, r


def test_sequential_loads_torch_state_dict_and_matches():
    rng = np.random.default_rng(3)
    lab = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 3))
    tm = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 3))
    r = compare_with_torch(lab, tm, rng.standard_normal((5, 4)))
    assert sorted(lab.state_dict()) == sorted(tm.state_dict())
    assert r.ok, r


def test_feedforward_uses_torch_layer_names_and_matches():
    rng = np.random.default_rng(4)
    lab = nn.FeedForward(6, 10, activation="gelu")
    tm = torch.nn.Sequential()
    tm.add_module("linear1", torch.nn.Linear(6, 10))
    tm.add_module("activation", torch.nn.GELU())
    tm.add_module("dropout", torch.nn.Dropout(0.0))
    tm.add_module("linear2", torch.nn.Linear(10, 6))
    r = compare_with_torch(lab, tm, rng.standard_normal((2, 3, 6)))
    assert r.ok, r


# -- Dropout -------------------------------------------------------------------------

def test_dropout_matches_torch_with_injected_mask():
    torch.manual_seed(0)
    x = np.random.default_rng(5).standard_normal((50, 40)) + 3  # no exact zeros
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.dropout(tx, 0.3, training=True)
    d = nn.Dropout(0.3)
    d.next_keep = ty.detach().numpy() != 0
    y = d(x)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-15)
    g = np.random.default_rng(6).standard_normal(x.shape)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(d.backward(g), tx.grad.numpy(), rtol=1e-15)


def test_dropout_statistics_and_eval():
    d = nn.Dropout(0.25, rng=np.random.default_rng(7))
    x = np.ones((400, 500))
    y = d(x)
    kept = (y != 0).mean()
    # 200,000 Bernoulli(0.75) draws: standard error 0.001; 5 sigma bound
    assert abs(kept - 0.75) < 0.005
    assert np.allclose(y[y != 0], 1 / 0.75)
    assert abs(y.mean() - 1) < 0.01
    np.testing.assert_array_equal(d.backward(np.ones_like(x)), y)  # same mask in backward
    d.eval()
    assert d(x) is x


# -- modules torch lacks: the same formula in torch, differentiated by autograd ---------

def _torch_params(m):
    return {k: torch.tensor(v, requires_grad=True) for k, v in m.params.items()}


def _parity_against_formula(module, formula, x, seed=0):
    p = _torch_params(module)
    tx = torch.tensor(x, requires_grad=True)
    ty = formula(tx, p)
    module.zero_grad()
    y = module(x)
    g = np.random.default_rng(seed).standard_normal(y.shape)
    dx = module.backward(g)
    ty.backward(torch.tensor(g))
    errs = [np.abs(y - ty.detach().numpy()).max(), np.abs(dx - tx.grad.numpy()).max()]
    errs += [np.abs(module.grads[k] - p[k].grad.numpy()).max() for k in p]
    return max(errs)


def test_highway_matches_formula_and_starts_near_identity():
    rng = np.random.default_rng(8)
    m = nn.Highway(5, gate_bias=-2.0, rng=rng)
    x = rng.standard_normal((4, 5))

    def formula(tx, p):
        h = torch.relu(tx @ p["transform.weight"].T + p["transform.bias"])
        t = torch.sigmoid(tx @ p["gate.weight"].T + p["gate.bias"])
        return t * h + (1 - t) * tx
    assert _parity_against_formula(m, formula, x) < 1e-12
    m.eval()
    gate = 1 / (1 + np.exp(-(x @ m.params["gate.weight"].T + m.params["gate.bias"])))
    assert gate.mean() < 0.25   # sigma(-2) = 0.12 plus the small random part


def test_spatial_gating_unit_matches_formula():
    rng = np.random.default_rng(9)
    m = nn.SpatialGatingUnit(6, 4, init_scale=0.5, rng=rng)
    z = rng.standard_normal((2, 4, 6))

    def formula(tz, p):
        u, v = tz[..., :3], tz[..., 3:]
        v = torch.nn.functional.layer_norm(v, (3,), p["norm.weight"], p["norm.bias"])
        gate = torch.einsum("ij,njc->nic", p["proj.weight"], v) + p["proj.bias"][None, :, None]
        return u * gate
    assert _parity_against_formula(m, formula, z) < 1e-12


@pytest.mark.parametrize("k", [1, 2, 4])
def test_mixture_of_experts_matches_formula(k):
    rng = np.random.default_rng(10 + k)
    m = nn.MixtureOfExperts(3, 2, num_experts=4, k=k, rng=rng)
    x = rng.standard_normal((2, 5, 3))

    def formula(tx, p):
        logits = tx @ p["gate.weight"].T
        top = torch.topk(logits, k, dim=-1)
        g = torch.zeros_like(logits).scatter(-1, top.indices, torch.softmax(top.values, -1))
        outs = torch.stack([tx @ p[f"experts.{e}.weight"].T + p[f"experts.{e}.bias"]
                            for e in range(4)], -2)
        return (g[..., None] * outs).sum(-2)
    assert _parity_against_formula(m, formula, x) < 1e-12


def test_mixture_of_experts_runs_each_expert_on_its_tokens_only():
    rng = np.random.default_rng(11)
    m = nn.MixtureOfExperts(3, 2, num_experts=4, k=1, rng=rng)
    x = rng.standard_normal((20, 3))
    m(x)
    routed = sum(len(tokens) for tokens, _ in m._cache.outputs.values())
    assert routed == 20   # k = 1: every token visits exactly one expert


# -- gradient checks -----------------------------------------------------------------

GRADCHECK_CASES = [
    ("Linear", lambda r: nn.Linear(3, 4, rng=r), (2, 3)),
    ("ReLU", lambda r: nn.ReLU(), (3, 4)),
    ("LeakyReLU", lambda r: nn.LeakyReLU(0.1), (3, 4)),
    ("ELU", lambda r: nn.ELU(), (3, 4)),
    ("SELU", lambda r: nn.SELU(), (3, 4)),
    ("GELU", lambda r: nn.GELU(), (3, 4)),
    ("GELU tanh", lambda r: nn.GELU("tanh"), (3, 4)),
    ("Sigmoid", lambda r: nn.Sigmoid(), (3, 4)),
    ("Tanh", lambda r: nn.Tanh(), (3, 4)),
    ("Softplus", lambda r: nn.Softplus(beta=1.5, threshold=2.0), (3, 4)),
    ("Softmax", lambda r: nn.Softmax(0), (3, 4)),
    ("LogSoftmax", lambda r: nn.LogSoftmax(-1), (3, 4)),
    ("MSELoss", lambda r: nn.MSELoss(), (3, 4)),
    ("Residual", lambda r: nn.Residual(nn.Sequential(nn.Linear(4, 4, rng=r), nn.Tanh())), (3, 4)),
    ("Highway", lambda r: nn.Highway(4, rng=r), (3, 4)),
    ("SpatialGatingUnit", lambda r: nn.SpatialGatingUnit(4, 3, init_scale=0.5, rng=r), (2, 3, 4)),
    ("MixtureOfExperts", lambda r: nn.MixtureOfExperts(4, 3, 5, k=2, rng=r), (6, 4)),
    ("FeedForward", lambda r: nn.FeedForward(4, 7, rng=r), (2, 4)),
    ("LayerNorm", lambda r: nn.LayerNorm(4), (3, 4)),
]


@pytest.mark.parametrize("name,make,shape", GRADCHECK_CASES, ids=[c[0] for c in GRADCHECK_CASES])
def test_gradient_check(name, make, shape):
    rng = np.random.default_rng(12)
    m = make(rng)
    inputs = [away_from_kinks(rng, shape)]
    if name == "MSELoss":
        inputs.append(rng.standard_normal(shape))
    report = check_module(m, *inputs)
    assert report.ok, f"{name}\n{report}"


def test_cross_entropy_gradient_check():
    rng = np.random.default_rng(13)
    report = check_module(nn.CrossEntropyLoss(), rng.standard_normal((4, 5)), rng.integers(0, 5, 4))
    assert report.ok, report


def test_gradient_check_catches_a_wrong_backward():
    class Broken(nn.Linear):
        def backward(self, dy):
            super().backward(dy)
            return dy @ self.params["weight"] * 1.001
    report = check_module(Broken(3, 2), np.random.default_rng(14).standard_normal((2, 3)))
    assert not report.ok and report.errors["input 0"] > 1e-4


# -- bad input: the module, the argument, what was expected and what came -------------

@pytest.mark.parametrize("call,err,pattern", [
    (lambda: nn.Linear(3, 2)(np.zeros((4, 5))), ValueError, r"Linear: input must have shape \(\.\.\., 3\), got \(4, 5\)"),
    (lambda: nn.Linear(3, 2)(np.zeros((4, 3), dtype=np.int64)), TypeError, r"Linear: input must have a float dtype, got int64"),
    (lambda: nn.Linear(3, 2)([[1.0, 2.0, 3.0]]), TypeError, r"Linear: input must be a NumPy array, got list"),
    (lambda: nn.Linear(3, 2)(np.array([1.0, np.nan, 0.0])), ValueError, r"Linear: input contains NaN"),
    (lambda: nn.Linear(3, 2)(np.float64(1.0)), TypeError, r"Linear: input must be a NumPy array"),
    (lambda: nn.ReLU()(np.array([1, 2])), TypeError, r"ReLU: input must have a float dtype, got int"),
    (lambda: nn.Softmax(2)(np.zeros((2, 2))), ValueError, r"Softmax: dim must be in \[-2, 2\) for input of shape \(2, 2\), got dim=2"),
    (lambda: nn.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0, 3])), ValueError, r"class indices in \[0, 3\), got values in \[0, 3\]"),
    (lambda: nn.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0.0, 1.0])), TypeError, r"CrossEntropyLoss: target must have a int dtype, got float64"),
    (lambda: nn.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0, 1, 2])), ValueError, r"target must have shape \(2,\)"),
    (lambda: nn.CrossEntropyLoss()(np.zeros((2, 3, 4)), np.array([0, 1])), ValueError, r"CrossEntropyLoss: input must have 1 or 2 dimensions, got shape \(2, 3, 4\)"),
    (lambda: nn.MSELoss()(np.zeros((2, 3)), np.zeros((3, 2))), ValueError, r"MSELoss: target must have the input's shape \(2, 3\), got \(3, 2\)"),
    (lambda: nn.Dropout(1.5), ValueError, r"Dropout: p must be a probability in \[0, 1\], got 1.5"),
    (lambda: nn.Highway(4)(np.zeros((2, 3))), ValueError, r"Highway: input must have shape \(\.\.\., 4\), got \(2, 3\)"),
    (lambda: nn.SpatialGatingUnit(4, 3)(np.zeros((2, 5, 4))), ValueError, r"SpatialGatingUnit: input must have shape \(\.\.\., 3, 4\), got \(2, 5, 4\)"),
    (lambda: nn.MixtureOfExperts(3, 2, 4, k=5), ValueError, r"MixtureOfExperts: k must be at most num_experts=4, got k=5"),
    (lambda: nn.LayerNorm(4)(np.zeros((2, 3))), ValueError, r"LayerNorm: input must have shape \(\.\.\., 4\), got \(2, 3\)"),
    (lambda: nn.Linear(3, 2).backward(np.zeros((1, 2))), RuntimeError, r"Linear: backward called before forward"),
])
def test_bad_input_gets_a_clear_error(call, err, pattern):
    with pytest.raises(err, match=pattern):
        call()


def test_backward_rejects_gradient_of_wrong_shape():
    m = nn.Linear(3, 2)
    m(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"Linear: grad_output must have the output's shape \(4, 2\), got \(2, 4\)"):
        m.backward(np.zeros((2, 4)))


def test_float32_works():
    rng = np.random.default_rng(15)
    m = nn.Sequential(nn.Linear(3, 4, dtype=np.float32), nn.GELU(), nn.Linear(4, 2, dtype=np.float32))
    x = rng.standard_normal((5, 3)).astype(np.float32)
    y = m(x)
    assert y.dtype == np.float32
    assert m.backward(np.ones_like(y)).dtype == np.float32
