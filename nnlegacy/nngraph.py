"""nngraph (torch/nngraph): modules wired as a directed acyclic graph of nodes.

``module()`` / ``module(node)`` / ``module([node, ...])`` make a node; ``node - module``
and ``-module`` are the same thing; ``gModule(inputs, outputs)`` runs the graph: forward
in topological order, backward in reverse order, gradients summed where a node feeds
several others. The node and graph classes follow torch/graph's ``Node``/``Graph``/
``Edge`` and nngraph's ``Node``, so node ids, the topological order and hence the order
of ``parameters()`` are Lua's; ``.t7`` files hold Lua's graph objects both ways.
"""

from __future__ import annotations

import os
import sys

from . import backend as B
from .containers import Container
from .graph import Edge, Graph, GraphNode, _index_of, _lua_list, dot, todot  # noqa: F401 - nngraph users reach them here, as graph.dot
from .module import Module, recursive_type

__all__ = ["gModule"]


# --- nodes -------------------------------------------------------------------------------
class NodeData:
    """A node's ``data`` table, shared by a node's copies in the forward and backward
    graphs: ``module``, ``input``, ``gradOutput``, ``mapindex`` (the input nodes' data, in
    order), ``reverseMap``, ``annotations``, ``selectindex``/``nSplitOutputs`` for splits.
    A field that is not set reads as None (Lua's nil)."""

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return None

    def __repr__(self):
        return f"NodeData({', '.join(sorted(self.__dict__))})"


def _debug_label() -> str:
    """``[file]:line_`` of the first caller outside nnlegacy, as nngraph's _debugLabel."""
    here = os.path.dirname(__file__)
    f = sys._getframe(1)
    while f is not None and os.path.dirname(f.f_code.co_filename) == here:
        f = f.f_back
    if f is None:
        return "[[C]]:-1_"
    return f"[{f.f_code.co_filename}]:{f.f_lineno}_"


class Node(GraphNode):
    """nngraph's ``nngraph.Node``: a graph node whose data holds a module (or routes a
    table). ``node.children`` are its inputs in the graph as built (and in ``bg``)."""

    def __init__(self, data=None):
        if data is None or isinstance(data, dict):
            data = NodeData(**(data or {}))
        super().__init__(data)
        if data.annotations is None:
            data.annotations = {}
        if data.mapindex is None:
            data.mapindex = []
        if data.reverseMap is None:
            data.reverseMap = {}
        if "_debugLabel" not in data.annotations:
            data.annotations["_debugLabel"] = _debug_label()

    def add(self, child, domap=False):
        super().add(child)
        if domap:
            if _index_of(self.data.mapindex, child.data):
                raise ValueError("Don't pass the same input twice.")
            self.data.mapindex.append(child.data)
            if self in child.data.reverseMap:
                raise ValueError("this connection has already been made!")
            child.data.reverseMap[self] = True

    def split(self, noutput: int):
        """``noutput`` nodes, each taking one element of this node's table output."""
        if noutput < 2:
            raise ValueError("splitting to one output is not supported")
        label = self.data.annotations.get("_debugLabel", "")
        where = _debug_label()
        mnode = Node(
            {
                "nSplitOutputs": noutput,
                "annotations": {"_debugLabel": f"{label} split at {where}-mnode"},
            }
        )
        mnode.add(self, True)
        nodes = []
        for i in range(1, noutput + 1):
            node = Node(
                {"selectindex": i, "input": [], "annotations": {"_debugLabel": f"{label}-{i}"}}
            )
            node.add(mnode, True)
            nodes.append(node)
        return tuple(nodes)

    def annotate(self, annotations=None, **kwargs):
        """Set annotations (``name``, ``description``, ``graphAttributes``); returns self."""
        self.data.annotations.update(annotations or {}, **kwargs)
        return self

    def graphNodeName(self):  # noqa: N802 - nngraph's name
        name = self.data.annotations.get("name")
        return f"{name} ({self.id})" if name else f"Node{self.id}"

    def graphNodeAttributes(self):  # noqa: N802
        attrs = self.data.annotations.setdefault("graphAttributes", {})
        attrs.setdefault("tooltip", self.data.annotations.get("_debugLabel"))
        return attrs

    def label(self) -> str:
        parts = []
        for k, v in self.data.__dict__.items():
            if k in ("forwardNodeId", "annotations"):
                continue
            if k == "mapindex":
                if len(v) > 1:
                    ids = ",".join(f"Node{d.forwardNodeId or ''}" for d in v)
                    parts.append(f"mapindex = {{{ids}}}")
                continue
            parts.append(f"{k} = {_label_value(v)}")
        desc = self.data.annotations.get("description")
        return (f"desc = {desc}\\n" if desc else "") + "\\l".join(parts)

    def __sub__(self, module):
        """``node - module``: ``module(node)``."""
        return module(self)

    def __neg__(self):
        return self

    def __repr__(self):
        what = self.data.module if self.data.module is not None else "-"
        return f"nngraph.Node({what})"


