"""Autograder checks for chapter 5's blocks built on attention: multi-head attention forward and
backward, rotary embeddings, the sequence loss with position weights (the objectives of GPT and
BERT), and attention with a key-value cache. ``labutils.grading.attention`` re-exports them, so
the notebook imports every check of the chapter from one place.

Besides wrong values, every check catches (see ``core``): calls to the course's references
(anything in ``labutils``), torch, ``scipy.special``; float32 answers; NaN or inf; changes made
in place to an argument; arguments ignored (each check has cases where ignoring one changes the
answer). ``hidden=True``: the hidden tests (other random cases, from the class seed)."""
import math
from collections.abc import Callable

import numpy as np

from ..nn.heads import merge_heads as _merge, split_heads as _split
from ..nn.masks import causal_mask as _causal_mask
from ..nn.rotary import _rotate, rotary_forward
from ..tolerances import GRADER_TIME_LIMIT
from .adapted import hidden_title, quiet
from .attention import _reference_attention, _reference_attention_backward
from .core import Problem, call_student, check_function, gradient_check, numeric_check
from .hidden import seed as hidden_seed
from .published import published

__all__ = ["CAPSTONE_ALLOW", "check_mha_forward", "check_mha_backward", "check_rotary",
           "check_sequence_cross_entropy", "check_attend_with_cache", "reference_mha_forward",
           "reference_mha_backward", "reference_sequence_cross_entropy",
           "reference_attend_with_cache", "check_beam_search", "reference_beam_search"]

# the student's own helpers are notebook functions; these course forwards may be called too
_ALLOW = ("labutils.nn.attention.safe_softmax", "labutils.nn.heads.split_heads",
          "labutils.nn.heads.merge_heads")
# what the capstone's exercises may call (the checks of its attention exercises allow these)
CAPSTONE_ALLOW = _ALLOW + ("labutils.nn.attention.masked_softmax",
                           "labutils.nn.attention.scaled_dot_product_attention")


def _seed(base: int, seed: int | None, hidden: bool) -> np.random.Generator:
    return np.random.default_rng(hidden_seed(base + 100) if hidden else base if seed is None
                                 else seed)


# -- multi-head self-attention, forward and backward ---------------------------------------------
def _mha_forward(x: np.ndarray, w_q: np.ndarray, w_k: np.ndarray, w_v: np.ndarray,
                 w_o: np.ndarray, num_heads: int, mask: np.ndarray) -> np.ndarray:
    """x: (N, T, E), each w (E, E) (y = x wᵀ, as torch), mask bool (T, T) True = masked
    -> out (N, T, E)."""
    q, k, v = (_split(x @ w.T, num_heads) for w in (w_q, w_k, w_v))
    return _merge(_reference_attention(q, k, v, mask)[0]) @ w_o.T


def _mha_backward(dout: np.ndarray, x: np.ndarray, w_q: np.ndarray, w_k: np.ndarray,
                  w_v: np.ndarray, w_o: np.ndarray, num_heads: int, mask: np.ndarray) -> tuple:
    """-> (dx, dw_q, dw_k, dw_v, dw_o) of _mha_forward's output for the upstream dout."""
    q, k, v = (_split(x @ w.T, num_heads) for w in (w_q, w_k, w_v))
    merged = _merge(_reference_attention(q, k, v, mask)[0])
    dw_o = np.einsum("nti,ntj->ij", dout, merged)
    grads = _reference_attention_backward(_split(dout @ w_o, num_heads), q, k, v, mask)
    dproj = [_merge(g) for g in grads]
    dws = [np.einsum("nti,ntj->ij", d, x) for d in dproj]
    dx = sum(d @ w for d, w in zip(dproj, (w_q, w_k, w_v)))
    return (dx, *dws, dw_o)


reference_mha_forward = published(_mha_forward, "reference_mha_forward")
reference_mha_backward = published(_mha_backward, "reference_mha_backward")


