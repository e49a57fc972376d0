"""MultiheadAttention forward + backward, labutils (NumPy) against torch on the CPU: time, peak
memory and their scaling with the sequence length T (issue 21).

    .venv/bin/python benchmarks/bench_attention.py [--rounds 3] [--runs 5] [--profile T]

E = 64, 4 heads (d = 16), batch 2, self-attention, need_weights=False, float64 and float32;
one thread for each library. Each number is measured in a fresh process of its own (labutils
and torch alternate, ``--rounds`` pairs; the median over the rounds of the median of
``--runs`` runs after a warm-up). Peak memory is measured above each process's own baseline:
the resident size after the imports and the inputs, before the first call (Linux: the peak is
reset there through /proc/self/clear_refs and read as VmHWM afterwards), so torch's import does
not hide the difference. Targets: time ≤ 2× torch and peak ≤ 1.5× torch at T = 256, 512, 1024
in both dtypes; the benchmark prints each as met / not met with the measured ratio.

Where the time went before (one (N, H, T, T) array per step; T = 1024, float64 / float32, ms,
one thread, measured step by step on a quiet moment of the shared machine):

    forward    in-projection 1.3 / 0.7   scores q kᵀ 19 / 16   + zero bias 11 / 6
               softmax 64 / 35           weights @ V 12 / 5    out_proj 0.4 / 0.2
    backward   dA = dO vᵀ 16 / 10        dv = Aᵀ dO 21 / 7     softmax backward 31 / 18
               dq, dk 33 / 12            in-projection 2.6 / 1.3
    total      ≈ 211 / 111 ms (torch 163 / 43); peak above baseline 401 / 201 MB (torch 40 / 27)

Most of it was memory traffic, not arithmetic: every step allocated and wrote a fresh 64 MB
(float64) array (page faults included), the softmax made five such passes, and the zero bias
was a T×T array of its own. After (``--profile 1024`` prints the same breakdown today): the
scores go one block of query rows at a time through one reused 2 MB tile that stays in cache
(FlashAttention's scheme, see labutils/nn/multihead_attention.py), backward recomputes each
tile of weights from the kept log-sum-exp instead of storing them, and the softmax backward
runs in place. The time is then the seven products with a (T, T) side plus a few passes over
each tile (the exp the largest), and the peak memory is O(N·H·T): the tiles, the heads and the
projections, no T×T array. Measured the same way as the "before" numbers, in the same quarter
hour: T = 1024 float64 134 ms, float32 71 ms (torch 163 / 43); T = 512: 36 / 19 ms (torch
44 / 12); peak above baseline 20 / 14 MB (torch 40 / 27). The matmuls are now about 60 % of the
time, the elementwise passes (exp first) the rest.

Scaling with T: every step with a (Tq, Tk) side is quadratic, the products (matmuls of
2·N·H·T²·d flops each: q kᵀ, A v; in backward q kᵀ again, dO vᵀ, Aᵀ dO, dS k, dSᵀ q) and the
softmax's elementwise passes alike, so doubling T multiplies the time by about 4 once T is well
above E; the four projections (matmuls (N·T, E) × (E, E)) are linear in T and matter only at
small T, where fixed per-call costs (Python, dispatch) dominate both libraries.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")     # one thread for both, as torch below: fair and steady

import numpy as np  # noqa: E402
from timing import median_time  # noqa: E402  (benchmarks/timing.py, beside this script)

E, H, N = 64, 4, 2
LENGTHS = [64, 128, 256, 512, 1024]
TARGET_LENGTHS = (256, 512, 1024)
DTYPES = ("float64", "float32")
MAX_TIME_RATIO, MAX_MEMORY_RATIO = 2.0, 1.5


def lab_step(T, dtype):
    import labutils.nn as nn
    m = nn.MultiheadAttention(E, H, batch_first=True, rng=np.random.default_rng(0), dtype=dtype)
    x = np.random.default_rng(1).standard_normal((N, T, E)).astype(dtype)
    dout = np.ones_like(x)

    def run():
        m(x, x, x, need_weights=False)
        m.backward(dout)
    return run


def torch_step(T, dtype):
    import torch
    torch.set_num_threads(1)
    dt = getattr(torch, dtype)
    m = torch.nn.MultiheadAttention(E, H, batch_first=True).to(dt)
    x = torch.randn(N, T, E, dtype=dt, requires_grad=True)

    def run():
        out, _ = m(x, x, x, need_weights=False)
        out.sum().backward()
    return run


def _status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker(kind, T, dtype, runs):
    """In a fresh process: time one library and its peak memory above its own baseline."""
    run = (lab_step if kind == "labutils" else torch_step)(T, dtype)
    baseline = _status_mb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                  # VmHWM (the peak) starts again from the current size
    except OSError:
        pass
    ms = median_time(run, runs) * 1e3
    print(json.dumps({"ms": ms, "peak_mb": _status_mb("VmHWM") - baseline}))


def run_worker(kind, T, dtype, runs):
    cmd = [sys.executable, __file__, "--worker", kind, "--length", str(T), "--dtype", dtype,
           "--runs", str(runs)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def measure(T, dtype, runs, rounds):
    """Alternating fresh processes (labutils, torch) ``rounds`` times; medians over rounds."""
    pairs = [(run_worker("labutils", T, dtype, runs), run_worker("torch", T, dtype, runs))
             for _ in range(rounds)]
    med = lambda i, key: statistics.median(p[i][key] for p in pairs)  # noqa: E731
    return {"T": T, "dtype": dtype, "lab_ms": med(0, "ms"), "torch_ms": med(1, "ms"),
            "lab_mb": med(0, "peak_mb"), "torch_mb": med(1, "peak_mb")}


def profile(T, dtype):
    """Where the time goes in labutils today: the forward and backward steps, timed one by one
    with the library's own pieces (the same blocks of query rows as the module)."""
    import labutils.nn as nn
    from labutils.nn import heads
    m = nn.MultiheadAttention(E, H, batch_first=True, rng=np.random.default_rng(0), dtype=dtype)
    x = np.random.default_rng(1).standard_normal((N, T, E)).astype(dtype)
    m(x, x, x, need_weights=False)
    c, steps = m._cache, {}

    def timed(name, fn):
        start = time.perf_counter()
        out = fn()
        steps[name] = steps.get(name, 0.0) + (time.perf_counter() - start) * 1e3
        return out
    for _ in range(3):
        timed("forward: in-projection (one GEMM for q, k, v)",
              lambda: heads.in_projection(x, x, x, m.params["in_proj_weight"],
                                          m.params["in_proj_bias"]))
        do = np.ones(c.q.shape, dtype)
        _profile_tiles(c, do, timed)
        timed("forward: out_proj", lambda: m.out_proj(x))
        timed("backward: out_proj and in-projection",
              lambda: (m.out_proj.backward(x),
                       heads.in_projection_backward((x, x, x), c.projection)))
    total = sum(steps.values())
    print(f"\nlabutils MultiheadAttention, T = {T}, {dtype}: where the time goes (ms per "
          f"forward + backward, mean of 3)")
    for name, ms in steps.items():
        print(f"  {name:<52} {ms / 3:7.1f}  {100 * ms / total:4.0f} %")
    print(f"  {'total':<52} {total / 3:7.1f}")