def _label_value(v) -> str:
    if v is None:
        return ""
    if B.is_array(v):
        t = "Tensor" if B.type_of(v) == B.getdefaulttensortype() else B.type_of(v)
        return f"{t}[{'x'.join(str(s) for s in v.shape)}]"
    if isinstance(v, (list, tuple)):
        return "{" + ",".join(_label_value(x) for x in v) + "}"
    if isinstance(v, dict):  # Lua's label walks the array part only (ipairs)
        return "{" + ",".join(_label_value(x) for x in _lua_list(v)) + "}"
    return str(v).replace("\n", "\\l")


def is_node_input(x) -> bool:
    """Whether ``module(x)`` builds a graph node: x is a Node, or a non-empty list of them
    (a list mixing nodes and other things is an error; an empty list forwards, as a
    table of no arrays)."""
    if isinstance(x, Node):
        return True
    if isinstance(x, (list, tuple)) and x:
        nodes = [isinstance(n, Node) for n in x]
        if any(nodes) and not all(nodes):
            bad = nodes.index(False) + 1
            raise TypeError(
                f"Expected nngraph.Node in inputs[{bad}], got {type(x[bad - 1]).__name__}"
            )
        return all(nodes)
    return False


def module_node(module, inputs) -> Node:
    """Lua's ``module(inputs)`` under nngraph: a node holding ``module``."""
    if isinstance(inputs, Node):
        inputs = [inputs]
    node = Node({"module": module})
    for dnode in inputs:
        node.add(dnode, True)
    return node


def annotate(node: Node, annotations=None, **kwargs) -> Node:
    """``node:annotate{...}``: set a node's name, description or graphAttributes."""
    return node.annotate(annotations, **kwargs)


def annotateNodes(names=None):  # noqa: N802 - nngraph's name
    """nngraph.annotateNodes(): name every unnamed node after the caller's local variable
    that holds it (or after ``names``, a dict name -> node)."""
    if names is None:
        names = sys._getframe(1).f_locals
    for k, v in list(names.items()):
        if isinstance(v, Node) and "name" not in v.data.annotations:
            v.data.annotations["name"] = k


# --- nested tables of arrays -------------------------------------------------------------
def _clone_nested(x):
    if isinstance(x, (list, tuple)):
        return [_clone_nested(v) for v in x]
    return x.copy()


def _add_nested(acc, x):
    if isinstance(acc, list):
        for i, v in enumerate(x):
            acc[i] = _add_nested(acc[i], v)
        return acc
    acc += x
    return acc


def _set_at(lst, i, value):
    """``lst[i] = value`` with Lua's 1-based ``i``, growing the list with holes (None)."""
    while len(lst) < i:
        lst.append(None)
    lst[i - 1] = value


def _unwrap(items):
    """A node's input list as its module sees it: the one element, or the list."""
    return items[0] if len(items) == 1 else items


# --- gModule -----------------------------------------------------------------------------
def _total_grad(data):
    """The sum of the gradients a node received (one per consumer)."""
    grads = data.gradOutput
    if len(grads) == 1:
        return grads[0]
    total = _clone_nested(grads[0])
    for g in grads[1:]:
        total = _add_nested(total, g)
    data.gradOutputBuffer = total
    return total


