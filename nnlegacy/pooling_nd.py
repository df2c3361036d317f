"""Max and average pooling in 1, 2 and 3 dimensions, with dilation.

The temporal and volumetric modules are the spatial ones with another rank: one
output-size rule and one strided-slice implementation (``kernels/pooling.py``).
"""

from __future__ import annotations

import numpy as np

from . import backend as B
from .kernels import pooling as K
from .module import Module, _size_desc
from .pooling import SpatialMaxPooling

__all__ = [
    "SpatialDilatedMaxPooling",
    "TemporalMaxPooling",
    "VolumetricAveragePooling",
    "VolumetricDilatedMaxPooling",
    "VolumetricMaxPooling",
]


def _batched(x, ndim):
    """x with a leading batch axis (added when it has ``ndim`` - 1 axes)."""
    return x if x.ndim == ndim else x[None]


def _output_size(module, sizes):
    """The pooled sizes of input ``sizes`` under ``module._dims()`` and its ceil mode."""
    ks, ds, pads, dils = module._dims()
    ceil = bool(module.ceil_mode)
    return tuple(
        K.pool_output_size(s, k, d, p, ceil, dl)
        for s, k, d, p, dl in zip(sizes, ks, ds, pads, dils)
    )


def _saved_argmax(module, gradOutput):
    """Forward's argmax, which must be of this gradOutput's shape."""
    arg = getattr(module, "_argmax", None)
    if arg is None or arg.shape != gradOutput.shape:
        raise RuntimeError(f"{module._name()}: call forward before backward")
    return arg


class SpatialDilatedMaxPooling(SpatialMaxPooling):
    """Max pooling over windows whose taps are ``dilation`` apart.

    ``nn.SpatialDilatedMaxPooling(kW, kH, dW=kW, dH=kH, padW=0, padH=0, dilationW=1,
    dilationH=1)``; ``:ceil()``/``:floor()``.
    Shape: ``(.., C, H, W)`` -> ``(.., C, oH, oW)``,
    ``oH = floor((H + 2*padH - dilationH*(kH-1) - 1) / dH) + 1`` (or ceil, with the
    last-window rule). ``indices`` are 1-based flat positions in the H x W plane.
    """

    def __init__(
        self,
        kW: int,
        kH: int,
        dW: int | None = None,
        dH: int | None = None,
        padW: int = 0,
        padH: int = 0,
        dilationW: int = 1,
        dilationH: int = 1,
    ):
        self.dilationW, self.dilationH = dilationW, dilationH
        super().__init__(kW, kH, dW, dH, padW, padH)

    def _check_args(self):
        super()._check_args()
        if self.dilationW <= 0 or self.dilationH <= 0:
            raise ValueError(
                "dilation should be greater than zero, but got "
                f"dilationH: {self.dilationH} dilationW: {self.dilationW}"
            )

    def _dims(self):
        padW, padH = self._pads()
        return (
            (self.kH, self.kW),
            (self.dH, self.dW),
            (padH, padW),
            (self.dilationH, self.dilationW),
        )

    def output_size(self, h, w):
        return _output_size(self, (h, w))

    def updateOutput(self, input):
        x = self._check(input)
        ks, ds, pads, dils = self._dims()
        out, arg = K.maxpool_nd_forward(x, ks, ds, pads, dils, bool(self.ceil_mode))
        if input.ndim == 3:
            out, arg = out[0], arg[0]
        self.output, self._argmax, self._indices = out, arg, None
        self.iheight, self.iwidth = x.shape[2], x.shape[3]
        self._geometry = (x.shape[2], x.shape[3], *ks, *ds, *pads, *dils)
        return out

    def updateGradInput(self, input, gradOutput):
        x = self._check(input)
        self._check_grad(gradOutput, input.shape[:-2] + self.output_size(*input.shape[-2:]))
        arg = _saved_argmax(self, gradOutput)
        g, a = _batched(gradOutput, 4), _batched(arg, 4)
        gi = K.maxpool_nd_backward(g, a, x.shape, *self._dims())
        self.gradInput = gi if input.ndim == 4 else gi[0]
        return self.gradInput

    def __tostring__(self):
        return super().__tostring__()[:-1] + f", {self.dilationW},{self.dilationH})"


