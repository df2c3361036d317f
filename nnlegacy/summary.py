"""Net summaries: the rows behind ``tools/printshape`` (the lecture's tables).

``summary(model, input_shape)`` runs one forward and backward pass on a *clone* of the
model (so the model's parameters, statistics, mode and device are left as they were)
and returns a :class:`Summary`: one row per module with its output shape, parameters,
activations, mult-adds, kernel/stride/pad and where floor sizing dropped input edges.
A container's row carries the totals of the rows below it.

``str(summary)`` is the 80-column table ``printshape`` prints; ``summary.table(wide=True)``
the long form with Lua's full print-outs.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field

import numpy as np

from . import backend as B
from . import convolution as C
from . import convolution_map as CM
from . import convolution_spatial as CS
from . import convolution_temporal as CT
from .containers import Container
from .kernels.pooling import pool_output_size
from .kernels.unfold import dropped as _dropped
from .linear import Linear
from .local_norm import SpatialDivisiveNormalization, SpatialSubtractiveNormalization
from .module import Module
from .pooling import _SpatialPooling
from .pooling_nd import TemporalMaxPooling, _VolumetricPooling


@dataclass
class Row:
    path: str  # Torch's 1-based index path, e.g. "2.3"; "" for the whole net
    depth: int
    module: str  # the Lua print-out (first line for containers)
    output: str  # output shape, C x H x W (with the batch when it was given)
    params: int  # weights and biases (shared storages counted once); containers: the total
    activations: int  # output elements per image
    mult_adds: int  # per image; containers: the total of the rows below
    kernel: str = ""  # e.g. "11x11/4, pad 0" for convolution and pooling
    note: str = ""  # dropped edges, ceil mode
    weights: int = 0  # params without the biases (the lecture's VGG count)
    short: str = ""  # the module's name for the 80-column table


@dataclass
class Summary:
    rows: list
    input: str
    params: int
    forward_bytes: int  # per image: input and every output (distinct storages)
    forward_backward_bytes: int  # per image: activations + gradients + workspace
    mult_adds: int
    type: str
    extra: dict = field(default_factory=dict)
    weights: int = 0  # params without the biases
    activation_bytes: int = 0  # per image: the input and every module's output
    gradient_bytes: int = 0  # per image: the gradInputs backward adds
    workspace_bytes: int = 0  # per image: im2col columns, pooling indices, noise, ...
    parameter_bytes: int = 0  # weights and biases (not per image; gradients as much again)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        cols = list(Row.__dataclass_fields__)
        w.writerow(cols)
        for r in self.rows:
            w.writerow([getattr(r, c) for c in cols])
        return buf.getvalue()

    def lines(self, depth=None, memory=True, weights_only=False):
        """(header, rows of cells, footer lines) of the long (``--wide``) table."""
        count = "weights" if weights_only else "params"
        header = ["module", "output", count, "mult-adds", "kernel", "note"]
        if memory:
            header.insert(3, "activations")
        body = []
        for r in self.rows:
            if depth is not None and r.depth > depth:
                continue
            label = ("  " * max(r.depth - 1, 0)) + (f"({r.path}) " if r.path else "") + r.module
            n = r.weights if weights_only else r.params
            cells = [label, r.output, _num(n), _num(r.mult_adds), r.kernel, r.note]
            if memory:
                cells.insert(3, _num(r.activations))
            body.append(cells)
        return header, body, self.footer(weights_only)

    def footer(self, weights_only=False, notes=()):
        """What the table counts, its totals and the memory per image, in short lines."""
        if weights_only:
            counted = (
                f"weights: {_both(self.weights)}, biases not counted (with them: {self.params:,})"
            )
        else:
            counted = (
                f"params: {_both(self.params)}, weights and biases "
                f"(weights alone: {self.weights:,})"
            )
        lines = [f"[{i}] {text}" for i, text in enumerate(notes, 1)]
        lines += [
            f"input {self.input} ({self.type}); containers show the totals of their rows",
            counted,
            f"mult-adds per image: {_both(self.mult_adds)}; K=10^3, M=10^6",
            f"memory per image: activations {_mib(self.activation_bytes)}, "
            f"gradients {_mib(self.gradient_bytes)},",
            f"  workspace {_mib(self.workspace_bytes)} (im2col columns, pooling indices, buffers)",
            f"parameters {_mib(self.parameter_bytes)}, and as much again for their gradients",
        ]
        return lines

    def table(self, depth=None, memory=False, weights_only=False, wide=False, width=80):
        """The text printshape prints: 80 columns by default, Lua's print-outs with ``wide``."""
        if wide:
            header, body, footer = self.lines(depth, memory, weights_only)
            return _ascii_table(header, body) + "\n" + "\n".join(footer)
        return _narrow_table(self, depth, memory, weights_only, width)

    def __str__(self) -> str:
        return self.table()


