"""nngraph: node syntax, gModule against Lua's golden graphs (node ids, topological order,
parameters, outputs and gradients), finite differences, clones, types, .t7 and dot."""

import os
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_tables_decorators import assert_nested_close, check_gradients, to_xp

import nnlegacy as nn
from nnlegacy import nngraph

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = os.environ.get("NNLEGACY_GOLDEN_DIR")
T7_DIR = os.environ.get("NNLEGACY_T7_DIR")


# --- the golden graphs, written in Python as their Lua configs -----------------------------
def mlp():
    x = nn.Identity()()
    h = nn.Tanh()(nn.Linear(4, 5)(x))
    y = nn.Linear(5, 3)(h)
    return nn.gModule([x], [y])


def two_input_cadd():
    a = nn.Identity()()
    b = nn.Identity()()
    s = nn.CAddTable()([nn.Linear(3, 4)(a), nn.Linear(5, 4)(b)])
    y = nn.Tanh()(s)
    return nn.gModule([a, b], [y])


def split_two_outputs():
    x = nn.Identity()()
    r = nn.Reshape(2, 3)(nn.Linear(4, 6)(x))
    p1, p2 = nn.SplitTable(2)(r).split(2)
    return nn.gModule([x], [nn.Tanh()(p1), nn.Sigmoid()(p2)])


def lstm(input_size=3, rnn_size=4):
    x, prev_c, prev_h = nn.Identity()(), nn.Identity()(), nn.Identity()()
    i2h = nn.Linear(input_size, 4 * rnn_size)(x)
    h2h = nn.Linear(rnn_size, 4 * rnn_size)(prev_h)
    all_input_sums = nn.CAddTable()([i2h, h2h])
    reshaped = nn.Reshape(4, rnn_size)(all_input_sums)
    n1, n2, n3, n4 = nn.SplitTable(2)(reshaped).split(4)
    in_gate = nn.Sigmoid()(n1)
    forget_gate = nn.Sigmoid()(n2)
    out_gate = nn.Sigmoid()(n3)
    in_transform = nn.Tanh()(n4)
    next_c = nn.CAddTable()(
        [nn.CMulTable()([forget_gate, prev_c]), nn.CMulTable()([in_gate, in_transform])]
    )
    next_h = nn.CMulTable()([out_gate, nn.Tanh()(next_c)])
    return nn.gModule([x, prev_c, prev_h], [next_c, next_h])


def lstm_narrow(input_size=3, rnn_size=4):
    # the same cell with nngraph's operator syntax: -module and node - module
    x, prev_c, prev_h = -nn.Identity(), -nn.Identity(), -nn.Identity()
    sums = nn.CAddTable()(
        [x - nn.Linear(input_size, 4 * rnn_size), prev_h - nn.Linear(rnn_size, 4 * rnn_size)]
    )
    in_gate = sums - nn.Narrow(2, 1, rnn_size) - nn.Sigmoid()
    forget_gate = sums - nn.Narrow(2, rnn_size + 1, rnn_size) - nn.Sigmoid()
    out_gate = sums - nn.Narrow(2, 2 * rnn_size + 1, rnn_size) - nn.Sigmoid()
    in_transform = sums - nn.Narrow(2, 3 * rnn_size + 1, rnn_size) - nn.Tanh()
    next_c = nn.CAddTable()(
        [nn.CMulTable()([forget_gate, prev_c]), nn.CMulTable()([in_gate, in_transform])]
    )
    next_h = nn.CMulTable()([out_gate, next_c - nn.Tanh()])
    return nn.gModule([x, prev_c, prev_h], [next_c, next_h])


GRAPHS = [mlp, two_input_cadd, split_two_outputs, lstm, lstm_narrow]
needs_golden = pytest.mark.skipif(not GOLDEN, reason="NNLEGACY_GOLDEN_DIR not set")


def _shape(node):
    d = node.data
    if d.module is not None:
        what = type(d.module).__name__
    elif d.selectindex:
        what = f"select{d.selectindex}"
    else:
        what = "split" if d.nSplitOutputs else "-"
    return node.id, what


