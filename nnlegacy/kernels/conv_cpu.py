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
from .unfold import Unfold

CHUNK_BYTES = 1 << 20  # columns per chunk: about one core's L2 cache
MIN_COLUMNS = 256  # columns per chunk at least, so each product is a real GEMM

__all__ = ["conv_backward", "conv_forward"]


class _Chunk:
    """Images ``n0:n1`` and output rows ``r0:r1`` (first spatial axis) of one convolution,
    with the padded-coordinate input rows ``lo:hi`` that those windows read."""

    def __init__(self, g: Unfold, n0, n1, r0, r1, whole):
        self.n0, self.n1, self.r0, self.r1 = n0, n1, r0, r1
        k0, d0, p0, dl0 = g.k[0], g.d[0], g.pad[0], g.dil[0]
        if whole:  # every padded row: the fold then covers rows no window reads (zeros)
            self.lo, self.hi = 0, g.size[0] + 2 * p0
        else:
            self.lo, self.hi = r0 * d0, (r1 - 1) * d0 + dl0 * (k0 - 1) + 1
        self.whole = whole
        self.out = (r1 - r0, *g.out[1:])
        self.m = (n1 - n0) * math.prod(self.out)


def _chunks(g: Unfold, itemsize: int, nthreads: int):
    """Cut the batch into chunks: several whole images when one image's columns fit in
    CHUNK_BYTES, else bands of output rows of one image."""
    rest = math.prod(g.out[1:])
    per_image = g.rows * g.positions * itemsize
    if per_image <= CHUNK_BYTES or g.out[0] == 1:
        imgs = max(CHUNK_BYTES // per_image, -(-MIN_COLUMNS // g.positions), 1)
        imgs = min(imgs, -(-g.n // nthreads))  # at least one chunk per thread if possible
        return [_Chunk(g, n0, min(n0 + imgs, g.n), 0, g.out[0], True) for n0 in range(0, g.n, imgs)]
    band = max(CHUNK_BYTES // (g.rows * rest * itemsize), -(-MIN_COLUMNS // rest), 1)
    return [
        _Chunk(g, n, n + 1, r0, min(r0 + band, g.out[0]), False)
        for n in range(g.n)
        for r0 in range(0, g.out[0], band)
    ]


def _split(items, parts):
    """``items`` in ``parts`` contiguous runs of near-equal length (one per thread)."""
    k, r = divmod(len(items), parts)
    out, i = [], 0
    for p in range(parts):
        j = i + k + (p < r)
        out.append(items[i:j])
        i = j
    return out


def _input_window(x, g: Unfold, c: _Chunk):
    """The chunk's input rows ``c.lo:c.hi`` in padded coordinates, as ``(nc, C, hi-lo,
    *padded rest)``: a view of ``x`` where no padding is read, else a zero-padded copy."""
    pads = g.pad
    if not any(pads):
        return x[c.n0 : c.n1, :, c.lo : c.hi]
    shape = (c.n1 - c.n0, g.c, c.hi - c.lo, *(s + 2 * p for s, p in zip(g.size[1:], pads[1:])))
    buf = np.zeros(shape, x.dtype)
    a, b = max(c.lo - pads[0], 0), min(c.hi - pads[0], g.size[0])  # input rows inside
    dst = (
        slice(None),
        slice(None),
        slice(a + pads[0] - c.lo, b + pads[0] - c.lo),
        *(slice(p, p + s) for s, p in zip(g.size[1:], pads[1:])),
    )
    buf[dst] = x[c.n0 : c.n1, :, a:b]
    return buf


def _unfold(x, g: Unfold, c: _Chunk):
    """The chunk's columns ``(C*prod(k), m)``, batch-inner: one strided copy."""
    src = _input_window(x, g, c)
    s = src.strides
    win = np.lib.stride_tricks.as_strided(
        src,
        (g.c, *g.k, c.n1 - c.n0, *c.out),
        (
            s[1],
            *(a * dl for a, dl in zip(s[2:], g.dil)),
            s[0],
            *(a * d for a, d in zip(s[2:], g.d)),
        ),
    )
    cols = np.empty((g.c, *g.k, c.n1 - c.n0, *c.out), x.dtype)
    np.copyto(cols, win)
    return cols.reshape(g.rows, c.m)


def _fold(gcols, g: Unfold, c: _Chunk):
    """The adjoint of _unfold: ``(C*prod(k), m)`` summed into the chunk's padded input
    window ``(nc, C, hi-lo, *padded rest)``, one strided add per kernel offset."""
    nc = c.n1 - c.n0
    buf = np.zeros(
        (nc, g.c, c.hi - c.lo, *(s + 2 * p for s, p in zip(g.size[1:], g.pad[1:]))), gcols.dtype
    )
    cols = gcols.reshape(g.c, *g.k, nc, *c.out)
    nd = len(g.k)
    order = (1, 0, *range(2, nd + 2))  # (c, nc, *out) -> (nc, c, *out)
    first = c.r0 * g.d[0] - c.lo  # where the chunk's first window starts in buf
    for offs in itertools.product(*(range(k) for k in g.k)):
        starts = (first + offs[0] * g.dil[0], *(o * dl for o, dl in zip(offs[1:], g.dil[1:])))
        dst = tuple(slice(s, s + d * (n - 1) + 1, d) for s, d, n in zip(starts, g.d, c.out))
        buf[(slice(None), slice(None), *dst)] += cols[(slice(None), *offs)].transpose(order)
    return buf


def _store_input_grad(gi, buf, g: Unfold, c: _Chunk, lock):
    """Crop the padding off a folded window and put it in gradInput: whole images are
    disjoint (assign); bands of one image overlap at their edges (add, under a lock)."""
    pads = g.pad
    a, b = max(c.lo - pads[0], 0), min(c.hi - pads[0], g.size[0])
    src = buf[
        (
            slice(None),
            slice(None),
            slice(a + pads[0] - c.lo, b + pads[0] - c.lo),
            *(slice(p, p + s) for s, p in zip(g.size[1:], pads[1:])),
        )
    ]
    if c.whole:
        gi[c.n0 : c.n1] = src
    else:
        with lock:
            gi[c.n0 : c.n1, :, a:b] += src


def conv_forward(x, weight2d, bias, g: Unfold):
    """Output ``(N, O, *out)`` of the convolution of ``x`` ``(N, C, *size)``."""
    o = weight2d.shape[0]
    out = np.empty((g.n, o, *g.out), x.dtype)
    w = np.ascontiguousarray(weight2d)
    b = None if bias is None else bias.reshape(o, 1, *(1,) * len(g.out))
    nt = threads.get_num_threads()
    chunks = _chunks(g, x.itemsize, nt)

    def run(part):
        for c in part:
            res = (w @ _unfold(x, g, c)).reshape(o, c.n1 - c.n0, *c.out)
            dst = out[c.n0 : c.n1, :, c.r0 : c.r1].transpose(1, 0, *range(2, 2 + len(g.out)))
            if b is None:
                dst[...] = res
            else:
                np.add(res, b, out=dst)  # bias added in the same pass that writes the output

    parts = [p for p in _split(chunks, nt) if p]
    threads.parallel_for(lambda i: run(parts[i]), len(parts))
    return out


def conv_backward(x, gradOutput, weight2d, g: Unfold, need_input=True, need_weight=True, bias=True):
    """(gradInput or None, dL/dweight ``(O, C*prod(k))`` or None, dL/dbias or None) in one
    pass over the chunks; the caller accumulates the parameter gradients."""
    o = weight2d.shape[0]
    w = np.ascontiguousarray(weight2d)
    nd = len(g.out)
    gi = None
    lock = threading.Lock()
    nt = threads.get_num_threads()
    chunks = _chunks(g, x.itemsize, nt)
    if need_input:
        whole = all(c.whole for c in chunks)
        gi = (np.empty if whole else np.zeros)((g.n, g.c, *g.size), gradOutput.dtype)

    def run(part):
        gw = gb = None
        for c in part:
            go = gradOutput[c.n0 : c.n1, :, c.r0 : c.r1]
            goT = np.empty((o, c.n1 - c.n0, *c.out), go.dtype)
            np.copyto(goT, go.transpose(1, 0, *range(2, 2 + nd)))  # (O, m): for both GEMMs
            goT = goT.reshape(o, c.m)
            if need_weight:
                part_gw = goT @ _unfold(x, g, c).T  # one GEMM, K = m
                gw = part_gw if gw is None else gw.__iadd__(part_gw)
                if bias:
                    s = goT.sum(axis=1)
                    gb = s if gb is None else gb.__iadd__(s)
            if need_input:
                _store_input_grad(gi, _fold(w.T @ goT, g, c), g, c, lock)
        return gw, gb

    parts = [p for p in _split(chunks, nt) if p]
    results = threads.parallel_for(lambda i: run(parts[i]), len(parts))
    gw = gb = None
    if need_weight:  # one partial sum per thread
        gw = results[0][0]
        for r in results[1:]:
            gw += r[0]
        if bias:
            gb = results[0][1]
            for r in results[1:]:
                gb += r[1]
    return gi, gw, gb
