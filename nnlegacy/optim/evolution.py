"""Derivative-free methods of Lua's optim: ``cmaes`` and ``de``.

Both draw from Torch's own generator (:mod:`nnlegacy.torchrandom`), so a run matches
Lua's after the same seed: ``cmaes`` uses the global generator
(``nnlegacy.manualSeed``), ``de`` a private one seeded with 1, as Lua does.
"""

from __future__ import annotations

import math

import numpy as np

from .. import torchrandom
from ._util import Returns, _setup


def cmaes(opfunc, x, config=None, state=None):
    """CMA-ES (Hansen's barecmaes2): ``best, f_hist = cmaes(opfunc, x, config, state)``.

    sigma (initial step size, required), maxEval=1e3*N^2, ftarget, popsize
    (default ``4 + floor(3 ln N)``), verb_disp (required, as in Lua; 0 = silent),
    min_iterations=1. ``f_hist`` holds f(x0), the best fitness of every generation
    and the best f overall; ``.counteval`` on the result. ``x`` is not changed.
    """
    config, state = _setup(config, state)
    if x.dtype.kind != "f":
        raise TypeError(f"cmaes: unsupported array of {x.dtype}; use float32 or float64")
    rng = torchrandom.default_generator()
    xmean = np.array(x, dtype=np.float64).reshape(-1)
    n = xmean.size
    sigma = state.get("sigma")
    ftarget = state.get("ftarget")
    max_eval = float(state["maxEval"]) if state.get("maxEval") is not None else 1e3 * n**2
    verb_disp = state.get("verb_disp")
    if verb_disp is None:
        raise TypeError("cmaes: config.verb_disp must be set (0 for never), as Lua requires")
    min_iterations = state.get("min_iterations", 1)
    lam = state.get("popsize")
    if lam is None:
        lam = 4 + math.floor(3 * math.log(n))
    mu = lam / 2
    weights = np.array([math.log(mu + 0.5) - math.log(i + 1) for i in range(int(mu - 1) + 1)])
    weights /= weights.sum()
    mueff = weights.sum() ** 2 / (weights**2).sum()
    cc = (4 + mueff / n) / (n + 4 + 2 * mueff / n)
    cs = (mueff + 2) / (n + mueff + 5)
    c1 = 2 / ((n + 1.3) ** 2 + mueff)
    cmu = min(1 - c1, 2 * (mueff - 2 + 1 / mueff) / ((n + 2) ** 2 + mueff))
    damps = 2 * mueff / lam + 0.3 + cs
    pc, ps = np.zeros(n), np.zeros(n)
    bmat, dvec, cmat = np.eye(n), np.ones(n), np.eye(n)
    candidates = np.zeros((lam, n))
    invsqrt_c = np.eye(n)
    eigeneval = counteval = 0
    f_hist = [opfunc(x)[0]]
    fitvals = np.zeros(lam)
    best_x, best_f, best_evals = None, None, counteval
    iteration = 0
    nmu = weights.size

    def stop():
        res = {}
        if counteval > 0:
            if counteval >= max_eval:
                res["evals"] = max_eval
            if ftarget is not None and fitvals.size > 0 and fitvals[0] <= ftarget:
                res["ftarget"] = ftarget
            if dvec.max() > 1e7 * dvec.min():
                res["condition"] = 1e7
            if fitvals.size > 1 and fitvals[-1] - fitvals[0] < 1e-12:
                res["tolfun"] = 1e-12
            if sigma * dvec.max() < 1e-11:
                res["tolx"] = 1e-11
        return res

    while not stop() or iteration < min_iterations:
        iteration += 1
        # ask
        if counteval - eigeneval > lam / (c1 + cmu) / n / 10:
            eigeneval = counteval
            cmat = np.triu(cmat) + np.triu(cmat, 1).T
            dvec, bmat = np.linalg.eigh(cmat, UPLO="U")
            dvec = np.sqrt(dvec)
            invsqrt_c = bmat @ np.diag(dvec**-1) @ bmat.T
        for k in range(lam):
            z = np.array([rng.normal(0, 1) for _ in range(n)]) * dvec
            candidates[k] = xmean + (bmat @ z) * sigma
        for i in range(lam):
            fitvals[i] = opfunc(candidates[i].reshape(x.shape).astype(x.dtype, copy=False))[0]
        # tell
        counteval += lam
        xold = xmean.copy()
        order = np.argsort(fitvals, kind="stable")
        fitvals = fitvals[order]
        arx = candidates[order[:nmu]]
        f_hist.append(float(fitvals[0]))
        if best_f is None or fitvals[0] < best_f:
            best_x, best_f, best_evals = arx[0].copy(), float(fitvals[0]), counteval
        xmean = arx.T @ weights
        y = xmean - xold
        z = invsqrt_c @ y
        c = (cs * (2 - cs) * mueff) ** 0.5 / sigma
        ps = ps - ps * cs + z * c
        hsig = (ps**2).sum() / (1 - (1 - cs) ** (2 * counteval / lam)) / n < 2 + 4.0 / (n + 1)
        hsig = 1.0 if hsig else 0.0
        c = (cc * (2 - cc) * mueff) ** 0.5 / sigma
        pc = pc - pc * cc + y * c * hsig
        c1a = c1 - (1 - hsig**2) * c1 * cc * (2 - cc)
        for i in range(n):
            for j in range(n):
                r = [weights[k] * (arx[k, i] - xold[i]) * (arx[k, j] - xold[j]) for k in range(nmu)]
                cmuij = float(np.sum(r)) / sigma**2
                cmat[i, j] = cmat[i, j] + (
                    (-c1a - cmu) * cmat[i, j] + c1 * pc[i] * pc[j] + cmu * cmuij
                )
        sigma = sigma * math.exp(min(0.6, (cs / damps) * ((ps**2).sum() / n - 1) / 2))
        # disp
        if verb_disp != 0:
            it = counteval / lam
            if it == 1 or it % (10 * verb_disp) == 0:
                print("evals:\t ax-ratio max(std)   f-value")
            if it <= 2 or it % verb_disp == 0:
                max_std = math.sqrt(np.diag(cmat).max())
                ratio = dvec.max() / dvec.min()
                print(f"{counteval}:  {ratio:6.1f} {sigma * max_std:8.1e} {fitvals[0]!r}")
    if verb_disp > 0:
        for k, v in stop().items():
            print("termination by", k, "=", v, sep="\t")
        print("best f-value =", best_f, sep="\t")
        print("solution = ")
        print(best_x)
        print(
            "best found at iteration: ",
            best_evals / lam,
            " , total iterations: ",
            iteration,
            sep="\t",
        )
    f_hist.append(best_f)
    best = best_x.reshape(-1).astype(x.dtype, copy=False)
    return Returns((best, f_hist), counteval=counteval)


