"""``ngc``: validate, run, inspect circuits from the shell.

User errors (bad files, bad options, a NaN in a run, running out of memory) print a located
message and exit with status 1 (2 for bad command-line usage); no Python traceback is shown
for them. Anything else is a bug in ngcspec: a one-paragraph report and status 3 (the
traceback with ``NGCSPEC_DEBUG=1``), so no input ever makes ``ngc`` dump a traceback. ``validate``,
``components``, ``schema`` and ``graph`` never import JAX, so they stay fast in CI.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from ngcspec.errors import NgcspecError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="ngcspec: neural circuits as YAML, compiled into one jitted JAX program.")
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class UsageError(NgcspecError):
    pass


def _parse_sets(items: list[str]) -> dict:
    import yaml

    overrides = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise UsageError(f"--set {item!r}: write NAME=VALUE, e.g. --set W1.eta=0.001")
        try:
            overrides[name.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise UsageError(f"--set {item!r}: cannot read the value {value!r}") from None
    return overrides


@app.command()
def run(
    file: Path = typer.Argument(..., help="circuit file"),
    epochs: Optional[int] = typer.Option(None, help="override run.epochs"),
    seed: Optional[int] = typer.Option(None, help="override the file's seed"),
    out_dir: Path = typer.Option(Path("runs"), "--out", "-o", help="where run directories go"),
    sets: List[str] = typer.Option([], "--set", "-s", help="override a parameter: W1.eta=0.001"),
    resume: Optional[Path] = typer.Option(
        None, help="continue a run directory: the same circuit, its seed and key stream, the "
                   "epochs numbered on (N epochs and k + resumed N-k give the same numbers)"),
    weights_only: bool = typer.Option(
        False, "--resume-weights-only",
        help="with --resume: start a new run (epoch 1, this seed) from the run's weights; "
             "the run may be of another circuit with the same compartment shapes"),
    progress: bool = typer.Option(True, help="show a progress bar"),
    check_finite: Optional[bool] = typer.Option(None, help="override run.check_finite"),
    cpus: Optional[int] = typer.Option(
        None, help="run on this many CPU cores (the process is pinned to the first N it may "
                   "use; XLA sizes its thread pool to them). Small spiking steps can run "
                   "faster on one core than split over several"),
    plot: bool = typer.Option(False, "--plot", help="then draw the default plots into "
                              "RUN/plots (needs the plot extra)"),
    platform: Optional[str] = typer.Option(
        None, help="cpu or gpu (default: what JAX finds); gpu needs JAX's CUDA wheels: "
                   "pip install -e \".[cuda]\""),
    devices: Optional[str] = typer.Option(
        None, help="run on N devices (or all), the work split as run.shard says or by the "
                   "rule: batch when every batch splits evenly, else neurons"),
    shard: Optional[str] = typer.Option(None, help="override run.shard: batch, neurons"),
    coordinator: Optional[str] = typer.Option(
        None, help="HOST:PORT of process 0, to run over several processes (hosts); also "
                   "read from SLURM/Open MPI environments"),
    num_processes: Optional[int] = typer.Option(None, help="processes of a multi-host run"),
    process_id: Optional[int] = typer.Option(None, help="this process's number (0 writes "
                                             "the run directory)"),
) -> None:
    """Compile and run a circuit; save results in a run directory."""
    _check_run_options(epochs, seed, weights_only, resume)
    overrides = _parse_sets(sets)
    if cpus is not None:
        _pin_cpus(cpus)             # before JAX starts its CPU client and thread pool
    from ngcspec.cli.devices import DeviceSetup

    where = DeviceSetup(platform, devices, shard, coordinator, num_processes, process_id)
    resolved, previous, placement, needed = _load_checked(where, file, overrides, out_dir,
                                                          resume, epochs)
    result = _execute(where, resolved, placement, needed, previous, weights_only,
                      epochs, seed, check_finite, progress)
    if not where.leader:
        err.print(f"process {where.cluster.process_id}: done; process 0 writes the run directory")
        return
    from ngcspec.rundir import write_run

    ran_on = where.describe(placement)
    path = write_run(result, resolved, out_dir, extra={
        "overrides": overrides, "resumed_from": str(resume) if resume else None,
        "weights_only": weights_only, **ran_on})
    _print_run_table(result, resolved, ran_on)
    out.print(f"results: {path}")
    from ngcspec.cli.plot import after_run

    after_run(path, result, resolved, plot)


def _check_run_options(epochs, seed, weights_only, resume) -> None:
    if epochs is not None and epochs < 1:
        raise UsageError("--epochs must be at least 1")
    if seed is not None and not 0 <= seed < 2**32:
        raise UsageError("--seed must be between 0 and 2^32 - 1")
    if weights_only and resume is None:
        raise UsageError("--resume-weights-only needs --resume RUN (the run to take weights from)")


def _load_checked(where, file, overrides, out_dir, resume, epochs):
    """Resolve the circuit and check, before compiling, that it can run and be saved:
    ``--out`` is writable, the run to resume loads, and the memory estimate fits."""
    from ngcspec.memory import check_fits, estimate
    from ngcspec.resolve import resolve_file
    from ngcspec.rundir import load_run, prepare_output

    with where.stage("while loading the circuit"):     # over several processes: failures reported by 0
        resolved = resolve_file(file, overrides=overrides)
        if where.leader:                            # a bad --out fails now, not after the run
            prepare_output(out_dir, resolved.spec.name)
        previous = load_run(resume) if resume is not None else None
        placement = where.placement(resolved)
        needed = estimate(resolved, epochs=epochs, devices=placement.size if placement else 1,
                          shard=placement.mode if placement else "batch")
        if placement is None:
            check_fits(needed, "this run")
        else:
            placement.check_memory(resolved, epochs)
    return resolved, previous, placement, needed


def _execute(where, resolved, placement, needed, previous, weights_only, epochs, seed,
             check_finite, progress):
    """Compile and run (or resume) the circuit; running out of memory is a located error."""
    from ngcspec.cache import enable_compilation_cache
    from ngcspec.circuit import Circuit
    from ngcspec.compiler import Program
    from ngcspec.resume import resume as resume_run, resume_weights_only

    resume_collection()
    enable_compilation_cache()
    circuit = Circuit(resolved, Program(resolved, check_finite=check_finite), placement=placement)
    progress = progress and where.leader
    listener = _ProgressBar(err) if progress and sys.stderr.isatty() else _Quiet(err) if progress else None
    with where.stage("while running"):    # a process that fails reports it to process 0
        try:
            if previous is None:
                return circuit.run(epochs=epochs, seed=seed, listener=listener)
            if weights_only:
                return resume_weights_only(circuit, previous, epochs, listener, seed)
            return resume_run(circuit, previous, epochs, listener, seed)
        except Exception as exc:
            if not _out_of_memory(exc):
                raise
            from ngcspec.errors import RunError
            raise RunError(f"out of memory while running: {type(exc).__name__}: {str(exc)[:300]}\n"
                           f"    the run was estimated to need {needed.describe(4)}; reduce those "
                           "items (sizes, batch size, what is recorded)") from None
        finally:
            if listener is not None:
                listener.close()


def _print_run_table(result, resolved, ran_on) -> None:
    from ngcspec.cli.devices import title_suffix

    ran = result.epochs - result.start_epoch
    title = f"{resolved.spec.name}: {ran} epoch(s) in {result.timings['run_s']:.1f} s" + (
        f" (epochs {result.start_epoch + 1}-{result.epochs} of the run)" if result.start_epoch
        else "") + title_suffix(ran_on)
    table = Table(title=title)
    table.add_column("phase")
    table.add_column("metric")
    table.add_column("final", justify="right")
    for ph, metrics in result.final_metrics().items():
        for k, v in metrics.items():
            table.add_row(ph, k, f"{v:.4g}")
    out.print(table if table.row_count else title, markup=False)
    _print_small_finals(result, resolved)


def _pin_cpus(n: int) -> None:
    """Pin this process to the first ``n`` cores it may run on."""
    if not hasattr(os, "sched_setaffinity"):
        raise UsageError("--cpus needs CPU affinity, which this platform does not offer; "
                         "leave it out")
    allowed = sorted(os.sched_getaffinity(0))
    if not 1 <= n <= len(allowed):
        raise UsageError(f"--cpus must be between 1 and {len(allowed)}, the cores this "
                         f"process may use")
    os.sched_setaffinity(0, allowed[:n])


def _print_small_finals(result, resolved, limit: int = 32) -> None:
    """Show the small arrays recorded as 'final' (e.g. regression coefficients)."""
    import numpy as np

    for ph, phase in resolved.phases.items():
        for (comp, part), mode in phase.record.items():
            v = result.records.get(f"{ph}/{comp}.{part}")
            if mode == "final" and v is not None and np.size(v) <= limit:
                # axes of length 1 (a batch of one, one channel) only add brackets
                arr = np.array2string(np.squeeze(np.asarray(v)), precision=4,
                                      suppress_small=True)
                out.print(f"{ph}/{comp}.{part} {tuple(np.shape(v))}:\n{arr}", markup=False)


class _Quiet:
    """Progress for non-terminals (CI logs): one line per phase and epoch."""

    def __init__(self, console: Console):
        self.console = console

    def phase_started(self, epoch, phase, n_batches):
        pass

    def batch_done(self, epoch, phase, index):
        pass

    def phase_done(self, epoch, phase, metrics):
        shown = "  ".join(f"{k}={v:.4g}" for k, v in metrics.items())
        self.console.print(f"epoch {epoch + 1} {phase}: {shown}")

    def close(self):
        pass


class _ProgressBar(_Quiet):
    """A rich progress bar over the batches of each phase, with the last metrics."""

    def __init__(self, console: Console):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn)

        super().__init__(console)
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.fields[metrics]}"), console=console)
        self.progress.start()
        self.task = None
        self.last: dict[str, str] = {}
        self.seen: set[str] = set()

    def phase_started(self, epoch, phase, n_batches):
        desc = f"epoch {epoch + 1} {phase}"
        if phase not in self.seen:   # the first call of a phase compiles its program
            self.seen.add(phase)
            desc += " (compiling)"
        if self.task is None:
            self.task = self.progress.add_task(desc, total=n_batches, metrics="")
        else:
            self.progress.reset(self.task, total=n_batches, description=desc)
        self.progress.update(self.task, metrics="  ".join(self.last.values()))

    def batch_done(self, epoch, phase, index):
        self.progress.update(self.task, completed=index + 1, description=f"epoch {epoch + 1} {phase}")

    def phase_done(self, epoch, phase, metrics):
        self.last[phase] = " ".join(f"{phase}.{k}={v:.4g}" for k, v in metrics.items())
        self.progress.console.print(f"epoch {epoch + 1} {phase}: " +
                                    "  ".join(f"{k}={v:.4g}" for k, v in metrics.items()))

    def close(self):
        self.progress.stop()


@app.command()
def components(kind: Optional[str] = typer.Argument(None, help="one kind in detail"),
               markdown: bool = typer.Option(False, "--markdown", help="every kind as Markdown "
                                             "(docs/components.md)")) -> None:
    """List the component kinds, or describe one: parameters and compartments."""
    from ngcspec.describe import describe_kind, kind_table, markdown as as_markdown

    if markdown:
        sys.stdout.write(as_markdown())
        return
    out.print(kind_table() if kind is None else describe_kind(kind))


@app.command()
def schema(output: Optional[Path] = typer.Option(None, "--output", "-o", help="write to a file")) -> None:
    """Print the JSON Schema of circuit files (for editors and CI)."""
    from ngcspec.schema import schema_text

    text = schema_text()
    if output is None:
        sys.stdout.write(text)
    else:
        from ngcspec.rundir import atomic_write_text

        atomic_write_text(output, text)
        err.print(f"wrote {output}")


@app.command()
def graph(file: Path = typer.Argument(..., help="circuit file"),
          dot: bool = typer.Option(False, "--dot", help="print Graphviz DOT")) -> None:
    """Print the execution order and the wires of a circuit."""
    from ngcspec.graph import to_dot
    from ngcspec.resolve import resolve_file

    r = resolve_file(file)
    if dot:
        print(to_dot(r.spec.name, r.order, r.components, r.wires))
        return
    out.print(f"[bold]{r.spec.name}[/bold]: execution order within a step")
    for i, n in enumerate(r.order):
        out.print(f"  {i + 1}. {n} ({r.components[n].kind.kind})")
    out.print("wires ('~>' reads the previous step; '(evolve)' only feeds plasticity):")
    for w in r.wires:
        out.print(f"  {w}" + ("  (evolve)" if w.evolve_only else ""), markup=False)


@app.command()
def data() -> None:
    """List the data sets that ship with ngcspec."""
    from ngcspec.data import dataset_info, dataset_names

    table = Table()
    for col in ("name", "task", "splits", "fields"):
        table.add_column(col)
    for name in dataset_names():
        info = dataset_info(name)
        table.add_row(name, info.task, ", ".join(f"{k} {v}" for k, v in info.splits.items()),
                      ", ".join(f"{k} {tuple(f.shape)}" for k, f in info.fields.items()))
    out.print(table)


def _click_exceptions() -> tuple[type, ...]:
    """click's exception base, wherever this typer gets click from (vendored or not)."""
    import importlib

    found = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(importlib.import_module(name).ClickException)
        except (ImportError, AttributeError):
            pass
    return tuple(found)


