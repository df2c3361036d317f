"""printshape: a net's summary, one row per module, within 80 columns.

  printshape alexnet                     the lecture's AlexNet on its own 3x227x227
  printshape vgg16 --weights-only        count weights without biases, as the lecture
  printshape googlenet --depth 1         one row per inception block, with its totals
  printshape examples/vgg.py --call 'build("A")' --input 3x224x224 --format json
  printshape model.t7 --input 3x32x32    a Torch7 model file from Lua Torch or nnlegacy

MODEL is one of the lecture's networks, which bring their own input size:
  lenet5 (1x32x32), alexnet (3x227x227), zfnet, vgg11, vgg13, vgg16, vgg19,
  vggA, vggA-LRN, vggB ... vggE, googlenet, resnet18, resnet34, resnet50,
  resnet101, resnet152 (3x224x224)
or a Python file with a build() function (and INPUT = (C, H, W) to make --input
optional), or a Torch7 model file (.t7, .net, .txt), which needs --input.

Each row shows the output shape, the parameters (shared storages counted once),
the multiply-adds per image and the kernel (KxK/stride, then pN padding, dN
dilation, c for :ceil() pooling, T for transposed); a container's row carries the
totals of the rows below it. Module names drop nn. and Spatial (Conv(3->96) is
nn.SpatialConvolution); --wide shows Lua's full print-outs. Footnotes mark where
floor sizing drops input rows or columns and where :ceil() changed a size. The
footer says what is counted and splits the memory per image into activations
(the forward pass), gradients (what backward adds) and workspace (im2col
columns, pooling indices). It runs one forward and backward pass on a clone of
the model, which is left as it was.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import re
import sys
from pathlib import Path

from . import UserError, examples_dir, fail, what_it_holds

PROG = "printshape"
VGG = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}
NAMED = ("lenet5", "alexnet", "zfnet", "googlenet")
DEFAULT_INPUT = {"lenet5": (1, 32, 32)}  # examples without an INPUT of their own
TYPES = {"float": "torch.FloatTensor", "double": "torch.DoubleTensor", "cuda": "torch.CudaTensor"}
SHAPE = re.compile(r"\d+(x\d+){2,3}")
MODEL_FILES = (".t7", ".net", ".txt")


def load_file(path):
    """A Python file as a module (its folder importable, as examples import common)."""
    path = Path(path)
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except Exception as e:
        raise UserError(f"{path} failed to load: {type(e).__name__}: {e}") from e
    return mod


def call_builder(mod, name, call):
    """``build()``, or the call ``--call`` gives, with literal arguments only."""
    text = call or "build()"
    m = re.fullmatch(r"\s*(\w+)\((.*)\)\s*", text)
    if not m:
        raise UserError(f"--call takes a call like 'build(\"D\")', got {call!r}")
    try:
        args = ast.literal_eval(f"({m.group(2)},)") if m.group(2).strip() else ()
    except (ValueError, SyntaxError) as e:
        raise UserError(f"--call arguments must be literals (numbers, strings): {call!r}") from e
    fn = getattr(mod, m.group(1), None)
    if not callable(fn):
        found = sorted(
            k
            for k, v in vars(mod).items()
            if callable(v) and k[:1] != "_" and getattr(v, "__module__", "") == mod.__name__
        )
        builders = [k for k in found if k.startswith("build")] or found[:6]
        hint = f"; it has {', '.join(f'{k}()' for k in builders)}" if builders else ""
        what = "use --call" if not call else "check --call"
        raise UserError(f"{name} has no function {m.group(1)}() ({what}{hint})")
    try:
        return fn(*args)
    except Exception as e:
        raise UserError(f"{name}: {text} failed: {type(e).__name__}: {e}") from e


def build_model(name, call):
    """(model, the example's own input shape or None) for MODEL as the help describes."""
    import nnlegacy as nn

    p = Path(name)
    if p.is_dir():
        raise UserError(f"{name} is a folder: give a model name, a .py file or a .t7 file")
    if p.suffix in MODEL_FILES or (p.exists() and p.suffix != ".py"):
        if not p.exists():
            raise UserError(f"no such file: {name}")
        try:
            model = nn.load(p)
        except nn.T7Error as e:
            raise UserError(f"{name}: {e}") from e
        except OSError as e:
            raise UserError(f"{name}: {e.strerror or e}") from e
        if not isinstance(model, nn.Module):
            raise UserError(f"{name} holds {what_it_holds(model)}, not an nn module")
        return model, None
    if p.suffix == ".py" or "/" in name:
        if not p.exists():
            raise UserError(f"no such file: {name}")
        mod = load_file(p)
        return call_builder(mod, name, call), _input_of(mod, p.stem)
    low = name.lower()
    if low in VGG or re.fullmatch(r"vgg(a|a-lrn|b|c|d|e)", low):
        mod = load_file(examples_dir() / "vgg.py")
        config = VGG.get(low) or name[3:].upper()
        return call_builder(mod, name, call or f"build({config!r})"), mod.INPUT
    m = re.fullmatch(r"resnet(\d+)", low)
    if m:
        mod = load_file(examples_dir() / "resnet.py")
        depth = int(m.group(1))
        if depth not in mod.DEPTHS:
            raise UserError(f"unknown ResNet depth {depth}; known: {sorted(mod.DEPTHS)}")
        return call_builder(mod, name, call or f"build({depth})"), mod.INPUT
    if low not in NAMED:
        raise UserError(
            f"unknown model {name!r}: give a lecture network (lenet5, alexnet, zfnet, vgg16, "
            "googlenet, resnet34, ...; see --help), a .py file with build() or a .t7 file"
        )
    mod = load_file(examples_dir() / f"{low}.py")
    return call_builder(mod, name, call), _input_of(mod, low)


def _input_of(mod, stem):
    shape = getattr(mod, "INPUT", None) or DEFAULT_INPUT.get(stem)
    return tuple(shape) if shape else None


def parse_input(text):
    shapes = []
    for part in text:
        if not SHAPE.fullmatch(part):
            raise UserError(f"--input takes CxHxW or NxCxHxW (e.g. 3x224x224), got {part!r}")
        shapes.append(tuple(int(d) for d in part.split("x")))
    return shapes[0] if len(shapes) == 1 else shapes


def parser():
    ap = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n", 1)[0],
        epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("model", nargs="?", help="a lecture network, a .py file or a .t7 file")
    ap.add_argument(
        "--input",
        nargs="+",
        metavar="CxHxW",
        help="input size, CxHxW or NxCxHxW (several for a table input); "
        "default: the lecture network's own",
    )
    ap.add_argument("--call", help="the call that builds the model, e.g. 'build(\"D\")'")
    ap.add_argument("--depth", type=int, help="rows down to this nesting depth only")
    ap.add_argument("--format", default="table", choices=["table", "json", "csv"])
    ap.add_argument(
        "--type",
        choices=sorted(TYPES),
        help="float (the default for built models), double or cuda; files keep their own",
    )
    ap.add_argument("--memory", action="store_true", help="a column of activations per row")
    ap.add_argument(
        "--weights-only",
        action="store_true",
        help="count weights without biases (as the lecture's VGG table does)",
    )
    ap.add_argument(
        "--wide", action="store_true", help="the long table: Lua's full print-outs and notes"
    )
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    # `--input 1x32x32 lenet5`: --input takes one or more sizes, so a model name after
    # it lands among them; give it back
    if args.model is None and args.input:
        names = [a for a in args.input if not SHAPE.fullmatch(a)]
        if len(names) == 1:
            args.model = names[0]
            args.input = [a for a in args.input if a != names[0]] or None
    if args.model is None:
        return fail(PROG, "give a MODEL: a lecture network (e.g. alexnet), a .py or a .t7 file")
    try:
        import nnlegacy as nn

        shape = parse_input(args.input) if args.input else None
        ttype = TYPES[args.type] if args.type else None
        nn.setdefaulttensortype(
            "torch.DoubleTensor" if args.type == "double" else "torch.FloatTensor"
        )
        model, own = build_model(args.model, args.call)
        if not isinstance(model, nn.Module):
            raise UserError(f"{args.model}: the build call returned a {type(model).__name__}")
        if shape is None:
            if own is None:
                raise UserError(f"{args.model} has no input size of its own: give --input CxHxW")
            shape = own
        s = nn.summary(model, shape, ttype)
    except (UserError, nn.backend.CudaUnavailableError) as e:
        return fail(PROG, e)
    except (ValueError, TypeError, RuntimeError, IndexError, ImportError) as e:
        given = "x".join(map(str, shape)) if isinstance(shape, tuple) else shape
        return fail(PROG, f"{args.model} cannot take input {given}: {str(e)[:400]}")
    if args.format == "json":
        text = s.to_json()
    elif args.format == "csv":
        text = s.to_csv().rstrip("\n")
    else:
        text = s.table(args.depth, args.memory, args.weights_only, args.wide)
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
