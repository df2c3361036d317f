#!/usr/bin/env python3
"""LeNet-5 on MNIST, written as a classic Lua Torch training script.

    python examples/lenet5.py                  # train on MNIST, test accuracy per epoch
    python examples/lenet5.py --epochs 2 --optimizer adam   # adam's own default rate, 1e-3
    python examples/lenet5.py --data /usr/share/datasets/fashion-mnist
    python examples/lenet5.py --quick          # a few hundred images (used by the tests)
    python examples/lenet5.py --plot curves.png  # loss and accuracy per epoch (nnlegacy[plot])

The net is the lecture's Conv -> Pool -> Conv -> Pool -> Conv -> FC, with C5 as a
5x5 convolution: 1x32x32 -> 6x28x28 -> 6x14x14 -> 16x10x10 -> 16x5x5 -> 120 -> 84 -> 10.
MNIST's 28x28 digits are zero-padded to 32x32, as in LeCun et al. 1998.

As torch/demos' train-on-mnist.lua does, each epoch prints an optim.ConfusionMatrix
of the training and the test set, and optim.Logger writes logs/train.log and
logs/test.log (with PNG plots when --plot is given). With --optimizer X the learning
rate is Lua's default for X unless --learningRate is given (sgd keeps this script's
0.05 with momentum, weight decay and decay, as the classic script sets them).
"""

import argparse
import gzip
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import nnlegacy as nn  # noqa: E402
from nnlegacy import optim  # noqa: E402

CLASSES = [str(d) for d in range(10)]  # digits 0..9 are Lua's classes 1..10

# The learning rate of each optimizer when --learningRate is not given: Lua's optim
# default, except where this script sets its own, as train-on-mnist.lua does for sgd
# (0.05, with momentum, weight decay and a decay). Lua's adagrad (1e-3) and rmsprop
# (1e-2) defaults stop short of 98 % in 8 epochs (measured 95.56 % and 97.77 %), so the
# script uses 1e-2 and 1e-3 for them (99.14 % and 99.22 %); --learningRate overrides.
LUA_DEFAULT_LEARNING_RATES = {
    "sgd": 1e-3,
    "nag": 1e-3,
    "adagrad": 1e-3,
    "adadelta": None,  # adadelta has no learning rate
    "rmsprop": 1e-2,
    "adam": 1e-3,
    "adamax": 2e-3,
}
DEFAULT_LEARNING_RATES = {
    **LUA_DEFAULT_LEARNING_RATES,
    "sgd": 0.05,
    "adagrad": 1e-2,
    "rmsprop": 1e-3,
}


def build():
    net = nn.Sequential()
    net.add(nn.SpatialConvolution(1, 6, 5, 5))  # C1: 1x32x32 -> 6x28x28
    net.add(nn.ReLU())
    net.add(nn.SpatialMaxPooling(2, 2, 2, 2))  # S2: -> 6x14x14
    net.add(nn.SpatialConvolution(6, 16, 5, 5))  # C3: -> 16x10x10
    net.add(nn.ReLU())
    net.add(nn.SpatialMaxPooling(2, 2, 2, 2))  # S4: -> 16x5x5
    net.add(nn.SpatialConvolution(16, 120, 5, 5))  # C5: -> 120x1x1
    net.add(nn.ReLU())
    net.add(nn.View(120))
    net.add(nn.Linear(120, 84))  # F6
    net.add(nn.ReLU())
    net.add(nn.Linear(84, 10))  # output: log-probabilities of the 10 digits
    net.add(nn.LogSoftMax())
    return net


