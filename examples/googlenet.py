#!/usr/bin/env python3
"""GoogLeNet [Szegedy et al. 2014], the lecture's table, with DepthConcat inception modules.

    python examples/googlenet.py [--batch 1] [--type float|double] [--cpu]

Floor sizing would give 55, 27, 13 and 6 after the four 3x3/2 max pools; the table's
56, 28, 14 and 7 need :ceil(), as Torch ports of GoogLeNet used.

The builder follows the table's filter columns. The table's params column does not
always follow from them: the first convolution's 2.7K is 7*7*3*64 = 9,408 weights
(9.2K), 4c lists 463K where its columns give 497.5K, 5a 1072K where they give 1018K.
"""

try:
    from common import nn, run
except ImportError:
    from examples.common import nn, run

# name: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj), as in the lecture's table
INCEPTION = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def conv_relu(seq, nin, nout, k, pad=0, stride=1):
    seq.add(nn.SpatialConvolution(nin, nout, k, k, stride, stride, pad, pad))
    seq.add(nn.ReLU(True))
    return seq


def inception(nin, n1x1, n3red, n3, n5red, n5, pool_proj):
    """Four branches concatenated along the planes (dimension 2 of N x C x H x W)."""
    block = nn.DepthConcat(2)
    block.add(conv_relu(nn.Sequential(), nin, n1x1, 1))
    block.add(conv_relu(conv_relu(nn.Sequential(), nin, n3red, 1), n3red, n3, 3, 1))
    block.add(conv_relu(conv_relu(nn.Sequential(), nin, n5red, 1), n5red, n5, 5, 2))
    pool = nn.Sequential().add(nn.SpatialMaxPooling(3, 3, 1, 1, 1, 1))
    block.add(conv_relu(pool, nin, pool_proj, 1))
    return block, n1x1 + n3 + n5 + pool_proj


def build():
    net = nn.Sequential()
    conv_relu(net, 3, 64, 7, 3, 2)  # convolution 7x7/2: 224 -> 112x112x64
    net.add(nn.SpatialMaxPooling(3, 3, 2, 2).ceil())  # max pool 3x3/2: -> 56x56x64
    conv_relu(net, 64, 64, 1)  # convolution 3x3/1 (its 1x1 reduce, 64)
    conv_relu(net, 64, 192, 3, 1)  # -> 56x56x192
    net.add(nn.SpatialMaxPooling(3, 3, 2, 2).ceil())  # -> 28x28x192
    planes = 192
    for name in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"):
        if name in ("4a", "5a"):
            net.add(nn.SpatialMaxPooling(3, 3, 2, 2).ceil())  # -> 14x14, -> 7x7
        block, planes = inception(planes, *INCEPTION[name])
        net.add(block)
    net.add(nn.SpatialAveragePooling(7, 7, 1, 1))  # avg pool 7x7/1: -> 1x1x1024
    net.add(nn.View(1024).setNumInputDims(3))
    net.add(nn.Dropout(0.4))
    net.add(nn.Linear(1024, 1000))
    net.add(nn.LogSoftMax())
    return net


INPUT = (3, 224, 224)

if __name__ == "__main__":
    run(build, INPUT, "GoogLeNet: one forward and backward pass", default_batch=1)
