"""Chapter 4's path-length measurement (labutils.lab.rnn_paths): the norm read off one backward is
that of the Jacobian ∂h_T/∂h_0 by central differences through the module's forward; the
dilated and residual wirings keep far more of it than the plain one."""
import numpy as np
import pytest

from labutils.lab import rnn_paths


@pytest.mark.parametrize("kind", rnn_paths.KINDS)
def test_norm_is_that_of_the_jacobian_by_central_differences(kind):
    T, H = 9, 4
    module = rnn_paths.make_variant(kind, hidden_size=H, scale=1.2, dilation=3, seed=3)
    x = np.random.default_rng(5).standard_normal((T, 1, 2))

    def h_T(h0):
        return module(x, h0[None])[-1, 0]

    J = np.stack([(h_T(1e-6 * e) - h_T(-1e-6 * e)) / 2e-6 for e in np.eye(H)], axis=1)
    assert np.isclose(rnn_paths.jacobian_norm(module, x[:, 0]), np.linalg.norm(J, 2), rtol=1e-6)


def test_the_wirings_keep_the_path_open():
    lengths = [8, 64]
    norms = {k: rnn_paths.norms_against_length(k, lengths) for k in rnn_paths.KINDS}
    assert norms["plain"][1] < 1e-10 < norms["plain"][0]
    assert norms["dilated"][1] > 1e6 * norms["plain"][1]
    assert norms["skip"][1] > 1e6 * norms["plain"][1]
    assert norms["residual"][1] > 1


def test_the_same_weights_for_every_kind():
    a, b = rnn_paths.make_variant("plain"), rnn_paths.make_variant("residual")
    assert np.array_equal(a.params["weight_hh_l0"], b.params["weight_hh_l0"])
    assert rnn_paths.make_variant("dilated", dilation=5).dilation == 5


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="make_variant: kind must be one of"):
        rnn_paths.make_variant("highway")
    with pytest.raises(ValueError, match=r"jacobian_norm: x must have shape \(\.\.\., 2\)"):
        rnn_paths.jacobian_norm(rnn_paths.make_variant("plain"), np.zeros((4, 3)))
