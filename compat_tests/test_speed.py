"""The CPU speed work (issue 18) computes what it replaced: the chunked, threaded
convolution against the whole-batch unfold + GEMM, the one-pass ReLU/Threshold against
THNN's rules (NaN included), BatchNorm's fused backward against its two halves, and the
shared thread pool's helpers."""

import numpy as np
import pytest

import nnlegacy as nn
from nnlegacy import threads
from nnlegacy.kernels import conv_cpu as KC
from nnlegacy.kernels import gemm
from nnlegacy.kernels import unfold as KU

# (input shape, kernel, stride, pad, dilation): wide and plain rows, bands, 1x1, 3-D
GEOMETRIES = [
    ((3, 2, 9, 8), (3, 3), (1, 1), (1, 1), (1, 1)),
    ((2, 3, 11, 7), (3, 2), (2, 1), (0, 1), (2, 1)),
    ((4, 2, 6, 6), (1, 1), (1, 1), (0, 0), (1, 1)),
    ((1, 3, 13, 10), (5, 3), (2, 2), (2, 1), (1, 2)),
    ((3, 2, 8, 8), (3, 3), (3, 3), (0, 0), (1, 1)),
    ((2, 2, 10, 9), (3, 3), (1, 1), (4, 4), (4, 4)),
    ((2, 2, 5, 6, 7), (2, 3, 2), (1, 2, 1), (1, 0, 1), (1, 1, 2)),
    ((3, 2, 5, 6, 7), (2, 3, 2), (1, 1, 1), (1, 0, 1), (1, 1, 2)),  # 3-D, stride 1
]


@pytest.fixture(params=[(1 << 20, 256, 1), (64, 1, 2), (2000, 1, 3)], ids=["one", "bands", "few"])
def chunking(request, monkeypatch):
    """Chunk sizes from whole batches down to one output row, on 1-3 threads."""
    size, cols, nt = request.param
    monkeypatch.setattr(KC, "CHUNK_BYTES", size)
    monkeypatch.setattr(KC, "DIRECT_CHUNK_BYTES", size)
    if size < 1 << 20:  # the backward pass cut as finely as the forward one
        monkeypatch.setattr(KC, "SMALL_BACKWARD_BYTES", 0)
    monkeypatch.setattr(KC, "MIN_COLUMNS", cols)
    monkeypatch.setattr(KC, "FLAT_CHUNK_BYTES", size)  # "bands": one image a chunk
    monkeypatch.setattr(KC, "PARALLEL_FLOPS", 0)  # these small inputs on every thread too
    monkeypatch.setattr(KC, "FLAT_PARALLEL_FLOPS", 0 if nt > 1 else 1 << 62)
    before = threads.get_num_threads()
    threads.set_num_threads(nt)
    yield
    threads.set_num_threads(before)


PATHS = [
    (geometry, path)
    for geometry in GEOMETRIES
    for path in (
        "unfold",
        "unfold-wide",
        "unfold-plain",
        "unfold-channels",
        "direct",
        "direct32",
        "direct-plain",
        "flat",
        "flat32",
        "pointwise",
        "pointwise-images",
    )
    if path.startswith("unfold")
    or (path.startswith(("direct", "flat")) and all(s == 1 for s in geometry[2]))  # stride 1
    or (set(geometry[1]) == set(geometry[2]) == {1} and not any(geometry[3]))  # 1x1
]


