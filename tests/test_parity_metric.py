"""The parity metric (labutils.torchcheck.parity_report): rounding noise against an exact zero
passes, a wrong gradient fails even when it is small (mutation tests), and the threshold is
where tolerances.py says it is."""
import numpy as np
import pytest
import torch

import labutils.nn as nn
from labutils.gradcheck import floored_error, rel_error
from labutils.module import Module
from labutils.tolerances import PARITY_RTOL
from labutils.torchcheck import ParityReport, compare_with_torch, parity_report


# -- the formula ------------------------------------------------------------------------------
def test_floored_error_is_rel_error_above_the_floor_and_absolute_below_it():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(5)
    b = a * (1 + 1e-6)
    assert floored_error(a, b, 0.0) == rel_error(a, b)
    assert floored_error(a, b, 1e-3 * np.linalg.norm(a)) == rel_error(a, b)
    noise = 1e-17 * rng.standard_normal(5)
    assert rel_error(np.zeros(5), noise) == 1.0                 # the trap of issue 10
    assert floored_error(np.zeros(5), noise, 1.0) < 1e-16
    assert floored_error(np.zeros(5), np.zeros(5), 0.0) == 0.0
    assert floored_error(np.zeros((2, 3)), np.zeros((3, 2)), 1.0) == np.inf   # no broadcast


def test_report_floors_each_group_by_its_own_scale():
    rng = np.random.default_rng(1)
    big, small = rng.standard_normal((4, 3)), 1e-6 * rng.standard_normal(3)
    r = parity_report({"output": (big, big)},
                      {"grad a": (np.ones(4), np.ones(4)), "grad b": (np.zeros(9), np.zeros(9))})
    np.testing.assert_allclose(r.floors["output"], np.linalg.norm(big))
    # pooled RMS of the gradients: sqrt(4 / 13) per entry, times sqrt(size)
    np.testing.assert_allclose(r.floors["grad b"], np.sqrt(4 / 13) * 3)
    # outputs do not lend their scale to the gradients: a small wrong gradient fails
    r = parity_report({"output": (big, big)}, {"grad": (small, 1.01 * small)})
    assert not r.ok and r.errors["grad"] == pytest.approx(0.01 / 1.01)


def test_report_ok_worst_and_verdict_text():
    r = parity_report({"output": (np.ones(3), np.ones(3))}, {"grad": (np.ones(2), np.ones(2))})
    assert r.ok and r.worst == 0.0
    assert r.verdict() == "match: 2 arrays compared, worst relative error below 1e-10"
    bad = ParityReport(errors={"grad x": 0.5, "grad y": 0.0})
    assert not bad.ok and bad.verdict() == "MISMATCH: 2 arrays compared, worst relative error 5.00e-01"
    nan = ParityReport(errors={"a": 0.0, "b": float("nan"), "c": 1e-17})
    assert not nan.ok and np.isnan(nan.worst)
    shape = parity_report({"output": (np.zeros((2, 3)), np.zeros((3, 2)))})
    assert not shape.ok and shape.errors["output"] == np.inf


# -- near zero against rounding noise ---------------------------------------------------------
class LabGated(Module):
    """y = lin(x) + gate * z with z = ((x + 1/3) - 1/3) - x summed over features: z is zero
    in exact arithmetic, so labutils drops the term and dL/dgate is exactly 0."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.lin = nn.Linear(n_in, n_out)
        self.add_param("gate", np.ones(1))

    def forward(self, x):
        return self.lin(x)

    def backward(self, dy):
        return self.lin.backward(dy)          # grads["gate"] stays exactly 0: correct


class TorchGated(torch.nn.Module):
    """The same function computed as written: z is rounding noise, and so is dL/dgate."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.lin = torch.nn.Linear(n_in, n_out)
        self.gate = torch.nn.Parameter(torch.ones(1))

    def forward(self, x):
        z = (((x + 1 / 3) - 1 / 3) - x).sum(-1, keepdim=True)
        return self.lin(x) + self.gate * z


def test_exact_zero_against_rounding_noise_passes_and_failed_before():
    x = np.random.default_rng(2).standard_normal((6, 4))
    torch.manual_seed(0)
    tm = TorchGated(4, 3)
    r = compare_with_torch(LabGated(4, 3), tm, x)
    assert r.ok, r
    t_gate = tm.gate.grad.numpy()
    assert 0 < np.abs(t_gate).max() < 1e-14            # torch's is noise, not zero
    assert rel_error(np.zeros(1), t_gate) == 1.0       # the floorless metric called it a mismatch


