"""``to_onnx`` writers for the N-d convolution, pooling, padding, upsampling and table
families."""

from __future__ import annotations

import numpy as np

import nnlegacy as nn

from ._common import ExportError, where
from ._to_onnx import POOLS, _as4d, _batchnorm, _conv_node, _sequential, emits, numpy

emits(nn.LayerNormalization, note="the chain (Lua builds it as a Sequential)")(_sequential)
emits(nn.VolumetricBatchNormalization, note="BatchNormalization")(_batchnorm)


@emits(nn.SpatialDilatedConvolution, note="Conv with dilations")
def _dilconv(m, x, g, path):
    return _conv_node(m, x, g, "Conv", numpy(m.weight), dilations=[m.dilationH, m.dilationW])


def _as5d(g, x, fn):
    if x.ndim == 5:
        return fn(x.name)
    return g.op("Squeeze", [fn(g.op("Unsqueeze", [x.name, g.ints([0])])), g.ints([0])])


@emits(nn.VolumetricConvolution, note="Conv (3-D)")
def _volconv(m, x, g, path):
    ins = [g.const(numpy(m.weight), "weight")]
    ins += [g.const(numpy(m.bias), "bias")] if m.bias is not None else []
    attrs = dict(
        kernel_shape=[m.kT, m.kH, m.kW],
        strides=[m.dT, m.dH, m.dW],
        pads=[m.padT, m.padH, m.padW] * 2,
    )
    return _as5d(g, x, lambda n: g.op("Conv", [n] + ins, **attrs))


@emits(nn.VolumetricMaxPooling, note="MaxPool (3-D)")
def _volmax(m, x, g, path):
    attrs = dict(
        kernel_shape=[m.kT, m.kH, m.kW],
        strides=[m.dT, m.dH, m.dW],
        pads=[m.padT, m.padH, m.padW] * 2,
        ceil_mode=int(bool(m.ceil_mode)),
    )
    return _as5d(g, x, lambda n: g.op("MaxPool", [n], **attrs))


@emits(nn.VolumetricAveragePooling, note="AveragePool (3-D)")
def _volavg(m, x, g, path):
    attrs = dict(kernel_shape=[m.kT, m.kH, m.kW], strides=[m.dT, m.dH, m.dW])
    return _as5d(g, x, lambda n: g.op("AveragePool", [n], **attrs))


@emits(nn.SpatialDilatedMaxPooling, note="MaxPool with dilations")
def _dilmax(m, x, g, path):
    attrs = dict(
        kernel_shape=[m.kH, m.kW],
        strides=[m.dH, m.dW],
        pads=[m.padH, m.padW] * 2,
        dilations=[m.dilationH, m.dilationW],
        ceil_mode=int(bool(m.ceil_mode)),
    )
    return _as4d(g, x, lambda n: g.op("MaxPool", [n], **attrs))


@emits(nn.SpatialMaxUnpooling, note="MaxUnpool with its pooling's indices")
def _unpool(m, x, g, path):
    entry = POOLS.get(id(m.pooling))
    if entry is None:
        raise ExportError(
            f"nn.SpatialMaxUnpooling{where(path)}: its pooling module is not in the exported net"
        )
    indices, pool_input = entry
    p = m.pooling
    shape = g.op("Shape", [pool_input])
    return g.op(
        "MaxUnpool",
        [x.name, indices, shape],
        kernel_shape=[p.kH, p.kW],
        strides=[p.dH, p.dW],
        pads=[p.padH, p.padW] * 2,
    )


@emits(nn.VolumetricDropout, note="times 1-p")
def _voldropout(m, x, g, path):
    return g.op("Mul", [x.name, g.const(1 - m.p)])


def _pad_mode(mode):
    def emit(m, x, g, path):
        lo, hi = [0] * x.ndim, [0] * x.ndim
        lo[-1], hi[-1], lo[-2], hi[-2] = m.pad_l, m.pad_r, m.pad_t, m.pad_b
        return g.op("Pad", [x.name, g.ints(lo + hi)], mode=mode)

    return emit


emits(nn.SpatialReflectionPadding, note="Pad (reflect)")(_pad_mode("reflect"))
emits(nn.SpatialReplicationPadding, note="Pad (edge)")(_pad_mode("edge"))


@emits(nn.SpatialUpSamplingNearest, note="Resize (nearest)")
def _upnearest(m, x, g, path):
    scales = np.ones(x.ndim, np.float32)
    scales[-2:] = m.scale_factor
    return g.op(
        "Resize",
        [x.name, "", g.const(scales, "scales")],
        mode="nearest",
        nearest_mode="floor",
        coordinate_transformation_mode="asymmetric",
    )


_TABLE_OPS = {
    "CSubTable": "Sub",
    "CMulTable": "Mul",
    "CDivTable": "Div",
    "CMaxTable": "Max",
    "CMinTable": "Min",
}


@emits(
    nn.CSubTable,
    nn.CMulTable,
    nn.CDivTable,
    nn.CMaxTable,
    nn.CMinTable,
    note="Sub / Mul / Div / Max / Min",
)
def _elementwise(m, x, g, path):
    op = _TABLE_OPS[type(m).__name__]
    acc = x[0].name
    for v in x[1:]:  # Lua pairs the elements in order
        acc = g.op(op, [acc, v.name if v.shape == x[0].shape else g.reshape(v.name, x[0].shape)])
    return acc


@emits(nn.SelectTable, note="input[index] (no operator)")
def _selecttable(m, x, g, path):
    v = x[m.index - 1] if m.index > 0 else x[len(x) + m.index]
    return v


@emits(nn.SplitTable, note="Split, Squeeze")
def _splittable(m, x, g, path):
    d, nid = m.dimension, getattr(m, "nInputDims", None)
    if d < 0:
        ax = x.ndim + d
    else:
        ax = d - 1 + (1 if nid is not None and x.ndim == nid + 1 else 0)
    n = x.shape[ax]
    parts = g.op("Split", [x.name], n_out=n, axis=ax) if n > 1 else [x.name]
    return [g.op("Squeeze", [p, g.ints([ax])]) for p in parts]
