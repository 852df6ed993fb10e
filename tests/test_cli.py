"""The ngc command's normal paths (errors are covered in test_cli_errors.py)."""

import json
import re

import pytest
from typer.testing import CliRunner

from ngcspec.cli.app import app
from ngcspec.registry import kinds
from ngcspec.schema import schema_text

runner = CliRunner()

SMALL = """
ngcspec: 1
name: small
components:
  b: {kind: RateCell, n_units: 3, tau_m: 0.0}
  W: {kind: StaticSynapse, shape: [3, 3]}
  a: {kind: RateCell, n_units: 3, tau_m: 10.0}
  e: {kind: GaussianErrorCell, n_units: 3}
wires:
  - a.zF -> b.j
  - b.zF -> W.inputs
  - W.outputs -> e.mu
  - e.dmu ~> a.j_td
schedule: [reset, {advance: 2}]
"""


def test_components_lists_every_registered_kind():
    res = runner.invoke(app, ["components"], terminal_width=200)
    assert res.exit_code == 0
    for name in kinds():
        assert name in res.output


def test_components_kind_shows_parameters_and_compartments():
    res = runner.invoke(app, ["components", "RateCell"], terminal_width=250)
    assert res.exit_code == 0
    for param in kinds()["RateCell"].Params.model_fields:
        assert param in res.output
    for comp in ("j", "j_td", "z", "zF"):
        assert re.search(rf"\b{comp}\b", res.output)
    assert "tau_m" in res.output and "traced" in res.output


@pytest.mark.slow
def test_schema_command_prints_the_generated_schema(tmp_path):
    res = runner.invoke(app, ["schema"])
    assert res.exit_code == 0
    assert json.loads(res.output) == json.loads(schema_text())
    out = tmp_path / "s.json"
    res = runner.invoke(app, ["schema", "-o", str(out)])
    assert res.exit_code == 0 and out.read_text() == schema_text()


def test_graph_prints_the_derived_order_and_dot(tmp_path):
    f = tmp_path / "small.yaml"
    f.write_text(SMALL)
    res = runner.invoke(app, ["graph", str(f)], terminal_width=200)
    assert res.exit_code == 0
    lines = [l.strip() for l in res.output.splitlines() if re.match(r"\s+\d+\.", l)]
    assert [l.split()[1] for l in lines] == ["a", "b", "W", "e"]
    assert "e.dmu ~> a.j_td" in res.output
    dot = runner.invoke(app, ["graph", str(f), "--dot"])
    assert dot.exit_code == 0 and dot.output.startswith('digraph "small"')
    assert '"e" -> "a"' in dot.output and "style=dashed" in dot.output


def test_validate_valid_file_exits_zero(tmp_path):
    f = tmp_path / "small.yaml"
    f.write_text(SMALL)
    res = runner.invoke(app, ["validate", str(f)])
    assert res.exit_code == 0


def test_data_lists_the_shipped_sets():
    res = runner.invoke(app, ["data"], terminal_width=200)
    assert res.exit_code == 0
    assert "digits" in res.output and "diabetes" in res.output


def test_run_prints_small_final_records_without_unit_axes(tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "circuits" / "conv_stdp_pairing.yaml"
    res = runner.invoke(app, ["run", str(example), "--out", str(tmp_path), "--no-progress"],
                        terminal_width=200)
    assert res.exit_code == 0, res.output
    # a (3, 3, 1, 1) kernel shows as its 3 x 3 taps (the window of tap (0, 0): lag +20 ms)
    assert "run/K_conv.weights (3, 3, 1, 1):\n[[0.5014 0.5037 0.5061]" in res.output
