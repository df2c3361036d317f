"""Distance and similarity modules: Euclidean, WeightedEuclidean, Cosine (learned templates)
and PairwiseDistance, CosineDistance, DotProduct (on a pair of arrays, a Python list)."""

from __future__ import annotations

import math

from . import backend as B
from .module import Module, _size_desc

__all__ = [
    "Euclidean",
    "WeightedEuclidean",
    "Cosine",
    "PairwiseDistance",
    "CosineDistance",
    "DotProduct",
]


def _check_vector_or_matrix(module, input, n_in, msg="input must be vector or matrix"):
    module._check_input(input)
    if input.ndim not in (1, 2):
        raise ValueError(f"{module._name()}: {msg}, got {_size_desc(input.shape)}")
    if input.shape[-1] != n_in:
        raise ValueError(
            f"{module._name()}: expected input of {n_in} features, got {_size_desc(input.shape)}"
        )


class _Template(Module):
    """Shared constructor/reset of Euclidean and WeightedEuclidean: ``weight`` is
    ``inputSize x outputSize``, one template per column, U(-1/sqrt(inputSize), ..)."""

    def reset(self, stdv=None):
        stdv = stdv * math.sqrt(3) if stdv is not None else 1.0 / math.sqrt(self.weight.shape[0])
        B.uniform_(self.weight, -stdv, stdv)
        return self

    def _diff(self, input):
        # x - w_j for every template j: (in, out) or (N, in, out)
        return input[..., :, None] - self.weight

    def _grad_scale(self, input, gradOutput):
        # g_j / (y_j + 1e-7): Lua's guard against a zero distance
        out = self._distance(input)
        self._check_grad(gradOutput, out.shape)
        return (gradOutput / (out + 1e-7))[..., None, :]


class Euclidean(_Template):
    """The distances from the input to ``outputSize`` learned templates, ``y_j = ||x - w_j||``.

    ``nn.Euclidean(inputSize, outputSize)``; ``weight`` is ``inputSize x outputSize``.
    Shape: ``(in)`` -> ``(out)``, ``(N, in)`` -> ``(N, out)``.
    """

    def __init__(self, inputSize: int, outputSize: int):
        super().__init__()
        self.weight = self._zeros(inputSize, outputSize)
        self.gradWeight = self._zeros(inputSize, outputSize)
        self.gradInput = self._zeros(inputSize)
        self.output = self._zeros(outputSize)
        self.fastBackward = True
        self.reset()

    def _distance(self, input):
        d = self._diff(input)
        return self._xp.sqrt((d * d).sum(axis=-2))

    def updateOutput(self, input):
        _check_vector_or_matrix(self, input, self.weight.shape[0], "1D or 2D input expected")
        self.output = self._distance(input)
        return self.output

    def updateGradInput(self, input, gradOutput):
        if self.gradInput is None:
            return None
        _check_vector_or_matrix(self, input, self.weight.shape[0], "1D or 2D input expected")
        r = self._diff(input) * self._grad_scale(input, gradOutput)
        self.gradInput = r.sum(axis=-1)
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        _check_vector_or_matrix(self, input, self.weight.shape[0], "1D or 2D input expected")
        r = self._diff(input) * self._grad_scale(input, gradOutput)
        if r.ndim == 3:
            r = r.sum(axis=0)
        self.gradWeight -= scale * r


