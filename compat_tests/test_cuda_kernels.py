"""The CuPy RawKernels against the NumPy-API path (the reference), on the GPU (-m gpu).

The checks and their random configurations are in kernel_checks.py, shared with the host
harness tests (test_kernels_host.py), which run the same kernels compiled for the CPU.
float64 to 1e-10, float32 to 1e-4 relative.
"""

import numpy as np
import pytest
from kernel_checks import CHECKS, Gpu

from nnlegacy import backend as B
from nnlegacy.kernels import cuda, cuda_norm

pytestmark = pytest.mark.gpu


@pytest.fixture(params=[np.float64, np.float32], ids=["double", "float"])
def dtype(request):
    if not B.has_cuda():
        pytest.skip("needs CuPy and an NVIDIA GPU")
    return request.param


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_kernel_against_numpy(check, dtype):
    CHECKS[check](Gpu(), dtype)


def test_kernel_sources_compile_for_both_types(dtype):
    for source in (cuda.SOURCE, cuda_norm.SOURCE):
        names = [line.split("void ")[1].split("(")[0] for line in source.splitlines()
                 if line.startswith("__global__")]  # fmt: skip
        for name in names:
            assert cuda._kernel(name, np.dtype(dtype), source) is not None, name