def _mha_cases(r: np.random.Generator, backward: bool = False) -> list[tuple[str, tuple]]:
    cases = []
    for label, (n, t, e, h), mask in [
            ("batch of 2, 4 tokens, E = 6, 2 heads, causal", (2, 4, 6, 2), _causal_mask(4)),
            ("batch of 1, 5 tokens, E = 8, 4 heads, no mask", (1, 5, 8, 4), np.zeros((5, 5), bool)),
            ("one head (E = 4), 3 tokens, causal", (2, 3, 4, 1), _causal_mask(3)),
            ("a single token, E = 6, 3 heads", (1, 1, 6, 3), np.zeros((1, 1), bool))]:
        x = r.standard_normal((n, t, e))
        ws = [r.standard_normal((e, e)) / math.sqrt(e) for _ in range(4)]
        args = (x, *ws, h, mask)
        cases.append((label, (r.standard_normal((n, t, e)), *args) if backward else args))
    return cases


def _mha_variant(heads: int | None = None, transpose: bool = True, out_proj: bool = True,
                 mask: bool = True) -> Callable[..., np.ndarray]:
    def forward(x: np.ndarray, w_q: np.ndarray, w_k: np.ndarray, w_v: np.ndarray,
                w_o: np.ndarray, h: int, m: np.ndarray) -> np.ndarray:
        h = h if heads is None else heads
        q, k, v = (_split(x @ (w.T if transpose else w), h) for w in (w_q, w_k, w_v))
        o = _merge(_reference_attention(q, k, v, m if mask else np.zeros_like(m))[0])
        return o @ (w_o.T if transpose else w_o) if out_proj else o
    return forward


def check_mha_forward(mha_forward: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                      seed: int | None = None, hidden: bool = False) -> None:
    """mha_forward(x, w_q, w_k, w_v, w_o, num_heads, mask) -> out (N, T, E)."""
    cases = _mha_cases(_seed(7, seed, hidden))
    check_function(mha_forward, _mha_forward, cases, time_limit_s=time_limit_s,
                   title=hidden_title(mha_forward, hidden), allow=_ALLOW, mistakes=quiet({
        "num_heads was ignored: split the projections into num_heads heads of width E / H "
        "and attend in each head separately (one softmax per head, scaled by 1/√(E/H))":
            _mha_variant(heads=1),
        "the weights are (E_out, E_in) as in torch: project with x @ w.T, not x @ w":
            _mha_variant(transpose=False),
        "after merging the heads, apply the output projection w_o (out = merged @ w_o.T)":
            _mha_variant(out_proj=False),
        "the mask was ignored: pass it to the attention of every head":
            _mha_variant(mask=False),
    }))


def _mha_backward_mistake(kind: str) -> Callable[..., tuple]:
    def wrong(dout: np.ndarray, x: np.ndarray, w_q: np.ndarray, w_k: np.ndarray,
              w_v: np.ndarray, w_o: np.ndarray, h: int, m: np.ndarray) -> tuple:
        dx, dwq, dwk, dwv, dwo = _mha_backward(dout, x, w_q, w_k, w_v, w_o, h, m)
        if kind == "transposed dW":
            return dx, dwq.T, dwk.T, dwv.T, dwo.T
        if kind == "only dq":
            q = _merge(_reference_attention_backward(
                _split(dout @ w_o, h), *(_split(x @ w.T, h) for w in (w_q, w_k, w_v)), m)[0])
            return q @ w_q, dwq, dwk, dwv, dwo
        if kind == "no out proj":
            return _mha_backward(dout @ np.linalg.inv(w_o), x, w_q, w_k, w_v, w_o, h, m)
        return _mha_backward(dout, x, w_q, w_k, w_v, w_o, 1, m)
    return wrong


