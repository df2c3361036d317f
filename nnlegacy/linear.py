"""Linear and its relatives: LinearWeightNorm, Bilinear, PartialLinear, LayerNormalization
(spec section 2.1). The sparse-input layers are in sparse.py, LookupTable in lookup.py."""

from __future__ import annotations

import math

import numpy as np

from . import backend as B
from . import threads
from .containers import ParallelTable, Sequential
from .lookup import LookupTable, _indices
from .module import Module, _size_desc, _WeightBias
from .shape import Identity

__all__ = ["Linear", "LinearWeightNorm", "Bilinear", "PartialLinear", "LayerNormalization"]


class Linear(_WeightBias, Module):
    """A fully connected layer, ``y = W x + b``.

    ``nn.Linear(inputSize, outputSize, bias=True)``.
    Shape: ``(in)`` -> ``(out)``, ``(N, in)`` -> ``(N, out)``; ``weight`` is ``out x in``.
    """

    def __init__(self, inputSize: int, outputSize: int, bias=True):
        super().__init__()
        if inputSize < 1 or outputSize < 1:
            raise ValueError(
                f"nn.Linear: inputSize and outputSize must be positive, "
                f"got {inputSize} and {outputSize}"
            )
        self.weight = self._zeros(outputSize, inputSize)
        self.gradWeight = self._zeros(outputSize, inputSize)
        if bias:
            self.bias = self._zeros(outputSize)
            self.gradBias = self._zeros(outputSize)
        else:
            self.bias = self.gradBias = None
        self.reset()

    def _fan_in(self):
        return self.weight.shape[1]

    def _check(self, input):
        self._check_input(input)
        n_out, n_in = self.weight.shape
        if input.ndim == 1:
            if input.shape[0] != n_in:
                raise ValueError(
                    f"size mismatch, [{n_out} x {n_in}], [{input.shape[0]}] "
                    f"(nn.Linear expects {n_in} inputs)"
                )
        elif input.ndim == 2:
            if input.shape[1] != n_in:
                raise ValueError(
                    f"size mismatch, m1: [{input.shape[0]} x {input.shape[1]}], "
                    f"m2: [{n_in} x {n_out}] (nn.Linear expects {n_in} inputs)"
                )
        else:
            raise ValueError(f"input must be vector or matrix, got {_size_desc(input.shape)}")

    def updateOutput(self, input):
        self._check(input)
        out = threads.matmul(input, self.weight.T)  # CPU: on nnlegacy's threads
        if self.bias is not None:
            out += self.bias
        self.output = out
        return out

    def updateGradInput(self, input, gradOutput):
        if self.gradInput is None:
            return None
        self._check(input)
        self._check_grad(gradOutput, input.shape[:-1] + (self.weight.shape[0],))
        self.gradInput = threads.matmul(gradOutput, self.weight)
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        self._check(input)
        self._check_grad(gradOutput, input.shape[:-1] + (self.weight.shape[0],))
        xp = B.get_array_module(input)
        if input.ndim == 1:
            gw = xp.outer(gradOutput, input)
            self.gradWeight += gw * scale if scale != 1 else gw
            gb = gradOutput
        else:  # accumulated by blocks on nnlegacy's threads: no weight-sized temporary
            threads.matmul_acc(self.gradWeight, gradOutput.T, input, scale)
            gb = gradOutput.sum(axis=0)
        if self.bias is not None:
            self.gradBias += gb * scale if scale != 1 else gb

    def sharedAccUpdateGradParameters(self, input, gradOutput, lr):
        # Linear.lua: the default path works for shared modules too
        self.defaultAccUpdateGradParameters(input, gradOutput, lr)

    def clearState(self):
        self._clear("addBuffer")
        return super().clearState()

    def __tostring__(self):
        s = f"{self._name()}({self.weight.shape[1]} -> {self.weight.shape[0]})"
        return s + (" without bias" if self.bias is None else "")


