"""Replay the golden corpus written by real Lua Torch7 (``NNLEGACY_GOLDEN_DIR``).

For every ``nn/<Name>_<k>.t7`` file two independent replays:

1. the module **as loaded** from the file: parameters set from ``params``, the same mode,
   the randomness Lua drew fed back (``_fixed_noise``), forward ``input``, backward
   ``gradOutput``; ``output``, ``gradInput``, the parameter gradients, the in-place
   changes to input/gradOutput and the print-out are compared with Lua's;
2. the module **built from its config** (the Lua constructor call, translated by
   ``luaconfig``), parameters copied in, the set-up replayed, the same passes and the
   same comparisons, and ``str(module)`` against Lua's ``str`` byte for byte.

Used by ``test_golden.py``; as a script it prints the result of each file named::

    python compat_tests/golden.py LeakyReLU PReLU_2 SpatialConvolution
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import luaconfig  # noqa: E402

import nnlegacy as nn  # noqa: E402
from nnlegacy import backend as B  # noqa: E402
from nnlegacy.t7 import LuaObject, _nn_classes  # noqa: E402

GOLDEN_DIR = os.environ.get("NNLEGACY_GOLDEN_DIR")
RTOL, ATOL = 1e-12, 1e-14

# Where Lua keeps the randomness a stochastic module drew (golden README).
NOISE_FIELD = {
    "Dropout": "noise",
    "SpatialDropout": "noise",
    "VolumetricDropout": "noise",
    "RReLU": "noise",
    "WhiteNoise": "noise",
    "SpatialFractionalMaxPooling": "randomSamples",
    "VolumetricFractionalMaxPooling": "randomSamples",
}
# Per-file tolerances where Lua's numbers are not float64 (rtol, atol).
TOLERANCE = {"Copy_1": (1e-6, 1e-7)}
# Fields whose values Lua left uninitialised (golden README): never compared.
NOT_REPRODUCIBLE = {"Bottle_2", "Reshape_1", "SpatialUpSamplingNearest_1"}
# Fields a config drew from Lua's RNG while it was built (not in setupCode): from the file.
DRAWN_AT_BUILD = {"SpatialConvolutionMap_3": ("connTable",)}
KINDS = ("module", "table", "criterion")


def available() -> bool:
    return bool(GOLDEN_DIR) and Path(GOLDEN_DIR, "index.json").is_file()


def index():
    with open(Path(GOLDEN_DIR, "index.json")) as f:
        return json.load(f)


def entries():
    """The index entries of the nn module/table/criterion files and the nngraph graphs."""
    return [e for e in index()["files"] if e["kind"] in KINDS + ("nngraph", "trainer")]


def components(idx=None) -> list[str]:
    """Every torch/nn component the corpus covers (181: modules, criterions, the trainer)."""
    idx = idx or index()
    return sorted({e["name"] for e in idx["files"] if e["kind"] in KINDS + ("trainer",)})


# Components built from others inside their constructor (the config does not name them).
BUILT_FROM = {
    "PartialLinear": ["MM"],
    "LayerNormalization": [
        "Mean",
        "Replicate",
        "CSubTable",
        "Normalize",
        "MulConstant",
        "CMul",
        "Add",
    ],
}


def missing_classes(entry) -> list[str]:
    """The nn classes a file's config uses that nnlegacy does not have (sorted)."""
    have = set(_nn_classes()) | set(nn.__all__)  # the trainer is no Module
    names = set(re.findall(r"\bnn\.([A-Z]\w*)", entry.get("config", "")))
    names.add("gModule" if entry.get("kind") == "nngraph" else entry["name"])
    names.update(BUILT_FROM.get(entry["name"], []))
    return sorted(n for n in names if n not in have)


