"""Hostile files and careless calls (issue 17): no hang, no memory bomb, no silent loss.

Every file here is crafted by the test itself (``LuaObject`` writes any Lua class with
any fields), none is committed.
"""

from __future__ import annotations

import os
import resource
import time
import tracemalloc

import numpy as np
import pytest

import nnlegacy as nn
from nnlegacy import t7


def _module_file(cls, **fields):
    return t7.dumps(nn.LuaObject(f"nn.{cls}", fields))


def _expanded(shape, value=0.0):
    """A stride-0 view: ``shape`` elements backed by one (no allocation)."""
    return np.lib.stride_tricks.as_strided(np.full(1, value), shape, (0,) * len(shape))


# --- 1. stride-0 tensors are bounded --------------------------------------------------------
def test_a_huge_stride0_bias_is_refused_at_load_not_in_getparameters():
    lin = nn.Linear(2, 1)
    lin.bias = _expanded((2**50,))
    lin.gradBias = _expanded((2**50,))
    data = t7.dumps(lin)
    assert len(data) < 1000
    t0 = time.perf_counter()
    with pytest.raises(nn.T7Error, match=r"views 1125899906842624 elements of a storage of 1"):
        t7.loads(data)
    assert time.perf_counter() - t0 < 1


def test_small_stride0_views_load_as_lua_allows_them():
    x = t7.loads(t7.dumps(_expanded((3, 4), 2.5)))
    assert x.shape == (3, 4) and x.strides == (0, 0) and (x == 2.5).all()


def test_the_caller_can_allow_a_larger_expanded_view():
    data = t7.dumps(_expanded((2**25,)))
    with pytest.raises(nn.T7Error, match="max_elements"):
        t7.loads(data)
    assert t7.loads(data, max_elements=2**26).shape == (2**25,)


# --- 2. no memory bomb from declared sizes ------------------------------------------------
def test_a_weight_without_gradient_cannot_make_load_allocate_gigabytes():
    data = _module_file("Linear", weight=_expanded((32768, 16384)), bias=np.zeros(32768))
    assert len(data) < 300_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(nn.T7Error, match="views 536870912 elements"):
        t7.loads(data)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 100_000  # far from the 4 GB the file declares


# --- 3. save refuses what it cannot write ----------------------------------------------------
def test_save_raises_on_values_torch7_files_cannot_hold_naming_their_place(tmp_path):
    with pytest.raises(nn.T7Error, match=r"value of type object at \.a"):
        nn.save(tmp_path / "x.t7", {"a": object()})
    m = nn.Sequential().add(nn.Linear(2, 2))
    m.modules[0].note = {1, 2}
    with pytest.raises(nn.T7Error, match=r"type set at .*\.modules\[1\]<nn\.Linear>\.note"):
        nn.save(tmp_path / "m.t7", m)
    assert not list(tmp_path.iterdir())  # nothing written, no temporary left


# --- 4. save by rename without side effects -------------------------------------------------
def test_save_writes_through_a_symlink_to_its_target(tmp_path):
    target = tmp_path / "real.t7"
    nn.save(target, nn.Linear(2, 2))
    link = tmp_path / "link.t7"
    link.symlink_to(target)
    nn.save(link, nn.Linear(3, 3))
    assert link.is_symlink()
    assert nn.load(target).weight.shape == (3, 3)


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o444])
def test_save_keeps_the_mode_of_an_existing_file(tmp_path, mode):
    path = tmp_path / "m.t7"
    nn.save(path, nn.Linear(2, 2))
    os.chmod(path, mode)
    nn.save(path, nn.Linear(2, 2))
    assert os.stat(path).st_mode & 0o777 == mode


