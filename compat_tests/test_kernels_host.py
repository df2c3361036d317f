"""The CUDA kernels run on the CPU: their source compiled as C++ by the host harness
(nnlegacy/kernels/hostsim.py) and checked against the NumPy-API path, with the same random
configurations as the GPU tests (kernel_checks.py). Three ways:

- every check in float64 and float32 with the source as it is (``plain``);
- every check in float32 with bounds-checked pointers and a race check (``checked``): no
  kernel reads or writes outside its arrays, and no element is written by two threads;
- sizes near the 32-bit index limit, not allocated (virtual arrays): chosen threads of each
  kernel run with 32-bit ``int`` and with 64-bit ``int``, and every memory access must be
  the same in both (no overflow) and inside the arrays.

Skipped, with the reason, where no C++ compiler is found.
"""

import numpy as np
import pytest
from kernel_checks import CHECKS, Host

from nnlegacy.kernels import cuda, cuda_norm, hostsim
from nnlegacy.kernels import pooling as P
from nnlegacy.kernels import unfold as U

pytestmark = pytest.mark.skipif(
    hostsim.skip_reason() is not None, reason=str(hostsim.skip_reason())
)

VARIANTS = [("plain", np.float64), ("plain", np.float32), ("checked", np.float32)]


@pytest.mark.parametrize("mode,dtype", VARIANTS, ids=[f"{m}-{d.__name__}" for m, d in VARIANTS])
@pytest.mark.parametrize("check", sorted(CHECKS))
def test_kernel_against_numpy(check, mode, dtype):
    dev = Host(mode)
    CHECKS[check](dev, dtype)
    assert dev.launches, "no kernel ran: the dispatch did not reach the CUDA path"


def test_every_kernel_is_exercised():
    """Each kernel of the sources is launched by some check (new kernels need a check)."""
    dev = Host("plain")
    for check in CHECKS.values():
        check(dev, np.float64)
    launched = {launch.name for launch in dev.launches}
    assert launched == set(hostsim.library(np.float64).kernels)


# --- sizes near the 32-bit limit: 32-bit int against 64-bit int, without the memory -----------
LIMIT = cuda.INT32_MAX
V = hostsim.Virtual


