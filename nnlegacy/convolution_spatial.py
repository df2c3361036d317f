"""Spatial convolutions with a structured kernel: SpatialDepthWiseConvolution (each plane
its own kernels), SpatialConvolutionLocal (untied: one kernel per output position) and
SpatialSubSampling (a learned scale of each window's sum).

All of them unfold the input once (``kernels/unfold.py``) and do one batched GEMM over the
whole batch; SpatialSubSampling is a depthwise convolution whose kernel is one number
repeated over the window.
"""

from __future__ import annotations

import math

from . import backend as B
from .convolution import (
    _check_kernel_stride,
    _check_planes,
    stride_pad_text,
    too_small,
)
from .kernels import unfold as KU
from .module import Module, _size_desc, _WeightBias

__all__ = ["SpatialConvolutionLocal", "SpatialDepthWiseConvolution", "SpatialSubSampling"]


class _ColumnBuffers:
    """The ``finput``/``fgradInput`` column buffers of the unfold convolutions: emptied
    by ``type()`` (they take the new type on the next forward) and by ``clearState()``."""

    def _depthwise_cols(self, x, g):
        """The unfolded input as ``(N, C, K, P)``: forward's ``finput`` when it is that
        of this input, else unfolded again (forward not called, or buffers cleared)."""
        cols = self.finput
        if not B.is_array(cols) or cols.shape != (g.n, g.c, g.ksize, g.positions):
            cols = KU.unfold(x, g).reshape(g.n, g.c, g.ksize, g.positions)
        return cols

    def type(self, type=None, tensorCache=None):  # noqa: A002
        if type is not None:
            self.finput, self.fgradInput = self._zeros(0), self._zeros(0)
        return super().type(type, tensorCache)

    def clearState(self):
        self._clear("finput", "fgradInput", "_input", "_gradOutput")
        return super().clearState()