def _internal_error(exc: BaseException) -> str:
    """One paragraph for a bug in ngcspec itself; the traceback only with NGCSPEC_DEBUG=1."""
    import os
    import traceback

    if os.environ.get("NGCSPEC_DEBUG"):
        return "".join(traceback.format_exception(exc))
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" (in {Path(where.filename).name}:{where.lineno})" if where else ""
    return (f"internal error: {type(exc).__name__}: {exc}{at}\n"
            "    this is a bug in ngcspec, not in your file; please report it with the file "
            "that triggers it\n    (set NGCSPEC_DEBUG=1 to see the Python traceback)")


def _out_of_memory(exc: BaseException) -> bool:
    """A host or device allocation failure: the circuit is too large, not a bug."""
    text = str(exc)
    return isinstance(exc, MemoryError) or "RESOURCE_EXHAUSTED" in text or "Out of memory" in text \
        or "out of memory" in text


def _register_subcommands() -> None:
    """Import every other module of this package: each adds its commands to ``app``.

    A command family lives in its own module (``cli/plot.py``, ``cli/sweep.py``, ...) that
    imports ``app`` from here and decorates its functions; heavy imports stay inside them."""
    import importlib
    import pkgutil

    package = __name__.rpartition(".")[0]
    for info in pkgutil.iter_modules(sys.modules[package].__path__):
        if info.name not in ("app", "__main__"):
            importlib.import_module(f"{package}.{info.name}")


