"""Max and average pooling over 1, 2 or 3 trailing axes, with Torch's sizing rules.

One implementation for every rank: a chain of ``maximum`` (or sums) over the strided
slices of each kernel offset; the 2-D entry points add the CUDA fast path."""

from __future__ import annotations

import itertools
import math

import numpy as np

from .. import threads
from ..backend import get_array_module
from . import cuda


def pool_output_size(
    size: int, k: int, d: int, pad: int, ceil_mode: bool, dilation: int = 1
) -> int:
    """Torch's pooling size: floor (or ceil) in float, then the last-window rule.

    A window spans ``dilation * (k - 1) + 1`` input positions. With padding, a last
    window that would start in the right/bottom padding is dropped ("ensure that the
    last pooling starts inside the image").
    """
    ratio = float(size - (dilation * (k - 1) + 1) + 2 * pad) / d
    o = (math.ceil(ratio) if ceil_mode else math.floor(ratio)) + 1
    if pad and (o - 1) * d >= size + pad:
        o -= 1
    return int(o)


def _padded_sizes(sizes, ks, ds, pads, dils, outs):
    """Per axis, the padded extent that holds every window (left pad included)."""
    return tuple(
        max(s + p, (o - 1) * d + (k - 1) * dl + 1)
        for s, k, d, p, dl, o in zip(sizes, ks, ds, pads, dils, outs)
    )


def _padded_nd(x, ks, ds, pads, dils, outs, fill):
    """x (N, C, *spatial) padded with ``fill`` so that every window lies inside it."""
    xp = get_array_module(x)
    sizes = x.shape[2:]
    full = _padded_sizes(sizes, ks, ds, pads, dils, outs)
    if not any(pads) and full == tuple(sizes):
        return x
    out = xp.full(x.shape[:2] + full, fill, x.dtype)
    out[(slice(None), slice(None)) + tuple(slice(p, p + s) for p, s in zip(pads, sizes))] = x
    return out


def _window_slices_nd(ks, ds, dils, outs):
    """(flat offset, slices) for every kernel offset, in row-major order over ks."""
    for k, offset in enumerate(itertools.product(*(range(k) for k in ks))):
        yield (
            k,
            (slice(None), slice(None))
            + tuple(
                slice(j * dl, j * dl + d * (o - 1) + 1, d)
                for j, d, dl, o in zip(offset, ds, dils, outs)
            ),
        )


PARALLEL_BYTES = 1 << 18  # a NumPy input under this is pooled whole, inline
# planes pooled together (threads.over_runs): in L2 with their copies and output, so each
# kernel offset's pass runs in cache; every plane is pooled on its own
PLANE_RUN_BYTES = 1 << 20


def _as_planes(x):
    """(N, C, *spatial) as contiguous (N*C, 1, *spatial): planes to pool by runs."""
    return np.ascontiguousarray(x).reshape(-1, 1, *x.shape[2:])


def _flat(xp, ds) -> bool:
    """Stride 1 on NumPy: pool in the flat layout (see _flat_offsets)."""
    return xp is np and all(d == 1 for d in ds)


def _flat_offsets(full, ks, dils):
    """With stride 1, the window at flat position p of a contiguous array of trailing shape
    ``full`` reads ``p + off`` for each kernel offset's ``off``: every pass is then one
    long contiguous run over all planes at once (NumPy's strided passes over a 7x7 map
    run 7 values at a time, and cost ~10x more per value). Positions whose windows
    straddle a row's end or a plane's last rows are computed too and dropped; ``m``, the
    positions computed, keeps every read inside the array."""
    strides = [math.prod(full[i + 1 :]) for i in range(len(full))]
    offsets = [
        sum(j * dl * st for j, dl, st in zip(offs, dils, strides))
        for offs in itertools.product(*(range(k) for k in ks))
    ]
    return offsets


