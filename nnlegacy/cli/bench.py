"""bench: time nnlegacy against PyTorch on the same machine, in the same run.

  bench                                  # LeNet-5 train step, float32, batch 128, CPU
  bench --net alexnet --batch 8 --steps 20
  bench --net resnet34 --batch 64 --device gpu --json
  bench --suite --repeat 3               # the issue-18 table, as Markdown

For each framework: the median time of a forward pass and of a train step (forward,
backward, optim.sgd update), images/s, and on the GPU the peak device memory, with the
ratios nnlegacy / PyTorch. On the CPU the peak memory of a train step is the high-water mark
of the process's resident set during the timed steps, less its resident set after the
imports and before the net was built: parameters, gradients (PyTorch allocates its own
lazily, at the first backward), optimizer state, activations and work buffers on both
sides. The PyTorch net is the nnlegacy net translated module by
module, weights included (nnlegacy.export.to_torch), so both time the same network. Each
framework runs in its own fresh process, alternating (--repeat), and the medians of the
per-process medians are reported. On the GPU the timings are CUDA events after warm-up,
with TF32 off on both sides unless --tf32. PyTorch is only the yardstick: without it
there is no ratio.
"""

import argparse
import ctypes
import gc
import importlib.util
import json
import multiprocessing
import os
import platform
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
    "resnet18": ("resnet", (18,), (3, 224, 224)),
    "resnet34": ("resnet", (34,), (3, 224, 224)),
    "dilated": (None, (), (3, 128, 128)),  # see dilated() below
}

# --suite: (net, batch, target ratio of the train step nnlegacy / PyTorch, or None)
SUITE = [
    ("lenet5", 128, 1.3),
    ("lenet5", 512, None),  # per image no slower than at batch 128
    ("alexnet", 8, 1.4),
    ("vgg16", 2, 1.4),
    ("googlenet", 4, 1.4),
    ("resnet18", 8, 1.6),
    ("dilated", 8, None),
]
MEMORY_TARGET = 1.5  # CPU peak memory of a train step, nnlegacy / PyTorch


def dilated(width=64, classes=10):
    """A dilated-convolution context net, ENet/DeepLab style, for ``3 x 128 x 128`` input:
    a stride-2 stem, then 3x3 SpatialDilatedConvolutions at rates 1, 2 and 4 (padding =
    rate, so the 64 x 64 maps keep their size), each with BN and ReLU, a 1x1 classifier
    and a global average."""
    net = nn.Sequential()
    net.add(nn.SpatialConvolution(3, width, 3, 3, 2, 2, 1, 1).noBias())
    net.add(nn.SpatialBatchNormalization(width))
    net.add(nn.ReLU(True))
    for rate in (1, 2, 4):
        net.add(
            nn.SpatialDilatedConvolution(width, width, 3, 3, 1, 1, rate, rate, rate, rate).noBias()
        )
        net.add(nn.SpatialBatchNormalization(width))
        net.add(nn.ReLU(True))
    net.add(nn.SpatialConvolution(width, classes, 1, 1))
    net.add(nn.SpatialAveragePooling(64, 64))
    net.add(nn.View(classes).setNumInputDims(3))
    net.add(nn.LogSoftMax())
    return net


def build(name, seed=1):
    file, args, _ = NETS[name]
    if file is None:
        nn.manualSeed(seed)
        return dilated(*args)
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


def _trim():
    """Collect garbage and hand freed heap memory back to the OS (glibc), so that the
    resident set measures live memory."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _rss():
    """Resident set size of this process in bytes (Linux), or None."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


def _reset_peak():
    """Start a new resident-set high-water mark (Linux >= 4.0: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak():
    """The resident-set high-water mark in bytes since _reset_peak (VmHWM), or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def cpu_step_memory(step, base, steps=3):
    """Peak resident bytes above ``base`` over a few train steps (CPU), or None."""
    if base is None:
        return None
    _trim()
    if not _reset_peak():
        return None
    for _ in range(steps):
        step()
    peak = _peak()
    return None if peak is None else max(peak - base, 0)


def median_time(fn, steps, time_it, warmup=3):
    for _ in range(warmup):
        fn()
    return statistics.median(time_it(fn) for _ in range(steps))