class TemporalMaxPooling(Module):
    """Max over windows of ``kW`` frames taken every ``dW`` frames, per feature.

    ``nn.TemporalMaxPooling(kW, dW=kW)``. Shape: ``(.., T, F)`` -> ``(.., oT, F)``,
    ``oT = floor((T - kW) / dW) + 1``. ``indices`` holds the 0-based offset of each
    maximum inside its window, as THNN's.
    """

    def __init__(self, kW: int, dW: int | None = None):
        super().__init__()
        self.kW = kW
        self.dW = kW if dW is None else dW
        self.indices = self._xp.empty(0, "int64")

    def _check(self, input):
        self._check_input(input)
        if input.ndim not in (2, 3):
            raise ValueError(
                "2D or 3D (batch mode) tensor expected for input, but got: "
                f"{_size_desc(input.shape)}"
            )
        t = input.shape[-2]
        if t < self.kW:
            raise ValueError(
                f"input sequence smaller than kernel size. Got: {t}, Expected: {self.kW}"
            )
        return input.shape[:-2] + ((t - self.kW) // self.dW + 1, input.shape[-1])

    def updateOutput(self, input):
        self._check(input)
        x = _batched(input, 3).swapaxes(1, 2)  # (N, F, T)
        out, arg = K.maxpool_nd_forward(x, (self.kW,), (self.dW,), (0,), (1,), False)
        out, arg = out.swapaxes(1, 2), arg.swapaxes(1, 2).astype(np.int64)
        self.output = B.get_array_module(out).ascontiguousarray(out if input.ndim == 3 else out[0])
        self.indices = arg if input.ndim == 3 else arg[0]
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_grad(gradOutput, self._check(input))
        if tuple(self.indices.shape) != tuple(gradOutput.shape):
            raise RuntimeError(f"{self._name()}: call forward before backward")
        g = _batched(gradOutput, 3).swapaxes(1, 2)
        a = _batched(self.indices, 3).swapaxes(1, 2)
        shape = _batched(input, 3).swapaxes(1, 2).shape
        gi = K.maxpool_nd_backward(g, a, shape, (self.kW,), (self.dW,), (0,), (1,))
        gi = B.get_array_module(gi).ascontiguousarray(gi.swapaxes(1, 2))
        self.gradInput = gi if input.ndim == 3 else gi[0]
        return self.gradInput

    def clearState(self):
        self._clear("indices")
        return super().clearState()


class _VolumetricPooling(Module):
    """What volumetric max and average pooling share: fields, checks, sizes."""

    # what a module without padding, dilation or ceil mode has
    padT = padH = padW = 0
    dilationT = dilationH = dilationW = 1
    ceil_mode = False
    _DILATED = False

    def _set_window(self, kT, kW, kH, dT, dW, dH):
        """The kernel, and the stride (the kernel where not given); they are checked at
        forward, as THNN does."""
        self.kT, self.kW, self.kH = kT, kW, kH
        self.dT = kT if dT is None else dT
        self.dW = kW if dW is None else dW
        self.dH = kH if dH is None else dH

    def _dims(self):
        """(kernel, stride, pad, dilation) in input-axis order T, H, W."""
        return (
            (self.kT, self.kH, self.kW),
            (self.dT, self.dH, self.dW),
            (self.padT, self.padH, self.padW),
            (self.dilationT, self.dilationH, self.dilationW),
        )

    def ceil(self):
        self.ceil_mode = True
        return self

    def floor(self):
        self.ceil_mode = False
        return self

    def output_size(self, t, h, w):
        return _output_size(self, (t, h, w))

    def _check_args(self):
        ks, ds, pads, dils = self._dims()
        (kT, kH, kW), (dT, dH, dW), (padT, padH, padW) = ks, ds, pads
        if min(ks) <= 0:
            raise ValueError(
                f"kernel size should be greater than zero, but got kT: {kT} kH: {kH} kW: {kW}"
            )
        if min(ds) <= 0:
            raise ValueError(
                f"stride should be greater than zero, but got dT: {dT} dH: {dH} dW: {dW}"
            )
        if min(dils) <= 0:
            raise ValueError(
                "dilation should be greater than zero, but got dilationT: {} dilationH: {} "
                "dilationW: {}".format(*dils)
            )
        if not (kT // 2 >= padT and kW // 2 >= padW and kH // 2 >= padH):
            raise ValueError(
                f"pad should be smaller than half of kernel size, but got kT: {kT} kW: {kW}, "
                f"kH: {kH}, padT: {padT}, padW: {padW}, padH: {padH}"
            )

    def _check(self, input):
        """The input as (N, C, T, H, W), after Torch's checks."""
        self._check_input(input)
        self._check_args()
        if input.ndim not in (4, 5):
            raise ValueError(
                "4D or 5D (batch mode) tensor expected for input, but got: "
                f"{_size_desc(input.shape)}"
            )
        c, t, h, w = input.shape[-4:]
        o = self.output_size(t, h, w)
        if min(o) < 1:
            raise ValueError(
                f"Given input size: ({c}x{t}x{h}x{w}). Calculated output size: "
                f"({c}x{o[0]}x{o[1]}x{o[2]}). Output size is too small"
            )
        return _batched(input, 5)

    def _out_shape(self, input):
        return input.shape[:-3] + self.output_size(*input.shape[-3:])

    def __tostring__(self):
        ks, ds, pads, dils = self._dims()
        s = f"{self._name()}({self.kT}x{self.kW}x{self.kH}, {self.dT},{self.dW},{self.dH}"
        if any(pads):
            s += f", {pads[0]},{pads[2]},{pads[1]}"
        if self._DILATED:
            s += f", {dils[0]},{dils[2]},{dils[1]}"
        return s + ")"


class VolumetricMaxPooling(_VolumetricPooling):
    """Max over ``kT x kH x kW`` windows of ``(.., C, T, H, W)`` input.

    ``nn.VolumetricMaxPooling(kT, kW, kH, dT=kT, dW=kW, dH=kH, padT=0, padW=0,
    padH=0)``; ``:ceil()``/``:floor()``. Shape: ``(.., C, T, H, W)`` ->
    ``(.., C, oT, oH, oW)``, each as SpatialMaxPooling's. ``indices`` packs the
    in-window offsets t, h, w into bytes 0, 1, 2, as THNN's.
    """

    def __init__(
        self,
        kT: int,
        kW: int,
        kH: int,
        dT: int | None = None,
        dW: int | None = None,
        dH: int | None = None,
        padT: int = 0,
        padW: int = 0,
        padH: int = 0,
    ):
        super().__init__()
        self._set_window(kT, kW, kH, dT, dW, dH)
        self.padT, self.padW, self.padH = padT, padW, padH
        self.ceil_mode = False
        self._indices = self._xp.empty(0, "int64")
        self._argmax = None

    @property
    def indices(self):
        if self._indices is None and self._argmax is not None:
            ks = self._dims()[0]
            a = self._argmax.astype(np.int64)
            t, h, w = a // (ks[1] * ks[2]), a // ks[2] % ks[1], a % ks[2]
            self._indices = t | (h << 8) | (w << 16)
        return self._indices

    @indices.setter
    def indices(self, value):
        self._indices = value

    def updateOutput(self, input):
        x = self._check(input)
        out, arg = K.maxpool_nd_forward(x, *self._dims(), bool(self.ceil_mode))
        if input.ndim == 4:
            out, arg = out[0], arg[0]
        self.output, self._argmax, self._indices = out, arg, None
        self.itime, self.iheight, self.iwidth = x.shape[2:]
        return out

    def updateGradInput(self, input, gradOutput):
        x = self._check(input)
        self._check_grad(gradOutput, self._out_shape(input))
        arg = _saved_argmax(self, gradOutput)
        gi = K.maxpool_nd_backward(
            _batched(gradOutput, 5), _batched(arg, 5), x.shape, *self._dims()
        )
        self.gradInput = gi if input.ndim == 5 else gi[0]
        return self.gradInput

    def _after_load(self):
        self.__dict__.setdefault("_argmax", None)

    def clearState(self):
        self._indices = self._xp.empty(0, "int64")
        self._argmax = None
        return super().clearState()


class VolumetricDilatedMaxPooling(VolumetricMaxPooling):
    """Volumetric max pooling with taps ``dilation`` apart.

    ``nn.VolumetricDilatedMaxPooling(kT, kW, kH, dT=kT, dW=kW, dH=kH, padT=0, padW=0,
    padH=0, dilationT=1, dilationW=1, dilationH=1)``.
    Shape: each axis as SpatialDilatedMaxPooling's.
    """

    _DILATED = True

    def __init__(
        self,
        kT: int,
        kW: int,
        kH: int,
        dT: int | None = None,
        dW: int | None = None,
        dH: int | None = None,
        padT: int = 0,
        padW: int = 0,
        padH: int = 0,
        dilationT: int = 1,
        dilationW: int = 1,
        dilationH: int = 1,
    ):
        self.dilationT, self.dilationW, self.dilationH = dilationT, dilationW, dilationH
        super().__init__(kT, kW, kH, dT, dW, dH, padT, padW, padH)


class VolumetricAveragePooling(_VolumetricPooling):
    """Mean over ``kT x kH x kW`` windows of ``(.., C, T, H, W)`` input.

    ``nn.VolumetricAveragePooling(kT, kW, kH, dT=kT, dW=kW, dH=kH)``.
    Shape: ``oT = floor((T - kT) / dT) + 1``, and so for H and W.
    """

    def __init__(
        self,
        kT: int,
        kW: int,
        kH: int,
        dT: int | None = None,
        dW: int | None = None,
        dH: int | None = None,
    ):
        super().__init__()
        self._set_window(kT, kW, kH, dT, dW, dH)

    def _check(self, input):
        self._check_input(input)
        if input.ndim in (4, 5):
            t, h, w = input.shape[-3:]
            if t < self.kT or h < self.kH or w < self.kW:
                raise ValueError(
                    f"input image (T: {t} H: {h} W: {w}) smaller than kernel size "
                    f"(kT: {self.kT} kH: {self.kH} kW: {self.kW})"
                )
        return super()._check(input)

    def updateOutput(self, input):
        x = self._check(input)
        ks, ds, pads, _ = self._dims()
        out = K.avgpool_nd_forward(x, ks, ds, pads, False, True)
        self.output = out if input.ndim == 5 else out[0]
        return self.output

    def updateGradInput(self, input, gradOutput):
        x = self._check(input)
        self._check_grad(gradOutput, self._out_shape(input))
        ks, ds, pads, _ = self._dims()
        gi = K.avgpool_nd_backward(_batched(gradOutput, 5), x.shape, ks, ds, pads, True)
        self.gradInput = gi if input.ndim == 5 else gi[0]
        return self.gradInput