# --- data: MNIST-format IDX files -----------------------------------------------------
def read_idx(path, count=None):
    """An IDX file (optionally .gz) as a uint8 array: big-endian header, then the bytes.
    With ``count``, only the first ``count`` records are read (the rest of the file is
    not decompressed)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        head = f.read(4)
        if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] != 0x08:
            raise ValueError(f"{path}: not an IDX file of unsigned bytes")
        raw = f.read(4 * head[3])
        dims = [int.from_bytes(raw[4 * i : 4 + 4 * i], "big") for i in range(head[3])]
        if count is not None and dims:
            dims[0] = min(dims[0], count)
        want = int(np.prod(dims))
        body = np.frombuffer(f.read(want), np.uint8)
    if body.size != want:
        raise ValueError(f"{path}: expected {want} bytes of data, found {body.size}")
    return body.reshape(dims)


def find_file(folder, stem):
    for name in (
        stem + ".gz",
        stem,
        stem.replace("-idx", ".idx") + ".gz",
        stem.replace("-idx", ".idx"),
    ):
        p = Path(folder) / name
        if p.exists():
            return p
    raise FileNotFoundError(f"no {stem}[.gz] in {folder}")


def load_mnist(folder, n_train=None, n_test=None):
    """(train images, labels 1..10, test images, labels 1..10); images N x 1 x 32 x 32.
    ``n_train``, ``n_test``: read only the first so many images of each set."""
    sets = []
    for split, count in (("train", n_train), ("t10k", n_test)):
        images = read_idx(find_file(folder, f"{split}-images-idx3-ubyte"), count)
        labels = read_idx(find_file(folder, f"{split}-labels-idx1-ubyte"), count)
        padded = np.zeros((images.shape[0], 1, 32, 32), np.float32)
        padded[:, 0, 2:30, 2:30] = images / np.float32(255)
        sets += [padded, labels.astype(np.int64) + 1]  # Lua classes are 1-based
    mean, std = sets[0].mean(), sets[0].std()
    sets[0] = (sets[0] - mean) / std
    sets[2] = (sets[2] - mean) / std
    return sets


# --- training -------------------------------------------------------------------------
def parse_args(argv):
    ap = argparse.ArgumentParser(description="Train LeNet-5 on MNIST the Lua Torch way.")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batchSize", "--batch", type=int, default=64, dest="batchSize")
    ap.add_argument(
        "--learningRate",
        "--lr",
        type=float,
        default=None,
        dest="learningRate",
        help="default: 0.05 for sgd, else Lua's default for the optimizer",
    )
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--learningRateDecay", type=float, default=1e-3)
    ap.add_argument("--weightDecay", type=float, default=5e-4)
    ap.add_argument(
        "--optimizer",
        default="sgd",
        choices=["sgd", "nag", "adagrad", "adadelta", "rmsprop", "adam", "adamax"],
    )
    ap.add_argument("--type", default="float", choices=["float", "double"], help="tensor type")
    dev = ap.add_mutually_exclusive_group()
    dev.add_argument(
        "--cuda", action="store_true", help="run on the GPU (the default when one is there)"
    )
    dev.add_argument("--cpu", action="store_true", help="stay on the CPU")
    ap.add_argument(
        "--data", default=str(ROOT / "data" / "mnist"), help="folder of MNIST-format IDX files"
    )
    ap.add_argument(
        "--save", default="lenet5_mnist.t7", help="where the trained model goes ('' to skip)"
    )
    ap.add_argument("--plot", metavar="PATH", help="save loss and test accuracy per epoch as a PNG")
    ap.add_argument(
        "--logdir",
        default=None,
        help="where optim.Logger writes train.log/test.log (default logs; off in --quick; '' off)",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--quick", action="store_true", help="512 training and 256 test images, 2 epochs"
    )
    ap.add_argument(
        "--no-progress", action="store_true", help="plain lines instead of a progress bar"
    )
    args = check_args(ap.parse_args(argv))
    if args.learningRate is None:
        args.learningRate = DEFAULT_LEARNING_RATES[args.optimizer]  # None: Lua's own default
    return args


def check_args(args):
    """Option values and output paths checked before any work: a mistake is one line
    (``nnlegacy.cli.UserError``), and a trained model is never lost to a bad path."""
    from nnlegacy.cli import UserError, check_writable

    for name in ("epochs", "batchSize"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name} must be 1 or more, got {getattr(args, name)}")
    if not Path(args.data).is_dir():
        raise UserError(f"--data {args.data}: no such folder (give a folder of MNIST IDX files)")
    check_writable(args.save, "--save")
    check_writable(args.plot, "--plot")
    return args


def tensor_type(args):
    use_cuda = args.cuda or (not args.cpu and nn.has_cuda())
    if use_cuda:
        return "torch.CudaTensor" if args.type == "float" else "torch.CudaDoubleTensor"
    return "torch.FloatTensor" if args.type == "float" else "torch.DoubleTensor"


def to_device(a, ttype):
    xp, dtype = nn.backend.xp_dtype(ttype)
    return xp.asarray(a, dtype=dtype)


def accuracy(net, images, labels, ttype, batch=1000, confusion=None):
    """Test-set accuracy (a fraction), counted in an optim.ConfusionMatrix."""
    confusion = confusion or optim.ConfusionMatrix(CLASSES)
    confusion.zero()
    net.evaluate()
    for i in range(0, images.shape[0], batch):
        confusion.batchAdd(
            net.forward(to_device(images[i : i + batch], ttype)), labels[i : i + batch]
        )
    net.training()
    confusion.updateValids()
    return confusion.totalValid


def main(argv=None):
    args = parse_args(argv)
    if args.plot:
        from nnlegacy.pictures import pyplot

        pyplot()  # fail now, not after training, if matplotlib is missing
    nn.manualSeed(args.seed)
    rng = np.random.default_rng(args.seed)
    ttype = tensor_type(args)
    try:  # --quick reads only the images it uses
        train_x, train_y, test_x, test_y = load_mnist(
            args.data, *((512, 256) if args.quick else ())
        )
    except (OSError, ValueError) as e:
        from nnlegacy.cli import UserError

        raise UserError(f"--data {args.data}: {e}") from e
    if args.quick:
        args.epochs = min(args.epochs, 2)

    net = build().type(ttype)
    net.get(1).gradInput = None  # as in Lua: the first layer's input gradient is never used
    criterion = nn.ClassNLLCriterion().type(ttype)
    parameters, gradParameters = net.getParameters()
    print(net)
    print(f"{parameters.size:,} parameters, {ttype}, {train_x.shape[0]:,} training images")

    if args.optimizer == "sgd":
        config = {
            "learningRate": args.learningRate,
            "learningRateDecay": args.learningRateDecay,
            "weightDecay": args.weightDecay,
            "momentum": args.momentum,
            "dampening": 0,
        }
    else:  # the optimizer's own Lua defaults, the learning rate too unless given
        config = {} if args.learningRate is None else {"learningRate": args.learningRate}
    print(f"optim.{args.optimizer} {config or '(Lua defaults)'}")
    method = getattr(optim, args.optimizer)
    confusion = optim.ConfusionMatrix(CLASSES)
    logdir = args.logdir if args.logdir is not None else ("" if args.quick else "logs")
    if logdir:
        train_logger = optim.Logger(str(Path(logdir) / "train.log"))
        test_logger = optim.Logger(str(Path(logdir) / "test.log"))
    history = {"loss": [], "accuracy": [], "time": []}
    n = train_x.shape[0]
    batches = (n + args.batchSize - 1) // args.batchSize
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(n)
        confusion.zero()
        total, seen, t0 = 0.0, 0, time.perf_counter()
        with progress_bar(epoch, args.epochs, batches, args.no_progress) as bar:
            for b in range(batches):
                idx = order[b * args.batchSize : (b + 1) * args.batchSize]
                inputs = to_device(train_x[idx], ttype)
                targets = train_y[idx]

                def feval(x):
                    gradParameters.fill(0)
                    outputs = net.forward(inputs)
                    f = criterion.forward(outputs, targets)
                    confusion.batchAdd(outputs, targets)
                    net.backward(inputs, criterion.backward(outputs, targets))
                    return f, gradParameters

                _, fx = method(feval, parameters, config)
                total += fx[0] * len(idx)
                seen += len(idx)
                bar(seen / (time.perf_counter() - t0), total / seen)
        print(confusion)  # the training set's, as train-on-mnist.lua prints it
        train_acc = confusion.totalValid
        acc = accuracy(net, test_x, test_y, ttype, confusion=confusion)
        print(confusion)
        if logdir:
            train_logger.add({"% mean class accuracy (train set)": train_acc * 100})
            test_logger.add({"% mean class accuracy (test set)": acc * 100})
            if args.plot:
                train_logger.style({"% mean class accuracy (train set)": "-"})
                test_logger.style({"% mean class accuracy (test set)": "-"})
                train_logger.plot()
                test_logger.plot()
        history["loss"].append(total / seen)
        history["accuracy"].append(acc)
        history["time"].append(time.perf_counter() - start)
        print(
            f"epoch {epoch}: loss {total / seen:.4f}, test accuracy {100 * acc:.2f}% "
            f"({time.perf_counter() - start:.0f} s)"
        )
    if args.plot:
        from nnlegacy.pictures import save_curves

        lr = "" if args.learningRate is None else f", learningRate {args.learningRate:g}"
        title = (
            f"LeNet-5 on {Path(args.data).name} ({n:,} training images): "
            f"optim.{args.optimizer}{lr}, batch {args.batchSize}"
        )
        save_curves(history, args.plot, title=title)
        print(f"saved the training curves to {args.plot}")
    if args.save:
        nn.save(args.save, net.clearState())  # a Torch7 .t7 file, written atomically
        print(f"saved the trained model to {args.save} (nnlegacy.load or Lua's torch.load read it)")
    return history


class progress_bar:  # noqa: N801 - used as a context manager
    """A rich progress bar (epoch, loss, images/s), or plain lines when asked or piped."""

    def __init__(self, epoch, epochs, total, plain):
        self.epoch, self.epochs, self.total = epoch, epochs, total
        self.plain = plain or not sys.stdout.isatty()
        self.count = 0

    def __enter__(self):
        if self.plain:
            return self._plain
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn(f"epoch {self.epoch}/{self.epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TextColumn("{task.fields[rate]:,.0f} img/s"),
            TimeRemainingColumn(),
        )
        self.progress.__enter__()
        self.task = self.progress.add_task("train", total=self.total, loss=0.0, rate=0.0)
        return self._rich

    def _rich(self, rate, loss):
        self.progress.update(self.task, advance=1, loss=loss, rate=rate)

    def _plain(self, rate, loss):
        self.count += 1
        if self.count == self.total:
            print(
                f"epoch {self.epoch}/{self.epochs}: {self.total} batches, "
                f"loss {loss:.4f}, {rate:,.0f} img/s"
            )

    def __exit__(self, *exc):
        if not self.plain:
            self.progress.__exit__(*exc)
        return False


if __name__ == "__main__":
    from nnlegacy.cli import run_script

    run_script("lenet5.py", main)
