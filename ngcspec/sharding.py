"""One circuit on several devices: a ``jax.sharding.Mesh`` and where each array lives.

A :class:`Placement` puts the inputs of the compiled epoch (parameters, state, data) on a
one-axis mesh of devices; XLA's SPMD partitioner splits the program to match and inserts
the collectives (the all-reduce of a Hebbian update's sum over a batch split across
devices, the all-gather of spikes that every device's synapses read). No schedule of our
own: the same epoch function as on one device, with its arrays placed. Three modes:

- ``batch`` (data parallel): batched compartments are split along the batch axis, weights
  and data are replicated. Results equal one device's to float rounding (sums over the
  batch run in another order); spikes are identical unless plasticity amplifies a rounding
  difference into a flipped spike.
- ``members`` (sweeps): the member axis of the vmapped study is split; nothing crosses
  devices, so every member's numbers are those of one device.
- ``neurons`` (model parallel): the unit axis of per-unit state ``(B, n)``, of weight
  matrices ``(n_in, n_out)`` (the post-synaptic axis) and of per-unit vectors is split;
  each device updates its own units. Connection lists stay replicated: their rows are
  pre-synaptic units and their slots hold targets anywhere in the population, so their
  scatter runs on every device (identical, not divided).

An axis is split only when the device count divides it (the jit boundary needs equal
pieces); anything else is replicated, which is correct and merely not divided.

The rule when the file does not say (``run: {shard: ...}``): a sweep shards members; a run
shards the batch when every phase's batch is a multiple of the device count, else neurons.
"""

from __future__ import annotations

import math
import os
from functools import partial
from typing import Any, Sequence

import numpy as np

from ngcspec.errors import RunError

AXIS = "devices"
MODES = ("batch", "members", "neurons")


class DeviceError(RunError):
    """The devices asked for do not exist here (no GPU, fewer devices than asked)."""


# --------------------------------------------------------------------------------------------
# which devices


def find_devices(platform: str | None = None, count: int | str | None = None) -> list:
    """The devices a run uses: ``count`` (an int, ``"all"`` or None for one) of
    ``platform`` (``"cpu"``, ``"gpu"`` or None for the platform JAX picks). In a run over
    several processes these are the devices of all of them."""
    from ngcspec.lazy import jax

    if platform not in (None, "cpu", "gpu"):
        raise DeviceError(f"--platform {platform!r}: use cpu or gpu (or leave it out for the "
                          "platform JAX finds)")
    try:
        found = jax.devices(platform) if platform else jax.devices()
    except RuntimeError:
        seen = sorted({d.platform for d in jax.devices()})
        raise DeviceError(
            f"--platform {platform}: JAX finds no {platform.upper()} on this machine (it sees: "
            f"{', '.join(seen)}); install JAX's CUDA wheels with pip install -e \".[cuda]\" "
            "(an NVIDIA driver is needed), or leave --platform out to run on the CPU") from None
    if count is None:
        return [_local_first(found)]
    if count == "all":
        return list(found)
    n = _count(count)
    if n > len(found):
        hint = (" (host devices: set XLA_FLAGS=--xla_force_host_platform_device_count="
                f"{n} before starting)" if found[0].platform == "cpu" else "")
        raise DeviceError(f"--devices {n}: only {len(found)} {found[0].platform} device(s) "
                          f"here{hint}; use --devices all or a smaller number")
    return list(found[:n])


def _count(count) -> int:
    try:
        n = int(count)
    except (TypeError, ValueError):
        raise DeviceError(f"--devices {count!r}: give a number of devices or 'all'") from None
    if n < 1:
        raise DeviceError("--devices must be at least 1")
    return n


def _local_first(devices):
    from ngcspec.lazy import jax

    own = [d for d in devices if d.process_index == jax.process_index()]
    return (own or devices)[0]


def describe_devices(devices: Sequence) -> dict[str, Any]:
    """Platform and device names for summaries and titles."""
    kinds = sorted({d.device_kind for d in devices})
    return {"platform": devices[0].platform, "devices": [f"{d.device_kind}:{d.id}" for d in devices],
            "device_kinds": kinds,
            "processes": len({d.process_index for d in devices})}


