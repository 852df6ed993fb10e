"""The resolver's seams: --set as a pure function, the loader it is handed, the state check."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

import ngcspec.checks.resources as resources
from ngcspec.errors import CircuitError, Problem
from ngcspec.loader import Loader
from ngcspec.overrides import apply_overrides, mention_overrides
from ngcspec.resolve import resolve, resolve_file
from ngcspec.yamlsrc import load_yaml

N, M, B = 1000, 3000, 8
SIZED = f"""ngcspec: 1
name: sized
dtype: {{dtype}}
components:
  x1: {{{{kind: RateCell, n_units: {N}, tau_m: 10.0}}}}
  W1: {{{{kind: DenseSynapse, shape: [{N}, {M}]}}}}
wires:
  - x1.zF -> W1.inputs
phases:
  run: {{{{batch_size: {B}, schedule: [reset, advance]}}}}
"""


def _state_bytes(itemsize: int) -> int:
    """By hand: RateCell j, j_td, z, zF (N per sample); DenseSynapse inputs (N) and outputs
    (M) per sample, weights and mask (N x M) and biases (M) once."""
    return itemsize * (4 * N * B + N * B + M * B + 2 * N * M + M)


@pytest.mark.parametrize("dtype,itemsize", [("float32", 4), ("float64", 8)])
def test_the_state_is_refused_exactly_when_it_exceeds_the_machine(monkeypatch, dtype, itemsize):
    text = SIZED.format(dtype=dtype)
    need = _state_bytes(itemsize)
    monkeypatch.setattr(resources, "_physical_memory", lambda: need)
    resolve_file(text)                                   # fits exactly
    monkeypatch.setattr(resources, "_physical_memory", lambda: need - 1)
    with pytest.raises(CircuitError) as exc:
        resolve_file(text)
    (p,) = exc.value.problems
    assert p.path == "components" and p.code == "too-large"
    assert p.message.startswith(f"the state needs {need:,} bytes ({need / 2**30:.1f} GiB)")


def test_overrides_leave_the_data_alone_and_say_where_they_landed():
    data = {"components": {"W1": {"kind": "DenseSynapse", "eta": 0.1}}, "run": {"epochs": 2}}
    before = copy.deepcopy(data)
    out, where = apply_overrides(data, {"W1.eta": 0.5, "run.epochs": 3, "W1.prior.leak": "x"})
    assert data == before
    assert out["components"]["W1"] == {"kind": "DenseSynapse", "eta": 0.5, "prior": {"leak": "x"}}
    assert out["run"] == {"epochs": 3}
    assert where == {("components", "W1", "eta"): "W1.eta=0.5", ("run", "epochs"): "run.epochs=3",
                     ("components", "W1", "prior", "leak"): "W1.prior.leak='x'"}


@pytest.mark.parametrize("dotted,message", [
    ("W2.eta", "--set W2.eta: 'W2' is neither a component nor a top-level field"),
    ("W1..eta", "--set W1..eta: empty name between dots"),
    ("W1.kind.x", "--set W1.kind.x: cannot set a field inside a non-mapping"),
])
def test_an_override_that_names_nothing_is_a_command_line_problem(dotted, message):
    data = {"components": {"W1": {"kind": "DenseSynapse"}}}
    with pytest.raises(CircuitError) as exc:
        apply_overrides(data, {dotted: 1})
    (p,) = exc.value.problems
    assert (p.message, p.file, p.code) == (message, "<command line>", "command-line")


def test_problems_under_an_overridden_path_name_their_set():
    where = {("components", "W1", "prior"): "W1.prior={'leak': -1}"}
    problems = [Problem("must be at least 0", path="components.W1.prior.leak"),
                Problem("unknown field", path="components.W10"),
                Problem("bad", path="components.W1")]
    out = mention_overrides(problems, where)
    assert out[0].message == ("must be at least 0 (value set on the command line: "
                              "--set W1.prior={'leak': -1})")
    assert [p.message for p in out[1:]] == ["unknown field", "bad"]   # W10 is not under W1


class MemoryLoader(Loader):
    """Serves arrays from a dict instead of files, recording them as the file loader does."""

    def __init__(self, base_dir, arrays):
        super().__init__(base_dir)
        self.arrays = arrays

    def array(self, name, key=None):
        self.files[name] = Path("/in-memory") / name
        return self.arrays[name]


def test_the_resolver_reads_files_only_through_the_loader_it_is_handed(tmp_path):
    text = """ngcspec: 1
name: loaded
components:
  x1: {kind: RateCell, n_units: 2, tau_m: 10.0}
  W1: {kind: DenseSynapse, shape: [2, 3], init: {weights: {file: w.npy}}}
wires:
  - x1.zF -> W1.inputs
schedule: [reset, advance]
"""
    weights = np.arange(6.0).reshape(2, 3)
    resolved = resolve(load_yaml(text), tmp_path, loader=MemoryLoader(tmp_path, {"w.npy": weights}))
    np.testing.assert_array_equal(resolved.components["W1"].initial["weights"], weights)
    assert resolved.files == (("w.npy", Path("/in-memory/w.npy")),)
    with pytest.raises(CircuitError, match="data file not found"):   # no w.npy on disk
        resolve(load_yaml(text), tmp_path)
    np.save(tmp_path / "w.npy", weights)
    assert resolve(load_yaml(text), tmp_path).files == (("w.npy", tmp_path / "w.npy"),)
