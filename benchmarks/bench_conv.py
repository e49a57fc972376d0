"""labutils Conv2d forward + backward against torch on CPU, float32.

    .venv/bin/python benchmarks/bench_conv.py [--runs 7] [--threads N]

Batch 32, 32x32 inputs, 3x3 kernel, padding 1, 3->64 and 64->64 channels. For each, the
median time of forward + backward (input, weight and bias gradients) over ``--runs`` runs,
after one warm-up, for labutils and torch; the ratio of the two; and the achieved GFLOP/s
(the three products of the layer, 3 x 2·C_out·C_in·k²·N·H_out·W_out flops) as a fraction of
NumPy's own matmul GFLOP/s on float32 matrices of the same shapes as those three products,
measured in the same run:

    forward  (C_out, C_in·k²) @ (C_in·k², N·HW)
    dW       (C_out, N·HW)    @ (N·HW, C_in·k²)
    dX_col   (C_in·k², C_out) @ (C_out, N·HW)

Both libraries use ``--threads`` threads (default: all cores; OpenBLAS's count is fixed
before NumPy is imported). On a machine shared with other work, OpenBLAS threads that wait
for a busy core make the multi-threaded matmul rate erratic; ``--threads 1`` gives the stable
comparison. Other processes make single runs noisy, hence medians.
"""
import argparse
import os
import platform
import sys
import time


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
import torch  # noqa: E402

import labutils.nn as nn  # noqa: E402


def median_time(fn, runs):
    fn()                                     # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bench(c_in, c_out=64, n=32, size=32, k=3, runs=7, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in, size, size)).astype(np.float32)
    dy = rng.standard_normal((n, c_out, size, size)).astype(np.float32)

    lab = nn.Conv2d(c_in, c_out, k, padding=1, dtype=np.float32)

    def run_lab():
        lab.zero_grad()
        lab(x)
        lab.backward(dy)
    t_lab = median_time(run_lab, runs)

    tor = torch.nn.Conv2d(c_in, c_out, k, padding=1)
    tx, tdy = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(dy)

    def run_torch():
        tor.zero_grad()
        tx.grad = None
        tor(tx).backward(tdy)
    t_torch = median_time(run_torch, runs)

    # NumPy matmul on the same shapes as the three products
    ck, p = c_in * k * k, n * size * size
    a_w, b_x = rng.standard_normal((c_out, ck), np.float32), rng.standard_normal((ck, p), np.float32)
    a_g, b_xt = rng.standard_normal((c_out, p), np.float32), rng.standard_normal((p, ck), np.float32)
    a_wt = rng.standard_normal((ck, c_out), np.float32)
    t_mm = (median_time(lambda: a_w @ b_x, runs) + median_time(lambda: a_g @ b_xt, runs)
            + median_time(lambda: a_wt @ a_g, runs))

    flops = 3 * 2 * c_out * ck * p
    gf = lambda t: flops / t / 1e9  # noqa: E731
    return {"config": f"{c_in}->{c_out}", "lab_ms": 1e3 * t_lab, "torch_ms": 1e3 * t_torch,
            "ratio": t_lab / t_torch, "mm_gflops": gf(t_mm), "lab_gflops": gf(t_lab),
            "torch_gflops": gf(t_torch)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for NumPy's BLAS and torch (default: all cores)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# Conv2d forward+backward, float32, batch 32, 32x32, k=3, padding 1; median of "
          f"{args.runs} runs")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numpy {np.__version__}, torch {torch.__version__}; threads: torch "
          f"{torch.get_num_threads()}, OpenBLAS {os.environ.get('OPENBLAS_NUM_THREADS', 'default')}")
    head = (f"{'channels':<9} {'labutils ms':>11} {'torch ms':>9} {'ratio':>6} "
            f"{'matmul GF/s':>11} {'labutils GF/s (% mm)':>21} {'torch GF/s (% mm)':>18}")
    print(head)
    print("-" * len(head))
    for c_in in (3, 64):
        r = bench(c_in, runs=args.runs)
        print(f"{r['config']:<9} {r['lab_ms']:>11.1f} {r['torch_ms']:>9.1f} {r['ratio']:>5.2f}x "
              f"{r['mm_gflops']:>11.1f} {r['lab_gflops']:>10.1f} ({100 * r['lab_gflops'] / r['mm_gflops']:>4.0f}%)"
              f"      {r['torch_gflops']:>7.1f} ({100 * r['torch_gflops'] / r['mm_gflops']:>4.0f}%)")
    print("targets for 64->64: ratio <= 2.5x and labutils >= 40% of the matmul rate")


if __name__ == "__main__":
    main()
