"""Chapter 5, Primer: the grader of the causal depthwise convolution. The notebook's answer
passes (also with a loop over the kernel, with a print and a warning, on the hidden seeds), its
float32 version fails, a catalogue of wrong answers fails with its diagnosis, and what any
student function may do is caught; the reference agrees with torch's grouped conv1d."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labutils.grading import attention as g
from labutils.nn import causal_depthwise_conv_forward

from . import graderlib
from .graderlib import assert_short, fails, passes
from .test_attention_grading import DELEGATION


def causal_conv(x, w):
    """The notebook's answer."""
    k = w.shape[1]
    padded = np.pad(x, ((0, 0), (k - 1, 0), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, k, axis=1)   # (N, T, C, k)
    return np.einsum("ntcj,cj->ntc", windows, w)


def causal_conv_loop(x, w):
    """Right, with a loop over the kernel taps."""
    k, t = w.shape[1], x.shape[1]
    padded = np.concatenate([np.zeros((x.shape[0], k - 1, x.shape[2])), x], axis=1)
    return sum(w[:, j] * padded[:, j:j + t] for j in range(k))


def test_reference_matches_torch_grouped_conv1d():
    r = np.random.default_rng(0)
    x, w = r.standard_normal((2, 6, 4)), r.standard_normal((4, 3))
    want = F.conv1d(F.pad(torch.tensor(x).transpose(1, 2), (2, 0)), torch.tensor(w)[:, None],
                    groups=4).transpose(1, 2).numpy()
    np.testing.assert_allclose(g.reference_causal_conv(x, w), want, rtol=1e-12, atol=1e-12)


def test_right_answers_pass():
    graderlib.assert_right_answers_pass(g.check_causal_conv, causal_conv)
    passes(g.check_causal_conv, causal_conv_loop)
    passes(g.check_causal_conv, causal_conv, seed=99)
    assert "Hidden tests of" in passes(g.check_causal_conv, causal_conv, hidden=True)


def shifted_sum(x, w, shift):
    """Σ_j w[:, j] · x moved by shift(j, k) steps later in time, zeros coming in."""
    k, t = w.shape[1], x.shape[1]
    out = np.zeros_like(x)
    for j in range(k):
        s = shift(j, k)
        moved = np.zeros_like(x)
        if abs(s) < t:
            moved[:, max(s, 0):t + min(s, 0)] = x[:, max(-s, 0):t - max(s, 0)]
        out += w[:, j] * moved
    return out


@pytest.mark.parametrize("fn,phrases", [
    (lambda x, w: shifted_sum(x, w, lambda j, k: -j), ["looked into the future"]),
    (lambda x, w: shifted_sum(x, w, lambda j, k: j), ["the kernel runs the other way"]),
    (lambda x, w: shifted_sum(x, w, lambda j, k: (k - 1) // 2 - j), ["a centred window"]),
    (lambda x, w: sum(w[:, j] * np.roll(x, w.shape[1] - 1 - j, axis=1) for j in range(w.shape[1])),
     ["np.roll wraps around"]),
    (lambda x, w: np.repeat(causal_conv(x, w).sum(-1, keepdims=True), x.shape[-1], -1),
     ["the channels are not summed"]),
    (lambda x, w: causal_depthwise_conv_forward(x, w, np.zeros(len(w)))[0],
     ["called causal_depthwise_conv_forward", DELEGATION]),
    (lambda x, w: F.conv1d(F.pad(torch.tensor(x).transpose(1, 2), (w.shape[1] - 1, 0)),
                           torch.tensor(w)[:, None], groups=w.shape[0]).transpose(1, 2).numpy(),
     ["(torch", DELEGATION]),
    (lambda *a: g.reference_causal_conv(*a), [DELEGATION]),
])
def test_catalogue(fn, phrases):
    assert_short(fails(g.check_causal_conv, fn, *phrases))


def test_survives_anything():
    graderlib.assert_survives(g.check_causal_conv, causal_conv)