class LinearWeightNorm(Linear):
    """A Linear layer with weight normalisation: ``weight = g * v / ||v||`` row by row.

    ``nn.LinearWeightNorm(inputSize, outputSize, bias=True, eps=1e-16)``; parameters are
    ``{v, g, bias}`` (``v`` is ``out x in``, ``g`` is ``out x 1``); norms are clamped below
    at ``eps``. ``weight`` is recomputed at each forward unless in evaluate mode (and once
    by ``evaluate()``). ``initFromWeight(w)``, ``LinearWeightNorm.fromLinear(linear)`` and
    ``toLinear()`` convert. Shape: ``(in)`` -> ``(out)``, ``(N, in)`` -> ``(N, out)``.
    As Lua's, ``accGradParameters`` rewrites the whole of ``gradV`` and ``gradG`` from the
    accumulated raw gradient.

    Differences from Torch7: Lua's ``accGradParameters`` leaves scratch values in
    ``weight`` (seen by an evaluate-mode forward that follows); nnlegacy keeps ``weight``
    equal to ``g * v / ||v||`` and recomputes it when loading a Lua file.
    """

    def __init__(self, inputSize: int, outputSize: int, bias=True, eps=1e-16):
        Module.__init__(self)
        self.eps = eps
        self.outputSize, self.inputSize = outputSize, inputSize
        self.v = self._zeros(outputSize, inputSize)
        self.gradV = self._zeros(outputSize, inputSize)
        self.weight = self._zeros(outputSize, inputSize)
        self.g = self._zeros(outputSize, 1)
        self.gradG = self._zeros(outputSize, 1)
        self.norm = self._zeros(outputSize, 1)
        self.scale = self._zeros(outputSize, 1)
        if bias is not False:
            self.bias = self._zeros(outputSize)
            self.gradBias = self._zeros(outputSize)
        else:
            self.bias = self.gradBias = None
        self.reset()

    def _after_load(self):
        self.__dict__.setdefault("eps", 1e-16)
        for k in ("bias", "gradBias"):
            self.__dict__.setdefault(k, None)
        self.updateWeightMatrix()  # a Lua file may hold accGradParameters' scratch values

    def _row_norms(self, w):
        return self._xp.maximum(self._xp.sqrt((w * w).sum(axis=1, keepdims=True)), self.eps)

    def initFromWeight(self, weight=None):
        weight = self.weight if weight is None else weight
        self.g[...] = self._row_norms(weight)
        self.v[...] = weight
        return self

    @staticmethod
    def fromLinear(linear):
        m = LinearWeightNorm(
            linear.weight.shape[1], linear.weight.shape[0], linear.bias is not None
        )
        m.type(linear.type())
        m.weight[...] = linear.weight
        m.initFromWeight()
        if linear.bias is not None:
            m.bias[...] = linear.bias
        return m

    def toLinear(self):
        self.updateWeightMatrix()
        m = Linear(self.inputSize, self.outputSize, self.bias is not None).type(self._type)
        m.weight[...] = self.weight
        if self.bias is not None:
            m.bias[...] = self.bias
        return m

    def _parameter_slots(self):
        slots = [(self, "v", "gradV"), (self, "g", "gradG")]
        return slots + ([(self, "bias", "gradBias")] if self.bias is not None else [])

    def reset(self, stdv=None):
        stdv = stdv * math.sqrt(3) if stdv is not None else 1.0 / math.sqrt(self.inputSize)
        if self.weight.shape != self.v.shape:
            self.weight = self._zeros(*self.v.shape)
        B.uniform_(self.weight, -stdv, stdv)
        self.initFromWeight()
        if self.bias is not None:
            B.uniform_(self.bias, -stdv, stdv)
        return self

    def updateWeightMatrix(self):
        self.norm = self._row_norms(self.v)
        self.scale = self.g / self.norm
        self.weight = self.v * self.scale

    def evaluate(self):
        if getattr(self, "train", None) is not False:
            self.updateWeightMatrix()
        return super().evaluate()

    def updateOutput(self, input):
        if self.weight.shape != self.v.shape:  # emptied by clearState
            self.updateWeightMatrix()
        self._check(input)
        if getattr(self, "train", None) is not False:
            self.updateWeightMatrix()
        return super().updateOutput(input)

    def accGradParameters(self, input, gradOutput, scale=1):
        self._check(input)
        self._check_grad(gradOutput, input.shape[:-1] + (self.outputSize,))
        xp = self._xp
        raw = xp.outer(gradOutput, input) if input.ndim == 1 else gradOutput.T @ input
        self.gradV += scale * raw
        if self.bias is not None:
            self.gradBias += scale * (gradOutput if input.ndim == 1 else gradOutput.sum(axis=0))
        self.gradG[...] = (self.gradV * self.v / self.norm).sum(axis=1, keepdims=True)
        self.gradV *= self.scale
        self.gradV -= self.v * self.scale / self.norm * self.gradG

    def defaultAccUpdateGradParameters(self, input, gradOutput, lr):
        saved = self.gradV, self.gradG, self.gradBias
        self.gradV, self.gradG, self.gradBias = self.v, self.g, self.bias
        try:
            self.accGradParameters(input, gradOutput, -lr)
        finally:
            self.gradV, self.gradG, self.gradBias = saved

    def clearState(self):
        self._clear("weight", "norm", "scale")
        return super().clearState()

    def __tostring__(self):
        s = f"{self._name()}({self.inputSize} -> {self.outputSize})"
        return s + (" without bias" if self.bias is None else "")


