"""t7convert: a Lua Torch ``.t7`` model to PyTorch (``.pt``) or ONNX (``.onnx``).

    t7convert model.t7 out.pt   [--input CxHxW] [--batch N]
    t7convert model.t7 out.onnx [--input CxHxW] [--batch N]

Loads the model, converts it, runs one random batch through both nnlegacy and the
converted model and prints the largest difference. ``.pt`` is the whole
``torch.nn.Module`` saved with ``torch.save`` (load it with
``torch.load(path, weights_only=False)``, with nnlegacy installed); ``.onnx`` is a
graph whose first dimension is the batch. Without ``--input`` the size is guessed
from the first layer when it can be. Errors are one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import nnlegacy as nn

from ._common import ExportError


class CliError(Exception):
    pass


def _parse_input(text):
    try:
        dims = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        raise CliError(f"--input {text!r}: expected sizes such as 3x224x224") from None
    if not dims or any(d < 1 for d in dims):
        raise CliError(f"--input {text!r}: sizes must be positive")
    return dims


def _guess_input(net):
    """C x H x W (or F) from the first layer that fixes it, else None."""
    first = net
    while isinstance(first, nn.Container) and first.modules:
        first = first.modules[0]
    if isinstance(first, nn.Linear):
        return (first.weight.shape[1],)
    return None  # a convolution fixes C but not H x W


def _max_diff(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape and a.size == b.size:
        a = a.reshape(b.shape)
    if a.shape != b.shape:
        raise CliError(f"outputs differ in shape: nnlegacy {a.shape}, converted {b.shape}")
    return float(np.abs(a - b).max(initial=0.0))


def convert(model, out, input_dims=None, batch=2, seed=0):
    """Does the work of the command; returns the lines it prints."""
    out = Path(out)
    kind = out.suffix.lower()
    if kind not in (".pt", ".pth", ".onnx"):
        raise CliError(f"{out}: the output must end in .pt, .pth or .onnx")
    try:
        net = nn.load(model)
    except FileNotFoundError:
        raise CliError(f"{model}: no such file") from None
    except Exception as e:
        raise CliError(f"{model}: cannot be read as a Torch7 file: {e}") from None
    if not isinstance(net, nn.Module):
        raise CliError(f"{model}: holds a {type(net).__name__}, not an nn module")
    net = net.type("torch.DoubleTensor").evaluate()
    dims = input_dims or _guess_input(net)
    if dims is None:
        first = net.modules[0] if isinstance(net, nn.Container) and net.modules else net
        hint = f" (C = {first.nInputPlane})" if hasattr(first, "nInputPlane") else ""
        raise CliError(
            f"the input size cannot be guessed from this model: give --input CxHxW{hint}"
        )
    x = np.random.default_rng(seed).standard_normal((batch, *dims))
    try:
        ref = net.forward(x)
    except Exception as e:
        raise CliError(
            f"the model does not take a {'x'.join(map(str, x.shape))} input: {e}"
        ) from None
    lines = [f"{model}: {nn.torch_type(net)}, input {'x'.join(map(str, x.shape))}"]
    try:
        if kind == ".onnx":
            diff = _to_onnx(net, x, ref, out)
        else:
            diff = _to_torch(net, x, ref, out)
    except (ExportError, ImportError) as e:
        raise CliError(str(e)) from None
    lines.append(f"wrote {out}; largest difference from nnlegacy on a random batch: {diff:.3g}")
    return lines


def _to_torch(net, x, ref, out):
    import torch

    from . import to_torch

    tm = to_torch(net).double().eval()
    with torch.no_grad():
        got = tm(torch.from_numpy(x)).numpy()
    torch.save(tm, out)
    return _max_diff(ref, got)


def _to_onnx(net, x, ref, out):
    from . import to_onnx

    try:
        import onnxruntime as ort
    except ModuleNotFoundError:
        raise ImportError(
            "checking the graph needs onnxruntime: pip install 'nnlegacy[onnx]'"
        ) from None
    model = to_onnx(net, list(x.shape), out, sample=x)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]
    return _max_diff(ref, got)


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="t7convert",
        description="Convert a Lua Torch .t7 model to PyTorch (.pt) or ONNX (.onnx) and check it "
        "on one random batch.",
    )
    p.add_argument("model", help="the .t7 / .net file written by Lua Torch7's torch.save")
    p.add_argument("out", help="out.pt (a torch.nn.Module) or out.onnx (an ONNX graph)")
    p.add_argument("--input", help="the size of one input, e.g. 3x224x224 (guessed if possible)")
    p.add_argument("--batch", type=int, default=2, help="batch size of the check (default 2)")
    args = p.parse_args(argv)
    try:
        dims = _parse_input(args.input) if args.input else None
        if args.batch < 1:
            raise CliError("--batch must be positive")
        for line in convert(args.model, args.out, dims, args.batch):
            print(line)
    except CliError as e:
        print(f"t7convert: {e}".replace("\n", " "), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
