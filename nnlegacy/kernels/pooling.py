"""Max pooling with Torch's sizing rules and 1-based in-plane indices."""

from __future__ import annotations

import math

import numpy as np

from ..backend import get_array_module
from . import cuda


def pool_output_size(size: int, k: int, d: int, pad: int, ceil_mode: bool) -> int:
    """Torch's pooling size: floor (or ceil) in float, then the last-window rule.

    With padding, a last window that would start in the right/bottom padding is
    dropped ("ensure that the last pooling starts inside the image").
    """
    ratio = float(size - k + 2 * pad) / d
    o = (math.ceil(ratio) if ceil_mode else math.floor(ratio)) + 1
    if pad and (o - 1) * d >= size + pad:
        o -= 1
    return int(o)


def _padded_shape(h, w, padH, padW, oH, oW, kH, kW, dH, dW):
    return max(h + padH, (oH - 1) * dH + kH), max(w + padW, (oW - 1) * dW + kW)


def _padded(x, padH, padW, oH, oW, kH, kW, dH, dW, fill):
    """x padded with ``fill`` so that every window lies inside the array."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    hp, wp = _padded_shape(h, w, padH, padW, oH, oW, kH, kW, dH, dW)
    if padH == 0 and padW == 0 and hp == h and wp == w:
        return x
    out = xp.full((n, c, hp, wp), fill, x.dtype)
    out[:, :, padH : padH + h, padW : padW + w] = x
    return out


def _window_slices(a, kH, kW, dH, dW, oH, oW):
    """The kH*kW strided slices of ``a``, one per window offset, in row-major order."""
    hs, ws = dH * (oH - 1) + 1, dW * (oW - 1) + 1
    for kh in range(kH):
        for kw in range(kW):
            yield (
                kh * kW + kw,
                (slice(None), slice(None), slice(kh, kh + hs, dH), slice(kw, kw + ws, dW)),
            )


def maxpool2d_forward(x, kH, kW, dH, dW, padH, padW, ceil_mode):
    """(output, argmax offset within each window as kh*kW + kw).

    Ties go to the first maximum in row-major order, as THNN's strict ``>`` scan.
    """
    xp = get_array_module(x)
    n, c, h, w = x.shape
    oH = pool_output_size(h, kH, dH, padH, ceil_mode)
    oW = pool_output_size(w, kW, dW, padW, ceil_mode)
    if cuda.usable(x):
        return cuda.maxpool_forward(x, kH, kW, dH, dW, padH, padW, oH, oW)
    xpad = _padded(x, padH, padW, oH, oW, kH, kW, dH, dW, -np.inf)
    windows = list(_window_slices(xpad, kH, kW, dH, dW, oH, oW))
    out = xpad[windows[0][1]].copy()
    arg = xp.zeros(out.shape, np.uint8 if kH * kW < 256 else np.int32)
    for k, sl in windows[1:]:  # kH*kW strided passes, no loop over pixels
        s = xpad[sl]
        # strict >: the first maximum wins, as THNN; and as THNN a NaN always wins
        # (``val > max || isnan(val)``), so the index points at the last NaN
        better = ((s > out) | (s != s)).view(np.uint8)
        xp.maximum(out, s, out=out)
        arg -= arg * better  # arithmetic on 0/1 masks: far faster than where/copyto
        arg += better * arg.dtype.type(k)
    return out, arg


def maxpool2d_indices(arg, h, w, kH, kW, dH, dW, padH, padW):
    """Torch's ``indices``: the 1-based flat position ``y*W + x + 1`` of each maximum
    in its H x W plane, 0 for an empty window."""
    xp = get_array_module(arg)
    oH, oW = arg.shape[-2:]
    hstart = np.arange(oH) * dH - padH
    wstart = np.arange(oW) * dW - padW
    a = arg.astype(np.int64)
    hx, wx = xp.asarray(hstart), xp.asarray(wstart)
    indices = (hx[:, None] + a // kW) * w + wx[None, :] + a % kW + 1
    empty_h = np.maximum(hstart, 0) >= np.minimum(hstart + kH, h)
    empty_w = np.maximum(wstart, 0) >= np.minimum(wstart + kW, w)
    if empty_h.any() or empty_w.any():
        indices = xp.where(xp.asarray(empty_h[:, None] | empty_w[None, :]), 0, indices)
    return indices


def maxpool2d_backward(gradOutput, arg, input_shape, kH, kW, dH, dW, padH, padW):
    """Route gradOutput to the argmax of each window (accumulating where windows overlap)."""
    if cuda.usable(gradOutput):
        return cuda.maxpool_backward(gradOutput, arg, input_shape, kH, kW, dH, dW, padH, padW)
    xp = get_array_module(gradOutput)
    n, c, h, w = input_shape
    oH, oW = gradOutput.shape[2:]
    hp, wp = _padded_shape(h, w, padH, padW, oH, oW, kH, kW, dH, dW)
    g = xp.zeros((n, c, hp, wp), gradOutput.dtype)
    overlap = kH > dH or kW > dW
    for k, sl in _window_slices(g, kH, kW, dH, dW, oH, oW):
        routed = gradOutput * (arg == k)
        if overlap:
            g[sl] += routed
        else:
            g[sl] = routed
    if (hp, wp) == (h, w) and padH == 0 and padW == 0:
        return g
    return xp.ascontiguousarray(g[:, :, padH : padH + h, padW : padW + w])


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


def avgpool2d_divisor(xp, dtype, h, w, kH, kW, dH, dW, padH, padW, oH, oW, include):
    """The (oH, oW) array of divisors, on the array module xp."""
    div_h = avgpool_divisors(h, kH, dH, padH, oH, include)
    div_w = avgpool_divisors(w, kW, dW, padW, oW, include)
    return xp.asarray((div_h[:, None] * div_w[None, :]).astype(dtype))


def avgpool2d_forward(x, kH, kW, dH, dW, padH, padW, ceil_mode, count_include_pad):
    xp = get_array_module(x)
    n, c, h, w = x.shape
    oH = pool_output_size(h, kH, dH, padH, ceil_mode)
    oW = pool_output_size(w, kW, dW, padW, ceil_mode)
    if cuda.usable(x):
        return cuda.avgpool_forward(x, kH, kW, dH, dW, padH, padW, oH, oW, count_include_pad)
    xpad = _padded(x, padH, padW, oH, oW, kH, kW, dH, dW, 0)
    windows = list(_window_slices(xpad, kH, kW, dH, dW, oH, oW))
    out = xpad[windows[0][1]].copy()
    for _, sl in windows[1:]:
        out += xpad[sl]
    # an empty window (ceil mode, exclude-pad) divides 0 by 0: NaN, as in THNN
    with np.errstate(invalid="ignore", divide="ignore"):
        out /= avgpool2d_divisor(
            xp, x.dtype, h, w, kH, kW, dH, dW, padH, padW, oH, oW, count_include_pad
        )
    return out


def avgpool2d_backward(gradOutput, input_shape, kH, kW, dH, dW, padH, padW, include):
    """Each gradOutput value / divisor, spread over its window (clipped to the image)."""
    if cuda.usable(gradOutput):
        return cuda.avgpool_backward(gradOutput, input_shape, kH, kW, dH, dW, padH, padW, include)
    xp = get_array_module(gradOutput)
    n, c, h, w = input_shape
    oH, oW = gradOutput.shape[2:]
    div = avgpool2d_divisor(xp, gradOutput.dtype, h, w, kH, kW, dH, dW, padH, padW, oH, oW, include)
    hp, wp = _padded_shape(h, w, padH, padW, oH, oW, kH, kW, dH, dW)
    g = xp.zeros((n, c, hp, wp), gradOutput.dtype)
    share = gradOutput / div
    for _, sl in _window_slices(g, kH, kW, dH, dW, oH, oW):
        g[sl] += share
    return xp.ascontiguousarray(g[:, :, padH : padH + h, padW : padW + w])
