"""torch/graph: directed graphs of nodes (``graph.Node``, ``graph.Edge``, ``graph.Graph``)
with Lua's algorithms (breadth-first graph building, reverse, roots, topological sort),
so node ids and orders are Lua's; and the Graphviz export (``graph.todot``/``graph.dot``).
nngraph's nodes (``nnlegacy.nngraph.Node``) are built on them."""

from __future__ import annotations

import shutil
import subprocess

__all__ = ["GraphNode", "Edge", "Graph", "todot", "dot"]


def _index_of(seq, item) -> int:
    """1-based position of ``item`` in ``seq`` by identity (Lua's reverse map), or 0."""
    for i, x in enumerate(seq, 1):
        if x is item:
            return i
    return 0


class GraphNode:
    """torch/graph's ``graph.Node``: ``data``, ``children`` (a list), ``visited``,
    ``marked``, and ``id`` once in a Graph."""

    def __init__(self, data=None):
        self.data = data
        self.children = []
        self.visited = False
        self.marked = False

    def new(self, data):
        """A node of the same class sharing ``data`` (Lua's ``node.new(data)``)."""
        return type(self)(data)

    def add(self, child):
        if isinstance(child, list):
            for c in child:
                self.add(c)
        elif _index_of(self.children, child) == 0:
            self.children.append(child)

    def dfs(self, func):
        """Depth first from this node, ``func`` called on each node after its children."""
        seen = set()
        stack = [(self, iter(self.children))]
        seen.add(id(self))
        while stack:
            node, it = stack[-1]
            for child in it:
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, iter(child.children)))
                    break
            else:
                stack.pop()
                func(node)

    def bfs(self, func):
        seen, queue = {id(self)}, [self]
        while queue:
            node = queue.pop(0)
            func(node)
            for child in node.children:
                if id(child) not in seen:
                    seen.add(id(child))
                    queue.append(child)

    def graph(self) -> Graph:
        """The graph of every edge reachable from this node, breadth first."""
        g = Graph()
        self.bfs(lambda node: [g.add(Edge(node, child)) for child in list(node.children)])
        return g

    def label(self) -> str:
        return str(self.data)


# --- graphs ------------------------------------------------------------------------------
class Edge:
    """torch/graph's ``graph.Edge``: ``from_`` -> ``to`` (``from`` is a Python keyword)."""

    def __init__(self, from_, to):
        self.from_, self.to = from_, to

    def new(self, from_, to):
        return Edge(from_, to)


class Graph:
    """torch/graph's ``graph.Graph``: ``nodes`` and ``edges`` in insertion order."""

    def __init__(self):
        self.nodes, self.edges = [], []
        self._nindex, self._eindex = {}, {}

    def _node_id(self, node):
        if id(node) not in self._nindex:
            self.nodes.append(node)
            self._nindex[id(node)] = len(self.nodes)
        return self._nindex[id(node)]

    def add(self, edge):
        if isinstance(edge, list):
            for e in edge:
                self.add(e)
            return
        if id(edge) not in self._eindex:
            self.edges.append(edge)
            self._eindex[id(edge)] = len(self.edges)
        self._node_id(edge.from_)
        self._node_id(edge.to)
        GraphNode.add(edge.from_, edge.to)
        edge.from_.id = self._nindex[id(edge.from_)]
        edge.to.id = self._nindex[id(edge.to)]

    def reverse(self):
        """(a graph with every edge reversed on new nodes sharing the data, {id: new})."""
        rg, new = Graph(), {}
        for e in self.edges:
            for n in (e.from_, e.to):
                if id(n) not in new:
                    new[id(n)] = n.new(n.data)
            rg.add(e.new(new[id(e.to)], new[id(e.from_)]))
        return rg, new

    def roots(self):
        starts = {id(e.from_): e.from_ for e in self.edges}
        for e in self.edges:
            starts.pop(id(e.to), None)
        return sorted(starts.values(), key=lambda n: self._nindex[id(n)])

    def leaves(self):
        ends = {id(e.to): e.to for e in self.edges}
        for e in self.edges:
            ends.pop(id(e.from_), None)
        return sorted(ends.values(), key=lambda n: self._nindex[id(n)])

    def topsort(self):
        """The nodes, each after all the nodes it has edges from (Lua's order)."""
        rg, new = self.reverse()
        back = {id(v): self.nodes[self._nindex[k] - 1] for k, v in new.items()}
        roots = rg.roots()
        if not roots:
            raise ValueError("Graph has cycles")
        order = []
        for root in roots:
            root.dfs(lambda n: order.append(back[id(n)]))
        if len(order) != len(self.nodes):
            raise ValueError("Graph has cycles")
        return order

    def clone(self):
        g, new = Graph(), {}
        for n in self.nodes:
            new[id(n)] = n.new(n.data)
        for e in self.edges:
            g.add(e.new(new[id(e.from_)], new[id(e.to)]))
        return g

    def _after_rebuild(self):
        self._nindex = {id(n): i for i, n in enumerate(self.nodes, 1)}
        self._eindex = {id(e): i for i, e in enumerate(self.edges, 1)}


# --- Graphviz ----------------------------------------------------------------------------
def _dot_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def todot(g: Graph, title: str | None = None) -> str:
    """The Graphviz text of a graph (torch/graph's ``graph.todot``)."""
    lines = ["digraph G {"]
    if title:
        lines.append(f'labelloc="t";\nlabel={_dot_quote(title)};')
    lines.append("node [shape = oval];")
    for node in g.nodes:
        name = node.graphNodeName() if hasattr(node, "graphNodeName") else f"Node{node.id}"
        text = _dot_quote(name + "\n" + node.label()).replace("\\\\l", "\\l")
        attrs = ""
        if hasattr(node, "graphNodeAttributes"):
            attrs = "".join(
                f", {k}={_dot_quote(str(v))}"
                for k, v in node.graphNodeAttributes().items()
                if v is not None
            )
        lines.append(f"n{node.id}[label={text}{attrs}];")
    for e in g.edges:
        lines.append(f"n{e.from_.id} -> n{e.to.id};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot(g: Graph, title: str | None = None, fname: str | None = None, fmt: str = "svg"):
    """torch/graph's ``graph.dot``: writes ``fname.dot`` and, when the Graphviz ``dot``
    program is installed, renders ``fname.<fmt>``; returns the dot text."""
    text = todot(g, title)
    if fname:
        with open(fname + ".dot", "w") as f:
            f.write(text)
        exe = shutil.which("dot")
        if exe:
            subprocess.run([exe, f"-T{fmt}", "-o", f"{fname}.{fmt}", f"{fname}.dot"], check=True)
    return text


def _lua_list(t):
    """The array part of a Lua table read from a file (a list, or a dict with 1..n)."""
    if isinstance(t, list):
        return t
    if isinstance(t, dict):
        out, i = [], 1
        while i in t:
            out.append(t[i])
            i += 1
        return out
    return []
