"""Max pooling with Torch's sizing rules and 1-based in-plane indices."""

from __future__ import annotations

import math

import numpy as np

from ..backend import get_array_module


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


def _padded(x, padH, padW, oH, oW, kH, kW, dH, dW, fill):
    """x padded with ``fill`` so that every window lies inside the array."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    hp = max(h + padH, (oH - 1) * dH + kH)
    wp = max(w + padW, (oW - 1) * dW + kW)
    if padH == 0 and padW == 0 and hp == h and wp == w:
        return x
    out = xp.full((n, c, hp, wp), fill, x.dtype)
    out[:, :, padH : padH + h, padW : padW + w] = x
    return out


def maxpool2d_forward(x, kH, kW, dH, dW, padH, padW, ceil_mode):
    """(output, indices, argmax offset within the window).

    ``indices`` are Torch's: the 1-based flat index ``h*W + w + 1`` of the maximum
    within the H x W plane, 0 for an empty window. Ties go to the first maximum in
    row-major order (strict ``>``), as THNN.
    """
    xp = get_array_module(x)
    n, c, h, w = x.shape
    oH = pool_output_size(h, kH, dH, padH, ceil_mode)
    oW = pool_output_size(w, kW, dW, padW, ceil_mode)
    xpad = _padded(x, padH, padW, oH, oW, kH, kW, dH, dW, -np.inf)
    hs, ws = dH * (oH - 1) + 1, dW * (oW - 1) + 1
    out = xpad[:, :, 0:hs:dH, 0:ws:dW].copy()
    arg = xp.zeros(out.shape, np.int32)
    for kh in range(kH):  # kH*kW strided comparisons, no loop over pixels
        for kw in range(kW):
            if kh == 0 and kw == 0:
                continue
            s = xpad[:, :, kh : kh + hs : dH, kw : kw + ws : dW]
            better = s > out
            out = xp.where(better, s, out)
            arg = xp.where(better, np.int32(kh * kW + kw), arg)
    hstart = np.arange(oH) * dH - padH
    wstart = np.arange(oW) * dW - padW
    hx, wx = xp.asarray(hstart), xp.asarray(wstart)
    indices = ((hx[:, None] + arg // kW) * w + wx[None, :] + arg % kW + 1).astype(np.int64)
    empty_h = np.maximum(hstart, 0) >= np.minimum(hstart + kH, h)
    empty_w = np.maximum(wstart, 0) >= np.minimum(wstart + kW, w)
    if empty_h.any() or empty_w.any():
        empty = xp.asarray(empty_h[:, None] | empty_w[None, :])
        indices = xp.where(empty, 0, indices)
    return out, indices, arg


def maxpool2d_backward(gradOutput, arg, input_shape, kH, kW, dH, dW, padH, padW):
    """Scatter gradOutput to the argmax of each window (accumulating on overlap)."""
    xp = get_array_module(gradOutput)
    n, c, h, w = input_shape
    oH, oW = gradOutput.shape[2:]
    hp = max(h + padH, (oH - 1) * dH + kH)
    wp = max(w + padW, (oW - 1) * dW + kW)
    g = xp.zeros((n, c, hp, wp), gradOutput.dtype)
    hs, ws = dH * (oH - 1) + 1, dW * (oW - 1) + 1
    zero = gradOutput.dtype.type(0)
    for kh in range(kH):
        for kw in range(kW):
            sel = xp.where(arg == kh * kW + kw, gradOutput, zero)
            g[:, :, kh : kh + hs : dH, kw : kw + ws : dW] += sel
    return xp.ascontiguousarray(g[:, :, padH : padH + h, padW : padW + w])
