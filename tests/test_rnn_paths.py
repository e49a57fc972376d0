"""Chapter 4's path-length measurement (labutils.lab.rnn_paths): the accumulated Jacobians are
the derivatives of h_T with respect to h_k, checked by central differences through the same
recurrences written out; a dilated network's h_k reaches h_T only on h_T's chain."""
import numpy as np
import pytest

from labutils import init
from labutils.lab import rnn_paths


def _h_T_from(kind, h_k, k, length, W, U, x, hs, d):
    """Re-run the recurrence from step k with h_k replaced (the others' states as computed)."""
    h = list(hs[:k]) + [h_k]
    for t in range(k + 1, length + 1):
        p = max(t - d, 0) if kind == "dilated" else t - 1
        a = np.tanh(U @ x[t] + W @ h[p])
        h.append(h[t - 1] + a if kind == "residual" else a)
    return h[length]


@pytest.mark.parametrize("kind", rnn_paths.KINDS)
def test_norms_are_those_of_the_jacobians_by_central_differences(kind):
    length, H, d = 9, 4, 3
    dist, norms = rnn_paths.path_norms(kind, length, H, scale=1.2, dilation=d, seed=3)
    rng = np.random.default_rng(3)
    W = 1.2 * init.haar_orthogonal(H, rng)
    U = rng.standard_normal((H, 2)) / np.sqrt(2)
    x = rng.standard_normal((length + 1, 2))
    hs = [np.zeros(H)]
    for t in range(1, length + 1):
        p = max(t - d, 0) if kind == "dilated" else t - 1
        a = np.tanh(U @ x[t] + W @ hs[p])
        hs.append(hs[t - 1] + a if kind == "residual" else a)
    for distance, norm in zip(dist, norms):
        k = length - distance
        if kind == "dilated" and k == 0:
            continue                    # h_0 stands in for every missing early state
        J = np.stack([(_h_T_from(kind, hs[k] + 1e-6 * e, k, length, W, U, x, hs, d)
                       - _h_T_from(kind, hs[k] - 1e-6 * e, k, length, W, U, x, hs, d)) / 2e-6
                      for e in np.eye(H)], axis=1)
        assert np.isclose(np.linalg.norm(J, 2), norm, rtol=1e-6), (kind, distance)


def test_dilated_states_reach_h_T_only_on_its_chain():
    dist, _ = rnn_paths.path_norms("dilated", 20, 4, dilation=4)
    assert list(dist) == [0, 4, 8, 12, 16, 20]
    assert list(rnn_paths.path_norms("plain", 20, 4)[0]) == list(range(21))


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind must be one of"):
        rnn_paths.path_norms("highway")
