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


def mosaic(tiles, cols, pad=1, normalise=True, fill=1.0):
    """Tiles (equal H x W, or H x W x 3) in a grid of ``cols`` columns, ``pad`` pixels
    of ``fill`` apart (NaN: drawn as the background by :func:`save_panels`).

    ``normalise`` scales each tile to its own 0..1; pass False to keep the values, so
    that tiles can share one colour scale.
    """
    tiles = [_normalise(t) if normalise else np.asarray(B.to_numpy(t), float) for t in tiles]
    h, w = tiles[0].shape[:2]
    rows = (len(tiles) + cols - 1) // cols
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, *tiles[0].shape[2:]), fill)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        out[
            pad + r * (h + pad) : pad + r * (h + pad) + h,
            pad + c * (w + pad) : pad + c * (w + pad) + w,
        ] = t
    return out


def save_image(array, path, scale=8, cmap="gray"):
    """A 2-D array in 0..1 as a PNG of exactly (H*scale) x (W*scale) pixels, no axes."""
    plt = pyplot()
    big = np.kron(np.asarray(array, float), np.ones((scale, scale)))
    B.atomic_write(path, lambda tmp: plt.imsave(tmp, big, cmap=cmap, vmin=0, vmax=1, format="png"))
    return big.shape


def _save(fig, path):
    plt = pyplot()
    fig.canvas.draw()
    w, h = fig.canvas.get_width_height()
    B.atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return (h, w)


def save_panels(panels, path, scale=8, title=None, dpi=100):
    """Mosaics stacked top to bottom, each with its title and, for one-channel images,
    a colour bar; returns the PNG's (height, width) in pixels.

    ``panels`` is a list of dicts: ``image`` (H x W, or H x W x 3 in 0..1; NaN cells
    are background), ``title``, and for one channel ``vmin``, ``vmax``, ``cmap``
    (default a diverging map: negative blue, positive red, 0 white) and ``label``
    (the colour bar's). Each mosaic cell is ``scale`` pixels wide.
    """
    plt = pyplot()
    widths = [p["image"].shape[1] * scale for p in panels]
    heights = [p["image"].shape[0] * scale for p in panels]
    title_px, bar_px, margin = 40, 90, 24
    longest = max(len(line) for p in panels for line in p.get("title", "").split("\n"))
    fig_w = max(max(widths) + bar_px + 2 * margin, 6 * longest + 2 * margin, 360)
    fig_h = sum(heights) + title_px * len(panels) + (36 if title else 0) + margin
    fig = plt.figure(figsize=(fig_w / dpi, fig_h / dpi), dpi=dpi)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 8 / fig_h, va="top")
    top = fig_h - (36 if title else 0)
    for p, w, h in zip(panels, widths, heights):
        top -= title_px
        ax = fig.add_axes([margin / fig_w, (top - h) / fig_h, w / fig_w, h / fig_h])
        img = np.asarray(p["image"], float)
        if img.ndim == 3:
            shown = ax.imshow(np.nan_to_num(img, nan=1.0), interpolation="nearest")
        else:
            cmap = plt.get_cmap(p.get("cmap", "RdBu_r")).copy()
            cmap.set_bad("white" if p.get("cmap", "RdBu_r") != "RdBu_r" else "0.85")
            shown = ax.imshow(
                np.ma.masked_invalid(img),
                cmap=cmap,
                vmin=p.get("vmin"),
                vmax=p.get("vmax"),
                interpolation="nearest",
            )
            cax = fig.add_axes([(margin + w + 8) / fig_w, (top - h) / fig_h, 12 / fig_w, h / fig_h])
            bar = fig.colorbar(shown, cax=cax)
            bar.ax.tick_params(labelsize=7)
            if p.get("label"):
                bar.set_label(p["label"], fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(p.get("title", ""), fontsize=8, loc="left")
        top -= h
    return _save(fig, path)


def save_grid(cells, path, col_titles, row_titles, scales, title=None, scale=3, dpi=100):
    """A grid of images, one colour scale per column group, each with its colour bar.

    ``cells[r][c]`` is a 2-D array; ``scales`` maps a column index to a dict
    ``{"vmin", "vmax", "cmap", "label"}``; columns given the same dict (the same
    object) share the scale and one colour bar, drawn at the right of the grid.
    Returns the PNG's (height, width) in pixels.
    """
    plt = pyplot()
    rows, cols = len(cells), len(cells[0])
    h, w = cells[0][0].shape
    cell_w, cell_h = w * scale, h * scale
    groups = []
    for c in range(cols):
        if all(scales[c] is not g for g in groups):
            groups.append(scales[c])
    left, gap, head, foot = 70, 14, 40 + (30 if title else 0), 12
    bars = 80 * len(groups)
    fig_w = left + cols * (cell_w + gap) + bars
    fig_h = head + rows * (cell_h + gap) + foot
    fig = plt.figure(figsize=(fig_w / dpi, fig_h / dpi), dpi=dpi)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 8 / fig_h, va="top")
    shown = {}
    for r in range(rows):
        for c in range(cols):
            x0 = left + c * (cell_w + gap)
            y0 = fig_h - head - (r + 1) * (cell_h + gap) + gap
            ax = fig.add_axes([x0 / fig_w, y0 / fig_h, cell_w / fig_w, cell_h / fig_h])
            sc = scales[c]
            im = ax.imshow(
                cells[r][c],
                cmap=sc.get("cmap", "gray"),
                vmin=sc["vmin"],
                vmax=sc["vmax"],
                interpolation="nearest",
            )
            shown[id(sc)] = im
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(col_titles[c], fontsize=8)
            if c == 0:
                ax.set_ylabel(row_titles[r], fontsize=8)
    bar_h = rows * (cell_h + gap) - gap
    for i, sc in enumerate(groups):
        x0 = left + cols * (cell_w + gap) + 10 + 80 * i
        cax = fig.add_axes([x0 / fig_w, (foot + gap / 2) / fig_h, 12 / fig_w, bar_h / fig_h])
        bar = fig.colorbar(shown[id(sc)], cax=cax)
        bar.ax.tick_params(labelsize=7)
        bar.set_label(sc.get("label", ""), fontsize=7)
    return _save(fig, path)


