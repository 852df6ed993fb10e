"""One circuit over several processes (hosts), through ``jax.distributed``.

Every process runs the same program on its own devices; together they form one mesh
(``ngcspec.sharding``), and XLA's collectives (gloo on CPUs, NCCL on GPUs) connect them.
Every process loads the circuit and its data itself, so they hold the same values.

Only process 0 writes the run directory. So that it can say why a run failed elsewhere,
the processes meet at two points through the coordinator's key-value store: before the
run (each has loaded the circuit, or says what went wrong) and after it (each finished, or
says what went wrong). Process 0 waits a bounded time for each, reports the failures of the
others by process number, and tells them whether to go on. A process that dies inside the
run's collectives is noticed by JAX's heartbeat (``heartbeat_timeout_seconds``), not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ngcspec.errors import RunError


class DistributedError(RunError):
    """A run over several processes could not start, or another process failed."""


class StoppedByProcessZero(RunError):
    """Process 0 called the run off (another process failed); it reports why."""


@dataclass(frozen=True)
class Cluster:
    process_id: int
    num_processes: int
    coordinator: str

    @property
    def leader(self) -> bool:
        return self.process_id == 0


_CLUSTER_PREFIXES = ("SLURM_", "OMPI_", "PMI_", "HYDRA_", "CLOUD_TPU", "TPU_WORKER", "MEGASCALE_")
# (not every TPU_ variable: importing jax sets TPU_SKIP_MDS_QUERY itself)


def cluster_in_environment() -> bool:
    """Whether a cluster manager (SLURM, Open MPI, ...) started this process as one of
    several, in a way ``jax.distributed.initialize()`` can read by itself. JAX is imported
    only when such a manager's variables are set (``ngc run`` validates before JAX loads)."""
    import os

    if not any(k.startswith(_CLUSTER_PREFIXES) for k in os.environ):
        return False
    try:
        from jax._src import clusters
    except ImportError:
        return False
    for env in getattr(clusters.ClusterEnv, "_cluster_types", []):
        try:
            if not env.opt_in_only_method and env.is_env_present() and env.get_process_count() > 1:
                return True
        except Exception:       # a half-set environment: leave it to explicit options
            continue
    return False


def requested(coordinator: str | None, num_processes: int | None, process_id: int | None) -> bool:
    return any(v is not None for v in (coordinator, num_processes, process_id)) or \
        cluster_in_environment()


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, timeout_s: int = 120) -> Cluster:
    """Join the processes of one run (before JAX starts a backend). Values not given are
    read from the cluster's environment by JAX (SLURM, Open MPI, ``JAX_COORDINATOR_ADDRESS``)."""
    from ngcspec.lazy import jax

    if coordinator is not None and not re.fullmatch(r"\[?[\w.:-]+\]?:\d{1,5}", coordinator):
        raise DistributedError(f"--coordinator {coordinator!r}: write HOST:PORT, e.g. "
                               "--coordinator 10.0.0.1:12345 (process 0's address)")
    if num_processes is not None and num_processes < 1:
        raise DistributedError("--num-processes must be at least 1")
    if process_id is not None and num_processes is not None and \
            not 0 <= process_id < num_processes:
        raise DistributedError(f"--process-id {process_id}: give 0 to {num_processes - 1} "
                               f"(--num-processes {num_processes})")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")   # CPUs across processes
    try:
        jax.distributed.initialize(coordinator, num_processes, process_id,
                                   initialization_timeout=timeout_s)
    except (ValueError, TypeError, RuntimeError) as exc:
        what = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DistributedError(
            f"could not join the run's processes: {what}\n    every process needs the same "
            "--coordinator HOST:PORT (process 0's address, a free port) and --num-processes, "
            "and its own --process-id; process 0 must be reachable") from None
    from jax._src.distributed import global_state

    return Cluster(jax.process_index(), jax.process_count(), str(global_state.coordinator_address))


class Meeting:
    """The two meeting points of a run over several processes (see the module docstring)."""

    def __init__(self, cluster: Cluster, timeout_s: float = 120.0, run_id: str = "run"):
        from jax._src.distributed import global_state

        self.cluster = cluster
        self.client = global_state.client
        self.timeout_ms = int(timeout_s * 1000)
        self.prefix = f"ngcspec/{run_id}"

    def _key(self, stage: str, who: int | str) -> str:
        return f"{self.prefix}/{stage}/{who}"

    def report(self, stage: str, error: BaseException | str | None = None) -> None:
        """Say how this process got through ``stage`` (None: fine)."""
        if error is None:
            text = "ok"
        else:
            text = "error: " + (error if isinstance(error, str) else _one_line(error))
        self.client.key_value_set(self._key(stage, self.cluster.process_id), text)

    def settle(self, stage: str) -> None:
        """Process 0: wait for every other process's report on ``stage``, tell them to go on
        or stop, and raise a DistributedError naming the processes that failed. Others:
        wait for process 0's word and stop if it says so."""
        if self.cluster.leader:
            failures = []
            for pid in range(1, self.cluster.num_processes):
                try:
                    got = self.client.blocking_key_value_get(self._key(stage, pid), self.timeout_ms)
                except Exception:
                    got = (f"error: no word within {self.timeout_ms // 1000} s (stopped, "
                           "unreachable, or still busy)")
                if got != "ok":
                    failures.append(f"process {pid}: {got.removeprefix('error: ')}")
            self.client.key_value_set(self._key(stage, "go"), "stop" if failures else "go")
            if failures:
                raise DistributedError(f"the run stopped {stage}: another process failed\n    "
                                       + "\n    ".join(failures))
            return
        try:
            word = self.client.blocking_key_value_get(self._key(stage, "go"), self.timeout_ms)
        except Exception:
            word = "lost"
        if word != "go":
            raise StoppedByProcessZero(
                f"process {self.cluster.process_id}: process 0 stopped the run {stage} "
                f"({'it reports why' if word == 'stop' else 'no word from it'})")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())[:2000]


def worker_env(n_devices: int) -> dict[str, str]:
    """Environment for a process of a localhost test with ``n_devices`` CPU devices."""
    from ngcspec.sharding import host_device_flag

    env = host_device_flag(n_devices)
    env.pop("JAX_PLATFORMS", None)
    return {**env, "JAX_PLATFORMS": "cpu"}


def free_port() -> int:
    """A TCP port nobody listens on now (for a coordinator on this machine)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

