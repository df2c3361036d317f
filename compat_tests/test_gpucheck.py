"""tools/gpucheck --fake-device: the GPU check script runs end to end on NumPy and writes
its report and JSON; a part that runs past its budget is reported and the others run."""

import json
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "gpucheck"


def test_gpucheck_fake_device(tmp_path):
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--fake-device", str(out), "--budget", "bench-lenet5=1"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # the bench part timed out
    report = json.loads((out / "gpucheck.json").read_text())
    parts = {p["part"]: p for p in report["parts"]}
    assert list(parts) == ["environment", "tests", "bench-lenet5", "train"]
    assert parts["bench-lenet5"]["status"] == "timeout"
    assert parts["environment"]["status"] == "ok" and parts["environment"]["info"]["fake_device"]
    tests = parts["tests"]
    assert tests["status"] == "ok" and tests["failed"] == 0
    assert tests["passed"] + tests["skipped"] > 0
    train = parts["train"]
    assert train["status"] == "ok", train.get("tail")
    assert train["train"]["steps"] == 20 and train["train"]["loss_finite"]
    assert 0 <= train["train"]["test_accuracy"] <= 1
    md = (out / "gpucheck.md").read_text()
    assert md.startswith("# nnlegacy GPU check (FAKE DEVICE")
    assert "| bench-lenet5 | timeout |" in md and "## bench-lenet5: timeout" in md
    assert "test accuracy" in md
    assert (out / "logs" / "train.log").exists()


def test_gpucheck_report_tables():
    loader = SourceFileLoader("gpucheck", str(SCRIPT))
    mod = module_from_spec(spec_from_loader("gpucheck", loader))
    loader.exec_module(mod)
    bench = {"net": "vgg16", "batch": 32, "nnlegacy_train_step_ms": 210.0,
             "torch_train_step_ms": 150.0, "ratio_train_step": 1.4, "ratio_forward": 1.2,
             "nnlegacy_peak_bytes": 9 * 2**30, "torch_peak_bytes": 6 * 2**30,
             "ratio_peak_memory": 1.5}  # fmt: skip
    report = {"started": "now", "seconds": 1.0, "fake_device": False, "parts": [
        {"part": "bench-vgg16", "status": "ok", "seconds": 50, "budget_s": 70, "bench": bench},
        {"part": "tests", "status": "failed", "seconds": 9, "budget_s": 150, "passed": 3,
         "failed": 1, "skipped": 0, "failed_tests": ["compat_tests/test_x.py::test_y"],
         "tail": "boom", "log": "logs/tests.log"},
    ]}  # fmt: skip
    md = mod.markdown(report)
    assert "| vgg16 | 32 | 210.00 | 150.00 | 1.40 | 1.20 | 9216 | 6144 | 1.50 |" in md
    assert "- `compat_tests/test_x.py::test_y`" in md and "boom" in md
    text = "compat_tests/a.py::t[1] PASSED\ncompat_tests/a.py::u FAILED\n=== 1 failed, 1 passed in 2s ==="
    parsed = mod.parse_tests(text)
    assert parsed["passed"] == 1 and parsed["failed_tests"] == ["compat_tests/a.py::u"]
    assert parsed["summary"] == "1 failed, 1 passed in 2s"
