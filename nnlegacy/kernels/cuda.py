"""CuPy RawKernels for the GPU: im2col, col2im, max and average pooling.

Each kernel is a gather (one thread per element it writes, so no atomics), uses 32-bit
index arithmetic, and is compiled lazily, once per device and dtype. The NumPy-API
functions in conv.py and pooling.py dispatch here when their arrays are CuPy arrays and
stay the reference these kernels are tested against (``-m gpu`` tests).

Differences from Torch7: none intended; max pooling's ties go to the first maximum in
row-major order and an empty window gives -inf, as THNN.
"""

from __future__ import annotations

import numpy as np

from .. import backend as B

SOURCE = r"""
extern "C" {

__global__ void im2col(const T* x, T* cols, int total, int C, int H, int W, int kH, int kW,
                       int dH, int dW, int padH, int padW, int oH, int oW) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  int ow = i % oW; int t = i / oW;          // cols: (n, c, kh, kw, oh, ow)
  int oh = t % oH; t /= oH;
  int kw = t % kW; t /= kW;
  int kh = t % kH; t /= kH;
  int c = t % C; int n = t / C;
  int h = oh * dH - padH + kh, w = ow * dW - padW + kw;
  cols[i] = (h >= 0 && h < H && w >= 0 && w < W) ? x[((n * C + c) * H + h) * W + w] : (T)0;
}

__global__ void col2im(const T* cols, T* x, int total, int C, int H, int W, int kH, int kW,
                       int dH, int dW, int padH, int padW, int oH, int oW) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  int w = i % W; int t = i / W;             // x: (n, c, h, w), one thread each
  int h = t % H; t /= H;
  int c = t % C; int n = t / C;
  T acc = 0;
  for (int kh = 0; kh < kH; ++kh) {
    int a = h + padH - kh;
    if (a < 0 || a % dH) continue;
    int oh = a / dH;
    if (oh >= oH) continue;
    for (int kw = 0; kw < kW; ++kw) {
      int b = w + padW - kw;
      if (b < 0 || b % dW) continue;
      int ow = b / dW;
      if (ow >= oW) continue;
      acc += cols[((((n * C + c) * kH + kh) * kW + kw) * oH + oh) * oW + ow];
    }
  }
  x[i] = acc;
}

__global__ void maxpool_fwd(const T* x, T* out, int* arg, int total, int H, int W, int kH,
                            int kW, int dH, int dW, int padH, int padW, int oH, int oW) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  int ow = i % oW; int t = i / oW;          // out: (plane, oh, ow)
  int oh = t % oH; int plane = t / oH;
  int hs = oh * dH - padH, ws = ow * dW - padW;
  int he = min(hs + kH, H), we = min(ws + kW, W);
  const T* p = x + (long long)plane * H * W;
  T best = NEG_INF; int where = 0;
  for (int h = max(hs, 0); h < he; ++h)
    for (int w = max(ws, 0); w < we; ++w) {
      T v = p[h * W + w];
      // strict: the first max wins; a NaN always wins, as THNN's (v > max || isnan(v))
      if (v > best || v != v) { best = v; where = (h - hs) * kW + (w - ws); }
    }
  out[i] = best;
  arg[i] = where;
}

__global__ void maxpool_bwd(const T* gout, const int* arg, T* gin, int total, int H, int W,
                            int kH, int kW, int dH, int dW, int padH, int padW, int oH, int oW) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  int w = i % W; int t = i / W;             // gin: (plane, h, w), one thread each
  int h = t % H; int plane = t / H;
  long long base = (long long)plane * oH * oW;
  T acc = 0;
  for (int kh = 0; kh < kH; ++kh) {
    int a = h + padH - kh;
    if (a < 0 || a % dH) continue;
    int oh = a / dH;
    if (oh >= oH) continue;
    for (int kw = 0; kw < kW; ++kw) {
      int b = w + padW - kw;
      if (b < 0 || b % dW) continue;
      int ow = b / dW;
      if (ow >= oW) continue;
      if (arg[base + oh * oW + ow] == kh * kW + kw) acc += gout[base + oh * oW + ow];
    }
  }
  gin[i] = acc;
}

__device__ int avg_divisor(int oh, int ow, int H, int W, int kH, int kW, int dH, int dW,
                           int padH, int padW, int include) {
  int hs = oh * dH - padH, ws = ow * dW - padW;
  int he = min(hs + kH, H + padH), we = min(ws + kW, W + padW);
  int pool = (he - hs) * (we - ws);
  hs = max(hs, 0); ws = max(ws, 0); he = min(he, H); we = min(we, W);
  return include ? pool : (he - hs) * (we - ws);
}

__global__ void avgpool_fwd(const T* x, T* out, int total, int H, int W, int kH, int kW,
                            int dH, int dW, int padH, int padW, int oH, int oW, int include) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  int ow = i % oW; int t = i / oW;
  int oh = t % oH; int plane = t / oH;
  int hs = max(oh * dH - padH, 0), ws = max(ow * dW - padW, 0);
  int he = min(oh * dH - padH + kH, H), we = min(ow * dW - padW + kW, W);
  const T* p = x + (long long)plane * H * W;
  T acc = 0;
  for (int h = hs; h < he; ++h)
    for (int w = ws; w < we; ++w) acc += p[h * W + w];
  out[i] = acc / (T)avg_divisor(oh, ow, H, W, kH, kW, dH, dW, padH, padW, include);
}

__global__ void avgpool_bwd(const T* gout, T* gin, int total, int H, int W, int kH, int kW,
                            int dH, int dW, int padH, int padW, int oH, int oW, int include) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  int w = i % W; int t = i / W;
  int h = t % H; int plane = t / H;
  long long base = (long long)plane * oH * oW;
  T acc = 0;
  for (int kh = 0; kh < kH; ++kh) {
    int a = h + padH - kh;
    if (a < 0 || a % dH) continue;
    int oh = a / dH;
    if (oh >= oH) continue;
    for (int kw = 0; kw < kW; ++kw) {
      int b = w + padW - kw;
      if (b < 0 || b % dW) continue;
      int ow = b / dW;
      if (ow >= oW) continue;
      acc += gout[base + oh * oW + ow] /
             (T)avg_divisor(oh, ow, H, W, kH, kW, dH, dW, padH, padW, include);
    }
  }
  gin[i] = acc;
}

}
"""

