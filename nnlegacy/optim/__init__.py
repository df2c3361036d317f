"""Lua's optim package (spec section 3), one file per algorithm family.

Every update rule is ``x, fx = method(opfunc, x, config=None, state=None)`` with
Lua's defaults and state keys: ``opfunc(x)`` returns ``(f, df/dx)``, ``x`` is
updated in place and returned with the list of f values; without ``state`` the
state lives in ``config``. Further values Lua returns follow DESIGN.md rule 7:
``asgd`` returns ``x, fx, ax``; ``cg`` and ``lbfgs`` return ``x, fs`` with the
evaluation count as an attribute of the result.

- :mod:`.sgd`: sgd, nag, asgd
- :mod:`.adaptive`: adagrad, adadelta, rmsprop, adam, adamax, rprop
- :mod:`.linesearch`: cg, lbfgs, lswolfe, polyinterp
- :mod:`.fista`: FistaLS (alias fista)
- :mod:`.evolution`: cmaes, de (Torch's random generator)
- :mod:`.checks`: checkgrad, rosenbrock
- :mod:`.confusion`: ConfusionMatrix; :mod:`.logger`: Logger
"""

from .adaptive import adadelta, adagrad, adam, adamax, rmsprop, rprop
from .checks import checkgrad, rosenbrock
from .confusion import ConfusionMatrix
from .evolution import cmaes, de
from .fista import FistaLS, fista
from .linesearch import cg, lbfgs, lswolfe, polyinterp
from .logger import Logger
from .sgd import asgd, nag, sgd

__all__ = [
    "sgd", "nag", "asgd",
    "adagrad", "adadelta", "rmsprop", "adam", "adamax", "rprop",
    "cg", "lbfgs", "lswolfe", "polyinterp",
    "FistaLS", "fista", "cmaes", "de",
    "checkgrad", "rosenbrock",
    "ConfusionMatrix", "Logger",
]  # fmt: skip

# the classes nnlegacy.load builds for Lua's ``optim.*`` objects
T7_CLASSES = {"ConfusionMatrix": ConfusionMatrix}
