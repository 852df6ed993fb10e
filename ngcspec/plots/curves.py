"""Curves: metrics per epoch, time series of recorded compartments, confusion matrices."""

from __future__ import annotations

import numpy as np

from ngcspec.plots.context import Recorded, RunView
from ngcspec.plots.figures import new_figure

MAX_UNITS_SHOWN = 3


def metric_curves(view: RunView):
    """One panel per metric name, one line per phase, a point per epoch the phase ran (the
    numbers of summary.json). None for a run without metrics."""
    metrics = view.summary.get("metrics", {})
    names = list(dict.fromkeys(k for hist in metrics.values() for entry in hist for k in entry))
    if not names:
        return None
    from matplotlib.ticker import MaxNLocator

    fig, axes = new_figure(1, len(names), squeeze=False)
    for ax, name in zip(axes[0], names):
        for phase, hist in metrics.items():
            ys = [entry[name] for entry in hist if name in entry]
            if ys and len(ys) == len(hist):
                ax.plot(view.phase_epochs(phase)[-len(ys):], ys, marker="o", label=phase)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(name + (" (fraction)" if name.startswith("acc") else ""))
        ax.set_title(name, fontsize="medium")
        ax.legend(fontsize="small")
    fig.suptitle(view.title("metrics per epoch"), fontsize="medium")
    return fig


def time_series(view: RunView, rec: Recorded):
    """A few units of a per-step record over time (sample 0 of the last epoch), with the
    firing threshold drawn for a LIF cell's membrane potential."""
    arr = np.asarray(rec.array)[-1]                  # the last epoch
    if rec.batched:                                  # (steps, samples, *units)
        values = arr[:, 0].reshape(arr.shape[0], -1)
        which = "sample 0"
    else:                                            # (batches, steps, *shape)
        values = arr.reshape(arr.shape[0] * arr.shape[1], -1)
        which = "all batches"
    shown = min(MAX_UNITS_SHOWN, values.shape[1])
    t = np.arange(values.shape[0]) * view.dt
    fig, ax = new_figure()
    for u in range(shown):
        ax.plot(t, values[:, u], lw=1, label=f"unit {u}")
    thr = view.param(rec.comp, "thr") if rec.part == "v" else None
    if thr is not None:
        ax.axhline(float(thr), color="k", ls="--", lw=1, label=f"threshold {float(thr):g} mV")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(f"{rec.name} ({rec.unit})")
    ax.legend(fontsize="small")
    ax.set_title(view.title(rec.name, rec.phase, f"; {which}, {shown} of {values.shape[1]} units"),
                 fontsize="medium")
    return fig


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[true, predicted]."""
    out = np.zeros((n_classes, n_classes), int)
    np.add.at(out, (labels, predicted), 1)
    return out


def predictions(view: RunView, phase: str) -> tuple[str, np.ndarray, np.ndarray] | None:
    """(metric name, predicted classes, labels) of a phase's accuracy metric, when the run
    recorded the compartment it scores (per_batch or final) and knows the labels in order."""
    r = view.resolved
    labels = view.labels(phase)
    if r is None or labels is None:
        return None
    for mname, (kind, comp, part) in r.phases[phase].metrics.items():
        if kind != "accuracy":
            continue
        for rec in view.records:
            if rec.phase == phase and rec.comp == comp and rec.part == part and \
                    rec.mode in ("per_batch", "final"):
                scores = np.asarray(rec.array)
                scores = scores[-1] if rec.mode == "per_batch" else scores
                scores = scores.reshape(scores.shape[0], -1)
                if len(scores) == len(labels):
                    return mname, scores.argmax(axis=1), labels
    return None


def confusion(view: RunView, phase: str):
    found = predictions(view, phase)
    if found is None:
        return None
    mname, pred, labels = found
    n = int(max(pred.max(), labels.max())) + 1
    counts = confusion_matrix(pred, labels, n)
    fig, ax = new_figure()
    im = ax.imshow(counts, cmap="Blues", interpolation="nearest")
    fig.colorbar(im, ax=ax, label="samples")
    if n <= 12:
        for (i, j), c in np.ndenumerate(counts):
            ax.text(j, i, str(c), ha="center", va="center", fontsize="x-small",
                    color="white" if c > counts.max() / 2 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    acc = np.trace(counts) / counts.sum()
    ax.set_title(view.title(f"confusion of {mname}", phase, f"; accuracy {acc:.3f}"),
                 fontsize="medium")
    return fig
