"""Cost of attention against sequence length: labutils MultiheadAttention (NumPy) and torch's,
forward + backward, and the peak memory of one forward + backward in a fresh process.

    python benchmarks/bench_attention.py

Time grows like T² d once T exceeds d; the (N, H, T, T) weights grow like T², which is
what the peak memory column shows (a fresh process per length, so the numbers do not mix).
"""
import json
import os
import subprocess
import sys

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")     # one thread for both, as torch below: fair and steady

import numpy as np  # noqa: E402
from timing import median_time  # noqa: E402  (benchmarks/timing.py, beside this script)

E, H, N = 64, 4, 2
LENGTHS = [64, 128, 256, 512, 1024]


def lab_step(T):
    import labutils.nn as nn
    m = nn.MultiheadAttention(E, H, batch_first=True, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((N, T, E))

    def run():
        out, _ = m(x, x, x, need_weights=False)
        m.backward(np.ones_like(out))
    return run


def torch_step(T):
    import torch
    torch.set_num_threads(1)
    m = torch.nn.MultiheadAttention(E, H, batch_first=True).double()
    x = torch.randn(N, T, E, dtype=torch.float64, requires_grad=True)

    def run():
        out, _ = m(x, x, x, need_weights=False)
        out.sum().backward()
    return run


def peak_child(T):
    """Peak NumPy memory (MB, tracemalloc) of one labutils forward + backward at length T, in a
    fresh process."""
    code = ("import tracemalloc, numpy as np, labutils.nn as nn\n"
            f"m = nn.MultiheadAttention({E}, {H}, batch_first=True)\n"
            f"x = np.random.default_rng(0).standard_normal(({N}, {T}, {E}))\n"
            "tracemalloc.start()\n"
            "out, _ = m(x, x, x, need_weights=False); m.backward(np.ones_like(out))\n"
            "print(tracemalloc.get_traced_memory()[1] / 2 ** 20)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(r.stdout.strip())


def main():
    print(f"MultiheadAttention, E = {E}, {H} heads, batch {N}, float64, forward + backward "
          f"(median of 5 after a warm-up; one thread each)")
    print(f"{'T':>6} {'labutils ms':>12} {'torch ms':>10} {'weights MB':>11} {'peak MB':>8}")
    rows = []
    for T in LENGTHS:
        lab = median_time(lab_step(T)) * 1e3
        tor = median_time(torch_step(T)) * 1e3
        weights_mb = N * H * T * T * 8 / 2 ** 20
        peak = peak_child(T)
        rows.append(dict(T=T, labutils_ms=lab, torch_ms=tor, weights_mb=weights_mb, peak_mb=peak))
        print(f"{T:>6} {lab:>12.1f} {tor:>10.1f} {weights_mb:>11.1f} {peak:>8.1f}")
    if "--json" in sys.argv:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
