"""bench: time nnlegacy against PyTorch on the same machine, in the same run.

  bench                                  # LeNet-5 train step, float32, batch 128, CPU
  bench --net alexnet --batch 8 --steps 20
  bench --net resnet34 --batch 64 --device gpu --json

For each framework: the median time of a forward pass and of a train step (forward,
backward, optim.sgd update), images/s, and on the GPU the peak device memory, with the
ratios nnlegacy / PyTorch. The PyTorch net is the nnlegacy net translated module by
module, weights included (nnlegacy.export.to_torch), so both time the same network. Each
framework runs in its own fresh process, alternating (--repeat), and the medians of the
per-process medians are reported. On the GPU the timings are CUDA events after warm-up,
with TF32 off on both sides unless --tf32. PyTorch is only the yardstick: without it
there is no ratio.
"""

import argparse
import importlib.util
import json
import multiprocessing
import os
import statistics
import sys
import time

import numpy as np

import nnlegacy as nn

from . import UserError, examples_dir, fail

NETS = {  # name: (example file, build arguments, input C x H x W)
    "lenet5": ("lenet5", (), (1, 32, 32)),
    "alexnet": ("alexnet", (), (3, 227, 227)),
    "zfnet": ("zfnet", (), (3, 224, 224)),
    "vgg16": ("vgg", ("D",), (3, 224, 224)),
    "googlenet": ("googlenet", (), (3, 224, 224)),
    "resnet34": ("resnet", (34,), (3, 224, 224)),
}


def build(name, seed=1):
    file, args, _ = NETS[name]
    folder = examples_dir()
    spec = importlib.util.spec_from_file_location(file, folder / f"{file}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(folder))
    spec.loader.exec_module(mod)
    nn.manualSeed(seed)
    return mod.build(*args)


def _timer(device):
    """A function timing fn() in seconds: CUDA events on the GPU, else perf_counter."""
    if device == "cpu":

        def time_it(fn):
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0

        return time_it
    return None


def median_time(fn, steps, time_it, warmup=3):
    for _ in range(warmup):
        fn()
    return statistics.median(time_it(fn) for _ in range(steps))


def nnlegacy_worker(args):
    gpu = args.device == "gpu"
    ttype = {"float": "torch.FloatTensor", "double": "torch.DoubleTensor"}[args.type]
    if gpu:
        ttype = "torch.CudaTensor" if args.type == "float" else "torch.CudaDoubleTensor"
    net = build(args.net).type(ttype)
    net.get(1).gradInput = None  # as PyTorch, which computes no gradient for the images
    last = net.modules[-1]
    crit = nn.ClassNLLCriterion() if isinstance(last, nn.LogSoftMax) else nn.CrossEntropyCriterion()
    crit.type(ttype)
    params, grads = net.getParameters()
    config = {"learningRate": 0.01, "momentum": 0.9}
    xp, dtype = nn.backend.xp_dtype(ttype)
    rng = np.random.default_rng(0)
    x = xp.asarray(rng.standard_normal((args.batch, *NETS[args.net][2])), dtype=dtype)
    y = rng.integers(1, 11, args.batch)

    def feval(_):
        grads.fill(0)
        out = net.forward(x)
        loss = crit.forward(out, y)
        net.backward(x, crit.backward(out, y))
        return loss, grads

    def step():
        nn.optim.sgd(feval, params, config)

    def fwd():
        net.forward(x)

    if gpu:
        cp = nn.backend.cupy_module()

        def time_it(fn):
            start, stop = cp.cuda.Event(), cp.cuda.Event()
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            return cp.cuda.get_elapsed_time(start, stop) / 1e3

        pool = cp.get_default_memory_pool()
        f = median_time(fwd, args.steps, time_it)
        s = median_time(step, args.steps, time_it)
        return f, s, pool.total_bytes()
    time_it = _timer("cpu")
    return median_time(fwd, args.steps, time_it), median_time(step, args.steps, time_it), None


def torch_worker(args):
    try:
        import torch
    except ImportError:  # PyTorch is only the yardstick; without it there is no ratio
        return None
    from nnlegacy.export import to_torch as translate

    gpu = args.device == "gpu"
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
        torch.backends.cudnn.benchmark = True
    else:
        torch.set_num_threads(args.threads or os.cpu_count())
    dtype = torch.float32 if args.type == "float" else torch.float64
    device = "cuda" if gpu else "cpu"
    nnet = build(args.net).double()
    net = translate(nnet).to(device=device, dtype=dtype).train()
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((args.batch, *NETS[args.net][2]))).to(device, dtype)
    y = torch.from_numpy(rng.integers(1, 11, args.batch) - 1).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, dampening=0.9)
    last = nnet.modules[-1]
    crit = tn_nll() if isinstance(last, nn.LogSoftMax) else torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        crit(net(x), y).backward()
        opt.step()

    def fwd():
        with torch.no_grad():
            net(x)

    if gpu:

        def time_it(fn):
            start = torch.cuda.Event(enable_timing=True)
            stop = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            return start.elapsed_time(stop) / 1e3

        torch.cuda.reset_peak_memory_stats()
        f = median_time(fwd, args.steps, time_it)
        s = median_time(step, args.steps, time_it)
        return f, s, torch.cuda.max_memory_reserved(), torch.__version__
    time_it = _timer("cpu")
    return (
        median_time(fwd, args.steps, time_it),
        median_time(step, args.steps, time_it),
        None,
        torch.__version__,
    )


