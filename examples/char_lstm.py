#!/usr/bin/env python3
"""A character-level LSTM language model, written as karpathy's char-rnn is in Lua.

    python examples/char_lstm.py                    # train on Shakespeare's sonnets, sample
    python examples/char_lstm.py --rnn_size 256 --num_layers 2 --max_epochs 50
    python examples/char_lstm.py --data my.txt --sample 500 --temperature 0.8
    python examples/char_lstm.py --quick            # under a minute (used by the tests)

The cell is built with nngraph the classic way (``nn.Identity()()``, ``Linear`` i2h + h2h,
``CAddTable``, ``Reshape(4, rnn_size)``, ``SplitTable(2):split(4)``, gates i, f, o, g),
the whole step net is cloned once per timestep with the clones sharing the parameters,
and training is truncated backpropagation through time with ``optim.rmsprop``. The
text is ``examples/data/sonnets.txt`` (public domain, see ``examples/data/README.md``).
In ``--quick`` mode the mean training loss of the last iterations falls below
``QUICK_LOSS`` nats per character (a uniform guess over the vocabulary is about 3.6).
"""

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import nnlegacy as nn  # noqa: E402
from nnlegacy import optim  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "sonnets.txt"
QUICK_LOSS = 2.2


def lstm(input_size, rnn_size, num_layers=1):
    """char-rnn's LSTM step: {x, c_1, h_1, ..., c_n, h_n} -> {c_1', h_1', ..., logprobs}."""
    inputs = [nn.Identity()()]  # x: a batch of one-hot characters
    for _ in range(num_layers):
        inputs += [nn.Identity()(), nn.Identity()()]  # prev_c, prev_h
    outputs = []
    for layer in range(num_layers):
        prev_c, prev_h = inputs[2 * layer + 1], inputs[2 * layer + 2]
        x = inputs[0] if layer == 0 else outputs[-1]
        size = input_size if layer == 0 else rnn_size
        i2h = nn.Linear(size, 4 * rnn_size)(x).annotate(name=f"i2h_{layer + 1}")
        h2h = nn.Linear(rnn_size, 4 * rnn_size)(prev_h).annotate(name=f"h2h_{layer + 1}")
        all_input_sums = nn.CAddTable()([i2h, h2h])
        reshaped = nn.Reshape(4, rnn_size)(all_input_sums)
        n1, n2, n3, n4 = nn.SplitTable(2)(reshaped).split(4)
        in_gate = nn.Sigmoid()(n1)
        forget_gate = nn.Sigmoid()(n2)
        out_gate = nn.Sigmoid()(n3)
        in_transform = nn.Tanh()(n4)
        next_c = nn.CAddTable()(
            [nn.CMulTable()([forget_gate, prev_c]), nn.CMulTable()([in_gate, in_transform])]
        )
        next_h = nn.CMulTable()([out_gate, nn.Tanh()(next_c)])
        outputs += [next_c, next_h]
    logsoft = outputs[-1] - nn.Linear(rnn_size, input_size) - nn.LogSoftMax()
    return nn.gModule(inputs, outputs + [logsoft])


def clone_many_times(net, T):
    """char-rnn's model_utils.clone_many_times: T copies sharing the parameters."""
    return [net.clone("weight", "bias", "gradWeight", "gradBias") for _ in range(T)]


def load_text(path):
    text = Path(path).read_text(encoding="utf-8")
    vocab = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    return text, vocab, np.array([index[ch] for ch in text], np.int64)


def batches(data, batch_size, seq_length):
    """char-rnn's loader: (x, y) pairs of batch_size x seq_length, y shifted by one."""
    n = (len(data) - 1) // (batch_size * seq_length) * (batch_size * seq_length)
    if n == 0:
        raise ValueError("the text is too short for this batch_size and seq_length")
    x = data[:n].reshape(batch_size, -1)
    y = data[1 : n + 1].reshape(batch_size, -1)
    cols = x.shape[1] // seq_length
    return [
        (x[:, i * seq_length : (i + 1) * seq_length], y[:, i * seq_length : (i + 1) * seq_length])
        for i in range(cols)
    ]


def one_hot(idx, vocab_size):
    out = np.zeros((len(idx), vocab_size))
    out[np.arange(len(idx)), idx] = 1
    return out


