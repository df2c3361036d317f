"""Translate an nnlegacy net into the same PyTorch net, weights included.

Used by tools/bench so that both frameworks time exactly the same network, and by a test
that checks the two give the same outputs. PyTorch is only the yardstick: nothing in
nnlegacy imports this file.
"""

import numpy as np
import torch
from torch import nn as tn

import nnlegacy as nn
from nnlegacy import backend


class _Concat(tn.Module):
    """Concat / DepthConcat: children on the same input, joined (and centred) on dim."""

    def __init__(self, children, dim, centred):
        super().__init__()
        self.branches = tn.ModuleList(children)
        self.dim, self.centred = dim, centred

    def forward(self, x):
        outs = [b(x) for b in self.branches]
        if self.centred:
            size = [max(o.shape[d] for o in outs) for d in range(outs[0].dim())]
            padded = []
            for o in outs:
                pads = []
                for d in reversed(range(o.dim())):
                    if d == self.dim:
                        pads += [0, 0]
                        continue
                    lo = (size[d] - o.shape[d]) // 2
                    pads += [lo, size[d] - o.shape[d] - lo]
                padded.append(torch.nn.functional.pad(o, pads))
            outs = padded
        return torch.cat(outs, self.dim)


class _Residual(tn.Module):
    """Sequential{ConcatTable{a, b}, CAddTable}: a(x) + b(x)."""

    def __init__(self, a, b):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x):
        return self.a(x) + self.b(x)


class _View(tn.Module):
    def __init__(self, size):
        super().__init__()
        self.size = size

    def forward(self, x):
        return x.reshape(x.shape[0], *self.size)


def _param(a):
    return tn.Parameter(torch.from_numpy(np.array(backend.to_numpy(a))))


def translate(m):
    """The PyTorch module computing what nnlegacy module ``m`` computes (batched input)."""
    if isinstance(m, nn.Sequential):
        mods = list(m.modules)
        out = []
        i = 0
        while i < len(mods):
            cur = mods[i]
            nxt = mods[i + 1] if i + 1 < len(mods) else None
            if isinstance(cur, nn.ConcatTable) and isinstance(nxt, nn.CAddTable):
                a, b = (translate(c) for c in cur.modules)
                out.append(_Residual(a, b))
                i += 2
                continue
            out.append(translate(cur))
            i += 1
        return tn.Sequential(*out)
    if isinstance(m, nn.SpatialDilatedConvolution):  # before its base class SpatialConvolution
        c = tn.Conv2d(m.nInputPlane, m.nOutputPlane, (m.kH, m.kW), (m.dH, m.dW),
                      (m.padH, m.padW), (m.dilationH, m.dilationW),
                      bias=m.bias is not None)  # fmt: skip
        c.weight = _param(m.weight.reshape(c.weight.shape))
        if m.bias is not None:
            c.bias = _param(m.bias)
        return c
    if isinstance(m, nn.SpatialConvolution):
        c = tn.Conv2d(m.nInputPlane, m.nOutputPlane, (m.kH, m.kW), (m.dH, m.dW),
                      (m.padH, m.padW), bias=m.bias is not None)  # fmt: skip
        c.weight = _param(m.weight.reshape(c.weight.shape))
        if m.bias is not None:
            c.bias = _param(m.bias)
        return c
    if isinstance(m, nn.Linear):
        lin = tn.Linear(m.weight.shape[1], m.weight.shape[0], bias=m.bias is not None)
        lin.weight = _param(m.weight)
        if m.bias is not None:
            lin.bias = _param(m.bias)
        return lin
    if isinstance(m, nn.SpatialAveragePooling):
        return tn.AvgPool2d((m.kH, m.kW), (m.dH, m.dW), (m.padH, m.padW), m.ceil_mode,
                            count_include_pad=m.count_include_pad)  # fmt: skip
    if isinstance(m, nn.SpatialMaxPooling):
        return tn.MaxPool2d((m.kH, m.kW), (m.dH, m.dW), (m.padH, m.padW), ceil_mode=m.ceil_mode)
    if isinstance(m, nn.SpatialCrossMapLRN):
        return tn.LocalResponseNorm(m.size, m.alpha, m.beta, m.k)
    if isinstance(m, nn.BatchNormalization):
        cls = tn.BatchNorm2d if isinstance(m, nn.SpatialBatchNormalization) else tn.BatchNorm1d
        bn = cls(m.running_mean.shape[0], m.eps, m.momentum, affine=m.weight is not None)
        if m.weight is not None:
            bn.weight, bn.bias = _param(m.weight), _param(m.bias)
        bn.running_mean = torch.from_numpy(np.array(backend.to_numpy(m.running_mean)))
        bn.running_var = torch.from_numpy(np.array(backend.to_numpy(m.running_var)))
        return bn
    if isinstance(m, nn.ReLU):
        return tn.ReLU(m.inplace)
    if isinstance(m, nn.Dropout):
        return tn.Dropout(m.p)
    if isinstance(m, nn.View):
        return _View([s for s in m.size])
    if isinstance(m, nn.LogSoftMax):
        return tn.LogSoftmax(dim=1)
    if isinstance(m, nn.SoftMax):
        return tn.Softmax(dim=1)
    if isinstance(m, nn.Tanh):
        return tn.Tanh()
    if isinstance(m, nn.Sigmoid):
        return tn.Sigmoid()
    if isinstance(m, nn.Identity):
        return tn.Identity()
    if isinstance(m, nn.Concat):
        children = [translate(c) for c in m.modules]
        return _Concat(children, m.dimension - 1, isinstance(m, nn.DepthConcat))
    raise NotImplementedError(f"no PyTorch translation for {nn.torch_type(m)}")
