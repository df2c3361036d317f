"""Convolution of any rank on the CPU (NumPy): unfold + GEMM in cache-sized chunks, on
nnlegacy's shared threads (``nnlegacy/threads.py``).

Unfolding a whole batch (THNN's ``finput``) writes ``C*prod(k)`` times the input to memory
and reads it back for each product: at batch 512 the columns leave every cache and each
image costs more than at 128. Here the batch is cut into *chunks* whose columns fit in
``CHUNK_BYTES`` (a few images; or a band of output rows of one image when a single image
is larger), and each chunk is unfolded, multiplied and dropped while still in cache. The
chunks are spread over the shared pool, BLAS held to one thread.

Layout of a chunk's columns: ``(C*prod(k), m)`` with rows in (c, k1, k2, ..) order, as the
weight matrix ``(O, C*prod(k))``, and the ``m = images * positions`` columns *batch-inner*
(image, then output position). So each product spans the whole chunk:

- forward: ``W @ cols`` -> ``(O, m)``, written transposed into the output (+ bias);
- backward: gradOutput's chunk transposed once to ``(O, m)`` serves both the weight
  gradient ``goT @ cols.T`` (one GEMM with ``K = m``, not one per image) and the input
  gradient ``fold(W.T @ goT)``.

The columns are not stored between forward and backward (memory stays near PyTorch's): the
backward pass unfolds each chunk again, from the cache-resident input, which costs less
than reading stored columns back from memory.
"""

from __future__ import annotations

import itertools
import math
import threading

import numpy as np

from .. import threads
from . import gemm
from .unfold import Unfold

CHUNK_BYTES = 1 << 20  # columns per chunk: about one core's L2 cache
MIN_COLUMNS = 256  # columns per chunk at least, so each product is a real GEMM
SMALL_BACKWARD_BYTES = 16 << 20  # backward: columns under this in one chunk per thread
PARALLEL_FLOPS = 50_000_000  # a convolution pass under this runs on the calling thread

__all__ = ["conv_backward", "conv_forward"]


# Wide rows only where their extra columns, times the output planes, are at most this
# many output rows' worth: the products (O values per column) then cost about what the
# copies of short runs would. On an Intel Xeon with AVX-512 (OpenBLAS SkylakeX kernels)
# plain rows took 7-15 % less in every layer of AlexNet, ResNet-18 and GoogLeNet that
# unfolds (AlexNet's 96 -> 256 5x5 on 27x27 at batch 8: forward 39.0 -> 35.3 ms,
# backward 89 -> 81 ms) and on LeNet's C3 (16 planes, 14 -> 10 wide); wide rows still
# won at 16 -> 16 planes on 56x56 maps (backward 5.0-5.4 against 5.8-6.1 ms).
WIDE_MAX_EXTRA = 1.0


def _wide(g: Unfold, o: int) -> bool:
    """Whether to use *wide rows*: output rows as long as the padded input row ``Wp``.

    With a stride of 1 along the last axis, a kernel offset then reads (unfold) and adds
    back (fold) one long contiguous run of each input plane instead of ``oW``-long pieces
    of each row, where NumPy's per-run overhead dominates on small maps. The ``Wp - oW``
    extra columns hold garbage; they are dropped from the output and get zero gradient,
    so they add zeros to the weight and input gradients. The products grow by
    ``Wp / oW`` (at most 1.5), each extra column costing ``o`` output values: hence the
    WIDE_MAX_EXTRA limit.
    """
    wp = g.size[-1] + 2 * g.pad[-1]
    extra = wp - g.out[-1]
    return (
        len(g.k) >= 2
        and g.d[-1] == 1
        and 2 * wp <= 3 * g.out[-1]
        and o * extra <= WIDE_MAX_EXTRA * g.out[-1]
    )


class _Chunk:
    """Images ``n0:n1`` and output rows ``r0:r1`` (first spatial axis) of one convolution,
    with the padded-coordinate input rows ``lo:hi`` that those windows read; ``out`` is
    the chunk's output positions per image (last axis ``Wp`` long with wide rows)."""

    def __init__(self, g: Unfold, n0, n1, r0, r1, whole, wide):
        self.n0, self.n1, self.r0, self.r1 = n0, n1, r0, r1
        k0, d0, p0, dl0 = g.k[0], g.d[0], g.pad[0], g.dil[0]
        if whole:  # every padded row: the fold then covers rows no window reads (zeros)
            self.lo, self.hi = 0, g.size[0] + 2 * p0
        else:
            self.lo, self.hi = r0 * d0, (r1 - 1) * d0 + dl0 * (k0 - 1) + 1
        self.whole, self.wide = whole, wide
        last = g.size[-1] + 2 * g.pad[-1] if wide else g.out[-1]
        self.out = (r1 - r0, *g.out[1:-1], last) if len(g.out) > 1 else (r1 - r0,)
        self.m = (n1 - n0) * math.prod(self.out)
        # the padded input window (nc, C, hi-lo, *padded rest), and the elements past its
        # end that the garbage columns of wide rows read (zeros)
        self.window = (
            n1 - n0,
            g.c,
            self.hi - self.lo,
            *(s + 2 * p for s, p in zip(g.size[1:], g.pad[1:])),
        )
        self.slack = (g.k[-1] - 1) * g.dil[-1] + last if wide else 0


