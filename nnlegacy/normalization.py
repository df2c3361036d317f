"""SpatialCrossMapLRN, BatchNormalization, SpatialBatchNormalization (spec 2.6-2.8)."""

from __future__ import annotations

import numpy as np

from . import backend as B
from . import threads
from .kernels import cuda, cuda_norm
from .module import Module, _size_desc

__all__ = ["BatchNormalization", "SpatialBatchNormalization", "SpatialCrossMapLRN"]


def _channel_window_sum(a, size, axis):
    """For each channel c, the sum of ``a`` over channels c-half .. c+half (clipped)."""
    xp = B.get_array_module(a)
    half = (size - 1) // 2
    c = a.shape[axis]
    pad = [(0, 0)] * a.ndim
    pad[axis] = (1, 0)
    cs = xp.cumsum(xp.pad(a, pad), axis=axis)  # cs[j] = sum of channels < j
    idx = xp.arange(c)
    hi = xp.minimum(idx + half + 1, c)
    lo = xp.maximum(idx - half, 0)
    return xp.take(cs, hi, axis=axis) - xp.take(cs, lo, axis=axis)


def _channel_dot(a, b):
    """Per channel ``sum(a * b)`` of two ``(N, C, L)`` arrays: N*C dot products by one
    batched matmul, which reads both once and writes no product array."""
    with threads.single_blas():
        return (a[:, :, None, :] @ b[:, :, :, None]).sum(axis=(0, 2, 3))


SPLIT_BYTES = 4 << 20  # a NumPy input of this size or more is normalised a part per thread


