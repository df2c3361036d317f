#!/usr/bin/env python3
"""The lecture's convolution examples, run through nnlegacy modules with hand-set weights.

    python examples/filters.py [--out filters.png] [--digits 4]

1. The 1-D box filter [1/3 1/3 1/3] over 4 3 2 -5 3 5 2 5 5 6: shrunk and zero-padded.
2. Edge detection, mean (box) and Gaussian blur 3x3 kernels as one
   SpatialConvolution(1, 3, 3, 3), on real MNIST digits: a PNG grid of input and outputs.
3. A 3x3 filter over a 7x7 input at strides 1, 2, 3: output sizes, and the edge columns
   that floor sizing drops.
"""

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import nnlegacy as nn  # noqa: E402

SIGNAL = [4, 3, 2, -5, 3, 5, 2, 5, 5, 6]
KERNELS = {
    "edge detection": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], float),
    "mean (box)": np.ones((3, 3)) / 9,
    "Gaussian blur": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], float) / 16,
}


def fraction_text(values):
    return " ".join(str(Fraction(float(v)).limit_denominator(100)) for v in values)


def box_filter(pad):
    """[1/3 1/3 1/3] as a SpatialConvolution over a 1 x 10 'image'."""
    conv = nn.SpatialConvolution(1, 1, 3, 1, 1, 1, pad, 0)
    conv.weight[...] = 1 / 3
    conv.bias[...] = 0
    out = conv.forward(np.array(SIGNAL, float).reshape(1, 1, 10))
    return [Fraction(float(v)).limit_denominator(100) for v in out.ravel()]


def three_kernels():
    conv = nn.SpatialConvolution(1, 3, 3, 3, 1, 1, 1, 1)  # pad 1 keeps 28x28
    for i, k in enumerate(KERNELS.values()):
        conv.weight[i, 0] = k
    conv.bias[...] = 0
    return conv


def strides():
    """[(stride, output size, input columns dropped)] for 3x3 over 7x7."""
    rows = []
    for s in (1, 2, 3):
        out = nn.SpatialConvolution(1, 1, 3, 3, s, s).forward(np.zeros((1, 7, 7)))
        size = out.shape[-1]
        rows.append((s, size, 7 - ((size - 1) * s + 3)))
    return rows


def picture(images, labels, path):
    """Input and the three filter outputs per digit, titled, on shared colour scales:
    input, mean and Gaussian blur on one grey scale (0..1: the blurs average pixels, so
    they stay in the input's range, and their difference shows), edge detection on its
    own signed scale (its weights sum to 0); each scale has its colour bar."""
    from nnlegacy.pictures import save_grid  # noqa: PLC0415

    out = three_kernels().forward(images[:, None].astype(float))  # N x 3 x 28 x 28
    edge_max = float(np.abs(out[:, 0]).max())
    grey = {"vmin": 0.0, "vmax": 1.0, "cmap": "gray", "label": "pixel value (input, blurs)"}
    signed = {"vmin": -edge_max, "vmax": edge_max, "cmap": "RdBu_r", "label": "edge response"}
    cells = [[x, *y] for x, y in zip(images, out)]
    titles = ["input", "edge detection\n8 centre, -1 around", "mean (box)\nall 1/9"]
    titles.append("Gaussian blur\n[1 2 1]x[1 2 1]/16")
    return save_grid(
        cells,
        path,
        col_titles=titles,
        row_titles=[f"digit {d}" for d in labels],
        scales=[grey, signed, grey, grey],
        title="SpatialConvolution(1, 3, 3, 3, 1, 1, 1, 1) with the lecture's kernels",
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description="The lecture's convolution examples.")
    ap.add_argument("--out", default="filters.png", help="the PNG grid ('' to skip)")
    ap.add_argument("--digits", type=int, default=4, help="MNIST test digits to filter")
    ap.add_argument("--data", default=str(ROOT / "data" / "mnist"))
    args = ap.parse_args(argv)
    if args.out:  # say a bad path or a missing matplotlib before any work
        from nnlegacy.cli import UserError, check_writable  # noqa: PLC0415
        from nnlegacy.pictures import pyplot  # noqa: PLC0415

        if not 1 <= args.digits <= 10000:
            raise UserError(f"--digits takes 1..10000, got {args.digits}")
        check_writable(args.out, "--out")
        pyplot()

    print("1-D box filter [1/3 1/3 1/3] over", " ".join(map(str, SIGNAL)))
    shrunk, padded = box_filter(0), box_filter(1)
    print("  1) shrink:", fraction_text(shrunk))
    print("  2) pad with 0:", fraction_text(padded))

    print("3x3 filter over a 7x7 input:")
    table = strides()
    for s, size, dropped in table:
        note = f", floor sizing drops {dropped} edge column(s) and row(s)" if dropped else ""
        print(f"  stride {s}: output {size}x{size}{note}")

    size = None
    if args.out:
        sys.path.insert(0, str(ROOT / "examples"))
        from lenet5 import find_file, read_idx  # noqa: PLC0415

        n = args.digits
        images = read_idx(find_file(args.data, "t10k-images-idx3-ubyte"), n) / 255.0
        labels = read_idx(find_file(args.data, "t10k-labels-idx1-ubyte"), n)
        size = picture(images, labels, args.out)
        print(f"saved {args.out}: rows are digits; columns: input, " + ", ".join(KERNELS))
    return {"shrunk": shrunk, "padded": padded, "strides": table, "picture": size}


if __name__ == "__main__":
    from nnlegacy.cli import run_script  # noqa: PLC0415

    run_script("filters.py", main)
