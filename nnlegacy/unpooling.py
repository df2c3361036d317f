"""Max unpooling: values go back to where their max-pooling module found them."""

from __future__ import annotations

import numpy as np

from . import backend as B
from .module import Module, _size_desc, torch_type

__all__ = ["SpatialMaxUnpooling", "VolumetricMaxUnpooling"]


class _MaxUnpooling(Module):
    """Unpooling: each input value goes back to where its pooling module found it."""

    _POOLING = ""

    def __init__(self, poolingModule):
        super().__init__()
        if torch_type(poolingModule) != "nn." + self._POOLING:
            raise TypeError(f"Argument must be a nn.{self._POOLING} module")
        p = poolingModule
        if (p.kH, p.kW, getattr(p, "kT", 0)) != (p.dH, p.dW, getattr(p, "dT", 0)):
            raise ValueError("The size of pooling module's kernel must be equal to its stride")
        self.pooling = poolingModule

    def _positions(self, input):
        """(N*C, n) flat 0-based positions of the input values in the output planes,
        and the output shape; validates before anything changes."""
        self._check_input(input)
        nd = len(self._sizes())
        if input.ndim not in (nd + 1, nd + 2):
            raise ValueError(
                f"{self._name()}: {nd + 1}D or {nd + 2}D (batch mode) tensor expected for "
                f"input, but got: {_size_desc(input.shape)}"
            )
        indices = self.pooling.indices
        if tuple(indices.shape) != tuple(input.shape):
            raise ValueError(
                "Shape of input must match shape of indices: input "
                f"{_size_desc(input.shape)}, indices {_size_desc(indices.shape)}"
            )
        sizes = self._sizes()
        pos = self._flat_positions(indices, sizes)
        total = int(np.prod(sizes))
        if pos.size and (int(pos.min()) < 0 or int(pos.max()) >= total):
            raise ValueError(f"invalid max index, output size {'x'.join(str(s) for s in sizes)}")
        lead = input.shape[:-nd]
        return pos.reshape(-1, int(np.prod(input.shape[-nd:]))), lead + tuple(sizes)

    def updateOutput(self, input):
        pos, shape = self._positions(input)
        self.setParams()
        xp = B.get_array_module(input)
        out = xp.zeros((pos.shape[0], int(np.prod(self._sizes()))), input.dtype)
        rows = xp.arange(pos.shape[0])[:, None]
        out[rows, pos] = input.reshape(pos.shape)
        self.output = out.reshape(shape)
        return self.output

    def updateGradInput(self, input, gradOutput):
        pos, shape = self._positions(input)
        self._check_grad(gradOutput, shape)
        self.setParams()
        xp = B.get_array_module(input)
        g = gradOutput.reshape(pos.shape[0], -1)
        self.gradInput = xp.take_along_axis(g, pos, axis=1).reshape(input.shape)
        return self.gradInput

    def __tostring__(self):
        return f"{self._name()} associated to {self.pooling.__tostring__()}"


class SpatialMaxUnpooling(_MaxUnpooling):
    """Puts each value back where its SpatialMaxPooling took it from, zeros elsewhere.

    ``nn.SpatialMaxUnpooling(poolingModule)`` with ``poolingModule`` a
    ``nn.SpatialMaxPooling`` whose kernel equals its stride; it uses the indices and
    input size of that module's last forward.
    Shape: ``(.., C, oH, oW)`` -> ``(.., C, H, W)`` of the pooling module's input.
    """

    _POOLING = "SpatialMaxPooling"

    def setParams(self):
        self.indices = self.pooling.indices
        self.oheight, self.owidth = self.pooling.iheight, self.pooling.iwidth

    def _sizes(self):
        return (self.pooling.iheight, self.pooling.iwidth)

    @staticmethod
    def _flat_positions(indices, sizes):
        return indices.astype(np.int64) - 1


class VolumetricMaxUnpooling(_MaxUnpooling):
    """Puts each value back where its VolumetricMaxPooling took it from.

    ``nn.VolumetricMaxUnpooling(poolingModule)`` with ``poolingModule`` a
    ``nn.VolumetricMaxPooling`` whose kernel equals its stride.
    Shape: ``(.., C, oT, oH, oW)`` -> ``(.., C, T, H, W)`` of the pooling input.
    """

    _POOLING = "VolumetricMaxPooling"

    def setParams(self):
        p = self.pooling
        self.indices = p.indices
        self.otime, self.oheight, self.owidth = p.itime, p.iheight, p.iwidth
        self.dT, self.dH, self.dW = p.dT, p.dH, p.dW
        self.padT, self.padH, self.padW = p.padT, p.padH, p.padW

    def _sizes(self):
        return (self.pooling.itime, self.pooling.iheight, self.pooling.iwidth)

    def _flat_positions(self, indices, sizes):
        xp = B.get_array_module(indices)
        p = self.pooling
        a = indices.astype(np.int64)
        pos = xp.zeros(a.shape, np.int64)
        for axis, (size, d, pad) in enumerate(
            zip(sizes, (p.dT, p.dH, p.dW), (p.padT, p.padH, p.padW))
        ):
            shape = [1] * 3
            o = a.shape[a.ndim - 3 + axis]
            shape[axis] = o
            start = xp.asarray((np.arange(o) * d - pad).reshape(shape))
            pos = pos * size + start + ((a >> (8 * axis)) & 0xFF)  # bytes 0..2: t, h, w
        return pos
