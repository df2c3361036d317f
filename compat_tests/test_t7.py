"""Torch7 files: real files written by Lua Torch, round trips, and a fuzz test."""

import os
import time
from pathlib import Path

import numpy as np
import pytest

import nnlegacy as nn
from nnlegacy import t7

EXT = os.environ.get("NNLEGACY_T7_DIR")
# files written by other projects live in ../shared/t7, never in the repository
DATA = Path(EXT) if EXT else Path("/nonexistent-NNLEGACY_T7_DIR")
TF = DATA / "python-torchfile"
CV = DATA / "opencv_torch"
needs_ext = pytest.mark.skipif(
    not EXT, reason="set NNLEGACY_T7_DIR to the folder of the unlicensed Lua Torch files"
)


# --- python-torchfile unit files ----------------------------------------------------
@needs_ext
def test_tensors():
    d = nn.load(TF / "doubletensor.t7")
    assert d.dtype == np.float64 and d.tolist() == [[1, 2, 3], [4, 5, 6.9]]
    f = nn.load(TF / "floattensor.t7")
    assert f.dtype == np.float32 and f.shape == (2, 3, 4)
    assert f.sum(dtype=np.float64) == pytest.approx(12.97241666913)


@needs_ext
def test_tables():
    assert nn.load(TF / "hello=123.t7") == {"hello": 123}
    assert nn.load(TF / "list_table.t7") == ["hello", "world", "third item", 123]
    assert nn.load(TF / "map_table1.t7") == {
        0: "zero",
        1: "hello",
        2: "world",
        3: "third item",
        4: 123,
    }
    assert nn.load(TF / "map_table2.t7") == {
        1: "hello",
        2: "world",
        3: "third item",
        4: 123,
        "a": "non number key",
    }


@needs_ext
@pytest.mark.parametrize(
    "name,message",
    [
        ("custom_class.t7", "class 'Blah' is not supported by nnlegacy"),
        ("recursive_class.t7", "class 'A' is not supported by nnlegacy"),
        ("gmodule_with_linear_identity.t7", "class 'nn.gModule' is not supported by nnlegacy"),
        ("nngraph_node.t7", "class 'nngraph.Node' is not supported by nnlegacy"),
        ("tds_hash.t7", "class 'tds.Hash' is not supported"),
        ("tds_vec.t7", "class 'tds.Vec' is not supported"),
        ("function.t7", "a serialized Lua function; nnlegacy never runs code from a file"),
        ("function_upvals.t7", "a serialized Lua function"),
        ("recursive_kv_table.t7", "a table key of type dict is not supported"),
    ],
)
def test_refused_files_name_the_reason(name, message):
    with pytest.raises(nn.T7Error, match=message + r".*\(at byte offset \d+\)"):
        nn.load(TF / name)


@needs_ext
@pytest.mark.parametrize(
    "name,typename",
    [
        ("custom_class.t7", "Blah"),
        ("recursive_class.t7", "A"),
        ("nngraph_node.t7", "nngraph.Node"),
    ],
)
def test_unknown_classes_load_as_plain_objects_on_request(name, typename, tmp_path):
    obj = nn.load(TF / name, unknown="object")
    found = []

    def walk(v, seen):
        if id(v) in seen:
            return
        seen.add(id(v))
        if isinstance(v, nn.LuaObject):
            found.append(v)
            walk(v.fields, seen)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x, seen)
        elif isinstance(v, list):
            for x in v:
                walk(x, seen)

    walk(obj, set())
    assert typename in {o.torch_typename for o in found}
    nn.save(tmp_path / "back.t7", obj)  # written back under the same class names
    again = nn.load(tmp_path / "back.t7", unknown="object")
    assert type(again) is type(obj)


@needs_ext
def test_lua_functions_and_table_keys_load_as_inert_objects_on_request():
    f = nn.load(TF / "function.t7", unknown="object")
    assert isinstance(f, t7.LuaFunction) and len(f.bytecode) > 0
    with pytest.raises(TypeError, match="cannot be run"):
        f()
    kv = nn.load(TF / "recursive_kv_table.t7", unknown="object")
    assert any(isinstance(k, t7.LuaTableKey) for k in kv)
    with pytest.raises(nn.T7Error, match="'tds.Hash' .* custom write\\(\\) format"):
        nn.load(TF / "tds_hash.t7", unknown="object")  # tds writes its own bytes


