"""SpatialConvolutionMap and SpatialFullConvolutionMap: convolutions whose input-output
plane connections are listed in a table (``nn.tables``; rows ``(input, output)``, 1-based).

The ``K`` kernels of the table are scattered into a dense weight (zeros where planes are
not connected) by one small GEMM with a 0/1 matrix, so the layer runs as an ordinary
unfold + GEMM (or GEMM + fold) over the whole batch, and each kernel's gradient is
gathered back from the dense one.
"""

from __future__ import annotations

import math

import numpy as np

from . import backend as B
from .kernels import unfold as KU
from .module import Module, _size_desc

__all__ = ["SpatialConvolutionMap", "SpatialFullConvolutionMap"]


class _ConnectionTable(Module):
    """What the two map layers share: the table, its planes, Lua's reset and the dense
    weight. ``_dense_index(i, o)`` says where kernel (i, o) goes in the dense weight."""

    def __init__(self, conMatrix, kW: int, kH: int, dW: int = 1, dH: int = 1):
        super().__init__()
        self.kW, self.kH, self.dW, self.dH = kW, kH, dW, dH
        xp, dtype = B.xp_dtype(self._type)
        self.connTable = xp.asarray(conMatrix, dtype=dtype)
        i, o = self._conn()
        self.nInputPlane, self.nOutputPlane = int(i.max()) + 1, int(o.max()) + 1
        n = len(i)
        self.weight, self.gradWeight = self._zeros(n, kH, kW), self._zeros(n, kH, kW)
        self.bias = self._zeros(self.nOutputPlane)
        self.gradBias = self._zeros(self.nOutputPlane)
        self.reset()

    def _conn(self):
        """0-based (input plane, output plane) of every kernel, as NumPy ints."""
        t = np.asarray(B.to_numpy(self.connTable)).reshape(-1, 2).astype(np.int64)
        return t[:, 0] - 1, t[:, 1] - 1

    def reset(self, stdv=None):
        """U(-stdv, stdv) with Lua's stdv: given, times sqrt(3); else 1/sqrt(kW*kH*fan-in of
        the kernel's (or bias's) output plane)."""
        if stdv is not None:
            stdv = stdv * math.sqrt(3)
            B.uniform_(self.weight, -stdv, stdv)
            B.uniform_(self.bias, -stdv, stdv)
            return self
        _, o = self._conn()
        fan_in = np.bincount(o, minlength=self.nOutputPlane)
        with np.errstate(divide="ignore"):
            per_plane = 1 / np.sqrt(self.kW * self.kH * fan_in)
        xp = B.get_array_module(self.weight)
        B.uniform_(self.weight, -1, 1)
        self.weight *= xp.asarray(per_plane[o], dtype=self.weight.dtype).reshape(-1, 1, 1)
        B.uniform_(self.bias, -1, 1)
        self.bias *= xp.asarray(per_plane, dtype=self.bias.dtype)
        return self

    def _scatter(self):
        """The 0/1 matrix ``(nInputPlane*nOutputPlane, K)`` that places each kernel."""
        i, o = self._conn()
        s = np.zeros((self.nInputPlane * self.nOutputPlane, len(i)))
        s[self._dense_index(i, o), np.arange(len(i))] = 1
        return B.get_array_module(self.weight).asarray(s, dtype=self.weight.dtype)

    def _dense(self):
        """The dense weight as ``(nInputPlane*nOutputPlane, kH*kW)`` rows."""
        return self._scatter() @ self.weight.reshape(self.weight.shape[0], -1)

    def _acc_dense_grad(self, gdense, scale):
        i, o = self._conn()
        rows = gdense.reshape(self.nInputPlane * self.nOutputPlane, -1)
        index = B.get_array_module(rows).asarray(self._dense_index(i, o))
        self.gradWeight += scale * rows[index].reshape(self.gradWeight.shape)

    def _planes_error(self, input, dim):
        if input.shape[dim] < self.nInputPlane:
            raise ValueError(
                f"invalid number of input planes: expected at least {self.nInputPlane}, "
                f"got input of shape {_size_desc(input.shape)}"
            )

    def decayParameters(self, decay):  # noqa: N802 - Lua's name
        self.weight -= decay * self.weight
        self.bias -= decay * self.bias


