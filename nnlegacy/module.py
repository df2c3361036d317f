"""The Torch7 module protocol (spec section 1): Module and the shared machinery."""

from __future__ import annotations

import copy
import math
import sys

import numpy as np

from . import backend as B
from . import threads
from .luaargs import wrap_init

REUSE = True  # modules write into their previous output where nothing else holds it


def _reusable(holder: dict, attr: str, shape, dtype, unshared):
    """``holder[attr]`` if it is an owning, writable, C-contiguous NumPy array of ``shape``
    and ``dtype`` referred to ``unshared`` times (by ``holder`` alone, as measured at
    import), else None; with ``unshared`` None, that count itself."""
    prev = holder.get(attr)
    if (
        type(prev) is not np.ndarray
        or prev.shape != shape
        or prev.dtype != dtype
        or prev.base is not None
        or not (prev.flags.c_contiguous and prev.flags.writeable)
    ):
        return None
    refs = sys.getrefcount(prev)
    if unshared is None:
        return refs
    return prev if refs == unshared else None


# the count for an array held by one dict alone, measured by the same code (it depends on
# the interpreter, not on the caller)
_UNSHARED = _reusable({"a": np.empty(1)}, "a", (1,), np.dtype(np.float64), None)


_NO_INPUT = object()  # ``module()`` with no argument: an nngraph node


