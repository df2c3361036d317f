#!/usr/bin/env python3
"""The torch/nn tutorial's first network: an MLP learns XOR with nn.StochasticGradient.

    python examples/tutorial_mlp.py                 # 100 examples, 25 epochs (Lua's defaults)
    python examples/tutorial_mlp.py --hidden 20 --learningRate 0.01 --epochs 50

The script is the Lua tutorial rewritten line for line: a Lua-style dataset (size()
and 1-based examples {input, target}), nn.Sequential of Linear -> Tanh -> Linear,
nn.MSECriterion, and trainer:train(dataset), which prints "# current error = ..."
per epoch. The data comes from Torch's own generator (torch.randn after
torch.manualSeed), so it is the dataset Lua draws with the same seed.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import nnlegacy as nn  # noqa: E402
from nnlegacy import torchrandom  # noqa: E402


class Dataset:
    """Lua's ``dataset = {}; function dataset:size() ... end; dataset[i] = {input, output}``."""

    def __init__(self, n):
        gen = torchrandom.default_generator()
        self.examples = {}
        for i in range(1, n + 1):
            inp = gen.normal_fill((2,))  # torch.randn(2)
            out = np.array([-1.0 if inp[0] * inp[1] > 0 else 1.0])  # XOR of the signs
            self.examples[i] = (inp, out)

    def size(self):
        return len(self.examples)

    def __getitem__(self, i):
        return self.examples[i]


def build(inputs=2, hidden=20, outputs=1):
    mlp = nn.Sequential()
    mlp.add(nn.Linear(inputs, hidden))
    mlp.add(nn.Tanh())
    mlp.add(nn.Linear(hidden, outputs))
    return mlp


def main(argv=None):
    ap = argparse.ArgumentParser(description="The torch/nn XOR tutorial with StochasticGradient.")
    ap.add_argument("--size", type=int, default=100, help="number of examples")
    ap.add_argument("--hidden", type=int, default=20, help="hidden units")
    ap.add_argument("--learningRate", type=float, default=0.01)
    ap.add_argument("--epochs", type=int, default=25, help="trainer.maxIteration")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    nn.manualSeed(args.seed)  # seeds Torch's generator too (the data, the shuffle)
    dataset = Dataset(args.size)
    mlp = build(hidden=args.hidden)
    criterion = nn.MSECriterion()
    trainer = nn.StochasticGradient(mlp, criterion)
    trainer.learningRate = args.learningRate
    trainer.maxIteration = args.epochs
    errors = []
    trainer.hookIteration = lambda self, iteration, error: errors.append(error)
    print(mlp)
    trainer.train(dataset)

    # the tutorial's four probe points: the sign of the output is XOR of the input signs
    for x in ([0.5, 0.5], [0.5, -0.5], [-0.5, 0.5], [-0.5, -0.5]):
        print(f"{x} -> {float(mlp.forward(np.array(x))[0]):+.4f}")
    correct = sum(
        int(np.sign(mlp.forward(dataset[i][0])[0]) == dataset[i][1][0])
        for i in range(1, dataset.size() + 1)
    )
    accuracy = correct / dataset.size()
    print(f"training accuracy (sign of the output): {100 * accuracy:.1f}%")
    return {"errors": errors, "accuracy": accuracy, "mlp": mlp}


if __name__ == "__main__":
    main()