def _scan_axis(xp, val, idx, views, weight, nan, adtype, size=None, dest=None):
    """One axis of the separable scan: the maximum over ``views`` (one per kernel offset
    ``j`` along the axis, in increasing order) of ``val``, and its index ``j * weight +
    idx`` (``idx`` the index within the later axes' part of the window, None for the
    first axis scanned). ``size``: the outputs are the first elements of arrays that
    long (flat layout), else of the views' shape, or ``dest`` (out, arg) if given."""
    first = val[views[0]]
    shape = first.shape
    if dest is not None:
        o, a = dest
    elif size is None:
        o, a = xp.empty(shape, val.dtype), xp.empty(shape, adtype)
    else:
        o, a = xp.empty(size, val.dtype)[: first.size], xp.empty(size, adtype)[: first.size]
    if len(views) == 1:
        o[...] = first
        a[...] = 0 if idx is None else idx[views[0]]
        return o, a
    better = xp.empty(shape, np.bool_)
    tmp = xp.empty(shape, adtype)
    for j, view in enumerate(views[1:], 1):
        s = val[view]
        prev = first if j == 1 else o  # the maximum so far (no copy of the first view)
        xp.greater(s, prev, out=better)  # strict >: the first maximum wins, as THNN
        if nan:
            better |= s != s
        xp.maximum(prev, s, out=o)
        # the index where better: each offset's indices exceed every earlier one (j *
        # weight > (j - 1) * weight + idx), so this is max(a, better * index), far
        # faster than where/copyto
        if idx is None:
            if j == 1:
                a[...] = better
            else:
                xp.multiply(better.view(np.uint8), a.dtype.type(j), out=tmp)
                xp.maximum(a, tmp, out=a)
        else:
            xp.add(idx[view], a.dtype.type(j * weight), out=tmp)
            tmp *= better
            xp.maximum(idx[views[0]] if j == 1 else a, tmp, out=a)
    return o, a


def _maxpool_into(x, out, arg, ks, ds, pads, dils):
    """Max pooling of x (N, C, *spatial) into ``out`` and ``arg`` (see maxpool_nd_forward).

    Separable where a side of the kernel is over 2: the maximum over the last axis's
    offsets first, then over each earlier axis's of those maxima, keeping the index in
    the window. A 3x3 kernel then takes 2 + 2 passes with fewer NumPy calls each, where
    a scan of its 9 offsets takes 8: GoogLeNet's pools took 20-36 % less, ResNet-18's
    3x3/2 9-18 % (tools/kernelbench-style rounds on the Intel Xeon in
    docs/contributing.md); LeNet-5's disjoint 2x2 windows stay a scan of the offsets
    (1.12 against 1.34 ms separable). The row-major scan's ties and NaNs come out the
    same: within the first row holding the maximum, its first column; with NaNs, the
    last NaN of the last row that holds one."""
    xp = get_array_module(x)
    outs = out.shape[2:]
    xpad = _padded_nd(x, ks, ds, pads, dils, outs, -np.inf)
    # as THNN a NaN always wins (``val > max || isnan(val)``), so the index points at the
    # last NaN; one sum tells whether the input has any (then each pass tests for it)
    nan = bool(xp.isnan(x.sum()))
    nd = len(ks)
    axes = list(reversed(range(nd))) if max(ks) > 2 else [None]  # None: every offset
    if _flat(xp, ds):  # one long pass per offset over the padded planes, see _flat_offsets
        xpad = np.ascontiguousarray(xpad)
        full = xpad.shape[2:]
        strides = [math.prod(full[i + 1 :]) for i in range(nd)]
        val, idx = xpad.reshape(-1), None
        for axis in axes:
            if axis is None:
                offsets, weight = _flat_offsets(full, ks, dils), 1
            else:
                step = dils[axis] * strides[axis]
                offsets = [j * step for j in range(ks[axis])]
                weight = math.prod(ks[axis + 1 :])
            m = val.size - offsets[-1]
            views = [slice(off, off + m) for off in offsets]
            size = xpad.size if axis in (0, None) else None
            val, idx = _scan_axis(xp, val, idx, views, weight, nan, arg.dtype, size)
        valid = (slice(None), slice(None), *(slice(0, n) for n in outs))
        out[...] = val.base.reshape(xpad.shape)[valid]
        arg[...] = idx.base.reshape(xpad.shape)[valid]
        return
    val, idx = xpad, None
    for axis in axes:
        if axis is None:
            views, weight = [sl for _, sl in _window_slices_nd(ks, ds, dils, outs)], 1
        else:
            k, d, dl, o = ks[axis], ds[axis], dils[axis], outs[axis]
            lead = (slice(None),) * (2 + axis)
            views = [(*lead, slice(j * dl, j * dl + d * (o - 1) + 1, d)) for j in range(k)]
            weight = math.prod(ks[axis + 1 :])
        dest = (out, arg) if axis in (0, None) else None
        val, idx = _scan_axis(xp, val, idx, views, weight, nan, arg.dtype, dest=dest)


