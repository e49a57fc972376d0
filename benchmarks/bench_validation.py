"""What checking the arguments costs, against the forward it guards, at per-time-step sizes
(issue 20's bar: under 5 %).

    python benchmarks/bench_validation.py [--number 200] [--repeats 25]

Cases (float64, batch 4): an RNNCell step and an LSTMCell step (input and hidden 32), the
functional scaled_dot_product_attention and MultiheadAttention (4 heads) on a short sequence
(T = 8, E = 32), and Linear (32 -> 32).

How the validation is timed: by timing the checks the forward makes. One forward runs with
every public function of ``labutils.validate``, and the DOORS (the fast paths' own shape tests,
``sdpa_common`` and the cells' ``_common``), wrapped to record its top-level calls (a call made
from inside another recorded function is part of its caller); those calls, with the same
arguments, are then replayed alone, less the replay loop's own cost (the same loop calling a
function that does nothing). Each of ``--repeats`` rounds times ``--number`` calls of the
forward and then as many replays (the mean per call of each), so that a load that comes and
goes on a shared machine falls on both alike; the table gives the medians over the rounds, and
the share is the validation's median over the forward's. What this leaves out: the cost of
calling each check (the replay subtracts a call of a function that does nothing), about 0.1 us
a call. ``--validate-only`` leaves the DOORS out, as this benchmark did before they were
counted.

The fast paths: a cell step checks the types, dtypes and shapes of input and hx (``_common``)
and tests its output once for NaN, which a NaN in any input reaches; scaled_dot_product_attention
(``sdpa_common``; a NaN score makes its row of weights NaN) and MultiheadAttention without masks
(``MultiheadAttention._common``; no mask can hide a key, so a NaN in any input reaches every
output it touches) do the same; every check, with its message, runs only when that test fires or
anything is unusual. ``validate.array`` takes a fast path for a float64 array of the right rank
and shape; its NaN test is argmax (NumPy returns the index of the first NaN): exact, ~0.2 us on
128 numbers, ~0.4 us on 1024.

Measured (2 shared cores; three runs each, --repeats 31; forward / checks / share):

    RNNCell step                      12.7-13.1 us / 0.71-0.78 us / 5.6-6.0 %   NOT met
    LSTMCell step                     23.8-25 us / 0.89-0.98 us / 3.7-4.0 %
    scaled_dot_product_attention      20.4-20.9 us / 0.91-0.99 us / 4.3-4.8 %
    MultiheadAttention                76-80 us / 1.0-1.04 us / 1.3-1.4 %
    Linear (informational)            6.0 us / 0.64-0.66 us / 10.5-11 %

Where the RNNCell's 0.7 us goes, and why it stays above 5 % of its 13 us step: its door reads
the type, dtype and shape of two arrays (0.26 us net; each ``.shape`` builds a tuple, ~70 ns,
every other attribute read or comparison 20-40 ns) and the NaN test is one argmax and one item
(0.30-0.35 us net), the cheapest exact test NumPy offers at this size (``np.isnan(y).any()``
costs 1.3 us, ``y.max()`` 1.2 us, any ufunc reduction ~0.8 us). Four earlier versions of the
door (tuple unpacking, ``ndim`` and ``size`` instead of ``shape``, the NaN test inline) all
measured 0.55-0.8 us. The step grows with the batch (13.7 us at 8, 15.5 at 16, 19.6 at 32, for
hidden 32) and the checks do not: the share is ~5 % at batch 8, ~4.5 % at 16, ~3.6 % at 32.
A layer (``nn.RNN``, ``nn.LSTM``) checks its sequence once, not once per step.

History: before these fast paths, on their validate calls alone (load 2.7), the cases spent
5.9 % (RNNCell), 3 % (LSTMCell), 28.5 % (scaled_dot_product_attention, whose forward was then
87 us: 12 array checks, each nested public function checking the same arrays again, and
NumPy's broadcast of the batch shapes, 4 us, in each of them), 4.8 % and 15.8 % (Linear); an
RNNCell step spent about 27 % before issue 20's first fast paths; MultiheadAttention spent
4.2-5.2 % (three full array checks, out_proj's own check of an array it had computed, and a
NaN test of the row maxima of every block of scores) before its fast path. Linear is not one of
the issue's per-time-step cases: its whole forward is 6 us, so 5 % is 0.3 us, about the cost of
the NaN test alone; it stays in the table for reference.
"""
from __future__ import annotations

import argparse
import functools
import inspect
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from labutils import nn, validate  # noqa: E402
from labutils.nn import attention, multihead_attention, rnn  # noqa: E402
from timing import median_time  # noqa: E402  (benchmarks/timing.py, beside this script)

CHECKS = ("array", "grad", "forward_called", "positive_int", "number", "nonneg_float",
          "probability", "generator", "function", "may_hold_nan")