def test_a_module_with_a_custom_class_inside_loads_its_known_parts(tmp_path):
    net = nn.Sequential().add(nn.Linear(3, 2))
    data = t7.dumps(net).replace(b"nn.Linear", b"nn.Blahar")  # same length: a custom class
    with pytest.raises(nn.T7Error, match="'nn.Blahar' is not supported.*unknown=\"object\""):
        t7.loads(data)
    loaded = t7.loads(data, unknown="object")
    custom = loaded.modules[0]
    assert custom.torch_typename == "nn.Blahar" and custom.weight.shape == (2, 3)
    np.testing.assert_array_equal(custom["weight"], net.modules[0].weight)


# --- OpenCV's net/input/output triplets (ASCII) -----------------------------------------
TRIPLETS = ["net_batch_norm", "net_cadd_table", "net_concat", "net_deconv", "net_linear_2d", "net_logsoftmax",
            "net_logsoftmax_spatial", "net_parallel", "net_pool_ave", "net_pool_max", "net_reshape",
            "net_reshape_batch", "net_reshape_single_sample", "net_softmax", "net_softmax_spatial"]  # fmt: skip


@needs_ext
@pytest.mark.parametrize("name", TRIPLETS)
def test_opencv_triplet(name):
    net = nn.load(CV / f"{name}_net.txt")
    x = nn.load(CV / f"{name}_input.txt")
    y = nn.load(CV / f"{name}_output.txt")
    out = net.forward(x)
    assert out.size == y.size
    np.testing.assert_allclose(out, y.reshape(out.shape), rtol=0, atol=1e-14)


@needs_ext
def test_opencv_max_pooling_indices_and_backward():
    net = nn.load(CV / "net_pool_max_net.txt")
    x = nn.load(CV / "net_pool_max_input.txt")
    out = net.forward(x)
    idx = nn.load(CV / "net_pool_max_output_2.txt")
    np.testing.assert_array_equal(net.get(1).indices - 1, idx)
    gi = net.backward(x, np.ones(out.shape))
    assert gi.shape == x.shape and gi.sum() == out.size


@needs_ext
def test_opencv_deconvolution_fields():
    m = nn.load(CV / "net_deconv_net.txt").get(1)
    assert repr(m) == "nn.SpatialFullConvolution(3 -> 9, 4x5, 1,2, 0,1, 0,1)"
    assert (m.adjW, m.adjH) == (0, 1) and m.weight.shape == (3, 9, 5, 4)


@needs_ext
def test_loaded_fields_are_luas():
    lin = nn.load(CV / "net_linear_2d_net.txt")
    assert isinstance(lin, nn.Linear) and repr(lin) == "nn.Linear(7 -> 3)"
    assert lin.type() == "torch.DoubleTensor" and lin.addBuffer.shape == (13,)
    seq = nn.load(CV / "net_pool_max_net.txt")
    pool = seq.get(1)
    assert repr(pool) == "nn.SpatialMaxPooling(4x5, 3,2, 1,2)" and pool.ceil_mode is True


# --- the external corpus (no stated licence; not committed) ----------------------------
def _stored_outputs(net):
    return [m.output.copy() for m in net.modules]


@needs_ext
def test_golden_mlhr_lenet_double():
    net = nn.load(Path(EXT) / "mlhr_lenet_cnn_double.net")
    assert net.output is net.get(13).output  # aliased in the file, aliased after loading
    stored = _stored_outputs(net)
    cols = net.get(1).finput.reshape(3, 5, 5, 16, 16)  # im2col of the 3x20x20 input
    x = np.zeros((3, 20, 20))
    for i in range(5):
        for j in range(5):
            x[:, i : i + 16, j : j + 16] = cols[:, i, j]
    assert x.sum() == 250557.0
    net.forward(x)
    for m, s in zip(net.modules, stored):
        np.testing.assert_allclose(m.output, s, rtol=0, atol=1e-10)
    assert net.output.argmax() == 26
    np.testing.assert_allclose(
        net.output[:3], [-60.432277914901725, -78.43910493587921, -52.57323452202341], rtol=1e-12
    )
    assert sum(p.size for p in net.parameters()[0]) == 23268


