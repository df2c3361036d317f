#!/usr/bin/env python3
"""The lecture's "full (simplified) AlexNet" [Krizhevsky et al. 2012], classic Torch style.

    python examples/alexnet.py [--batch 2] [--type float|double] [--cpu]

[227x227x3] INPUT
[55x55x96]  CONV1: 96 11x11 filters at stride 4, pad 0   (11*11*3 + 1) * 96 = 34,944 ("35K")
[27x27x96]  MAX POOL1: 3x3 filters at stride 2
[27x27x96]  NORM1
[27x27x256] CONV2: 256 5x5 filters at stride 1, pad 2
[13x13x256] MAX POOL2: 3x3 filters at stride 2
[13x13x256] NORM2
[13x13x384] CONV3, [13x13x384] CONV4, [13x13x256] CONV5: 3x3 filters at stride 1, pad 1
[6x6x256]   MAX POOL3: 3x3 filters at stride 2
[4096] FC6, [4096] FC7, [1000] FC8, with ReLU and Dropout 0.5
"""

try:
    from common import nn, run
except ImportError:  # imported as examples.alexnet
    from examples.common import nn, run


def build():
    net = nn.Sequential()
    net.add(nn.SpatialConvolution(3, 96, 11, 11, 4, 4))  # CONV1: 227 -> 55
    net.add(nn.ReLU(True))
    net.add(nn.SpatialMaxPooling(3, 3, 2, 2))  # POOL1: 55 -> 27
    net.add(nn.SpatialCrossMapLRN(5, 0.0001, 0.75, 2))  # NORM1
    net.add(nn.SpatialConvolution(96, 256, 5, 5, 1, 1, 2, 2))  # CONV2: 27 -> 27
    net.add(nn.ReLU(True))
    net.add(nn.SpatialMaxPooling(3, 3, 2, 2))  # POOL2: 27 -> 13
    net.add(nn.SpatialCrossMapLRN(5, 0.0001, 0.75, 2))  # NORM2
    net.add(nn.SpatialConvolution(256, 384, 3, 3, 1, 1, 1, 1))  # CONV3
    net.add(nn.ReLU(True))
    net.add(nn.SpatialConvolution(384, 384, 3, 3, 1, 1, 1, 1))  # CONV4
    net.add(nn.ReLU(True))
    net.add(nn.SpatialConvolution(384, 256, 3, 3, 1, 1, 1, 1))  # CONV5
    net.add(nn.ReLU(True))
    net.add(nn.SpatialMaxPooling(3, 3, 2, 2))  # POOL3: 13 -> 6
    net.add(nn.View(256 * 6 * 6).setNumInputDims(3))  # keeps a batch of one a batch
    net.add(nn.Dropout(0.5))
    net.add(nn.Linear(256 * 6 * 6, 4096))  # FC6
    net.add(nn.ReLU(True))
    net.add(nn.Dropout(0.5))
    net.add(nn.Linear(4096, 4096))  # FC7
    net.add(nn.ReLU(True))
    net.add(nn.Linear(4096, 1000))  # FC8: class scores
    net.add(nn.LogSoftMax())
    return net


INPUT = (3, 227, 227)

if __name__ == "__main__":
    run(build, INPUT, "AlexNet (the lecture's simplified version): one forward and backward pass")
