"""Torch tensor types mapped onto NumPy and CuPy arrays.

This is the only file that imports cupy. Everything else asks it for an array
module (``xp``) and a dtype by Torch type name, so module code has no
``if cuda`` branches.

| Torch type              | array                    |
|-------------------------|--------------------------|
| torch.DoubleTensor      | numpy.float64 (default)  |
| torch.FloatTensor       | numpy.float32            |
| torch.CudaTensor        | cupy.float32             |
| torch.CudaDoubleTensor  | cupy.float64             |
"""

from __future__ import annotations

import numpy as np

_TYPES = {
    "torch.DoubleTensor": (False, np.float64),
    "torch.FloatTensor": (False, np.float32),
    "torch.CudaTensor": (True, np.float32),
    "torch.CudaDoubleTensor": (True, np.float64),
}

_default_type = "torch.DoubleTensor"
_cupy = None
_cupy_error: str | None = None
_cpu_rng = np.random.Generator(np.random.MT19937(0))


class CudaUnavailableError(RuntimeError):
    """Raised when a Cuda tensor type is asked for and no CuPy/GPU is there."""


def _load_cupy():
    global _cupy, _cupy_error
    if _cupy is not None or _cupy_error is not None:
        return _cupy
    try:
        import cupy  # noqa: PLC0415 - the one place cupy is imported

        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no CUDA device found")
        _cupy = cupy
    except Exception as e:  # ImportError, CUDA driver errors
        _cupy_error = f"{type(e).__name__}: {e}"
    return _cupy


def has_cuda() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    return _load_cupy() is not None


def cupy_module():
    """The cupy module, or a clear error saying how to get one."""
    cp = _load_cupy()
    if cp is None:
        raise CudaUnavailableError(
            "torch.CudaTensor needs CuPy and an NVIDIA GPU, and none is usable here "
            f"({_cupy_error}). Install nnlegacy[cuda12] or nnlegacy[cuda13] on a machine "
            "with a GPU, or stay on torch.FloatTensor / torch.DoubleTensor."
        )
    return cp


def check_type_name(name: str) -> str:
    if name not in _TYPES:
        raise ValueError(
            f"unknown tensor type {name!r}; expected one of {', '.join(sorted(_TYPES))}"
        )
    return name


def xp_dtype(name: str):
    """(array module, dtype) for a Torch type name."""
    on_gpu, dtype = _TYPES[check_type_name(name)]
    return (cupy_module() if on_gpu else np), np.dtype(dtype)


def is_cuda_type(name: str) -> bool:
    return _TYPES[check_type_name(name)][0]


def is_array(x) -> bool:
    if isinstance(x, np.ndarray):
        return True
    return _cupy is not None and isinstance(x, _cupy.ndarray)


def get_array_module(x):
    if _cupy is not None and isinstance(x, _cupy.ndarray):
        return _cupy
    return np


_TYPE_NAMES = {  # built once: type_of runs on every forward and backward
    np.dtype(np.float64): "DoubleTensor",
    np.dtype(np.float32): "FloatTensor",
    np.dtype(np.float16): "HalfTensor",
    np.dtype(np.int64): "LongTensor",
    np.dtype(np.int32): "IntTensor",
    np.dtype(np.int16): "ShortTensor",
    np.dtype(np.int8): "CharTensor",
    np.dtype(np.uint8): "ByteTensor",
}


def type_of(x) -> str:
    """The Torch type name of an array, e.g. 'torch.FloatTensor', or a description."""
    if isinstance(x, np.ndarray):
        prefix = "torch."
    elif _cupy is not None and isinstance(x, _cupy.ndarray):
        prefix = "torch.Cuda"
    else:
        return type(x).__name__
    name = _TYPE_NAMES.get(x.dtype) or f"Tensor[{x.dtype}]"
    if prefix == "torch.Cuda" and name == "FloatTensor":
        return "torch.CudaTensor"
    return prefix + name


def setdefaulttensortype(name: str) -> None:
    """As torch.setdefaulttensortype: the type new modules are built with."""
    global _default_type
    _default_type = check_type_name(name)


def getdefaulttensortype() -> str:
    return _default_type