def test_issue_10_case_with_the_noise_torch_gave_there():
    """The pinned example of test_decoder_layer_matches_torch: one memory position, so the
    gradients of norm2 are zero in exact arithmetic. On the CPU of issue 10 torch returned
    rounding noise for them; here it may return exact zeros, so the noise is added to torch's
    gradient (a hook), at the size rounding gives."""
    from labutils.nn.attention import causal_mask
    rng = np.random.default_rng(0)
    x, mem = rng.standard_normal((2, 1, 3)), rng.standard_normal((2, 1, 3))
    kw = dict(dim_feedforward=5, dropout=0.0, batch_first=True, norm_first=True)
    torch.manual_seed(0)
    tm = torch.nn.TransformerDecoderLayer(3, 1, **kw)
    with torch.no_grad():
        for p in tm.parameters():
            p.normal_(0, 0.5)
    noise = torch.from_numpy(1e-17 * np.random.default_rng(1).standard_normal(3))
    for p in (tm.norm2.weight, tm.norm2.bias):
        p.register_hook(lambda g: g + noise)
    lab = nn.TransformerDecoderLayer(3, 1, **kw)
    cm = causal_mask(1)
    r = compare_with_torch(lab, tm, x, mem, lab_call=lambda m, a, b: m(a, b, tgt_mask=cm),
                           torch_call=lambda m, a, b: m(a, b, tgt_mask=torch.tensor(cm)))
    assert (lab.grads["norm2.weight"] == 0).all() and (lab.grads["norm2.bias"] == 0).all()
    assert rel_error(lab.grads["norm2.weight"], tm.norm2.weight.grad.numpy()) == 1.0  # before
    assert r.ok, r                                                                     # now


# -- mutation tests: a wrong gradient is caught even when it is small ------------------------
class LabTwoBranches(Module):
    """y = main(x) + scale * side(x): side's gradients are about `scale` times the others.
    ``mutation`` breaks side's backward on purpose."""

    def __init__(self, n_in, n_out, scale, mutation=None):
        super().__init__()
        self.main, self.side = nn.Linear(n_in, n_out), nn.Linear(n_in, n_out)
        self.scale, self.mutation = scale, mutation

    def forward(self, x):
        return self.main(x) + self.scale * self.side(x)

    def backward(self, dy):
        dx = self.main.backward(dy)
        dx_side = self.side.backward(self.scale * dy)
        g = self.side.grads["weight"]
        if self.mutation == "scaled":             # 1% too large
            g *= 1.01
        elif self.mutation == "perturbed":        # 1% of its size in a random direction
            u = np.random.default_rng(3).standard_normal(g.shape)
            g += 0.01 * np.linalg.norm(g) * u / np.linalg.norm(u)
        elif self.mutation == "reversed bias":  # bias entries in reverse order
            self.side.grads["bias"][...] = self.side.grads["bias"][::-1].copy()
        elif self.mutation == "forgotten":        # never accumulated
            g[...] = 0
        elif self.mutation == "input":            # the side branch 100 times too small in dx
            dx_side = 0.01 * dx_side
        return dx + dx_side


class TorchTwoBranches(torch.nn.Module):
    def __init__(self, n_in, n_out, scale):
        super().__init__()
        self.main, self.side = torch.nn.Linear(n_in, n_out), torch.nn.Linear(n_in, n_out)
        self.scale = scale

    def forward(self, x):
        return self.main(x) + self.scale * self.side(x)


def two_branches(scale, mutation):
    torch.manual_seed(4)
    x = np.random.default_rng(5).standard_normal((7, 4))
    return compare_with_torch(LabTwoBranches(4, 3, scale, mutation), TorchTwoBranches(4, 3, scale), x)


@pytest.mark.parametrize("scale", [1.0, 1e-3, 1e-6])
def test_correct_backward_passes_at_every_scale(scale):
    r = two_branches(scale, None)
    assert r.ok, r


@pytest.mark.parametrize("scale", [1.0, 1e-3, 1e-6])
@pytest.mark.parametrize("mutation,entry", [("scaled", "grad side.weight"),
                                            ("perturbed", "grad side.weight"),
                                            ("reversed bias", "grad side.bias"),
                                            ("forgotten", "grad side.weight"),
                                            ("input", "grad input 0")])
def test_wrong_backward_is_caught_even_when_small(scale, mutation, entry):
    r = two_branches(scale, mutation)
    assert not r.ok, f"{mutation} at scale {scale} passed:\n{r}"
    assert r.errors[entry] > 10 * PARITY_RTOL, r
    assert "MISMATCH" in r.verdict()
    for name, err in r.errors.items():                 # only the broken entry is blamed
        assert name == entry or err <= PARITY_RTOL, r


def test_the_floor_hides_only_errors_below_parity_rtol_of_the_scale():
    """tolerances.py: a wrong gradient passes only when its error is below PARITY_RTOL times
    the typical gradient of the comparison. Forgetting side's weight gradient costs an error
    of about `scale` relative to that: caught at 1e-8, not at 1e-13 (nor could it be by a
    tolerance of 1e-10 on an array of typical size)."""
    caught, hidden = two_branches(1e-8, "forgotten"), two_branches(1e-13, "forgotten")
    assert not caught.ok and 1e-9 < caught.errors["grad side.weight"] < 1e-7, caught
    assert hidden.ok and 1e-14 < hidden.errors["grad side.weight"] < 1e-12, hidden
