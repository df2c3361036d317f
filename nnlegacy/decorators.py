"""Decorators: containers of one module that change how it is run: Decorator, Bottle,
WeightNorm, DontCast, GPU."""

from __future__ import annotations

import contextlib
import math

import numpy as np

from . import backend as B
from .containers import Container
from .module import _size_desc

__all__ = ["Decorator", "Bottle", "WeightNorm", "DontCast", "GPU"]


class Decorator(Container):
    """Wraps one module (``modules[1]``) and forwards the protocol to it.

    ``nn.Decorator(module)``. Shape: that of the module. Printed ``nn.X @ <module>``.
    """

    def __init__(self, module):
        super().__init__()
        self.modules = [module]

    def updateOutput(self, input):
        self.output = self.modules[0].updateOutput(input)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = self.modules[0].updateGradInput(input, gradOutput)
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        self.modules[0].accGradParameters(input, gradOutput, scale)

    def accUpdateGradParameters(self, input, gradOutput, lr):
        self.modules[0].accUpdateGradParameters(input, gradOutput, lr)

    def sharedAccUpdateGradParameters(self, input, gradOutput, lr):
        self.modules[0].sharedAccUpdateGradParameters(input, gradOutput, lr)

    def __tostring__(self):
        return f"{self._name()} @ {self.modules[0]}"


class Bottle(Decorator):
    """Runs a module made for ``nInputDim``-D input on input with more dims, by folding
    the leading dims into the first one and unfolding the output.

    ``nn.Bottle(module, nInputDim=2, nOutputDim=nInputDim)``.
    Shape: ``b_1 x ... x b_k x d_1 x ... x d_n`` -> ``b_1 x ... x b_k x o_2 x ...``, where
    the module maps ``(b_1...b_k d_1) x d_2 ...`` to ``(b_1...b_k o_1) x o_2 ...``.
    """

    def __init__(self, module, nInputDim: int = 2, nOutputDim: int | None = None):
        super().__init__(module)
        self.nInputDim = nInputDim
        self.nOutputDim = nInputDim if nOutputDim is None else nOutputDim
        self.dimDelta = self.nInputDim - self.nOutputDim
        # Lua keeps the folded shapes as (Double) tensors
        self.inShape = self._zeros(self.nInputDim)
        self.outShape = self._zeros(self.nOutputDim)

    @staticmethod
    def _ints(shape):
        return tuple(int(s) for s in B.to_numpy(shape).reshape(-1))

    def updateOutput(self, input):
        self._check_input(input)
        batch_dims = input.ndim - self.nInputDim + 1
        if batch_dims <= 1:
            self.output = self.modules[0].updateOutput(input)
            return self.output
        squeeze = math.prod(input.shape[: batch_dims - 1])
        in_shape = list(input.shape[batch_dims - 1 :])
        in_shape[0] *= squeeze
        output = self.modules[0].updateOutput(input.reshape(in_shape))
        if output.ndim != self.nOutputDim:
            raise ValueError(
                f"Wrong number of output dims on module. Expected: {self.nOutputDim} "
                f"but got {output.ndim}"
            )
        xp = B.get_array_module(input)
        self.inShape = xp.asarray(in_shape, input.dtype)
        self.outShape = xp.asarray(output.shape, input.dtype)
        size = list(input.shape)
        if self.dimDelta:
            size = size[: len(size) - self.dimDelta]
        size[batch_dims - 1 :] = output.shape
        size[batch_dims - 1] //= squeeze
        self.output = output.reshape(size)
        return self.output

    def _fold(self, input, gradOutput):
        if input.ndim > self.nInputDim:
            in_shape, out_shape = self._ints(self.inShape), self._ints(self.outShape)
            if gradOutput.size != math.prod(out_shape):
                raise ValueError(
                    f"{self._name()}: expected gradOutput of {math.prod(out_shape)} "
                    f"elements, got {_size_desc(gradOutput.shape)}"
                )
            return input.reshape(in_shape), gradOutput.reshape(out_shape)
        return input, gradOutput

    def updateGradInput(self, input, gradOutput):
        x, g = self._fold(input, gradOutput)
        self.gradInput = self.modules[0].updateGradInput(x, g).reshape(input.shape)
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        x, g = self._fold(input, gradOutput)
        self.modules[0].accGradParameters(x, g, scale)


def _delegate(name):
    """A field of WeightNorm that is its module's field (Lua shares the tensor)."""

    def get(self):
        return getattr(self.modules[0], name)

    def put(self, value):
        setattr(self.modules[0], name, value)
        self.__dict__[name] = value

    return property(get, put)


