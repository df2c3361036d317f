"""``optim.ConfusionMatrix``: counts of (target, prediction) pairs and the rates Lua
derives from them, with Lua's print-out, a rich table and a PNG heat map."""

from __future__ import annotations

import math

import numpy as np

from .. import backend as B

__all__ = ["ConfusionMatrix", "lua_number"]


def lua_number(v) -> str:
    """A number as Lua's ``tostring`` (and ``..``) writes it: ``%.14g``."""
    v = float(v)
    if v != v:
        return "nan"  # LuaJIT writes every NaN as "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.14g}"


def _fmt_f(v: float, spec: str) -> str:
    """C's ``%f`` family, spelling nan/inf as C does."""
    v = float(v)
    if v != v or math.isinf(v):
        return lua_number(v)
    return format(v, spec)


def _classes_of(x):
    """A prediction/target as 1-based classes: a number, a vector of classes, or
    rows of scores (argmax, first maximum as Torch's ``max``)."""
    a = np.asarray(B.to_numpy(x))
    if a.ndim == 2:
        return a[:, 0].astype(np.int64) if a.shape[1] == 1 else a.argmax(axis=1) + 1
    if a.ndim == 1:
        return a.astype(np.int64)
    raise ValueError(f"ConfusionMatrix: expected a vector or a matrix, got shape {a.shape}")


def _class_of(value, what: str) -> int:
    """A 1-based class: ``value`` itself, or the argmax of a (score or one-hot) vector."""
    if np.ndim(value) == 0:
        return int(value)
    v = np.asarray(B.to_numpy(value))
    if v.ndim != 1:
        raise ValueError(f"ConfusionMatrix.add: expected a {what} vector, got shape {v.shape}")
    return int(v.argmax()) + 1


