"""nnlegacy: Lua Torch7's nn in Python, on NumPy (CPU) and CuPy (GPU).

Public names are grouped by family, as torch/nn's init.lua.
"""

from . import optim
from .activation import LogSoftMax, ReLU, Sigmoid, SoftMax, Tanh, Threshold
from .backend import (
    getdefaulttensortype,
    has_cuda,
    manualSeed,
    setdefaulttensortype,
)
from .containers import (
    Concat,
    ConcatTable,
    Container,
    DepthConcat,
    Parallel,
    ParallelTable,
    Sequential,
)
from .convolution import SpatialConvolution, SpatialConvolutionMM, SpatialFullConvolution
from .criterion import BCECriterion, ClassNLLCriterion, CrossEntropyCriterion, MSECriterion
from .dropout import Dropout, SpatialDropout
from .linear import Linear
from .module import Criterion, Module, torch_type
from .normalization import BatchNormalization, SpatialBatchNormalization, SpatialCrossMapLRN
from .pooling import SpatialAveragePooling, SpatialMaxPooling
from .shape import Identity, Narrow, Reshape, Select, SpatialZeroPadding, View
from .summary import summary
from .t7 import T7Error, load, save
from .table import CAddTable, JoinTable

__version__ = "0.1.0"

__all__ = [
    # protocol
    "Module", "Criterion",
    # containers
    "Container", "Sequential", "Concat", "DepthConcat", "ConcatTable", "ParallelTable",
    "Parallel",
    # layers
    "Linear", "SpatialConvolution", "SpatialConvolutionMM", "SpatialFullConvolution",
    "SpatialMaxPooling", "SpatialAveragePooling",
    "SpatialCrossMapLRN", "BatchNormalization", "SpatialBatchNormalization",
    "Dropout", "SpatialDropout",
    "Threshold", "ReLU", "Tanh", "Sigmoid", "SoftMax", "LogSoftMax",
    # shape and tables
    "View", "Reshape", "Identity", "SpatialZeroPadding", "Narrow", "Select",
    "CAddTable", "JoinTable",
    # criterions
    "ClassNLLCriterion", "CrossEntropyCriterion", "MSECriterion", "BCECriterion",
    # tensor types and randomness
    "setdefaulttensortype", "getdefaulttensortype", "manualSeed", "has_cuda", "torch_type",
    "optim", "summary", "load", "save", "T7Error",
]  # fmt: skip
