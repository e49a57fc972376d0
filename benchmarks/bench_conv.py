"""labutils convolutions forward + backward against torch on CPU, float32 (issue 21).

    .venv/bin/python benchmarks/bench_conv.py [--runs 7] [--rounds 3] [--threads N] [--quick]

Part 1, Conv2d at batch 32, 32x32 inputs, 3x3 kernel, padding 1, 3->64 and 64->64 channels:
the median time of forward + backward (input, weight and bias gradients); the ratio to torch;
the achieved GFLOP/s (3 x 2·C_out·C_in·k²·N·H_out·W_out flops) as a share of NumPy's own matmul
rate on float32 matrices of the shapes of the layer's three products written as one matrix
each, measured in the same process after the convolution:

    forward  (C_out, C_in·k²) @ (C_in·k², N·HW)
    dW       (C_out, N·HW)    @ (N·HW, C_in·k²)
    dX_col   (C_in·k², C_out) @ (C_out, N·HW)

and the peak memory above the process's own baseline (the resident size after the imports and
the inputs, before the first convolution; Linux's VmHWM, reset at that point).
Part 2, every other variant at a realistic size: the ratio to torch (target: within 2x).

Each library runs in fresh processes of its own (torch's OpenMP threads keep spinning after
each call and would slow NumPy's BLAS threads if they shared one), ``--rounds`` alternating
pairs of them, and every number is the median over the rounds of each process's median of
``--runs`` timed runs after a warm-up. Both libraries use ``--threads`` threads (default: all
cores). On a machine shared with other work, ``--threads 1`` gives the stable comparison:
labutils calls BLAS once per sample (and group) and pass, and each multi-threaded call waits
for a thread whose core another process holds (on a busy machine, 2 threads ran 1.6x slower
than the earlier single large product; on one thread, faster).

Where the time goes (Conv2d 64->64, one thread, CPU time of each step alone, this machine):

    before (one X_col of the whole batch, 75 MB, allocated on every call)       152 ms
      forward   pad 0.8, im2col 13.5 (most of it page faults of the new array),
                matmul 40, moveaxis to (N, C_out, HW) 0.9
      backward  dW matmul 35, dX_col matmul 41, col2im 20.6 (9 strided additions whose
                inner runs are 32 floats long), dy moveaxis 0.6
    after (conv_kernels.py: per sample, X_col copied into one reused 4 MB buffer)  ~101 ms
      forward   pad 0.9, im2col copies 1.7 ("wide" rows: runs of (H_out-1)·W_p + W_out
                entries instead of W_out), matmuls Y[n] = W_mat X_col[n] ~30, y copied out of
                the wide rows ~1, bias 1
      backward  im2col again 1.7, dWᵀ = Σ X_col[n] dY[n]ᵀ ~31 (NumPy's faster orientation),
                dx as a convolution of the padded dy with the flipped kernel (stride 1): pad
                0.9, im2col 1.7, matmuls ~30 (no col2im); db 0.4, the checks at the door 0.4
The matmuls are now ~90 % of the time (they were 76 %). torch (oneDNN) runs its convolution
kernels at a higher rate than OpenBLAS's sgemm reaches on any of these shapes, which bounds
the ratio from below at about 1.1-1.2x on one core.

Two threads (the default). BLAS splits each product between the cores, but the copies around
the products stayed on one, and a product of a few thousand columns splits poorly: Conv2d 64->64
took 1.4-2.1x torch from run to run. Now whole chunks go to the cores (labutils/nn/parallel.py:
one part of the chunks per thread, BLAS on one thread inside each), so the copies run on both
cores too. Fresh processes, seven alternating rounds (ms, before -> after): Conv2d 64->64 75 ->
59, Conv3d 64->64 57 -> 44, Conv3d 16->32 45 -> 30, grouped g8 26 -> 17, ConvTranspose2d 30 ->
21, dilated 71 -> 64, Conv1d 28 -> 24 (chunks of 2 MB; 1 and 4 MB measured within 10 %).

"products alone" replays every np.matmul call the layer made (recorded once, with its
arguments) with nothing between them: what any speed-up of the rest can at best approach.
Where it comes near the target by itself (Conv3d 16->32 and grouped g8: ~1.7x torch, leaving
0.3x for every copy, col2im and check), the products are the limit: OpenBLAS's sgemm on matrices 16 or 32 rows tall runs at 57 and 103
GF/s on two cores against 142 GF/s at 64 rows (measured at (16, 864) @ (864, 4096),
(32, 432) @ (432, 4096), (64, 576) @ (576, 1024)), while torch's direct kernels reach
130-180 GF/s on these layers whatever their width.
"""
import argparse
import json
import os
import platform
import subprocess
import sys