def test_errors_name_the_users_path_not_the_temporary(tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "m.t7"
    with pytest.raises(OSError, match=f"cannot save to {missing}"):
        nn.save(missing, nn.Linear(2, 2))


def test_temporaries_of_killed_saves_are_cleaned_up(tmp_path):
    stale = tmp_path / ".m.t7.nnlegacy-999999999-abcd.tmp"  # no such process
    stale.write_bytes(b"x" * 1000)
    mine_alive = tmp_path / f".m.t7.nnlegacy-{os.getppid()}-abcd.tmp"  # a live process's
    mine_alive.write_bytes(b"y")
    nn.save(tmp_path / "m.t7", nn.Linear(2, 2))
    assert not stale.exists() and mine_alive.exists()


def test_save_streams_tensors_instead_of_building_the_file_in_memory(tmp_path):
    big = np.random.rand(4_000_000)  # 32 MB
    tracemalloc.start()
    nn.save(tmp_path / "big.t7", {"w": big})
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 0.25 * big.nbytes, peak
    np.testing.assert_array_equal(nn.load(tmp_path / "big.t7")["w"], big)


# --- 5. fields checked at load ---------------------------------------------------------------
@pytest.mark.parametrize(
    "fields,message",
    [
        ({"weight": "abc", "bias": np.zeros(2)}, "field 'weight' is a str, expected a floating"),
        (
            {"weight": np.zeros((2, 3), np.int64), "bias": np.zeros(2)},
            "field 'weight' is a int64 tensor",
        ),
        ({"weight": np.zeros(6), "bias": np.zeros(2)}, r"weight has shape \(6,\)"),
        ({"weight": np.zeros((2, 3)), "bias": np.zeros(5)}, r"bias has shape \(5,\)"),
        (
            {"weight": np.zeros((2, 3)), "gradWeight": np.zeros((3, 3))},
            "field 'gradWeight' has shape",
        ),
        ({"weight": np.zeros((2, 3)), "forward": 1}, "would hide the method Linear.forward"),
    ],
)
def test_wrong_fields_of_a_known_module_are_a_t7error_naming_module_and_field(fields, message):
    with pytest.raises(nn.T7Error, match=message) as info:
        t7.loads(_module_file("Linear", **fields))
    assert "nn.Linear" in str(info.value)


def test_conv_fields_must_agree_with_the_constructor_arguments():
    data = _module_file(
        "SpatialConvolution",
        nInputPlane=2, nOutputPlane=3, kW=3, kH=3, dW=1, dH=1, padW=0, padH=0,
        weight=np.zeros((3, 2, 2, 2)), bias=np.zeros(3),
    )  # fmt: skip
    with pytest.raises(nn.T7Error, match="weight has 24 elements, expected .* = 54"):
        t7.loads(data)
    with pytest.raises(nn.T7Error, match="field 'kW' is 'three'"):
        t7.loads(_module_file("SpatialMaxPooling", kW="three", kH=2, dW=2, dH=2))


def test_the_place_of_a_bad_field_inside_a_container_is_named():
    bad = nn.LuaObject("nn.Linear", {"weight": "x"})
    data = t7.dumps(nn.LuaObject("nn.Sequential", {"modules": [nn.Linear(2, 2), bad]}))
    with pytest.raises(nn.T7Error, match=r"in .*\.modules\[2\]"):
        t7.loads(data)


# --- 6. cycles and depth ---------------------------------------------------------------------
def test_a_module_that_contains_itself_is_refused():
    seq = nn.LuaObject("nn.Sequential", {})
    seq.fields["modules"] = [nn.Linear(2, 2), seq]
    with pytest.raises(nn.T7Error, match="a module cycle: nn.Sequential contains itself"):
        t7.loads(t7.dumps(seq))


def test_a_cycle_between_tables_keeps_identity():
    a: dict = {"name": "a"}
    b = {"name": "b", "a": a}
    a["b"] = b
    back = t7.loads(t7.dumps(a))
    assert back["b"]["a"] is back
    lst: list = [1]
    lst.append([lst])
    back = t7.loads(t7.dumps(lst))
    assert isinstance(back, dict) and back[2][0] is back  # self-referencing: one dict


def _nested(depth):
    v: list = [0]
    for _ in range(depth - 1):
        v = [v]
    return v


def test_one_depth_limit_for_save_and_load(tmp_path):
    # a list of depth d is d tables plus the innermost number: d + 1 nested values
    ok = _nested(t7.MAX_DEPTH - 1)
    back = t7.loads(t7.dumps(ok))
    depth = 0
    while isinstance(back, list):
        back, depth = back[0], depth + 1
    assert depth == t7.MAX_DEPTH - 1
    with pytest.raises(nn.T7Error, match=f"nested deeper than {t7.MAX_DEPTH}"):
        nn.save(tmp_path / "deep.t7", _nested(t7.MAX_DEPTH + 5))
    assert not (tmp_path / "deep.t7").exists()


def test_deep_module_nesting_saves_and_loads_back(tmp_path):
    net = nn.Linear(2, 2)
    for _ in range(40):
        net = nn.Sequential().add(net)
    nn.save(tmp_path / "n.t7", net)
    back = nn.load(tmp_path / "n.t7")
    x = np.random.randn(2)
    np.testing.assert_array_equal(back.forward(x), net.forward(x))


# --- 7. edge cases with clear errors ----------------------------------------------------------
@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: nn.View(0), r"nn.View: sizes should be positive or -1, got \[0\]"),
        (lambda: nn.Linear(0, 3), "nn.Linear: inputSize and outputSize must be positive"),
        (
            lambda: nn.SpatialConvolution(0, 3, 3, 3),
            "nn.SpatialConvolution: nInputPlane and nOutputPlane must be positive",
        ),
        (
            lambda: nn.SpatialConvolution(1, 3, 3, 3, 1, 1, -1),
            "padW and padH must not be negative, got -1 and -1",
        ),
    ],
)
def test_constructor_edge_cases_get_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_empty_batch_in_batch_normalization_is_a_clear_error():
    m = nn.BatchNormalization(3)
    with pytest.raises(ValueError, match=r"input is empty \(\[0 x 3\]\)"):
        m.forward(np.zeros((0, 3)))
    assert m.running_mean.tolist() == [0, 0, 0]


def test_max_pooling_picks_the_nan_as_thnn_and_routes_the_gradient_there():
    x = np.arange(16.0).reshape(1, 4, 4)
    x[0, 0, 1] = np.nan
    x[0, 1, 0] = np.nan  # two NaNs in the first window: THNN keeps the last one
    m = nn.SpatialMaxPooling(2, 2)
    y = m.forward(x)
    assert np.isnan(y[0, 0, 0]) and y[0, 1, 1] == 15
    assert m.indices[0, 0, 0] == 5  # 1-based (row 1, col 0) in the 4x4 plane
    g = m.backward(x, np.ones_like(y))
    assert g[0, 1, 0] == 1 and g[0, 0, 1] == 0 and g.sum() == 4
