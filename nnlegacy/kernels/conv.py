"""2-D convolution as im2col + GEMM (Torch's SpatialConvolutionMM), on NumPy or CuPy.

Layouts: input ``(N, C, H, W)``, weight as a matrix ``(O, C*kH*kW)`` in (c, kh, kw)
order, columns ``(N, C*kH*kW, oH*oW)``.
"""

from __future__ import annotations

from ..backend import get_array_module


def conv_output_size(size: int, k: int, d: int, pad: int) -> int:
    """``(size + 2*pad - k) // d + 1`` with C division (truncation toward zero)."""
    num = size + 2 * pad - k
    return int(num / d) + 1 if num < 0 else num // d + 1


def _pad(x, padH, padW):
    if padH == 0 and padW == 0:
        return x
    xp = get_array_module(x)
    n, c, h, w = x.shape
    out = xp.zeros((n, c, h + 2 * padH, w + 2 * padW), x.dtype)
    out[:, :, padH : padH + h, padW : padW + w] = x
    return out


def im2col(x, kH, kW, dH, dW, padH, padW, oH, oW):
    """Columns ``(N, C*kH*kW, oH*oW)`` of the zero-padded input ``x`` (N, C, H, W)."""
    xp = get_array_module(x)
    xpad = xp.ascontiguousarray(_pad(x, padH, padW))
    n, c = x.shape[:2]
    sN, sC, sH, sW = xpad.strides
    win = xp.lib.stride_tricks.as_strided(
        xpad, (n, c, kH, kW, oH, oW), (sN, sC, sH, sW, sH * dH, sW * dW)
    )
    return xp.ascontiguousarray(win).reshape(n, c * kH * kW, oH * oW)


def col2im(cols, shape, kH, kW, dH, dW, padH, padW, oH, oW):
    """The adjoint of im2col: sum columns back into an input-shaped array."""
    xp = get_array_module(cols)
    n, c, h, w = shape
    g = xp.zeros((n, c, h + 2 * padH, w + 2 * padW), cols.dtype)
    cols = cols.reshape(n, c, kH, kW, oH, oW)
    for kh in range(kH):  # a loop over kernel offsets, not over pixels
        for kw in range(kW):
            g[:, :, kh : kh + dH * (oH - 1) + 1 : dH, kw : kw + dW * (oW - 1) + 1 : dW] += cols[
                :, :, kh, kw
            ]
    if padH or padW:
        g = g[:, :, padH : padH + h, padW : padW + w]
    return xp.ascontiguousarray(g)


def conv2d_forward(x, weight2d, bias, kH, kW, dH, dW, padH, padW):
    """Output ``(N, O, oH, oW)`` and the columns (kept for the weight gradient)."""
    xp = get_array_module(x)
    n, _, h, w = x.shape
    oH = conv_output_size(h, kH, dH, padH)
    oW = conv_output_size(w, kW, dW, padW)
    cols = im2col(x, kH, kW, dH, dW, padH, padW, oH, oW)
    out = xp.matmul(weight2d, cols)
    if bias is not None:
        out += bias[None, :, None]
    return out.reshape(n, weight2d.shape[0], oH, oW), cols


def conv2d_backward_input(gradOutput, weight2d, input_shape, kH, kW, dH, dW, padH, padW):
    xp = get_array_module(gradOutput)
    n, o, oH, oW = gradOutput.shape
    gcols = xp.matmul(weight2d.T, gradOutput.reshape(n, o, oH * oW))
    return col2im(gcols, input_shape, kH, kW, dH, dW, padH, padW, oH, oW)


def conv2d_weight_grads(gradOutput, cols, with_bias=True):
    """(dL/dweight as ``(O, C*kH*kW)``, dL/dbias) for one batch; the caller accumulates."""
    xp = get_array_module(gradOutput)
    n, o = gradOutput.shape[:2]
    g = gradOutput.reshape(n, o, -1)
    if o < g.shape[2]:
        # n small GEMMs then a sum: cheaper than tensordot, which would copy the columns
        gw = xp.matmul(g, cols.transpose(0, 2, 1)).sum(axis=0)
    else:  # few output positions (C5-like layers): one GEMM over (n, p)
        gw = xp.tensordot(g, cols, axes=([0, 2], [0, 2]))
    gb = g.sum(axis=(0, 2)) if with_bias else None
    return gw, gb
