"""Local subtractive, divisive and contrastive normalisation (torch/tutorials' LCN)."""

from __future__ import annotations

import math

from . import backend as B
from .containers import Sequential
from .module import Module, _size_desc

__all__ = [
    "SpatialContrastiveNormalization",
    "SpatialDivisiveNormalization",
    "SpatialSubtractiveNormalization",
]


def _as_kernel(module, kernel, name):
    """The averaging kernel as an array of the module's type (9 x 9 ones by default)."""
    xp, dtype = module._xp, module._dtype
    k = xp.ones((9, 9), dtype) if kernel is None else xp.array(B.to_numpy(kernel), dtype=dtype)
    if k.ndim not in (1, 2):
        raise ValueError(f"<{name}> averaging kernel must be 2D or 1D")
    if k.shape[0] % 2 == 0 or (k.ndim == 2 and k.shape[1] % 2 == 0):
        raise ValueError(f"<{name}> averaging kernel must have ODD dimensions")
    return k


def _plane_kernel(kernel):
    """The 2-D kernel each plane is filtered with (a 1-D kernel acts on rows, then columns)."""
    return kernel if kernel.ndim == 2 else kernel[:, None] * kernel[None, :]


def _local_sum(x, k2):
    """sum over planes of (each plane, zero-padded to keep its size, correlated with
    k2): x (N, C, H, W) -> (N, H, W); what Lua's padding + convolution computes."""
    xp = B.get_array_module(x)
    kh, kw = k2.shape
    s = x.sum(axis=1)
    n, h, w = s.shape
    pad = xp.zeros((n, h + kh - 1, w + kw - 1), x.dtype)
    pad[:, kh // 2 : kh // 2 + h, kw // 2 : kw // 2 + w] = s
    out = xp.zeros((n, h, w), x.dtype)
    for i in range(kh):  # loops over kernel taps only
        for j in range(kw):
            out += k2[i, j] * pad[:, i : i + h, j : j + w]
    return out


def _local_sum_adjoint(g, k2):
    """The adjoint of _local_sum for one plane: g (N, H, W) -> (N, H, W)."""
    xp = B.get_array_module(g)
    kh, kw = k2.shape
    n, h, w = g.shape
    pad = xp.zeros((n, h + kh - 1, w + kw - 1), g.dtype)
    for i in range(kh):
        for j in range(kw):
            pad[:, i : i + h, j : j + w] += k2[i, j] * g
    return pad[:, kh // 2 : kh // 2 + h, kw // 2 : kw // 2 + w]


class _LocalNorm(Module):
    def _batch(self, input):
        self._check_input(input)
        if input.ndim not in (3, 4) or input.shape[-3] != self.nInputPlane:
            raise ValueError(
                f"{self._name()}: expected {self.nInputPlane} x H x W or N x "
                f"{self.nInputPlane} x H x W input, got {_size_desc(input.shape)}"
            )
        return input if input.ndim == 4 else input[None]

    def _coefficients(self, x, k2):
        """The filter's response to ones: how much of each window lies in the image."""
        xp = B.get_array_module(x)
        return _local_sum(xp.ones((1,) + x.shape[1:], x.dtype), k2)


class SpatialSubtractiveNormalization(_LocalNorm):
    """Subtracts from every pixel the weighted mean of its neighbourhood over all planes.

    ``nn.SpatialSubtractiveNormalization(nInputPlane=1, kernel=ones(9, 9))``; the
    kernel (2-D, or 1-D applied to rows and columns) is divided by its sum times
    nInputPlane; the mean is corrected at the borders by the kernel's response to ones.
    Shape: ``(.., C, H, W)`` -> same.
    Differences from Torch7: the mean is computed directly, not by internal
    convolution modules, and the caller's kernel is not normalised in place.
    """

    def __init__(self, nInputPlane: int = 1, kernel=None):
        super().__init__()
        self.nInputPlane = nInputPlane
        k = _as_kernel(self, kernel, "SpatialSubtractiveNormalization")
        self.kernel = k / (k.sum() * nInputPlane)

    def updateOutput(self, input):
        x = self._batch(input)
        k2 = _plane_kernel(self.kernel)
        self._coef_ = self._coefficients(x, k2)
        adjusted = _local_sum(x, k2) / self._coef_
        self.output = (x - adjusted[:, None]).reshape(input.shape)
        return self.output

    def updateGradInput(self, input, gradOutput):
        x = self._batch(input)
        self._check_grad(gradOutput, input.shape)
        g = gradOutput.reshape(x.shape)
        k2 = _plane_kernel(self.kernel)
        back = _local_sum_adjoint(g.sum(axis=1) / self._coefficients(x, k2), k2)
        self.gradInput = (g - back[:, None]).reshape(input.shape)
        return self.gradInput

    def clearState(self):
        self._clear("_coef_")
        return super().clearState()


class SpatialDivisiveNormalization(_LocalNorm):
    """Divides every pixel by the weighted standard deviation of its neighbourhood.

    ``nn.SpatialDivisiveNormalization(nInputPlane=1, kernel=ones(9, 9), threshold=1e-4,
    thresval=1e-4)``; ``std = sqrt(sum_c kernel * x_c^2)`` corrected at the borders,
    replaced by ``thresval`` where it is not above ``threshold``. A 2-D kernel is divided
    by its sum times nInputPlane, a 1-D one by its sum times sqrt(nInputPlane).
    Shape: ``(.., C, H, W)`` -> same.
    Differences from Torch7: as SpatialSubtractiveNormalization's.
    """

    def __init__(self, nInputPlane: int = 1, kernel=None, threshold=1e-4, thresval=1e-4):
        super().__init__()
        self.nInputPlane = nInputPlane
        self.threshold, self.thresval = threshold, thresval
        k = _as_kernel(self, kernel, "SpatialDivisiveNormalization")
        norm = nInputPlane if k.ndim == 2 else math.sqrt(nInputPlane)
        self.kernel = k / (k.sum() * norm)

    def _stds(self, x):
        k2 = _plane_kernel(self.kernel)
        xp = B.get_array_module(x)
        local = xp.sqrt(_local_sum(x * x, k2))
        coef = self._coefficients(x, k2)
        adjusted = local / coef
        thresholded = xp.where(adjusted > self.threshold, adjusted, x.dtype.type(self.thresval))
        return k2, local, coef, adjusted, thresholded

    def updateOutput(self, input):
        x = self._batch(input)
        *_, thresholded = self._stds(x)
        self.output = (x / thresholded[:, None]).reshape(input.shape)
        return self.output

    def updateGradInput(self, input, gradOutput):
        x = self._batch(input)
        self._check_grad(gradOutput, input.shape)
        g = gradOutput.reshape(x.shape)
        k2, local, coef, adjusted, thr = self._stds(x)
        g_thr = -((g / thr[:, None]) * x).sum(axis=1) / thr
        g_local = (g_thr * (adjusted > self.threshold)) / coef
        g_sq = _local_sum_adjoint(0.5 * g_local / local, k2)
        self.gradInput = (g / thr[:, None] + 2 * x * g_sq[:, None]).reshape(input.shape)
        return self.gradInput


class SpatialContrastiveNormalization(Module):
    """Subtractive then divisive local normalisation with the same kernel.

    ``nn.SpatialContrastiveNormalization(nInputPlane=1, kernel=ones(9, 9),
    threshold=1e-4, thresval=1e-4)``; ``normalizer`` is the Sequential of the two.
    As in Lua, ``thresval`` never reaches the divisive stage (Lua passes the misspelt
    ``self.threshval``), which keeps its default 1e-4.
    Shape: ``(.., C, H, W)`` -> same.
    """

    def __init__(self, nInputPlane: int = 1, kernel=None, threshold=1e-4, thresval=1e-4):
        super().__init__()
        self.nInputPlane = nInputPlane
        self.threshold, self.thresval = threshold, thresval
        sub = SpatialSubtractiveNormalization(nInputPlane, kernel)
        div = SpatialDivisiveNormalization(nInputPlane, kernel, threshold, None)
        self.kernel = sub.kernel
        self.normalizer = Sequential().add(sub).add(div)

    def updateOutput(self, input):
        self.output = self.normalizer.forward(input)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = self.normalizer.backward(input, gradOutput)
        return self.gradInput
