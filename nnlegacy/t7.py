"""Torch7 serialization (``torch.save``/``torch.load``), binary and ASCII.

``load(path)`` reads numbers, strings, booleans, nil, Lua tables (a list when the keys
are 1..n, else a dict), tensors and storages of every CPU type and the Cuda types, and
``nn.*`` objects as the matching nnlegacy modules, keeping every field as Lua stored it
and every shared object shared. Nothing from the file is ever executed: a serialized Lua
function is an error. Every size read from the file is checked against the bytes that
remain before anything is allocated, so a corrupt file ends in a :class:`T7Error` that
names the byte offset.

``save(path, obj, format="binary")`` writes files that Lua Torch and ``torchfile`` read,
atomically (a temporary file, then a rename).
"""

from __future__ import annotations

import os
import re
import struct
import sys

import numpy as np

from . import backend as B
from .module import Criterion, Module

TYPE_NIL, TYPE_NUMBER, TYPE_STRING, TYPE_TABLE, TYPE_TORCH, TYPE_BOOLEAN = 0, 1, 2, 3, 4, 5
TYPE_FUNCTION, TYPE_RECUR_FUNCTION, LEGACY_TYPE_RECUR_FUNCTION = 6, 8, 7
# One limit for both directions: a value nested deeper than this many tables/objects is
# refused by save and by load alike, so whatever save writes, load reads back.
MAX_DEPTH = 200
# A tensor may view at most this many elements beyond its storage's own (stride-0 views,
# which Lua allows): a few bytes of file must not make later calls allocate or loop over
# gigabytes. ``load(path, max_elements=N)`` raises the cap for a caller who wants it.
EXPANDED_VIEW_LIMIT = 1 << 24

# Torch tensor/storage type -> (numpy dtype, is Cuda)
_TYPES = {
    "Double": (np.float64, False), "Float": (np.float32, False), "Half": (np.float16, False),
    "Long": (np.int64, False), "Int": (np.int32, False), "Short": (np.int16, False),
    "Char": (np.int8, False), "Byte": (np.uint8, False),
    "Cuda": (np.float32, True), "CudaDouble": (np.float64, True), "CudaHalf": (np.float16, True),
    "CudaLong": (np.int64, True), "CudaInt": (np.int32, True), "CudaShort": (np.int16, True),
    "CudaChar": (np.int8, True), "CudaByte": (np.uint8, True),
}  # fmt: skip
_TENSOR_RE = re.compile(r"torch\.(\w*?)(Tensor|Storage)$")


class T7Error(ValueError):
    """A file that is not valid Torch7 serialization, or holds something nnlegacy refuses."""


class LuaObject:
    """An object of a Torch class nnlegacy does not implement, read with
    ``load(path, unknown="object")``: its Lua class name and its fields, untouched.

    Fields are attributes (``obj.weight``) and items (``obj["weight"]``); ``save``
    writes it back under the same class name, so a model with one custom module
    (``w2nn.LeakyReLU``, ``nn.BatchFlip``) can be read, inspected, edited and saved.
    """

    def __init__(self, torch_typename: str, fields: dict):
        self.__dict__["torch_typename"] = torch_typename
        self.__dict__["fields"] = fields

    def __getattr__(self, name):
        try:
            return self.__dict__["fields"][name]
        except KeyError:
            raise AttributeError(
                f"{self.torch_typename} (read as a plain LuaObject) has no field {name!r}"
            ) from None

    def __setattr__(self, name, value):
        self.fields[name] = value

    def __getitem__(self, name):
        return self.fields[name]

    def __repr__(self):
        return f"LuaObject({self.torch_typename}: {', '.join(map(str, self.fields))})"


class LuaFunction:
    """A serialized Lua function read with ``unknown="object"``: its bytecode and
    upvalues, kept so the file can be inspected; nnlegacy never runs it."""

    def __init__(self, bytecode: bytes, upvalues=None):
        self.bytecode, self.upvalues = bytecode, upvalues

    def __call__(self, *args, **kwargs):
        raise TypeError("a Lua function read from a file cannot be run by nnlegacy")

    def __repr__(self):
        return f"LuaFunction({len(self.bytecode)} bytes of Lua bytecode)"


class LuaTableKey:
    """A Lua table used as a table key (read with ``unknown="object"``): hashed by
    identity, as Lua does; ``.table`` is the table."""

    def __init__(self, table):
        self.table = table

    def __repr__(self):
        return f"LuaTableKey({type(self.table).__name__} of {len(self.table)})"


# nngraph's graph objects: always read as plain LuaObjects (their tables may have tables
# as keys), from which nnlegacy.nngraph.gModule rebuilds its own graph after loading;
# gModule writes them back the same way (its ``_lua_fields``).
GRAPH_CLASSES = frozenset({"nngraph.Node", "graph.Node", "graph.Edge", "graph.Graph"})


class _Storage:
    """A Torch storage as read: a flat array, and its Torch type name."""

    def __init__(self, array, typename):
        self.array, self.typename = array, typename


