"""Chapter 1's functional pairs: each backward against central differences of its forward
(float64), the modules equal to their pairs, and the lab wing (datasets, the training loop)."""
import numpy as np
import pytest

import labutils.nn as nn
from labutils import optim
from labutils.gradcheck import numerical_gradient as numerical_gradient_in_place
from labutils.gradcheck import rel_error
from labutils.lab import datasets, training


def numerical_gradient(f, x):
    """Central differences of f(x) at a copy of x (gradcheck's version perturbs what f reads)."""
    x = x.copy()
    return numerical_gradient_in_place(lambda: f(x), x)


def input_grad_error(forward, backward, x, rng, **kw):
    """Relative error of backward(dy, cache) against d<dy, forward(x)>/dx by central differences."""
    y, cache = forward(x, **kw)
    dy = rng.standard_normal(y.shape)
    numeric = numerical_gradient(lambda v: float(np.sum(forward(v, **kw)[0] * dy)), x.copy())
    return rel_error(backward(dy, cache), numeric)


ELEMENTWISE = [
    ("relu", {}), ("leaky_relu", {"negative_slope": 0.2}), ("elu", {"alpha": 0.7}), ("selu", {}),
    ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("sigmoid", {}), ("tanh", {}),
    ("softplus", {"beta": 2.0, "threshold": 1.0}), ("softmax", {"dim": 0}),
    ("log_softmax", {"dim": 1}),
]


@pytest.mark.parametrize("name,kw", ELEMENTWISE)
def test_activation_pairs_against_central_differences(name, kw):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5))
    x = np.where(np.abs(x) < 0.05, 0.05 + np.abs(x), x) * 2      # away from the kinks
    if name == "softplus":
        x = np.where(np.abs(2 * x - 1) < 0.05, x + 0.1, x)       # away from the threshold
    forward, backward = getattr(nn, f"{name}_forward"), getattr(nn, f"{name}_backward")
    assert input_grad_error(forward, backward, x, rng, **kw) < 1e-7


def test_linear_pair_gradients_and_module_agree():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    y, cache = nn.linear_forward(x, w, b)
    dy = rng.standard_normal(y.shape)
    grads = nn.linear_backward(dy, cache)
    def f(w_):
        return float(np.sum(nn.linear_forward(x, w_, b)[0] * dy))

    assert rel_error(grads["weight"], numerical_gradient(f, w.copy())) < 1e-7
    assert rel_error(grads["bias"], dy.sum(axis=(0, 1))) < 1e-12
    assert "bias" not in nn.linear_backward(dy, nn.linear_forward(x, w)[1])
    m = nn.Linear(4, 5)
    m.params["weight"], m.params["bias"] = w, b
    assert np.array_equal(m(x), y) and np.array_equal(m.backward(dy), grads["x"])


def test_loss_pairs():
    rng = np.random.default_rng(2)
    x, t = rng.standard_normal((6, 3)), rng.integers(0, 3, 6)
    loss, cache = nn.cross_entropy_forward(x, t)
    numeric = numerical_gradient(lambda v: float(nn.cross_entropy_forward(v, t)[0]), x.copy())
    assert rel_error(nn.cross_entropy_backward(1.0, cache), numeric) < 1e-7
    assert loss.shape == () and np.isclose(nn.cross_entropy_forward(x, t, "sum")[0], 6 * loss)
    y = rng.standard_normal((6, 3))
    _, cache = nn.mse_forward(x, y)
    dx, dt = nn.mse_backward(1.0, cache)
    assert np.allclose(dx, 2 * (x - y) / x.size) and np.array_equal(dt, -dx)


def test_dropout_pair_uses_the_mask_it_was_given():
    x = np.arange(1.0, 7.0)
    keep = np.array([True, False, True, True, False, True])
    y, cache = nn.dropout_forward(x, 0.5, keep)
    assert np.array_equal(y, np.where(keep, 2 * x, 0))
    assert np.array_equal(nn.dropout_backward(np.ones(6), cache), np.where(keep, 2.0, 0))
    assert np.array_equal(nn.dropout_forward(x, 0.5, None)[0], x)


def test_highway_and_gate_pairs():
    rng = np.random.default_rng(3)
    x, h, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.random((3, 4))
    y, cache = nn.highway_forward(x, h, t)
    dy = rng.standard_normal(y.shape)
    dx, dh, dt = nn.highway_backward(dy, cache)
    args = (x, h, t)
    for arg, analytic in ((0, dx), (1, dh), (2, dt)):
        def f(v, arg=arg):
            return float(np.sum(nn.highway_forward(*args[:arg], v, *args[arg + 1:])[0] * dy))
        assert rel_error(analytic, numerical_gradient(f, args[arg])) < 1e-7
    logits = rng.standard_normal((5, 6))
    g, cache = nn.top_k_gate_forward(logits, 2)
    assert np.all((g > 0).sum(axis=1) == 2) and np.allclose(g.sum(axis=1), 1)
    dg = rng.standard_normal(g.shape)
    numeric = numerical_gradient(lambda v: float(np.sum(nn.top_k_gate_forward(v, 2)[0] * dg)),
                                 logits.copy())
    assert rel_error(nn.top_k_gate_backward(dg, cache), numeric) < 1e-7


