"""labutils Conv2d forward + backward against torch on CPU, float32.

    .venv/bin/python benchmarks/bench_conv.py [--runs 7] [--rounds 3] [--threads N]

Batch 32, 32x32 inputs, 3x3 kernel, padding 1, 3->64 and 64->64 channels. For each, the
median time of forward + backward (input, weight and bias gradients) over ``--runs`` runs,
after one warm-up, for labutils and torch; the ratio of the two; and the achieved GFLOP/s
(the three products of the layer, 3 x 2·C_out·C_in·k²·N·H_out·W_out flops) as a fraction of
NumPy's own matmul GFLOP/s on float32 matrices of the same shapes as those three products,
measured in the same run:

    forward  (C_out, C_in·k²) @ (C_in·k², N·HW)
    dW       (C_out, N·HW)    @ (N·HW, C_in·k²)
    dX_col   (C_in·k², C_out) @ (C_out, N·HW)

Each library runs in a fresh process of its own (torch's OpenMP threads keep spinning for a
while after each call and would slow NumPy's BLAS threads down if they shared a process);
the labutils process also measures the matmul rate, and each process reports its peak memory.
Both libraries use ``--threads`` threads (default: all cores; OpenBLAS's count is fixed
before NumPy is imported). On a machine shared with other work, OpenBLAS threads that wait
for a busy core make the multi-threaded matmul rate erratic; ``--threads 1`` gives the stable
comparison. Other processes make single runs noisy, hence medians.
"""
import argparse
import json
import os
import platform
import subprocess
import sys


def _threads_from_argv():
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return None


if _threads_from_argv():   # must happen before numpy/torch start their thread pools
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = _threads_from_argv()

import numpy as np  # noqa: E402
from timing import median_time  # noqa: E402  (benchmarks/timing.py, beside this script)


def bench_numpy(c_in, c_out=64, n=32, size=32, k=3, runs=7, seed=0):
    """labutils forward+backward and NumPy matmul on the same shapes (seconds)."""
    import labutils.nn as nn
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in, size, size)).astype(np.float32)
    dy = rng.standard_normal((n, c_out, size, size)).astype(np.float32)
    lab = nn.Conv2d(c_in, c_out, k, padding=1, dtype=np.float32)

    def run_lab():
        lab.zero_grad()
        lab(x)
        lab.backward(dy)
    t_lab = median_time(run_lab, runs)

    ck, p = c_in * k * k, n * size * size
    a_w, b_x = rng.standard_normal((c_out, ck), np.float32), rng.standard_normal((ck, p), np.float32)
    a_g, b_xt = rng.standard_normal((c_out, p), np.float32), rng.standard_normal((p, ck), np.float32)
    a_wt = rng.standard_normal((ck, c_out), np.float32)
    t_mm = (median_time(lambda: a_w @ b_x, runs) + median_time(lambda: a_g @ b_xt, runs)
            + median_time(lambda: a_wt @ a_g, runs))
    return {"lab": t_lab, "matmul": t_mm}


def bench_torch(c_in, c_out=64, n=32, size=32, k=3, runs=7, seed=0):
    import torch
    if os.environ.get("BENCH_THREADS"):
        torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in, size, size)).astype(np.float32)
    dy = rng.standard_normal((n, c_out, size, size)).astype(np.float32)
    tor = torch.nn.Conv2d(c_in, c_out, k, padding=1)
    tx, tdy = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(dy)

    def run_torch():
        tor.zero_grad()
        tx.grad = None
        tor(tx).backward(tdy)
    return {"torch": median_time(run_torch, runs), "torch_threads": torch.get_num_threads(),
            "torch_version": torch.__version__}


def worker(kind, c_in, runs):
    """Run in a fresh process: print the timings and the peak memory as JSON."""
    import resource
    out = (bench_numpy if kind == "numpy" else bench_torch)(c_in, runs=runs)
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def run_worker(kind, c_in, runs, threads):
    env = dict(os.environ)
    if threads:
        env["BENCH_THREADS"] = str(threads)
    cmd = [sys.executable, __file__, "--worker", kind, "--c-in", str(c_in), "--runs", str(runs)]
    if threads:
        cmd += ["--threads", str(threads)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def bench(c_in, c_out=64, n=32, size=32, k=3, runs=7, threads=None, rounds=3):
    """``rounds`` alternating pairs of fresh processes (labutils, torch), so that both see
    the machine in similar states; each number is the median over the rounds."""
    pairs = [(run_worker("numpy", c_in, runs, threads), run_worker("torch", c_in, runs, threads))
             for _ in range(rounds)]
    a = {key: float(np.median([p[0][key] for p in pairs])) for key in ("lab", "matmul", "peak_mb")}
    b = {key: float(np.median([p[1][key] for p in pairs])) for key in ("torch", "peak_mb")}
    b.update(torch_threads=pairs[0][1]["torch_threads"], torch_version=pairs[0][1]["torch_version"])
    flops = 3 * 2 * c_out * c_in * k * k * n * size * size
    gf = lambda t: flops / t / 1e9  # noqa: E731
    return {"config": f"{c_in}->{c_out}", "lab_ms": 1e3 * a["lab"], "torch_ms": 1e3 * b["torch"],
            "ratio": a["lab"] / b["torch"], "mm_gflops": gf(a["matmul"]),
            "lab_gflops": gf(a["lab"]), "torch_gflops": gf(b["torch"]),
            "lab_mb": a["peak_mb"], "torch_mb": b["peak_mb"], "torch_threads": b["torch_threads"],
            "torch_version": b["torch_version"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="timed runs per process (median)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternating labutils/torch process pairs (median over them)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for NumPy's BLAS and torch (default: all cores)")
    ap.add_argument("--worker", choices=["numpy", "torch"], help=argparse.SUPPRESS)
    ap.add_argument("--c-in", type=int, default=64, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.c_in, args.runs)
        return
    rows = [bench(c_in, runs=args.runs, threads=args.threads, rounds=args.rounds)
            for c_in in (3, 64)]
    print(f"# Conv2d forward+backward, float32, batch 32, 32x32, k=3, padding 1; median of "
          f"{args.runs} runs per process, median over {args.rounds} alternating rounds of fresh "
          f"processes")
    print(f"# {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, torch "
          f"{rows[0]['torch_version']}; threads: torch {rows[0]['torch_threads']}, OpenBLAS "
          f"{args.threads or 'default'}")
    head = (f"{'channels':<9} {'labutils ms':>11} {'torch ms':>9} {'ratio':>6} "
            f"{'matmul GF/s':>11} {'labutils GF/s (% mm)':>21} {'torch GF/s (% mm)':>18} "
            f"{'peak MB lab/torch':>18}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['config']:<9} {r['lab_ms']:>11.1f} {r['torch_ms']:>9.1f} {r['ratio']:>5.2f}x "
              f"{r['mm_gflops']:>11.1f} {r['lab_gflops']:>10.1f} ({100 * r['lab_gflops'] / r['mm_gflops']:>4.0f}%)"
              f"      {r['torch_gflops']:>7.1f} ({100 * r['torch_gflops'] / r['mm_gflops']:>4.0f}%)"
              f" {r['lab_mb']:>9.0f} / {r['torch_mb']:.0f}")
    r = rows[1]
    ok_ratio, ok_rate = r["ratio"] <= 2.5, r["lab_gflops"] / r["mm_gflops"] >= 0.40
    print(f"targets for 64->64: ratio <= 2.5x: {'met' if ok_ratio else 'NOT met'}; labutils >= 40% "
          f"of the matmul rate: {'met' if ok_rate else 'NOT met'}")


if __name__ == "__main__":
    main()