# The checks of a fast path that run outside labutils.validate (shape tests), timed with them.
DOORS = ((attention, "sdpa_common"), (rnn.RNNCellBase, "_common"),
         (multihead_attention.MultiheadAttention, "_common"))
BAR = 0.05
# Not one of the per-time-step cases: a forward of 6 us leaves 0.3 us for the checks,
# about what the NaN test alone costs (argmax over 128 numbers and one item, ~0.25 us).
INFORMATIONAL = {"Linear (4, 32 -> 32)": "informational: a 6 us forward; the NaN test alone "
                                         "is ~4 %"}


def cases() -> dict[str, Callable[[], object]]:
    """Each case's forward, ready to call (inputs made once)."""
    rng = np.random.default_rng(0)
    x, h, c = (rng.standard_normal((4, 32)) for _ in range(3))
    q, k, v = (rng.standard_normal((4, 8, 32)) for _ in range(3))
    rnn, lstm = nn.RNNCell(32, 32, rng=rng), nn.LSTMCell(32, 32, rng=rng)
    mha, linear = nn.MultiheadAttention(32, 4, batch_first=True, rng=rng), nn.Linear(32, 32)
    return {
        "RNNCell step (4, 32)": lambda: rnn(x, h),
        "LSTMCell step (4, 32)": lambda: lstm(x, (h, c)),
        "scaled_dot_product_attention (4, 8, 32)": lambda: nn.scaled_dot_product_attention(q, k, v),
        "MultiheadAttention (4, 8, 32), 4 heads": lambda: mha(q, k, v, need_weights=False),
        "Linear (4, 32 -> 32)": lambda: linear(x),
    }


def recorded_checks(forward: Callable[[], object],
                    doors: bool = True) -> list[tuple[Callable, tuple, dict]]:
    """The top-level check calls one run of ``forward`` makes: (function, args, kwargs). The
    checks: every public function of labutils.validate, and the DOORS unless ``doors`` is
    False."""
    targets = [(validate, name) for name in CHECKS if hasattr(validate, name)]
    targets += list(DOORS) if doors else []
    originals = [(owner, name, inspect.getattr_static(owner, name)) for owner, name in targets]
    calls, depth = [], [0]

    def recording(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: object, **kwargs: object) -> object:
            if depth[0] == 0:
                calls.append((fn, args, kwargs))
            depth[0] += 1
            try:
                return fn(*args, **kwargs)
            finally:
                depth[0] -= 1
        return wrapper
    try:
        for owner, name, fn in originals:
            wrapped = (classmethod(recording(fn.__func__)) if isinstance(fn, classmethod)
                       else recording(fn))
            setattr(owner, name, wrapped)
        forward()
    finally:
        for owner, name, fn in originals:
            setattr(owner, name, fn)
    return calls


def interleaved(forward: Callable[[], object], replay: Callable[[], object], number: int,
                repeats: int) -> tuple[float, float]:
    """Median seconds per call of ``forward`` and of ``replay`` over ``repeats`` rounds, each
    timing ``number`` calls of one and then of the other."""
    def loop(fn: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(number):
                fn()
        return run
    rounds = [(median_time(loop(forward), 1) / number, median_time(loop(replay), 1) / number)
              for _ in range(repeats)]
    return statistics.median(f for f, _ in rounds), statistics.median(v for _, v in rounds)


def nothing(*args: object, **kwargs: object) -> None:
    """What a replayed call costs without the check: the replay loop's own overhead."""


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--validate-only", action="store_true",
                        help="time only the labutils.validate calls, not the fast paths' shape "
                             "tests (the accounting before they were counted)")
    args = parser.parse_args(argv)
    print(f"validation timed by replaying the checks a forward makes (labutils.validate and "
          f"the fast paths' shape tests); medians of "
          f"{args.repeats} rounds of {args.number} calls each; bar: < {BAR:.0%} of the "
          f"forward\n")
    print(f"{'case':42s} {'calls':>5s} {'forward':>10s} {'validation':>11s} {'share':>7s}")
    for name, forward in cases().items():
        calls = recorded_checks(forward, doors=not args.validate_only)

        def replay(calls: list = calls) -> None:
            for fn, a, kw in calls:
                fn(*a, **kw)
        idle = [(nothing, a, kw) for _, a, kw in calls]
        t_fwd, t_val = interleaved(forward, replay, args.number, args.repeats)
        t_idle = interleaved(forward, lambda: replay(idle), args.number, args.repeats)[1]
        t_val = max(t_val - t_idle, 0.0)
        share = t_val / t_fwd
        verdict = INFORMATIONAL.get(name) or ("met" if share < BAR else "NOT met")
        print(f"{name:42s} {len(calls):5d} {t_fwd * 1e6:8.1f} us {t_val * 1e6:8.2f} us "
              f"{share:6.1%}  {verdict}")


if __name__ == "__main__":
    main(sys.argv[1:])
