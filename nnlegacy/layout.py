"""Modules that rearrange the input or change its type: Copy, Convert, Transpose,
Replicate and PixelShuffle, as torch/nn's modules of the same names."""

from __future__ import annotations

import numpy as np

from . import backend as B
from .backend import get_array_module
from .containers import Container, Sequential
from .indexing import Select
from .module import Module
from .shape import Identity, Reshape, _contiguous, _desc

__all__ = ["Convert", "Copy", "PixelShuffle", "Replicate", "Transpose"]


class Copy(Module):
    """A copy of the input converted to ``outtype``; gradOutput copied back to ``intype``.

    ``nn.Copy(intype=default, outtype=default, forceCopy=False, dontCast=False)``,
    types by Torch name (``'torch.FloatTensor'``, ``'torch.CudaTensor'``, ...). When the
    two types are equal and ``forceCopy`` is false, input and gradOutput pass through
    uncopied. ``dontCast`` makes ``type()`` leave the module alone.
    Shape: unchanged. Any array type is accepted as input: converting is the point.
    """

    def __init__(self, intype=None, outtype=None, forceCopy=False, dontCast=False):
        super().__init__()
        intype = intype or B.getdefaulttensortype()
        outtype = outtype or B.getdefaulttensortype()
        xi, di = B.xp_dtype(intype)
        xo, do = B.xp_dtype(outtype)
        self.dontCast = dontCast
        self.gradInput = xi.empty(0, di)
        self.output = xo.empty(0, do)
        self._passthrough = not forceCopy and intype == outtype

    def _after_load(self):
        d = self.__dict__
        d.setdefault("dontCast", False)
        # Lua marks a pass-through Copy by closures on the instance; read with
        # load(unknown="object") they are inert LuaFunctions, replaced by the flag
        closures = [d.pop(k) for k in ("updateOutput", "updateGradInput") if k in d]
        d["_passthrough"] = bool(closures)

    def updateOutput(self, input):
        if self._passthrough:
            self.output = input
        else:
            self.output = _copy_like(self, input, self.output, "input")
        return self.output

    def updateGradInput(self, input, gradOutput):
        if self._passthrough:
            self.gradInput = gradOutput
        else:
            self.gradInput = _copy_like(self, gradOutput, self.gradInput, "gradOutput")
        return self.gradInput

    def type(self, type=None, tensorCache=None):  # noqa: A002 - Torch's name
        if type is not None and self.dontCast:
            return self
        return super().type(type, tensorCache)

    def clearState(self):
        for name in ("output", "gradInput"):
            v = getattr(self, name)
            if B.is_array(v):
                setattr(self, name, get_array_module(v).empty(0, v.dtype))
        return self


def _copy_like(module, x, like, what):
    """A copy of array ``x`` on the device and in the dtype of array ``like``."""
    if not B.is_array(x):
        raise TypeError(f"{module._name()}: expected {what} to be a tensor, got {type(x).__name__}")
    xp = get_array_module(like)
    if xp is np:
        return np.array(B.to_numpy(x), dtype=like.dtype)
    return xp.array(x, dtype=like.dtype)


class Transpose(Module):
    """The input with pairs of dimensions swapped, in the order given (a copy).

    ``nn.Transpose({d1, d2}, {d3, d4}, ...)`` with each pair a Python list;
    ``setNumInputDims(n)`` makes the pairs count within the last ``n`` dimensions,
    after any batch dimensions. Shape: ``(2, 3, 4)`` with ``{1, 2}, {2, 3}`` ->
    ``(3, 4, 2)``.
    """

    def __init__(self, *permutations):
        super().__init__()
        self.permutations = [[int(a) for a in p] for p in permutations]
        self.numInputDims = None

    def _after_load(self):
        self.__dict__.setdefault("numInputDims", None)
        perms = self.permutations  # {} when Lua's table was empty
        self.permutations = [
            list(p) for p in (perms.values() if isinstance(perms, dict) else perms)
        ]

    def setNumInputDims(self, numInputDims):
        self.numInputDims = numInputDims
        return self

    def _axes(self, input):
        self._check_input(input)
        offset = 0 if self.numInputDims is None else input.ndim - self.numInputDims
        axes = list(range(input.ndim))
        for a, b in self.permutations:
            a, b = a + offset, b + offset
            if not (1 <= a <= input.ndim and 1 <= b <= input.ndim):
                raise ValueError(
                    f"{self._name()}: cannot swap dimensions {a} and {b} of an input of shape "
                    f"{_desc(input.shape)}"
                )
            axes[a - 1], axes[b - 1] = axes[b - 1], axes[a - 1]
        return axes

    def updateOutput(self, input):
        self.output = _contiguous(input.transpose(self._axes(input)))
        return self.output

    def updateGradInput(self, input, gradOutput):
        axes = self._axes(input)
        self._check_grad(gradOutput, tuple(input.shape[a] for a in axes))
        back = [axes.index(i) for i in range(len(axes))]
        self.gradInput = _contiguous(gradOutput.transpose(back))
        return self.gradInput