class Bilinear(Module):
    """The bilinear form of two inputs, ``y_k = x1^T W_k x2 + b_k``.

    ``nn.Bilinear(inputSize1, inputSize2, outputSize, bias=True)``; ``weight`` is
    ``out x in1 x in2``. Shape: ``[(N, in1), (N, in2)]`` -> ``(N, out)`` (batch only).
    As Lua's, the weight gradient is added without ``scale``, and a negative ``scale``
    (so ``accUpdateGradParameters``) is refused.
    """

    def __init__(self, inputSize1: int, inputSize2: int, outputSize: int, bias=True):
        super().__init__()
        if min(inputSize1, inputSize2, outputSize) <= 0:
            raise ValueError("inputSize1 and inputSize2 and outputSize should be positive numbers")
        self.weight = self._zeros(outputSize, inputSize1, inputSize2)
        self.gradWeight = self._zeros(outputSize, inputSize1, inputSize2)
        if bias is not False:
            self.bias = self._zeros(outputSize)
            self.gradBias = self._zeros(outputSize)
        else:
            self.bias = self.gradBias = None
        self.gradInput = [self._zeros(0), self._zeros(0)]
        self.reset()

    def _after_load(self):
        for k in ("bias", "gradBias"):
            self.__dict__.setdefault(k, None)

    def reset(self, stdv=None):
        if stdv is not None:
            if stdv <= 0:
                raise ValueError("standard deviation should be a positive number")
            stdv = stdv * math.sqrt(3)
        else:
            stdv = 1.0 / math.sqrt(self.weight.shape[1])
        B.uniform_(self.weight, -stdv, stdv)
        if self.bias is not None:
            B.uniform_(self.bias, -stdv, stdv)
        return self

    def _check(self, input, gradOutput=None):
        name = self._name()
        if not isinstance(input, (list, tuple)) or len(input) != 2:
            raise TypeError(f"{name}: input should be a table containing two data Tensors")
        a, b = input
        self._check_input(a, "input[1]")
        self._check_input(b, "input[2]")
        if a.ndim != 2 or b.ndim != 2:
            raise ValueError(f"{name}: input Tensors should be two-dimensional")
        if a.shape[0] != b.shape[0]:
            raise ValueError(
                f"{name}: input Tensors should have the same number of rows (instances)"
            )
        if a.shape[1] != self.weight.shape[1]:
            raise ValueError(f"{name}: dimensionality of first input is erroneous")
        if b.shape[1] != self.weight.shape[2]:
            raise ValueError(f"{name}: dimensionality of second input is erroneous")
        if gradOutput is not None:
            self._check_input(gradOutput, "gradOutput")
            if gradOutput.ndim != 2 or gradOutput.shape[0] != a.shape[0]:
                raise ValueError(f"{name}: number of rows in gradOutput does not match input")
            if gradOutput.shape[1] != self.weight.shape[0]:
                raise ValueError(
                    f"{name}: number of columns in gradOutput does not output size of layer"
                )
        return a, b

    def _x1w(self, a):
        """x1 W_k for every k: (N, out, in2)."""
        out, n1, n2 = self.weight.shape
        w = self.weight.transpose(1, 0, 2).reshape(n1, out * n2)
        return (a @ w).reshape(a.shape[0], out, n2)

    def updateOutput(self, input):
        a, b = self._check(input)
        y = (self._x1w(a) * b[:, None, :]).sum(axis=2)
        if self.bias is not None:
            y += self.bias
        self.output = y
        return y

    def updateGradInput(self, input, gradOutput):
        if self.gradInput is None:
            return None
        a, b = self._check(input, gradOutput)
        out, n1, n2 = self.weight.shape
        wt = self.weight.transpose(2, 0, 1).reshape(n2, out * n1)
        x2w = (b @ wt).reshape(b.shape[0], out, n1)
        go = gradOutput[:, :, None]
        self.gradInput = [(x2w * go).sum(axis=1), (self._x1w(a) * go).sum(axis=1)]
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        a, b = self._check(input, gradOutput)
        if scale < 0:
            raise ValueError(f"{self._name()}: scale must be a non-negative number, got {scale}")
        out, n1, n2 = self.weight.shape
        ga = (gradOutput[:, :, None] * a[:, None, :]).reshape(a.shape[0], out * n1)
        self.gradWeight += (ga.T @ b).reshape(out, n1, n2)
        if self.bias is not None:
            self.gradBias += scale * gradOutput.sum(axis=0)

    def clearState(self):
        self._clear("buff1", "buff2")
        return super().clearState()

    def __tostring__(self):
        out, n1, n2 = self.weight.shape
        return f"{self._name()}({n1}x{n2} -> {out}) " + (
            " without bias" if self.bias is None else ""
        )


