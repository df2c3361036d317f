#!/usr/bin/env python3
"""VGGNet [Simonyan and Zisserman 2014]: the six configurations of the lecture's table
(A, A-LRN, B, C, D = VGG-16, E = VGG-19) from one table-driven builder.

    python examples/vgg.py --config D [--batch 1] [--type float|double] [--cpu]

Parameters (millions): A 133, A-LRN 133, B 133, C 134, D 138, E 144.
VGG-16's per-layer walk-through of the lecture (224x224x64 = 3.2M activations, 1,728
then 36,864 weights, ..., 102,760,448 weights in the first FC) holds exactly; its total
"24M * 4 bytes ~= 93MB / image" does not follow from its own rows, which add up to
15.2M activations (58 MiB in float32) for the forward pass.
"""

try:
    from common import nn, run
except ImportError:
    from examples.common import nn, run

# 64 = conv3-64, "1x256" = conv1-256, "M" = max pool 2x2/2, "LRN" = local response norm
CONFIGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, "1x256", "M", 512, 512, "1x512", "M",
          512, 512, "1x512", "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
          512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}  # fmt: skip


def build(config="D"):
    if config not in CONFIGS:
        raise ValueError(
            f"unknown VGG configuration {config!r}; expected one of {', '.join(CONFIGS)}"
        )
    net = nn.Sequential()
    planes = 3
    for item in CONFIGS[config]:
        if item == "M":
            net.add(nn.SpatialMaxPooling(2, 2, 2, 2))
        elif item == "LRN":
            net.add(nn.SpatialCrossMapLRN(5, 0.0001, 0.75, 2))
        elif isinstance(item, str):  # conv1-N
            n = int(item[2:])
            net.add(nn.SpatialConvolution(planes, n, 1, 1))
            net.add(nn.ReLU(True))
            planes = n
        else:  # conv3-N, padded to keep the size
            net.add(nn.SpatialConvolution(planes, item, 3, 3, 1, 1, 1, 1))
            net.add(nn.ReLU(True))
            planes = item
    net.add(nn.View(512 * 7 * 7).setNumInputDims(3))
    net.add(nn.Linear(512 * 7 * 7, 4096))
    net.add(nn.ReLU(True))
    net.add(nn.Dropout(0.5))
    net.add(nn.Linear(4096, 4096))
    net.add(nn.ReLU(True))
    net.add(nn.Dropout(0.5))
    net.add(nn.Linear(4096, 1000))
    net.add(nn.LogSoftMax())
    return net


INPUT = (3, 224, 224)

if __name__ == "__main__":
    run(
        lambda args: build(args.config),
        INPUT,
        "VGG: one forward and backward pass on a synthetic batch",
        default_batch=1,
        build_args=lambda ap: ap.add_argument("--config", default="D", choices=list(CONFIGS)),
    )
