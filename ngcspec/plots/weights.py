"""Weight plots: receptive fields as image grids, histograms at the start and end of the
run, and the change of every weight as a heat map.

A dense synapse's weights are (n_in, n_out): column j holds what post-synaptic unit j
receives, so when the inputs form an image its receptive field is that column laid out as
the image. A convolution kernel (k_h, k_w, C_in, C_out) gives one tile per output channel
(and input channel).
"""

from __future__ import annotations

import math

import numpy as np

from ngcspec.plots.context import RunView
from ngcspec.plots.figures import new_figure

MAX_TILES = 100
MAX_CHANNELS = 4


def tiles(weights: np.ndarray, image_shape: tuple[int, ...] | None) -> list[np.ndarray]:
    """The 2-D images to draw: a column of dense weights per post unit, reshaped to the
    pre-synaptic image (one tile per channel when it has several), or the kernels of a
    convolution. Empty when the weights do not hold images."""
    w = np.asarray(weights)
    out = []
    if w.ndim == 4:                                       # (k_h, k_w, C_in, C_out)
        for j in range(w.shape[3]):
            out += [w[:, :, c, j] for c in range(min(w.shape[2], MAX_CHANNELS))]
    elif w.ndim == 2 and image_shape is not None and w.shape[0] == math.prod(image_shape):
        h, wd = image_shape[:2]
        channels = image_shape[2] if len(image_shape) == 3 else 1
        for j in range(w.shape[1]):
            column = w[:, j].reshape(h, wd, channels)
            out += [column[:, :, c] for c in range(min(channels, MAX_CHANNELS))]
    return out[:MAX_TILES]


def mosaic(images: list[np.ndarray], gap: int = 1) -> tuple[np.ndarray, int]:
    """Images of one shape on a near-square grid, separated by ``gap`` NaN pixels (drawn
    blank). Returns (mosaic, columns); tile k sits at row k // columns, column k % columns."""
    h, w = images[0].shape
    cols = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan)
    for k, img in enumerate(images):
        r, c = divmod(k, cols)
        out[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = img
    return out, cols


def tile_at(grid: np.ndarray, k: int, cols: int, shape: tuple[int, int], gap: int = 1) -> np.ndarray:
    """Tile ``k`` cut back out of a mosaic (how tests compare it with the weights)."""
    h, w = shape
    r, c = divmod(k, cols)
    return grid[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w]


def receptive_fields(view: RunView, comp: str, weights: np.ndarray):
    """One tile per post-synaptic unit (or kernel), on a shared colour scale, or None when
    the weights are not images."""
    images = tiles(weights, view.pre_image_shape(comp))
    if not images:
        return None
    grid, _ = mosaic(images)
    fig, ax = new_figure()
    lim = float(np.nanmax(np.abs(grid))) or 1.0
    signed = float(np.nanmin(grid)) < 0
    im = ax.imshow(grid, cmap="RdBu_r" if signed else "gray_r", vmin=-lim if signed else 0,
                   vmax=lim, interpolation="nearest")
    ax.set_axis_off()
    fig.colorbar(im, ax=ax, label="weight")
    kind = "kernels" if np.ndim(weights) == 4 else "receptive fields"
    shown = f"{len(images)} tiles of {images[0].shape[0]}x{images[0].shape[1]}"
    ax.set_title(view.title(f"{kind} of {comp}.weights", extra=f"; {shown}"), fontsize="medium")
    return fig


def weight_histograms(view: RunView, comp: str, weights: np.ndarray):
    """The distribution of the weights at the end, and at the start when the run recorded
    them (record mode ``initial``)."""
    start = view.initial_weights(comp)
    fig, ax = new_figure()
    end = np.asarray(weights, float).ravel()
    values = [end] if start is None else [np.asarray(start, float).ravel(), end]
    lo, hi = min(v.min() for v in values), max(v.max() for v in values)
    bins = np.linspace(lo, hi if hi > lo else lo + 1, 41)
    if start is not None:
        ax.hist(values[0], bins=bins, alpha=0.6, label="start", color="C0")
    ax.hist(end, bins=bins, alpha=0.6, label="end", color="C3")
    ax.set_xlabel("weight")
    ax.set_ylabel("count")
    ax.legend()
    ax.set_title(view.title(f"weights of {comp}", extra=f"; {end.size} weights"),
                 fontsize="medium")
    return fig


def weight_change(view: RunView, comp: str, weights: np.ndarray):
    """end - start of every weight (pre-synaptic unit x post-synaptic unit), or None
    without an ``initial`` record."""
    start = view.initial_weights(comp)
    end = np.asarray(weights, float)
    if start is None or np.shape(start) != end.shape or end.ndim != 2:
        return None
    delta = end - np.asarray(start, float)
    lim = float(np.max(np.abs(delta))) or 1.0
    fig, ax = new_figure()
    im = ax.imshow(delta, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto",
                   interpolation="nearest")
    fig.colorbar(im, ax=ax, label="weight change (end - start)")
    ax.set_xlabel("post-synaptic unit")
    ax.set_ylabel("pre-synaptic unit")
    ax.set_title(view.title(f"change of {comp}.weights"), fontsize="medium")
    return fig
