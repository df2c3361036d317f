"""``nn.tables``: connection tables for SpatialConvolutionMap and SpatialFullConvolutionMap.

A table is a ``K x 2`` array of 1-based plane numbers, one row ``(input, output)`` per
kernel, in the default tensor type (as Lua's ``torch.Tensor``).

Differences from Torch7: ``random`` draws from nnlegacy's generator (``nn.manualSeed``),
so its tables differ from Lua's for the same seed; a table from a Lua model file is kept
as it was saved.
"""

from __future__ import annotations

import numpy as np

from . import backend as B

__all__ = ["full", "oneToOne", "random"]


def _table(rows):
    xp, dtype = B.xp_dtype(B.getdefaulttensortype())
    return xp.asarray(np.asarray(rows, dtype=np.float64).reshape(-1, 2), dtype=dtype)


def full(nin: int, nout: int):
    """Every input plane to every output plane: ``nin*nout`` rows, output-major."""
    return _table([(i, j) for j in range(1, nout + 1) for i in range(1, nin + 1)])


def oneToOne(nfeat: int):  # noqa: N802 - Lua's name
    """Plane ``i`` to plane ``i``."""
    return _table([(i, i) for i in range(1, nfeat + 1)])


def random(nin: int, nout: int, nto: int):
    """Each output plane fed by ``nto`` distinct input planes, drawn as Lua does: chunks of
    one random permutation of the inputs, a fresh permutation when it is used up."""
    rng = B.generator()
    chunks = nin // nto
    perm = rng.permutation(nin) + 1
    used = 0
    rows = []
    for j in range(1, nout + 1):
        rows += [(int(i), j) for i in perm[used * nto : (used + 1) * nto]]
        used += 1
        if used == chunks:
            perm, used = rng.permutation(nin) + 1, 0
    return _table(rows)