def argmax_dtype(ks):
    """The type of max pooling's in-window argmax: uint8 for windows under 256 positions."""
    return np.dtype(np.uint8 if math.prod(ks) < 256 else np.int32)


def maxpool_nd_forward(x, ks, ds, pads, dils, ceil_mode, out=None, arg=None):
    """(output, argmax) of max pooling over the trailing ``len(ks)`` axes of
    ``x`` (N, C, *spatial); argmax is the row-major offset inside the window
    (uint8 when the window has under 256 positions).

    Ties go to the first maximum in row-major order, as THNN's strict ``>`` scan. A large
    NumPy input is pooled by runs of planes on the shared threads (threads.over_runs).
    ``out`` and ``arg``, if given, are written (the module's previous ones).
    """
    xp = get_array_module(x)
    outs = tuple(
        pool_output_size(s, k, d, p, ceil_mode, dl)
        for s, k, d, p, dl in zip(x.shape[2:], ks, ds, pads, dils)
    )
    adtype = argmax_dtype(ks)
    shape = x.shape[:2] + outs
    out = xp.empty(shape, x.dtype) if out is None else out
    arg = xp.empty(shape, adtype) if arg is None else arg
    if xp is not np or x.nbytes < PARALLEL_BYTES:
        _maxpool_into(x, out, arg, ks, ds, pads, dils)
        return out, arg
    planes = _as_planes(x)
    oplanes, aplanes = out.reshape(-1, 1, *outs), arg.reshape(-1, 1, *outs)

    def run(p0, p1):
        _maxpool_into(planes[p0:p1], oplanes[p0:p1], aplanes[p0:p1], ks, ds, pads, dils)

    threads.over_runs(run, planes.shape[0], planes[0].nbytes, PLANE_RUN_BYTES)
    return out, arg


def _maxpool_grad_into(gi, gradOutput, arg, ks, ds, pads, dils):
    """gradOutput routed to each window's argmax, written into gi (N, C, *spatial)."""
    xp = get_array_module(gradOutput)
    sizes = gi.shape[2:]
    outs = gradOutput.shape[2:]
    full = _padded_sizes(sizes, ks, ds, pads, dils, outs)
    if xp is np:
        _maxpool_grad_scatter(gi, gradOutput, arg, ks, ds, pads, dils, full)
        return
    overlap = any((k - 1) * dl + 1 > d for k, d, dl in zip(ks, ds, dils))
    direct = full == sizes and not any(pads)
    g = gi if direct else xp.empty(gi.shape[:2] + full, gradOutput.dtype)
    g[...] = 0
    routed = xp.empty_like(gradOutput) if overlap else None  # one buffer for every offset
    for k, sl in _window_slices_nd(ks, ds, dils, outs):
        if overlap:
            xp.multiply(gradOutput, arg == k, out=routed)
            g[sl] += routed
        else:  # disjoint windows: written straight into place
            xp.multiply(gradOutput, arg == k, out=g[sl])
    if not direct:
        gi[...] = g[(slice(None), slice(None), *(slice(p, p + s) for p, s in zip(pads, sizes)))]


_starts = {}  # (outs, full, ds) -> _window_starts for the most planes asked so far


def _window_starts(planes, outs, full, ds):
    """The flat position, in ``planes`` padded planes of ``full`` values laid end to end,
    of each output's window start: int64 ``(planes, prod(outs))``, read-only. Kept per
    geometry for the longest run of planes asked (a few MiB in all): the rows of a
    shorter run are its first rows."""
    key = (outs, full, ds)
    starts = _starts.get(key)
    if starts is None or starts.shape[0] < planes:
        strides = [math.prod(full[i + 1 :]) for i in range(len(full))]
        base = np.zeros((), np.int64)
        for o, d, st in zip(outs, ds, strides):
            base = np.add.outer(base, np.arange(o, dtype=np.int64) * (d * st))
        size = math.prod(full)
        starts = base.reshape(1, -1) + np.arange(0, planes * size, size, dtype=np.int64)[:, None]
        starts.flags.writeable = False
        if len(_starts) >= 16:  # many geometries: start over
            _starts.clear()
        _starts[key] = starts
    return starts[:planes]


