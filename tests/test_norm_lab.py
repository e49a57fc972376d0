"""Chapter 2's lab wing (labutils.lab.norm_experiments) and the folding helper
(labutils.nn.norm_fold): the deep network, the batch norm built from functions, the
divergence bookkeeping, and the capstone's comparison (the criterion the notebook states)."""
import numpy as np
import pytest

from labutils import nn
from labutils.gradcheck import check_module
from labutils.lab import norm_experiments as NX
from labutils.nn.norm_fold import fold_batch_norm


def _library_fns():
    from labutils.grading import norm as answers
    return (answers.library_batchnorm_train, answers.library_batchnorm_eval,
            answers.library_batchnorm_backward)


def test_deep_relu_net_layout():
    plain = NX.deep_relu_net(5, width=8)
    normed = NX.deep_relu_net(5, width=8, norm=nn.BatchNorm1d)
    assert sum(isinstance(m, nn.Linear) for m in plain) == 5
    assert sum(isinstance(m, nn.BatchNorm1d) for m in normed) == 4
    assert all("bias" not in m.params for m in list(normed)[:-1] if isinstance(m, nn.Linear))
    assert plain(np.zeros((3, 2))).shape == (3, 3)


def test_functional_batch_norm_matches_batchnorm1d_in_training_and_eval():
    r = np.random.default_rng(0)
    mine, ref = NX.FunctionalBatchNorm(3, *_library_fns()), nn.BatchNorm1d(3)
    for m in (mine, ref):
        m.params["weight"], m.params["bias"] = np.array([1.5, 0.5, 2.0]), np.array([0.1, -0.2, 0.3])
    for _ in range(3):
        x, dy = 1 + 2 * r.standard_normal((6, 3)), r.standard_normal((6, 3))
        mine.zero_grad(), ref.zero_grad()
        assert np.allclose(mine(x), ref(x), rtol=1e-12, atol=1e-12)
        assert np.allclose(mine.backward(dy), ref.backward(dy), rtol=1e-10, atol=1e-12)
        assert np.allclose(mine.grads["weight"], ref.grads["weight"], rtol=1e-10)
    assert np.allclose(mine.buffers["running_var"], ref.buffers["running_var"], rtol=1e-12)
    x = r.standard_normal((2, 3))
    assert np.allclose(mine.eval()(x), ref.eval()(x), rtol=1e-12)


def test_functional_batch_norm_gradient_check():
    m = NX.FunctionalBatchNorm(2, *_library_fns())
    m.params["weight"] = np.array([1.3, -0.7])
    assert check_module(m, 0.5 + 2 * np.random.default_rng(1).standard_normal((5, 2))).ok


def test_a_diverging_run_is_recorded_as_inf_and_a_stable_one_is_not():
    steps = 30
    blown = NX.train_or_diverge(NX.deep_relu_net(12, seed=1), 50.0, steps, seed=1)
    assert NX.final_loss(blown, steps) == float("inf")
    fine = NX.train_or_diverge(NX.deep_relu_net(3, seed=0), 0.1, steps, seed=0)
    assert len(fine) == steps and np.isfinite(NX.final_loss(fine, steps))


def test_other_errors_are_not_taken_for_divergence():
    bad = nn.Sequential(nn.Linear(3, 3))          # three spirals have 2 inputs: a shape error
    with pytest.raises(ValueError, match="Linear"):
        NX.train_or_diverge(bad, 0.1, 5)


@pytest.mark.parametrize("seed", [0, 1])
def test_capstone_criterion_holds_with_a_margin_on_two_seeds(seed):
    """The notebook's criterion (seed 0) at depth 12, lr 1: with batch norm the final loss is far
    below 0.5; without, the loss stays above 0.9 or the run diverges."""
    steps = 150
    normed = NX.deep_relu_net(12, norm=lambda w: NX.FunctionalBatchNorm(w, *_library_fns()), seed=seed)
    loss_bn = NX.final_loss(NX.train_or_diverge(normed, 1.0, steps, seed=seed), steps)
    loss_plain = NX.final_loss(NX.train_or_diverge(NX.deep_relu_net(12, seed=seed), 1.0, steps, seed=seed), steps)
    assert loss_bn < 0.5 and loss_plain > 0.9


def test_fold_batch_norm_linear_and_conv_match_eval_mode():
    r = np.random.default_rng(2)
    gamma, beta, rm, rv = 1 + r.random(4), r.standard_normal(4), r.standard_normal(4), 0.5 + r.random(4)
    bn = nn.BatchNorm2d(4).eval()
    bn.params["weight"], bn.params["bias"] = gamma, beta
    bn.buffers["running_mean"], bn.buffers["running_var"] = rm, rv
    conv = nn.Conv2d(2, 4, 3, rng=r)
    x = r.standard_normal((2, 2, 5, 5))
    w, b = fold_batch_norm(conv.params["weight"], conv.params["bias"], gamma, beta, rm, rv)
    folded = nn.Conv2d(2, 4, 3, rng=r)
    folded.params["weight"], folded.params["bias"] = w, b
    assert np.allclose(folded(x), bn(conv(x)), rtol=1e-12, atol=1e-12)
    w0, b0 = fold_batch_norm(conv.params["weight"], None, gamma, beta, rm, rv)
    assert np.allclose(w0, w) and np.allclose(b0, beta - gamma * rm / np.sqrt(rv + 1e-5))


def test_fold_batch_norm_against_torch_fuse():
    torch = pytest.importorskip("torch")
    from torch.nn.utils.fusion import fuse_linear_bn_eval
    lin, bn = torch.nn.Linear(3, 2).double().eval(), torch.nn.BatchNorm1d(2).double().eval()
    with torch.no_grad():
        bn.running_mean.normal_(), bn.running_var.uniform_(0.5, 2), bn.weight.normal_(), bn.bias.normal_()
    fused = fuse_linear_bn_eval(lin, bn)
    w, b = fold_batch_norm(*(t.detach().numpy() for t in (lin.weight, lin.bias, bn.weight, bn.bias,
                                                          bn.running_mean, bn.running_var)), eps=bn.eps)
    assert np.allclose(w, fused.weight.detach().numpy(), rtol=1e-12)
    assert np.allclose(b, fused.bias.detach().numpy(), rtol=1e-12)
