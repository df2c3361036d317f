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
from .containers import Container, Sequential
from .convolution import SpatialConvolution, SpatialConvolutionMM
from .criterion import BCECriterion, ClassNLLCriterion, CrossEntropyCriterion, MSECriterion
from .linear import Linear
from .module import Criterion, Module, torch_type
from .pooling import SpatialMaxPooling
from .shape import Identity, Reshape, View

__version__ = "0.1.0"

__all__ = [
    # protocol
    "Module", "Criterion", "Container", "Sequential",
    # layers
    "Linear", "SpatialConvolution", "SpatialConvolutionMM", "SpatialMaxPooling",
    "Threshold", "ReLU", "Tanh", "Sigmoid", "SoftMax", "LogSoftMax",
    "View", "Reshape", "Identity",
    # criterions
    "ClassNLLCriterion", "CrossEntropyCriterion", "MSECriterion", "BCECriterion",
    # tensor types and randomness
    "setdefaulttensortype", "getdefaulttensortype", "manualSeed", "has_cuda", "torch_type",
    "optim",
]  # fmt: skip
