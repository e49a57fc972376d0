"""Chapter 4's attention-decoder-step grader (grading.rnn_seq2seq): the right answer passes (with
prints and a warning), its float32 version fails, and each typical mistake fails with its
diagnosis, as do delegation, an in-place change and everything a student's code may do."""
import numpy as np
import pytest
import torch

from labutils.grading import rnn_seq2seq as gs

from . import graderlib
from .graderlib import assert_right_answers_pass, assert_short, fails, passes

DELEGATION = "this exercise asks for your own code"


def attention_decoder_step(q, keys, W_q, W_k, b_k, v, W_out, b_out):
    e = np.tanh((q @ W_q.T)[:, None, :] + keys @ W_k.T + b_k) @ v
    alpha = np.exp(e - e.max(axis=1, keepdims=True))
    alpha /= alpha.sum(axis=1, keepdims=True)
    context = (alpha[:, :, None] * keys).sum(axis=1)
    return np.concatenate([q, context], axis=1) @ W_out.T + b_out, alpha


def test_right_answers_pass():
    assert_right_answers_pass(gs.check_attention_decoder_step, attention_decoder_step)
    assert "Hidden tests of" in passes(gs.check_attention_decoder_step, attention_decoder_step,
                                       hidden=True)


def test_reference_is_the_models_step():
    """The reference equals what AttentionEncoderDecoder computes at one decoding step."""
    from labutils.lab.seq2seq import AttentionEncoderDecoder
    m = AttentionEncoderDecoder(5, 3, 4, 6, rng=np.random.default_rng(0))
    rng = np.random.default_rng(1)
    q, keys = rng.standard_normal((2, 1, 4)), rng.standard_normal((2, 3, 8))
    context, w = m.attention(q, keys, keys)
    logits = m.out(np.concatenate([q, context], axis=-1))
    a = m.attention
    mine = gs._attention_decoder_step(q[:, 0], keys, a.query_proj.params["weight"],
                                      a.key_proj.params["weight"], a.key_proj.params["bias"],
                                      a.score_proj.params["weight"][0], m.out.params["weight"],
                                      m.out.params["bias"])
    assert np.allclose(mine[0], logits[:, 0], rtol=1e-12) and np.allclose(mine[1], w[:, 0])
    assert np.allclose(attention_decoder_step(*gs._step_cases(3)[0][1])[0],
                       gs._attention_decoder_step(*gs._step_cases(3)[0][1])[0], rtol=1e-12)


def _with_torch(q, keys, W_q, W_k, b_k, v, W_out, b_out):
    t = torch.tensor
    e = torch.tanh((t(q) @ t(W_q).T)[:, None] + t(keys) @ t(W_k).T + t(b_k)) @ t(v)
    alpha = torch.softmax(e, dim=1)
    context = (alpha[:, :, None] * t(keys)).sum(1)
    return ((torch.cat([t(q), context], 1) @ t(W_out).T + t(b_out)).numpy(), alpha.numpy())


@pytest.mark.parametrize("fn,phrases", [
    (gs._step_variant(softmax_axis=0), ["over the source positions"]),
    (gs._step_variant(softmax_axis=None), ["not the scores themselves"]),
    (gs._step_variant(tanh=False), ["through tanh"]),
    (gs._step_variant(bias=False), ["has a bias, b_k"]),
    (gs._step_variant(stable=False), ["[fail] large scores", "exp(1000) overflows"]),
    (gs._step_variant(query_first=False), ["the decoder state first"]),
    (gs._step_variant(use_context=False), ["the context enters the read-out"]),
    (graderlib.float32(attention_decoder_step), ["float32, not float64"]),
    (_with_torch, ["(torch", DELEGATION]),
    (lambda *a: gs._attention_decoder_step(*a), ["(labutils", DELEGATION]),
    (lambda *a: attention_decoder_step(*a)[0], ["expected 2 results"]),
])
def test_attention_decoder_step_catalogue(fn, phrases):
    assert_short(fails(gs.check_attention_decoder_step, fn, *phrases))


def test_attention_decoder_step_survives_anything():
    graderlib.assert_survives(gs.check_attention_decoder_step, attention_decoder_step)