def main() -> None:
    """Entry point of ``ngc``: exit 0 (success), 1 (a user error, printed without a
    traceback), 2 (bad command-line usage), 3 (a bug in ngcspec), 130 (interrupted)."""
    # Start-up builds about a hundred pydantic models and their schemas, which the cyclic
    # collector would walk again each time a generation fills: off until a command starts
    # long work (resume_collection), 8-9% of a whole `ngc validate` (BENCHMARKS.md 2).
    collecting, frozen = gc.isenabled(), gc.get_freeze_count()
    gc.disable()
    try:
        _dispatch()
    finally:
        if not frozen and gc.get_freeze_count():  # resume_collection froze; nothing was before
            gc.unfreeze()
        if collecting:
            gc.enable()


def resume_collection() -> None:
    """Collect cyclic garbage again, from here on (compiling and running make plenty); what
    start-up built is frozen first, so the collector never walks it again."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _dispatch() -> None:
    try:
        rc = app(standalone_mode=False)
    except NgcspecError as exc:
        err.print(str(exc), markup=False)
        sys.exit(2 if isinstance(exc, UsageError) else 1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted; nothing was written")
        sys.exit(130)
    except Exception as exc:
        if isinstance(exc, _click_exceptions()):  # usage errors: bad options, missing arguments
            exc.show()
            sys.exit(exc.exit_code)
        if _out_of_memory(exc):
            err.print(f"out of memory: {type(exc).__name__}: {str(exc)[:500]}\n    hint: reduce the "
                      "sizes, the batch size or what is recorded per step", markup=False)
            sys.exit(1)
        err.print(_internal_error(exc), markup=False)
        sys.exit(3)
    # without standalone mode, click returns the code of a typer.Exit instead of exiting
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":      # python -m ngcspec.cli.app: run the module commands register with
    from ngcspec.cli.app import main as _main
    _main()
else:
    _register_subcommands()   # at the end: the command modules import `app` from here
