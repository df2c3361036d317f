#!/usr/bin/env python3
"""ResNet-18/34/50/101/152 [He et al. 2015], classic Torch style (as fb.resnet.torch).

    python examples/resnet.py --depth 34 [--batch 1] [--type float|double] [--cpu]

Batch norm after every convolution (so convolutions have no bias), basic blocks below
50 layers and bottleneck blocks from 50, projection shortcuts (1x1 convolution + BN)
where the shape changes, each block a ConcatTable of the two paths and a CAddTable.
Parameters: 11,689,512 / 21,797,672 / 25,557,032 / 44,549,160 / 60,192,808.
"""

try:
    from common import nn, run
except ImportError:
    from examples.common import nn, run

DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


def conv_bn(seq, nin, nout, k, stride=1, pad=0, relu=True):
    seq.add(nn.SpatialConvolution(nin, nout, k, k, stride, stride, pad, pad).noBias())
    seq.add(nn.SpatialBatchNormalization(nout))
    if relu:
        seq.add(nn.ReLU(True))
    return seq


def shortcut(nin, nout, stride):
    if nin == nout and stride == 1:
        return nn.Identity()
    return conv_bn(nn.Sequential(), nin, nout, 1, stride, relu=False)  # projection


def residual(path, nin, nout, stride):
    block = nn.Sequential()
    block.add(nn.ConcatTable().add(path).add(shortcut(nin, nout, stride)))
    block.add(nn.CAddTable(True))
    block.add(nn.ReLU(True))
    return block


def basic(nin, n, stride):
    path = conv_bn(nn.Sequential(), nin, n, 3, stride, 1)
    conv_bn(path, n, n, 3, 1, 1, relu=False)
    return residual(path, nin, n, stride), n


def bottleneck(nin, n, stride):
    path = conv_bn(nn.Sequential(), nin, n, 1)
    conv_bn(path, n, n, 3, stride, 1)
    conv_bn(path, n, n * 4, 1, relu=False)
    return residual(path, nin, n * 4, stride), n * 4


def build(depth=34):
    if depth not in DEPTHS:
        raise ValueError(f"unknown ResNet depth {depth}; expected one of {sorted(DEPTHS)}")
    kind, counts = DEPTHS[depth]
    block = basic if kind == "basic" else bottleneck
    net = nn.Sequential()
    conv_bn(net, 3, 64, 7, 2, 3)  # 224 -> 112
    net.add(nn.SpatialMaxPooling(3, 3, 2, 2, 1, 1))  # -> 56
    planes = 64
    for stage, (n, count) in enumerate(zip((64, 128, 256, 512), counts)):
        for i in range(count):
            stride = 2 if stage > 0 and i == 0 else 1
            b, planes = block(planes, n, stride)
            net.add(b)
    net.add(nn.SpatialAveragePooling(7, 7, 1, 1))  # 7x7 -> 1x1
    net.add(nn.View(planes).setNumInputDims(3))
    net.add(nn.Linear(planes, 1000))
    return net


INPUT = (3, 224, 224)

if __name__ == "__main__":
    run(
        lambda args: build(args.depth),
        INPUT,
        "ResNet: one forward and backward pass on a synthetic batch",
        default_batch=1,
        build_args=lambda ap: ap.add_argument(
            "--depth", type=int, default=34, choices=sorted(DEPTHS)
        ),
    )
