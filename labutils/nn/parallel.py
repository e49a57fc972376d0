"""Chunks of work on BLAS's threads, one part per thread (``in_parallel``), for the convolution
kernels (``conv_kernels``).

Why: BLAS splits each matrix product among its threads, but everything between the products
(the im2col copies, col2im's additions, the wide rows' copies) runs on one core, and a product of
a few thousand columns splits poorly. Giving each thread whole chunks of samples, with BLAS on
one thread inside it, keeps every core busy with both. Measured on two cores (fresh processes,
seven alternating rounds, forward + backward, float32; ms): Conv2d 64->64 75 -> 59, Conv3d
64->64 57 -> 44, Conv3d 16->32 45 -> 30, grouped 128->128 g8 26 -> 17, ConvTranspose2d 30 -> 21.
NumPy releases the GIL inside its copies, additions and matmul, so threads suffice.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from threadpoolctl import ThreadpoolController

__all__: list[str] = []      # helpers of conv_kernels.py

PARALLEL_FLOPS = 5e7        # a pass with fewer flops (< 1 ms on one core) runs in one thread
T = TypeVar("T")


def in_parallel(work: Callable[[list], T], chunks: list, flops: float) -> list[T]:
    """[work(part) for each part of ``chunks``]: one part per BLAS thread, each thread running
    BLAS on one core, when the products are large enough (PARALLEL_FLOPS); else one part here.
    The caller's chunks must never write to the same places (they are whole samples, or rows of
    one sample), and ``work`` makes its own buffers."""
    n = min(_blas_threads(), len(chunks)) if flops >= PARALLEL_FLOPS else 1
    if n <= 1:
        return [work(chunks)]
    parts = [chunks[len(chunks) * i // n:len(chunks) * (i + 1) // n] for i in range(n)]
    with _threadpools().limit(limits=1, user_api="blas"):
        return list(_pool(n, os.getpid()).map(work, parts))


@functools.cache
def _threadpools() -> ThreadpoolController:
    return ThreadpoolController()


@functools.cache
def _blas_threads() -> int:
    """The threads BLAS runs on (OPENBLAS_NUM_THREADS, or all cores), read once."""
    blas = _threadpools().select(user_api="blas").lib_controllers
    return max([1] + [lib.num_threads for lib in blas])


@functools.cache
def _pool(n: int, pid: int) -> ThreadPoolExecutor:
    """n threads, made once per process (a forked child gets its own: ``pid``)."""
    return ThreadPoolExecutor(n, thread_name_prefix=f"labutils-conv-{pid}")