# --- reading -----------------------------------------------------------------------
class _Reader:
    def __init__(
        self,
        data: bytes,
        ascii_format: bool,
        cuda: bool,
        unknown: str = "error",
        max_elements: int | None = None,
    ):
        self.data, self.pos, self.ascii, self.cuda = data, 0, ascii_format, cuda
        self.unknown = unknown
        self.max_elements = max_elements
        self.graph_depth = 0  # > 0 while reading nngraph's graph objects (GRAPH_CLASSES)
        self.memo = {}
        self.depth = 0
        self.reading = set()  # indices of tables being read (to see self-references)
        self.cyclic = set()
        self.path = []  # where in the object the reader is, for error messages
        self.restored = []  # (module, its place): checked once the whole file is read

    def where(self):
        return "".join(self.path) or "the top-level object"

    def fail(self, msg, at=None):
        where = f", in {self.where()}" if self.path else ""
        raise T7Error(f"{msg} (at byte offset {self.pos if at is None else at}{where})")

    def remaining(self):
        return len(self.data) - self.pos

    # primitive values
    def _token(self):
        d, n = self.data, len(self.data)
        p = self.pos
        while p < n and d[p] in b" \t\r\n":
            p += 1
        start = p
        while p < n and d[p] not in b" \t\r\n":
            p += 1
        if start == p:
            self.fail("unexpected end of file")
        self.pos = p
        return d[start:p]

    def _fixed(self, fmt, size):
        if self.remaining() < size:
            self.fail("unexpected end of file")
        v = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += size
        return v

    def int(self):
        if self.ascii:
            at = self.pos
            tok = self._token()
            try:
                return int(tok)
            except ValueError:
                self.fail(f"expected an integer, found {tok[:20]!r}", at)
        return self._fixed("<i", 4)

    def long(self):
        if self.ascii:
            return self.int()
        return self._fixed("<q", 8)

    def longs(self, n):
        return [self.long() for _ in range(n)]

    def double(self):
        if self.ascii:
            at = self.pos
            tok = self._token()
            try:
                return float(tok)
            except ValueError:
                self.fail(f"expected a number, found {tok[:20]!r}", at)
        return self._fixed("<d", 8)

    def raw(self, n):
        if n < 0 or n > self.remaining():
            self.fail(f"a length of {n} bytes exceeds the {self.remaining()} bytes left")
        if self.ascii and n and self.pos < len(self.data) and self.data[self.pos] in b"\n ":
            self.pos += 1  # the separator after the length
            if n > self.remaining():
                self.fail(f"a length of {n} bytes exceeds the {self.remaining()} bytes left")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def string(self):
        return self.raw(self.int()).decode("utf-8", "surrogateescape")

    # objects
    def object(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"objects nested deeper than {MAX_DEPTH}")
        try:
            return self._object()
        finally:
            self.depth -= 1

    def _object(self):
        at = self.pos
        kind = self.int()
        if kind == TYPE_NIL:
            return None
        if kind == TYPE_NUMBER:
            v = self.double()
            return int(v) if v.is_integer() and abs(v) < 2**53 else v
        if kind == TYPE_BOOLEAN:
            return self.int() == 1
        if kind == TYPE_STRING:
            return self.string()
        if kind in (TYPE_FUNCTION, TYPE_RECUR_FUNCTION, LEGACY_TYPE_RECUR_FUNCTION):
            if self.unknown != "object":
                self.fail("a serialized Lua function; nnlegacy never runs code from a file", at)
            return self._function()
        if kind == TYPE_TABLE:
            return self._table()
        if kind == TYPE_TORCH:
            return self._torch()
        self.fail(f"unknown object type {kind}", at)

    def _function(self):
        """A Lua function as opaque bytecode and upvalues: kept, never run."""
        index = self.int()
        if index in self.memo:
            return self.memo[index]
        size = self.int()
        if size < 0 or size > self.remaining():
            self.fail(f"a function of {size} bytes cannot fit in the {self.remaining()} bytes left")
        func = LuaFunction(self.raw(size))
        self.memo[index] = func
        func.upvalues = self.object()
        return func

    def _table(self):
        index = self.int()
        if index in self.memo:
            if index in self.reading:
                self.cyclic.add(index)
            return self.memo[index]
        size = self.int()
        if size < 0 or size * (4 if self.ascii else 8) > self.remaining():
            self.fail(f"a table of {size} entries cannot fit in the {self.remaining()} bytes left")
        table = {}
        self.memo[index] = table
        self.reading.add(index)
        for _ in range(size):
            k = self.object()
            self.path.append(f"[{k!r}]" if not isinstance(k, str) else f".{k}")
            try:
                v = self.object()
            finally:
                self.path.pop()
            if k is None:
                self.fail("a table key is nil")
            if isinstance(k, (dict, list)) and (self.unknown == "object" or self.graph_depth):
                k = LuaTableKey(k)
            try:
                table[k] = v
            except TypeError:
                self.fail(f"a table key of type {type(k).__name__} is not supported")
        self.reading.discard(index)
        if index in self.cyclic:
            return table  # referenced from inside itself: stays the one dict, identity kept
        n = len(table)
        if n and all(isinstance(k, int) for k in table) and set(table) == set(range(1, n + 1)):
            as_list = [table[i] for i in range(1, n + 1)]
            self.memo[index] = as_list
            return as_list
        if not table:
            self.memo[index] = []
            return self.memo[index]
        return table

    def _torch(self):
        at = self.pos
        index = self.int()
        if index in self.memo:
            return self.memo[index]
        version = self.string()
        if version.startswith("V "):
            cls = self.string()
        else:
            cls = version
        m = _TENSOR_RE.match(cls)
        if m and m.group(1) in _TYPES:
            obj = self._tensor(m.group(1)) if m.group(2) == "Tensor" else self._storage(m.group(1))
            self.memo[index] = obj
            return obj
        if cls.startswith("nn."):
            target = _nn_classes().get(cls[3:])
        elif cls.startswith("optim."):
            target = _optim_classes().get(cls[6:])
        else:
            target = None
        if target is None:
            if self.unknown != "object" and cls not in GRAPH_CLASSES:
                self.fail(
                    f"class {cls!r} is not supported by nnlegacy (load(path, "
                    'unknown="object") reads it as a plain LuaObject)',
                    at,
                )
            obj = LuaObject(cls, {})
            self.memo[index] = obj
            self.graph_depth += cls in GRAPH_CLASSES
            try:
                fields = self.object()
            except T7Error as e:
                raise T7Error(
                    f"class {cls!r} (at byte offset {at}) is not written as a table of "
                    f"fields (a custom write() format nnlegacy cannot read): {e}"
                ) from None
            finally:
                self.graph_depth -= cls in GRAPH_CLASSES
            if isinstance(fields, dict):
                obj.__dict__["fields"] = fields
            elif isinstance(fields, list):
                obj.__dict__["fields"] = dict(enumerate(fields, 1)) if fields else {}
            else:  # a class whose write() stores a non-table; keep it as it came
                obj.__dict__["fields"] = {"_value": fields}
            return obj
        obj = target.__new__(target)
        self.memo[index] = obj
        self.path.append(f"<{cls}>")
        try:
            fields = self.object()
            if isinstance(fields, list) and not fields:
                fields = {}
            if not isinstance(fields, dict):
                self.fail(f"the fields of {cls} are not a table", at)
            try:
                if cls.startswith("optim."):
                    _restore_plain(obj, fields)
                else:
                    _check_fields(target, fields)
                    _restore(obj, fields)
                    self.restored.append((obj, cls, at, self.where()))
            except (T7Error, TypeError, ValueError) as e:
                self.fail(f"{cls}: {e}", at)
            except Exception as e:
                self.fail(f"{cls}: cannot restore its fields: {type(e).__name__}: {e}", at)
        finally:
            self.path.pop()
        return obj

    def _array_module(self, is_cuda):
        return B.cupy_module() if is_cuda and self.cuda else np

    def _storage(self, typ):
        dtype, is_cuda = _TYPES[typ]
        dtype = np.dtype(dtype)
        n = self.long()
        at = self.pos
        if self.ascii:
            if n < 0 or n > self.remaining():
                self.fail(
                    f"a storage of {n} elements cannot fit in the {self.remaining()} bytes left"
                )
            if typ in ("Byte", "Char", "CudaByte", "CudaChar"):
                arr = np.frombuffer(self.raw(n), dtype).copy()
            else:
                parse = float if dtype.kind == "f" else int
                try:
                    arr = np.array([parse(self._token()) for _ in range(n)], dtype)
                except ValueError:
                    self.fail("a storage holds a value that is not a number", at)
        else:
            if n < 0 or n * dtype.itemsize > self.remaining():
                self.fail(
                    f"a storage of {n} elements cannot fit in the {self.remaining()} bytes left"
                )
            arr = np.frombuffer(self.data, dtype, n, self.pos).copy()
            self.pos += n * dtype.itemsize
        xp = self._array_module(is_cuda)
        return _Storage(xp.asarray(arr), f"torch.{typ}Storage")

    def _tensor(self, typ):
        dtype, is_cuda = _TYPES[typ]
        ndim = self.int()
        if ndim < 0 or ndim > 64:
            self.fail(f"a tensor of {ndim} dimensions")
        sizes = self.longs(ndim)
        strides = self.longs(ndim)
        offset = self.long() - 1
        storage = self.object()
        xp = self._array_module(is_cuda)
        if storage is None or ndim == 0 or 0 in sizes:
            if any(s < 0 for s in sizes):
                self.fail(f"a tensor of negative size {sizes}")
            return xp.empty(tuple(sizes) if ndim and storage is not None else (0,), dtype)
        if not isinstance(storage, _Storage):
            self.fail(f"a torch.{typ}Tensor whose storage is a {type(storage).__name__}")
        flat = storage.array
        if flat.dtype != np.dtype(dtype):
            self.fail(f"a torch.{typ}Tensor on a {storage.typename}")
        if any(s < 1 for s in sizes) or any(s < 0 for s in strides) or offset < 0:
            self.fail(f"a tensor of sizes {sizes}, strides {strides}, offset {offset + 1}")
        last = offset + sum((n - 1) * s for n, s in zip(sizes, strides))
        if last >= flat.size:
            self.fail(
                f"a tensor of sizes {sizes}, strides {strides} and offset {offset + 1} "
                f"reaches past its storage of {flat.size} elements"
            )
        n = 1
        for d in sizes:
            n *= d
        cap = self.max_elements
        if cap is None:
            cap = max(flat.size, EXPANDED_VIEW_LIMIT)
        if n > cap:
            self.fail(
                f"a tensor of sizes {sizes} and strides {strides} views {n} elements of a "
                f"storage of {flat.size}: more than the {cap} a file may make nnlegacy touch "
                "(load(path, max_elements=N) allows more)"
            )
        return B.view_of(flat, offset, sizes, strides)


