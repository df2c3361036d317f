"""The CUDA kernel source, checked on the host (no GPU needed).

The im2col/col2im kernels of ``nnlegacy/kernels/cuda.py`` are compiled as plain C++ with
a small shim (``__global__`` dropped, ``blockIdx``/``threadIdx`` as globals) and run one
"thread" at a time through ctypes, then compared with the NumPy unfold/fold over random
1-, 2- and 3-D geometries with stride, padding and dilation. With ``nvcc`` on the PATH
the whole source is also compiled for the device (PTX) for float and double.
"""

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from nnlegacy.kernels import cuda
from nnlegacy.kernels import unfold as U

SHIM = r"""
#include <string.h>
struct nnl_dim3 { int x; };
static nnl_dim3 blockIdx = {0}, blockDim = {1}, threadIdx = {0};
#define __global__
#define __device__
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline float __int_as_float(unsigned int v) { float f; memcpy(&f, &v, 4); return f; }
static inline double __longlong_as_double(unsigned long long v) {
  double f; memcpy(&f, &v, 8); return f;
}
extern "C" void nnl_set_block(int i) { blockIdx.x = i; }
"""

CTYPES = {np.float64: "double", np.float32: "float"}


@pytest.fixture(scope="module")
def host_kernels(tmp_path_factory):
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("needs a C++ compiler")
    libs = {}
    for dtype, ctype in CTYPES.items():
        d = tmp_path_factory.mktemp(ctype)
        src = d / "kernels.cpp"
        src.write_text(SHIM + cuda.prelude(ctype) + cuda.SOURCE)
        so = d / "kernels.so"
        subprocess.run([cxx, "-O1", "-shared", "-fPIC", "-o", str(so), str(src)], check=True)
        libs[dtype] = ctypes.CDLL(str(so))
    return libs


def _run(lib, name, total, arrays, ints):
    fn = getattr(lib, name)
    args = [a.ctypes.data_as(ctypes.c_void_p) for a in arrays] + [ctypes.c_int(total)]
    args += [ctypes.c_int(int(v)) for v in ints]
    for i in range(total):  # one "thread" per output element
        lib.nnl_set_block(i)
        fn(*args)


def _geometries(seed, count=12):
    rng = np.random.default_rng(seed)
    for i in range(count):
        nd = 1 + i % 3
        k = tuple(int(v) for v in rng.integers(1, 4, nd))
        d = tuple(int(v) for v in rng.integers(1, 4, nd))
        dil = tuple(int(v) for v in rng.integers(1, 3, nd))
        pad = tuple(int(rng.integers(0, kk // 2 + 2)) for kk in k)
        size = tuple(int(rng.integers(dl * (kk - 1) + 1, 8)) for kk, dl in zip(k, dil))
        n, c = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        yield rng, U.Unfold((n, c, *size), k, d, pad, dil)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["double", "float"])
def test_im2col_and_col2im_kernels_match_numpy(host_kernels, dtype):
    lib = host_kernels[dtype]
    for rng, g in _geometries(7):
        x = rng.standard_normal(g.input_shape).astype(dtype)
        cols = np.empty(g.cols_shape, dtype)
        _run(lib, "im2col", cols.size, [x, cols], cuda._geometry_args(g))
        np.testing.assert_array_equal(cols, U.unfold(x, g))
        c = rng.standard_normal(g.cols_shape).astype(dtype)
        back = np.empty(g.input_shape, dtype)
        _run(lib, "col2im", back.size, [c, back], cuda._geometry_args(g))
        np.testing.assert_allclose(back, U.fold(c, g), rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_kernel_source_compiles_for_the_device(tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("needs nvcc")
    for ctype in CTYPES.values():
        src = tmp_path / f"k_{ctype}.cu"
        src.write_text(cuda.prelude(ctype) + cuda.SOURCE)
        subprocess.run(
            [nvcc, "--ptx", "-std=c++11", "-o", str(tmp_path / f"k_{ctype}.ptx"), str(src)],
            check=True,
            capture_output=True,
        )
