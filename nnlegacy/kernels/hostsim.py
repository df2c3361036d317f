"""Run the CUDA kernels of ``cuda.py``/``cuda_norm.py`` on the CPU: their source compiled as
C++ with a small host harness, loaded with ctypes. Used by the tests (no GPU needed).

The harness defines what the kernels use: ``blockIdx``/``threadIdx``/``blockDim``/``gridDim``
(``unsigned int`` fields, as CUDA's), ``__global__``/``__device__``/``__shared__``, the
``min``/``max`` overloads, the bit-cast intrinsics, and ``__syncthreads()``. A launch loops
over the blocks and, within a block, over the threads; a kernel that calls
``__syncthreads`` runs its threads as cooperative fibers (``ucontext``), each up to the next
barrier in turn, and a barrier that some threads of a block never reach is an error.
Every kernel ``name`` of the source gets a C launcher; :class:`HostFunction` calls it with
CuPy's RawKernel convention ``f(grid, block, args)``, so ``cuda.py``'s own wrappers run
unchanged under :func:`simulate`.

Three builds of the same source:

- ``plain``: the source as it is (``-fwrapv``: signed overflow wraps, as on the GPU);
- ``checked``: every pointer declaration ``T* p`` becomes a bounds-checked ``nnl_ptr<T>``
  that logs each global-memory access (thread, argument, index, value) and never touches
  memory out of range; arrays may be *virtual* (:class:`Virtual`: a size, no memory; reads
  give a fixed function of the index), so sizes near the 32-bit limit cost nothing;
- ``wide``: ``checked`` with every ``int`` of the source made 64-bit. Its log is the exact
  arithmetic: where the ``checked`` log of the same threads differs, an ``int`` overflowed.

Compiled libraries are cached in ``$NNLEGACY_HOSTSIM_CACHE`` (default: the user's cache
folder, else the temporary folder), keyed by a hash of the source and the flags.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

CTYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
FLAGS = ["-O1", "-std=c++14", "-shared", "-fPIC", "-fwrapv", "-w"]
MAX_THREADS = 1024

SHIM = r"""
#include <math.h>
#include <string.h>
#include <stdint.h>
#include <limits.h>
#include <ucontext.h>
#include <functional>
#include <type_traits>
#include <vector>