def _is_ascii(data: bytes) -> bool:
    if len(data) >= 4 and struct.unpack_from("<i", data, 0)[0] in range(0, 9):
        return False
    return re.match(rb"\s*-?\d+\s", data[:32]) is not None


def _refuse_non_torch(data):
    """A Torch7 file starts with a type code 0..8, binary (4 bytes) or ASCII (a number)."""
    data = bytes(data[:32])
    binary = len(data) >= 4 and struct.unpack_from("<i", data, 0)[0] in range(0, 9)
    text = re.match(rb"\s*([0-8])\s", data)
    if not (binary or text):
        shown = data[:16].decode("latin-1").encode("unicode_escape").decode()
        raise T7Error(
            "not a Torch7 file: it starts with "
            + (f"'{shown}'" if data else "nothing (the file is empty)")
            + ", where a file written by torch.save starts with a type code 0-8"
        )


class _deep_recursion:
    """Python frames enough for MAX_DEPTH nested Lua values (several frames a level)."""

    def __enter__(self):
        self.old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(self.old, 12 * MAX_DEPTH + 1000))

    def __exit__(self, *exc):
        sys.setrecursionlimit(self.old)


def loads(
    data: bytes, force_cpu: bool = False, unknown: str = "error", max_elements: int | None = None
):
    """Deserialize Torch7 bytes (binary or ASCII); the options as for :func:`load`."""
    if unknown not in ("error", "object"):
        raise ValueError(f"unknown must be 'error' or 'object', got {unknown!r}")
    _refuse_non_torch(data)
    reader = _Reader(
        bytes(data),
        _is_ascii(data),
        cuda=not force_cpu and B.has_cuda(),
        unknown=unknown,
        max_elements=max_elements,
    )
    try:
        with _deep_recursion():
            obj = reader.object()
            _refuse_module_cycles(obj)
            # after the whole file: a parent's _after_load may complete its children
            # (WeightNorm recomputes its module's weight from v and g)
            for m, cls, at, where in reader.restored:
                try:
                    _check_required(m)
                except T7Error as e:
                    raise T7Error(f"{cls}: {e} (at byte offset {at}, in {where})") from None
        return obj
    except T7Error:
        raise
    except RecursionError:
        raise T7Error(f"objects nested too deeply (at byte offset {reader.pos})") from None
    except Exception as e:  # anything else a corrupt file provokes
        raise T7Error(f"corrupt file: {type(e).__name__}: {e} (at byte offset {reader.pos})") from e


