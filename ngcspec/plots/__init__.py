"""Plots of a run directory, drawn from what the run recorded (never inside the compiled
program: the run is over when plotting starts).

``plot_run(run_dir)`` picks the plots that fit the records and the kinds of the recorded
compartments and writes them, named after what they show and the compartment
(``raster_z1e.s.png``, ``receptive_fields_W1.png``, ``metrics.png``, ...):

========================  =========================================================
``metrics``               every metric per epoch, one line per phase
``raster``                spikes of a spike compartment (``spike_times`` or ``per_step``)
``rate``                  population rate in Hz over time (smoothed), or a ``rate`` record
``isi``                   inter-spike-interval histogram
``rate_hist``             histogram of the units' firing rates
``series``                a few units of a ``per_step`` / ``per_repeat`` record over time
``receptive_fields``      weight columns laid out as the pre-synaptic image, or kernels
``weights``               weight histogram at the start (an ``initial`` record) and end
``weight_change``         end - start of every weight, as a heat map
``confusion``             confusion matrix of an ``accuracy`` metric
``sweep``                 for a sweep directory: each metric against each swept
                          parameter, mean over seeds with their spread as error bars
========================  =========================================================

matplotlib is the optional ``plot`` extra (``pip install -e ".[plot]"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ngcspec.errors import suggest
from ngcspec.plots import curves, spikes, sweeps, weights
from ngcspec.plots.context import Recorded, RunView
from ngcspec.plots.figures import DEFAULT_DPI, FORMATS, PlotError, png_bytes, require_matplotlib, save

__all__ = ["KINDS", "PlotError", "PlotJob", "RunView", "plan", "plot_run", "render", "sweep_plan"]

KINDS = {
    "metrics": "every metric per epoch, one line per phase",
    "raster": "spike raster (time in ms, unit) of a few samples side by side",
    "rate": "population rate in Hz over time",
    "isi": "inter-spike-interval histogram",
    "rate_hist": "histogram of the units' firing rates",
    "series": "a few units of a per-step record over time",
    "receptive_fields": "weights laid out as the pre-synaptic image",
    "weights": "weight histograms at the start and the end",
    "weight_change": "end - start of every weight",
    "confusion": "confusion matrix of an accuracy metric",
    "sweep": "a sweep's metrics against each swept parameter (seeds as error bars)",
}

# how to make a kind appear, for the message when a run has nothing to draw it from
_HOW = {
    "raster": "record a spike compartment, e.g. record: {z.s: spike_times}",
    "rate": "record a spike compartment as spike_times or rate",
    "isi": "record a spike compartment as spike_times",
    "rate_hist": "record a spike compartment as spike_times",
    "series": "record a compartment per_step",
    "metrics": "add metrics to a phase",
    "receptive_fields": "feed a synapse from image-shaped cells or a data set with an image shape",
    "weights": "train a plastic synapse",
    "weight_change": "record its weights as initial, e.g. record: {W1.weights: initial}",
    "confusion": "record the compartment an accuracy metric scores per_batch, on unshuffled data",
    "sweep": "give a sweep directory (ngc sweep)",
}


@dataclass(frozen=True)
class PlotJob:
    """One plot: its kind, what it shows (a compartment, a component, a phase) and how to
    draw it (a function returning a Figure, or None when it does not apply after all)."""

    kind: str
    subject: str
    draw: Callable[[], object]

    @property
    def stem(self) -> str:
        return f"{self.kind}_{self.subject}" if self.subject else self.kind


def plan(view: RunView) -> list[PlotJob]:
    """Every plot that fits what the run recorded, in a stable order."""
    jobs = [PlotJob("metrics", "", lambda: curves.metric_curves(view))]
    names = [r.name for r in view.records]
    for rec in view.records:
        subject = rec.name if names.count(rec.name) == 1 else f"{rec.phase}-{rec.name}"
        jobs += _record_jobs(view, rec, subject)
    plastic = _plastic(view)
    for comp, w in view.weights().items():
        if plastic is not None and comp not in plastic:
            continue
        jobs += [PlotJob("receptive_fields", comp, lambda c=comp, w=w: weights.receptive_fields(view, c, w)),
                 PlotJob("weights", comp, lambda c=comp, w=w: weights.weight_histograms(view, c, w)),
                 PlotJob("weight_change", comp, lambda c=comp, w=w: weights.weight_change(view, c, w))]
    for phase in view.summary.get("metrics", {}):
        jobs.append(PlotJob("confusion", phase, lambda p=phase: curves.confusion(view, p)))
    return jobs


def sweep_plan(sweep) -> list[PlotJob]:
    """For a sweep directory: every final metric against every swept parameter."""
    metrics = sweeps.metric_names(sweep.table())
    return [PlotJob("sweep", f"{m}_vs_{p}", lambda m=m, p=p: sweeps.metric_vs_param(sweep, p, m))
            for m in metrics for p in sweep.params]


def _record_jobs(view: RunView, rec: Recorded, subject: str) -> list[PlotJob]:
    if rec.mode == "rate":
        return [PlotJob("rate", subject, lambda: spikes.population_rate(view, rec))]
    if rec.is_spikes and rec.batched and rec.mode in ("spike_times", "per_step"):
        return [PlotJob("raster", subject, lambda: spikes.raster(view, rec)),
                PlotJob("rate", subject, lambda: spikes.population_rate(view, rec)),
                PlotJob("isi", subject, lambda: spikes.isi_histogram(view, rec)),
                PlotJob("rate_hist", subject, lambda: spikes.rate_histogram(view, rec))]
    if rec.mode in ("per_step", "per_repeat") and rec.array.ndim >= 3:
        return [PlotJob("series", subject, lambda: curves.time_series(view, rec))]
    return []


def _plastic(view: RunView) -> set[str] | None:
    if view.resolved is None:
        return None
    return {n for n, rc in view.resolved.components.items() if rc.kind.plastic}


def select(jobs: list[PlotJob], what: Sequence[str]) -> list[PlotJob]:
    """The jobs a user asked for: a kind (``raster``), a subject (``z1e.s``, ``W1``) or both
    (``raster:z1e.s``). An unknown word is an error that lists the possibilities."""
    if not what:
        return jobs
    chosen: list[PlotJob] = []
    for word in what:
        kind, _, subject = word.partition(":") if ":" in word else (
            (word, "", "") if word in KINDS else ("", "", word))
        if kind and kind not in KINDS:
            raise PlotError(f"unknown plot '{kind}'; " + (suggest(kind, KINDS) or
                            "plots: " + ", ".join(KINDS)))
        hits = [j for j in jobs if (not kind or j.kind == kind) and (not subject or j.subject == subject)]
        if not hits:
            subjects = sorted({j.subject for j in jobs if j.subject})
            if subject and subject not in subjects:
                near = suggest(subject, subjects + ([] if kind else list(KINDS)))
                raise PlotError(f"no plot or record named '{subject}' in this run; " + (
                    near or f"plots: {', '.join(KINDS)}; records: {', '.join(subjects) or 'none'}"))
            raise PlotError(f"this run has nothing to draw '{word}' from; {_HOW.get(kind, '')}")
        chosen += [j for j in hits if j not in chosen]
    return chosen


def render(jobs: list[PlotJob]):
    """(job, figure) for every job that applies."""
    for job in jobs:
        fig = job.draw()
        if fig is not None:
            yield job, fig


def plot_run(run_dir: str | Path, what: Sequence[str] = (), out: str | Path | None = None,
             fmt: str = "png", size: tuple[float, float] | None = None,
             dpi: int = DEFAULT_DPI) -> list[Path]:
    """Draw the plots of a run (or sweep) directory into ``out`` (default ``RUN/plots``);
    returns the files written."""
    if fmt not in FORMATS:
        raise PlotError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    require_matplotlib()
    if sweeps.is_sweep(Path(run_dir)):
        from ngcspec.sweepdir import load_sweep

        jobs = select(sweep_plan(load_sweep(run_dir)), what)
    else:
        jobs = select(plan(RunView.load(run_dir)), what)
    out = Path(out) if out is not None else Path(run_dir) / "plots"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for job, fig in render(jobs):
        written.append(save(fig, out / f"{job.stem}.{fmt}", fmt, size, dpi))
    if what and not written:
        kinds = sorted({j.kind for j in jobs})
        raise PlotError(f"nothing to draw for {' '.join(what)}; "
                        + "; ".join(_HOW.get(k, k) for k in kinds))
    return written


__all__ += ["png_bytes"]