struct nnl_uint3 { unsigned int x, y, z; };
static nnl_uint3 blockIdx = {0, 0, 0}, threadIdx = {0, 0, 0};
static nnl_uint3 blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __shared__ static
template <class A, class B> static inline typename std::common_type<A, B>::type
min(A a, B b) { return b < a ? b : a; }
template <class A, class B> static inline typename std::common_type<A, B>::type
max(A a, B b) { return a < b ? b : a; }
static inline float __int_as_float(unsigned int v) { float f; memcpy(&f, &v, 4); return f; }
static inline int __float_as_int(float v) { int i; memcpy(&i, &v, 4); return i; }
static inline double __longlong_as_double(unsigned long long v) {
  double f; memcpy(&f, &v, 8); return f;
}
static inline float rsqrt(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
typedef int nnl_i32;
typedef long long nnl_wide;

/* ---- the access log of the checked builds ---- */
static std::vector<long long> nnl_rec;  /* per access: thread, argument, index, kind (1 r, 2 w) */
static std::vector<double> nnl_val;
static long long nnl_bad = 0;
static long long nnl_bad_rec[3 * 16];
static int nnl_mask = 0;
static inline long long nnl_thread() {
  return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}
static inline void nnl_log(int buf, long long i, int kind, double v) {
  if (buf < 0 || !(nnl_mask & kind)) return;
  long long r[4] = {nnl_thread(), buf, i, kind};
  nnl_rec.insert(nnl_rec.end(), r, r + 4);
  nnl_val.push_back(v);
}
static inline bool nnl_check(int buf, long long size, long long i) {
  if (i >= 0 && i < size) return true;
  if (nnl_bad < 16) {
    nnl_bad_rec[3 * nnl_bad] = nnl_thread();
    nnl_bad_rec[3 * nnl_bad + 1] = buf;
    nnl_bad_rec[3 * nnl_bad + 2] = i;
  }
  ++nnl_bad;
  return false;
}
/* what a virtual array holds: a fixed function of (argument, index), exact in float */
static inline double nnl_virtual(int buf, long long i) {
  unsigned long long h = (unsigned long long)i * 2654435761ULL + (unsigned long long)buf * 97ULL;
  return (double)((h >> 7) % 2048) / 64.0 - 16.0;
}

template <class V> struct nnl_ptr {
  typedef typename std::remove_const<V>::type E;
  int buf; long long size, off; E* data;
  nnl_ptr() : buf(-1), size(LLONG_MAX), off(0), data(0) {}
  nnl_ptr(int b, long long s, long long o, E* d) : buf(b), size(s), off(o), data(d) {}
  nnl_ptr(V* p) : buf(-1), size(LLONG_MAX), off(0), data((E*)p) {}  /* shared/local memory */
  template <class W> nnl_ptr(const nnl_ptr<W>& o) : buf(o.buf), size(o.size), off(o.off),
                                                   data((E*)o.data) {}
  E get(long long i) const {
    long long k = off + i;
    if (buf < 0) return data[k];
    if (!nnl_check(buf, size, k)) return (E)0;
    E v = data ? data[k] : (E)nnl_virtual(buf, k);
    nnl_log(buf, k, 1, (double)v);
    return v;
  }
  void put(long long i, E v) const {
    long long k = off + i;
    if (buf < 0) { data[k] = v; return; }
    if (!nnl_check(buf, size, k)) return;
    if (data) data[k] = v;
    nnl_log(buf, k, 2, (double)v);
  }
  struct ref {
    nnl_ptr p; long long i;
    operator E() const { return p.get(i); }
    const ref& operator=(E v) const { p.put(i, v); return *this; }
    const ref& operator=(const ref& o) const { p.put(i, (E)o); return *this; }
    const ref& operator+=(E v) const { p.put(i, p.get(i) + v); return *this; }
    const ref& operator-=(E v) const { p.put(i, p.get(i) - v); return *this; }
    const ref& operator*=(E v) const { p.put(i, p.get(i) * v); return *this; }
    const ref& operator/=(E v) const { p.put(i, p.get(i) / v); return *this; }
  };
  ref operator[](long long i) const { return ref{*this, i}; }
  ref operator*() const { return ref{*this, 0}; }
  nnl_ptr operator+(long long k) const { return nnl_ptr(buf, size, off + k, data); }
  nnl_ptr operator-(long long k) const { return nnl_ptr(buf, size, off - k, data); }
};
template <class V> static inline nnl_ptr<V> nnl_arg(int buf, long long size, void* data) {
  return nnl_ptr<V>(buf, size, 0, (typename nnl_ptr<V>::E*)data);
}

/* ---- launching: blocks in turn; the threads of a block in turn, or as fibers ---- */
static std::function<void()>* nnl_body = 0;
static ucontext_t nnl_main_ctx;
static ucontext_t nnl_fiber[1024];
static char* nnl_stacks = 0;
static int nnl_state[1024];  /* 0 runnable, 1 at a barrier, 2 finished */
static unsigned nnl_cur = 0;
static int nnl_fibers_on = 0;
static int nnl_error = 0;    /* 1 barrier not reached by all threads, 2 barrier outside fibers */
enum { NNL_STACK = 1 << 16 };

static void __syncthreads() {
  if (!nnl_fibers_on) { nnl_error = 2; return; }
  nnl_state[nnl_cur] = 1;
  swapcontext(&nnl_fiber[nnl_cur], &nnl_main_ctx);
}
static void nnl_fiber_entry() { (*nnl_body)(); nnl_state[nnl_cur] = 2; }

static void nnl_run_block_fibers(unsigned bx) {
  if (!nnl_stacks) nnl_stacks = (char*)malloc((size_t)NNL_STACK * 1024);
  for (unsigned t = 0; t < bx; ++t) {
    getcontext(&nnl_fiber[t]);
    nnl_fiber[t].uc_stack.ss_sp = nnl_stacks + (size_t)NNL_STACK * t;
    nnl_fiber[t].uc_stack.ss_size = NNL_STACK;
    nnl_fiber[t].uc_link = &nnl_main_ctx;
    makecontext(&nnl_fiber[t], nnl_fiber_entry, 0);
    nnl_state[t] = 0;
  }
  nnl_fibers_on = 1;
  for (;;) {
    for (unsigned t = 0; t < bx; ++t) {
      if (nnl_state[t] == 2) continue;
      nnl_cur = t; threadIdx.x = t; nnl_state[t] = 0;
      swapcontext(&nnl_main_ctx, &nnl_fiber[t]);
    }
    int done = 0, waiting = 0;
    for (unsigned t = 0; t < bx; ++t) { done += nnl_state[t] == 2; waiting += nnl_state[t] == 1; }
    if (done == (int)bx) break;
    if (done) { nnl_error = 1; break; }  /* some threads left, others wait at a barrier */
  }
  nnl_fibers_on = 0;
}

static int nnl_run(unsigned gx, unsigned bx, const long long* ids, long long nids,
                   std::function<void()> body, int fibers) {
  nnl_error = 0; nnl_body = &body;
  gridDim.x = gx; gridDim.y = gridDim.z = 1; blockDim.x = bx; blockDim.y = blockDim.z = 1;
  blockIdx.y = blockIdx.z = threadIdx.y = threadIdx.z = 0;
  long long count = ids ? nids : (long long)gx;
  for (long long k = 0; k < count && !nnl_error; ++k) {
    if (fibers) {               /* ids, if given, name blocks */
      blockIdx.x = (unsigned)(ids ? ids[k] : k);
      nnl_run_block_fibers(bx);
    } else if (ids) {           /* ids name global thread indices */
      blockIdx.x = (unsigned)(ids[k] / bx); threadIdx.x = (unsigned)(ids[k] % bx);
      body();
    } else {
      blockIdx.x = (unsigned)k;
      for (unsigned t = 0; t < bx; ++t) { threadIdx.x = t; body(); }
    }
  }
  return nnl_error;
}

extern "C" void nnl_set_log(int mask) {
  nnl_rec.clear(); nnl_val.clear(); nnl_mask = mask; nnl_bad = 0;
}
extern "C" long long nnl_log_count() { return (long long)nnl_val.size(); }
extern "C" void nnl_log_copy(long long* rec, double* val) {
  if (!nnl_val.empty()) {
    memcpy(rec, nnl_rec.data(), nnl_rec.size() * sizeof(long long));
    memcpy(val, nnl_val.data(), nnl_val.size() * sizeof(double));
  }
}
extern "C" long long nnl_bad_count(long long* out) {
  memcpy(out, nnl_bad_rec, sizeof(nnl_bad_rec)); return nnl_bad;
}
"""

_KERNEL = re.compile(r"__global__\s+void\s+(\w+)\s*\(([^)]*)\)\s*\{")
_POINTER = re.compile(
    r"(\bconst\s+)?\b(T|int|float|double|long\s+long|unsigned\s+int|unsigned)\s*\*\s*(?=\w)"
)
_INT = re.compile(r"(?<!unsigned )\bint\b")


def compiler() -> str | None:
    """The C++ compiler the harness uses (``$CXX``, else g++), or None."""
    cxx = os.environ.get("CXX") or "g++"
    return shutil.which(cxx)


def skip_reason() -> str | None:
    """Why the harness cannot run here, or None when it can."""
    if compiler() is None:
        return "the host kernel harness needs a C++ compiler (g++, or $CXX); none found"
    if os.name != "posix":
        return "the host kernel harness needs a POSIX system (ucontext fibers)"
    return None


def sources():
    """Every CUDA source nnlegacy launches (the kernels are looked up by name in them)."""
    from . import cuda, cuda_norm

    return (cuda.SOURCE, cuda_norm.SOURCE)


def _cache_dir() -> Path:
    env = os.environ.get("NNLEGACY_HOSTSIM_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base, "nnlegacy", "hostsim")
    try:
        path.mkdir(parents=True, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    return Path(tempfile.gettempdir(), f"nnlegacy-hostsim-{os.getuid()}")


# --- turning the source into C++ ------------------------------------------------------------
def _split_params(text):
    return [p.strip() for p in text.split(",") if p.strip()]


def _param(decl):
    """(type, name) of one parameter declaration."""
    m = re.match(r"(.*?)(\w+)\s*$", decl, re.S)
    return " ".join(m.group(1).split()), m.group(2)


def _checked_source(source, wide):
    def pointer(m):
        const, base = m.group(1) or "", " ".join(m.group(2).split())
        base = {"int": "nnl_i32", "unsigned": "unsigned int"}.get(base, base)
        return f"nnl_ptr<{const}{base}> "

    out = _POINTER.sub(pointer, source)
    if wide:
        out = _INT.sub("nnl_wide", out)
    return out


def _launcher(name, params, body_text, checked):
    """A C launcher for one kernel: ``nnl_launch_<name>(grid, block, ids, nids, args...)``."""
    c_params, call = [], []
    for ptype, pname in params:
        if ptype.startswith("nnl_ptr<"):
            inner = ptype[len("nnl_ptr<") : -1]
            c_params += [f"int {pname}_buf", f"long long {pname}_size", f"void* {pname}_data"]
            call.append(f"nnl_arg<{inner}>({pname}_buf, {pname}_size, {pname}_data)")
        else:
            c_params.append(f"{ptype} {pname}")
            call.append(pname)
    fibers = int("__syncthreads" in body_text)
    head = ", ".join(["unsigned gx", "unsigned bx", "const long long* ids", "long long nids"])
    sig = ", ".join([head, *c_params])
    return (
        f'extern "C" int nnl_launch_{name}({sig}) {{\n'
        f"  return nnl_run(gx, bx, ids, nids, [&]() {{ {name}({', '.join(call)}); }}, {fibers});\n"
        "}\n"
    )


_DEVICE = re.compile(r"__device__[^;{(]*?\b(\w+)\s*\(([^)]*)\)\s*\{")


def _body(source, start):
    depth, i = 1, start
    while depth and i < len(source):
        depth += {"{": 1, "}": -1}.get(source[i], 0)
        i += 1
    return source[start:i]


def _kernel_bodies(source):
    """{name: (parameter list, body text)} for every ``__global__`` kernel of ``source``;
    the body text ends with ``__syncthreads`` when the kernel reaches a barrier, directly
    or through the ``__device__`` functions it calls."""
    barrier = set()
    helpers = {m.group(1): _body(source, m.end()) for m in _DEVICE.finditer(source)}
    changed = True
    while changed:  # functions that reach a barrier, to a fixed point
        changed = False
        for name, body in helpers.items():
            calls = "__syncthreads" in body or any(re.search(rf"\b{b}\s*\(", body) for b in barrier)
            if calls and name not in barrier:
                barrier.add(name)
                changed = True
    found = {}
    for m in _KERNEL.finditer(source):
        body = _body(source, m.end())
        if any(re.search(rf"\b{b}\s*\(", body) for b in barrier):
            body += "\n/* reaches __syncthreads */"
        found[m.group(1)] = ([_param(p) for p in _split_params(m.group(2))], body)
    return found


def cxx_source(kernel_sources, ctype, mode="plain"):
    """The whole C++ translation unit for one element type and build mode."""
    if mode not in ("plain", "checked", "wide"):
        raise ValueError(f"hostsim: unknown build mode {mode!r}")
    from . import cuda

    parts, launchers = [SHIM, cuda.prelude(ctype)], []
    for src in kernel_sources:
        text = src if mode == "plain" else _checked_source(src, mode == "wide")
        parts.append(text)
        for name, (params, body) in _kernel_bodies(text).items():
            launchers.append(_launcher(name, params, body, mode != "plain"))
    return "\n".join(parts + launchers)


# --- building and loading --------------------------------------------------------------------
_libraries: dict = {}


class HostLibrary:
    """One compiled build: every kernel of ``kernel_sources`` for one dtype and mode."""

    def __init__(self, dtype, mode="plain", kernel_sources=None):
        reason = skip_reason()
        if reason:
            raise RuntimeError(reason)
        self.dtype = np.dtype(dtype)
        self.ctype = CTYPE[self.dtype]
        self.mode = mode
        self.sources = tuple(kernel_sources or sources())
        text = cxx_source(self.sources, self.ctype, mode)
        self.kernels = {}
        for src in self.sources:
            body = src if mode == "plain" else _checked_source(src, mode == "wide")
            for name, (params, _) in _kernel_bodies(body).items():
                self.kernels[name] = params
        key = hashlib.sha256((text + " ".join(FLAGS)).encode()).hexdigest()[:20]
        folder = _cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        so = folder / f"kernels-{self.ctype}-{mode}-{key}.so"
        if not so.exists():
            _build(text, so)
        self.lib = ctypes.CDLL(str(so))
        self.lib.nnl_set_log.argtypes = [ctypes.c_int]
        self.lib.nnl_log_copy.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self.lib.nnl_log_count.restype = ctypes.c_longlong
        self.lib.nnl_bad_count.restype = ctypes.c_longlong
        self.lib.nnl_bad_count.argtypes = [ctypes.c_void_p]

    def function(self, name) -> HostFunction:
        if name not in self.kernels:
            raise KeyError(
                f"hostsim: no kernel {name!r} in the sources; there are {sorted(self.kernels)}"
            )
        return HostFunction(self, name, self.kernels[name])


def _build(text, so):
    tmp_dir = Path(tempfile.mkdtemp(prefix=".build-", dir=so.parent))
    try:
        src = tmp_dir / "kernels.cpp"
        src.write_text(text)
        out = tmp_dir / "kernels.so"
        done = subprocess.run(
            [compiler(), *FLAGS, "-o", str(out), str(src)], capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(
                f"hostsim: the kernels do not compile as C++:\n{done.stderr[-4000:]}"
            )
        os.replace(out, so)  # atomic: a parallel build of the same key is harmless
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def library(dtype, mode="plain", kernel_sources=None) -> HostLibrary:
    """The compiled build for ``dtype`` and ``mode`` (cached for the process)."""
    srcs = tuple(kernel_sources or sources())
    key = (np.dtype(dtype), mode, hashlib.sha256("".join(srcs).encode()).hexdigest())
    if key not in _libraries:
        _libraries[key] = HostLibrary(dtype, mode, srcs)
    return _libraries[key]


class Virtual:
    """A device array with a shape and a dtype but no memory (checked builds only)."""

    def __init__(self, shape, dtype):
        self.shape = tuple(int(s) for s in (shape if isinstance(shape, tuple) else (shape,)))
        self.dtype = np.dtype(dtype)
        self.size = int(np.prod(self.shape, dtype=object)) if self.shape else 1
        self.ndim = len(self.shape)

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], tuple) else shape
        if -1 in shape:
            known = int(np.prod([s for s in shape if s != -1], dtype=object))
            shape = tuple(self.size // known if s == -1 else s for s in shape)
        return Virtual(tuple(shape), self.dtype)

    def astype(self, dtype, copy=True):
        return Virtual(self.shape, dtype)

    @property
    def flags(self):
        return type("flags", (), {"c_contiguous": True})()

    def __repr__(self):
        return f"Virtual({self.shape}, {self.dtype})"


class Launch:
    """What one launch did: the kernel, its grid and, in the checked builds, the log."""

    def __init__(self, name, grid, block, sizes):
        self.name, self.grid, self.block, self.sizes = name, grid, block, sizes
        self.log = np.zeros((0, 4), np.int64)
        self.values = np.zeros(0)
        self.violations = []

    def __repr__(self):
        return f"Launch({self.name}, grid={self.grid}, block={self.block})"


class HostFunction:
    """One kernel, called as CuPy calls a RawKernel: ``f(grid, block, args)``.

    ``threads`` (checked builds) runs only those global thread indices, or for a kernel
    with barriers those blocks; ``log`` is a bit mask of what to record (1 reads, 2 writes).
    """

    def __init__(self, lib: HostLibrary, name, params):
        self.lib, self.name, self.params = lib, name, params
        self.fn = getattr(lib.lib, f"nnl_launch_{name}")
        self.fn.restype = ctypes.c_int

    def _scalar(self, ptype, value, index):
        if isinstance(value, (np.ndarray, Virtual)):
            raise TypeError(f"hostsim {self.name}: argument {index + 1} ({ptype}) got an array")
        if ptype in ("int", "unsigned int", "unsigned", "nnl_i32"):
            v = int(value)
            if not -(2**31) <= v < 2**32:
                raise OverflowError(
                    f"hostsim {self.name}: argument {index + 1} = {v} is not 32-bit"
                )
            return ctypes.c_int(v) if ptype in ("int", "nnl_i32") else ctypes.c_uint(v)
        if ptype in ("long long", "nnl_wide"):
            return ctypes.c_longlong(int(value))
        t = self.lib.ctype if ptype == "T" else ptype
        if t == "float":
            if isinstance(value, np.generic) and value.dtype != np.float32 and ptype == "T":
                raise TypeError(f"hostsim {self.name}: argument {index + 1} must be {t}")
            return ctypes.c_float(float(value))
        if t == "double":
            return ctypes.c_double(float(value))
        raise TypeError(f"hostsim {self.name}: parameter type {ptype!r} is not supported")

    def _element_dtype(self, ptype):
        base = re.sub(r"^nnl_ptr<|>$|const|\*", "", ptype).strip()
        return {
            "T": self.lib.dtype,
            "int": np.dtype(np.int32),
            "nnl_i32": np.dtype(np.int32),
            "float": np.dtype(np.float32),
            "double": np.dtype(np.float64),
            "long long": np.dtype(np.int64),
        }.get(base)

    def __call__(self, grid, block, args, threads=None, log=0):
        grid, block = _dims(grid), _dims(block)
        if grid[1:] != (1, 1) or block[1:] != (1, 1):
            raise ValueError(f"hostsim {self.name}: only 1-D grids and blocks ({grid}, {block})")
        if not 0 < block[0] <= MAX_THREADS:
            raise ValueError(f"hostsim {self.name}: block of {block[0]} threads")
        if len(args) != len(self.params):
            raise TypeError(
                f"hostsim {self.name}: {len(self.params)} arguments expected, got {len(args)}"
            )
        checked = self.lib.mode != "plain"
        cargs, keep, sizes = [], [], []
        for i, ((ptype, _), a) in enumerate(zip(self.params, args)):
            if ptype.startswith("nnl_ptr<") or ptype.endswith("*"):
                want = self._element_dtype(ptype)
                if want is not None and a.dtype != want:
                    raise TypeError(
                        f"hostsim {self.name}: argument {i + 1} ({ptype}) needs {want}, "
                        f"got {a.dtype}"
                    )
                sizes.append(a.size)
                if isinstance(a, Virtual):
                    if not checked:
                        raise TypeError("hostsim: virtual arrays need a checked build")
                    data = None
                else:
                    if not a.flags.c_contiguous:
                        raise ValueError(f"hostsim {self.name}: argument {i + 1} not contiguous")
                    data = ctypes.c_void_p(a.ctypes.data)
                    keep.append(a)
                if checked:
                    cargs += [ctypes.c_int(i), ctypes.c_longlong(a.size), data]
                else:
                    cargs.append(data)
            else:
                cargs.append(self._scalar(ptype, a, i))
        ids = None
        if threads is not None:
            ids = np.ascontiguousarray(np.asarray(threads, np.int64))
        if checked:
            self.lib.lib.nnl_set_log(log)
        err = self.fn(
            ctypes.c_uint(grid[0]),
            ctypes.c_uint(block[0]),
            None if ids is None else ctypes.c_void_p(ids.ctypes.data),
            ctypes.c_longlong(0 if ids is None else ids.size),
            *cargs,
        )
        if err == 1:
            raise RuntimeError(f"hostsim {self.name}: a barrier not reached by every thread")
        if err == 2:
            raise RuntimeError(f"hostsim {self.name}: __syncthreads in a kernel run without fibers")
        launch = Launch(self.name, grid, block, sizes)
        if checked:
            n = self.lib.lib.nnl_log_count()
            launch.log, launch.values = np.zeros((n, 4), np.int64), np.zeros(n)
            self.lib.lib.nnl_log_copy(launch.log.ctypes.data, launch.values.ctypes.data)
            bad = np.zeros(48, np.int64)
            nbad = self.lib.lib.nnl_bad_count(ctypes.c_void_p(bad.ctypes.data))
            launch.violations = [tuple(r) for r in bad.reshape(16, 3)[: min(nbad, 16)]]
            launch.violation_count = nbad
        return launch


def _dims(d):
    d = tuple(int(v) for v in (d if isinstance(d, (tuple, list)) else (d,)))
    return d + (1,) * (3 - len(d))


# --- running the real dispatch code on the host ------------------------------------------
class _VirtualCupy:
    """Just enough of the cupy module for the wrappers of cuda.py to allocate Virtuals."""

    float32, float64, int32, int64 = np.float32, np.float64, np.int32, np.int64

    @staticmethod
    def empty(shape, dtype):
        return Virtual(tuple(shape) if not isinstance(shape, int) else (shape,), dtype)

    zeros = empty

    @staticmethod
    def ascontiguousarray(a):
        return a


class Simulation:
    """The launches made inside :func:`simulate`, and the checks done on each."""

    def __init__(self, mode, threads, log, race_check):
        self.mode, self.threads, self.log, self.race_check = mode, threads, log, race_check
        self.launches: list[Launch] = []

    def kernel(self, name, dtype, source=None):
        srcs = sources()
        if source is not None and source not in srcs:
            srcs = (source,)
        fn = library(dtype, self.mode, srcs).function(name)

        def call(grid, block, args):
            threads = None
            if self.threads is not None:
                threads = self.threads(name, _dims(grid)[0] * _dims(block)[0], args)
            log = self.log | (2 if self.race_check else 0) if self.mode != "plain" else 0
            launch = fn(grid, block, args, threads=threads, log=log)
            if self.mode != "plain":
                _check_launch(launch, self.race_check)
            self.launches.append(launch)
            return launch

        return call


def _check_launch(launch, race_check):
    if launch.violations:
        t, buf, idx = launch.violations[0]
        raise IndexError(
            f"hostsim {launch.name}: {launch.violation_count} out-of-bounds accesses; the first "
            f"by thread {t} to argument {buf + 1} (size {launch.sizes[buf]}) at index {idx}"
        )
    if race_check and launch.log.size:
        w = launch.log[launch.log[:, 3] == 2]
        keys = np.unique(w[:, [0, 1, 2]], axis=0)  # (thread, argument, index)
        per = np.unique(keys[:, 1:], axis=0, return_counts=True)
        if (per[1] > 1).any():
            buf, idx = per[0][np.argmax(per[1] > 1)]
            raise RuntimeError(
                f"hostsim {launch.name}: argument {buf + 1}[{idx}] written by several threads "
                "(a race on the GPU)"
            )


@contextlib.contextmanager
def simulate(mode="plain", threads=None, log=0, race_check=False, virtual=False):
    """Inside this block, the CuPy dispatch of nnlegacy runs on NumPy arrays with the kernels
    compiled for the host: ``cuda.usable`` accepts float NumPy arrays, ``cupy_module()``
    is NumPy (or, with ``virtual``, a stand-in allocating :class:`Virtual` arrays) and each
    kernel launch runs the host build of ``mode``. ``threads(name, n, args)`` picks the
    thread (or block) indices to run out of ``n``; ``log`` is what to record; ``race_check``
    fails a launch in which two threads write one element. Yields the :class:`Simulation`."""
    from unittest import mock

    from .. import backend as B
    from . import cuda

    sim = Simulation(mode, threads, log, race_check)

    def usable(*arrays):
        return all(
            isinstance(a, (np.ndarray, Virtual))
            and a.dtype in (np.float32, np.float64)
            and a.size <= cuda.INT32_MAX
            for a in arrays
        )

    fake_cp = _VirtualCupy() if virtual else np
    with (
        mock.patch.object(cuda, "_kernel", sim.kernel),
        mock.patch.object(cuda, "usable", usable),
        mock.patch.object(B, "cupy_module", lambda: fake_cp),
    ):
        yield sim
