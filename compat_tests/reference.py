"""Independent references: plain loops and finite differences, as nn.Jacobian.

Nothing here calls nnlegacy's kernels; these are what the library is checked against.
"""

import math

import numpy as np

from nnlegacy import backend as B

PERTURBATION = 1e-6
PRECISION = 1e-5


def conv2d_loops(x, w, b, dH, dW, padH, padW):
    """Direct convolution by loops over output positions (x: N,C,H,W; w: O,C,kH,kW)."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * padH, wd + 2 * padW))
    xp[:, :, padH : padH + h, padW : padW + wd] = x
    oh = int((h + 2 * padH - kh) / dH) + 1
    ow = int((wd + 2 * padW - kw) / dW) + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * dH : i * dH + kh, j * dW : j * dW + kw]
            out[:, :, i, j] = np.einsum("nckl,ockl->no", patch, w)
    if b is not None:
        out += b[None, :, None, None]
    return out


def pool_size(size, k, d, pad, ceil):
    """Torch's pooling output size, written from the spec's formula."""
    o = (math.ceil if ceil else math.floor)((size - k + 2 * pad) / d) + 1
    if pad and (o - 1) * d >= size + pad:
        o -= 1
    return o


def maxpool_loops(x, kH, kW, dH, dW, padH, padW, ceil):
    """(output, 1-based indices) by scanning each window in row-major order."""
    n, c, h, w = x.shape
    oh, ow = pool_size(h, kH, dH, padH, ceil), pool_size(w, kW, dW, padW, ceil)
    out = np.full((n, c, oh, ow), -np.inf)
    idx = np.zeros((n, c, oh, ow), np.int64)
    for a in range(n):
        for p in range(c):
            for i in range(oh):
                for j in range(ow):
                    hs, ws = i * dH - padH, j * dW - padW
                    he, we = min(hs + kH, h), min(ws + kW, w)
                    hs, ws = max(hs, 0), max(ws, 0)
                    for y in range(hs, he):
                        for z in range(ws, we):
                            if x[a, p, y, z] > out[a, p, i, j]:
                                out[a, p, i, j] = x[a, p, y, z]
                                idx[a, p, i, j] = y * w + z + 1
    return out, idx


def _flat(a):
    return B.to_numpy(a).reshape(-1).astype(np.float64)


def jacobian_input(module, x, h=PERTURBATION):
    """(finite-difference J, backprop J), both (input elements x output elements)."""
    xp = B.get_array_module(x)
    out = module.forward(x)
    n_in, n_out = x.size, out.size
    j_fd = np.zeros((n_in, n_out))
    flat = x.reshape(-1)
    for i in range(n_in):
        orig = float(flat[i])
        flat[i] = orig + h
        plus = _flat(module.forward(x))
        flat[i] = orig - h
        minus = _flat(module.forward(x))
        flat[i] = orig
        j_fd[i] = (plus - minus) / (2 * h)
    j_bp = np.zeros((n_in, n_out))
    module.forward(x)
    for k in range(n_out):
        g = xp.zeros(out.shape, x.dtype)
        g.reshape(-1)[k] = 1
        j_bp[:, k] = _flat(module.updateGradInput(x, g))
    return j_fd, j_bp


def jacobian_param(module, x, pname, gname, h=PERTURBATION):
    """(finite-difference J, J from accGradParameters) for one parameter array."""
    xp = B.get_array_module(x)
    param = getattr(module, pname)
    out = module.forward(x)
    n_p, n_out = param.size, out.size
    j_fd = np.zeros((n_p, n_out))
    pflat = param.reshape(-1)
    assert np.shares_memory(pflat, param) if xp is np else True
    for i in range(n_p):
        orig = float(pflat[i])
        pflat[i] = orig + h
        plus = _flat(module.forward(x))
        pflat[i] = orig - h
        minus = _flat(module.forward(x))
        pflat[i] = orig
        j_fd[i] = (plus - minus) / (2 * h)
    j_bp = np.zeros((n_p, n_out))
    module.forward(x)
    for k in range(n_out):
        g = xp.zeros(out.shape, x.dtype)
        g.reshape(-1)[k] = 1
        module.zeroGradParameters()
        module.backward(x, g)
        j_bp[:, k] = _flat(getattr(module, gname))
    return j_fd, j_bp


def check_scale_accumulates(module, x, g):
    """``backward`` with scales 0.25 and 0.75 then ``accGradParameters`` with 1 adds
    twice the parameter gradients of one ``backward(x, g)``: they accumulate, times scale."""
    module.zeroGradParameters()
    module.backward(x, g)
    once = [B.to_numpy(a).copy() for a in module.parameters()[1]]
    module.zeroGradParameters()
    module.backward(x, g, 0.25)
    module.backward(x, g, 0.75)
    module.accGradParameters(x, g, 1)
    for a, b in zip(module.parameters()[1], once):
        np.testing.assert_allclose(B.to_numpy(a), 2 * b, rtol=1e-12, atol=1e-12)


def criterion_jacobian(crit, x, target, h=PERTURBATION):
    """(finite-difference gradient, crit.backward) of a criterion's loss."""
    crit.forward(x, target)
    g = _flat(crit.backward(x, target))
    flat = x.reshape(-1)
    fd = np.zeros(x.size)
    for i in range(x.size):
        orig = float(flat[i])
        flat[i] = orig + h
        plus = crit.forward(x, target)
        flat[i] = orig - h
        minus = crit.forward(x, target)
        flat[i] = orig
        fd[i] = (plus - minus) / (2 * h)
    return fd, g