def _threads_from_argv() -> str | None:
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

# name -> (module, keyword arguments, input shape); float32 throughout
VARIANTS = {
    "Conv1d 64->64 k3, L 1024, batch 32": ("Conv1d", dict(in_channels=64, out_channels=64,
                                           kernel_size=3, padding=1), (32, 64, 1024)),
    "Conv3d 64->64 k3, 8x16x16, batch 4": ("Conv3d", dict(in_channels=64, out_channels=64,
                                           kernel_size=3, padding=1), (4, 64, 8, 16, 16)),
    "Conv3d 16->32 k3, 16^3, batch 8": ("Conv3d", dict(in_channels=16, out_channels=32,
                                        kernel_size=3, padding=1), (8, 16, 16, 16, 16)),
    "strided 64->128 k3 s2, 32x32, batch 32": ("Conv2d", dict(
        in_channels=64, out_channels=128, kernel_size=3, stride=2, padding=1), (32, 64, 32, 32)),
    "dilated 64->64 k3 d2, 32x32, batch 32": ("Conv2d", dict(
        in_channels=64, out_channels=64, kernel_size=3, dilation=2, padding=2), (32, 64, 32, 32)),
    "grouped 128->128 k3 g8, 16x16, batch 32": ("Conv2d", dict(
        in_channels=128, out_channels=128, kernel_size=3, groups=8, padding=1), (32, 128, 16, 16)),
    "depthwise 128 k3, 32x32, batch 32": ("Conv2d", dict(
        in_channels=128, out_channels=128, kernel_size=3, groups=128, padding=1),
        (32, 128, 32, 32)),
    "ConvTranspose1d 64->32 k4 s2, L 512, batch 32": ("ConvTranspose1d", dict(
        in_channels=64, out_channels=32, kernel_size=4, stride=2, padding=1), (32, 64, 512)),
    "ConvTranspose2d 64->32 k4 s2, 16x16, batch 32": ("ConvTranspose2d", dict(
        in_channels=64, out_channels=32, kernel_size=4, stride=2, padding=1), (32, 64, 16, 16)),
}


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key)) / 1024