class SpatialDepthWiseConvolution(_ColumnBuffers, _WeightBias, Module):
    """Depthwise 2-D convolution: each input plane convolved with its own kernels.

    ``nn.SpatialDepthWiseConvolution(nInputPlane, nOutputPlane, kW, kH, dW=1, dH=1, padW=0,
    padH=padW)``, where ``nOutputPlane`` is the number of kernels per input plane (the
    "depthwise multiplier" M), as in the nn of the golden corpus; ``weight`` is ``M x
    (nInputPlane*kH*kW)`` and ``bias`` ``M x nInputPlane``. Shape: ``(.., nInputPlane, H,
    W)`` -> ``(.., nInputPlane*M, oH, oW)``, output plane ``i*M + m`` being input plane
    ``i`` convolved with kernel ``m``; ``oH = (H + 2*padH - kH) // dH + 1``.

    Differences from Torch7: later nn versions (``__version`` 2) call M
    ``depthwiseMultiplier`` and store ``nOutputPlane = nInputPlane*M``; such files are
    read into this layout.
    """

    def __init__(
        self,
        nInputPlane: int,
        nOutputPlane: int,
        kW: int,
        kH: int,
        dW: int = 1,
        dH: int = 1,
        padW: int = 0,
        padH: int | None = None,
    ):
        super().__init__()
        _check_kernel_stride(kW, kH, dW, dH)
        self.nInputPlane, self.nOutputPlane = nInputPlane, nOutputPlane
        self.kW, self.kH, self.dW, self.dH = kW, kH, dW, dH
        self.padW, self.padH = padW, padW if padH is None else padH
        self.weight = self._zeros(nOutputPlane, nInputPlane * kH * kW)
        self.gradWeight = self._zeros(nOutputPlane, nInputPlane * kH * kW)
        self.bias = self._zeros(nOutputPlane, nInputPlane)
        self.gradBias = self._zeros(nOutputPlane, nInputPlane)
        self.finput, self.fgradInput = self._zeros(0), self._zeros(0)
        self.reset()

    def _after_load(self):
        d = self.__dict__
        if "depthwiseMultiplier" in d:  # a version-2 file
            d["nOutputPlane"] = d.pop("depthwiseMultiplier")
        if "padding" in d:
            d["padW"] = d["padH"] = d.pop("padding")
        d.setdefault("bias", None)

    def _fan_in(self):
        return self.kW * self.kH * self.nInputPlane

    def _w3(self, w):
        """A weight-shaped array as ``(nInputPlane, M, kH*kW)``."""
        return w.reshape(self.nOutputPlane, self.nInputPlane, -1).transpose(1, 0, 2)

    def _check(self, input):
        _check_planes(self, input)
        _check_kernel_stride(self.kW, self.kH, self.dW, self.dH)
        x = input if input.ndim == 4 else input[None]
        g = KU.Unfold(x.shape, (self.kH, self.kW), (self.dH, self.dW), (self.padH, self.padW))
        if min(g.out) < 1:
            raise too_small(self.nInputPlane, g.size, self.nOutputPlane, g.out)
        return x, g

    def _as_4d(self, name):
        """Lua's kernel views the weight (gradWeight) as ``M x nInputPlane x kH x kW``
        and leaves it so; a view of the same memory."""
        shape = (self.nOutputPlane, self.nInputPlane, self.kH, self.kW)
        a = getattr(self, name)
        if a.shape != shape:
            setattr(self, name, a.reshape(shape))

    def updateOutput(self, input):
        x, g = self._check(input)
        self._as_4d("weight")
        out, self.finput = KU.depthwise_forward(x, self._w3(self.weight), g)
        if self.bias is not None:
            out += self.bias.T[None, :, :, None]
        out = out.reshape(g.n, -1, *g.out)
        self.output = out if input.ndim == 4 else out[0]
        return self.output

    def _grad4(self, input, gradOutput):
        x, g = self._check(input)
        shape = (self.nInputPlane * self.nOutputPlane, *g.out)
        self._check_grad(gradOutput, input.shape[:-3] + shape)
        return x, g, gradOutput.reshape(g.n, self.nInputPlane, self.nOutputPlane, g.positions)

    def updateGradInput(self, input, gradOutput):
        if self.gradInput is None:
            return None
        x, g, go = self._grad4(input, gradOutput)
        gi = KU.depthwise_backward_input(go, self._w3(self.weight), g)
        self.gradInput = gi.reshape(input.shape)
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        x, g, go = self._grad4(input, gradOutput)
        cols = self._depthwise_cols(x, g)
        gw = KU.depthwise_weight_grads(go, cols)  # (C, M, K)
        self._as_4d("gradWeight")
        self.gradWeight += scale * gw.transpose(1, 0, 2).reshape(self.gradWeight.shape)
        if self.bias is not None:
            self.gradBias += scale * go.sum(axis=(0, 3)).T

    def __tostring__(self):
        s = f"{self._name()}({self.nInputPlane} -> {self.nOutputPlane}, {self.kW}x{self.kH}"
        s += stride_pad_text(self.dW, self.dH, self.padW, self.padH)
        return s + (") without bias" if self.bias is None else ")")


