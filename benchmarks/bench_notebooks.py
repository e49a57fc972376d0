"""Wall time and peak memory of executing each chapter notebook in a fresh kernel.

    python benchmarks/bench_notebooks.py [notebooks/NN.ipynb ...]

Peak memory is the kernel process's peak resident set size (sampled every 20 ms with psutil),
which is what a Binder or laptop user pays. Budgets from the chapter issues are printed beside.

Measure in a fresh clone (`./course bench` there): with the very same packages, every chapter
peaked about 70 MB higher in a freshly installed venv than in one in use for days (importing
torch alone: 275 against 220 MB), as a student's or CI's first run will; the budgets hold for
the fresh install (chapter 5, the largest: 717 MB).
"""
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
# The chapter standard (shared/DESIGN.md): each chapter, capstone included, <= 60 s and <= 800 MB
# on two cores; all six <= 240 s.
BUDGET = {f"0{n}": (60, 800) for n in range(1, 7)}
TOTAL_BUDGET = 240


def run(path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(path).parent)}})
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            km = client.km
            pid = getattr(getattr(km, "provisioner", None), "pid", None) if km else None
            if pid:
                try:
                    peak[0] = max(peak[0], psutil.Process(pid).memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.02)
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    start = time.perf_counter()
    client.execute()
    wall = time.perf_counter() - start
    stop.set()
    t.join()
    return wall, peak[0] / 2**20


def main(paths):
    paths = paths or sorted(str(p) for p in (ROOT / "notebooks").glob("*.ipynb"))
    print(f"{'notebook':<26}{'wall s':>8}{'budget':>8}{'peak MB':>9}{'budget':>8}  verdict")
    total = 0.0
    for p in paths:
        wall, mb = run(p)
        total += wall
        bt, bm = BUDGET.get(Path(p).name[:2], (None, None))
        ok = (bt is None or wall <= bt) and (bm is None or mb <= bm)
        print(f"{Path(p).name:<26}{wall:8.1f}{bt or '':>8}{mb:9.0f}{bm or '':>8}  "
              f"{'met' if ok else 'NOT MET'}")
    print(f"{'all notebooks':<26}{total:8.1f}{TOTAL_BUDGET:>8}{'':>17}  "
          f"{'met' if total <= TOTAL_BUDGET else 'NOT MET'}")


if __name__ == "__main__":
    main(sys.argv[1:])
