"""From the resolved circuit to pure, jittable JAX functions.

The state is one pytree ``{component: {compartment: array}}``; numeric parameters are another
(``{"components": {name: {...}}, "wire_scale": (n_wires,), "dt": ()}``) passed as an
argument, so changing them never recompiles. Structure (kinds, shapes, wiring, order,
schedule) is fixed when a :class:`Program` is built.

Semantics of one step (``advance``): components run in the execution order; each reads its
wired inputs at its turn - the source's value as already updated this step if the source ran
earlier, or, for a delayed wire (``~>``), the source's value at the end of the previous step.
Several wires into one input are summed, each times its scale. ``evolve`` reads every wire
undelayed, from the state at that point. ``reset`` restores reset values and re-applies the
phase's clamps. A schedule (one batch) is traced once into one function; advance blocks and
repeat blocks are ``lax.scan`` loops, and the batches of an epoch are a ``lax.scan`` too.
"""

from __future__ import annotations

import contextlib
import zlib
from functools import partial
from typing import Any, Callable, NamedTuple

import numpy as np

from ngcspec import monitors
from ngcspec.errors import NgcspecError
from ngcspec.lazy import jax, jnp, lax, random
from ngcspec.params import ParamView
from ngcspec.registry import StepContext
from ngcspec.resolve import Resolved, ResolvedPhase
from ngcspec.schedule import AdvanceOp, EvolveOp, RepeatOp, ResetOp, has_repeat, starts_with_reset
from ngcspec.state import initial_values, numeric_params, reset_component
from ngcspec.statetree import JittedEpoch, resize
from ngcspec.statetree import merge as _merge
from ngcspec.statetree import select as _select


def precision(dtype: str):
    """Context in which a program of ``dtype`` is traced and run."""
    return jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()