def load(path, force_cpu: bool = False, unknown: str = "error", max_elements: int | None = None):
    """Read a ``.t7`` file written by Lua Torch (or by :func:`save`).

    Cuda tensors become CuPy arrays when a GPU is there, else NumPy arrays of the same
    precision (``force_cpu=True`` asks for NumPy always); modules holding them then
    have type torch.FloatTensor / torch.DoubleTensor.

    An object of a class nnlegacy lacks is an error by default; with
    ``unknown="object"`` it becomes a :class:`LuaObject` keeping its class name and
    fields, and the rest of the file loads as usual.

    Limits (a :class:`T7Error` names the place in the file): values nested deeper than
    ``MAX_DEPTH`` (200, the same limit ``save`` has); a tensor viewing more elements than
    its storage holds beyond ``EXPANDED_VIEW_LIMIT`` (2^24; stride-0 views, which Lua
    allows) unless ``max_elements`` allows it; a module that contains itself; a known
    module whose fields have the wrong type or inconsistent shapes.
    """
    with open(path, "rb") as f:
        return loads(f.read(), force_cpu, unknown, max_elements)


def _refuse_module_cycles(obj):
    """A module that contains itself (through ``modules``) would recurse forever in
    print, forward, clone and getParameters: refuse the file."""
    done, stack = set(), []

    def visit(v, where):
        if isinstance(v, (Module, Criterion)):
            if id(v) in stack_ids:
                raise T7Error(f"a module cycle: {torch_name(v)} contains itself ({where})")
            if id(v) in done:
                return
            stack_ids.add(id(v))
            stack.append(v)
            for k, x in vars(v).items():
                visit(x, f"{where}.{k}")
            stack.pop()
            stack_ids.discard(id(v))
            done.add(id(v))
        elif isinstance(v, (list, tuple)):
            if id(v) in done or id(v) in stack_ids:
                return
            stack_ids.add(id(v))
            for i, x in enumerate(v):
                visit(x, f"{where}[{i + 1}]")
            stack_ids.discard(id(v))
            done.add(id(v))
        elif isinstance(v, dict):
            if id(v) in done or id(v) in stack_ids:
                return
            stack_ids.add(id(v))
            for k, x in v.items():
                visit(x, f"{where}[{k!r}]")
            stack_ids.discard(id(v))
            done.add(id(v))

    stack_ids: set[int] = set()
    visit(obj, "top level")


def torch_name(v):
    return "nn." + type(v).__name__


