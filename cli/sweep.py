"""``ngc sweep``: run a study (parameters x seeds) as few vmapped programs, with a table."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from ngcspec.cli.app import UsageError, app, err, out


def parse_param(item: str) -> tuple[str, object]:
    """``NAME=v1,v2``, ``NAME=linspace:a,b,n``, ``NAME=logspace:a,b,n``, ``NAME=range:a,b[,s]``
    -> (name, values as the sweep section writes them)."""
    import yaml

    name, eq, text = item.partition("=")
    name, text = name.strip(), text.strip()
    if not eq or not name or not text:
        raise UsageError(f"--param {item!r}: write NAME=V1,V2,... (or NAME=linspace:A,B,N, "
                         "logspace:A,B,N, range:START,STOP), e.g. --param W1.eta=0.001,0.01")
    form, colon, rest = text.partition(":")
    try:
        if colon and form in ("linspace", "logspace", "range"):
            nums = [yaml.safe_load(v) for v in rest.split(",")]
            if form == "range":
                return name, {"range": nums}
            if len(nums) != 3:
                raise UsageError(f"--param {item!r}: {form} takes A,B,N")
            return name, {form: nums[:2], "n": nums[2]}
        return name, [yaml.safe_load(v) for v in text.split(",")]
    except yaml.YAMLError:
        raise UsageError(f"--param {item!r}: cannot read the values {text!r}") from None


def parse_seeds(text: str):
    """``0-9`` (inclusive), ``0,3,7`` or ``5``."""
    text = text.strip()
    try:
        if "-" in text.strip("-"):
            a, b = (int(v) for v in text.split("-", 1))
            if b < a:
                raise UsageError(f"--seeds {text}: the last seed comes before the first")
            return {"range": [a, b + 1]}
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"--seeds {text!r}: write a range 0-9, a list 0,3,7 or one seed") from None


def parse_combine(text: str):
    """``grid``, ``zip``, ``random:N`` or ``optuna:TRIALS[,BATCH]``."""
    form, _, rest = text.partition(":")
    try:
        if form in ("grid", "zip") and not rest:
            return form
        if form == "random":
            return {"random": int(rest)}
        if form == "optuna":
            nums = [int(v) for v in rest.split(",")]
            return {"optuna": {"trials": nums[0], **({"batch": nums[1]} if len(nums) > 1 else {})}}
    except (ValueError, IndexError):
        pass
    raise UsageError(f"--combine {text!r}: use grid, zip, random:N or optuna:TRIALS[,BATCH]")


@app.command()
def sweep(
    file: Path = typer.Argument(..., help="circuit file"),
    params: List[str] = typer.Option([], "--param", "-p", help="swept values: W1.eta=0.001,0.01 "
                                     "or NAME=linspace:A,B,N / logspace:A,B,N / range:A,B"),
    seeds: Optional[str] = typer.Option(None, help="seeds of every combination: 0-9, 0,3,7"),
    combine: Optional[str] = typer.Option(None, help="grid, zip, random:N or optuna:TRIALS[,BATCH]"),
    report: Optional[str] = typer.Option(None, help="metric the table is sorted by "
                                         "(phase.metric; append :min when lower is better)"),
    epochs: Optional[int] = typer.Option(None, help="override run.epochs"),
    out_dir: Path = typer.Option(Path("sweeps"), "--out", "-o", help="where sweep directories go"),
    sets: List[str] = typer.Option([], "--set", "-s", help="fixed override: z1.n_units=64"),
    members_per_call: Optional[int] = typer.Option(
        None, help="members run together in one call (default: as many as fit in memory)"),
    records: bool = typer.Option(False, help="keep every member's records (members/<i>/)"),
    progress: bool = typer.Option(True, help="show a progress bar"),
    rows: int = typer.Option(20, help="table rows shown (all are written)"),
    platform: Optional[str] = typer.Option(None, help="cpu or gpu (default: what JAX finds)"),
    devices: Optional[str] = typer.Option(
        None, help="run each call on N devices (or all), members split over them"),
    shard: Optional[str] = typer.Option(None, help="override run.shard: members, batch, neurons"),
) -> None:
    """Run a study (swept parameters x seeds, vmapped) into a sweep directory; print a table.

    The table lists the combinations sorted by the report metric, mean ± std over seeds."""
    from ngcspec.cache import enable_compilation_cache
    from ngcspec.cli.app import _parse_sets, resume_collection
    from ngcspec.resolve import resolve_file
    from ngcspec.sweep import run_study, with_sweep
    from ngcspec.sweepdir import write_sweep

    if epochs is not None and epochs < 1:
        raise UsageError("--epochs must be at least 1")
    if members_per_call is not None and members_per_call < 1:
        raise UsageError("--members-per-call must be at least 1")
    overrides = _parse_sets(sets)
    from ngcspec.cli.devices import DeviceSetup

    where = DeviceSetup(platform, devices, shard,      # before JAX starts a backend
                        members_over_cores=True)
    if any(k == "sweep" or k.startswith("sweep.") for k in overrides):
        raise UsageError("give the sweep with --param, --seeds and --combine, not --set")
    resolved = resolve_file(file, overrides=overrides)
    rep = None
    if report is not None:
        metric, _, goal = report.partition(":")
        rep = {"metric": metric, "goal": goal or "max"}
    resolved = with_sweep(resolved, params=dict(parse_param(p) for p in params) or None,
                          seeds=parse_seeds(seeds) if seeds is not None else None,
                          combine=parse_combine(combine) if combine is not None else None,
                          report=rep)
    resume_collection()
    enable_compilation_cache()
    listener = _SweepProgress(err) if progress and sys.stderr.isatty() else \
        _SweepLog(err) if progress else None
    try:
        placement = where.placement(resolved, sweep=True)
        result = run_study(resolved, epochs=epochs, members_per_call=members_per_call,
                           listener=listener, keep_records=records, placement=placement)
    finally:
        if listener is not None:
            listener.close()
    ran_on = where.describe(placement)
    path = write_sweep(result, resolved, out_dir, extra={"overrides": overrides, **ran_on})
    show_table(result, rows, ran_on)
    out.print(f"results: {path}")


def describe_plan(groups, n_members: int, structural: list[str]) -> list[str]:
    lines = [f"{n_members} member(s) in {len(groups)} group(s)" +
             (f" (one compiled program per value of {', '.join(structural)})"
              if len(groups) > 1 else " (one compiled program)")]
    from ngcspec.memory import gib

    for g in groups:
        what = ", ".join(f"{k}={v}" for k, v in g.structural.items()) or "all"
        how = {"all fit": "all fit in memory", "memory": "the most that fit in memory",
               "members_per_call": "--members-per-call"}[g.chosen_by]
        lines.append(f"  group {g.index + 1} ({what}): {len(g.members)} member(s) as "
                     f"{g.chunks} call(s) of {g.chunk_size} ({how}; estimated "
                     f"{gib(g.memory_bytes)} per call)")
    return lines


_SHOWN_METRICS = 3     # metric columns in the terminal table; members.csv holds them all


def show_table(result, limit: int, ran_on: dict | None = None) -> None:
    from ngcspec.cli.devices import title_suffix
    from ngcspec.sweepdir import combination_table

    names = [p.name for p in result.params]
    entries = combination_table(result.rows(), names, result.report, result.finite)
    seeds = {len(e["seeds"]) for e in entries}
    many = max(seeds or {1}) > 1
    title = f"{result.name}: {len(result.members)} member(s), {result.epochs} epoch(s), " \
            f"{result.timings.get('sweep_s', 0):.1f} s" + (title_suffix(ran_on) if ran_on else "")
    table = Table(title=title)
    for n in names:
        table.add_column(n, justify="right")
    table.add_column("seeds", justify="right")
    metrics = list(entries[0]["metrics"]) if entries else []
    if result.report and result.report[0] in metrics:
        metrics.remove(result.report[0])
        metrics.insert(0, result.report[0])
    hidden = metrics[_SHOWN_METRICS:]             # a terminal's width holds only a few
    metrics = metrics[:_SHOWN_METRICS]
    for m in metrics:
        arrow = (" ↑" if result.report[1] == "max" else " ↓") if result.report and \
            m == result.report[0] else ""
        table.add_column(m + (" (mean ± std)" if many else "") + arrow, justify="right",
                         overflow="fold")
    for e in entries[:limit]:
        cells = [_fmt(e["values"][n]) for n in names] + [_seeds(e["seeds"])]
        for m in metrics:
            mean, std = e["metrics"][m]
            cells.append(f"{mean:.4g} ± {std:.2g}" if len(e["seeds"]) > 1 else f"{mean:.4g}")
        table.add_row(*cells)
    out.print(table)
    if len(entries) > limit:
        out.print(f"... {len(entries) - limit} more combination(s) in members.csv")
    if hidden:
        out.print(f"{len(hidden)} more metric(s) in members.csv: {', '.join(hidden)}",
                  markup=False)
    bad = [i for i, ok in enumerate(result.finite) if not ok]
    if bad:
        out.print(f"{len(bad)} member(s) went non-finite (NaN/Inf) and are listed last: "
                  f"{', '.join(map(str, bad[:20]))}{' ...' if len(bad) > 20 else ''}",
                  markup=False)
    best = result.best()
    if best is not None:
        row = result.rows()[best]
        values = ", ".join(f"{k}={_fmt(v)}" for k, v in row.items()
                           if k in names or k == "seed")
        out.print(f"best member: {values or 'the circuit as written'} "
                  f"({result.report[0]} = {row[result.report[0]]:.4g})", markup=False)


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _seeds(seeds: list[int]) -> str:
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


class _SweepLog:
    """Progress for non-terminals: the plan, then one line per chunk and epoch."""

    def __init__(self, console):
        self.console = console
        self.groups = []
        self.epochs = 0

    def planned(self, groups, epochs, n_members=None, structural=()):
        self.groups, self.epochs = groups, epochs
        n = n_members if n_members is not None else sum(len(g.members) for g in groups)
        for line in describe_plan(groups, n, list(structural)):
            self.console.print(line, markup=False)

    def where(self, group, chunk) -> str:
        g = self.groups[group]
        return (f"group {group + 1}/{len(self.groups)} " if len(self.groups) > 1 else "") + \
            (f"call {chunk + 1}/{g.chunks} " if g.chunks > 1 else "")

    def chunk_started(self, group, chunk, compiling):
        pass

    def epoch_done(self, group, chunk, epoch):
        self.console.print(f"{self.where(group, chunk)}epoch {epoch + 1}/{self.epochs} done")

    def close(self):
        pass


class _SweepProgress(_SweepLog):
    """A rich progress bar over groups, chunks and epochs."""

    def __init__(self, console):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn)

        super().__init__(console)
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=console)
        self.progress.start()
        self.task = None

    def planned(self, groups, epochs, n_members=None, structural=()):
        super().planned(groups, epochs, n_members, structural)
        total = sum(g.chunks for g in groups) * epochs
        if self.task is None:
            self.task = self.progress.add_task("sweep", total=total)
        else:                          # an adaptive search plans batch after batch
            self.progress.update(self.task, total=self.progress.tasks[0].total + total)

    def chunk_started(self, group, chunk, compiling):
        self.progress.update(self.task, description=self.where(group, chunk) +
                             ("(compiling)" if compiling else ""))

    def epoch_done(self, group, chunk, epoch):
        self.progress.update(self.task, advance=1,
                             description=f"{self.where(group, chunk)}epoch {epoch + 1}")

    def close(self):
        self.progress.stop()
