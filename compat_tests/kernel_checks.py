"""The kernel checks shared by the GPU tests (test_cuda_kernels.py, ``-m gpu``) and the host
harness tests (test_kernels_host.py): the same random configurations, the NumPy-API path
as the reference, run on a *device*: CuPy on a GPU, or NumPy with the CUDA kernels
compiled for the host (``nnlegacy/kernels/hostsim.py``).

Configurations: odd sizes that do not divide evenly, kernels 1-5, strides 1-3, padding up
to half the kernel, floor and ceil, batches of 1, 3 and 4, float64 and float32.
"""

from __future__ import annotations

import contextlib

import numpy as np

import nnlegacy as nn
from nnlegacy import backend as B
from nnlegacy.kernels import conv as C
from nnlegacy.kernels import cuda
from nnlegacy.kernels import pooling as P
from nnlegacy.kernels import unfold as U

TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=1e-4, atol=1e-5)}
TYPE = {np.float64: "torch.DoubleTensor", np.float32: "torch.FloatTensor"}
CUDA_TYPE = {np.float64: "torch.CudaDoubleTensor", np.float32: "torch.CudaTensor"}


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


class Gpu:
    """CuPy on the GPU."""

    name = "cupy"

    def put(self, a):
        return B.cupy_module().asarray(a)

    get = staticmethod(B.to_numpy)

    def run(self):
        return contextlib.nullcontext()

    def module(self, m, dtype):
        return m.clone().type(CUDA_TYPE[dtype])

    def kernel_ran(self, a):
        return cuda.usable(a)


class Host:
    """NumPy arrays, with the CUDA kernels compiled for the host taking the CuPy dispatch."""

    def __init__(self, mode="plain"):
        self.name = f"host-{mode}"
        self.mode = mode
        self.launches = []

    def put(self, a):
        return np.array(a, copy=True)

    def get(self, a):
        return a

    @contextlib.contextmanager
    def run(self):
        from nnlegacy.kernels import hostsim

        with hostsim.simulate(self.mode, race_check=self.mode != "plain") as sim:
            yield sim
        self.launches += sim.launches

    def module(self, m, dtype):
        return m.clone()

    def kernel_ran(self, a):
        return True


def close(got, want, dtype, what=""):
    np.testing.assert_allclose(got, want, err_msg=what, **TOL[dtype])


def check_im2col_and_col2im(dev, dtype):
    for rng, n, c, (h, w), (kH, kW), (dH, dW), (pH, pW), _ in cases(1):
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
        g = C.Geometry(x.shape, kH, kW, dH, dW, pH, pW)
        ref = C.im2col(x, g)
        with dev.run():
            got = C.im2col(dev.put(x), g)
        close(dev.get(got), ref, dtype, "im2col")
        cols = rng.standard_normal(ref.shape).astype(dtype)
        with dev.run():
            back = C.col2im(dev.put(cols), g)
        close(dev.get(back), C.col2im(cols, g), dtype, "col2im")