class SpatialConvolutionLocal(_ColumnBuffers, _WeightBias, Module):
    """Locally-connected 2-D layer: a convolution whose kernels are not shared, one set per
    output position, for inputs of one fixed size ``iW x iH``.

    ``nn.SpatialConvolutionLocal(nInputPlane, nOutputPlane, iW, iH, kW, kH, dW=1, dH=1,
    padW=0, padH=padW)``; ``weight`` is ``oH x oW x nOutputPlane x nInputPlane x kH x kW``
    and ``bias`` ``nOutputPlane x oH x oW``. Shape: ``(.., nInputPlane, iH, iW)`` -> ``(..,
    nOutputPlane, oH, oW)`` with ``oH = floor((iH + 2*padH - kH) / dH) + 1``.
    """

    def __init__(
        self,
        nInputPlane: int,
        nOutputPlane: int,
        iW: int,
        iH: int,
        kW: int,
        kH: int,
        dW: int = 1,
        dH: int = 1,
        padW: int = 0,
        padH: int | None = None,
    ):
        super().__init__()
        self.nInputPlane, self.nOutputPlane = nInputPlane, nOutputPlane
        self.kW, self.kH, self.iW, self.iH, self.dW, self.dH = kW, kH, iW, iH, dW, dH
        self.padW, self.padH = padW, padW if padH is None else padH
        self.oW = (self.padW * 2 + iW - kW) // dW + 1
        self.oH = (self.padH * 2 + iH - kH) // dH + 1
        if self.oW < 1 or self.oH < 1:
            raise ValueError("illegal configuration: output width or height less than 1")
        shape = (self.oH, self.oW, nOutputPlane, nInputPlane, kH, kW)
        self.weight, self.gradWeight = self._zeros(*shape), self._zeros(*shape)
        self.bias = self._zeros(nOutputPlane, self.oH, self.oW)
        self.gradBias = self._zeros(nOutputPlane, self.oH, self.oW)
        self.finput, self.fgradInput = self._zeros(0), self._zeros(0)
        self.reset()

    def _fan_in(self):
        return self.kW * self.kH * self.nInputPlane

    def _w3(self):
        """``(oH*oW, nOutputPlane, nInputPlane*kH*kW)``: one GEMM matrix per position."""
        return self.weight.reshape(self.oH * self.oW, self.nOutputPlane, -1)

    def _check(self, input):
        self._check_input(input)
        want = (self.nInputPlane, self.iH, self.iW)
        if input.ndim == 3 and input.shape != want:
            raise ValueError(
                f"Given input size: ({'x'.join(map(str, input.shape))}) inconsistent with "
                f"expected input size: ({'x'.join(map(str, want))})."
            )
        if input.ndim == 4 and input.shape[1:] != want:
            raise ValueError(
                f"Given input size: ({'x'.join(map(str, input.shape))}) inconsistent with "
                f"expected input size: (batchsize x{'x'.join(map(str, want))})."
            )
        if input.ndim not in (3, 4):
            raise ValueError("3D or 4D(batch mode) tensor expected")
        x = input if input.ndim == 4 else input[None]
        return x, KU.Unfold(x.shape, (self.kH, self.kW), (self.dH, self.dW), (self.padH, self.padW))

    def _check_output(self, input, gradOutput):
        self._check_input(gradOutput, "gradOutput")
        if gradOutput.ndim != input.ndim:
            raise ValueError("inconsistent dimension between output and input.")
        want = (self.nOutputPlane, self.oH, self.oW)
        if tuple(gradOutput.shape[-3:]) != want:
            batch = "batchsize x" if gradOutput.ndim == 4 else ""
            raise ValueError(
                f"Given output size: ({'x'.join(map(str, gradOutput.shape))}) inconsistent "
                f"with expected output size: ({batch}{'x'.join(map(str, want))})."
            )
        return gradOutput if gradOutput.ndim == 4 else gradOutput[None]

    def updateOutput(self, input):
        x, g = self._check(input)
        xp = B.get_array_module(x)
        self.finput = KU.unfold(x, g)  # (N, C*K, P)
        out = xp.matmul(self._w3(), self.finput.transpose(2, 1, 0))  # (P, O, N)
        out = out.transpose(2, 1, 0).reshape(g.n, self.nOutputPlane, self.oH, self.oW)
        if self.bias is not None:
            out = out + self.bias
        self.output = out if input.ndim == 4 else out[0]
        return self.output

    def updateGradInput(self, input, gradOutput):
        if self.gradInput is None:
            return None
        x, g = self._check(input)
        go = self._check_output(input, gradOutput).reshape(g.n, self.nOutputPlane, -1)
        xp = B.get_array_module(x)
        gcols = xp.matmul(self._w3().transpose(0, 2, 1), go.transpose(2, 1, 0))  # (P, CK, N)
        self.gradInput = KU.fold(gcols.transpose(2, 1, 0), g).reshape(input.shape)
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        x, g = self._check(input)
        go = self._check_output(input, gradOutput).reshape(g.n, self.nOutputPlane, -1)
        cols = self.finput
        if not B.is_array(cols) or cols.shape != g.cols_shape:
            cols = KU.unfold(x, g)
        xp = B.get_array_module(x)
        gw = xp.matmul(go.transpose(2, 1, 0), cols.transpose(2, 0, 1))  # (P, O, CK)
        self.gradWeight += scale * gw.reshape(self.gradWeight.shape)
        if self.bias is not None:
            self.gradBias += scale * go.sum(axis=0).reshape(self.gradBias.shape)

    def __tostring__(self):
        s = f"{self._name()}({self.nInputPlane} -> {self.nOutputPlane}, {self.iW}x{self.iH}, "
        s += f"{self.kW}x{self.kH}" + stride_pad_text(self.dW, self.dH, self.padW, self.padH)
        return s + ")"


