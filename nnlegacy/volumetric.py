"""VolumetricBatchNormalization and VolumetricDropout: the spatial ones for T x H x W."""

from __future__ import annotations

from . import backend as B
from .dropout import SpatialDropout
from .module import _size_desc
from .normalization import BatchNormalization

__all__ = ["VolumetricBatchNormalization", "VolumetricDropout"]


class VolumetricBatchNormalization(BatchNormalization):
    """Batch normalisation per channel of ``N x C x T x H x W`` input (stats over N, T, H, W).

    ``nn.VolumetricBatchNormalization(nOutput, eps=1e-5, momentum=0.1, affine=True)``.
    Shape: ``(N, C, T, H, W)`` -> same; ``(C, T, H, W)`` only in evaluate mode.
    """

    nDim = 5


class VolumetricDropout(SpatialDropout):
    """Drops whole feature volumes with probability ``p`` while training (v1 scaling).

    ``nn.VolumetricDropout(p=0.5, stochasticInference=False)``; in evaluate mode the
    output is the input times (1-p). Shape: ``(C, T, H, W)`` or ``(N, C, T, H, W)``.
    """

    def updateOutput(self, input):
        self._check_input(input)
        if not (self.train or self.stochastic_inference):
            self.output = input * (1 - self.p)
            return self.output
        if input.ndim not in (4, 5):
            raise ValueError(
                "Input must be 5D (nbatch, nfeat, t, h, w) or 4D (nfeat, t, h, w), "
                f"got {_size_desc(input.shape)}"
            )
        shape = input.shape[: input.ndim - 3] + (1, 1, 1)
        noise = getattr(self, "_fixed_noise", None)
        if noise is None:
            noise = B.bernoulli(B.get_array_module(input), 1 - self.p, shape, input.dtype)
        self.noise = noise
        self.output = input * noise
        return self.output