def _profile_tiles(c, do, timed):
    """The module's loops over blocks of query rows, each step timed on its own."""
    from labutils.nn import multihead_attention as M
    Nb, Hb, tq, _ = c.q.shape
    blocks = M._row_blocks(tq, Nb * Hb * c.k.shape[2], c.q.itemsize)
    tile = np.empty((Nb, Hb, blocks[0].stop, c.k.shape[2]), c.q.dtype)
    tile_d, dv = np.empty_like(tile), np.zeros_like(c.v)
    for rows in blocks:
        part = tile[:, :, :rows.stop - rows.start]
        s = timed("forward: scores q kᵀ (matmul, T²)", lambda: M._scores(c, rows, part))
        timed("forward: softmax (max, subtract, exp, sum; T²)", lambda: np.exp(
            np.subtract(s, s.max(-1, keepdims=True), out=s), out=s).sum(-1))
        timed("forward: weights @ V (matmul, T²)", lambda: s @ c.v)
    for rows in blocks:
        part = tile[:, :, :rows.stop - rows.start]
        a = timed("backward: recompute scores (matmul, T²)", lambda: M._scores(c, rows, part))
        timed("backward: recompute weights exp(S − L) (T²)",
              lambda: np.exp(np.subtract(a, c.lse[:, :, rows], out=a), out=a))
        da = timed("backward: dA = dO vᵀ, dv += Aᵀ dO (matmuls, T²)",
                   lambda: (np.add(dv, a.swapaxes(-1, -2) @ do[:, :, rows], out=dv),
                            np.matmul(do[:, :, rows], c.v.swapaxes(-1, -2),
                                      out=tile_d[:, :, :a.shape[2]]))[1])
        timed("backward: softmax backward in place (T²)",
              lambda: np.multiply(np.subtract(da, np.vecdot(da, a)[..., None], out=da), a,
                                  out=da))
        timed("backward: dq = dS k, dk = dSᵀ q (matmuls, T²)",
              lambda: (da @ c.k, da.swapaxes(-1, -2) @ c.q[:, :, rows]))


