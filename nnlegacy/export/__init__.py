"""From Lua Torch to PyTorch and ONNX: ``to_torch`` and ``to_onnx``.

``to_torch(module)`` needs PyTorch (``pip install nnlegacy[torch]``); ``to_onnx``
needs only the ``onnx`` package (``pip install nnlegacy[onnx]``). Neither is imported
until used. ``supported(target)`` lists what converts.
"""

from __future__ import annotations

from ._common import ExportError

__all__ = ["ExportError", "supported", "to_onnx", "to_torch"]


def to_torch(module):
    """The ``torch.nn.Module`` computing what ``module`` computes, weights copied.

    See ``nnlegacy.export._to_torch.to_torch``; raises ``ExportError`` naming a
    module with no PyTorch counterpart, ``ImportError`` without PyTorch.
    """
    try:
        from ._to_torch import to_torch as convert
    except ModuleNotFoundError as e:
        if e.name != "torch":
            raise
        raise ImportError(
            "nnlegacy.export.to_torch needs PyTorch: pip install 'nnlegacy[torch]'"
        ) from e
    return convert(module)


def to_onnx(module, input_shape, path=None, **options):
    """Writes ``module`` as an ONNX graph for inputs of ``input_shape`` (batch first);
    returns the ``onnx.ModelProto``. See ``nnlegacy.export._to_onnx.to_onnx``."""
    try:
        from ._to_onnx import to_onnx as convert
    except ModuleNotFoundError as e:
        if e.name != "onnx":
            raise
        raise ImportError("nnlegacy.export.to_onnx needs onnx: pip install 'nnlegacy[onnx]'") from e
    return convert(module, input_shape, path, **options)


def supported(target="pytorch"):
    """{module name: what it becomes} for ``target`` 'pytorch' or 'onnx'."""
    if target.lower() in ("pytorch", "torch"):
        from ._to_torch import notes
    elif target.lower() == "onnx":
        from ._to_onnx import notes
    else:
        raise ValueError(f"unknown export target {target!r}: 'pytorch' or 'onnx'")
    return notes()