class WeightNorm(Decorator):
    """Weight normalization: the module's weight is ``g * v / ||v||`` per output unit.

    ``nn.WeightNorm(module, outputDim=1)``; ``outputDim`` is the weight dim of the
    outputs; the weight is viewed as ``size(outputDim) x rest``. Parameters are
    ``{v, g, bias}``; ``||v|| = sqrt(sum v^2 + 1e-4)``. Shape: that of the module.
    Differences from Torch7: Torch uses the module's weight as scratch space in
    ``accGradParameters`` (its values are garbage until the next training forward);
    here the weight keeps its values.
    """

    weight = _delegate("weight")
    gradWeight = _delegate("gradWeight")
    bias = _delegate("bias")
    gradBias = _delegate("gradBias")

    def __init__(self, module, outputDim: int = 1):
        super().__init__(module)
        if getattr(module, "weight", None) is None:
            raise ValueError(f"{self._name()}: the module has no weight")
        w = module.weight
        self.__dict__["weight"], self.__dict__["gradWeight"] = w, module.gradWeight
        if getattr(module, "bias", None) is not None:
            self.__dict__["bias"], self.__dict__["gradBias"] = module.bias, module.gradBias
        self.outputDim = outputDim
        self.otherDims = math.prod(s for i, s in enumerate(w.shape, 1) if i != outputDim)
        self.viewIn = [w.shape[outputDim - 1], self.otherDims]
        out = list(w.shape)
        out.insert(0, out.pop(outputDim - 1))
        self.viewOut = out
        self.weightSize = list(w.shape)
        n = self.viewIn[0]
        self.v = self._zeros(*self.viewIn)
        self.g = self._zeros(n, 1)
        self._norm = self._zeros(n, 1)
        self._scale = self._zeros(n, 1)
        self.gradG = self._zeros(n, 1)
        self.gradV = self._zeros(*self.viewIn)
        self.resetInit()

    def _after_load(self):
        for k in ("viewIn", "viewOut", "weightSize"):
            if k in self.__dict__:
                self.__dict__[k] = [int(s) for s in B.to_numpy(self.__dict__[k]).reshape(-1)]
        xp = B.get_array_module(self.v)
        for k in ("_norm", "_scale"):  # not in files nnlegacy writes (private fields)
            self.__dict__.setdefault(k, xp.zeros((self.viewIn[0], 1), self.v.dtype))
        m = self.modules[0]
        if getattr(m, "weight", None) is None:  # Lua's write drops weight and gradWeight
            m.weight = xp.zeros(self.weightSize, self.v.dtype)
            m.gradWeight = xp.zeros(self.weightSize, self.v.dtype)
            self.__dict__["weight"], self.__dict__["gradWeight"] = m.weight, m.gradWeight
            self.updateWeight()
            self.gradWeight[...] = self._permute_out(self.gradV.reshape(self.viewOut))

    def resetInit(self, inputSize=None, outputSize=None):
        std = math.sqrt(2 / self.viewIn[1])
        self.v[...] = B.cpu_rng().normal(0, std, self.v.shape).astype(self.v.dtype)
        self.g[...] = self._xp.sqrt((self.v * self.v).sum(axis=1, keepdims=True))
        if self.bias is not None:
            self.bias.fill(0)
        return self

    def _permute_in(self, x):
        return B.get_array_module(x).moveaxis(x, self.outputDim - 1, 0)

    def _permute_out(self, x):
        return B.get_array_module(x).moveaxis(x, 0, self.outputDim - 1)

    def _rows(self, a):
        return a.reshape(self.viewIn[0], 1)

    def updateWeight(self):
        """weight = g * v / sqrt(sum v^2 + 1e-4), row by row of the 2-D view."""
        xp = B.get_array_module(self.v)
        norm = xp.sqrt((self.v * self.v).sum(axis=1, keepdims=True)) ** 2 + 10e-5
        self._norm[...] = xp.sqrt(norm).reshape(self._norm.shape)
        self._scale[...] = (self._rows(self.g) / self._rows(self._norm)).reshape(self._scale.shape)
        w = (self.v * self._rows(self._scale)).reshape(self.viewOut)
        self.gradV = self.gradV.reshape(self.viewOut)
        self.gradV[...] = w  # Torch computes in gradV, which keeps the result
        self.weight[...] = self._permute_out(w)

    def updateOutput(self, input):
        if self.__dict__.get("train") is not False:
            self.updateWeight()
        self.output = self.modules[0].updateOutput(input)
        return self.output

    def accGradParameters(self, input, gradOutput, scale=1):
        self.modules[0].accGradParameters(input, gradOutput, scale)
        gw = self._permute_in(self.gradWeight).reshape(self.viewIn)
        norm, sc = self._rows(self._norm), self._rows(self._scale)
        self.gradG[...] = (gw * self.v / norm).sum(axis=1, keepdims=True).reshape(self.gradG.shape)
        gv = gw * sc - self.v * sc / norm * self._rows(self.gradG)
        self.gradV = self.gradV.reshape(self.viewOut)
        self.gradV[...] = gv.reshape(self.viewOut)
        self.gradWeight[...] = self._permute_out(self.gradV)

    def zeroGradParameters(self):
        self.modules[0].zeroGradParameters()
        self.gradV.fill(0)
        self.gradG.fill(0)

    def updateParameters(self, learningRate):
        self.modules[0].updateParameters(learningRate)
        self.g -= learningRate * self.gradG.reshape(self.g.shape)
        self.v -= learningRate * self.gradV.reshape(self.v.shape)

    def evaluate(self):
        if self.__dict__.get("train") is not False:
            self.updateWeight()
            super().evaluate()
        return self

    def _parameter_slots(self):
        slots = [(self, "v", "gradV"), (self, "g", "gradG")]
        if self.bias is not None:
            slots.append((self, "bias", "gradBias"))
        return slots

    def _lua_fields(self, fields):
        """Lua's write omits weight and gradWeight (read recomputes them from v and g)."""
        from .t7 import long_storage

        fields.pop("weight", None)
        fields.pop("gradWeight", None)
        for k in ("viewIn", "viewOut", "weightSize"):
            if isinstance(fields.get(k), list):
                fields[k] = long_storage(fields[k])
        return fields


