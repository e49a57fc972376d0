"""Chapter 4 modules (RNN, GRU, LSTM and their cells) against torch in float64, central
differences, long sequences and bad input."""
import itertools

import numpy as np
import pytest
import torch

import labutils.nn as nn
from labutils.gradcheck import check_module, directional_derivative, rel_error
from labutils.lab.seq2seq import AttentionEncoderDecoder
from labutils.tolerances import verdict
from labutils.torchcheck import parity_report

MODES = {  # name: (labutils factory, torch factory), both taking (H_in, H, **options)
    "rnn_tanh": (lambda *a, **k: nn.RNN(*a, nonlinearity="tanh", **k),
                 lambda *a, **k: torch.nn.RNN(*a, nonlinearity="tanh", **k)),
    "rnn_relu": (lambda *a, **k: nn.RNN(*a, nonlinearity="relu", **k),
                 lambda *a, **k: torch.nn.RNN(*a, nonlinearity="relu", **k)),
    "gru": (nn.GRU, torch.nn.GRU),
    "lstm": (nn.LSTM, torch.nn.LSTM),
}


def _t(a):
    return torch.tensor(a, requires_grad=True)


def sequence_parity(mode, num_layers=1, bidirectional=False, batch_first=False, bias=True,
                    with_h0=True, batched=True, L=5, N=3, H_in=4, H=3, seed=0):
    """ParityReport of labutils against torch: forward outputs, the gradients of the input,
    of h_0 (and c_0) and of every parameter."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    make, make_t = MODES[mode]
    opts = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
                bias=bias)
    tm = make_t(H_in, H, **opts).double()
    lab = make(H_in, H, **opts)
    lab.load_state_dict(tm.state_dict())
    D = 2 if bidirectional else 1
    shape = ((N, L, H_in) if batch_first else (L, N, H_in)) if batched else (L, H_in)
    st_shape = (num_layers * D, N, H) if batched else (num_layers * D, H)
    x = rng.standard_normal(shape)
    is_lstm = mode == "lstm"
    states = [rng.standard_normal(st_shape) for _ in range(2 if is_lstm else 1)] if with_h0 else []
    tx, tstates = _t(x), [_t(s) for s in states]
    hx = None if not with_h0 else (tuple(states) if is_lstm else states[0])
    thx = None if not with_h0 else (tuple(tstates) if is_lstm else tstates[0])
    out, hn = lab(x, hx)
    tout, thn = tm(tx, thx)
    hn_list = list(hn) if is_lstm else [hn]
    thn_list = list(thn) if is_lstm else [thn]
    outputs = {"output": (out.copy(), tout)}
    for k, (a, b) in enumerate(zip(hn_list, thn_list)):
        outputs[f"state {k}"] = (a.copy(), b)
    g_out = rng.standard_normal(out.shape)
    g_states = [rng.standard_normal(s.shape) for s in hn_list]
    loss = (tout * torch.tensor(g_out)).sum() + sum(
        (t * torch.tensor(g)).sum() for t, g in zip(thn_list, g_states))
    loss.backward()
    lab.zero_grad()
    dx, dhx = lab.backward(g_out, tuple(g_states) if is_lstm else g_states[0])
    grads = {"grad input": (dx, tx.grad)}
    dstates = list(dhx) if is_lstm else [dhx]
    for k, t in enumerate(tstates):
        grads[f"grad state {k}"] = (dstates[k], t.grad)
    tp = dict(tm.named_parameters())
    assert sorted(tp) == sorted(lab.params), (sorted(tp), sorted(lab.params))
    for name in lab.params:
        grads[f"grad {name}"] = (lab.grads[name], tp[name].grad)
    return parity_report(outputs, grads)


COMBOS = list(itertools.product(MODES, [1, 2], [False, True], [False, True], [True, False]))


@pytest.mark.parametrize("mode,num_layers,bidirectional,batch_first,bias", COMBOS)
def test_sequence_modules_match_torch(mode, num_layers, bidirectional, batch_first, bias):
    """Every option combination, with and without initial states, on seeded random sizes
    (lengths and batches down to 1)."""
    for with_h0 in (True, False):
        seed = COMBOS.index((mode, num_layers, bidirectional, batch_first, bias)) * 2 + with_h0
        r = np.random.default_rng(seed)
        L, N, H_in, H = (int(v) for v in (r.integers(1, 7), r.integers(1, 4), r.integers(1, 6),
                                         r.integers(1, 6)))
        r = sequence_parity(mode, num_layers, bidirectional, batch_first, bias, with_h0,
                            L=L, N=N, H_in=H_in, H=H, seed=seed)
        assert r.ok, f"L={L} N={N} H_in={H_in} H={H}\n{r}"


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("with_h0", [True, False])
def test_unbatched_input_matches_torch(mode, with_h0):
    r = sequence_parity(mode, num_layers=2, bidirectional=True, batched=False,
                        with_h0=with_h0, seed=7)
    assert r.ok, r


@pytest.mark.parametrize("mode", list(MODES))
def test_only_the_final_state_reaches_the_loss(mode):
    """h_n alone (output gradient None), and output alone (state gradient None)."""
    rng = np.random.default_rng(3)
    make, make_t = MODES[mode]
    tm = make_t(3, 4, num_layers=2).double()
    lab = make(3, 4, num_layers=2)
    lab.load_state_dict(tm.state_dict())
    x = rng.standard_normal((6, 2, 3))
    tx = _t(x)
    out, hn = lab(x)
    tout, thn = tm(tx)
    th = thn[0] if mode == "lstm" else thn
    g = rng.standard_normal(th.shape)
    (th * torch.tensor(g)).sum().backward()
    dx, _ = lab.backward(None, (g, None) if mode == "lstm" else g)
    r = parity_report(grads={"grad input": (dx, tx.grad)})
    assert r.ok, r
    lab.zero_grad()
    tx.grad = None
    out, hn = lab(x)
    tout, thn = tm(tx)
    g = rng.standard_normal(out.shape)
    (tout * torch.tensor(g)).sum().backward()
    dx, _ = lab.backward(g, None)
    r = parity_report(grads={"grad input": (dx, tx.grad)})
    assert r.ok, r


CELLS = {
    "rnn_tanh": (lambda *a, **k: nn.RNNCell(*a, nonlinearity="tanh", **k),
                 lambda *a, **k: torch.nn.RNNCell(*a, nonlinearity="tanh", **k)),
    "rnn_relu": (lambda *a, **k: nn.RNNCell(*a, nonlinearity="relu", **k),
                 lambda *a, **k: torch.nn.RNNCell(*a, nonlinearity="relu", **k)),
    "gru": (nn.GRUCell, torch.nn.GRUCell),
    "lstm": (nn.LSTMCell, torch.nn.LSTMCell),
}


@pytest.mark.parametrize("mode,bias,batched,with_hx",
                         list(itertools.product(CELLS, [True, False], [True, False], [True, False])))
def test_cells_match_torch(mode, bias, batched, with_hx):
    rng = np.random.default_rng(11)
    make, make_t = CELLS[mode]
    tm = make_t(4, 3, bias=bias).double()
    lab = make(4, 3, bias=bias)
    lab.load_state_dict(tm.state_dict())
    x = rng.standard_normal((2, 4) if batched else (4,))
    is_lstm = mode == "lstm"
    st = [rng.standard_normal((2, 3) if batched else (3,)) for _ in range(2 if is_lstm else 1)]
    tx, tst = _t(x), [_t(s) for s in st]
    hx = (tuple(st) if is_lstm else st[0]) if with_hx else None
    thx = (tuple(tst) if is_lstm else tst[0]) if with_hx else None
    y, ty = lab(x, hx), tm(tx, thx)
    ys, tys = (list(y), list(ty)) if is_lstm else ([y], [ty])
    outputs = {f"output {i}": (a.copy(), b) for i, (a, b) in enumerate(zip(ys, tys))}
    gs = [rng.standard_normal(a.shape) for a in ys]
    sum((t * torch.tensor(g)).sum() for t, g in zip(tys, gs)).backward()
    dx, dhx = lab.backward(*gs)
    grads = {"grad input": (dx, tx.grad)}
    if with_hx:
        for i, (a, t) in enumerate(zip(list(dhx) if is_lstm else [dhx], tst)):
            grads[f"grad state {i}"] = (a, t.grad)
    for name, p in tm.named_parameters():
        grads[f"grad {name}"] = (lab.grads[name], p.grad)
    r = parity_report(outputs, grads)
    assert r.ok, r


@pytest.mark.parametrize("mode", list(MODES))
def test_state_dicts_load_both_ways(mode):
    make, make_t = MODES[mode]
    lab = make(3, 5, num_layers=2, bidirectional=True, rng=np.random.default_rng(0))
    tm = make_t(3, 5, num_layers=2, bidirectional=True).double()
    assert list(lab.state_dict()) == list(tm.state_dict())   # same names, same order
    tm.load_state_dict({k: torch.tensor(v) for k, v in lab.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((4, 2, 3))
    out, _ = lab(x)
    np.testing.assert_allclose(out, tm(torch.tensor(x))[0].detach().numpy(), rtol=1e-12, atol=1e-14)
    assert "weight_hh_l1_reverse" in lab.params
    G = {"rnn_tanh": 1, "rnn_relu": 1, "gru": 3, "lstm": 4}[mode]
    assert lab.params["weight_ih_l1"].shape == (G * 5, 10)


def test_gate_layouts_are_torchs():
    """LSTM rows are i, f, g, o; GRU rows r, z, n with r multiplying W_hn h + b_hn."""
    rng = np.random.default_rng(2)
    H = 2
    cell = nn.LSTMCell(3, H, rng=rng)
    x, h, c = rng.standard_normal((1, 3)), rng.standard_normal((1, H)), rng.standard_normal((1, H))
    p = cell.params
    s = x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    i, f, g, o = sig(s[:, :H]), sig(s[:, H:2 * H]), np.tanh(s[:, 2 * H:3 * H]), sig(s[:, 3 * H:])
    h1, c1 = cell(x, (h, c))
    np.testing.assert_allclose(c1, f * c + i * g, rtol=1e-14)
    np.testing.assert_allclose(h1, o * np.tanh(c1), rtol=1e-14)
    gru = nn.GRUCell(3, H, rng=rng)
    p = gru.params
    gi, gh = x @ p["weight_ih"].T + p["bias_ih"], h @ p["weight_hh"].T + p["bias_hh"]
    r, z = sig(gi[:, :H] + gh[:, :H]), sig(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    np.testing.assert_allclose(gru(x, h), (1 - z) * n + z * h, rtol=1e-14)


# -- gradient checks (central differences, random directions for big arrays) -----------------

@pytest.mark.parametrize("mode", list(MODES))
def test_gradient_check_sequence(mode):
    rng = np.random.default_rng(4)
    m = MODES[mode][0](3, 4, num_layers=2, bidirectional=True, rng=rng)
    x = rng.standard_normal((5, 2, 3))
    if mode == "lstm":
        report = check_module(m, x, max_entries=300)
    else:
        report = check_module(m, x, 0.5 * rng.standard_normal((4, 2, 4)), max_entries=300)
    assert report.ok, f"{mode}\n{report}"


@pytest.mark.parametrize("mode", ["gru", "lstm"])
def test_gradient_check_big_parameters_along_random_directions(mode):
    rng = np.random.default_rng(10)
    m = MODES[mode][0](8, 16, rng=rng)
    report = check_module(m, rng.standard_normal((6, 2, 8)), max_entries=100, n_directions=3)
    assert any("directions" in k for k in report.errors)
    assert report.ok, f"{mode}\n{report}"


def test_gradient_check_lstm_initial_states():
    """check_module sees only array inputs; (h_0, c_0) is a tuple, so check it by hand."""
    rng = np.random.default_rng(5)
    m = nn.LSTM(3, 4, num_layers=2, rng=rng)
    x = rng.standard_normal((6, 2, 3))
    h0, c0 = rng.standard_normal((2, 2, 4)), rng.standard_normal((2, 2, 4))
    out, (hn, cn) = m(x, (h0, c0))
    R = [rng.standard_normal(a.shape) for a in (out, hn, cn)]

    def loss():
        o, (h, c) = m(x, (h0, c0))
        return sum(np.sum(r * a) for r, a in zip(R, (o, h, c)))
    m(x, (h0, c0))
    _, (dh0, dc0) = m.backward(R[0], (R[1], R[2]))
    for arr, grad in ((h0, dh0), (c0, dc0)):
        for _ in range(3):
            u = rng.standard_normal(arr.shape)
            num = directional_derivative(loss, arr, u)
            assert verdict(rel_error(np.sum(grad * u), num)) == "correct"


# -- long sequences and float32 -----------------------------------------------------------

@pytest.mark.parametrize("mode", list(MODES))
def test_1000_steps_stay_finite(mode):
    rng = np.random.default_rng(6)
    m = MODES[mode][0](4, 8, rng=rng)
    x = rng.standard_normal((1000, 2, 4))
    out, hn = m(x)
    dx, dh0 = m.backward(np.ones_like(out), None)
    leaves = [out, dx] + (list(dh0) if mode == "lstm" else [dh0]) + list(m.grads.values())
    assert all(np.isfinite(a).all() for a in leaves)


def test_float32_works():
    rng = np.random.default_rng(8)
    m = nn.LSTM(3, 4, dtype=np.float32, rng=rng)
    out, (hn, cn) = m(rng.standard_normal((5, 2, 3)).astype(np.float32))
    assert out.dtype == np.float32 and cn.dtype == np.float32
    dx, (dh0, dc0) = m.backward(np.ones_like(out))
    assert dx.dtype == np.float32 and m.grads["weight_hh_l0"].dtype == np.float32


def test_record_state_grads_gives_the_gradient_at_every_step():
    rng = np.random.default_rng(9)
    m = nn.RNN(2, 3, rng=rng)
    m.record_state_grads = True
    x = rng.standard_normal((4, 1, 2))
    out, hn = m(x)
    _, dh0 = m.backward(None, np.ones_like(hn))
    grads = m.state_grads[0]
    assert len(grads) == 5     # dL/dh_k for k = 0 .. 4
    np.testing.assert_allclose(grads[0][0], dh0[0])
    np.testing.assert_allclose(grads[-1][0], np.ones((1, 3)))


# -- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("call,err,pattern", [
    (lambda: nn.RNN(3, 4)(np.zeros((5, 2, 6))), ValueError,
     r"RNN: input must have shape \(\.\.\., 3\), got \(5, 2, 6\)"),
    (lambda: nn.LSTM(3, 4)(np.zeros((5, 2, 3, 1))), ValueError,
     r"LSTM: input must have 2 or 3 dimensions, got shape \(5, 2, 3, 1\)"),
    (lambda: nn.GRU(3, 4)(np.zeros((5, 2, 3), dtype=np.int64)), TypeError,
     r"GRU: input must have a float dtype"),
    (lambda: nn.RNN(3, 4, num_layers=2)(np.zeros((5, 2, 3)), np.zeros((1, 2, 4))), ValueError,
     r"RNN: h_0 must have shape \(num_layers \* num_directions, batch, hidden_size\) = \(2, 2, 4\), "
     r"got \(1, 2, 4\): its num_layers \* num_directions is 1 but the module's"),
    (lambda: nn.GRU(3, 4, bidirectional=True)(np.zeros((5, 2, 3)), np.zeros((2, 3, 4))), ValueError,
     r"GRU: h_0 .* got \(2, 3, 4\): its batch is 3 but the input's batch is 2"),
    (lambda: nn.LSTM(3, 4, batch_first=True)(np.zeros((2, 5, 3)), (np.zeros((1, 2, 4)), np.zeros((1, 5, 4)))),
     ValueError, r"LSTM: c_0 .* its batch is 5 but the input's batch is 2"),
    (lambda: nn.LSTM(3, 4)(np.zeros((5, 2, 3)), np.zeros((1, 2, 4))), TypeError,
     r"LSTM: hx must be a tuple \(h_0, c_0\)"),
    (lambda: nn.RNN(3, 4)(np.zeros((5, 2, 3)), np.zeros((1, 2, 5))), ValueError,
     r"its hidden_size is 5 but the module's hidden_size is 4"),
    (lambda: nn.RNN(3, 4)(np.zeros((5, 3)), np.zeros((1, 2, 4))), ValueError,
     r"RNN: h_0 must have shape \(num_layers \* num_directions, hidden_size\) = \(1, 4\), got \(1, 2, 4\)"),
    (lambda: nn.RNN(3, 4, nonlinearity="sigmoid"), ValueError, r"nonlinearity must be 'tanh' or 'relu'"),
    (lambda: nn.LSTM(3, 4, dropout=0.5), ValueError, r"LSTM: dropout between layers is not implemented"),
    (lambda: nn.RNNCell(3, 4)(np.zeros((2, 5))), ValueError, r"RNNCell: input must have shape \(\.\.\., 3\)"),
    (lambda: nn.GRUCell(3, 4)(np.zeros((2, 3)), np.zeros((3, 4))), ValueError,
     r"GRUCell: hx .* its batch is 3 but the input's batch is 2"),
    (lambda: nn.LSTMCell(3, 4)(np.zeros((2, 3)), (np.zeros((2, 4)), np.zeros((2, 2))))
     , ValueError, r"LSTMCell: c .* its hidden_size is 2"),
    (lambda: nn.LSTM(3, 4)(np.full((2, 1, 3), np.nan)), ValueError, r"LSTM: input contains NaN"),
    (lambda: nn.LSTM(3, 4).backward(np.zeros((2, 1, 4))), RuntimeError, r"LSTM: backward called before forward"),
])
def test_bad_input_gets_a_clear_error(call, err, pattern):
    with pytest.raises(err, match=pattern):
        call()


def test_backward_rejects_gradient_of_wrong_shape():
    m = nn.GRU(3, 4, batch_first=True)
    m(np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match=r"GRU: grad of output must have the output's shape \(2, 5, 4\)"):
        m.backward(np.zeros((5, 2, 4)))
    with pytest.raises(ValueError, match=r"GRU: grad of h_n must have the output's shape \(1, 2, 4\)"):
        m.backward(None, np.zeros((2, 4)))


# -- the toy encoder-decoder with additive attention ------------------------------------------

def test_encoder_decoder_matches_the_same_model_in_torch():
    """Forward (logits and alignment) and every parameter gradient against the same formula
    in torch (torch GRUs with the same weights, the additive score written out)."""
    from torch.func import functional_call
    rng = np.random.default_rng(20)
    V = 9
    m = AttentionEncoderDecoder(V, 3, 4, 5, rng=rng)
    src, tin = np.eye(V)[rng.integers(0, 8, (2, 4))], np.eye(V)[rng.integers(0, V, (2, 3))]
    P = {k: torch.tensor(a, requires_grad=True) for k, a in m.params.items()}
    enc = torch.nn.GRU(3, 4, batch_first=True, bidirectional=True).double()
    dec = torch.nn.GRU(3, 4, batch_first=True).double()

    def sub(prefix):
        return {k[len(prefix):]: t for k, t in P.items() if k.startswith(prefix)}
    K, _ = functional_call(enc, sub("encoder."), (torch.tensor(src) @ P["enc_embed.weight"].T,))
    Q, _ = functional_call(dec, sub("decoder."), (torch.tensor(tin) @ P["dec_embed.weight"].T,))
    a = Q @ P["attention.query_proj.weight"].T
    b = K @ P["attention.key_proj.weight"].T + P["attention.key_proj.bias"]
    s = (torch.tanh(a[:, :, None] + b[:, None]) @ P["attention.score_proj.weight"].T)[..., 0]
    w = torch.softmax(s, -1)
    logits = torch.cat([Q, w @ K], -1) @ P["out.weight"].T + P["out.bias"]
    lab_logits, lab_w = m(src, tin)
    g1, g2 = rng.standard_normal(lab_logits.shape), rng.standard_normal(lab_w.shape)
    ((logits * torch.tensor(g1)).sum() + (w * torch.tensor(g2)).sum()).backward()
    m.zero_grad()
    m.backward(g1, g2)
    r = parity_report({"logits": (lab_logits, logits), "weights": (lab_w, w)},
                      {f"grad {k}": (m.grads[k], P[k].grad) for k in P})
    assert r.ok, r


def test_encoder_decoder_greedy_decode_shapes_and_rows_sum_to_one():
    rng = np.random.default_rng(21)
    m = AttentionEncoderDecoder(6, 4, 5, 6, rng=rng)
    tokens, align = m.greedy_decode(np.eye(6)[rng.integers(0, 5, (3, 4))], start=5, steps=4)
    assert tokens.shape == (3, 4) and align.shape == (3, 4, 4)
    np.testing.assert_allclose(align.sum(-1), 1.0)
    with pytest.raises(ValueError, match=r"AttentionEncoderDecoder: src must have shape \(\.\.\., 6\)"):
        m.greedy_decode(np.zeros((3, 4, 5)), start=5, steps=2)


# -- the public pairs (what chapter 4 prints) ----------------------------------------------------

from labutils.gradcheck import numerical_gradient  # noqa: E402
from labutils.nn import rnn as rnn_pairs  # noqa: E402
from labutils.nn import rnn_layers  # noqa: E402

STEPS = {"rnn_tanh": rnn_pairs.RNN_STEP, "rnn_relu": rnn_pairs.rnn_step("relu"),
         "gru": rnn_pairs.GRU_STEP, "lstm": rnn_pairs.LSTM_STEP}


def _pair_case(kind, seed, L=None, bias=True):
    """Random inputs of a step pair (or of a sequence of length L), a state, weights, and
    random upstream gradients, N = 3, H_in = 4, H = 5."""
    rng = np.random.default_rng(seed)
    step = STEPS[kind]
    G, N, H_in, H = step.gates, 3, 4, 5
    x = rng.standard_normal((N, H_in) if L is None else (L, N, H_in))
    state = tuple(rng.standard_normal((N, H)) for _ in range(2)) if step.pair else \
        rng.standard_normal((N, H))
    shapes = ((G * H, H_in), (G * H, H), (G * H,), (G * H,))
    weights = [rng.standard_normal(s) * 0.5 for s in shapes]
    return rng, step, x, state, weights if bias else weights[:2] + [None, None]


def _leaves(state):
    return list(state) if isinstance(state, tuple) else [state]


@pytest.mark.parametrize("kind", list(STEPS))
@pytest.mark.parametrize("bias", [True, False])
def test_step_pairs_backward_is_the_gradient(kind, bias):
    """Every gradient a step's backward returns equals central differences of its forward."""
    rng, step, x, state, weights = _pair_case(kind, 30, bias=bias)
    new, cache = step.forward(x, state, *weights)
    R = [rng.standard_normal(a.shape) for a in _leaves(new)]

    def loss():
        out, _ = step.forward(x, state, *weights)
        return sum(np.sum(r * a) for r, a in zip(R, _leaves(out)))
    g = step.backward(tuple(R) if step.pair else R[0], cache)
    pairs = [(g.dx, x)] + list(zip(_leaves(g.dstate), _leaves(state)))
    pairs += [(d, w) for d, w in zip((g.dw_ih, g.dw_hh, g.db_ih, g.db_hh), weights)
              if w is not None]
    assert (g.db_ih is None) == (not bias)
    for analytic, arr in pairs:
        assert verdict(rel_error(analytic, numerical_gradient(loss, arr))) == "correct"


