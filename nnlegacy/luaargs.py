"""Lua's calling conventions for constructors (DESIGN rule 9).

Every Module and Criterion subclass has its ``__init__`` wrapped once, when the class
is defined, so that a ported call behaves as it did in Lua:

* ``None`` is Lua's ``nil``: an argument passed as None takes the parameter's default
  (``nn.Linear(3, 4, None)`` has a bias). A parameter whose Python default is None
  itself keeps None and computes its default in the constructor, as Lua's ``x or ...``.
* Lua numbers are doubles: a whole-valued float (``1536.0``) becomes an ``int``, so it
  sizes arrays and prints as Lua prints it (``4``, not ``4.0``). A parameter annotated
  ``int`` that gets a non-whole number is a ValueError naming the argument.
* Lua ignores extra arguments (``nn.ConcatTable(2)``, ``nn.Sigmoid(true)``): they are
  dropped with one warning per class naming them.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import warnings

_warned: set[str] = set()


def lua_number(v):
    """A whole-valued float or NumPy scalar as ``int``; other values unchanged."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        f = float(v)
        if f.is_integer() and abs(f) < 2**63:
            return int(f)
        return f
    return v


def lua_int(v, name: str, owner: str):
    """``v`` as an int, or a ValueError naming the argument when it is not whole."""
    w = lua_number(v)
    if w is None or isinstance(w, bool) or isinstance(w, int):
        return w
    if isinstance(w, float):
        raise ValueError(f"{owner}: {name} must be a whole number, got {v!r}")
    return w


def _is_int_annotation(ann) -> bool:
    if ann is int:
        return True
    return isinstance(ann, str) and ann.replace(" ", "") in ("int", "int|None", "None|int")


def wrap_init(cls) -> None:
    """Wrap ``cls.__init__`` (if the class defines one) with Lua's conventions."""
    init = cls.__dict__.get("__init__")
    if init is None or getattr(init, "_lua_wrapped", False):
        return
    sig = inspect.signature(init)
    params = list(sig.parameters.values())[1:]  # without self
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    has_varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
    by_name = {p.name: p for p in params}

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        name = type(self).__name__
        owner = "nn." + name
        if not has_varargs and len(args) > len(positional):
            extra = args[len(positional) :]
            args = args[: len(positional)]
            if name not in _warned:
                _warned.add(name)
                warnings.warn(
                    f"{owner}: ignoring extra constructor argument(s) "
                    f"{', '.join(repr(x) for x in extra)} (Lua ignores them)",
                    stacklevel=2,
                )
        new_args = []
        for i, v in enumerate(args):
            p = positional[i] if i < len(positional) else None
            new_args.append(_convert(v, p, owner))
        for k, v in list(kwargs.items()):
            kwargs[k] = _convert(v, by_name.get(k), owner)
        init(self, *new_args, **kwargs)

    __init__._lua_wrapped = True
    cls.__init__ = __init__


def _convert(v, p, owner):
    if p is None:  # *args: numbers only
        return lua_number(v)
    if v is None:
        if p.default is not inspect.Parameter.empty and p.default is not None:
            return p.default
        return None
    if _is_int_annotation(p.annotation):
        return lua_int(v, p.name, owner)
    return lua_number(v)