def _replay(m, record):
    params = m.parameters()[0]
    assert len(params) == len(record["params"])
    for p, v in zip(params, record["params"]):
        p[...] = v
    out = m.forward(record["input"])
    assert_nested_close(out, record["output"])
    m.zeroGradParameters()
    gi = m.backward(record["input"], record["gradOutput"])
    assert_nested_close(gi, record["gradInput"])
    assert_nested_close(list(m.parameters()[1]), record["gradParams"])
    flat, _ = m.getParameters()
    assert_nested_close(flat, record["flatParams"])
    assert str(m) == record["str"]


@needs_golden
@pytest.mark.parametrize("build", GRAPHS, ids=[g.__name__ for g in GRAPHS])
def test_golden_graph_replays_loaded_and_built(build):
    record = nn.load(Path(GOLDEN, "nngraph", build.__name__ + ".t7"))
    lua = record["module"]
    ours = build()
    # the graph as built has Lua's node ids and topological orders
    assert [_shape(n) for n in ours.forwardnodes] == [_shape(n) for n in lua.forwardnodes]
    assert [n.id for n in ours.backwardnodes] == [n.id for n in lua.backwardnodes]
    assert [str(a) for a in ours.modules] == [str(b) for b in lua.modules]
    _replay(lua, nn.load(Path(GOLDEN, "nngraph", build.__name__ + ".t7")))
    _replay(ours, record)


# --- node syntax -------------------------------------------------------------------------
def test_calling_a_module_makes_nodes_or_forwards():
    lin = nn.Linear(3, 2)
    x = nn.Identity()()
    assert isinstance(x, nngraph.Node) and isinstance(lin(x), nngraph.Node)
    assert isinstance(-nn.Tanh(), nngraph.Node)
    y = lin(np.ones((1, 3)))
    assert y.shape == (1, 2)  # with an array, __call__ still forwards
    out, gi = nn.Tanh()(np.zeros(2), np.ones(2))
    assert gi.tolist() == [1, 1]
    assert nn.NarrowTable(1)([]) == []  # an empty table forwards
    with pytest.raises(TypeError, match=r"Expected nngraph.Node in inputs\[2\]"):
        nn.CAddTable()([x, np.ones(3)])
    with pytest.raises(ValueError, match="Don't pass the same input twice"):
        nn.CAddTable()([x, x])
    with pytest.raises(TypeError, match="Expected nngraph.Node in outputs"):
        nn.gModule([x], [nn.Linear(3, 2)])


def test_graph_errors_in_lua_words():
    x = nn.Identity()()
    a, b = nn.SplitTable(2)(x).split(2)
    with pytest.raises(ValueError, match=r"1 of split\(2\) outputs .* are unused"):
        nn.gModule([x], [nn.Tanh()(a)])
    x = nn.Identity()()
    h = nn.Linear(2, 2)(x)
    nn.Tanh()(h)  # dangling
    with pytest.raises(ValueError, match="does not connect to gmodule output"):
        nn.gModule([x], [nn.Sigmoid()(h)])
    g = two_input_cadd()
    with pytest.raises(ValueError, match="Got 1 inputs instead of 2"):
        g.forward([np.ones((1, 3))])
    with pytest.raises(TypeError, match="expecting table of 2 inputs"):
        g.forward(np.ones((1, 3)))
    with pytest.raises(ValueError, match="split must|split\\(2\\) cannot split 3 outputs"):
        x = nn.Identity()()
        p, q = nn.Identity()(x).split(2)
        nn.gModule([x], [p, q]).forward([np.ones(1), np.ones(1), np.ones(1)])


def test_annotations_and_debug_labels():
    x = nn.Identity()().annotate(name="input", description="the data")
    y = nngraph.annotate(nn.Linear(2, 2)(x), {"graphAttributes": {"color": "red"}})
    hidden = nn.Tanh()(y)
    nngraph.annotateNodes()
    assert x.data.annotations["name"] == "input"
    assert hidden.data.annotations["name"] == "hidden"
    assert y.data.annotations["_debugLabel"].startswith(f"[{__file__}]:")
    g = nn.gModule([x], [hidden])
    assert "desc = the data" in x.label() or "desc = the data" in g.fg.nodes[-1].label()


