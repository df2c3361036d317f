"""SpatialConvolution and SpatialConvolutionMM (spec sections 2.2, 2.3)."""

from __future__ import annotations

from . import backend as B
from .kernels import conv as K
from .module import Module, _size_desc, _WeightBias

__all__ = ["SpatialConvolution", "SpatialConvolutionMM", "SpatialFullConvolution"]


def _check_planes(module, input):
    """Torch's rank and THNN_CHECK_DIM_SIZE checks on the input planes."""
    module._check_input(input)
    if input.ndim not in (3, 4):
        raise ValueError(f"3D or 4D input tensor expected but got: {_size_desc(input.shape)}")
    dimf = input.ndim - 3
    if input.shape[dimf] != module.nInputPlane:
        raise ValueError(
            f"Need input of dimension {input.ndim} and input.size[{dimf}] == "
            f"{module.nInputPlane} but got input to be of shape: {_size_desc(input.shape)}"
        )


def _check_planes_pads(owner, nInputPlane, nOutputPlane, padW, padH):
    if nInputPlane < 1 or nOutputPlane < 1:
        raise ValueError(
            f"{owner}: nInputPlane and nOutputPlane must be positive, "
            f"got {nInputPlane} and {nOutputPlane}"
        )
    if padW < 0 or padH < 0:
        raise ValueError(
            f"{owner}: padW and padH must not be negative, got {padW} and {padH} "
            "(crop with nn.SpatialZeroPadding's negative pads instead)"
        )


def _check_kernel_stride(kW, kH, dW, dH):
    if kW <= 0 or kH <= 0:
        raise ValueError(f"kernel size should be greater than zero, but got kH: {kH} kW: {kW}")
    if dW <= 0 or dH <= 0:
        raise ValueError(f"stride should be greater than zero, but got dH: {dH} dW: {dW}")


class SpatialConvolution(_WeightBias, Module):
    """2-D convolution over an image of ``nInputPlane`` planes.

    ``nn.SpatialConvolution(nInputPlane, nOutputPlane, kW, kH, dW=1, dH=1, padW=0, padH=padW)``.
    Shape: ``(C, H, W)`` or ``(N, C, H, W)`` -> ``(.., nOutputPlane, oH, oW)`` with
    ``oH = (H + 2*padH - kH) // dH + 1`` (C division); rows and columns that do not
    fit are dropped. ``weight`` is ``nOutputPlane x nInputPlane x kH x kW``.
    """

    _weight_2d = False

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
        padH = padW if padH is None else padH
        _check_kernel_stride(kW, kH, dW, dH)
        _check_planes_pads(self._name(), nInputPlane, nOutputPlane, padW, padH)
        self.nInputPlane, self.nOutputPlane = nInputPlane, nOutputPlane
        self.kW, self.kH, self.dW, self.dH = kW, kH, dW, dH
        self.padW, self.padH = padW, padH
        shape = (
            (nOutputPlane, nInputPlane * kH * kW)
            if self._weight_2d
            else (nOutputPlane, nInputPlane, kH, kW)
        )
        self.weight = self._zeros(*shape)
        self.gradWeight = self._zeros(*shape)
        self.bias = self._zeros(nOutputPlane)
        self.gradBias = self._zeros(nOutputPlane)
        self.finput = self._zeros(0)
        self.fgradInput = self._zeros(0)
        self.reset()

    def _fan_in(self):
        return self.kW * self.kH * self.nInputPlane

    def _pads(self):
        return self.padH, self.padW

    def _output_hw(self, h, w):
        padH, padW = self._pads()
        return (
            K.conv_output_size(h, self.kH, self.dH, padH),
            K.conv_output_size(w, self.kW, self.dW, padW),
        )

    def _check(self, input):
        """Torch's SpatialConvolutionMM_shapeCheck; returns the input as a batch."""
        _check_planes(self, input)
        _check_kernel_stride(self.kW, self.kH, self.dW, self.dH)
        h, w = input.shape[-2:]
        oH, oW = self._output_hw(h, w)
        if oH < 1 or oW < 1:
            raise ValueError(
                f"Given input size: ({self.nInputPlane} x {h} x {w}). Calculated output size: "
                f"({self.nOutputPlane} x {oH} x {oW}). Output size is too small"
            )
        return input if input.ndim == 4 else input[None]

    def _w2d(self, w):
        return w.reshape(self.nOutputPlane, -1)

    def updateOutput(self, input):
        x = self._check(input)
        padH, padW = self._pads()
        out, self.finput, self._geometry = K.conv2d_forward(
            x, self._w2d(self.weight), self.bias, self.kH, self.kW, self.dH, self.dW, padH, padW
        )
        self.output = out if input.ndim == 4 else out[0]
        return self.output

    def _check_grad_output(self, input, gradOutput):
        oH, oW = self._output_hw(*input.shape[-2:])
        self._check_grad(gradOutput, input.shape[:-3] + (self.nOutputPlane, oH, oW))
        return gradOutput if gradOutput.ndim == 4 else gradOutput[None]

    def updateGradInput(self, input, gradOutput):
        if self.gradInput is None:
            return None
        x = self._check(input)
        g = self._check_grad_output(input, gradOutput)
        gi = K.conv2d_backward_input(g, self._w2d(self.weight), self._geometry_for(x))
        self.gradInput = gi if input.ndim == 4 else gi[0]
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        x = self._check(input)
        g = self._check_grad_output(input, gradOutput)
        geo = self._geometry_for(x)
        cols = self.finput
        if cols is None or cols.shape != (geo.n, geo.c * geo.kH * geo.kW, geo.positions):
            cols = K.im2col(x, geo)  # forward was not called on this input (or buffers cleared)
        gw, gb = K.conv2d_weight_grads(g, cols, geo, self.bias is not None)
        if scale != 1:
            gw *= scale
        self.gradWeight += gw.reshape(self.gradWeight.shape)
        if self.bias is not None:
            if scale != 1:
                gb *= scale
            self.gradBias += gb

    def _geometry_for(self, x):
        padH, padW = self._pads()
        return K.Geometry(x.shape, self.kH, self.kW, self.dH, self.dW, padH, padW)

    def type(self, type=None, tensorCache=None):  # noqa: A002
        if type is not None:
            self.finput = self._zeros(0)
            self.fgradInput = self._zeros(0)
        return super().type(type, tensorCache)

    def clearState(self):
        self._clear("finput", "fgradInput", "_input", "_gradOutput", "_geometry")
        return super().clearState()

    def __tostring__(self):
        padH, padW = self._pads()
        s = f"{self._name()}({self.nInputPlane} -> {self.nOutputPlane}, {self.kW}x{self.kH}"
        if self.dW != 1 or self.dH != 1 or padW != 0 or padH != 0:
            s += f", {self.dW},{self.dH}"
        if padW != 0 or padH != 0:
            s += f", {padW},{padH}"
        return s + (") without bias" if self.bias is None else ")")


class SpatialConvolutionMM(SpatialConvolution):
    """SpatialConvolution with a 2-D weight ``nOutputPlane x (nInputPlane*kH*kW)``.

    ``nn.SpatialConvolutionMM(nInputPlane, nOutputPlane, kW, kH, dW=1, dH=1, padW=0, padH=padW)``.
    Shape: as SpatialConvolution.
    """

    _weight_2d = True