def test_spatial_gating_pair():
    rng = np.random.default_rng(4)
    u, v, w, b = (rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 3)),
                  rng.standard_normal((5, 5)), rng.standard_normal(5))
    y, cache = nn.spatial_gating_forward(u, v, w, b)
    dy = rng.standard_normal(y.shape)
    grads = nn.spatial_gating_backward(dy, cache)
    def f(v_):
        return float(np.sum(nn.spatial_gating_forward(u, v_, w, b)[0] * dy))

    assert rel_error(grads["v_hat"], numerical_gradient(f, v.copy())) < 1e-7
    def f(w_):
        return float(np.sum(nn.spatial_gating_forward(u, v, w_, b)[0] * dy))

    assert rel_error(grads["weight"], numerical_gradient(f, w.copy())) < 1e-7


def test_old_homes_still_export_the_moved_modules():
    from labutils.nn import norm, residual
    assert residual.FeedForward is nn.FeedForward
    assert residual.MixtureOfExperts is nn.MixtureOfExperts
    assert norm.WeightNormLinear is nn.WeightNormLinear and norm.weight_norm is nn.weight_norm


def test_spirals_datasets():
    x, t = datasets.two_spirals(300, np.random.default_rng(0))
    assert x.shape == (300, 2) and set(np.unique(t)) == {0, 1}
    assert np.linalg.norm(x, axis=1).max() < 1.2
    x3, t3 = datasets.three_spirals(50)
    assert x3.shape == (150, 2) and np.array_equal(t3, np.repeat([0, 1, 2], 50))
    assert np.array_equal(x3, datasets.three_spirals(50, np.random.default_rng(0))[0])
    with pytest.raises(ValueError, match="two_spirals: n must be a positive int, got 0"):
        datasets.two_spirals(0, np.random.default_rng(0))


def test_train_learns_two_spirals_and_restores_the_mode():
    x, t = datasets.two_spirals(200, np.random.default_rng(1))
    net = nn.Sequential(nn.Linear(2, 32, rng=np.random.default_rng(2)), nn.Tanh(),
                        nn.Linear(32, 2, rng=np.random.default_rng(3)))
    losses = training.train(net, nn.CrossEntropyLoss(), optim.Adam(net, lr=0.02),
                            training.full_batch(x, t), steps=150)
    assert len(losses) == 150 and losses[-1] < 0.5 * losses[0]
    assert training.accuracy(net, x, t) > 0.8 and net.training


def test_train_stops_on_a_diverging_run_and_random_batches_draw_without_replacement():
    x, t = datasets.three_spirals(30)
    batches = training.random_batches(x, t, 16, np.random.default_rng(0))
    xb, _ = batches(0)
    assert xb.shape == (16, 2) and len({tuple(r) for r in xb}) == 16
    net = nn.Linear(2, 3, rng=np.random.default_rng(0))      # least squares, far too large a step
    losses = training.train(net, nn.MSELoss(), optim.SGD(net, lr=1e3),
                            training.full_batch(x, np.eye(3)[t]), steps=500)
    assert 1 < len(losses) < 500 and not np.isfinite(losses[-1])
    assert all(np.isfinite(losses[:-1]))
    with pytest.raises(ValueError, match="random_batches: size must be at most"):
        training.random_batches(x, t, 91, np.random.default_rng(0))


class _TwoInputsWithState(nn.Module):
    """A model of two inputs returning (prediction, state), like chapter 4's encoder-decoder."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 4, rng=np.random.default_rng(0))

    def forward(self, a, b):
        return self.proj(a + b), None

    def backward(self, dy):
        dx = self.proj.backward(dy)
        return dx, dx


def test_train_handles_several_inputs_a_state_and_a_loss_per_position():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((8, 5, 3)), rng.standard_normal((8, 5, 3))
    t = rng.integers(0, 4, (8, 5))
    model = _TwoInputsWithState()
    first = float(nn.CrossEntropyLoss()(model(a, b)[0].reshape(-1, 4), t.reshape(-1)))
    losses = training.train(model, nn.CrossEntropyLoss(), optim.SGD(model, lr=0.5),
                            lambda step: ((a, b), t), steps=20)
    assert losses[0] == first and len(losses) == 20 and losses[-1] < 0.9 * losses[0]