# --- the graph at work ---------------------------------------------------------------------
def _lstm_input(rng, batch=2):
    return [rng.standard_normal((batch, 3)), rng.standard_normal((batch, 4)),
            rng.standard_normal((batch, 4))]  # fmt: skip


@pytest.mark.parametrize("build", GRAPHS, ids=[g.__name__ for g in GRAPHS])
def test_gradients_by_finite_differences(build):
    rng = np.random.default_rng(0)
    g = build()
    inputs = {
        "mlp": lambda: rng.standard_normal((2, 4)),
        "two_input_cadd": lambda: [rng.standard_normal((2, 3)), rng.standard_normal((2, 5))],
        "split_two_outputs": lambda: rng.standard_normal((3, 4)),
    }
    x = inputs.get(build.__name__, lambda: _lstm_input(rng))()
    check_gradients(g, x, rng)


def test_a_node_feeding_several_sums_their_gradients():
    x = nn.Identity()()
    h = nn.Linear(3, 3)(x)
    y = nn.CAddTable()([nn.Tanh()(h), nn.Sigmoid()(h), h])
    g = nn.gModule([x], [y])
    lin = g.modules[1]
    xin = np.random.default_rng(1).standard_normal((2, 3))
    z = xin @ lin.weight.T + lin.bias
    np.testing.assert_allclose(g.forward(xin), np.tanh(z) + 1 / (1 + np.exp(-z)) + z)
    gi = g.backward(xin, np.ones((2, 3)))
    s = 1 / (1 + np.exp(-z))
    dz = (1 - np.tanh(z) ** 2) + s * (1 - s) + 1
    np.testing.assert_allclose(gi, dz @ lin.weight, rtol=1e-12)
    np.testing.assert_allclose(lin.gradBias, dz.sum(0), rtol=1e-12)


def test_clones_per_timestep_share_the_parameters():
    proto = lstm()
    params, grads = proto.getParameters()
    clones = [proto.clone("weight", "bias", "gradWeight", "gradBias") for _ in range(3)]
    rng = np.random.default_rng(2)
    params[:] = rng.uniform(-0.1, 0.1, params.size)
    for c in clones:
        for a, b in zip(c.parameters()[0], proto.parameters()[0]):
            assert np.shares_memory(a, b)
    # unrolled over 3 steps, the shared gradient is the sum of the per-step gradients
    x = [rng.standard_normal((2, 3)) for _ in range(3)]
    state, inputs = [np.zeros((2, 4)), np.zeros((2, 4))], []
    for t, c in enumerate(clones):
        inputs.append([x[t], *state])
        state = [s.copy() for s in c.forward(inputs[-1])]
    grads.fill(0)
    d, received = [np.zeros((2, 4)), np.ones((2, 4))], {}
    for t in (2, 1, 0):
        received[t] = d
        gi = clones[t].backward(inputs[t], d)
        d = [gi[1].copy(), gi[2].copy()]
    total = grads.copy()
    expect = np.zeros_like(total)
    single = proto.clone()
    sp, sg = single.getParameters()
    for t in range(3):  # each step alone, with that step's input and gradOutput
        sp[:] = params
        single.forward(inputs[t])
        sg.fill(0)
        single.backward(inputs[t], received[t])
        expect += sg
    np.testing.assert_allclose(total, expect, rtol=1e-10, atol=1e-12)


def test_type_conversion_and_clear_state():
    g = lstm()
    rng = np.random.default_rng(3)
    x = _lstm_input(rng)
    want = [o.copy() for o in g.forward(x)]
    g.float()
    assert all(m.type() == "torch.FloatTensor" for m in g.modules)
    out = g.forward(to_xp(x, np, np.float32))
    assert all(o.dtype == np.float32 for o in out)
    assert_nested_close(out, want, rtol=1e-5, atol=1e-6)
    g.double()
    want = [o.copy() for o in g.forward(x)]  # the weights went through float32
    g.clearState()
    assert all(n.data.input is None for n in g.forwardnodes)
    assert_nested_close(g.forward(x), want)


