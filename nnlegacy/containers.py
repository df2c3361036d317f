"""Containers (spec sections 1.7, 2.20): Container and Sequential."""

from __future__ import annotations

from .module import Module


class Container(Module):
    """A module made of child modules, held in the Python list ``modules``.

    ``get(i)`` is 1-based as in Lua; ``modules`` is a plain list (0-based).
    """

    def __init__(self, *args):
        super().__init__()
        self.modules = []

    def add(self, module):
        self.modules.append(module)
        return self

    def get(self, index):
        """The ``index``-th child, 1-based as Lua's ``container:get(i)``."""
        if 1 <= index <= len(self.modules):
            return self.modules[index - 1]
        return None

    def size(self):
        return len(self.modules)

    def __len__(self):
        return len(self.modules)

    def applyToModules(self, func):
        for m in self.modules:
            func(m)

    def _rethrow(self, i, method, *args):
        """Call ``method`` on child i (0-based), prefixing errors as Lua's rethrowErrors."""
        try:
            return getattr(self.modules[i], method)(*args)
        except Exception as e:
            msg = f"In {i + 1} module of {self._name()}:"
            text = str(e.args[0]) if len(e.args) == 1 else str(e)
            new = _same_kind(e, f"{msg}\n{text}")
            raise new from e

    def zeroGradParameters(self):
        for m in self.modules:
            m.zeroGradParameters()

    def updateParameters(self, learningRate):
        for m in self.modules:
            m.updateParameters(learningRate)

    def training(self):
        for m in self.modules:
            m.training()
        return super().training()

    def evaluate(self):
        for m in self.modules:
            m.evaluate()
        return super().evaluate()

    def share(self, mlp, *names):
        for m, other in zip(self.modules, mlp.modules):
            m.share(other, *names)
        return self

    def reset(self, stdv=None):
        for m in self.modules:
            m.reset(stdv)
        return self

    def _parameter_slots(self):
        slots = []
        for m in self.modules:
            slots.extend(m._parameter_slots())
        return slots

    def parameters(self):
        slots = self._parameter_slots()
        return [getattr(m, p) for m, p, _ in slots], [getattr(m, g) for m, _, g in slots]

    def clearState(self):
        super().clearState()
        for m in self.modules:
            m.clearState()
        return self


def _same_kind(e, message):
    try:
        return type(e)(message)
    except Exception:
        return RuntimeError(message)


class Sequential(Container):
    """Children applied one after another.

    ``nn.Sequential()``; ``add`` returns self; ``insert(m, index)`` and
    ``remove(index)`` are 1-based.
    """

    def add(self, module):
        if not self.modules:
            self.gradInput = module.gradInput
        self.modules.append(module)
        self.output = module.output
        return self

    def insert(self, module, index=None):
        index = len(self.modules) + 1 if index is None else index
        if not 1 <= index <= len(self.modules) + 1:
            raise IndexError("index should be contiguous to existing modules")
        self.modules.insert(index - 1, module)
        self.output = self.modules[-1].output
        self.gradInput = self.modules[0].gradInput
        return self

    def remove(self, index=None):
        index = len(self.modules) if index is None else index
        if not 1 <= index <= len(self.modules):
            raise IndexError("index out of range")
        self.modules.pop(index - 1)
        if self.modules:
            self.output = self.modules[-1].output
            self.gradInput = self.modules[0].gradInput
        else:
            self.output = self._zeros(0)
            self.gradInput = self._zeros(0)
        return self

    def updateOutput(self, input):
        current = input
        for i in range(len(self.modules)):
            current = self._rethrow(i, "updateOutput", current)
        self.output = current
        return current

    def updateGradInput(self, input, gradOutput):
        current = gradOutput
        for i in range(len(self.modules) - 1, 0, -1):
            current = self._rethrow(i, "updateGradInput", self.modules[i - 1].output, current)
        if self.modules:
            current = self._rethrow(0, "updateGradInput", input, current)
        self.gradInput = current
        return current

    def accGradParameters(self, input, gradOutput, scale=1):
        current = gradOutput
        for i in range(len(self.modules) - 1, 0, -1):
            self._rethrow(i, "accGradParameters", self.modules[i - 1].output, current, scale)
            current = self.modules[i].gradInput
        if self.modules:
            self._rethrow(0, "accGradParameters", input, current, scale)

    def backward(self, input, gradOutput, scale=1):
        current = gradOutput
        for i in range(len(self.modules) - 1, 0, -1):
            current = self._rethrow(i, "backward", self.modules[i - 1].output, current, scale)
            self.modules[i].gradInput = current
        if self.modules:
            current = self._rethrow(0, "backward", input, current, scale)
        self.gradInput = current
        return current

    def accUpdateGradParameters(self, input, gradOutput, lr):
        current = gradOutput
        for i in range(len(self.modules) - 1, 0, -1):
            self._rethrow(i, "accUpdateGradParameters", self.modules[i - 1].output, current, lr)
            current = self.modules[i].gradInput
        if self.modules:
            self._rethrow(0, "accUpdateGradParameters", input, current, lr)

    def __tostring__(self):
        tab = "  "
        line = "\n"
        out = "nn.Sequential {" + line + tab + "[input"
        for i in range(len(self.modules)):
            out += f" -> ({i + 1})"
        out += " -> output]"
        for i, m in enumerate(self.modules):
            out += line + tab + f"({i + 1}): " + str(m).replace(line, line + tab)
        return out + line + "}"
