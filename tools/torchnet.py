"""Translate an nnlegacy net into the same PyTorch net, weights included.

Used by tools/bench so that both frameworks time exactly the same network, and by a test
that checks the two give the same outputs. The translation is ``nnlegacy.export.to_torch``;
this file only keeps the name tools/bench imports. PyTorch is only the yardstick: nothing
in nnlegacy imports this file.
"""

from nnlegacy.export import to_torch


def translate(m):
    """The PyTorch module computing what nnlegacy module ``m`` computes."""
    return to_torch(m)
