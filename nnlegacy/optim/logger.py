"""``optim.Logger``: log named values during training to the text file Lua writes,
and plot them (PNG through matplotlib, where Lua used gnuplot)."""

from __future__ import annotations

import datetime
import os
import sys

import numpy as np

from .. import backend as B

__all__ = ["Logger"]

# gnuplot styles of Lua's Logger -> matplotlib format strings
_STYLES = {"-": "-", "+": "+", ".": ".", "|": "|", "~": "-", "*": "*", "o": "o", "x": "x"}


class Logger:
    """``optim.Logger([filename], [timestamp])``.

    ``setNames{...}`` then ``add{v1, v2, ...}``, or ``add{name = value, ...}``: the
    first call writes the names, each call one row of ``%11.4e`` numbers (strings
    as they are), tab-separated, as Lua writes them. ``style``, ``setlogscale``,
    ``plot(*names)``. Without a file name the rows go to stdout.

    Differences from Torch7: the log file is rewritten atomically after each ``add``
    (a crash never leaves half a row); ``plot`` writes ``<filename>.png`` with
    matplotlib (the ``plot`` extra) instead of an ``.eps`` through gnuplot, and
    shows no window. List-form names and styles are keyed 1..n, as in Lua.
    """

    def __init__(self, filename=None, timestamp: bool = False):
        if filename:
            self.name = os.fspath(filename)
            folder = os.path.dirname(self.name)
            if folder:
                os.makedirs(folder, exist_ok=True)
            path = self.name
            if timestamp:
                path = f"{path}-{datetime.datetime.now():%Y_%m_%d_%H:%M:%S}"
            self.path = path
            self.pngfile = self.name + ".png"
        else:
            self.name = "stdout"
            self.path = None
            self.pngfile = None
            print("<Logger> warning: no path provided, logging to std out")
        self.empty = True
        self.symbols = {}
        self.styles = {}
        self.names = {}
        self.idx = {}
        self.showPlot = True
        self.defaultStyle = "+"
        self.logscale = False
        self._text = []

    def _write(self, s: str) -> None:
        if self.path is None:
            sys.stdout.write(s)
            sys.stdout.flush()
        else:
            self._text.append(s)

    def _flush(self) -> None:
        if self.path is not None:
            text = "".join(self._text)

            def write(tmp):
                with open(tmp, "w") as f:
                    f.write(text)

            B.atomic_write(self.path, write)

    @staticmethod
    def _items(symbols):
        if isinstance(symbols, dict):
            return list(symbols.items())
        return list(enumerate(symbols, 1))

    def setNames(self, names):  # noqa: N802 - Torch's name
        """Name the columns (a list: values are then added as lists in that order)."""
        self.names = dict(self._items(names))
        self.empty = False
        self.nsymbols = len(self.names)
        for k, key in self.names.items():
            self._write(f"{key}\t")
            self.symbols[k] = []
            self.styles[k] = [self.defaultStyle]
            self.idx[key] = k
        self._write("\n")
        self._flush()
        return self

    def add(self, symbols) -> None:
        """Log one row: a dict ``{name: value}`` or, after ``setNames``, a list."""
        items = self._items(symbols)
        for _, val in items:
            if not isinstance(val, str) and (
                isinstance(val, bool) or not isinstance(val, (int, float, np.number))
            ):
                raise TypeError(f"<Logger> can only log numbers and strings, got {val!r}")
        if self.empty:
            self.empty = False
            self.nsymbols = len(items)
            for k, _ in items:
                self._write(f"{k}\t")
                self.symbols[k] = []
                self.styles[k] = [self.defaultStyle]
                self.names[k] = k
            self.idx = self.names
            self._write("\n")
        row = []
        for _, val in items:
            row.append(f"{val}\t" if isinstance(val, str) else f"{float(val):11.4e}\t")
        self._write("".join(row) + "\n")
        self._flush()
        for k, val in items:
            self.symbols.setdefault(k, []).append(val if isinstance(val, str) else float(val))

    def style(self, symbols):
        """Plot styles per column: ``'-'`` lines, ``'+'`` points, ... (or lists of them)."""
        for name, st in self._items(symbols):
            if isinstance(st, str):
                self.styles[name] = [st]
            elif isinstance(st, (list, tuple)):
                self.styles[name] = list(st)
            else:
                raise TypeError("<Logger> style should be a string or a table of strings")
        return self

    def setlogscale(self, value: bool = True) -> None:
        self.logscale = value

    def plot(self, *names):
        """Plot every column with more than one value (or the named ones) to
        ``<filename>.png``; returns the matplotlib figure, or None with nothing to plot."""
        keys = list(self.symbols) if not names else [self.idx[n] for n in names]
        series = [(k, self.symbols[k]) for k in keys if len(self.symbols[k]) > 1]
        if not series:
            return None
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure

        fig = Figure(figsize=(7, 4.5), dpi=100)
        ax = fig.subplots()
        for k, values in series:
            xs = range(1, len(values) + 1)
            for st in self.styles.get(k, [self.defaultStyle]):
                ax.plot(xs, values, _STYLES.get(st, "-"), label=str(self.names.get(k, k)))
        if self.logscale:
            ax.set_yscale("log")
        ax.grid(True)
        ax.legend()
        ax.set_title(f"<Logger::{self.name}>")
        fig.tight_layout()
        if self.pngfile:
            B.atomic_write(self.pngfile, lambda tmp: fig.savefig(tmp, format="png"))
        return fig