def save_curves(history, path, title=None):
    """Training loss and test accuracy per epoch, side by side, on axes from 0.

    ``title`` (e.g. the optimizer and learning rate) goes above both plots. Returns
    the PNG's (height, width) in pixels.
    """
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.3), dpi=100)
    a.plot(epochs, history["loss"], "o-")
    a.set_xlabel("epoch")
    a.set_ylabel("training loss (mean NLL per image)")
    a.set_ylim(0, max(history["loss"]) * 1.1)
    acc = [100 * v for v in history["accuracy"]]
    b.plot(epochs, acc, "o-", color="tab:green")
    b.set_xlabel("epoch")
    b.set_ylabel("test accuracy (%)")
    b.set_ylim(0, 100)  # from 0: an honest picture of how far from chance (10 %) it is
    b.axhline(10, color="0.6", linestyle=":", linewidth=1)
    b.text(epochs[0], 11, "chance", fontsize=7, color="0.4")
    spread = max(acc) - min(acc)
    if len(acc) > 1 and spread < 20 and min(acc) > 78:  # flat near the top: a zoomed inset
        # below the curve, marked as a zoom (the main axis stays 0..100)
        z = b.inset_axes([0.22, 0.22, 0.74, 0.5])
        z.plot(epochs, acc, "o-", color="tab:green", markersize=4)
        pad = max(spread * 0.15, 0.05)
        z.set_ylim(min(acc) - pad, min(max(acc) + pad, 100))
        z.set_xlim(0.5, epochs[-1] + 0.5)
        z.xaxis.set_major_locator(MaxNLocator(integer=True))
        z.tick_params(labelsize=7)
        z.set_title(f"zoom: {min(z.get_ylim()):.2f} to {max(z.get_ylim()):.2f} %", fontsize=7)
        z.annotate(
            f"{acc[-1]:.2f} %", (epochs[-1], acc[-1]), textcoords="offset points",
            xytext=(0, -12), ha="center", fontsize=7,
        )  # fmt: skip
    else:
        b.annotate(
            f"{acc[-1]:.2f} %", (epochs[-1], acc[-1]), textcoords="offset points",
            xytext=(0, 6), ha="right", fontsize=8,
        )  # fmt: skip
    for ax in (a, b):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.5, epochs[-1] + 0.5)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