def _num(n):
    return f"{n:,}" if n else ""


def _si(n):
    """3 significant digits with K, M, G (powers of 1000): 117600 -> '118K'."""
    if n < 1000:
        return str(n)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale * 0.9995:
            v = n / scale
            return (f"{v:.3g}" if v < 1000 else f"{v:,.0f}") + unit
    return str(n)


def _both(n):
    return f"{n:,} ({_si(n)})" if n >= 1000 else f"{n:,}"


def _mib(b):
    if b >= 2**20:
        return f"{b / 2**20:.1f} MiB"
    return f"{b / 1024:.1f} KiB" if b >= 1024 else f"{b} B"


_ABBREVIATIONS = (
    ("Convolution", "Conv"),
    ("Normalization", "Norm"),
    ("Pooling", "Pool"),
    ("Spatial", ""),  # the lecture's default; Temporal and Volumetric stay
)


def _short_name(name, kernel):
    """The 80-column table's module name: no ``nn.``, the kernel (in its own column)
    dropped from the arguments, long words shortened: ``Conv(3->96)``."""
    text = name[3:] if name.startswith("nn.") else name
    text = text.replace(" (4D)", "").replace(" (2D)", "").replace(" -> ", "->")
    text = text.replace(" (", "(")
    if kernel and "(" in text:
        head, args = text.split("(", 1)
        first = args.split(", ")[0].rstrip(")")
        text = head + (f"({first})" if "->" in first else "")
    if " " in text and len(text) > 22:  # "SpatialMaxUnpooling associated to ...": the class
        text = text.split(" ")[0]
    for long, short in _ABBREVIATIONS:
        text = text.replace(long, short)
    return text or name


def _narrow_output(text):
    """A table output in a few characters: ``{256x56x56}x2``, or ``{3 tensors}``."""
    if not text.startswith("{") or len(text) <= 14:
        return text
    parts = text[1:-1].split(", ")
    if len(set(parts)) == 1 and "{" not in parts[0]:
        return "{" + parts[0] + "}x" + str(len(parts))
    return f"{{{text.count(', ') + 1} tensors}}" if "{" not in text[1:] else "{tensors}"


def _narrow_kernel(k):
    return (
        k.replace(", pad ", " p").replace(", dil ", " d").replace(" transposed", " T")
        .replace(" ceil", " c")
    )  # fmt: skip


