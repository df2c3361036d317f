"""Dropout and SpatialDropout (spec section 2.13)."""

from __future__ import annotations

from . import backend as B
from .module import Module, _size_desc

__all__ = ["Dropout", "SpatialDropout"]


class Dropout(Module):
    """Zeroes each element with probability ``p`` while training.

    ``nn.Dropout(p=0.5, v1=False, inplace=False, stochasticInference=False)``.
    Setting ``_fixed_noise`` (the mask as Lua's ``noise``, already scaled) makes
    forward use it instead of drawing, as the golden replays do.
    v2 (the default) scales kept elements by 1/(1-p) while training and is the
    identity in evaluate mode; v1 scales by (1-p) in evaluate mode instead.
    Shape: any, output as input.
    """

    def __init__(self, p=0.5, v1=False, inplace=False, stochasticInference=False):
        super().__init__()
        if p >= 1 or p < 0:
            raise ValueError("<Dropout> illegal percentage, must be 0 <= p < 1")
        self.p = p
        self.train = True
        self.inplace = bool(inplace)
        self.stochastic_inference = stochasticInference
        self.v2 = not v1
        self.noise = self._zeros(0)

    def setp(self, p):
        self.p = p
        return self

    def updateOutput(self, input):
        self._check_input(input)
        xp = B.get_array_module(input)
        out = input if self.inplace else input.copy()
        if self.p > 0:
            if self.train or self.stochastic_inference:
                noise = getattr(self, "_fixed_noise", None)
                if noise is None:
                    noise = B.bernoulli(xp, 1 - self.p, input.shape, input.dtype)
                    if self.v2:
                        noise /= 1 - self.p
                self.noise = noise
                out *= noise
            elif not self.v2:
                out *= 1 - self.p
        self.output = out
        return out

    def updateGradInput(self, input, gradOutput):
        self._check_grad(gradOutput, input.shape)
        gi = gradOutput if self.inplace else gradOutput.copy()
        if self.train:
            if self.p > 0:
                gi *= self.noise
        elif not self.v2 and self.p > 0:
            gi *= 1 - self.p
        self.gradInput = gi
        return gi

    def clearState(self):
        self._clear("noise")
        return super().clearState()

    def __tostring__(self):
        return f"{self._name()}({self.p:f})"


class SpatialDropout(Module):
    """Drops whole feature maps with probability ``p`` while training (v1 scaling).

    ``nn.SpatialDropout(p=0.5, stochasticInference=False)``; in evaluate mode the
    output is the input times (1-p). Shape: ``(C, H, W)`` or ``(N, C, H, W)``.
    """

    def __init__(self, p=0.5, stochasticInference=False):
        super().__init__()
        self.p = p
        self.train = True
        self.stochastic_inference = stochasticInference
        self.noise = self._zeros(0)

    def setp(self, p):
        self.p = p
        return self

    def updateOutput(self, input):
        self._check_input(input)
        xp = B.get_array_module(input)
        if self.train or self.stochastic_inference:
            if input.ndim == 4:
                shape = input.shape[:2] + (1, 1)
            elif input.ndim == 3:
                shape = (input.shape[0], 1, 1)
            else:
                raise ValueError(
                    "Input must be 4D (nbatch, nfeat, h, w) or 3D (nfeat, h, w), "
                    f"got {_size_desc(input.shape)}"
                )
            noise = getattr(self, "_fixed_noise", None)
            if noise is None:
                noise = B.bernoulli(xp, 1 - self.p, shape, input.dtype)
            self.noise = noise
            self.output = input * self.noise
        else:
            self.output = input * (1 - self.p)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_grad(gradOutput, input.shape)
        if not self.train:
            raise RuntimeError("backprop only defined while training")
        self.gradInput = gradOutput * self.noise
        return self.gradInput

    def clearState(self):
        self._clear("noise")
        return super().clearState()

    def __tostring__(self):
        return f"{self._name()}({self.p:f})"
