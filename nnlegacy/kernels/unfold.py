"""N-d unfold/fold (im2col/col2im) with stride, zero padding and dilation, on NumPy or CuPy.

One pair of functions serves the temporal (1-D), spatial (2-D) and volumetric (3-D)
convolutions. Layouts: input ``(N, C, *size)``; columns ``(N, C*prod(k), prod(out))``
with rows in (c, k1, k2, ..) order and output positions in row-major order, as THNN's
``unfolded_copy``/``im2col``/``vol2col``. ``fold`` is the adjoint of ``unfold``: it sums
every column entry back onto the input element it was read from.
"""

from __future__ import annotations

import itertools
import math

from ..backend import get_array_module
from . import cuda


def conv_output_size(size: int, k: int, d: int, pad: int, dilation: int = 1) -> int:
    """``(size + 2*pad - (dilation*(k-1) + 1)) // d + 1`` with C division (toward zero)."""
    num = size + 2 * pad - (dilation * (k - 1) + 1)
    return int(num / d) + 1 if num < 0 else num // d + 1


def dropped(size: int, k: int, d: int, pad: int, dilation: int = 1) -> int:
    """How many trailing (padded) input elements no window reaches: floor sizing drops them."""
    out = conv_output_size(size, k, d, pad, dilation)
    return max(size + 2 * pad - ((out - 1) * d + dilation * (k - 1) + 1), 0)


class Unfold:
    """The sizes of one unfold: input ``(n, c, *size)``, kernel ``k``, stride ``d``,
    padding ``pad`` and dilation ``dil`` (tuples, outermost spatial dimension first)."""

    def __init__(self, shape, k, d, pad, dil=None):
        self.n, self.c = int(shape[0]), int(shape[1])
        self.size = tuple(int(s) for s in shape[2:])
        nd = len(self.size)
        self.k, self.d, self.pad = tuple(k), tuple(d), tuple(pad)
        self.dil = tuple(dil) if dil is not None else (1,) * nd
        if not len(self.k) == len(self.d) == len(self.pad) == len(self.dil) == nd:
            raise ValueError(f"unfold: {nd} spatial dimensions but k={k}, d={d}, pad={pad}")
        self.out = tuple(
            conv_output_size(*a) for a in zip(self.size, self.k, self.d, self.pad, self.dil)
        )

    @property
    def ksize(self) -> int:
        return math.prod(self.k)

    @property
    def rows(self) -> int:
        return self.c * self.ksize

    @property
    def positions(self) -> int:
        return math.prod(self.out)

    @property
    def cols_shape(self):
        return (self.n, self.rows, self.positions)

    @property
    def input_shape(self):
        return (self.n, self.c, *self.size)


def _pad(x, pad):
    if not any(pad):
        return x
    xp = get_array_module(x)
    out = xp.zeros(x.shape[:2] + tuple(s + 2 * p for s, p in zip(x.shape[2:], pad)), x.dtype)
    out[(Ellipsis, *(slice(p, p + s) for s, p in zip(x.shape[2:], pad)))] = x
    return out


def unfold(x, g: Unfold):
    """Columns ``(N, C*prod(k), prod(out))`` of the zero-padded input ``x``."""
    if cuda.usable(x):
        return cuda.im2col(x, g)
    xp = get_array_module(x)
    xpad = xp.ascontiguousarray(_pad(x, g.pad))
    s = xpad.strides
    win = xp.lib.stride_tricks.as_strided(
        xpad,
        (g.n, g.c, *g.k, *g.out),
        (s[0], s[1], *(a * b for a, b in zip(s[2:], g.dil)), *(a * b for a, b in zip(s[2:], g.d))),
    )
    return xp.ascontiguousarray(win).reshape(g.cols_shape)


def fold(cols, g: Unfold):
    """The adjoint of :func:`unfold`: columns summed back into ``(N, C, *size)``."""
    if cuda.usable(cols):
        return cuda.col2im(cols, g)
    xp = get_array_module(cols)
    img = xp.zeros((g.n, g.c, *(s + 2 * p for s, p in zip(g.size, g.pad))), cols.dtype)
    c = cols.reshape(g.n, g.c, *g.k, *g.out)
    for offs in itertools.product(*(range(k) for k in g.k)):  # one strided add per offset
        dst = tuple(
            slice(o * dl, o * dl + d * (n - 1) + 1, d)
            for o, dl, d, n in zip(offs, g.dil, g.d, g.out)
        )
        img[(Ellipsis, *dst)] += c[(slice(None), slice(None), *offs)]
    if any(g.pad):
        img = img[(Ellipsis, *(slice(p, p + s) for s, p in zip(g.size, g.pad)))]
    return xp.ascontiguousarray(img)


