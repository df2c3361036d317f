"""PyTorch modules for the Lua Torch behaviours that ``torch.nn`` has no layer for.

``nnlegacy.export.to_torch`` uses ``torch.nn``'s own layers wherever they compute
the same thing, and these small modules for the rest: Lua's rank-dependent
dimensions (SoftMax, View, Sum, JoinTable ...), 1-based positions, tables (Python
lists) and the containers built on them. Each takes the same inputs as the nnlegacy
module it comes from, batched or not. Dimensions given to them are Lua's (1-based).
Importing this file needs PyTorch; a model saved with ``torch.save`` that uses them
needs nnlegacy installed to load.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Apply",
    "CAddTable",
    "Concat",
    "ConcatTable",
    "Constant",
    "CosineTemplates",
    "Euclidean",
    "JoinTable",
    "LRN",
    "LuaSoftMax",
    "MaxMin",
    "Narrow",
    "Normalize",
    "Padding",
    "Parallel",
    "ParallelTable",
    "Pointwise",
    "PReLU",
    "Replicate",
    "Reshape",
    "Scale",
    "Select",
    "Shaped",
    "SpatialDropout",
    "Sum",
    "TableApply",
    "Transpose",
    "View",
]


def _lua_dim(dim, ndim, n_input_dims=None):
    """Lua's dimension rule: negatives count from the end; with ``n_input_dims`` an
    input of one more dim is a batch and the dimension moves one on (0-based result)."""
    if dim < 0:
        return ndim + dim
    if n_input_dims is not None and ndim == n_input_dims + 1:
        dim += 1
    return dim - 1


class Pointwise(nn.Module):
    """An element-wise function from a fixed list, with one number ``a``."""

    OPS = {
        "abs": lambda x, a: x.abs(),
        "square": lambda x, a: x * x,
        "sqrt": lambda x, a: x.sqrt(),
        "pow": lambda x, a: x.pow(a),
        "exp": lambda x, a: x.exp(),
        "log": lambda x, a: x.log(),
        "add": lambda x, a: x + a,
        "mul": lambda x, a: x * a,
        "identity": lambda x, a: x,
        "zerograd": lambda x, a: x.detach(),
        "gradrev": lambda x, a: _GradReverse.apply(x, a),
        "double": lambda x, a: x.double(),
        "float": lambda x, a: x.float(),
        "long": lambda x, a: x.long(),
    }

    def __init__(self, op, a=0.0):
        super().__init__()
        self.op, self.a = op, a

    def forward(self, x):
        return self.OPS[self.op](x, self.a)

    def extra_repr(self):
        return f"{self.op}, {self.a}" if self.a else self.op


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lam):
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -ctx.lam * g, None


class LuaSoftMax(nn.Module):
    """SoftMax / LogSoftMax / SoftMin over Torch's dim for the rank: 1D and 3D inputs
    over dim 1, 2D and 4D over dim 2 (Lua's numbering)."""

    def __init__(self, log=False, negate=False):
        super().__init__()
        self.log, self.negate = log, negate

    def forward(self, x):
        dim = 0 if x.dim() in (1, 3) else 1
        if self.negate:
            x = -x
        return F.log_softmax(x, dim) if self.log else F.softmax(x, dim)


class PReLU(nn.Module):
    """PReLU with THNN's planes: dim 2 for inputs of more than one dim, else dim 1."""

    def __init__(self, weight, planes):
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.planes = planes

    def forward(self, x):
        if self.planes == 0:
            w = self.weight.reshape(())
        else:
            shape = [1] * x.dim()
            shape[1 if x.dim() > 1 else 0] = self.planes
            w = self.weight.reshape(shape)
        return torch.where(x > 0, x, x * w)


class Scale(nn.Module):
    """Lua's Add, Mul, CAdd and CMul: ``x + p`` or ``x * p`` with ``p`` laid over the
    input as Lua does (element by element, expanded over size-1 dims, or per row of a
    batch viewed as N x -1)."""

    def __init__(self, param, multiply, name="weight"):
        super().__init__()
        self.multiply = multiply
        self.pname = name
        self.register_parameter(name, nn.Parameter(param))

    def forward(self, x):
        p = getattr(self, self.pname)
        if p.numel() == 1 and p.dim() <= 1:
            p = p.reshape(())
            y = x
        elif p.numel() == x.numel():
            y, p = x, p.reshape(x.shape)
        elif p.dim() == x.dim():
            y = x
        else:
            y, p = x.reshape(x.shape[0], -1), p.reshape(1, -1)
        out = y * p if self.multiply else y + p
        return out.reshape(x.shape)


class View(nn.Module):
    """Lua's View: ``sizes`` (one may be -1), a batch dimension inferred from the
    element count, or the leading dims beyond ``num_input_dims``."""

    def __init__(self, sizes, num_input_dims=None):
        super().__init__()
        self.sizes, self.num_input_dims = list(sizes), num_input_dims

    def forward(self, x):
        nid = self.num_input_dims
        known = math.prod(s for s in self.sizes if s != -1)
        sample = x.shape if nid is None or nid > x.dim() else x.shape[x.dim() - nid :]
        bsz = 1 if -1 in self.sizes else math.prod(sample) // known
        if nid is not None:
            bsz *= math.prod(x.shape[: max(x.dim() - nid, 0)])
        if bsz == 1 and (nid is None or x.dim() <= nid):
            return x.reshape(self.sizes)
        return x.reshape([bsz] + self.sizes)


class Reshape(nn.Module):
    """Lua's Reshape: ``sizes``, with a batch dimension kept unless the input has
    exactly the elements of ``sizes`` (and a first dim other than 1), or
    ``batch_mode`` says so."""

    def __init__(self, sizes, batch_mode=None):
        super().__init__()
        self.sizes, self.batch_mode = list(sizes), batch_mode

    def forward(self, x):
        n = math.prod(self.sizes)
        if self.batch_mode is False or (
            self.batch_mode is None and x.numel() == n and x.shape[0] != 1
        ):
            return x.reshape(self.sizes)
        return x.reshape([x.shape[0]] + self.sizes)


class Shaped(nn.Module):
    """Squeeze, Unsqueeze and Collapse with Lua's batch rules."""

    def __init__(self, kind, dim=None, num_input_dims=None):
        super().__init__()
        self.kind, self.dim, self.num_input_dims = kind, dim, num_input_dims

    def forward(self, x):
        nid, dim = self.num_input_dims, self.dim
        if self.kind == "collapse":
            return x.reshape(x.shape[0], -1) if x.dim() > nid else x.reshape(-1)
        if self.kind == "unsqueeze":
            offset = x.dim() - (x.dim() if nid is None else nid)
            return x.unsqueeze(dim + offset - 1)
        shape, addone = list(x.shape), False  # squeeze
        if nid is not None and x.dim() == nid + 1:
            if dim is not None:
                dim += 1
            elif shape[0] == 1:
                addone = True
        if dim is not None:
            if shape[dim - 1] == 1 and len(shape) > 1:
                del shape[dim - 1]
        else:
            shape = [s for s in shape if s != 1] or shape[:1]
        return x.reshape(([1] if addone else []) + shape)


class Transpose(nn.Module):
    """Lua's Transpose: pairs of 1-based dims swapped in turn, counted after any batch
    dims when ``num_input_dims`` is set."""

    def __init__(self, pairs, num_input_dims=None):
        super().__init__()
        self.pairs, self.num_input_dims = [list(p) for p in pairs], num_input_dims

    def forward(self, x):
        offset = 0 if self.num_input_dims is None else x.dim() - self.num_input_dims
        for a, b in self.pairs:
            x = x.transpose(a + offset - 1, b + offset - 1)
        return x.contiguous()


class Replicate(nn.Module):
    """``nf`` copies stacked along a new 1-based dim (one on for a batch)."""

    def __init__(self, nf, dim=1, ndim=None):
        super().__init__()
        self.nf, self.dim, self.ndim = nf, dim, ndim

    def forward(self, x):
        d = self.dim + (1 if self.ndim is not None and x.dim() > self.ndim else 0)
        shape = list(x.shape)
        shape.insert(d - 1, self.nf)
        return x.unsqueeze(d - 1).expand(shape).contiguous()


class Narrow(nn.Module):
    """Lua's Narrow (1-based offset, negative dims and lengths)."""

    def __init__(self, dimension, offset, length):
        super().__init__()
        self.dimension, self.offset, self.length = dimension, offset, length

    def forward(self, x):
        dim = self.dimension if self.dimension > 0 else x.dim() + self.dimension + 1
        size = x.shape[dim - 1]
        index, length = self.offset, self.length
        if length < 0:
            length = size - index + length + 2
        if index < 0:
            index, length = 1, size - length
        return x.narrow(dim - 1, index - 1, length)


class Select(nn.Module):
    """Lua's Select (1-based dimension and index, negatives from the end)."""

    def __init__(self, dimension, index):
        super().__init__()
        self.dimension, self.index = dimension, index

    def forward(self, x):
        dim = self.dimension if self.dimension > 0 else x.dim() + self.dimension + 1
        index = self.index if self.index > 0 else x.shape[dim - 1] + self.index + 1
        return x.select(dim - 1, index - 1)


class Padding(nn.Module):
    """Lua's Padding: ``|pad|`` entries of ``value`` inserted in 1-based ``dim``, before
    entry ``index`` (pad < 0) or after entry ``index`` from the end (pad > 0)."""

    def __init__(self, dim, pad, n_input_dim=None, value=0.0, index=1):
        super().__init__()
        self.dim, self.pad, self.n_input_dim = dim, pad, n_input_dim
        self.value, self.index = value, index

    def forward(self, x):
        dim = self.dim + (1 if self.n_input_dim is not None and x.dim() != self.n_input_dim else 0)
        size = x.shape[dim - 1]
        pad, index = self.pad, self.index
        if pad > 0:
            index = size - index + 2
        else:
            pad = -pad
        shape = list(x.shape)
        shape[dim - 1] = pad
        fill = torch.full(shape, self.value, dtype=x.dtype, device=x.device)
        a, b = x.split([index - 1, size - index + 1], dim - 1)
        return torch.cat([a, fill, b], dim - 1)


class Sum(nn.Module):
    """Lua's Sum / Mean: over a 1-based dim (batch rule), squeezed unless 1-D."""

    def __init__(self, dimension, n_input_dims=None, size_average=False, squeeze=True):
        super().__init__()
        self.dimension, self.n_input_dims = dimension, n_input_dims
        self.size_average, self.squeeze = size_average, squeeze

    def forward(self, x):
        d = _lua_dim(self.dimension, x.dim(), self.n_input_dims)
        out = x.mean(d, keepdim=True) if self.size_average else x.sum(d, keepdim=True)
        return out.squeeze(d) if self.squeeze and out.dim() > 1 else out


class MaxMin(nn.Module):
    """Lua's Max / Min: the values over a 1-based dim (batch rule)."""

    def __init__(self, dimension, n_input_dims=None, minimum=False):
        super().__init__()
        self.dimension, self.n_input_dims, self.minimum = dimension, n_input_dims, minimum

    def forward(self, x):
        d = _lua_dim(self.dimension, x.dim(), self.n_input_dims)
        out = (x.amin if self.minimum else x.amax)(d, keepdim=True)
        return out.squeeze(d) if x.dim() > 1 else out


class Normalize(nn.Module):
    """Lua's Normalize: each row over ``(sum |x|^p + eps)^(1/p)`` (max |x| + eps for
    p = inf)."""

    def __init__(self, p, eps):
        super().__init__()
        self.p, self.eps = p, eps

    def forward(self, x):
        y = x.reshape(1, -1) if x.dim() == 1 else x
        if math.isinf(self.p):
            norm = y.abs().amax(1, keepdim=True) + self.eps
        else:
            norm = (y.abs().pow(self.p).sum(1, keepdim=True) + self.eps).pow(1 / self.p)
        return (y / norm).reshape(x.shape)


class Constant(nn.Module):
    """Lua's Constant: ``value`` whatever the input, repeated per row of a batch."""

    def __init__(self, value, n_input_dim=None):
        super().__init__()
        self.register_buffer("value", value)
        self.n_input_dim = n_input_dim

    def forward(self, x):
        if self.n_input_dim is not None and x.dim() > self.n_input_dim:
            return self.value.expand((x.shape[0],) + tuple(self.value.shape)).clone()
        return self.value.clone()


class SpatialDropout(nn.Module):
    """Lua's SpatialDropout and Dropout(v1): training drops (whole planes for the
    spatial one) without rescaling; evaluation scales by ``1 - p``."""

    def __init__(self, p, spatial=True):
        super().__init__()
        self.p, self.spatial = p, spatial

    def forward(self, x):
        if not self.training:
            return x * (1 - self.p)
        shape = list(x.shape)
        if self.spatial:
            shape[-2:] = [1, 1]
        keep = torch.bernoulli(torch.full(shape, 1 - self.p, dtype=x.dtype, device=x.device))
        return x * keep


class LRN(nn.LocalResponseNorm):
    """``torch.nn.LocalResponseNorm`` that also takes a C x H x W input, as Lua's
    SpatialCrossMapLRN does."""

    def forward(self, x):
        return super().forward(x.unsqueeze(0)).squeeze(0) if x.dim() == 3 else super().forward(x)


class Euclidean(nn.Module):
    """Lua's Euclidean / WeightedEuclidean: ``y_j = || diag_cov_j (x - w_j) ||``."""

    def __init__(self, weight, diag_cov=None):
        super().__init__()
        self.weight = nn.Parameter(weight)  # inputSize x outputSize, as Lua
        self.diagCov = None if diag_cov is None else nn.Parameter(diag_cov)

    def forward(self, x):
        d = x.unsqueeze(-1) - self.weight
        if self.diagCov is not None:
            d = d * self.diagCov
        return d.pow(2).sum(-2).sqrt()


class CosineTemplates(nn.Module):
    """Lua's Cosine: ``y_j = w_j . x / (||w_j|| + 1e-12) / (||x|| + 1e-12)``."""

    def __init__(self, weight):
        super().__init__()
        self.weight = nn.Parameter(weight)  # outputSize x inputSize

    def forward(self, x):
        wn = self.weight.pow(2).sum(1).sqrt() + 1e-12
        xn = x.pow(2).sum(-1, keepdim=True).sqrt() + 1e-12
        return x.matmul(self.weight.t()) / wn / xn


# ---- tables (Python lists) and the containers that make or take them ----


class ConcatTable(nn.Module):
    """Every child on the same input; the list of their outputs."""

    def __init__(self, children):
        super().__init__()
        self.branches = nn.ModuleList(children)

    def forward(self, x):
        return [b(x) for b in self.branches]


class ParallelTable(nn.Module):
    """Child i on input[i]; the list of their outputs."""

    def __init__(self, children):
        super().__init__()
        self.branches = nn.ModuleList(children)

    def forward(self, xs):
        return [b(x) for b, x in zip(self.branches, xs)]


class Concat(nn.Module):
    """Concat / DepthConcat: children on the same input, joined on a 1-based dim;
    ``centred`` (DepthConcat) puts each output at the centre of the largest sizes,
    starting at ``floor((max - size) / 2)``."""

    def __init__(self, children, dimension, centred=False):
        super().__init__()
        self.branches = nn.ModuleList(children)
        self.dimension, self.centred = dimension, centred

    def forward(self, x):
        outs = [b(x) for b in self.branches]
        dim = self.dimension - 1
        if self.centred:
            size = [max(o.shape[d] for o in outs) for d in range(outs[0].dim())]
            padded = []
            for o in outs:
                pads = []
                for d in reversed(range(o.dim())):
                    lo = 0 if d == dim else (size[d] - o.shape[d]) // 2
                    hi = 0 if d == dim else size[d] - o.shape[d] - lo
                    pads += [lo, hi]
                padded.append(F.pad(o, pads))
            outs = padded
        return torch.cat(outs, dim)


class Parallel(nn.Module):
    """Child i on slice i of the input along a 1-based dim; outputs joined on another."""

    def __init__(self, children, input_dimension, output_dimension):
        super().__init__()
        self.branches = nn.ModuleList(children)
        self.input_dimension, self.output_dimension = input_dimension, output_dimension

    def forward(self, x):
        outs = [b(x.select(self.input_dimension - 1, i)) for i, b in enumerate(self.branches)]
        return torch.cat(outs, self.output_dimension - 1)


class CAddTable(nn.Module):
    """The element-wise sum of a list (each reshaped as the first)."""

    def forward(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x.reshape(out.shape)
        return out


class JoinTable(nn.Module):
    """A list joined on a 1-based dim (negative from the end; batch rule)."""

    def __init__(self, dimension, n_input_dims=None):
        super().__init__()
        self.dimension, self.n_input_dims = dimension, n_input_dims

    def forward(self, xs):
        return torch.cat(list(xs), _lua_dim(self.dimension, xs[0].dim(), self.n_input_dims))


class TableApply(nn.Module):
    """A module of several tensors (``torch.nn.Bilinear`` ...) on a table input."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, xs):
        return self.module(*xs)


def _crelu(x, n_input_dims):
    batched = x.dim() == n_input_dims + 1
    flat = x.reshape(x.shape[0] if batched else 1, -1)
    shape = list(x.shape)
    shape[1 if batched else 0] *= 2
    return F.relu(torch.cat([flat, -flat], 1)).reshape(shape)


def _rows(y):
    return y.reshape(1) if y.dim() == 0 else y


class Apply(nn.Module):
    """A fixed function of a table or tensor input: dot products, distances, MM ..."""

    OPS = {
        "dot": lambda xs, a: _rows((xs[0] * xs[1]).sum(-1)),
        "pairwise": lambda xs, a: _rows((xs[0] - xs[1]).abs().pow(a).sum(-1).pow(1 / a)),
        "cosine": lambda xs, a: _rows(
            (xs[0] * xs[1]).sum(-1)
            / ((xs[0] * xs[0]).sum(-1) + 1e-12).sqrt()
            / ((xs[1] * xs[1]).sum(-1) + 1e-12).sqrt()
        ),
        "mm": lambda xs, a: torch.matmul(
            xs[0].transpose(-1, -2) if a[0] else xs[0], xs[1].transpose(-1, -2) if a[1] else xs[1]
        ),
        "mv": lambda xs, a: torch.matmul(
            xs[0].transpose(-1, -2) if a else xs[0], xs[1].unsqueeze(-1)
        ).squeeze(-1),
        "csub": lambda xs, a: xs[0] - xs[1],
        "cmul": lambda xs, a: xs[0] * xs[1],
        "cdiv": lambda xs, a: xs[0] / xs[1],
        "pixelshuffle": lambda x, a: F.pixel_shuffle(x, a),
        "glu": lambda x, a: F.glu(x, (a if a is not None else x.dim()) - 1),
        "index": lambda xs, a: xs[0].index_select(_lua_dim(a, xs[0].dim()), xs[1].long() - 1),
        "maskedselect": lambda xs, a: xs[0].masked_select(xs[1].bool()),
        "crelu": lambda x, a: _crelu(x, a),
        "onehot": lambda x, a: F.one_hot(x.long() - 1, a).double(),
    }

    def __init__(self, op, a=None):
        super().__init__()
        self.op, self.a = op, a

    def forward(self, x):
        return self.OPS[self.op](x, self.a)

    def extra_repr(self):
        return self.op if self.a is None else f"{self.op}, {self.a}"


class MaxPool(nn.Module):
    """Max pooling (2-D or 3-D) that keeps its argmax positions for a max-unpooling
    that refers to it, as Lua's SpatialMaxUnpooling reads its pooling module's
    ``indices`` (PyTorch's are 0-based flat positions in the H x W plane, Lua's the
    same plus one)."""

    def __init__(self, pool):
        super().__init__()
        self.pool = pool
        self.pool.return_indices = True
        self.indices = None

    def forward(self, x):
        self.input_size = x.shape
        y, self.indices = self.pool(x)
        return y


class MaxUnpool(nn.Module):
    """``torch.nn.MaxUnpool2d`` with the indices of the ``MaxPool`` it refers to."""

    def __init__(self, pool, unpool):
        super().__init__()
        self._pool = [pool]  # a reference, not a child
        self.unpool = unpool

    def forward(self, x):
        pool = self._pool[0]
        return self.unpool(x, pool.indices, output_size=pool.input_size)


class Elementwise(nn.Module):
    """CSubTable, CMulTable, CDivTable, CMaxTable, CMinTable on a list."""

    def __init__(self, op):
        super().__init__()
        self.op = op

    def forward(self, xs):
        xs = [xs[0]] + [x.reshape(xs[0].shape) for x in xs[1:]]  # Lua pairs elements in order
        if self.op == "sub":
            return xs[0] - xs[1]
        if self.op == "div":
            return xs[0] / xs[1]
        out = xs[0]
        for x in xs[1:]:
            out = {"mul": torch.mul, "max": torch.maximum, "min": torch.minimum}[self.op](out, x)
        return out


class TableOp(nn.Module):
    """SelectTable (1-based, negatives from the end) and SplitTable (Lua's dim rule)."""

    def __init__(self, op, a, b=None):
        super().__init__()
        self.op, self.a, self.b = op, a, b

    def forward(self, x):
        if self.op == "select":
            return x[self.a - 1] if self.a > 0 else x[len(x) + self.a]
        d = _lua_dim(self.a, x.dim(), self.b)
        return list(x.unbind(d))