class WeightedEuclidean(_Template):
    """Distances to learned templates under a learned diagonal metric,
    ``y_j = ||c_j * (x - w_j)||``.

    ``nn.WeightedEuclidean(inputSize, outputSize)``; ``weight`` and ``diagCov`` are
    ``inputSize x outputSize`` (reset sets diagCov to 1); parameters ``{weight, diagCov}``.
    Shape: ``(in)`` -> ``(out)``, ``(N, in)`` -> ``(N, out)``.
    As Lua's, ``accGradParameters`` on a non-batch input adds the diagCov gradient
    without ``scale``.
    """

    def __init__(self, inputSize: int, outputSize: int):
        super().__init__()
        self.weight = self._zeros(inputSize, outputSize)
        self.gradWeight = self._zeros(inputSize, outputSize)
        self.diagCov = self._zeros(inputSize, outputSize)
        self.gradDiagCov = self._zeros(inputSize, outputSize)
        self.reset()

    def reset(self, stdv=None):
        super().reset(stdv)
        self.diagCov.fill(1)
        return self

    def _parameter_slots(self):
        return [(self, "weight", "gradWeight"), (self, "diagCov", "gradDiagCov")]

    def _distance(self, input):
        r = self._diff(input) * self.diagCov
        return self._xp.sqrt((r * r).sum(axis=-2))

    def updateOutput(self, input):
        _check_vector_or_matrix(self, input, self.weight.shape[0], "1D or 2D input expected")
        self.output = self._distance(input)
        return self.output

    def updateGradInput(self, input, gradOutput):
        if self.gradInput is None:
            return None
        _check_vector_or_matrix(self, input, self.weight.shape[0], "1D or 2D input expected")
        c = self.diagCov
        r = self._diff(input) * c * c * self._grad_scale(input, gradOutput)
        self.gradInput = r.sum(axis=-1)
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        _check_vector_or_matrix(self, input, self.weight.shape[0], "1D or 2D input expected")
        c = self.diagCov
        d = self._diff(input)
        k = self._grad_scale(input, gradOutput)
        gw = d * c * c * k
        gc = c * d * d * k
        if input.ndim == 2:
            gw, gc = gw.sum(axis=0), scale * gc.sum(axis=0)
        self.gradWeight -= scale * gw
        self.gradDiagCov += gc

    def accUpdateGradParameters(self, input, gradOutput, lr):
        saved = self.gradWeight, self.gradDiagCov
        self.gradWeight, self.gradDiagCov = self.weight, self.diagCov
        try:
            self.accGradParameters(input, gradOutput, -lr)
        finally:
            self.gradWeight, self.gradDiagCov = saved


class Cosine(Module):
    """Cosine similarity of the input with ``outputSize`` learned templates,
    ``y_j = w_j . x / (||w_j|| ||x||)`` (each norm plus 1e-12).

    ``nn.Cosine(inputSize, outputSize)``; ``weight`` is ``outputSize x inputSize``.
    Shape: ``(in)`` -> ``(out)``, ``(N, in)`` -> ``(N, out)``.
    As Lua's, the weight gradient is added without ``scale`` (in part for a
    non-batch input, wholly for a batch).
    """

    def __init__(self, inputSize: int, outputSize: int):
        super().__init__()
        self.weight = self._zeros(outputSize, inputSize)
        self.gradWeight = self._zeros(outputSize, inputSize)
        self.reset()

    def reset(self, stdv=None):
        stdv = stdv * math.sqrt(3) if stdv is not None else 1.0 / math.sqrt(self.weight.shape[0])
        B.uniform_(self.weight, -stdv, stdv)
        return self

    def _norms(self, input):
        xp = self._xp
        wn = xp.sqrt((self.weight * self.weight).sum(axis=1)) + 1e-12
        xn = xp.sqrt((input * input).sum(axis=-1, keepdims=True)) + 1e-12
        return wn, xn

    def updateOutput(self, input):
        _check_vector_or_matrix(self, input, self.weight.shape[1])
        wn, xn = self._norms(input)
        self.output = (input @ self.weight.T) / wn / xn
        return self.output

    def updateGradInput(self, input, gradOutput):
        if self.gradInput is None:
            return None
        _check_vector_or_matrix(self, input, self.weight.shape[1])
        self._check_grad(gradOutput, input.shape[:-1] + (self.weight.shape[0],))
        wn, xn = self._norms(input)
        y = (input @ self.weight.T) / wn / xn
        gy = (gradOutput * y).sum(axis=-1, keepdims=True)
        self.gradInput = ((gradOutput / wn) @ self.weight - input / xn * gy) / xn
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        _check_vector_or_matrix(self, input, self.weight.shape[1])
        self._check_grad(gradOutput, input.shape[:-1] + (self.weight.shape[0],))
        xp = self._xp
        wn, xn = self._norms(input)
        y = (input @ self.weight.T) / wn / xn
        if input.ndim == 1:
            self.gradWeight += (scale / xn[0]) * xp.outer(gradOutput / wn, input)
            self.gradWeight -= self.weight * (gradOutput / wn / wn * y)[:, None]
        else:
            gy = (gradOutput * y).sum(axis=0) / wn
            g = gradOutput.T @ (input / xn) - self.weight * gy[:, None]
            self.gradWeight += g / wn[:, None]