def _reset_peak() -> float:
    """Reset Linux's peak resident size to the current one and return it (the baseline)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_mb("VmRSS:")


def _module(kind: str, name: str, kwargs: dict) -> object:
    if kind == "lab":
        import labutils.nn as nn
        return getattr(nn, name)(**kwargs, dtype=np.float32)
    import torch
    return getattr(torch.nn, name)(**kwargs)


def _step(kind: str, module: object, x: np.ndarray, dy: np.ndarray):
    """forward + backward (input, weight and bias gradients) as a function of no arguments."""
    if kind == "lab":
        def run() -> None:
            module.zero_grad()
            module(x)
            module.backward(dy)
        return run
    import torch
    tx, tdy = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(dy)

    def run_torch() -> None:
        module.zero_grad()
        tx.grad = None
        module(tx).backward(tdy)
    return run_torch


def _inputs(kind: str, name: str, kwargs: dict, shape: tuple) -> tuple:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    from labutils.nn import conv_output_size, conv_transpose_output_size
    size = conv_transpose_output_size if "Transpose" in name else conv_output_size
    geometry = {k: kwargs[k] for k in ("stride", "padding", "dilation") if k in kwargs}
    out = [size(n, kwargs["kernel_size"], **geometry) for n in shape[2:]]
    module = _module(kind, name, kwargs)
    return module, x, rng.standard_normal((shape[0], kwargs["out_channels"], *out),
                                          dtype=np.float32)


def _products_alone(module: object, x: np.ndarray, dy: np.ndarray, runs: int) -> float:
    """The median time of the matrix products one forward + backward of ``module`` makes
    (every np.matmul call of labutils.nn.conv_kernels, recorded once with its arguments and
    then replayed alone): the bound that any speed-up of the rest (copies, col2im, Python) can
    only approach."""
    from labutils.nn import conv_kernels
    calls, matmul = [], np.matmul

    class Recording:
        """conv_kernels' ``np`` for one call: np itself, with matmul recorded."""
        def __getattr__(self, name: str) -> object:
            return getattr(np, name)

        @staticmethod
        def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
            calls.append((a, b, out))
            return matmul(a, b, out=out)
    conv_kernels.np = Recording()
    try:
        module.zero_grad()
        module(x)
        module.backward(dy)
    finally:
        conv_kernels.np = np
    return median_time(lambda: [matmul(a, b, out=o) for a, b, o in calls], runs)


def worker_main(kind: str, c_in: int, runs: int) -> dict:
    """Part 1 in a fresh process: time, peak memory above baseline, and (labutils) the matmul."""
    if kind == "torch":
        import torch
        if os.environ.get("BENCH_THREADS"):
            torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
    module, x, dy = _inputs(kind, "Conv2d", dict(in_channels=c_in, out_channels=64,
                                                 kernel_size=3, padding=1), (32, c_in, 32, 32))
    base = _reset_peak()
    out = {"t": median_time(_step(kind, module, x, dy), runs),
           "peak_mb": _status_mb("VmHWM:") - base}
    if kind == "lab":
        out["matmul"] = _matmul_time(c_in, runs)
        out["products"] = _products_alone(module, x, dy, runs)
    return out


def _matmul_time(c_in: int, runs: int, c_out: int = 64, p: int = 32 * 32 * 32) -> float:
    rng = np.random.default_rng(1)
    ck = c_in * 9
    a = {s: rng.standard_normal(s, dtype=np.float32) for s in
         [(c_out, ck), (ck, p), (c_out, p), (p, ck), (ck, c_out)]}
    return (median_time(lambda: a[(c_out, ck)] @ a[(ck, p)], runs)
            + median_time(lambda: a[(c_out, p)] @ a[(p, ck)], runs)
            + median_time(lambda: a[(ck, c_out)] @ a[(c_out, p)], runs))


def worker_variants(kind: str, runs: int) -> dict:
    """Part 2 in a fresh process: each variant's median time."""
    if kind == "torch":
        import torch
        if os.environ.get("BENCH_THREADS"):
            torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
    out = {}
    for label, spec in VARIANTS.items():
        module, x, dy = _inputs(kind, *spec)
        out[label] = median_time(_step(kind, module, x, dy), runs)
        if kind == "lab":
            out[label + " products"] = _products_alone(module, x, dy, runs)
    return out


