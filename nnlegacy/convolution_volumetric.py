"""The volumetric (3-D) convolutions: the spatial ones with one more dimension.

VolumetricConvolution and VolumetricDilatedConvolution are the rank-3 instances of the
unfold + GEMM convolution, VolumetricFullConvolution that of the transposed one
(``convolution.py``, ``kernels/unfold.py``). Arguments come in Lua's order (T, W, H);
arrays are ``(N, C, T, H, W)``.
"""

from __future__ import annotations

import math

from . import backend as B
from .convolution import _FullConvolution, _UnfoldConvolution, check_planes, too_small
from .convolution_spatial import _ColumnBuffers
from .module import Module, _size_desc, _WeightBias

__all__ = ["VolumetricConvolution", "VolumetricDilatedConvolution", "VolumetricFullConvolution"]


def _check_rank(module, input):
    module._check_input(input)
    if input.ndim not in (4, 5):
        raise ValueError(
            f"4D or 5D (batch mode) tensor expected for input, but got: {_size_desc(input.shape)}"
        )


def _check_kernel_stride(kT, kW, kH, dT, dW, dH):
    if min(kT, kW, kH) <= 0:
        raise ValueError(
            f"kernel size should be greater than zero, but got kT: {kT} kH: {kH} kW: {kW}"
        )
    if min(dT, dW, dH) <= 0:
        raise ValueError(f"stride should be greater than zero, but got dT: {dT} dH: {dH} dW: {dW}")


def _print(m, tail=""):
    """Lua's print-out: ``name(nIn -> nOut, kTxkWxkH`` then ``, dT,dW,dH`` and ``,
    padT,padW,padH`` where they are not the defaults, ``tail``, and the bias note."""
    s = f"{m._name()}({m.nInputPlane} -> {m.nOutputPlane}, {m.kT}x{m.kW}x{m.kH}"
    pads = (m.padT, m.padW, m.padH)
    if (m.dT, m.dW, m.dH) != (1, 1, 1) or any(pads):
        s += f", {m.dT},{m.dW},{m.dH}"
    if any(pads):
        s += ", " + ",".join(str(p) for p in pads)
    return s + tail + (") without bias" if m.bias is None else ")")


class _Volumetric:
    """The fields the volumetric convolutions share: planes, kernel and stride."""

    def _set_kernel(self, nInputPlane, nOutputPlane, kT, kW, kH, dT, dW, dH, planes):
        """Checks and sets the planes, kernel and stride; allocates ``weight`` (``planes x
        kT x kH x kW``), ``bias`` and the column buffers."""
        _check_kernel_stride(kT, kW, kH, dT, dW, dH)
        self.nInputPlane, self.nOutputPlane = nInputPlane, nOutputPlane
        self.kT, self.kW, self.kH, self.dT, self.dW, self.dH = kT, kW, kH, dT, dW, dH
        shape = (*planes, kT, kH, kW)
        self.weight, self.gradWeight = self._zeros(*shape), self._zeros(*shape)
        self.bias, self.gradBias = self._zeros(nOutputPlane), self._zeros(nOutputPlane)
        self.finput, self.fgradInput = self._zeros(0), self._zeros(0)

    def _kernel_stride_pad(self):
        return (
            (self.kT, self.kH, self.kW),
            (self.dT, self.dH, self.dW),
            (self.padT, self.padH, self.padW),
        )


class VolumetricConvolution(_Volumetric, _UnfoldConvolution, _WeightBias, Module):
    """3-D convolution over a sequence of images (video) of ``nInputPlane`` planes.

    ``nn.VolumetricConvolution(nInputPlane, nOutputPlane, kT, kW, kH, dT=1, dW=1, dH=1,
    padT=0, padW=padT, padH=padW)``; ``weight`` is ``nOutputPlane x nInputPlane x kT x kH x
    kW``. Shape: ``(.., nInputPlane, T, H, W)`` -> ``(.., nOutputPlane, oT, oH, oW)`` with
    ``oT = (T + 2*padT - kT) // dT + 1`` (C division), and so for H and W.
    """

    _nd = 3

    def __init__(
        self,
        nInputPlane: int,
        nOutputPlane: int,
        kT: int,
        kW: int,
        kH: int,
        dT: int = 1,
        dW: int = 1,
        dH: int = 1,
        padT: int = 0,
        padW: int | None = None,
        padH: int | None = None,
    ):
        super().__init__()
        planes = (nOutputPlane, nInputPlane)
        self._set_kernel(nInputPlane, nOutputPlane, kT, kW, kH, dT, dW, dH, planes)
        self.padT = padT
        self.padW = padT if padW is None else padW
        self.padH = self.padW if padH is None else padH
        self.reset()

    def _after_load(self):
        for k in ("padT", "padW", "padH"):
            self.__dict__.setdefault(k, 0)
        self.__dict__.setdefault("bias", None)

    def _dilation(self):
        return (1, 1, 1)

    def _dims(self):
        return (*self._kernel_stride_pad(), self._dilation())

    def _fan_in(self):
        return self.nInputPlane * self.kT * self.kH * self.kW

    def _check(self, input):
        """THNN's shape check; the input as a batch."""
        _check_rank(self, input)
        _check_kernel_stride(self.kT, self.kW, self.kH, self.dT, self.dW, self.dH)
        x = input if input.ndim == 5 else input[None]
        g = self._unfold(x)
        if min(g.out) < 1:
            raise too_small(x.shape[1], g.size, self.nOutputPlane, g.out, sep="x")
        self._check_planes(x, g)
        return x

    def _check_planes(self, x, g):
        if x.shape[1] != self.nInputPlane:  # Lua meets it in the GEMM
            k = math.prod(g.k)
            raise ValueError(
                f"size mismatch, m1: [{self.nOutputPlane} x {self.nInputPlane * k}], "
                f"m2: [{x.shape[1] * k} x {g.positions}]"
            )

    def __tostring__(self):
        return _print(self)


