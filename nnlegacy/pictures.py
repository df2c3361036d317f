"""Pictures through matplotlib (the optional extra ``nnlegacy[plot]``), headless (Agg).

Image mosaics are composed in NumPy and written as PNG at one pixel per cell times
``scale``, so the size of every picture is known exactly.
"""

from __future__ import annotations

import numpy as np

from . import backend as B

INSTALL_HINT = "pictures need matplotlib: pip install 'nnlegacy[plot]' (or pip install matplotlib)"


class PlotUnavailableError(ImportError):
    pass


def pyplot():
    """matplotlib.pyplot on the Agg backend, or a clear error saying how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise PlotUnavailableError(INSTALL_HINT) from e
    return plt


def _normalise(tile):
    tile = np.asarray(B.to_numpy(tile), dtype=np.float64)
    lo, hi = tile.min(), tile.max()
    return (tile - lo) / (hi - lo) if hi > lo else np.zeros_like(tile)


def mosaic(tiles, cols, pad=1, normalise=True):
    """Tiles (equal H x W) in a grid of ``cols`` columns, separated by ``pad`` pixels of 1."""
    tiles = [_normalise(t) if normalise else np.asarray(t, float) for t in tiles]
    h, w = tiles[0].shape
    rows = (len(tiles) + cols - 1) // cols
    out = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad))
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        out[
            pad + r * (h + pad) : pad + r * (h + pad) + h,
            pad + c * (w + pad) : pad + c * (w + pad) + w,
        ] = t
    return out


def save_image(array, path, scale=8, cmap="gray"):
    """A 2-D array as a PNG of exactly (H*scale) x (W*scale) pixels."""
    plt = pyplot()
    big = np.kron(np.asarray(array, float), np.ones((scale, scale)))
    B.atomic_write(path, lambda tmp: plt.imsave(tmp, big, cmap=cmap, vmin=0, vmax=1, format="png"))
    return big.shape


def save_curves(history, path):
    """Training loss and test accuracy per epoch, side by side."""
    plt = pyplot()
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3), dpi=100)
    a.plot(epochs, history["loss"], "o-")
    a.set_xlabel("epoch")
    a.set_ylabel("training loss")
    b.plot(epochs, [100 * v for v in history["accuracy"]], "o-", color="tab:green")
    b.set_xlabel("epoch")
    b.set_ylabel("test accuracy (%)")
    from matplotlib.ticker import MaxNLocator

    for ax in (a, b):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    B.atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return (300, 800)