def conv_forward(x, weight2d, bias, g: Unfold):
    """``(N, O, *out)`` and the columns: one GEMM over the whole batch."""
    xp = get_array_module(x)
    cols = unfold(x, g)
    out = xp.matmul(weight2d, cols)
    if bias is not None:
        out += bias.reshape(1, -1, 1)
    return out.reshape(g.n, weight2d.shape[0], *g.out), cols


def conv_backward_input(gradOutput, weight2d, g: Unfold):
    xp = get_array_module(gradOutput)
    go = gradOutput.reshape(g.n, weight2d.shape[0], g.positions)
    return fold(xp.matmul(weight2d.T, go), g)


def conv_weight_grads(gradOutput, cols, g: Unfold, with_bias=True):
    """(dL/dweight as ``(O, C*prod(k))``, dL/dbias) for one batch; the caller accumulates."""
    xp = get_array_module(gradOutput)
    n, o = gradOutput.shape[:2]
    go = gradOutput.reshape(n, o, g.positions)
    if o < g.positions:
        gw = xp.matmul(go, cols.transpose(0, 2, 1)).sum(axis=0)
    else:
        gw = xp.tensordot(go, cols, axes=([0, 2], [0, 2]))
    gb = go.sum(axis=(0, 2)) if with_bias else None
    return gw, gb


# --- depthwise: each input plane convolved with its own M kernels -------------------------
def depthwise_forward(x, w3, g: Unfold):
    """``(N, C, M, prod(out))`` for kernels ``w3`` of shape ``(C, M, prod(k))``, and the
    columns as ``(N, C, prod(k), prod(out))``: one batched GEMM per call."""
    xp = get_array_module(x)
    cols = unfold(x, g).reshape(g.n, g.c, g.ksize, g.positions)
    return xp.matmul(w3, cols), cols


def depthwise_backward_input(gradOutput4, w3, g: Unfold):
    """gradInput from gradOutput as ``(N, C, M, prod(out))``."""
    xp = get_array_module(gradOutput4)
    gcols = xp.matmul(w3.transpose(0, 2, 1), gradOutput4)
    return fold(gcols.reshape(g.cols_shape), g)


def depthwise_weight_grads(gradOutput4, cols4):
    """dL/dw3 as ``(C, M, prod(k))`` for one batch; the caller accumulates."""
    xp = get_array_module(gradOutput4)
    return xp.matmul(gradOutput4, cols4.transpose(0, 1, 3, 2)).sum(axis=0)


# --- transposed ("full") convolution: the adjoint of unfold + GEMM ---------------------------
def full_conv_forward(x, weight2d, bias, g: Unfold):
    """Output ``(N, O, *g.size)`` of the transposed convolution whose input ``x`` is
    ``(N, C, *g.out)`` and ``weight2d`` is ``(C, O*prod(k))``; ``g`` is the geometry of the
    convolution it is the adjoint of (its input is our output)."""
    xp = get_array_module(x)
    cols = xp.matmul(weight2d.T, x.reshape(g.n, weight2d.shape[0], g.positions))
    out = fold(cols, g)
    if bias is not None:
        out += bias.reshape((1, -1) + (1,) * len(g.size))
    return out


def full_conv_backward_input(gradOutput, weight2d, g: Unfold):
    """(gradInput as ``(N, C, positions)``, the columns of gradOutput)."""
    xp = get_array_module(gradOutput)
    cols = unfold(gradOutput, g)
    return xp.matmul(weight2d, cols), cols


def full_conv_weight_grads(x, cols, g: Unfold):
    """dL/dweight as ``(C, O*prod(k))`` from the input and gradOutput's columns."""
    xp = get_array_module(x)
    x3 = x.reshape(g.n, -1, g.positions)
    return xp.matmul(x3, cols.transpose(0, 2, 1)).sum(axis=0)
