"""nnlegacy: Lua Torch7's nn in Python, on NumPy (CPU) and CuPy (GPU).

Public names are grouped by family, as torch/nn's init.lua. Each family file lists
its modules in its own ``__all__``; a new family file is one more line here and in
``_FAMILIES``.
"""

from . import (
    activation,
    activation2,
    arithmetic,
    containers,
    convolution,
    criterion,
    distance,
    dropout,
    indexing,
    layout,
    linear,
    lookup,
    misc,
    normalization,
    optim,
    pooling,
    reduction,
    shape,
    sparse,
    table,
    torchrandom,
)
from .activation import *  # noqa: F403
from .activation2 import *  # noqa: F403
from .arithmetic import *  # noqa: F403
from .backend import (
    generator,
    getdefaulttensortype,
    has_cuda,
    manualSeed,
    setdefaulttensortype,
)
from .containers import *  # noqa: F403
from .convolution import *  # noqa: F403
from .criterion import *  # noqa: F403
from .distance import *  # noqa: F403
from .dropout import *  # noqa: F403
from .indexing import *  # noqa: F403
from .jacobian import Jacobian
from .layout import *  # noqa: F403
from .linear import *  # noqa: F403
from .lookup import *  # noqa: F403
from .misc import *  # noqa: F403
from .module import Criterion, Module, torch_type
from .normalization import *  # noqa: F403
from .pooling import *  # noqa: F403
from .reduction import *  # noqa: F403
from .shape import *  # noqa: F403
from .sparse import *  # noqa: F403
from .summary import summary
from .t7 import LuaObject, T7Error, load, save
from .table import *  # noqa: F403
from .training import StochasticGradient

__version__ = "0.1.0"

_FAMILIES = (
    containers,
    linear,
    lookup,
    sparse,
    distance,
    convolution,
    pooling,
    normalization,
    dropout,
    activation,
    activation2,
    arithmetic,
    misc,
    shape,
    layout,
    indexing,
    reduction,
    table,
    criterion,
)

__all__ = [
    "Module", "Criterion",
    *(name for family in _FAMILIES for name in family.__all__),
    # tensor types and randomness
    "setdefaulttensortype", "getdefaulttensortype", "manualSeed", "generator", "has_cuda",
    "torch_type",
    "optim", "torchrandom", "summary", "load", "save", "T7Error", "LuaObject",
    # training helpers (torch/nn's StochasticGradient and Jacobian)
    "StochasticGradient", "Jacobian",
]  # fmt: skip
