"""What every benchmark times the same way: the median of repeated runs after a warm-up."""
import statistics
import time
from typing import Callable


def median_time(fn: Callable[[], object], repeats: int = 5) -> float:
    """Median seconds of ``repeats`` timed runs of ``fn()`` after one untimed warm-up run
    (first-call costs such as allocating arrays, BLAS start-up and torch's dispatch caches would
    otherwise land in the smallest sizes' timings)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
