"""Shared fixtures: the backend fixture runs a test on NumPy, and on CuPy with a GPU."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nnlegacy as nn  # noqa: E402
from nnlegacy import backend as B  # noqa: E402


class Backend:
    """How a test reaches one array library: NumPy, or CuPy on the GPU."""

    def __init__(self, name):
        self.name = name
        self.gpu = name == "cupy"
        self.xp = B.cupy_module() if self.gpu else np
        self.double = "torch.CudaDoubleTensor" if self.gpu else "torch.DoubleTensor"
        self.float = "torch.CudaTensor" if self.gpu else "torch.FloatTensor"

    def asarray(self, a, dtype=np.float64):
        return self.xp.asarray(np.asarray(a, dtype=dtype))

    @staticmethod
    def tonp(a):
        return B.to_numpy(a)

    def module(self, m, dtype="double"):
        return m.type(self.double if dtype == "double" else self.float)


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def backend(request):
    if request.param == "cupy" and not B.has_cuda():
        pytest.skip("needs CuPy and an NVIDIA GPU")
    return Backend(request.param)


@pytest.fixture(autouse=True)
def _seed_and_default_type():
    nn.manualSeed(1234)
    np.random.seed(1234)
    yield
    nn.setdefaulttensortype("torch.DoubleTensor")


def pytest_collection_modifyitems(config, items):
    if B.has_cuda():
        return
    skip = pytest.mark.skip(reason="needs CuPy and an NVIDIA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


T7_DIR = os.environ.get("NNLEGACY_T7_DIR")


def pytest_terminal_summary(terminalreporter):
    """One line on the golden corpus: how many of Lua's components replay."""
    mod = sys.modules.get("test_golden")
    line = mod.summary() if mod is not None else None
    if line:
        terminalreporter.write_line(line)