def manualSeed(seed: int) -> None:  # noqa: N802 - Torch's name
    """Seed everything nnlegacy draws from: weight initialisation, dropout and every
    other stochastic module, on the CPU (:func:`generator`) and, if present, the GPU;
    and Torch's own generator (``nnlegacy.torchrandom``: shuffles, cmaes)."""
    global _cpu_rng
    _cpu_rng = np.random.Generator(np.random.MT19937(int(seed)))
    from . import torchrandom

    torchrandom.manualSeed(seed)
    if _load_cupy() is not None:
        _cupy.random.seed(int(seed))


def cpu_rng() -> np.random.Generator:
    return _cpu_rng


def generator() -> np.random.Generator:
    """The NumPy Generator nnlegacy draws from on the CPU, reseeded by :func:`manualSeed`.

    A ported ``torch.randn(3)`` is ``nnlegacy.generator().standard_normal(3)``: the same
    stream as the modules' initialisation and noise (MT19937 seeded with the seed), but
    not Torch's numbers, which come from other algorithms.
    """
    return _cpu_rng


def uniform_(arr, a: float = 0.0, b: float = 1.0):
    """Fill ``arr`` in place with U[a, b), as tensor:uniform(a, b)."""
    dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    vals = _cpu_rng.random(arr.shape, dtype=dtype)  # drawn in the array's own precision
    vals *= b - a
    vals += a
    if is_array(arr) and get_array_module(arr) is not np:
        arr[...] = _cupy.asarray(vals, dtype=arr.dtype)
    else:
        arr[...] = vals
    return arr


def bernoulli(xp, p: float, shape, dtype):
    """1 with probability p, else 0, on the array module xp."""
    if xp is np:
        return (_cpu_rng.random(shape) < p).astype(dtype)
    return (xp.random.random_sample(shape) < p).astype(dtype)


def index_add_(target, index, values):
    """``target[index] += values`` with repeated indices accumulated, in index order
    (``np.add.at``; ``cupyx.scatter_add`` on the GPU). ``index`` may be a tuple."""
    if get_array_module(target) is np:
        np.add.at(target, index, values)
    else:
        import cupyx

        cupyx.scatter_add(target, index, values)
    return target


def normal_(arr, mean: float = 0.0, std: float = 1.0):
    """Fill ``arr`` in place with N(mean, std^2), as tensor:normal(mean, std)."""
    vals = _cpu_rng.standard_normal(arr.shape) * std + mean
    if get_array_module(arr) is not np:
        arr[...] = _cupy.asarray(vals, dtype=arr.dtype)
    else:
        arr[...] = vals
    return arr


def to_numpy(x):
    """A NumPy copy (or the array itself) of a NumPy or CuPy array."""
    if isinstance(x, np.ndarray):
        return x
    if _cupy is not None and isinstance(x, _cupy.ndarray):
        return _cupy.asnumpy(x)
    return np.asarray(x)


def _np_root(a):
    # as_strided views hang off a DummyArray whose .base is the real array
    while True:
        b = a.base
        if isinstance(b, np.ndarray):
            a = b
        elif b is not None and isinstance(getattr(b, "base", None), np.ndarray):
            a = b.base
        else:
            return a


