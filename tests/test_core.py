"""The module contract, gradcheck, optimisers and initialisers."""
import math

import numpy as np
import pytest
import torch

import labutils.nn as nn
from labutils import init, optim
from labutils.gradcheck import numerical_gradient, rel_error
from labutils.tolerances import verdict
from labutils.torchcheck import parity_report


def test_state_dict_names_and_round_trip_with_torch():
    lab = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 2)))
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(),
                             torch.nn.Sequential(torch.nn.Linear(4, 2))).double()
    assert list(lab.state_dict()) == list(tm.state_dict())
    lab.load_state_dict(tm.state_dict())
    tm2 = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(),
                              torch.nn.Sequential(torch.nn.Linear(4, 2))).double()
    tm2.load_state_dict({k: torch.from_numpy(v) for k, v in lab.state_dict().items()})
    for k, v in tm.state_dict().items():
        assert torch.equal(v, tm2.state_dict()[k])


def test_load_state_dict_casts_and_reports_problems():
    m = nn.Linear(3, 2)
    m.load_state_dict(torch.nn.Linear(3, 2).state_dict())   # float32 tensors
    assert m.params["weight"].dtype == np.float64
    with pytest.raises(KeyError, match=r"missing keys \['bias'\]"):
        m.load_state_dict({"weight": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"'weight' expected shape \(2, 3\), got \(3, 2\)"):
        m.load_state_dict({"weight": np.zeros((3, 2)), "bias": np.zeros(2)})
    m.load_state_dict({"weight": np.ones((2, 3))}, strict=False)
    assert (m.params["weight"] == 1).all()


def test_grads_accumulate_and_zero_grad_clears():
    m = nn.Sequential(nn.Linear(3, 2))
    x = np.ones((1, 3))
    for _ in range(2):
        m(x)
        m.backward(np.ones((1, 2)))
    np.testing.assert_allclose(m.grads["0.weight"], 2 * np.ones((2, 3)))
    m.zero_grad()
    assert all((g == 0).all() for g in m.grads.values())
    assert set(m.params) == set(m.grads) == {"0.weight", "0.bias"}


def test_train_eval_reaches_children():
    m = nn.Sequential(nn.Dropout(0.5), nn.Sequential(nn.Dropout(0.5)))
    m.eval()
    assert not any(c.training for c in m.modules())
    m.train()
    assert all(c.training for c in m.modules())


def test_numerical_gradient_of_known_functions():
    x = np.array([0.3, -1.2, 2.0])
    g = numerical_gradient(lambda: np.sum(np.sin(x) * x ** 2), x)
    exact = np.cos(x) * x ** 2 + 2 * x * np.sin(x)
    assert rel_error(g, exact) < 1e-9
    assert verdict(rel_error(g, exact)) == "correct"
    assert verdict(1e-5) == "suspicious" and verdict(0.1) == "wrong" and verdict(np.nan) == "wrong"


def _train_pair(make_lab_opt, make_torch_opt, steps=5):
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).double()
    lab = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2)).load_state_dict(tm.state_dict())
    lab_opt, t_opt = make_lab_opt(lab), make_torch_opt(tm.parameters())
    rng = np.random.default_rng(0)
    for _ in range(steps):
        x, t = rng.standard_normal((8, 4)), rng.standard_normal((8, 2))
        loss = nn.MSELoss()
        lab_opt.zero_grad()
        loss(lab(x), t)
        lab.backward(loss.backward()[0])
        lab_opt.step()
        t_opt.zero_grad()
        torch.nn.functional.mse_loss(tm(torch.tensor(x)), torch.tensor(t)).backward()
        t_opt.step()
    return parity_report({k: (lab.state_dict()[k], v) for k, v in tm.state_dict().items()})


@pytest.mark.parametrize("kw", [dict(lr=0.1), dict(lr=0.1, momentum=0.9),
                                dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)])
def test_sgd_matches_torch(kw):
    r = _train_pair(lambda m: optim.SGD(m, **kw), lambda p: torch.optim.SGD(p, **kw))
    assert r.ok, r


@pytest.mark.parametrize("kw", [dict(lr=0.01), dict(lr=0.003, betas=(0.8, 0.99), weight_decay=0.1)])
def test_adam_matches_torch(kw):
    r = _train_pair(lambda m: optim.Adam(m, **kw), lambda p: torch.optim.Adam(p, **kw))
    assert r.ok, r


@pytest.mark.parametrize("nl,param", [("linear", None), ("tanh", None), ("relu", None),
                                      ("leaky_relu", 0.2), ("selu", None), ("sigmoid", None)])
def test_gain_matches_torch(nl, param):
    assert init.calculate_gain(nl, param) == pytest.approx(torch.nn.init.calculate_gain(nl, param))


def test_initialisers_have_torchs_spread():
    """Empirical spread of 40,000 draws against torch's formula (and torch's own draws)."""
    shape = (200, 50, 2, 2)
    fan_in, fan_out = 50 * 4, 200 * 4
    rng = np.random.default_rng(0)
    cases = [
        (init.xavier_uniform(shape, rng=rng), torch.nn.init.xavier_uniform_, math.sqrt(6 / (fan_in + fan_out)) / math.sqrt(3)),
        (init.xavier_normal(shape, rng=rng), torch.nn.init.xavier_normal_, math.sqrt(2 / (fan_in + fan_out))),
        (init.kaiming_uniform(shape, nonlinearity="relu", rng=rng),
         lambda t: torch.nn.init.kaiming_uniform_(t, nonlinearity="relu"), math.sqrt(2 / fan_in)),
        (init.kaiming_normal(shape, mode="fan_out", nonlinearity="relu", rng=rng),
         lambda t: torch.nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"), math.sqrt(2 / fan_out)),
    ]
    for w, torch_init, std in cases:
        t = torch_init(torch.empty(shape, dtype=torch.float64))
        assert w.std() == pytest.approx(std, rel=0.02)
        assert t.std().item() == pytest.approx(std, rel=0.02)


def test_linear_default_init_bound():
    w = nn.Linear(100, 300).params["weight"]
    assert np.abs(w).max() <= 1 / math.sqrt(100)
    assert w.std() == pytest.approx(1 / math.sqrt(100) / math.sqrt(3), rel=0.05)