class Program:
    """Pure functions of one resolved circuit.

    ``step(params, state, t_index, key)`` advances every component once;
    ``phase(name)`` gives the batch and epoch functions of a phase. All are jittable.
    """

    def __init__(self, resolved: Resolved, *, check_finite: bool | None = None):
        self.resolved = resolved
        self.dtype = resolved.dtype
        self.order = resolved.order
        self.index = {n: i for i, n in enumerate(self.order)}
        self.comps = resolved.components
        self.check_finite = resolved.check_finite if check_finite is None else check_finite
        self.inputs: dict[str, dict[str, list]] = {n: {} for n in self.order}
        for w in resolved.wires:
            self.inputs[w.dst].setdefault(w.dst_comp, []).append(w)
        # compartments watched for NaN/Inf (integer counters cannot hold one)
        self.watch = [(n, c) for n in self.order for c, spec in self.comps[n].kind.compartments.items()
                      if not spec.integer]
        self._phases: dict[str, PhaseProgram] = {}
        self._init_jit: dict[Any, Callable] = {}

    # -- parameters and state ---------------------------------------------------------------
    def initial_params(self) -> dict:
        with precision(self.dtype):
            return {
                "components": {n: numeric_params(rc.params, self.dtype) for n, rc in self.comps.items()},
                "wire_scale": jnp.asarray([1.0 if w.scale is None else w.scale
                                           for w in self.resolved.wires] or [0.0], self.dtype),
                "dt": jnp.asarray(self.resolved.dt, self.dtype),
            }

    def view(self, params: dict, name: str) -> ParamView:
        return ParamView(self.comps[name].params, params["components"][name])

    def init_state(self, params: dict, key, batch_size: int) -> dict:
        """Fresh state: persistent compartments from ``init`` (or files), the rest reset."""
        state = {}
        for name in self.order:
            rc = self.comps[name]
            # keyed by name, so adding or reordering components leaves the other draws alone
            s = initial_values(rc.kind, rc.params, random.fold_in(key, _name_seed(name)),
                               rc.shapes, batch_size, self.dtype, self._initial(name))
            ctx = StepContext(params["dt"], jnp.zeros((), self.dtype), None, batch_size)
            state[name] = reset_component(rc.kind, self.view(params, name), s, rc.shapes, ctx,
                                          self.dtype, self._overrides(name))
        return self.refresh_ties(state)

    def jitted_resize(self, batch_size: int) -> Callable:
        """:func:`resize` compiled for one target batch size (a small program, so a phase
        with another batch size does not force the epoch program to recompile)."""
        key = ("resize", batch_size)
        if key not in self._init_jit:
            self._init_jit[key] = jax.jit(lambda state: resize(self, state, batch_size))
        return self._init_jit[key]

    def jitted_init(self, batch_size: int) -> Callable:
        """``fn(params, seed) -> state``, compiled once per batch size (one program rather
        than many small eager operations)."""
        if batch_size not in self._init_jit:
            def init(params, seed):
                key = random.split(random.PRNGKey(seed))[0]
                return self.init_state(params, key, batch_size)
            self._init_jit[batch_size] = jax.jit(init)
        return self._init_jit[batch_size]

    def _overrides(self, name):
        rc = self.comps[name]
        return {c: a for c, a in self._initial(name).items()
                if not rc.kind.compartments[c].persistent}

    def _initial(self, name) -> dict:
        """The component's ``init:`` arrays. A drawn one (``{dist: ...}``) is drawn from the
        file's seed and the component's and compartment's names, inside the program, so
        every reset restores the same values (as from a file) and no large array becomes a
        constant of the program."""
        from ngcspec.components import initializers

        rc = self.comps[name]
        out = {}
        for c, a in rc.initial.items():
            if isinstance(a, np.ndarray):
                out[c] = a
                continue
            key = random.fold_in(random.fold_in(random.PRNGKey(self.resolved.seed),
                                                _name_seed(name)), _name_seed(c))
            out[c] = initializers.draw(a, rc.shapes[c], key, self.dtype)
        return out

    def reset(self, params: dict, state: dict, batch_size: int) -> dict:
        out = {}
        for name in self.order:
            rc = self.comps[name]
            ctx = StepContext(params["dt"], jnp.zeros((), self.dtype), None, batch_size)
            out[name] = reset_component(rc.kind, self.view(params, name), state[name], rc.shapes,
                                        ctx, self.dtype, self._overrides(name))
        return self.refresh_ties(out)

    def refresh_ties(self, state: dict) -> dict:
        for name, rc in self.comps.items():
            if rc.tie is not None:
                state = self._tie(state, name)
        return state

    def _tie(self, state: dict, name: str) -> dict:
        t = self.comps[name].tie
        src, comp = t.to.split(".")
        value = state[src][comp]
        return {**state, name: {**state[name], t.compartment: value.T if t.transpose else value}}

    # -- one step ---------------------------------------------------------------------------
    def gather(self, params: dict, state: dict, prev: dict | None, name: str,
               for_evolve: bool = False) -> dict:
        """The component's slice with its wired inputs read from the sources.

        A step (``for_evolve`` False) skips inputs that only plasticity reads."""
        s = dict(state[name])
        kind = self.comps[name].kind
        for comp, wires in self.inputs[name].items():
            if kind.compartments[comp].evolve_only and not for_evolve:
                continue
            total = None
            for w in wires:
                src = prev if (w.delayed and prev is not None) else state
                v = src[w.src][w.src_comp]
                if w.scale is not None:  # a written scale is traced; a plain wire costs nothing
                    v = v * params["wire_scale"][w.index]
                total = v if total is None else total + v
            s[comp] = total.astype(s[comp].dtype)
        return s

    def is_view(self, name: str, comp: str) -> bool:
        """A wired input read at step time: its value lives in its sources, not in the state."""
        return comp in self.inputs[name] and not self.comps[name].kind.compartments[comp].evolve_only

    def read(self, params: dict, state: dict, name: str, comp: str):
        """The value of ``name.comp`` in ``state``: stored, or, for a wired input, the sum of
        its wires read now (for records and metrics)."""
        if not self.is_view(name, comp):
            return state[name][comp]
        return self.gather(params, state, None, name, for_evolve=True)[comp]

    def step(self, params: dict, state: dict, t_index, key, stimuli: dict | None = None) -> dict:
        """Advance every component by one step of ``params['dt']``; pure."""
        return self._advance(params, state, t_index, key, stimuli)[0]

    def _advance(self, params, state, t_index, key, stimuli=None):
        """One step; also returns the arrays each component changed (for the finite check)."""
        prev = state
        dt = params["dt"]
        t = jnp.asarray(t_index, self.dtype) * dt
        batch = self.batch_size_of(state) or 1
        changed = {}
        for name in self.order:
            rc = self.comps[name]
            if rc.tie is not None:
                state = self._tie(state, name)
            s = self.gather(params, state, prev, name)
            if stimuli and name in stimuli:
                for comp, series in stimuli[name].items():
                    row = lax.dynamic_index_in_dim(series, jnp.minimum(t_index, series.shape[0] - 1),
                                                   keepdims=False)
                    s[comp] = jnp.broadcast_to(row.astype(s[comp].dtype), s[comp].shape)
            ckey = None
            if rc.kind.stochastic:
                ckey = random.fold_in(key, self.index[name])
            ctx = StepContext(dt, t, ckey, batch)
            upd = checked_writes(rc.kind, "advance", rc.kind.advance(self.view(params, name), s, ctx), s)
            changed.update({(name, c): v for c, v in upd.items()})
            # wired inputs keep their stored (reset) value: they are views of their sources
            stored = {c: v for c, v in s.items() if not self.is_view(name, c)}
            state = {**state, name: {**state[name], **stored, **upd}}
        return state, changed

    def evolve(self, params: dict, state: dict, names, t_index) -> dict:
        """Apply the plasticity of ``names`` in that order; pure."""
        return self._evolve(params, state, names, t_index)[0]

    def _evolve(self, params, state, names, t_index):
        dt = params["dt"]
        t = jnp.asarray(t_index, self.dtype) * dt
        batch = self.batch_size_of(state) or 1
        changed = {}
        for name in names:
            rc = self.comps[name]
            if rc.tie is not None:
                state = self._tie(state, name)
            s = self.gather(params, state, None, name, for_evolve=True)
            upd = checked_writes(rc.kind, "evolve", dict(
                rc.kind.evolve(self.view(params, name), s, StepContext(dt, t, None, batch))), s)
            if rc.normalize is not None:
                c = rc.normalize.compartment
                upd[c] = normalize(upd.get(c, s[c]), rc.normalize)
            changed.update({(name, c): v for c, v in upd.items()})
            # wired inputs keep their stored (reset) value: they are views of their sources
            stored = {c: v for c, v in s.items() if not self.is_view(name, c)}
            state = {**state, name: {**state[name], **stored, **upd}}
        # compartments tied to what just learned follow it at once (records, checkpoints)
        for name, rc in self.comps.items():
            if rc.tie is not None and rc.tie.to.split(".")[0] in names:
                state = self._tie(state, name)
        return state, changed

    def batch_size_of(self, state) -> int | None:
        """The batch size the state holds (None when no compartment is batched)."""
        for name in self.order:
            for cname, c in self.comps[name].kind.compartments.items():
                if c.batched:
                    return int(state[name][cname].shape[0])
        return None

    def finite_flags(self, changed: dict):
        """One flag per watched compartment: False where a changed value is not finite.

        Only what a step or an evolve actually wrote is checked, so the check costs in
        proportion to the dynamic state, not to the (unchanged) weights."""
        true = jnp.ones((), bool)
        return jnp.stack([jnp.all(jnp.isfinite(changed[k])) if k in changed else true
                          for k in self.watch])

    # -- phases -----------------------------------------------------------------------------
    def phase(self, name: str) -> "PhaseProgram":
        if name not in self._phases:
            self._phases[name] = PhaseProgram(self, self.resolved.phases[name])
        return self._phases[name]