def _narrow_table(s, depth, memory, weights_only, width):
    """torchinfo-style plain text within ``width`` columns; notes become footnotes."""
    notes, body = [], []
    for r in s.rows:
        if depth is not None and r.depth > depth:
            continue
        mark = ""
        if r.note:
            if r.note not in notes:
                notes.append(r.note)
            mark = f"[{notes.index(r.note) + 1}]"
        n = r.weights if weights_only else r.params
        cells = [r.path or "-", r.short or r.module, _narrow_output(r.output)]
        cells += [_num(n), _si(r.mult_adds) if r.mult_adds else ""]
        if memory:
            cells.append(_si(r.activations) if r.activations else "")
        cells += [_narrow_kernel(r.kernel), mark]
        body.append(cells)
    header = ["#", "module", "output", "weights" if weights_only else "params", "mult-adds"]
    header += ["acts"] if memory else []
    header += ["kernel", ""]
    right = {3, 4, 5} if memory else {3, 4}
    widths = [max(len(c) for c in col) for col in zip(header, *body)]
    names, others = widths[1], sum(widths) - widths[1]
    gap = 2 if others + names + 2 * (len(widths) - 1) <= width or names <= 12 else 1
    # the module names give way (down to 12 characters), then the gaps
    room = width - others - gap * (len(widths) - 1)
    if gap == 1 and room < 12:
        gap, room = 2, width - others - 2 * (len(widths) - 1)
    widths[1] = min(names, max(12, room))
    total = sum(widths) + gap * (len(widths) - 1)

    def line(cells):
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            if len(c) > w:
                c = c[: w - 1] + "~"
            out.append(c.rjust(w) if i in right else c.ljust(w))
        return (" " * gap).join(out).rstrip()

    rule = "=" * min(total, width)
    lines = [rule, line(header), "-" * min(total, width)] + [line(b) for b in body] + [rule]
    return "\n".join(lines + s.footer(weights_only, notes))


def _ascii_table(header, body):
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body)]
    sep = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    return "\n".join([sep, line(header), sep] + [line(b) for b in body] + [sep])


def _shape_str(shape, batched):
    """C x H x W; a batch of one that the user did not ask for is not shown (a View
    without setNumInputDims flattens such a batch away, as in Torch)."""
    if isinstance(shape, list):
        return "{" + ", ".join(_shape_str(s, batched) for s in shape) + "}"
    dims = shape if batched or len(shape) < 2 or shape[0] != 1 else shape[1:]
    return "x".join(str(d) for d in dims) if dims else "1"


def _shapes(out):
    if isinstance(out, (list, tuple)):
        return [_shapes(o) for o in out]
    return tuple(out.shape)


def _arrays(v):
    if B.is_array(v):
        yield v
    elif isinstance(v, (list, tuple)):
        for x in v:
            yield from _arrays(x)


def _geometry_note(m, in_shape):
    """(kernel text, note on dropped edges / ceil) for convolution and pooling."""
    conv = _conv_geometry(m, in_shape)
    if conv is not None:
        return _conv_kernel_text(conv), _conv_dropped_text(conv)
    if not in_shape or len(in_shape) < 3:
        return "", ""
    h, w = in_shape[-2:]
    axes = _pool_axes(m, in_shape)
    if axes:
        return _pool_note(*axes)
    return "", ""


def _pool_axes(m, in_shape):
    """(sizes, kernels, strides, pads, dilations, ceil, Lua's kernel order) of a
    max/average pooling module over 1, 2 or 3 axes, in input-axis order; None otherwise."""
    if isinstance(m, _SpatialPooling):
        padW, padH = m._pads()
        dil = (getattr(m, "dilationH", 1), getattr(m, "dilationW", 1))
        ks, ds = (m.kH, m.kW), (m.dH, m.dW)
        return in_shape[-2:], ks, ds, (padH, padW), dil, bool(m.ceil_mode), (1, 0)
    if isinstance(m, _VolumetricPooling) and len(in_shape) >= 4:
        return (in_shape[-3:], *m._dims(), bool(m.ceil_mode), (0, 2, 1))
    if isinstance(m, TemporalMaxPooling):
        return in_shape[-2:-1], (m.kW,), (m.dW,), (0,), (1,), False, (0,)
    return None