class ConfusionMatrix:
    """``optim.ConfusionMatrix(nclasses | classes, [classes])``.

    ``mat[t-1, p-1]`` counts target class ``t`` predicted as ``p`` (classes are
    1-based, as in Lua; a target of 0 or less is ignored). ``valids`` (per-class
    recall) and ``unionvalids`` (per-class IoU) are float32 as in Lua;
    ``totalValid``, ``averageValid``, ``averageUnionValid`` are numbers, set by
    ``updateValids()`` (which ``str(cm)`` calls).

    Differences from Torch7: ``render`` draws with matplotlib (the ``plot`` extra)
    instead of Qt, and ``plot(path)`` writes it as a PNG.
    """

    def __init__(self, nclasses, classes=None):
        if isinstance(nclasses, (list, tuple)):
            classes, nclasses = list(nclasses), len(nclasses)
        n = int(nclasses)
        self.mat = np.zeros((n, n), np.int64)
        self.valids = np.zeros(n, np.float32)
        self.unionvalids = np.zeros(n, np.float32)
        self.nclasses = n
        self.totalValid = 0
        self.averageValid = 0
        self.classes = list(classes) if classes else []

    def _after_load(self):
        if isinstance(self.classes, dict):  # a Lua table with holes
            self.classes = [self.classes.get(i, "") for i in range(1, self.nclasses + 1)]
        self.__dict__.pop("_mat_flat", None)

    def _add(self, p: int, t: int) -> None:
        if t > 0:
            self.mat[t - 1, p - 1] += 1

    def add(self, prediction, target) -> None:
        """Count one sample: ``prediction`` a class or a score vector; ``target`` a
        class or a one-hot (score) vector."""
        self._add(_class_of(prediction, "score"), _class_of(target, "target"))

    def batchAdd(self, predictions, targets) -> None:  # noqa: N802
        """Count a batch: classes (1-D) or rows of scores/one-hots (2-D) for each."""
        preds, targs = _classes_of(predictions), _classes_of(targets)
        if preds.shape != targs.shape:
            raise ValueError(
                f"ConfusionMatrix.batchAdd: {preds.size} predictions for {targs.size} targets"
            )
        keep = targs >= 1
        preds, targs = preds[keep], targs[keep]
        bad = (preds < 1) | (preds > self.nclasses) | (targs > self.nclasses)
        if bad.any():
            raise IndexError(
                f"ConfusionMatrix.batchAdd: classes must be in 1..{self.nclasses} (1-based)"
            )
        np.add.at(self.mat, (targs - 1, preds - 1), 1)

    def zero(self) -> None:
        self.mat[...] = 0
        self.valids[...] = 0
        self.unionvalids[...] = 0
        self.totalValid = 0
        self.averageValid = 0

    def updateValids(self) -> None:  # noqa: N802
        mat = self.mat.astype(np.float64)
        diag = np.diag(mat)
        rows, cols = mat.sum(axis=1), mat.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.valids = (diag / rows).astype(np.float32)
            self.unionvalids = (diag / (rows + cols - diag)).astype(np.float32)
            self.totalValid = float(diag.sum() / mat.sum()) if mat.sum() else math.nan
        avg = avg_u = 0.0
        n = n_u = 0
        for v, u in zip(self.valids.tolist(), self.unionvalids.tolist()):
            if v == v:
                avg += v
                n += 1
                if u == u:
                    avg_u += u
                    n_u += 1
        self.averageValid = avg / n if n else math.nan
        self.averageUnionValid = avg_u / n_u if n_u else math.nan

    def farFrr(self):  # noqa: N802
        """``classFrrs, classFars, frrs, fars``: false rejection/acceptance rates per
        class (-1 for classes without samples) and over the classes that have some."""
        cmat = self.mat.astype(np.float64)
        n = cmat.shape[0]
        counts = cmat.sum(axis=1)
        class_frrs, class_fars = np.full(n, -1.0), np.full(n, -1.0)
        frrs, fars = [], []
        for i in range(n):
            if counts[i] == 0:
                continue
            frr = 1 - cmat[i, i] / counts[i]
            num, den = 0.0, 0
            for j in range(n):
                if i != j and counts[j] != 0:
                    num += cmat[j, i] / counts[j]
                    den += 1
            far = num / den if den else math.nan
            class_frrs[i], class_fars[i] = frr, far
            frrs.append(frr)
            fars.append(far)
        return class_frrs, class_fars, np.array(frrs), np.array(fars)

    def __str__(self) -> str:
        self.updateValids()
        n = self.nclasses
        max_cnt = int(self.mat.max()) if self.mat.size else 0
        digits = 8 if max_cnt <= 0 else max(8, 1 + math.ceil(math.log10(max_cnt)))
        out = ["ConfusionMatrix:\n", "["]
        for t in range(n):
            pclass = _fmt_f(float(self.valids[t]) * 100, "2.3f")
            out.append("[" if t == 0 else " [")
            out.extend(f"{int(c):{digits}d}" for c in self.mat[t])
            close = "]]  " if t == n - 1 else "]   "
            if self.classes:
                name = self.classes[t] if t < len(self.classes) else ""
                out.append(f"{close}{pclass}% \t[class: {name}]\n")
            else:
                out.append(f"{close}{pclass}% \n")
        out.append(f" + average row correct: {lua_number(self.averageValid * 100)}% \n")
        out.append(
            " + average rowUcol correct (VOC measure): "
            f"{lua_number(self.averageUnionValid * 100)}% \n"
        )
        out.append(f" + global correct: {lua_number(self.totalValid * 100)}%")
        return "".join(out)

    __repr__ = __str__

    def __rich__(self):
        """A rich table: counts, with each row's recall and the class names."""
        from rich.table import Table

        self.updateValids()
        names = [
            str(self.classes[i]) if i < len(self.classes) else str(i + 1)
            for i in range(self.nclasses)
        ]
        table = Table(
            title="ConfusionMatrix",
            caption=(
                f"average row correct {self.averageValid * 100:.3f}%  "
                f"VOC {self.averageUnionValid * 100:.3f}%  "
                f"global {self.totalValid * 100:.3f}%"
            ),
        )
        table.add_column("target \\ predicted", style="bold")
        for name in names:
            table.add_column(name, justify="right")
        table.add_column("correct", justify="right")
        for t in range(self.nclasses):
            cells = [f"[green]{c}[/green]" if p == t else str(c) for p, c in enumerate(self.mat[t])]
            table.add_row(names[t], *cells, _fmt_f(float(self.valids[t]) * 100, ".3f") + "%")
        return table

    def render(self, sortmode: str = "score"):
        """The row-normalised matrix as a matplotlib figure, classes sorted by score
        (recall) or occurrence, as Lua's ``render`` lays it out."""
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure

        conf = self.mat.astype(np.float64)
        freqs = conf.sum(axis=1)
        norm = conf / np.maximum(freqs, 1)[:, None]
        diag = np.diag(norm)
        if sortmode == "score":
            order = np.argsort(-diag, kind="stable")
        elif sortmode == "occurrence":
            order = np.argsort(-freqs, kind="stable")
        else:
            raise ValueError("sort mode must be one of: score | occurrence")
        names = [str(self.classes[i]) if i < len(self.classes) else str(i + 1) for i in order]
        n = self.nclasses
        fig = Figure(figsize=(2 + 0.5 * n, 1.5 + 0.5 * n), dpi=100)
        ax = fig.subplots()
        shown = norm[np.ix_(order, order)]
        ax.imshow(shown, cmap="viridis", vmin=0, vmax=1)
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    f"{math.floor(shown[i, j] * 100 + 0.5):02d}",
                    ha="center",
                    va="center",
                    color="w" if shown[i, j] < 0.5 else "k",
                    fontsize=8,
                )
        ax.set_xticks(range(n), names, rotation=90)
        ax.set_yticks(range(n), names)
        ax.set_xlabel("prediction")
        ax.set_ylabel("target")
        total = conf.sum()
        acc = np.trace(conf) / total * 100 if total else math.nan
        per = diag[freqs > 0].mean() * 100 if (freqs > 0).any() else math.nan
        ax.set_title(f"global {acc:.3f}%, per-class {per:.3f}%", fontsize=9)
        fig.tight_layout()
        return fig

    def plot(self, path, sortmode: str = "score"):
        """Write the heat map of :meth:`render` to ``path`` as a PNG (atomically)."""
        fig = self.render(sortmode)
        B.atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
        return path
