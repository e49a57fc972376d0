"""Chapter 5's pre-LN block backward, assembled from the parts' backwards: the grader's reference
agrees with torch's TransformerEncoderLayer(norm_first=True) and the library's layer; the
notebook's answer passes (with a print and a warning too, and on the hidden seeds); a catalogue of
wrong assemblies, each written here as a student would, fails with its diagnosis; and what any
student function may do is caught."""
import numpy as np
import pytest
import torch

import labutils.nn as nn
from labutils.grading import attention as g
from labutils.grading.attention_block_backward import BLOCK_PARAMS, _cases
from labutils.nn.masks import causal_mask
from labutils.torchcheck import parity_report

from . import graderlib
from .graderlib import assert_short, fails, noisy, passes
from .test_attention_blocks_grading import mha_backward, mha_forward
from .test_attention_grading import DELEGATION


# -- the notebook's answer -------------------------------------------------------------------------
def block_forward(x, p, num_heads, mask):
    a, ln1 = nn.layer_norm_forward(x, p["ln1_w"], p["ln1_b"], 1, 1e-5)
    h = x + mha_forward(a, p["w_q"], p["w_k"], p["w_v"], p["w_o"], num_heads, mask)
    b, ln2 = nn.layer_norm_forward(h, p["ln2_w"], p["ln2_b"], 1, 1e-5)
    z, ff1 = nn.linear_forward(b, p["ff1"], p["ff1_b"])
    r, act = nn.relu_forward(z)
    f, ff2 = nn.linear_forward(r, p["ff2"], p["ff2_b"])
    return h + f, {"a": a, "ln1": ln1, "ln2": ln2, "ff1": ff1, "act": act, "ff2": ff2}


def block_backward(dy, x, p, num_heads, mask, mistake="", attention_bwd=mha_backward):
    """The notebook's solution; ``mistake`` makes the catalogue's wrong versions of it, and
    ``attention_bwd`` replaces the attention's backward (the capstone's tests)."""
    _, c = block_forward(x, p, num_heads, mask)
    g2 = nn.linear_backward(dy, c["ff2"])
    g1 = nn.linear_backward(nn.relu_backward(g2["x"], c["act"]), c["ff1"])
    n2 = nn.layer_norm_backward(g1["x"], c["ln1"] if mistake == "swap" else c["ln2"])
    dh = dy + n2["x"]
    if mistake == "forgot dy":
        dh = n2["x"]
    elif mistake == "overwrote":        # the skip's gradient written over the branch's
        dh = dy
    da, dw_q, dw_k, dw_v, dw_o = attention_bwd(dy if mistake == "dy" else dh, c["a"], p["w_q"],
                                              p["w_k"], p["w_v"], p["w_o"], num_heads, mask)
    n1 = nn.layer_norm_backward(da, c["ln2"] if mistake == "swap" else c["ln1"])
    dx = {"forgot dh": n1["x"], "lost branch": dh, "no norm": dh + da}.get(mistake, dh + n1["x"])
    return dx, {"ln1_w": n1["weight"], "ln1_b": n1["bias"], "w_q": dw_q, "w_k": dw_k,
                "w_v": dw_v, "w_o": dw_o, "ln2_w": n2["weight"], "ln2_b": n2["bias"],
                "ff1": g1["weight"], "ff1_b": g1["bias"], "ff2": g2["weight"], "ff2_b": g2["bias"]}


def wrong(kind):
    return lambda dy, x, p, h, m: block_backward(dy, x, p, h, m, mistake=kind)


# -- the reference against torch and the library --------------------------------------------------
def _torch_layer(p, e, h, f):
    layer = torch.nn.TransformerEncoderLayer(e, h, dim_feedforward=f, dropout=0.0, batch_first=True,
                                             norm_first=True, dtype=torch.float64)
    t = torch.tensor
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(t(np.vstack([p["w_q"], p["w_k"], p["w_v"]])))
        layer.self_attn.in_proj_bias.zero_()
        layer.self_attn.out_proj.weight.copy_(t(p["w_o"]))
        layer.self_attn.out_proj.bias.zero_()
        for name, (w, b) in {"norm1": ("ln1_w", "ln1_b"), "norm2": ("ln2_w", "ln2_b"),
                             "linear1": ("ff1", "ff1_b"), "linear2": ("ff2", "ff2_b")}.items():
            getattr(layer, name).weight.copy_(t(p[w]))
            getattr(layer, name).bias.copy_(t(p[b]))
    return layer


