"""tools/bench times the same net in both frameworks: the PyTorch translation of every
example net computes what the nnlegacy net computes (float64, evaluate mode). PyTorch is
optional (only the benchmark's yardstick); without it these tests skip."""

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import torchnet  # noqa: E402

sys.path.insert(0, str(ROOT / "examples"))
import alexnet  # noqa: E402
import googlenet  # noqa: E402
import lenet5  # noqa: E402
import resnet  # noqa: E402


@pytest.mark.parametrize(
    "name,build,shape",
    [
        ("lenet5", lenet5.build, (1, 32, 32)),
        ("alexnet", alexnet.build, (3, 227, 227)),
        ("googlenet", googlenet.build, (3, 224, 224)),
        ("resnet18", lambda: resnet.build(18), (3, 224, 224)),
    ],
)
def test_translation_computes_the_same(name, build, shape):
    net = build().evaluate()
    for bn in net.findModules("nn.SpatialBatchNormalization"):  # non-trivial statistics
        bn.running_mean[...] = np.random.default_rng(1).uniform(-0.1, 0.1, bn.running_mean.shape)
        bn.running_var[...] = np.random.default_rng(2).uniform(0.5, 1.5, bn.running_var.shape)
    tnet = torchnet.translate(net).double().eval()
    x = np.random.default_rng(0).standard_normal((2, *shape))
    ours = net.forward(x)
    with torch.no_grad():
        theirs = tnet(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)


def test_dilated_bench_net_translates():
    """bench's dilated-convolution net (rates 1, 2, 4) has a faithful PyTorch twin."""
    from nnlegacy.cli import bench

    net = bench.build("dilated").evaluate()
    dil = net.findModules("nn.SpatialDilatedConvolution")
    assert [m.dilationW for m in dil] == [1, 2, 4]
    tnet = torchnet.translate(net).double().eval()
    x = np.random.default_rng(0).standard_normal((2, *bench.NETS["dilated"][2]))
    ours = net.forward(x)
    with torch.no_grad():
        theirs = tnet(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)
