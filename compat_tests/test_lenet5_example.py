"""The main job's quick mode: examples/lenet5.py trains on real MNIST and the loss falls."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import nnlegacy as nn

ROOT = Path(__file__).resolve().parent.parent


def load_example():
    spec = importlib.util.spec_from_file_location("lenet5", ROOT / "examples" / "lenet5.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_build_matches_the_lecture():
    net = load_example().build()
    out = net.forward(np.zeros((2, 1, 32, 32)))
    assert out.shape == (2, 10)
    shapes = [tuple(m.output.shape[1:]) for m in net.modules]
    assert shapes[0] == (6, 28, 28) and shapes[2] == (6, 14, 14)
    assert shapes[3] == (16, 10, 10) and shapes[5] == (16, 5, 5) and shapes[6] == (120, 1, 1)
    p, _ = net.getParameters()
    # C1 (5*5*1+1)*6, C3 (5*5*6+1)*16, C5 (5*5*16+1)*120, F6 (120+1)*84, out (84+1)*10
    assert p.size == 156 + 2416 + 48120 + 10164 + 850 == 61706


def test_mnist_files_are_the_originals():
    ex = load_example()
    images = ex.read_idx(ROOT / "data" / "mnist" / "t10k-images-idx3-ubyte.gz")
    labels = ex.read_idx(ROOT / "data" / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    assert labels.min() == 0 and labels.max() == 9


def test_quick_mode_loss_falls(tmp_path):
    ex = load_example()
    save = tmp_path / "lenet5.t7"
    history = ex.main(["--quick", "--cpu", "--no-progress", "--save", str(save)])
    assert len(history["loss"]) == 2
    assert history["loss"][1] < history["loss"][0] < np.log(10) + 0.1
    assert history["accuracy"][1] > 0.2  # well above chance (0.1) after 2 short epochs
    net = nn.load(save)
    assert str(net) == str(ex.build())
    assert net.type() == "torch.FloatTensor" and net.get(1).weight.shape == (6, 1, 5, 5)
    train_x, train_y, test_x, test_y = ex.load_mnist(ROOT / "data" / "mnist")
    assert (
        ex.accuracy(net, test_x[:256], test_y[:256], "torch.FloatTensor") == history["accuracy"][1]
    )


def test_read_idx_rejects_bad_files(tmp_path):
    ex = load_example()
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(ValueError, match="expected 5 bytes of data, found 3"):
        ex.read_idx(bad)
    bad.write_bytes(b"PK\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        ex.read_idx(bad)


def test_default_save_is_a_t7_file():
    args = load_example().parse_args([])
    assert args.save == "lenet5_mnist.t7"
    assert (args.epochs, args.batchSize, args.learningRate, args.momentum) == (8, 64, 0.05, 0.9)


@pytest.mark.parametrize(
    "optimizer,rate",
    [("adam", 1e-3), ("adamax", 2e-3), ("nag", 1e-3), ("adadelta", None),
     ("adagrad", 1e-2), ("rmsprop", 1e-3), ("sgd", 0.05)],
)  # fmt: skip
def test_each_optimizer_gets_its_default_learning_rate_unless_one_is_given(optimizer, rate):
    ex = load_example()
    assert ex.parse_args(["--optimizer", optimizer]).learningRate == rate
    assert ex.parse_args(["--optimizer", optimizer, "--learningRate", "0.2"]).learningRate == 0.2
    lua = {"adam": 1e-3, "adamax": 2e-3, "nag": 1e-3, "adagrad": 1e-3, "rmsprop": 1e-2}
    for name, value in lua.items():  # Lua's optim defaults, as its .lua files set them
        assert ex.LUA_DEFAULT_LEARNING_RATES[name] == value