def _torch_grads(layer):
    sa = layer.self_attn
    wq, wk, wv = sa.in_proj_weight.grad.split(sa.embed_dim)
    return {"ln1_w": layer.norm1.weight.grad, "ln1_b": layer.norm1.bias.grad, "w_q": wq,
            "w_k": wk, "w_v": wv, "w_o": sa.out_proj.weight.grad,
            "ln2_w": layer.norm2.weight.grad, "ln2_b": layer.norm2.bias.grad,
            "ff1": layer.linear1.weight.grad, "ff1_b": layer.linear1.bias.grad,
            "ff2": layer.linear2.weight.grad, "ff2_b": layer.linear2.bias.grad}


@pytest.mark.parametrize("case", range(4))
def test_reference_matches_torch_pre_ln_encoder_layer(case):
    label, (dy, x, p, h, mask) = _cases(np.random.default_rng(case))[case]
    e, f = x.shape[-1], p["ff1"].shape[0]
    layer = _torch_layer(p, e, h, f)
    tx = torch.tensor(x, requires_grad=True)
    ty = layer(tx, src_mask=torch.tensor(mask))
    ty.backward(torch.tensor(dy))
    y, _ = g.reference_block_forward(x, p, h, mask)
    dx, grads = g.reference_block_backward(dy, x, p, h, mask)
    report = parity_report({"y": (y, ty)}, {"dx": (dx, tx.grad)} | {
        k: (grads[k], v) for k, v in _torch_grads(layer).items()})
    assert report.ok, (label, report.verdict())


def test_reference_matches_the_library_layer():
    _, (dy, x, p, h, mask) = _cases(np.random.default_rng(5))[0]
    e, f = x.shape[-1], p["ff1"].shape[0]
    lib = nn.TransformerEncoderLayer(e, h, dim_feedforward=f, dropout=0.0, batch_first=True,
                                     norm_first=True)
    lib.load_state_dict({k: v.detach().numpy() for k, v in _torch_layer(p, e, h, f).state_dict().items()})
    y = lib(x, src_mask=mask)
    dx = lib.backward(dy)
    ref_dx, grads = g.reference_block_backward(dy, x, p, h, mask)
    pairs = {"ln1_w": "norm1.weight", "ff1": "linear1.weight", "w_o": "self_attn.out_proj.weight"}
    report = parity_report({"y": (y, g.reference_block_forward(x, p, h, mask)[0])},
                           {"dx": (dx, ref_dx)} | {k: (lib.grads[v], grads[k]) for k, v in pairs.items()})
    assert report.ok, report.verdict()


# -- right answers --------------------------------------------------------------------------------
def test_right_answer_passes_with_its_gradient_checks():
    out = passes(g.check_block_backward, block_backward)
    assert out.count("gradient check: correct") == 4
    passes(g.check_block_backward, block_backward, seed=99)
    assert "Hidden tests of" in passes(g.check_block_backward, block_backward, hidden=True)


def test_float32_answer_fails():
    def f32(*a):
        dx, grads = block_backward(*a)
        return dx.astype(np.float32), {k: v.astype(np.float32) for k, v in grads.items()}
    fails(g.check_block_backward, f32, "float32, not float64")


def test_other_forms_pass():
    passes(g.check_block_backward, lambda *a: list(block_backward(*a)))          # a list of two
    out = passes(g.check_block_backward, noisy(block_backward))
    assert "UserWarning: a warning from the student's code" in out