# --------------------------------------------------------------------------------------------
# which mode


def choose_mode(resolved, n_devices: int, sweep: bool = False) -> tuple[str, str]:
    """(mode, why): the file's ``run.shard`` if it applies, else the rule of the module
    docstring."""
    asked = getattr(resolved.spec.run, "shard", None)
    if asked is not None and (asked != "members" or sweep):
        return asked, "run.shard in the file"
    if sweep:
        return "members", "a sweep shards its members"
    sizes = [ph.data.batch_size if ph.data is not None else ph.batch_size
             for ph in resolved.phases.values()]
    if all(b % n_devices == 0 for b in sizes):
        return "batch", f"every phase's batch ({', '.join(map(str, sizes))}) splits evenly"
    return "neurons", f"a batch of {min(sizes)} does not split over {n_devices} devices"


# --------------------------------------------------------------------------------------------
# where each array lives


def unit_axis(kind, cname: str, shape: tuple[int, ...]) -> int | None:
    """The axis of a compartment's array that counts units (None: no such axis), with
    the array's batch axis included when it has one."""
    c = kind.compartments[cname]
    if c.batched:
        return 1 if len(shape) == 2 else None       # (B, n); images stay whole
    if "slots" in c.shape:                           # connection lists: rows x slots
        return None
    return len(shape) - 1 if len(shape) in (1, 2) else None   # (n,) or (n_in, n_out)


