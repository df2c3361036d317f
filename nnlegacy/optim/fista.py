"""Proximal methods of Lua's optim: ``FistaLS`` (FISTA/ISTA with backtracking)."""

from __future__ import annotations

import math

from ..backend import get_array_module
from ._util import _axpy, _dot


def FistaLS(f, g, pl, xinit, params=None):  # noqa: N802 - Torch's name
    """FISTA with a backtracking line search: ``y, history = FistaLS(f, g, pl, xinit, params)``.

    ``f(x, 'dx')`` returns ``(f, df/dx)`` of the smooth part and ``f(x)`` its value;
    ``g(x)`` is the non-smooth part; ``pl(x, L)`` solves the proximal problem in place.
    params: L=0.1, Lstep=1.5, maxiter=50, maxline=20, errthres=1e-4,
    doFistaUpdate (FISTA when true, else ISTA), verbose (keeps ``xk``/``y`` in each
    history entry and prints Lua's lines). As in Lua, the iterate starts from zeros
    whatever ``xinit`` holds; ``xinit`` receives the result. ``params`` keeps the
    buffers ``xkm``, ``y``, ``ply`` and the last ``L``.
    """
    params = {} if params is None else params
    L = params.get("L", 0.1)  # noqa: N806
    lstep = params.get("Lstep", 1.5)
    maxiter = params.get("maxiter", 50)
    maxline = params.get("maxline", 20)
    errthres = params.get("errthres", 1e-4)
    do_fista = params.get("doFistaUpdate")
    verbose = params.get("verbose")
    xp = get_array_module(xinit)
    for k in ("xkm", "y", "ply"):
        b = params.get(k)
        params[k] = b if b is not None and b.shape == xinit.shape else xp.empty_like(xinit)
    xkm, y, ply = params["xkm"], params["y"], params["ply"]
    xk = xinit
    xkm[...] = 0
    ply[...] = 0
    y[...] = 0
    history = []
    niter = 0
    tk, tkp = 1, 0
    g(y)
    fval = math.inf
    while niter < maxiter:
        fy, gfy = f(y, "dx")
        q = 0
        nline = 0
        done = False
        while not done:
            ply[...] = y
            _axpy(ply, -1 / L, gfy)
            pl(ply, L)
            xk[...] = ply
            fply = f(ply)
            ply -= y
            q2 = _dot(gfy, ply)
            q3 = L / 2 * _dot(ply, ply)
            q = fy + q2 + q3
            if verbose:
                print(
                    f"nline={nline} L={_g(L)} fply={_g(fply)} Q={_g(q)} fy={_g(fy)} "
                    f"Q2={_g(q2)} Q3={_g(q3)}"
                )
            if fply <= q:
                done = True
            elif nline >= maxline:
                done = True
                xk[...] = xkm
            else:
                L = L * lstep  # noqa: N806
            nline += 1
        if do_fista:
            tkp = (1 + math.sqrt(1 + 4 * tk * tk)) / 2
            xkm -= xk
            y[...] = xk
            _axpy(y, (1 - tk) / tkp, xkm)
            xkm[...] = xk
        else:
            y[...] = xk
        tk = tkp
        fply = f(y)
        gply = g(y)
        if verbose:
            print(f"iter={niter} eold={_g(fval)} enew={_g(fply + gply)}")
        niter += 1
        fval = fply + gply
        h = {"nline": nline, "L": L, "F": fval, "Fply": fply, "Gply": gply, "Q": q}
        if verbose:
            h["xk"] = xk.copy()
            h["y"] = y.copy()
        history.append(h)
        params["L"] = L
        if niter > 1 and abs(history[-1]["F"] - history[-2]["F"]) <= errthres:
            xinit[...] = y
            return y, history
        if niter >= maxiter:
            xinit[...] = y
            return y, history
    raise RuntimeError("FistaLS: not supposed to be here")


def _g(v) -> str:
    """C's ``%g`` as Lua's string.format prints it (inf, nan spelled as C does)."""
    v = float(v)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v != v:
        return "nan" if math.copysign(1, v) > 0 else "-nan"
    return f"{v:g}"


fista = FistaLS
