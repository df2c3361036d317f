"""What a new user meets first (issue 16): printshape's 80-column table, its totals and
counts, the command lines, one-line errors, output paths checked before the work, the
console scripts, and --quick reading only the images it uses."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnlegacy as nn
from nnlegacy.cli import UserError, check_writable
from nnlegacy.cli import printshape as ps

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

import lenet5  # noqa: E402


def run(*args, env=None, timeout=300):
    e = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, *map(str, args)],
        capture_output=True,
        text=True,
        env=e,
        timeout=timeout,
        cwd=ROOT,
    )


def printshape(capsys, *args):
    code = ps.main(list(args))
    out, err = capsys.readouterr()
    nn.setdefaulttensortype("torch.DoubleTensor")
    return code, out, err


def one_line_error(r, start, code=2):
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(start), r.stderr


# --- 1. 80 columns ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "args", [["lenet5"], ["lenet5", "--memory"], ["googlenet"], ["resnet18", "--memory"]]
)
def test_fits_80_columns(capsys, args):
    code, out, err = printshape(capsys, *args)
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "~" not in out  # no module name had to be cut


def test_wide_keeps_luas_print_outs(capsys):
    code, out, _ = printshape(capsys, "lenet5", "--wide")
    assert code == 0
    assert "| (1) nn.SpatialConvolution(1 -> 6, 5x5)    | 6x28x28  | 156    | 117,600   |" in out
    narrow = printshape(capsys, "lenet5")[1]
    assert "1   Conv(1->6)       6x28x28      156       118K  5x5/1" in narrow


def test_notes_become_footnotes(tmp_path, capsys):
    f = tmp_path / "illegal.py"
    f.write_text(
        "import nnlegacy as nn\nINPUT = (1, 7, 7)\n\ndef build():\n"
        "    return nn.Sequential().add(nn.SpatialConvolution(1, 1, 3, 3, 3, 3))\n"
    )
    code, out, err = printshape(capsys, str(f))  # INPUT makes --input optional
    assert code == 0, err
    assert "1  Conv(1->1)  1x2x2       10         36  3x3/3   [1]" in out  # 2*2 positions * 9
    assert "[1] floor drops 1 row, 1 col of the input" in out


# --- 2. container totals ----------------------------------------------------------------
def test_container_rows_carry_totals():
    inner = nn.Sequential().add(nn.Linear(4, 3)).add(nn.ReLU()).add(nn.Linear(3, 2))
    net = nn.Sequential().add(nn.Linear(5, 4)).add(inner)
    s = nn.summary(net, (5,))
    assert [r.params for r in s.rows] == [24 + 15 + 8, 24, 15 + 8, 15, 0, 8]
    assert [r.mult_adds for r in s.rows] == [20 + 12 + 6, 20, 18, 12, 0, 6]
    assert [r.weights for r in s.rows] == [20 + 12 + 6, 20, 18, 12, 0, 6]
    assert s.params == 47 and s.weights == 38 and s.mult_adds == 38


def test_googlenet_inception_rows_against_the_filter_columns():
    rows = json.loads(run(ROOT / "tools/printshape", "googlenet", "--format", "json").stdout)
    blocks = [r for r in rows["rows"] if r["module"] == "nn.DepthConcat"]
    # inception (3a) from its filter columns: 1x1 64; 3x3 reduce 96, 3x3 128; 5x5 reduce 16,
    # 5x5 32; pool proj 32, on 192 planes of 28x28
    w = 192 * 64 + 192 * 96 + 96 * 9 * 128 + 192 * 16 + 16 * 25 * 32 + 192 * 32
    b = 64 + 96 + 128 + 16 + 32 + 32
    assert (blocks[0]["weights"], blocks[0]["params"]) == (w, w + b) == (163328, 163696)
    assert blocks[0]["mult_adds"] == 28 * 28 * w  # the lecture's "128M"
    assert rows["rows"][0]["params"] == rows["params"] == 6998552  # the root is the total


# --- 3. what is counted, memory split ---------------------------------------------------
def test_weights_only_and_the_footer_says_what_is_counted(capsys):
    out = printshape(capsys, "lenet5")[1]
    assert "params: 61,706 (61.7K), weights and biases (weights alone: 61,470)" in out
    out = printshape(capsys, "lenet5", "--weights-only")[1]
    assert out.splitlines()[1].split()[3] == "weights"
    assert "1   Conv(1->6)       6x28x28       150" in out  # 5*5*6, no biases
    assert "weights: 61,470 (61.5K), biases not counted (with them: 61,706)" in out
    assert "(0.0M)" not in out


def test_memory_split_activations_gradients_workspace():
    s = nn.summary(lenet5.build(), (1, 32, 32), "torch.FloatTensor")
    nn.setdefaulttensortype("torch.DoubleTensor")
    outputs = [1024, 4704, 4704, 1176, 1600, 1600, 400, 120, 120, 84, 84, 10, 10]
    assert s.activation_bytes == s.forward_bytes == 4 * sum(outputs)  # ReLU's are not in place
    # the CPU convolutions unfold in cache-sized chunks and keep no im2col columns between
    # forward and backward: what is left is the pooling's argmax (at most one per output)
    assert 0 < s.workspace_bytes <= 4 * (1176 + 400)
    assert 0.9 < s.gradient_bytes / s.activation_bytes < 1.1  # the lecture's "~2x for bwd"
    assert s.forward_backward_bytes == s.activation_bytes + s.gradient_bytes + s.workspace_bytes
    assert s.parameter_bytes == 4 * 61706


# --- 4. the command line ----------------------------------------------------------------
def test_default_input_is_the_examples_own():
    assert ps.build_model("alexnet", None)[1] == (3, 227, 227)
    assert ps.build_model("lenet5", None)[1] == (1, 32, 32)
    assert ps.build_model("vgg16", None)[1] == (3, 224, 224)
    assert ps.build_model("resnet18", None)[1] == (3, 224, 224)


def test_options_before_or_after_the_model(capsys):
    a = printshape(capsys, "--input", "1x32x32", "lenet5")
    b = printshape(capsys, "lenet5", "--input", "1x32x32")
    c = printshape(capsys, "--depth", "1", "lenet5")
    assert a[0] == b[0] == c[0] == 0 and a[1] == b[1] == c[1]


def test_help_lists_the_models_and_ends_with_a_sentence():
    r = run(ROOT / "tools/printshape", "--help")
    assert r.returncode == 0
    for name in ("lenet5", "alexnet", "zfnet", "vgg16", "vggA-LRN", "googlenet", "resnet152"):
        assert name in r.stdout
    assert "--weights-only" in r.stdout and "--wide" in r.stdout
    assert r.stdout.rstrip().endswith(".")


# --- 5. one-line errors, exit status 2 --------------------------------------------------
@pytest.mark.parametrize(
    "args,start",
    [
        (["examples", "--input", "1x32x32"], "printshape: examples is a folder"),
        (["lenet5", "--call", "nosuch()"], "printshape: lenet5 has no function nosuch()"),
        (["vgg16", "--call", "build('Z')"], "printshape: vgg16: build('Z') failed: "),
        ([], "printshape: give a MODEL"),
        (["model.t7"], "printshape: no such file: model.t7"),
    ],
)
def test_printshape_one_line_errors(args, start):
    one_line_error(run(ROOT / "tools/printshape", *args), start)


def test_t7_file_without_input_says_so(tmp_path):
    nn.save(tmp_path / "m.t7", nn.Sequential().add(nn.Linear(2, 2)))
    one_line_error(run(ROOT / "tools/printshape", tmp_path / "m.t7"), "printshape: ")
    r = run(ROOT / "tools/printshape", tmp_path / "m.t7")
    assert "has no input size of its own: give --input CxHxW" in r.stderr


def test_load_of_a_non_torch_file(tmp_path):
    for data, shown in [(b"hello world\n", "'hello world\\n'"), (b"", "nothing")]:
        f = tmp_path / "x.bin"
        f.write_bytes(data)
        with pytest.raises(nn.T7Error, match=r"^not a Torch7 file: it starts with " + shown[:6]):
            nn.load(f)
    with pytest.raises(nn.T7Error, match="not a Torch7 file"):
        nn.load(ROOT / "data" / "mnist" / "t10k-labels-idx1-ubyte.gz")
    one_line_error(
        run(
            ROOT / "tools/printshape",
            ROOT / "data/mnist/t10k-labels-idx1-ubyte.gz",
            "--input",
            "1x2x2",
        ),
        "printshape: ",
    )


LENET = ROOT / "examples" / "lenet5.py"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--data", "/nonexistent"], "lenet5.py: --data /nonexistent: no such folder"),
        (["--batchSize", "0"], "lenet5.py: --batchSize must be 1 or more, got 0"),
        (["--epochs", "0"], "lenet5.py: --epochs must be 1 or more, got 0"),
        (["--save", "/bad/x.t7"], "lenet5.py: --save /bad/x.t7: the folder /bad does not exist"),
        (["--plot", "/bad/x.png"], "lenet5.py: --plot /bad/x.png: the folder /bad does not exist"),
        (["--save", "examples"], "lenet5.py: --save examples: is a folder; give a file name"),
    ],
)
def test_lenet5_one_line_errors_before_any_work(args, message):
    r = run(LENET, "--quick", "--cpu", "--no-progress", *args)
    one_line_error(r, message)
    assert r.stdout == ""  # nothing trained, nothing lost


def test_lenet5_cuda_without_gpu():
    if nn.has_cuda():
        pytest.skip("a GPU is present")
    r = run(LENET, "--quick", "--cuda", "--no-progress")
    one_line_error(r, "lenet5.py: torch.CudaTensor needs CuPy and an NVIDIA GPU")


def test_without_matplotlib_one_line(tmp_path):
    fake = tmp_path / "fake"
    (fake / "matplotlib").mkdir(parents=True)
    (fake / "matplotlib" / "__init__.py").write_text("raise ImportError('no matplotlib here')\n")
    env = {"PYTHONPATH": f"{fake}{os.pathsep}{ROOT}"}
    r = run(LENET, "--quick", "--cpu", "--plot", tmp_path / "c.png", env=env)
    one_line_error(r, "lenet5.py: pictures need matplotlib: pip install 'nnlegacy[plot]'")
    assert r.stdout == ""
    r = run(ROOT / "examples/filters.py", "--out", tmp_path / "f.png", env=env)
    one_line_error(r, "filters.py: pictures need matplotlib")


def test_example_batch_must_be_positive():
    one_line_error(run(ROOT / "examples/alexnet.py", "--batch", "-1"), "alexnet.py: --batch must")


def test_check_writable(tmp_path):
    assert check_writable("", "--save") is None and check_writable(None, "--save") is None
    assert check_writable(tmp_path / "a.t7", "--save") == tmp_path / "a.t7"
    with pytest.raises(UserError, match=r"^--save /no/x.t7: the folder /no does not exist$"):
        check_writable("/no/x.t7", "--save")
    if os.geteuid() != 0:  # root may write anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(UserError, match="not writable"):
            check_writable(ro / "x.png", "--plot")


# --- 7. console scripts -----------------------------------------------------------------
def test_console_scripts_and_thin_wrappers():
    text = (ROOT / "pyproject.toml").read_text()  # no tomllib on Python 3.10
    section = text.split("[project.scripts]\n", 1)[1].split("\n\n", 1)[0]
    scripts = dict(line.replace('"', "").split(" = ") for line in section.splitlines())
    assert {"printshape", "showfilters", "bench"} <= set(scripts)
    import importlib

    for name in ("printshape", "showfilters", "bench"):
        target = scripts[name]
        module, fn = target.split(":")
        assert callable(getattr(importlib.import_module(module), fn))
        wrapper = (ROOT / "tools" / name).read_text()
        assert f"from {module} import main" in wrapper and len(wrapper.splitlines()) < 15
    r = run(ROOT / "tools/bench", "--batch", "0")
    assert r.returncode == 2 and "must be 1 or more" in r.stderr


# --- 9. --quick reads only what it uses -------------------------------------------------
def test_read_idx_count_reads_the_first_records():
    path = ROOT / "data" / "mnist" / "t10k-images-idx3-ubyte.gz"
    part = lenet5.read_idx(path, 5)
    assert part.shape == (5, 28, 28)
    np.testing.assert_array_equal(part, lenet5.read_idx(path)[:5])
    tx, ty, sx, sy = lenet5.load_mnist(ROOT / "data" / "mnist", 512, 256)
    assert tx.shape == (512, 1, 32, 32) and sx.shape == (256, 1, 32, 32)
    assert ty.shape == (512,) and sy.shape == (256,) and ty.min() >= 1 and ty.max() <= 10


def test_a_file_holding_an_array_says_an_ndarray(tmp_path):
    nn.save(tmp_path / "a.t7", np.zeros(3))
    r = run(ROOT / "tools/printshape", tmp_path / "a.t7", "--input", "1x2x2")
    one_line_error(r, f"printshape: {tmp_path / 'a.t7'} holds an ndarray, not an nn module")


def test_full_convolution_rows_have_kernel_and_mult_adds(tmp_path, capsys):
    f = tmp_path / "fc.py"
    f.write_text(
        "import nnlegacy as nn\nINPUT = (8, 7, 7)\n\ndef build():\n"
        "    return nn.Sequential().add(nn.SpatialFullConvolution(8, 4, 3, 3, 2, 2, 1, 1, 1, 1))\n"
    )
    code, out, err = printshape(capsys, str(f))
    assert code == 0, err
    # each of the 7x7 input positions spreads a 3x3 kernel over 8 -> 4 planes
    assert "1  FullConv(8->4)  4x14x14     292      14.1K  3x3/2 p1 T" in out
    s = nn.summary(nn.SpatialFullConvolution(8, 4, 3, 3, 2, 2, 1, 1, 1, 1), (8, 7, 7))
    assert s.mult_adds == 7 * 7 * 8 * 4 * 9 and s.rows[0].kernel == "3x3/2, pad 1 transposed"


def test_printshape_cuda_without_gpu():
    if nn.has_cuda():
        pytest.skip("a GPU is present")
    r = run(ROOT / "tools/printshape", "lenet5", "--type", "cuda")
    one_line_error(r, "printshape: torch.CudaTensor needs CuPy and an NVIDIA GPU")


def test_kernelbench_times_each_variant_in_one_process():
    """tools/kernelbench names the path nnlegacy takes and times every variant that
    applies (numbers vary; the rows and the path are what is checked)."""
    r = run(ROOT / "tools/kernelbench", "conv", "2", "4", "3", "8", "1", "0", "--rounds", "1",
            "--steps", "1")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "takes the per-image path" in r.stdout
    assert {"unfold", "per-image", "flat"} <= {
        line.split()[0] for line in r.stdout.splitlines()[1:]
    }
    r = run(ROOT / "tools/kernelbench", "pool", "2", "3", "9", "3", "2", "1", "--rounds", "1",
            "--steps", "1")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "runs of planes" in r.stdout and "whole, inline" in r.stdout
    r = run(ROOT / "tools/kernelbench", "step", "lenet5", "2", "threads._num_threads=1", "2",
            "--rounds", "1", "--steps", "1")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "_num_threads=1" in r.stdout and "_num_threads=2" in r.stdout
    r = run(ROOT / "tools/kernelbench", "parts", "lenet5", "2", "--rounds", "1", "--steps", "2")
    assert r.returncode == 0, r.stderr
    assert all(f"{part} " in r.stdout for part in ("zero", "forward", "backward", "update"))