# --- nn objects ------------------------------------------------------------------------
def _nn_classes():
    import nnlegacy

    classes = {}
    for name in nnlegacy.__all__:
        obj = getattr(nnlegacy, name)
        if isinstance(obj, type) and issubclass(obj, (Module, Criterion)):
            classes[name] = obj
    return classes


def _optim_classes():
    """Lua optim's classes (``optim.ConfusionMatrix``, ``optim.Logger``)."""
    from . import optim

    return getattr(optim, "T7_CLASSES", {})


def _restore_plain(obj, fields):
    """Set the fields of a non-module class (optim's), then its ``_after_load``."""
    for k, v in fields.items():
        if isinstance(k, str):
            obj.__dict__[k] = v.array if isinstance(v, _Storage) else v
    hook = getattr(type(obj), "_after_load", None)
    if hook is not None:
        hook(obj)


def _lua_truthy(v):
    return v is not None and v is not False


# Fields older nn versions did not write, with the values Lua's modules assume
# when they meet them missing (``self.padW = self.padW or 0`` and the like).
LOAD_DEFAULTS = {
    "SpatialConvolution": {"dW": 1, "dH": 1, "padW": 0, "padH": 0, "bias": None, "gradBias": None},
    "_SpatialPooling": {"padW": 0, "padH": 0, "ceil_mode": False},
    "SpatialMaxPooling": {"_argmax": None},
    "SpatialAveragePooling": {"count_include_pad": True, "divide": True},
    "SpatialFullConvolution": {
        "dW": 1,
        "dH": 1,
        "padW": 0,
        "padH": 0,
        "adjW": 0,
        "adjH": 0,
        "bias": None,
        "gradBias": None,
    },  # fmt: skip
    "Threshold": {"inplace": False, "val": 0, "threshold": 1e-6},
    "Dropout": {"v2": False, "inplace": False, "stochastic_inference": False, "train": True},
    "SpatialDropout": {"stochastic_inference": False, "train": True},
    "BatchNormalization": {"eps": 1e-5, "momentum": 0.1, "train": True},
    "View": {"numInputDims": None},
    "Reshape": {"batchMode": None},
    "JoinTable": {"nInputDims": None},
    "CAddTable": {"inplace": False},
    "ClassNLLCriterion": {
        "weights": None,
        "sizeAverage": True,
        "ignoreIndex": -100,
        "total_weight": 0.0,
    },
    "SpatialCrossMapLRN": {"alpha": 0.0001, "beta": 0.75, "k": 1},
    "Linear": {"bias": None, "gradBias": None},
}


_FLOAT_TENSOR_FIELDS = (
    "weight", "bias", "gradWeight", "gradBias", "running_mean", "running_var", "running_std",
)  # fmt: skip
_INT_FIELDS = (
    "kW", "kH", "kT", "dW", "dH", "dT", "padW", "padH", "padT", "adjW", "adjH", "adjT",
    "nInputPlane", "nOutputPlane", "dilationW", "dilationH", "dilationT",
)  # fmt: skip
_POSITIVE_FIELDS = ("kW", "kH", "kT")  # nOutputPlane 0 is PReLU's shared weight


def _check_fields(cls, fields):
    """Refuse fields a known module could not work with, before anything is set: a
    clear T7Error at load instead of an AttributeError or a wrong number later."""
    name = cls.__name__
    for k, v in fields.items():
        if not isinstance(k, str):
            continue
        attr = getattr(cls, k, None)
        if callable(attr) and not isinstance(attr, type) and not isinstance(v, LuaFunction):
            raise T7Error(f"field {k!r} would hide the method {name}.{k}")
    for k in _FLOAT_TENSOR_FIELDS:
        v = fields.get(k)
        if v is None or v is False:
            continue
        if isinstance(v, _Storage):
            v = v.array
        if not B.is_array(v) or v.dtype.kind != "f":
            got = f"a {v.dtype} tensor" if B.is_array(v) else f"a {type(v).__name__}"
            raise T7Error(f"field {k!r} is {got}, expected a floating-point tensor")
    for p, g in (("weight", "gradWeight"), ("bias", "gradBias")):
        vp, vg = fields.get(p), fields.get(g)
        if B.is_array(vp) and B.is_array(vg) and vg.size and vp.shape != vg.shape:
            raise T7Error(f"field {g!r} has shape {vg.shape}, {p!r} has {vp.shape}")
    for k in _INT_FIELDS:
        v = fields.get(k)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int):
            raise T7Error(f"field {k!r} is {v!r}, expected a whole number")
        if k in _POSITIVE_FIELDS and v < 1:
            raise T7Error(f"field {k!r} is {v}, expected a positive number")
    if "modules" in fields:
        mods = fields["modules"]
        if isinstance(mods, dict) and not mods:
            mods = []
        if not isinstance(mods, list) or not all(
            isinstance(m, (Module, Criterion, LuaObject)) for m in mods
        ):
            raise T7Error("field 'modules' is not a list of modules")
    w, b = fields.get("weight"), fields.get("bias")
    mro = {c.__name__ for c in cls.__mro__}
    if "Linear" in mro and B.is_array(w):
        if w.ndim != 2:
            raise T7Error(f"weight has shape {w.shape}, expected outputSize x inputSize")
        if B.is_array(b) and b.shape != (w.shape[0],):
            raise T7Error(f"bias has shape {b.shape}, expected ({w.shape[0]},)")
    conv = mro & {"SpatialConvolution", "SpatialFullConvolution"}
    if conv and B.is_array(w) and all(isinstance(fields.get(k), int) for k in ("kW", "kH")):
        n_in, n_out = fields.get("nInputPlane"), fields.get("nOutputPlane")
        kk = fields["kW"] * fields["kH"]
        if isinstance(n_in, int) and isinstance(n_out, int) and w.size != n_in * n_out * kk:
            raise T7Error(
                f"weight has {w.size} elements, expected nOutputPlane*nInputPlane*kH*kW = "
                f"{n_in * n_out * kk}"
            )
        if B.is_array(b) and isinstance(n_out, int) and b.size != n_out:
            raise T7Error(f"bias has {b.size} elements, expected nOutputPlane = {n_out}")
    if "BatchNormalization" in mro:
        rm = fields.get("running_mean")
        for k in ("running_var", "weight", "bias"):
            v = fields.get(k)
            if B.is_array(rm) and B.is_array(v) and v.shape != rm.shape:
                raise T7Error(f"field {k!r} has shape {v.shape}, running_mean has {rm.shape}")


