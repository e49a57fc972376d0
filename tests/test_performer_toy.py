"""lab.performer_toy: the toy model run with outside attention functions is the model itself
when they are softmax attention; recurrent FAVOR+ generation equals the parallel causal form."""
import numpy as np

from labutils.grading.performer import reference_favor_step
from labutils.lab import performer_toy as PT
from labutils.lab.toy_transformer import load_toy_transformer, make_toy_batch
from labutils.nn import favor as F


def test_exact_attention_reproduces_the_model():
    model, cfg = load_toy_transformer()
    src, tgt_in, tgt = make_toy_batch(np.random.default_rng(0), 20, cfg["length"])
    got = PT.toy_logits(model, src, tgt_in, PT.exact_attention,
                        lambda q, k, v: PT.exact_attention(q, k, v, causal=True))
    assert np.abs(got - model(src, tgt_in)).max() < 1e-10
    tokens, _ = PT.greedy_parallel(model, src, cfg["bos"], PT.exact_attention,
                                   lambda q, k, v: PT.exact_attention(q, k, v, causal=True))
    assert PT.sort_accuracy(tokens, tgt)[0] > 0.95


def test_recurrent_generation_equals_the_parallel_form_with_a_fixed_state():
    model, cfg = load_toy_transformer()
    src, _, _ = make_toy_batch(np.random.default_rng(1), 10, cfg["length"])
    W = F.orthogonal_gaussian_matrix(32, 16, np.random.default_rng(2))

    def bi(q, k, v):
        return F.favor_attention(q, k, v, W)

    def ca(q, k, v):
        return F.favor_attention(q, k, v, W, causal=True)
    tok_p, logits_p = PT.greedy_parallel(model, src, cfg["bos"], bi, ca)
    tok_r, logits_r, shapes = PT.greedy_recurrent(
        model, src, cfg["bos"], bi, lambda S, z, q, k, v: reference_favor_step(S, z, q, k, v, W), 32)
    assert np.array_equal(tok_p, tok_r)
    assert np.abs(logits_p - logits_r).max() < 1e-9 * np.abs(logits_p).max()
    assert shapes == {((10, 2, 32, 16), (10, 2, 32))}
    # and a step that ignores the current token breaks the equality
    with np.errstate(all="ignore"):
        _, wrong, _ = PT.greedy_recurrent(
            model, src, cfg["bos"], bi,
            lambda S, z, q, k, v: reference_favor_step(S, z, q, k, v, W)[:1] + (S, z), 32)
    assert not np.allclose(wrong, logits_p)
