"""Run every benchmark script in this folder (each prints its own table).

    python benchmarks/run_all.py            all of them
    python benchmarks/run_all.py notebooks  only those whose name contains "notebooks"
    python benchmarks/run_all.py --suite    also time the whole test command (./course test)
"""
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(args):
    suite = "--suite" in args
    words = [a for a in args if not a.startswith("--")]
    for script in sorted(HERE.glob("bench_*.py")):
        if words and not any(w in script.stem for w in words):
            continue
        print(f"\n## {script.stem}\n", flush=True)
        subprocess.run([sys.executable, str(script)], check=False)
    if suite:
        print("\n## the whole test command (./course test, install included)\n", flush=True)
        start = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-v", str(HERE.parent / "course"), "test", "-q"],
                           capture_output=True, text=True)
        peak = [line for line in r.stderr.splitlines() if "Maximum resident" in line]
        print(f"exit code {r.returncode}, wall {time.perf_counter() - start:.0f} s, "
              f"{peak[0].strip() if peak else ''} (largest single process)")


if __name__ == "__main__":
    main(sys.argv[1:])