def unfold_cases(seed, count=24):
    """1-, 2- and 3-D geometries with stride, padding and dilation (kernels/unfold.py)."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        nd = 1 + i % 3
        k = tuple(int(v) for v in rng.integers(1, 4, nd))
        d = tuple(int(v) for v in rng.integers(1, 4, nd))
        dil = tuple(int(v) for v in rng.integers(1, 3, nd))
        pad = tuple(int(rng.integers(0, kk // 2 + 2)) for kk in k)
        size = tuple(int(dl * (kk - 1) + rng.integers(1, 8 - nd)) for kk, dl in zip(k, dil))
        n, c = int(rng.choice([1, 3])), int(rng.integers(1, 4))
        yield rng, U.Unfold((n, c, *size), k, d, pad, dil)


def check_unfold_nd(dev, dtype):
    for rng, g in unfold_cases(5):
        x = rng.standard_normal(g.input_shape).astype(dtype)
        cols = rng.standard_normal(g.cols_shape).astype(dtype)
        with dev.run():
            got, back = U.unfold(dev.put(x), g), U.fold(dev.put(cols), g)
        close(dev.get(got), U.unfold(x, g), dtype, f"unfold {g.size} {g.k} {g.d} {g.pad} {g.dil}")
        close(dev.get(back), U.fold(cols, g), dtype, f"fold {g.size} {g.k} {g.d} {g.pad} {g.dil}")


def check_convolution(dev, dtype):
    for rng, n, c, (h, w), (kH, kW), (dH, dW), (pH, pW), _ in cases(2, 15):
        o = int(rng.integers(1, 5))
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
        wt = rng.standard_normal((o, c * kH * kW)).astype(dtype)
        b = rng.standard_normal(o).astype(dtype)
        go = None
        ref, cols, g = C.conv2d_forward(x, wt, b, kH, kW, dH, dW, pH, pW)
        go = rng.standard_normal(ref.shape).astype(dtype)
        gw, gb = C.conv2d_weight_grads(go, cols, g)
        gi = C.conv2d_backward_input(go, wt, g)
        with dev.run():
            X, WT, GO = dev.put(x), dev.put(wt), dev.put(go)
            got, gcols, gg = C.conv2d_forward(X, WT, dev.put(b), kH, kW, dH, dW, pH, pW)
            ggi = C.conv2d_backward_input(GO, WT, gg)
            gw2, gb2 = C.conv2d_weight_grads(GO, gcols, gg)
        close(dev.get(got), ref, dtype, "forward")
        close(dev.get(ggi), gi, dtype, "gradInput")
        close(dev.get(gw2), gw, dtype, "gradWeight")
        close(dev.get(gb2), gb, dtype, "gradBias")


def check_max_pooling(dev, dtype):
    for rng, n, c, (h, w), (kH, kW), (dH, dW), (pH, pW), ceil in cases(3):
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
        x[..., 0, 0] = x[..., 0, 1]  # ties: the first maximum must win on both paths
        if ceil:
            x[0, 0, h // 2, w // 2] = np.nan  # NaN wins its windows, as THNN
        out, arg = P.maxpool2d_forward(x, kH, kW, dH, dW, pH, pW, ceil)
        go = rng.standard_normal(out.shape).astype(dtype)
        ref = P.maxpool2d_backward(go, arg, x.shape, kH, kW, dH, dW, pH, pW)
        idx = P.maxpool2d_indices(arg, h, w, kH, kW, dH, dW, pH, pW)
        with dev.run():
            gout, garg = P.maxpool2d_forward(dev.put(x), kH, kW, dH, dW, pH, pW, ceil)
            got = P.maxpool2d_backward(dev.put(go), garg, x.shape, kH, kW, dH, dW, pH, pW)
        np.testing.assert_array_equal(dev.get(gout), out)
        np.testing.assert_array_equal(dev.get(garg), arg.astype(np.int32))
        gidx = P.maxpool2d_indices(garg, h, w, kH, kW, dH, dW, pH, pW)
        np.testing.assert_array_equal(dev.get(gidx), idx)
        close(dev.get(got), ref, dtype, "maxpool backward")


def check_average_pooling(dev, dtype, include):
    for rng, n, c, (h, w), (kH, kW), (dH, dW), (pH, pW), ceil in cases(4):
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
        out = P.avgpool2d_forward(x, kH, kW, dH, dW, pH, pW, ceil, include)
        go = rng.standard_normal(out.shape).astype(dtype)
        with np.errstate(divide="ignore", invalid="ignore"):  # empty windows: 0/0, as THNN
            ref = P.avgpool2d_backward(go, x.shape, kH, kW, dH, dW, pH, pW, include)
        with dev.run():
            got = P.avgpool2d_forward(dev.put(x), kH, kW, dH, dW, pH, pW, ceil, include)
            gin = P.avgpool2d_backward(dev.put(go), x.shape, kH, kW, dH, dW, pH, pW, include)
        close(dev.get(got), out, dtype, "avgpool forward")
        close(dev.get(gin), ref, dtype, "avgpool backward")


# --- whole modules: the NumPy path of the module against its kernel path ------------------------
def _passes(m, x, go, train, scale=1.0):
    """Output, gradInput, the parameter gradients and the module's statistics, as NumPy."""
    m.training() if train else m.evaluate()
    m.zeroGradParameters()
    out = {"output": B.to_numpy(m.forward(x)).copy()}
    out["gradInput"] = B.to_numpy(m.backward(x, go, scale)).copy()
    params = m.parameters()
    for i, g in enumerate(params[1] if params else []):
        out[f"gradParam{i + 1}"] = B.to_numpy(g).copy()
    m.zeroGradParameters()  # the separate calls too: updateGradInput, accGradParameters
    out["gradInput (separate)"] = B.to_numpy(m.updateGradInput(x, go)).copy()
    m.accGradParameters(x, go, scale)
    for i, g in enumerate(params[1] if params else []):
        out[f"gradParam{i + 1} (separate)"] = B.to_numpy(g).copy()
    for k in ("running_mean", "running_var", "save_mean", "save_std", "scale"):
        v = getattr(m, k, None)
        if B.is_array(v) and v.size:
            out[k] = B.to_numpy(v).copy()
    return out


