"""``nn.Jacobian``: finite-difference checks of a module's gradients, as Lua users
ran them (spec section 4.2). Every ``test*`` returns the largest absolute error."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from . import backend as B
from . import torchrandom

__all__ = ["Jacobian"]


def _flat(a):
    """A 1-D view of ``a`` (which must be contiguous, as Lua's storage views are)."""
    v = a.reshape(-1)
    if not B.get_array_module(a).shares_memory(v, a):
        raise ValueError("Jacobian: the parameter must be a contiguous array")
    return v


def _fill_uniform(a, lo, hi):
    a[...] = B.get_array_module(a).asarray(
        torchrandom.default_generator().uniform_fill(a.shape, lo, hi), dtype=a.dtype
    )


class Jacobian:
    """``nn.Jacobian.forward/backward/backwardUpdate/forwardUpdate`` and the tests
    ``testJacobian``, ``testJacobianParameters``, ``testJacobianUpdateParameters``,
    ``testIO``. Matrices are float64 NumPy arrays of shape
    ``(param elements, output elements)``; random inputs come from Torch's generator
    (``torch.rand``), so a seed gives Lua's draws."""

    @staticmethod
    def backward(module, input, param=None, dparam=None):
        """Column i: gradInput (or ``dparam``) for a one-hot gradOutput at output i."""
        use_param = param is not None
        param = input if param is None else param
        out = module.forward(input)
        xp = B.get_array_module(out)
        dout = xp.zeros_like(out)
        sdout = _flat(dout)
        jac = np.zeros((param.size, out.size))
        for i in range(out.size):
            sdout[...] = 0
            sdout[i] = 1
            module.zeroGradParameters()
            din = module.updateGradInput(input, dout)
            module.accGradParameters(input, dout)
            jac[:, i] = B.to_numpy(dparam if use_param else din).reshape(-1)
        return jac

    @staticmethod
    def backwardUpdate(module, input, param):  # noqa: N802
        """Column i: ``param`` after ``accUpdateGradParameters(input, onehot_i, 1)``,
        the parameters restored between columns."""
        out = module.forward(input)
        xp = B.get_array_module(out)
        dout = xp.zeros_like(out)
        sdout = _flat(dout)
        jac = np.zeros((param.size, out.size))
        params = module.parameters()[0]
        orig = [p.copy() for p in params]
        for i in range(out.size):
            for p, o in zip(params, orig):
                p[...] = o
            sdout[...] = 0
            sdout[i] = 1
            module.updateGradInput(input, dout)
            module.accUpdateGradParameters(input, dout, 1)
            jac[:, i] = B.to_numpy(param).reshape(-1)
        for p, o in zip(params, orig):
            p[...] = o
        return jac

    @staticmethod
    def forward(module, input, param=None, perturbation: float = 1e-6):
        """Row i: central difference of the output in ``param`` element i."""
        param = input if param is None else param
        sin = _flat(param)
        n_out = module.forward(input).size
        jac = np.zeros((param.size, n_out))
        for i in range(sin.size):
            orig = float(sin[i])
            sin[i] = orig - perturbation
            outa = B.to_numpy(module.forward(input)).astype(np.float64).reshape(-1)
            sin[i] = orig + perturbation
            outb = B.to_numpy(module.forward(input)).astype(np.float64).reshape(-1)
            sin[i] = orig
            jac[i] = (outb - outa) / (2 * perturbation)
        return jac

    @staticmethod
    def forwardUpdate(module, input, param, perturbation: float = 1e-6):  # noqa: N802
        """``param - J`` row by row: what one update with lr = 1 should give."""
        jac = Jacobian.forward(module, input, param, perturbation)
        return B.to_numpy(param).reshape(-1, 1).astype(np.float64) - jac

    @staticmethod
    def testJacobian(module, input, minval=-2, maxval=2, perturbation=1e-6):  # noqa: N802
        """Fill ``input`` with U[minval, maxval]; max |J_fprop - J_bprop| in the input."""
        _fill_uniform(input, minval, maxval)
        jf = Jacobian.forward(module, input, input, perturbation)
        jb = Jacobian.backward(module, input)
        return float(np.abs(jf - jb).max())

    @staticmethod
    def testJacobianParameters(  # noqa: N802
        module, input, param, dparam, minval=-2, maxval=2, perturbation=1e-6
    ):
        """As testJacobian, for the parameter ``param`` with gradient ``dparam``."""
        _fill_uniform(input, minval, maxval)
        _fill_uniform(param, minval, maxval)
        jb = Jacobian.backward(module, input, param, dparam)
        jf = Jacobian.forward(module, input, param, perturbation)
        return float(np.abs(jf - jb).max())

    @staticmethod
    def testJacobianUpdateParameters(  # noqa: N802
        module, input, param, minval=-2, maxval=2, perturbation=1e-6
    ):
        """``accUpdateGradParameters`` against ``param - J`` (finite differences)."""
        _fill_uniform(input, minval, maxval)
        _fill_uniform(param, minval, maxval)
        pb = Jacobian.backwardUpdate(module, input, param)
        pf = Jacobian.forwardUpdate(module, input, param, perturbation)
        return float(np.abs(pf - pb).max())

    @staticmethod
    def testIO(module, input, minval=-2, maxval=2):  # noqa: N802
        """Save the module to a .t7 file, load it back and rerun forward/backward;
        returns the max differences of output and of gradInput."""
        from .t7 import load, save

        out = module.forward(input)
        xp = B.get_array_module(out)
        go = xp.asarray(
            torchrandom.default_generator().uniform_fill(out.shape, minval, maxval), out.dtype
        )
        module.zeroGradParameters()
        module.updateGradInput(input, go)
        module.accGradParameters(input, go)
        fo, bo = module.output.copy(), module.gradInput.copy()
        fd, path = tempfile.mkstemp(suffix=".t7")
        os.close(fd)
        try:
            save(path, module)
            m = load(path)
        finally:
            os.remove(path)
        m.forward(input)
        m.zeroGradParameters()
        m.updateGradInput(input, go)
        m.accGradParameters(input, go)
        errf = float(xp.abs(fo - m.output).max()) if fo.size else 0.0
        errb = float(xp.abs(bo - m.gradInput).max()) if bo.size else 0.0
        return errf, errb
