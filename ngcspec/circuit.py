"""The Python face of a circuit: ``ngcspec.load(...)`` and ``Circuit.run()``.

The run loop on the host is only a loop over epochs and phases; each phase's epoch is one
compiled call (plus one for a final partial batch), so no per-step or per-batch Python runs.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Protocol

import numpy as np

from pydantic import ValidationError

from ngcspec import monitors
from ngcspec.compiler import PhaseProgram, Program, precision
from ngcspec.errors import RunError, suggest
from ngcspec.lazy import jax, jnp
from ngcspec.params import numeric_leaves, with_field
from ngcspec.resolve import Resolved, resolve_file


class Listener(Protocol):
    def phase_started(self, epoch: int, phase: str, n_batches: int) -> None: ...
    def batch_done(self, epoch: int, phase: str, index: int) -> None: ...
    def phase_done(self, epoch: int, phase: str, metrics: dict[str, float]) -> None: ...


@dataclass
class RunResult:
    """What a run produced: metrics per epoch, recorded arrays, the final state."""

    name: str
    metrics: dict[str, list[dict[str, float]]]      # phase -> one dict per epoch it ran
    records: dict[str, np.ndarray]                  # "phase/comp.compartment" -> array
    state: dict[str, dict[str, Any]]                # final state (arrays)
    params: dict
    epochs: int                                     # epochs of the whole run, resumed ones too
    seed: int
    timings: dict[str, float] = field(default_factory=dict)
    start_epoch: int = 0                            # first epoch this call ran (0 unless resumed)
    phase_epochs: dict[str, list[int]] = field(default_factory=dict)  # epochs each phase ran at
    forced: dict[str, list[int]] = field(default_factory=dict)  # of those, run only to end the run
    resume_state: dict[str, dict[str, Any]] | None = None  # what epoch `epochs` starts from

    def final_metrics(self) -> dict[str, dict[str, float]]:
        return {ph: hist[-1] for ph, hist in self.metrics.items() if hist}

    @property
    def continuation(self) -> dict[str, dict[str, Any]]:
        """The state the next epoch starts from: the final state, unless phases that run
        only at the end of a run (``every:`` phases forced at the last epoch) changed it."""
        return self.state if self.resume_state is None else self.resume_state


def load(source, overrides: dict[str, Any] | None = None) -> "Circuit":
    """A circuit from a file path or YAML text; ``overrides`` like ``{"W1.eta": 0.01}``."""
    return Circuit(resolve_file(source, overrides=overrides))


class Circuit:
    def __init__(self, resolved: Resolved, program: Program | None = None, params: dict | None = None,
                 placement=None):
        self.resolved = resolved
        self.program = program or Program(resolved)
        self.params = params if params is not None else self.program.initial_params()
        self.placement = placement      # an ngcspec.sharding.Placement: several devices

    def sharded(self, devices="all", shard: str | None = None, platform: str | None = None) -> "Circuit":
        """This circuit run on several devices (a count, ``"all"`` or JAX devices): the batch,
        the neurons or a sweep's members split over a mesh (``ngcspec.sharding``); ``shard``
        overrides the file's ``run.shard`` and the rule."""
        from ngcspec.sharding import placement_for

        placement = placement_for(self.resolved, devices, shard, platform)
        return Circuit(self.resolved, self.program, self.params, placement)

    # -- inspection -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.resolved.spec.name

    @property
    def order(self) -> tuple[str, ...]:
        return self.resolved.order

    @property
    def phases(self) -> tuple[str, ...]:
        return tuple(self.resolved.phases)

    def __repr__(self) -> str:
        return f"Circuit({self.name!r}, components={list(self.order)}, phases={list(self.phases)})"

    # -- pure functions for custom loops, grad and vmap -----------------------------------------
    @property
    def step(self) -> Callable:
        """``step(params, state, t_index, key) -> state``: one advance of every component."""
        return self.program.step

    def batch_fn(self, phase: str | None = None) -> Callable:
        """``fn(params, state, batch, key, batch_size) -> (state, out)``: a phase's schedule."""
        return self.program.phase(self._phase(phase)).batch

    def epoch_fn(self, phase: str | None = None) -> Callable:
        """``fn(params, state, data, seed, epoch) -> (state, outs)``: one epoch of a phase."""
        return self.program.phase(self._phase(phase)).epoch

    def init_state(self, batch_size: int | None = None, seed: int | None = None) -> dict:
        seed = self.resolved.spec.seed if seed is None else seed
        if batch_size is None:
            ph = self.resolved.phases[self._phase(None)]
            batch_size = ph.data.batch_size if ph.data else ph.batch_size
        with precision(self.program.dtype):
            return self.program.jitted_init(batch_size)(self.params, seed)

    def _phase(self, phase: str | None) -> str:
        if phase is None:
            return next(iter(self.resolved.phases))
        if phase not in self.resolved.phases:
            raise KeyError(f"no phase {phase!r}; {suggest(phase, self.resolved.phases)}")
        return phase

    # -- parameters -------------------------------------------------------------------------
    def with_params(self, **updates: Any) -> "Circuit":
        """A circuit with new numeric parameters, sharing the compiled program.

        ``circuit.with_params(**{"W1.eta": 0.01, "z1.prior.leak": 0.1, "dt": 0.5})``. A value
        that changes the structure (e.g. RateCell's tau_m crossing 0) gets a new program; a
        non-numeric parameter needs :func:`load` with ``overrides``."""
        params = jax.tree_util.tree_map(lambda x: x, self.params)
        components = dict(self.resolved.components)
        structural = False
        for key, value in updates.items():
            if key == "dt":
                with precision(self.program.dtype):
                    params["dt"] = jnp.asarray(value, self.program.dtype)
                continue
            comp, *path = key.replace("__", ".").split(".")
            if comp not in components:
                raise KeyError(f"unknown component {comp!r}; {suggest(comp, components)}")
            rc = components[comp]
            leaves = params["components"][comp]
            for part in path[:-1]:
                leaves = leaves.get(part) if isinstance(leaves, dict) else None
            if not path or not isinstance(leaves, dict) or not isinstance(leaves.get(path[-1]), jax.Array):
                numeric = [".".join(p) for p in _leaf_paths(numeric_leaves(rc.params))]
                raise KeyError(f"{key} is not a numeric parameter of {comp} (numeric: {numeric}); "
                               "other parameters need ngcspec.load(..., overrides=...)")
            with precision(self.program.dtype):
                leaves[path[-1]] = jnp.asarray(value, self.program.dtype)
            model = _replace_nested(rc.params, path, float(value))
            if rc.kind.structure(model) != rc.kind.structure(rc.params):
                structural = True
            components[comp] = dataclasses.replace(rc, params=model)
        resolved = dataclasses.replace(self.resolved, components=components)
        program = Program(resolved) if structural else self.program
        return Circuit(resolved, program, params, self.placement)

    # -- running ----------------------------------------------------------------------------
    def resume(self, run, epochs: int | None = None, listener: Listener | None = None,
               weights_only: bool = False) -> RunResult:
        """Continue a run directory (or :class:`~ngcspec.rundir.RunData`) of this circuit for
        ``epochs`` more epochs, exactly as one longer run; with ``weights_only``, start a new
        run from its weights instead (see :mod:`ngcspec.resume`)."""
        from ngcspec.resume import resume, resume_weights_only

        return (resume_weights_only if weights_only else resume)(self, run, epochs, listener)

    def sweep(self, params: dict | None = None, seeds=None, combine=None, **options):
        """A study of this circuit as loaded (its file's ``sweep:`` section, with these
        entries replaced): ``circuit.sweep(params={"W1.eta": [0.001, 0.01]}, seeds=range(4))``.
        Members of one structure run as one vmapped program; returns a
        :class:`~ngcspec.sweep.SweepResult` (options: report, epochs, members_per_call,
        keep_records, listener; see :func:`ngcspec.sweep.sweep_circuit`)."""
        from ngcspec.sweep import sweep_circuit

        return sweep_circuit(self, params=params, seeds=seeds, combine=combine, **options)

    def run(self, epochs: int | None = None, seed: int | None = None, state: dict | None = None,
            listener: Listener | None = None, start_epoch: int = 0, devices=None,
            shard: str | None = None) -> RunResult:
        """Run ``epochs`` epochs (default ``run.epochs``) from ``state`` (default: a new one).

        ``start_epoch`` numbers the first of them: the key stream, shuffles and ``every:``
        phases go on from there, so a run continued from ``result.continuation`` with
        ``start_epoch=result.epochs`` gives the numbers of one longer run (see
        :func:`ngcspec.resume.resume`, which also carries the history over). ``devices``
        (a count or ``"all"``) and ``shard`` run it as :meth:`sharded` does."""
        if devices is not None or shard is not None:
            return self.sharded(devices or "all", shard).run(epochs, seed, state, listener,
                                                             start_epoch)
        spec = self.resolved.spec
        epochs = spec.run.epochs if epochs is None else epochs
        seed = spec.seed if seed is None else seed
        with precision(self.program.dtype):
            return self._run(epochs, seed, state, listener, start_epoch)

    # Complexity over 10 on purpose: the epoch loop: forced last-epoch phases, listeners, history
    # and placement are steps of one sequence read top to bottom.
    def _run(self, epochs, seed, state, listener, start_epoch=0) -> RunResult:  # noqa: C901
        t0 = time.perf_counter()
        if state is None:
            state = self.init_state(seed=seed)
        if self.placement is not None:
            state = self.placement.place_state(self.program, state)
        end = start_epoch + epochs
        metrics: dict[str, list[dict[str, float]]] = {p: [] for p in self.resolved.phases}
        ran: dict[str, list[int]] = {p: [] for p in self.resolved.phases}
        forced: dict[str, list[int]] = {p: [] for p in self.resolved.phases}
        records: dict[str, list[np.ndarray]] = {}
        finals: dict[str, np.ndarray] = {}
        ending = None       # the state once a phase forced at the end of the run changed it
        for epoch in range(start_epoch, end):
            for pname, ph in self.resolved.phases.items():
                regular = (epoch + 1) % ph.every == 0
                if not regular and epoch != end - 1:
                    continue
                if regular:
                    # the continuation, as in any longer run; the end-of-run state follows
                    state, m, recs, fin = self._run_phase(pname, state, seed, epoch, listener)
                    if ending is not None:
                        ending = self._run_phase(pname, ending, seed, epoch, None)[0]
                else:
                    ending, m, recs, fin = self._run_phase(
                        pname, state if ending is None else ending, seed, epoch, listener)
                    forced[pname].append(epoch)
                metrics[pname].append(m)
                ran[pname].append(epoch)
                for k, v in recs.items():
                    records.setdefault(f"{pname}/{k}", []).append(v)
                finals.update({f"{pname}/{k}": v for k, v in fin.items()})
                if listener is not None:
                    listener.phase_done(epoch, pname, m)
        if self.placement is not None:      # whole on every device, readable by every process
            state, ending = self.placement.gather((state, ending))
        jax.block_until_ready(state)
        modes = {f"{p}/{c}.{part}": m for p, ph in self.resolved.phases.items()
                 for (c, part), m in ph.record.items()}
        out = {k: _stack(v, modes.get(k)) for k, v in records.items()}
        out.update(finals)
        return RunResult(self.name, metrics, out, state if ending is None else ending,
                         self.params, end, seed, {"run_s": time.perf_counter() - t0},
                         start_epoch, ran, forced, None if ending is None else state)

    def _run_phase(self, pname, state, seed, epoch, listener):
        pp: PhaseProgram = self.program.phase(pname)
        n, bsz, nb = pp.layout()
        if listener is not None:
            listener.phase_started(epoch, pname, -(-n // bsz))
            pp.listener = lambda i: listener.batch_done(epoch, pname, i)
        if self.program.batch_size_of(state) not in (None, bsz):
            state = self.program.jitted_resize(bsz)(state)
        mode = "batch" if self.program.check_finite else "off"
        args = (self.params, state, pp.device_data(), seed, epoch)
        jitted = pp.jitted
        if self.placement is not None:
            state = self.placement.place_state(self.program, state)
            args = (self.placement.put(self.params, self.placement.replicated), state,
                    self.placement.data(pp), seed, epoch)
            jitted = partial(self.placement.epoch, self.program, pp, state)
        try:
            fn = jitted(progress=listener is not None, check=mode)
            state, outs = fn(*args)
            outs = jax.device_get(outs)
        finally:
            pp.listener = None
        parts = self._parts(outs, n, bsz, nb)
        if mode == "batch" and not all(np.all(o["ok"]) for o, _, _ in parts):
            # Something went non-finite: replay the epoch (same keys, same numbers) with
            # per-step tracking to say where. Costs a compile, only on failure.
            _, detail = jax.device_get(jitted(progress=False, check="step")(*args))
            self._check_finite(pname, epoch, self._parts(detail, n, bsz, nb))
            raise RunError(f"non-finite value (NaN or Inf) in phase '{pname}', epoch {epoch + 1}; "
                           "set run.check_finite: false to let it through")
        recs = {**self._records(pp, parts, epoch), **outs["initial"]}
        return state, self._metrics(pp.phase, parts), recs, outs["final"]

    @staticmethod
    def _parts(outs, n, bsz, nb):
        return [(o, k, size) for o, k, size in
                ((outs["full"], nb, bsz), (_add_batch_axis(outs["rest"]), 1, n - nb * bsz))
                if o is not None]

    def _check_finite(self, pname, epoch, outs) -> None:
        """Raise a RunError naming the first non-finite compartment of a step-mode replay."""
        batch0 = 0
        for o, nb, _ in outs:
            bad = np.asarray(o["bad"])  # (nb, n_watch)
            hit = np.argwhere(bad >= 0)
            if len(hit):
                b = hit[:, 0].min()
                row = bad[b]
                j = int(np.argmin(np.where(row >= 0, row, np.iinfo(np.int32).max)))
                comp, part = self.program.watch[j]
                steps_before, in_step = divmod(int(row[j]), 2)
                when = f"at step {steps_before + 1}" if in_step else f"in the evolve after step {steps_before}"
                raise RunError(
                    f"non-finite value (NaN or Inf) in {comp}.{part} {when} of batch "
                    f"{batch0 + b + 1} (phase '{pname}', epoch {epoch + 1}; counting from 1). "
                    "Lower the learning rates or dt, check the inputs, or set "
                    "run.check_finite: false to let it through.")
            batch0 += nb

    def _metrics(self, ph, outs) -> dict[str, float]:
        res = {}
        for mname in ph.metrics:
            s = sum(float(np.sum(np.asarray(o["metrics"][mname][0]))) for o, _, _ in outs)
            c = sum(float(np.sum(np.asarray(o["metrics"][mname][1]))) for o, _, _ in outs)
            res[mname] = s / c if c else float("nan")
        return res

    def _records(self, pp: PhaseProgram, outs, epoch: int) -> dict[str, np.ndarray]:
        recs = {}
        for (c, part), mode in pp.record.items():
            key = f"{c}.{part}"
            batched = self.program.comps[c].kind.compartments[part].batched
            parts = []
            for o, nb, bsz in outs:
                if mode in monitors.STEP_MODES or mode == "per_repeat":
                    v = np.asarray(o["steps"][key])          # (nb, steps, [B], ...)
                    if batched:                               # -> (steps, nb*B, ...)
                        v = np.moveaxis(v, 0, 1).reshape((v.shape[1], nb * bsz) + v.shape[3:])
                elif mode == "per_batch":
                    v = np.asarray(o["batch"][key])          # (nb, [B], ...)
                    if batched:
                        v = v.reshape((nb * bsz,) + v.shape[2:])
                else:
                    continue
                parts.append(v)
            if parts:
                axis = 1 if (mode != "per_batch" and batched) else 0
                recs[key] = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=axis)
                if mode == "spike_times":    # packed bits (steps, samples, bytes) -> a list
                    n_units = int(np.prod(self.program.comps[c].shapes[part]))
                    recs[key] = monitors.spike_list(recs[key], n_units, epoch)
        return recs


def _leaf_paths(tree, prefix=()):
    for k, v in tree.items():
        if isinstance(v, dict):
            yield from _leaf_paths(v, prefix + (k,))
        else:
            yield prefix + (k,)


def _replace_nested(model, path, value):
    """A copy of ``model`` with the field at ``path`` set to ``value``, validated again."""
    try:
        return with_field(model, path, value)
    except ValidationError as exc:
        raise ValueError(f"{'.'.join(path)} = {value!r}: {exc.errors()[0]['msg']}") from None


def _add_batch_axis(out):
    return None if out is None else jax.tree_util.tree_map(lambda x: np.asarray(x)[None], out)


def _stack(values: list[np.ndarray], mode: str | None = None) -> np.ndarray:
    joined = monitors.join_epochs(mode, values)
    if joined is not None:
        return joined
    if len({v.shape for v in values}) == 1:
        return np.stack(values)
    return np.concatenate(values)