def _chunks(g: Unfold, itemsize: int, nthreads: int, nout: int, whole_below: int = 0):
    """Cut the batch into chunks: several whole images when one image's columns fit in
    the budget, else bands of output rows of one image.

    The budget for a chunk's columns is CHUNK_BYTES, or the weight matrix's size where
    that is larger: each chunk's products stream the weights and add a weight-sized
    partial gradient, so late layers (big weights, small maps) take bigger chunks. When
    all the columns take under ``whole_below`` bytes, each thread takes one chunk: the
    backward pass makes some 35 NumPy calls a chunk, which on LeNet's small layers cost
    more than the cache misses of big chunks (C3's backward: 3.5 -> 2.9 ms at batch 128)."""
    budget = max(CHUNK_BYTES, nout * g.rows * itemsize)
    wide = _wide(g, nout)
    rest = math.prod(g.out[1:]) * ((g.size[-1] + 2 * g.pad[-1]) / g.out[-1] if wide else 1)
    per_row = g.rows * rest * itemsize  # columns of one output row of one image, in bytes
    total = per_row * g.out[0] * g.n
    if total <= whole_below:
        budget = max(budget, -(-total // nthreads))
    band = max(int(budget // per_row), int(-(-MIN_COLUMNS // rest)), 1)
    if band >= g.out[0]:  # whole images
        imgs = max(int(budget // (per_row * g.out[0])), -(-MIN_COLUMNS // g.positions), 1)
        imgs = min(imgs, -(-g.n // nthreads))  # at least one chunk per thread if possible
        return [
            _Chunk(g, n0, min(n0 + imgs, g.n), 0, g.out[0], True, wide)
            for n0 in range(0, g.n, imgs)
        ]
    return [
        _Chunk(g, n, n + 1, r0, min(r0 + band, g.out[0]), False, wide)
        for n in range(g.n)
        for r0 in range(0, g.out[0], band)
    ]


def _threads(g: Unfold, o: int, products: int = 1) -> int:
    """Threads for a convolution of ``products`` GEMM-sized passes: all of them, or one
    where the work is too small to pay for waking the pool. A hand-off to an idle thread
    takes 0.03-0.3 ms (measured 0.24-0.28 ms a round trip on the project's virtual
    machine, where an idle core sleeps), about what LeNet-5's layers take whole."""
    flops = 2 * o * g.rows * g.n * g.positions * products
    return threads.get_num_threads() if flops >= PARALLEL_FLOPS else 1


def _split(items, parts):
    """``items`` in ``parts`` contiguous runs of near-equal length (one per thread)."""
    k, r = divmod(len(items), parts)
    out, i = [], 0
    for p in range(parts):
        j = i + k + (p < r)
        out.append(items[i:j])
        i = j
    return out


def _input_grad(chunks, g: Unfold, dtype, gi=None):
    """gradInput's array (``gi``, the module's previous one, if given): uninitialised
    where every chunk assigns whole images, zeros where bands of one image add into it."""
    whole = all(c.whole for c in chunks)
    if gi is None:
        return (np.empty if whole else np.zeros)((g.n, g.c, *g.size), dtype)
    if not whole:
        gi[...] = 0
    return gi


def _sum_partials(results, bias):
    """The threads' partial (weight, bias) gradients, summed."""
    gw, gb = results[0]
    for r in results[1:]:
        gw = gw + r[0]
        gb = gb + r[1] if bias else None
    return gw, gb


def _inside(g: Unfold, c: _Chunk):
    """(input rows a:b inside the chunk's window; the index of those rows, without the
    padding, in a window array ``(nc or C, C or nc, rows, *padded rest)``)."""
    a, b = max(c.lo - g.pad[0], 0), min(c.hi - g.pad[0], g.size[0])
    rows = slice(a + g.pad[0] - c.lo, b + g.pad[0] - c.lo)
    inner = (slice(p, p + s) for s, p in zip(g.size[1:], g.pad[1:]))
    return a, b, (slice(None), slice(None), rows, *inner)


_local = threading.local()  # each thread's scratch buffers


def _scratch(slot: str, shape, dtype, slack=0, zero=False):
    """A reusable per-thread array of ``shape`` followed in memory by ``slack`` zeros
    (read by wide rows' extra columns); zero-filled if ``zero``, else uninitialised.

    Fresh arrays of a chunk's size would come from ``mmap`` and cost a page fault per 4
    KiB at every chunk; these stay mapped and in cache. Each thread keeps the largest it
    has needed per slot (a few MiB)."""
    n = math.prod(shape)
    bufs = _local.__dict__.setdefault("bufs", {})
    key = (slot, np.dtype(dtype))
    b = bufs.get(key)
    if b is None or b.size < n + slack:
        b = bufs[key] = np.empty(n + slack, dtype)
    if zero:
        b[: n + slack] = 0
    elif slack:
        b[n : n + slack] = 0
    return b[:n].reshape(shape)


def _input_window(x, g: Unfold, c: _Chunk):
    """The chunk's input rows ``c.lo:c.hi`` in padded coordinates, ``c.window``: a view of
    ``x`` where no padding (nor wide-row slack) is read, else a zero-padded copy."""
    if not any(g.pad) and not c.wide:
        return x[c.n0 : c.n1, :, c.lo : c.hi]
    buf = _scratch("window", c.window, x.dtype, c.slack, zero=True)
    a, b, inside = _inside(g, c)
    buf[inside] = x[c.n0 : c.n1, :, a:b]
    return buf


def _window_view(buf, g: Unfold, c: _Chunk, n_axis: int):
    """The strided view ``(C, *k, nc, *c.out)`` of a window buffer whose image axis is
    ``n_axis`` (0: ``(nc, C, ..)``, 1: ``(C, nc, ..)``) and channel axis the other."""
    s = buf.strides  # the window starts at the chunk's first window (c.lo = c.r0 * d)
    return np.lib.stride_tricks.as_strided(
        buf,
        (g.c, *g.k, c.n1 - c.n0, *c.out),
        (
            s[1 - n_axis],
            *(a * dl for a, dl in zip(s[2:], g.dil)),
            s[n_axis],
            *(a * d for a, d in zip(s[2:], g.d)),
        ),
    )


def _unfold(x, g: Unfold, c: _Chunk):
    """The chunk's columns ``(C*prod(k), m)``, batch-inner: one strided copy."""
    cols = _scratch("cols", (g.c, *g.k, c.n1 - c.n0, *c.out), x.dtype)
    np.copyto(cols, _window_view(_input_window(x, g, c), g, c, 0))
    return cols.reshape(g.rows, c.m)


def _fold(gcols, g: Unfold, c: _Chunk):
    """The adjoint of _unfold: ``(C*prod(k), m)`` summed into the chunk's zero-padded
    input window, laid out ``(C, nc, hi-lo, ..)`` as the columns are so that each kernel
    offset is one add of like-shaped arrays (one contiguous run per plane with wide rows)."""
    nc = c.n1 - c.n0
    buf = _scratch("fold", (g.c, nc, *c.window[2:]), gcols.dtype, c.slack, zero=True)
    view = _window_view(buf, g, c, 1)  # (C, *k, nc, *out), writable: offsets never overlap
    cols = gcols.reshape(view.shape)
    for offs in itertools.product(*(range(k) for k in g.k)):
        at = (slice(None), *offs)
        np.add(view[at], cols[at], out=view[at])
    return buf


def _store_input_grad(gi, buf, g: Unfold, c: _Chunk, lock):
    """Crop the padding off a folded window ``(C, nc, ..)`` and put it in gradInput: whole
    images are disjoint (assign); bands of one image overlap at their edges (add, under a
    lock)."""
    a, b, inside = _inside(g, c)
    src = buf[inside].swapaxes(0, 1)
    if c.whole:
        gi[c.n0 : c.n1] = src
    else:
        with lock:
            gi[c.n0 : c.n1, :, a:b] += src


def _output(out, shape, dtype):
    """The caller's output array (the module's previous one, to be written again) if
    given, else a new one."""
    return np.empty(shape, dtype) if out is None else out


def _planes_first(a, g: Unfold):
    """``a`` ``(N, planes, *positions)`` copied to ``(planes, N * positions)``: the whole
    batch as one matrix, for products over every position at once."""
    n, planes = a.shape[:2]
    out = np.empty((planes, n, g.positions), a.dtype)
    np.copyto(out, a.reshape(n, planes, g.positions).swapaxes(0, 1))
    return out.reshape(planes, n * g.positions)


def conv_forward(x, weight2d, bias, g: Unfold, out=None):
    """Output ``(N, O, *out)`` of the convolution of ``x`` ``(N, C, *size)``."""
    if _pointwise(g):
        return _pointwise_forward(x, weight2d, bias, g, out)
    if _direct(g, x, weight2d):
        return _direct_forward(x, weight2d, bias, g, out)
    if _flat(g):
        return _flat_forward(x, weight2d, bias, g, out)
    o = weight2d.shape[0]
    out = _output(out, (g.n, o, *g.out), x.dtype)
    w = np.ascontiguousarray(weight2d)
    b = None if bias is None else bias.reshape(o, 1, *(1,) * len(g.out))
    nt = _threads(g, o)
    chunks = _chunks(g, x.itemsize, nt, o)

    def run(part):
        for c in part:
            res = np.matmul(w, _unfold(x, g, c), out=_scratch("res", (o, c.m), x.dtype))
            res = res.reshape(o, c.n1 - c.n0, *c.out)[..., : g.out[-1]]
            dst = out[c.n0 : c.n1, :, c.r0 : c.r1].transpose(1, 0, *range(2, 2 + len(g.out)))
            if b is None:
                dst[...] = res
            else:
                np.add(res, b, out=dst)  # bias added in the same pass that writes the output

    parts = [p for p in _split(chunks, nt) if p]
    threads.parallel_for(lambda i: run(parts[i]), len(parts))
    return out


def conv_backward(
    x, gradOutput, weight2d, g: Unfold, need_input=True, need_weight=True, bias=True, gi=None
):
    """(gradInput or None, dL/dweight ``(O, C*prod(k))`` or None, dL/dbias or None) in one
    pass over the chunks; the caller accumulates the parameter gradients."""
    if _pointwise(g):
        return _pointwise_backward(x, gradOutput, weight2d, g, need_input, need_weight, bias, gi)
    if _direct(g, x, gradOutput, weight2d):
        return _direct_backward(x, gradOutput, weight2d, g, need_input, need_weight, bias, gi)
    if _flat(g):
        return _flat_backward(x, gradOutput, weight2d, g, need_input, need_weight, bias, gi)
    o = weight2d.shape[0]
    if _by_channels(g, o, x.itemsize):
        return _channel_backward(x, gradOutput, weight2d, g, need_input, need_weight, bias, gi)
    w = np.ascontiguousarray(weight2d)
    nd = len(g.out)
    gi = gi if need_input else None
    lock = threading.Lock()
    nt = _threads(g, o, need_input + need_weight)
    chunks = _chunks(g, x.itemsize, nt, o, SMALL_BACKWARD_BYTES)
    if need_input:
        gi = _input_grad(chunks, g, gradOutput.dtype, gi)

    def run(part):
        gw = gb = None
        for c in part:
            go = gradOutput[c.n0 : c.n1, :, c.r0 : c.r1]
            # gradOutput's chunk as (O, m), for both GEMMs; zero in wide rows' extra columns
            goT = _scratch("goT", (o, c.n1 - c.n0, *c.out), go.dtype)
            if c.wide:
                goT[..., g.out[-1] :] = 0
            np.copyto(goT[..., : g.out[-1]], go.transpose(1, 0, *range(2, 2 + nd)))
            goT = goT.reshape(o, c.m)
            if need_weight:
                cols = _unfold(x, g, c)
                if gw is None:  # this thread's partial sums
                    gw = goT @ cols.T  # one GEMM, K = m
                    gb = goT.sum(axis=1) if bias else None
                else:
                    gw += np.matmul(goT, cols.T, out=_scratch("gw", gw.shape, gw.dtype))
                    if bias:
                        gb += goT.sum(axis=1)
            if need_input:
                gcols = np.matmul(w.T, goT, out=_scratch("gcols", (g.rows, c.m), goT.dtype))
                _store_input_grad(gi, _fold(gcols, g, c), g, c, lock)
        return gw, gb

    parts = [p for p in _split(chunks, nt) if p]
    results = threads.parallel_for(lambda i: run(parts[i]), len(parts))
    gw = gb = None
    if need_weight:  # one partial sum per thread
        gw, gb = _sum_partials(results, bias)
    return gi, gw, gb


# --- Backward by input planes: one share of the channels per thread ------------------
#
# Cutting the batch between the threads gives each a partial weight gradient of the whole
# weight's size, written and then summed (and, cut into bands of rows, one partial per
# band): on small maps with big weights that costs as much as the products. Cut by input
# planes instead, each thread unfolds its planes for the whole batch and writes its own
# columns of the weight gradient ``gradOutput @ cols_t.T`` (K = every position of the
# batch) and its own planes of the input gradient, folded from ``W[:, cols_t].T @
# gradOutput``: nothing is summed between threads and nothing is locked. gradOutput is
# transposed to (O, positions) once, shared.

CHANNEL_MAX_BYTES = 64 << 20  # the batch's columns at most (held per thread, by shares)
# weight elements per column element at least; below, where a share's products are
# mostly over positions and the batch fits one chunk per thread, the two cuts ran even.
# On two threads of the Intel Xeon in docs/contributing.md, backward in ms, batch 8:
# 512 -> 512 3x3 on 7x7 (ratio 1.3) 22-23 -> 19.5, 384 -> 384 on 13x13 (0.28) 39.7 ->
# 34.4, 256 -> 512 stride 2 on 14x14 (1.3) 11.8 -> 10.7, 256 on 14x14 (0.16) 20.1 ->
# 19.1, 128 -> 256 stride 2 on 28x28 (0.16) even, 64 -> 128 stride 2 on 56x56 (0.02)
# 15.2 -> 15.6; AlexNet's 96 -> 256 5x5 on 27x27, batch cut into bands, 78 -> 68-71.
CHANNEL_MIN_RATIO = 0.1
# input planes at least: with 3 (a first layer) the shares are 1 and 2 planes and the
# batch's columns leave the cache; GoogLeNet's 7x7/2 stem at batch 4, weight gradient:
# 13.8 ms cut by batch, 18.3 by planes; AlexNet's 11x11/4 16.6 against 21.5
CHANNEL_MIN_PLANES = 16


def _by_channels(g: Unfold, o: int, itemsize: int) -> bool:
    """Whether the backward pass cuts the input planes between threads (see above): on
    more than one thread, on CHANNEL_MIN_PLANES input planes or more, the batch's columns
    within CHANNEL_MAX_BYTES, and the weight big against them or the batch cut into
    bands."""
    nt = threads.get_num_threads()
    cols = g.rows * g.n * g.positions
    if nt < 2 or g.c < max(2, CHANNEL_MIN_PLANES) or cols * itemsize > CHANNEL_MAX_BYTES:
        return False
    if _threads(g, o, 2) < 2:
        return False
    banded = not _chunks(g, itemsize, nt, o, SMALL_BACKWARD_BYTES)[0].whole
    return banded or o * g.rows >= CHANNEL_MIN_RATIO * cols


def _channel_backward(x, gradOutput, weight2d, g: Unfold, need_input, need_weight, bias, gi):
    o, n = weight2d.shape[0], g.n
    goT = _planes_first(gradOutput, g)
    gb = goT.sum(axis=1) if bias and need_weight else None
    gw = np.empty((o, g.rows), gradOutput.dtype) if need_weight else None
    # every plane of every image is assigned
    gi = _output(gi, (n, g.c, *g.size), gradOutput.dtype) if need_input else None
    parts = min(threads.get_num_threads(), g.c)
    cuts = [g.c * t // parts for t in range(parts + 1)]
    k = g.ksize

    def run(t):
        c0, c1 = cuts[t], cuts[t + 1]
        gt = Unfold((n, c1 - c0, *g.size), g.k, g.d, g.pad, g.dil)
        whole = _Chunk(gt, 0, n, 0, gt.out[0], True, False)
        if need_weight:
            cols = _unfold(x[:, c0:c1], gt, whole)
            np.matmul(goT, cols.T, out=gw[:, c0 * k : c1 * k])
        if need_input:
            shape = (gt.rows, whole.m)
            gcols = np.matmul(
                weight2d[:, c0 * k : c1 * k].T, goT, out=_scratch("gcols", shape, goT.dtype)
            )
            _store_input_grad(gi[:, c0:c1], _fold(gcols, gt, whole), gt, whole, None)

    threads.parallel_for(run, parts)
    return gi, gw, gb


# --- Stride 1: one product per kernel offset, no columns -------------------------------
#
# With stride 1 on every axis, the output at flat position p of a zero-padded input
# window (rows of ``Wp``, planes of ``Hp*Wp``, ..) is the sum over kernel offsets of
# ``W_k @ window[:, p + off_k]``, ``off_k`` the offset's flat distance. Laid out
# ``(C, images, rows, *padded rest)``, a chunk's window is one ``(C, L)`` matrix, and for
# each offset ``window[:, off_k : off_k + m]`` is a (C, m) matrix with leading dimension
# L: BLAS reads it in place (gemm.py) and adds ``W_k @`` it to the output (``beta = 1``).
# Positions that straddle a row's end or an image's last rows are computed and dropped,
# as the wide rows above (a few per cent more products); ``m = L - max(off)`` keeps every
# read inside the window. The backward pass is the same products transposed: the weight
# gradient ``g @ window[:, off_k:].T`` per offset and the input gradient added back at
# each offset, ``window_grad[:, off_k:] += W_k.T @ g``. No column matrix is ever written:
# the unfold's ``prod(k)`` copies of the input are gone.


DIRECT_CHUNK_BYTES = 4 << 20  # window and output per chunk (BLAS blocks it for L2 itself)
DIRECT_MIN_CHANNELS = 32  # thinner inputs make products too thin (K = C) to pay
DIRECT_MAX_WASTE = 1.2  # padded positions per output position at most
# The weight gradient per kernel offset as ``window_k @ gradOutput.T`` (gradOutput copied
# to (m, O) once a chunk, so BLAS reads both operands along their rows) where O is at
# most this, else ``gradOutput @ window_k.T``: with OpenBLAS's SkylakeX kernels on an
# Intel Xeon, 64 -> 64 planes on 56x56 maps at batch 8 took 31.5-31.8 against 34.2-35.0
# ms backward, 96 -> 128 on 28x28 at batch 4 11.8 against 12.5, 128 -> 128 on 28x28 the
# same; 64 -> 192 on 56x56 took 42.9 against 38.1 (tools/kernelbench-style alternating
# rounds in one process).
DIRECT_TRANSPOSED_MAX_O = 128


def _direct(g: Unfold, *arrays) -> bool:
    """Whether the column-free path applies and pays: stride 1 everywhere, a BLAS gemm for
    the dtype, at least DIRECT_MIN_CHANNELS input planes, and few dropped positions (a
    3x3 kernel on a 7x7 map computes 81 positions for 49; there unfolding is faster).
    Measured per layer against the unfolding path on Zen 5 with OpenBLAS's SkylakeX
    kernels: backward 35 -> 24 ms for ResNet-18's 64-plane 56x56 layers at batch 8, 81 ->
    64 ms for VGG-16's second layer at batch 2; forward about even; slower at 3 planes
    (3.5 -> 7.8 ms) and on 7x7 maps."""
    if not all(d == 1 for d in g.d) or g.c < DIRECT_MIN_CHANNELS:
        return False
    padded = math.prod(s + 2 * p for s, p in zip(g.size, g.pad))
    if padded > DIRECT_MAX_WASTE * g.positions:
        return False
    dtype = arrays[0].dtype
    return all(a.dtype == dtype for a in arrays) and gemm.available(dtype)


class _Direct:
    """One chunk's window on the column-free path: shape ``(C, nc, rows, *padded rest)``
    as a (C, L) matrix, the offsets of the kernel positions, the ``m`` positions computed
    and the slices of the valid ones in a ``(.., nc, rows, *rest)`` array."""

    def __init__(self, g: Unfold, c: _Chunk):
        nc = c.n1 - c.n0
        rest = tuple(s + 2 * p for s, p in zip(g.size[1:], g.pad[1:]))
        self.shape = (nc, c.hi - c.lo, *rest)  # per channel
        self.length = math.prod(self.shape)
        flat = [math.prod(self.shape[i + 1 :]) for i in range(1, len(self.shape))]
        self.offsets = [
            sum(j * dl * f for j, dl, f in zip(offs, g.dil, flat))
            for offs in itertools.product(*(range(k) for k in g.k))
        ]
        self.m = self.length - self.offsets[-1]
        self.valid = (
            slice(None),
            slice(None),
            slice(0, c.r1 - c.r0),
            *(slice(0, o) for o in g.out[1:]),
        )


def _direct_chunks(g: Unfold, itemsize: int, nthreads: int, o: int):
    """Chunks whose window and output (``(C + O)`` values per padded position) fit in
    DIRECT_CHUNK_BYTES: whole images, or bands of output rows of one image."""
    rest = math.prod(s + 2 * p for s, p in zip(g.size[1:], g.pad[1:]))
    per_row = (g.c + o) * rest * itemsize  # one padded row of window and output
    halo = g.dil[0] * (g.k[0] - 1)
    rows = g.size[0] + 2 * g.pad[0]
    if per_row * rows <= DIRECT_CHUNK_BYTES or g.out[0] == 1:
        imgs = max(int(DIRECT_CHUNK_BYTES // (per_row * rows)), -(-MIN_COLUMNS // (rows * rest)), 1)
        imgs = min(imgs, -(-g.n // nthreads))  # at least one chunk per thread if possible
        return [
            _Chunk(g, n0, min(n0 + imgs, g.n), 0, g.out[0], True, False)
            for n0 in range(0, g.n, imgs)
        ]
    band = max(int(DIRECT_CHUNK_BYTES // per_row) - halo, -(-MIN_COLUMNS // rest), 1)
    band = -(-g.out[0] // -(-g.out[0] // band))  # equal bands: no thin last one
    return [
        _Chunk(g, n, n + 1, r0, min(r0 + band, g.out[0]), False, False)
        for n in range(g.n)
        for r0 in range(0, g.out[0], band)
    ]


def _window_cn(x, g: Unfold, c: _Chunk, d: _Direct, slot="dwin"):
    """The chunk's zero-padded input window laid out (C, nc, rows, *rest), as (C, L)."""
    buf = _scratch(slot, (g.c, *d.shape), x.dtype, zero=True)
    a, b, inside = _inside(g, c)
    buf[inside] = x[c.n0 : c.n1, :, a:b].swapaxes(0, 1)
    return buf.reshape(g.c, d.length)


def _offset_weights(weight2d, g: Unfold):
    """The weight as one (O, C) matrix per kernel offset: (prod(k), O, C), contiguous."""
    o = weight2d.shape[0]
    return np.ascontiguousarray(weight2d.reshape(o, g.c, g.ksize).transpose(2, 0, 1))


def _direct_forward(x, weight2d, bias, g: Unfold, out=None):
    o = weight2d.shape[0]
    out = _output(out, (g.n, o, *g.out), x.dtype)
    wk = _offset_weights(weight2d, g)
    b = None if bias is None else bias.reshape(o, 1, *(1,) * len(g.out))
    nt = _threads(g, o)
    chunks = _direct_chunks(g, x.itemsize, nt, o)

    def run(part):
        for c in part:
            d = _Direct(g, c)
            win = _window_cn(x, g, c, d)
            res = _scratch("dres", (o, d.length), x.dtype)
            for i, off in enumerate(d.offsets):
                gemm.gemm(wk[i], win[:, off : off + d.m], res[:, : d.m], 1.0 if i else 0.0)
            valid = res.reshape(o, *d.shape)[d.valid]
            dst = out[c.n0 : c.n1, :, c.r0 : c.r1].swapaxes(0, 1)
            if b is None:
                dst[...] = valid
            else:
                np.add(valid, b, out=dst)

    parts = [p for p in _split(chunks, nt) if p]
    threads.parallel_for(lambda i: run(parts[i]), len(parts))
    return out


def _direct_backward(x, gradOutput, weight2d, g: Unfold, need_input, need_weight, bias, gi=None):
    o = weight2d.shape[0]
    wk = _offset_weights(weight2d, g)
    lock = threading.Lock()
    nt = _threads(g, o, need_input + need_weight)
    chunks = _direct_chunks(g, x.itemsize, nt, o)
    gi = gi if need_input else None
    if need_input:
        gi = _input_grad(chunks, g, gradOutput.dtype, gi)
    transposed = o <= DIRECT_TRANSPOSED_MAX_O

    def run(part):
        gw = gb = None
        for c in part:
            d = _Direct(g, c)
            # gradOutput in the window's layout (O, nc, rows, *rest): zero where dropped
            go = _scratch("dgo", (o, *d.shape), gradOutput.dtype, zero=True)
            go[d.valid] = gradOutput[c.n0 : c.n1, :, c.r0 : c.r1].swapaxes(0, 1)
            go = go.reshape(o, d.length)[:, : d.m]
            if need_weight:
                win = _window_cn(x, g, c, d)
                if gw is None:  # this thread's partial sums, one (O, C) or (C, O) per offset
                    per = (g.c, o) if transposed else (o, g.c)
                    gw = np.empty((len(d.offsets), *per), gradOutput.dtype)
                    gb = go.sum(axis=1) if bias else None
                    beta = 0.0
                else:
                    beta = 1.0
                    if bias:
                        gb += go.sum(axis=1)
                if transposed:  # window_k @ gradOutput.T, gradOutput copied to (m, O)
                    got = _scratch("dgoT", (d.m, o), go.dtype)
                    np.copyto(got, go.T)
                    for i, off in enumerate(d.offsets):
                        gemm.gemm(win[:, off : off + d.m], got, gw[i], beta)
                else:
                    for i, off in enumerate(d.offsets):
                        gemm.gemm(go, win[:, off : off + d.m].T, gw[i], beta)
            if need_input:
                fold = _scratch("fold", (g.c, *d.shape), gradOutput.dtype, zero=True)
                flat = fold.reshape(g.c, d.length)
                for i, off in enumerate(d.offsets):
                    gemm.gemm(wk[i].T, go, flat[:, off : off + d.m], 1.0)
                _store_input_grad(gi, fold, g, c, lock)
        return gw, gb

    parts = [p for p in _split(chunks, nt) if p]
    results = threads.parallel_for(lambda i: run(parts[i]), len(parts))
    gw = gb = None
    if need_weight:  # one partial sum per thread, then (O, C*prod(k)) as the weight
        gw, gb = _sum_partials(results, bias)
        order = (2, 1, 0) if transposed else (1, 2, 0)
        gw = np.ascontiguousarray(gw.transpose(order)).reshape(o, g.rows)
    return gi, gw, gb


# --- 1x1 kernels, stride 1, no padding: a product per image, nothing copied ------------
#
# Each image's output is ``W @ x[n]`` with ``x[n]`` its (C, positions) matrix as stored:
# no window, no column matrix, no transposed copy of the output (GoogLeNet's 1x1 layers,
# ResNet's projections with stride 1). Images go to the threads in runs; the weight
# gradient sums ``g[n] @ x[n].T`` over a run's images, as one stacked product summed.

PER_IMAGE_BYTES = 4 << 20  # a run's stacked weight-gradient products at most


def _pointwise(g: Unfold) -> bool:
    return all(k == 1 for k in g.k) and all(d == 1 for d in g.d) and not any(g.pad)


def _image_runs(g: Unfold, per_image_bytes: int, o: int, products: int = 1):
    """Runs of images, one or more per thread, each under PER_IMAGE_BYTES of temporaries."""
    nt = _threads(g, o, products)
    per = max(1, min(PER_IMAGE_BYTES // max(1, per_image_bytes), -(-g.n // nt)))
    runs = [(n, min(n + per, g.n)) for n in range(0, g.n, per)]
    return [r for r in _split(runs, min(nt, len(runs))) if r]


def _pointwise_forward(x, weight2d, bias, g: Unfold, out=None):
    o = weight2d.shape[0]
    xs = x.reshape(g.n, g.c, g.positions)
    full = _output(out, (g.n, o, *g.out), x.dtype)
    out = full.reshape(g.n, o, g.positions)
    w = np.ascontiguousarray(weight2d)
    b = None if bias is None else bias.reshape(o, 1)

    def run(part):
        for n0, n1 in part:
            np.matmul(w, xs[n0:n1], out=out[n0:n1])
            if b is not None:
                out[n0:n1] += b

    parts = _image_runs(g, 0, o)
    threads.parallel_for(lambda i: run(parts[i]), len(parts))
    return full


# Up to this many positions an image (GoogLeNet's 7x7 maps) the backward pass multiplies
# the whole batch at once, input and gradOutput copied to (planes, images * positions):
# the weight gradient is then one product with K = N * positions where the per-image
# products have K = 49. 832 -> 384 planes on 7x7 at batch 4: 2.2-2.4 against 1.6-1.7
# ms on two threads; on 14x14 (196 positions) the per-image products were faster.
POINTWISE_BATCHED_MAX = 64


def _pointwise_batched_backward(
    x, gradOutput, weight2d, g: Unfold, need_input, need_weight, bias, gi
):
    """_pointwise_backward for small maps: ``(C, N*P)`` and ``(O, N*P)`` copies, the weight
    gradient's rows and the input gradient's planes shared out between the threads."""
    o, n, p = weight2d.shape[0], g.n, g.positions
    xs = _planes_first(x, g) if need_weight else None
    go = _planes_first(gradOutput, g)
    gw = np.empty((o, g.c), gradOutput.dtype) if need_weight else None
    gb = go.sum(axis=1) if need_weight and bias else None
    full = _output(gi, (n, g.c, *g.size), gradOutput.dtype) if need_input else None
    gi3 = None if full is None else full.reshape(n, g.c, p)
    nt = _threads(g, o, need_input + need_weight)
    ocut = [o * t // nt for t in range(nt + 1)]
    ccut = [g.c * t // nt for t in range(nt + 1)]

    def run(t):
        if need_weight:
            np.matmul(go[ocut[t] : ocut[t + 1]], xs.T, out=gw[ocut[t] : ocut[t + 1]])
        if need_input:
            c0, c1 = ccut[t], ccut[t + 1]
            part = weight2d[:, c0:c1].T @ go  # (planes, N * P)
            gi3[:, c0:c1] = part.reshape(c1 - c0, n, p).swapaxes(0, 1)

    threads.parallel_for(run, nt)
    return full, gw, gb


def _pointwise_backward(x, gradOutput, weight2d, g: Unfold, need_input, need_weight, bias, gi=None):
    if g.positions <= POINTWISE_BATCHED_MAX:
        return _pointwise_batched_backward(
            x, gradOutput, weight2d, g, need_input, need_weight, bias, gi
        )
    o = weight2d.shape[0]
    xs = x.reshape(g.n, g.c, g.positions)
    go = np.ascontiguousarray(gradOutput).reshape(g.n, o, g.positions)
    full = _output(gi, (g.n, g.c, *g.size), gradOutput.dtype) if need_input else None
    gi = None if full is None else full.reshape(g.n, g.c, g.positions)
    wt = np.ascontiguousarray(weight2d).T

    def run(part):
        gw = gb = None
        for n0, n1 in part:
            if need_input:
                np.matmul(wt, go[n0:n1], out=gi[n0:n1])
            if need_weight:
                w_run = np.matmul(go[n0:n1], xs[n0:n1].transpose(0, 2, 1)).sum(axis=0)
                gw = w_run if gw is None else gw + w_run
                if bias:
                    b_run = go[n0:n1].sum(axis=(0, 2))
                    gb = b_run if gb is None else gb + b_run
        return gw, gb

    parts = _image_runs(g, o * g.c * x.itemsize, o, need_input + need_weight)
    results = threads.parallel_for(lambda i: run(parts[i]), len(parts))
    gw = gb = None
    if need_weight:  # one partial sum per thread
        gw, gb = _sum_partials(results, bias)
    return full, gw, gb


# --- Stride 1 on few planes: unfold along the flat planes ------------------------------
#
# With stride 1 the window at flat position p of a zero-padded plane (``P`` values) reads
# ``p + off_k`` for each kernel offset k. A chunk's planes laid out ``(C, images, P)``
# (plus zeros past the end) are one ``(C, L)`` matrix, and the unfolded row of (c, k) is
# the single contiguous run ``planes[c, off_k : off_k + L]``: the whole unfold is one copy
# of long runs, and the fold one long add per offset (the row-by-row unfold copies runs
# of 28-32 values at LeNet's sizes, at several times the cost per value). Positions whose
# windows straddle a row's end or run into the next image are computed too and dropped;
# their gradient is zero, so what they add into a neighbour is zero. (An infinite input
# value read by such a position adds inf * 0 = NaN to the weight gradient, which the
# unfolding path would give as +-inf; as the wide rows of that path do.)
#
# The products are per image on the first ``mp = P - max(off)`` positions (NumPy loops
# over a stacked matmul in C): thin layers (6 or 16 output planes) then stay under
# OpenBLAS's small-matrix size, which packs nothing and runs 2-3x faster on such shapes,
# and the output comes out image-major. A row of ones under the columns carries the bias
# through the product (forward: then the output is one plain copy, 3x faster than adding
# a broadcast bias; backward: the bias gradient falls out of the weight product).

FLAT_CHUNK_BYTES = 1 << 19  # a chunk's columns on one thread
FLAT_PARALLEL_CHUNK_BYTES = 2 << 20  # on several threads (coarser: fewer hand-overs)
FLAT_MAX_WASTE = 2.0  # padded plane positions per output position at most
FLAT_MIN_POSITIONS = 64  # computed per image, so each product is a real GEMM
FLAT_MAX_IMAGE_BYTES = 2 << 20  # one image's columns at most (chunks are whole images)


class _Flat:
    """The flat-plane geometry: padded plane ``P`` values, the kernel offsets' flat
    distances, ``mp`` positions computed per image, the strides of the output positions."""

    def __init__(self, g: Unfold):
        self.padded = tuple(s + 2 * p for s, p in zip(g.size, g.pad))
        self.P = math.prod(self.padded)
        self.flat = [math.prod(self.padded[i + 1 :]) for i in range(len(self.padded))]
        self.kstrides = [dl * f for dl, f in zip(g.dil, self.flat)]
        self.offsets = [
            sum(j * st for j, st in zip(offs, self.kstrides))
            for offs in itertools.product(*(range(k) for k in g.k))
        ]
        self.mp = self.P - self.offsets[-1]
        self.out = g.out
        self.key = (g.size, g.k, g.pad, g.dil)  # what decides the written parts of buffers
        self.inner = (slice(None), slice(None), *(slice(p, p + s) for s, p in zip(g.size, g.pad)))

    def valid(self, a):
        """The output positions of ``a`` (.., P or mp positions) as a view (.., *out)."""
        s = a.strides[-1]
        return np.lib.stride_tricks.as_strided(
            a, (*a.shape[:-1], *self.out), (*a.strides[:-1], *(f * s for f in self.flat))
        )


def _flat(g: Unfold) -> bool:
    """Whether the flat-plane path applies and pays: stride 1, fewer than
    DIRECT_MIN_CHANNELS planes, FLAT_MIN_POSITIONS computed per image, at most
    FLAT_MAX_WASTE padded positions per output position, and one image's (float32)
    columns under FLAT_MAX_IMAGE_BYTES (VGG's first layer, 5.7 MB an image, is faster
    unfolded by bands of rows: 31.2 against 38.6 ms at batch 8, forward and backward)."""
    if not all(d == 1 for d in g.d) or g.c >= DIRECT_MIN_CHANNELS:
        return False
    f = _Flat(g)
    image = (g.rows + 1) * f.P * 4
    return (
        f.mp >= FLAT_MIN_POSITIONS
        and f.P <= FLAT_MAX_WASTE * g.positions
        and image <= FLAT_MAX_IMAGE_BYTES
    )


KEPT_BYTES = 64 << 20  # a thread's kept buffers at most (dropped, then made again)


def _kept(slot: str, shape, dtype, f: _Flat, init=0):
    """A per-thread array of ``shape`` filled with ``init`` when made, whose user then
    writes only part of it and leaves the rest as it was: not filled again on reuse.
    One per geometry ``f``: which part is written depends on it."""
    bufs = _local.__dict__.setdefault("kept", {})
    key = (slot, tuple(shape), np.dtype(dtype), f.key)
    b = bufs.get(key)
    if b is None:
        if sum(a.nbytes for a in bufs.values()) > KEPT_BYTES:  # many layers: start over
            bufs.clear()
        b = bufs[key] = np.full(shape, init, dtype)
    return b


def _flat_planes(x, g: Unfold, f: _Flat, n0, n1):
    """Images n0:n1 zero-padded as one flat run ``(C, nc, P)`` and ``max(off)`` zeros."""
    nc = n1 - n0
    buf = _kept("fplanes", (g.c * nc * f.P + f.offsets[-1],), x.dtype, f)
    planes = buf[: g.c * nc * f.P].reshape(g.c, nc, *f.padded)
    planes[f.inner] = x[n0:n1].swapaxes(0, 1)
    return buf


def _flat_columns(planes, g: Unfold, f: _Flat, nc):
    """The chunk's columns ``(prod(k)*C + 1, nc, P)``, rows in (k, c) order and a last row
    of ones: for each kernel offset, one run of the planes ``C*nc*P`` long."""
    cols = _kept("fcols", (len(f.offsets) * g.c + 1, nc, f.P), planes.dtype, f, 1)
    s = planes.strides[0]
    run = g.c * nc * f.P
    src = np.lib.stride_tricks.as_strided(planes, (*g.k, run), (*(k * s for k in f.kstrides), s))
    np.copyto(cols[: g.rows].reshape(*g.k, run), src)
    return cols


def _kc_order(weight2d, g: Unfold):
    """The weight's columns from (c, k) to (k, c) order: (O, prod(k)*C)."""
    o = weight2d.shape[0]
    return weight2d.reshape(o, g.c, g.ksize).transpose(0, 2, 1).reshape(o, g.rows)


# OpenBLAS multiplies without packing (2-3x faster on thin shapes) up to this M*N*K
SMALL_GEMM = 1_000_000


def _thin_product(a, b):
    """``a @ b.T`` for a ``(m, K)`` and b ``(n, K)`` with ``K`` long: in blocks of ``K``
    under OpenBLAS's small-matrix size where the output is small (LeNet's C1: 0.8 against
    1.5 ms), else one product."""
    (m, k), n = a.shape, b.shape[0]
    block = SMALL_GEMM // (m * n)
    if block < 2048 or block >= k:
        return a @ b.T
    tmp = np.empty((m, n), np.result_type(a, b))
    acc = np.zeros((m, n), tmp.dtype)
    for i in range(0, k, block):
        acc += np.matmul(a[:, i : i + block], b[:, i : i + block].T, out=tmp)
    return acc


FLAT_PARALLEL_FLOPS = 50_000_000  # a flat-path pass under this runs on the calling thread


def _flat_chunks(g: Unfold, f: _Flat, itemsize: int, o: int, products: int):
    """(threads, chunks of whole images): above FLAT_PARALLEL_FLOPS, on the threads,
    chunks of FLAT_PARALLEL_CHUNK_BYTES of columns (at most one per thread); below, on
    the calling thread, chunks of FLAT_CHUNK_BYTES. On the project's virtual machines two
    threads gain only on coarse work: a NumPy call under ~20 us does not run in parallel
    with the other thread's (the GIL changes hands at each), and smaller chunks mean
    more, shorter calls (LeNet's C1 backward: 1.4 ms on one thread in 512 KiB chunks,
    2.1-2.8 ms on two). Coarser than 2 MiB, the columns leave the cache: LeNet-5's step
    took a median 28.4 ms with 8 MiB, 27.2 with 4 and 25.9 with 2 on an Intel Xeon
    (tools/kernelbench step, 15 rounds)."""
    flops = 2 * o * (g.rows + 1) * g.n * f.mp * products
    nt = threads.get_num_threads() if flops >= FLAT_PARALLEL_FLOPS else 1
    image = (g.rows + 1) * f.P * itemsize
    if nt > 1:
        imgs = min(-(-g.n // nt), max(1, FLAT_PARALLEL_CHUNK_BYTES // image))
    else:
        imgs = max(1, FLAT_CHUNK_BYTES // image)
    return nt, [(n0, min(n0 + imgs, g.n)) for n0 in range(0, g.n, imgs)]


def _with_bias(weight2d, bias):
    """(O, C*prod(k) + 1): the weight and the bias (or zeros) as its last column."""
    o = weight2d.shape[0]
    wb = np.empty((o, weight2d.shape[1] + 1), weight2d.dtype)
    wb[:, :-1] = weight2d
    wb[:, -1] = 0 if bias is None else bias
    return wb


def _flat_forward(x, weight2d, bias, g: Unfold, out=None):
    o = weight2d.shape[0]
    f = _Flat(g)
    out = _output(out, (g.n, o, *g.out), x.dtype)
    wb = _with_bias(_kc_order(weight2d, g), bias)
    nt, chunks = _flat_chunks(g, f, x.itemsize, o, 1)

    def run(i):
        n0, n1 = chunks[i]
        cols = _flat_columns(_flat_planes(x, g, f, n0, n1), g, f, n1 - n0)
        res = _scratch("fres", (n1 - n0, o, f.mp), x.dtype)
        np.matmul(wb, cols[:, :, : f.mp].swapaxes(0, 1), out=res)  # per image, bias included
        np.copyto(out[n0:n1], f.valid(res))

    threads.parallel_for(run, len(chunks), nt)
    return out


def _flat_backward(x, gradOutput, weight2d, g: Unfold, need_input, need_weight, bias, gi=None):
    o = weight2d.shape[0]
    f = _Flat(g)
    wt = np.ascontiguousarray(_kc_order(weight2d, g).T)
    nt, chunks = _flat_chunks(g, f, x.itemsize, o, need_input + need_weight)
    gi = _output(gi, (g.n, g.c, *g.size), gradOutput.dtype) if need_input else None

    def run(i):
        """The chunk's (prod(k)*C + 1, O) weight and bias gradient (None without)."""
        n0, n1 = chunks[i]
        nc = n1 - n0
        span = g.c * nc * f.P
        # gradOutput at its padded flat positions, (O, nc, P): zero where dropped
        go = _kept("fgo", (o, nc, f.P), gradOutput.dtype, f)
        f.valid(go)[...] = gradOutput[n0:n1].swapaxes(0, 1)
        gwt = None
        if need_weight:  # the bias gradient is the last row (the ones)
            cols = _flat_columns(_flat_planes(x, g, f, n0, n1), g, f, nc)
            gwt = _thin_product(cols.reshape(-1, nc * f.P), go.reshape(o, nc * f.P))
        if need_input:
            # W.T @ gradOutput per image on the mp positions; the rest stays zero
            gcols = _kept("fgcols", (g.rows, nc, f.P), go.dtype, f)
            per_image = gcols[:, :, : f.mp].swapaxes(0, 1)
            np.matmul(wt, go[:, :, : f.mp].swapaxes(0, 1), out=per_image)
            fold = _scratch("ffold", (span + f.offsets[-1],), go.dtype, zero=True)
            # each offset adds one run: what crosses into the next image is zero
            for k, off in enumerate(f.offsets):
                dst = fold[off : off + span]
                np.add(dst, gcols[k * g.c : (k + 1) * g.c].reshape(-1), out=dst)
            gi[n0:n1] = fold[:span].reshape(g.c, nc, *f.padded)[f.inner].swapaxes(0, 1)
        return gwt

    results = threads.parallel_for(run, len(chunks), nt)
    if not need_weight:
        return gi, None, None
    gwt = sum(results[1:], results[0])  # the chunks' partial sums
    gw = gwt[: g.rows].reshape(g.ksize, g.c, o).transpose(2, 1, 0).reshape(o, g.rows)
    return gi, np.ascontiguousarray(gw), (gwt[g.rows].copy() if bias else None)