def test_print_out_is_lua_s():
    g = mlp()
    assert str(g) == "nn.gModule"
    g.name = "encoder"
    assert str(g) == "encoder"


# --- files -------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["binary", "ascii"])
def test_save_and_load_keep_the_graph(tmp_path, fmt):
    g = lstm()
    x = _lstm_input(np.random.default_rng(4))
    want = [o.copy() for o in g.forward(x)]
    nn.save(tmp_path / "g.t7", g, format=fmt)
    back = nn.load(tmp_path / "g.t7")
    assert [n.id for n in back.forwardnodes] == [n.id for n in g.forwardnodes]
    assert_nested_close(back.forward(x), want, rtol=0, atol=0)
    check_gradients(back, x, np.random.default_rng(5), params=False)


def test_saved_graph_is_lua_s_objects(tmp_path):
    torchfile = pytest.importorskip("torchfile")
    nn.save(tmp_path / "g.t7", split_two_outputs())
    obj = torchfile.load(str(tmp_path / "g.t7"), use_list_heuristic=False)
    assert obj.torch_typename() == b"nn.gModule"
    node = obj._obj[b"forwardnodes"][1]
    assert node.torch_typename() == b"nngraph.Node"
    assert obj._obj[b"fg"].torch_typename() == b"graph.Graph"
    assert set(node._obj) == {b"data", b"children", b"visited", b"marked", b"id"}


@pytest.mark.skipif(not T7_DIR, reason="NNLEGACY_T7_DIR not set")
def test_python_torchfile_gmodule_loads_and_runs():
    g = nn.load(Path(T7_DIR, "python-torchfile", "gmodule_with_linear_identity.t7"))
    assert [str(m) for m in g.modules] == [
        "nn.Identity", "nn.Identity", "nn.Linear(1 -> 2)", "nn.CAddTable"
    ]  # fmt: skip
    lin = g.modules[2]
    out = g.forward([np.ones(1), np.ones(2)])
    np.testing.assert_allclose(out, lin.weight[:, 0] + lin.bias + 1)
    node = nn.load(Path(T7_DIR, "python-torchfile", "nngraph_node.t7"))
    assert node.torch_typename == "nngraph.Node"


def test_dot_export(tmp_path):
    g = lstm()
    g.forward(_lstm_input(np.random.default_rng(6)))
    text = nngraph.todot(g.fg, "LSTM cell")
    assert text.startswith("digraph G {") and 'label="LSTM cell"' in text
    assert len(re.findall(r"^n\d+ -> n\d+;$", text, re.M)) == len(g.fg.edges)
    assert "module = nn.Linear(3 -> 16)" in text
    nngraph.dot(g.bg, "backward", str(tmp_path / "bg"))
    assert (tmp_path / "bg.dot").read_text() == nngraph.todot(g.bg, "backward")
    if shutil.which("dot"):
        assert (tmp_path / "bg.svg").stat().st_size > 0


# --- the char-rnn example ------------------------------------------------------------------
def test_char_lstm_quick_trains_below_the_stated_loss(capsys):
    sys.path.insert(0, str(ROOT / "examples"))
    import char_lstm

    start = time.time()
    final = char_lstm.main(["--quick"])
    assert final < char_lstm.QUICK_LOSS
    assert time.time() - start < 60
    assert "--- sample ---" in capsys.readouterr().out


@pytest.mark.gpu
def test_gmodule_on_cupy_matches_numpy(backend):
    g = lstm()
    x = _lstm_input(np.random.default_rng(7))
    want = [o.copy() for o in g.forward(x)]
    gi_want = [a.copy() for a in g.backward(x, [np.ones((2, 4)), np.ones((2, 4))])]
    backend.module(g)
    xs = to_xp(x, backend.xp)
    assert_nested_close(g.forward(xs), want, rtol=1e-10, atol=1e-12)
    gi = g.backward(xs, [backend.xp.ones((2, 4)), backend.xp.ones((2, 4))])
    assert_nested_close(gi, gi_want, rtol=1e-10, atol=1e-12)
