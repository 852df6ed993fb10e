"""Where ``ngc run`` and ``ngc sweep`` run: platform, devices, processes (no commands here).

Options are turned into a :class:`DeviceSetup` before JAX starts a backend (the platform
and the processes of a multi-host run must be fixed first); it then gives the placement
(``ngcspec.sharding``) and, over several processes, the meeting points at which process 0
learns of the others' failures (``ngcspec.distributed``).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any



class DeviceSetup:
    def __init__(self, platform: str | None = None, devices: str | None = None,
                 shard: str | None = None, coordinator: str | None = None,
                 num_processes: int | None = None, process_id: int | None = None,
                 members_over_cores: bool = False):
        from ngcspec import distributed
        from ngcspec.sharding import MODES, DeviceError

        if platform is not None and platform not in ("cpu", "gpu"):
            raise DeviceError(f"--platform {platform!r}: use cpu or gpu (or leave it out for "
                              "the platform JAX finds)")
        if shard is not None and shard not in MODES:
            raise DeviceError(f"--shard {shard!r}: use one of {', '.join(MODES)}")
        self.platform, self.devices, self.shard = platform, devices, shard
        self.cluster = None
        self.meeting = None
        if platform == "cpu":
            _only_cpu()
        if distributed.requested(coordinator, num_processes, process_id):
            self.cluster = distributed.initialize(coordinator, num_processes, process_id)
            self.meeting = distributed.Meeting(self.cluster)
            if self.devices is None:
                self.devices = "all"
        # A sweep left to the defaults on a CPU runs its members side by side, one CPU
        # device per core: XLA:CPU runs a member's small products on one core, so one
        # device leaves the others idle (BENCHMARKS.md 7).
        self.cores = (cpu_devices_per_core() if members_over_cores and self.cluster is None
                      and platform != "gpu" and devices is None and shard is None else 0)

    @property
    def leader(self) -> bool:
        return self.cluster is None or self.cluster.leader

    def placement(self, resolved, sweep: bool = False):
        """The placement asked for, or None (one default device, the plain path)."""
        from ngcspec.sharding import placement_for

        if self.cores > 1 and sweep:
            return self._members_over_cores(resolved)
        if self.platform is None and self.devices is None and self.shard is None:
            return None
        return placement_for(resolved, self.devices if self.devices is not None else None,
                             self.shard, self.platform, sweep=sweep)

    def _members_over_cores(self, resolved):
        from ngcspec.lazy import jax
        from ngcspec.sharding import placement_for
        from ngcspec.spec import OptunaCombine
        from ngcspec.sweep import sweep_members

        if resolved.spec.sweep is not None and isinstance(resolved.spec.sweep.combine,
                                                          OptunaCombine):
            return None                  # an adaptive search asks for a batch at a time
        found = jax.devices()
        members = len(sweep_members(resolved))
        if found[0].platform != "cpu" or len(found) < 2 or members < 2:
            return None                  # an accelerator, or nothing to run side by side
        return placement_for(resolved, found[:min(len(found), members)], "members", sweep=True)

    def describe(self, placement) -> dict[str, Any]:
        """Platform, devices, mode and processes for summary.json."""
        from ngcspec.lazy import jax
        from ngcspec.sharding import describe_devices

        if placement is not None:
            info = placement.describe()
        else:
            info = {**describe_devices([jax.devices()[0]]), "shard": None}
        if self.cluster is not None:
            info["process_count"] = self.cluster.num_processes
        return info

    @contextmanager
    def stage(self, name: str):
        """A part of the run every process must get through; over several processes its
        failures anywhere are reported by process 0 (see ``ngcspec.distributed``)."""
        if self.meeting is None:
            yield
            return
        try:
            yield
        except BaseException as exc:
            if self.leader:
                self.meeting.client.key_value_set(self.meeting._key(name, "go"), "stop")
            else:
                self.meeting.report(name, exc)
            raise
        if not self.leader:
            self.meeting.report(name)
        self.meeting.settle(name)


def title_suffix(info: dict) -> str:
    """' on cpu (2 x cpu, batch-sharded)' for the run table's title."""
    n = len(info["devices"])
    kinds = "/".join(info["device_kinds"])
    where = f" on {info['platform']} ({n} x {kinds}" if n > 1 else f" on {info['platform']} ({kinds}"
    if info.get("shard") and n > 1:
        where += f", {info['shard']}-sharded"
    if info.get("process_count", 1) > 1:
        where += f", {info['process_count']} processes"
    return where + ")"


def cpu_devices_per_core() -> int:
    """Before JAX starts: ask for one CPU device per core this process may use (unless
    XLA_FLAGS already sets a count, or a backend has started); returns that count, or 0."""
    import os
    import sys

    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags or "jax" in sys.modules:
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if not cores or cores < 2:
        return 0
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={cores}".strip()
    return cores


def _only_cpu() -> None:
    """Keep JAX off accelerators for this process (before a backend starts)."""
    from ngcspec.lazy import jax

    try:
        from jax._src import xla_bridge

        started = xla_bridge.backends_are_initialized()
    except (ImportError, AttributeError):
        started = True
    if not started:
        jax.config.update("jax_platforms", "cpu")