@pytest.mark.parametrize("geometry,path", PATHS)
def test_chunked_convolution_equals_whole_batch(chunking, geometry, path, monkeypatch):
    """The CPU paths against the whole-batch unfold: the unfolding one; (stride 1, float32
    and float64) the column-free one of a BLAS product per kernel offset and the one
    that unfolds along the flat planes; and (1x1) the one of a product per image. The
    column-free weight gradient both ways: ``window_k @ gradOutput.T`` (these 5 output
    planes) and, "-plain", ``gradOutput @ window_k.T`` (the layout above 128 planes).
    The unfolding one with wide rows wherever the stride allows, with plain rows, and
    with its backward pass cut by input planes between the threads (batch cut otherwise)."""
    shape, k, d, p, dil = geometry
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    g = KU.Unfold(shape, k, d, p, dil)
    kind = path.split("-")[0].removesuffix("32")
    channels = path == "unfold-channels"
    monkeypatch.setattr(KC, "CHANNEL_MAX_BYTES", np.inf if channels else -1)
    monkeypatch.setattr(KC, "CHANNEL_MIN_RATIO", 0)
    monkeypatch.setattr(KC, "CHANNEL_MIN_PLANES", 0)
    if channels:
        assert KC._by_channels(g, 5, x.itemsize) == (threads.get_num_threads() > 1 and g.c > 1)
    # 1x1: the whole batch at once on these small maps, or "-images", a product per image
    monkeypatch.setattr(KC, "POINTWISE_BATCHED_MAX", 0 if path == "pointwise-images" else 1 << 30)
    if path == "direct-plain":
        monkeypatch.setattr(KC, "DIRECT_TRANSPOSED_MAX_O", 0)
    if path in ("unfold-wide", "unfold-plain"):
        monkeypatch.setattr(KC, "WIDE_MAX_EXTRA", np.inf if path == "unfold-wide" else -1)
        wide = d[-1] == 1 and 2 * (shape[-1] + 2 * p[-1]) <= 3 * g.out[-1] and path == "unfold-wide"
        assert KC._wide(g, 5) == wide
    for other in ("pointwise", "direct", "flat"):
        if other != kind:
            monkeypatch.setattr(KC, f"_{other}", lambda *a: False)
    if kind == "pointwise":
        assert KC._pointwise(g)
    elif kind == "flat":  # on these small maps too (it would unfold them)
        monkeypatch.setattr(KC, "FLAT_MIN_POSITIONS", 1)
        monkeypatch.setattr(KC, "FLAT_MAX_WASTE", np.inf)
        assert KC._flat(g)
    elif kind == "direct":
        if not gemm.available(x.dtype):
            pytest.skip("NumPy's BLAS here is not an OpenBLAS with cblas_dgemm")
        monkeypatch.setattr(KC, "DIRECT_MIN_CHANNELS", 1)  # on these small inputs too
        monkeypatch.setattr(KC, "DIRECT_MAX_WASTE", np.inf)
        assert KC._direct(g, x)
    if path in ("direct32", "flat32"):
        x = x.astype(np.float32)
        w, b = rng.standard_normal((5, g.rows)).astype(np.float32), np.ones(5, np.float32)
        ref, cols = KU.conv_forward(x.astype(np.float64), w.astype(np.float64), b, g)
        go = rng.standard_normal(ref.shape).astype(np.float32)
        gw_ref, _ = KU.conv_weight_grads(go.astype(np.float64), cols, g)
        np.testing.assert_allclose(KC.conv_forward(x, w, b, g), ref, rtol=1e-4, atol=1e-4)
        gi, gw, gb = KC.conv_backward(x, go, w, g)
        assert gi.dtype == gw.dtype == gb.dtype == np.float32
        gi_ref = KU.conv_backward_input(go.astype(np.float64), w.astype(np.float64), g)
        np.testing.assert_allclose(gi, gi_ref, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(gw, gw_ref, rtol=1e-4, atol=1e-3)
        return
    w, b = rng.standard_normal((5, g.rows)), rng.standard_normal(5)
    ref, cols = KU.conv_forward(x, w, b, g)
    go = rng.standard_normal(ref.shape)
    gw_ref, gb_ref = KU.conv_weight_grads(go, cols, g)
    np.testing.assert_allclose(KC.conv_forward(x, w, b, g), ref, rtol=1e-12, atol=1e-12)
    gi, gw, gb = KC.conv_backward(x, go, w, g)
    np.testing.assert_allclose(gi, KU.conv_backward_input(go, w, g), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw, gw_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gb, gb_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("nt", [1, 2])
def test_flat_path_buffers_are_not_shared_across_geometries(nt, monkeypatch):
    """The flat path keeps zeros in per-thread buffers between calls (padding, dropped
    positions): layers whose buffers have the same shape but other padding or kernel
    sizes, run in turn, each still get their own gradients."""
    monkeypatch.setattr(KC, "FLAT_MIN_POSITIONS", 1)
    monkeypatch.setattr(KC, "FLAT_PARALLEL_FLOPS", 0 if nt > 1 else 1 << 62)
    before = threads.get_num_threads()
    threads.set_num_threads(nt)
    rng = np.random.default_rng(3)
    # the same padded plane (14x14) and planes, three geometries
    layers = [((4, 2, 14, 14), (5, 5), (0, 0)), ((4, 2, 12, 12), (3, 3), (1, 1)),
              ((4, 2, 14, 14), (3, 3), (0, 0))]  # fmt: skip
    try:
        for _ in range(2):
            for shape, k, p in layers:
                g = KU.Unfold(shape, k, (1, 1), p)
                assert KC._flat(g)
                x = rng.standard_normal(shape)
                w, b = rng.standard_normal((3, g.rows)), rng.standard_normal(3)
                ref, cols = KU.conv_forward(x, w, b, g)
                go = rng.standard_normal(ref.shape)
                np.testing.assert_allclose(KC.conv_forward(x, w, b, g), ref, rtol=1e-12)
                gi, gw, gb = KC.conv_backward(x, go, w, g)
                gw_ref, gb_ref = KU.conv_weight_grads(go, cols, g)
                gi_ref = KU.conv_backward_input(go, w, g)
                np.testing.assert_allclose(gi, gi_ref, rtol=1e-12, atol=1e-12)
                np.testing.assert_allclose(gw, gw_ref, rtol=1e-12, atol=1e-12)
                np.testing.assert_allclose(gb, gb_ref, rtol=1e-12, atol=1e-12)
    finally:
        threads.set_num_threads(before)


def test_chunked_convolution_keeps_float32():
    x = np.random.default_rng(0).standard_normal((4, 3, 12, 12)).astype(np.float32)
    g = KU.Unfold(x.shape, (3, 3), (1, 1), (1, 1))
    w = np.ones((2, g.rows), np.float32)
    go = np.ones((4, 2, 12, 12), np.float32)
    gi, gw, gb = KC.conv_backward(x, go, w, g)
    assert KC.conv_forward(x, w, None, g).dtype == gi.dtype == gw.dtype == gb.dtype == np.float32


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.SpatialConvolution(3, 4, 3, 3, 1, 1, 1, 1),
        lambda: nn.SpatialDilatedConvolution(3, 4, 3, 3, 1, 1, 2, 2, 2, 2),
        lambda: nn.SpatialConvolution(3, 4, 3, 3, 2, 2).noBias(),
    ],
)
def test_convolution_backward_is_its_two_halves(make):
    rng = np.random.default_rng(1)
    x, scale = rng.standard_normal((2, 3, 9, 9)), 0.5
    a, b = make(), make()
    b.weight[...] = a.weight
    out = a.forward(x)
    go = rng.standard_normal(out.shape)
    a.zeroGradParameters()
    gi = a.backward(x, go, scale).copy()
    b.forward(x)
    b.zeroGradParameters()
    np.testing.assert_allclose(b.updateGradInput(x, go), gi, rtol=1e-13)
    b.accGradParameters(x, go, scale)
    np.testing.assert_allclose(b.gradWeight, a.gradWeight, rtol=1e-13)
    assert a.finput.size == 0  # the CPU keeps no columns between forward and backward


