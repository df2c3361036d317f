"""Linear layers on sparse input: SparseLinear (index/value pairs) and IndexLinear (keys).

Indices are 1-based, as in Lua; an index outside the layer's input is an IndexError.
"""

from __future__ import annotations

import math

import numpy as np

from . import backend as B
from .lookup import _in_turn, _indices
from .module import Module, _size_desc

__all__ = ["SparseLinear", "IndexLinear"]


_NO_LAST_INPUT, _ONE_LAST_INPUT, _ACC_MULTIPLE_TIMES = 0, 1, 2


class SparseLinear(Module):
    """A linear layer on sparse input given as ``nnz x 2`` rows of (1-based index, value).

    ``nn.SparseLinear(inputSize, outputSize, doGradInput=False)``; ``weight`` is
    ``outputSize x inputSize``, ``bias`` is drawn times 1e-6. Input: one ``nnz x 2`` array,
    a list of them (a batch), or the legacy ``N x nnz x 2`` array.
    Shape: ``(nnz, 2)`` -> ``(out)``, ``[(nnz_1, 2), ...]`` -> ``(N, out)``,
    ``(N, nnz, 2)`` -> ``(N, out)``. With ``doGradInput`` the gradient is dense:
    per sample an ``inputSize x 2`` array of (index, gradient). After one backward,
    ``zeroGradParameters`` and ``updateParameters`` touch only the columns that input used.

    As Lua's, ``accGradParameters`` reshapes a non-batch 1-D gradOutput to ``1 x out`` in
    place. Differences from Torch7: the legacy gradInput without ``doGradInput`` is
    zeros (uninitialised memory in Lua).
    """

    def __init__(self, inputSize: int, outputSize: int, doGradInput: bool = False):
        super().__init__()
        if not isinstance(doGradInput, bool):
            raise TypeError(f"nn.SparseLinear: doGradInput must be true/false, got {doGradInput!r}")
        self.weightDecay = 0
        self.doGradInput = doGradInput
        self.weight = self._zeros(outputSize, inputSize)
        self.bias = self._zeros(outputSize)
        self.gradWeight = self._zeros(outputSize, inputSize)
        self.gradBias = self._zeros(outputSize)
        self.lastInput = None
        self.sparseUpdate = _NO_LAST_INPUT
        self.formatted_input = None
        self.gradInput = []
        self.output = self._zeros(outputSize)
        self.reset()

    def reset(self, stdv=None):
        stdv = stdv * math.sqrt(3) if stdv is not None else 1.0 / math.sqrt(self.weight.shape[1])
        B.uniform_(self.weight, -stdv, stdv)
        B.uniform_(self.bias, -stdv, stdv)
        self.bias *= 0.000001
        return self

    def _entries(self, input):
        """(batch size, batch mode, legacy mode, [batch row, column, value] x nnz)."""
        xp, name = self._xp, self._name()
        if isinstance(input, (list, tuple)):
            parts, batch, legacy = list(input), True, False
        elif B.is_array(input) and input.ndim == 2:
            parts, batch, legacy = [input], False, False
        elif B.is_array(input) and input.ndim == 3:
            parts, batch, legacy = list(input), True, True
        else:
            desc = _size_desc(input.shape) if B.is_array(input) else type(input).__name__
            raise ValueError(
                f"{name}: input must be nnz x 2, a list of them or N x nnz x 2, got {desc}"
            )
        for i, x in enumerate(parts):
            self._check_input(x, f"input[{i + 1}]" if batch else "input")
            if x.ndim != 2 or x.shape[1] != 2:
                raise ValueError(
                    f"{name}: input must be in coo format, nnz x 2 (index, value), "
                    f"got {_size_desc(x.shape)}"
                )
        dtype = self.weight.dtype
        if parts:
            flat = xp.concatenate(parts) if len(parts) > 1 else parts[0]
            rows = xp.repeat(xp.arange(len(parts)), xp.asarray([x.shape[0] for x in parts]))
        else:
            flat, rows = xp.zeros((0, 2), dtype), xp.zeros(0, np.int64)
        coo = xp.stack([rows.astype(dtype) + 1, flat[:, 0], flat[:, 1]], axis=1)
        used = coo[:, 2] != 0  # Lua skips zero values before checking their index
        _indices(self, coo[used, 1], self.weight.shape[1], "input index")
        return len(parts), batch, legacy, coo

    def updateOutput(self, input):
        if self.sparseUpdate == _ONE_LAST_INPUT:
            self.sparseUpdate = _ACC_MULTIPLE_TIMES
        nb, batch, legacy, coo = self._entries(input)
        self.legacyMode = legacy
        if not legacy:
            self.formatted_input = coo
        if nb == 0:
            self.output = self.bias.copy()
            return self.output
        used = coo[:, 2] != 0
        rows = coo[used, 0].astype(np.int64) - 1
        cols = coo[used, 1].astype(np.int64) - 1
        out = self._xp.zeros((nb, self.weight.shape[0]), self.weight.dtype)
        B.index_add_(out, rows, coo[used, 2][:, None] * self.weight.T[cols])
        out += self.bias
        self.output = out if batch else out[0]
        return self.output

    def accGradParameters(self, input, gradOutput, scale=1):
        nb, batch, legacy, coo = self._entries(input)
        self.legacyMode = legacy
        go = gradOutput.reshape(1, -1) if gradOutput.ndim == 1 else gradOutput
        self._check_grad(go, (nb, self.weight.shape[0]))
        if gradOutput.ndim == 1 and not legacy:
            gradOutput.shape = go.shape  # as Lua, which resizes the caller's gradOutput
        if self.sparseUpdate == _NO_LAST_INPUT:
            self.lastInput = input.copy() if legacy else coo.copy()
            self.sparseUpdate = _ONE_LAST_INPUT
        elif self.sparseUpdate == _ONE_LAST_INPUT:
            self.sparseUpdate = _ACC_MULTIPLE_TIMES
        used = coo[:, 2] != 0
        rows = coo[used, 0].astype(np.int64) - 1
        cols = coo[used, 1].astype(np.int64) - 1
        gwt = self.gradWeight.T  # a view: columns of gradWeight as rows
        B.index_add_(gwt, cols, (scale * coo[used, 2])[:, None] * go[rows])
        self.gradBias += scale * go.sum(axis=0)
        if self.weightDecay:
            self.gradWeight += self.weightDecay * self.weight

    def updateGradInput(self, input, gradOutput):
        nb, batch, legacy, coo = self._entries(input)
        xp = self._xp
        if legacy:
            self.gradInput = xp.zeros(input.shape, input.dtype)
        else:
            self.gradInput = []
        if not self.doGradInput:
            return self.gradInput
        n_in = self.weight.shape[1]
        gi = (gradOutput @ self.weight).reshape(-1, n_in)
        index = xp.arange(1, n_in + 1, dtype=self.weight.dtype)
        if legacy:
            g = xp.empty((input.shape[0], n_in, 2), input.dtype)
            g[:, :, 0] = index
            g[:, :, 1] = gi
            self.gradInput = g
        else:
            self.gradInput = [xp.stack([index, row], axis=1) for row in gi]
        return self.gradInput

    def _sparse_ready(self):
        last = self.lastInput
        return B.is_array(last) and last.ndim in (2, 3) and self.sparseUpdate == _ONE_LAST_INPUT

    def _touched_columns(self):
        last = self.lastInput
        if last.ndim == 3:  # legacy: N x nnz x (index, value)
            cols, vals = last[..., 0].reshape(-1), last[..., 1].reshape(-1)
        else:  # batch row, index, value
            cols, vals = last[:, 1], last[:, 2]
        return self._xp.unique(cols[vals != 0].astype(np.int64) - 1)

    def updateParameters(self, learningRate):
        if self._sparse_ready():
            cols = self._touched_columns()
            self.bias -= learningRate * self.gradBias
            self.weight[:, cols] -= learningRate * self.gradWeight[:, cols]
        else:
            super().updateParameters(learningRate)

    def zeroGradParameters(self):
        if self._sparse_ready():
            self.gradBias.fill(0)
            self.gradWeight[:, self._touched_columns()] = 0
        else:
            super().zeroGradParameters()
        self.sparseUpdate = _NO_LAST_INPUT

    def clearState(self):
        if self.lastInput is not None:
            self.lastInput = self._xp.empty(0, self.weight.dtype)
        return super().clearState()


