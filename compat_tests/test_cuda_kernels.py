"""The CuPy RawKernels against the NumPy-API path (the reference), over random shapes,
strides, pads, floor and ceil, batch and single inputs, sizes that do not divide evenly.
float64 on the GPU to 1e-10, float32 to 1e-4 relative. GPU only (-m gpu)."""

import numpy as np
import pytest

from nnlegacy import backend as B
from nnlegacy.kernels import conv as C
from nnlegacy.kernels import cuda
from nnlegacy.kernels import pooling as P

pytestmark = pytest.mark.gpu

TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=1e-4, atol=1e-5)}


def cases(seed, count=25):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        k = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
        d = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        pad = (int(rng.integers(0, k[0] // 2 + 1)), int(rng.integers(0, k[1] // 2 + 1)))
        size = (int(rng.integers(k[0], 17)), int(rng.integers(k[1], 17)))
        n = int(rng.choice([1, 3, 4]))
        c = int(rng.integers(1, 5))
        yield rng, n, c, size, k, d, pad, bool(rng.integers(0, 2))


@pytest.fixture(params=[np.float64, np.float32], ids=["double", "float"])
def dtype(request):
    if not B.has_cuda():
        pytest.skip("needs CuPy and an NVIDIA GPU")
    return request.param


def gpu(a):
    return B.cupy_module().asarray(a)


def test_im2col_and_col2im(dtype):
    for rng, n, c, (h, w), (kH, kW), (dH, dW), (pH, pW), _ in cases(1):
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
        g = C.Geometry(x.shape, kH, kW, dH, dW, pH, pW)
        ref = C.im2col(x, g)
        got = C.im2col(gpu(x), g)
        assert cuda.usable(gpu(x))
        np.testing.assert_allclose(B.to_numpy(got), ref, **TOL[dtype])
        cols = rng.standard_normal(ref.shape).astype(dtype)
        np.testing.assert_allclose(
            B.to_numpy(C.col2im(gpu(cols), g)), C.col2im(cols, g), **TOL[dtype]
        )


def test_convolution_forward_and_backward(dtype):
    for rng, n, c, (h, w), (kH, kW), (dH, dW), (pH, pW), _ in cases(2, 15):
        o = int(rng.integers(1, 5))
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
        wt = rng.standard_normal((o, c * kH * kW)).astype(dtype)
        b = rng.standard_normal(o).astype(dtype)
        ref, cols, g = C.conv2d_forward(x, wt, b, kH, kW, dH, dW, pH, pW)
        got, gcols, gg = C.conv2d_forward(gpu(x), gpu(wt), gpu(b), kH, kW, dH, dW, pH, pW)
        np.testing.assert_allclose(B.to_numpy(got), ref, **TOL[dtype])
        go = rng.standard_normal(ref.shape).astype(dtype)
        np.testing.assert_allclose(
            B.to_numpy(C.conv2d_backward_input(gpu(go), gpu(wt), gg)),
            C.conv2d_backward_input(go, wt, g),
            **TOL[dtype],
        )
        gw, gb = C.conv2d_weight_grads(go, cols, g)
        gw2, gb2 = C.conv2d_weight_grads(gpu(go), gcols, gg)
        np.testing.assert_allclose(B.to_numpy(gw2), gw, **TOL[dtype])
        np.testing.assert_allclose(B.to_numpy(gb2), gb, **TOL[dtype])


def test_max_pooling(dtype):
    for rng, n, c, (h, w), (kH, kW), (dH, dW), (pH, pW), ceil in cases(3):
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
        x[..., 0, 0] = x[..., 0, 1]  # ties: the first maximum must win on both paths
        out, arg = P.maxpool2d_forward(x, kH, kW, dH, dW, pH, pW, ceil)
        gout, garg = P.maxpool2d_forward(gpu(x), kH, kW, dH, dW, pH, pW, ceil)
        np.testing.assert_array_equal(B.to_numpy(gout), out)
        np.testing.assert_array_equal(B.to_numpy(garg), arg.astype(np.int32))
        idx = P.maxpool2d_indices(arg, h, w, kH, kW, dH, dW, pH, pW)
        np.testing.assert_array_equal(
            B.to_numpy(P.maxpool2d_indices(garg, h, w, kH, kW, dH, dW, pH, pW)), idx
        )
        go = rng.standard_normal(out.shape).astype(dtype)
        ref = P.maxpool2d_backward(go, arg, x.shape, kH, kW, dH, dW, pH, pW)
        got = P.maxpool2d_backward(gpu(go), garg, x.shape, kH, kW, dH, dW, pH, pW)
        np.testing.assert_allclose(B.to_numpy(got), ref, **TOL[dtype])


@pytest.mark.parametrize("include", [True, False])
def test_average_pooling(dtype, include):
    for rng, n, c, (h, w), (kH, kW), (dH, dW), (pH, pW), ceil in cases(4):
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
        out = P.avgpool2d_forward(x, kH, kW, dH, dW, pH, pW, ceil, include)
        got = P.avgpool2d_forward(gpu(x), kH, kW, dH, dW, pH, pW, ceil, include)
        np.testing.assert_allclose(B.to_numpy(got), out, **TOL[dtype])
        go = rng.standard_normal(out.shape).astype(dtype)
        ref = P.avgpool2d_backward(go, x.shape, kH, kW, dH, dW, pH, pW, include)
        got = P.avgpool2d_backward(gpu(go), x.shape, kH, kW, dH, dW, pH, pW, include)
        np.testing.assert_allclose(B.to_numpy(got), ref, **TOL[dtype])


def test_kernel_sources_compile_for_both_types(dtype):
    ctype = "double" if dtype == np.float64 else "float"
    for name in ("im2col", "col2im", "maxpool_fwd", "maxpool_bwd", "avgpool_fwd", "avgpool_bwd"):
        assert cuda._kernel(name, np.dtype(dtype)) is not None, (name, ctype)