def _pool_note(sizes, ks, ds, pads, dils, ceil, order):
    """(kernel text, note on dropped edges / ceil) for pooling of any rank."""
    kernel = "x".join(str(ks[i]) for i in order) + f"/{ds[order[0]]}"
    kernel += f", pad {pads[order[0]]}" if any(pads) else ""
    kernel += f", dil {dils[order[0]]}" if any(d != 1 for d in dils) else ""
    kernel += " ceil" if ceil else ""
    floor = [pool_output_size(*a, False, dl) for *a, dl in zip(sizes, ks, ds, pads, dils)]
    if ceil:
        up = [pool_output_size(*a, True, dl) for *a, dl in zip(sizes, ks, ds, pads, dils)]
        if up != floor:
            shown = "x".join(map(str, up)), "x".join(map(str, floor))
            return kernel, f":ceil() gives {shown[0]} (floor would give {shown[1]})"
        return kernel, ""
    dropped = [
        s + 2 * p - ((o - 1) * d + (k - 1) * dl + 1)
        for s, k, d, p, dl, o in zip(sizes, ks, ds, pads, dils, floor)
    ]
    return kernel, _dropped_text(dropped)


def _dropped_text(dropped):
    """'floor drops 1 row, 2 cols of the input' (frames first for 1-D and 3-D input)."""
    names = {1: ("frame",), 2: ("row", "col"), 3: ("frame", "row", "col")}[len(dropped)]
    parts = [f"{d} {n}{'s' if d > 1 else ''}" for n, d in zip(names, dropped) if d > 0]
    return ("floor drops " + ", ".join(parts) + " of the input") if parts else ""


def _mult_adds(m, out_shape, n, in_shape=None):
    conv = _conv_geometry(m, in_shape)
    if conv is not None and isinstance(out_shape, tuple):
        return _conv_mult_adds(m, conv, out_shape)
    if isinstance(m, Linear):
        return int(m.weight.size)
    if isinstance(m, (SpatialSubtractiveNormalization, SpatialDivisiveNormalization)):
        taps = int(np.prod(m.kernel.shape)) ** (2 if m.kernel.ndim == 1 else 1)
        return int(np.prod(out_shape[-3:])) * taps  # one kernel pass over every plane
    return 0


# --- the convolution family: one rule for every rank ------------------------------------
_AXES = {1: ("frame",), 2: ("row", "col"), 3: ("frame", "row", "col")}


@dataclass
class _Conv:
    sizes: tuple  # the convolved input sizes, outermost first
    k: tuple
    d: tuple
    pad: tuple
    dil: tuple
    transposed: bool = False


def _conv_geometry(m, in_shape):
    """The sizes, kernel, stride, pad and dilation of a convolution-family module on an
    input of ``in_shape``, or None for other modules."""
    if isinstance(in_shape, list) and in_shape:  # {input, target} of a full convolution
        in_shape = in_shape[0]
    if not isinstance(in_shape, tuple) or not in_shape:
        return None
    if isinstance(m, (C._UnfoldConvolution, C.SpatialConvolution)):
        k, d, pad, dil = m._dims()
        return _Conv(in_shape[-len(k) :], k, d, pad, dil)
    if isinstance(m, C._FullConvolution):
        k, d, pad, _ = m._dims()
        return _Conv(in_shape[-len(k) :], k, d, pad, (1,) * len(k), True)
    if isinstance(m, (CS.SpatialDepthWiseConvolution, CS.SpatialConvolutionLocal)):
        return _Conv(in_shape[-2:], (m.kH, m.kW), (m.dH, m.dW), (m.padH, m.padW), (1, 1))
    if isinstance(m, (CS.SpatialSubSampling, CM._ConnectionTable)):
        transposed = isinstance(m, CM.SpatialFullConvolutionMap)
        return _Conv(in_shape[-2:], (m.kH, m.kW), (m.dH, m.dW), (0, 0), (1, 1), transposed)
    if isinstance(m, (CT.TemporalConvolution, CT.TemporalSubSampling, CT.TemporalRowConvolution)):
        t = in_shape[-1] if getattr(m, "featFirst", False) else in_shape[-2]
        return _Conv((t,), (m.kW,), (m.dW,), (0,), (1,))
    return None


