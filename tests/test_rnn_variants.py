"""Chapter 4's recurrence variants (labutils.nn.rnn_variants) against twins built from torch
modules in float64 (forward, input gradients, parameter gradients), central differences, and the
gradient paths they are there for."""
import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

import labutils.nn as nn
from labutils.gradcheck import check_module
from labutils.torchcheck import compare_with_torch


class DilatedTwin(torch.nn.RNN):
    """torch.nn.RNN run on each of the d interleaved subsequences x_j, x_{j+d}, ... on its own."""

    def __init__(self, input_size, hidden_size, dilation, bias=True):
        super().__init__(input_size, hidden_size, bias=bias)
        self.dilation = dilation

    def forward(self, x, h0):
        out = [None] * len(x)
        for j in range(min(self.dilation, len(x))):          # d > L: some chains are empty
            sub, _ = super().forward(x[j::self.dilation], h0[None])
            out[j::self.dilation] = list(sub)
        return torch.stack(out)


class ResidualTwin(torch.nn.RNN):
    """h_t = h_{t-1} + (one step of torch.nn.RNN from h_{t-1})."""

    def forward(self, x, h0):
        h, out = h0, []
        for t in range(len(x)):
            step, _ = super().forward(x[t:t + 1], h[None])
            h = h + step[0]
            out.append(h)
        return torch.stack(out)


class SkipTwin(torch.nn.RNN):
    """One torch.nn.RNN step whose input is [x_t, h_{t-d}] and whose weight_ih is [W_ih, W_skip]:
    tanh(x_t W_ihᵀ + h_{t-d} W_skipᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh)."""

    def __init__(self, input_size, hidden_size, skip, bias=True):
        super().__init__(input_size, hidden_size, bias=bias)
        self.skip = skip
        self.weight_skip = torch.nn.Parameter(torch.randn(hidden_size, hidden_size))

    def forward(self, x, h0):
        hs = [h0]
        w_ih = torch.cat([self.weight_ih_l0, self.weight_skip], dim=1)
        for t in range(1, len(x) + 1):
            inp = torch.cat([x[t - 1], hs[max(t - self.skip, 0)]], dim=-1)
            a = inp @ w_ih.T + hs[t - 1] @ self.weight_hh_l0.T
            if self.bias:
                a = a + self.bias_ih_l0 + self.bias_hh_l0
            hs.append(torch.tanh(a))
        return torch.stack(hs[1:])


def _pair(kind, H_in, H, d, bias):
    if kind == "dilated":
        return nn.DilatedRNN(H_in, H, d, bias=bias), DilatedTwin(H_in, H, d, bias=bias)
    if kind == "residual":
        return nn.ResidualRNN(H_in, H, bias=bias), ResidualTwin(H_in, H, bias=bias)
    return nn.SkipRNN(H_in, H, max(d, 2), bias=bias), SkipTwin(H_in, H, max(d, 2), bias=bias)


