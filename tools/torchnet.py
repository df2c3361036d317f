"""Translate an nnlegacy net into the same PyTorch net, weights included.

The translation is ``nnlegacy.export.to_torch``, which ``bench`` uses so that both
frameworks time exactly the same network; this file keeps the old name for scripts and
the test that import ``torchnet.translate``.
"""

from nnlegacy.export import to_torch


def translate(m):
    """The PyTorch module computing what nnlegacy module ``m`` computes."""
    return to_torch(m)
