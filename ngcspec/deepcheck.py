"""``ngc validate --deep``: build the program and trace it abstractly, running no step.

After the resolver's checks, the compiled program is built exactly as ``ngc run`` builds it
and traced with ``jax.eval_shape``: the initial parameters and state, and every phase's whole
epoch (the batch function, scanned over full batches, and the partial batch). Tracing runs
every kind's equations on abstract arrays, so what only compilation finds (a step that
returns the wrong shape, shapes that stop agreeing once a tie is applied) surfaces without
allocating the state or computing anything. A failure is reported as a located problem on
the component or wire being traced when it happened. The memory estimate of
:mod:`ngcspec.memory` comes with it, per phase; a run that cannot fit in this machine's
memory is a problem too.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path

from ngcspec.errors import Problem
from ngcspec.resolve import Resolved, ResolvedWire, read_source
from ngcspec.yamlsrc import Source, format_path

_HERE = os.path.dirname(os.path.abspath(__file__))


def deep_check(resolved: Resolved, src: Source | None = None) -> tuple[list[Problem], list[str]]:
    """Problems that only tracing finds, and notes (memory per phase). ``src`` locates them
    (read again from ``resolved.file`` when not given)."""
    from ngcspec import memory

    if src is None:
        src = _source_of(resolved)
    notes = [f"estimated memory, phase {name}: " + memory.estimate_parts(
        resolved.components, {name: phase}, resolved.dtype,
        epochs=resolved.spec.run.epochs).describe()
        for name, phase in resolved.phases.items()]
    problems = _trace(resolved, src)
    if not problems:
        problems = _fits(resolved, src, memory)
    return problems, notes


def _source_of(resolved: Resolved) -> Source:
    path = Path(resolved.file)
    if path.is_file():
        return read_source(path)[0]
    return Source(data=resolved.raw, file=resolved.file)


def _trace(resolved: Resolved, src: Source) -> list[Problem]:
    import jax

    from ngcspec.compiler import Program, precision

    where = "building the program"
    try:
        prog = Program(resolved)
        with precision(resolved.dtype):
            where = "the initial parameters"
            params = jax.eval_shape(prog.initial_params)
            key = jax.eval_shape(lambda: jax.random.PRNGKey(0))
            for name in resolved.phases:
                where = f"phase '{name}'"
                _trace_phase(prog.phase(name), params, key)
    except Exception as exc:  # any failure while tracing is located and reported
        return [_located(exc, where, resolved, src)]
    return []


def _trace_phase(pp, params, key) -> None:
    import jax
    import jax.numpy as jnp

    n, bsz, _ = pp.layout()
    state = jax.eval_shape(lambda p, k: pp.prog.init_state(p, k, bsz), params, key)
    arrays = pp.phase.data.arrays if pp.phase.data is not None else {}
    data = {k: jax.ShapeDtypeStruct(v.shape, jnp.int32 if v.dtype.kind in "iu" else
                                    jnp.dtype(v.dtype)) for k, v in arrays.items()}
    scalar = jax.ShapeDtypeStruct((), jnp.int32)
    jax.eval_shape(lambda p, s, d, seed, epoch: pp.epoch(p, s, d, seed, epoch),
                   params, state, data, scalar, scalar)


def _located(exc: BaseException, where: str, resolved: Resolved, src: Source) -> Problem:
    """The problem for a tracing failure, at the wire or component being traced."""
    wire, component = _culprit(exc, resolved)
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    hint = ("the file passed every other check; if it looks right, this is a bug in ngcspec "
            "(NGCSPEC_DEBUG=1 shows the traceback)")
    if os.environ.get("NGCSPEC_DEBUG"):
        hint += "\n" + "".join(traceback.format_exception(exc))
    if wire is not None:
        return src.problem(("wires", wire.index), f"tracing the compiled program failed in "
                           f"{where} at wire #{wire.index} '{wire}': {what}", hint)
    if component is not None:
        kind = resolved.components[component].kind.kind
        return src.problem(("components", component), f"tracing the compiled program failed "
                           f"in {where} at {component} ({kind}): {what}", hint)
    return src.problem((), f"tracing the compiled program failed in {where}: {what}", hint)


def _culprit(exc: BaseException, resolved: Resolved) -> tuple[ResolvedWire | None, str | None]:
    """The wire or component the compiler was working on when ``exc`` was raised: the
    innermost frame of ngcspec's own code that holds one (``w``) or names one (``name``)."""
    frames = [f for f, _ in traceback.walk_tb(exc.__traceback__)]
    for frame in reversed(frames):
        if not os.path.abspath(frame.f_code.co_filename).startswith(_HERE):
            continue
        local = frame.f_locals
        if isinstance(local.get("w"), ResolvedWire):
            return local["w"], None
        name = local.get("name")
        if isinstance(name, str) and name in resolved.components:
            return None, name
    return None, None


def _fits(resolved: Resolved, src: Source, memory) -> list[Problem]:
    """A located problem when the run's estimated peak exceeds what this machine has."""
    est = memory.estimate(resolved)
    available, limited_by = memory.available_bytes()
    if available is None or est.total_bytes <= available:
        return []
    label = est.items[0][0]
    path: tuple = ()
    owner = label.rsplit(" ", 1)[-1].split(".")[0]
    if label.startswith("record "):
        phase, _, ref = label[len("record "):].partition("/")
        path = ("phases", phase, "record", ref)
        if path not in src.keys:
            path = ("run", "record", ref)
    elif owner in resolved.components:
        path = ("components", owner)
    line, col = src.locate(path, key=True)
    message = (f"this run needs about {est.describe(4)} of memory, but only "
               f"{memory.gib(available)} is available ({limited_by})")
    hint = ("reduce the largest items: sizes, the batch size, what is recorded per step or "
            "per batch, or the epochs that keep records")
    return [Problem(message, src.file, line, col, format_path(path), hint, code="too-large")]