@needs_ext
def test_golden_henlisp_cuda_mlp():
    net = nn.load(Path(EXT) / "henlisp_mnist_mlp_cuda.t7", force_cpu=True)
    assert net.type() == "torch.FloatTensor" and net.get(2).weight.dtype == np.float32
    stored = _stored_outputs(net)
    x = stored[0]  # the View's output is the input batch
    assert x.shape == (128, 784) and float(x.sum(dtype=np.float64)) == pytest.approx(
        -4473.8618, abs=1e-3
    )
    net.forward(x)
    for m, s in zip(net.modules, stored):
        # float32 against the GPU's float32: 1e-5 relative to each layer's largest value
        # (absolute differences reach 1.7e-5 on values up to 33; a float64 recomputation
        # is as far from the stored GPU values)
        assert np.abs(m.output - s).max() <= 1e-5 * np.abs(s).max()
    assert net.output[:16].argmax(1).tolist() == [5, 8, 6, 7, 3, 4, 6, 8, 7, 0, 4, 2, 7, 7, 5, 4]
    assert sum(p.size for p in net.parameters()[0]) == 59850


EXTERNAL_NETS = [  # file, parameters, input shape, output size
    ("face_detector_elab_float.net", 25602, (1, 32, 32), 2),
    ("face_detector_elab_ascii.net", 25602, (1, 32, 32), 2),
    ("road_net_u1net_float.net", 2928, (3, 46, 46), None),
    ("bumper_cnn_cuda.net", 49458, (3, 256, 256), 2),
    ("stl_a2_cnn_double.net", 224394, (1, 40, 40), 10),
]


@needs_ext
@pytest.mark.parametrize("name,params,shape,nout", EXTERNAL_NETS)
def test_external_nets_load_print_and_run(name, params, shape, nout):
    net = nn.load(Path(EXT) / name, force_cpu=True)
    assert str(net).startswith("nn.Sequential {")
    assert sum(p.size for p in net.parameters()[0]) == params
    net.evaluate()
    xp_dtype = np.float64 if net.type() == "torch.DoubleTensor" else np.float32
    out = net.forward(np.random.default_rng(0).uniform(0, 1, shape).astype(xp_dtype))
    if nout:
        assert out.size == nout and np.isfinite(out).all()
    if name.startswith("face"):
        mm = net.get(1).get(1)
        assert isinstance(mm, nn.SpatialConvolutionMM) and mm.weight.shape == (16, 25)
        assert (mm.dW, mm.dH, mm.padW, mm.padH) == (1, 1, 0, 0)  # absent in the 2014 file


@needs_ext
def test_face_detector_binary_and_ascii_twins_agree():
    a = nn.load(Path(EXT) / "face_detector_elab_float.net")
    b = nn.load(Path(EXT) / "face_detector_elab_ascii.net")
    for p, q in zip(a.parameters()[0], b.parameters()[0]):
        np.testing.assert_allclose(p, q, atol=5e-7)


# --- round trips -------------------------------------------------------------------
def _round_trip_nets():
    conv = (
        nn.Sequential().add(nn.SpatialConvolution(2, 4, 3, 3, 1, 1, 1, 1)).add(nn.ReLU())
    )  # 4x6x6
    conv.add(nn.SpatialMaxPooling(2, 2, 2, 2).ceil())  # 4x3x3
    conv.add(nn.SpatialAveragePooling(2, 2).setCountExcludePad())  # 4x2x2
    conv.add(nn.SpatialCrossMapLRN(3)).add(nn.SpatialBatchNormalization(4).evaluate())
    conv.add(nn.SpatialZeroPadding(1, 0, -1, 2))  # 4x3x3
    conv.add(nn.SpatialConvolutionMM(4, 3, 2, 2).noBias())  # 3x2x2
    conv.add(nn.SpatialDropout(0.0)).add(nn.Narrow(2, 1, 2))  # p = 0: deterministic, trains
    conv.add(nn.View(-1).setNumInputDims(3)).add(nn.Reshape(8, True)).add(
        nn.Dropout(0.2).evaluate()
    )
    conv.add(nn.Linear(8, 6)).add(nn.BatchNormalization(6).evaluate()).add(nn.Threshold(0.1, -1))
    conv.add(nn.Tanh()).add(nn.Sigmoid()).add(nn.Identity())
    branches = (
        nn.Concat(2)
        .add(nn.Linear(6, 3))
        .add(nn.Sequential().add(nn.Linear(6, 2)).add(nn.SoftMax()))
    )
    conv.add(branches).add(nn.LogSoftMax()).add(nn.Select(2, 1))
    table = nn.Sequential().add(
        nn.ConcatTable().add(nn.Identity()).add(nn.SpatialConvolution(2, 2, 1, 1))
    )
    table.add(nn.CAddTable()).add(nn.SpatialMaxPooling(2, 2))
    split = nn.ParallelTable().add(nn.Identity()).add(nn.Tanh())
    table.add(nn.ConcatTable().add(nn.Identity()).add(nn.Identity())).add(split).add(
        nn.JoinTable(2)
    )
    depth = (
        nn.DepthConcat(2)
        .add(nn.SpatialConvolution(2, 1, 1, 1))
        .add(nn.SpatialConvolution(2, 2, 3, 3))
    )
    par = (
        nn.Parallel(2, 2)
        .add(nn.Reshape(36))
        .add(nn.Sequential().add(nn.Reshape(36)).add(nn.Tanh()))
    )
    return [("everything", conv), ("tables", table), ("depthconcat", depth), ("parallel", par)]