def _maxpool_grad_scatter(gi, gradOutput, arg, ks, ds, pads, dils, full):
    """_maxpool_grad_into on NumPy: each output's input position (its window's start plus
    its argmax's offset, flat in the padded planes), and one ``np.add.at`` that adds the
    gradients there in the array's type, in output order: THNN's loop (``gradInput[max]
    += gradOutput``) exactly. Faster than the alternatives measured: a float64
    ``bincount`` took 2.4x as long on GoogLeNet's stem pool (0.76 against 0.32 ms for 20
    planes of 112x112), and a masked product per kernel offset 1.3-1.5x as long on
    LeNet-5's disjoint 2x2 windows (1.25 against 1.0 ms on 128x6x28x28; 27 passes for a
    3x3 kernel where windows overlap)."""
    planes = math.prod(gi.shape[:2])
    outs = gradOutput.shape[2:]
    idx = np.take(np.array(_flat_offsets(full, ks, dils), np.int64), arg.reshape(planes, -1))
    idx += _window_starts(planes, outs, tuple(full), tuple(ds))
    direct = tuple(full) == gi.shape[2:] and gi.flags.c_contiguous
    g = gi if direct else np.empty((*gi.shape[:2], *full), gi.dtype)
    g[...] = 0
    np.add.at(g.reshape(-1), idx.reshape(-1), gradOutput.reshape(-1))
    if not direct:
        crop = (slice(None), slice(None), *(slice(p, p + s) for p, s in zip(pads, gi.shape[2:])))
        gi[...] = g[crop]


def maxpool_nd_backward(gradOutput, arg, input_shape, ks, ds, pads, dils, gi=None):
    """Route gradOutput to the argmax of each window (accumulating where windows overlap),
    into ``gi`` if given (the module's previous gradInput)."""
    xp = get_array_module(gradOutput)
    shape = tuple(input_shape)
    gi = xp.empty(shape, gradOutput.dtype) if gi is None else gi
    if xp is not np or gi.nbytes < PARALLEL_BYTES:
        _maxpool_grad_into(gi, gradOutput, arg, ks, ds, pads, dils)
        return gi
    gplanes, aplanes = _as_planes(gradOutput), _as_planes(arg)
    iplanes = gi.reshape(-1, 1, *shape[2:])

    def run(p0, p1):
        _maxpool_grad_into(iplanes[p0:p1], gplanes[p0:p1], aplanes[p0:p1], ks, ds, pads, dils)

    threads.over_runs(run, iplanes.shape[0], iplanes[0].nbytes, PLANE_RUN_BYTES)
    return gi


