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

import numpy as np

from . import backend as B
from .module import Criterion, Module

TYPE_NIL, TYPE_NUMBER, TYPE_STRING, TYPE_TABLE, TYPE_TORCH, TYPE_BOOLEAN = 0, 1, 2, 3, 4, 5
TYPE_FUNCTION, TYPE_RECUR_FUNCTION, LEGACY_TYPE_RECUR_FUNCTION = 6, 8, 7
MAX_DEPTH = 500

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


class _Storage:
    """A Torch storage as read: a flat array, and its Torch type name."""

    def __init__(self, array, typename):
        self.array, self.typename = array, typename


# --- reading -----------------------------------------------------------------------
class _Reader:
    def __init__(self, data: bytes, ascii_format: bool, cuda: bool):
        self.data, self.pos, self.ascii, self.cuda = data, 0, ascii_format, cuda
        self.memo = {}
        self.depth = 0

    def fail(self, msg, at=None):
        raise T7Error(f"{msg} (at byte offset {self.pos if at is None else at})")

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
            self.fail("a serialized Lua function; nnlegacy never runs code from a file", at)
        if kind == TYPE_TABLE:
            return self._table()
        if kind == TYPE_TORCH:
            return self._torch()
        self.fail(f"unknown object type {kind}", at)

    def _table(self):
        index = self.int()
        if index in self.memo:
            return self.memo[index]
        size = self.int()
        if size < 0 or size * (4 if self.ascii else 8) > self.remaining():
            self.fail(f"a table of {size} entries cannot fit in the {self.remaining()} bytes left")
        table = {}
        self.memo[index] = table
        for _ in range(size):
            k = self.object()
            v = self.object()
            if k is None:
                self.fail("a table key is nil")
            try:
                table[k] = v
            except TypeError:
                self.fail(f"a table key of type {type(k).__name__} is not supported")
        n = len(table)
        if n and all(isinstance(k, int) for k in table) and set(table) == set(range(1, n + 1)):
            as_list = [table[i] for i in range(1, n + 1)]
            if not any(v is table for v in as_list):
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
            self.fail(f"class {cls!r} is not supported by nnlegacy", at)
        obj = target.__new__(target)
        self.memo[index] = obj
        fields = self.object()
        if isinstance(fields, list) and not fields:
            fields = {}
        if not isinstance(fields, dict):
            self.fail(f"the fields of {cls} are not a table", at)
        try:
            if cls.startswith("optim."):
                _restore_plain(obj, fields)
            else:
                _restore(obj, fields)
        except T7Error:
            raise
        except Exception as e:
            self.fail(f"{cls}: cannot restore its fields: {e}", at)
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
        return B.view_of(flat, offset, sizes, strides)


def _is_ascii(data: bytes) -> bool:
    if len(data) >= 4 and struct.unpack_from("<i", data, 0)[0] in range(0, 9):
        return False
    return re.match(rb"\s*-?\d+\s", data[:32]) is not None


def loads(data: bytes, force_cpu: bool = False):
    """Deserialize Torch7 bytes (binary or ASCII)."""
    reader = _Reader(bytes(data), _is_ascii(data), cuda=not force_cpu and B.has_cuda())
    try:
        return reader.object()
    except T7Error:
        raise
    except RecursionError:
        raise T7Error(f"objects nested too deeply (at byte offset {reader.pos})") from None
    except Exception as e:  # anything else a corrupt file provokes
        raise T7Error(f"corrupt file: {type(e).__name__}: {e} (at byte offset {reader.pos})") from e


def load(path, force_cpu: bool = False):
    """Read a ``.t7`` file written by Lua Torch (or by :func:`save`).

    Cuda tensors become CuPy arrays when a GPU is there, else NumPy arrays of the same
    precision (``force_cpu=True`` asks for NumPy always); modules holding them then
    have type torch.FloatTensor / torch.DoubleTensor.
    """
    with open(path, "rb") as f:
        return loads(f.read(), force_cpu)


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


class _Writer:
    def __init__(self, ascii_format: bool):
        self.ascii = ascii_format
        self.out = []
        self.memo = {}  # id(python object) -> index
        self.storages = {}  # storage key -> (index, flat, torch type)
        self.keep = []  # objects whose ids are in memo
        self.next_index = 1

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
        elif isinstance(obj, (list, tuple, dict)):
            self.table(obj)
        else:
            raise T7Error(f"cannot write an object of type {type(obj).__name__}")

    def table(self, obj):
        self.int(TYPE_TABLE)
        if id(obj) in self.memo:
            self.int(self.memo[id(obj)])
            return
        self.int(self._new_index(obj))
        items = list(enumerate(obj, 1)) if isinstance(obj, (list, tuple)) else list(obj.items())
        items = [(k, v) for k, v in items if v is not None and _writable(v)]
        self.int(len(items))
        for k, v in items:
            self.object(k)
            self.object(v)

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
            self.out.append(
                np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<")).tobytes()
            )

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
        items = [(k, v) for k, v in fields.items() if v is not None and _writable(v)]
        self.int(len(items))
        for k, v in items:
            self.object(k)
            if isinstance(v, _LongStorage):
                self.storage_object(v.values, "Long")
            else:
                self.object(v)


class _LongStorage:
    def __init__(self, values):
        self.values = list(values)


def _writable(v):
    if v is None or isinstance(v, (bool, int, float, str, np.integer, np.floating, np.bool_)):
        return True
    if B.is_array(v) or isinstance(v, (Module, Criterion, _LongStorage)):
        return True
    if isinstance(v, (list, tuple)):
        return all(_writable(x) for x in v)
    if isinstance(v, dict):
        return all(_writable(x) for x in v.values())
    return False


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
        fields["size"] = _LongStorage(fields["size"])
    return fields


def dumps(obj, format: str = "binary") -> bytes:  # noqa: A002 - torch.save's name
    if format not in ("binary", "ascii"):
        raise ValueError(f"format must be 'binary' or 'ascii', got {format!r}")
    w = _Writer(format == "ascii")
    w.object(obj)
    return b"".join(w.out)


def save(path, obj, format: str = "binary") -> None:  # noqa: A002
    """Write ``obj`` as Torch7 serialization, atomically: a failed save loses nothing."""
    data = dumps(obj, format)

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    B.atomic_write(path, write)
