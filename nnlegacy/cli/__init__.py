"""The command-line tools (``printshape``, ``showfilters``, ``bench``) and what they
share: one-line errors with exit status 2, output paths checked before the work, and
where the lecture's example networks live.

``pip install`` makes the tools console commands; ``tools/printshape`` and friends in a
clone are thin wrappers around the same ``main`` functions.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


class UserError(Exception):
    """A mistake the user can fix (a path, an option): one line on stderr, exit status 2."""


def fail(prog: str, message) -> int:
    """Print ``prog: message`` as one line on stderr and return exit status 2."""
    text = " / ".join(line.strip() for line in str(message).splitlines() if line.strip())
    print(f"{prog}: {text}", file=sys.stderr)
    return 2


def what_it_holds(obj) -> str:
    """'a dict', 'an ndarray': what a file held, for 'x.t7 holds an ndarray, not ...'."""
    name = type(obj).__name__
    return ("an " if name[:1].lower() in "aeiou" or name == "ndarray" else "a ") + name


def check_writable(path, option: str) -> Path | None:
    """Refuse an output path that cannot be written, before any work is done.

    The error names the path as the user gave it and the option it came from. An empty
    path means "do not write" and is returned as None.
    """
    if path is None or str(path) == "":
        return None
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{option} {path}: is a folder; give a file name")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"{option} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise UserError(f"{option} {path}: not writable (permission denied)")
    return p


def examples_dir() -> Path:
    """The clone's ``examples/`` folder (the lecture networks and lenet5.py).

    The examples are not part of the installed package: they are found beside the
    package in a clone (``pip install -e .``), or in ``./examples`` of the current
    folder, or in the folder ``NNLEGACY_EXAMPLES`` names.
    """
    candidates = []
    if os.environ.get("NNLEGACY_EXAMPLES"):
        candidates.append(Path(os.environ["NNLEGACY_EXAMPLES"]))
    candidates += [Path(__file__).resolve().parents[2] / "examples", Path.cwd() / "examples"]
    for c in candidates:
        if (c / "common.py").is_file():
            return c
    raise UserError(
        "the lecture networks live in the clone's examples/ folder, which an installed "
        "package does not carry: run from the clone (pip install -e .), or set "
        "NNLEGACY_EXAMPLES to that folder, or give a .py file with build()"
    )


def run_script(prog: str, main, argv=None):
    """Run an example's ``main``; a mistake the user can fix (a bad option or path, a
    missing GPU or matplotlib) is one line on stderr and exit status 2, not a traceback."""
    from ..backend import CudaUnavailableError
    from ..pictures import PlotUnavailableError

    try:
        main(argv)
    except (UserError, PlotUnavailableError, CudaUnavailableError) as e:
        sys.exit(fail(prog, e))
    except KeyboardInterrupt:
        sys.exit(fail(prog, "interrupted"))
    sys.exit(0)