def check_mha_backward(mha_backward: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                       seed: int | None = None, hidden: bool = False) -> None:
    """mha_backward(dout, x, w_q, w_k, w_v, w_o, num_heads, mask)
    -> (dx, dw_q, dw_k, dw_v, dw_o)."""
    cases = _mha_cases(_seed(8, seed, hidden), backward=True)
    names = ["dx", "dw_q", "dw_k", "dw_v", "dw_o"]
    report = check_function(mha_backward, _mha_backward, cases, names=names, finish=False,
                            time_limit_s=time_limit_s, allow=_ALLOW,
                            title=hidden_title(mha_backward, hidden), mistakes=quiet({
        "the projections are y = x wᵀ, so dw = dyᵀ x summed over batch and tokens (shape "
        "(E_out, E_in)); you returned its transpose": _mha_backward_mistake("transposed dW"),
        "x feeds the queries, the keys AND the values: dx is the sum of the three paths "
        "(dQ w_q + dK w_k + dV w_v)": _mha_backward_mistake("only dq"),
        "num_heads was ignored: split the upstream gradient into the same heads as the forward "
        "and go back through each head's attention": _mha_backward_mistake("one head"),
    }))
    args = cases[0][1]
    gradient_check(report, mha_backward, args, lambda: np.sum(args[0] * _mha_forward(*args[1:])),
                   args[1:6], names, time_limit_s=time_limit_s, allow=_ALLOW)
    report.finish()