def _threads(name, n, args):
    """The thread (or, for a block kernel, block) indices to run out of ``n``."""
    if name.startswith("bn_"):
        return [0, n // 256 - 1]  # blocks: the first and the last channel
    rng = np.random.default_rng(n)
    picks = {0, 1, 255, 256, n // 2, n - 257, n - 256, n - 2, n - 1}
    picks |= set(int(v) for v in rng.integers(0, n, 24))
    return sorted(p for p in picks if 0 <= p < n)


def _compare_builds(call):
    """Run ``call()`` under the 32-bit and the 64-bit checked builds; the accesses agree."""
    logs = {}
    for mode in ("checked", "wide"):
        with hostsim.simulate(mode, threads=_threads, log=3, virtual=True) as sim:
            call()
        logs[mode] = sim.launches
        assert sim.launches, "nothing launched"
    for a, b in zip(logs["checked"], logs["wide"]):
        assert a.log.shape[0] > 0, f"{a.name}: the chosen threads made no access"
        assert max(a.sizes) <= LIMIT
        same = a.log.shape == b.log.shape and (a.log == b.log).all()
        same = same and np.array_equal(a.values, b.values, equal_nan=True)  # values: arbitrary
        assert same, f"{a.name}: the 32-bit and 64-bit builds differ (an int overflows)"
    return logs["checked"]


def _near_limit(*dims):
    """dims with the last one as large as keeps the product within 2**31 - 1."""
    rest = int(np.prod(dims[:-1]))
    return (*dims[:-1], LIMIT // rest)


LARGE_CONV = [  # (input shape, k, stride, pad, dilation): input or columns near the limit
    ((2, 1024, 1024, 1023), (1, 1), (1, 1), (0, 0), (1, 1)),
    ((1, 3, 26000, 9000), (3, 3), (2, 2), (1, 1), (1, 1)),
    ((1, 1, 46339, 46339), (1, 1), (1, 1), (0, 0), (1, 1)),
    ((70, 5, 1000, 600), (5, 3), (5, 6), (2, 1), (2, 3)),
    ((1, 2, _near_limit(2, 3, 1)[-1]), (3,), (3,), (1,), (2,)),  # temporal
    ((1, 2, 1000, 1000, 1000), (3, 3, 3), (3, 3, 3), (1, 1, 1), (1, 2, 3)),  # volumetric
    ((3, 1, 5000, 3, 47000), (2, 1, 1), (2, 1, 1), (0, 0, 0), (4, 1, 1)),
]


@pytest.mark.parametrize("shape,k,d,pad,dil", LARGE_CONV)
def test_unfold_fold_near_the_32bit_limit(shape, k, d, pad, dil):
    g = U.Unfold(shape, k, d, pad, dil)
    assert np.prod(shape, dtype=object) <= LIMIT
    if np.prod(g.cols_shape, dtype=object) > LIMIT:
        pytest.skip("the columns exceed the limit: the dispatch keeps the NumPy-API path")
    _compare_builds(lambda: cuda.im2col(V(shape, np.float32), g))
    _compare_builds(lambda: cuda.col2im(V(g.cols_shape, np.float32), g))


LARGE_POOL = [  # (input shape, k, d, pad, ceil)
    ((2, 1024, 1024, 1023), (2, 2), (2, 2), (0, 0), False),
    ((1, 3, 26000, 27000), (3, 3), (2, 2), (1, 1), True),
    ((1, 1, 46339, 46339), (2, 2), (1, 1), (1, 1), False),
]


@pytest.mark.parametrize("shape,k,d,pad,ceil", LARGE_POOL)
def test_pooling_near_the_32bit_limit(shape, k, d, pad, ceil):
    n, c, h, w = shape
    oH = P.pool_output_size(h, k[0], d[0], pad[0], ceil)
    oW = P.pool_output_size(w, k[1], d[1], pad[1], ceil)
    out = (n, c, oH, oW)
    if np.prod(out, dtype=object) > LIMIT:
        pytest.skip("the output exceeds the limit: the dispatch keeps the NumPy-API path")
    x = V(shape, np.float32)
    _compare_builds(lambda: cuda.maxpool_forward(x, *k, *d, *pad, oH, oW))
    _compare_builds(
        lambda: cuda.maxpool_backward(V(out, np.float32), V(out, np.int32), shape, *k, *d, *pad)
    )
    for include in (True, False):
        _compare_builds(
            lambda include=include: cuda.avgpool_forward(x, *k, *d, *pad, oH, oW, include)
        )
        _compare_builds(
            lambda include=include: cuda.avgpool_backward(
                V(out, np.float32), shape, *k, *d, *pad, include
            )
        )


@pytest.mark.parametrize(
    "shape", [_near_limit(7, 5, 1000), _near_limit(2, 13, 1000), (1, 1, LIMIT)]
)
def test_lrn_and_threshold_near_the_32bit_limit(shape):
    x = V(shape, np.float32)
    _compare_builds(lambda: cuda_norm.lrn_forward(x, 5, 1e-4, 0.75, 2.0))
    _compare_builds(lambda: cuda_norm.lrn_backward(x, x, x, x, 5, 1e-4, 0.75))
    _compare_builds(lambda: cuda_norm.threshold_backward(x, x, 0.0, False))


@pytest.mark.parametrize("shape", [(2, 131071, 8191), (8191, 131071, 2), (32768, 65535, 1)])
def test_batchnorm_near_the_32bit_limit(shape):
    assert np.prod(shape, dtype=object) <= LIMIT
    x, vec = V(shape, np.float32), V((shape[1],), np.float32)
    for train in (True, False):
        _compare_builds(
            lambda train=train: cuda_norm.batchnorm_forward(x, vec, vec, vec, vec, 1e-5, 0.1, train)
        )
        _compare_builds(
            lambda train=train: cuda_norm.batchnorm_backward(
                x, x, vec, vec, vec, 1e-5, train, vec, vec, 0.5
            )
        )


def test_launch_grid_never_exceeds_32bit_thread_indices():
    """blocks * 256 threads stays within int for every total up to 2**31 - 1."""
    for total in (LIMIT, LIMIT - 1, LIMIT - 255, LIMIT - 256, 2**31 - 2**8):
        blocks = (total + 255) // 256
        assert blocks * 256 - 1 <= LIMIT


# --- the harness catches what it should ----------------------------------------------------------
BUGGY = r"""
extern "C" {
__global__ void race(const T* x, T* y, int total) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  y[i / 2] = x[i];
}
__global__ void off_by_one(const T* x, T* y, int total) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i > total) return;
  y[i] = x[i];
}
__global__ void overflow(const T* x, T* y, int total, int k) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  y[i] = x[(i * k) / k];
}
__global__ void divergent(T* y, int total) {
  __shared__ T s[256];
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  s[threadIdx.x] = 1;
  __syncthreads();
  y[i] = s[255 - threadIdx.x];
}
__global__ void reverse(const T* x, T* y, int total) {
  __shared__ T s[256];
  int t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
  s[t] = i < total ? (T)x[i] : (T)0;
  __syncthreads();
  int j = blockIdx.x * blockDim.x + (blockDim.x - 1 - t);
  if (j < total) y[j] = s[t];
}
}
"""


def _buggy(name, mode="checked"):
    return hostsim.library(np.float32, mode, (BUGGY,)).function(name)


def test_harness_finds_races_and_out_of_bounds_accesses():
    x, y = np.arange(10, dtype=np.float32), np.zeros(10, np.float32)
    launch = _buggy("race")((1,), (256,), (x, y, 10), log=2)
    with pytest.raises(RuntimeError, match="written by several threads"):
        hostsim._check_launch(launch, race_check=True)
    launch = _buggy("off_by_one")((1,), (256,), (x, y, 10))
    assert launch.violation_count == 2  # x[10] and y[10], never touched
    with pytest.raises(IndexError, match="thread 10 to argument 1 .size 10. at index 10"):
        hostsim._check_launch(launch, race_check=False)


def test_harness_finds_32bit_overflow():
    n = 1 << 20
    args = (V(n, np.float32), V(n, np.float32), n, 4096)  # i * 4096 overflows past i = 2**19
    logs = [_buggy("overflow", mode)((n // 256,), (256,), args, threads=[5, n - 1], log=3)
            for mode in ("checked", "wide")]  # fmt: skip
    assert (logs[0].log[:2] == logs[1].log[:2]).all()  # thread 5: the same
    assert not (logs[0].log[2:] == logs[1].log[2:]).all()  # thread n - 1: wrapped
    assert logs[0].violation_count == 1 and logs[1].violation_count == 0


def test_harness_barriers():
    x = np.arange(300, dtype=np.float32)
    y = np.zeros(300, np.float32)
    _buggy("reverse", "plain")((2,), (256,), (x, y, 300))
    np.testing.assert_array_equal(y[:256], x[:256][::-1])  # each thread read another's write
    np.testing.assert_array_equal(y[256:], 0)  # the last block: threads past the end wrote 0s
    with pytest.raises(RuntimeError, match="barrier not reached"):
        _buggy("divergent", "plain")((2,), (256,), (y, 300))


def test_harness_runs_a_kernel_by_name_with_cupy_conventions():
    lib = hostsim.library(np.float64)
    x = np.linspace(-1, 1, 11)
    g = np.ones(11)
    gin = np.empty(11)
    lib.function("threshold_bwd")((1,), (32,), (x, g, gin, np.int32(11), np.float64(0.0)))
    np.testing.assert_array_equal(gin, (x > 0).astype(float))
    with pytest.raises(KeyError, match="no kernel 'nope'"):
        lib.function("nope")
    with pytest.raises(TypeError, match="needs float64"):
        lib.function("threshold_bwd")((1,), (32,), (x.astype(np.float32), g, gin, 11, 0.0))
