"""The project's one memory estimator: what a compiled run will hold, before anything is built.

``estimate(resolved, batch_size=None, members=1, devices=1)`` adds up, per device, the state
(every compartment, batched ones times the batch size), the second copy of it that an epoch
call holds while it writes its result, the temporaries of plasticity (a weight-sized
gradient and the optimiser's working arrays for each plastic synapse), the records a phase
returns and the host keeps for the whole run, and the data on the host and on the device.
The factors were measured (``benchmarks/bench_memory.py``, results in BENCHMARKS.md): the
estimate is held within a factor 1.5 of the peak resident memory of real runs by
``tests/test_memory.py``.

Nothing here imports JAX, so ``ngc validate`` uses it too; ``available_bytes`` looks at the
machine (free memory, the address-space limit, a cgroup's limit) for the checks before a run.
"""

from __future__ import annotations

import math
import os
import resource
from dataclasses import dataclass
from pathlib import Path

from ngcspec.components import optimizers

# Working arrays per weight element while a plastic synapse evolves, besides the weights
# themselves: the update and the clipped/decayed versions XLA keeps (3), plus half an array per
# field of optimiser state kept per weight (adam's two moments: 4 in all). Measured on dense
# Hebbian synapses (benchmarks/bench_memory.py).
_EVOLVE_TEMPS = 3.0
_EVOLVE_TEMPS_PER_OPTIMISER_FIELD = 0.5


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run is expected to hold at its peak on one device, item by item."""

    items: tuple[tuple[str, int], ...]    # (what, bytes), largest first
    devices: int = 1
    members: int = 1

    @property
    def total_bytes(self) -> int:
        return sum(b for _, b in self.items)

    def largest(self, n: int = 3) -> list[tuple[str, int]]:
        return list(self.items[:n])

    def describe(self, n: int = 3) -> str:
        """``'2.3 GiB (W1.weights 1.5 GiB, epoch copy of the state 0.4 GiB, ...)'``"""
        parts = ", ".join(f"{what} {gib(b)}" for what, b in self.largest(n))
        return f"{gib(self.total_bytes)} ({parts}{', ...' if len(self.items) > n else ''})"


def gib(n: int) -> str:
    """A byte count for people: MiB below one GiB, astronomically large counts as 10^k."""
    if n >= 10**18:
        return f"about 10^{len(str(n)) - 1} bytes"
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def estimate(resolved, batch_size: int | None = None, members: int = 1,
             devices: int = 1, epochs: int | None = None, shard: str = "batch") -> MemoryEstimate:
    """The peak memory per device of running ``resolved`` (see the module docstring).

    ``batch_size`` overrides every phase's; ``members`` counts sweep members run together;
    ``devices`` shares among devices what ``shard`` splits (``ngcspec.sharding``): batched
    state (``batch``, weights replicated), members (``members``), or the unit axis of
    per-unit state and weight matrices (``neurons``, connection lists replicated)."""
    return estimate_parts(resolved.components, resolved.phases, resolved.spec.dtype,
                          batch_size=batch_size, members=members, devices=devices,
                          epochs=resolved.spec.run.epochs if epochs is None else epochs,
                          shard=shard)


# Complexity over 10 on purpose: one additive term per item the estimate lists (state, copies,
# temporaries, records, data), each with its own sharding rule.
def estimate_parts(components, phases, dtype: str, *, batch_size: int | None = None,  # noqa: C901
                   members: int = 1, devices: int = 1, epochs: int = 1,
                   shard: str = "batch") -> MemoryEstimate:
    """:func:`estimate` from the resolver's pieces (used before ``Resolved`` exists)."""
    itemsize = 8 if dtype == "float64" else 4
    batch = batch_size or max([_batch_of(ph) for ph in phases.values()] or [1])
    per_device_batch = -(-batch // devices) if shard == "batch" else batch
    if shard == "members":
        members = -(-members // devices)
    items: dict[str, int] = {}
    state = 0
    for name, rc in components.items():
        if rc.tie is not None:          # a tied compartment is a view of another one
            tied = rc.tie.compartment
        else:
            tied = None
        for cname, c in rc.kind.compartments.items():
            if cname == tied:
                continue
            n = math.prod(int(d) for d in rc.shapes[cname])
            b = n * (4 if c.integer else itemsize) * (per_device_batch if c.batched else 1)
            b *= members
            if shard == "neurons" and _splits_units(c, rc.shapes[cname], devices):
                b = -(-b // devices)
            state += b
            items[f"{name}.{cname}"] = b
        if rc.kind.plastic:
            weights = max((math.prod(int(d) for d in rc.shapes[cn]) for cn, c in
                           rc.kind.compartments.items() if c.role == "weight"), default=0)
            factor = _EVOLVE_TEMPS + _EVOLVE_TEMPS_PER_OPTIMISER_FIELD * len(
                optimizers.per_parameter_fields(_optimiser(rc.params)))
            items[f"evolve temporaries of {name}"] = int(weights * itemsize * factor) * members
    items["epoch copy of the state"] = state
    for pname, ph in phases.items():
        for what, b in _record_bytes(pname, ph, components, itemsize, epochs).items():
            items[what] = -(-b * members // devices)
        data = _data_bytes(ph)
        if data:
            items[f"data of phase {pname} (host and device)"] = 2 * data
    ordered = sorted(((k, int(v)) for k, v in items.items() if v), key=lambda kv: -kv[1])
    return MemoryEstimate(tuple(ordered), devices, members)


def _splits_units(c, shape, devices: int) -> bool:
    """Whether neuron sharding splits this compartment (as ``ngcspec.sharding.unit_axis``:
    per-unit state, weight matrices and per-unit vectors whose unit count the devices
    divide; connection lists and images stay whole)."""
    shape = tuple(int(d) for d in shape)
    if c.batched:
        return len(shape) == 1 and shape[0] % devices == 0
    return "slots" not in c.shape and len(shape) in (1, 2) and shape[-1] % devices == 0


def _batch_of(ph) -> int:
    return ph.data.batch_size if ph.data is not None else ph.batch_size


def _optimiser(params) -> str:
    return str(getattr(params, "optim_type", "sgd") or "sgd")


def _runs_of(ph, epochs: int) -> int:
    """How many times a phase runs in ``epochs`` epochs (it always runs in the last)."""
    return epochs // ph.every + (epochs % ph.every != 0)


def _record_bytes(pname, ph, components, itemsize, epochs) -> dict[str, int]:
    """Records a phase returns per epoch, kept on the host for every epoch it runs."""
    n = ph.data.n if ph.data is not None else ph.batches * ph.batch_size
    bsz = _batch_of(ph)
    batches = -(-n // bsz)
    steps = steps_per_batch(ph.schedule)
    out = {}
    runs = _runs_of(ph, epochs)
    for (comp, part), mode in ph.record.items():
        rc = components[comp]
        c = rc.kind.compartments[part]
        size = math.prod(int(d) for d in rc.shapes[part]) * itemsize
        if mode in ("per_step", "per_repeat"):     # per_repeat: at most one per step
            per_epoch = steps * (n * size if c.batched else batches * size)
        elif mode == "spike_times":   # one bit per unit and step in the program (monitors.py)
            per_epoch = steps * n * -(-math.prod(int(d) for d in rc.shapes[part]) // 8)
        elif mode == "rate":          # one number per step and sample
            per_epoch = steps * n * itemsize
        elif mode == "per_batch":
            per_epoch = n * size if c.batched else batches * size
        else:       # final (and any mode that keeps one value)
            per_epoch = (bsz if c.batched else 1) * size
            runs = 1
        # the host holds every run's piece and, at the end, their stacked copy; during the
        # first runs, the device's output, its host copy and the reshaped piece
        out[f"record {pname}/{comp}.{part}"] = per_epoch * max(2 * runs, runs + 2)
    return out


def steps_per_batch(schedule) -> int:
    """Steps one batch advances (see :func:`ngcspec.schedule.steps_per_batch`)."""
    from ngcspec.schedule import steps_per_batch as steps

    return steps(schedule)


def _data_bytes(ph) -> int:
    if ph.data is None:
        return 0
    return sum(int(a.nbytes) for a in ph.data.arrays.values())


def check_fits(est: MemoryEstimate, what: str = "this run", available: int | None = None,
               limited_by: str = "") -> None:
    """Raise a RunError before anything is compiled when ``est`` exceeds the memory left."""
    from ngcspec.errors import RunError

    if available is None:
        available, limited_by = available_bytes()
    if available is None or est.total_bytes <= available:
        return
    raise RunError(
        f"{what} needs about {est.describe(4)} of memory, but only {gib(available)} is "
        f"available ({limited_by}); reduce the largest items: sizes, the batch size, what is "
        "recorded per step or per batch, or the number of epochs that keep records")


# --------------------------------------------------------------------------------------------
# what the machine has


def device_available_bytes(devices) -> tuple[int | None, str]:
    """Memory each of ``devices`` may still allocate, and what limits it: an accelerator's
    own memory (``memory_stats()['bytes_limit']`` less what is in use), or, for host (CPU)
    devices, the host's memory shared among those of this process."""
    free = []
    me = _process_index(devices)
    local = [d for d in devices if getattr(d, "process_index", 0) == me]
    for d in local:     # another process's devices cannot be asked (they match ours)
        stats = d.memory_stats() if hasattr(d, "memory_stats") else None
        if stats and "bytes_limit" in stats:
            free.append((stats["bytes_limit"] - stats.get("bytes_in_use", 0),
                         f"the memory of {d.device_kind} {d.id}"))
    if free:
        return min(free)
    host, why = available_bytes()
    n = max(len(local), 1)
    if host is None or n == 1:
        return host, why
    return host // n, f"{why}, shared by {n} host devices"


def _process_index(devices) -> int:
    try:
        import jax

        return jax.process_index()
    except Exception:      # JAX not started: every device is this process's
        return getattr(devices[0], "process_index", 0)


def available_bytes() -> tuple[int | None, str]:
    """Memory this process may still allocate, and what limits it (for messages)."""
    found: list[tuple[int, str]] = []
    avail = _meminfo_available()
    if avail is not None:
        found.append((avail, "free memory of this machine"))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        found.append((max(soft - _address_space_used(), 0), "the address-space limit (ulimit -v)"))
    cg = _cgroup_headroom()
    if cg is not None:
        found.append((cg, "this container's memory limit"))
    if not found:
        return None, "unknown"
    return min(found)


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _address_space_used() -> int:
    try:
        return int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _cgroup_headroom() -> int | None:
    base = Path("/sys/fs/cgroup")
    try:
        limit = (base / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(int(limit) - int((base / "memory.current").read_text().strip()), 0)
    except (OSError, ValueError):
        return None