# -- the catalogue ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fn,phrases", [
    (wrong("forgot dy"), ["dh = dy + (the feed-forward branch's gradient)",
                          "gradient check against central differences: wrong"]),
    (wrong("forgot dh"), ["dx = dh + (the attention branch's gradient)"]),
    (wrong("overwrote"), ["the feed-forward branch's gradient was lost"]),
    (wrong("lost branch"), ["the attention branch's gradient was lost"]),
    (wrong("dy"), ["its upstream gradient is dh"]),
    (wrong("swap"), ["the two norms were swapped"]),
    (wrong("no norm"), ["the layer norms have a backward too"]),
    (lambda dy, x, p, h, m: block_backward(dy, x, p, h, np.zeros_like(m)), ["the mask was ignored"]),
    (lambda *a: g.reference_block_backward(*a), [DELEGATION]),
    (lambda dy, x, p, h, m: (np.zeros_like(x), block_backward(dy, x, p, h, m)[1]), ["[FAIL]"]),
])
def test_block_backward_catalogue(fn, phrases):
    assert_short(fails(g.check_block_backward, fn, *phrases))


def library_layer(dy, x, p, h, m):
    """Delegation to the course's layer: load p into nn.TransformerEncoderLayer, call backward."""
    e = x.shape[-1]
    lib = nn.TransformerEncoderLayer(e, h, dim_feedforward=p["ff1"].shape[0], dropout=0.0,
                                     batch_first=True, norm_first=True, bias=True)
    lib(x, src_mask=m)
    return lib.backward(dy), block_backward(dy, x, p, h, m)[1]


def torch_autograd(dy, x, p, h, m):
    tx = torch.tensor(x, requires_grad=True)
    _torch_layer(p, x.shape[-1], h, p["ff1"].shape[0])(tx, src_mask=torch.tensor(m)).backward(
        torch.tensor(dy))
    return tx.grad.numpy(), block_backward(dy, x, p, h, m)[1]


@pytest.mark.parametrize("fn,phrases", [
    (library_layer, ["TransformerEncoderLayer", DELEGATION]),
    (torch_autograd, ["(torch", DELEGATION]),
])
def test_delegation_is_caught(fn, phrases):
    assert_short(fails(g.check_block_backward, fn, *phrases))


@pytest.mark.parametrize("fn,phrase", [
    (lambda *a: block_backward(*a)[0], "expected 2 results (dx, grads)"),
    (lambda *a: (block_backward(*a)[0], list(block_backward(*a)[1].values())),
     "grads: expected a dict"),
    (lambda *a: (block_backward(*a)[0], {k: v for k, v in block_backward(*a)[1].items()
                                         if not k.startswith("ln")}),
     "grads has no gradient for ln1_w, ln1_b, ln2_w, ln2_b"),
])
def test_wrong_return_forms(fn, phrase):
    assert_short(fails(g.check_block_backward, fn, phrase))


def test_survives_anything():
    """graderlib.assert_survives, with NaN and wrong shapes inside the dict of gradients."""
    check = g.check_block_backward
    fails(check, graderlib.returns_none, "returned None")
    fails(check, graderlib.raises, "raised IndexError: tuple index out of range")
    fails(check, graderlib.not_filled, "not filled in yet")
    fails(check, lambda *a: (block_backward(*a)[0], {k: np.full_like(v, np.nan) for k, v in
                                                       block_backward(*a)[1].items()}), "contains NaN")
    fails(check, lambda *a: (block_backward(*a)[0][..., :-1], block_backward(*a)[1]), "expected shape")
    fails(check, graderlib.in_place(block_backward), "changed its argument 0 in place")
    fails(check, lambda dy, x, p, h, m: (block_backward(dy, x, p, h, m), p.clear())[0],
          "changed its argument 2 in place")
    fails(check, graderlib.spins, "did not finish within 0.2 s", "endless loop", time_limit_s=0.2)
    fails(check, 42, "expected a function")


def test_causal_case_is_causal():
    """The first case (the one the gradient checks use) has a causal mask, so ignoring it shows."""
    assert (_cases(np.random.default_rng(0))[0][1][4] == causal_mask(4)).all()
    assert set(_cases(np.random.default_rng(0))[0][1][2]) == set(BLOCK_PARAMS)