def tn_nll():
    import torch

    return torch.nn.NLLLoss()


def worker(kind, args):
    return nnlegacy_worker(args) if kind == "nnlegacy" else torch_worker(args)


def _median_of(results):
    """Median over repeats of each timing (forward, step); the largest memory."""
    fwd = statistics.median(r[0] for r in results)
    step = statistics.median(r[1] for r in results)
    mem = max((r[2] or 0) for r in results) or None
    return (fwd, step, mem, *results[0][3:])


def _positive(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {v}")
    return v


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="bench",
        description=__doc__.split("\n", 1)[0],
        epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--net", default="lenet5", choices=sorted(NETS))
    ap.add_argument("--batch", type=_positive, default=128)
    ap.add_argument("--steps", type=_positive, default=30, help="timed steps per process (median)")
    ap.add_argument(
        "--repeat", type=_positive, default=3, help="processes per framework, alternating"
    )
    ap.add_argument("--type", default="float", choices=["float", "double"])
    ap.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    ap.add_argument("--tf32", action="store_true", help="allow TF32 on both sides (GPU)")
    ap.add_argument(
        "--threads", type=int, default=0, help="PyTorch CPU threads (default: all cores)"
    )
    ap.add_argument("--json", action="store_true", help="print one JSON record")
    args = ap.parse_args(argv)
    if args.device == "gpu" and not nn.has_cuda():
        return fail("bench", "--device gpu needs CuPy and an NVIDIA GPU; none is usable here")
    try:
        examples_dir()
    except UserError as e:
        return fail("bench", e)

    ctx = multiprocessing.get_context("spawn")
    runs = {"nnlegacy": [], "torch": []}
    for _ in range(args.repeat):  # alternate the frameworks, a fresh process each time
        for kind in runs:
            with ctx.Pool(1, maxtasksperchild=1) as pool:
                runs[kind].append(pool.apply(worker, (kind, args)))
    ours = _median_of(runs["nnlegacy"])
    theirs = _median_of(runs["torch"]) if runs["torch"][0] is not None else None

    rec = {
        "net": args.net, "batch": args.batch, "type": args.type, "device": args.device,
        "tf32": args.tf32, "steps": args.steps, "repeat": args.repeat, "cpus": os.cpu_count(),
        "nnlegacy_forward_ms": ours[0] * 1e3, "nnlegacy_train_step_ms": ours[1] * 1e3,
        "nnlegacy_images_per_s": args.batch / ours[1], "nnlegacy_peak_bytes": ours[2],
    }  # fmt: skip
    if theirs:
        rec.update({
            "torch_version": theirs[3],
            "torch_forward_ms": theirs[0] * 1e3, "torch_train_step_ms": theirs[1] * 1e3,
            "torch_images_per_s": args.batch / theirs[1], "torch_peak_bytes": theirs[2],
            "ratio_forward": ours[0] / theirs[0], "ratio_train_step": ours[1] / theirs[1],
        })  # fmt: skip
        if ours[2] and theirs[2]:
            rec["ratio_peak_memory"] = ours[2] / theirs[2]
    if args.json:
        print(json.dumps(rec))
        return 0
    print(f"{args.net}, batch {args.batch}, {args.type}, {args.device} ({os.cpu_count()} cores), "
          f"median of {args.repeat} processes x {args.steps} steps each")  # fmt: skip
    print(f"{'':12}{'forward ms':>12}{'train step ms':>15}{'images/s':>10}")
    print(f"{'nnlegacy':12}{rec['nnlegacy_forward_ms']:12.2f}{rec['nnlegacy_train_step_ms']:15.2f}"
          f"{rec['nnlegacy_images_per_s']:10.0f}")  # fmt: skip
    if theirs:
        print(f"{'PyTorch':12}{rec['torch_forward_ms']:12.2f}{rec['torch_train_step_ms']:15.2f}"
              f"{rec['torch_images_per_s']:10.0f}   (torch {theirs[3]})")  # fmt: skip
        print(f"{'ratio':12}{rec['ratio_forward']:12.2f}{rec['ratio_train_step']:15.2f}"
              "             (nnlegacy / PyTorch; <= 1.0 is as fast or faster)")  # fmt: skip
        if "ratio_peak_memory" in rec:
            print(f"peak GPU memory: nnlegacy {ours[2] / 2**20:.0f} MiB, PyTorch "
                  f"{theirs[2] / 2**20:.0f} MiB, ratio {rec['ratio_peak_memory']:.2f}")  # fmt: skip
    else:
        print("PyTorch is not installed: no ratio (pip install torch to compare)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
