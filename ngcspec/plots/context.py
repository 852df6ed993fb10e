"""What the plots need to know about a run: its records, its circuit, and what each recorded
compartment is (spikes, a voltage, a weight matrix, an image-shaped population).

Everything here is read from the run directory and the component registry; nothing runs the
circuit again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ngcspec.errors import NgcspecError
from ngcspec.rundir import RunData, load_run
from ngcspec.schedule import steps_per_batch


@dataclass(frozen=True)
class Recorded:
    """One record of a run: ``phase/comp.part`` and what it holds."""

    key: str
    phase: str
    comp: str
    part: str
    mode: str
    array: np.ndarray
    kind: str                 # component kind
    doc: str                  # the compartment's description in the registry
    batched: bool
    unit_shape: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"{self.comp}.{self.part}"

    @property
    def is_spikes(self) -> bool:
        return self.doc.startswith("spikes")

    @property
    def unit(self) -> str:
        """The physical unit named in the compartment's description, e.g. 'mV'."""
        m = re.search(r"\((mV|ms|Hz|nS|pA|nA|mS)\b", self.doc)
        return m.group(1) if m else "a.u."


class RunView:
    """A run read back for plotting: records by kind, the circuit resolved when possible."""

    def __init__(self, run: RunData):
        self.run = run
        self.summary = run.summary
        self.name = run.summary.get("name", run.path.name)
        self.seed = run.summary.get("seed")
        self.resolved = _resolve(run)
        spec = self.resolved.spec if self.resolved is not None else None
        self.dt = float(spec.dt) if spec is not None else 1.0
        self.records = self._classify()

    @classmethod
    def load(cls, path: str | Path) -> "RunView":
        return cls(load_run(path, check=False))

    # -- records ----------------------------------------------------------------------------
    def _classify(self) -> list[Recorded]:
        out = []
        r = self.resolved
        for key, arr in self.run.records.items():
            phase, _, ref = key.partition("/")
            comp, _, part = ref.partition(".")
            mode, kind, doc, batched, shape = "per_step", "", "", True, ()
            if r is not None and phase in r.phases and comp in r.components:
                rc = r.components[comp]
                mode = r.phases[phase].record.get((comp, part), mode)
                spec = rc.kind.compartments.get(part)
                kind = rc.kind.kind
                if spec is not None:
                    doc, batched, shape = spec.doc, spec.batched, tuple(rc.shapes[part])
            out.append(Recorded(key, phase, comp, part, mode, arr, kind, doc, batched, shape))
        return out

    def title(self, what: str, phase: str | None = None, extra: str = "") -> str:
        """'circuit: what (phase), seed S' and the details (on a second line when long)."""
        where = f" ({phase})" if phase else ""
        head = f"{self.name}: {what}{where}, seed {self.seed}"
        if extra and len(head) + len(extra) > 60:
            return head + "\n" + extra.lstrip("; ")
        return head + extra

    # -- the circuit ------------------------------------------------------------------------
    def param(self, comp: str, name: str, default=None):
        if self.resolved is None or comp not in self.resolved.components:
            return default
        return getattr(self.resolved.components[comp].params, name, default)

    def phase_epochs(self, phase: str) -> list[int]:
        """The epochs (from 1) in which ``phase`` ran: as summary.json lists them, or
        every N-th and the last."""
        listed = self.summary.get("phase_epochs", {}).get(phase)
        if listed is not None:
            return [int(e) + 1 for e in listed]
        epochs = int(self.summary.get("epochs", 0))
        every = 1
        if self.resolved is not None and phase in self.resolved.phases:
            every = self.resolved.phases[phase].every
        ran = [e + 1 for e in range(epochs) if (e + 1) % every == 0 or e == epochs - 1]
        n = len(self.summary.get("metrics", {}).get(phase, []))
        return ran[-n:] if n and len(ran) >= n else ran or list(range(1, n + 1))

    def steps(self, phase: str) -> int | None:
        """Steps a batch of ``phase`` takes (what a per-step record holds per sample)."""
        if self.resolved is None or phase not in self.resolved.phases:
            return None
        return steps_per_batch(self.resolved.phases[phase].schedule) or None

    def samples(self, phase: str) -> int | None:
        """Samples in one epoch of ``phase``."""
        if self.resolved is None or phase not in self.resolved.phases:
            return None
        ph = self.resolved.phases[phase]
        return ph.data.n if ph.data is not None else ph.batches * ph.batch_size

    def weights(self) -> dict[str, np.ndarray]:
        """Final weight matrices by component (the checkpoint's 'weights' compartments)."""
        out = {}
        for comp, parts in self.run.state.items():
            w = parts.get("weights")
            if w is None or w.ndim not in (2, 4):
                continue
            if self.resolved is not None and comp in self.resolved.components:
                spec = self.resolved.components[comp].kind.compartments.get("weights")
                if spec is None or spec.role != "weight" or self.resolved.components[comp].tie:
                    continue
            out[comp] = np.asarray(w)
        return out

    def initial_weights(self, comp: str) -> np.ndarray | None:
        for rec in self.records:
            if rec.comp == comp and rec.part == "weights" and rec.mode == "initial":
                return np.asarray(rec.array)
        return None

    def pre_image_shape(self, comp: str) -> tuple[int, ...] | None:
        """The image shape of what feeds ``comp.inputs``: a cell declared with ``shape:
        [H, W, C]``, or a cell clamped to a data set that declares the image shape of its
        rows (the shipped digits: 8 x 8). None when the input is not an image."""
        r = self.resolved
        if r is None:
            return None
        for w in r.wires:
            if w.dst != comp or w.dst_comp != "inputs":
                continue
            shape = getattr(r.components[w.src].params, "shape", None)
            if shape is not None and len(shape) == 3:
                return tuple(int(d) for d in shape)
            found = self._clamped_image(w.src)
            if found is not None:
                return found
        return None

    def _clamped_image(self, comp: str) -> tuple[int, ...] | None:
        from ngcspec.data import dataset_info

        r = self.resolved
        for ph in r.phases.values():
            for c in ph.clamps:
                if c.component != comp or c.source != "data" or c.field != "x" or ph.data is None:
                    continue
                source = r.spec.data.get(ph.data.name)
                if source is not None and source.dataset is not None:
                    shape = dataset_info(source.dataset).image_shape
                    if shape is not None:
                        return tuple(shape)
        return None

    def labels(self, phase: str) -> np.ndarray | None:
        """The labels of a phase's data in the order the phase saw them (None if shuffled)."""
        r = self.resolved
        if r is None or phase not in r.phases or r.phases[phase].data is None:
            return None
        data = r.phases[phase].data
        if data.shuffle or "label" not in data.arrays:
            return None
        return np.asarray(data.arrays["label"])


def _resolve(run: RunData):
    """The run's circuit, resolved against its run directory or the folder of its source
    (where its relative data files live); None if neither works (plots that need only the
    records still work)."""
    from ngcspec.resolve import resolve
    from ngcspec.yamlsrc import load_yaml

    bases = [run.path]
    source = run.summary.get("source")
    if source and not str(source).startswith("<"):
        bases.append(Path(source).parent)
    for base in bases:
        try:
            return resolve(load_yaml(run.circuit_yaml, str(run.path / "circuit.yaml")), base)
        except (NgcspecError, OSError):
            continue
    return None