X = np.array([-1.0, 0.0, 2.0, np.nan, -0.5, 0.25])
G = np.array([np.inf, 1.0, 2.0, 3.0, np.nan, 4.0])


@pytest.fixture(params=[1, 2, 3], ids=["inline", "runs2", "runs3"])
def runs(request, monkeypatch):
    """threads.over_runs inline (as a small array), or cutting every array into runs of
    one element on 2 or 3 threads (as a large one)."""
    if request.param == 1:
        yield
        return
    monkeypatch.setattr(threads, "INLINE_BYTES", 0)
    monkeypatch.setattr(threads, "RUN_BYTES", 1)
    before = threads.get_num_threads()
    threads.set_num_threads(request.param)
    yield
    threads.set_num_threads(before)


@pytest.mark.parametrize("th,val", [(0, 0), (0.5, 0.5), (1, -1), (0.1, 0)])
@pytest.mark.parametrize("inplace", [False, True])
def test_threshold_follows_thnn_exactly(th, val, inplace, runs):
    """THNN: in place, ``x <= th`` becomes val (NaN stays) and its gradient is zeroed;
    otherwise ``x > th ? x : val`` (a NaN becomes val; the non-zero val == 0 legacy path
    keeps NaN) and the gradient is kept only where ``x > th``. Zeroed means exactly 0,
    even for an infinite or NaN gradOutput; the same by runs on several threads."""
    x, g = X.copy(), G.copy()
    m = nn.Threshold(th, val, inplace)
    out = m.forward(x).copy()
    gi = m.backward(x, g).copy()
    keep_nan = inplace or (val == 0 and th != 0)
    want = np.where(X > th, X, val)
    want[3] = np.nan if keep_nan else val
    np.testing.assert_array_equal(out, want)
    kept = (out > th) | (np.isnan(out) & inplace) if inplace else X > th
    np.testing.assert_array_equal(gi, np.where(kept, G, 0))
    if inplace:
        assert m.output is x and m.gradInput is g


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_keeps_dtype(dtype):
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(dtype)
    m = nn.ReLU(True).type("torch.FloatTensor" if dtype == np.float32 else "torch.DoubleTensor")
    assert m.forward(x).dtype == dtype and m.backward(x, np.ones_like(x)).dtype == dtype


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("train", [True, False])
def test_batchnorm_backward_is_its_two_halves(affine, train):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 5, 5)) * 2 + 1
    go = rng.standard_normal(x.shape)
    a = nn.SpatialBatchNormalization(3, 1e-5, 0.1, affine)
    b = a.clone()
    for m in (a, b):
        m.training() if train else m.evaluate()
        m.forward(x)
        m.zeroGradParameters()
    gi = a.backward(x, go, 0.5).copy()
    np.testing.assert_allclose(b.updateGradInput(x, go), gi, rtol=1e-12, atol=1e-14)
    if affine:
        b.accGradParameters(x, go, 0.5)
        np.testing.assert_allclose(b.gradWeight, a.gradWeight, rtol=1e-12)
        np.testing.assert_allclose(b.gradBias, a.gradBias, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("nt", [2, 3])
def test_batchnorm_by_parts_equals_the_whole_array_code(dtype, affine, nt, monkeypatch):
    """SpatialBatchNormalization on a big input runs each pass a part of the batch per
    thread: the output, running statistics and every gradient as the whole-array code
    computes them (training and evaluation; the channel sums in another order)."""
    from nnlegacy import normalization

    rng = np.random.default_rng(4)
    x = (rng.standard_normal((5, 4, 6, 7)) * 3 + 1).astype(dtype)
    go = rng.standard_normal(x.shape).astype(dtype)
    mods = []
    for _ in range(2):
        m = nn.SpatialBatchNormalization(4, 1e-5, 0.1, affine)
        m.type("torch.DoubleTensor" if dtype == np.float64 else "torch.FloatTensor")
        if affine:
            m.weight[...] = rng.standard_normal(4) if not mods else mods[0].weight
            m.bias[...] = rng.standard_normal(4) if not mods else mods[0].bias
        mods.append(m)
    before = threads.get_num_threads()
    threads.set_num_threads(nt)
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == np.float64 else {"rtol": 2e-5, "atol": 2e-5}
    try:
        for train in (True, False):
            got = []
            for m, split in zip(mods, (0, 1 << 62)):  # by parts, then whole arrays
                monkeypatch.setattr(normalization, "SPLIT_BYTES", split)
                assert (normalization._parts(x) is not None) == (split == 0)
                m.training() if train else m.evaluate()
                if affine:
                    m.zeroGradParameters()
                out = m.forward(x).copy()
                gi = m.backward(x, go, 0.5).copy()
                got.append([out, gi, m.running_mean.copy(), m.running_var.copy()])
                if affine:
                    got[-1] += [m.gradWeight.copy(), m.gradBias.copy()]
                    np.testing.assert_allclose(m.updateGradInput(x, go), gi, **tol)
            for a, b in zip(*got):
                assert a.dtype == b.dtype
                np.testing.assert_allclose(a, b, **tol)
    finally:
        threads.set_num_threads(before)


def test_thread_helpers():
    assert threads.parallel_for(lambda i: i * i, 5) == [0, 1, 4, 9, 16]
    with pytest.raises(ValueError, match="positive integer"):
        threads.set_num_threads(0)
    libs = threads._blas_controllers() or []
    before = [lib.get_num_threads() for lib in libs]
    with threads.single_blas():
        assert all(lib.get_num_threads() == 1 for lib in libs)
        with threads.single_blas():  # re-entrant
            pass
        assert all(lib.get_num_threads() == 1 for lib in libs)
    assert [lib.get_num_threads() for lib in libs] == before
    rng = np.random.default_rng(0)
    for m, k, n in [(300, 200, 40), (40, 200, 300), (3, 4, 5)]:
        a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
        np.testing.assert_allclose(threads.matmul(a, b), a @ b, rtol=1e-12)
        np.testing.assert_allclose(threads.matmul(b.T, a.T), b.T @ a.T, rtol=1e-12)


def test_parallel_for_shares_items_between_the_caller_and_the_pool():
    """Every item runs once, on the calling thread or a pool thread, results in order;
    an item's error reaches the caller after the others are done; nested calls run
    inline; two callers at once each get their own results."""
    import threading
    import time

    before = threads.get_num_threads()
    threads.set_num_threads(3)
    try:
        seen = []

        def item(i):
            time.sleep(0.002)  # long enough for the pool threads to wake and take some
            seen.append((i, threading.current_thread().name))
            return i * 10

        assert threads.parallel_for(item, 12) == [i * 10 for i in range(12)]
        assert sorted(i for i, _ in seen) == list(range(12))
        assert threading.current_thread().name in {name for _, name in seen}

        def failing(i):
            if i == 3:
                raise KeyError("item 3")
            return i

        with pytest.raises(KeyError, match="item 3"):
            threads.parallel_for(failing, 6)
        nested = threads.parallel_for(lambda i: threads.parallel_for(lambda j: i + j, 3), 4)
        assert nested == [[i, i + 1, i + 2] for i in range(4)]
        out = {}
        callers = [
            threading.Thread(target=lambda k=k: out.setdefault(k, threads.parallel_for(
                lambda i: (k, i), 8)))
            for k in range(3)
        ]  # fmt: skip
        for t in callers:
            t.start()
        for t in callers:
            t.join()
        assert out == {k: [(k, i) for i in range(8)] for k in range(3)}
    finally:
        threads.set_num_threads(before)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_pool_works_in_a_forked_child():
    import os

    threads.parallel_for(lambda i: i, 2)  # the parent's pool exists
    pid = os.fork()
    if pid == 0:  # the child: the parent's pool threads are gone; a fresh pool serves
        ok = threads.parallel_for(lambda i: i + 1, 3) == [1, 2, 3]
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_update_in_blocks_is_bitwise_the_same(dtype):
    """optim.sgd's ``y += a * x`` through a cache-sized temporary gives the same bits."""
    from nnlegacy.optim import _util

    rng = np.random.default_rng(0)
    n = _util._SCALED_ADD_BLOCK * 2 + 17
    x, y = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    want = y.copy()
    want -= 0.01 * x
    _util._scaled_add(y, -0.01, x)
    np.testing.assert_array_equal(y, want)


SGD_CONFIGS = [
    {"learningRate": 0.1},
    {"learningRate": 0.01, "momentum": 0.9},
    {"learningRate": 0.01, "momentum": 0.9, "dampening": 0.5, "weightDecay": 5e-4},
    {"learningRate": 0.01, "momentum": 0.9, "dampening": 0, "nesterov": True},
    {"learningRate": 0.05, "learningRateDecay": 0.1, "weightDecay": 1e-3},
]


@pytest.mark.parametrize("config", SGD_CONFIGS)
@pytest.mark.parametrize("nt", [1, 2, 3])
def test_sgd_by_runs_is_bitwise_the_whole_array_sequence(config, nt, monkeypatch):
    """optim.sgd on a big parameter vector goes run by run on the threads; against Lua's
    sequence written out on whole arrays (decay into the gradient, the momentum buffer
    copied at the first step then decayed, Nesterov's look-ahead), bit for bit."""
    monkeypatch.setattr(threads, "INLINE_BYTES", 0)  # small runs on every thread
    monkeypatch.setattr(threads, "RUN_BYTES", 4096)
    before = threads.get_num_threads()
    threads.set_num_threads(nt)
    rng = np.random.default_rng(1)
    n = (1 << 18) + 4097  # over the size that goes by runs, runs of unequal length
    x = rng.standard_normal(n).astype(np.float32)
    want = x.copy()
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(3)]
    c = dict(config)
    lr, lrd, wd = c["learningRate"], c.get("learningRateDecay", 0), c.get("weightDecay", 0)
    mom = c.get("momentum", 0)
    damp, nesterov = c.get("dampening", mom), c.get("nesterov", False)
    buf = None
    try:
        for step, g in enumerate(grads):
            gw = g.copy()  # the reference, on whole arrays
            if wd:
                gw += wd * want
            d = gw
            if mom:
                if buf is None:
                    buf = gw.copy()
                else:
                    buf *= mom
                    buf += (1 - damp) * gw
                if nesterov:
                    gw += mom * buf
                else:
                    d = buf
            want += -(lr / (1 + step * lrd)) * d
            nn.optim.sgd(lambda p, g=g: (0.0, g.copy()), x, c)
            np.testing.assert_array_equal(x, want)
    finally:
        threads.set_num_threads(before)