class Module:
    """Base class of every layer, as torch/nn's Module.lua.

    ``output`` and ``gradInput`` hold the results of the last forward/backward;
    ``weight``/``bias`` and ``gradWeight``/``gradBias`` are the parameters and
    their accumulated gradients. ``_type`` is the Torch tensor type name.

    Differences from Torch7: there is no tensor ``set``, so ``getParameters``
    rebinds each module's parameter attributes to views of the flat arrays;
    references to the old arrays taken before the call do not follow.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        wrap_init(cls)

    def __init__(self):
        self._type = B.getdefaulttensortype()
        xp, dtype = B.xp_dtype(self._type)
        self.output = xp.empty(0, dtype)
        self.gradInput = xp.empty(0, dtype)

    # --- helpers for subclasses -------------------------------------------------
    @property
    def _xp(self):
        return B.xp_dtype(self._type)[0]

    @property
    def _dtype(self):
        return B.xp_dtype(self._type)[1]

    def _zeros(self, *shape):
        xp, dtype = B.xp_dtype(self._type)
        return xp.zeros(shape, dtype)

    def _name(self) -> str:
        return "nn." + type(self).__name__

    def _reused(self, attr: str, shape, dtype):
        """The array in ``self.<attr>`` to be written again, as Lua's modules write into
        their own output and gradInput tensors at each call, or None: only a NumPy array
        of that shape and type that owns its memory and that nothing but this module
        refers to (a caller who kept the previous output keeps its values; an output
        that is a view, as a convolution's of a single image, and CuPy arrays are never
        reused). A reused
        array stays in the cache; a fresh one of a few MiB can cost as much again as the
        pass that fills it (LeNet-5's first ReLU: 1.4 against 0.7 ms in a train step)."""
        if not REUSE:
            return None
        return _reusable(self.__dict__, attr, tuple(shape), dtype, _UNSHARED)

    def _check_input(self, x, what: str = "input"):
        """The input must be an array of this module's type (DESIGN rule 5)."""
        got = B.type_of(x)
        if got != self._type:
            raise TypeError(
                f"{self._name()}: expected {what} of type {self._type} (the module's type), "
                f"got {got}; convert the module with :type()/float()/double()/cuda() "
                "or the array, nnlegacy never copies silently"
            )

    def _check_grad(self, gradOutput, shape):
        self._check_input(gradOutput, "gradOutput")
        if tuple(gradOutput.shape) != tuple(shape):
            raise ValueError(
                f"{self._name()}: expected gradOutput of shape {_size_desc(shape)}, "
                f"got {_size_desc(gradOutput.shape)}"
            )

    def _fixed_noise_for(self, input):
        """The ``_fixed_noise`` set on a stochastic module, as an array of the input's type
        on its backend, or None when none is set (the module then draws); it must have
        the input's shape."""
        fixed = getattr(self, "_fixed_noise", None)
        if fixed is None:
            return None
        xp = B.get_array_module(input)
        noise = xp.asarray(B.to_numpy(fixed) if xp is np else fixed, dtype=input.dtype)
        if noise.shape != input.shape:
            raise ValueError(
                f"{self._name()}: _fixed_noise of shape {_size_desc(noise.shape)} does not "
                f"match the input {_size_desc(input.shape)}"
            )
        return noise

    # --- the protocol -----------------------------------------------------------
    def forward(self, input):
        return self.updateOutput(input)

    def backward(self, input, gradOutput, scale=1):
        self.updateGradInput(input, gradOutput)
        self.accGradParameters(input, gradOutput, scale)
        return self.gradInput

    def backwardUpdate(self, input, gradOutput, lr):
        self.updateGradInput(input, gradOutput)
        self.accUpdateGradParameters(input, gradOutput, lr)
        return self.gradInput

    def updateOutput(self, input):
        return self.output

    def updateGradInput(self, input, gradOutput):
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        pass

    def accUpdateGradParameters(self, input, gradOutput, lr):
        if getattr(self, "shared", False):
            self.sharedAccUpdateGradParameters(input, gradOutput, lr)
        else:
            self.defaultAccUpdateGradParameters(input, gradOutput, lr)

    def defaultAccUpdateGradParameters(self, input, gradOutput, lr):
        gw, gb = getattr(self, "gradWeight", None), getattr(self, "gradBias", None)
        if gw is not None:
            self.gradWeight = self.weight
        if gb is not None:
            self.gradBias = self.bias
        try:
            self.accGradParameters(input, gradOutput, -lr)
        finally:
            if gw is not None:
                self.gradWeight = gw
            if gb is not None:
                self.gradBias = gb

    def sharedAccUpdateGradParameters(self, input, gradOutput, lr):
        if self.parameters():
            self.zeroGradParameters()
            self.accGradParameters(input, gradOutput, 1)
            self.updateParameters(lr)

    def __call__(self, input=_NO_INPUT, gradOutput=None):
        """``m(x)`` forwards (``m(x, g)`` also backwards); ``m()``, ``m(node)`` or
        ``m([node, ...])`` make an nngraph node instead, as Lua's nngraph does."""
        from . import nngraph

        if input is _NO_INPUT or nngraph.is_node_input(input):
            if gradOutput is not None:
                raise TypeError("Use {input1, input2} to pass multiple inputs.")
            return nngraph.module_node(self, [] if input is _NO_INPUT else input)
        self.forward(input)
        if gradOutput is None:
            return self.output
        self.backward(input, gradOutput)
        return self.output, self.gradInput

    def __neg__(self):
        """nngraph's ``-module``: a node with no inputs (``module()``)."""
        return self()

    def __sub__(self, other):
        """nngraph's ``a - b``: ``b(a)``."""
        return other(self)

    # --- parameters -------------------------------------------------------------
    def _parameter_slots(self):
        """[(module, param attr, grad attr)] in Torch's order: weight, then bias."""
        slots = []
        for p, g in (("weight", "gradWeight"), ("bias", "gradBias")):
            if getattr(self, p, None) is not None:
                slots.append((self, p, g))
        return slots

    def parameters(self):
        """``([weight, bias], [gradWeight, gradBias])``, or None when there are none."""
        slots = self._parameter_slots()
        if not slots:
            return None
        return [getattr(m, p) for m, p, _ in slots], [getattr(m, g) for m, _, g in slots]

    def zeroGradParameters(self):
        params = self.parameters()
        if params:
            for g in params[1]:
                if g is not None:
                    threads.zero(g)  # big arrays on the shared threads

    def updateParameters(self, learningRate):
        params = self.parameters()
        if params:
            for p, g in zip(*params):
                p -= learningRate * g

    def getParameters(self):
        """One flat parameter array and one flat gradient array (spec section 1.4).

        Every parameter and gradient becomes a view into them, so writes through
        either side are seen by the other. Storages shared between modules are
        counted once.
        """
        slots = self._parameter_slots()
        flat_p, views_p = flatten([getattr(m, p) for m, p, _ in slots], self._type)
        flat_g, views_g = flatten([getattr(m, g) for m, _, g in slots], self._type)
        if flat_p.size != flat_g.size:
            raise RuntimeError("check that you are sharing parameters and gradParameters")
        for i, ((_, op), (_, og)) in enumerate(zip(views_p, views_g)):
            if op != og:
                raise RuntimeError(f"misaligned parameter at {i + 1}")
        for (m, p, g), (vp, _), (vg, _) in zip(slots, views_p, views_g):
            setattr(m, p, vp)
            setattr(m, g, vg)
        return flat_p, flat_g

    # --- modes, traversal -------------------------------------------------------
    def training(self):
        self.train = True
        return self

    def evaluate(self):
        self.train = False
        return self

    def reset(self, stdv=None):
        return self

    def apply(self, callback):
        callback(self)
        for m in getattr(self, "modules", None) or []:
            m.apply(callback)

    def replace(self, callback):
        out = callback(self)
        if getattr(self, "modules", None):
            self.modules = [m.replace(callback) for m in self.modules]
        return out

    def listModules(self):
        result = [self]
        for m in getattr(self, "modules", None) or []:
            result.extend(m.listModules())
        return result

    def findModules(self, typename, container=None):
        """The modules whose Torch type is exactly ``typename``, in depth-first order.

        Lua returns two values, the modules and their containers; by DESIGN rule 7 this
        returns the first (``len(net.findModules('nn.Linear'))`` counts them), and
        :meth:`findModulesAndContainers` returns both.
        """
        return self.findModulesAndContainers(typename, container)[0]

    def findModulesAndContainers(self, typename, container=None):
        """``(modules, containers)``: Lua's two results of ``findModules``."""
        nodes, containers = [], []
        if torch_type(self) == typename:
            nodes.append(self)
            containers.append(container if container is not None else self)
        for child in getattr(self, "modules", None) or []:
            n, c = child.findModulesAndContainers(typename, self)
            nodes.extend(n)
            containers.extend(c)
        return nodes, containers

    def clearState(self):
        """Empty ``output``, ``gradInput`` and the module's buffers; returns self."""
        return self._clear("output", "gradInput")

    def _clear(self, *names):
        xp, dtype = B.xp_dtype(self._type)
        for name in names:
            v = getattr(self, name, None)
            if B.is_array(v):
                setattr(self, name, xp.empty(0, v.dtype))
            elif isinstance(v, (list, dict)):
                setattr(self, name, type(v)())
            elif hasattr(self, name):
                setattr(self, name, None)
        return self

    # --- types ------------------------------------------------------------------
    def type(self, type=None, tensorCache=None):  # noqa: A002 - Torch's name
        """With no argument, the Torch type name; else convert every array field."""
        if type is None:
            return self._type
        B.check_type_name(type)
        B.xp_dtype(type)  # a clear error now if the type needs a missing GPU
        cache = {} if tensorCache is None else tensorCache
        for k, v in list(self.__dict__.items()):
            self.__dict__[k] = recursive_type(v, type, cache)
        self._type = type
        return self

    def float(self, tensorCache=None):
        return self.type("torch.FloatTensor", tensorCache)

    def double(self, tensorCache=None):
        return self.type("torch.DoubleTensor", tensorCache)

    def cuda(self, tensorCache=None):
        return self.type("torch.CudaTensor", tensorCache)

    def cudaDouble(self, tensorCache=None):  # noqa: N802
        return self.type("torch.CudaDoubleTensor", tensorCache)

    # --- copies -----------------------------------------------------------------
    def clone(self, *names):
        """A deep copy (aliasing inside the copy kept); with names, those fields shared."""
        memo = {}
        cache = {}

        def precopy(v):
            if B.is_array(v) and id(v) not in memo:
                memo[id(v)] = B.copy_array(v, B.get_array_module(v), v.dtype, cache)
            return v

        _walk(self, precopy, set())
        clone = copy.deepcopy(self, memo)
        if names:
            clone.share(self, *names)
        return clone

    def share(self, mlp, *names):
        """Make this module's fields ``names`` the very arrays of ``mlp``."""
        for name in names:
            if getattr(self, name, None) is not None:
                setattr(self, name, getattr(mlp, name))
                self.shared = True
                mlp.shared = True
        return self

    # --- printing ---------------------------------------------------------------
    def __tostring__(self) -> str:  # noqa: PLW3201 - Lua's name
        return self._name()

    def __repr__(self) -> str:
        return self.__tostring__()

    __str__ = __repr__


wrap_init(Module)


class _WeightBias:
    """``noBias()`` and Torch's reset for layers with a weight and an optional bias:
    ``weight`` and ``bias`` drawn from U(-stdv, stdv), ``stdv = 1/sqrt(fan_in)``, or
    ``stdv * sqrt(3)`` when one is given."""

    def _fan_in(self) -> int:
        raise NotImplementedError

    def noBias(self):
        self.bias = None
        self.gradBias = None
        return self

    def reset(self, stdv=None):
        stdv = stdv * math.sqrt(3) if stdv is not None else 1.0 / math.sqrt(self._fan_in())
        B.uniform_(self.weight, -stdv, stdv)
        if self.bias is not None:
            B.uniform_(self.bias, -stdv, stdv)
        return self


def torch_type(obj) -> str:
    """torch.type(): 'nn.Linear' for modules, the tensor type name for arrays."""
    if isinstance(obj, (Module, Criterion)):
        return "nn." + type(obj).__name__
    if B.is_array(obj):
        return B.type_of(obj)
    return type(obj).__name__


def recursive_type(v, type_name, cache):
    if B.is_array(v):
        return B.convert(v, type_name, cache)
    if isinstance(v, (Module, Criterion)):
        return v.type(type_name, cache)
    if isinstance(v, list):
        v[:] = [recursive_type(x, type_name, cache) for x in v]
        return v
    if isinstance(v, dict):
        for k in list(v):
            v[k] = recursive_type(v[k], type_name, cache)
        return v
    return v


def _walk(v, fn, seen):
    if id(v) in seen:
        return
    if B.is_array(v):
        fn(v)
        return
    if isinstance(v, (Module, Criterion)):
        seen.add(id(v))
        for x in v.__dict__.values():
            _walk(x, fn, seen)
    elif isinstance(v, (list, tuple)):
        seen.add(id(v))
        for x in v:
            _walk(x, fn, seen)
    elif isinstance(v, dict):
        seen.add(id(v))
        for x in v.values():
            _walk(x, fn, seen)


def _size_desc(shape) -> str:
    return "[" + " x ".join(str(int(d)) for d in shape) + "]"


def _is_compact(shape, strides) -> bool:
    """Torch's isCompact: sorted by stride (zero strides dropped), it is contiguous."""
    dims = sorted(((s, d) for s, d in zip(strides, shape) if s > 0), reverse=True)
    expect = 1
    for s, d in reversed(dims):
        if d != 1 and s != expect:
            return False
        expect *= d
    return True


def flatten(arrays, type_name: str):
    """Module.flatten: gather arrays into one 1-D array.

    Returns ``(flat, [(view, offset), ...])`` where each view is the array's new
    home inside ``flat`` (same shape and strides) and offset its element offset.
    """
    if not arrays:
        xp, dtype = B.xp_dtype(type_name)
        return xp.empty(0, dtype), []
    xp = B.get_array_module(arrays[0])
    dtype = arrays[0].dtype
    storages = {}  # key -> (flat, base offset)
    infos = []
    total = 0
    for a in arrays:
        key, sflat, off, strides = B.storage_of(a)
        if key not in storages:
            storages[key] = (sflat, total)
            total += sflat.size
        infos.append((storages[key][1] + off, a.shape, strides))
    flat = xp.zeros(total, dtype)
    mask = np.zeros(total, np.int8)
    all_compact = True
    for off, shape, strides in infos:
        if int(np.prod(shape)) > 0:
            B.view_of(mask, off, shape, strides)[...] = 1
        all_compact = all_compact and _is_compact(shape, strides)
    for sflat, base in storages.values():
        flat[base : base + sflat.size] = sflat
    if not mask.all():
        if not all_compact:
            raise RuntimeError("Cannot gather tensors that are not compact")
        holes = np.cumsum(1 - mask)
        keep = mask.astype(bool)
        flat = flat[xp.asarray(keep)] if xp is not np else flat[keep]
        infos = [(off - int(holes[off]), shape, strides) for off, shape, strides in infos]
    return flat, [(B.view_of(flat, off, shape, strides), off) for off, shape, strides in infos]


class Criterion:
    """Base class of losses (spec section 1.8): ``output`` is a number."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        wrap_init(cls)

    def __init__(self):
        self._type = B.getdefaulttensortype()
        xp, dtype = B.xp_dtype(self._type)
        self.gradInput = xp.empty(0, dtype)
        self.output = 0.0

    def _name(self) -> str:
        return "nn." + type(self).__name__

    _check_input = Module._check_input

    def forward(self, input, target):
        return self.updateOutput(input, target)

    def backward(self, input, target):
        return self.updateGradInput(input, target)

    def updateOutput(self, input, target):
        return self.output

    def updateGradInput(self, input, target):
        return self.gradInput

    def __call__(self, input, target):
        self.forward(input, target)
        self.backward(input, target)
        return self.output, self.gradInput

    def type(self, type=None, tensorCache=None):  # noqa: A002
        if type is None:
            return self._type
        B.check_type_name(type)
        B.xp_dtype(type)
        cache = {} if tensorCache is None else tensorCache
        for k, v in list(self.__dict__.items()):
            self.__dict__[k] = recursive_type(v, type, cache)
        self._type = type
        return self

    def float(self):
        return self.type("torch.FloatTensor")

    def double(self):
        return self.type("torch.DoubleTensor")

    def cuda(self):
        return self.type("torch.CudaTensor")

    def cudaDouble(self):  # noqa: N802
        return self.type("torch.CudaDoubleTensor")

    def clone(self):
        return copy.deepcopy(self)

    def __repr__(self) -> str:
        return self._name()

    __str__ = __repr__


wrap_init(Criterion)
