"""``to_torch`` converters for the N-d convolution, pooling, padding, upsampling and
table families."""

from __future__ import annotations

from torch import nn as tn

import nnlegacy as nn

from . import torch_layers as L
from ._to_torch import _batchnorm, _conv_layer, converts


@converts(nn.SpatialDilatedConvolution, note="torch.nn.Conv2d with dilation")
def _dilconv(m, path):
    return _conv_layer(
        tn.Conv2d, m, (m.kH, m.kW), (m.dH, m.dW), (m.padH, m.padW), (m.dilationH, m.dilationW)
    )


@converts(nn.VolumetricConvolution, note="torch.nn.Conv3d")
def _volconv(m, path):
    return _conv_layer(
        tn.Conv3d, m, (m.kT, m.kH, m.kW), (m.dT, m.dH, m.dW), (m.padT, m.padH, m.padW)
    )


def _maxpool2d(m):
    return tn.MaxPool2d(
        (m.kH, m.kW),
        (m.dH, m.dW),
        (m.padH, m.padW),
        dilation=(getattr(m, "dilationH", 1), getattr(m, "dilationW", 1)),
        ceil_mode=bool(getattr(m, "ceil_mode", False)),
    )


@converts(nn.SpatialDilatedMaxPooling, note="torch.nn.MaxPool2d with dilation")
def _dilmaxpool(m, path):
    return _maxpool2d(m)


@converts(nn.VolumetricMaxPooling, note="torch.nn.MaxPool3d")
def _volmaxpool(m, path):
    return tn.MaxPool3d(
        (m.kT, m.kH, m.kW),
        (m.dT, m.dH, m.dW),
        (m.padT, m.padH, m.padW),
        ceil_mode=bool(getattr(m, "ceil_mode", False)),
    )


@converts(nn.VolumetricAveragePooling, note="torch.nn.AvgPool3d")
def _volavgpool(m, path):
    return tn.AvgPool3d((m.kT, m.kH, m.kW), (m.dT, m.dH, m.dW))


@converts(nn.SpatialMaxUnpooling, note="torch.nn.MaxUnpool2d with its pooling's indices")
def _unpool(m, path):
    from ._to_torch import POOLS

    pool = POOLS.get(id(m.pooling))
    if pool is None:
        raise _unpool_error(m, path)
    p = m.pooling
    return L.MaxUnpool(pool, tn.MaxUnpool2d((p.kH, p.kW), (p.dH, p.dW), (p.padH, p.padW)))


def _unpool_error(m, path):
    from ._common import ExportError, where

    return ExportError(
        f"nn.SpatialMaxUnpooling{where(path)}: its pooling module is not in the exported net"
    )


converts(nn.VolumetricBatchNormalization, note="torch.nn.BatchNorm3d, running statistics copied")(
    _batchnorm
)


@converts(nn.VolumetricDropout, note="volumes dropped unscaled; evaluation scales by 1-p")
def _voldropout(m, path):
    return L.SpatialDropout(m.p, spatial=True)


@converts(nn.SpatialReflectionPadding, note="torch.nn.ReflectionPad2d")
def _reflect(m, path):
    return tn.ReflectionPad2d((m.pad_l, m.pad_r, m.pad_t, m.pad_b))


@converts(nn.SpatialReplicationPadding, note="torch.nn.ReplicationPad2d")
def _replicate(m, path):
    return tn.ReplicationPad2d((m.pad_l, m.pad_r, m.pad_t, m.pad_b))


@converts(nn.SpatialUpSamplingNearest, note="torch.nn.Upsample (nearest)")
def _upnearest(m, path):
    return tn.Upsample(scale_factor=m.scale_factor, mode="nearest")


@converts(
    nn.CSubTable,
    nn.CMulTable,
    nn.CDivTable,
    nn.CMaxTable,
    nn.CMinTable,
    note="element-wise on the list",
)
def _elementwise(m, path):
    return L.Elementwise(type(m).__name__[1:4].lower())


@converts(nn.SelectTable, note="input[index]")
def _selecttable(m, path):
    return L.TableOp("select", m.index)


@converts(nn.SplitTable, note="torch.unbind")
def _splittable(m, path):
    return L.TableOp("split", m.dimension, getattr(m, "nInputDims", None))