def storage_of(a):
    """(key, flat, offset, strides): the storage behind array ``a``.

    ``flat`` is the whole storage as a 1-D array in memory order, ``key`` identifies
    it (arrays with equal keys share memory), ``offset`` and ``strides`` are in
    elements. This is what Torch's storage/storageOffset/stride are, and what
    getParameters and type conversion use to keep shared arrays shared.
    """
    item = a.dtype.itemsize
    strides = tuple(s // item for s in a.strides)
    if isinstance(a, np.ndarray):
        root = _np_root(a)
        if not (root.flags.c_contiguous or root.flags.f_contiguous) or root.nbytes % item:
            # memory nnlegacy cannot see whole: the array is a storage of its own (a copy)
            flat = np.ascontiguousarray(a).reshape(-1)
            return ("copy", id(a)), flat, 0, _c_strides(a.shape)
        memory = (root if root.flags.c_contiguous else root.T).reshape(-1)
        flat = memory.view(np.uint8).view(a.dtype)  # in a's dtype, even for dtype views
        ptr = root.__array_interface__["data"][0]
        offset = (a.__array_interface__["data"][0] - ptr) // item if a.size else 0
        return ("np", id(root)), flat, offset, strides
    mem = a.data.mem
    n = mem.size // item
    flat = _cupy.ndarray((n,), a.dtype, memptr=_cupy.cuda.MemoryPointer(mem, 0))
    offset = (a.data.ptr - mem.ptr) // item
    return ("cp", mem.ptr), flat, offset, strides


def _c_strides(shape):
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= d
    return tuple(reversed(strides))


def view_key(a):
    """Identifies the memory an array views: equal keys, the same elements (tied weights)."""
    key, _, offset, strides = storage_of(a)
    return key, offset, tuple(a.shape), strides


def view_of(flat, offset: int, shape, strides):
    """A view into the 1-D ``flat`` at element ``offset`` with element ``strides``."""
    xp = get_array_module(flat)
    item = flat.dtype.itemsize
    shape = tuple(shape)
    n = 1
    for d in shape:
        n *= d
    if n == 0:
        return xp.empty(shape, flat.dtype)
    if tuple(strides) == _c_strides(shape):
        return flat[offset : offset + n].reshape(shape)
    return xp.lib.stride_tricks.as_strided(flat[offset:], shape, tuple(s * item for s in strides))


def convert(x, name: str, cache: dict | None = None):
    """Convert one array to Torch type ``name``, keeping storage sharing via ``cache``.

    Arrays sharing a storage stay views of one converted storage, so tied weights
    stay tied, as Torch's recursiveType does. Same-type arrays are returned as they
    are. Integer arrays (max-pooling indices) move device but keep their dtype.
    """
    xp, dtype = xp_dtype(name)
    if x.dtype.kind in "iub":
        dtype = x.dtype
    if get_array_module(x) is xp and x.dtype == dtype:
        return x
    return copy_array(x, xp, dtype, {} if cache is None else cache)


def copy_array(x, xp, dtype, cache: dict):
    """A copy of ``x`` on ``xp`` with ``dtype``; arrays sharing storage share the copy."""
    if id(x) in cache:
        return cache[id(x)][1]
    key, flat, offset, strides = storage_of(x)
    skey = (key, xp.__name__, str(dtype))
    if skey not in cache:
        cache[skey] = (flat, _move(flat, xp, dtype))
    new = view_of(cache[skey][1], offset, x.shape, strides)
    cache[id(x)] = (x, new)  # holding x keeps its id from being reused
    return new


def _move(x, xp, dtype):
    if xp is np:
        with np.errstate(over="ignore"):  # float64 -> float32 of huge values is inf, as in Torch
            return np.array(to_numpy(x), dtype=dtype, copy=True)
    return xp.array(x, dtype=dtype, copy=True)


def atomic_write(path, write):
    """Call ``write(tmp_path)``, then rename the temporary file onto ``path``.

    A symbolic link is followed: its target is replaced and the link stays. An existing
    file keeps its permission bits; a new one gets what an ordinary ``open`` gives it
    (mkstemp's are private). A failed write leaves ``path`` as it was and no temporary
    behind; temporaries left by a killed process (``kill -9``) are removed by the next
    save to the same folder. Errors name ``path``, never the temporary.
    """
    import os
    import stat
    import tempfile

    user_path = os.fspath(path)
    target = os.path.realpath(user_path)  # write through symlinks
    folder = os.path.dirname(target)
    base = os.path.basename(target)
    prefix = f".{base}.nnlegacy-"
    _remove_stale_temporaries(folder, prefix)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    except OSError as e:
        raise OSError(e.errno, f"cannot save to {user_path}: {e.strerror}") from None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{prefix}{os.getpid()}-", suffix=".tmp")
    except OSError as e:
        raise OSError(e.errno, f"cannot save to {user_path}: {e.strerror}") from None
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise OSError(e.errno, f"cannot save to {user_path}: {e.strerror or e}") from None
        raise


def _remove_stale_temporaries(folder, prefix):
    """Delete ``prefix<pid>-*.tmp`` files whose writing process no longer exists."""
    import os

    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid = name[len(prefix) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # still running: maybe saving right now
        except ProcessLookupError:
            pass
        except OSError:
            continue
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass
