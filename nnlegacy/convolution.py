"""SpatialConvolution, SpatialConvolutionMM (spec sections 2.2, 2.3), SpatialDilatedConvolution
and SpatialFullConvolution, with the rank-free bases the temporal and volumetric modules
share: a convolution is unfold + GEMM (in cache-sized chunks on the CPU,
``kernels/conv_cpu.py``; over the whole batch on the GPU), a full (transposed) convolution
one GEMM + one fold (``kernels/unfold.py``).
"""

from __future__ import annotations

import math

import numpy as np

from . import backend as B
from .kernels import conv_cpu as KC
from .kernels import unfold as KU
from .module import Module, _size_desc, _WeightBias

__all__ = [
    "SpatialConvolution", "SpatialConvolutionMM", "SpatialDilatedConvolution",
    "SpatialFullConvolution",
]  # fmt: skip


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


def check_planes(input, dim: int, n: int):
    """THNN_CHECK_DIM_SIZE on the planes (0-based ``dim``, as Torch prints it)."""
    if input.shape[dim] != n:
        raise ValueError(
            f"Need input of dimension {input.ndim} and input.size[{dim}] == {n} "
            f"but got input to be of shape: {_size_desc(input.shape)}"
        )


def too_small(n_in, sizes, n_out, out, sep=" x "):
    return ValueError(
        f"Given input size: ({sep.join(str(v) for v in (n_in, *sizes))}). Calculated output "
        f"size: ({sep.join(str(v) for v in (n_out, *out))}). Output size is too small"
    )


def stride_pad_text(dW, dH, padW, padH):
    """The ``, dW,dH`` and ``, padW,padH`` parts of Lua's spatial print-outs."""
    s = f", {dW},{dH}" if dW != 1 or dH != 1 or padW != 0 or padH != 0 else ""
    return s + (f", {padW},{padH}" if padW != 0 or padH != 0 else "")


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


class _UnfoldConvolution:
    """The convolution of any rank as unfold + GEMM, for modules with ``_dims()``, ``_nd``,
    ``nOutputPlane``, ``weight``, ``bias`` and a ``_check(input)`` that validates the input
    and returns it as a batch.

    On the CPU the work is done in cache-sized chunks of the batch on nnlegacy's threads
    (``kernels/conv_cpu.py``): the columns are not kept (``finput`` stays empty), and
    ``backward`` makes one pass that gives the input and the parameter gradients. On the
    GPU the whole batch is unfolded at once into ``finput``, one GEMM over the batch.
    """

    _nd = 2

    def _unfold(self, x):
        return KU.Unfold(x.shape, *self._dims())

    def _w2d(self):
        return self.weight.reshape(self.nOutputPlane, -1)

    def updateOutput(self, input):
        x = self._check(input)
        g = self._unfold(x)
        if B.get_array_module(x) is np:
            shape = (g.n, self.nOutputPlane, *g.out)
            out = KC.conv_forward(
                x, self._w2d(), self.bias, g, self._reused("output", shape, x.dtype)
            )
        else:
            out, self.finput = KU.conv_forward(x, self._w2d(), self.bias, g)
        self.output = out if input.ndim == x.ndim else out[0]
        return self.output

    def _batch_grad(self, input, gradOutput):
        x = self._check(input)
        g = self._unfold(x)
        lead = input.shape[: input.ndim - self._nd - 1]
        self._check_grad(gradOutput, lead + (self.nOutputPlane, *g.out))
        return x, g, gradOutput if gradOutput.ndim == x.ndim else gradOutput[None]

    def _cpu_backward(self, input, gradOutput, need_input, need_weight, scale):
        """The CPU pass: gradInput and/or the parameter gradients (accumulated)."""
        x, g, go = self._batch_grad(input, gradOutput)
        with_bias = need_weight and self.bias is not None
        reuse = self._reused("gradInput", x.shape, go.dtype) if need_input else None
        gi, gw, gb = KC.conv_backward(
            x, go, self._w2d(), g, need_input, need_weight, with_bias, reuse
        )
        if need_input:
            self.gradInput = gi if input.ndim == x.ndim else gi[0]
        if need_weight:
            self.gradWeight += (gw * scale if scale != 1 else gw).reshape(self.gradWeight.shape)
            if with_bias:
                self.gradBias += gb * scale if scale != 1 else gb

    def backward(self, input, gradOutput, scale=1):
        if B.get_array_module(input) is not np:
            return super().backward(input, gradOutput, scale)
        self._cpu_backward(input, gradOutput, self.gradInput is not None, True, scale)
        return self.gradInput

    def updateGradInput(self, input, gradOutput):
        if self.gradInput is None:
            return None
        if B.get_array_module(input) is np:
            self._cpu_backward(input, gradOutput, True, False, 1)
            return self.gradInput
        x, g, go = self._batch_grad(input, gradOutput)
        gi = KU.conv_backward_input(go, self._w2d(), g)
        self.gradInput = gi if input.ndim == x.ndim else gi[0]
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        if B.get_array_module(input) is np:
            self._cpu_backward(input, gradOutput, False, True, scale)
            return
        x, g, go = self._batch_grad(input, gradOutput)
        cols = self.finput
        if not B.is_array(cols) or cols.shape != g.cols_shape:
            cols = KU.unfold(x, g)  # forward was not called on this input (or buffers cleared)
        gw, gb = KU.conv_weight_grads(go, cols, g, self.bias is not None)
        self.gradWeight += (gw * scale if scale != 1 else gw).reshape(self.gradWeight.shape)
        if self.bias is not None:
            self.gradBias += gb * scale if scale != 1 else gb

    def type(self, type=None, tensorCache=None):  # noqa: A002
        if type is not None:
            self.finput = self._zeros(0)
            self.fgradInput = self._zeros(0)
        return super().type(type, tensorCache)

    def clearState(self):
        self._clear("finput", "fgradInput", "_input", "_gradOutput")
        return super().clearState()


