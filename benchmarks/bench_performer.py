"""FAVOR+ against exact softmax attention in NumPy (labutils.nn.favor), d = 64, m = 256.

    python benchmarks/bench_performer.py [--max-L 16384] [--repeats 3] [--dtype float64]
                                         [--threads 1]

Every (method, L) is measured in a fresh Python process, so that its peak resident memory
(ru_maxrss) belongs to that configuration alone: the table gives the process peak and, in
brackets, the peak above the process's baseline after the inputs were made. Time is the median
of ``--repeats`` runs after one warm-up run.

    exact          one (L, L) score array, softmax in place (labutils.lab.performer_experiments.exact_attention)
    FAVOR+         bidirectional, positive orthogonal features, phi(Q) (phi(K)^T V) / normaliser
    exact causal   the same score array, mask written in place
    FAVOR+ causal  prefix sums in chunks of 64 positions: the largest array is (64, m, d),
                   never (L, m, d) and never (L, L)
"""
import argparse
import json
import os
import resource
import subprocess
import sys

from timing import median_time  # benchmarks/timing.py, beside this script

D, M = 64, 256
METHODS = ["exact", "favor", "exact_causal", "favor_causal"]


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(method, L, repeats, dtype):
    import numpy as np

    from labutils.lab.performer_experiments import exact_attention
    from labutils.nn.favor import favor_attention, orthogonal_gaussian_matrix
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((L, D)).astype(dtype) * 0.5 for _ in range(3))
    W = orthogonal_gaussian_matrix(M, D, rng).astype(dtype)
    causal = method.endswith("causal")
    if method.startswith("exact"):
        def fn():
            return exact_attention(q, k, v, causal)
    else:
        def fn():
            return favor_attention(q, k, v, W, "positive", causal)
    base = rss_mb()
    t = median_time(fn, repeats)           # its warm-up also makes the first peak
    print(json.dumps({"time": t, "peak": rss_mb(), "base": base}))


def measure(method, L, repeats, dtype, threads):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root, OPENBLAS_NUM_THREADS=str(threads),
               OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, __file__, "--child", method, str(L), str(repeats), dtype],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows, a, b, title):
    print(f"\n{title}")
    print(f"{'L':>6} | {'exact ms':>10} {'FAVOR+ ms':>10} {'speed-up':>8} | "
          f"{'exact MB':>16} {'FAVOR+ MB':>16} {'mem ratio':>9}")
    for L, r in rows.items():
        ea, fa = r[a], r[b]
        print(f"{L:>6} | {1e3 * ea['time']:>10.1f} {1e3 * fa['time']:>10.1f} "
              f"{ea['time'] / fa['time']:>7.1f}x | "
              f"{ea['peak']:>7.0f} ({ea['peak'] - ea['base']:>5.0f}) "
              f"{fa['peak']:>7.0f} ({fa['peak'] - fa['base']:>5.0f}) "
              f"{ea['peak'] / fa['peak']:>8.1f}x")
    faster = [L for L, r in rows.items() if r[b]["time"] < r[a]["time"]]
    cross = next((L for L in rows if all(x in faster for x in rows if x >= L)), None)
    print(f"time crossover (FAVOR+ faster from this L on): {cross}")
    return cross


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-L", type=int, default=16384)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        method, L, repeats, dtype = args.child
        child(method, int(L), int(repeats), dtype)
        return
    import numpy as np
    print(f"FAVOR+ vs exact attention, NumPy {np.__version__}, {args.dtype}, d = {D}, m = {M}, "
          f"median of {args.repeats} runs, {args.threads} BLAS thread(s), each (method, L) in a "
          f"fresh process; "
          f"memory: process peak RSS (peak above baseline)")
    Ls = [L for L in (256, 512, 1024, 2048, 4096, 8192, 16384) if L <= args.max_L]
    rows = {}
    for L in Ls:
        rows[L] = {m: measure(m, L, args.repeats, args.dtype, args.threads) for m in METHODS}
        print(f"  measured L = {L}", file=sys.stderr, flush=True)
    cross = table(rows, "exact", "favor", "Bidirectional")
    cross_c = table(rows, "exact_causal", "favor_causal", "Causal (FAVOR+ by chunked prefix sums)")
    top = rows[Ls[-1]]
    met = cross is not None and cross <= 1024
    print(f"\nTargets (bidirectional): crossover by L = 1024: {met}; "
          f"at L = {Ls[-1]}: time x{top['exact']['time'] / top['favor']['time']:.1f}, "
          f"peak memory x{top['exact']['peak'] / top['favor']['peak']:.1f} "
          f"(10x each: {top['exact']['time'] >= 10 * top['favor']['time']} / "
          f"{top['exact']['peak'] >= 10 * top['favor']['peak']})")
    print(f"Causal: crossover {cross_c}; at L = {Ls[-1]}: time "
          f"x{top['exact_causal']['time'] / top['favor_causal']['time']:.1f}, peak memory "
          f"x{top['exact_causal']['peak'] / top['favor_causal']['peak']:.1f}")


if __name__ == "__main__":
    main()