class Trainer:
    """Truncated BPTT over ``seq_length`` clones of one LSTM step, as char-rnn's train.lua."""

    def __init__(self, vocab_size, opt):
        self.opt, self.vocab_size = opt, vocab_size
        self.rnn = lstm(vocab_size, opt.rnn_size, opt.num_layers)
        self.params, self.grads = self.rnn.getParameters()
        nn.backend.uniform_(self.params, -0.08, 0.08)
        self.clones = clone_many_times(self.rnn, opt.seq_length)
        self.criteria = [nn.ClassNLLCriterion() for _ in range(opt.seq_length)]
        self.init_state = self.zero_state(opt.batch_size)
        self.optim_state = {"learningRate": opt.learning_rate, "alpha": opt.decay_rate}

    def zero_state(self, batch):
        return [np.zeros((batch, self.opt.rnn_size)) for _ in range(2 * self.opt.num_layers)]

    def feval(self, x, y):
        def f(params):
            self.grads.fill(0)
            T = self.opt.seq_length
            state = {0: self.init_state}
            inputs, predictions, loss = {}, {}, 0.0
            for t in range(1, T + 1):
                inputs[t] = [one_hot(x[:, t - 1], self.vocab_size), *state[t - 1]]
                out = self.clones[t - 1].training().forward(inputs[t])
                state[t] = list(out[:-1])
                predictions[t] = out[-1]
                loss += self.criteria[t - 1].forward(predictions[t], y[:, t - 1] + 1)
            loss /= T
            dstate = [np.zeros_like(s) for s in self.init_state]
            for t in range(T, 0, -1):
                dout = self.criteria[t - 1].backward(predictions[t], y[:, t - 1] + 1)
                dinputs = self.clones[t - 1].backward(inputs[t], [*dstate, dout])
                dstate = list(dinputs[1:])
            self.init_state = [s.copy() for s in state[T]]  # carried to the next batch
            np.clip(self.grads, -self.opt.grad_clip, self.opt.grad_clip, out=self.grads)
            return loss, self.grads

        return f

    def step(self, x, y):
        _, fx = optim.rmsprop(self.feval(x, y), self.params, self.optim_state)
        return fx[0]

    def sample(self, vocab, length, temperature=1.0, prime="T", rng=None):
        rng = rng or np.random.default_rng(0)
        index = {ch: i for i, ch in enumerate(vocab)}
        self.rnn.evaluate()
        state = self.zero_state(1)
        text = prime
        logp = None
        for ch in prime:
            out = self.rnn.forward([one_hot([index.get(ch, 0)], len(vocab)), *state])
            state, logp = [s.copy() for s in out[:-1]], out[-1]
        for _ in range(length):
            p = np.exp(logp[0] / temperature)
            c = int(rng.choice(len(vocab), p=p / p.sum()))
            text += vocab[c]
            out = self.rnn.forward([one_hot([c], len(vocab)), *state])
            state, logp = [s.copy() for s in out[:-1]], out[-1]
        return text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--rnn_size", type=int, default=128)
    ap.add_argument("--num_layers", type=int, default=1)
    ap.add_argument("--seq_length", type=int, default=32)
    ap.add_argument("--batch_size", type=int, default=16)
    ap.add_argument("--learning_rate", type=float, default=2e-3)
    ap.add_argument("--decay_rate", type=float, default=0.95)
    ap.add_argument("--grad_clip", type=float, default=5.0)
    ap.add_argument("--max_epochs", type=int, default=30)
    ap.add_argument("--max_iters", type=int, default=0, help="stop after this many (0: none)")
    ap.add_argument("--sample", type=int, default=300, help="characters to sample at the end")
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--quick", action="store_true", help="a small net for under a minute")
    opt = ap.parse_args(argv)
    if opt.quick:
        opt.rnn_size, opt.seq_length, opt.batch_size = 64, 16, 16
        opt.learning_rate, opt.max_iters, opt.sample = 1e-2, 240, 200
    nn.manualSeed(opt.seed)
    text, vocab, data = load_text(opt.data)
    pairs = batches(data, opt.batch_size, opt.seq_length)
    trainer = Trainer(len(vocab), opt)
    print(
        f"{len(text)} characters, vocabulary {len(vocab)}, {len(pairs)} batches per epoch, "
        f"{trainer.params.size} parameters; uniform loss {math.log(len(vocab)):.3f}"
    )
    losses, start, it = [], time.time(), 0
    for epoch in range(1, opt.max_epochs + 1):
        trainer.init_state = trainer.zero_state(opt.batch_size)
        for x, y in pairs:
            it += 1
            losses.append(trainer.step(x, y))
            if it % 20 == 0:
                print(
                    f"{it} (epoch {epoch}), train_loss = {np.mean(losses[-20:]):.4f}, "
                    f"{time.time() - start:.1f}s"
                )
            if opt.max_iters and it >= opt.max_iters:
                break
        if opt.max_iters and it >= opt.max_iters:
            break
    final = float(np.mean(losses[-20:]))
    print(f"final train_loss = {final:.4f} after {it} iterations, {time.time() - start:.1f}s")
    print("--- sample ---")
    print(trainer.sample(vocab, opt.sample, opt.temperature))
    return final


if __name__ == "__main__":
    main()