class IndexLinear(Module):
    """A linear layer on sparse input given as keys (feature indices) and values.

    ``nn.IndexLinear(inputSize, outputSize, doGradInput=False, keysOffset=None,
    weight=None, bias=None, normalize=None)``; ``weight`` is ``inputSize x outputSize``
    (plus 4 leading columns with ``normalize``: max |value|, its inverse, an update
    scale and a per-feature bias), zeros until ``reset()``. Keys are 1-based; with
    ``keysOffset`` k they are ``2-k``-based (``offset = k - 1`` is added to them).
    Input: ``[keys, values]`` (one sample), ``[[keys_1, ...], [values_1, ...]]`` (a batch)
    or ``[keys, values, sizes]`` (a flat batch). Shape: -> ``(out)`` / ``(N, out)``.
    The gradient of the weight is kept sparse: ``parameters()`` returns
    ``[running, gradBias]`` as gradients, ``running`` holding per backward the keys and
    the rows of gradient (``updateParameters`` applies them); ``zeroGradParameters``
    restarts it.
    """

    def __init__(
        self,
        inputSize: int,
        outputSize: int,
        doGradInput: bool = False,
        keysOffset: int | None = None,
        weight=None,
        bias=None,
        normalize=None,
    ):
        super().__init__()
        self.normalize = 4 if normalize not in (None, False) else 0
        self.weight = (
            weight if weight is not None else self._zeros(inputSize, outputSize + self.normalize)
        )
        self.bias = bias if bias is not None else self._zeros(outputSize)
        self.inputSize = self.weight.shape[0]
        self.outputSize = self.weight.shape[1] - self.normalize
        self.gradWeight = self._zeros(0)
        self.gradBias = self._zeros(self.outputSize)
        self.gradWeightBuffer = self._zeros(0)
        self.valuesBuffer = self._zeros(0)
        self.normalizedValues = self._zeros(0)
        self.running = {"cumSumSizes": [], "keys": [], "gradWeight": [], "counter": 1}
        self.sizesCache = []
        self.cumSumSizesCache = []
        self.weightDecay = 0
        self.doGradInput = doGradInput
        self.offset = keysOffset - 1 if keysOffset is not None else -1
        self.gradInput = []

    def _after_load(self):
        r = self.running
        for k in ("cumSumSizes", "keys", "gradWeight"):
            if isinstance(r.get(k), dict):  # an empty or sparse Lua table
                r[k] = [r[k][i] for i in sorted(r[k])]

    def reset(self, stdv=None):
        stdv = stdv * math.sqrt(3) if stdv is not None else 1.0 / math.sqrt(self.weight.shape[1])
        B.uniform_(self.weight, -stdv, stdv)
        B.uniform_(self.bias, -stdv, stdv)
        self.bias *= 0.000001
        if self.normalize:
            self.weight[:, : self.normalize] = 0
        return self

    def _flatten(self, input):
        """Check the input and set keys/values/sizes/cumSumSizes as Lua's flattenInputs."""
        xp, name = self._xp, self._name()
        if not isinstance(input, (list, tuple)) or len(input) not in (2, 3):
            raise TypeError(f"{name}: expected a list {{keys, values}} or {{keys, values, sizes}}")
        if len(input) == 3:
            keys, values, sizes = input
            if not B.is_array(sizes):
                sizes = xp.asarray([int(sizes)], np.int64)
            if not (B.is_array(keys) and B.is_array(values)) or keys.ndim != 1:
                raise ValueError(f"{name}: Keys and values should be 1D")
            lkeys, lvalues, flat, nobatch = [keys], [values], True, False
        elif all(isinstance(v, (list, tuple)) for v in input):
            lkeys, lvalues, flat, nobatch = list(input[0]), list(input[1]), False, False
            if len(lkeys) != len(lvalues):
                raise ValueError(f"{name}: {len(lkeys)} key arrays but {len(lvalues)} value arrays")
        elif all(B.is_array(v) for v in input):
            lkeys, lvalues, flat, nobatch = [input[0]], [input[1]], False, True
        else:
            raise TypeError(f"{name}: Wrong input format.")
        for i, (k, v) in enumerate(zip(lkeys, lvalues)):
            self._check_input(v, f"values[{i + 1}]")
            if not B.is_array(k) or k.ndim != 1 or v.ndim != 1 or k.shape != v.shape:
                raise ValueError(f"{name}: keys and values should be 1D and of the same size")
        keys = xp.concatenate(lkeys) if len(lkeys) != 1 else lkeys[0]
        keys = _indices(self, keys, self.inputSize, "keys", base=-self.offset)
        if not flat:
            sizes = xp.asarray([k.shape[0] for k in lkeys], np.int64)
        sizes = _indices(self, sizes, keys.shape[0] + 1, "sizes", base=0)
        if int(sizes.sum()) != keys.shape[0]:
            raise ValueError(f"{name}: sizes sum to {int(sizes.sum())}, keys hold {keys.shape[0]}")
        return lkeys, lvalues, flat, nobatch, keys, sizes

    def updateOutput(self, input):
        lkeys, lvalues, flat, nobatch, keys, sizes = self._flatten(input)
        xp = self._xp
        c = self.running["counter"]
        self.isFlat, self.noBatch = flat, nobatch
        self.keys = keys.copy()
        self.values = xp.concatenate(lvalues) if len(lvalues) != 1 else lvalues[0].copy()
        self.sizes = sizes
        self.cumSumSizes = xp.cumsum(sizes)
        if not flat:
            self.lkeys, self.lvalues = lkeys, lvalues
            self.sizesCache[:1] = [sizes]
            self.cumSumSizesCache[:1] = [self.cumSumSizes]
        for k, v in (("keys", self.keys), ("cumSumSizes", self.cumSumSizes)):
            lst = self.running[k]
            lst[c - 1 : c] = [v] if len(lst) >= c else [None] * (c - 1 - len(lst)) + [v]
        rows = self.keys + self.offset
        batch = xp.repeat(xp.arange(sizes.shape[0]), sizes)
        vals = self.values
        if self.normalize:
            vals = self._normalized(rows)
            self.normalizedValues = vals
        w = self.weight[:, self.normalize :]
        out = xp.empty((sizes.shape[0], self.outputSize), self.weight.dtype)
        out[...] = self.bias
        B.index_add_(out, batch, vals[:, None] * w[rows])
        self.output = out[0] if nobatch else out
        return self.output

    def _normalized(self, rows):
        xp, w, v = self._xp, self.weight, self.values
        a = abs(v)
        nv = xp.empty_like(v)
        for sel in _in_turn(rows):
            r = rows[sel]
            if self.train is not False:
                grow = a[sel] > w[r, 0]
                w[r, 0] = xp.where(grow, a[sel], w[r, 0])
                w[r, 1] = xp.where(grow, 1 / a[sel], w[r, 1])
                w[r, 2] = 1
            nv[sel] = xp.where(a[sel] > w[r, 0], xp.sign(v[sel]), v[sel] * w[r, 1]) + w[r, 3]
        return nv

    def _go(self, gradOutput):
        shape = (self.sizes.shape[0], self.outputSize)
        go = gradOutput.reshape(shape) if gradOutput.size == shape[0] * shape[1] else gradOutput
        self._check_grad(go, shape)
        return go

    def updateGradInput(self, input, gradOutput):
        if self.doGradInput and self.normalize > 0:
            raise RuntimeError("updateGradInput is not implemented in max-normalize mode")
        if self.noBatch and not self.doGradInput:
            raise RuntimeError(
                f"{self._name()}: backward of a non-batch input needs doGradInput=true "
                "(Lua fails here too)"
            )
        self._flatten(input)
        go = self._go(gradOutput)
        self.gradInput = []
        if self.doGradInput:
            xp, ini = self._xp, self.inputSize
            gi = go @ self.weight.T
            index = xp.arange(1, ini + 1, dtype=np.int64)
            if self.isFlat:
                self.gradInput = [xp.tile(index, (gi.shape[0], 1)), gi]
            else:
                self.gradInput = [[index.copy() for _ in gi], [row.copy() for row in gi]]
            if self.noBatch:
                g = self.gradInput
                self.gradInput = (
                    [g[0].reshape(-1)[:ini], g[1].reshape(-1)[:ini]]
                    if self.isFlat
                    else [g[0][0], g[1][0]]
                )
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        go = self._go(gradOutput)
        xp = self._xp
        batch = xp.repeat(xp.arange(self.sizes.shape[0]), self.sizes)
        vals = self.normalizedValues if self.normalize else self.values
        g = go[batch] * scale
        gw = xp.concatenate([g, vals[:, None] * g], axis=1) if self.normalize else vals[:, None] * g
        c = self.running["counter"]
        lst = self.running["gradWeight"]
        lst[c - 1 : c] = [gw] if len(lst) >= c else [None] * (c - 1 - len(lst)) + [gw]
        self.gradBias += scale * go.sum(axis=0)
        self.running["counter"] = c + 1

    def _apply(self, rows, lr, wd, gw_bias, gw_w, bias_grad):
        """Lua's per-key update: ``gw_bias`` drives the per-feature bias (normalize
        mode), ``gw_w`` the weights; rows are visited in order, repeats in turn."""
        xp, w, n = self._xp, self.weight, self.normalize
        self.bias -= bias_grad
        for sel in _in_turn(rows):
            r = rows[sel]
            if n:
                s = w[r, 2][:, None]
                w[r, 3] -= (gw_bias[sel] * w[r, n:] * lr * s).sum(axis=1)
                decay = -wd if self.outputSize == 1 else wd  # Lua's sign for outDim 1
                w[r, n:] = w[r, n:] - w[r, n:] * decay * s - gw_w[sel] * lr * s
            else:
                w[r] = w[r] - w[r] * wd - gw_w[sel] * lr
        return xp

    def updateParameters(self, learningRate):
        c = self.running["counter"]
        if c <= 1:
            return
        xp = self._xp
        keys = self.running["keys"][: c - 1]
        gws = self.running["gradWeight"][: c - 1]
        if c == 2:
            self.updateKeys, self.gradWeight = keys[0], gws[0]
        else:
            self.updateKeys = xp.concatenate(keys)
            self.gradWeight = self.gradWeightBuffer = xp.concatenate(gws)
        gw, out = self.gradWeight, self.outputSize
        gb, gwv = (gw[:, :out], gw[:, out:]) if self.normalize else (None, gw)
        rows = self.updateKeys + self.offset
        self._apply(rows, learningRate, self.weightDecay, gb, gwv, learningRate * self.gradBias)

    def accUpdateGradParameters(self, input, gradOutput, lr):
        go = self._go(gradOutput)
        xp = self._xp
        batch = xp.repeat(xp.arange(self.sizes.shape[0]), self.sizes)
        rows = self.keys + self.offset
        vals = self.normalizedValues if self.normalize else self.values
        g = go[batch]
        self._apply(rows, lr, self.weightDecay, g, vals[:, None] * g, lr * go.sum(axis=0))
        if self.normalize and self.outputSize == 1:
            self.weight[rows, 2] = 0

    def zeroGradParameters(self):
        self.gradBias.fill(0)
        self.running["counter"] = 1

    def parameters(self):
        return [self.weight, self.bias], [self.running, self.gradBias]

    def getParameters(self):
        raise RuntimeError(
            f"{self._name()}: getParameters is not supported, the weight gradient is the "
            "sparse running table (Lua cannot flatten it either)"
        )

    def clearState(self):
        self.running["keys"] = []
        self.running["gradWeight"] = []
        for k in ("keys", "zerokeys", "updateKeys", "values", "sizes", "updateKeysBuffer"):
            self.__dict__[k] = None
        self.lkeys, self.lvalues = [], []
        self.gradWeightBuffer = self._zeros(0)
        self.valuesBuffer = self._zeros(0)
        return super().clearState()
