"""What the PyTorch and ONNX exporters share: the error and the walk's naming."""

from __future__ import annotations

import numpy as np

from .. import backend as B
from ..module import torch_type


class ExportError(NotImplementedError):
    """A module (named, with its place in the net) that an exporter cannot convert."""


def where(path):
    return f" at {path}" if path else ""


def no_counterpart(m, path, target):
    name = torch_type(m) if not isinstance(m, type) else m.__name__
    return ExportError(
        f"{name}{where(path)} has no {target} counterpart in nnlegacy.export "
        f"(see nnlegacy.export.supported('{target.lower()}'))"
    )


def child_path(path, i):
    """Lua's 1-based place of child ``i`` (0-based) below ``path``: ``(2).(1)``."""
    return f"{path}.({i + 1})" if path else f"({i + 1})"


def numpy(a):
    return np.array(B.to_numpy(a))


def lookup(table, m):
    """The converter for ``type(m)`` itself: a subclass is not taken for its parent
    (CReLU is a Sequential that computes something else)."""
    return table.get(type(m))
