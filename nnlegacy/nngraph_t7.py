"""gModule's graph in ``.t7`` files: Lua's ``nngraph.Node``/``graph.Graph``/``graph.Edge``
objects (read as plain LuaObjects) to nnlegacy's nodes and graphs, and back, keeping
every shared node and data table shared."""

from __future__ import annotations

from .graph import Edge, Graph, GraphNode, _lua_list
from .nngraph import Node, NodeData


def _lua_holes(t):
    """An array-like Lua table that may have holes (node inputs): a list with None."""
    if isinstance(t, list):
        return t
    if isinstance(t, dict):
        ints = [k for k in t if isinstance(k, int) and k > 0]
        out = [None] * (max(ints) if ints else 0)
        for k in ints:
            out[k - 1] = t[k]
        return out
    return t


class FromLua:
    """Lua's nngraph objects (plain LuaObjects) -> Node/Graph/Edge, sharing kept."""

    def __init__(self, lua_object):
        self.LuaObject = lua_object
        self.nodes, self.datas = {}, {}

    def node(self, lo):
        if isinstance(lo, GraphNode):
            return lo
        if id(lo) in self.nodes:
            return self.nodes[id(lo)]
        f = lo.fields
        cls = Node if lo.torch_typename == "nngraph.Node" else GraphNode
        node = cls.__new__(cls)
        self.nodes[id(lo)] = node
        node.data = self.data(f.get("data"))
        node.children = [self.node(c) for c in _lua_list(f.get("children"))]
        node.visited, node.marked = bool(f.get("visited")), bool(f.get("marked"))
        node.id = f.get("id")
        return node

    def data(self, t):
        if not isinstance(t, dict):
            return t
        if id(t) in self.datas:
            return self.datas[id(t)]
        d = NodeData()
        self.datas[id(t)] = d
        for k, v in t.items():
            if k == "mapindex":
                v = [self.data(x) for x in _lua_list(v)]
            elif k == "reverseMap":
                v = {self.node(n): True for n in (v.keys() if isinstance(v, dict) else [])}
            elif k in ("input", "gradOutput"):
                v = _lua_holes(v)
            elif k == "annotations" and not isinstance(v, dict):
                v = {}
            setattr(d, k, v)
        for k, empty in (("mapindex", list), ("reverseMap", dict), ("annotations", dict)):
            if getattr(d, k) is None:
                setattr(d, k, empty())
        return d

    def graph(self, lo):
        if isinstance(lo, Graph):
            return lo
        g = Graph()
        g.nodes = [self.node(n) for n in _lua_list(lo.fields.get("nodes"))]
        g.edges = [
            Edge(self.node(e.fields["from"]), self.node(e.fields["to"]))
            for e in _lua_list(lo.fields.get("edges"))
        ]
        g._after_rebuild()
        return g


class ToLua:
    """Node/Graph/Edge -> Lua's nngraph objects, each written once (shared data kept)."""

    def __init__(self, lua_object, table_key):
        self.LuaObject, self.Key = lua_object, table_key
        self.memo = {}

    def _once(self, obj, make):
        if id(obj) not in self.memo:
            self.memo[id(obj)] = (obj, None)
            self.memo[id(obj)] = (obj, make())
        return self.memo[id(obj)][1]

    def _array_table(self, items, key=lambda x: x):
        """Lua's ``t[i] = x; t[x] = i`` tables (children, mapindex, nodes, edges)."""
        t = {i: x for i, x in enumerate(items, 1)}
        for i, x in enumerate(items, 1):
            t[key(x)] = i
        return t

    def node(self, n):
        def make():
            lo = self.LuaObject("nngraph.Node" if isinstance(n, Node) else "graph.Node", {})
            self.memo[id(n)] = (n, lo)
            lo.fields.update(
                data=self.data(n.data),
                children=self._array_table([self.node(c) for c in n.children]),
                visited=bool(n.visited),
                marked=bool(n.marked),
            )
            if getattr(n, "id", None) is not None:
                lo.fields["id"] = n.id
            return lo

        return self._once(n, make)

    def data(self, d):
        if not isinstance(d, NodeData):
            return d

        def make():
            t = {}
            self.memo[id(d)] = (d, t)
            for k, v in d.__dict__.items():
                if v is None:
                    continue
                if k == "mapindex":
                    v = self._array_table([self.data(x) for x in v], self.Key)
                elif k == "reverseMap":
                    v = {self.node(n): True for n in v}
                elif k in ("input", "gradOutput"):
                    v = {i: x for i, x in enumerate(v, 1) if x is not None}
                t[k] = v
            return t

        return self._once(d, make)

    def graph(self, g):
        def make():
            nodes = [self.node(n) for n in g.nodes]
            edges = [
                self.LuaObject("graph.Edge", {"from": self.node(e.from_), "to": self.node(e.to)})
                for e in g.edges
            ]
            return self.LuaObject(
                "graph.Graph",
                {"nodes": self._array_table(nodes), "edges": self._array_table(edges)},
            )

        return self._once(g, make)
