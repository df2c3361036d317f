"""2-D convolution as im2col + GEMM (Torch's SpatialConvolutionMM), on NumPy or CuPy.

Layouts: input ``(N, C, H, W)``, weight as a matrix ``(O, C*kH*kW)`` in (c, kh, kw)
order, columns ``(N, C*kH*kW, L)`` where L is the number of output positions.

For the input gradient with a horizontal stride of 1, the columns may use *wide
rows*: each output row spans the full padded width ``Wp`` instead of ``oW``, the
extra ``Wp - oW`` positions being zero. Then every kernel offset (kh, kw) is one
contiguous slice of the flattened image, so col2im adds long contiguous runs instead
of rows ``oW`` long, at the price of a GEMM Wp/oW larger; it is used when that
ratio is at most 1.5 (measured on LeNet-5: col2im 3.2 -> 2.3 ms).
"""

from __future__ import annotations

from ..backend import get_array_module
from . import cuda
from .unfold import Unfold, conv_output_size, fold, unfold

__all__ = [
    "Geometry", "col2im", "conv2d_backward_input", "conv2d_forward", "conv2d_weight_grads",
    "conv_output_size", "im2col",
]  # fmt: skip


class Geometry:
    """Sizes of one convolution call: padded input, output, and the column layout."""

    def __init__(self, shape, kH, kW, dH, dW, padH, padW, wide=False):
        self.n, self.c, self.h, self.w = shape
        self.kH, self.kW, self.dH, self.dW, self.padH, self.padW = kH, kW, dH, dW, padH, padW
        self.hp, self.wp = self.h + 2 * padH, self.w + 2 * padW
        self.oH = conv_output_size(self.h, kH, dH, padH)
        self.oW = conv_output_size(self.w, kW, dW, padW)
        self.wide = wide and dW == 1
        self.row = self.wp if self.wide else self.oW  # positions per output row in the columns
        # flat length that every wide slice stays inside (rows beyond hp are zero padding)
        self.flat = (self.hp + dH) * self.wp + kW

    @property
    def positions(self):
        return self.oH * self.row

    def unfold(self) -> Unfold:
        """The N-d geometry of the plain (not wide) columns."""
        shape = (self.n, self.c, self.h, self.w)
        return Unfold(shape, (self.kH, self.kW), (self.dH, self.dW), (self.padH, self.padW))

    def for_input_grad(self):
        """This geometry with wide rows where they pay (see the module docstring)."""
        wide = self.dW == 1 and 2 * self.wp <= 3 * self.oW
        shape = (self.n, self.c, self.h, self.w)
        return Geometry(shape, self.kH, self.kW, self.dH, self.dW, self.padH, self.padW, wide)


def _padded_flat(x, g: Geometry):
    """The zero-padded input as (N, C, g.flat): rows of width wp, then zeros."""
    xp = get_array_module(x)
    out = xp.zeros((g.n, g.c, g.flat), x.dtype)
    img = out[:, :, : g.hp * g.wp].reshape(g.n, g.c, g.hp, g.wp)
    img[:, :, g.padH : g.padH + g.h, g.padW : g.padW + g.w] = x
    return out


def im2col(x, g: Geometry):
    """Columns ``(N, C*kH*kW, g.positions)`` of the zero-padded input ``x``."""
    if not g.wide:
        return unfold(x, g.unfold())
    xp = get_array_module(x)
    if g.padH == 0 and g.padW == 0 and x.flags.c_contiguous and g.dH == 1:
        src = x.reshape(g.n, g.c, g.h * g.w)
        flat = xp.concatenate([src, xp.zeros((g.n, g.c, g.flat - src.shape[2]), x.dtype)], 2)
    else:
        flat = _padded_flat(x, g)
    sN, sC, sL = flat.strides
    win = xp.lib.stride_tricks.as_strided(
        flat,
        (g.n, g.c, g.kH, g.kW, g.oH, g.wp),
        (sN, sC, sL * g.wp, sL, sL * g.wp * g.dH, sL),
    )
    return xp.ascontiguousarray(win).reshape(g.n, g.c * g.kH * g.kW, g.positions)