class KindContractError(NgcspecError):
    """A component kind's step returned what its registration does not allow."""


def checked_writes(kind, method: str, upd: dict, state: dict) -> dict:
    """``upd`` if every key is a declared compartment of ``kind``, not one of its inputs
    (save a ``consumed`` one), with the shape and dtype it has in ``state``; raised at trace
    time otherwise (a misspelt key would otherwise become a new compartment silently)."""
    for c, v in upd.items():
        if c not in kind.compartments:
            raise KindContractError(
                f"{kind.kind}.{method} wrote '{c}', which is not a compartment of {kind.kind} "
                f"(declared: {', '.join(kind.compartments)})")
        if kind.compartments[c].role == "input" and not kind.compartments[c].consumed:
            raise KindContractError(
                f"{kind.kind}.{method} wrote its input '{c}'; steps never write their inputs "
                f"(write an output or state compartment instead, or declare the input "
                f"In(..., consumed=True) if the step resets a one-step gate)")
        old = state.get(c)
        if old is not None and (tuple(v.shape) != tuple(old.shape) or v.dtype != old.dtype):
            raise KindContractError(
                f"{kind.kind}.{method} wrote {c} with shape {tuple(v.shape)} and dtype "
                f"{v.dtype}; the compartment has shape {tuple(old.shape)} and dtype {old.dtype}")
    return upd


