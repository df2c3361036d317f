"""The lecture networks in examples/: every count and feature-map size of the lecture."""

import sys
from pathlib import Path

import numpy as np
import pytest

import nnlegacy as nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

import alexnet  # noqa: E402
import common  # noqa: E402
import googlenet  # noqa: E402
import resnet  # noqa: E402
import vgg  # noqa: E402
import zfnet  # noqa: E402


@pytest.fixture(autouse=True)
def _float_default():
    nn.setdefaulttensortype("torch.FloatTensor")  # halves memory and time for big nets
    yield
    nn.setdefaulttensortype("torch.DoubleTensor")


def hwc(m):
    """The lecture's H x W x C of a module's output (batch of one)."""
    s = m.output.shape
    return (s[2], s[3], s[1]) if len(s) == 4 else tuple(s[1:])


def forward_one(net, shape):
    return net.forward(np.random.default_rng(0).standard_normal((1, *shape)).astype(np.float32))


def test_alexnet_lecture_column():
    net = alexnet.build()
    forward_one(net, alexnet.INPUT)
    convs_pools = [
        m
        for m in net.modules
        if isinstance(m, (nn.SpatialConvolution, nn.SpatialMaxPooling, nn.SpatialCrossMapLRN))
    ]
    assert [hwc(m) for m in convs_pools] == [
        (55, 55, 96),
        (27, 27, 96),
        (27, 27, 96),
        (27, 27, 256),
        (13, 13, 256),
        (13, 13, 256),
        (13, 13, 384),
        (13, 13, 384),
        (13, 13, 256),
        (6, 6, 256),
    ]
    conv1 = net.get(1)
    assert conv1.weight.size + conv1.bias.size == 34944  # the lecture's 35K
    fcs = net.findModules("nn.Linear")
    assert [m.output.shape[-1] for m in fcs] == [4096, 4096, 1000]
    assert len(net.findModules("nn.Dropout")) == 2
    assert common.count_parameters(net) == 62378344


def test_zfnet_paper_sizes_and_where_ceil_is_needed():
    net = zfnet.build()
    forward_one(net, zfnet.INPUT)
    sizes = [
        m.output.shape[2]
        for m in net.modules
        if isinstance(m, (nn.SpatialConvolution, nn.SpatialMaxPooling))
    ]
    assert sizes == [110, 55, 26, 13, 13, 13, 13, 6]
    assert [m.nOutputPlane for m in net.findModules("nn.SpatialConvolution")][2:] == [
        512,
        1024,
        512,
    ]
    # without the paper's adjustments, floor sizing gives 109, 54 and 12
    x = np.zeros((1, 3, 224, 224), np.float32)
    assert nn.SpatialConvolution(3, 1, 7, 7, 2, 2).float().forward(x).shape[2] == 109
    assert (
        nn.SpatialMaxPooling(3, 3, 2, 2).forward(np.zeros((1, 1, 110, 110), np.float32)).shape[2]
        == 54
    )
    assert (
        nn.SpatialMaxPooling(3, 3, 2, 2).forward(np.zeros((1, 1, 26, 26), np.float32)).shape[2]
        == 12
    )


@pytest.mark.parametrize(
    "config,millions,exact",
    [
        ("A", 133, None),
        ("A-LRN", 133, None),
        ("B", 133, None),
        ("C", 134, None),
        ("D", 138, 138357544),
        ("E", 144, 143667240),
    ],
)
def test_vgg_parameter_table(config, millions, exact):
    n = common.count_parameters(vgg.build(config))
    assert round(n / 1e6) == millions
    if exact:
        assert n == exact


def test_vgg16_memory_and_parameter_walkthrough():
    net = vgg.build("D")
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    net.forward(x)
    rows = []  # (H, W, C or features, weights without biases) per CONV/POOL/FC row
    for m in net.modules:
        if isinstance(m, (nn.SpatialConvolution, nn.SpatialMaxPooling, nn.Linear)):
            weights = m.weight.size if getattr(m, "weight", None) is not None else 0
            rows.append((m.output.size, weights))
    lecture = [  # memory, params of the slide's walk-through
        (224 * 224 * 64, 1728),
        (224 * 224 * 64, 36864),
        (112 * 112 * 64, 0),
        (112 * 112 * 128, 73728),
        (112 * 112 * 128, 147456),
        (56 * 56 * 128, 0),
        (56 * 56 * 256, 294912),
        (56 * 56 * 256, 589824),
        (56 * 56 * 256, 589824),
        (28 * 28 * 256, 0),
        (28 * 28 * 512, 1179648),
        (28 * 28 * 512, 2359296),
        (28 * 28 * 512, 2359296),
        (14 * 14 * 512, 0),
        (14 * 14 * 512, 2359296),
        (14 * 14 * 512, 2359296),
        (14 * 14 * 512, 2359296),
        (7 * 7 * 512, 0),
        (4096, 102760448),
        (4096, 16777216),
        (1000, 4096000),
    ]
    assert rows == lecture
    assert rows[0][0] == 3211264  # "224*224*64=3.2M"
    total = x.size + sum(r[0] for r in rows)  # INPUT 150K plus every row
    # The slide's total, "24M * 4 bytes ~= 93MB / image", does not follow from its own
    # rows: they add up to 15.2M values, 58 MiB in float32 (a known slip of the slide,
    # like GoogLeNet's 2.7K). The rows above are the lecture's, exactly.
    assert total == 15237608
    assert round(total * 4 / 2**20) == 58
    assert round(sum(r[1] for r in rows) / 1e6) == 138  # "TOTAL params: 138M"