class PartialLinear(Module):
    """A Linear layer whose outputs can be restricted to a subset of columns.

    ``nn.PartialLinear(inputsize, outputsize, bias=True)``; ``setPartition(indices)``
    (1-based output columns) and ``resetPartition()``. The weight lives in
    ``network``'s LookupTable (``outputsize x inputsize``, N(0, 1)), the bias is
    ``1 x outputsize`` (zeros). Shape: ``(N, in)`` -> ``(N, #partition)``.
    """

    def __init__(self, inputsize: int, outputsize: int, bias=True):
        super().__init__()
        try:  # the network keeps Lua's structure; MM is the arithmetic family's
            from . import MM
        except ImportError as e:
            raise NotImplementedError("nn.PartialLinear needs nn.MM, not available yet") from e

        pt = ParallelTable().add(Identity()).add(LookupTable(outputsize, inputsize))
        self.network = Sequential().add(pt).add(MM(False, True))
        if bias is not False:
            self.bias = self._zeros(1, outputsize)
            self.gradBias = self._zeros(1, outputsize)
        else:
            self.bias = self.gradBias = None
        self.inputsize, self.outputsize = inputsize, outputsize
        self.allcolumns = self._xp.arange(1, outputsize + 1, dtype=self._dtype)
        self.resetPartition()

    @property
    def _table(self):
        return self.network.modules[0].modules[1]

    def setPartition(self, indices):
        idx = _indices(self, indices, self.outputsize, "partition")
        self.partition = idx.astype(self.allcolumns.dtype)
        return self

    def resetPartition(self):
        self.partition = self.allcolumns
        return self

    def _parameter_slots(self):
        slots = [(self._table, "weight", "gradWeight")]
        return slots + ([(self, "bias", "gradBias")] if self.bias is not None else [])

    def _check(self, input):
        self._check_input(input)
        if input.ndim != 2 or input.shape[1] != self.inputsize:
            raise ValueError(
                f"{self._name()}: expected input of shape N x {self.inputsize}, "
                f"got {_size_desc(input.shape)}"
            )
        return self.partition.astype(np.int64) - 1

    def updateOutput(self, input):
        cols = self._check(input)
        y = input @ self._table.weight[cols].T
        if self.bias is not None:
            y += self.bias[:, cols]
        self.output = y
        return y

    def updateGradInput(self, input, gradOutput):
        if self.gradInput is None:
            return None
        cols = self._check(input)
        self._check_grad(gradOutput, (input.shape[0], cols.shape[0]))
        self.gradInput = gradOutput @ self._table.weight[cols]
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        cols = self._check(input)
        self._check_grad(gradOutput, (input.shape[0], cols.shape[0]))
        B.index_add_(self._table.gradWeight, cols, scale * (gradOutput.T @ input))
        if self.bias is not None:
            B.index_add_(self.gradBias[0], cols, scale * gradOutput.sum(axis=0))

    def accUpdateGradParameters(self, input, gradOutput, lr):
        t = self._table
        saved = t.gradWeight, self.gradBias
        t.gradWeight, self.gradBias = t.weight, self.bias
        try:
            self.accGradParameters(input, gradOutput, -lr)
        finally:
            t.gradWeight, self.gradBias = saved

    sharedAccUpdateGradParameters = accUpdateGradParameters

    def zeroGradParameters(self):
        self.network.zeroGradParameters()
        if self.gradBias is not None:
            self.gradBias.fill(0)

    def updateParameters(self, learningRate):
        self.network.updateParameters(learningRate)
        if self.bias is not None:
            self.bias -= learningRate * self.gradBias

    def __tostring__(self):
        s = f"{self._name()}({self.inputsize} -> {self.outputsize})"
        return s + (" without bias" if self.bias is None else "")


