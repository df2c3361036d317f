"""tools/printshape and nnlegacy.summary against the lecture's tables."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnlegacy as nn

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "printshape"
GOLDEN = Path(__file__).resolve().parent / "golden"


def printshape(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, str(TOOL), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=ROOT,
    )


def rows_of(*args):
    r = printshape(*args, "--format", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_alexnet_column_and_conv1():
    s = rows_of("examples/alexnet.py", "--input", "3x227x227")
    by_kind = [
        (r["module"], r["output"])
        for r in s["rows"]
        if "Convolution" in r["module"] or "MaxPooling" in r["module"]
    ]
    assert [o for _, o in by_kind] == [
        "96x55x55",
        "96x27x27",
        "256x27x27",
        "256x13x13",
        "384x13x13",
        "384x13x13",
        "256x13x13",
        "256x6x6",
    ]
    conv1 = s["rows"][1]
    assert conv1["path"] == "1" and conv1["params"] == 34944 and conv1["kernel"] == "11x11/4"
    assert s["params"] == 62378344


def test_vgg16_memory_and_params_lines():
    s = rows_of("vgg16", "--input", "3x224x224")
    convs = [r for r in s["rows"] if "Convolution" in r["module"]]
    assert [r["activations"] for r in convs[:2]] == [3211264, 3211264]  # 224*224*64 = 3.2M
    assert [r["params"] for r in convs[:2]] == [
        1728 + 64,
        36864 + 64,
    ]  # the lecture counts no biases
    fc1 = next(r for r in s["rows"] if r["module"] == "nn.Linear(25088 -> 4096)")
    assert fc1["params"] == 102760448 + 4096
    assert s["params"] == 138357544  # "TOTAL params: 138M"
    # forward: the lecture's 15.2M activations in float32 (its rows; see test_examples), plus
    # the two dropout copies and LogSoftMax
    assert s["forward_bytes"] == (15237608 + 4096 + 4096 + 1000) * 4
    assert s["forward_backward_bytes"] > 2 * s["forward_bytes"]  # "~*2 for bwd"


def test_googlenet_columns():
    s = rows_of("googlenet", "--input", "3x224x224", "--depth", "1")
    blocks = [r for r in s["rows"] if r["module"] == "nn.DepthConcat"]
    assert [b["output"] for b in blocks] == [
        "256x28x28",
        "480x28x28",
        "512x14x14",
        "512x14x14",
        "512x14x14",
        "528x14x14",
        "832x14x14",
        "832x7x7",
        "1024x7x7",
    ]
    pools = [
        r for r in s["rows"] if r["module"].startswith("nn.SpatialMaxPooling") and r["depth"] == 1
    ]
    assert pools[0]["note"] == ":ceil() gives 56x56 (floor would give 55x55)"
    assert s["rows"][1]["params"] == 9408 + 64


def test_dropped_edges_of_the_illegal_stride(tmp_path):
    f = tmp_path / "illegal.py"
    f.write_text(
        "import nnlegacy as nn\n\ndef build():\n    return nn.Sequential().add(nn.SpatialConvolution(1, 1, 3, 3, 3, 3))\n"
    )
    s = rows_of(str(f), "--input", "1x7x7")
    assert s["rows"][1]["output"] == "1x2x2"
    assert s["rows"][1]["note"] == "floor drops 1 row, 1 col of the input"


def test_shared_weights_counted_once():
    a = nn.Linear(10, 10)
    b = a.clone("weight", "bias", "gradWeight", "gradBias")
    net = nn.Sequential().add(a).add(b)
    s = nn.summary(net, (10,))
    assert s.params == 110 and [r.params for r in s.rows] == [0, 110, 0]


def test_no_side_effects():
    net = (
        nn.Sequential()
        .add(nn.SpatialConvolution(3, 4, 3, 3))
        .add(nn.SpatialBatchNormalization(4))
        .add(nn.Dropout())
    )
    net.evaluate()
    before = [p.copy() for p in net.parameters()[0]] + [
        net.get(2).running_mean.copy(),
        net.get(2).running_var.copy(),
    ]
    out_before = net.get(1).output
    nn.summary(net, (3, 8, 8), "torch.FloatTensor")
    after = net.parameters()[0] + [net.get(2).running_mean, net.get(2).running_var]
    for x, y in zip(before, after):
        np.testing.assert_array_equal(x, y)
        assert y.dtype == np.float64
    assert net.get(2).train is False and net.type() == "torch.DoubleTensor"
    assert net.get(1).output is out_before and "updateOutput" not in vars(net.get(1))


def test_batch_shown_when_given():
    s = rows_of("lenet5", "--input", "4x1x32x32")
    assert s["rows"][1]["output"] == "4x6x28x28" and s["input"] == "4x1x32x32"


@pytest.mark.parametrize(
    "name,args",
    [
        ("lenet5", ["lenet5", "--input", "1x32x32"]),
        ("alexnet", ["alexnet", "--input", "3x227x227", "--memory"]),
    ],
)
def test_golden_text(name, args):
    r = printshape(*args)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (GOLDEN / f"printshape_{name}.txt").read_text()


@pytest.mark.parametrize(
    "args,message",
    [
        (["nosuchnet", "--input", "3x32x32"], "printshape: unknown model 'nosuchnet'"),
        (["lenet5", "--input", "3x32"], "printshape: --input takes CxHxW or NxCxHxW"),
        (
            ["lenet5", "--input", "1x8x8"],
            "printshape: lenet5 cannot take input 1x8x8: In 4 module of nn.Sequential: / Given input size: (6 x 2 x 2)",
        ),
        (["resnet20", "--input", "3x224x224"], "printshape: unknown ResNet depth 20"),
        (["no/such/file.py", "--input", "3x8x8"], "printshape: no such file"),
    ],
)
def test_bad_input_one_line_error(args, message):
    r = printshape(*args)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.startswith(message) and r.stderr.count("\n") == 1
    assert "Traceback" not in r.stderr


def test_csv_format():
    r = printshape("lenet5", "--input", "1x32x32", "--format", "csv")
    lines = r.stdout.splitlines()
    assert lines[0] == "path,depth,module,output,params,activations,mult_adds,kernel,note"
    assert lines[2].startswith(
        '1,1,"nn.SpatialConvolution(1 -> 6, 5x5)",6x28x28,156,4704,117600,5x5/1'
    )


def test_parameters_of_a_flattened_net_all_counted():
    # after getParameters every parameter views one storage; each still counts
    net = nn.Sequential().add(nn.Linear(4, 3)).add(nn.Linear(3, 2))
    net.getParameters()
    s = nn.summary(net, (4,))
    assert s.params == 15 + 8 and [r.params for r in s.rows] == [0, 15, 8]


def test_t7_model_file(tmp_path):
    net = nn.Sequential().add(nn.SpatialConvolution(1, 2, 3, 3)).add(nn.View(-1).setNumInputDims(3))
    nn.save(tmp_path / "m.t7", net)
    s = rows_of(str(tmp_path / "m.t7"), "--input", "1x5x5")
    assert (
        s["type"] == "torch.DoubleTensor"
        and s["rows"][1]["output"] == "2x3x3"
        and s["params"] == 20
    )
    if not os.environ.get("NNLEGACY_T7_DIR"):
        return  # the Lua-written file below lives in ../shared/t7
    r = printshape(
        str(Path(os.environ["NNLEGACY_T7_DIR"]) / "python-torchfile" / "function.t7"),
        "--input",
        "1x4x4",
    )
    assert (
        r.returncode == 2
        and "a serialized Lua function" in r.stderr
        and "Traceback" not in r.stderr
    )
