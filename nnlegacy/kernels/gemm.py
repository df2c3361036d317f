"""BLAS's ``gemm`` with its ``beta``: ``C = A @ B + beta * C`` on strided NumPy matrices.

NumPy's ``matmul`` always overwrites its output, so a sum of products (a convolution as
one product per kernel offset) would need a temporary and an addition per product. BLAS
accumulates into ``C`` itself (``beta = 1``) and reads ``A`` and ``B`` through a leading
dimension, so shifted windows of one buffer serve as matrices without a copy.

This calls ``cblas_sgemm``/``cblas_dgemm`` of the OpenBLAS that NumPy loaded (threadpoolctl
names the library and its symbol prefix and suffix; a ``64_`` suffix marks 64-bit
integers), through ctypes, which releases the GIL during the call. ``available`` is False
where that BLAS is not OpenBLAS, lacks the symbol, or fails a check against ``matmul``
on first use; callers then use NumPy alone.
"""

from __future__ import annotations

import ctypes

import numpy as np

from .. import threads

__all__ = ["available", "gemm"]

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_funcs = None  # {dtype: ctypes function}, {} where unavailable; set on first use


def _load():
    libs = threads._blas_controllers() or []
    for lib in libs:
        if getattr(lib, "internal_api", None) != "openblas":
            continue
        prefix = getattr(lib, "_symbol_prefix", "")
        suffix = getattr(lib, "_symbol_suffix", "")
        blasint = ctypes.c_int64 if "64" in suffix else ctypes.c_int
        found = {}
        for dtype, letter, scalar in (
            (np.float32, "s", ctypes.c_float),
            (np.float64, "d", ctypes.c_double),
        ):
            try:
                f = getattr(lib.dynlib, f"{prefix}cblas_{letter}gemm{suffix}")
            except AttributeError:
                continue
            ptr = ctypes.c_void_p
            f.argtypes = [
                ctypes.c_int, ctypes.c_int, ctypes.c_int, blasint, blasint, blasint, scalar,
                ptr, blasint, ptr, blasint, scalar, ptr, blasint,
            ]  # fmt: skip
            f.restype = None
            found[np.dtype(dtype)] = f
        if found:
            return found
    return {}


def _self_check(funcs):
    """Keep only the functions that compute what matmul does (transposes, strides, beta)."""
    good = {}
    rng = np.random.default_rng(0)
    for dtype, f in funcs.items():
        a = rng.standard_normal((7, 5)).astype(dtype)
        b = rng.standard_normal((6, 10)).astype(dtype)
        c = rng.standard_normal((5, 12)).astype(dtype)
        want = c[:, 1:7] + a.T @ b[:, 2:9].T
        try:
            _call(f, a.T, b[:, 2:9].T, c[:, 1:7], 1.0)
        except Exception:  # noqa: BLE001 (any failure: NumPy alone)
            continue
        if np.allclose(c[:, 1:7], want, rtol=1e-5, atol=1e-5):
            good[dtype] = f
    return good


def available(dtype) -> bool:
    """Whether ``gemm`` works for arrays of ``dtype`` here."""
    global _funcs
    if _funcs is None:
        with threads.single_blas():
            _funcs = _self_check(_load())
    return np.dtype(dtype) in _funcs


def _layout(m):
    """(transposed?, leading dimension) of a 2-D view whose rows or columns are unit-stride."""
    item = m.itemsize
    rows, cols = m.shape
    if m.strides[1] == item or cols == 1:
        ld = m.strides[0] // item if rows > 1 else max(cols, 1)
        return False, max(ld, cols, 1)
    if m.strides[0] == item or rows == 1:
        ld = m.strides[1] // item if cols > 1 else max(rows, 1)
        return True, max(ld, rows, 1)
    raise ValueError("gemm: a matrix needs unit stride along its rows or its columns")


def _call(f, a, b, c, beta):
    m, k = a.shape
    n = b.shape[1]
    if b.shape[0] != k or c.shape != (m, n):
        raise ValueError(f"gemm: shapes {a.shape} @ {b.shape} into {c.shape}")
    if c.strides[1] != c.itemsize and n > 1:
        raise ValueError("gemm: the output needs unit stride along its rows")
    if not (a.dtype == b.dtype == c.dtype):
        raise TypeError(f"gemm: dtypes {a.dtype}, {b.dtype}, {c.dtype}")
    ta, lda = _layout(a)
    tb, ldb = _layout(b)
    ldc = max(c.strides[0] // c.itemsize if m > 1 else n, n, 1)
    f(
        _ROW_MAJOR, _TRANS if ta else _NO_TRANS, _TRANS if tb else _NO_TRANS, m, n, k, 1.0,
        a.ctypes.data, lda, b.ctypes.data, ldb, beta, c.ctypes.data, ldc,
    )  # fmt: skip


def gemm(a, b, c, beta=0.0):
    """``c[...] = a @ b + beta * c`` in place (``beta = 0`` ignores what ``c`` held).

    ``a`` (m, k) and ``b`` (k, n) are views with unit stride along rows or columns (a
    transposed view is fine), ``c`` (m, n) one with unit stride along its rows; all of
    one dtype for which ``available`` is True. The caller holds BLAS to a thread count
    (``threads.single_blas``) as it wishes."""
    if not available(c.dtype):
        raise TypeError(f"gemm: no BLAS gemm for {c.dtype} here (check gemm.available)")
    _call(_funcs[c.dtype], a, b, c, beta)
    return c