class _Pair(Module):
    """Modules on a list of two arrays of the same shape, ``(D)`` or ``(N, D)``."""

    def __init__(self):
        super().__init__()
        self.gradInput = [self._zeros(0), self._zeros(0)]

    def _check(self, input):
        if not isinstance(input, (list, tuple)) or len(input) != 2:
            raise TypeError(f"{self._name()}: expected a list of two arrays, got {type(input)}")
        a, b = input
        self._check_input(a, "input[1]")
        self._check_input(b, "input[2]")
        if a.shape != b.shape:
            raise ValueError(
                f"{self._name()}: input[1] of shape {_size_desc(a.shape)} and input[2] of "
                f"shape {_size_desc(b.shape)} differ"
            )
        if a.ndim not in (1, 2):
            raise ValueError(
                f"{self._name()}: input must be vector or matrix, got {_size_desc(a.shape)}"
            )
        return a, b

    def _check_go(self, input, gradOutput):
        self._check_grad(gradOutput, (input[0].shape[0],) if input[0].ndim == 2 else (1,))
        return gradOutput.reshape(-1, 1) if input[0].ndim == 2 else gradOutput.reshape(())


class PairwiseDistance(_Pair):
    """The p-norm distance between the two inputs, row by row.

    ``nn.PairwiseDistance(p)``. Shape: ``[(D), (D)]`` -> ``(1)``, ``[(N, D), (N, D)]`` ->
    ``(N)``. As Lua's, for p = 1 a zero difference gets a random sign in the gradient,
    and the ``|d|^(p-2)`` factor of the gradient is applied only for p > 2.
    """

    def __init__(self, p):
        super().__init__()
        self.output = self._zeros(1)
        self.diff = self._zeros(0)
        self.norm = p

    def updateOutput(self, input):
        a, b = self._check(input)
        d = abs(a - b)
        p = self.norm
        s = (d**p).sum(axis=-1) ** (1.0 / p)
        self.output = s.reshape(1) if a.ndim == 1 else s
        return self.output

    def updateGradInput(self, input, gradOutput):
        a, b = self._check(input)
        go = self._check_go(input, gradOutput)
        xp = B.get_array_module(a)
        p = self.norm
        d = a - b
        out = (abs(d) ** p).sum(axis=-1, keepdims=True) ** (1.0 / p)
        if p == 1:
            g = xp.sign(d)
            zero = d == 0
            if bool(zero.any()):
                coin = 2 * B.bernoulli(xp, 0.5, d.shape, d.dtype) - 1
                g = xp.where(zero, coin, g)
        else:
            g = d * abs(d) ** (p - 2) if p > 2 else d
            g = g * (out + 1e-6) ** (-(p - 1))
        g1 = g * go
        self.gradInput = [g1, -g1]
        return self.gradInput


class CosineDistance(_Pair):
    """The cosine similarity of the two inputs, row by row (squared norms plus 1e-12).

    ``nn.CosineDistance()``. Shape: ``[(D), (D)]`` -> ``(1)``, ``[(N, D), (N, D)]`` -> ``(N)``.
    """

    @staticmethod
    def _parts(a, b):
        xp = B.get_array_module(a)
        w1 = (a * b).sum(axis=-1, keepdims=True)
        w22 = 1 / ((a * a).sum(axis=-1, keepdims=True) + 1e-12)
        w32 = 1 / ((b * b).sum(axis=-1, keepdims=True) + 1e-12)
        return w1, w22, w32, xp.sqrt(w22 * w32)

    def updateOutput(self, input):
        a, b = self._check(input)
        w1, _, _, w = self._parts(a, b)
        out = (w1 * w)[..., 0]
        self.output = out.reshape(1) if a.ndim == 1 else out
        return self.output

    def updateGradInput(self, input, gradOutput):
        a, b = self._check(input)
        go = self._check_go(input, gradOutput)
        w1, w22, w32, w = self._parts(a, b)
        self.gradInput = [(b - w1 * w22 * a) * w * go, (a - w1 * w32 * b) * w * go]
        return self.gradInput


class DotProduct(_Pair):
    """The dot product of the two inputs, row by row.

    ``nn.DotProduct()``. Shape: ``[(D), (D)]`` -> ``(1)``, ``[(N, D), (N, D)]`` -> ``(N)``.
    """

    def updateOutput(self, input):
        a, b = self._check(input)
        out = (a * b).sum(axis=-1)
        self.output = out.reshape(1) if a.ndim == 1 else out
        return self.output

    def updateGradInput(self, input, gradOutput):
        a, b = self._check(input)
        go = self._check_go(input, gradOutput)
        self.gradInput = [b * go, a * go]
        return self.gradInput

    def clearState(self):
        self._clear("buffer")
        return super().clearState()