def avgpool_loops(x, kH, kW, dH, dW, padH, padW, ceil, include):
    """Average pooling by loops, with the divisor rule of spec 2.5."""
    n, c, h, w = x.shape
    oh, ow = pool_size(h, kH, dH, padH, ceil), pool_size(w, kW, dW, padW, ceil)
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            hs, ws = i * dH - padH, j * dW - padW
            he, we = min(hs + kH, h + padH), min(ws + kW, w + padW)
            pool = (he - hs) * (we - ws)
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
            div = pool if include else (he - hs) * (we - ws)
            with np.errstate(invalid="ignore", divide="ignore"):  # empty window: NaN
                out[:, :, i, j] = x[:, :, hs:he, ws:we].sum(axis=(2, 3)) / div
    return out


def lrn_loops(x, size, alpha, beta, k):
    """Cross-map LRN by a loop over channels (x: N, C, H, W)."""
    c = x.shape[1]
    half = (size - 1) // 2
    out = np.zeros_like(x)
    for ch in range(c):
        lo, hi = max(0, ch - half), min(c - 1, ch + half)
        scale = k + alpha / size * (x[:, lo : hi + 1] ** 2).sum(axis=1)
        out[:, ch] = x[:, ch] * scale ** (-beta)
    return out


def batchnorm_ref(x, weight, bias, running_mean, running_var, eps, train):
    """Batch norm output over features of axis 1, statistics over the other axes."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = [1, -1] + [1] * (x.ndim - 2)
    if train:
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
    else:
        mean, var = running_mean, running_var
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if weight is not None:
        y = y * weight.reshape(shape) + bias.reshape(shape)
    return y


def full_conv_loops(x, w, b, dH, dW, padH, padW, adjH, adjW):
    """Transposed convolution by scattering each input pixel (x: N,C,H,W; w: C,O,kH,kW)."""
    n, c, h, wd = x.shape
    _, o, kh, kw = w.shape
    oh = (h - 1) * dH - 2 * padH + kh + adjH
    ow = (wd - 1) * dW - 2 * padW + kw + adjW
    big = np.zeros((n, o, oh + 2 * padH + kh, ow + 2 * padW + kw))
    for i in range(h):
        for j in range(wd):
            big[:, :, i * dH : i * dH + kh, j * dW : j * dW + kw] += np.einsum(
                "nc,cokl->nokl", x[:, :, i, j], w
            )
    out = big[:, :, padH : padH + oh, padW : padW + ow]
    return out + b[None, :, None, None] if b is not None else out