class LayerNormalization(Sequential):
    """Layer normalisation over the features of each row, built as Lua's Sequential:
    ``y = gain * sqrt(n) * (x - mean) / sqrt(||x - mean||^2 + eps) + bias``.

    ``nn.LayerNormalization(nOutput, bias=0, eps=1e-10, affine=True)``: ConcatTable
    (Identity, Mean + Replicate), CSubTable, Normalize(2, eps), MulConstant(sqrt(n)) and,
    with ``affine``, CMul (gain, filled with 1) and Add (bias, filled with ``bias``).
    Shape: ``(N, nOutput)`` -> ``(N, nOutput)``; it prints as the Sequential it is.
    """

    def __init__(self, nOutput: int, bias=0, eps=1e-10, affine=True):
        super().__init__()
        import nnlegacy as nn  # the parts come from the arithmetic and table families

        self.add(
            nn.ConcatTable()
            .add(nn.Identity())
            .add(nn.Sequential().add(nn.Mean(1, 1)).add(nn.Replicate(nOutput, 1, 1)))
        )
        self.add(nn.CSubTable()).add(nn.Normalize(2, eps)).add(nn.MulConstant(math.sqrt(nOutput)))
        if affine:
            bias_t = nn.Add(nOutput, False)
            bias_t.bias.fill(bias)
            gain = nn.CMul(nOutput)
            gain.weight.fill(1.0)
            self.add(gain).add(bias_t)
