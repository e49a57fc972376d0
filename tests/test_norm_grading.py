"""Chapter 2 graders: each passes a correct answer (written here independently, as a student
would) and fails each typical mistake with the right hint, and survives None, exceptions,
NaN, wrong shapes, in-place changes and endless loops."""
import numpy as np
import pytest
import torch

from labutils import nn
from labutils.grading import norm as g

from .graderlib import assert_right_answers_pass, assert_survives, fails, float32, passes

# -- correct answers, written the way a student would ------------------------------------------

def layer_norm(x, gamma, beta, eps=1e-5):
    axes = tuple(range(x.ndim - gamma.ndim, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def batchnorm_train(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
    n = x.shape[0]
    mu, var = x.mean(0), x.var(0)
    y = gamma * (x - mu) / np.sqrt(var + eps) + beta
    return (y, (1 - momentum) * running_mean + momentum * mu,
            (1 - momentum) * running_var + momentum * var * n / (n - 1))


def batchnorm_eval(x, gamma, beta, running_mean, running_var, eps=1e-5):
    return gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta


def batchnorm_backward(dy, x, gamma, eps=1e-5, var=None):
    n = x.shape[0]
    sigma = np.sqrt((x.var(0) if var is None else var) + eps)
    xh = (x - x.mean(0)) / sigma
    dx = gamma / (n * sigma) * (n * dy - dy.sum(0) - xh * (dy * xh).sum(0))
    return dx, (dy * xh).sum(0), dy.sum(0)


def group_norm(x, num_groups, gamma, beta, eps=1e-5):
    n = x.shape[0]
    xg = x.reshape(n, num_groups, -1)
    xh = ((xg - xg.mean(2, keepdims=True)) / np.sqrt(xg.var(2, keepdims=True) + eps)).reshape(x.shape)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return gamma.reshape(shape) * xh + beta.reshape(shape)


def layer_norm_backward(dy, x, gamma, eps=1e-5):
    d = x.shape[-1]
    sigma = np.sqrt(x.var(-1, keepdims=True) + eps)
    xh = (x - x.mean(-1, keepdims=True)) / sigma
    g_ = dy * gamma
    dx = (d * g_ - g_.sum(-1, keepdims=True) - xh * (g_ * xh).sum(-1, keepdims=True)) / (d * sigma)
    lead = tuple(range(x.ndim - 1))
    return dx, (dy * xh).sum(lead), dy.sum(lead)


def weight_norm_backward(dW, g_, v):
    n = np.sqrt((v * v).sum(1, keepdims=True))
    dg = (dW * v).sum(1, keepdims=True) / n
    return dg, g_ / n * (dW - dg * v / n)


def fold_batchnorm(weight, bias, gamma, beta, running_mean, running_var, eps=1e-5):
    s = gamma / np.sqrt(running_var + eps)
    return s.reshape((-1,) + (1,) * (weight.ndim - 1)) * weight, s * (bias - running_mean) + beta


CHECKS = [(g.check_layer_norm, layer_norm), (g.check_batchnorm_train, batchnorm_train),
          (g.check_batchnorm_eval, batchnorm_eval), (g.check_batchnorm_backward, batchnorm_backward),
          (g.check_group_norm, group_norm), (g.check_layer_norm_backward, layer_norm_backward),
          (g.check_weight_norm_backward, weight_norm_backward),
          (g.check_fold_batchnorm, fold_batchnorm)]


@pytest.mark.parametrize("check,answer", CHECKS)
def test_hidden_tests_pass_the_answer_and_fail_a_wrong_one(check, answer):
    out = passes(check, answer, hidden=True)
    assert "Hidden tests of" in out and "hidden case" in out
    fails(check, float32(answer), "float32", hidden=True)


@pytest.mark.parametrize("check,answer", CHECKS)
def test_correct_answer_passes_also_noisy_and_float32_fails(check, answer):
    assert_right_answers_pass(check, answer)


def _torch_layer_norm(x, gamma, beta, eps=1e-5):
    return torch.nn.functional.layer_norm(torch.tensor(x), gamma.shape, torch.tensor(gamma),
                                          torch.tensor(beta), eps).numpy()


def _ln_module(x, gamma, beta, eps=1e-5):
    m = nn.LayerNorm(gamma.shape, eps=eps)
    m.params["weight"], m.params["bias"] = gamma, beta
    return m(x)


def _gn_module(x, num_groups, gamma, beta, eps=1e-5):
    m = nn.GroupNorm(num_groups, x.shape[1], eps=eps)
    m.params["weight"], m.params["bias"] = gamma, beta
    return m(x)


def _bn_module(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
    m = nn.BatchNorm1d(x.shape[1], eps=eps, momentum=momentum)
    m.params["weight"], m.params["bias"] = gamma, beta
    m.buffers["running_mean"], m.buffers["running_var"] = running_mean.copy(), running_var.copy()
    return m(x), m.buffers["running_mean"], m.buffers["running_var"]


def _bn_eval_torch(x, gamma, beta, running_mean, running_var, eps=1e-5):
    t = lambda a: torch.from_numpy(a)
    return torch.nn.functional.batch_norm(t(x), t(running_mean), t(running_var), t(gamma), t(beta),
                                          training=False, eps=eps).numpy()


def _labutils_backward(dy, x, gamma, eps=1e-5):
    from labutils import nn
    xh = (x - x.mean(0)) / np.sqrt(x.var(0) + eps)
    dx = nn.normalize_backward(gamma * dy, xh, 1 / np.sqrt(x.var(0) + eps), axes=0)
    return dx, (dy * xh).sum(0), dy.sum(0)


def _labutils_ln_backward(dy, x, gamma, eps=1e-5):
    _, cache = nn.layer_norm_forward(x, gamma, np.zeros_like(gamma), 1, eps)
    d = nn.layer_norm_backward(dy, cache)
    return d["x"], d["weight"], d["bias"]


def _labutils_wn_backward(dW, g_, v):
    from labutils.nn.weight_norm import weight_norm_backward as wnb
    from labutils.nn.weight_norm import weight_norm_forward
    _, cache = weight_norm_forward(np.eye(v.shape[1]), g_, v, None)
    d = wnb(dW.T, cache)
    return d["g"], d["v"]


def _labutils_fold(*args, **kwargs):
    from labutils.nn.norm_fold import fold_batch_norm
    return fold_batch_norm(*args, **kwargs)


@pytest.mark.parametrize("check,answer,name", [
    (g.check_layer_norm, _torch_layer_norm, "(torch"),
    (g.check_layer_norm, _ln_module, "LayerNorm (labutils"),
    (g.check_group_norm, _gn_module, "GroupNorm (labutils"),
    (g.check_batchnorm_backward, _labutils_backward, "normalize_backward (labutils"),
    (g.check_batchnorm_train, _bn_module, "BatchNorm1d (labutils"),
    (g.check_batchnorm_eval, _bn_eval_torch, "(torch"),
    (g.check_layer_norm_backward, _labutils_ln_backward, "layer_norm_forward (labutils"),
    (g.check_weight_norm_backward, _labutils_wn_backward, "weight_norm_forward (labutils"),
    (g.check_fold_batchnorm, _labutils_fold, "fold_batch_norm (labutils"),
])
def test_calling_a_reference_fails(check, answer, name):
    fails(check, answer, "called", name, "your own code")


@pytest.mark.parametrize("check,answer,n", [(g.check_batchnorm_backward, batchnorm_backward, 3),
                                            (g.check_layer_norm_backward, layer_norm_backward, 3),
                                            (g.check_weight_norm_backward, weight_norm_backward, 2)])
def test_gradient_check_exercise_prints_the_verdict(check, answer, n):
    out = passes(check, answer)
    assert out.count("gradient check: correct") == n


# -- the typical mistakes -----------------------------------------------------------------

def ln_last_axis_only(x, gamma, beta, eps=1e-5):
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def ln_batch_axis(x, gamma, beta, eps=1e-5):
    return gamma * (x - x.mean(0)) / np.sqrt(x.var(0) + eps) + beta


def ln_eps_outside(x, gamma, beta, eps=1e-5):
    axes = tuple(range(x.ndim - gamma.ndim, x.ndim))
    return gamma * (x - x.mean(axes, keepdims=True)) / (x.std(axes, keepdims=True) + eps) + beta


def ln_unbiased(x, gamma, beta, eps=1e-5):
    axes = tuple(range(x.ndim - gamma.ndim, x.ndim))
    return gamma * (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, ddof=1, keepdims=True) + eps) + beta


def ln_every_non_batch_axis(x, gamma, beta, eps=1e-5):
    axes = tuple(range(1, x.ndim))
    mu, var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def ln_moments(x, gamma, beta, eps=1e-5):
    axes = tuple(range(x.ndim - gamma.ndim, x.ndim))
    mu = x.mean(axes, keepdims=True)
    var = (x ** 2).mean(axes, keepdims=True) - mu ** 2
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


@pytest.mark.parametrize("wrong,phrase", [
    (ln_last_axis_only, "not only the last one"),
    (ln_batch_axis, "averaging over the batch axis (0) is batch norm"),
    (ln_eps_outside, "eps is added to the variance, inside the square root"),
    (ln_unbiased, "biased variance"),
    (lambda x, gamma, beta, eps=1e-5: layer_norm(x, np.ones_like(gamma), 0 * beta, eps), "gamma and shift beta are not applied"),
    (ln_every_non_batch_axis, "not over every axis but the batch axis"),
    (ln_moments, "mean of the squares minus the square of the mean"),
])
def test_layer_norm_mistakes(wrong, phrase):
    fails(g.check_layer_norm, wrong, phrase)


def bn_biased_running(x, gamma, beta, rm, rv, momentum=0.1, eps=1e-5):
    y, m, _ = batchnorm_train(x, gamma, beta, rm, rv, momentum, eps)
    return y, m, (1 - momentum) * rv + momentum * x.var(0)


def bn_unbiased_normalisation(x, gamma, beta, rm, rv, momentum=0.1, eps=1e-5):
    _, m, v = batchnorm_train(x, gamma, beta, rm, rv, momentum, eps)
    return gamma * (x - x.mean(0)) / np.sqrt(x.var(0, ddof=1) + eps) + beta, m, v


def bn_keras_momentum(x, gamma, beta, rm, rv, momentum=0.1, eps=1e-5):
    n = x.shape[0]
    y, _, _ = batchnorm_train(x, gamma, beta, rm, rv, momentum, eps)
    return y, momentum * rm + (1 - momentum) * x.mean(0), momentum * rv + (1 - momentum) * x.var(0) * n / (n - 1)


def bn_running_in_training(x, gamma, beta, rm, rv, momentum=0.1, eps=1e-5):
    _, m, v = batchnorm_train(x, gamma, beta, rm, rv, momentum, eps)
    return gamma * (x - rm) / np.sqrt(rv + eps) + beta, m, v


def bn_wrong_axis(x, gamma, beta, rm, rv, momentum=0.1, eps=1e-5):
    _, m, v = batchnorm_train(x, gamma, beta, rm, rv, momentum, eps)
    mu, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta, m, v


def bn_eps_outside(x, gamma, beta, rm, rv, momentum=0.1, eps=1e-5):
    _, m, v = batchnorm_train(x, gamma, beta, rm, rv, momentum, eps)
    return gamma * (x - x.mean(0)) / (x.std(0) + eps) + beta, m, v


def bn_moments(x, gamma, beta, rm, rv, momentum=0.1, eps=1e-5):
    _, m, v = batchnorm_train(x, gamma, beta, rm, rv, momentum, eps)
    var = (x ** 2).mean(0) - x.mean(0) ** 2
    return gamma * (x - x.mean(0)) / np.sqrt(var + eps) + beta, m, v


def bn_in_place(x, gamma, beta, rm, rv, momentum=0.1, eps=1e-5):
    y, m, v = batchnorm_train(x, gamma, beta, rm, rv, momentum, eps)
    rm[...], rv[...] = m, v        # what torch does to its buffers, but not allowed here
    return y, rm, rv


@pytest.mark.parametrize("wrong,phrase", [
    (bn_biased_running, "unbiased batch variance"),
    (bn_unbiased_normalisation, "only the running estimate uses the unbiased"),
    (bn_keras_momentum, "weight of the new batch statistic"),
    (bn_running_in_training, "in training, normalise with the statistics of the current batch"),
    (bn_wrong_axis, "wrong axis"),
    (bn_eps_outside, "inside the square root"),
    (bn_moments, "mean of the squares minus the square of the mean"),
    (bn_in_place, "in place"),
])
def test_batchnorm_train_mistakes(wrong, phrase):
    fails(g.check_batchnorm_train, wrong, phrase)


@pytest.mark.parametrize("wrong,phrase", [
    (lambda x, gm, b, rm, rv, eps=1e-5: gm * (x - x.mean(0)) / np.sqrt(x.var(0) + eps) + b,
     "forgot the running statistics"),
    (lambda x, gm, b, rm, rv, eps=1e-5: gm * (x - rm) / (np.sqrt(rv) + eps) + b, "inside the square root"),
    (lambda x, gm, b, rm, rv, eps=1e-5: gm * (x - rm) / (rv + eps) + b, "divide by the standard deviation"),
])
def test_batchnorm_eval_mistakes(wrong, phrase):
    fails(g.check_batchnorm_eval, wrong, phrase)


def bnb(kind):
    def wrong(dy, x, gamma, eps=1e-5):
        dx, dg, db = batchnorm_backward(dy, x, gamma, eps)
        sigma = np.sqrt(x.var(0) + eps)
        xh = (x - x.mean(0)) / sigma
        if kind == "constant":
            return gamma * dy / sigma, dg, db
        if kind == "novar":
            return gamma / sigma * (dy - dy.mean(0)), dg, db
        if kind == "means":
            return dx, dg / len(x), db / len(x)
        if kind == "nogamma":
            n = len(x)
            return 1 / (n * sigma) * (n * dy - dy.sum(0) - xh * (dy * xh).sum(0)), dg, db
        if kind == "moments":
            var = (x ** 2).mean(0) - x.mean(0) ** 2
            return batchnorm_backward(dy, x, gamma, eps, var=var)
        if kind == "axis":
            n = x.shape[1]
            return (gamma / (n * sigma) * (n * dy - dy.sum(1, keepdims=True)
                                           - xh * (dy * xh).sum(1, keepdims=True)), dg, db)
    return wrong


@pytest.mark.parametrize("kind,phrase", [
    ("constant", "depend on x too"), ("novar", "the variance also depends on x"),
    ("means", "sums over the batch, not means"), ("nogamma", "gamma is missing from dx"),
    ("axis", "over the batch (axis 0)"), ("moments", "mean of the squares minus the square"),
])
def test_batchnorm_backward_mistakes_and_gradient_check_verdict(kind, phrase):
    out = fails(g.check_batchnorm_backward, bnb(kind), phrase)
    if kind in ("constant", "novar", "nogamma"):
        assert "dx by central differences: gradient check against central differences: wrong" in out


def gn_interleaved(x, num_groups, gamma, beta, eps=1e-5):
    n, c = x.shape[:2]
    perm = np.arange(c).reshape(c // num_groups, num_groups).T.ravel()   # channel c in group c % G
    inv = np.argsort(perm)
    return group_norm(x[:, perm], num_groups, gamma[perm], beta[perm], eps)[:, inv]


def gn_over_batch(x, num_groups, gamma, beta, eps=1e-5):
    n = x.shape[0]
    xg = x.reshape(n, num_groups, -1)
    mu, var = xg.mean((0, 2), keepdims=True), xg.var((0, 2), keepdims=True)
    xh = ((xg - mu) / np.sqrt(var + eps)).reshape(x.shape)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return gamma.reshape(shape) * xh + beta.reshape(shape)


def gn_eps_outside(x, num_groups, gamma, beta, eps=1e-5):
    xg = x.reshape(x.shape[0], num_groups, -1)
    xh = ((xg - xg.mean(2, keepdims=True)) / (xg.std(2, keepdims=True) + eps)).reshape(x.shape)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return gamma.reshape(shape) * xh + beta.reshape(shape)


def gn_moments(x, num_groups, gamma, beta, eps=1e-5):
    xg = x.reshape(x.shape[0], num_groups, -1)
    mu = xg.mean(2, keepdims=True)
    var = (xg ** 2).mean(2, keepdims=True) - mu ** 2
    xh = ((xg - mu) / np.sqrt(var + eps)).reshape(x.shape)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return gamma.reshape(shape) * xh + beta.reshape(shape)


@pytest.mark.parametrize("wrong,phrase", [
    (gn_interleaved, "consecutive"),
    (gn_over_batch, "do not average over the batch"),
    (lambda x, G, gm, b, eps=1e-5: group_norm(x, x.shape[1], gm, b, eps), "that is instance norm"),
    (lambda x, G, gm, b, eps=1e-5: group_norm(x, 1, gm, b, eps), "that is layer norm"),
    (gn_eps_outside, "inside the square root"),
    (gn_moments, "mean of the squares minus the square of the mean"),
    (lambda x, G, gm, b, eps=1e-5: group_norm(x, G, np.ones_like(gm), 0 * b, eps), "per channel"),
])
def test_group_norm_mistakes(wrong, phrase):
    fails(g.check_group_norm, wrong, phrase)


@pytest.mark.parametrize("check,answer", CHECKS)
def test_graders_survive_what_student_code_does(check, answer):
    assert_survives(check, answer)


@pytest.mark.parametrize("check,wrong,phrase", [
    (g.check_layer_norm, lambda x, gm, b, eps=1e-5: layer_norm(x, gm, b), "the eps argument is ignored"),
    (g.check_layer_norm, lambda x, gm, b, eps=1e-5: layer_norm(x, gm, b, 0.0), "eps is missing"),
    (g.check_group_norm, lambda x, G, gm, b, eps=1e-5: group_norm(x, G, gm, b), "the eps argument is ignored"),
    (g.check_batchnorm_train, lambda x, gm, b, rm, rv, momentum=0.1, eps=1e-5:
     batchnorm_train(x, gm, b, rm, rv, 0.1, eps), "the momentum argument is ignored"),
    (g.check_batchnorm_train, lambda x, gm, b, rm, rv, momentum=0.1, eps=1e-5:
     (batchnorm_train(x, gm, b, rm, rv, momentum, eps)[0], rm, rv), "returned unchanged"),
    (g.check_batchnorm_eval, lambda x, gm, b, rm, rv, eps=1e-5: gm * (x - rm) / np.sqrt(rv) + b,
     "eps is missing"),
])
def test_an_argument_that_must_be_used_is_ignored(check, wrong, phrase):
    fails(check, wrong, phrase)


# -- layer norm backward (gamma per feature) ----------------------------------------------------

def lnb(kind):
    def wrong(dy, x, gamma, eps=1e-5):
        dx, dg, db = layer_norm_backward(dy, x, gamma, eps)
        sigma = np.sqrt(x.var(-1, keepdims=True) + eps)
        xh = (x - x.mean(-1, keepdims=True)) / sigma
        d = x.shape[-1]
        if kind == "gamma outside":
            return gamma / (d * sigma) * (d * dy - dy.sum(-1, keepdims=True)
                                          - xh * (dy * xh).sum(-1, keepdims=True)), dg, db
        if kind == "constant":
            return gamma * dy / sigma, dg, db
        if kind == "novar":
            return (gamma * dy - (gamma * dy).mean(-1, keepdims=True)) / sigma, dg, db
        if kind == "first axis sums":
            return dx, (dy * xh).sum(0), dy.sum(0)
        if kind == "nogamma":
            return layer_norm_backward(dy, x, np.ones_like(gamma), eps)[0], dg, db
        if kind == "eps ignored":
            return layer_norm_backward(dy, x, gamma)
        if kind == "loop":
            out = [layer_norm_backward(dy[i:i + 1], x[i:i + 1], gamma, eps) for i in range(len(x))]
            return np.concatenate([o[0] for o in out]), dg, db
    return wrong


@pytest.mark.parametrize("kind,phrase", [
    ("gamma outside", "cannot be taken out of the means"), ("constant", "depend on x too"),
    ("novar", "the variance also depends on x"), ("first axis sums", "every leading axis"),
    ("nogamma", "gamma is missing from dx"), ("eps ignored", "the eps argument is ignored"),
])
def test_layer_norm_backward_mistakes(kind, phrase):
    out = fails(g.check_layer_norm_backward, lnb(kind), phrase)
    if kind in ("gamma outside", "constant", "novar", "nogamma"):
        assert "dx by central differences: gradient check against central differences: wrong" in out


def test_layer_norm_backward_loop_over_samples_is_a_right_answer():
    passes(g.check_layer_norm_backward, lnb("loop"))     # a loop over samples is slow, not wrong


# -- weight norm backward --------------------------------------------------------------------------

def wnb(kind):
    def wrong(dW, g_, v):
        n = np.linalg.norm(v, axis=1, keepdims=True)
        dg = (dW * v).sum(1, keepdims=True) / n
        if kind == "no projection":
            return dg, g_ / n * dW
        if kind == "no scale":
            return dg, dW - dg * v / n
        if kind == "frobenius":
            nf = np.linalg.norm(v)
            dgf = (dW * v).sum(1, keepdims=True) / nf
            return dgf, g_ / nf * (dW - dgf * v / nf)
        if kind == "dg unscaled":
            return dg * n, g_ / n * (dW - dg * v / n)
        if kind == "flat":
            return dg.ravel(), g_ / n * (dW - dg * v / n)
        if kind == "loop":
            dv = np.zeros_like(v)
            for i in range(len(v)):
                dv[i] = g_[i] / n[i] * (dW[i] - dg[i] * v[i] / n[i])
            return dg, dv
        if kind == "in place":
            v /= n
            return dg, g_ / n * (dW - dg * v)
    return wrong


@pytest.mark.parametrize("kind,phrase", [
    ("no projection", "remove from dv the part of dW along v"), ("no scale", "factor g / ||v||"),
    ("frobenius", "not of the whole matrix"), ("dg unscaled", "divide by ||v||"),
    ("flat", "keep the summed axis"), ("loop", "python loop per row"),
    ("in place", "in place"),
])
def test_weight_norm_backward_mistakes(kind, phrase):
    fails(g.check_weight_norm_backward, wnb(kind), phrase)


# -- folding batch norm ------------------------------------------------------------------------------

def fold(kind):
    def wrong(weight, bias, gamma, beta, rm, rv, eps=1e-5):
        s = gamma / np.sqrt(rv + eps)
        w = s.reshape((-1,) + (1,) * (weight.ndim - 1)) * weight
        if kind == "bias unscaled":
            return w, bias - s * rm + beta
        if kind == "no bias":
            return w, beta - s * rm
        if kind == "no mean":
            return w, s * bias + beta
        if kind == "no sqrt":
            s2 = gamma / (rv + eps)
            return s2.reshape((-1,) + (1,) * (weight.ndim - 1)) * weight, s2 * (bias - rm) + beta
        if kind == "eps outside":
            s2 = gamma / (np.sqrt(rv) + eps)
            return s2.reshape((-1,) + (1,) * (weight.ndim - 1)) * weight, s2 * (bias - rm) + beta
        if kind == "eps ignored":
            return fold_batchnorm(weight, bias, gamma, beta, rm, rv)
        if kind == "linear only":
            return s[:, None] * weight, s * (bias - rm) + beta
        if kind == "batch stats":
            return w, s * bias + beta - s * weight.mean()
    return wrong


@pytest.mark.parametrize("kind,phrase", [
    ("bias unscaled", "scale the difference"), ("no bias", "own bias is missing"),
    ("no mean", "running mean is missing"), ("no sqrt", "square root"),
    ("eps outside", "inside the square root"), ("eps ignored", "the eps argument is ignored"),
    ("linear only", "per output channel"),
])
def test_fold_batchnorm_mistakes(kind, phrase):
    fails(g.check_fold_batchnorm, fold(kind), phrase)


def test_folded_layer_gives_the_eval_outputs_of_linear_then_batch_norm():
    from labutils.nn.norm_fold import fold_batch_norm
    r = np.random.default_rng(5)
    lin, bn = nn.Linear(4, 3, rng=r), nn.BatchNorm1d(3)
    bn.params["weight"], bn.params["bias"] = 1 + r.random(3), r.standard_normal(3)
    bn.buffers["running_mean"], bn.buffers["running_var"] = r.standard_normal(3), 0.5 + r.random(3)
    x = r.standard_normal((6, 4))
    w, b = fold_batch_norm(lin.params["weight"], lin.params["bias"], bn.params["weight"],
                           bn.params["bias"], bn.buffers["running_mean"], bn.buffers["running_var"])
    assert np.allclose(x @ w.T + b, bn.eval()(lin(x)), rtol=1e-12, atol=1e-12)
    assert not np.allclose(x @ w.T + b, bn.train()(lin(x)))
