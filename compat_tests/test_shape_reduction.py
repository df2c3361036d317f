"""Shape, layout, indexing and reduction modules: one table of cases driving the checks.

For every case: forward against an independent plain reference (loops over indices),
finite-difference Jacobians in float64 for every floating input (table inputs too),
``clearState``, the float/double round trip, the print-out, and NumPy against CuPy
(``backend`` fixture; skipped without a GPU). Bad input: the error and an unchanged
module. The golden files themselves are replayed by ``test_golden.py``.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import reference as R

import nnlegacy as nn
from nnlegacy import backend as B

# --- independent references (plain loops over indices) ------------------------------


def _cells(shape):
    return itertools.product(*(range(s) for s in shape))


def ref_reduce(dim, kind, nid=None, average=False, squeeze=True):
    def f(x):
        d = dim + x.ndim + 1 if dim < 0 else dim + (1 if nid and x.ndim == nid + 1 else 0)
        keep = x.shape[: d - 1] + (1,) + x.shape[d:]
        out = np.zeros(keep)
        for c in _cells(keep):
            vals = [x[c[: d - 1] + (i,) + c[d:]] for i in range(x.shape[d - 1])]
            if kind == "sum":
                acc = 0.0
                for v in vals:
                    acc += v
                out[c] = acc / len(vals) if average else acc
            else:
                best = vals[0]
                for v in vals[1:]:
                    best = v if (v > best if kind == "max" else v < best) else best
                out[c] = best
        if (squeeze or kind != "sum") and x.ndim > 1:
            out = out.reshape(x.shape[: d - 1] + x.shape[d:])
        return out

    return f


def ref_mm(ta, tb):
    def f(inp):
        a, b = inp
        a = a.swapaxes(-1, -2) if ta else a
        b = b.swapaxes(-1, -2) if tb else b
        out = np.zeros(a.shape[:-1] + b.shape[-1:])
        for c in _cells(out.shape):
            *lead, i, j = c
            out[c] = sum(a[(*lead, i, k)] * b[(*lead, k, j)] for k in range(a.shape[-1]))
        return out

    return f


def ref_mv(trans):
    def f(inp):
        m, v = inp
        m = m.swapaxes(-1, -2) if trans else m
        out = np.zeros(m.shape[:-1])
        for c in _cells(out.shape):
            *lead, i = c
            out[c] = sum(m[(*lead, i, k)] * v[(*lead, k)] for k in range(m.shape[-1]))
        return out

    return f


def ref_reshape(shape):
    return lambda x: np.array(x.ravel().tolist()).reshape(shape)


def ref_swaps(*pairs, offset=0):
    def f(x):
        axes = list(range(x.ndim))
        for a, b in pairs:
            axes[a - 1 + offset], axes[b - 1 + offset] = axes[b - 1 + offset], axes[a - 1 + offset]
        out = np.zeros([x.shape[a] for a in axes])
        for c in _cells(out.shape):
            src = [0] * x.ndim
            for k, a in enumerate(axes):
                src[a] = c[k]
            out[c] = x[tuple(src)]
        return out

    return f


def ref_replicate(n, axis):
    def f(x):
        shape = x.shape[:axis] + (n,) + x.shape[axis:]
        out = np.zeros(shape)
        for c in _cells(shape):
            out[c] = x[c[:axis] + c[axis + 1 :]]
        return out

    return f


def ref_padding(axis, before, pad, value):
    """Pad ``pad`` entries of value after the first ``before`` entries of ``axis``."""

    def f(x):
        shape = list(x.shape)
        shape[axis] += pad
        out = np.full(shape, float(value))
        for c in _cells(x.shape):
            i = c[axis]
            j = i if i < before else i + pad
            out[c[:axis] + (j,) + c[axis + 1 :]] = x[c]
        return out

    return f


def ref_pixelshuffle(r):
    def f(x):
        batch = x if x.ndim == 4 else x[None]
        n, cr, h, w = batch.shape
        out = np.zeros((n, cr // (r * r), h * r, w * r))
        for b, c, y, z in _cells(out.shape):
            out[b, c, y, z] = batch[b, c * r * r + (y % r) * r + (z % r), y // r, z // r]
        return out if x.ndim == 4 else out[0]

    return f


def ref_index(dim):
    def f(inp):
        t, idx = inp
        parts = [np.take(t, [int(i) - 1], axis=dim - 1) for i in idx]
        return np.concatenate(parts, axis=dim - 1)

    return f


def ref_masked(inp):
    t, mask = inp
    return np.array([v for v, k in zip(t.ravel().tolist(), mask.ravel().tolist()) if k])


# --- inputs --------------------------------------------------------------------------


def R_(*shape):  # noqa: N802 - as the golden corpus's R(...)
    return lambda rng: rng.standard_normal(shape)


def T_(*makers):  # noqa: N802 - a Lua table of inputs
    return lambda rng: [m(rng) for m in makers]


def L_(*values):  # noqa: N802 - a LongTensor
    return lambda rng: np.array(values, np.int64)


def mask_(*shape):
    return lambda rng: (rng.random(shape) > 0.4).astype(np.uint8)


@dataclass
class Case:
    name: str
    make: Callable
    input: Callable
    ref: Callable
    text: str
    jacobian: bool = True


CASES = [
    # reductions
    Case("Sum-1", lambda: nn.Sum(1), R_(3, 4), ref_reduce(1, "sum"), "nn.Sum"),
    Case("Sum-vec", lambda: nn.Sum(), R_(5), ref_reduce(1, "sum"), "nn.Sum"),
    Case("Sum-batch", lambda: nn.Sum(1, 1), R_(3, 4), ref_reduce(1, "sum", 1), "nn.Sum"),
    Case("Sum-neg", lambda: nn.Sum(-2), R_(2, 3, 4), ref_reduce(-2, "sum"), "nn.Sum"),
    Case(
        "Sum-avg-keep",
        lambda: nn.Sum(2, None, True, False),
        R_(3, 4),
        ref_reduce(2, "sum", average=True, squeeze=False),
        "nn.Sum",
    ),
    Case("Mean", lambda: nn.Mean(2, 1), R_(2, 3, 4), ref_reduce(2, "sum", 1, True), "nn.Mean"),
    Case("Mean-nobatch", lambda: nn.Mean(2, 2), R_(3, 4), ref_reduce(2, "sum", 2, True), "nn.Mean"),
    Case("Max-1", lambda: nn.Max(1), R_(3, 4), ref_reduce(1, "max"), "nn.Max"),
    Case("Max-batch", lambda: nn.Max(1, 1), R_(3, 4), ref_reduce(1, "max", 1), "nn.Max"),
    Case("Max-neg", lambda: nn.Max(-1), R_(2, 3, 4), ref_reduce(-1, "max"), "nn.Max"),
    Case("Max-vec", lambda: nn.Max(), R_(6), ref_reduce(1, "max"), "nn.Max"),
    Case("Min-2", lambda: nn.Min(2), R_(3, 4), ref_reduce(2, "min"), "nn.Min"),
    Case("Min-batch", lambda: nn.Min(2, 2), R_(2, 3, 4), ref_reduce(2, "min", 2), "nn.Min"),
    Case("MM", lambda: nn.MM(), T_(R_(2, 3), R_(3, 4)), ref_mm(False, False), "nn.MM"),
    Case("MM-tt", lambda: nn.MM(True, True), T_(R_(3, 2), R_(4, 3)), ref_mm(True, True), "nn.MM"),
    Case(
        "MM-batch-ta",
        lambda: nn.MM(True),
        T_(R_(2, 3, 2), R_(2, 3, 4)),
        ref_mm(True, False),
        "nn.MM",
    ),
    Case(
        "MM-batch-tb",
        lambda: nn.MM(False, True),
        T_(R_(2, 2, 3), R_(2, 4, 3)),
        ref_mm(False, True),
        "nn.MM",
    ),
    Case("MV", lambda: nn.MV(), T_(R_(2, 3), R_(3)), ref_mv(False), "nn.MV"),
    Case("MV-t", lambda: nn.MV(True), T_(R_(3, 2), R_(3)), ref_mv(True), "nn.MV"),
    Case("MV-batch", lambda: nn.MV(), T_(R_(2, 2, 3), R_(2, 3)), ref_mv(False), "nn.MV"),
    Case("MV-batch-t", lambda: nn.MV(True), T_(R_(2, 3, 2), R_(2, 3)), ref_mv(True), "nn.MV"),
    # shape
    Case("Contiguous", lambda: nn.Contiguous(), R_(3, 4), lambda x: x, "nn.Contiguous"),
    Case("Squeeze", lambda: nn.Squeeze(), R_(2, 1, 3, 1), ref_reshape((2, 3)), "nn.Squeeze"),
    Case(
        "Squeeze-dim", lambda: nn.Squeeze(2), R_(2, 1, 3, 1), ref_reshape((2, 3, 1)), "nn.Squeeze"
    ),
    Case("Squeeze-ones", lambda: nn.Squeeze(), R_(1, 1), ref_reshape((1,)), "nn.Squeeze"),
    Case(
        "Squeeze-batch1",
        lambda: nn.Squeeze(None, 2),
        R_(1, 1, 3),
        ref_reshape((1, 3)),
        "nn.Squeeze",
    ),
    Case(
        "Squeeze-batchdim", lambda: nn.Squeeze(1, 2), R_(3, 1, 4), ref_reshape((3, 4)), "nn.Squeeze"
    ),
    Case(
        "Unsqueeze",
        lambda: nn.Unsqueeze(3),
        R_(3, 4),
        ref_reshape((3, 4, 1)),
        "nn.Unsqueeze(dim 3)",
    ),
    Case(
        "Unsqueeze-batch",
        lambda: nn.Unsqueeze(2, 2),
        R_(5, 3, 4),
        ref_reshape((5, 3, 1, 4)),
        "nn.Unsqueeze(dim 2)",
    ),
    Case("Collapse", lambda: nn.Collapse(2), R_(3, 2, 2), ref_reshape((3, 4)), "nn.Collapse"),
    Case("Collapse-1", lambda: nn.Collapse(2), R_(2, 3), ref_reshape((6,)), "nn.Collapse"),
    # layout
    Case("Transpose", lambda: nn.Transpose([1, 2]), R_(2, 3), ref_swaps((1, 2)), "nn.Transpose"),
    Case(
        "Transpose-2",
        lambda: nn.Transpose([1, 2], [2, 3]),
        R_(2, 3, 4),
        ref_swaps((1, 2), (2, 3)),
        "nn.Transpose",
    ),
    Case(
        "Transpose-batch",
        lambda: nn.Transpose([1, 2]).setNumInputDims(2),
        R_(5, 2, 3),
        ref_swaps((1, 2), offset=1),
        "nn.Transpose",
    ),
    Case("Replicate", lambda: nn.Replicate(3), R_(4), ref_replicate(3, 0), "nn.Replicate"),
    Case("Replicate-2", lambda: nn.Replicate(2, 2), R_(3, 4), ref_replicate(2, 1), "nn.Replicate"),
    Case(
        "Replicate-batch",
        lambda: nn.Replicate(2, 1, 1),
        R_(5, 3),
        ref_replicate(2, 1),
        "nn.Replicate",
    ),
    Case(
        "PixelShuffle",
        lambda: nn.PixelShuffle(2),
        R_(8, 2, 3),
        ref_pixelshuffle(2),
        "nn.PixelShuffle",
    ),
    Case(
        "PixelShuffle-batch",
        lambda: nn.PixelShuffle(3),
        R_(2, 9, 2, 2),
        ref_pixelshuffle(3),
        "nn.PixelShuffle",
    ),
    Case("Copy", lambda: nn.Copy(None, None, True), R_(2, 3), lambda x: x, "nn.Copy"),
    Case(
        "Convert-bf",
        lambda: nn.Convert("bchw", "bf"),
        R_(2, 2, 3, 3),
        ref_reshape((2, 18)),
        "nn.Convert",
    ),
    Case(
        "Convert-hwc",
        lambda: nn.Convert("chw", "hwc"),
        R_(2, 3, 4),
        ref_swaps((1, 2), (2, 3)),
        "nn.Convert",
    ),
    Case(
        "Convert-fb",
        lambda: nn.Convert("fb", "bf"),
        R_(3, 2),
        ref_swaps((1, 2)),
        "nn.Convert",
    ),
    Case(
        "Convert-b",
        lambda: nn.Convert("bf", "b"),
        R_(4, 1),
        ref_reshape((4,)),
        "nn.Convert",
    ),
    # indexing
    Case("Index-1", lambda: nn.Index(1), T_(R_(5, 3), L_(2, 5, 2)), ref_index(1), "nn.Index"),
    Case("Index-2", lambda: nn.Index(2), T_(R_(2, 4), L_(4, 1)), ref_index(2), "nn.Index"),
    Case(
        "MaskedSelect",
        lambda: nn.MaskedSelect(),
        T_(R_(3, 4), mask_(3, 4)),
        ref_masked,
        "nn.MaskedSelect",
    ),
    Case("Padding", lambda: nn.Padding(1, 2), R_(3), ref_padding(0, 3, 2, 0), "nn.Padding"),
    Case("Padding-front", lambda: nn.Padding(1, -2), R_(3), ref_padding(0, 0, 2, 0), "nn.Padding"),
    Case(
        "Padding-batch",
        lambda: nn.Padding(1, 2, 1, 1.5),
        R_(2, 3),
        ref_padding(1, 3, 2, 1.5),
        "nn.Padding",
    ),
    Case(
        "Padding-inside",
        lambda: nn.Padding(2, 1, 2, -1, 2),
        R_(3, 4),
        ref_padding(1, 3, 1, -1),
        "nn.Padding",
    ),
    Case(
        "Padding-inside-neg",
        lambda: nn.Padding(2, -2, 2, 7, 3),
        R_(3, 4),
        ref_padding(1, 2, 2, 7),
        "nn.Padding",
    ),
]
IDS = [c.name for c in CASES]


def _make(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return case.make()


def _input(case, seed=0):
    return case.input(np.random.default_rng(seed))


def _floats(x):
    """The floating arrays of an input (a tensor or a table), in order, with positions."""
    if isinstance(x, list):
        return [(i, a) for i, a in enumerate(x) if a.dtype.kind == "f"]
    return [(None, x)]


def _grad_of(gi, pos):
    return gi if pos is None else gi[pos]


def _np(x):
    return [_np(v) for v in x] if isinstance(x, list) else np.array(B.to_numpy(x))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_matches_reference(case):
    m, x = _make(case), _input(case)
    out = m.forward(x)
    np.testing.assert_allclose(out, case.ref(x), rtol=1e-12, atol=1e-14)
    assert out.dtype == np.float64


@pytest.mark.parametrize("case", [c for c in CASES if c.jacobian], ids=lambda c: c.name)
def test_jacobian(case):
    m, x = _make(case), _input(case)
    out = m.forward(x)
    for pos, a in _floats(x):
        flat = a.reshape(-1)
        j_fd = np.zeros((a.size, out.size))
        for i in range(a.size):
            orig = flat[i]
            flat[i] = orig + R.PERTURBATION
            plus = np.array(m.forward(x)).ravel()
            flat[i] = orig - R.PERTURBATION
            minus = np.array(m.forward(x)).ravel()
            flat[i] = orig
            j_fd[i] = (plus - minus) / (2 * R.PERTURBATION)
        m.forward(x)
        j_bp = np.zeros_like(j_fd)
        for k in range(out.size):
            g = np.zeros(out.shape)
            g.reshape(-1)[k] = 1
            j_bp[:, k] = np.ravel(_grad_of(m.updateGradInput(x, g), pos))
        assert np.abs(j_fd - j_bp).max() < R.PRECISION, f"input {pos}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_print_out(case):
    assert str(_make(case)) == case.text
    assert repr(_make(case)) == case.text


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_clear_state_then_again(case):
    m, x = _make(case), _input(case)
    out = _np(m.forward(x))
    gi = _np(m.backward(x, np.ones(out.shape)))
    assert m.clearState() is m
    if not isinstance(m, nn.Collapse):  # Lua's Collapse:clearState keeps output
        assert m.output.size == 0
        gis = m.gradInput if isinstance(m.gradInput, list) else [m.gradInput]
        assert all(g.size == 0 for g in gis)
    np.testing.assert_array_equal(m.forward(x), out)
    again = _np(m.backward(x, np.ones(out.shape)))
    for a, b in zip(
        again if isinstance(again, list) else [again], gi if isinstance(gi, list) else [gi]
    ):
        np.testing.assert_array_equal(a, b)


def _astype(x, dtype):
    if isinstance(x, list):
        return [a.astype(dtype) if a.dtype.kind == "f" else a for a in x]
    return x.astype(dtype)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float_double_round_trip(case):
    m, x = _make(case), _input(case)
    ref = case.ref(x)
    assert m.float() is m and m.type() == "torch.FloatTensor"
    out = m.forward(_astype(x, np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    gi = m.backward(_astype(x, np.float32), np.ones(out.shape, np.float32))
    for g in gi if isinstance(gi, list) else [gi]:
        assert g.dtype in (np.float32, np.uint8)
    m.double()
    np.testing.assert_allclose(m.forward(x), ref, rtol=1e-12, atol=1e-14)


@pytest.mark.gpu
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cupy_matches_numpy(case, backend):
    m, x = _make(case), _input(case)
    out = _np(m.forward(x))
    g = np.random.default_rng(1).standard_normal(out.shape)
    gi = _np(m.backward(x, g))
    dm = backend.module(_make(case))
    dx = [backend.xp.asarray(a) for a in x] if isinstance(x, list) else backend.asarray(x)
    d_out = dm.forward(dx)
    np.testing.assert_allclose(backend.tonp(d_out), out, rtol=1e-12, atol=1e-14)
    d_gi = dm.backward(dx, backend.asarray(g))
    for a, b in zip(
        d_gi if isinstance(d_gi, list) else [d_gi], gi if isinstance(gi, list) else [gi]
    ):
        np.testing.assert_allclose(backend.tonp(a), b, rtol=1e-12, atol=1e-14)


# --- values and fields beyond the table -----------------------------------------------


def test_max_min_indices_are_one_based_and_first_wins():
    x = np.array([[1.0, 5.0, 5.0], [7.0, 2.0, 7.0]])
    m = nn.Max(2)
    np.testing.assert_array_equal(m.forward(x), [5, 7])
    np.testing.assert_array_equal(m._indices, [[2], [1]])
    assert m._indices.dtype == np.int64
    gi = m.backward(x, np.array([10.0, 20.0]))
    np.testing.assert_array_equal(gi, [[0, 10, 0], [20, 0, 0]])
    m = nn.Min(1)
    m.forward(x)
    np.testing.assert_array_equal(m._indices, [[1, 2, 1]])
    assert nn.Max().forward(np.array([3.0, 1.0])).shape == (1,)


def test_max_nan_wins_as_in_th():
    m = nn.Max(1)
    out = m.forward(np.array([1.0, np.nan, 3.0]))
    assert np.isnan(out[0]) and m._indices[0] == 2


def test_max_indices_stay_long_through_type():
    m = nn.Max(1)
    m.forward(np.ones((2, 3)))
    m.float()
    assert m._indices.dtype == np.int64
    m.clearState()
    assert m._indices.size == 0


def test_sum_defaults_and_mean_is_sum_with_size_average():
    s = nn.Sum()
    assert (s.dimension, s.nInputDims, s.sizeAverage, s.squeeze) == (1, None, False, True)
    m = nn.Mean(2)
    assert (m.dimension, m.sizeAverage, m.squeeze) == (2, True, True)
    assert isinstance(m, nn.Sum)


def test_unsqueeze_first_forward_fixes_num_input_dims_as_lua():
    m = nn.Unsqueeze(1)
    m.forward(np.zeros((3, 4)))
    assert m.numInputDims == 2
    # now a 3-D input is a batch of 2-D samples
    assert m.forward(np.zeros((5, 3, 4))).shape == (5, 1, 3, 4)


def test_views_share_memory():
    x = np.random.default_rng(0).standard_normal((2, 1, 3))
    for m in (nn.Squeeze(), nn.Unsqueeze(1), nn.Collapse(3), nn.Contiguous()):
        assert np.shares_memory(m.forward(x), x), m
    t = x.transpose(2, 1, 0)
    out = nn.Contiguous().forward(t)
    assert out.flags.c_contiguous and not np.shares_memory(out, x)


def test_collapse_copies_a_non_contiguous_input():
    x = np.arange(12.0).reshape(3, 4).T
    m = nn.Collapse(2)
    np.testing.assert_array_equal(m.forward(x), x.ravel())
    assert m._input.flags.c_contiguous
    assert m.backward(x, np.ones(12)).shape == (4, 3)


def test_copy_converts_types_and_passes_through():
    x = np.random.default_rng(0).standard_normal((2, 3))
    m = nn.Copy("torch.DoubleTensor", "torch.FloatTensor")
    out = m.forward(x)
    assert out.dtype == np.float32
    gi = m.backward(x, np.ones((2, 3), np.float32))
    assert gi.dtype == np.float64
    m.clearState()
    assert m.output.dtype == np.float32 and m.gradInput.dtype == np.float64
    same = nn.Copy()
    assert same.forward(x) is x and same.backward(x, out) is out
    forced = nn.Copy(None, None, True)
    assert forced.forward(x) is not x
    assert nn.Copy("torch.FloatTensor", "torch.FloatTensor", False, True).double().output.dtype == (
        np.float32
    )


def test_copy_3_golden_closures_mean_pass_through(tmp_path):
    golden = pytest.importorskip("golden")
    if not golden.available():
        pytest.skip("NNLEGACY_GOLDEN_DIR is not set")
    record = nn.load(f"{golden.GOLDEN_DIR}/nn/Copy_3.t7", unknown="object")
    m = record["module"]
    assert m.forward(record["input"]) is record["input"]
    assert m.backward(record["input"], record["gradOutput"]) is record["gradOutput"]


def test_convert_type_conversion_and_builds():
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    m = nn.Convert()
    out = m.forward(x)
    assert out.dtype == np.float64 and isinstance(m.converter, nn.Identity)
    assert m.backward(x, np.ones((2, 3))).dtype == np.float64
    m = nn.Convert("bchw", "bhwc")
    m.forward(np.zeros((2, 2, 3, 3)))
    assert m.converter.permutations == [[3, 2], [4, 3]] and m.modules == [m.converter]
    assert m.transposition is True and (m.nInputDim, m.nOutputDim) == (4, 4)
    m = nn.Convert("bchw", "bf")
    assert m.transposition is None
    m = nn.Convert("bt", "b")
    np.testing.assert_array_equal(m.forward(np.arange(6.0).reshape(2, 3)), [0, 3])


def test_padding_output_size_and_fields():
    m = nn.Padding(2, 1, 2, -1, 2)
    assert (m.dim, m.pad, m.nInputDim, m.value, m.index) == (2, 1, 2, -1, 2)
    m.forward(np.zeros((3, 4)))
    assert m.outputSize == [3, 5]


def test_index_repeated_positions_accumulate():
    t = np.arange(6.0).reshape(3, 2)
    m = nn.Index(1)
    idx = np.array([2, 2, 3])
    np.testing.assert_array_equal(m.forward([t, idx]), [[2, 3], [2, 3], [4, 5]])
    gi = m.backward([t, idx], np.ones((3, 2)))
    np.testing.assert_array_equal(gi[0], [[0, 0], [2, 2], [1, 1]])
    np.testing.assert_array_equal(gi[1], [0, 0, 0])


def test_masked_select_fields_as_lua():
    t = np.arange(6.0).reshape(2, 3)
    mask = np.array([[1, 0, 1], [0, 0, 1]], np.uint8)
    m = nn.MaskedSelect()
    np.testing.assert_array_equal(m.forward([t, mask]), [0, 2, 5])
    gi = m.backward([t, mask], np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(gi[0], [[1, 0, 2], [0, 0, 3]])
    assert gi[1].dtype == np.uint8 and gi[1].shape == (2, 3) and not gi[1].any()
    np.testing.assert_array_equal(m._maskIndices, [1, 3, 6])


def test_families_export_every_module():
    for name in (
        "Contiguous Copy Index Squeeze Unsqueeze Replicate Transpose Padding MaskedSelect "
        "Collapse Convert PixelShuffle Sum Mean Max Min MM MV Narrow Select SpatialZeroPadding"
    ).split():
        assert name in nn.__all__ and nn.torch_type(getattr(nn, name).__new__(getattr(nn, name)))


def test_save_load_round_trip(tmp_path):
    for m in (
        nn.Sum(2, 1, True, False),
        nn.Max(-1),
        nn.Transpose([1, 2], [2, 3]),
        nn.Padding(1, -2),
    ):
        nn.save(tmp_path / "m.t7", m)
        back = nn.load(tmp_path / "m.t7")
        x = np.random.default_rng(0).standard_normal((2, 3, 4))
        np.testing.assert_array_equal(back.forward(x), m.forward(x))


# --- bad input: the error, and the module unchanged -----------------------------------

BAD = [
    (lambda: nn.Sum(3), np.zeros((2, 3)), ValueError, "dimension exceeds input dimensions"),
    (lambda: nn.Max(0), np.zeros((2, 3)), ValueError, "dimension exceeds input dimensions"),
    (lambda: nn.Min(1), np.zeros((0, 3)), ValueError, "empty dimension"),
    (lambda: nn.Max(1), np.zeros((2, 3), np.float32), TypeError, "torch.DoubleTensor"),
    (
        lambda: nn.MM(),
        [np.zeros((2, 3)), np.zeros((2, 4))],
        ValueError,
        "matrix sizes do not match",
    ),
    (lambda: nn.MM(), [np.zeros((2, 3))], ValueError, "pair"),
    (lambda: nn.MM(), [np.zeros(3), np.zeros(3)], ValueError, "2D or 3D"),
    (
        lambda: nn.MM(),
        [np.zeros((2, 2, 3)), np.zeros((3, 3, 4))],
        ValueError,
        "same number of minibatches",
    ),
    (lambda: nn.MV(), [np.zeros((2, 3)), np.zeros(4)], ValueError, "vector length do not match"),
    (lambda: nn.MV(), [np.zeros((2, 3)), np.zeros((1, 3))], ValueError, "vector must be 1D"),
    (lambda: nn.Squeeze(4), np.zeros((2, 1, 3)), ValueError, "out of range"),
    (lambda: nn.Unsqueeze(4), np.zeros((2, 3)), ValueError, "Invalid position: 4"),
    (lambda: nn.Unsqueeze(1, 3), np.zeros((2, 3)), ValueError, "numInputDims"),
    (lambda: nn.Transpose([1, 3]), np.zeros((2, 3)), ValueError, "cannot swap dimensions 1 and 3"),
    (lambda: nn.Replicate(2, 4), np.zeros((2, 3)), ValueError, "Not enough input dimensions"),
    (lambda: nn.PixelShuffle(2), np.zeros((3, 2, 2)), ValueError, "not a multiple"),
    (lambda: nn.PixelShuffle(2), np.zeros((4, 2)), ValueError, "3D or 4D"),
    (lambda: nn.Padding(3, 1), np.zeros((2, 3)), ValueError, "out of range"),
    (lambda: nn.Padding(1, 1, None, 0, 5), np.zeros(3), ValueError, "index 5 out of range"),
    (lambda: nn.Index(1), [np.zeros((3, 2)), np.array([0, 1])], IndexError, "1-based"),
    (lambda: nn.Index(1), [np.zeros((3, 2)), np.array([1.0])], TypeError, "integer"),
    (lambda: nn.Index(3), [np.zeros((3, 2)), np.array([1])], ValueError, "out of range"),
    (
        lambda: nn.MaskedSelect(),
        [np.zeros((2, 2)), np.ones(3, np.uint8)],
        ValueError,
        "3 elements",
    ),
    (lambda: nn.MaskedSelect(), [np.zeros((2, 2)), np.ones((2, 2))], TypeError, "ByteTensor"),
    (lambda: nn.Convert("bchw", "bf"), [np.zeros(3)], TypeError, "expecting Tensor"),
    (lambda: nn.Convert("bf", "b"), np.zeros((2, 3)), ValueError, "feature > 1"),
    (lambda: nn.Convert("bhw", "bq"), np.zeros((2, 3, 3)), ValueError, "Unrecognized conversion"),
    (lambda: nn.Copy(None, None, True), [np.zeros(2)], TypeError, "tensor"),
]


@pytest.mark.parametrize("make,x,exc,match", BAD, ids=[b[3] for b in BAD])
def test_bad_input_forward(make, x, exc, match):
    m = make()
    before = {k: np.array(v) for k, v in vars(m).items() if B.is_array(v)}
    with pytest.raises(exc, match=match):
        m.forward(x)
    for k, v in before.items():
        assert np.array_equal(getattr(m, k), v), k


BAD_GRAD = [
    (lambda: nn.Sum(1), np.zeros((2, 3)), np.zeros(4), "gradOutput"),
    (lambda: nn.Max(2), np.zeros((2, 3)), np.zeros(3), "gradOutput"),
    (lambda: nn.MM(), [np.zeros((2, 3)), np.zeros((3, 4))], np.zeros((4, 2)), "gradOutput"),
    (lambda: nn.MV(), [np.zeros((2, 3)), np.zeros(3)], np.zeros(3), "gradOutput"),
    (lambda: nn.Squeeze(), np.zeros((2, 1)), np.zeros(3), "gradOutput"),
    (lambda: nn.Transpose([1, 2]), np.zeros((2, 3)), np.zeros((2, 3)), "gradOutput"),
    (lambda: nn.Replicate(2), np.zeros(3), np.zeros((3, 2)), "gradOutput"),
    (lambda: nn.Padding(1, 2), np.zeros(3), np.zeros(4), "gradOutput"),
    (lambda: nn.PixelShuffle(2), np.zeros((4, 1, 1)), np.zeros((1, 3, 2)), "gradOutput"),
    (lambda: nn.Index(1), [np.zeros((3, 2)), np.array([1])], np.zeros((2, 2)), "gradOutput"),
    (
        lambda: nn.MaskedSelect(),
        [np.zeros(3), np.ones(3, np.uint8)],
        np.zeros(2),
        "gradOutput",
    ),
]


@pytest.mark.parametrize("make,x,g,match", BAD_GRAD, ids=[f"{i}" for i in range(len(BAD_GRAD))])
def test_bad_grad_output_leaves_state(make, x, g, match):
    m = make()
    out = _np(m.forward(x))
    m.backward(x, np.zeros(out.shape))
    before = _np(m.gradInput)
    with pytest.raises(ValueError, match=match):
        m.backward(x, g)
    after = _np(m.gradInput)
    for a, b in zip(
        after if isinstance(after, list) else [after],
        before if isinstance(before, list) else [before],
    ):
        np.testing.assert_array_equal(a, b)


def test_constructor_errors():
    with pytest.raises(TypeError, match="position to insert singleton dim not specified"):
        nn.Unsqueeze()
    with pytest.raises(ValueError, match="positive integer dimensions"):
        nn.Replicate(2, 0)
    with pytest.raises(TypeError, match="squeeze has to be true/false"):
        nn.Sum(1, None, False, 1)
    with pytest.raises(TypeError, match="argument must be a boolean"):
        nn.MV(1)
    with pytest.raises(ValueError, match="non-nil arg 1"):
        nn.Convert(None, "bf")
    with pytest.raises(ValueError, match="Both or neither shapes must be b"):
        nn.Convert("b*", "bf")
    with pytest.raises(ValueError, match="unknown tensor type"):
        nn.Copy("torch.Banana")