def _lua_order(t):
    """Sizes in the order Lua prints them: W, H for 2-D and T, W, H for 3-D."""
    if len(t) == 3:
        return (t[0], t[2], t[1])
    return t[::-1]


def _one_or_all(t):
    t = _lua_order(t)
    return str(t[0]) if len(set(t)) == 1 else ",".join(map(str, t))


def _conv_kernel_text(c):
    text = "x".join(map(str, _lua_order(c.k))) + "/" + _one_or_all(c.d)
    text += f", pad {_one_or_all(c.pad)}" if any(c.pad) else ""
    text += f", dil {_one_or_all(c.dil)}" if any(v != 1 for v in c.dil) else ""
    return text + (" transposed" if c.transposed else "")


def _conv_dropped_text(c):
    if c.transposed:
        return ""
    counts = [_dropped(*a) for a in zip(c.sizes, c.k, c.d, c.pad, c.dil)]
    parts = [
        f"{n} {name}{'s' if n > 1 else ''}" for n, name in zip(counts, _AXES[len(counts)]) if n
    ]
    return ("floor drops " + ", ".join(parts) + " of the input") if parts else ""


def _conv_mult_adds(m, c, out_shape):
    """Per image; each output (input, for a transposed one) position costs a kernel's
    worth of multiply-adds per connected pair of planes."""
    window = int(np.prod(c.k))
    if isinstance(m, (CT.TemporalConvolution, CT.TemporalSubSampling, CT.TemporalRowConvolution)):
        frames = out_shape[-1] if getattr(m, "featFirst", False) else out_shape[-2]
        width = (
            m.inputFrameSize
            if not isinstance(m, CT.TemporalConvolution)
            else (m.inputFrameSize * m.outputFrameSize)
        )
        return frames * width * window
    positions = int(np.prod(c.sizes if c.transposed else out_shape[-len(c.k) :]))
    if isinstance(m, (CM.SpatialConvolutionMap, CM.SpatialFullConvolutionMap)):
        pairs = int(m.weight.shape[0])
    elif isinstance(m, CS.SpatialDepthWiseConvolution):
        pairs = m.nInputPlane * m.nOutputPlane
    elif isinstance(m, CS.SpatialSubSampling):
        pairs = m.nInputPlane
    else:
        pairs = m.nInputPlane * m.nOutputPlane
    return pairs * positions * window


