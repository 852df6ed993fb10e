"""The resolved form of a circuit: what the resolver hands the compiler.

Everything here has been checked (names, shapes, roles, files, data); the compiler, the
memory estimate, run directories and plots read it and never the file's own model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from ngcspec.registry import Component
    from ngcspec.spec import CircuitSpec


@dataclass(frozen=True)
class ResolvedComponent:
    name: str
    kind: type[Component]
    params: Any                                 # the kind's Params model
    shapes: dict[str, tuple[int, ...]]
    tie: Any = None                             # spec.Tie
    initial: dict[str, np.ndarray] = field(default_factory=dict)
    normalize: Any = None                       # spec.Normalize


@dataclass(frozen=True)
class ResolvedWire:
    index: int
    src: str
    src_comp: str
    dst: str
    dst_comp: str
    scale: float | None         # None: carried unchanged; a number: a traced factor
    delayed: bool
    evolve_only: bool = False   # feeds an input that only plasticity reads

    @property
    def orders_step(self) -> bool:
        """Whether the reader must run after the source within a step."""
        return not self.delayed and not self.evolve_only

    def __str__(self) -> str:
        scale = "" if self.scale is None else f"{self.scale:g} * "
        return f"{scale}{self.src}.{self.src_comp} {'~>' if self.delayed else '->'} {self.dst}.{self.dst_comp}"


@dataclass(frozen=True)
class ResolvedClamp:
    component: str
    compartment: str
    source: str                   # "data", "constant", "stimulus" or "data_stimulus" (per sample)
    field: str | None = None      # data field (x, y, label)
    value: np.ndarray | None = None  # constant per-sample value, or (T, *shape) stimulus


@dataclass(frozen=True)
class ResolvedData:
    name: str
    arrays: dict[str, np.ndarray]   # field -> (N, ...) arrays
    batch_size: int
    shuffle: bool

    @property
    def n(self) -> int:
        return len(next(iter(self.arrays.values())))


@dataclass(frozen=True)
class ResolvedPhase:
    name: str
    data: ResolvedData | None
    clamps: tuple[ResolvedClamp, ...]
    schedule: tuple                       # of ngcspec.schedule entries (ResetOp, AdvanceOp, ...)
    metrics: dict[str, tuple[str, str, str]]   # name -> ("mean"|"accuracy", component, compartment)
    record: dict[tuple[str, str], str]
    every: int
    batches: int
    batch_size: int
    # mean metrics: name -> (unit of each sample or None for all, factor applied to the sum)
    metric_units: dict[str, tuple[int | None, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Resolved:
    spec: CircuitSpec
    file: str
    base_dir: Path
    components: dict[str, ResolvedComponent]
    wires: tuple[ResolvedWire, ...]
    order: tuple[str, ...]
    phases: dict[str, ResolvedPhase]
    raw: Any                                # the file's data after overrides (for the run record)
    files: tuple[tuple[str, Path], ...] = ()  # every user file read: (name as written, absolute path)
    # what the compiler needs of the file's top level, so it never reads the file model
    dt: float = 1.0
    dtype: str = "float32"
    seed: int = 0
    check_finite: bool = True