class gModule(Container):  # noqa: N801 - Lua's name
    """A module made of a graph of nodes.

    ``nn.gModule(inputs, outputs)``: ``inputs`` and ``outputs`` are lists of nodes; with
    several of them, the input (output) is a list in that order. ``fg``/``bg`` are the
    forward and backward graphs, ``forwardnodes``/``backwardnodes`` their topological
    orders, ``modules`` the graph's modules in forward order.
    Shape: whatever the graph computes.
    """

    def __init__(self, inputs, outputs):
        super().__init__()
        inputs, outputs = _node_list(inputs, "inputs"), _node_list(outputs, "outputs")
        outnode = Node({"input": []})
        for node in outputs:
            outnode.add(node, True)
        innode = Node({"input": []})
        if not inputs:
            raise ValueError("no inputs are not supported")
        if len(inputs) == 1:
            inputs[0].add(innode, True)
        else:
            for node in inputs:
                if node.children:
                    raise ValueError("an input should have no inputs")
            for node, split in zip(inputs, innode.split(len(inputs))):
                node.add(split, True)
        self.bg = outnode.graph()
        self.fg = self.bg.reverse()[0]
        roots = self.fg.roots()
        if len(roots) != 1 or roots[0].data is not innode.data:
            raise ValueError("expecting only one start: every node must depend on the inputs")
        self.innode = roots[0]
        self.outnode = outnode
        self.verbose = False
        self.nInputs = len(inputs)
        self.forwardnodes = self.fg.topsort()
        self.backwardnodes = self.bg.topsort()
        for i, node in enumerate(self.forwardnodes):
            d = node.data
            if d.nSplitOutputs and d.nSplitOutputs != len(node.children):
                raise ValueError(
                    f"{d.nSplitOutputs - len(node.children)} of split({d.nSplitOutputs}) "
                    f"outputs from the node declared at "
                    f"{d.annotations.get('_debugLabel')} are unused"
                )
            later = {id(n.data) for n in self.forwardnodes[i + 1 :]}
            for succ in d.reverseMap:
                if id(succ.data) not in later:
                    raise ValueError(
                        f"node declared on {succ.data.annotations.get('_debugLabel')} "
                        "does not connect to gmodule output"
                    )
            d.forwardNodeId = node.id
            if d.module is not None:
                self.modules.append(d.module)
        self.output = outnode.data.input if len(outnode.children) > 1 else self._zeros(0)
        self.gradInput = self._zeros(0)

    # --- forward ---------------------------------------------------------------------
    def updateOutput(self, input):
        return self.runForwardFunction("updateOutput", input)

    def runForwardFunction(self, func, input):  # noqa: N802
        if isinstance(func, str):
            name = func

            def func(module, x):
                return getattr(module, name)(x)

        n_inputs = self.nInputs or len(self.innode.children)
        if n_inputs <= 1:
            input = [input]
        elif not isinstance(input, (list, tuple)):
            raise TypeError(f"expecting table of {n_inputs} inputs")
        if len(input) != n_inputs:
            raise ValueError(f"Got {len(input)} inputs instead of {n_inputs}")
        for node in self.forwardnodes:
            if node.data.input:
                node.data.input.clear()
        innode = self.innode
        if innode.data.input is None:
            innode.data.input = []
        for i, item in enumerate(input, 1):
            _set_at(innode.data.input, i, item)
        for node in self.forwardnodes:
            self._forward_node(node, func)
        out = self.outnode.data.input
        self.output = out[0] if len(self.outnode.children) == 1 else out
        return self.output

    def _forward_node(self, node, func):
        d = node.data
        if d.selectindex:
            x = d.input[0]
            if not isinstance(x, (list, tuple)):
                raise TypeError("the input for a split should be a table")
            out = x[d.selectindex - 1]
        else:
            items = d.input if d.input is not None else []
            x = _unwrap(items)
            out = x if d.module is None else func(d.module, x)
            if d.nSplitOutputs and d.nSplitOutputs != len(out):
                raise ValueError(f"split({d.nSplitOutputs}) cannot split {len(out)} outputs")
        for child in node.children:
            cd = child.data
            if cd.input is None:
                cd.input = []
            k = _index_of(cd.mapindex, d)
            if k <= len(cd.input) and cd.input[k - 1] is not None:
                raise ValueError("each input should have one source")
            _set_at(cd.input, k, out)
        if self.verbose:
            print(" V : " + node.label())

    # --- backward --------------------------------------------------------------------
    def _check_grad_table(self, gradOutput):
        n = len(self.outnode.children)
        if n > 1 and (not isinstance(gradOutput, (list, tuple)) or len(gradOutput) != n):
            got = len(gradOutput) if isinstance(gradOutput, (list, tuple)) else 1
            raise ValueError(f"Got {got} gradOutputs instead of {n}")

    def updateGradInput(self, input, gradOutput):
        self._check_grad_table(gradOutput)
        for node in self.backwardnodes:
            if node.data.gradOutput:
                node.data.gradOutput.clear()
        od = self.outnode.data
        if od.gradOutput is None:
            od.gradOutput = []
        _set_at(od.gradOutput, 1, gradOutput)
        for node in self.backwardnodes:
            self._backward_node(node)
        grads = self.innode.data.gradOutput
        if not grads or len(grads) != 1:
            raise ValueError("expecting the innode to be used only once")
        self.gradInput = grads[0]
        return self.gradInput

    def _backward_node(self, node):
        d = node.data
        if d.selectindex:
            child = node.children[0]
            go = _total_grad(d)
            cd = child.data
            if cd.gradOutput is None:
                cd.gradOutput = []
            if len(cd.gradOutput) > 1:
                raise ValueError("the splitted node should be used only once")
            if not cd.gradOutput:
                cd.gradOutput.append([])
            _set_at(cd.gradOutput[0], d.selectindex, go)
        else:
            go = _total_grad(d)
            if d.module is None:
                gi = go
            else:
                items = d.input if d.input is not None else []
                gi = d.module.updateGradInput(_unwrap(items), go)
            for child in node.children:
                cd = child.data
                if cd.gradOutput is None:
                    cd.gradOutput = []
                k = _index_of(d.mapindex, cd)
                cd.gradOutput.append(gi if len(node.children) == 1 else gi[k - 1])
        if self.verbose:
            print(" V : " + node.label())

    def accGradParameters(self, input, gradOutput, scale=1):
        self._check_grad_table(gradOutput)
        for node in self.backwardnodes:
            d = node.data
            if d.module is None:
                continue
            go = d.gradOutput[0] if len(d.gradOutput) == 1 else d.gradOutputBuffer
            items = d.input if d.input is not None else []
            d.module.accGradParameters(_unwrap(items), go, scale)

    # --- the rest of the protocol ----------------------------------------------------
    def map(self, gm, func):
        """Call ``func(mine, theirs)`` on the modules of two graphs of the same shape."""
        for node, other in zip(self.forwardnodes, gm.forwardnodes):
            if node.data.module is not None:
                if other.data.module is None:
                    raise ValueError("trying to map another gModule with a different structure")
                func(node.data.module, other.data.module)

    def type(self, type=None, tensorCache=None):  # noqa: A002
        if type is None:
            return self._type
        cache = {} if tensorCache is None else tensorCache
        super().type(type, cache)
        for node in self.forwardnodes:
            d = node.data
            for k in ("input", "gradOutput", "gradOutputBuffer"):
                v = getattr(d, k)
                if v is not None:
                    setattr(d, k, recursive_type(v, type, cache))
        return self

    def clearState(self):
        super().clearState()
        for node in self.backwardnodes:
            node.data.gradOutput = None
            node.data.gradOutputBuffer = None
        for node in self.forwardnodes:
            node.data.input = None
        return self

    def clone(self, *names):
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 20 * len(self.forwardnodes) + 1000))
        try:
            return super().clone(*names)
        finally:
            sys.setrecursionlimit(limit)

    def __tostring__(self):
        name = self.__dict__.get("name")
        return name if isinstance(name, str) else self._name()

    # --- .t7 -------------------------------------------------------------------------
    def _after_load(self):
        """Rebuild the graph from Lua's graph objects (read as plain LuaObjects)."""
        from .nngraph_t7 import FromLua
        from .t7 import LuaObject

        conv = FromLua(LuaObject)
        d = self.__dict__
        for k in ("innode", "outnode"):
            d[k] = conv.node(d[k])
        for k in ("fg", "bg"):
            d[k] = conv.graph(d[k])
        for k in ("forwardnodes", "backwardnodes"):
            d[k] = [conv.node(n) for n in _lua_list(d[k])]
        if not d.get("modules"):
            d["modules"] = [n.data.module for n in d["forwardnodes"] if n.data.module is not None]
        d.setdefault("verbose", False)
        d.setdefault("nInputs", None)
        if d.get("output") is None:
            d["output"] = self._zeros(0)
        if d.get("gradInput") is None:
            d["gradInput"] = self._zeros(0)

    def _lua_fields(self, fields):
        """Lua's graph objects for the graph fields (what nngraph's Lua code reads)."""
        from .nngraph_t7 import ToLua
        from .t7 import LuaObject, LuaTableKey

        conv = ToLua(LuaObject, LuaTableKey)
        for k in ("innode", "outnode"):
            fields[k] = conv.node(fields[k])
        for k in ("fg", "bg"):
            fields[k] = conv.graph(fields[k])
        for k in ("forwardnodes", "backwardnodes"):
            fields[k] = [conv.node(n) for n in fields[k]]
        return fields


def _node_list(nodes, what):
    if isinstance(nodes, Node):
        nodes = [nodes]
    nodes = list(nodes)
    for i, n in enumerate(nodes, 1):
        if not isinstance(n, Node):
            raise TypeError(
                f"Expected nngraph.Node in {what}[{i}], got {type(n).__name__}"
                + (" (call the module: module() or module(node))" if isinstance(n, Module) else "")
            )
    return nodes
