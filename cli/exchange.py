"""``ngc export`` and ``ngc import``: circuits to and from NIR (the ``nir`` extra)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

import typer

from ngcspec.cli.app import UsageError, app, err

FORMATS = ("nir",)


def _refuse_overwrite(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise UsageError(f"{path} exists; nothing was written (pass --force to replace it)")


def _warn(messages) -> None:
    for m in messages:
        err.print(f"warning: {m}", markup=False)


@app.command("export")
def export_(
    file: Path = typer.Argument(..., help="circuit file"),
    out_file: Path = typer.Argument(..., metavar="OUT", help="file to write, e.g. net.nir"),
    to: str = typer.Option(..., "--to", help="format: nir"),
    force: bool = typer.Option(False, "--force", help="replace OUT if it exists"),
) -> None:
    """Write a circuit's static network as NIR; what NIR cannot hold rides in its metadata."""
    if to not in FORMATS:
        raise UsageError(f"--to {to!r}: the formats are {', '.join(FORMATS)}")
    _refuse_overwrite(out_file, force)
    from ngcspec import nir as exchange

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", exchange.NirWarning)
        graph = exchange.to_nir(file)
    _warn(str(w.message) for w in caught if issubclass(w.category, exchange.NirWarning))
    tmp = out_file.with_name(f".{out_file.name}.tmp")
    try:
        exchange.write(graph, tmp)
        tmp.replace(out_file)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {out_file}: {exc.strerror or exc}") from None
    err.print(f"wrote {out_file} ({len(graph.nodes)} NIR nodes, {len(graph.edges)} edges)",
              markup=False)


@app.command("import")
def import_(
    nir_file: Path = typer.Argument(..., metavar="IN", help="NIR file (.nir)"),
    to: Path = typer.Option(..., "--to", help="circuit file to write (.yaml)"),
    dt: Optional[float] = typer.Option(
        None, "--dt", help="time step in the time unit of the graph's time constants (ms); "
                           "default: the file's own for a graph ngcspec wrote, else 1.0"),
    steps: int = typer.Option(100, "--steps", min=1, help="steps per reset of a foreign graph's schedule"),
    force: bool = typer.Option(False, "--force", help="replace the output if it exists"),
) -> None:
    """Make a circuit file from a NIR graph (large weights go to an .npz beside it)."""
    if to.suffix.lower() not in (".yaml", ".yml"):
        raise UsageError(f"--to {to}: name a .yaml circuit file")
    if dt is not None and not 0 < dt <= 1e6:
        raise UsageError(f"--dt {dt:g}: give a positive time step")
    _refuse_overwrite(to, force)
    _refuse_overwrite(to.with_suffix(".npz"), force)
    from ngcspec import nir as exchange

    graph = exchange.read(nir_file)
    imported = exchange.from_nir(graph, dt=dt, source=str(nir_file), steps=steps)
    _warn(imported.warnings)
    written = imported.write(to)
    err.print(f"wrote {', '.join(map(str, written))}", markup=False)
