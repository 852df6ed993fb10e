"""``ngc validate --deep``: the program is built and traced abstractly, never run; what only
tracing finds is a located problem, and the memory estimate comes per phase."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRACEBACK = "Traceback (most recent call last)"

CIRCUIT = """\
ngcspec: 1
name: deep
components:
  x1: {kind: RateCell, n_units: 4, tau_m: 0.0}
  d: {kind: DeepTestKind, n_units: 4}
  y1: {kind: RateCell, n_units: 4, tau_m: 10.0}
wires:
  - x1.zF -> d.inputs
  - d.outputs -> y1.j
clamps:
  x1.j: {constant: [1.0, 0.0, 0.5, 0.25]}
schedule: [reset, {advance: 3}]
"""


def _main(args, capsys, monkeypatch):
    from ngcspec.cli.app import main

    monkeypatch.setattr(sys, "argv", ["ngc", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    out = capsys.readouterr()
    assert TRACEBACK not in out.out + out.err
    return exc.value.code, out.out, out.err


def _kind(monkeypatch, advance):
    """A kind registered for this test only, with the given (possibly wrong) step."""
    from pydantic import Field

    from ngcspec import registry
    from ngcspec.registry import Component, ComponentParams, In, Out

    class DeepTestKind(Component):
        """Test kind."""

        class Params(ComponentParams):
            n_units: int = Field(..., gt=0)

        compartments = {"inputs": In("n_units", "input"), "outputs": Out("n_units", "output")}

    DeepTestKind.advance = classmethod(lambda cls, p, s, ctx: advance(s))
    DeepTestKind.kind = "DeepTestKind"
    registry.kinds()   # the shipped library first, then the test kind beside it
    monkeypatch.setitem(registry._REGISTRY, "DeepTestKind", DeepTestKind)


@pytest.mark.slow
def test_a_step_that_fails_when_traced_is_found_only_by_tracing(tmp_path, capsys, monkeypatch):
    import json

    _kind(monkeypatch, lambda s: {"outputs": s["inputs"].reshape(s["inputs"].shape[0], 2, 3)})
    f = tmp_path / "deep.yaml"
    f.write_text(CIRCUIT)
    code, out, err = _main(["validate", str(f)], capsys, monkeypatch)
    assert (code, out, err.strip()) == (0, "", "1 file, 0 errors")   # the file itself is fine
    code, out, err = _main(["validate", "--deep", "-f", "json", str(f)], capsys, monkeypatch)
    assert code == 1
    (p,) = json.loads(out)
    assert (p["line"], p["column"], p["path"], p["code"]) == (5, 6, "components.d", "trace-failed")
    assert p["message"].startswith("tracing the compiled program failed in phase 'run' at d "
                                   "(DeepTestKind): TypeError: ")
    assert "(1, 4)" in p["message"] and "(1, 2, 3)" in p["message"]   # batch of 1, 4 units


def test_a_step_that_fails_inside_jax_is_located_too(tmp_path, capsys, monkeypatch):
    from ngcspec.lazy import jnp

    _kind(monkeypatch, lambda s: {"outputs": s["inputs"] @ jnp.ones((3, 4))})
    f = tmp_path / "deep.yaml"
    f.write_text(CIRCUIT)
    code, out, err = _main(["validate", "--deep", str(f)], capsys, monkeypatch)
    assert code == 1
    assert out.startswith(f"{f}:5:6: error at components.d: tracing the compiled program failed "
                          "in phase 'run' at d (DeepTestKind): TypeError: ")
    assert "hint: the file passed every other check" in out


def test_a_record_too_large_for_memory_is_found_by_the_estimate(tmp_path, capsys, monkeypatch):
    from ngcspec import memory

    f = tmp_path / "big.yaml"
    f.write_text(textwrap.dedent("""\
        ngcspec: 1
        name: big-record
        components:
          x1: {kind: RateCell, n_units: 1000, tau_m: 10.0}
        clamps:
          x1.j: 1.0
        schedule: [reset, {advance: 100000}]
        phases:
          run: {batches: 1000, batch_size: 10}
        run:
          epochs: 1
          record: {x1.z: per_step}
        """))
    # 1000 units x 4 bytes x 100,000 steps x 10,000 samples = 4e12 bytes of record
    monkeypatch.setattr(memory, "available_bytes", lambda: (64 * 2**30, "a 64 GiB test machine"))
    code, out, err = _main(["validate", str(f)], capsys, monkeypatch)
    assert code == 0
    code, out, err = _main(["validate", "--deep", str(f)], capsys, monkeypatch)
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith(f"{f}:12:12: error at run.record.x1.z: this run needs about ")
    assert "record run/x1.z" in first and "64.0 GiB is available (a 64 GiB test machine)" in first
    assert f"{f}: estimated memory, phase run: " in out


@pytest.mark.slow
@pytest.mark.parametrize("name", [p.name for p in sorted((ROOT / "circuits").glob("*.yaml"))])
def test_every_shipped_circuit_traces(name, capsys, monkeypatch):
    import ngcspec.resolve

    f = ROOT / "circuits" / name
    code, out, err = _main(["validate", "--deep", str(f)], capsys, monkeypatch)
    assert (code, err.strip()) == (0, "1 file, 0 errors"), out
    for phase in ngcspec.resolve.resolve_file(f).phases:   # one memory line per phase
        assert f"{f}: estimated memory, phase {phase}: " in out, (f, phase)