@pytest.mark.parametrize("scale", [1, 0.5])
def test_matmul_acc_equals_the_whole_product(scale, monkeypatch):
    monkeypatch.setattr(threads, "ACC_BLOCK_BYTES", 512)  # many blocks
    monkeypatch.setattr(threads, "PARALLEL_FLOPS", 0)  # on the pool
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((8, 37)).T, rng.standard_normal((8, 29))
    acc = rng.standard_normal((37, 29))
    want = acc.copy()
    g = a @ b
    want += g * scale if scale != 1 else g
    # BLAS may sum a block's products in another order: equal to rounding, not bitwise
    np.testing.assert_allclose(threads.matmul_acc(acc, a, b, scale), want, rtol=1e-13)


@pytest.mark.parametrize(
    "shape,ks,ds",
    [
        ((2, 3, 9, 8), (2, 2), (2, 2)),
        ((2, 3, 16, 16), (16, 16), (16, 16)),
        ((2, 3, 7, 7), (7, 7), (1, 1)),  # ResNet's global 7x7 average, stride 1
        ((1, 2, 5, 6, 7), (2, 3, 2), (2, 3, 2)),
    ],
)
def test_tiled_average_pooling_equals_the_window_loop(shape, ks, ds, monkeypatch):
    """Windows tiling the input (dropped edge rows included) summed as one reduction."""
    from nnlegacy.kernels import pooling as P

    rng = np.random.default_rng(0)
    x, zeros = rng.standard_normal(shape), (0,) * len(ks)
    assert P._tiled(shape[2:], ks, ds, zeros, [s // k for s, k in zip(shape[2:], ks)])
    fast = P.avgpool_nd_forward(x, ks, ds, zeros, False, True)
    go = rng.standard_normal(fast.shape)
    fast_back = P.avgpool_nd_backward(go, shape, ks, ds, zeros, True)
    monkeypatch.setattr(P, "_tiled", lambda *a: False)
    slow = P.avgpool_nd_forward(x, ks, ds, zeros, False, True)
    np.testing.assert_allclose(fast, slow, rtol=1e-13)
    slow_back = P.avgpool_nd_backward(go, shape, ks, ds, zeros, True)
    np.testing.assert_allclose(fast_back, slow_back, rtol=1e-13)


@pytest.mark.parametrize("nt", [1, 2, 3])
@pytest.mark.parametrize(
    "shape,k,d,pad,ceil",
    [
        ((3, 4, 11, 10), 3, 2, 1, False),  # ResNet's 3x3/2 pad 1
        ((2, 5, 9, 9), 3, 1, 1, False),  # GoogLeNet's 3x3/1 pad 1: overlapping windows
        ((2, 3, 12, 12), 2, 2, 0, False),  # disjoint windows: routed straight into place
        ((2, 3, 10, 11), 3, 2, 0, True),  # ceil mode: windows past the edge
    ],
)
def test_max_pooling_by_runs_of_planes_equals_the_window_scan(
    nt, shape, k, d, pad, ceil, monkeypatch
):
    """Max pooling cut into runs of a few planes on 1-3 threads (as a large input is):
    THNN's first-maximum ties, a NaN winning, and the routed gradient, against the loop
    reference and a by-hand sum of gradOutput per argmax."""
    from compat_tests.reference import maxpool_loops
    from nnlegacy.kernels import pooling as P

    monkeypatch.setattr(P, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(threads, "INLINE_BYTES", 0)
    monkeypatch.setattr(P, "PLANE_RUN_BYTES", 3 * shape[2] * shape[3] * 8)  # 3 planes a run
    before = threads.get_num_threads()
    threads.set_num_threads(nt)
    try:
        rng = np.random.default_rng(1)
        x = rng.integers(0, 4, shape).astype(np.float64)  # many ties
        x[0, 1, 2, 3] = np.nan
        m = nn.SpatialMaxPooling(k, k, d, d, pad, pad)
        if ceil:
            m.ceil()
        out = m.forward(x)
        ref, idx = maxpool_loops(np.nan_to_num(x, nan=np.inf), k, k, d, d, pad, pad, ceil)
        ref[np.isinf(ref) & (ref > 0)] = np.nan
        np.testing.assert_array_equal(out, ref)
        np.testing.assert_array_equal(m.indices, idx)
        go = rng.standard_normal(out.shape)
        gi = m.backward(x, go)
        want = np.zeros(x.shape)
        n, c = np.indices(out.shape[:2])
        for i in range(out.shape[2]):
            for j in range(out.shape[3]):
                flat = want.reshape(*shape[:2], -1)
                np.add.at(flat, (n, c, idx[:, :, i, j] - 1), go[:, :, i, j])
        np.testing.assert_allclose(gi, want, rtol=1e-13, atol=1e-13)
    finally:
        threads.set_num_threads(before)


@pytest.mark.parametrize(
    "make, shape, ks, ds, pads, dils",
    [
        (lambda: nn.SpatialMaxPooling(3, 3, 1, 1, 1, 1), (2, 3, 7, 8), 3, 1, 1, 1),
        (lambda: nn.SpatialMaxPooling(3, 3, 2, 2).ceil(), (2, 3, 9, 8), 3, 2, 0, 1),
        (lambda: nn.SpatialMaxPooling(2, 2, 2, 2), (2, 3, 8, 6), 2, 2, 0, 1),  # disjoint
        (lambda: nn.SpatialDilatedMaxPooling(2, 2, 1, 1, 1, 1, 2, 2), (1, 2, 7, 7), 2, 1, 1, 2),
        (lambda: nn.VolumetricMaxPooling(2, 2, 2, 1, 1, 1), (1, 2, 4, 5, 5), 2, 1, 0, 1),
    ],
)
def test_max_pooling_gradient_adds_in_the_type_in_thnn_order(make, shape, ks, ds, pads, dils):
    """The max-pooling gradient on the CPU adds gradOutput at each window's maximum in
    float32, output after output, as THNN's loop: bit for bit, with gradients of mixed
    magnitudes (where the order of the additions changes the float32 sum) on planes of
    equal values (neighbouring windows share their first position as maximum)."""
    m = make().float()
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2, shape).astype(np.float32)
    x[:, 0] = 1  # one plane of ties
    out = m.forward(x)
    go = rng.standard_normal(out.shape) * 10.0 ** rng.integers(-4, 8, out.shape)
    go = np.asfortranarray(go.astype(np.float32))  # not contiguous, as a view may come
    gi = m.backward(x, go)
    # THNN: gradInput zeroed; then per plane, output after output, g[first max] += go
    nd = len(shape) - 2
    planes = x.reshape(-1, *shape[2:])
    gos = go.reshape(-1, *out.shape[2:])
    want = np.zeros(planes.shape, np.float32)
    for p in range(planes.shape[0]):
        for o in np.ndindex(*out.shape[2:]):
            best, at = -np.inf, None
            for k in np.ndindex(*(ks,) * nd):
                i = tuple(oi * ds - pads + ki * dils for oi, ki in zip(o, k))
                inside = all(0 <= v < n for v, n in zip(i, shape[2:]))
                if inside and planes[(p, *i)] > best:
                    best, at = planes[(p, *i)], i
            want[(p, *at)] = np.float32(want[(p, *at)] + gos[(p, *o)])
    assert gi.dtype == np.float32
    np.testing.assert_array_equal(gi.reshape(want.shape), want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_adds_into_strided_views_as_matmul(dtype):
    """kernels/gemm.py: C = A @ B + beta * C on transposed and strided views (a shifted
    window of a buffer, as the column-free convolution passes them), against matmul."""
    if not gemm.available(dtype):
        pytest.skip("NumPy's BLAS here is not an OpenBLAS with cblas_?gemm")
    rng = np.random.default_rng(5)
    buf = rng.standard_normal(4 * 40).astype(dtype).reshape(4, 40)
    window = buf[:, 3:33]  # (4, 30), leading dimension 40
    a = rng.standard_normal((4, 5)).astype(dtype).T  # (5, 4), a transposed view
    c0 = rng.standard_normal((5, 50)).astype(dtype)
    c = c0.copy()
    gemm.gemm(a, window, c[:, 10:40], 1.0)
    want = c0.copy()
    want[:, 10:40] += a @ window
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(c, want, rtol=tol, atol=tol)  # the rest of c untouched
    out = np.full((4, 4), np.nan, dtype)  # beta 0 ignores what C held, NaN included
    gemm.gemm(window, window.T, out, 0.0)
    np.testing.assert_allclose(out, window @ window.T, rtol=tol, atol=tol)
    with pytest.raises(ValueError, match="unit stride"):
        gemm.gemm(buf[:, ::2][:, :4], window, np.zeros((4, 30), dtype))
    with pytest.raises(ValueError, match="shapes"):
        gemm.gemm(a, window[:3], np.zeros((5, 30), dtype))


def test_convolution_path_choice():
    """Which CPU path a convolution takes: per image for 1x1/stride 1/no padding; column-free
    for stride 1 on >= 32 planes with under 20 % padded positions (and a BLAS gemm);
    along the flat planes for stride 1 on fewer planes; otherwise unfolding (a 7x7 map;
    stride 2)."""
    x = np.zeros(1, np.float32)

    def path(shape, k, d, p):
        g = KU.Unfold(shape, k, d, p)
        if KC._pointwise(g):
            return "image"
        return "free" if KC._direct(g, x) else "flat" if KC._flat(g) else "unfold"

    assert path((4, 256, 28, 28), (1, 1), (1, 1), (0, 0)) == "image"
    assert path((4, 256, 28, 28), (1, 1), (2, 2), (0, 0)) == "unfold"
    assert path((8, 3, 224, 224), (3, 3), (1, 1), (1, 1)) == "unfold"
    assert path((8, 512, 7, 7), (3, 3), (1, 1), (1, 1)) == "unfold"
    assert path((8, 64, 56, 56), (3, 3), (2, 2), (1, 1)) == "unfold"
    free = "free" if gemm.available(np.float32) else "unfold"
    assert path((8, 64, 56, 56), (3, 3), (1, 1), (1, 1)) == free
    # few planes, stride 1: along the flat planes (LeNet's C1 and C3, GoogLeNet's 5x5 on
    # 16 planes); not where an image's columns are large (VGG's first layer, above) nor
    # where padding makes half the positions (a 5x5 kernel with padding 2 on 7x7)
    assert path((128, 1, 32, 32), (5, 5), (1, 1), (0, 0)) == "flat"
    assert path((128, 6, 14, 14), (5, 5), (1, 1), (0, 0)) == "flat"
    assert path((4, 16, 28, 28), (5, 5), (1, 1), (2, 2)) == "flat"
    assert path((4, 16, 7, 7), (5, 5), (1, 1), (2, 2)) == "unfold"
    # too little work to wake the pool: the calling thread alone
    small = KU.Unfold((2, 3, 8, 8), (3, 3), (1, 1), (0, 0))
    assert KC._threads(small, 4) == 1
    big = KU.Unfold((8, 64, 56, 56), (3, 3), (1, 1), (1, 1))
    assert KC._threads(big, 64) == threads.get_num_threads()


def test_over_runs_covers_the_range_in_order(monkeypatch):
    """threads.over_runs: consecutive runs covering range(n) once, results in run order,
    on 1-3 threads; inline (one run) under INLINE_BYTES."""
    assert threads.over_runs(lambda i, j: (i, j), 10, 1) == [(0, 10)]
    monkeypatch.setattr(threads, "INLINE_BYTES", 0)
    before = threads.get_num_threads()
    try:
        for nt in (1, 2, 3):
            threads.set_num_threads(nt)
            runs = threads.over_runs(lambda i, j: (i, j), 10, 4, run_bytes=12)
            assert runs == [(0, 3), (3, 6), (6, 9), (9, 10)]
    finally:
        threads.set_num_threads(before)


@pytest.mark.parametrize("nt", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.float16])
def test_zero_clears_every_value_by_runs(dtype, nt, monkeypatch):
    """threads.zero on the threaded integer path (made to take these small arrays): NaN,
    infinities and -0.0 all become +0.0, as fill(0) makes them, in contiguous arrays of
    any shape; a strided view is cleared alone, its neighbours kept."""
    monkeypatch.setattr(threads, "INLINE_BYTES", 64)
    monkeypatch.setattr(threads, "RUN_BYTES", 128)
    before = threads.get_num_threads()
    threads.set_num_threads(nt)
    try:
        rng = np.random.default_rng(0)
        a = rng.standard_normal((37, 29)).astype(dtype)
        if a.dtype.kind == "f":
            a.flat[[0, 5, 100, -1]] = [np.nan, np.inf, -np.inf, -0.0]
        want = np.zeros_like(a)
        threads.zero(a)
        assert a.tobytes() == want.tobytes()
        b = rng.standard_normal((40, 30)).astype(dtype)
        keep = b.copy()
        threads.zero(b[:, ::2])
        assert not b[:, ::2].any() and np.array_equal(b[:, 1::2], keep[:, 1::2])
    finally:
        threads.set_num_threads(before)


def test_zero_grad_parameters_clears_the_flat_gradients(monkeypatch):
    """zeroGradParameters after getParameters: every gradient (views of the flat array,
    some taking the threaded path) is zero, the parameters untouched."""
    monkeypatch.setattr(threads, "INLINE_BYTES", 256)
    net = nn.Sequential().add(nn.Linear(30, 20)).add(nn.Tanh()).add(nn.Linear(20, 3))
    params, grads = net.getParameters()
    grads[...] = np.arange(grads.size) - 7.5
    p0 = params.copy()
    net.zeroGradParameters()
    assert not grads.any() and np.array_equal(params, p0)


@pytest.mark.parametrize("nt", [1, 2, 3])
@pytest.mark.parametrize("shape", [(3, 50, 7), (1, 9, 4), (16, 33, 20)])
def test_thin_matmul_sums_the_blocks(shape, nt, monkeypatch):
    """A few rows by a big matrix, summed over blocks of its rows (made small here so
    these take that path): the whole product, in float64 and in the float32 of a Linear
    layer's input gradient; a strided big matrix takes the plain path."""
    monkeypatch.setattr(threads, "THIN_BLOCK_BYTES", 64)
    monkeypatch.setattr(threads, "THIN_MIN_BYTES", 0)
    before = threads.get_num_threads()
    threads.set_num_threads(nt)
    try:
        m, k, n = shape
        rng = np.random.default_rng(1)
        a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
        np.testing.assert_allclose(threads.matmul(a, b), a @ b, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(threads.matmul(a, b[:, ::-1]), a @ b[:, ::-1], rtol=1e-12)
        lin = nn.Linear(n, k).float()
        go = rng.standard_normal((m, k)).astype(np.float32)
        x = rng.standard_normal((m, n)).astype(np.float32)
        gi = lin.updateGradInput(x, go)
        assert gi.dtype == np.float32 and gi.shape == (m, n)
        want = go.astype(np.float64) @ lin.weight.astype(np.float64)
        np.testing.assert_allclose(gi, want, rtol=1e-5, atol=1e-5)
    finally:
        threads.set_num_threads(before)


@pytest.mark.parametrize("need", [(True, False, True), (False, True, True), (True, True, False)])
@pytest.mark.parametrize("kind", ["by-planes", "pointwise-batched"])
def test_backward_variants_give_each_half(kind, need, monkeypatch):
    """On 2 threads, against the plain paths: the backward cut by input planes (against
    the batch cut) and the 1x1 backward on the whole batch at once (against a product
    per image), for the input gradient alone (a first layer's weights frozen), the
    weight gradient alone (a first layer), and without a bias; into the module's
    previous gradInput too."""
    need_input, need_weight, bias = need
    monkeypatch.setattr(KC, "PARALLEL_FLOPS", 0)
    monkeypatch.setattr(KC, "CHANNEL_MIN_RATIO", 0)
    monkeypatch.setattr(KC, "CHANNEL_MIN_PLANES", 0)
    if kind == "by-planes":
        g, o, plain = KU.Unfold((3, 5, 9, 8), (3, 2), (2, 1), (1, 0)), 4, "CHANNEL_MAX_BYTES"
    else:
        g, o, plain = KU.Unfold((3, 5, 4, 3), (1, 1), (1, 1), (0, 0)), 7, "POINTWISE_BATCHED_MAX"
    rng = np.random.default_rng(5)
    x = rng.standard_normal((g.n, g.c, *g.size))
    w = rng.standard_normal((o, g.rows))
    go = rng.standard_normal((g.n, o, *g.out))
    before = threads.get_num_threads()
    threads.set_num_threads(2)
    try:
        assert KC._by_channels(g, o, 8) if kind == "by-planes" else KC._pointwise(g)
        got = KC.conv_backward(x, go, w, g, need_input, need_weight, bias, np.full(x.shape, 7.0))
        monkeypatch.setattr(KC, plain, -1)
        want = KC.conv_backward(x, go, w, g, need_input, need_weight, bias)
        for a, b in zip(got, want):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    finally:
        threads.set_num_threads(before)


def _maxpool_scan(x, ks, ds, pads, dils, outs):
    """Max pooling by loops: each window of the -inf-padded input scanned in row-major
    order from its first element, a later element taking over when greater or NaN (THNN's
    ``val > max || isnan(val)``); (values, row-major offset in the window)."""
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p + k * dl) for p, k, dl in zip(pads, ks, dils)],
                constant_values=-np.inf)  # fmt: skip
    out = np.empty(x.shape[:2] + outs)
    arg = np.zeros(x.shape[:2] + outs, np.int64)
    for n, c, *pos in np.ndindex(*out.shape):
        best, at = None, 0
        for k, offs in enumerate(np.ndindex(*ks)):
            v = xp[(n, c, *(o * d + j * dl for o, d, j, dl in zip(pos, ds, offs, dils)))]
            if best is None or v > best or np.isnan(v):
                best, at = v, k
        out[(n, c, *pos)], arg[(n, c, *pos)] = best, at
    return out, arg