def _module_check(dev, dtype, make, shapes, seed):
    rng = np.random.default_rng(seed)
    for shape in shapes:
        for train in (True, False):
            m = make().type(TYPE[dtype])
            x = rng.standard_normal(shape).astype(dtype)
            go = rng.standard_normal(shape).astype(dtype)
            theirs = dev.module(m, dtype)
            want = _passes(m, x.copy(), go.copy(), train, 0.5)
            with dev.run():
                got = _passes(theirs, dev.put(x), dev.put(go), train, 0.5)
            assert sorted(got) == sorted(want)
            for k in want:
                close(got[k], want[k], dtype, f"{make().__class__.__name__} {shape} {k}")


def check_lrn(dev, dtype):
    for i, size in enumerate((1, 2, 3, 5, 6)):
        _module_check(
            dev,
            dtype,
            lambda size=size: nn.SpatialCrossMapLRN(size, 0.02, 0.75, 1.5),
            [(3, 7, 5, 3), (6, 4, 5)],
            10 + i,
        )


def check_batchnorm(dev, dtype):
    cases_ = [
        (lambda: nn.SpatialBatchNormalization(5), [(3, 5, 4, 7), (2, 5, 1, 1)]),
        (lambda: nn.SpatialBatchNormalization(3, 1e-3, 0.3, False), [(4, 3, 9, 2)]),
        (lambda: nn.BatchNormalization(6), [(7, 6), (1, 6)]),  # batch of 1: running stats
        (lambda: nn.BatchNormalization(4, 0, 0.5, False), [(300, 4)]),  # > 256: strided loop
    ]
    for i, (make, shapes) in enumerate(cases_):
        _module_check(dev, dtype, make, shapes, 20 + i)


def check_threshold(dev, dtype):
    cases_ = [
        (lambda: nn.ReLU(), [(3, 4, 5), (257,)]),
        (lambda: nn.ReLU(True), [(3, 4, 5)]),
        (lambda: nn.Threshold(0.1, -2.0), [(6, 7)]),
        (lambda: nn.Threshold(0.5, 0.25, True), [(2, 3, 4, 5)]),
    ]
    for i, (make, shapes) in enumerate(cases_):
        _module_check(dev, dtype, make, shapes, 30 + i)


CHECKS = {
    "im2col_col2im": check_im2col_and_col2im,
    "convolution": check_convolution,
    "unfold_fold_nd_dilated": check_unfold_nd,
    "max_pooling": check_max_pooling,
    "average_pooling_include_pad": lambda dev, dtype: check_average_pooling(dev, dtype, True),
    "average_pooling_exclude_pad": lambda dev, dtype: check_average_pooling(dev, dtype, False),
    "lrn": check_lrn,
    "batchnorm": check_batchnorm,
    "threshold": check_threshold,
}
