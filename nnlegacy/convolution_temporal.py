"""The temporal (1-D) convolutions over sequences of frames: the spatial ones with one
dimension.

Inputs are ``nInputFrame x inputFrameSize`` (or ``N x nInputFrame x inputFrameSize``),
features last, as Torch's. TemporalConvolution is the rank-1 unfold + GEMM convolution
over the frames seen as one signal of ``nInputFrame*inputFrameSize`` samples (a window of
``kW`` frames is ``kW*inputFrameSize`` consecutive samples, in Lua's weight order);
TemporalSubSampling and TemporalRowConvolution are the rank-1 subsampling and depthwise
convolutions of ``convolution_spatial.py``.
"""

from __future__ import annotations

from .convolution import check_planes, too_small
from .convolution_spatial import _ColumnBuffers, _SubSampling
from .kernels import unfold as KU
from .module import Module, _size_desc, _WeightBias

__all__ = ["TemporalConvolution", "TemporalRowConvolution", "TemporalSubSampling"]


def _check_frames(module, input, frame_size, kW, two_spaces=False):
    """THNN's TemporalConvolution/TemporalSubSampling input checks."""
    module._check_input(input)
    if input.ndim not in (2, 3):
        raise ValueError(
            f"2D or 3D (batch mode) tensor expected for input, but got: {_size_desc(input.shape)}"
        )
    sp = "  " if two_spaces else " "
    if input.shape[-1] != frame_size:
        raise ValueError(
            f"invalid input frame size.{sp}Got: {input.shape[-1]}, Expected: {frame_size}"
        )
    if input.shape[-2] < kW:
        got = "Got " if two_spaces else "Got: "
        raise ValueError(
            f"input sequence smaller than kernel size.{sp}{got}{input.shape[-2]}, Expected: {kW}"
        )
    return input if input.ndim == 3 else input[None]


class TemporalConvolution(_WeightBias, Module):
    """1-D convolution over a sequence of frames.

    ``nn.TemporalConvolution(inputFrameSize, outputFrameSize, kW, dW=1)``; ``weight`` is
    ``outputFrameSize x (kW*inputFrameSize)``. Shape: ``(.., nInputFrame,
    inputFrameSize)`` -> ``(.., nOutputFrame, outputFrameSize)`` with ``nOutputFrame =
    (nInputFrame - kW) // dW + 1``; frames past the last window are dropped.
    """

    def __init__(self, inputFrameSize: int, outputFrameSize: int, kW: int, dW: int = 1):
        super().__init__()
        self.inputFrameSize, self.outputFrameSize, self.kW, self.dW = (
            inputFrameSize, outputFrameSize, kW, dW,
        )  # fmt: skip
        self.weight = self._zeros(outputFrameSize, inputFrameSize * kW)
        self.gradWeight = self._zeros(outputFrameSize, inputFrameSize * kW)
        self.bias, self.gradBias = self._zeros(outputFrameSize), self._zeros(outputFrameSize)
        self.reset()

    def _fan_in(self):
        return self.kW * self.inputFrameSize

    def _signal(self, input):
        """The batch as ``(N, 1, nInputFrame*inputFrameSize)`` and its geometry."""
        x = _check_frames(self, input, self.inputFrameSize, self.kW)
        f = self.inputFrameSize
        sig = x.reshape(x.shape[0], 1, -1)
        return sig, KU.Unfold(sig.shape, (self.kW * f,), (self.dW * f,), (0,))

    def updateOutput(self, input):
        sig, g = self._signal(input)
        out, _ = KU.conv_forward(sig, self.weight, self.bias, g)  # (N, outF, nOutputFrame)
        out = out.transpose(0, 2, 1)
        self.output = (out if input.ndim == 3 else out[0]).copy()
        return self.output

    def _grad(self, input, gradOutput):
        sig, g = self._signal(input)
        self._check_grad(gradOutput, input.shape[:-2] + (g.out[0], self.outputFrameSize))
        go = gradOutput if gradOutput.ndim == 3 else gradOutput[None]
        return sig, g, go.transpose(0, 2, 1)

    def updateGradInput(self, input, gradOutput):
        if self.gradInput is None:
            return None
        sig, g, go = self._grad(input, gradOutput)
        self.gradInput = KU.conv_backward_input(go, self.weight, g).reshape(input.shape)
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        sig, g, go = self._grad(input, gradOutput)
        gw, gb = KU.conv_weight_grads(go, KU.unfold(sig, g), g)
        self.gradWeight += scale * gw
        self.gradBias += scale * gb

    def sharedAccUpdateGradParameters(self, input, gradOutput, lr):  # noqa: N802
        """Lua's: shared or not, the parameters are updated directly."""
        self.defaultAccUpdateGradParameters(input, gradOutput, lr)