def _name_seed(name: str) -> int:
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def normalize(w, spec):
    """Rescale each column (axis 0) or row (axis 1) of ``w`` to the norm ``spec.value``."""
    if spec.order == 1:
        norm = jnp.sum(jnp.abs(w), axis=spec.axis, keepdims=True)
    else:
        norm = jnp.sqrt(jnp.sum(w * w, axis=spec.axis, keepdims=True))
    return w * (spec.value / jnp.maximum(norm, 1e-8))


class Carry(NamedTuple):
    """What the loops of one batch carry (a pytree: JAX flattens a NamedTuple by field)."""
    state: dict     # {component: {compartment: array}}; in an advance loop only what steps
    #                 write, keyed {(component, compartment): array} (see _advance_scan)
    n: Any          # steps taken in this batch (int32): numbers the finite-check events
    t_index: Any    # steps since the last reset (int32): the time a step sees
    key: Any        # the random key the next step splits
    bad: Any        # (n_watched,) int32: first non-finite event per watched compartment, or -1


class PhaseProgram:
    """The batch and epoch functions of one phase (pure, jittable, cached jitted versions)."""

    def __init__(self, prog: Program, phase: ResolvedPhase):
        self.prog = prog
        self.phase = phase
        self.dtype = prog.dtype
        self.stim_spec = {}
        for c in phase.clamps:
            if c.source == "stimulus":
                self.stim_spec.setdefault(c.component, {})[c.compartment] = c.value
        self.record = phase.record
        self.per_step = [k for k, m in phase.record.items() if m in monitors.STEP_MODES]
        self.per_repeat = [k for k, m in phase.record.items() if m == "per_repeat"]
        self.per_batch = [k for k, m in phase.record.items() if m in ("per_batch",)]
        self._jit: dict[tuple, Callable] = {}
        self._data: dict | None = None
        self._written: dict[str, tuple] = {}
        self._changes: dict[tuple, frozenset] = {}
        self.phase_index = list(prog.resolved.phases).index(phase.name)
        self.listener: Callable[[int], None] | None = None  # told the index of each finished batch

    # -- clamps -----------------------------------------------------------------------------
    def apply_clamps(self, state: dict, batch: dict) -> dict:
        for c in self.phase.clamps:
            if c.source in ("stimulus", "data_stimulus"):
                continue
            cur = state[c.component][c.compartment]
            if c.source == "data":
                v = batch[c.field].reshape(cur.shape)
            else:
                v = jnp.broadcast_to(jnp.asarray(c.value, cur.dtype), cur.shape)
            state = {**state, c.component: {**state[c.component], c.compartment: v.astype(cur.dtype)}}
        return state

    def stimuli(self):
        return {n: {c: jnp.asarray(v, self.dtype) for c, v in d.items()} for n, d in self.stim_spec.items()}

    # -- one batch ----------------------------------------------------------------------------
    def batch(self, params: dict, state: dict, batch: dict, key, batch_size: int,
              check: str | None = None):
        """Run the phase's schedule on one batch. Pure.

        ``check`` is "step" (remember the first step at which each compartment stopped
        being finite), "batch" (one flag: is everything the batch hands on finite) or "off";
        by default "step" when the circuit checks at all. Returns ``(state, out)`` with
        ``out`` = {"steps": per-step records (n_steps, ...), "batch": per-batch records,
        "metrics": (sums, counts), and "bad" (step mode: first non-finite event per watched
        compartment, -1 if none; see :func:`_first_bad`) or "ok" (batch mode)}."""
        if check is None:
            check = "step" if self.prog.check_finite else "off"
        prog = self.prog
        stim = self.stimuli()
        for c in self.phase.clamps:   # per-sample series (B, T, ...): step k reads [:, k]
            if c.source == "data_stimulus":
                stim = {**stim, c.component: {**stim.get(c.component, {}),
                                              c.compartment: jnp.swapaxes(batch[c.field], 0, 1)}}
        given = state
        state = self.apply_clamps(state, batch)
        n_watch = len(prog.watch) if check == "step" else 0
        carry = Carry(state, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32), key,
                      jnp.full((n_watch,), -1, jnp.int32))
        carry, steps = self._run_block(params, carry, self.phase.schedule, batch, stim,
                                       batch_size, check == "step")
        state, bad = carry.state, carry.bad
        out = {
            "steps": steps,
            "batch": {f"{n}.{c}": prog.read(params, state, n, c) for n, c in self.per_batch},
            "metrics": self.metric_sums(params, state, batch),
        }
        if check == "step":
            out["bad"] = bad
        elif check == "batch":
            handed_on = ([state[n][c] for n, c in self.checked() if state[n][c] is not given[n][c]]
                         + list(steps.values())
                         + list(out["batch"].values())
                         + [v for pair in out["metrics"].values() for v in pair])
            out["ok"] = jnp.isfinite(sum(_nonfinite_probe(v) for v in handed_on
                                         if jnp.issubdtype(v.dtype, jnp.floating)))
        return state, out

    def checked(self) -> list[tuple[str, str]]:
        """What the batch-level finite check may read: what batches hand on, except ties
        (copies of their sources, which are checked). :meth:`batch` skips those it returns
        unchanged (the very arrays it was given)."""
        ties = self.ties()
        return [k for k in self.kept() if k not in ties]

    def kept(self, changes: frozenset | None = None) -> list[tuple[str, str]]:
        """Compartments a batch hands on to the next one: persistent ones, those recorded
        as 'final', and, when the schedule does not begin with a reset, all of them. Given
        ``changes`` (see :meth:`batch_changes`), only those a batch changes, and no ties when
        the schedule begins with a reset (which refreshes them from their sources)."""
        comps = self.prog.comps
        if not starts_with_reset(self.phase.schedule):
            every = [(n, c) for n in self.prog.order for c in comps[n].kind.compartments]
            return every if changes is None else [k for k in every if k in changes]
        finals = {k for k, m in self.record.items() if m == "final"}
        for n, c in list(finals):      # a wired input recorded 'final' is read from its sources
            if self.prog.is_view(n, c):
                finals |= {(w.src, w.src_comp) for w in self.prog.inputs[n][c]}
        out = [(n, c) for n in self.prog.order for c, spec in comps[n].kind.compartments.items()
               if spec.persistent or (n, c) in finals]
        if changes is None:
            return out
        ties = self.ties()
        return [k for k in out if k in changes and (k not in ties or k in finals)]

    def ties(self) -> set[tuple[str, str]]:
        return {(n, rc.tie.compartment) for n, rc in self.prog.comps.items() if rc.tie is not None}

    def batch_changes(self, params, state, batch, key, batch_size, check) -> frozenset:
        """Compartments :meth:`batch` may change: all but those it returns as the very
        arrays it was given (found by tracing it abstractly; cached per state structure).
        The rest need not travel from batch to batch."""
        shapes = jax.tree_util.tree_map(lambda x: (x.shape, x.dtype), (state, batch))
        cache_key = (str(shapes), batch_size, check)
        if cache_key not in self._changes:
            found: set = set()

            def probe(st):
                new, _ = self.batch(params, st, batch, key, batch_size, check)
                found.update((n, c) for n, s in new.items() for c, v in s.items()
                             if v is not st[n][c])
                return jnp.zeros(())

            jax.eval_shape(probe, state)
            self._changes[cache_key] = frozenset(found)
        return self._changes[cache_key]

    def _run_block(self, params, carry, block, batch, stim, batch_size, track):
        prog = self.prog
        pieces: list[dict] = []
        for op in block:
            if isinstance(op, ResetOp):
                state = self.apply_clamps(prog.reset(params, carry.state, batch_size), batch)
                carry = carry._replace(state=state, t_index=jnp.zeros((), jnp.int32))
            elif isinstance(op, AdvanceOp):
                carry, rec = self._advance_scan(params, stim, track, carry, op.steps)
                pieces.append(rec)
            elif isinstance(op, EvolveOp):
                state, changed = prog._evolve(params, carry.state, op.names, carry.t_index)
                bad = (_first_bad(carry.bad, prog.finite_flags(changed), 2 * carry.n) if track
                       else carry.bad)
                carry = carry._replace(state=state, bad=bad)
            elif isinstance(op, RepeatOp):
                def body(c, _, block=op.block):
                    c, rec = self._run_block(params, c, block, batch, stim, batch_size, track)
                    if self.per_repeat and not has_repeat(block):   # innermost: after its evolve
                        rec = {**rec, **{f"{n}.{p}": prog.read(params, c.state, n, p)[None]
                                         for n, p in self.per_repeat}}
                    return c, rec
                carry, rec = lax.scan(body, carry, None, length=op.times)
                pieces.append({k: v.reshape((-1,) + v.shape[2:]) for k, v in rec.items()})
        steps = {}
        for k in (f"{n}.{c}" for n, c in self.per_step + self.per_repeat):
            parts = [p[k] for p in pieces if k in p]
            if parts:
                steps[k] = parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=0)
        return carry, steps

    def _advance_scan(self, params, stim, track, carry, length):
        """``length`` steps as one ``lax.scan`` whose carry holds only what a step changes.

        Compartments no step changes (clamped inputs, weights during advance, ...) stay
        outside the loop as constants, so XLA hoists what is computed from them alone (e.g.
        the forward product of a clamped image) instead of redoing it every step. So do
        those every step writes with the same value (see :meth:`step_plan`): the first
        step runs before the loop, after which they are constants too (otherwise XLA
        copies each of them into the loop's buffers every step)."""
        written, invariant = self.step_plan(params, carry.state, stim)
        peeled = bool(invariant) and length > 0
        if peeled:
            carry, first = self._step_body(params, stim, track, carry)
            first = {k: v[None] for k, v in first.items()}
            length -= 1
            if not length:
                return carry, first
            written = [k for k in written if k not in invariant]
        const = carry.state

        def body(c, _):
            c, rec = self._step_body(params, stim, track, c._replace(state=_merge(const, c.state)))
            return c._replace(state=_select(c.state, written)), rec

        carry, rec = lax.scan(body, carry._replace(state=_select(const, written)), None,
                              length=length)
        if peeled:
            rec = {k: jnp.concatenate([first[k], v]) for k, v in rec.items()}
        return carry._replace(state=_merge(const, carry.state)), rec

    def step_plan(self, params, state, stim) -> tuple[list, frozenset]:
        """``(written, invariant)``: the compartments one step may change (what kinds
        return, stimuli and ties; wired inputs are views of their sources and are not
        stored), and those of them a step writes with a value that depends on no written
        compartment, the step's time or its key: from the second step on they hold that
        value. Found by tracing the step abstractly; cached per state structure."""
        from ngcspec.invariance import independent_outputs

        prog = self.prog
        shapes = jax.tree_util.tree_map(lambda x: (x.shape, x.dtype), state)
        cache_key = str(shapes)
        if cache_key not in self._written:
            names = [(n, c) for n in prog.order for c in prog.comps[n].kind.compartments]
            found: set = set()

            def probe(*flat):
                parts, ti, key = flat[:-2], flat[-2], flat[-1]
                new, changed = prog._advance(params, _merge(state, dict(zip(names, parts))),
                                             ti, key, stim)
                found.update(changed)
                return [new[n][c] for n, c in names]

            flat = [state[n][c] for n, c in names] + [jnp.zeros((), jnp.int32), random.PRNGKey(0)]
            jaxpr = jax.make_jaxpr(probe)(*flat)
            found.update((n, c) for n, d in self.stim_spec.items() for c in d)
            found.update((c.component, c.compartment) for c in self.phase.clamps
                         if c.source == "data_stimulus")
            found.update((n, rc.tie.compartment) for n, rc in prog.comps.items() if rc.tie)
            written = [k for k in names if k in found]
            fixed = independent_outputs(jaxpr, [k in found for k in names] + [True, True])
            invariant = frozenset(k for k, f in zip(names, fixed) if f and k in found)
            self._written[cache_key] = (written, invariant)
        return self._written[cache_key]

    def _step_body(self, params, stim, track, carry: "Carry"):
        prog = self.prog
        key, sub = random.split(carry.key)
        state, changed = prog._advance(params, carry.state, carry.t_index, sub, stim)
        bad = (_first_bad(carry.bad, prog.finite_flags(changed), 2 * carry.n + 1) if track
               else carry.bad)
        rec = {f"{a}.{c}": monitors.in_step(self.record[a, c], prog.read(params, state, a, c),
                                            params["dt"]) for a, c in self.per_step}
        return Carry(state, carry.n + 1, carry.t_index + 1, key, bad), rec

    def metric_sums(self, params, state, batch):
        sums = {}
        for mname, (kind, comp, part) in self.phase.metrics.items():
            v = self.prog.read(params, state, comp, part)
            if kind == "mean":
                unit, scale = self.phase.metric_units.get(mname, (None, 1.0))
                if unit is not None:      # one unit of each sample (or of the weights)
                    batched = self.prog.comps[comp].kind.compartments[part].batched
                    v = v.reshape(v.shape[0], -1)[:, unit] if batched else v.reshape(-1)[unit]
                total = jnp.sum(v.astype(self.dtype)) * scale
                sums[mname] = (total, jnp.asarray(v.size, self.dtype))
            else:
                pred = jnp.argmax(v.reshape(v.shape[0], -1), axis=-1)
                correct = jnp.sum((pred == batch["label"]).astype(self.dtype))
                sums[mname] = (correct, jnp.asarray(v.shape[0], self.dtype))
        return sums

    # -- an epoch -----------------------------------------------------------------------------
    def layout(self) -> tuple[int, int, int]:
        """(n_samples, batch_size, n_full_batches) of one epoch of this phase."""
        ph = self.phase
        if ph.data is not None:
            n, bsz = ph.data.n, ph.data.batch_size
        else:
            n, bsz = ph.batches * ph.batch_size, ph.batch_size
        return n, bsz, n // bsz

    def device_data(self) -> dict:
        """The phase's data as device arrays (integer fields as int32), converted once."""
        if self._data is None:
            arrays = self.phase.data.arrays if self.phase.data is not None else {}
            self._data = {k: jnp.asarray(v.astype(np.int32) if v.dtype.kind in "iu" else v)
                          for k, v in arrays.items()}
        return self._data

    def epoch(self, params: dict, state: dict, data: dict, seed, epoch, progress: bool = False,
              check: str | None = None):
        """One pass over the phase's data: shuffle, every full batch, then the partial one.

        Pure and jittable; ``seed`` and ``epoch`` are traced integers, so successive epochs
        reuse one compiled program. Returns ``(state, outs)``: ``outs["full"]`` stacks the
        per-batch outputs of :meth:`batch` over the full batches, ``outs["rest"]`` holds the
        partial batch's (or None), ``outs["final"]`` the state recorded as 'final',
        ``outs["initial"]`` the state recorded as 'initial' (before the first batch). The state
        comes back with the phase's batch size. With ``progress`` each finished batch is
        reported to ``self.listener`` through a host callback."""
        n, bsz, nb = self.layout()
        rem = n - nb * bsz
        key = random.fold_in(random.fold_in(random.PRNGKey(seed), epoch), self.phase_index)
        run_key, data_key = random.split(key)
        shuffle = self.phase.data is not None and self.phase.data.shuffle
        perm = random.permutation(data_key, n) if shuffle else jnp.arange(n)
        state = resize(self.prog, state, bsz)
        initial = {f"{c}.{p}": self.prog.read(params, state, c, p)
                   for (c, p), m in self.record.items() if m == "initial"}

        def take(rows):
            return {k: v[rows] for k, v in data.items()}

        # Only what a batch hands on and changes travels between batches; the rest starts
        # from the state given (a schedule that begins with reset overwrites it), so XLA can
        # drop work whose result nobody reads and copies no array that stays as it was.
        changes = self.batch_changes(params, state, take(jnp.arange(bsz)), run_key, bsz, check)
        kept = self.kept(changes)
        template = state

        def body(carried, i):
            full = _merge(template, carried)
            rows = lax.dynamic_slice_in_dim(perm, i * bsz, bsz)
            full, out = self.batch(params, full, take(rows), random.fold_in(run_key, i), bsz,
                                   check)
            if progress:
                jax.debug.callback(self._notify, i)
            return _select(full, kept), out

        outs = {"full": None, "rest": None}
        if nb:
            carried, outs["full"] = lax.scan(body, _select(state, kept), jnp.arange(nb))
            state = _merge(template, carried)
            if any(k in changes and k not in kept for k in self.ties()):
                state = self.prog.refresh_ties(state)      # left out of the carry above
        if rem:
            part = resize(self.prog, state, rem)
            part, outs["rest"] = self.batch(params, part, take(perm[nb * bsz:]),
                                            random.fold_in(run_key, nb), rem, check)
            if progress:
                jax.debug.callback(self._notify, nb)
            outs["final"] = self._finals(params, part)
            state = resize(self.prog, part, bsz)
        else:
            outs["final"] = self._finals(params, state)
        outs["initial"] = initial
        return state, outs

    def _finals(self, params, state) -> dict:
        return {f"{c}.{p}": self.prog.read(params, state, c, p)
                for (c, p), m in self.record.items() if m == "final"}

    def _notify(self, i) -> None:
        if self.listener is not None:
            self.listener(int(i))

    def jitted(self, progress: bool = False, check: str | None = None) -> JittedEpoch:
        """The jitted epoch function (compiled once per structure, input shapes and mode)."""
        key = (progress, check)
        if key not in self._jit:
            self._jit[key] = JittedEpoch(partial(self.epoch, progress=progress, check=check))
        return self._jit[key]


def _nonfinite_probe(v):
    """0 for a finite array, NaN when it holds a NaN or an infinity (x * 0 is 0 for finite x
    and NaN otherwise). A large matrix goes through a product with a vector of zeros: the
    backends' matrix-vector kernels stream it about 20x faster on a CPU than XLA's reduction
    of v * 0, which made the check cost as much as a batch-1 step (BENCHMARKS.md 1a)."""
    if v.ndim >= 2 and v.size >= _PROBE_BY_PRODUCT:
        return jnp.sum(v.reshape(-1, v.shape[-1]) @ jnp.zeros((v.shape[-1],), v.dtype))
    return jnp.sum(v * 0)


_PROBE_BY_PRODUCT = 4096     # elements; smaller arrays are cheap to reduce either way


def _first_bad(bad, ok, event):
    """Remember, per watched compartment, the first event at which it stopped being finite.

    Events are numbered 2k + 1 for step k (from 0) of a batch and 2k for an evolve after k
    steps, so a weight that blows up in an evolve is reported before what it feeds."""
    return jnp.where((bad < 0) & ~ok, event, bad)