class Replicate(Module):
    """``nf`` copies of the input stacked along a new dimension ``dim`` (1-based).

    ``nn.Replicate(nf, dim=1, ndim=None)``: with ``ndim``, an input of more than
    ``ndim`` dimensions is a batch and ``dim`` moves one on.
    Shape: ``(3, 4)`` with ``nf=2, dim=2`` -> ``(3, 2, 4)``.
    Differences from Torch7: the output is a copy; Lua's is a view of the input
    with a zero stride.
    """

    def __init__(self, nf: int, dim: int = 1, ndim: int | None = None):
        super().__init__()
        if dim <= 0:
            raise ValueError("nn.Replicate: Can only replicate across positive integer dimensions.")
        self.nfeatures = nf
        self.dim = dim
        self.ndim = ndim

    def _after_load(self):
        self.__dict__.setdefault("dim", 1)
        self.__dict__.setdefault("ndim", None)

    def _rdim(self, input):
        self._check_input(input)
        rdim = self.dim + (1 if self.ndim is not None and input.ndim > self.ndim else 0)
        if rdim > input.ndim + 1:
            raise ValueError(
                f"{self._name()}: Not enough input dimensions to replicate along dimension "
                f"{self.dim}. (input of shape {_desc(input.shape)})"
            )
        return rdim

    def updateOutput(self, input):
        rdim = self._rdim(input)
        xp = get_array_module(input)
        shape = input.shape[: rdim - 1] + (self.nfeatures,) + input.shape[rdim - 1 :]
        self.output = xp.broadcast_to(xp.expand_dims(input, rdim - 1), shape).copy()
        return self.output

    def updateGradInput(self, input, gradOutput):
        rdim = self._rdim(input)
        self._check_grad(
            gradOutput, input.shape[: rdim - 1] + (self.nfeatures,) + input.shape[rdim - 1 :]
        )
        self.gradInput = gradOutput.sum(axis=rdim - 1)
        return self.gradInput


class PixelShuffle(Module):
    """Sub-pixel shuffle: ``r*r`` channels become an ``r x r`` block of pixels.

    ``nn.PixelShuffle(upscaleFactor)``. Shape: ``(N, C*r*r, H, W)`` -> ``(N, C, H*r, W*r)``,
    or the same without ``N``.
    """

    def __init__(self, upscaleFactor: int):
        super().__init__()
        self.upscaleFactor = upscaleFactor
        self.upscaleFactorSquared = upscaleFactor * upscaleFactor

    def _dims(self, input):
        self._check_input(input)
        if input.ndim not in (3, 4):
            raise ValueError(f"{self._name()}: expected a 3D or 4D input, got {_desc(input.shape)}")
        n = input.shape[0] if input.ndim == 4 else 1
        c, h, w = input.shape[-3:]
        r = self.upscaleFactor
        if c % (r * r):
            raise ValueError(
                f"{self._name()}: the {c} input planes are not a multiple of "
                f"upscaleFactor^2 = {r * r}"
            )
        return n, c // (r * r), h, w, r

    def updateOutput(self, input):
        n, c, h, w, r = self._dims(input)
        x = input.reshape(n, c, r, r, h, w).transpose(0, 1, 4, 2, 5, 3)
        self._shuffleOut = _contiguous(x)
        shape = (c, h * r, w * r)
        self.output = self._shuffleOut.reshape((n, *shape) if input.ndim == 4 else shape)
        return self.output

    def updateGradInput(self, input, gradOutput):
        n, c, h, w, r = self._dims(input)
        shape = (c, h * r, w * r)
        self._check_grad(gradOutput, (n, *shape) if input.ndim == 4 else shape)
        g = gradOutput.reshape(n, c, h, r, w, r).transpose(0, 1, 3, 5, 2, 4)
        self._shuffleIn = _contiguous(g)
        self.gradInput = self._shuffleIn.reshape(input.shape)
        return self.gradInput

    def clearState(self):
        self._clear("_shuffleIn", "_shuffleOut", "_intermediateShape", "_outShape")
        return super().clearState()