@pytest.mark.parametrize("kind", list(STEPS))
@pytest.mark.parametrize("reverse", [False, True])
def test_sequence_pair_is_bptt(kind, reverse):
    """sequence_backward (BPTT over any step pair) against central differences of
    sequence_forward, in both directions, with gradients on the outputs and on the last state."""
    rng, step, x, state, weights = _pair_case(kind, 31, L=4)
    (out, last), cache = rnn_layers.sequence_forward(step.forward, x, state, weights, reverse)
    R_out = rng.standard_normal(out.shape)
    R_last = [rng.standard_normal(a.shape) for a in _leaves(last)]

    def loss():
        (o, s), _ = rnn_layers.sequence_forward(step.forward, x, state, weights, reverse)
        return np.sum(R_out * o) + sum(np.sum(r * a) for r, a in zip(R_last, _leaves(s)))
    g = rnn_layers.sequence_backward(step.backward, R_out,
                                     tuple(R_last) if step.pair else R_last[0], cache)
    pairs = [(g.dx, x)] + list(zip(_leaves(g.dstate), _leaves(state)))
    pairs += list(zip((g.dw_ih, g.dw_hh, g.db_ih, g.db_hh), weights))
    for analytic, arr in pairs:
        assert verdict(rel_error(analytic, numerical_gradient(loss, arr))) == "correct"


def test_sizes_get_the_course_message():
    with pytest.raises(ValueError, match=r"RNN: input_size must be a positive int, got 0"):
        nn.RNN(0, 4)
    with pytest.raises(TypeError, match=r"LSTMCell: hidden_size must be a positive int, got 2.5"):
        nn.LSTMCell(3, 2.5)
    with pytest.raises(ValueError, match=r"GRU: num_layers must be a positive int, got 0"):
        nn.GRU(3, 4, num_layers=0)


def test_names_that_saved_notebooks_call_still_resolve():
    """Chapter 4 as released printed rnn._step and built nn.AttentionEncoderDecoder."""
    assert rnn_pairs._step is rnn_pairs.rnn_step_forward
    assert nn.AttentionEncoderDecoder is AttentionEncoderDecoder
    assert AttentionEncoderDecoder.__module__ == "labutils.lab.seq2seq"
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchLayer'"):
        nn.NoSuchLayer  # noqa: B018