def _tensor_type(x):
    """Lua's tableTensorType: (the Torch type of the first array in x, whether found)."""
    if isinstance(x, (list, tuple)):
        for v in x:
            t, found = _tensor_type(v)
            if found:
                return t, True
        return None, False
    if B.is_array(x):
        return B.type_of(x), True
    return None, False


def _type_copy(x, type_name):
    if isinstance(x, (list, tuple)):
        return [_type_copy(v, type_name) for v in x]
    if B.is_array(x):
        xp, dtype = B.xp_dtype(type_name)
        return B.copy_array(x, xp, dtype, {})
    return x


class DontCast(Decorator):
    """Keeps its module's type when the network is cast; converts data at the border.

    ``nn.DontCast(module, castin=False, castout=castin, moduleType=None)``: with
    ``castin``, input of another type is converted to ``moduleType`` (and gradInput
    back); with ``castout``, the output is converted to this decorator's type.
    Shape: that of the module.
    """

    def __init__(self, module, castin=None, castout=None, moduleType=None):
        super().__init__(module)
        self.castin = castin
        self.castout = castin if castout is None else castout
        self.moduleType = moduleType
        if (self.castin or self.castout) and not self.moduleType:
            t, found = _tensor_type(module.output)
            if not found:
                params = module.parameters()
                t, found = _tensor_type(params[0] if params else [])
            if not found:
                raise ValueError("Cannot extrapolate moduleType. Provide constructor argument 4")
            self.moduleType = t

    def _in(self, input):
        if self.castin and _tensor_type(input)[0] != self.moduleType:
            return self._input
        return input

    def updateOutput(self, input):
        if self.castin and _tensor_type(input)[0] != self.moduleType:
            self._input = _type_copy(input, self.moduleType)
            input = self._input
        output = self.modules[0].updateOutput(input)
        own, found = _tensor_type(self.output)
        self.output = _type_copy(output, own) if self.castout and found else output
        return self.output

    def _grad(self, gradOutput):
        if self.castout and _tensor_type(gradOutput)[0] != self.moduleType:
            self._gradOutput = _type_copy(gradOutput, self.moduleType)
            return self._gradOutput
        return gradOutput

    def updateGradInput(self, input, gradOutput):
        own, found = _tensor_type(self.gradInput)
        gi = self.modules[0].updateGradInput(self._in(input), self._grad(gradOutput))
        self.gradInput = _type_copy(gi, own) if self.castin and found else gi
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        self.modules[0].accGradParameters(self._in(input), self._grad(gradOutput), scale)

    def accUpdateGradParameters(self, input, gradOutput, lr):
        self.modules[0].accUpdateGradParameters(self._in(input), self._grad(gradOutput), lr)

    def type(self, type=None, tensorCache=None):  # noqa: A002
        """Converts only this decorator's output/gradInput, never the module."""
        if type is None:
            return self._type
        B.check_type_name(type)
        xp, dtype = B.xp_dtype(type)
        if self.castout and _tensor_type(self.output)[0] != type:
            self.output = _type_copy(self.output, type) if self.output is not None else None
            if not _tensor_type(self.output)[1]:
                self.output = xp.empty(0, dtype)
        if self.castin and _tensor_type(self.gradInput)[0] != type:
            self.gradInput = _type_copy(self.gradInput, type)
            if not _tensor_type(self.gradInput)[1]:
                self.gradInput = xp.empty(0, dtype)
        self._type = type
        return self


