"""``ngc plot`` and ``ngc report``: look at a run directory (matplotlib: the ``plot`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ngcspec.cli.app import UsageError, app, err, out


def parse_size(text: str | None) -> tuple[float, float] | None:
    """'W,H' in inches -> (W, H)."""
    if text is None:
        return None
    try:
        w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--size {text!r}: write width,height in inches, e.g. --size 8,5") from None
    if not (0.5 <= w <= 100 and 0.5 <= h <= 100):
        raise UsageError(f"--size {text!r}: width and height must be between 0.5 and 100 inches")
    return w, h


@app.command()
def plot(
    run_dir: Path = typer.Argument(..., help="a run directory (what `ngc run` printed), a "
                                   "folder of runs such as runs/NAME (its newest), or a sweep "
                                   "directory"),
    what: Optional[List[str]] = typer.Argument(
        None, help="plots to draw: a kind (metrics, raster, rate, isi, rate_hist, series, "
                   "receptive_fields, weights, weight_change, confusion, sweep), a compartment or "
                   "component (z1e.s, W1), or kind:name (raster:z1e.s); default: every plot "
                   "that fits the records"),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="folder for the files "
                                           "(default: RUN/plots)"),
    fmt: str = typer.Option("png", "--format", "-f", help="png, svg or pdf"),
    size: Optional[str] = typer.Option(None, help="figure size W,H in inches (default 6.4,4)"),
    dpi: int = typer.Option(100, help="dots per inch of png files"),
) -> None:
    """Draw plots of a run: metric curves, rasters, rates, receptive fields, ..."""
    from ngcspec.plots import plot_run

    if not 10 <= dpi <= 1200:
        raise UsageError("--dpi must be between 10 and 1200")
    from ngcspec.rundir import latest

    written = plot_run(latest(run_dir), what or (), out_dir, fmt, parse_size(size), dpi)
    for path in written:
        out.print(str(path), markup=False)
    err.print(f"{len(written)} plot(s) written", markup=False)


@app.command()
def report(run_dir: Path = typer.Argument(..., help="a run directory, or a folder of runs "
                                          "such as runs/NAME (its newest)")) -> None:
    """Write RUN/report.html: summary, circuit, execution order and every plot, in one file."""
    from ngcspec.report import write_report

    from ngcspec.rundir import latest

    out.print(str(write_report(latest(run_dir))), markup=False)


def after_run(path: Path, result, resolved, plot: bool) -> None:
    """After ``ngc run``: with ``--plot``, the default plots in RUN/plots; for a circuit
    without metrics, what it recorded and how to look at it."""
    if plot:
        from ngcspec.plots import PlotError, plot_run

        try:
            written = plot_run(path)
        except PlotError as exc:
            err.print(f"the results are saved in {path}, but no plots were drawn: {exc}",
                      markup=False)
            raise typer.Exit(1) from None
        out.print(f"plots: {len(written)} file(s) in {path / 'plots'}", markup=False)
        return
    if any(entry for hist in result.metrics.values() for entry in hist):
        return
    recorded = [f"{ph}/{c}.{p} ({mode})" for ph, phase in resolved.phases.items()
                for (c, p), mode in phase.record.items()]
    if recorded:
        out.print("no metrics; recorded " + ", ".join(recorded) + f". Look at them with "
                  f"`ngc plot {path}` or `ngc report {path}`", markup=False)
    else:
        out.print("no metrics and nothing recorded: add `metrics` to a phase or a `record` "
                  "entry (e.g. record: {z.s: spike_times}) to see what the circuit does",
                  markup=False)
