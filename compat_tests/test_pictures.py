"""Pictures: the lecture's filter numbers, and PNGs that are written, sized and not blank."""

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import nnlegacy as nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

import filters  # noqa: E402
import lenet5  # noqa: E402

plt = pytest.importorskip("matplotlib.pyplot", reason="pictures need the plot extra")
from matplotlib.image import imread  # noqa: E402


def F(a, b=1):
    return Fraction(a, b)


def test_box_filter_is_the_lectures():
    assert filters.box_filter(0) == [3, 0, 0, 1, F(10, 3), 4, 4, F(16, 3)]
    assert filters.box_filter(1) == [F(7, 3), 3, 0, 0, 1, F(10, 3), 4, 4, F(16, 3), F(11, 3)]
    assert filters.fraction_text(filters.box_filter(0)) == "3 0 0 1 10/3 4 4 16/3"


def test_three_kernels_on_a_digit_equal_a_direct_convolution():
    conv = filters.three_kernels()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (1, 1, 6, 6))
    out = conv.forward(x)
    pad = np.pad(x[0, 0], 1)
    for k, kernel in enumerate(filters.KERNELS.values()):
        ref = np.array(
            [[np.sum(pad[i : i + 3, j : j + 3] * kernel) for j in range(6)] for i in range(6)]
        )
        np.testing.assert_allclose(out[0, k], ref, atol=1e-14)
    # exact lecture kernels: the Gaussian's weights sum to 1, the edge detector's to 0
    assert [Fraction(float(v)).limit_denominator(16) for v in conv.weight[2, 0].ravel()] == [
        F(1, 16),
        F(2, 16),
        F(1, 16),
        F(2, 16),
        F(4, 16),
        F(2, 16),
        F(1, 16),
        F(2, 16),
        F(1, 16),
    ]
    assert conv.weight[0].sum() == 0


def test_strides_and_dropped_columns():
    assert filters.strides() == [(1, 5, 0), (2, 3, 0), (3, 2, 1)]


def test_filters_png(tmp_path, capsys, monkeypatch):
    out = tmp_path / "filters.png"
    result = filters.main(["--out", str(out), "--digits", "3"])
    img = imread(out)
    assert img.shape[:2] == result["picture"]
    assert img[..., :3].std() > 0.1
    printed = capsys.readouterr().out
    assert "1) shrink: 3 0 0 1 10/3 4 4 16/3" in printed
    assert "2) pad with 0: 7/3 3 0 0 1 10/3 4 4 16/3 11/3" in printed
    assert "stride 3: output 2x2, floor sizing drops 1 edge column(s)" in printed
    # titles on every column and row; the input and both blurs on one 0..1 grey scale
    # (so the mean and the Gaussian can be compared), edge detection on a signed one
    from nnlegacy import pictures

    seen = {}
    monkeypatch.setattr(pictures, "save_grid", lambda *a, **k: seen.update(k) or (1, 1))
    filters.main(["--out", str(out), "--digits", "2"])
    grey, edge = seen["scales"][0], seen["scales"][1]
    assert seen["scales"][2] is grey and seen["scales"][3] is grey
    assert (grey["vmin"], grey["vmax"]) == (0.0, 1.0) and edge["vmin"] == -edge["vmax"] > -99
    assert seen["col_titles"][0] == "input" and seen["row_titles"] == ["digit 7", "digit 2"]
    assert all(seen["col_titles"]) and seen["title"]


def run_tool(*args):
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "showfilters"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_showfilters_trained_differs_from_fresh(tmp_path):
    trained = tmp_path / "trained.t7"
    lenet5.main(["--quick", "--cpu", "--no-progress", "--save", str(trained), "--epochs", "1"])
    fresh = tmp_path / "fresh.t7"
    nn.manualSeed(1)  # the quick run starts from the same seed
    nn.save(fresh, lenet5.build().float())
    pics = []
    for model in (trained, fresh):
        png = tmp_path / (model.stem + ".png")
        r = run_tool(str(model), "--out", str(png), "--scale", "4")
        assert r.returncode == 0, r.stderr
        img = imread(png)[..., :3]
        assert r.stdout == f"saved {png} ({img.shape[1]}x{img.shape[0]} pixels)\n"
        assert img.std() > 0.1
        pics.append(img)
    assert pics[0].shape == pics[1].shape and np.abs(pics[0] - pics[1]).max() > 0.1
    nn.setdefaulttensortype("torch.DoubleTensor")


def test_showfilters_panels_titles_colour_and_cap():
    from nnlegacy.cli.showfilters import filter_panels

    lenet = filter_panels(lenet5.build())
    assert lenet[0]["title"].startswith("layer 1: nn.SpatialConvolution(1 -> 6, 5x5)")
    assert "all 6 filters" in lenet[0]["title"] and lenet[0]["image"].ndim == 2
    assert "rows: all 16 output planes, columns: all 6 input planes" in lenet[1]["title"]
    assert lenet[1]["vmin"] == -lenet[1]["vmax"]  # one scale for the layer, 0 in the middle
    net = (
        nn.Sequential()
        .add(nn.SpatialConvolution(3, 8, 3, 3))
        .add(nn.SpatialConvolution(8, 40, 3, 3))
    )
    rgb, deep = filter_panels(net, max_planes=5)
    assert rgb["image"].shape == (3 + 2, 8 * 4 + 1, 3)  # 8 filters in colour in one row
    assert 0 <= np.nanmin(rgb["image"]) and np.nanmax(rgb["image"]) <= 1
    assert "rows: 5 of 40 output planes, columns: 5 of 8 input planes" in deep["title"]
    assert deep["image"].shape == (5 * 4 + 1, 5 * 4 + 1)


def test_showfilters_errors(tmp_path):
    r = run_tool(str(tmp_path / "missing.t7"))
    assert (
        r.returncode == 2 and r.stderr == f"showfilters: no such file: {tmp_path / 'missing.t7'}\n"
    )
    nn.save(tmp_path / "nope.t7", nn.Sequential().add(nn.Linear(2, 2)))
    r = run_tool(str(tmp_path / "nope.t7"), "--out", str(tmp_path / "x.png"))
    assert r.returncode == 2 and "has no SpatialConvolution" in r.stderr
    r = run_tool(str(tmp_path / "nope.t7"), "--out", "/no/such/dir/x.png")
    assert (
        r.stderr
        == "showfilters: --out /no/such/dir/x.png: the folder /no/such/dir does not exist\n"
    )
    r = run_tool(str(tmp_path), "--out", str(tmp_path / "x.png"))
    assert r.returncode == 2 and "is a folder" in r.stderr and "Traceback" not in r.stderr


def test_training_curves_png(tmp_path):
    out = tmp_path / "curves.png"
    from nnlegacy.pictures import save_curves

    size = save_curves(
        {"loss": [0.5, 0.2, 0.1], "accuracy": [0.9, 0.95, 0.97]}, out, title="optim.sgd, lr 0.05"
    )
    img = imread(out)
    assert img.shape[:2] == size == (330, 800) and img[..., :3].std() > 0.05


def test_without_matplotlib_says_how_to_install(monkeypatch):
    from nnlegacy import pictures

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(pictures.PlotUnavailableError, match=r"pip install 'nnlegacy\[plot\]'"):
        pictures.pyplot()
    with pytest.raises(pictures.PlotUnavailableError, match="nnlegacy\\[plot\\]"):
        lenet5.main(["--quick", "--plot", "x.png"])
