"""Chapter 5, section 1: the grader of the bilinear score's backward. The notebook's answer
passes (with a print and a warning too, and on the hidden seeds), its float32 version fails, a
catalogue of wrong answers fails with its diagnosis, and what any student function may do is
caught; the reference agrees with torch's autograd of q W kᵀ."""
import numpy as np
import pytest
import torch

from labutils.grading import attention as g
from labutils.nn import bilinear_score_backward as library_backward
from labutils.nn import bilinear_score_forward as library_forward
from labutils.torchcheck import parity_report

from . import graderlib
from .graderlib import assert_short, fails, passes
from .test_attention_grading import DELEGATION


def bilinear_backward(ds, q, k, w):
    """The notebook's answer."""
    dq = ds @ k @ w.T
    dk = np.swapaxes(ds, 1, 2) @ q @ w
    dw = np.einsum("nqi,nqk,nkj->ij", q, ds, k)
    return dq, dk, dw


def test_reference_matches_torch_autograd():
    r = np.random.default_rng(0)
    ds, q, k, w = r.standard_normal((2, 3, 5)), r.standard_normal((2, 3, 4)), \
        r.standard_normal((2, 5, 6)), r.standard_normal((4, 6))
    tq, tk, tw = (torch.tensor(a, requires_grad=True) for a in (q, k, w))
    (tq @ tw @ tk.transpose(1, 2)).backward(torch.tensor(ds))
    got = g.reference_bilinear_score_backward(ds, q, k, w)
    report = parity_report(grads={n: (a, t.grad) for n, a, t in zip("qkw", got, (tq, tk, tw))})
    assert report.ok, report.verdict()


def test_right_answer_passes():
    out = passes(g.check_bilinear_score_backward, bilinear_backward)
    assert out.count("gradient check: correct") == 3
    graderlib.assert_right_answers_pass(g.check_bilinear_score_backward, bilinear_backward)
    passes(g.check_bilinear_score_backward, bilinear_backward, seed=99)
    assert "Hidden tests of" in passes(g.check_bilinear_score_backward, bilinear_backward,
                                       hidden=True)


def loop_over_batch(ds, q, k, w):
    """Right, one sample at a time: allowed (the exercise asks for no vectorisation)."""
    outs = [bilinear_backward(ds[n:n + 1], q[n:n + 1], k[n:n + 1], w) for n in range(len(ds))]
    return (np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs]),
            sum(o[2] for o in outs))


def test_a_loop_over_the_batch_passes():
    passes(g.check_bilinear_score_backward, loop_over_batch)


@pytest.mark.parametrize("fn,phrases", [
    (lambda ds, q, k, w: (ds @ k if q.shape[-1] == k.shape[-1] else ds @ k @ w.T,
                          np.swapaxes(ds, 1, 2) @ q if q.shape[-1] == k.shape[-1]
                          else np.swapaxes(ds, 1, 2) @ q @ w, bilinear_backward(ds, q, k, w)[2]),
     ["[FAIL] square", "gradient check"]),
    (lambda ds, q, k, w: (ds @ k, np.swapaxes(ds, 1, 2) @ q, bilinear_backward(ds, q, k, w)[2]),
     ["expected shape"]),
    (lambda ds, q, k, w: bilinear_backward(ds, q, k, w)[:2] + (bilinear_backward(ds, q, k, w)[2].T,),
     ["you returned its transpose"]),
    (lambda ds, q, k, w: bilinear_backward(ds, q, k, w)[:2] + (np.einsum("nqi,nqk,nkj->nij", q, ds, k),),
     ["sum its gradient over the batch"]),
    (lambda ds, q, k, w: (bilinear_backward(ds, q, k, w)[0], 2 * bilinear_backward(ds, q, k, w)[1],
                          bilinear_backward(ds, q, k, w)[2]),
     ["dk: relative error", "dk by central differences: gradient check"]),
    (lambda ds, q, k, w: library_backward(ds, library_forward(q, k, w)[1]),
     ["called bilinear_score_forward", DELEGATION]),
    (lambda *a: g.reference_bilinear_score_backward(*a), [DELEGATION]),
    (lambda *a: bilinear_backward(*a)[:2], ["expected 3 results"]),
])
def test_catalogue(fn, phrases):
    assert_short(fails(g.check_bilinear_score_backward, fn, *phrases))


def test_survives_anything():
    graderlib.assert_survives(g.check_bilinear_score_backward, bilinear_backward)