class SpatialConvolution(_UnfoldConvolution, _WeightBias, Module):
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

    def _dims(self):
        """(kernel, stride, pad, dilation), outermost dimension first."""
        return (self.kH, self.kW), (self.dH, self.dW), self._pads(), (1, 1)

    def _output_hw(self, h, w):
        padH, padW = self._pads()
        return (
            KU.conv_output_size(h, self.kH, self.dH, padH),
            KU.conv_output_size(w, self.kW, self.dW, padW),
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


class SpatialDilatedConvolution(SpatialConvolution):
    """SpatialConvolution whose kernel taps are ``dilation`` pixels apart (à trous).

    ``nn.SpatialDilatedConvolution(nInputPlane, nOutputPlane, kW, kH, dW=1, dH=1, padW=0,
    padH=padW, dilationW=1, dilationH=1)``; ``weight`` is ``nOutputPlane x nInputPlane x
    kH x kW``. Shape: ``(.., nInputPlane, H, W)`` -> ``(.., nOutputPlane, oH, oW)`` with
    ``oH = (H + 2*padH - (dilationH*(kH-1) + 1)) // dH + 1``.
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
        dilationW: int = 1,
        dilationH: int = 1,
    ):
        _check_dilation(dilationW, dilationH)
        super().__init__(nInputPlane, nOutputPlane, kW, kH, dW, dH, padW, padH)
        self.dilationW, self.dilationH = dilationW, dilationH

    def _after_load(self):
        self.__dict__.setdefault("dilationW", 1)
        self.__dict__.setdefault("dilationH", 1)

    def _dims(self):
        return (
            (self.kH, self.kW),
            (self.dH, self.dW),
            self._pads(),
            (self.dilationH, self.dilationW),
        )

    def _output_hw(self, h, w):
        padH, padW = self._pads()
        return (
            KU.conv_output_size(h, self.kH, self.dH, padH, self.dilationH),
            KU.conv_output_size(w, self.kW, self.dW, padW, self.dilationW),
        )

    def _check(self, input):
        _check_dilation(self.dilationW, self.dilationH)
        return super()._check(input)

    def __tostring__(self):
        s = super().__tostring__()
        tail = ") without bias" if self.bias is None else ")"
        return s[: -len(tail)] + f", {self.dilationW},{self.dilationH}" + tail


def _check_dilation(dilationW, dilationH):
    if dilationW <= 0 or dilationH <= 0:
        raise ValueError(
            "dilation should be greater than zero, but got "
            f"dilationH: {dilationH}, dilationW: {dilationW}"
        )


class _FullConvolution(_WeightBias, Module):
    """The transposed convolution of any rank: the adjoint of unfold + GEMM. Subclasses give
    ``_nd``, ``_dims()`` (kernel, stride, pad, adj) and ``_check_input_dims(input)``."""

    _nd = 2

    def _fan_in(self):
        return self.nInputPlane * math.prod(self._dims()[0])

    def _adj(self, input):
        """``(input, adj)``; a table ``{input, target}`` sets adj from the target's size,
        as Lua's calculateAdj: ``(t + 2*pad - k) % d``."""
        k, d, pad, adj = self._dims()
        if isinstance(input, (list, tuple)):
            sizes = input[1].shape[-self._nd :]
            return input[0], tuple((t + 2 * p - kk) % s for t, p, kk, s in zip(sizes, pad, k, d))
        return input, adj

    def _geometry(self, input):
        """The input as a batch and the geometry of the convolution this is the adjoint of."""
        input, adj = self._adj(input)
        self._check_input_dims(input)
        k, d, pad, _ = self._dims()
        sizes = input.shape[-self._nd :]
        out = tuple((i - 1) * s - 2 * p + kk + a for i, s, p, kk, a in zip(sizes, d, pad, k, adj))
        if min(out) < 1:
            raise self._too_small(sizes, out)
        x = input if input.ndim == self._nd + 2 else input[None]
        return x, KU.Unfold((x.shape[0], self.nOutputPlane, *out), k, d, pad)

    def _w2d(self):
        return self.weight.reshape(self.nInputPlane, -1)  # (nIn, nOut*prod(k))

    def updateOutput(self, input):
        x, g = self._geometry(input)
        out = KU.full_conv_forward(x, self._w2d(), self.bias, g)
        self.output = out if self._adj(input)[0].ndim == x.ndim else out[0]
        return self.output

    def _grad(self, input, gradOutput):
        x, g = self._geometry(input)
        lead = self._adj(input)[0].shape[: -self._nd - 1]
        self._check_grad(gradOutput, lead + g.input_shape[1:])
        go = gradOutput if gradOutput.ndim == x.ndim else gradOutput[None]
        return x, g, go

    def updateGradInput(self, input, gradOutput):
        if self.gradInput is None:
            return None
        x, g, go = self._grad(input, gradOutput)
        gi, _ = KU.full_conv_backward_input(go, self._w2d(), g)
        gi = gi.reshape(self._adj(input)[0].shape)
        if isinstance(input, (list, tuple)):  # the target gets a zero gradient
            gi = [gi, B.get_array_module(gi).zeros_like(input[1])]
        self.gradInput = gi
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        x, g, go = self._grad(input, gradOutput)
        gw = KU.full_conv_weight_grads(x, KU.unfold(go, g), g)
        self.gradWeight += scale * gw.reshape(self.gradWeight.shape)
        if self.bias is not None:
            self.gradBias += scale * go.sum(axis=(0, *range(2, go.ndim)))


class SpatialFullConvolution(_FullConvolution):
    """Transposed ("full", "deconvolution") 2-D convolution.

    ``nn.SpatialFullConvolution(nInputPlane, nOutputPlane, kW, kH, dW=1, dH=1, padW=0,
    padH=0, adjW=0, adjH=0)``; ``weight`` is ``nInputPlane x nOutputPlane x kH x kW``.
    Shape: ``(.., nInputPlane, H, W)`` -> ``(.., nOutputPlane, oH, oW)`` with
    ``oH = (H - 1) * dH - 2 * padH + kH + adjH``; a table ``{input, target}`` takes adj
    from the target's size. It is the adjoint of SpatialConvolution: forward is a GEMM then
    col2im, the input gradient im2col then a GEMM.
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

    def _dims(self):
        return (
            (self.kH, self.kW),
            (self.dH, self.dW),
            (self.padH, self.padW),
            (self.adjH, self.adjW),
        )

    def _check_input_dims(self, input):
        _check_planes(self, input)

    def _too_small(self, sizes, out):
        return too_small(self.nInputPlane, sizes, self.nOutputPlane, out)

    def __tostring__(self):
        s = f"{self._name()}({self.nInputPlane} -> {self.nOutputPlane}, {self.kW}x{self.kH}"
        if self.dW != 1 or self.dH != 1 or self.padW != 0 or self.padH != 0:
            s += f", {self.dW},{self.dH}"
        if self.padW != 0 or self.padH != 0:
            s += f", {self.padW},{self.padH}"
        if self.adjW != 0 or self.adjH != 0:
            s += f", {self.adjW},{self.adjH}"
        return s + (") without bias" if self.bias is None else ")")
