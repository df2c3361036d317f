"""``nn.StochasticGradient``: torch/nn's own trainer, one example at a time."""

from __future__ import annotations

from . import torchrandom
from .optim.confusion import lua_number

__all__ = ["StochasticGradient"]


class StochasticGradient:
    """``nn.StochasticGradient(module, criterion)``; ``train(dataset)``.

    Fields as Lua's: ``learningRate=0.01``, ``learningRateDecay=0``,
    ``maxIteration=25`` (epochs; 0 = forever), ``shuffleIndices=True``,
    ``hookExample(self, example)``, ``hookIteration(self, iteration, error)``.
    Each example is forwarded, its loss added, and the parameters updated in place
    by ``accUpdateGradParameters(input, gradOutput, lr)``. The order is one
    ``torch.randperm`` drawn from Torch's generator before the first epoch (drawn
    even without shuffling) and kept for every epoch; epoch ``e >= 2`` uses
    ``learningRate / (1 + e * learningRateDecay)``, as Lua does. It prints Lua's
    lines (``# current error = ...`` per epoch).

    ``dataset`` is Lua-style: ``dataset.size()`` and 1-based ``dataset[i]`` giving
    ``(input, target)``. Differences from Torch7: a plain Python sequence (no
    ``size`` method) is also accepted and indexed from 0, as Python lists are.
    """

    def __init__(self, module, criterion):
        self.learningRate = 0.01
        self.learningRateDecay = 0
        self.maxIteration = 25
        self.shuffleIndices = True
        self.module = module
        self.criterion = criterion
        self.hookExample = None
        self.hookIteration = None

    def __repr__(self) -> str:
        return "nn.StochasticGradient"

    def train(self, dataset) -> None:
        if callable(getattr(dataset, "size", None)):
            n = int(dataset.size())

            def example_at(i):
                return dataset[i]
        else:
            n = len(dataset)

            def example_at(i):
                return dataset[i - 1]

        iteration = 1
        lr = self.learningRate
        module, criterion = self.module, self.criterion
        order = torchrandom.default_generator().randperm(n)
        if not self.shuffleIndices:
            order = range(1, n + 1)
        order = [int(i) for i in order]
        print("# StochasticGradient: training")
        while True:
            current_error = 0.0
            for i in order:
                example = example_at(i)
                inp, target = example[0], example[1]
                current_error += criterion.forward(module.forward(inp), target)
                module.updateGradInput(inp, criterion.updateGradInput(module.output, target))
                module.accUpdateGradParameters(inp, criterion.gradInput, lr)
                if self.hookExample:
                    self.hookExample(self, example)
            current_error = current_error / n
            if self.hookIteration:
                self.hookIteration(self, iteration, current_error)
            print("# current error = " + lua_number(current_error))
            iteration += 1
            lr = self.learningRate / (1 + iteration * self.learningRateDecay)
            if self.maxIteration > 0 and iteration > self.maxIteration:
                print("# StochasticGradient: you have reached the maximum number of iterations")
                print("# training error = " + lua_number(current_error))
                break