def nnlegacy_worker(args):
    gpu = args.device == "gpu"
    if args.threads:
        nn.threads.set_num_threads(args.threads)
    ttype = {"float": "torch.FloatTensor", "double": "torch.DoubleTensor"}[args.type]
    if gpu:
        ttype = "torch.CudaTensor" if args.type == "float" else "torch.CudaDoubleTensor"
    _trim()
    base = _rss()
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
        net.zeroGradParameters()
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
    f = median_time(fwd, args.steps, time_it)
    s = median_time(step, args.steps, time_it)
    return f, s, cpu_step_memory(step, base)


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
    _trim()
    base = _rss()
    nnet = build(args.net).double()
    net = translate(nnet).to(device=device, dtype=dtype).train()
    log_softmax = isinstance(nnet.modules[-1], nn.LogSoftMax)
    del nnet  # the float64 nnlegacy net the translation was made from
    _trim()
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((args.batch, *NETS[args.net][2]))).to(device, dtype)
    y = torch.from_numpy(rng.integers(1, 11, args.batch) - 1).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, dampening=0.9)
    crit = tn_nll() if log_softmax else torch.nn.CrossEntropyLoss()

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
    f = median_time(fwd, args.steps, time_it)
    s = median_time(step, args.steps, time_it)
    return f, s, cpu_step_memory(step, base), torch.__version__


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


def measure(args):
    """One record (a dict) for ``args.net`` at ``args.batch``: each framework in its own fresh
    process, alternating, ``args.repeat`` times."""
    ctx = multiprocessing.get_context("spawn")
    runs = {"nnlegacy": []} if args.no_torch else {"nnlegacy": [], "torch": []}
    for _ in range(args.repeat):  # alternate the frameworks, a fresh process each time
        for kind in runs:
            with ctx.Pool(1, maxtasksperchild=1) as pool:
                runs[kind].append(pool.apply(worker, (kind, args)))
    ours = _median_of(runs["nnlegacy"])
    theirs = _median_of(runs["torch"]) if runs.get("torch", [None])[0] is not None else None
    rec = {
        "net": args.net, "batch": args.batch, "type": args.type, "device": args.device,
        "tf32": args.tf32, "steps": args.steps, "repeat": args.repeat, "cpus": os.cpu_count(),
        "nnlegacy_forward_ms": ours[0] * 1e3, "nnlegacy_train_step_ms": ours[1] * 1e3,
        "nnlegacy_images_per_s": args.batch / ours[1], "nnlegacy_peak_bytes": ours[2],
        "nnlegacy_train_step_ms_all": [r[1] * 1e3 for r in runs["nnlegacy"]],
    }  # fmt: skip
    if theirs:
        rec.update({
            "torch_version": theirs[3],
            "torch_forward_ms": theirs[0] * 1e3, "torch_train_step_ms": theirs[1] * 1e3,
            "torch_images_per_s": args.batch / theirs[1], "torch_peak_bytes": theirs[2],
            "torch_train_step_ms_all": [r[1] * 1e3 for r in runs["torch"]],
            "ratio_forward": ours[0] / theirs[0], "ratio_train_step": ours[1] / theirs[1],
        })  # fmt: skip
        if ours[2] and theirs[2]:
            rec["ratio_peak_memory"] = ours[2] / theirs[2]
    return rec


def _mib(b):
    return f"{b / 2**20:.0f}" if b else "-"


def print_record(rec, args):
    where = "GPU" if args.device == "gpu" else "CPU"
    print(f"{args.net}, batch {args.batch}, {args.type}, {args.device} ({os.cpu_count()} cores), "
          f"median of {args.repeat} processes x {args.steps} steps each")  # fmt: skip
    if where == "CPU":
        print(f"NumPy's BLAS: {_blas()}")
    print(f"{'':12}{'forward ms':>12}{'train step ms':>15}{'images/s':>10}{'peak MiB':>10}")
    ours_mem = _mib(rec["nnlegacy_peak_bytes"])
    print(f"{'nnlegacy':12}{rec['nnlegacy_forward_ms']:12.2f}{rec['nnlegacy_train_step_ms']:15.2f}"
          f"{rec['nnlegacy_images_per_s']:10.0f}{ours_mem:>10}")  # fmt: skip
    if "torch_version" not in rec:
        if not args.no_torch:
            print("PyTorch is not installed: no ratio (pip install torch to compare)")
        return
    print(f"{'PyTorch':12}{rec['torch_forward_ms']:12.2f}{rec['torch_train_step_ms']:15.2f}"
          f"{rec['torch_images_per_s']:10.0f}{_mib(rec['torch_peak_bytes']):>10}"
          f"   (torch {rec['torch_version']})")  # fmt: skip
    mem = f"{rec['ratio_peak_memory']:10.2f}" if "ratio_peak_memory" in rec else f"{'-':>10}"
    print(f"{'ratio':12}{rec['ratio_forward']:12.2f}{rec['ratio_train_step']:15.2f}{'':10}{mem}"
          "   (nnlegacy / PyTorch; <= 1.0 is as fast or faster)")  # fmt: skip
    print(f"peak {where} memory of a train step above the process before the net was built")


def _load():
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "?"


def _machine():
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores, {platform.system()}"


