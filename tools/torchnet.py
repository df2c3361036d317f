"""Thin wrapper: the code is nnlegacy/cli/torchnet.py (bench's PyTorch translation)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nnlegacy.cli.torchnet import *  # noqa: E402,F401,F403
from nnlegacy.cli.torchnet import translate  # noqa: E402,F401
