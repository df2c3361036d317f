"""A small SegNet-style encoder-decoder for per-pixel classification, the Torch way.

The encoder pools twice; a dilated-convolution context block (rates 2 and 4, as in
ENet and DeepLab) widens the receptive field without pooling further; the decoder
unpools with the encoder's own max-pooling indices (``nn.SpatialMaxUnpooling``) and
returns to the input resolution with ``nn.SpatialUpSamplingBilinear``. ``main`` prints
the shapes of every layer and runs one forward and backward pass.

    python examples/segnet_decoder.py [--batch 2] [--size 64] [--classes 5]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import nnlegacy as nn  # noqa: E402
from nnlegacy import backend  # noqa: E402


def conv_bn_relu(net, nin, nout):
    net.add(nn.SpatialConvolution(nin, nout, 3, 3, 1, 1, 1, 1))
    net.add(nn.SpatialBatchNormalization(nout))
    net.add(nn.ReLU(True))


def build(n_classes=5, width=16):
    """Input ``3 x H x W`` (H, W multiples of 4) -> ``n_classes x H x W`` scores."""
    net = nn.Sequential()
    conv_bn_relu(net, 3, width)
    net.add(nn.SpatialMaxPooling(2, 2, 2, 2))  # H/2
    conv_bn_relu(net, width, 2 * width)
    pool = nn.SpatialMaxPooling(2, 2, 2, 2)  # H/4; its indices drive the unpooling
    net.add(pool)
    for rate in (2, 4):  # context without losing resolution
        net.add(
            nn.SpatialDilatedConvolution(2 * width, 2 * width, 3, 3, 1, 1, rate, rate, rate, rate)
        )
        net.add(nn.ReLU(True))
    net.add(nn.SpatialMaxUnpooling(pool))  # back to H/2, values where the maxima were
    conv_bn_relu(net, 2 * width, width)
    net.add(nn.SpatialConvolution(width, n_classes, 1, 1))
    net.add(nn.SpatialUpSamplingBilinear(2))  # back to H, corners aligned
    return net


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--size", type=int, default=64, help="input height and width (multiple of 4)")
    ap.add_argument("--classes", type=int, default=5)
    ap.add_argument("--type", default="float", choices=["float", "double"])
    args = ap.parse_args(argv)
    ttype = "torch.FloatTensor" if args.type == "float" else "torch.DoubleTensor"
    net = build(args.classes).type(ttype)
    print(net)
    print(nn.summary(net, (3, args.size, args.size)))
    xp, dtype = backend.xp_dtype(ttype)
    rng = np.random.default_rng(0)
    x = xp.asarray(rng.standard_normal((args.batch, 3, args.size, args.size)), dtype=dtype)
    t0 = time.perf_counter()
    out = net.forward(x)
    t1 = time.perf_counter()
    net.zeroGradParameters()
    gi = net.backward(x, xp.ones(out.shape, dtype))
    t2 = time.perf_counter()
    print("input " + "x".join(map(str, x.shape)) + " -> output " + "x".join(map(str, out.shape)))
    print(f"forward {1e3 * (t1 - t0):.1f} ms, backward {1e3 * (t2 - t1):.1f} ms")
    return net, out, gi


if __name__ == "__main__":
    main()