class SpatialConvolutionMap(_ConnectionTable):
    """2-D convolution with the plane connections of a table.

    ``nn.SpatialConvolutionMap(connTable, kW, kH, dW=1, dH=1)``: kernel ``k`` (``weight`` is
    ``K x kH x kW``) takes input plane ``connTable[k][1]`` to output plane
    ``connTable[k][2]``. Shape: ``(.., C, H, W)`` with ``C >= nInputPlane`` (planes beyond
    are ignored) -> ``(.., nOutputPlane, oH, oW)`` with ``oH = (H - kH) // dH + 1``.
    """

    def _dense_index(self, i, o):
        return o * self.nInputPlane + i  # (nOutputPlane, nInputPlane) as SpatialConvolution

    def _check(self, input):
        self._check_input(input)
        if input.ndim not in (3, 4):
            raise ValueError("3D or 4D(batch mode) tensor expected")
        self._planes_error(input, input.ndim - 3)
        if input.shape[-1] < self.kW or input.shape[-2] < self.kH:
            raise ValueError("input image smaller than kernel size")
        x = input if input.ndim == 4 else input[None]
        x = x[:, : self.nInputPlane]
        return x, KU.Unfold(x.shape, (self.kH, self.kW), (self.dH, self.dW), (0, 0))

    def _w2d(self):
        return self._dense().reshape(self.nOutputPlane, -1)

    def updateOutput(self, input):
        x, g = self._check(input)
        out, _ = KU.conv_forward(x, self._w2d(), self.bias, g)
        self.output = out if input.ndim == 4 else out[0]
        return self.output

    def _grad(self, input, gradOutput):
        x, g = self._check(input)
        self._check_grad(gradOutput, input.shape[:-3] + (self.nOutputPlane, *g.out))
        return x, g, gradOutput if gradOutput.ndim == 4 else gradOutput[None]

    def updateGradInput(self, input, gradOutput):
        if self.gradInput is None:
            return None
        x, g, go = self._grad(input, gradOutput)
        gi = KU.conv_backward_input(go, self._w2d(), g)
        if x.shape[1] != input.shape[-3]:  # planes past nInputPlane get no gradient
            full = B.get_array_module(gi).zeros(
                input.shape if input.ndim == 4 else (1, *input.shape), gi.dtype
            )
            full[:, : self.nInputPlane] = gi
            gi = full
        self.gradInput = gi if input.ndim == 4 else gi[0]
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        x, g, go = self._grad(input, gradOutput)
        gw, gb = KU.conv_weight_grads(go, KU.unfold(x, g), g)
        self._acc_dense_grad(gw, scale)
        self.gradBias += scale * gb


class SpatialFullConvolutionMap(_ConnectionTable):
    """Transposed ("full") 2-D convolution with the plane connections of a table.

    ``nn.SpatialFullConvolutionMap(connTable, kW, kH, dW=1, dH=1)``; ``weight`` is ``K x kH x
    kW``. Shape: ``(C, H, W)`` with ``C >= nInputPlane`` -> ``(nOutputPlane, oH, oW)`` with
    ``oH = (H - 1)*dH + kH``. As in Torch there is no batch mode.
    """

    def _dense_index(self, i, o):
        return i * self.nOutputPlane + o  # (nInputPlane, nOutputPlane) as SpatialFullConvolution

    def _check(self, input):
        self._check_input(input)
        if input.ndim != 3:
            raise ValueError(f"3D tensor expected, got input of shape {_size_desc(input.shape)}")
        self._planes_error(input, 0)
        x = input[None, : self.nInputPlane]
        out = ((x.shape[2] - 1) * self.dH + self.kH, (x.shape[3] - 1) * self.dW + self.kW)
        g = KU.Unfold((1, self.nOutputPlane, *out), (self.kH, self.kW), (self.dH, self.dW), (0, 0))
        return x, g

    def _w2d(self):
        return self._dense().reshape(self.nInputPlane, -1)

    def updateOutput(self, input):
        x, g = self._check(input)
        self.output = KU.full_conv_forward(x, self._w2d(), self.bias, g)[0]
        return self.output

    def _grad(self, input, gradOutput):
        x, g = self._check(input)
        self._check_grad(gradOutput, g.input_shape[1:])
        return x, g, gradOutput[None]

    def updateGradInput(self, input, gradOutput):
        if self.gradInput is None:
            return None
        x, g, go = self._grad(input, gradOutput)
        gi, _ = KU.full_conv_backward_input(go, self._w2d(), g)
        full = B.get_array_module(gi).zeros(input.shape, gi.dtype)
        full[: self.nInputPlane] = gi.reshape(x.shape[1:])
        self.gradInput = full
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        x, g, go = self._grad(input, gradOutput)
        self._acc_dense_grad(KU.full_conv_weight_grads(x, KU.unfold(go, g), g), scale)
        self.gradBias += scale * go.sum(axis=(0, 2, 3))