_cache = {}
_THREADS = 256
INT32_MAX = 2**31 - 1


def prelude(ctype):
    """T and -infinity for one dtype (intrinsics: NVRTC has no math.h)."""
    neg_inf = {
        "float": "__int_as_float(0xff800000)",
        "double": "__longlong_as_double(0xfff0000000000000ULL)",
    }[ctype]
    return f"#define T {ctype}\n#define NEG_INF {neg_inf}\n"


def _kernel(name, dtype):
    cp = B.cupy_module()
    ctype = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}[np.dtype(dtype)]
    key = (cp.cuda.Device().id, name, ctype)
    if key not in _cache:
        module = cp.RawModule(code=prelude(ctype) + SOURCE, options=("-std=c++11",))
        _cache[key] = module.get_function(name)
    return _cache[key]


def usable(*arrays) -> bool:
    """True for float CuPy arrays small enough for 32-bit indices."""
    return all(
        B.get_array_module(a) is not np
        and a.dtype in (np.float32, np.float64)
        and a.size <= INT32_MAX
        for a in arrays
    )


def _launch(name, dtype, total, args):
    blocks = (total + _THREADS - 1) // _THREADS
    ints = [np.int32(a) if isinstance(a, (int, np.integer)) else a for a in args]
    _kernel(name, dtype)((blocks,), (_THREADS,), tuple(ints))


def im2col(x, n, c, h, w, kH, kW, dH, dW, padH, padW, oH, oW):
    cp = B.cupy_module()
    x = cp.ascontiguousarray(x)
    cols = cp.empty((n, c * kH * kW, oH * oW), x.dtype)
    total = cols.size
    _launch("im2col", x.dtype, total, (x, cols, total, c, h, w, kH, kW, dH, dW, padH, padW, oH, oW))
    return cols


def col2im(cols, n, c, h, w, kH, kW, dH, dW, padH, padW, oH, oW):
    cp = B.cupy_module()
    cols = cp.ascontiguousarray(cols)
    x = cp.empty((n, c, h, w), cols.dtype)
    total = x.size
    _launch(
        "col2im", cols.dtype, total, (cols, x, total, c, h, w, kH, kW, dH, dW, padH, padW, oH, oW)
    )
    return x


def maxpool_forward(x, kH, kW, dH, dW, padH, padW, oH, oW):
    cp = B.cupy_module()
    x = cp.ascontiguousarray(x)
    n, c, h, w = x.shape
    out = cp.empty((n, c, oH, oW), x.dtype)
    arg = cp.empty((n, c, oH, oW), cp.int32)
    total = out.size
    _launch(
        "maxpool_fwd",
        x.dtype,
        total,
        (x, out, arg, total, h, w, kH, kW, dH, dW, padH, padW, oH, oW),
    )
    return out, arg


def maxpool_backward(gradOutput, arg, input_shape, kH, kW, dH, dW, padH, padW):
    cp = B.cupy_module()
    g = cp.ascontiguousarray(gradOutput)
    arg = cp.ascontiguousarray(arg).astype(cp.int32, copy=False)
    n, c, h, w = input_shape
    oH, oW = g.shape[2:]
    gin = cp.empty(input_shape, g.dtype)
    total = gin.size
    _launch(
        "maxpool_bwd",
        g.dtype,
        total,
        (g, arg, gin, total, h, w, kH, kW, dH, dW, padH, padW, oH, oW),
    )
    return gin


def avgpool_forward(x, kH, kW, dH, dW, padH, padW, oH, oW, include):
    cp = B.cupy_module()
    x = cp.ascontiguousarray(x)
    n, c, h, w = x.shape
    out = cp.empty((n, c, oH, oW), x.dtype)
    total = out.size
    _launch("avgpool_fwd", x.dtype, total,
            (x, out, total, h, w, kH, kW, dH, dW, padH, padW, oH, oW, int(include)))  # fmt: skip
    return out


def avgpool_backward(gradOutput, input_shape, kH, kW, dH, dW, padH, padW, include):
    cp = B.cupy_module()
    g = cp.ascontiguousarray(gradOutput)
    n, c, h, w = input_shape
    oH, oW = g.shape[2:]
    gin = cp.empty(input_shape, g.dtype)
    total = gin.size
    _launch("avgpool_bwd", g.dtype, total,
            (g, gin, total, h, w, kH, kW, dH, dW, padH, padW, oH, oW, int(include)))  # fmt: skip
    return gin
