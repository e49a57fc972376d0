"""What checking the arguments costs, against the forward it guards, at per-time-step sizes
(issue 20's bar: under 5 %).

    python benchmarks/bench_validation.py [--number 200] [--repeats 25]

Cases (float64, batch 4): an RNNCell step and an LSTMCell step (input and hidden 32), the
functional scaled_dot_product_attention and MultiheadAttention (4 heads) on a short sequence
(T = 8, E = 32), and Linear (32 -> 32).

How the validation is timed: by timing the validate calls the forward makes. One forward runs
with every public function of ``labutils.validate`` wrapped to record its top-level calls (a
call made from inside another validate function is part of its caller); those calls, with the
same arguments, are then replayed alone, less the replay loop's own cost (the same loop
calling a function that does nothing). Each of ``--repeats`` rounds times ``--number`` calls
of the forward and then as many replays (the mean per call of each), so that a load that
comes and goes on a shared machine falls on both alike; the table gives the medians over the
rounds, and the share is the validation's median over the forward's. What this leaves out:
the few integer comparisons a module makes between its arguments' shapes outside
``labutils.validate`` (well under a microsecond).

Measured (2 shared cores, under load from other work; five runs): RNNCell 13.8 us forward,
0.8 us of checks, 5.7 % (a type test of input and hx, 0.25 us, and one NaN test of the
output, 0.5 us, whose one BLAS dot alone is 0.3 us: the floor of a NaN test); LSTMCell 2-3 %;
MultiheadAttention 2-6 %; scaled_dot_product_attention 20-33 % (12 array checks: each nested
public function, attention_forward, dot_score_forward, attend_forward and safe_softmax, checks
the same arrays again); Linear 15-20 % (one check, 1 us, against a 6 us forward). Before issue
20's fast paths (``np.isnan(x).any()`` in every check, every input checked), an RNNCell step
spent about 27 % on its checks (two of 5 us against a 37 us forward).
"""
from __future__ import annotations

import argparse
import functools
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from labutils import nn, validate  # noqa: E402
from timing import median_time  # noqa: E402  (benchmarks/timing.py, beside this script)

CHECKS = ("array", "grad", "forward_called", "positive_int", "number", "nonneg_float",
          "probability", "generator", "function", "is_float_array", "may_hold_nan")
BAR = 0.05


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


def recorded_checks(forward: Callable[[], object]) -> list[tuple[Callable, tuple, dict]]:
    """The top-level validate calls one run of ``forward`` makes: (function, args, kwargs)."""
    originals = {name: getattr(validate, name) for name in CHECKS if hasattr(validate, name)}
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
        for name, fn in originals.items():
            setattr(validate, name, recording(fn))
        forward()
    finally:
        for name, fn in originals.items():
            setattr(validate, name, fn)
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
    args = parser.parse_args(argv)
    print(f"validation timed by replaying the validate calls a forward makes; medians of "
          f"{args.repeats} rounds of {args.number} calls each; bar: < {BAR:.0%} of the "
          f"forward\n")
    print(f"{'case':42s} {'calls':>5s} {'forward':>10s} {'validation':>11s} {'share':>7s}")
    for name, forward in cases().items():
        calls = recorded_checks(forward)

        def replay(calls: list = calls) -> None:
            for fn, a, kw in calls:
                fn(*a, **kw)
        idle = [(nothing, a, kw) for _, a, kw in calls]
        t_fwd, t_val = interleaved(forward, replay, args.number, args.repeats)
        t_idle = interleaved(forward, lambda: replay(idle), args.number, args.repeats)[1]
        t_val = max(t_val - t_idle, 0.0)
        share = t_val / t_fwd
        verdict = "met" if share < BAR else "NOT met"
        print(f"{name:42s} {len(calls):5d} {t_fwd * 1e6:8.1f} us {t_val * 1e6:8.2f} us "
              f"{share:6.1%}  {verdict}")


if __name__ == "__main__":
    main(sys.argv[1:])