# (output H x W x C, weights / 1024 in the table) for the lecture's GoogLeNet rows
GOOGLENET_TABLE = {
    "3a": ((28, 28, 256), 159),
    "3b": ((28, 28, 480), 380),
    "4a": ((14, 14, 512), 364),
    "4b": ((14, 14, 512), 437),
    "4c": ((14, 14, 512), 463),
    "4d": ((14, 14, 528), 580),
    "4e": ((14, 14, 832), 840),
    "5a": ((7, 7, 832), 1072),
    "5b": ((7, 7, 1024), 1388),
}


def test_googlenet_table():
    sizes = [192, 256, 480, 512, 512, 512, 528, 832, 832]
    block_inputs = dict(zip(GOOGLENET_TABLE, sizes))
    net = googlenet.build()
    forward_one(net, googlenet.INPUT)
    blocks = net.findModules("nn.DepthConcat")
    for (name, (size, kparams)), block in zip(GOOGLENET_TABLE.items(), blocks):
        assert hwc(block) == size, name
        weights = sum(m.weight.size for m in block.findModules("nn.SpatialConvolution"))
        n1, n3r, n3, n5r, n5, pp = googlenet.INCEPTION[name]
        nin = block_inputs[name]
        assert weights == nin * (n1 + n3r + n5r + pp) + n3r * n3 * 9 + n5r * n5 * 25
        # The paper's params column does not follow from its own filter columns in most
        # rows (4c: 463K listed, 497.5K computed; 5a: 1072K vs 1018K); 3a, 3b and 4b agree
        # within 1K, and no row is off by more than 8% (4c: 7.5%).
        assert abs(weights / 1024 - kparams) / kparams < 0.08, (name, weights / 1024)
        if name in ("3a", "3b", "4b"):
            assert abs(weights / 1024 - kparams) <= 1
    pools = net.findModules("nn.SpatialMaxPooling")
    assert [hwc(p) for p in (pools[0], pools[1])] == [(56, 56, 64), (28, 28, 192)]
    conv1 = net.get(1)
    assert hwc(conv1) == (112, 112, 64)
    # the table's 2.7K for the first convolution is an error of the paper: 7*7*3*64 = 9,408
    assert conv1.weight.size == 7 * 7 * 3 * 64 == 9408
    convs = net.findModules("nn.SpatialConvolution")
    assert round((convs[1].weight.size + convs[2].weight.size) / 1024) == 112  # "112K"
    avg = net.findModules("nn.SpatialAveragePooling")[0]
    assert hwc(avg) == (1, 1, 1024)
    lin = net.findModules("nn.Linear")[0]
    assert lin.weight.size / 1024 == 1000  # "1000K"
    assert net.findModules("nn.Dropout")[0].p == 0.4
    assert net.output.shape == (1, 1000)


@pytest.mark.parametrize(
    "depth,count",
    [(18, 11689512), (34, 21797672), (50, 25557032), (101, 44549160), (152, 60192808)],
)
def test_resnet_parameter_counts(depth, count):
    net = resnet.build(depth)
    assert common.count_parameters(net) == count
    convs = net.findModules("nn.SpatialConvolution")
    assert all(c.bias is None for c in convs)  # BN follows every convolution
    assert len(net.findModules("nn.SpatialBatchNormalization")) == len(convs)


def test_resnet18_forward_backward_and_shortcuts():
    net = resnet.build(18)
    out = forward_one(net, resnet.INPUT)
    assert out.shape == (1, 1000)
    stages = [m for m in net.modules if isinstance(m, nn.Sequential)]
    assert [hwc(b) for b in stages] == [(56, 56, 64)] * 2 + [(28, 28, 128)] * 2 + [
        (14, 14, 256)
    ] * 2 + [(7, 7, 512)] * 2
    shortcuts = [b.get(1).get(2) for b in stages]
    assert [isinstance(s, nn.Identity) for s in shortcuts] == [
        True,
        True,
        False,
        True,
        False,
        True,
        False,
        True,
    ]
    gi = net.backward(np.zeros((1, 3, 224, 224), np.float32), np.ones((1, 1000), np.float32))
    assert gi.shape == (1, 3, 224, 224) and np.isfinite(gi).all()


@pytest.mark.parametrize(
    "module,argv",
    [
        (alexnet, ["--batch", "2"]),
        (zfnet, ["--batch", "1"]),
        (googlenet, ["--batch", "1"]),
    ],
)
def test_example_main_runs_a_synthetic_batch(module, argv, capsys):
    net, out = common.run(module.build, module.INPUT, "test", argv=argv + ["--cpu"])
    assert out.shape == (int(argv[1]), 1000)
    printed = capsys.readouterr().out
    assert (
        printed.startswith("nn.Sequential {") and "parameters" in printed and "forward" in printed
    )


def test_vgg_and_resnet_mains_take_their_options(capsys):
    common.run(
        lambda a: vgg.build(a.config),
        vgg.INPUT,
        "t",
        argv=["--config", "A", "--cpu"],
        default_batch=1,
        build_args=lambda ap: ap.add_argument("--config", default="D"),
    )
    common.run(
        lambda a: resnet.build(a.depth),
        resnet.INPUT,
        "t",
        argv=["--depth", "18", "--cpu"],
        default_batch=1,
        build_args=lambda ap: ap.add_argument("--depth", type=int, default=34),
    )
    out = capsys.readouterr().out
    assert "132,863,336 parameters" in out and "11,689,512 parameters" in out
    with pytest.raises(ValueError, match="unknown VGG configuration 'F'"):
        vgg.build("F")
    with pytest.raises(ValueError, match="unknown ResNet depth 20"):
        resnet.build(20)