def run_worker(args: list[str], threads: int | None) -> dict:
    env = dict(os.environ)
    cmd = [sys.executable, __file__, *args]
    if threads:
        env["BENCH_THREADS"] = str(threads)
        cmd += ["--threads", str(threads)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def alternate(args: list[str], threads: int | None, rounds: int) -> tuple[dict, dict]:
    """``rounds`` alternating (labutils, torch) pairs of fresh processes; per key, the median."""
    pairs = [(run_worker(["--worker", "lab", *args], threads),
              run_worker(["--worker", "torch", *args], threads)) for _ in range(rounds)]
    return tuple({k: float(np.median([p[i][k] for p in pairs])) for k in pairs[0][i]}
                 for i in (0, 1))


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def part1(a: argparse.Namespace) -> None:
    print(f"{'Conv2d, batch 32, 32x32, k3':<28} {'labutils ms':>11} {'torch ms':>9} {'ratio':>6} "
          f"{'matmul GF/s':>11} {'labutils GF/s (% mm)':>21} {'peak MB above baseline':>24}")
    for c_in in (3, 64):
        lab, tor = alternate(["--c-in", str(c_in), "--runs", str(a.runs)], a.threads, a.rounds)
        flops = 3 * 2 * 64 * c_in * 9 * 32 * 32 * 32
        ratio, share = lab["t"] / tor["t"], lab["matmul"] / lab["t"]
        print(f"{f'{c_in}->64':<28} {1e3 * lab['t']:>11.1f} {1e3 * tor['t']:>9.1f} {ratio:>5.2f}x "
              f"{flops / lab['matmul'] / 1e9:>11.1f} {flops / lab['t'] / 1e9:>13.1f} "
              f"({100 * share:>3.0f}%) {lab['peak_mb']:>11.0f} lab / {tor['peak_mb']:.0f} torch")
        mem = lab["peak_mb"] / max(tor["peak_mb"], 1e-9)
        print(f"  targets {c_in}->64: <= 1.5x torch: {verdict(ratio <= 1.5)} ({ratio:.2f}x); "
              + (f">= 70% of the matmul rate: {verdict(share >= 0.7)} ({100 * share:.0f}%); "
                 if c_in == 64 else "")
              + f"peak memory within 2x torch's: {verdict(mem <= 2)} ({mem:.2f}x)")
        print(f"  its matrix products alone (replayed): {1e3 * lab['products']:.1f} ms = "
              f"{lab['products'] / tor['t']:.2f}x torch's whole pass, {100 * lab['products'] / lab['t']:.0f}% "
              f"of labutils' time")


def part2(a: argparse.Namespace) -> None:
    lab, tor = alternate(["--variants", "--runs", str(a.runs)], a.threads, a.rounds)
    print(f"\n{'every variant, forward + backward':<48} {'labutils ms':>11} {'torch ms':>9} "
          f"{'ratio':>6}  target <= 2x   {'products alone':>14}")
    for label in VARIANTS:
        ratio, bound = lab[label] / tor[label], lab[label + " products"] / tor[label]
        print(f"{label:<48} {1e3 * lab[label]:>11.1f} {1e3 * tor[label]:>9.1f} {ratio:>5.2f}x  "
              f"{verdict(ratio <= 2):<13} {1e3 * lab[label + ' products']:>6.1f} ms "
              f"{bound:>4.2f}x" + ("  (the products alone miss the target)" if bound > 2
                                   else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="timed runs per process (median)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternating labutils/torch process pairs (median over them)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for NumPy's BLAS and torch (default: all cores)")
    ap.add_argument("--quick", action="store_true", help="part 1 only")
    ap.add_argument("--worker", choices=["lab", "torch"], help=argparse.SUPPRESS)
    ap.add_argument("--c-in", type=int, default=64, help=argparse.SUPPRESS)
    ap.add_argument("--variants", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        out = (worker_variants(a.worker, a.runs) if a.variants
               else worker_main(a.worker, a.c_in, a.runs))
        print(json.dumps(out))
        return
    import torch
    print(f"# forward+backward, float32; median of {a.runs} runs per process, median over "
          f"{a.rounds} alternating rounds of fresh processes")
    print(f"# {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, torch "
          f"{torch.__version__}; threads: {a.threads or 'default (all cores)'}")
    part1(a)
    if not a.quick:
        part2(a)


if __name__ == "__main__":
    main()