@pytest.mark.parametrize("fmt", ["binary", "ascii"])
@pytest.mark.parametrize(
    "name,net", _round_trip_nets(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_round_trip_identical_outputs(name, net, fmt, tmp_path):
    x = np.random.default_rng(1).standard_normal((2, 2, 6, 6))
    y = net.forward(x)
    path = tmp_path / "net.t7"
    nn.save(path, net, format=fmt)
    back = nn.load(path)
    assert str(back) == str(net)
    np.testing.assert_array_equal(back.forward(x), y)
    g = np.ones(y.shape)
    np.testing.assert_array_equal(back.backward(x, g), net.backward(x, g))


def test_round_trip_keeps_sharing_and_types(tmp_path):
    a = nn.Linear(3, 3).float()
    b = a.clone("weight", "bias", "gradWeight", "gradBias")
    net = nn.Sequential().add(a).add(b)
    net.getParameters()
    net.forward(np.ones((2, 3), np.float32))
    nn.save(tmp_path / "n.t7", net)
    back = nn.load(tmp_path / "n.t7")
    assert back.type() == "torch.FloatTensor"
    assert np.shares_memory(back.get(1).weight, back.get(2).weight)  # one storage, as saved
    assert back.output is back.get(2).output
    p, _ = back.getParameters()
    assert p.size == 12


def _bytes_keys(d):
    return {k.encode(): (v.encode() if isinstance(v, str) else v) for k, v in d.items()}


def test_files_written_parse_with_torchfile(tmp_path):
    torchfile = pytest.importorskip("torchfile")
    w = np.arange(12.0).reshape(3, 4)
    obj = {"w": w, "t": w.T, "f": w.astype(np.float32), "i": np.arange(5), "n": 3, "s": "hi"}
    for fmt in ("binary", "ascii"):  # torchfile reads binary files; ours reads both
        nn.save(tmp_path / "x.t7", obj, format=fmt)
        back = (
            torchfile.load(str(tmp_path / "x.t7"))
            if fmt == "binary"
            else _bytes_keys(nn.load(tmp_path / "x.t7"))
        )
        np.testing.assert_array_equal(back[b"w"], w)
        np.testing.assert_array_equal(back[b"t"], w.T)
        np.testing.assert_array_equal(back[b"f"], w.astype(np.float32))
        np.testing.assert_array_equal(back[b"i"], np.arange(5))
        assert back[b"n"] == 3 and back[b"s"] == b"hi"
    lin = nn.Linear(4, 2)
    nn.save(tmp_path / "lin.t7", lin)
    obj = torchfile.load(str(tmp_path / "lin.t7"))
    assert obj.torch_typename() == b"nn.Linear"
    np.testing.assert_array_equal(obj[b"weight"], lin.weight)
    np.testing.assert_array_equal(obj[b"bias"], lin.bias)


def test_old_files_without_new_fields_get_torchs_defaults():
    conv = nn.SpatialConvolution(1, 2, 3, 3)
    pool = nn.SpatialMaxPooling(2, 2)
    net = nn.Sequential().add(conv).add(pool)
    x = np.random.randn(1, 7, 7)
    y = net.forward(x).copy()
    for m, names in ((conv, ("padW", "padH", "dW", "dH")), (pool, ("padW", "padH", "ceil_mode"))):
        for k in names:
            del m.__dict__[k]
    back = t7.loads(t7.dumps(net))
    np.testing.assert_array_equal(back.forward(x), y)
    assert back.get(1).padW == 0 and back.get(2).ceil_mode is False


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "model.t7"
    nn.save(path, nn.Linear(2, 2))
    before = path.read_bytes()
    with pytest.raises(
        nn.T7Error, match="cannot save a value of type object at the top-level object"
    ):
        nn.save(path, object())
    assert path.read_bytes() == before

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        nn.save(path, nn.Linear(3, 3))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.t7"]  # no temporary left


# --- fuzzing ---------------------------------------------------------------------------
# what a module may raise on input that does not fit it, besides T7Error at load
DOCUMENTED_ERRORS = (nn.T7Error, ValueError, TypeError, IndexError, RuntimeError)


def _exercise(obj, input_shape, rng):
    """What a user does next with a loaded model: print, forward, getParameters, clone."""
    str(obj)
    if not isinstance(obj, nn.Module):
        return
    for step in (
        lambda: obj.forward(rng.standard_normal(input_shape)) if input_shape else None,
        obj.getParameters,
        obj.clone,
    ):
        try:
            step()
        except DOCUMENTED_ERRORS:
            pass


def _fuzz(data, rng, cases, input_shape=None):
    for i in range(cases):
        buf = bytearray(data)
        if i % 3 == 0:
            buf = buf[: rng.integers(0, len(buf))]
        else:
            for _ in range(rng.integers(1, 4)):
                pos = rng.integers(0, len(buf))
                buf[pos] = rng.integers(0, 256)
        t0 = time.perf_counter()
        try:
            obj = t7.loads(bytes(buf))
        except nn.T7Error:
            pass
        else:
            with np.errstate(all="ignore"):
                _exercise(obj, input_shape, rng)
        assert time.perf_counter() - t0 < 2.0


@needs_ext
@pytest.mark.parametrize("path", [TF / "doubletensor.t7", TF / "floattensor.t7", TF / "map_table2.t7",
                                  CV / "net_linear_2d_net.txt", CV / "net_concat_net.txt", CV / "net_pool_max_net.txt"],
                         ids=lambda p: p.name)  # fmt: skip
def test_fuzz_flips_and_truncations(path):
    _fuzz(path.read_bytes(), np.random.default_rng(abs(hash(path.name)) % 2**32), 1000)


def test_fuzz_binary_written_by_nnlegacy():
    net = (
        nn.Sequential()
        .add(nn.SpatialConvolution(1, 2, 3, 3))
        .add(nn.SpatialMaxPooling(2, 2))
        .add(nn.View(-1))
        .add(nn.Linear(8, 2))
    )
    net.forward(np.random.randn(1, 1, 6, 6))
    _fuzz(t7.dumps(net), np.random.default_rng(7), 1500, input_shape=(1, 1, 6, 6))


def test_corrupt_sizes_never_allocate_beyond_the_file():
    data = bytearray(t7.dumps(np.zeros(4)))
    # the storage's element count is the int64 just before its 32 data bytes
    pos = len(data) - 32 - 8
    data[pos : pos + 8] = (2**40).to_bytes(8, "little")
    with pytest.raises(nn.T7Error, match="a storage of 1099511627776 elements cannot fit"):
        t7.loads(bytes(data))
    with pytest.raises(nn.T7Error, match="a storage of 4 elements cannot fit in the 29 bytes left"):
        t7.loads(t7.dumps(np.zeros(4))[:-3])
    with pytest.raises(
        nn.T7Error, match=r"a length of 18 bytes exceeds the 1 bytes left \(at byte offset 19\)"
    ):
        t7.loads(t7.dumps(np.zeros(4))[:20])
    with pytest.raises(nn.T7Error, match="unexpected end of file"):
        t7.loads(t7.dumps(np.zeros(4))[:6])


def test_saved_files_have_ordinary_permissions(tmp_path):
    path = tmp_path / "m.t7"
    nn.save(path, nn.Linear(2, 2))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
