"""Torch7's random number generator (``THRandom``): Mersenne Twister MT19937.

A :class:`Generator` draws exactly the numbers a Lua ``torch.Generator`` draws after
the same ``manualSeed``, so algorithms that consume randomness (``optim.de``,
``optim.cmaes``, ``nn.StochasticGradient``'s ``randperm``) can be replayed against
Lua's own runs:

- ``manualSeed(s)`` is MT19937's ``init_genrand(s)``; ``random()`` its 32-bit output;
- ``uniform(a, b)`` is ``u * (b - a) + a`` with ``u = random() / 2^32``;
- ``normal(mean, std)`` is Box-Muller on two uniforms, returning the cosine half first
  and keeping the sine half for the next call;
- tensor fills (``uniform_fill``, ``normal_fill``) draw one value per element in
  ``THTensor`` element order (the torch7 the golden corpus was written with has no
  vectorised normal fill);
- ``randperm(n)`` is Torch's swap shuffle, 1-based.

The module-level generator (:func:`default_generator`) stands for Lua's global one;
``nnlegacy.manualSeed`` seeds it too.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Generator", "default_generator", "manualSeed"]

_N = 624


def _init_genrand(seed: int) -> np.ndarray:
    state = np.empty(_N, np.uint64)
    s = seed & 0xFFFFFFFF
    state[0] = s
    for j in range(1, _N):
        s = (1812433253 * (s ^ (s >> 30)) + j) & 0xFFFFFFFF
        state[j] = s
    return state.astype(np.uint32)


class Generator:
    """``torch.Generator()``: an MT19937 stream seeded as Torch seeds it."""

    def __init__(self, seed: int = 0):
        self.manualSeed(seed)

    def manualSeed(self, seed: int) -> None:  # noqa: N802 - Torch's name
        """Reset the stream (and the cached Box-Muller half), as ``torch.manualSeed``."""
        self._bits = np.random.MT19937(0)
        self._bits.state = {
            "bit_generator": "MT19937",
            "state": {"key": _init_genrand(int(seed)), "pos": _N},
        }
        self._normal_cached = None
        self.initialSeed = int(seed)

    def random(self, a: int | None = None, b: int | None = None) -> int:
        """``torch.random([a,] [b])``: a raw 32-bit draw, or an integer in ``[a, b]``."""
        r = int(self._bits.random_raw())
        if a is None:
            return r
        if b is None:
            a, b = 1, a
        if b < a:
            raise ValueError("torch.random: upper bound must be larger than lower bound")
        return r % (b + 1 - a) + a

    def _u(self, n: int) -> np.ndarray:
        return self._bits.random_raw(n).astype(np.float64) * (1.0 / 4294967296.0)

    def uniform(self, a: float = 0.0, b: float = 1.0) -> float:
        return float(self._u(1)[0] * (b - a) + a)

    def normal(self, mean: float = 0.0, std: float = 1.0) -> float:
        if std <= 0:
            raise ValueError("torch.normal: standard deviation must be strictly positive")
        if self._normal_cached is None:
            x, y = self._u(2)
            rho = math.sqrt(-2.0 * math.log(1.0 - y))
            self._normal_cached = (rho, x)
            return rho * math.cos(2.0 * math.pi * x) * std + mean
        rho, x = self._normal_cached
        self._normal_cached = None
        return rho * math.sin(2.0 * math.pi * x) * std + mean

    def uniform_fill(self, shape, a: float = 0.0, b: float = 1.0) -> np.ndarray:
        """``torch.Tensor(shape):uniform(a, b)`` in float64."""
        n = int(np.prod(shape, dtype=np.int64))
        return (self._u(n) * (b - a) + a).reshape(shape)

    def normal_fill(self, shape, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
        """``torch.Tensor(shape):normal(mean, std)`` (= ``torch.randn``) in float64."""
        n = int(np.prod(shape, dtype=np.int64))
        return np.array([self.normal(mean, std) for _ in range(n)]).reshape(shape)

    def randperm(self, n: int) -> np.ndarray:
        """``torch.randperm(n)``: a permutation of 1..n (int64)."""
        perm = np.arange(n, dtype=np.int64)
        for i in range(n - 1):
            z = self.random() % (n - i)
            perm[i], perm[z + i] = perm[z + i], perm[i]
        return perm + 1


_default = Generator(0)


def default_generator() -> Generator:
    """The global generator, Lua's ``torch`` default one."""
    return _default


def manualSeed(seed: int) -> None:  # noqa: N802 - Torch's name
    """Seed the global Torch generator."""
    _default.manualSeed(seed)
