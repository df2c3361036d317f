#!/usr/bin/env python3
"""ZFNet [Zeiler and Fergus 2013]: AlexNet with CONV1 7x7 stride 2 and CONV3,4,5 of
512, 1024, 512 filters, at the paper's 224x224 input.

    python examples/zfnet.py [--batch 2] [--type float|double] [--cpu]

CONV2 is 5x5 at stride 2 with no padding (55 -> 26), as in the paper's figure: the
lecture lists only the CONV1 and CONV3-5 changes, but AlexNet's CONV2 (5x5, stride 1,
pad 2) would keep 55.

The paper's feature maps are 224 -> 110 -> 55 -> 26 -> 13 -> 13 -> 13 -> 6. Torch sizes
convolutions and pooling by floor, so a Torch user meets three surprises on the way:
- CONV1 7x7/2 on 224 gives (224 - 7) // 2 + 1 = 109, not 110: pad 1 gives 110;
- POOL1 3x3/2 on 110 gives floor(107 / 2) + 1 = 54, not 55: :ceil() gives 55;
- POOL2 3x3/2 on 26 gives floor(23 / 2) + 1 = 12, not 13: :ceil() gives 13.
"""

try:
    from common import nn, run
except ImportError:
    from examples.common import nn, run


def build():
    net = nn.Sequential()
    net.add(nn.SpatialConvolution(3, 96, 7, 7, 2, 2, 1, 1))  # CONV1: 224 -> 110 (pad 1!)
    net.add(nn.ReLU(True))
    net.add(nn.SpatialMaxPooling(3, 3, 2, 2).ceil())  # POOL1: 110 -> 55 (floor would give 54)
    net.add(nn.SpatialCrossMapLRN(5, 0.0001, 0.75, 2))
    net.add(nn.SpatialConvolution(96, 256, 5, 5, 2, 2))  # CONV2: 55 -> 26
    net.add(nn.ReLU(True))
    net.add(nn.SpatialMaxPooling(3, 3, 2, 2).ceil())  # POOL2: 26 -> 13 (floor would give 12)
    net.add(nn.SpatialCrossMapLRN(5, 0.0001, 0.75, 2))
    net.add(nn.SpatialConvolution(256, 512, 3, 3, 1, 1, 1, 1))  # CONV3: 13
    net.add(nn.ReLU(True))
    net.add(nn.SpatialConvolution(512, 1024, 3, 3, 1, 1, 1, 1))  # CONV4: 13
    net.add(nn.ReLU(True))
    net.add(nn.SpatialConvolution(1024, 512, 3, 3, 1, 1, 1, 1))  # CONV5: 13
    net.add(nn.ReLU(True))
    net.add(nn.SpatialMaxPooling(3, 3, 2, 2))  # POOL3: 13 -> 6
    net.add(nn.View(512 * 6 * 6).setNumInputDims(3))
    net.add(nn.Dropout(0.5))
    net.add(nn.Linear(512 * 6 * 6, 4096))
    net.add(nn.ReLU(True))
    net.add(nn.Dropout(0.5))
    net.add(nn.Linear(4096, 4096))
    net.add(nn.ReLU(True))
    net.add(nn.Linear(4096, 1000))
    net.add(nn.LogSoftMax())
    return net


INPUT = (3, 224, 224)

if __name__ == "__main__":
    run(build, INPUT, "ZFNet: one forward and backward pass on a synthetic batch")
