"""Translate a Lua constructor expression (a golden file's ``config``) into Python.

``nn.X(1, 2, true, nil)`` -> ``nn.X(1, 2, True, None)``; ``m:add(...)`` -> ``m.add(...)``;
``{1, 2}`` -> ``[1, 2]``; ``{oheight=5}`` -> ``{'oheight': 5}``; ``f{...}`` / ``f'...'``
(Lua's call with one table or string) -> ``f([...])`` / ``f('...')``; ``math.huge`` ->
``math.inf``; ``0/0`` stays (evaluated as NaN by :func:`evaluate`). Only expressions and
simple statements (``a = b``, ``a; b``) are handled: enough for Lua's constructor calls and
the golden corpus's set-up lines, not a Lua interpreter.
"""

from __future__ import annotations

import math
import re

import numpy as np

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
    | (?P<op>==|~=|<=|>=|\.\.|[-+*/%^#<>=(){}\[\];:,.])
    )""",
    re.X,
)

_WORDS = {"true": "True", "false": "False", "nil": "None", "and": "and", "or": "or", "not": "not"}


def tokenize(src: str):
    pos, out = 0, []
    src = src.rstrip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise SyntaxError(f"cannot read Lua at {src[pos : pos + 20]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Translator:
    def __init__(self, tokens):
        self.t, self.i = tokens, 0

    def peek(self, k=0):
        j = self.i + k
        return self.t[j] if j < len(self.t) else (None, None)

    def take(self, value=None):
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise SyntaxError(f"expected {value!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def statements(self):
        parts = []
        while self.peek()[0] is not None:
            if self.peek()[1] == ";":
                self.take()
                continue
            parts.append(self.statement())
        return "\n".join(parts)

    def statement(self):
        if self.peek() == ("name", "local"):
            self.take()
        lhs = self.expr()
        if self.peek()[1] == "=":
            self.take()
            return f"{lhs} = {self.expr()}"
        return lhs

    def expr(self):
        out = [self.unary()]
        while (
            self.peek()[0] == "op"
            and self.peek()[1]
            in (
                "+",
                "-",
                "*",
                "/",
                "%",
                "^",
                "..",
                "==",
                "~=",
                "<",
                ">",
                "<=",
                ">=",
            )
            or self.peek() in (("name", "and"), ("name", "or"))
        ):
            op = self.take()[1]
            op = {"^": "**", "~=": "!=", "..": "+"}.get(op, op)
            out.append(f" {op} ")
            out.append(self.unary())
        return "".join(out)

    def unary(self):
        if self.peek()[1] == "-":
            self.take()
            return "-" + self.unary()
        if self.peek() == ("name", "not"):
            self.take()
            return "not " + self.unary()
        if self.peek()[1] == "#":
            self.take()
            return "len(" + self.unary() + ")"
        return self.postfix()

    def postfix(self):
        s = self.primary()
        while True:
            kind, v = self.peek()
            if v == ".":
                self.take()
                s += "." + self.take()[1]
            elif v == ":":
                self.take()
                s += "." + self.take()[1]
            elif v == "[":
                self.take()
                s += "[" + self.expr() + "]"
                self.take("]")
            elif v == "(":
                s += self.call_args()
            elif v == "{":
                s += "(" + self.table() + ")"
            elif kind == "str":
                s += "(" + self.take()[1] + ")"
            else:
                return s

    def call_args(self):
        self.take("(")
        args = []
        while self.peek()[1] != ")":
            args.append(self.expr())
            if self.peek()[1] == ",":
                self.take()
        self.take(")")
        return "(" + ", ".join(args) + ")"

    def primary(self):
        kind, v = self.peek()
        if kind == "num":
            self.take()
            return v
        if kind == "str":
            self.take()
            return v
        if kind == "name":
            self.take()
            return _WORDS.get(v, v)
        if v == "(":
            self.take()
            e = self.expr()
            self.take(")")
            return "(" + e + ")"
        if v == "{":
            return self.table()
        raise SyntaxError(f"unexpected {v!r}")

    def table(self):
        self.take("{")
        items, keyed = [], []
        while self.peek()[1] != "}":
            if self.peek()[0] == "name" and self.peek(1)[1] == "=" and self.peek(2)[1] != "=":
                key = self.take()[1]
                self.take("=")
                keyed.append((repr(key), self.expr()))
            elif self.peek()[1] == "[":
                self.take("[")
                key = self.expr()
                self.take("]")
                self.take("=")
                keyed.append((key, self.expr()))
            else:
                items.append(self.expr())
            if self.peek()[1] in (",", ";"):
                self.take()
        self.take("}")
        if keyed and items:
            keyed = [(str(i), e) for i, e in enumerate(items, 1)] + keyed
        if keyed:
            return "{" + ", ".join(f"{k}: {v}" for k, v in keyed) + "}"
        return "[" + ", ".join(items) + "]"


def to_python(lua: str) -> str:
    """The Python text of a Lua expression or a few simple statements."""
    return _Translator(tokenize(lua)).statements()


class _TorchShim:
    """The few ``torch.*`` names that constructor calls use: tensors from Lua tables."""

    @staticmethod
    def _make(dtype):
        def make(*args):
            if len(args) == 1 and isinstance(args[0], (list, tuple)):
                return np.array(args[0], dtype=dtype)
            return np.zeros(tuple(int(a) for a in args), dtype=dtype)

        return make

    def __init__(self):
        self.Tensor = self.DoubleTensor = self._make(np.float64)
        self.FloatTensor = self._make(np.float32)
        self.LongTensor = self._make(np.int64)
        self.IntTensor = self._make(np.int32)
        self.ByteTensor = self._make(np.uint8)


class _Math:
    huge = math.inf
    pi = math.pi

    @staticmethod
    def sqrt(x):
        return math.sqrt(x)


def namespace(extra=None):
    import nnlegacy

    ns = {"nn": nnlegacy, "torch": _TorchShim(), "math": _Math()}
    if extra:
        ns.update(extra)
    return ns


def evaluate(lua: str, extra=None):
    """Evaluate a Lua constructor expression with nnlegacy as ``nn``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return eval(to_python(lua), namespace(extra))  # noqa: S307 - our own corpus text


def execute(lua: str, env: dict):
    """Run simple Lua statements (a golden ``setupCode``) in ``env``."""
    exec(to_python(lua), namespace(env))  # noqa: S102
