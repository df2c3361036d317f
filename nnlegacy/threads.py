"""nnlegacy's CPU threads: one shared pool, with BLAS held to one thread while it runs.

NumPy releases the GIL in its loops and in BLAS, so Python threads that each take a slice
of the batch run in parallel. The CPU kernels (convolution, Linear) split their work into
``get_num_threads()`` pieces and run them on one pool shared by every module, and hold
BLAS (OpenBLAS, MKL, ... found by ``threadpoolctl``) to one thread meanwhile: two levels of
threads would oversubscribe the cores, and BLAS's own worker threads spin after each
product even where they have nothing to do (LeNet-5's small products), which on a busy
machine takes the core from the thread doing the work.

    nnlegacy.threads.set_num_threads(1)   # as Lua's torch.setnumthreads
    NNLEGACY_NUM_THREADS=1 python train.py

The default is the number of CPUs this process may run on. Outside nnlegacy's kernels BLAS
keeps its own setting; without threadpoolctl installed nnlegacy runs on one thread of its
own and leaves BLAS alone.
"""

from __future__ import annotations

import contextlib
import os
import threading

import numpy as np

__all__ = [
    "get_num_threads", "matmul", "matmul_acc", "over_runs", "parallel_for", "set_num_threads",
    "single_blas", "zero",
]  # fmt: skip

PARALLEL_FLOPS = 1 << 23  # a product under this many flops runs on one thread

_lock = threading.Lock()
_num_threads = None  # set lazily: NNLEGACY_NUM_THREADS or the usable CPUs
_blas = None  # threadpoolctl's controllers of the loaded BLAS libraries ([] if none)
_depth = 0  # nesting of single_blas() sections, process-wide (the BLAS setting is)
_saved = ()  # BLAS thread counts to restore when the outermost section ends


def _cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def get_num_threads() -> int:
    """Threads nnlegacy's CPU kernels use (1 without threadpoolctl)."""
    global _num_threads
    if _num_threads is None:
        env = os.environ.get("NNLEGACY_NUM_THREADS", "")
        n = int(env) if env.strip().isdigit() and int(env) > 0 else _cpus()
        _num_threads = n if _blas_controllers() is not None else 1
    return _num_threads


def set_num_threads(n: int):
    """Use ``n`` threads (>= 1) in the CPU kernels from now on."""
    global _num_threads
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {n!r}")
    with _lock:
        _num_threads = n if _blas_controllers() is not None else 1