class SpatialFullConvolution(_WeightBias, Module):
    """Transposed ("full", "deconvolution") 2-D convolution.

    ``nn.SpatialFullConvolution(nInputPlane, nOutputPlane, kW, kH, dW=1, dH=1, padW=0,
    padH=0, adjW=0, adjH=0)``; ``weight`` is ``nInputPlane x nOutputPlane x kH x kW``.
    Shape: ``(.., nInputPlane, H, W)`` -> ``(.., nOutputPlane, oH, oW)`` with
    ``oH = (H - 1) * dH - 2 * padH + kH + adjH``. It is the adjoint of SpatialConvolution:
    forward is a GEMM then col2im, the input gradient im2col then a GEMM.
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
        padH: int = 0,
        adjW: int = 0,
        adjH: int = 0,
    ):
        super().__init__()
        _check_kernel_stride(kW, kH, dW, dH)
        _check_planes_pads(self._name(), nInputPlane, nOutputPlane, padW, padH)
        if adjW > dW - 1 or adjH > dH - 1:
            raise ValueError(
                "adjW and adjH must be smaller than dW - 1 and dH - 1 respectively, "
                f"but got adjW: {adjW} adjH: {adjH} dW: {dW} dH: {dH}"
            )
        self.nInputPlane, self.nOutputPlane = nInputPlane, nOutputPlane
        self.kW, self.kH, self.dW, self.dH = kW, kH, dW, dH
        self.padW, self.padH, self.adjW, self.adjH = padW, padH, adjW, adjH
        self.weight = self._zeros(nInputPlane, nOutputPlane, kH, kW)
        self.gradWeight = self._zeros(nInputPlane, nOutputPlane, kH, kW)
        self.bias = self._zeros(nOutputPlane)
        self.gradBias = self._zeros(nOutputPlane)
        self.reset()

    def _fan_in(self):
        return self.kW * self.kH * self.nInputPlane

    def _adj(self, input):
        """``(input, adjH, adjW)``; a table ``{input, target}`` sets adj from the target's
        size, as Lua's calculateAdj: ``(t + 2*pad - k) % d``."""
        if isinstance(input, (list, tuple)):
            tH, tW = input[1].shape[-2:]
            return (
                input[0],
                (tH + 2 * self.padH - self.kH) % self.dH,
                (tW + 2 * self.padW - self.kW) % self.dW,
            )
        return input, self.adjH, self.adjW

    def _geometry(self, input):
        """The convolution whose adjoint this is: its input is our output."""
        input, adjH, adjW = self._adj(input)
        _check_planes(self, input)
        h, w = input.shape[-2:]
        oH = (h - 1) * self.dH - 2 * self.padH + self.kH + adjH
        oW = (w - 1) * self.dW - 2 * self.padW + self.kW + adjW
        if oH < 1 or oW < 1:
            raise ValueError(
                f"Given input size: ({self.nInputPlane} x {h} x {w}). Calculated output size: "
                f"({self.nOutputPlane} x {oH} x {oW}). Output size is too small"
            )
        x = input if input.ndim == 4 else input[None]
        g = K.Geometry((x.shape[0], self.nOutputPlane, oH, oW), self.kH, self.kW, self.dH,
                       self.dW, self.padH, self.padW)  # fmt: skip
        return x, g

    def _w2d(self):
        return self.weight.reshape(self.nInputPlane, -1)  # (nIn, nOut*kH*kW)

    def updateOutput(self, input):
        x, g = self._geometry(input)
        xp = B.get_array_module(x)
        cols = xp.matmul(self._w2d().T, x.reshape(g.n, self.nInputPlane, -1))
        out = K.col2im(cols, g)
        if self.bias is not None:
            out += self.bias[None, :, None, None]
        self.output = out if self._adj(input)[0].ndim == 4 else out[0]
        return self.output

    def _grad_cols(self, input, gradOutput):
        x, g = self._geometry(input)
        lead = self._adj(input)[0].shape[:-3]
        self._check_grad(gradOutput, lead + (self.nOutputPlane, g.h, g.w))
        go = gradOutput if gradOutput.ndim == 4 else gradOutput[None]
        return x, K.im2col(go, g), go

    def updateGradInput(self, input, gradOutput):
        if self.gradInput is None:
            return None
        x, cols, _ = self._grad_cols(input, gradOutput)
        xp = B.get_array_module(x)
        gi = xp.matmul(self._w2d(), cols).reshape(x.shape)
        gi = gi if self._adj(input)[0].ndim == 4 else gi[0]
        if isinstance(input, (list, tuple)):  # the target gets a zero gradient
            gi = [gi, xp.zeros_like(input[1])]
        self.gradInput = gi
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        x, cols, go = self._grad_cols(input, gradOutput)
        xp = B.get_array_module(x)
        x3 = x.reshape(x.shape[0], self.nInputPlane, -1)
        gw = xp.matmul(x3, cols.transpose(0, 2, 1)).sum(axis=0)
        self.gradWeight += scale * gw.reshape(self.gradWeight.shape)
        if self.bias is not None:
            self.gradBias += scale * go.sum(axis=(0, 2, 3))

    def __tostring__(self):
        s = f"{self._name()}({self.nInputPlane} -> {self.nOutputPlane}, {self.kW}x{self.kH}"
        if self.dW != 1 or self.dH != 1 or self.padW != 0 or self.padH != 0:
            s += f", {self.dW},{self.dH}"
        if self.padW != 0 or self.padH != 0:
            s += f", {self.padW},{self.padH}"
        if self.adjW != 0 or self.adjH != 0:
            s += f", {self.adjW},{self.adjH}"
        return s + (") without bias" if self.bias is None else ")")
