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
    convolution_map,
    convolution_spatial,
    convolution_temporal,
    convolution_volumetric,
    criterion,
    criterion_distance,
    criterion_margin,
    criterion_table,
    decorators,
    distance,
    dropout,
    indexing,
    layout,
    linear,
    local_norm,
    lookup,
    misc,
    nngraph,
    normalization,
    optim,
    padding,
    pooling,
    pooling_extra,
    pooling_lp,
    pooling_nd,
    reduction,
    shape,
    sparse,
    table,
    table_routing,
    tables,
    torchrandom,
    unpooling,
    upsampling,
    volumetric,
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
from .convolution_map import *  # noqa: F403
from .convolution_spatial import *  # noqa: F403
from .convolution_temporal import *  # noqa: F403
from .convolution_volumetric import *  # noqa: F403
from .criterion import *  # noqa: F403
from .criterion_distance import *  # noqa: F403
from .criterion_margin import *  # noqa: F403
from .criterion_table import *  # noqa: F403
from .decorators import *  # noqa: F403
from .distance import *  # noqa: F403
from .dropout import *  # noqa: F403
from .indexing import *  # noqa: F403
from .jacobian import Jacobian
from .layout import *  # noqa: F403
from .linear import *  # noqa: F403
from .local_norm import *  # noqa: F403
from .lookup import *  # noqa: F403
from .misc import *  # noqa: F403
from .module import Criterion, Module, torch_type
from .nngraph import gModule
from .normalization import *  # noqa: F403
from .padding import *  # noqa: F403
from .pooling import *  # noqa: F403
from .pooling_extra import *  # noqa: F403
from .pooling_lp import *  # noqa: F403
from .pooling_nd import *  # noqa: F403
from .reduction import *  # noqa: F403
from .shape import *  # noqa: F403
from .sparse import *  # noqa: F403
from .summary import summary
from .t7 import LuaObject, T7Error, load, save
from .table import *  # noqa: F403
from .table_routing import *  # noqa: F403
from .training import StochasticGradient
from .unpooling import *  # noqa: F403
from .upsampling import *  # noqa: F403
from .volumetric import *  # noqa: F403

__version__ = "0.1.0"

_FAMILIES = (
    containers,
    decorators,
    linear,
    lookup,
    sparse,
    distance,
    convolution,
    convolution_spatial,
    convolution_map,
    convolution_temporal,
    convolution_volumetric,
    pooling,
    pooling_nd,
    unpooling,
    pooling_extra,
    pooling_lp,
    padding,
    upsampling,
    normalization,
    local_norm,
    volumetric,
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
    table_routing,
    criterion,
    criterion_distance,
    criterion_margin,
    criterion_table,
)

__all__ = [
    "Module", "Criterion",
    *(name for family in _FAMILIES for name in family.__all__),
    # tensor types and randomness
    "setdefaulttensortype", "getdefaulttensortype", "manualSeed", "generator", "has_cuda",
    "torch_type",
    "optim", "nngraph", "gModule", "torchrandom", "summary", "tables", "load", "save",
    "T7Error", "LuaObject",
    # training helpers (torch/nn's StochasticGradient and Jacobian)
    "StochasticGradient", "Jacobian",
]  # fmt: skip