@pytest.mark.parametrize(
    "shape,ks,ds,pads,dils,ceil",
    [
        ((2, 3, 9, 9), (3, 3), (1, 1), (1, 1), (1, 1), False),  # separable, flat layout
        ((2, 3, 11, 10), (3, 3), (2, 2), (0, 0), (1, 1), True),  # separable, strided
        ((2, 2, 9, 8), (3, 2), (1, 2), (1, 0), (1, 1), False),  # mixed strides: strided
        ((2, 2, 8, 9), (1, 3), (1, 1), (0, 1), (1, 2), False),  # a 1-wide axis, dilation
        ((2, 3, 8, 6), (2, 2), (2, 2), (0, 0), (1, 1), False),  # 2x2: a scan of offsets
        ((1, 2, 5, 6, 7), (3, 2, 3), (1, 1, 1), (1, 0, 1), (1, 1, 1), False),  # 3-D, flat
        ((1, 2, 6, 5, 7), (2, 3, 3), (2, 1, 2), (0, 1, 1), (1, 1, 1), True),  # 3-D, strided
    ],
)
def test_max_pooling_separable_scan_keeps_thnn_ties_and_nans(shape, ks, ds, pads, dils, ceil):
    """The separable max (one axis at a time) against a row-major scan of every window:
    many ties (values 0-3), several NaNs (the last NaN wins), -inf entries, on 1-3 axes,
    strided and flat layouts; the 2x2 scan of offsets checked the same way."""
    from nnlegacy.kernels import pooling as P

    rng = np.random.default_rng(7)
    x = rng.integers(0, 4, shape).astype(np.float64)
    flat = x.reshape(-1)
    flat[rng.choice(flat.size, 12, replace=False)] = np.nan
    flat[rng.choice(flat.size, 6, replace=False)] = -np.inf
    out, arg = P.maxpool_nd_forward(x, ks, ds, pads, dils, ceil)
    ref, ref_arg = _maxpool_scan(x, ks, ds, pads, dils, out.shape[2:])
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(arg, ref_arg)
    assert np.isnan(out).sum() > 1