class TemporalSubSampling(_SubSampling):
    """Each feature's windows of ``kW`` frames summed, times a learned weight, plus a bias.

    ``nn.TemporalSubSampling(inputFrameSize, kW, dW=1)``; ``weight`` and ``bias`` have
    ``inputFrameSize`` entries. Shape: ``(.., nInputFrame, inputFrameSize)`` -> ``(..,
    nOutputFrame, inputFrameSize)`` with ``nOutputFrame = (nInputFrame - kW) // dW + 1``.
    """

    def __init__(self, inputFrameSize: int, kW: int, dW: int = 1):
        super().__init__()
        self.inputFrameSize, self.kW, self.dW = inputFrameSize, kW, dW
        self.weight, self.gradWeight = self._zeros(inputFrameSize), self._zeros(inputFrameSize)
        self.bias, self.gradBias = self._zeros(inputFrameSize), self._zeros(inputFrameSize)
        self.reset()

    def _window(self):
        return (self.kW,), (self.dW,)

    def _planes(self, input, check=True):
        if check:
            _check_frames(self, input, self.inputFrameSize, self.kW, two_spaces=True)
        x = (input if input.ndim == 3 else input[None]).transpose(0, 2, 1)
        if input.ndim == 3:
            return x, lambda a: a.transpose(0, 2, 1)
        return x, lambda a: a[0].T


class TemporalRowConvolution(_ColumnBuffers, _WeightBias, Module):
    """Depthwise 1-D convolution: each feature row convolved with its own kernel.

    ``nn.TemporalRowConvolution(inputFrameSize, kW, dW=1, featFirst=false)``; ``weight`` is
    ``inputFrameSize x 1 x kW``. Shape: ``(.., nInputFrame, inputFrameSize)`` (or ``(..,
    inputFrameSize, nInputFrame)`` with featFirst) -> the same layout with ``nOutputFrame =
    (nInputFrame - kW) // dW + 1`` frames.
    """

    def __init__(self, inputFrameSize: int, kW: int, dW: int = 1, featFirst=False):
        super().__init__()
        self.inputFrameSize, self.kW, self.dW = inputFrameSize, kW, dW
        self.weight, self.gradWeight = (
            self._zeros(inputFrameSize, 1, kW),
            self._zeros(inputFrameSize, 1, kW),
        )
        self.bias, self.gradBias = self._zeros(inputFrameSize), self._zeros(inputFrameSize)
        self.featFirst = featFirst is not None and featFirst is not False
        self.finput, self.fgradInput = self._zeros(0), self._zeros(0)
        self.reset()

    def _fan_in(self):
        return self.kW * self.inputFrameSize

    def _rows(self, a):
        """``a`` in the features-first layout, as a batch."""
        b = a if self.featFirst else a.swapaxes(-1, -2)
        return b if b.ndim == 3 else b[None]

    def _back(self, a, input):
        """A features-first batch back in the input's layout."""
        a = a if input.ndim == 3 else a[0]
        return a if self.featFirst else a.swapaxes(-1, -2)

    def _check(self, input):
        self._check_input(input)
        if input.ndim not in (2, 3):
            raise ValueError(
                f"2D or 3D (batch mode) input tensor expected, but got :{_size_desc(input.shape)}"
            )
        rows = input if self.featFirst else input.swapaxes(-1, -2)
        g = KU.Unfold(self._rows(input).shape, (self.kW,), (self.dW,), (0,))
        if g.out[0] < 1:
            raise too_small(self.inputFrameSize, g.size, self.inputFrameSize, g.out)
        check_planes(rows, rows.ndim - 2, self.inputFrameSize)
        return self._rows(input), g

    def updateOutput(self, input):
        x, g = self._check(input)
        out, self.finput = KU.depthwise_forward(x, self.weight, g)
        if self.bias is not None:
            out += self.bias.reshape(1, -1, 1, 1)
        self.output = self._back(out.reshape(g.n, g.c, -1), input)
        return self.output

    def _grad(self, input, gradOutput):
        x, g = self._check(input)
        want = (
            (self.inputFrameSize, g.out[0]) if self.featFirst else (g.out[0], self.inputFrameSize)
        )
        self._check_grad(gradOutput, input.shape[:-2] + want)
        return x, g, self._rows(gradOutput).reshape(g.n, g.c, 1, g.positions)

    def updateGradInput(self, input, gradOutput):
        if self.gradInput is None:
            return None
        x, g, go = self._grad(input, gradOutput)
        self.gradInput = self._back(KU.depthwise_backward_input(go, self.weight, g), input)
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        x, g, go = self._grad(input, gradOutput)
        cols = self._depthwise_cols(x, g)
        self.gradWeight += scale * KU.depthwise_weight_grads(go, cols)
        if self.bias is not None:
            self.gradBias += scale * go.sum(axis=(0, 2, 3))

    def __tostring__(self):
        s = f"{self._name()}({self.inputFrameSize}, {self.kW}"
        s += f", {self.dW}" if self.dW != 1 else ""
        return s + (") without bias" if self.bias is None else ")")
