"""Spike plots: rasters, population rate, inter-spike intervals and firing-rate histograms.

All of them start from one spike list per record: rows (epoch, step, sample, unit), as the
``spike_times`` record mode stores them; a dense ``per_step`` record of a spike compartment
is turned into the same list first. Time is the step index times ``dt`` (ms).
"""

from __future__ import annotations

import numpy as np

from ngcspec.plots.context import Recorded, RunView
from ngcspec.plots.figures import new_figure

MAX_SAMPLES_SHOWN = 4


def spike_rows(view: RunView, rec: Recorded) -> tuple[np.ndarray, int, int, int]:
    """(rows of the last epoch recorded, steps, samples, units) of a spike record."""
    arr = np.asarray(rec.array)
    if rec.mode == "spike_times":
        rows = arr[arr[:, 0] == arr[:, 0].max()] if len(arr) else arr
        steps = view.steps(rec.phase) or (int(rows[:, 1].max()) + 1 if len(rows) else 1)
        samples = view.samples(rec.phase) or (int(rows[:, 2].max()) + 1 if len(rows) else 1)
        units = (int(np.prod(rec.unit_shape)) if rec.unit_shape else
                 int(arr[:, 3].max()) + 1 if len(arr) else 1)
        return rows, steps, samples, units
    dense = arr.reshape(arr.shape[:3] + (-1,))[-1:]           # (1, steps, samples, units)
    return np.argwhere(dense != 0), dense.shape[1], dense.shape[2], dense.shape[3]


def raster(view: RunView, rec: Recorded, steps: int | None = None):
    """Dots at (time, unit) for the first few samples of the last epoch, side by side."""
    rows, n_steps, _, n_units = spike_rows(view, rec)
    steps = steps or n_steps
    samples = np.unique(rows[:, 2])[:MAX_SAMPLES_SHOWN] if len(rows) else np.array([0])
    fig, axes = new_figure(1, len(samples), sharey=True, squeeze=False)
    for ax, sample in zip(axes[0], samples):
        mine = rows[rows[:, 2] == sample]
        ax.scatter(mine[:, 1] * view.dt, mine[:, 3], s=25, marker="|", color="k", linewidths=1.0)
        ax.set_xlim(0, steps * view.dt)
        ax.set_ylim(-0.5, n_units - 0.5)
        ax.set_xlabel("time (ms)")
        ax.set_title(f"sample {int(sample)}\n{len(mine)} spikes", fontsize="x-small")
    axes[0][0].set_ylabel("unit")
    fig.suptitle(view.title(f"raster of {rec.name}", rec.phase), fontsize="medium")
    return fig


def smoothed(values: np.ndarray, dt: float, window_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """A boxcar average of a per-step series over ``window_ms``; the convolution keeps its
    full length (the window spills past both ends), so the area under the curve is that of
    the raw series. Returns (time in ms, values)."""
    width = max(1, int(round(window_ms / dt)))
    out = np.convolve(values, np.full(width, 1.0 / width), mode="full")
    t = (np.arange(len(out)) - (width - 1) / 2) * dt
    return t, out


def population_rate(view: RunView, rec: Recorded, window_ms: float = 10.0):
    """The mean rate of the population in Hz over time, averaged over the samples of the
    last epoch. With ``spike_times``/``per_step`` records: spikes per step over units and
    samples, divided by dt; with a ``rate`` record: its values."""
    if rec.mode == "rate":
        per_step = np.asarray(rec.array)[-1].mean(axis=-1)     # (steps,) Hz
        n_samples = np.asarray(rec.array).shape[-1]
    else:
        rows, n_steps, n_samples, n_units = spike_rows(view, rec)
        counts = np.bincount(rows[:, 1], minlength=n_steps).astype(float)
        per_step = counts / (n_units * n_samples) / (view.dt / 1000.0)
    t, rate = smoothed(per_step, view.dt, window_ms)
    fig, ax = new_figure()
    ax.plot(t, rate, color="C0")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("population rate (Hz)")
    ax.set_title(view.title(f"rate of {rec.name}", rec.phase,
                            f"; {window_ms:g} ms window, mean of {n_samples} samples"),
                 fontsize="medium")
    return fig


def intervals(rows: np.ndarray, dt: float) -> np.ndarray:
    """Inter-spike intervals (ms) of every (epoch, sample, unit) train in ``rows``."""
    if len(rows) < 2:
        return np.zeros(0)
    order = np.lexsort((rows[:, 1], rows[:, 3], rows[:, 2], rows[:, 0]))
    r = rows[order]
    same = np.all(r[1:, [0, 2, 3]] == r[:-1, [0, 2, 3]], axis=1)
    return (r[1:, 1] - r[:-1, 1])[same] * dt


def isi_histogram(view: RunView, rec: Recorded):
    rows = spike_rows(view, rec)[0]
    isi = intervals(rows, view.dt)
    fig, ax = new_figure()
    ax.hist(isi, bins=min(50, max(5, len(np.unique(isi)))), color="C1")
    ax.set_xlabel("inter-spike interval (ms)")
    ax.set_ylabel("count")
    ax.set_title(view.title(f"ISIs of {rec.name}", rec.phase, f"; {len(isi)} intervals"),
                 fontsize="medium")
    return fig


def unit_rates(rows: np.ndarray, n_steps: int, n_units: int, n_samples: int,
               dt: float) -> np.ndarray:
    """Each unit's mean firing rate (Hz) over the samples and steps of ``rows``."""
    counts = np.bincount(rows[:, 3], minlength=n_units).astype(float)
    return counts / n_samples / (n_steps * dt / 1000.0)


def rate_histogram(view: RunView, rec: Recorded):
    rows, n_steps, n_samples, n_units = spike_rows(view, rec)
    rates = unit_rates(rows, n_steps, n_units, n_samples, view.dt)
    fig, ax = new_figure()
    ax.hist(rates, bins=min(30, max(5, n_units // 4)), color="C2")
    ax.set_xlabel("firing rate (Hz)")
    ax.set_ylabel("units")
    ax.set_title(view.title(f"rates of {rec.name}", rec.phase, f"; {n_units} units"),
                 fontsize="medium")
    return fig
