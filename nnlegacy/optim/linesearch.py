"""Line-search methods of Lua's optim: cg (Rasmussen's minimize), lbfgs, and the
Wolfe line search ``lswolfe`` with its cubic interpolation ``polyinterp``.

``x, fs = cg(opfunc, x, config, state)`` and ``x, fs = lbfgs(...)`` run several
evaluations per call and return every f they accept (``fs[0]`` is f at the start).
The further value Lua returns is an attribute of the returned pair: ``.nEval`` for
cg (evaluations made), ``.currentFuncEval`` for lbfgs.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import get_array_module
from ._util import Returns, _axpy, _div, _dot, _setup, _sqrt


def cg(opfunc, x, config=None, state=None):
    """Conjugate gradients (Polack-Ribiere) with Rasmussen's line search.

    rho=0.01, sig=0.5, int=0.1, ext=3.0, maxIter=20, ratio=100,
    maxEval=1.25*maxIter. Buffers ``df0..df3``, ``x0``, ``s`` are kept in ``state``.
    """
    config, state = _setup(config, state)
    rho = config.get("rho", 0.01)
    sig = config.get("sig", 0.5)
    intv = config.get("int", 0.1)
    ext = config.get("ext", 3.0)
    max_iter = config.get("maxIter", 20)
    ratio = config.get("ratio", 100)
    max_eval = config.get("maxEval", max_iter * 1.25)
    xp = get_array_module(x)
    bufs = {}
    for k in ("df0", "df1", "df2", "df3", "s", "x0"):
        b = state.get(k)
        bufs[k] = b if b is not None and b.shape == x.shape else xp.empty_like(x)
    df0, df1, df2, s, x0 = (bufs[k] for k in ("df0", "df1", "df2", "s", "x0"))

    fx = []
    i = 0
    f1, tdf = opfunc(x)
    fx.append(f1)
    df1[...] = tdf
    i += 1
    s[...] = -df1
    d1 = -_dot(s, s)
    z1 = _div(1, 1 - d1)
    while i < abs(max_eval):
        x0[...] = x
        f0 = f1
        df0[...] = df1
        _axpy(x, z1, s)
        f2, tdf = opfunc(x)
        df2[...] = tdf
        i += 1
        d2 = _dot(df2, s)
        f3, d3, z3 = f1, d1, -z1
        m = min(max_iter, max_eval - i)
        success = False
        limit = -1
        while True:
            while (f2 > f1 + z1 * rho * d1 or d2 > -sig * d1) and m > 0:
                limit = z1
                if f2 > f1:
                    z2 = z3 - _div(0.5 * d3 * z3 * z3, d3 * z3 + f2 - f3)
                else:
                    a = _div(6 * (f2 - f3), z3) + 3 * (d2 + d3)
                    b = 3 * (f3 - f2) - z3 * (d3 + 2 * d2)
                    z2 = _div(_sqrt(b * b - a * d2 * z3 * z3) - b, a)
                if z2 != z2 or math.isinf(z2):
                    z2 = z3 / 2
                z2 = max(min(z2, intv * z3), (1 - intv) * z3)
                z1 = z1 + z2
                _axpy(x, z2, s)
                f2, tdf = opfunc(x)
                df2[...] = tdf
                i += 1
                m -= 1
                d2 = _dot(df2, s)
                z3 = z3 - z2
            if f2 > f1 + z1 * rho * d1 or d2 > -sig * d1:
                break
            elif d2 > sig * d1:
                success = True
                break
            elif m == 0:
                break
            a = _div(6 * (f2 - f3), z3) + 3 * (d2 + d3)
            b = 3 * (f3 - f2) - z3 * (d3 + 2 * d2)
            z2 = _div(-d2 * z3 * z3, b + _sqrt(b * b - a * d2 * z3 * z3))
            if z2 != z2 or math.isinf(z2) or z2 < 0:
                z2 = z1 * (ext - 1) if limit < -0.5 else (limit - z1) / 2
            elif limit > -0.5 and (z2 + z1) > limit:
                z2 = (limit - z1) / 2
            elif limit < -0.5 and (z2 + z1) > z1 * ext:
                z2 = z1 * (ext - 1)
            elif z2 < -z3 * intv:
                z2 = -z3 * intv
            elif limit > -0.5 and z2 < (limit - z1) * (1 - intv):
                z2 = (limit - z1) * (1 - intv)
            f3, d3, z3 = f2, d2, -z2
            z1 = z1 + z2
            _axpy(x, z2, s)
            f2, tdf = opfunc(x)
            df2[...] = tdf
            i += 1
            m -= 1
            d2 = _dot(df2, s)
        if success:
            f1 = f2
            fx.append(f1)
            ss = (_dot(df2, df2) - _dot(df2, df1)) / _dot(df1, df1)
            s *= ss
            s -= df2
            tmp = df1.copy()
            df1[...] = df2
            df2[...] = tmp
            d2 = _dot(df1, s)
            if d2 > 0:
                s[...] = -df1
                d2 = -_dot(s, s)
            z1 = z1 * min(ratio, _div(d1, d2 - 1e-320))
            d1 = d2
        else:
            x[...] = x0
            f1 = f0
            df1[...] = df0
            # Lua: `if ls_failed or i > maxEval then break` -- 0 is true in Lua
            break
    state.update(bufs)
    return Returns((x, fx), nEval=i)


def polyinterp(points, xminBound=None, xmaxBound=None) -> float:  # noqa: N803
    """Minimum of the cubic interpolating ``points`` (rows ``(x, f, df)``).

    Two points and no bounds: the closed form, clamped to the points (the mean of
    the points when the discriminant is negative). Otherwise the polynomial is fit
    by least squares and its critical points inside ``[xminBound, xmaxBound]`` are
    compared, as Lua does. Returns the position.
    """
    points = np.asarray(points, dtype=np.float64)
    n_points = points.shape[0]
    order = n_points * 2 - 1
    if n_points == 2 and xminBound is None and xmaxBound is None:
        lo = int(np.argmin(points[:, 0]))
        hi = 1 - lo
        x1, f1, g1 = (float(v) for v in points[lo])
        x2, f2, g2 = (float(v) for v in points[hi])
        d1 = g1 + g2 - _div(3 * (f1 - f2), x1 - x2)
        d2 = _sqrt(d1**2 - g1 * g2)
        if d2 == d2:
            t = x2 - (x2 - x1) * _div(g2 + d2 - d1, g2 - g1 + 2 * d2)
            return min(max(t, x1), x2)
        return float(points[:, 0].mean())
    xs = points[:, 0]
    xmin_b = float(xs.min()) if xminBound is None else float(xminBound)
    xmax_b = float(xs.max()) if xmaxBound is None else float(xmaxBound)
    a = np.zeros((n_points * 2, order + 1))
    b = np.zeros(n_points * 2)
    for i in range(n_points):
        xi = float(points[i, 0])
        a[i] = [xi ** (order - c) for c in range(order + 1)]
        b[i] = points[i, 1]
        a[n_points + i, :order] = [(order - c) * xi ** (order - c - 1) for c in range(order)]
        b[n_points + i] = points[i, 2]
    params = np.linalg.lstsq(a, b, rcond=None)[0]
    params[np.abs(params) <= 1e-12] = 0
    dparams = np.array([params[c] * (order - c) for c in range(order)])
    cands = [xmin_b, xmax_b, *(float(v) for v in xs)]
    if not (np.isnan(dparams).any() or (dparams == np.inf).any()):
        cands += _real_roots(dparams)
    fmin, min_pos = math.inf, (xmin_b + xmax_b) / 2
    for xc in cands:
        if xc is None or not (xmin_b <= xc <= xmax_b):
            continue
        fc = 0.0
        pwr = len(params)
        for pc in params:
            pwr -= 1
            fc = fc + float(pc) * xc**pwr
        if fc < fmin:
            min_pos, fmin = xc, fc
    return min_pos


def _real_roots(c):
    """Roots of the polynomial with coefficients ``c`` (highest first), as Lua's
    ``roots`` finds them; complex roots come back as None (never candidates)."""
    c = c.copy()
    c[np.abs(c) < 1e-12] = 0
    nz_idx = np.nonzero(c)[0]
    if nz_idx.size == 0:
        return []
    c = c[nz_idx[0] :]
    nz = 0
    for v in c[::-1]:
        if v != 0:
            break
        nz += 1
    c = c[: c.size - nz]
    n = c.size - 1
    zeros = [0.0] * nz
    if n == 1:
        return [-c[1] / c[0], *zeros]
    if n > 1:
        comp = np.diag(np.ones(n - 1), -1)
        comp[0] = -c[1:] / c[0]
        ev = np.linalg.eigvals(comp)
        return [float(e.real) if e.imag == 0 else None for e in ev] + zeros
    return zeros


def lswolfe(opfunc, x, t, d, f, g, gtd, options=None):
    """Line search satisfying the strong Wolfe conditions.

    ``f_new, g_new, x, t, lsFuncEval = lswolfe(opfunc, x, t, d, f, g, gtd, options)``;
    options c1=1e-4, c2=0.9, tolX=1e-9, maxIter=20. ``x`` ends at ``x + t*d``.
    """
    options = options or {}
    c1 = options.get("c1", 1e-4)
    c2 = options.get("c2", 0.9)
    tol_x = options.get("tolX", 1e-9)
    max_iter = options.get("maxIter", 20)
    xp = get_array_module(x)
    x_init = x.copy()
    _axpy(x, t, d)
    f_new, g_new = opfunc(x)
    ls_func_eval = 1
    gtd_new = _dot(g_new, d)
    ls_iter, t_prev, done = 0, 0, False
    f_prev, g_prev, gtd_prev = f, g.copy(), gtd
    bracket = bracket_f = bracket_g = None
    while ls_iter < max_iter:
        if (f_new > (f + c1 * t * gtd)) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g = [g_prev.copy(), g_new.copy()]
            break
        elif abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new.copy()]
            done = True
            break
        elif gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g = [g_prev.copy(), g_new.copy()]
            break
        tmp = t_prev
        t_prev = t
        min_step = t + 0.01 * (t - tmp)
        max_step = t * 10
        t = polyinterp([[tmp, f_prev, gtd_prev], [t, f_new, gtd_new]], min_step, max_step)
        f_prev = f_new
        g_prev = g_new.copy()
        gtd_prev = gtd_new
        x[...] = x_init
        _axpy(x, t, d)
        f_new, g_new = opfunc(x)
        ls_func_eval += 1
        gtd_new = _dot(g_new, d)
        ls_iter += 1
    if ls_iter == max_iter:
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g.copy(), g_new.copy()]

    insuf_progress = False
    while not done and ls_iter < max_iter:
        lo = int(np.argmin(bracket_f))
        f_lo = bracket_f[lo]
        hi = 1 - lo
        t = polyinterp(
            [
                [bracket[0], bracket_f[0], _dot(bracket_g[0], d)],
                [bracket[1], bracket_f[1], _dot(bracket_g[1], d)],
            ]
        )
        bmax, bmin = max(bracket), min(bracket)
        if _div(min(bmax - t, t - bmin), bmax - bmin) < 0.1:
            if insuf_progress or t >= bmax or t <= bmin:
                if abs(t - bmax) < abs(t - bmin):
                    t = bmax - 0.1 * (bmax - bmin)
                else:
                    t = bmin + 0.1 * (bmax - bmin)
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        x[...] = x_init
        _axpy(x, t, d)
        f_new, g_new = opfunc(x)
        ls_func_eval += 1
        gtd_new = _dot(g_new, d)
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= f_lo:
            bracket[hi], bracket_f[hi], bracket_g[hi] = t, f_new, g_new.copy()
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[hi] - bracket[lo]) >= 0:
                bracket[hi], bracket_f[hi] = bracket[lo], bracket_f[lo]
                bracket_g[hi] = bracket_g[lo].copy()
            bracket[lo], bracket_f[lo], bracket_g[lo] = t, f_new, g_new.copy()
        if not done and abs((bracket[0] - bracket[1]) * gtd_new) < tol_x:
            break
    lo = int(np.argmin(bracket_f))
    t = bracket[lo]
    x[...] = x_init
    _axpy(x, t, d)
    return bracket_f[lo], xp.asarray(bracket_g[lo]), x, t, ls_func_eval


def lbfgs(opfunc, x, config=None, state=None):
    """Limited-memory BFGS, after minFunc.

    maxIter=20, maxEval=1.25*maxIter, tolFun=1e-5, tolX=1e-9, nCorrection=100,
    learningRate=1, lineSearch=None (fixed steps of ``learningRate``; the first
    ever step is ``min(1, 1/|g|_1) * learningRate``), lineSearchOptions=None.
    ``x, f_hist = lbfgs(...)``; ``.currentFuncEval`` on the result.
    """
    config, state = _setup(config, state)
    max_iter = config.get("maxIter", 20)
    max_eval = config.get("maxEval", max_iter * 1.25)
    tol_fun = config.get("tolFun", 1e-5)
    tol_x = config.get("tolX", 1e-9)
    n_corr = config.get("nCorrection", 100)
    line_search = config.get("lineSearch")
    ls_opts = config.get("lineSearchOptions")
    lr = config.get("learningRate", 1)
    quiet = not config.get("verbose")

    def verbose(msg):
        if not quiet:
            print("<optim.lbfgs> ", msg, sep="\t")

    state["funcEval"] = state.get("funcEval", 0)
    state["nIter"] = state.get("nIter", 0)

    f, g = opfunc(x)
    xp = get_array_module(g)
    f_hist = [f]
    current = 1
    state["funcEval"] += 1
    p = g.shape[0]
    if state.get("tmp1") is None:
        state["tmp1"] = xp.zeros_like(g)
    tmp1 = state["tmp1"]
    tmp1[...] = xp.abs(g)
    if float(tmp1.sum()) <= tol_fun:
        verbose("optimality condition below tolFun")
        return Returns((x, f_hist))  # Lua returns no count here
    if state.get("dir_bufs") is None:
        state["dir_bufs"] = [xp.empty(p, g.dtype) for _ in range(n_corr + 1)]
        state["stp_bufs"] = [xp.empty(p, g.dtype) for _ in range(n_corr + 1)]

    d, t = state.get("d"), state.get("t")
    old_dirs, old_stps = state.get("old_dirs"), state.get("old_stps")
    hdiag, g_old, f_old = state.get("Hdiag"), state.get("g_old"), state.get("f_old")
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        state["nIter"] += 1
        if state["nIter"] == 1:
            d = -g
            old_dirs, old_stps, hdiag = [], [], 1
        else:
            y = state["dir_bufs"].pop()
            s = state["stp_bufs"].pop()
            xp.subtract(g, g_old, out=y)
            xp.multiply(d, t, out=s)
            ys = _dot(y, s)
            if ys > 1e-10:
                if len(old_dirs) == n_corr:
                    state["dir_bufs"].append(old_dirs.pop(0))
                    state["stp_bufs"].append(old_stps.pop(0))
                old_dirs.append(s)
                old_stps.append(y)
                hdiag = ys / _dot(y, y)
            else:
                state["dir_bufs"].append(y)
                state["stp_bufs"].append(s)
            k = len(old_dirs)
            if state.get("ro") is None:
                state["ro"] = np.zeros(n_corr)
            ro = state["ro"]
            for i in range(k):
                ro[i] = 1 / _dot(old_stps[i], old_dirs[i])
            q = tmp1
            if state.get("al") is None:
                state["al"] = np.zeros(n_corr)
            al = state["al"]
            xp.multiply(g, -1, out=q)
            for i in range(k - 1, -1, -1):
                al[i] = _dot(old_dirs[i], q) * ro[i]
                _axpy(q, -al[i], old_stps[i])
            r = d
            xp.multiply(q, hdiag, out=r)
            for i in range(k):
                be_i = _dot(old_stps[i], r) * ro[i]
                _axpy(r, al[i] - be_i, old_dirs[i])
        if g_old is None:
            g_old = g.copy()
        g_old[...] = g
        f_old = f
        gtd = _dot(g, d)
        if gtd > -tol_x:
            break
        if state["nIter"] == 1:
            tmp1[...] = xp.abs(g)
            t = min(1, 1 / float(tmp1.sum())) * lr
        else:
            t = lr
        ls_evals = 0
        if callable(line_search):
            f, g, x, t, ls_evals = line_search(opfunc, x, t, d, f, g, gtd, ls_opts)
            f_hist.append(f)
        else:
            _axpy(x, t, d)
            if n_iter != max_iter:
                f, g = opfunc(x)
                ls_evals = 1
                f_hist.append(f)
        current += ls_evals
        state["funcEval"] += ls_evals
        if n_iter == max_iter:
            verbose("reached max number of iterations")
            break
        if current >= max_eval:
            verbose("max nb of function evals")
            break
        tmp1[...] = xp.abs(g)
        if float(tmp1.sum()) <= tol_fun:
            verbose("optimality condition below tolFun")
            break
        tmp1[...] = xp.abs(d * t)
        if float(tmp1.sum()) <= tol_x:
            verbose("step size below tolX")
            break
        if abs(f - f_old) < tol_x:
            verbose("function value changing less than tolX")
            break
    state.update(
        old_dirs=old_dirs, old_stps=old_stps, Hdiag=hdiag, g_old=g_old, f_old=f_old, t=t, d=d
    )
    return Returns((x, f_hist), currentFuncEval=current)
