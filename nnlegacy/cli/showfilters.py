"""showfilters: a saved model's convolution filters as one PNG.

  showfilters lenet5_mnist.t7                       writes filters.png
  showfilters model.t7 --out f.png --scale 12 --max-planes 24

Top: every filter of the first convolution, one tile each; in colour when it reads
3 input planes (RGB), else one tile per filter averaged over its input planes.
Below: the second convolution, one row per output plane and one column per input
plane, at most --max-planes of each (the title says how many are shown).
Each layer has one colour scale, shown by its colour bar: blue negative, white 0,
red positive, so filters of a layer can be compared with each other.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from . import UserError, check_writable, fail, what_it_holds

PROG = "showfilters"


def conv_layers(model):
    """(module, weight as nOutputPlane x nInputPlane x kH x kW) of each 2-D convolution."""
    import nnlegacy as nn
    from nnlegacy import backend

    out = []
    for m in model.listModules():
        if isinstance(m, nn.SpatialConvolution):  # SpatialConvolutionMM too
            w = backend.to_numpy(m.weight).astype(np.float64)
            out.append((m, w.reshape(m.nOutputPlane, m.nInputPlane, m.kH, m.kW)))
    return out


def _symmetric(w):
    v = float(np.abs(w).max()) or 1.0
    return -v, v


def first_layer_panel(m, w, max_filters):
    n = min(w.shape[0], max_filters)
    shown = f"{n} of {w.shape[0]}" if n < w.shape[0] else f"all {n}"
    cols = min(n, 16)
    if w.shape[1] == 3:  # RGB: one scale for the layer, 0 at mid-grey
        lo, hi = _symmetric(w)
        tiles = [(w[o].transpose(1, 2, 0) - lo) / (hi - lo) for o in range(n)]
        image = _mosaic(tiles, cols)
        return {
            "image": image,
            "title": f"layer 1: {m}\n{shown} filters in colour (R, G, B), one scale: "
            f"grey 0, |w| up to {hi:.3g}",
        }
    tiles = [w[o].mean(0) for o in range(n)]
    lo, hi = _symmetric(np.stack(tiles))
    planes = "" if w.shape[1] == 1 else f", averaged over {w.shape[1]} input planes"
    return {
        "image": _mosaic(tiles, cols),
        "title": f"layer 1: {m}\n{shown} filters{planes}",
        "vmin": lo,
        "vmax": hi,
        "label": "weight",
    }


def second_layer_panel(m, w, max_planes):
    rows, cols = min(w.shape[0], max_planes), min(w.shape[1], max_planes)
    tiles = [w[o, i] for o in range(rows) for i in range(cols)]
    lo, hi = _symmetric(w[:rows, :cols])
    what = f"{rows} of {w.shape[0]}" if rows < w.shape[0] else f"all {rows}"
    ins = f"{cols} of {w.shape[1]}" if cols < w.shape[1] else f"all {cols}"
    return {
        "image": _mosaic(tiles, cols),
        "title": f"layer 2: {m}\nrows: {what} output planes, columns: {ins} input planes",
        "vmin": lo,
        "vmax": hi,
        "label": "weight",
    }


def _mosaic(tiles, cols):
    from nnlegacy.pictures import mosaic

    return mosaic(tiles, cols=cols, normalise=False, fill=np.nan)


def filter_panels(model, max_planes=16):
    layers = conv_layers(model)
    if not layers:
        raise UserError("the model has no SpatialConvolution")
    panels = [first_layer_panel(*layers[0], max_filters=4 * max_planes)]
    if len(layers) > 1:
        panels.append(second_layer_panel(*layers[1], max_planes))
    return panels


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n", 1)[0],
        epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("model", help="a Torch7 file (.t7) holding an nn module")
    ap.add_argument("--out", default="filters.png", help="the PNG to write")
    ap.add_argument("--scale", type=int, default=8, help="pixels per filter weight (2..64)")
    ap.add_argument(
        "--max-planes", type=int, default=16, help="layer 2: at most this many rows and columns"
    )
    args = ap.parse_args(argv)
    try:
        import nnlegacy as nn
        from nnlegacy.pictures import PlotUnavailableError, pyplot, save_panels

        if not 2 <= args.scale <= 64:
            raise UserError(f"--scale takes 2..64 pixels per weight, got {args.scale}")
        if args.max_planes < 1:
            raise UserError(f"--max-planes must be 1 or more, got {args.max_planes}")
        check_writable(args.out, "--out")
        pyplot()  # a missing matplotlib is said before the model is read
        try:
            model = nn.load(args.model)
        except IsADirectoryError:
            raise UserError(f"{args.model} is a folder, not a model file") from None
        except FileNotFoundError:
            raise UserError(f"no such file: {args.model}") from None
        except nn.T7Error as e:
            raise UserError(f"{args.model}: {e}") from None
        if not isinstance(model, nn.Module):
            raise UserError(f"{args.model} holds {what_it_holds(model)}, not an nn module")
        panels = filter_panels(model, args.max_planes)
        size = save_panels(
            panels, args.out, scale=args.scale, title=f"filters of {Path(args.model).name}"
        )
    except (UserError, PlotUnavailableError, OSError) as e:
        return fail(PROG, e)
    print(f"saved {args.out} ({size[1]}x{size[0]} pixels)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