def de(opfunc, x, config=None, state=None):
    """Differential evolution: ``best, fx = de(opfunc, x, config)``.

    popsize=10*D, scaleFactor, crossoverRate, maxFEs (required), maxRegion=30,
    minRegion=-30. As in Lua: the population is drawn from a private generator
    seeded with 1, the initial "best" is the population's maximum, and ``fx``
    (length maxFEs) gets every evaluation, so maxFEs must fit whole generations.
    """
    config = {} if config is None else config
    xmean = np.array(x).reshape(-1)
    d = xmean.size
    popsize = config.get("popsize", 10 * d)
    f_scale = config.get("scaleFactor")
    cr = config.get("crossoverRate")
    max_fes = int(config["maxFEs"])
    max_region = config.get("maxRegion", 30)
    min_region = config.get("minRegion", -30)
    fx = np.zeros(max_fes, x.dtype)
    gen = torchrandom.Generator(1)
    pop = gen.uniform_fill((popsize, d), min_region, max_region).astype(x.dtype)
    children = np.zeros((popsize, d), x.dtype)
    fitness = np.zeros(popsize, x.dtype)
    child_fit = np.zeros(popsize, x.dtype)
    fes = 1

    def record(v):
        nonlocal fes
        if fes > max_fes:
            raise IndexError(f"de: evaluation {fes} exceeds maxFEs = {max_fes}")
        fx[fes - 1] = v
        fes += 1

    for i in range(popsize):
        fitness[i] = opfunc(pop[i])[0]
        record(fitness[i])
    index = int(np.argmax(fitness))
    best_fitness = fitness[index]
    best = pop[index].copy()
    while fes < max_fes:
        for i in range(1, popsize + 1):
            r1 = gen.random(1, popsize)
            while r1 == i:
                r1 = gen.random(1, popsize)
            r2 = gen.random(1, popsize)
            while r2 == r1 or r2 == i:
                r2 = gen.random(1, popsize)
            jrand = gen.random(1, d)
            for j in range(d):
                if gen.uniform(0, 1) < cr or i == jrand:
                    children[i - 1, j] = best[j] + f_scale * (pop[r1 - 1, j] - pop[r2 - 1, j])
                else:
                    children[i - 1, j] = pop[i - 1, j]
            child_fit[i - 1] = opfunc(children[i - 1])[0]
            record(child_fit[i - 1])
        for i in range(popsize):
            if child_fit[i] <= fitness[i]:
                pop[i] = children[i]
                fitness[i] = child_fit[i]
                if fitness[i] < best_fitness:
                    best_fitness = fitness[i]
                    best[...] = children[i]
    return best, fx