def report(rows, runs, rounds):
    print(f"# MultiheadAttention forward + backward, E = {E}, {H} heads, batch {N}, "
          f"need_weights=False; median of {runs} runs per process, median over {rounds} "
          f"alternating rounds of fresh processes; one thread each")
    import torch
    print(f"# {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, "
          f"torch {torch.__version__}")
    head = (f"{'dtype':<8} {'T':>5} {'labutils ms':>11} {'torch ms':>9} {'ratio':>6} "
            f"{'x per 2T':>8} {'peak MB lab / torch':>20} {'ratio':>6}")
    print(head)
    print("-" * len(head))
    prev = {}
    for r in rows:
        growth = r["lab_ms"] / prev[r["dtype"]] if r["dtype"] in prev else float("nan")
        prev[r["dtype"]] = r["lab_ms"]
        print(f"{r['dtype']:<8} {r['T']:>5} {r['lab_ms']:>11.1f} {r['torch_ms']:>9.1f} "
              f"{r['lab_ms'] / r['torch_ms']:>5.2f}x {growth:>8.1f} "
              f"{r['lab_mb']:>9.1f} / {r['torch_mb']:<8.1f} {r['lab_mb'] / r['torch_mb']:>5.2f}x")
    print("('x per 2T': labutils' time over its time at half the length; 4 = quadratic)")
    d = E // H
    print(f"Scaling: every step with a (Tq, Tk) side is quadratic in T: the seven matmuls q kᵀ, "
          f"A v (forward) and q kᵀ, dO vᵀ, Aᵀ dO, dS k, dSᵀ q (backward), "
          f"2·N·H·T²·d = {2 * N * H * d} T² flops each,\nand the softmax's elementwise passes "
          f"over the same T² scores (the exp the largest). The four projections, matmuls "
          f"(N·T, E) x (E, E), are linear in T and matter\nonly while T is small against E "
          f"= {E}, where fixed per-call costs also weigh. --profile T prints the split.")
    for r in rows:
        if r["T"] not in TARGET_LENGTHS:
            continue
        t, mem = r["lab_ms"] / r["torch_ms"], r["lab_mb"] / r["torch_mb"]
        print(f"target {r['dtype']}, T = {r['T']}: time <= {MAX_TIME_RATIO}x torch: "
              f"{'met' if t <= MAX_TIME_RATIO else 'NOT met'} ({t:.2f}x); peak memory <= "
              f"{MAX_MEMORY_RATIO}x torch: {'met' if mem <= MAX_MEMORY_RATIO else 'NOT met'} "
              f"({mem:.2f}x)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs per process (median)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternating labutils/torch process pairs (median over them)")
    ap.add_argument("--lengths", type=int, nargs="*", default=LENGTHS)
    ap.add_argument("--dtypes", nargs="*", default=list(DTYPES))
    ap.add_argument("--profile", type=int, metavar="T",
                    help="only print where labutils' time goes at length T")
    ap.add_argument("--json", action="store_true", help="also print the rows as JSON")
    ap.add_argument("--worker", choices=["labutils", "torch"], help=argparse.SUPPRESS)
    ap.add_argument("--length", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--dtype", default="float64", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.length, args.dtype, args.runs)
        return
    if args.profile:
        for dtype in args.dtypes:
            profile(args.profile, dtype)
        return
    rows = [measure(T, dtype, args.runs, args.rounds) for dtype in args.dtypes
            for T in args.lengths]
    report(rows, args.runs, args.rounds)
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
