"""Training helpers: nn.StochasticGradient (against Lua's own runs), nn.Jacobian,
optim.Logger and optim.ConfusionMatrix beyond the golden file, the Torch generator."""

import os
from pathlib import Path

import numpy as np
import pytest

import nnlegacy as nn
from nnlegacy import optim, torchrandom

GOLDEN = os.environ.get("NNLEGACY_GOLDEN_DIR")
needs_golden = pytest.mark.skipif(
    not GOLDEN or not (Path(GOLDEN) / "nn").is_dir(),
    reason="NNLEGACY_GOLDEN_DIR is not set; the golden corpus lives in ../shared",
)


# --- nn.StochasticGradient ---------------------------------------------------------


@needs_golden
@pytest.mark.parametrize("k", [1, 2])
def test_stochastic_gradient_golden(k):
    import golden

    entry = {"file": f"nn/StochasticGradient_{k}.t7", "name": "StochasticGradient",
             "kind": "trainer"}  # fmt: skip
    res = golden.replay(entry)
    assert res.status == "ok", str(res)


def test_stochastic_gradient_plain_reference(capsys):
    """Against a hand-written loop: per-example SGD on MSE, lr decay from epoch 2."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    lin = nn.Linear(3, 2)
    w, b = lin.weight.copy(), lin.bias.copy()
    trainer = nn.StochasticGradient(lin, nn.MSECriterion())
    trainer.learningRate, trainer.learningRateDecay = 0.1, 0.25
    trainer.maxIteration, trainer.shuffleIndices = 3, False
    trainer.train([(x[i], y[i]) for i in range(4)])  # a Python list: indexed from 0
    lr = 0.1
    for epoch in range(1, 4):
        for i in range(4):
            out = w @ x[i] + b
            g = 2 * (out - y[i]) / 2  # MSE with sizeAverage over 2 outputs
            w -= lr * np.outer(g, x[i])
            b -= lr * g
        lr = 0.1 / (1 + (epoch + 1) * 0.25)
    np.testing.assert_allclose(lin.weight, w, rtol=1e-12)
    np.testing.assert_allclose(lin.bias, b, rtol=1e-12)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "# StochasticGradient: training" and len(lines) == 6
    assert lines[-1].startswith("# training error = ")


# --- nn.Jacobian -----------------------------------------------------------------
JACOBIAN_CASES = [
    ("Linear", lambda: nn.Linear(4, 3), (2, 4)),
    ("Tanh", lambda: nn.Tanh(), (3, 5)),
    ("SpatialConvolution", lambda: nn.SpatialConvolution(2, 3, 3, 3, 1, 1, 1, 1), (2, 5, 5)),
    (
        "Sequential",
        lambda: nn.Sequential().add(nn.Linear(3, 4)).add(nn.Sigmoid()).add(nn.Linear(4, 2)),
        (3,),
    ),
]


@pytest.mark.parametrize("name,build,shape", JACOBIAN_CASES, ids=[c[0] for c in JACOBIAN_CASES])
def test_jacobian_helpers(name, build, shape):
    torchrandom.manualSeed(1)
    m = build()
    x = np.zeros(shape)
    assert nn.Jacobian.testJacobian(m, x) < 1e-5
    if m.parameters():
        (params, grads) = m.parameters()
        for p, g in zip(params, grads):
            assert nn.Jacobian.testJacobianParameters(m, x, p, g) < 1e-5
            assert nn.Jacobian.testJacobianUpdateParameters(m, x, p) < 1e-5
    errf, errb = nn.Jacobian.testIO(m, x)
    assert errf == 0 and errb == 0


def test_jacobian_matches_closed_form():
    """Jacobian.forward and .backward of Linear are its weight (transposed)."""
    m = nn.Linear(3, 2)
    x = np.array([0.5, -1.0, 2.0])
    jf = nn.Jacobian.forward(m, x)
    jb = nn.Jacobian.backward(m, x)
    np.testing.assert_allclose(jb, m.weight.T, rtol=1e-15)
    np.testing.assert_allclose(jf, m.weight.T, rtol=1e-8, atol=1e-9)
    jw = nn.Jacobian.backward(m, x, m.weight, m.gradWeight)
    # d out_i / d W[j, k] = (i == j) * x[k], rows over W's elements
    want = np.zeros((6, 2))
    for j in range(2):
        for k in range(3):
            want[j * 3 + k, j] = x[k]
    np.testing.assert_allclose(jw, want, rtol=1e-15)


def test_jacobian_catches_a_wrong_gradient():
    class Broken(nn.Tanh):
        def updateGradInput(self, input, gradOutput):
            super().updateGradInput(input, gradOutput)
            self.gradInput = self.gradInput * 1.01
            return self.gradInput

    assert nn.Jacobian.testJacobian(Broken(), np.zeros(5)) > 1e-4


def test_jacobian_needs_contiguous_parameter():
    m = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="contiguous"):
        nn.Jacobian.forward(m, np.ones(3), m.weight.T)


# --- optim.checkgrad ---------------------------------------------------------------
def test_checkgrad_on_rosenbrock():
    x = np.array([-1.2, 1.0, 0.5])
    diff, dc, dc_est = optim.checkgrad(optim.rosenbrock, x)
    assert diff < 1e-7
    np.testing.assert_allclose(
        x, [-1.2, 1.0, 0.5], rtol=1e-15
    )  # restored by +eps -2eps +eps, as Lua
    np.testing.assert_allclose(dc_est, dc, rtol=1e-6)


def test_rosenbrock_minimum_and_lbfgs_reaches_it():
    f, df = optim.rosenbrock(np.ones(4))
    assert f == 0 and not df.any()
    x = np.array([-1.2, 1.0])
    for _ in range(30):
        x, fs = optim.lbfgs(optim.rosenbrock, x, {"maxIter": 20, "lineSearch": optim.lswolfe})
    np.testing.assert_allclose(x, [1, 1], atol=1e-6)


def test_polyinterp_closed_form_and_bounded():
    # cubic through (0, 0, -1) and (1, 0, 1): f = x^2 - x with min at 0.5
    assert optim.polyinterp([[0, 0, -1], [1, 0, 1]]) == pytest.approx(0.5)
    assert optim.polyinterp([[0, 0, -1], [1, 0, 1]], 0, 2) == pytest.approx(0.5)


# --- optim.Logger ------------------------------------------------------------------
def test_logger_file_and_plot(tmp_path):
    path = tmp_path / "logs" / "train.log"
    log = optim.Logger(str(path))
    log.setNames(["training error", "test error"])
    for i in range(3):
        log.add([1 / (i + 1), 0.5])
    assert path.read_text() == (
        "training error\ttest error\t\n"
        " 1.0000e+00\t 5.0000e-01\t\n"
        " 5.0000e-01\t 5.0000e-01\t\n"
        " 3.3333e-01\t 5.0000e-01\t\n"
    )
    log.style(["-", "+"])
    log.setlogscale(True)
    pytest.importorskip("matplotlib")
    assert log.plot() is not None
    png = Path(str(path) + ".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporaries


def test_logger_dict_form_and_errors(tmp_path, capsys):
    log = optim.Logger(str(tmp_path / "a.log"))
    log.add({"acc": 0.25, "phase": "train"})
    log.add({"acc": 0.5, "phase": "test"})
    assert (
        tmp_path / "a.log"
    ).read_text() == "acc\tphase\t\n 2.5000e-01\ttrain\t\n 5.0000e-01\ttest\t\n"
    assert log.symbols["acc"] == [0.25, 0.5]
    with pytest.raises(TypeError, match="numbers and strings"):
        log.add({"acc": [1, 2]})
    out = optim.Logger()
    assert "no path provided" in capsys.readouterr().out
    out.add({"x": 1.5})
    assert capsys.readouterr().out == "x\t\n 1.5000e+00\t\n"


# --- optim.ConfusionMatrix ---------------------------------------------------------
def test_confusion_matrix_basics():
    cm = optim.ConfusionMatrix(3)
    cm.batchAdd(np.array([1, 2, 3, 3]), np.array([1, 2, 2, 0]))  # target 0 is ignored
    cm.add(np.array([0.1, 0.7, 0.2]), 2)
    cm.add(np.array([0.1, 0.7, 0.2]), np.array([0, 0, 1.0]))
    np.testing.assert_array_equal(cm.mat, [[1, 0, 0], [0, 2, 1], [0, 1, 0]])
    cm.updateValids()
    np.testing.assert_allclose(cm.valids, [1, 2 / 3, 0], rtol=1e-7)
    assert cm.totalValid == pytest.approx(3 / 5)
    assert str(cm).splitlines()[1] == "[[       1       0       0]   100.000% "
    with pytest.raises(IndexError, match="1-based"):
        cm.batchAdd(np.array([0]), np.array([1]))
    cm.zero()
    assert not cm.mat.any() and cm.totalValid == 0


def test_confusion_matrix_rich_and_png(tmp_path):
    Console = pytest.importorskip("rich.console").Console  # noqa: N806

    cm = optim.ConfusionMatrix(["cat", "dog"])
    cm.batchAdd(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), np.array([1, 2, 2]))
    console = Console(record=True, width=100)
    console.print(cm)
    text = console.export_text()
    assert "cat" in text and "dog" in text and "50.000%" in text
    pytest.importorskip("matplotlib")
    png = cm.plot(tmp_path / "cm.png")
    assert Path(png).read_bytes()[:4] == b"\x89PNG"


# --- Torch's generator -------------------------------------------------------------
def test_torch_generator_known_values():
    """MT19937 seeded by init_genrand(5489) gives the reference first output 3499211612."""
    g = torchrandom.Generator(5489)
    assert g.random() == 3499211612
    g.manualSeed(1)
    perm = g.randperm(10)
    assert sorted(perm.tolist()) == list(range(1, 11))
    assert 1 <= g.random(3, 7) - 2 <= 5


# --- examples/tutorial_mlp.py --------------------------------------------------------
def test_tutorial_mlp_learns_xor(capsys):
    import importlib.util

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location(
        "tutorial_mlp", root / "examples" / "tutorial_mlp.py"
    )
    ex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ex)
    result = ex.main([])
    errors = result["errors"]
    assert len(errors) == 25 and errors[-1] < errors[0]
    assert result["accuracy"] >= 0.85
    mlp = result["mlp"]
    signs = [
        np.sign(mlp.forward(np.array(x))[0])
        for x in ([0.5, 0.5], [0.5, -0.5], [-0.5, 0.5], [-0.5, -0.5])
    ]
    assert signs == [-1, 1, 1, -1]
    out = capsys.readouterr().out
    assert "# StochasticGradient: training" in out and out.count("# current error = ") == 25