def maxpool_nd_positions(arg, sizes, ks, ds, pads, dils):
    """Per axis, the input position (0-based) of each maximum, and a mask of the
    windows that hold no input position at all (ceil mode past the padding)."""
    xp = get_array_module(arg)
    outs = arg.shape[-len(ks) :]
    a = arg.astype(np.int64)
    positions, empty = [], None
    strides = [math.prod(ks[i + 1 :]) for i in range(len(ks))]
    for axis, (s, k, d, p, dl, o, st) in enumerate(zip(sizes, ks, ds, pads, dils, outs, strides)):
        shape = [1] * len(ks)
        shape[axis] = o
        start = np.arange(o) * d - p
        valid = (
            (start[:, None] + np.arange(k)[None, :] * dl >= 0)
            & (start[:, None] + np.arange(k)[None, :] * dl < s)
        ).any(axis=1)
        e = xp.asarray((~valid).reshape(shape))
        empty = e if empty is None else (empty | e)
        positions.append(xp.asarray(start.reshape(shape)) + (a // st) % k * dl)
    return positions, empty


def maxpool2d_forward(x, kH, kW, dH, dW, padH, padW, ceil_mode, out=None, arg=None):
    """(output, argmax offset within each window as kh*kW + kw)."""
    if cuda.usable(x):
        oH = pool_output_size(x.shape[2], kH, dH, padH, ceil_mode)
        oW = pool_output_size(x.shape[3], kW, dW, padW, ceil_mode)
        if cuda.fits(x.shape[0] * x.shape[1] * oH * oW):  # else the NumPy-API path
            return cuda.maxpool_forward(x, kH, kW, dH, dW, padH, padW, oH, oW)
    return maxpool_nd_forward(x, (kH, kW), (dH, dW), (padH, padW), (1, 1), ceil_mode, out, arg)


def maxpool2d_indices(arg, h, w, kH, kW, dH, dW, padH, padW, dilH=1, dilW=1):
    """Torch's ``indices``: the 1-based flat position ``y*W + x + 1`` of each maximum
    in its H x W plane, 0 for an empty window."""
    xp = get_array_module(arg)
    (ph, pw), empty = maxpool_nd_positions(
        arg, (h, w), (kH, kW), (dH, dW), (padH, padW), (dilH, dilW)
    )
    indices = ph * w + pw + 1
    if bool(empty.any()):
        indices = xp.where(empty, 0, indices)
    return indices


def maxpool2d_backward(gradOutput, arg, input_shape, kH, kW, dH, dW, padH, padW, gi=None):
    """Route gradOutput to the argmax of each window (accumulating where windows overlap)."""
    if cuda.usable(gradOutput) and cuda.fits(np.prod(input_shape, dtype=np.int64)):
        return cuda.maxpool_backward(gradOutput, arg, input_shape, kH, kW, dH, dW, padH, padW)
    return maxpool_nd_backward(
        gradOutput, arg, input_shape, (kH, kW), (dH, dW), (padH, padW), (1, 1), gi
    )


def avgpool_divisors(size, k, d, pad, out, count_include_pad):
    """Per-axis divisors of Torch's average pooling (the 2-D divisor is their product).

    The pool size is measured before clipping to the image but after clipping to the
    padded border, so ceil-mode overhang past the padding never counts.
    """
    start = np.arange(out) * d - pad
    end = np.minimum(start + k, size + pad)
    pool = end - start
    inside = np.minimum(end, size) - np.maximum(start, 0)
    return pool if count_include_pad else inside


def avgpool_nd_divisor(xp, dtype, sizes, ks, ds, pads, outs, include):
    """The array of divisors over the output positions, on the array module xp."""
    div = None
    for axis, (s, k, d, p, o) in enumerate(zip(sizes, ks, ds, pads, outs)):
        shape = [1] * len(ks)
        shape[axis] = o
        a = avgpool_divisors(s, k, d, p, o, include).reshape(shape)
        div = a if div is None else div * a
    return xp.asarray(div.astype(dtype))


def avgpool2d_divisor(xp, dtype, h, w, kH, kW, dH, dW, padH, padW, oH, oW, include):
    """The (oH, oW) array of divisors, on the array module xp."""
    return avgpool_nd_divisor(
        xp, dtype, (h, w), (kH, kW), (dH, dW), (padH, padW), (oH, oW), include
    )


def _tiled(sizes, ks, ds, pads, outs):
    """Whether the windows tile the input without gaps, overlap or padding (stride ==
    kernel, or a single window, along every axis; no padding; every window inside): global
    pooling (ResNet's 7x7 average) and 2x2/2 pooling."""
    return not any(pads) and all(
        (d == k or o == 1) and o * k <= s for s, k, d, o in zip(sizes, ks, ds, outs)
    )


def _tiled_shape(lead, ks, outs):
    """(N, C, o1, k1, o2, k2, ..): the windows as axes of their own."""
    return tuple(lead) + tuple(v for o, k in zip(outs, ks) for v in (o, k))


def avgpool_nd_forward(x, ks, ds, pads, ceil_mode, count_include_pad):
    """Mean over each window of the trailing ``len(ks)`` axes of x (N, C, *spatial)."""
    xp = get_array_module(x)
    ones = (1,) * len(ks)
    outs = tuple(
        pool_output_size(s, k, d, p, ceil_mode) for s, k, d, p in zip(x.shape[2:], ks, ds, pads)
    )
    if _tiled(x.shape[2:], ks, ds, pads, outs):
        # one reduction over the window axes instead of prod(ks) strided adds (a global
        # 64x64 average would otherwise be 4096 passes); the divisor is the window size
        crop = x[(Ellipsis, *(slice(0, o * k) for o, k in zip(outs, ks)))]
        axes = tuple(3 + 2 * i for i in range(len(ks)))
        out = crop.reshape(_tiled_shape(x.shape[:2], ks, outs)).sum(axis=axes)
        out /= x.dtype.type(math.prod(ks))
        return out
    xpad = _padded_nd(x, ks, ds, pads, ones, outs, 0)
    windows = list(_window_slices_nd(ks, ds, ones, outs))
    out = xpad[windows[0][1]].copy()
    for _, sl in windows[1:]:
        out += xpad[sl]
    # an empty window (ceil mode, exclude-pad) divides 0 by 0: NaN, as in THNN
    with np.errstate(invalid="ignore", divide="ignore"):
        out /= avgpool_nd_divisor(xp, x.dtype, x.shape[2:], ks, ds, pads, outs, count_include_pad)
    return out


def avgpool_nd_backward(gradOutput, input_shape, ks, ds, pads, include):
    """Each gradOutput value / divisor, spread over its window (clipped to the input)."""
    xp = get_array_module(gradOutput)
    ones = (1,) * len(ks)
    sizes = tuple(input_shape[2:])
    outs = gradOutput.shape[2:]
    if _tiled(sizes, ks, ds, pads, outs):  # each value / window size, spread over its tile
        share = gradOutput / gradOutput.dtype.type(math.prod(ks))
        expand = tuple(s for i in range(len(ks)) for s in (slice(None), None))
        tiles = xp.broadcast_to(
            share[(slice(None), slice(None), *expand)],
            _tiled_shape(gradOutput.shape[:2], ks, outs),
        ).reshape(tuple(input_shape[:2]) + tuple(o * k for o, k in zip(outs, ks)))
        if tiles.shape == tuple(input_shape):
            return xp.ascontiguousarray(tiles)
        g = xp.zeros(tuple(input_shape), gradOutput.dtype)  # dropped edge rows: no gradient
        g[(Ellipsis, *(slice(0, o * k) for o, k in zip(outs, ks)))] = tiles
        return g
    div = avgpool_nd_divisor(xp, gradOutput.dtype, sizes, ks, ds, pads, outs, include)
    full = _padded_sizes(sizes, ks, ds, pads, ones, outs)
    g = xp.zeros(tuple(input_shape[:2]) + full, gradOutput.dtype)
    share = gradOutput / div
    for _, sl in _window_slices_nd(ks, ds, ones, outs):
        g[sl] += share
    crop = tuple(slice(p, p + s) for p, s in zip(pads, sizes))
    return xp.ascontiguousarray(g[(slice(None), slice(None)) + crop])


def avgpool2d_forward(x, kH, kW, dH, dW, padH, padW, ceil_mode, count_include_pad):
    if cuda.usable(x):
        oH = pool_output_size(x.shape[2], kH, dH, padH, ceil_mode)
        oW = pool_output_size(x.shape[3], kW, dW, padW, ceil_mode)
        if cuda.fits(x.shape[0] * x.shape[1] * oH * oW):  # else the NumPy-API path
            return cuda.avgpool_forward(x, kH, kW, dH, dW, padH, padW, oH, oW, count_include_pad)
    return avgpool_nd_forward(x, (kH, kW), (dH, dW), (padH, padW), ceil_mode, count_include_pad)


def avgpool2d_backward(gradOutput, input_shape, kH, kW, dH, dW, padH, padW, include):
    """Each gradOutput value / divisor, spread over its window (clipped to the image)."""
    if cuda.usable(gradOutput) and cuda.fits(np.prod(input_shape, dtype=np.int64)):
        return cuda.avgpool_backward(gradOutput, input_shape, kH, kW, dH, dW, padH, padW, include)
    return avgpool_nd_backward(gradOutput, input_shape, (kH, kW), (dH, dW), (padH, padW), include)
