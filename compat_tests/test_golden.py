"""Every golden file written by real Lua Torch7 replays (see ``golden.py``).

A component nnlegacy lacks is a skip naming it; a mismatch in an implemented one is a
failure that names the field. The run ends with one summary line (``conftest.py``).
"""

from __future__ import annotations

import re
import warnings

import golden
import luaconfig
import numpy as np
import pytest

import nnlegacy as nn
from nnlegacy import backend as B

pytestmark = pytest.mark.skipif(
    not golden.available(), reason="NNLEGACY_GOLDEN_DIR is not set to the golden folder"
)

ENTRIES = golden.entries() if golden.available() else []
RESULTS: list[golden.Result] = []


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"][3:-3] for e in ENTRIES])
def test_golden_replay(entry):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = golden.replay(entry)
    RESULTS.append(res)
    if res.status == "missing":
        pytest.skip(f"not implemented: nn.{', nn.'.join(res.missing)}")
    assert res.status == "ok", str(res)


def summary():
    return golden.summary_line(RESULTS) if RESULTS else None


# --- Lua's errors for bad input (index.json "bad_input_errors") ---------------------------
ERRORS = golden.index()["bad_input_errors"] if golden.available() else []

# Lua texts that are no message a user could act on, or name BLAS internals: nnlegacy
# raises its own clear error there, and the test checks only that it raises.
OWN_WORDS = {
    "attempt to index a nil value": "a Lua runtime error, not a message",
    "size mismatch, m1: [3 x 24], m2: [16 x 18]": "BLAS's words for a wrong plane count",
}


def lua_core(text: str) -> str:
    """Lua's message without file:line prefixes, THNN's argument wrapper and C locations."""
    text = re.sub(r"^[\w/]+\.lua:\d+: ", "", text)
    text = re.sub(r"^bad argument #\d+ to '\w+' \((.*)\)$", r"\1", text, flags=re.S)
    text = re.sub(r"\s+at [\w/]+\.c:\d+\)?$", "", text)
    text = re.sub(r"\s+at [\w/.]+$", "", text)
    return text.strip()


def _input(code, rng):
    code = re.sub(r"(.+):fill\((.+)\)$", r"FILL(\1, \2)", code).replace("0/0", "NAN")

    def R(*s):  # noqa: N802 - the corpus's helper names
        return rng.standard_normal(s)

    def U(lo, hi, *s):  # noqa: N802
        return rng.uniform(lo, hi, s)

    def LSM(*s):  # noqa: N802
        x = rng.standard_normal(s)
        return x - np.log(np.exp(x).sum(-1, keepdims=True))

    def FILL(a, v):  # noqa: N802
        a[...] = v
        return a

    return luaconfig.evaluate(code, {"R": R, "U": U, "LSM": LSM, "FILL": FILL, "NAN": np.nan})


def _arrays(m):
    return {k: np.array(B.to_numpy(v)) for k, v in vars(m).items() if B.is_array(v)}


@pytest.mark.parametrize("case", ERRORS, ids=[f"{e['config']}|{e['inputCode']}" for e in ERRORS])
def test_lua_error_for_bad_input(case):
    entry = {"config": case["config"], "name": case["name"]}
    missing = golden.missing_classes(entry)
    if missing:
        pytest.skip(f"not implemented: nn.{', nn.'.join(missing)}")
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = luaconfig.evaluate(case["config"])
    x = _input(case["inputCode"], rng)
    target = _input(case["targetCode"], rng) if case.get("targetCode") else None
    crit = isinstance(m, nn.Criterion)

    def forward():
        return m.forward(x, target) if crit else m.forward(x)

    def backward(out):
        if crit:
            m.backward(x, target)
        else:
            m.backward(x, np.ones_like(np.asarray(out)) if B.is_array(out) else out)

    if not case["raised"]:
        backward(forward())  # Lua accepts it (CAddTable adds tensors of equal nElement)
        return
    if case["stage"] == "backward":
        out = forward()
        before = _arrays(m)  # the state the failing backward must leave alone
        failing = lambda: backward(out)  # noqa: E731
    else:
        before = _arrays(m)
        failing = forward
    with pytest.raises(Exception) as info:  # noqa: PT011 - the message is checked below
        failing()
    core = lua_core(case["error"])
    if core not in OWN_WORDS:
        assert core in str(info.value), f"Lua says {core!r}; nnlegacy said {info.value}"
    after = _arrays(m)
    for k, v in before.items():
        assert (
            k in after and after[k].shape == v.shape and np.array_equal(after[k], v, equal_nan=True)
        ), f"{k} changed by the failed call"
