"""Every module nnlegacy implements, on the GPU against its own NumPy path.

For each golden file (``compat_tests/golden.py``; every nn module, table module and
criterion whose classes nnlegacy has, so modules added later join by themselves), the
module as Lua saved it is prepared as the golden replay prepares it (parameters, mode,
the randomness Lua drew), then run twice: on NumPy, and converted with ``:type()`` to
``torch.CudaDoubleTensor`` (and ``torch.CudaTensor`` against ``torch.FloatTensor``) with
its input, target and gradOutput on the GPU. Output, gradInput, the parameter
gradients and the in-place changes to input and gradOutput must agree (float64 to 1e-10,
float32 to 2e-4), and where the NumPy path raises the GPU path must raise the same.

The ``fake`` devices run the GPU half on NumPy with the CUDA kernels compiled for the
host (``nnlegacy/kernels/hostsim.py``): the test logic, and every module's dispatch into
the kernels, checked without a GPU. The ``cuda`` devices are marked ``gpu``.
"""

from __future__ import annotations

from pathlib import Path

import golden
import numpy as np
import pytest

import nnlegacy as nn
from nnlegacy import backend as B
from nnlegacy.kernels import hostsim

TOL = {"double": (1e-10, 1e-12), "float": (2e-4, 2e-5)}
CPU_TYPE = {"double": "torch.DoubleTensor", "float": "torch.FloatTensor"}
GPU_TYPE = {"double": "torch.CudaDoubleTensor", "float": "torch.CudaTensor"}


def _files():
    if not golden.available():
        return [pytest.param(None, marks=pytest.mark.skip(reason="NNLEGACY_GOLDEN_DIR not set"))]
    return [
        pytest.param(e, id=Path(e["file"]).stem)
        for e in golden.entries()
        if e["kind"] != "trainer" and not golden.missing_classes(e)
    ]


DEVICES = [
    pytest.param(("cuda", "double"), id="cuda-double", marks=pytest.mark.gpu),
    pytest.param(("cuda", "float"), id="cuda-float", marks=pytest.mark.gpu),
    pytest.param(("fake", "double"), id="fake-double"),
    pytest.param(("fake", "float"), id="fake-float"),
]


def _to(v, ttype):
    """Arrays (in tables too) converted to ``ttype``; integer arrays keep their dtype."""
    if B.is_array(v):
        return B.convert(v, ttype)
    if isinstance(v, list):
        return [_to(x, ttype) for x in v]
    if isinstance(v, tuple):
        return tuple(_to(x, ttype) for x in v)
    if isinstance(v, dict):
        return {k: _to(x, ttype) for k, x in v.items()}
    return v


def _snap(v):
    """A NumPy copy of a result (arrays in tables too), taken before the next call."""
    if B.is_array(v):
        return np.array(B.to_numpy(v), copy=True)
    if isinstance(v, (list, tuple)):
        return [_snap(x) for x in v]
    if isinstance(v, dict):
        return {k: _snap(x) for k, x in v.items()}
    if isinstance(v, np.generic):
        return v.item()
    return v


def _prepare(entry, ttype):
    """The module of a golden file, set up as the golden replay does, as ``ttype``."""
    path = Path(golden.GOLDEN_DIR, entry["file"])
    record = nn.load(path, unknown="object")
    m = record["module"]
    golden._reset_running_stats(m, entry.get("mode", "training"))
    golden._feed_noise(m, nn.load(path, unknown="object")["module"])
    if entry["kind"] != "criterion":
        golden._set_params(m, record.get("params") or [])
    m.type(ttype)
    golden._mode(m, entry.get("mode", "training"))
    return m, record


def _passes(entry, ttype):
    """Everything the golden replay compares, as NumPy, or the exception raised."""
    m, record = _prepare(entry, ttype)
    inp = _to(record.get("input"), ttype)
    got = {}
    try:
        if entry["kind"] == "criterion":
            target = _to(record.get("target"), ttype)
            got["output"] = _snap(m.forward(inp, target))
            if "gradInput" in record:
                got["gradInput"] = _snap(m.backward(inp, target))
        else:
            got["output"] = _snap(m.forward(inp))
            go = _to(record.get("gradOutput"), ttype)
            if "backwardError" not in record and "gradOutput" in record:
                m.zeroGradParameters()
                got["gradInput"] = _snap(m.backward(inp, go))
                params = m.parameters()
                got["gradParams"] = _snap(list(params[1]) if params else [])
                if "gradOutputAfter" in record:
                    got["gradOutput after"] = _snap(go)
            if "inputAfter" in record:
                got["input after"] = _snap(inp)
    except Exception as e:  # noqa: BLE001 - the other device must raise the same
        got["raised"] = type(e).__name__
        got["message"] = str(e)
    return got


def _run_device(device, precision, entry):
    kind = device
    if kind == "cuda":
        return _passes(entry, GPU_TYPE[precision])
    with hostsim.simulate("plain") as sim:
        got = _passes(entry, CPU_TYPE[precision])
    got["_launches"] = [launch.name for launch in sim.launches]
    return got


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("entry", _files())
def test_module_on_device_matches_numpy(entry, device):
    kind, precision = device
    if kind == "cuda" and not B.has_cuda():
        pytest.skip("needs CuPy and an NVIDIA GPU")
    if kind == "fake" and hostsim.skip_reason():
        pytest.skip(hostsim.skip_reason())
    want = _passes(entry, CPU_TYPE[precision])
    got = _run_device(kind, precision, entry)
    got.pop("_launches", None)
    if "raised" in want or "raised" in got:
        assert got.get("raised") == want.get("raised"), (
            f"NumPy: {want.get('raised')} {want.get('message', '')}; "
            f"{kind}: {got.get('raised')} {got.get('message', '')}"
        )
        return
    rtol, atol = TOL[precision]
    assert sorted(got) == sorted(want)
    problems = []
    for key in want:
        problems += golden.compare(got[key], want[key], f"{kind}-{precision} {key}", rtol, atol)
    assert not problems, "\n".join(problems)
