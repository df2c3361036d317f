"""SpatialMaxPooling and SpatialAveragePooling (spec sections 2.4, 2.5)."""

from __future__ import annotations

from .kernels import pooling as K
from .module import Module, _size_desc

__all__ = ["SpatialAveragePooling", "SpatialMaxPooling"]


class _SpatialPooling(Module):
    """What max and average pooling share: arguments, checks, output size, print-out."""

    def __init__(self, kW: int, kH: int, dW: int, dH: int, padW: int = 0, padH: int = 0):
        super().__init__()
        self.kW, self.kH, self.dW, self.dH = kW, kH, dW, dH
        self.padW, self.padH = padW, padH
        self.ceil_mode = False  # arguments are checked at forward, as THNN does

    def ceil(self):
        self.ceil_mode = True
        return self

    def floor(self):
        self.ceil_mode = False
        return self

    def _check_args(self):
        kW, kH, dW, dH = self.kW, self.kH, self.dW, self.dH
        padW, padH = self._pads()
        if kW <= 0 or kH <= 0:
            raise ValueError(f"kernel size should be greater than zero, but got kH: {kH} kW: {kW}")
        if dW <= 0 or dH <= 0:
            raise ValueError(f"stride should be greater than zero, but got dH: {dH} dW: {dW}")
        if not (kW // 2 >= padW and kH // 2 >= padH):
            raise ValueError(
                "pad should be smaller than half of kernel size, but got "
                f"padW = {padW}, padH = {padH}, kW = {kW}, kH = {kH}"
            )

    def _pads(self):
        return self.padW, self.padH

    def output_size(self, h, w):
        padW, padH = self._pads()
        ceil = bool(self.ceil_mode)
        return (
            K.pool_output_size(h, self.kH, self.dH, padH, ceil),
            K.pool_output_size(w, self.kW, self.dW, padW, ceil),
        )

    def _check(self, input):
        self._check_input(input)
        self._check_args()
        if input.ndim not in (3, 4):
            raise ValueError(f"3D or 4D input tensor expected but got: {_size_desc(input.shape)}")
        c, h, w = input.shape[-3:]
        oH, oW = self.output_size(h, w)
        if oH < 1 or oW < 1:
            raise ValueError(
                f"Given input size: ({c}x{h}x{w}). Calculated output size: "
                f"({c}x{oH}x{oW}). Output size is too small"
            )
        return input if input.ndim == 4 else input[None]

    def __tostring__(self):
        padW, padH = self._pads()
        s = f"{self._name()}({self.kW}x{self.kH}, {self.dW},{self.dH}"
        if padW or padH:
            s += f", {padW},{padH}"
        return s + ")"


class SpatialMaxPooling(_SpatialPooling):
    """Max over ``kW x kH`` windows taken every ``dW, dH``.

    ``nn.SpatialMaxPooling(kW, kH, dW=kW, dH=kH, padW=0, padH=0)``; ``:ceil()`` /
    ``:floor()`` (the default) choose the rounding.
    Shape: ``(.., C, H, W)`` -> ``(.., C, oH, oW)``, ``oH = floor((H + 2*padH - kH) / dH) + 1``
    (or ceil), minus one when that last window would start in the padding.
    ``indices`` holds the 1-based flat position (``h*W + w + 1``) of each maximum.
    """

    def __init__(
        self,
        kW: int,
        kH: int,
        dW: int | None = None,
        dH: int | None = None,
        padW: int = 0,
        padH: int = 0,
    ):
        super().__init__(kW, kH, kW if dW is None else dW, kH if dH is None else dH, padW, padH)
        self._indices = self._xp.empty(0, "int64")
        self._argmax = None

    @property
    def indices(self):
        """1-based flat position of each maximum in its H x W plane, as Torch's."""
        if self._indices is None and self._argmax is not None:
            a = self._argmax if self._argmax.ndim == 4 else self._argmax[None]
            idx = K.maxpool2d_indices(a, *self._geometry)
            self._indices = idx if self._argmax.ndim == 4 else idx[0]
        return self._indices

    @indices.setter
    def indices(self, value):
        self._indices = value

    def updateOutput(self, input):
        x = self._check(input)
        padW, padH = self._pads()
        shape = (*x.shape[:2], *self.output_size(*x.shape[2:]))
        out = self._reused("output", shape, x.dtype)
        arg = self._reused("_argmax", shape, K.argmax_dtype((self.kH, self.kW)))
        out, arg = K.maxpool2d_forward(
            x, self.kH, self.kW, self.dH, self.dW, padH, padW, bool(self.ceil_mode), out, arg
        )
        if input.ndim == 3:
            out, arg = out[0], arg[0]
        self.output, self._argmax, self._indices = out, arg, None
        self.iheight, self.iwidth = x.shape[2], x.shape[3]  # read by SpatialMaxUnpooling
        self._geometry = (x.shape[2], x.shape[3], self.kH, self.kW, self.dH, self.dW, padH, padW)
        return out

    def updateGradInput(self, input, gradOutput):
        x = self._check(input)
        self._check_grad(gradOutput, input.shape[:-2] + self.output_size(*input.shape[-2:]))
        arg = getattr(self, "_argmax", None)
        if arg is None or arg.shape != gradOutput.shape:
            raise RuntimeError(f"{self._name()}: call forward before backward")
        g = gradOutput if gradOutput.ndim == 4 else gradOutput[None]
        a = arg if arg.ndim == 4 else arg[None]
        padW, padH = self._pads()
        reuse = self._reused("gradInput", x.shape, g.dtype)
        gi = K.maxpool2d_backward(
            g, a, x.shape, self.kH, self.kW, self.dH, self.dW, padH, padW, reuse
        )
        self.gradInput = gi if input.ndim == 4 else gi[0]
        return self.gradInput

    def clearState(self):
        self._indices = self._xp.empty(0, "int64")
        self._argmax = None
        return super().clearState()


class SpatialAveragePooling(_SpatialPooling):
    """Mean over ``kW x kH`` windows taken every ``dW, dH``.

    ``nn.SpatialAveragePooling(kW, kH, dW=1, dH=1, padW=0, padH=0)`` (the stride
    defaults to 1, not to the kernel); ``:ceil()``/``:floor()``,
    ``:setCountIncludePad()`` (the default) / ``:setCountExcludePad()``.
    Shape: as SpatialMaxPooling. The divisor is the window clipped to the padded
    border (include) or to the image (exclude).
    """

    def __init__(self, kW: int, kH: int, dW: int = 1, dH: int = 1, padW: int = 0, padH: int = 0):
        super().__init__(kW, kH, dW, dH, padW, padH)
        self.count_include_pad = True
        self.divide = True

    def setCountIncludePad(self):
        self.count_include_pad = True
        return self

    def setCountExcludePad(self):
        self.count_include_pad = False
        return self

    def updateOutput(self, input):
        x = self._check(input)
        padW, padH = self._pads()
        include = self.count_include_pad
        out = K.avgpool2d_forward(
            x, self.kH, self.kW, self.dH, self.dW, padH, padW, bool(self.ceil_mode), include
        )
        if not self.divide:  # legacy sum pooling
            out *= self.kW * self.kH
        self.output = out if input.ndim == 4 else out[0]
        return self.output

    def updateGradInput(self, input, gradOutput):
        x = self._check(input)
        self._check_grad(gradOutput, input.shape[:-2] + self.output_size(*input.shape[-2:]))
        g = gradOutput if gradOutput.ndim == 4 else gradOutput[None]
        padW, padH = self._pads()
        include = self.count_include_pad
        gi = K.avgpool2d_backward(
            g, x.shape, self.kH, self.kW, self.dH, self.dW, padH, padW, include
        )
        if not self.divide:
            gi *= self.kW * self.kH
        self.gradInput = gi if input.ndim == 4 else gi[0]
        return self.gradInput