class Convert(Container):
    """Converts between data layouts named by letters, and to the module's tensor type.

    ``nn.Convert(inputShape='b*', outputShape=inputShape)``, e.g. ``('bchw', 'bf')``,
    ``('chw', 'hwc')``; ``b`` is the batch axis (added in front when missing, so an
    input one dimension short is a single sample). A permutation of the letters is a
    ``Transpose``; ``bf``, ``b`` and ``bt`` are built as Lua builds them; ``b*`` only
    converts the type. The converting module, built at the first forward, is
    ``converter`` (and ``modules[1]``). Input of another tensor type is converted.
    Shape: ``(2, 2, 3, 3)`` with ``('bchw', 'bf')`` -> ``(2, 18)``.
    """

    def __init__(self, inputShape=None, outputShape=None):
        super().__init__()
        if outputShape is not None and inputShape is None:
            raise ValueError("nn.Convert: Expecting non-nil arg 1 when arg 2 is provided")
        inputShape = inputShape or "b*"
        outputShape = outputShape or inputShape
        self.inputShape = inputShape if "b" in inputShape else "b" + inputShape
        self.outputShape = outputShape if "b" in outputShape else "b" + outputShape
        self.inputBatchDim = self.inputShape.index("b") + 1
        self.outputBatchDim = self.outputShape.index("b") + 1
        self.transposition = None
        if "b*" in (self.inputShape, self.outputShape):
            if self.inputShape != self.outputShape:
                raise ValueError("nn.Convert: Both or neither shapes must be b*")
            self.nInputDim = self.nOutputDim = -1
            self.transposition = True
        else:
            self.nInputDim = len(self.inputShape)
            self.nOutputDim = len(self.outputShape)
            if self.nInputDim == self.nOutputDim:
                self.transposition = all(ch in self.outputShape for ch in self.inputShape)
        self.converter = None

    def _after_load(self):
        self.__dict__.setdefault("transposition", None)
        self.__dict__.setdefault("converter", None)

    def _axis(self, ch, shape=None):
        shape = shape or self.inputShape
        if ch not in shape:
            raise ValueError(f"nn.Convert: Provided shape '{shape}' has no axis '{ch}'")
        return shape.index(ch) + 1

    def _build(self, input):
        if self.transposition:
            return self._transpose(self.outputShape).type(self._type)
        build = {"bf": self._bf, "b": self._b, "bt": self._bt}.get(self.outputShape)
        if build is None:
            raise ValueError(
                f"nn.Convert: Unrecognized conversion of shape {self.inputShape} "
                f"to {self.outputShape}"
            )
        return build(input).type(self._type)

    def _transpose(self, new):
        if new == self.inputShape:
            return Identity()
        shape, swaps = list(self.inputShape), []
        for i, ch in enumerate(new, 1):
            j = shape.index(ch) + 1
            if i != j:
                shape[i - 1], shape[j - 1] = shape[j - 1], shape[i - 1]
                swaps.append([j, i])
        return Transpose(*swaps)

    def _bf(self, input):
        if self.inputShape == "bt":
            raise ValueError("nn.Convert: Conversion of shape bt to bf not supported")
        b = self._axis("b")
        if len(self.inputShape) == 1:
            return Reshape(1)
        module = Transpose([1, b]) if b != 1 else None
        if len(self.inputShape) > 2:
            reshape = Reshape(input.size // input.shape[b - 1])
            module = Sequential().add(module).add(reshape) if module else reshape
        return module or Identity()

    def _b(self, input):
        if self.inputShape in ("bt", "tb"):
            return Select(self._axis("t"), 1)
        if self.inputShape in ("bf", "fb"):
            f = self._axis("f")
            if input.shape[f - 1] > 1:
                raise ValueError(
                    f"nn.Convert: Cannot convert shape {self.inputShape} to b when feature > 1"
                )
            return Select(f, 1)
        raise ValueError(f"nn.Convert: Cannot convert shape {self.inputShape} to shape b")

    def _bt(self, input):
        if self.inputShape != "b":
            raise ValueError(f"nn.Convert: cannot convert shape '{self.inputShape}' to bt")
        return Reshape(1)

    def _batched(self, input):
        """(input in the module's type, with its batch axis; whether it had one)."""
        if not B.is_array(input):
            raise TypeError(f"nn.Convert: expecting Tensor, got {type(input).__name__}")
        x = input
        if B.type_of(input) != self._type:
            xp, dtype = B.xp_dtype(self._type)
            x = self._input = xp.asarray(B.to_numpy(x) if xp is np else x, dtype=dtype)
        if x.ndim < self.nInputDim:
            return get_array_module(x).expand_dims(x, self.inputBatchDim - 1), False
        return x, True

    def updateOutput(self, input):
        x, batch = self._batched(input)
        converter = self.converter or self._build(x)
        out = converter.updateOutput(x)
        if not batch:
            axis = self.outputBatchDim - 1
            out = out.reshape(out.shape[:axis] + out.shape[axis + 1 :])
        self.converter, self.modules = converter, [converter]
        self.batchMode = batch
        self.output = out
        return out

    def updateGradInput(self, input, gradOutput):
        if self.converter is None:
            raise RuntimeError("nn.Convert: updateGradInput needs a forward first")
        x, batch = self._batched(input)
        if not batch:
            gradOutput = gradOutput.reshape(self.converter.output.shape)
        gi = self.converter.updateGradInput(x, gradOutput)
        if not batch:
            gi = gi.reshape(input.shape)
        if B.type_of(input) != self._type:
            gi = self._gradInput = gi.copy()
        self.gradInput = gi
        return gi

    def clearState(self):
        self._clear("_input", "_gradInput")
        return super().clearState()
