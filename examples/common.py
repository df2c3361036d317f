"""What every lecture example's ``__main__`` does: print the net, run one forward and
backward pass on a synthetic batch, and report the output shape, parameters and time."""

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


def count_parameters(net):
    """Parameters, tied ones (the same array, or the same view of one storage) counted once."""
    params = net.parameters() or ([], [])
    seen, total = set(), 0
    for p in params[0]:
        key = backend.view_key(p)
        if key not in seen:
            seen.add(key)
            total += p.size
    return total


def run(build, input_shape, description, argv=None, default_batch=2, build_args=None):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--batch", type=int, default=default_batch)
    ap.add_argument("--type", default="float", choices=["float", "double"])
    ap.add_argument("--cpu", action="store_true", help="stay on the CPU even with a GPU")
    if build_args:
        build_args(ap)
    args = ap.parse_args(argv)
    if args.batch < 1:
        ap.exit(2, f"{ap.prog}: --batch must be 1 or more, got {args.batch}\n")
    cuda = not args.cpu and nn.has_cuda()
    ttype = {
        (False, "float"): "torch.FloatTensor",
        (False, "double"): "torch.DoubleTensor",
        (True, "float"): "torch.CudaTensor",
        (True, "double"): "torch.CudaDoubleTensor",
    }[(cuda, args.type)]
    net = build(args).type(ttype) if build_args else build().type(ttype)
    print(net)
    xp, dtype = backend.xp_dtype(ttype)
    rng = np.random.default_rng(0)
    x = xp.asarray(rng.standard_normal((args.batch, *input_shape)), dtype=dtype)
    t0 = time.perf_counter()
    out = net.forward(x)
    t1 = time.perf_counter()
    net.zeroGradParameters()
    net.backward(x, xp.ones(out.shape, dtype))
    if cuda:
        xp.cuda.Device().synchronize()
    t2 = time.perf_counter()
    shape = "x".join(str(d) for d in out.shape)
    print(f"input {args.batch}x" + "x".join(map(str, input_shape)) + f" -> output {shape}")
    print(f"{count_parameters(net):,} parameters ({ttype})")
    print(f"forward {1e3 * (t1 - t0):.1f} ms, backward {1e3 * (t2 - t1):.1f} ms")
    return net, out