class VolumetricDilatedConvolution(VolumetricConvolution):
    """VolumetricConvolution whose kernel taps are ``dilation`` apart.

    ``nn.VolumetricDilatedConvolution(nInputPlane, nOutputPlane, kT, kW, kH, dT=1, dW=1,
    dH=1, padT=0, padW=padT, padH=padW, dilationT=1, dilationW=1, dilationH=1)``.
    Shape: as VolumetricConvolution with ``oT = (T + 2*padT - (dilationT*(kT-1) + 1)) // dT
    + 1``, and so for H and W.
    """

    def __init__(
        self,
        nInputPlane: int,
        nOutputPlane: int,
        kT: int,
        kW: int,
        kH: int,
        dT: int = 1,
        dW: int = 1,
        dH: int = 1,
        padT: int = 0,
        padW: int | None = None,
        padH: int | None = None,
        dilationT: int = 1,
        dilationW: int = 1,
        dilationH: int = 1,
    ):
        super().__init__(nInputPlane, nOutputPlane, kT, kW, kH, dT, dW, dH, padT, padW, padH)
        self.dilationT, self.dilationW, self.dilationH = dilationT, dilationW, dilationH
        self._check_dilation()

    def _after_load(self):
        super()._after_load()
        for k in ("dilationT", "dilationW", "dilationH"):
            self.__dict__.setdefault(k, 1)

    def _check_dilation(self):
        if min(self.dilationT, self.dilationW, self.dilationH) <= 0:
            raise ValueError(
                f"dilation should be greater than zero, but got dilationT: {self.dilationT}, "
                f"dilationH: {self.dilationH}, dilationW: {self.dilationW}"
            )

    def _dilation(self):
        return (self.dilationT, self.dilationH, self.dilationW)

    def _check(self, input):
        self._check_dilation()
        return super()._check(input)

    def _check_planes(self, x, g):
        if x.shape[1] != self.nInputPlane:
            raise ValueError(
                "input channels and nInputPlane dont match. "
                f"Expected: {self.nInputPlane}, got {x.shape[1]}"
            )

    def __tostring__(self):
        return _print(self, f", {self.dilationT},{self.dilationW},{self.dilationH}")


class VolumetricFullConvolution(_Volumetric, _ColumnBuffers, _FullConvolution):
    """Transposed ("full") 3-D convolution, the adjoint of VolumetricConvolution.

    ``nn.VolumetricFullConvolution(nInputPlane, nOutputPlane, kT, kW, kH, dT=1, dW=1, dH=1,
    padT=0, padW=0, padH=0, adjT=0, adjW=0, adjH=0)``; ``weight`` is ``nInputPlane x
    nOutputPlane x kT x kH x kW``. Shape: ``(.., nInputPlane, T, H, W)`` -> ``(..,
    nOutputPlane, oT, oH, oW)`` with ``oT = (T - 1)*dT - 2*padT + kT + adjT``, and so for
    H and W; a table ``{input, target}`` takes adj from the target's size.
    """

    _nd = 3

    def __init__(
        self,
        nInputPlane: int,
        nOutputPlane: int,
        kT: int,
        kW: int,
        kH: int,
        dT: int = 1,
        dW: int = 1,
        dH: int = 1,
        padT: int = 0,
        padW: int = 0,
        padH: int = 0,
        adjT: int = 0,
        adjW: int = 0,
        adjH: int = 0,
    ):
        super().__init__()
        planes = (nInputPlane, nOutputPlane)
        self._set_kernel(nInputPlane, nOutputPlane, kT, kW, kH, dT, dW, dH, planes)
        if adjW > dW - 1 or adjH > dH - 1 or adjT > dT - 1:
            raise ValueError(
                "adjW, adjH and adjT must be smaller than self.dW - 1, "
                "self.dH - 1 and self.dT - 1 respectively"
            )
        self.padT, self.padW, self.padH = padT, padW, padH
        self.adjT, self.adjW, self.adjH = adjT, adjW, adjH
        self.reset()

    def _after_load(self):
        """Lua's backCompatibility: files from before adj stored the weight transposed and
        named the padding pT, pW, pH."""
        d = self.__dict__
        if "adjW" not in d and B.is_array(d.get("weight")):
            xp = B.get_array_module(d["weight"])
            d["weight"] = xp.ascontiguousarray(d["weight"].swapaxes(0, 1))
        for axis in "TWH":
            d.setdefault("pad" + axis, d.get("p" + axis, 0))
            d.setdefault("adj" + axis, 0)
        d.setdefault("bias", None)

    def _dims(self):
        return (*self._kernel_stride_pad(), (self.adjT, self.adjH, self.adjW))

    def _check_input_dims(self, input):
        _check_rank(self, input)
        check_planes(input, input.ndim - 4, self.nInputPlane)

    def _too_small(self, sizes, out):
        return too_small(self.nInputPlane, sizes, self.nOutputPlane, out, sep="x")

    def __tostring__(self):
        adj = (self.adjT, self.adjW, self.adjH)
        return _print(self, ", " + ",".join(map(str, adj)) if any(adj) else "")