def _blas_controllers():
    """threadpoolctl's per-library controllers for BLAS, or None without threadpoolctl."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas = False
        else:
            _blas = list(ThreadpoolController().select(user_api="blas").lib_controllers)
    return _blas if _blas is not False else None


@contextlib.contextmanager
def single_blas():
    """Hold BLAS to one thread inside; re-entrant, and nearly free when nested."""
    global _depth, _saved
    libs = _blas_controllers()
    if not libs:
        yield
        return
    with _lock:
        if _depth == 0:
            _saved = tuple(lib.get_num_threads() for lib in libs)
            for lib, n in zip(libs, _saved):
                if n != 1:
                    lib.set_num_threads(1)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for lib, n in zip(libs, _saved):
                    if n != 1:
                        lib.set_num_threads(n)


def _after_fork_in_child():
    """A forked child (multiprocessing's fork, a data loader) has none of the parent's
    pool threads: start afresh rather than wait on them."""
    global _lock, _depth
    _lock, _depth = threading.Lock(), 0
    _workers.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _Worker:
    """One pool thread: it sleeps on its own lock until handed a job. Lighter than an
    executor's queue and futures: the few lines it runs between jobs hold the GIL, which
    the calling thread, still working, needs."""

    def __init__(self, i: int):
        self.wake = threading.Lock()
        self.wake.acquire()
        self.job = None
        self.busy = False
        self.thread = threading.Thread(target=self._loop, name=f"nnlegacy_{i}", daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            self.wake.acquire()
            job, self.job = self.job, None
            try:
                job()
            finally:
                self.busy = False

    def give(self, job) -> bool:
        """Start ``job`` on this thread unless it is still busy with an earlier one."""
        if self.busy:
            return False
        self.busy, self.job = True, job
        self.wake.release()
        return True


_workers: list[_Worker] = []


def _get_workers_locked(n: int) -> list[_Worker]:
    """The first ``n`` pool threads, started on first use (the caller holds _lock)."""
    while len(_workers) < n:
        _workers.append(_Worker(len(_workers)))
    return _workers[:n]


_inside = threading.local()  # .depth: parallel_for sections this thread is running


def parallel_for(fn, n: int, threads: int | None = None):
    """Call ``fn(i)`` for i in range(n) on the calling thread and the shared pool (BLAS on
    one thread), each thread taking the next ``i`` as it comes free; returns the results
    in order. Runs inline where one thread is all there is to use, and inside another
    parallel_for.

    The caller works too, from the start: waking an idle pool thread takes 0.1-0.3 ms
    on a virtual machine, and a caller that handed all the work out and slept would wait
    for that wake-up and then its own (two 0.65 ms items after other work: 1.5 ms handed
    out, 0.83 ms shared, 1.29 ms on one thread). A thread that wakes after the items are
    all taken just returns; the caller waits only for items already taken."""
    threads = min(get_num_threads() if threads is None else threads, n)
    nested = getattr(_inside, "depth", 0) or threading.current_thread().name.startswith("nnlegacy")
    with single_blas():
        if threads <= 1 or nested:
            return [fn(i) for i in range(n)]
        results = [None] * n
        order = iter(range(n))
        take = threading.Lock()
        done = threading.Condition()
        finished = [0]
        errors = []

        def work():
            while True:
                with take:
                    i = next(order, None)
                if i is None:
                    return
                try:
                    results[i] = fn(i)
                except BaseException as e:  # noqa: BLE001 - raised again on the caller
                    errors.append(e)
                with done:
                    finished[0] += 1
                    if finished[0] == n:
                        done.notify_all()

        with _lock:  # another thread's parallel_for may be handing out too
            for w in _get_workers_locked(threads - 1):
                w.give(work)
        _inside.depth = getattr(_inside, "depth", 0) + 1
        try:
            work()
        finally:
            _inside.depth -= 1
        with done:
            while finished[0] < n:
                done.wait()
        if errors:
            raise errors[0]
        return results


RUN_BYTES = 1 << 20  # over_runs' run: about half a core's L2 cache
# over_runs does less than this on the calling thread, as one run: handing work to an
# idle pool thread and back takes 0.24-0.28 ms on the project's virtual machine (an idle
# core sleeps), about what a pass over a few MiB takes (LeNet-5's step: 4 MiB against
# 256 KiB measured 15.0 against 15.6 ms, median of rounds, tools/kernelbench step)
INLINE_BYTES = 4 << 20


def over_runs(fn, n: int, unit_bytes: int, run_bytes: int | None = None):
    """Call ``fn(i0, i1)`` on consecutive runs ``i0:i1`` of ``range(n)``, each about
    ``run_bytes`` (RUN_BYTES) of units of ``unit_bytes``, spread over the shared threads
    in contiguous blocks, one per thread; returns the results in run order.

    For passes over independent units (planes, rows) that each run makes while its data
    is in cache: several NumPy calls on one run then read memory once. Small work
    (under INLINE_BYTES in all) stays on the calling thread, still by runs (LeNet's
    first ReLU, 2.4 MB: 0.22 ms by runs against 0.36 ms in one pass)."""
    run_bytes = RUN_BYTES if run_bytes is None else run_bytes
    per = max(1, run_bytes // max(1, unit_bytes))
    runs = [(i, min(i + per, n)) for i in range(0, n, per)]
    if n * unit_bytes < INLINE_BYTES:
        return [fn(i0, i1) for i0, i1 in runs]
    nt = min(get_num_threads(), len(runs))
    blocks = [runs[len(runs) * t // nt : len(runs) * (t + 1) // nt] for t in range(nt)]
    results = parallel_for(lambda t: [fn(i0, i1) for i0, i1 in blocks[t]], nt)
    return [r for block in results for r in block]


def zero(a):
    """``a[...] = 0``: a big contiguous NumPy array by runs on the shared threads, each run
    as its bits ``&= 0`` (the same +0.0 as ``fill(0)``). On the Intel Xeon the speed table
    in docs/contributing.md was measured on, NumPy's ``fill(0)`` of a 232 MiB array
    outside the caches took 36.6 ms where ``&= 0`` on its bits took 18.1 ms on one thread
    and 9.9 on two (stores alone ran at half the speed of a read-modify-write there); in
    cache they take the same time. Anything else (small, strided, CuPy) is ``fill(0)``."""
    if not (isinstance(a, np.ndarray) and a.flags.c_contiguous and a.nbytes >= INLINE_BYTES):
        a.fill(0)
        return
    if a.dtype.kind not in "fciu":
        a.fill(0)
        return
    flat = a.reshape(-1).view(np.dtype(f"u{min(a.itemsize, 8)}"))  # the bits, unsigned

    def run(i0, i1):
        part = flat[i0:i1]
        np.bitwise_and(part, 0, out=part)

    over_runs(run, flat.size, flat.itemsize)


# A product of a few rows (a small batch) by a big matrix (Linear's input gradient
# ``gradOutput @ weight``) reads the big one once and does little else: there it is
# summed over blocks of THIN_BLOCK_BYTES of its rows, each block read once while in
# cache, the blocks shared out between the threads. On two threads of the Intel Xeon in
# docs/contributing.md, the matrix not in cache before: AlexNet's first fully connected
# layer at batch 8 (8x4096 @ 4096x9216) 22.5 -> 12-14 ms, its second (4096x4096) 11 ->
# 7-8.5, VGG-16's first at batch 2 (4096x25088) 43 -> 22 (blocks of 0.5-4 MiB tried: 1
# MiB best or near it throughout); at 32 rows even, at 64 and more slower, where the
# product is no longer bound by memory; 8 MiB matrices even.
THIN_ROWS = 16
THIN_BLOCK_BYTES = 1 << 20
THIN_MIN_BYTES = 8 << 20


def _thin_matmul(a, b, nt):
    """``a @ b`` for a few rows ``a`` and a big C-contiguous ``b``, summed over blocks of
    ``b``'s rows (one partial sum per thread, added at the end)."""
    k, n = b.shape
    rows = max(1, THIN_BLOCK_BYTES // (n * b.itemsize))
    blocks = [(i, min(i + rows, k)) for i in range(0, k, rows)]
    nt = max(1, min(nt, len(blocks)))

    def run(t):
        part = blocks[len(blocks) * t // nt : len(blocks) * (t + 1) // nt]
        acc = np.matmul(a[:, part[0][0] : part[0][1]], b[part[0][0] : part[0][1]])
        tmp = np.empty_like(acc)
        for i, j in part[1:]:
            acc += np.matmul(a[:, i:j], b[i:j], out=tmp)
        return acc

    parts = parallel_for(run, nt)
    for p in parts[1:]:
        parts[0] += p
    return parts[0]


def matmul(a, b):
    """``a @ b``; for 2-D NumPy arrays with BLAS on one thread, and a big product's output
    rows (or columns, whichever are more) split over the shared threads."""
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.ndim == b.ndim == 2):
        return a @ b
    (m, k), n = a.shape, b.shape[1]
    nt = get_num_threads()
    if m <= THIN_ROWS and b.flags.c_contiguous and b.nbytes >= THIN_MIN_BYTES:
        return _thin_matmul(a, b, nt)
    if nt == 1 or 2 * m * n * k < PARALLEL_FLOPS or max(m, n) < 2 * nt:
        with single_blas():
            return a @ b
    out = np.empty((m, n), np.result_type(a, b))
    size = max(m, n)
    cuts = [size * i // nt for i in range(nt + 1)]
    if m >= n:

        def part(i):  # rows cuts[i]:cuts[i+1] of the product
            np.matmul(a[cuts[i] : cuts[i + 1]], b, out=out[cuts[i] : cuts[i + 1]])
    else:

        def part(i):  # columns cuts[i]:cuts[i+1]; BLAS writes the strided block in place
            np.matmul(a, b[:, cuts[i] : cuts[i + 1]], out=out[:, cuts[i] : cuts[i + 1]])

    parallel_for(part, nt)
    return out


ACC_BLOCK_BYTES = 1 << 20  # matmul_acc's temporary per block of output rows


def matmul_acc(acc, a, b, scale=1):
    """``acc += (a @ b) * scale`` (``* scale`` skipped when 1) by blocks of output rows on
    the shared threads, through a cache-sized temporary instead of one of ``acc``'s size
    (411 MB for VGG-16's first fully connected layer). Equal to the whole product up to
    rounding: BLAS may order a block's sums differently."""
    if not (
        isinstance(acc, np.ndarray) and isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
    ) or not (acc.ndim == a.ndim == b.ndim == 2 and acc.shape == (a.shape[0], b.shape[1])):
        g = a @ b
        acc += g * scale if scale != 1 else g
        return acc
    m, n = acc.shape
    rows = max(1, ACC_BLOCK_BYTES // max(1, n * acc.itemsize))
    blocks = [(i, min(i + rows, m)) for i in range(0, m, rows)]
    nt = min(get_num_threads(), len(blocks))
    if 2 * m * n * a.shape[1] < PARALLEL_FLOPS:
        nt = 1
    parts = [blocks[len(blocks) * t // nt : len(blocks) * (t + 1) // nt] for t in range(nt)]

    def run(t):
        tmp = np.empty((rows, n), np.result_type(a, b))
        for i, j in parts[t]:
            g = np.matmul(a[i:j], b, out=tmp[: j - i])
            if scale != 1:
                g *= scale
            acc[i:j] += g

    parallel_for(run, nt)
    return acc