class Placement:
    """Devices, the mesh over them and a mode; places pytrees and jits epochs to match."""

    def __init__(self, devices: Sequence, mode: str, why: str = ""):
        from ngcspec.lazy import jax

        if mode not in MODES:
            raise DeviceError(f"shard {mode!r}: use one of {', '.join(MODES)}")
        self.devices = tuple(devices)
        self.mode = mode
        self.why = why
        self.mesh = jax.sharding.Mesh(np.array(self.devices), (AXIS,))
        self.multiprocess = len({d.process_index for d in self.devices}) > 1
        self._jit: dict[Any, Any] = {}
        self._data: dict[int, dict] = {}

    @property
    def size(self) -> int:
        return len(self.devices)

    def describe(self) -> dict[str, Any]:
        return {**describe_devices(self.devices), "shard": self.mode}

    def sharding(self, *spec):
        from ngcspec.lazy import jax

        return jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec(*spec))

    @property
    def replicated(self):
        return self.sharding()

    def state_shardings(self, program, state: dict, lead: int = 0) -> dict:
        """Where each compartment lives; ``lead`` member axes come first (sweeps)."""
        out = {}
        for name, comps in state.items():
            kind = program.comps[name].kind
            out[name] = {}
            for cname, v in comps.items():
                shape = tuple(v.shape[lead:])
                if self.mode == "members":
                    ok = lead and v.shape[0] % self.size == 0
                    out[name][cname] = self.sharding(AXIS) if ok else self.replicated
                    continue
                if self.mode == "batch":
                    axis = 0 if kind.compartments[cname].batched and shape else None
                else:
                    axis = unit_axis(kind, cname, shape)
                spec = [None] * len(v.shape)
                if axis is not None and shape[axis] % self.size == 0:
                    spec[lead + axis] = AXIS
                out[name][cname] = self.sharding(*spec)
        return out

    def member_shardings(self, tree, axes) -> Any:
        """Parameters of a sweep: leaves with a member axis (``axes`` 0) split over members."""
        from ngcspec.lazy import jax

        return jax.tree_util.tree_map(
            lambda a, x: self.sharding(AXIS) if a == 0 and self.mode == "members"
            and x.shape[0] % self.size == 0 else self.replicated, axes, tree,
            is_leaf=lambda a: a is None)

    def put(self, tree, shardings):
        """``tree`` with each leaf placed as ``shardings`` says (a single sharding applies
        to all). Over several processes every process holds the same values and gives each
        of its devices its piece."""
        from ngcspec.lazy import jax

        if not isinstance(shardings, (dict, list, tuple)):
            shardings = jax.tree_util.tree_map(lambda _: shardings, tree)
        if not self.multiprocess:
            return jax.device_put(tree, shardings)

        def one(x, sh):
            if isinstance(x, jax.Array) and not x.is_fully_addressable:
                return jax.device_put(x, sh)
            host = np.asarray(x)
            return jax.make_array_from_callback(host.shape, sh, lambda idx: host[idx])

        return jax.tree_util.tree_map(one, tree, shardings)

    def place_state(self, program, state: dict, lead: int = 0) -> dict:
        return self.put(state, self.state_shardings(program, state, lead))

    def data(self, pp) -> dict:
        """A phase's data, replicated (each device draws its rows of every batch)."""
        key = id(pp)
        if key not in self._data:
            self._data[key] = self.put(pp.device_data(), self.replicated)
        return self._data[key]

    def gather(self, tree):
        """``tree`` replicated on every device (readable by every process)."""
        from ngcspec.lazy import jax

        fn = self._cached(("gather",), lambda: jax.jit(lambda t: t, out_shardings=self.replicated))
        return fn(tree)

    def jit(self, key, fn, state_shardings):
        """``fn(...) -> (state, outs)`` jitted so the state comes back where it went in (no
        recompilation next call) and, over several processes, the outputs replicated."""
        from ngcspec.lazy import jax

        outs = self.replicated if self.multiprocess else None     # None: as XLA lays them out
        shape_key = str(jax.tree_util.tree_map(lambda s: s.spec, state_shardings))
        return self._cached(("epoch", shape_key) + key,
                            lambda: jax.jit(fn, out_shardings=(state_shardings, outs)))

    def epoch(self, program, pp, state, progress: bool, check: str):
        """The phase's jitted epoch for this placement and the state as placed."""
        sh = self.state_shardings(program, state)
        return self.jit((id(pp), progress, check),
                        partial(pp.epoch, progress=progress, check=check), sh)

    def _cached(self, key, make):
        if key not in self._jit:
            self._jit[key] = make()
        return self._jit[key]

    # -- memory ------------------------------------------------------------------------------
    def check_memory(self, resolved, epochs: int | None = None, members: int = 1,
                     what: str = "this run") -> None:
        """Stop before compiling when the per-device estimate does not fit a device."""
        from ngcspec.memory import check_fits, device_available_bytes, estimate

        est = estimate(resolved, members=members, devices=self.size, epochs=epochs,
                       shard=self.mode)
        available, limited_by = device_available_bytes(self.devices)
        check_fits(est, f"{what} on each of {self.size} {self.devices[0].platform} device(s)"
                   if self.size > 1 else what, available, limited_by)


def placement_for(resolved, devices=None, shard: str | None = None, platform: str | None = None,
                  sweep: bool = False) -> Placement:
    """A placement from user-level choices: devices as a count, ``"all"`` or a list of
    JAX devices; ``shard`` overrides the file and the rule."""
    if devices is None or isinstance(devices, (int, str)):
        devices = find_devices(platform, devices if devices is not None else None)
    devices = list(devices)
    if shard is not None:
        mode, why = shard, "asked for"
    else:
        mode, why = choose_mode(resolved, len(devices), sweep)
    return Placement(devices, mode, why)


def host_device_flag(n: int) -> dict[str, str]:
    """Environment for a child process with ``n`` CPU devices (tests, benchmarks)."""
    flags = os.environ.get("XLA_FLAGS", "").split()
    flags = [f for f in flags if not f.startswith("--xla_force_host_platform_device_count")]
    return {**os.environ, "XLA_FLAGS": " ".join(flags + [
        f"--xla_force_host_platform_device_count={n}"])}


def split_evenly(n: int, parts: int) -> int:
    """The smallest multiple of ``parts`` that is at least ``n``."""
    return parts * math.ceil(n / parts)
