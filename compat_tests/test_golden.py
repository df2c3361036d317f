"""Every golden file written by real Lua Torch7 replays (see ``golden.py``).

A component nnlegacy lacks is a skip naming it; a mismatch in an implemented one is a
failure that names the field. The run ends with one summary line (``conftest.py``).
"""

from __future__ import annotations

import warnings

import golden
import pytest

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