def col2im(cols, g: Geometry):
    """The adjoint of im2col: sum columns back into an input-shaped array."""
    if not g.wide:
        return fold(cols, g.unfold())
    xp = get_array_module(cols)
    cols = cols.reshape(g.n, g.c, g.kH, g.kW, g.positions)
    flat = xp.zeros((g.n, g.c, g.flat), cols.dtype)
    span = g.oH * g.dH * g.wp
    for kh in range(g.kH):  # kH*kW shifted adds of long contiguous runs
        for kw in range(g.kW):
            off = kh * g.wp + kw
            if g.dH == 1:
                flat[:, :, off : off + span] += cols[:, :, kh, kw]
            else:
                dst = flat[:, :, off : off + span].reshape(g.n, g.c, g.oH, g.dH * g.wp)
                dst[..., : g.wp] += cols[:, :, kh, kw].reshape(g.n, g.c, g.oH, g.wp)
    img = flat[:, :, : g.hp * g.wp].reshape(g.n, g.c, g.hp, g.wp)
    return xp.ascontiguousarray(img[:, :, g.padH : g.padH + g.h, g.padW : g.padW + g.w])


def _wide_grad(gradOutput, g: Geometry):
    """gradOutput (N, O, oH, oW) in the column layout (N, O, positions), zeros outside."""
    xp = get_array_module(gradOutput)
    n, o = gradOutput.shape[:2]
    if not g.wide or g.row == g.oW:
        return gradOutput.reshape(n, o, g.positions)
    out = xp.zeros((n, o, g.oH, g.row), gradOutput.dtype)
    out[..., : g.oW] = gradOutput
    return out.reshape(n, o, g.positions)


def conv2d_forward(x, weight2d, bias, kH, kW, dH, dW, padH, padW):
    """Output ``(N, O, oH, oW)``, the columns and the geometry (kept for backward)."""
    xp = get_array_module(x)
    g = Geometry(x.shape, kH, kW, dH, dW, padH, padW)
    cols = im2col(x, g)
    out = xp.matmul(weight2d, cols)
    o = weight2d.shape[0]
    if g.row != g.oW:
        out = out.reshape(g.n, o, g.oH, g.row)[..., : g.oW]
        if bias is not None:
            out = out + bias[None, :, None, None]
        else:
            out = xp.ascontiguousarray(out)
        return out, cols, g
    if bias is not None:
        out += bias[None, :, None]
    return out.reshape(g.n, o, g.oH, g.oW), cols, g


def conv2d_backward_input(gradOutput, weight2d, g: Geometry):
    xp = get_array_module(gradOutput)
    if not cuda.usable(gradOutput):  # the GPU's col2im is a gather kernel: no wide rows
        g = g.for_input_grad()
    gcols = xp.matmul(weight2d.T, _wide_grad(gradOutput, g))
    return col2im(gcols, g)


def conv2d_weight_grads(gradOutput, cols, g: Geometry, with_bias=True):
    """(dL/dweight as ``(O, C*kH*kW)``, dL/dbias) for one batch; the caller accumulates."""
    xp = get_array_module(gradOutput)
    n, o = gradOutput.shape[:2]
    gw_out = _wide_grad(gradOutput, g)
    if o < gw_out.shape[2]:
        # n small GEMMs then a sum: cheaper than tensordot, which would copy the columns
        gw = xp.matmul(gw_out, cols.transpose(0, 2, 1)).sum(axis=0)
    else:  # few output positions (C5-like layers): one GEMM over (n, positions)
        gw = xp.tensordot(gw_out, cols, axes=([0, 2], [0, 2]))
    gb = gradOutput.sum(axis=(0, 2, 3)) if with_bias else None
    return gw, gb