def _parts(x, *more):
    """For a big NumPy ``(N, C, L)`` input: the images split into one contiguous part per
    shared thread (slices), else None. Each pass of the whole-array code then runs on the
    parts at once, so the passes, which are at memory speed, use both cores; every
    element goes through the same operations, and the channel sums add part by part."""
    nt = min(threads.get_num_threads(), x.shape[0])
    if nt < 2 or x.nbytes < SPLIT_BYTES or not all(isinstance(a, np.ndarray) for a in (x, *more)):
        return None
    cuts = [x.shape[0] * i // nt for i in range(nt + 1)]
    return [slice(a, b) for a, b in zip(cuts, cuts[1:])]


def _over_parts(parts, fn):
    """``fn(part)`` for each part on the shared threads; the results summed (tuples item
    by item; None when ``fn`` returns nothing)."""
    results = threads.parallel_for(lambda i: fn(parts[i]), len(parts))
    total = results[0]
    if total is None:
        return None
    for r in results[1:]:
        total = tuple(a + b for a, b in zip(total, r)) if isinstance(total, tuple) else total + r
    return total


class SpatialCrossMapLRN(Module):
    """Local response normalisation across channels (AlexNet's "NORM").

    ``nn.SpatialCrossMapLRN(size, alpha=0.0001, beta=0.75, k=1)``;
    ``y[c] = x[c] * (k + alpha/size * sum_{|j-c| <= (size-1)/2} x[j]^2)^-beta``.
    Shape: ``(C, H, W)`` or ``(N, C, H, W)``, output as input.
    """

    def __init__(self, size: int, alpha=0.0001, beta=0.75, k=1):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k
        self.scale = self._zeros(0)

    def _axis(self, input):
        self._check_input(input)
        if input.ndim not in (3, 4):
            raise ValueError(f"Input must be 3D or 4D, got {_size_desc(input.shape)}")
        return input.ndim - 3

    @staticmethod
    def _planes(a):
        """``a`` as ``(N, C, L)`` for the CUDA kernels."""
        return a.reshape(a.shape[0] if a.ndim == 4 else 1, a.shape[-3], -1)

    def updateOutput(self, input):
        axis = self._axis(input)
        if input.size and cuda.usable(input):  # one kernel on the GPU
            scale, y = cuda_norm.lrn_forward(
                self._planes(input), self.size, self.alpha, self.beta, self.k
            )
            self.scale, self.output = scale.reshape(input.shape), y.reshape(input.shape)
            return self.output
        self.scale = self.k + (self.alpha / self.size) * _channel_window_sum(
            input * input, self.size, axis
        )
        self.output = input * self.scale ** (-self.beta)
        return self.output

    def updateGradInput(self, input, gradOutput):
        axis = self._axis(input)
        self._check_grad(gradOutput, input.shape)
        if self.scale.shape != input.shape:
            self.updateOutput(input)
        if input.size and cuda.usable(input, gradOutput, self.scale, self.output):
            gi = cuda_norm.lrn_backward(
                *map(self._planes, (input, gradOutput, self.scale, self.output)),
                self.size, self.alpha, self.beta,
            )  # fmt: skip
            self.gradInput = gi.reshape(input.shape)
            return self.gradInput
        ratio = _channel_window_sum(gradOutput * self.output / self.scale, self.size, axis)
        self.gradInput = (
            gradOutput * self.scale ** (-self.beta)
            - (2 * self.alpha * self.beta / self.size) * input * ratio
        )
        return self.gradInput

    def clearState(self):
        self._clear("scale", "paddedRatio", "accumRatio")
        return super().clearState()


class BatchNormalization(Module):
    """Batch normalisation over the features of ``N x C`` input.

    ``nn.BatchNormalization(nOutput, eps=1e-5, momentum=0.1, affine=True)``.
    Shape: ``(N, C)`` -> ``(N, C)``; ``(C)`` only in evaluate mode.
    Training uses the batch's (biased) variance and keeps running statistics with the
    unbiased one; with a batch of one it uses, and leaves, the running statistics.
    ``weight`` starts U[0, 1), as in Torch.
    """

    nDim = 2

    def __init__(self, nOutput: int, eps=1e-5, momentum=0.1, affine=True):
        super().__init__()
        if not isinstance(nOutput, int) or isinstance(nOutput, bool):
            raise TypeError("Missing argument #1: dimensionality of input. ")
        if nOutput == 0:
            raise ValueError(
                "To set affine=false call BatchNormalization(nOutput,  eps, momentum, false) "
            )
        if not isinstance(affine, bool):
            raise TypeError("affine has to be true/false")
        self.train = True
        self.eps, self.momentum, self.affine = eps, momentum, affine
        self.running_mean = self._zeros(nOutput)
        self.running_var = self._zeros(nOutput)
        if affine:
            self.weight = self._zeros(nOutput)
            self.bias = self._zeros(nOutput)
            self.gradWeight = self._zeros(nOutput)
            self.gradBias = self._zeros(nOutput)
        else:
            self.weight = self.bias = self.gradWeight = self.gradBias = None
        self.save_mean = self._zeros(0)
        self.save_std = self._zeros(0)
        self.reset()

    def reset(self, stdv=None):
        if self.weight is not None:
            B.uniform_(self.weight)
            self.bias.fill(0)
        self.running_mean.fill(0)
        self.running_var.fill(1)
        return self

    def _as_batch(self, input):
        """Checks Torch's rules; returns the input as (N, C, L) and whether it was unbatched."""
        self._check_input(input)
        nOutput = self.running_mean.shape[0]
        ndim = input.ndim
        unbatched = ndim == self.nDim - 1 and self.train is False
        if ndim != self.nDim and not unbatched:
            raise ValueError(
                f"only mini-batch supported ({self.nDim}D tensor), got {ndim}D tensor instead"
            )
        x = input[None] if unbatched else input
        if x.shape[0] == 0 or x.size == 0:
            raise ValueError(
                f"{self._name()}: input is empty ({_size_desc(input.shape)}): "
                "normalizing needs at least one sample"
            )
        if x.shape[1] != nOutput:
            raise ValueError(f"got {x.shape[1]}-feature tensor, expected {nOutput}")
        return x.reshape(x.shape[0], nOutput, -1), unbatched

    def _uses_batch_stats(self, x):
        return bool(self.train) and x.shape[0] > 1  # the batch-size-1 quirk

    def _kernel_ready(self, *arrays):
        """The CUDA kernels apply (CuPy, non-empty, contiguous statistics and parameters)."""
        vectors = (self.running_mean, self.running_var, self.weight, self.bias)
        return arrays[0].size > 0 and cuda_norm.batchnorm_usable(*arrays, *vectors)

    def updateOutput(self, input):
        # Few full passes over the data (each a NumPy/CuPy call): the mean; the centred
        # input, which becomes the output buffer; the channel sums of its squares (a
        # batched dot, no squared temporary); then scale and shift in place.
        x, _ = self._as_batch(input)
        xp = B.get_array_module(x)
        if self._kernel_ready(x):  # one kernel on the GPU
            train = self._uses_batch_stats(x)
            y, mean, invstd = cuda_norm.batchnorm_forward(
                x, self.weight, self.bias, self.running_mean, self.running_var,
                self.eps, self.momentum, train,
            )  # fmt: skip
            if train:
                self.save_mean, self.save_std = mean, invstd
            self.output = y.reshape(input.shape)
            return self.output
        parts = _parts(x)
        if self._uses_batch_stats(x):
            n = x.shape[0] * x.shape[2]
            if parts is None:
                mean = x.mean(axis=(0, 2))
                y = x - mean[None, :, None]
                sum2 = _channel_dot(y, y)
            else:
                mean = _over_parts(parts, lambda p: x[p].sum(axis=(0, 2))) / n
                y = xp.empty_like(x)

                def centre(p):
                    np.subtract(x[p], mean[None, :, None], out=y[p])
                    return _channel_dot(y[p], y[p])

                sum2 = _over_parts(parts, centre)
            invstd = xp.where((sum2 == 0) & (self.eps == 0), 0, 1 / xp.sqrt(sum2 / n + self.eps))
            m = self.momentum
            self.running_mean *= 1 - m
            self.running_mean += m * mean
            self.running_var *= 1 - m
            self.running_var += m * sum2 / (n - 1)
            self.save_mean, self.save_std = mean, invstd.astype(x.dtype)
        else:
            mean = self.running_mean
            invstd = 1 / xp.sqrt(self.running_var + self.eps)
            y = x - mean[None, :, None]
        scale = (invstd * self.weight if self.weight is not None else invstd).astype(x.dtype)

        def shift(p):
            y[p] *= scale[None, :, None]
            if self.weight is not None:
                y[p] += self.bias[None, :, None]

        if parts is None or not self._uses_batch_stats(x):
            shift(slice(None))
        else:
            _over_parts(parts, shift)
        self.output = y.reshape(input.shape)
        return self.output

    def _stats(self, x):
        xp = B.get_array_module(x)
        if self._uses_batch_stats(x):
            if self.save_mean.shape != self.running_mean.shape:
                raise RuntimeError("must call :updateOutput() first")
            return self.save_mean, self.save_std, True
        return self.running_mean, 1 / xp.sqrt(self.running_var + self.eps), False

    def _kernel_stats(self, x):
        """(train, mean, inverse std or running variance) as the backward kernel takes them."""
        if self._uses_batch_stats(x):
            if self.save_mean.shape != self.running_mean.shape:
                raise RuntimeError("must call :updateOutput() first")
            return True, self.save_mean, self.save_std
        return False, self.running_mean, self.running_var

    def _kernel_backward(self, input, gradOutput, need_gin, need_params, scale=1):
        """gradInput and/or the parameter gradients in one kernel, or False when the
        kernels do not apply."""
        x, _ = self._as_batch(input)
        self._check_grad(gradOutput, input.shape)
        g = gradOutput.reshape(x.shape)
        need_params = need_params and self.weight is not None
        extra = (self.gradWeight, self.gradBias, self.save_mean, self.save_std)
        if not (need_gin or need_params) or not self._kernel_ready(x, g, *extra):
            return False
        train, mean, sv = self._kernel_stats(x)
        gw, gb = (self.gradWeight, self.gradBias) if need_params else (None, None)
        gi = cuda_norm.batchnorm_backward(
            x, g, self.weight, mean, sv, self.eps, train, gw, gb, scale, need_gin
        )
        if need_gin:
            self.gradInput = gi.reshape(input.shape)
        return True

    def _grad_parts(self, input, gradOutput):
        """What both gradients need: the centred input (a fresh buffer the input gradient
        may reuse), per channel ``sum(centred * g)`` and ``sum(g)``, and the parts of a
        big input (_parts)."""
        x, _ = self._as_batch(input)
        self._check_grad(gradOutput, input.shape)
        g = gradOutput.reshape(x.shape)
        mean, invstd, batch = self._stats(x)
        parts = _parts(x, g) if g.dtype == x.dtype == mean.dtype else None
        if parts is None:
            centred = x - mean[None, :, None]
            return g, centred, _channel_dot(centred, g), g.sum(axis=(0, 2)), invstd, batch, None
        centred = np.empty_like(x)

        def sums(p):
            np.subtract(x[p], mean[None, :, None], out=centred[p])
            return _channel_dot(centred[p], g[p]), g[p].sum(axis=(0, 2))

        dotp, sum_g = _over_parts(parts, sums)
        return g, centred, dotp, sum_g, invstd, batch, parts

    def _grad_input(self, g, centred, dotp, sum_g, invstd, batch, parts):
        """``(g - mean(g) - centred * dotp * invstd^2 / n) * invstd * w`` (batch statistics)
        or ``g * invstd * w``, written into ``centred``'s buffer: four passes."""
        a = invstd * self.weight if self.weight is not None else invstd
        a = a.astype(g.dtype)[None, :, None]
        if not batch:
            return g * a
        n = g.shape[0] * g.shape[2]
        k = (dotp * invstd * invstd / n).astype(g.dtype)[None, :, None]
        shift = (sum_g / n).astype(g.dtype)[None, :, None]

        def passes(p):
            c = centred[p]
            c *= -k
            c -= shift
            c += g[p]
            c *= a

        if parts is None:
            passes(slice(None))
        else:
            _over_parts(parts, passes)
        return centred

    def updateGradInput(self, input, gradOutput):
        if self._kernel_backward(input, gradOutput, True, False):  # one kernel on the GPU
            return self.gradInput
        g, centred, dotp, sum_g, invstd, batch, parts = self._grad_parts(input, gradOutput)
        gi = self._grad_input(g, centred, dotp, sum_g, invstd, batch, parts)
        self.gradInput = gi.reshape(input.shape)
        return self.gradInput

    def _acc(self, dotp, sum_g, invstd, scale):
        self.gradWeight += scale * dotp * invstd
        self.gradBias += scale * sum_g

    def accGradParameters(self, input, gradOutput, scale=1):
        if self.weight is None or self._kernel_backward(input, gradOutput, False, True, scale):
            return
        g, centred, dotp, sum_g, invstd, *_ = self._grad_parts(input, gradOutput)
        self._acc(dotp, sum_g, invstd, scale)

    def backward(self, input, gradOutput, scale=1):
        """updateGradInput and accGradParameters sharing one set of channel sums (one
        kernel for both on the GPU)."""
        if self._kernel_backward(input, gradOutput, True, True, scale):
            return self.gradInput
        g, centred, dotp, sum_g, invstd, batch, parts = self._grad_parts(input, gradOutput)
        if self.weight is not None:
            self._acc(dotp, sum_g, invstd, scale)
        gi = self._grad_input(g, centred, dotp, sum_g, invstd, batch, parts)
        self.gradInput = gi.reshape(input.shape)
        return self.gradInput

    def clearState(self):
        self._clear("save_mean", "save_std", "_input", "_gradOutput")
        return super().clearState()

    def __tostring__(self):
        return f"{self._name()} ({self.nDim}D) ({self.running_mean.shape[0]})"


class SpatialBatchNormalization(BatchNormalization):
    """Batch normalisation per channel of ``N x C x H x W`` input (stats over N, H, W).

    ``nn.SpatialBatchNormalization(nOutput, eps=1e-5, momentum=0.1, affine=True)``.
    Shape: ``(N, C, H, W)`` -> same; ``(C, H, W)`` only in evaluate mode.
    """

    nDim = 4