@dataclass
class Result:
    file: str
    name: str
    status: str = "ok"  # ok | missing | mismatch
    missing: list = field(default_factory=list)
    problems: list = field(default_factory=list)

    def __str__(self):
        if self.status == "missing":
            return f"{self.file}: not implemented ({', '.join(self.missing)})"
        if self.status == "ok":
            return f"{self.file}: replays"
        return f"{self.file}: MISMATCH\n  " + "\n  ".join(self.problems)


# --- comparing -------------------------------------------------------------------------
def compare(got, want, what, rtol=RTOL, atol=ATOL) -> list[str]:
    """Differences between a value of ours and Lua's, as readable lines."""
    if isinstance(want, LuaObject):
        return [f"{what}: Lua's value is a {want.torch_typename}, not comparable"]
    if B.is_array(want):
        if not B.is_array(got):
            return [f"{what}: expected an array {want.shape}, got {type(got).__name__}"]
        g, w = B.to_numpy(got), B.to_numpy(want)
        if g.size == 0 and w.size == 0:
            return []
        if g.shape != w.shape:
            if g.size == w.size and w.ndim and g.ndim:
                shape_note = f"{what}: shape {g.shape}, Lua's is {w.shape}"
            else:
                return [f"{what}: shape {g.shape}, Lua's is {w.shape}"]
        else:
            shape_note = None
        g64, w64 = g.astype(np.float64).ravel(), w.astype(np.float64).ravel()
        scale = (
            max(1.0, float(np.nanmax(np.abs(w64)))) if w64.size and np.isfinite(w64).any() else 1.0
        )
        err = np.abs(g64 - w64)
        bad = ~((err <= rtol * np.abs(w64) + atol * scale) | (np.isnan(g64) & np.isnan(w64)))
        bad &= ~(np.isinf(w64) & (g64 == w64))
        out = [shape_note] if shape_note else []
        if bad.any():
            i = int(np.argmax(np.where(bad, np.nan_to_num(err, nan=np.inf), -1)))
            out.append(
                f"{what}: {int(bad.sum())} of {w64.size} values differ, the largest by "
                f"{err[i]:.3g} at flat index {i} (ours {g64[i]!r}, Lua {w64[i]!r})"
            )
        return out
    if isinstance(want, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return [f"{what}: expected a table of {len(want)}, got {type(got).__name__}"]
        if len(got) != len(want):
            return [f"{what}: a table of {len(got)}, Lua's has {len(want)}"]
        out = []
        for i, (g, w) in enumerate(zip(got, want)):
            out += compare(g, w, f"{what}[{i + 1}]", rtol, atol)
        return out
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{what}: expected a table, got {type(got).__name__}"]
        out = []
        for k in want:
            if k not in got:
                out.append(f"{what}: key {k!r} missing")
            else:
                out += compare(got[k], want[k], f"{what}[{k!r}]", rtol, atol)
        return out
    if isinstance(want, (int, float)) and not isinstance(want, bool):
        try:
            g = float(got)
        except (TypeError, ValueError):
            return [f"{what}: expected the number {want!r}, got {type(got).__name__}"]
        if np.isnan(want) and np.isnan(g):
            return []
        if abs(g - want) <= rtol * abs(want) + atol * max(1.0, abs(want)):
            return []
        return [f"{what}: {g!r}, Lua's is {want!r} (differs by {abs(g - want):.3g})"]
    if got != want:
        return [f"{what}: {got!r}, Lua's is {want!r}"]
    return []


# --- preparing a module ----------------------------------------------------------------
def _set_params(m, params):
    got = m.parameters()
    ours = got[0] if got else []
    if len(ours) != len(params):
        return [f"parameters(): {len(ours)} tensors, Lua's has {len(params)}"]
    out = []
    for i, (p, v) in enumerate(zip(ours, params)):
        if tuple(p.shape) != tuple(v.shape):
            if p.size != v.size:
                out.append(f"parameter {i + 1}: shape {p.shape}, Lua's is {v.shape}")
                continue
        p[...] = B.get_array_module(p).asarray(v).reshape(p.shape)
    return out


def _modules_of(m):
    if hasattr(m, "listModules"):
        return m.listModules()
    return [m]


def _feed_noise(m, stored):
    """Give each stochastic submodule of ``m`` the randomness Lua drew (from ``stored``)."""
    ours = [x for x in _modules_of(m) if type(x).__name__ in NOISE_FIELD]
    theirs = [x for x in _modules_of(stored) if type(x).__name__ in NOISE_FIELD]
    for a, b in zip(ours, theirs):
        a._fixed_noise = getattr(b, NOISE_FIELD[type(b).__name__], None)


def _reset_running_stats(m, mode):
    if mode != "training":
        return
    for x in _modules_of(m):
        if getattr(x, "running_mean", None) is not None and B.is_array(x.running_mean):
            x.running_mean[...] = 0
            x.running_var[...] = 1


def _setup(m, entry, record, stored):
    """Replay a file's ``setupCode`` on a config-built module."""
    for name in DRAWN_AT_BUILD.get(Path(entry["file"]).stem, ()):
        setattr(m, name, getattr(stored, name).copy())
    code = entry.get("setupCode")
    if not code:
        return
    env = {"m": m, "extra": _Extra()}
    for stmt in (s.strip() for s in code.split(";")):
        if not stmt:
            continue
        copied = re.match(r"m\.(\w+):copy\(", stmt)
        if copied:  # random values drawn by Lua: take them from the stored module
            setattr(m, copied.group(1), getattr(stored, copied.group(1)).copy())
        elif stmt.startswith("extra.pin"):
            env["extra"].pin = record["poolingInput"]
        else:
            stmt = re.sub(r"modules\[(\d+)\]", lambda g: f"modules[{int(g.group(1)) - 1}]", stmt)
            luaconfig.execute(stmt, env)


class _Extra:
    pin = None


def _mode(m, mode):
    mode = mode or "training"
    if mode == "evaluate":
        m.evaluate()
    elif hasattr(m, "training") and callable(m.training):
        m.training()


# --- one replay ------------------------------------------------------------------------
def _replay(m, entry, record, label, check_str=True):
    """Run Lua's passes on ``m`` and compare; the record is consumed (arrays used in place)."""
    stem = Path(entry["file"]).stem
    rtol, atol = TOLERANCE.get(stem, (RTOL, ATOL))
    problems = []
    if entry["kind"] != "criterion":
        problems += [f"{label}: {p}" for p in _set_params(m, record.get("params") or [])]
    _mode(m, entry.get("mode"))
    inp = record.get("input")
    if entry["kind"] == "criterion":
        target = record.get("target")
        out = m.forward(inp, target)
        problems += compare(out, record["output"], f"{label}: output", rtol, atol)
        if "gradInput" in record:
            gi = m.backward(inp, target)
            problems += compare(gi, record["gradInput"], f"{label}: gradInput", rtol, atol)
    else:
        out = m.forward(inp)
        problems += compare(out, record["output"], f"{label}: output", rtol, atol)
        go = record.get("gradOutput")
        if "backwardError" in record:
            try:
                m.zeroGradParameters()
                m.backward(inp, go)
            except Exception:  # noqa: BLE001 - Lua raised here too
                pass
            else:
                problems.append(f"{label}: backward should raise ({record['backwardError']})")
        else:
            m.zeroGradParameters()
            gi = m.backward(inp, go)
            problems += compare(gi, record["gradInput"], f"{label}: gradInput", rtol, atol)
            params = m.parameters()
            grads = params[1] if params else []
            want = record.get("gradParams") or []
            if entry["name"] != "IndexLinear" and "StochasticGradient" not in stem:
                problems += compare(list(grads), list(want), f"{label}: gradParams", rtol, atol)
        if "inputAfter" in record:
            problems += compare(inp, record["inputAfter"], f"{label}: input after", rtol, atol)
        if "gradOutputAfter" in record:
            problems += compare(
                go, record["gradOutputAfter"], f"{label}: gradOutput after", rtol, atol
            )
    if check_str and "str" in record:
        s = str(m)
        if s != record["str"]:
            problems.append(f"{label}: print-out differs:\n--- ours\n{s}\n--- Lua\n{record['str']}")
    return problems


def replay(entry) -> Result:
    """Both replays of one index entry."""
    res = Result(entry["file"], entry["name"])
    res.missing = missing_classes(entry)
    if res.missing:
        res.status = "missing"
        # the file must still read, its unknown objects as plain LuaObjects (unless a
        # known module inside needs the unknown parent to complete it: WeightNorm)
        try:
            nn.load(Path(GOLDEN_DIR, entry["file"]), unknown="object")
        except nn.T7Error as e:
            res.problems.append(f"reads only with the missing classes: {e}")
        return res
    path = Path(GOLDEN_DIR, entry["file"])
    problems = []
    if entry["kind"] == "trainer":
        try:
            problems = _replay_trainer(entry, nn.load(path, unknown="object"))
        except Exception as e:  # noqa: BLE001
            problems = [f"trainer: raised {type(e).__name__}: {e}"]
        if problems:
            res.status, res.problems = "mismatch", problems
        return res
    # 1. the module as Lua saved it
    try:
        record = nn.load(path, unknown="object")
        m = record["module"]
        _reset_running_stats(m, entry.get("mode", "training"))
        _feed_noise(m, nn.load(path, unknown="object")["module"])
        problems += _replay(m, entry, record, "loaded")
    except Exception as e:  # noqa: BLE001 - reported as a mismatch, with its type
        problems.append(f"loaded: raised {type(e).__name__}: {e}")
    if entry["kind"] == "nngraph":
        # the config is a Lua program building the graph: test_nngraph.py replays its
        # Python translation; here the saved gModule replays
        if problems:
            res.status, res.problems = "mismatch", problems
        return res
    # 2. the module built from the Lua constructor call
    try:
        record = nn.load(path, unknown="object")
        stored = record["module"]
        m = luaconfig.evaluate(entry["config"])
        _setup(m, entry, record, stored)
        _feed_noise(m, stored)
        problems += _replay(m, entry, record, "config")
    except Exception as e:  # noqa: BLE001
        problems.append(f"config: raised {type(e).__name__}: {e}")
    if problems:
        res.status = "mismatch"
        res.problems = problems
    return res


# --- the trainer: nn.StochasticGradient ------------------------------------------------------
class LuaDataset:
    """A Lua-style dataset: size() and 1-based indexing."""

    def __init__(self, inputs, targets):
        self.examples = [(inputs[i], targets[i]) for i in range(len(inputs))]

    def size(self):
        return len(self.examples)

    def __getitem__(self, i):
        if not 1 <= i <= len(self.examples):
            raise IndexError(i)
        return self.examples[i - 1]


# the nets and settings of gen/modules.lua's two trainer configurations
TRAINER_CASES = {
    1: (
        lambda: nn.Sequential().add(nn.Linear(3, 2)).add(nn.Tanh()),
        {"learningRate": 0.1, "maxIteration": 3, "shuffleIndices": False},
    ),
    2: (
        lambda: nn.Linear(3, 2),
        {"learningRate": 0.05, "learningRateDecay": 0.5, "maxIteration": 4},
    ),
}


def _replay_trainer(entry, rec):
    """Train as Lua did, from the same draws of Torch's generator; the problems found."""
    import contextlib
    import io
    import math

    from nnlegacy import torchrandom

    k = int(Path(entry["file"]).stem.rsplit("_", 1)[1])
    build, setup = TRAINER_CASES[k]
    module = build()
    params = module.parameters()[0]
    for p, v in zip(params, rec["params"]):
        p[...] = v
    # replay the draws gen/modules.lua made after torch.manualSeed(k): the Linear's reset,
    # p:uniform(-0.5, 0.5), randn inputs and targets; then train draws its randperm
    gen = torchrandom.default_generator()
    gen.manualSeed(k)
    stdv = 1 / math.sqrt(3)
    for p in params:
        gen.uniform_fill(p.shape, -stdv, stdv)
    problems = []
    for p, v in zip(params, rec["params"]):
        problems += compare(gen.uniform_fill(p.shape, -0.5, 0.5), v, "params drawn")
    problems += compare(gen.normal_fill((5, 3)), rec["inputs"], "inputs drawn")
    problems += compare(gen.normal_fill((5, 2)) * 0.5, rec["targets"], "targets drawn")
    trainer = nn.StochasticGradient(module, nn.MSECriterion())
    for key, v in setup.items():
        setattr(trainer, key, v)
    data = LuaDataset(rec["inputs"], rec["targets"])
    order, errors = [], []
    trainer.hookExample = lambda self, ex: order.append(
        next(i for i in range(1, 6) if data[i] is ex)
    )
    trainer.hookIteration = lambda self, it, err: errors.append(err)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        trainer.train(data)
    if out.getvalue().splitlines() != list(rec["printed"]):
        problems.append(f"printed {out.getvalue().splitlines()!r}, Lua's {rec['printed']!r}")
    problems += compare(np.array(order, float), np.asarray(rec["exampleOrder"], float), "order")
    problems += compare(np.array(errors), np.asarray(rec["epochErrors"]), "epoch errors")
    problems += compare(list(module.parameters()[0]), list(rec["paramsAfter"]), "params after")
    for key in ("learningRate", "learningRateDecay", "maxIteration", "shuffleIndices"):
        problems += compare(getattr(trainer, key), rec[key], key)
    if repr(trainer) != "nn.StochasticGradient" or str(module) != rec["str"]:
        problems.append(f"print-outs: {trainer!r} / {module}")
    return problems


def summary_line(results: list[Result], idx=None) -> str:
    """``golden: N of 181 components replay, M not implemented, K mismatches``."""
    comps = components(idx)
    graphs = [r for r in results if r.file.startswith("nngraph/")]
    results = [r for r in results if not r.file.startswith("nngraph/")]
    by_name: dict[str, list[Result]] = {}
    for r in results:
        by_name.setdefault(r.name, []).append(r)
    replay_n = missing_n = mismatch_n = waiting_n = 0
    have = set(_nn_classes()) | set(nn.__all__)  # the trainer is no Module
    for c in comps:
        rs = by_name.get(c)
        if c not in have:
            missing_n += 1
        elif not rs:
            waiting_n += 1  # replayed elsewhere (the trainer, optim) or not run
        elif any(r.status == "mismatch" for r in rs):
            mismatch_n += 1
        elif all(r.status == "ok" for r in rs):
            replay_n += 1
        else:
            waiting_n += 1  # some files also need a component nnlegacy lacks
    line = (
        f"golden: {replay_n} of {len(comps)} components replay, "
        f"{missing_n} not implemented, {mismatch_n} mismatches"
    )
    if waiting_n:
        line += f" ({waiting_n} implemented with files that need other components)"
    if graphs:
        line += f"; nngraph: {sum(r.status == 'ok' for r in graphs)} of {len(graphs)} graphs replay"
    return line


def main(argv):
    if not available():
        print("set NNLEGACY_GOLDEN_DIR to the golden folder (../shared/golden)")
        return 2
    chosen = entries()
    if argv:
        chosen = [e for e in chosen if e["name"] in argv or Path(e["file"]).stem in argv]
    results = [replay(e) for e in chosen]
    for r in results:
        print(r)
    print(summary_line(results) if not argv else f"{len(results)} files")
    return 0 if all(r.status != "mismatch" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