# Fields a module cannot work without (after the defaults above are filled in): a file
# lacking one is refused at load rather than failing later with an AttributeError.
REQUIRED_FIELDS = {
    "Linear": ("weight",),
    "SpatialConvolution": ("weight", "nInputPlane", "nOutputPlane", "kW", "kH"),
    "SpatialFullConvolution": ("weight", "nInputPlane", "nOutputPlane", "kW", "kH"),
    "_SpatialPooling": ("kW", "kH", "dW", "dH"),
    "BatchNormalization": ("running_mean", "running_var"),
    "SpatialCrossMapLRN": ("size",),
    "Dropout": ("p",),
    "SpatialDropout": ("p",),
    "View": ("size",),
    "Reshape": ("size",),
    "Narrow": ("dimension", "index", "length"),
    "Select": ("dimension", "index"),
    "JoinTable": ("dimension",),
    "SpatialZeroPadding": ("pad_l", "pad_r", "pad_t", "pad_b"),
    "Container": ("modules",),
    "Concat": ("dimension",),
}


def _check_required(obj):
    d = obj.__dict__
    for klass in type(obj).__mro__:
        for k in REQUIRED_FIELDS.get(klass.__name__, ()):
            if k not in d:
                raise T7Error(f"field {k!r} is missing")
    try:  # every module's print-out reads its essential fields: a last probe
        repr(obj)
    except RecursionError:
        raise
    except Exception as e:  # noqa: BLE001 - turned into a clear error about the file
        raise T7Error(f"its fields are incomplete or malformed ({type(e).__name__}: {e})") from None