class _SubSampling(_WeightBias, Module):
    """``output[c] = bias[c] + weight[c] * (sum of a window of input plane c)``, of any rank:
    a depthwise convolution whose kernel is ``weight[c]`` over the whole window. Subclasses
    give ``_window()`` (kernel, stride) and ``_planes(input, check=True)``: the (checked)
    input as ``(N, C, *sizes)`` and a function that puts an ``(N, C, *sizes)`` array back
    in the input's layout."""

    def _fan_in(self):
        return math.prod(self._window()[0])

    def _depthwise(self, x):
        k, d = self._window()
        g = KU.Unfold(x.shape, k, d, (0,) * len(k))
        xp = B.get_array_module(x)
        w3 = xp.broadcast_to(self.weight.reshape(-1, 1, 1), (g.c, 1, g.ksize))
        return g, w3

    def updateOutput(self, input):
        x, back = self._planes(input)
        g, w3 = self._depthwise(x)
        out, _ = KU.depthwise_forward(x, w3, g)
        out += self.bias.reshape(1, -1, 1, 1)
        self.output = back(out.reshape(g.n, g.c, *g.out))
        return self.output

    def _grad4(self, input, gradOutput):
        x, back = self._planes(input)
        g, w3 = self._depthwise(x)
        self._check_grad(gradOutput, back(self._zeros(g.n, g.c, *g.out)).shape)
        go, _ = self._planes(gradOutput, check=False)
        return x, g, w3, go.reshape(g.n, g.c, 1, g.positions), back

    def updateGradInput(self, input, gradOutput):
        if self.gradInput is None:
            return None
        x, g, w3, go, back = self._grad4(input, gradOutput)
        self.gradInput = back(KU.depthwise_backward_input(go, w3, g))
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        x, g, _, go, _ = self._grad4(input, gradOutput)
        sums = KU.unfold(x, g).reshape(g.n, g.c, g.ksize, g.positions).sum(axis=2)
        self.gradWeight += scale * (go[:, :, 0] * sums).sum(axis=(0, 2))
        self.gradBias += scale * go.sum(axis=(0, 2, 3))


class SpatialSubSampling(_SubSampling):
    """Each plane's ``kW x kH`` windows summed, times a learned weight, plus a bias.

    ``nn.SpatialSubSampling(nInputPlane, kW, kH, dW=1, dH=1)``; ``weight`` and ``bias`` have
    ``nInputPlane`` entries. Shape: ``(.., nInputPlane, H, W)`` -> ``(.., nInputPlane, oH,
    oW)`` with ``oH = (H - kH) // dH + 1``.
    """

    def __init__(self, nInputPlane: int, kW: int, kH: int, dW: int = 1, dH: int = 1):
        super().__init__()
        self.nInputPlane, self.kW, self.kH, self.dW, self.dH = nInputPlane, kW, kH, dW, dH
        self.weight, self.gradWeight = self._zeros(nInputPlane), self._zeros(nInputPlane)
        self.bias, self.gradBias = self._zeros(nInputPlane), self._zeros(nInputPlane)
        self.reset()

    def _window(self):
        return (self.kH, self.kW), (self.dH, self.dW)

    def _planes(self, input, check=True):
        if check:
            self._check(input)
        if input.ndim == 4:
            return input, lambda out: out
        return input[None], lambda out: out[0]

    def _check(self, input):
        self._check_input(input)
        if input.ndim not in (3, 4):
            raise ValueError("3D or 4D(batch mode) tensor expected")
        if input.shape[-3] != self.nInputPlane:
            raise ValueError(
                f"invalid number of input planes: expected {self.nInputPlane}, "
                f"got input of shape {_size_desc(input.shape)}"
            )
        if input.shape[-1] < self.kW or input.shape[-2] < self.kH:
            raise ValueError("input image smaller than kernel size")
