"""CuPy RawKernels for SpatialCrossMapLRN, (Spatial)BatchNormalization and the backward of
Threshold/ReLU: one launch per pass where the NumPy-API code on CuPy makes many.

The modules dispatch here only for CuPy arrays (``cuda.usable``); their NumPy-API code stays
the reference these kernels are tested against, on the host (``kernels/hostsim.py``) and
on the GPU (``-m gpu``). Layouts: LRN and BatchNorm see their input as ``(N, C, L)``
(contiguous, L the pixels of a plane). Batch normalisation runs one block of 256 threads
per channel; the block sums its channel with a shared-memory tree (barriers), then writes.

Differences from the NumPy path: Threshold's backward gives 0 (as THNN) where the input is
at or below the threshold even for an infinite or NaN gradOutput, where ``g * mask`` gives
NaN; sums are accumulated in a different order (float32 results agree to ~1e-6 relative).
"""

from __future__ import annotations

from .. import backend as B
from . import cuda

BN_THREADS = 256

SOURCE = r"""
#define NNL_BN_THREADS 256
extern "C" {

__global__ void threshold_bwd(const T* x, const T* gout, T* gin, int total, T th) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  gin[i] = x[i] > th ? (T)gout[i] : (T)0;
}

__global__ void lrn_fwd(const T* x, T* scale, T* y, int total, int C, int L, int size,
                        T alpha_over_size, T beta, T k) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  int c = (i / L) % C;
  int half = (size - 1) / 2;
  int lo = max(c - half, 0), hi = min(c + half + 1, C);
  int base = i - c * L;                     // channel 0 of this pixel
  T acc = 0;
  for (int j = lo; j < hi; ++j) { T v = x[base + j * L]; acc += v * v; }
  T s = k + alpha_over_size * acc;
  scale[i] = s;
  y[i] = x[i] * pow(s, -beta);
}

__global__ void lrn_bwd(const T* x, const T* gout, const T* scale, const T* y, T* gin,
                        int total, int C, int L, int size, T beta, T coef) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  int c = (i / L) % C;
  int half = (size - 1) / 2;
  int lo = max(c - half, 0), hi = min(c + half + 1, C);
  int base = i - c * L;
  T acc = 0;                                // the window is symmetric: its own adjoint
  for (int j = lo; j < hi; ++j) {
    int a = base + j * L;
    acc += gout[a] * y[a] / scale[a];
  }
  T s = scale[i];
  gin[i] = gout[i] * pow(s, -beta) - coef * x[i] * acc;
}

__device__ T nnl_block_sum(T* red, T v) {    // every thread gets the block's total
  int t = threadIdx.x;
  red[t] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (t < s) red[t] += red[t + s];
    __syncthreads();
  }
  T total = red[0];
  __syncthreads();                          // red is reused by the next sum
  return total;
}

// one block per channel c; elements j = 0 .. N*L-1 of the channel at ((j/L)*C + c)*L + j%L
__global__ void bn_fwd(const T* x, T* y, const T* weight, const T* bias, T* running_mean,
                       T* running_var, T* save_mean, T* save_std, int N, int C, int L,
                       T eps, T momentum, int train, int affine) {
  __shared__ T red[NNL_BN_THREADS];
  int c = blockIdx.x, t = threadIdx.x, nt = blockDim.x, count = N * L;
  T mean, invstd;
  if (train) {
    T s = 0;
    for (long long jj = t; jj < count; jj += nt) {
      int j = (int)jj, n = j / L;
      s += x[(n * C + c) * L + (j - n * L)];
    }
    mean = nnl_block_sum(red, s) / (T)count;
    T s2 = 0;
    for (long long jj = t; jj < count; jj += nt) {
      int j = (int)jj, n = j / L;
      T d = x[(n * C + c) * L + (j - n * L)] - mean;
      s2 += d * d;
    }
    s2 = nnl_block_sum(red, s2);
    invstd = (s2 == (T)0 && eps == (T)0) ? (T)0 : (T)1 / sqrt(s2 / (T)count + eps);
    if (t == 0) {
      running_mean[c] = running_mean[c] * ((T)1 - momentum) + momentum * mean;
      running_var[c] = running_var[c] * ((T)1 - momentum) + momentum * s2 / (T)(count - 1);
      save_mean[c] = mean;
      save_std[c] = invstd;
    }
  } else {
    mean = running_mean[c];
    invstd = (T)1 / sqrt(running_var[c] + eps);
  }
  T w = affine ? (T)weight[c] : (T)1, b = affine ? (T)bias[c] : (T)0;
  for (long long jj = t; jj < count; jj += nt) {
    int j = (int)jj, n = j / L;
    int a = (n * C + c) * L + (j - n * L);
    T v = (x[a] - mean) * invstd;
    y[a] = affine ? v * w + b : v;
  }
}

// train: mean/std are save_mean/save_std; else running_mean/running_var (invstd computed)
__global__ void bn_bwd(const T* x, const T* gout, T* gin, const T* weight, const T* mean_in,
                       const T* std_in, T* grad_weight, T* grad_bias, int N, int C, int L,
                       T eps, T scale, int train, int affine, int need_gin, int need_params) {
  __shared__ T red[NNL_BN_THREADS];
  int c = blockIdx.x, t = threadIdx.x, nt = blockDim.x, count = N * L;
  T mean = mean_in[c];
  T invstd = train ? (T)std_in[c] : (T)1 / sqrt(std_in[c] + eps);
  T sg = 0, dot = 0;
  if (train || need_params) {
    for (long long jj = t; jj < count; jj += nt) {
      int j = (int)jj, n = j / L;
      int a = (n * C + c) * L + (j - n * L);
      T g = gout[a];
      sg += g;
      dot += (x[a] - mean) * g;
    }
    sg = nnl_block_sum(red, sg);
    dot = nnl_block_sum(red, dot);
  }
  T w = affine ? (T)weight[c] : (T)1;
  if (need_gin) {
    T gmean = sg / (T)count, k = dot * invstd * invstd / (T)count;
    for (long long jj = t; jj < count; jj += nt) {
      int j = (int)jj, n = j / L;
      int a = (n * C + c) * L + (j - n * L);
      gin[a] = train ? (gout[a] - gmean - (x[a] - mean) * k) * invstd * w
                     : gout[a] * invstd * w;
    }
  }
  if (need_params && affine && t == 0) {
    grad_weight[c] += scale * dot * invstd;
    grad_bias[c] += scale * sg;
  }
}

}
"""