def summary(model: Module, input_shape, type_name=None, batched=None) -> Summary:
    """Rows for every module of ``model`` on an input of ``input_shape``.

    ``input_shape`` is ``(C, H, W)`` (a batch of one is used, and shapes are shown
    without it) or ``(N, C, H, W)``; a list of shapes stands for a table input.
    ``batched`` says whether the first axis is the batch (default: for 4 axes only).
    """
    if batched is None:  # volumetric (C, T, H, W) input needs batched=False
        batched = not isinstance(input_shape, list) and len(input_shape) == 4
    net = model.clone()
    if type_name:
        net.type(type_name)
    ttype = net.type()
    xp, dtype = B.xp_dtype(ttype)

    def make(shape):
        if isinstance(shape, list):
            return [make(s) for s in shape]
        full = tuple(shape) if batched else (1, *shape)
        return xp.asarray(np.random.default_rng(0).uniform(0, 1, full), dtype=dtype)

    x = make(input_shape)
    n = (x[0] if isinstance(x, list) else x).shape[0]
    inputs = {}
    for m in net.listModules():

        def record(inp, _m=m, _f=m.updateOutput):
            inputs[id(_m)] = _shapes(inp)
            return _f(inp)

        m.updateOutput = record
    out = net.forward(x)
    grad = (
        [xp.ones(o.shape, dtype) for o in out]
        if isinstance(out, list)
        else xp.ones(out.shape, dtype)
    )
    try:
        net.backward(x, grad)
    except RuntimeError:
        # a net in evaluate mode whose dropout refuses backward, as Lua's does: its
        # shapes and counts stand; gradient memory is then what forward left
        pass

    rows, seen_params = [], set()

    def visit(m, path, depth):
        own, biases = 0, 0
        for p in (m.parameters() or ([], []))[0] if not isinstance(m, Container) else []:
            key = B.view_key(p)
            if key not in seen_params:
                seen_params.add(key)
                own += p.size
                biases += p.size if _is_bias(m, key) else 0
        shape = _shapes(m.output) if m.output is not None else ()
        acts = sum(a.size for a in _arrays(m.output)) // n
        kernel, note = _geometry_note(m, inputs.get(id(m)))
        name = str(m).split("\n")[0].rstrip(" {")
        rows.append(
            Row(
                path,
                depth,
                name,
                _shape_str(shape, batched),
                own,
                acts,
                _mult_adds(m, shape, n, inputs.get(id(m))),
                kernel,
                note,
            )
        )
        rows[-1].weights, rows[-1].short = own - biases, _short_name(name, kernel)
        for i, child in enumerate(getattr(m, "modules", None) or [], 1):
            visit(child, f"{path}.{i}" if path else str(i), depth + 1)

    visit(net, "", 0)
    _container_totals(rows)
    for m in net.listModules():  # restore the class's methods on the clone
        m.__dict__.pop("updateOutput", None)

    def nbytes(groups):
        seen, total = set(), 0
        for a in groups:
            if not a.size:
                continue
            key, flat, _, _ = B.storage_of(a)
            if key not in seen:
                seen.add(key)
                total += flat.nbytes
        return total

    params = {id(p) for m in net.listModules() for p in _param_arrays(m)}
    outputs = list(_arrays(x)) + [a for m in net.listModules() for a in _arrays(m.output)]
    grads = [a for m in net.listModules() for a in _arrays(m.gradInput)]
    buffers = [
        a
        for m in net.listModules()
        for k, v in vars(m).items()
        if k not in ("output", "gradInput")
        for a in _arrays(v)
        if id(a) not in params
    ]
    # each storage counted once, in the first group that holds it (an in-place ReLU's
    # output is its input's storage; a container's gradInput is its first child's)
    act_b = nbytes(outputs)
    grad_b = nbytes(outputs + grads) - act_b
    work_b = nbytes(outputs + grads + buffers) - act_b - grad_b
    weights = [p for m in net.listModules() for p in (m.parameters() or ([], []))[0]]
    totals = Summary(
        rows=rows,
        input=_shape_str(_shapes(x), True) if batched else _shape_str(_shapes(x), False),
        params=rows[0].params,
        forward_bytes=act_b // n,
        forward_backward_bytes=(act_b + grad_b + work_b) // n,
        mult_adds=rows[0].mult_adds,
        type=ttype,
        weights=rows[0].weights,
        activation_bytes=act_b // n,
        gradient_bytes=grad_b // n,
        workspace_bytes=work_b // n,
        parameter_bytes=nbytes(weights),
    )
    return totals


def _is_bias(m, key):
    bias = getattr(m, "bias", None)
    return B.is_array(bias) and bias.size and B.view_key(bias) == key


def _container_totals(rows):
    """Containers (rows with rows below them) get the sums of their direct children,
    which are themselves totals: the root row is the net's total."""
    for i in range(len(rows) - 1, -1, -1):
        r, kids, j = rows[i], [], i + 1
        while j < len(rows) and rows[j].depth > r.depth:  # rows are in pre-order
            kids += [rows[j]] if rows[j].depth == r.depth + 1 else []
            j += 1
        if kids:
            r.params = r.params + sum(c.params for c in kids)
            r.weights = r.weights + sum(c.weights for c in kids)
            r.mult_adds = r.mult_adds + sum(c.mult_adds for c in kids)


def _param_arrays(m):
    for name in ("weight", "bias", "gradWeight", "gradBias"):
        v = getattr(m, name, None)
        if B.is_array(v):
            yield v