@example(kind="dilated", L=1, N=1, H_in=1, H=1, d=2, bias=False, seed=0)
@given(kind=st.sampled_from(["dilated", "residual", "skip"]), L=st.integers(1, 9),
       N=st.integers(1, 3), H_in=st.integers(1, 4), H=st.integers(1, 5), d=st.integers(1, 5),
       bias=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_matches_its_torch_twin(kind, L, N, H_in, H, d, bias, seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    lab, twin = _pair(kind, H_in, H, d, bias)
    x, h0 = rng.standard_normal((L, N, H_in)), rng.standard_normal((N, H))
    report = compare_with_torch(lab, twin, x, h0)
    assert report.ok, report
    assert len(report.errors) == 3 + len(lab.params)     # output, dx, dh0 and every parameter


def test_dilation_one_is_torch_rnn():
    rng = np.random.default_rng(1)
    x, h0 = rng.standard_normal((7, 2, 3)), rng.standard_normal((1, 2, 4))
    ref = torch.nn.RNN(3, 4)
    report = compare_with_torch(nn.DilatedRNN(3, 4, 1), ref, x, h0[0],
                                torch_call=lambda m, x, h: m(x, h[None])[0])
    assert report.ok, report


@pytest.mark.parametrize("module", [nn.DilatedRNN(3, 4, 3), nn.ResidualRNN(3, 4),
                                    nn.SkipRNN(3, 4, 3), nn.DilatedRNN(3, 4, 2, bias=False)],
                         ids=["dilated", "residual", "skip", "dilated-no-bias"])
def test_backward_agrees_with_central_differences(module):
    rng = np.random.default_rng(2)
    report = check_module(module, rng.standard_normal((8, 2, 3)), rng.standard_normal((2, 4)))
    assert report.ok, report


def _jacobian_norm(module, T, H):
    """||∂h_T/∂h_0||₂ from one backward: H copies of one sequence, copy i seeded with e_i."""
    x = np.repeat(np.random.default_rng(0).standard_normal((T, 1, 2)), H, axis=1)
    out = module(x, np.zeros((H, H)))
    dout = np.zeros_like(out)
    dout[-1] = np.eye(H)
    return np.linalg.norm(module.backward(dout)[1], 2)


def test_dilation_shortens_the_path_and_residual_keeps_it_open():
    H, T = 8, 40
    W = 0.9 * np.linalg.qr(np.random.default_rng(3).standard_normal((H, H)))[0]
    norms = {}
    r = np.random.default_rng
    for name, m in {"plain": nn.DilatedRNN(2, H, 1, bias=False, rng=r(5)),
                    "dilated": nn.DilatedRNN(2, H, 4, bias=False, rng=r(5)),
                    "residual": nn.ResidualRNN(2, H, bias=False, rng=r(5))}.items():
        m.params["weight_hh_l0"][...] = W
        norms[name] = _jacobian_norm(m, T, H)
    assert norms["dilated"] > 1e3 * norms["plain"]
    assert norms["residual"] > 0.1 > 1e3 * norms["plain"]


def test_dilated_states_off_the_chain_get_no_gradient():
    m = nn.DilatedRNN(2, 3, 4)
    out = m(np.random.default_rng(4).standard_normal((12, 1, 2)))
    dout = np.zeros_like(out)
    dout[-1] = 1.0
    dx, _ = m.backward(dout)
    on_chain = [t for t in range(12) if (11 - t) % 4 == 0]
    assert all(np.any(dx[t] != 0) == (t in on_chain) for t in range(12))


@pytest.mark.parametrize("make, match", [
    (lambda: nn.DilatedRNN(3, 4, 0), "DilatedRNN: dilation must be a positive int, got 0"),
    (lambda: nn.SkipRNN(3, 4, 1), r"SkipRNN: skip must be an int >= 2, got 1"),
    (lambda: nn.ResidualRNN(0, 4), "ResidualRNN: input_size must be a positive int, got 0"),
    (lambda: nn.DilatedRNN(3, 4)(np.zeros((5, 3))), "DilatedRNN: input must have 3 dimensions"),
    (lambda: nn.SkipRNN(3, 4)(np.zeros((5, 2, 2))), r"SkipRNN: input must have shape \(\.\.\., 3\)"),
    (lambda: nn.ResidualRNN(3, 4)(np.zeros((5, 2, 3)), np.zeros((3, 4))),
     r"ResidualRNN: h_0 must have shape \(2, 4\)"),
    (lambda: nn.DilatedRNN(3, 4)(np.zeros((0, 2, 3))), "at least one time step"),
    (lambda: nn.ResidualRNN(3, 4).backward(np.zeros((5, 2, 4))), "backward called before forward"),
])
def test_bad_input_is_named(make, match):
    with pytest.raises((ValueError, TypeError, RuntimeError), match=match):
        make()


def test_wrong_upstream_gradient_shape_is_named():
    m = nn.SkipRNN(3, 4, 2)
    m(np.zeros((5, 2, 3)))
    with pytest.raises(ValueError, match=r"SkipRNN: grad_output must have the output's shape"):
        m.backward(np.zeros((5, 2, 3)))


def test_state_dict_loads_into_torch_rnn():
    lab = nn.DilatedRNN(3, 4, 2)
    ref = torch.nn.RNN(3, 4).double()
    ref.load_state_dict({k: torch.tensor(v) for k, v in lab.state_dict().items()})
    assert "weight_skip" in nn.SkipRNN(3, 4).params and "dilation=2" in repr(lab)