def _blas():
    """NumPy's BLAS and the kernels it runs: OpenBLAS picks them for the CPU when it loads,
    unless ``OPENBLAS_CORETYPE`` pins them (some machines pin older kernels for old builds;
    the Haswell kernels run at half the speed of the SkylakeX ones on an AVX-512 CPU)."""
    libs = nn.threads._blas_controllers() or []
    parts = [
        f"{lib.internal_api} {lib.version}"
        + (f", {lib.architecture} kernels" if getattr(lib, "architecture", None) else "")
        for lib in libs
    ]
    pinned = os.environ.get("OPENBLAS_CORETYPE")
    if pinned:
        parts.append(f"pinned by OPENBLAS_CORETYPE={pinned}")
    return "; ".join(parts) or "unknown (threadpoolctl found none)"


def _ok(value, target):
    return "" if target is None or value is None else (" ✓" if value <= target else " ✗")


def suite(args):
    """Run the SUITE table and print it as Markdown (machine, load average, medians)."""
    import numpy

    load_before, t0, recs = _load(), time.time(), []
    for net, batch, target in SUITE:
        if args.nets and net not in args.nets:
            continue
        a = argparse.Namespace(**{**vars(args), "net": net, "batch": batch})
        print(f"bench --suite: {net} batch {batch} ...", file=sys.stderr, flush=True)
        rec = measure(a)
        rec["target"] = target
        recs.append(rec)
    torch_version = next((r["torch_version"] for r in recs if "torch_version" in r), None)
    print(f"Train step ({args.type}, CPU), nnlegacy / PyTorch {torch_version or '(absent)'} in "
          f"the same run: medians of {args.repeat} fresh processes per framework, alternating, "
          f"x {args.steps} steps each.\n")  # fmt: skip
    print(f"- machine: {_machine()}; NumPy {numpy.__version__}; BLAS: {_blas()}")
    print(f"- load average (1, 5, 15 min): {load_before} before, {_load()} after "
          f"({(time.time() - t0) / 60:.1f} min)")  # fmt: skip
    print("- peak memory: the resident-set high-water mark of a train step above the process "
          f"before the net was built; target ratio <= {MEMORY_TARGET}\n")  # fmt: skip
    print("| net | batch | nnlegacy ms | PyTorch ms | ratio | target | ms/image "
          "| nnlegacy MiB | PyTorch MiB | memory ratio |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    per_image = {}
    for r in recs:
        ratio = r.get("ratio_train_step")
        mem = r.get("ratio_peak_memory")
        ms_img = r["nnlegacy_train_step_ms"] / r["batch"]
        per_image[(r["net"], r["batch"])] = ms_img
        target = r["target"]
        note = ""
        if target is None and r["net"] == "lenet5" and (r["net"], 128) in per_image:
            target_img = per_image[(r["net"], 128)]
            note = f" (b128: {target_img:.3f}){_ok(ms_img, target_img)}"
        print(f"| {r['net']} | {r['batch']} | {r['nnlegacy_train_step_ms']:.1f} | "
              + (f"{r['torch_train_step_ms']:.1f} | {ratio:.2f}{_ok(ratio, target)} | "
                 if ratio else "- | - | ")
              + (f"≤ {target}" if target else "-")
              + f" | {ms_img:.3f}{note} | {_mib(r['nnlegacy_peak_bytes'])} | "
              f"{_mib(r.get('torch_peak_bytes'))} | "
              + (f"{mem:.2f}{_ok(mem, MEMORY_TARGET)} |" if mem else "- |"))  # fmt: skip
    if args.json:
        print(json.dumps(recs))
    return 0


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
        "--threads",
        type=int,
        default=0,
        help="CPU threads on each side: torch.set_num_threads and "
        "nnlegacy.threads.set_num_threads (default: all cores)",
    )
    ap.add_argument("--json", action="store_true", help="print one JSON record")
    ap.add_argument("--no-torch", action="store_true", help="time nnlegacy alone (no ratio)")
    ap.add_argument(
        "--suite", action="store_true",
        help="run the CPU table of issue 18 (LeNet-5 b128 and b512, AlexNet b8, VGG-16 b2, "
        "GoogLeNet b4, ResNet-18 b8, the dilated net b8) and print it as Markdown",
    )  # fmt: skip
    ap.add_argument("--nets", nargs="*", help="with --suite: only these nets")
    args = ap.parse_args(argv)
    if args.device == "gpu" and not nn.has_cuda():
        return fail("bench", "--device gpu needs CuPy and an NVIDIA GPU; none is usable here")
    try:
        examples_dir()
    except UserError as e:
        return fail("bench", e)
    if args.suite:
        if args.device != "cpu":
            print("bench: --suite is the CPU table", file=sys.stderr)
            return 2
        return suite(args)
    rec = measure(args)
    if args.json:
        print(json.dumps(rec))
        return 0
    print_record(rec, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