# -- rotary embeddings -----------------------------------------------------------------------------
def _rotary(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
    return rotary_forward(x, positions)[0]


def _rotary_variant(kind: str) -> Callable[..., np.ndarray]:
    def wrong(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
        d = x.shape[-1]
        if kind == "ignored positions":
            positions = np.arange(x.shape[-2])
        expo = np.arange(d // 2) / d if kind == "i/d" else np.arange(0, d, 2) / d
        angles = np.asarray(positions, float)[:, None] * 10000.0 ** -expo
        c, s = np.cos(angles), np.sin(angles)
        if kind == "halves":
            a, b = x[..., :d // 2], x[..., d // 2:]
            return np.concatenate([a * c - b * s, a * s + b * c], axis=-1)
        return _rotate(x, c, -s if kind == "direction" else s)
    return wrong


def check_rotary(rotary: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                 seed: int | None = None, hidden: bool = False) -> None:
    """rotary(x (..., T, d), positions (T,)) -> (..., T, d)."""
    r = _seed(9, seed, hidden)
    cases = [("batch of 2, positions 0..3, d = 8", (r.standard_normal((2, 4, 8)), np.arange(4))),
             ("3 new tokens at positions 5, 6, 7 (a cache)",
              (r.standard_normal((1, 3, 6)), np.arange(5, 8))),
             ("heads (N, H, T, d), positions 0, 3, 7, 8, 20",
              (r.standard_normal((2, 2, 5, 4)), np.array([0, 3, 7, 8, 20]))),
             ("one sequence (T, d), d = 2, far positions",
              (r.standard_normal((3, 2)), np.array([1, 100, 1000])))]
    check_function(rotary, _rotary, cases, time_limit_s=time_limit_s,
                   title=hidden_title(rotary, hidden), mistakes=quiet({
        "the positions were ignored (token t rotated by t): rotate token t by the angle "
        "positions[t]·ω_i": _rotary_variant("ignored positions"),
        "the rotation turns the wrong way: turn each pair by +positions[t]·ω_i (counter-"
        "clockwise), the way the pairs of the sinusoidal table advance with t":
            _rotary_variant("direction"),
        "pair i is the features 2i and 2i+1 side by side (as in the sinusoidal table), not i "
        "and i + d/2": _rotary_variant("halves"),
        "the frequency of pair i is 10000^(-2i/d), with i the PAIR index: the exponent is 2i/d":
            _rotary_variant("i/d"),
    }))


# -- the sequence loss with position weights -------------------------------------------------------
def _sequence_cross_entropy(logits: np.ndarray, targets: np.ndarray, weights: np.ndarray):
    """logits (N, T, C), targets int (N, T), weights (N, T) >= 0 ->
    (loss = Σ w·nll / Σ w, dlogits (N, T, C))."""
    m = logits.max(-1, keepdims=True)
    lse = m + np.log(np.exp(logits - m).sum(-1, keepdims=True))
    logp = logits - lse
    total = weights.sum()
    nll = -np.take_along_axis(logp, targets[..., None], -1)[..., 0]
    grad = np.exp(logp)
    np.put_along_axis(grad, targets[..., None], np.take_along_axis(grad, targets[..., None], -1)
                      - 1.0, -1)
    return float((weights * nll).sum() / total), grad * (weights / total)[..., None]


reference_sequence_cross_entropy = published(_sequence_cross_entropy,
                                             "reference_sequence_cross_entropy")


def _loss_variant(kind: str) -> Callable[..., tuple]:
    def wrong(logits: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> tuple:
        if kind == "ignored weights":
            weights = np.ones_like(weights)
        loss, grad = _sequence_cross_entropy(logits, targets, weights)
        total = weights.sum()
        if kind == "ignored weights":
            return loss, grad
        if kind == "divide by count":
            return loss * total / weights.size, grad * total / weights.size
        if kind == "unweighted gradient":
            return loss, _sequence_cross_entropy(logits, targets, np.ones_like(weights))[1] \
                * weights.size / total
        if kind == "no one-hot":
            p = np.exp(logits - logits.max(-1, keepdims=True))
            return loss, p / p.sum(-1, keepdims=True) * (weights / total)[..., None]
        with np.errstate(all="ignore"):           # "unstable": no maximum subtracted
            e = np.exp(logits)
            logp = logits - np.log(e.sum(-1, keepdims=True))
            nll = -np.take_along_axis(logp, targets[..., None], -1)[..., 0]
            onehot = np.eye(logits.shape[-1])[targets]
            grad = (e / e.sum(-1, keepdims=True) - onehot) * (weights / total)[..., None]
            return float((weights * nll).sum() / total), grad
    return wrong


def _loss_cases(r: np.random.Generator) -> list[tuple[str, tuple]]:
    def batch(n: int, t: int, c: int, shift: float | np.ndarray = 0.0) -> tuple:
        return 3 * r.standard_normal((n, t, c)) + shift, r.integers(0, c, (n, t))
    gpt, bert, pad, big, one = batch(2, 5, 4), batch(2, 8, 6), batch(3, 4, 5), \
        batch(2, 3, 4, np.array([[[1000.0]], [[-1000.0]]])), batch(1, 1, 3)
    chosen = np.zeros((2, 8))
    chosen[0, [1, 5]] = chosen[1, 3] = 1.0
    return [("every position trained (GPT: next token)", (*gpt, np.ones((2, 5)))),
            ("3 masked positions of 16 trained (BERT)", (*bert, chosen)),
            ("padding at the ends gets weight 0",
             (*pad, np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0.]]))),
            ("large logits (near ±1000)", (*big, np.ones((2, 3)))),
            ("a single position", (*one, np.ones((1, 1))))]


def check_sequence_cross_entropy(sequence_cross_entropy: Callable,
                                 time_limit_s: float = GRADER_TIME_LIMIT, seed: int | None = None,
                                 hidden: bool = False) -> None:
    """sequence_cross_entropy(logits (N, T, C), targets (N, T), weights (N, T))
    -> (loss, dlogits)."""
    cases = _loss_cases(_seed(10, seed, hidden))
    report = check_function(
        sequence_cross_entropy, _sequence_cross_entropy, cases, names=["loss", "dlogits"],
        time_limit_s=time_limit_s, title=hidden_title(sequence_cross_entropy, hidden),
        finish=False, mistakes=quiet({
            "the weights were ignored: only the positions with weight > 0 count, each with its "
            "weight, in the loss and in the gradient": _loss_variant("ignored weights"),
            "divide by the sum of the weights (the number of trained positions), not by the "
            "number of all positions": _loss_variant("divide by count"),
            "the gradient of a position is its weight times (softmax − one-hot) / Σ weights: a "
            "position with weight 0 gets no gradient": _loss_variant("unweighted gradient"),
            "d(−log p_target)/d logits is softmax MINUS the one-hot of the target":
                _loss_variant("no one-hot"),
            "log Σ exp(logits) overflows at large logits: subtract each row's maximum first "
            "(log Σ exp(z) = m + log Σ exp(z − m))": _loss_variant("unstable")}))
    logits, targets, weights = cases[1][1]
    try:
        got = call_student(sequence_cross_entropy, (logits, targets, weights), None, time_limit_s)
        numeric_check(report, "dlogits by central differences", got[1],
                      lambda: _sequence_cross_entropy(logits, targets, weights)[0], logits)
    except (Problem, TypeError, IndexError) as p:
        report.fail("gradient check", f"could not run: {p}")
    report.finish()


# -- attention with a key-value cache ----------------------------------------------------------
def _attend_with_cache(q: np.ndarray, k: np.ndarray, v: np.ndarray, k_cache: np.ndarray,
                       v_cache: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q, k, v: (N, Tn, d) of the new tokens; k_cache, v_cache: (N, Tp, d) of the earlier ones
    -> (out (N, Tn, dv), k_all, v_all (N, Tp + Tn, d)); causal, aligned to the end."""
    k_all = np.concatenate([k_cache, k], axis=-2)
    v_all = np.concatenate([v_cache, v], axis=-2)
    mask = _causal_mask(q.shape[-2], k_all.shape[-2])
    return _reference_attention(q, k_all, v_all, mask)[0], k_all, v_all


reference_attend_with_cache = published(_attend_with_cache, "reference_attend_with_cache")


def _cache_variant(kind: str) -> Callable[..., tuple]:
    def wrong(q: np.ndarray, k: np.ndarray, v: np.ndarray, kc: np.ndarray, vc: np.ndarray):
        if kind == "no cache":
            return _attend_with_cache(q, k, v, kc[..., :0, :], vc[..., :0, :])[0], \
                *_attend_with_cache(q, k, v, kc, vc)[1:]
        k_all = np.concatenate([k, kc] if kind == "order" else [kc, k], axis=-2)
        v_all = np.concatenate([v, vc] if kind == "order" else [vc, v], axis=-2)
        tq, tk = q.shape[-2], k_all.shape[-2]
        mask = {"start": _causal_mask(tq, tk, align="start"),
                "no mask": np.zeros((tq, tk), bool)}.get(kind, _causal_mask(tq, tk))
        return _reference_attention(q, k_all, v_all, mask)[0], k_all, v_all
    return wrong


def check_attend_with_cache(attend_with_cache: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                            seed: int | None = None, hidden: bool = False) -> None:
    """attend_with_cache(q, k, v, k_cache, v_cache) -> (out, k_all, v_all)."""
    r = _seed(11, seed, hidden)
    cases = []
    for label, (n, tp, tn, d) in [("the first token (empty cache)", (2, 0, 1, 4)),
                                  ("one new token after 4 cached", (2, 4, 1, 4)),
                                  ("3 new tokens after 2 cached", (1, 2, 3, 3)),
                                  ("a whole prompt of 5 tokens, empty cache", (2, 0, 5, 2))]:
        q, k, v, kc, vc = (r.standard_normal((n, t, d)) for t in (tn, tn, tn, tp, tp))
        cases.append((label, (q, k, v, kc, vc)))
    check_function(attend_with_cache, _attend_with_cache, cases, time_limit_s=time_limit_s,
                   names=["out", "k_all", "v_all"], title=hidden_title(attend_with_cache, hidden),
                   mistakes=quiet({
        "the cached keys and values were ignored: the new queries attend to the earlier tokens "
        "AND to themselves": _cache_variant("no cache"),
        "append the new keys and values AFTER the cached ones (positions keep their order)":
            _cache_variant("order"),
        "the causal mask aligns to the END: the last new query is the newest token and sees "
        "every key": _cache_variant("start"),
        "several new tokens at once need the causal mask among themselves: a new token must "
        "not see the ones after it": _cache_variant("no mask"),
    }))


# -- beam search ---------------------------------------------------------------------------------
def _beam(step_fn: Callable[[np.ndarray], np.ndarray], bos: int, max_len: int, beam_size: int):
    """-> (tokens (max_len,) without bos, total log-probability) of the best hypothesis."""
    from ..lab.decoding import beam_search
    return beam_search(step_fn, bos, max_len, beam_size)[0]


def _markov(seed: int, vocab: int, trap: bool = False) -> Callable[[np.ndarray], np.ndarray]:
    """step_fn of a Markov chain: the next token's log-probabilities depend on the last token.
    trap: greedy takes token 1 first (0.6) but every continuation of 1 is flat, while 2 (0.4)
    leads to a near-certain path, so the best sequence starts with 2."""
    r = np.random.default_rng(seed)
    table = r.standard_normal((vocab, vocab)) * 2
    if trap:
        table[:] = 0.0
        table[0, :] = -30.0
        table[0, 1], table[0, 2] = np.log(0.6), np.log(0.4)
        table[2, :] = -30.0
        table[2, 2] = 0.0
    logp = table - np.log(np.exp(table).sum(1, keepdims=True))

    def step_fn(prefixes: np.ndarray) -> np.ndarray:
        return logp[np.asarray(prefixes)[:, -1]]
    return step_fn


def _beam_variant(kind: str) -> Callable[..., tuple[np.ndarray, float]]:
    def wrong(step_fn: Callable[[np.ndarray], np.ndarray], bos: int, max_len: int, beam_size: int):
        if kind == "greedy":
            beam_size = 1
        if kind == "last step":
            live = [(np.array([bos]), 0.0)]
            for _ in range(max_len):
                logp = step_fn(np.stack([p for p, _ in live]))
                flat = np.argsort(-logp, axis=None, kind="stable")[:beam_size]
                live = [(np.append(live[f // logp.shape[1]][0], f % logp.shape[1]),
                         live[f // logp.shape[1]][1] + logp.flat[f]) for f in flat]
            return live[0][0][1:], float(live[0][1])
        return _beam(step_fn, bos, max_len, beam_size)
    return wrong


def check_beam_search(beam_search: Callable, time_limit_s: float = GRADER_TIME_LIMIT,
                      seed: int | None = None, hidden: bool = False) -> None:
    """beam_search(step_fn, bos, max_len, beam_size) -> (tokens (max_len,), log_prob)."""
    base = int(_seed(12, seed, hidden).integers(1 << 30))
    cases = [("a greedy trap: the best sequence does not start with the likeliest token",
              (_markov(0, 3, trap=True), 0, 4, 2)),
             ("beam of 1 (greedy), 5 tokens of 4", (_markov(base, 4), 0, 5, 1)),
             ("beam of 3, 6 tokens of 5", (_markov(base + 1, 5), 1, 6, 3)),
             ("beam of 4, 4 tokens of 6", (_markov(base + 2, 6), 2, 4, 4)),
             ("a single step", (_markov(base + 3, 5), 0, 1, 2))]
    check_function(beam_search, _beam, cases, names=["tokens", "log_prob"],
                   time_limit_s=time_limit_s, title=hidden_title(beam_search, hidden),
                   mistakes=quiet({
        "beam_size was ignored (that is greedy decoding): keep the beam_size best prefixes at "
        "every step": _beam_variant("greedy"),
        "rank the extensions by the TOTAL log-probability of the prefix plus the new token, not "
        "by the new token's log-probability alone": _beam_variant("last step"),
    }))


reference_beam_search = published(_beam, "reference_beam_search")