class GPU(Container):
    """Hosts a module's parameters, and runs it, on one GPU (``device``, 1-based).

    ``nn.GPU(module, device, outdevice=device)``: on CuPy, input and gradOutput are
    copied to ``device`` and the output to ``outdevice``; gradInput comes back on the
    input's device. On NumPy, or on one GPU, it is the module itself.
    Shape: that of the module.
    """

    def __init__(self, module, device: int, outdevice: int | None = None):
        super().__init__()
        if isinstance(device, bool) or not isinstance(device, int):
            raise TypeError(f"{self._name()}: device must be a number, got {device!r}")
        self.device = device
        self.outdevice = device if outdevice is None else outdevice
        self.modules = [module]
        if B.is_cuda_type(module.type()):
            self.type(module.type())

    def _on_gpu(self):
        return B.is_cuda_type(self._type)

    def _ctx(self, device=None):
        if not self._on_gpu():
            return contextlib.nullcontext()
        return B.cupy_module().cuda.Device((device or self.device) - 1)

    def _to(self, x, device):
        """``x`` (nested) with every GPU array on ``device`` (1-based)."""
        if isinstance(x, (list, tuple)):
            return [self._to(v, device) for v in x]
        if B.is_array(x) and B.get_array_module(x) is not np and x.device.id != device - 1:
            with B.cupy_module().cuda.Device(device - 1):
                return x.copy()  # CuPy copies onto the current device
        return x

    def _like(self, x, proto):
        if isinstance(x, (list, tuple)):
            return [self._like(v, p) for v, p in zip(x, proto)]
        if B.is_array(proto) and B.get_array_module(proto) is not np:
            return self._to(x, proto.device.id + 1)
        return x

    def setDevice(self, device=None):
        self.device = device or self.device
        if self._on_gpu():
            cache = {}
            with self._ctx():
                for m in self.modules[0].listModules():
                    for k, v in list(m.__dict__.items()):
                        if B.is_array(v):
                            if id(v) not in cache:
                                cache[id(v)] = self._to(v, self.device)
                            m.__dict__[k] = cache[id(v)]
        return self

    def updateOutput(self, input):
        if not self._on_gpu():
            self.output = self.modules[0].updateOutput(input)
            return self.output
        self._input = self._to(input, self.device)
        with self._ctx():
            output = self.modules[0].updateOutput(self._input)
        self.output = self._to(output, self.outdevice)
        return self.output

    def updateGradInput(self, input, gradOutput):
        if not self._on_gpu():
            self.gradInput = self.modules[0].updateGradInput(input, gradOutput)
            return self.gradInput
        self._gradOutput = self._to(gradOutput, self.device)
        with self._ctx():
            gi = self.modules[0].updateGradInput(self._input, self._gradOutput)
        self.gradInput = self._like(gi, input)
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        if not self._on_gpu():
            self.modules[0].accGradParameters(input, gradOutput, scale)
            return
        with self._ctx():
            self.modules[0].accGradParameters(self._input, self._gradOutput, scale)

    def type(self, type=None, tensorCache=None):  # noqa: A002
        if type is None:
            return self._type
        if B.is_cuda_type(type):
            with B.cupy_module().cuda.Device(self.device - 1):
                super().type(type, tensorCache)
            return self.setDevice()
        self._input = self._gradOutput = None
        return super().type(type, tensorCache)

    def zeroGradParameters(self):
        with self._ctx():
            super().zeroGradParameters()

    def updateParameters(self, learningRate):
        with self._ctx():
            super().updateParameters(learningRate)

    def clearState(self):
        self._input = self._gradOutput = None
        with self._ctx():
            return super().clearState()

    def accUpdateGradParameters(self, input, gradOutput, lr):
        raise NotImplementedError("Not Implemented")

    def __tostring__(self):
        return f"{self._name()}({self.device}) @ {self.modules[0]}"