def _contiguous(*arrays) -> bool:
    return all(a is None or a.flags.c_contiguous for a in arrays)


def threshold_backward(input, gradOutput, threshold, inplace):
    """``gradOutput`` where ``input > threshold``, else 0; into gradOutput when ``inplace``."""
    cp = B.cupy_module()
    x = cp.ascontiguousarray(input)
    g = cp.ascontiguousarray(gradOutput)
    into_g = inplace and g is gradOutput
    gin = g if into_g else cp.empty(g.shape, g.dtype)
    th = g.dtype.type(threshold)
    cuda._launch("threshold_bwd", g.dtype, g.size, (x, g, gin, g.size, th), source=SOURCE)
    if inplace and not into_g:
        gradOutput[...] = gin
        return gradOutput
    return gin


def lrn_forward(x3, size, alpha, beta, k):
    """(scale, output) of SpatialCrossMapLRN for ``x3`` of shape ``(N, C, L)``."""
    cp = B.cupy_module()
    x = cp.ascontiguousarray(x3)
    n, c, length = x.shape
    scale = cp.empty(x.shape, x.dtype)
    y = cp.empty(x.shape, x.dtype)
    t = x.dtype.type
    args = (x, scale, y, x.size, c, length, size, t(alpha / size), t(beta), t(k))
    cuda._launch("lrn_fwd", x.dtype, x.size, args, source=SOURCE)
    return scale, y


def lrn_backward(x3, gradOutput3, scale3, output3, size, alpha, beta):
    cp = B.cupy_module()
    x, g = cp.ascontiguousarray(x3), cp.ascontiguousarray(gradOutput3)
    s, y = cp.ascontiguousarray(scale3), cp.ascontiguousarray(output3)
    n, c, length = x.shape
    gin = cp.empty(x.shape, x.dtype)
    t = x.dtype.type
    coef = t(2 * alpha * beta / size)
    args = (x, g, s, y, gin, x.size, c, length, size, t(beta), coef)
    cuda._launch("lrn_bwd", x.dtype, x.size, args, source=SOURCE)
    return gin


def batchnorm_usable(x3, *params) -> bool:
    """The kernels apply: CuPy arrays, 32-bit sizes, the module's vectors contiguous."""
    return cuda.usable(x3) and _contiguous(*params)


def batchnorm_forward(x3, weight, bias, running_mean, running_var, eps, momentum, train):
    """(output, save_mean, save_std) for ``x3`` ``(N, C, L)``; in training the running
    statistics are updated in place. ``weight``/``bias`` None without affine."""
    cp = B.cupy_module()
    x = cp.ascontiguousarray(x3)
    n, c, length = x.shape
    t = x.dtype.type
    y = cp.empty(x.shape, x.dtype)
    save_mean = cp.empty((c,), x.dtype) if train else running_mean
    save_std = cp.empty((c,), x.dtype) if train else running_var
    affine = weight is not None
    w, b = (weight, bias) if affine else (running_mean, running_var)  # placeholders, unread
    args = (x, y, w, b, running_mean, running_var, save_mean, save_std, n, c, length,
            t(eps), t(momentum), int(train), int(affine))  # fmt: skip
    cuda._launch("bn_fwd", x.dtype, x.size, args, source=SOURCE, blocks=c, threads=BN_THREADS)
    return y, (save_mean if train else None), (save_std if train else None)


def batchnorm_backward(x3, gradOutput3, weight, mean, std_or_var, eps, train,
                       gradWeight=None, gradBias=None, scale=1, need_gin=True):  # fmt: skip
    """gradInput (or None) of ``(N, C, L)`` input; with ``gradWeight``/``gradBias`` given,
    ``scale`` times the parameter gradients are added to them. ``train``: ``mean`` and
    ``std_or_var`` are the saved mean and inverse std, else the running mean and variance."""
    cp = B.cupy_module()
    x, g = cp.ascontiguousarray(x3), cp.ascontiguousarray(gradOutput3)
    n, c, length = x.shape
    t = x.dtype.type
    gin = cp.empty(x.shape, x.dtype) if need_gin else g  # a placeholder when not needed
    need_params = gradWeight is not None
    affine = weight is not None
    w = weight if affine else mean
    gw, gb = (gradWeight, gradBias) if need_params else (mean, mean)  # unwritten placeholders
    args = (x, g, gin, w, mean, std_or_var, gw, gb, n, c, length, t(eps), t(scale),
            int(train), int(affine), int(need_gin), int(need_params))  # fmt: skip
    cuda._launch("bn_bwd", x.dtype, x.size, args, source=SOURCE, blocks=c, threads=BN_THREADS)
    return gin if need_gin else None


__all__ = [
    "SOURCE",
    "batchnorm_backward",
    "batchnorm_forward",
    "batchnorm_usable",
    "lrn_backward",
    "lrn_forward",
    "threshold_backward",
]