def _restore(obj, fields):
    """Set Lua's fields on a fresh instance, then fill what older nn versions lacked."""
    d = obj.__dict__
    for k, v in fields.items():
        if not isinstance(k, str):
            continue
        if isinstance(v, _Storage):
            v = v.array
        if k == "train":
            v = _lua_truthy(v)
        if k == "indices" and isinstance(getattr(type(obj), "indices", None), property):
            k = "_indices"
        d[k] = v
    for klass in reversed(type(obj).__mro__):
        for k, v in LOAD_DEFAULTS.get(klass.__name__, {}).items():
            d.setdefault(k, v)
    name = type(obj).__name__
    if name in ("View", "Reshape") and "size" in d:
        d["size"] = [int(x) for x in np.asarray(B.to_numpy(d["size"])).reshape(-1)]
        total = int(np.prod([s for s in d["size"] if s != -1])) if d["size"] else 1
        d.setdefault("numElements" if name == "View" else "nelement", total)
    if "SpatialConvolution" in [k.__name__ for k in type(obj).__mro__] and "weight" in d:
        w = d["weight"]
        d.setdefault("nOutputPlane", w.shape[0])
        if "nInputPlane" not in d:
            d["nInputPlane"] = int(w.size // (w.shape[0] * d["kW"] * d["kH"]))
    for p, g in (("weight", "gradWeight"), ("bias", "gradBias")):
        if B.is_array(d.get(p)) and not B.is_array(d.get(g)):
            # files saved for inference may omit the gradients; parameters() needs them
            d[g] = B.get_array_module(d[p]).zeros(d[p].shape, d[p].dtype)
    if name in ("BatchNormalization", "SpatialBatchNormalization"):
        d.setdefault("affine", d.get("weight") is not None)
        for k in ("weight", "bias", "gradWeight", "gradBias"):
            d.setdefault(k, None)
    _set_type(obj)
    hook = getattr(type(obj), "_after_load", None)
    if hook is not None:
        # a class's own fix-ups of Lua's fields (defaults older files lack, tables
        # that came back as lists or dicts), so t7.py needs no per-class code
        hook(obj)


def _set_type(obj):
    """The module's Torch type: that of its arrays (Cuda types map to the CPU ones when
    the arrays were loaded on the CPU); the stored ``_type`` when it holds none."""
    d = obj.__dict__
    found = None
    for k in ("weight", "output", "bias", "running_mean", "gradInput"):
        v = d.get(k)
        if B.is_array(v) and v.dtype.kind == "f" and v.dtype != np.float16:
            found = B.type_of(v)
            break
    if found is None:
        stored = d.get("_type")
        on_gpu = B.has_cuda()
        cpu = {
            "torch.CudaTensor": "torch.FloatTensor",
            "torch.CudaDoubleTensor": "torch.DoubleTensor",
        }
        found = stored if stored in B._TYPES else "torch.DoubleTensor"
        if not on_gpu:
            found = cpu.get(found, found)
    d["_type"] = found
    xp, dtype = B.xp_dtype(found)
    if isinstance(obj, Module):
        for name in ("output", "gradInput"):
            d.setdefault(name, xp.empty(0, dtype))
    else:
        d.setdefault("output", 0.0)
        d.setdefault("gradInput", xp.empty(0, dtype))


# --- writing ---------------------------------------------------------------------------
_NAMES = {np.dtype(v[0]): k for k, v in _TYPES.items() if not v[1]}
_CUDA_NAMES = {np.dtype(v[0]): k for k, v in _TYPES.items() if v[1]}


class _Sink:
    """Bytes go straight to a file (``append`` is its ``write``): no copy of the model."""

    def __init__(self, f):
        self.append = f.write


class _Writer:
    def __init__(self, ascii_format: bool, out=None):
        self.ascii = ascii_format
        self.out = [] if out is None else out
        self.memo = {}  # id(python object) -> index
        self.storages = {}  # storage key -> (index, flat, torch type)
        self.keep = []  # objects whose ids are in memo
        self.next_index = 1
        self.depth = 0
        self.path = []

    def where(self):
        return "".join(self.path) or "the top-level object"

    def int(self, v):
        self.out.append(f"{int(v)}\n".encode() if self.ascii else struct.pack("<i", int(v)))

    def long(self, v):
        self.out.append(f"{int(v)}\n".encode() if self.ascii else struct.pack("<q", int(v)))

    def longs(self, vs):
        if self.ascii:
            if vs:
                self.out.append((" ".join(str(int(v)) for v in vs) + "\n").encode())
        else:
            self.out.append(struct.pack(f"<{len(vs)}q", *[int(v) for v in vs]))

    def double(self, v):
        self.out.append(f"{float(v):.17g}\n".encode() if self.ascii else struct.pack("<d", v))

    def string(self, s):
        data = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else bytes(s)
        self.int(len(data))
        self.out.append(data + b"\n" if self.ascii else data)

    def _new_index(self, obj):
        i = self.next_index
        self.next_index += 1
        self.memo[id(obj)] = i
        self.keep.append(obj)
        return i

    def object(self, obj):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise T7Error(
                f"cannot save values nested deeper than {MAX_DEPTH} (load's limit too), "
                f"at {self.where()}"
            )
        try:
            self._object(obj)
        finally:
            self.depth -= 1

    def _object(self, obj):
        if obj is None:
            self.int(TYPE_NIL)
        elif isinstance(obj, (bool, np.bool_)):
            self.int(TYPE_BOOLEAN)
            self.int(1 if obj else 0)
        elif isinstance(obj, (int, float, np.integer, np.floating)):
            self.int(TYPE_NUMBER)
            self.double(float(obj))
        elif isinstance(obj, str):
            self.int(TYPE_STRING)
            self.string(obj)
        elif B.is_array(obj):
            self.tensor(obj)
        elif isinstance(obj, (Module, Criterion)):
            self.module(obj)
        elif isinstance(obj, LuaTableKey):
            self.object(obj.table)
        elif isinstance(obj, LuaObject):
            if self._header(obj, obj.torch_typename):
                self.object(obj.fields)
        elif isinstance(obj, (list, tuple, dict)):
            self.table(obj)
        else:
            raise T7Error(
                f"cannot save a value of type {type(obj).__name__} at {self.where()}: "
                "Torch7 files hold numbers, strings, booleans, tables, tensors and modules"
            )

    def table(self, obj):
        self.int(TYPE_TABLE)
        if id(obj) in self.memo:
            self.int(self.memo[id(obj)])
            return
        self.int(self._new_index(obj))
        items = list(enumerate(obj, 1)) if isinstance(obj, (list, tuple)) else list(obj.items())
        items = [(k, v) for k, v in items if v is not None]  # nil values are absent in Lua
        self.int(len(items))
        for k, v in items:
            self.path.append(f".{k}" if isinstance(k, str) else f"[{k!r}]")
            self.object(k)
            self.object(v)
            self.path.pop()

    def _header(self, obj, cls):
        self.int(TYPE_TORCH)
        if id(obj) in self.memo:
            self.int(self.memo[id(obj)])
            return False
        self.int(self._new_index(obj))
        self.string("V 1")
        self.string(cls)
        return True

    def _type_name(self, a):
        cuda = B.get_array_module(a) is not np
        names = _CUDA_NAMES if cuda else _NAMES
        dtype = np.dtype(np.uint8) if a.dtype == np.bool_ else a.dtype
        if dtype not in names:
            raise T7Error(f"cannot write an array of dtype {a.dtype}")
        return names[dtype]

    def tensor(self, a):
        typ = self._type_name(a)
        if not self._header(a, f"torch.{typ}Tensor"):
            return
        if a.size == 0:
            self.int(0)
            self.longs([])
            self.longs([])
            self.long(1)
            self.int(TYPE_NIL)
            return
        key, flat, offset, strides = B.storage_of(a)
        if any(s < 0 for s in strides):
            a = a.copy()
            key, flat, offset, strides = B.storage_of(a)
        self.int(a.ndim)
        self.longs(a.shape)
        self.longs(strides)
        self.long(offset + 1)
        self.storage(key, flat, typ)

    def storage(self, key, flat, typ):
        self.int(TYPE_TORCH)
        if key in self.storages:
            self.int(self.storages[key])
            return
        index = self.next_index
        self.next_index += 1
        self.storages[key] = index
        self.keep.append(flat)
        self.int(index)
        self.string("V 1")
        self.string(f"torch.{typ}Storage")
        data = B.to_numpy(flat)
        if data.dtype == np.bool_:
            data = data.astype(np.uint8)
        self.long(data.size)
        if self.ascii:
            if data.dtype.itemsize == 1:  # Byte and Char storages are raw bytes, as strings
                self.out.append(data.tobytes() + b"\n")
            elif data.dtype.kind in "iu":
                self.out.append((" ".join(str(int(v)) for v in data) + "\n").encode())
            else:
                self.out.append((" ".join(f"{float(v):.17g}" for v in data) + "\n").encode())
        else:
            data = np.ascontiguousarray(data)
            if data.dtype.byteorder == ">" or (
                data.dtype.byteorder == "=" and sys.byteorder == "big"
            ):
                data = data.astype(data.dtype.newbyteorder("<"))
            self.out.append(memoryview(data).cast("B"))  # no copy of the tensor

    def storage_object(self, arr, typ):
        """A plain 1-D array written as a Storage (e.g. View.size as a LongStorage)."""
        a = np.ascontiguousarray(np.asarray(arr, dtype=_TYPES[typ][0]))
        self.storage(("fresh", id(a)), a, typ)

    def module(self, obj):
        cls = "nn." + type(obj).__name__
        if not self._header(obj, cls):
            return
        fields = _fields_for_lua(obj)
        self.int(TYPE_TABLE)
        self.int(self._new_index(fields))
        items = [(k, v) for k, v in fields.items() if v is not None]
        self.int(len(items))
        self.depth += 1  # the fields table is one level, as the reader counts it
        self.path.append(f"<{cls}>")
        try:
            for k, v in items:
                self.path.append(f".{k}")
                self.object(k)
                if isinstance(v, LuaStorage):
                    self.storage_object(v.values, v.typ)
                else:
                    self.object(v)
                self.path.pop()
        finally:
            self.depth -= 1
            self.path.pop()


class LuaStorage:
    """Values to write as a Torch storage (``torch.LongStorage``, ``torch.DoubleStorage``)
    rather than a tensor, for fields Lua keeps as storages (View's size, MultiCriterion's
    weights)."""

    def __init__(self, values, typ: str = "Long"):
        self.values = list(values)
        self.typ = typ


def _fields_for_lua(obj):
    """The module's fields as Lua's nn expects them."""
    fields = {}
    for k, v in obj.__dict__.items():
        if k.startswith("_") and k != "_type":
            continue
        fields[k] = v
    if "indices" in dir(type(obj)) and getattr(obj, "indices", None) is not None:
        fields["indices"] = obj.indices
    if type(obj).__name__ in ("View", "Reshape") and isinstance(fields.get("size"), list):
        fields["size"] = LuaStorage(fields["size"])
    hook = getattr(type(obj), "_lua_fields", None)
    if hook is not None:
        # a class's own fix-ups of what Lua needs (a storage, a field Python keeps
        # private), the writing counterpart of _after_load
        fields = hook(obj, fields)
    return fields


def long_storage(values):
    """Mark a list of ints to be written as a torch.LongStorage (for ``_lua_fields``)."""
    return LuaStorage(values, "Long")


def dumps(obj, format: str = "binary") -> bytes:  # noqa: A002 - torch.save's name
    if format not in ("binary", "ascii"):
        raise ValueError(f"format must be 'binary' or 'ascii', got {format!r}")
    w = _Writer(format == "ascii")
    with _deep_recursion():
        w.object(obj)
    return b"".join(w.out)


def save(path, obj, format: str = "binary") -> None:  # noqa: A002
    """Write ``obj`` as Torch7 serialization (``torch.save``).

    What it guarantees: the file is written atomically (a temporary file beside it,
    then a rename), so a failed save leaves the old file as it was and no temporary
    behind; tensors are streamed to the file, not first built in memory; a symbolic
    link is written through to its target; an existing file keeps its permission bits
    (a new one gets the umask's); a value Torch7 files cannot hold (a Python object, a
    function) raises a :class:`T7Error` naming its place in ``obj``, as Lua's
    ``torch.save`` raises, instead of being dropped; values nested deeper than
    ``MAX_DEPTH`` are refused, the same limit as :func:`load`. A hard link to the old
    file keeps the old contents (the rename replaces the name, not the inode).
    """
    if format not in ("binary", "ascii"):
        raise ValueError(f"format must be 'binary' or 'ascii', got {format!r}")

    def write(tmp):
        with open(tmp, "wb") as f:
            w = _Writer(format == "ascii", _Sink(f))
            with _deep_recursion():
                w.object(obj)
            f.flush()
            os.fsync(f.fileno())

    B.atomic_write(path, write)
