"""Running a study: every member of a sweep, as few compiled programs as the structure allows.

Members that differ only in numeric parameters and seeds form a *group*: one program, whose
epoch function is ``jax.vmap``-ed over a member axis of the swept parameter leaves, of the
state and of the seeds (the rest of the parameter pytree is shared, ``in_axes=None``). Each
phase-epoch of a chunk of members is then one call. A swept structural parameter (a size,
an activation, an integrator), or a numeric value that changes what a kind compiles in
(RateCell's ``tau_m`` crossing 0), starts another group with its own program.

A member's numbers are those of the same member run alone
(``circuit.with_params(...).run(seed=...)``): the same keys (seed, epoch, phase, batch, step)
and the same functions, batched. Batched products may sum in another order, so values agree
to float rounding (tests/test_sweep_members.py measures it). A member that goes non-finite
does not stop the study: it is marked, and its metrics are what it computed (NaN).

Members of a group are run in chunks that fit in memory (estimated before compiling; the
last chunk is padded with copies of its last member, so every chunk has one shape and one
compilation), or of ``members_per_call``.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import numpy as np

from ngcspec.errors import CircuitError, RunError
from ngcspec.params import with_field
from ngcspec.sweepspec import Member, SweptParam, members as expand_members, report_of, \
    swept_params


class SweepListener(Protocol):
    def planned(self, groups: list["GroupInfo"], epochs: int, n_members: int,
                structural: list[str]) -> None: ...
    def chunk_started(self, group: int, chunk: int, compiling: bool) -> None: ...
    def epoch_done(self, group: int, chunk: int, epoch: int) -> None: ...


@dataclass
class GroupInfo:
    """Members that share one compiled program, and how they were split into calls."""

    index: int
    structural: dict[str, Any]          # the structural values of this group
    members: list[int]
    chunk_size: int = 1
    chunks: int = 1
    memory_bytes: int = 0               # estimated for one call of chunk_size members
    chosen_by: str = "memory"           # "memory", "members_per_call" or "all fit"


@dataclass
class SweepResult:
    """What a study produced: per member, metrics per epoch, whether it stayed finite, its
    final state; the groups and chunks it ran as."""

    name: str
    params: list[SweptParam]
    members: list[Member]
    metrics: list[dict[str, list[dict[str, float]]]]
    finite: list[bool]
    states: list[dict[str, dict[str, np.ndarray]]]
    groups: list[GroupInfo]
    report: tuple[str, str] | None
    epochs: int
    records: list[dict[str, np.ndarray]] | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def final_metrics(self, i: int) -> dict[str, float]:
        """``{'phase.metric': value}`` of member ``i`` after its last epoch."""
        return {f"{ph}.{k}": v for ph, hist in self.metrics[i].items() if hist
                for k, v in hist[-1].items()}

    def rows(self) -> list[dict[str, Any]]:
        """One row per member: swept parameters as written, ``seed``, final metrics."""
        return [{**m.values, "seed": m.seed, **self.final_metrics(m.index)} for m in self.members]

    def best(self) -> int | None:
        """Index of the best finite member by the report metric (None without one)."""
        from ngcspec.sweepdir import best_member

        return best_member(self.rows(), self.finite, self.report)


# ---------------------------------------------------------------------------------------------
# entry points


def sweep_members(resolved) -> list[Member]:
    """The members of the sweep of a resolved circuit (its file's seed without seeds)."""
    from ngcspec.spec import SweepSpec

    sweep = resolved.spec.sweep or SweepSpec()
    return expand_members(sweep, resolved.components, resolved.spec.seed)


def run_study(resolved, epochs: int | None = None, members_per_call: int | None = None,
              listener: SweepListener | None = None, keep_records: bool = False,
              placement=None) -> SweepResult:
    """Run ``resolved``'s sweep: every member (:func:`run_sweep`), or an adaptive search
    batch by batch when it combines with ``optuna``."""
    from ngcspec.spec import OptunaCombine

    sweep = resolved.spec.sweep
    if sweep is not None and isinstance(sweep.combine, OptunaCombine):
        from ngcspec.search import run_optuna

        if placement is not None:
            raise RunError("an optuna search runs on one device; leave --devices out")
        return run_optuna(resolved, epochs=epochs, members_per_call=members_per_call,
                          listener=listener, keep_records=keep_records)
    return run_sweep(resolved, epochs=epochs, members_per_call=members_per_call,
                     listener=listener, keep_records=keep_records, placement=placement)


def run_sweep(resolved, epochs: int | None = None, members_per_call: int | None = None,
              listener: SweepListener | None = None, keep_records: bool = False,
              members: list[Member] | None = None, study: "Study | None" = None,
              placement=None) -> SweepResult:
    """Run every member of ``resolved``'s sweep (or ``members``, numbered 0, 1, ...) on
    the groups of ``study`` (a new one by default); see the module docstring. With a
    ``placement`` (``ngcspec.sharding``) each call runs on its devices (members split
    over them by default)."""
    from ngcspec.spec import SweepSpec

    t0 = time.perf_counter()
    sweep = resolved.spec.sweep or SweepSpec()
    epochs = resolved.spec.run.epochs if epochs is None else epochs
    if members_per_call is not None and members_per_call < 1:
        raise RunError("members_per_call must be at least 1")
    params = swept_params(sweep, resolved.components)
    members = sweep_members(resolved) if members is None else members
    if any(m.index != i for i, m in enumerate(members)):
        raise ValueError("members must be numbered 0, 1, ... in order")
    study = Study(resolved, params, placement) if study is None else study
    groups = study.plan(members, members_per_call)
    if listener is not None:
        listener.planned(groups, epochs, len(members), [p.name for p in params if not p.numeric])
    n = len(members)
    out = _Collected(n, keep_records)
    for g in groups:
        study.run_group(g, [members[i] for i in g.members], epochs, out, listener)
    report = report_of(sweep, resolved.phases)
    return SweepResult(resolved.spec.name, params, members, out.metrics, out.finite, out.states,
                       groups, report, epochs, out.records if keep_records else None,
                       {"sweep_s": time.perf_counter() - t0})


@dataclass
class _Collected:
    n: int
    keep_records: bool

    def __post_init__(self):
        self.metrics: list = [None] * self.n
        self.finite: list = [True] * self.n
        self.states: list = [None] * self.n
        self.records: list = [None] * self.n


# ---------------------------------------------------------------------------------------------
# groups: one program each


class Study:
    """The groups of a study, each a circuit and its vmapped functions (kept between calls,
    so an adaptive search reuses compiled programs batch after batch)."""

    def __init__(self, resolved, params: list[SweptParam], placement=None):
        self.resolved = resolved
        self.params = params
        self.placement = placement
        self.numeric = [p for p in params if p.numeric]
        self._programs: dict[tuple, "_GroupProgram"] = {}

    def structural_key(self, member: Member) -> tuple:
        """What decides a member's program: its structural values, and what each kind
        compiles in from its numeric values (``Component.structure``)."""
        structural = tuple((p.name, repr(member.values[p.name])) for p in self.params
                           if not p.numeric)
        compiled = []
        for p in self.numeric:
            if p.component is None:
                continue
            rc = self.resolved.components[p.component]
            model = with_field(rc.params, p.path, member.values[p.name])
            compiled.append((p.name, repr(rc.kind.structure(model))))
        return structural + tuple(compiled)

    def plan(self, members: list[Member], members_per_call: int | None) -> list[GroupInfo]:
        by_key: dict[tuple, list[int]] = {}
        for m in members:
            by_key.setdefault(self.structural_key(m), []).append(m.index)
        groups = []
        for gi, (key, idx) in enumerate(by_key.items()):
            first = members[idx[0]]
            structural = {p.name: first.values[p.name] for p in self.params if not p.numeric}
            info = GroupInfo(gi, structural, idx)
            prog = self.program(key, first)
            _choose_chunks(info, prog.circuit.resolved, members_per_call, self.placement)
            groups.append(info)
        return groups

    def program(self, key: tuple, first: Member) -> "_GroupProgram":
        if key not in self._programs:
            self._programs[key] = _GroupProgram(self._group_circuit(first), self.numeric,
                                                self.placement)
        return self._programs[key]

    def _group_circuit(self, member: Member):
        from ngcspec.circuit import Circuit

        structural = {p.name: member.values[p.name] for p in self.params if not p.numeric}
        try:
            resolved = self.resolved if not structural else _reresolve(self.resolved, structural)
        except CircuitError as exc:
            shown = ", ".join(f"{k}={v}" for k, v in structural.items())
            raise CircuitError([dataclasses.replace(p, message=f"{p.message} (with the swept "
                                                    f"value(s) {shown})") for p in exc.problems]) \
                from None
        base = Circuit(resolved)
        numeric = {p.name: member.values[p.name] for p in self.numeric}
        return base.with_params(**numeric) if numeric else base

    def run_group(self, g: GroupInfo, members: list[Member], epochs: int, out: _Collected,
                  listener: SweepListener | None) -> None:
        prog = self.program(self.structural_key(members[0]), members[0])
        size = g.chunk_size
        for ci in range(g.chunks):
            chunk = members[ci * size:(ci + 1) * size]
            padded = chunk + [chunk[-1]] * (size - len(chunk))
            if listener is not None:
                listener.chunk_started(g.index, ci, compiling=not prog.compiled)
            result = prog.run(padded, epochs, out.keep_records, listener, (g.index, ci))
            for j, m in enumerate(chunk):
                metrics, finite, state, records = result[j]
                out.metrics[m.index] = metrics
                out.finite[m.index] = finite
                out.states[m.index] = state
                out.records[m.index] = records


def _reresolve(resolved, structural: dict[str, Any]):
    """The circuit with structural values set (as ``--set`` would), from its data as run."""
    import yaml

    from ngcspec.resolve import resolve
    from ngcspec.yamlsrc import load_yaml

    text = yaml.safe_dump(resolved.raw, sort_keys=False)
    return resolve(load_yaml(text, resolved.file), resolved.base_dir, overrides=structural)


# ---------------------------------------------------------------------------------------------
# memory and chunks


def _choose_chunks(info: GroupInfo, resolved, members_per_call: int | None,
                   placement=None) -> None:
    """The largest chunk that fits in the memory this process may still use (estimated by
    ``ngcspec.memory.estimate`` before compiling; per device with a placement), or the size
    asked for; then chunks as even as possible (least padding). Split over members, a
    chunk is a multiple of the device count (padded), so every device gets whole members."""
    from ngcspec.memory import available_bytes, device_available_bytes, estimate

    devices = placement.size if placement is not None else 1
    mode = placement.mode if placement is not None else "batch"

    def need(k):
        return estimate(resolved, members=k, devices=devices, shard=mode).total_bytes

    n = len(info.members)
    if members_per_call is not None:
        size, info.chosen_by = min(members_per_call, n), "members_per_call"
    else:
        budget, _ = available_bytes() if placement is None else \
            device_available_bytes(placement.devices)
        size = n
        while budget is not None and size > 1 and need(size) > budget:
            size = -(-size // 2)
        info.chosen_by = "all fit" if size == n else "memory"
    info.chunks = -(-n // size)
    info.chunk_size = -(-n // info.chunks)
    if mode == "members":
        info.chunk_size = devices * -(-info.chunk_size // devices)
    info.memory_bytes = need(info.chunk_size)


# ---------------------------------------------------------------------------------------------
# one group's vmapped program


class _GroupProgram:
    """A group's circuit and its functions vmapped over a member axis."""

    def __init__(self, circuit, numeric: list[SweptParam], placement=None):
        from ngcspec.lazy import jax

        self.placement = placement
        self.circuit = circuit
        self.program = circuit.program
        self.numeric = numeric
        self.leaves = [("dt",) if p.component is None else ("components", p.component, *p.path)
                       for p in numeric]
        axes = jax.tree_util.tree_map(lambda _: None, circuit.params)
        for path in self.leaves:
            _set(axes, path, 0)
        self.axes = axes
        self._fns: dict[Any, Any] = {}
        self.compiled = False

    def member_params(self, members: list[Member]) -> dict:
        """The parameter pytree with a member axis on the swept leaves (values converted as
        ``with_params`` converts them)."""
        from ngcspec.lazy import jax, jnp

        params = jax.tree_util.tree_map(lambda x: x, self.circuit.params)
        for p, path in zip(self.numeric, self.leaves):   # converted as with_params does
            _set(params, path, jnp.asarray(np.array([m.values[p.name] for m in members],
                                                    self.program.dtype)))
        return params

    def init(self, params: dict, members: list[Member], batch_size: int) -> dict:
        """Every member's initial state by the solo program (one small compile, the same
        bits as a solo run), stacked on a member axis."""
        from ngcspec.lazy import jax

        init = self.program.jitted_init(batch_size)
        states = []
        for j, m in enumerate(members):
            own = jax.tree_util.tree_map(lambda x, ax: x if ax is None else x[j], params,
                                         self.axes, is_leaf=lambda x: x is None)
            states.append(jax.device_get(init(own, m.seed)))
        return jax.tree_util.tree_map(lambda *xs: np.stack(xs), *states)

    def _fn(self, key, make):
        if key not in self._fns:
            self._fns[key] = make()
        return self._fns[key]

    def resize_fn(self, batch_size: int):
        from ngcspec.compiler import resize
        from ngcspec.lazy import jax

        return self._fn(("resize", batch_size), lambda: jax.jit(jax.vmap(
            lambda s: resize(self.program, s, batch_size))))

    def epoch_fn(self, phase: str, check: str, state=None):
        from ngcspec.lazy import jax

        pp = self.program.phase(phase)
        vmapped = jax.vmap(partial(pp.epoch, check=check), in_axes=(self.axes, 0, None, 0, None))
        if self.placement is not None:      # the state stays where it was placed
            sh = self.placement.state_shardings(self.program, state, lead=1)
            return self.placement.jit(("sweep", id(self), phase, check), vmapped, sh)
        return self._fn(("epoch", phase, check), lambda: jax.jit(vmapped))

    def place(self, params, seeds, state):
        """Parameters, seeds and state on the placement's devices (members split)."""
        pl = self.placement
        if pl is None:
            return params, seeds, state
        split = pl.mode == "members" and seeds.shape[0] % pl.size == 0
        return (pl.put(params, pl.member_shardings(params, self.axes)),
                pl.put(seeds, pl.sharding("devices") if split else pl.replicated),
                pl.place_state(self.program, state, lead=1))

    def run(self, members: list[Member], epochs: int, keep_records: bool, listener, where):
        from ngcspec.compiler import precision

        with precision(self.program.dtype):
            return self._run(members, epochs, keep_records, listener, where)

    # Complexity over 10 on purpose: the study's epoch loop, the vmapped twin of Circuit._run, kept
    # in the same shape so the two can be read side by side.
    def _run(self, members, epochs, keep_records, listener, where):  # noqa: C901
        from ngcspec.lazy import jax, jnp

        c = self.circuit
        r = c.resolved
        params = self.member_params(members)
        seeds = jnp.asarray([m.seed for m in members], jnp.int32)
        first = r.phases[next(iter(r.phases))]
        state = self.init(params, members, first.data.batch_size if first.data else
                          first.batch_size)
        params, seeds, state = self.place(params, seeds, state)
        k = len(members)
        metrics = [{p: [] for p in r.phases} for _ in range(k)]
        finite = [True] * k
        records: list[dict] = [{} for _ in range(k)]
        check = "batch" if self.program.check_finite else "off"
        for epoch in range(epochs):
            for pname, ph in r.phases.items():
                if not ((epoch + 1) % ph.every == 0 or epoch == epochs - 1):
                    continue
                pp = self.program.phase(pname)
                n, bsz, nb = pp.layout()
                if _batch_size(self.program, state) not in (None, bsz):
                    state = self.resize_fn(bsz)(state)
                data = pp.device_data()
                if self.placement is not None:
                    state = self.placement.place_state(self.program, state, lead=1)
                    data = self.placement.data(pp)
                state, outs = self.epoch_fn(pname, check, state)(params, state, data,
                                                                 seeds, epoch)
                outs = jax.device_get(outs)
                for j in range(k):
                    o = jax.tree_util.tree_map(lambda x: x[j], outs)
                    parts = c._parts(o, n, bsz, nb)
                    if check == "batch" and not all(np.all(p["ok"]) for p, _, _ in parts):
                        finite[j] = False
                    metrics[j][pname].append(c._metrics(pp.phase, parts))
                    if keep_records:
                        _add_records(records[j], c, pp, parts, o, pname, epoch)
            self.compiled = True
            if listener is not None:
                listener.epoch_done(*where, epoch)
        state = jax.device_get(state)
        out = []
        for j in range(k):
            st = jax.tree_util.tree_map(lambda x: np.asarray(x[j]), state)
            recs = _stack_records(records[j]) if keep_records else None
            out.append((metrics[j], finite[j], st, recs))
        return out


def _add_records(acc: dict, circuit, pp, parts, outs, pname: str, epoch: int) -> None:
    """A member's records of one phase-epoch, as ``Circuit.run`` keeps them."""
    takes_epoch = "epoch" in inspect.signature(circuit._records).parameters
    recs = circuit._records(pp, parts, epoch) if takes_epoch else circuit._records(pp, parts)
    for k, v in recs.items():
        acc.setdefault(f"{pname}/{k}", []).append(v)
    for k, v in outs["final"].items():
        acc[f"{pname}/{k}"] = [("final", np.asarray(v))]


def _stack_records(acc: dict) -> dict[str, np.ndarray]:
    out = {}
    for k, vals in acc.items():
        if vals and isinstance(vals[0], tuple):
            out[k] = vals[0][1]
        elif len({v.shape for v in vals}) == 1:
            out[k] = np.stack(vals)
        else:
            out[k] = np.concatenate(vals)
    return out


def _batch_size(program, state) -> int | None:
    """The per-member batch size of a state with a member axis first."""
    from ngcspec.lazy import jax

    shapes = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), state)
    return program.batch_size_of(shapes)


def _get(tree, path):
    for p in path:
        tree = tree[p]
    return tree


def _set(tree, path, value) -> None:
    for p in path[:-1]:
        tree = tree[p]
    tree[path[-1]] = value


# ---------------------------------------------------------------------------------------------
# the Python face: Circuit.sweep


def sweep_circuit(circuit, params: dict[str, Any] | None = None, seeds=None, combine=None,
                  report: dict | str | None = None, epochs: int | None = None,
                  members_per_call: int | None = None, keep_records: bool = False,
                  listener: SweepListener | None = None, devices=None,
                  shard: str | None = None) -> SweepResult:
    """``circuit.sweep(params={"W1.eta": [0.001, 0.01]}, seeds=range(4))``: the circuit's own
    ``sweep:`` section with these entries replaced, checked like the file, then run
    (on ``devices``, a count or ``"all"``, members split over them unless ``shard`` or the
    file says otherwise; or on the devices of a :meth:`Circuit.sharded` circuit)."""
    from ngcspec.sharding import placement_for

    resolved = with_sweep(circuit.resolved, params=params, seeds=seeds, combine=combine,
                          report=report)
    placement = None
    if devices is not None or shard is not None or circuit.placement is not None:
        placement = placement_for(resolved, devices or (
            list(circuit.placement.devices) if circuit.placement is not None else "all"),
            shard, sweep=True)
    return run_sweep(resolved, epochs=epochs, members_per_call=members_per_call,
                     listener=listener, keep_records=keep_records, placement=placement)


def with_sweep(resolved, *, params=None, seeds=None, combine=None, report=None):
    """``resolved`` with its sweep section updated (checked again; errors located)."""
    import copy

    raw = copy.deepcopy(resolved.raw)
    sweep = dict(raw.get("sweep") or {})
    if params is not None:
        sweep["params"] = {**(sweep.get("params") or {}), **_plain(params)}
    if seeds is not None:
        sweep["seeds"] = _plain(seeds) if not isinstance(seeds, range) or seeds.step != 1 \
            else {"range": [seeds.start, seeds.stop]}
    if combine is not None:
        sweep["combine"] = _plain(combine)
    if report is not None:
        sweep["report"] = {"metric": report} if isinstance(report, str) else dict(report)
    if sweep == (raw.get("sweep") or {}) and resolved.spec.sweep is not None:
        return resolved
    try:
        return _reresolve(dataclasses.replace(resolved, raw={**raw, "sweep": sweep}), {})
    except CircuitError as exc:     # lines of a regenerated text would mislead: name options
        raise CircuitError([dataclasses.replace(
            p, file="<sweep options>", line=None, column=None) if p.path.startswith("sweep")
            else p for p in exc.problems]) from None


def _plain(v):
    """Python containers and numpy numbers as the plain values YAML would give."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, range, np.ndarray)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v
