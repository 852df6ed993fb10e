"""How long ``ngc validate`` takes as a whole process: one file, and 100 files in one call.

Each measurement is a fresh ``python`` process running ``ngc validate`` (the command's own
entry point, ``ngcspec.cli.app.main``), timed from outside: wall time, and CPU time (user +
system, from ``getrusage``), which a busy shared machine inflates less than the wall time.
Runs of all commands are interleaved so that machine noise hits each alike; medians and
minima are reported, next to a bare ``python -c pass`` and the *dependencies alone* (importing
typer, rich, PyYAML and numpy and building one pydantic model: the floor under any
``ngc validate`` built on them).

The inputs are the tree's own ``circuits/pc_digits_classifier.yaml`` (a shipped data set,
64-128-10 predictive coding), 100 copies of it in one folder, and one generated file of 100
components (:func:`circuit_yaml`). ``--tree DIR`` times another
checkout of ngcspec (e.g. an older revision, ``git worktree add /tmp/old REV``) with the same
method, so *before* and *after* are measured alike:

    python benchmarks/bench_validate.py [--runs 9] [--tree DIR ...] [--importtime] [--json OUT]

``--importtime`` adds the slowest imports of one ``ngc validate`` (``python -X importtime``,
the minimum self time of each module over 5 runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
CIRCUIT = "circuits/pc_digits_classifier.yaml"

# ngc validate from the tree at argv[1]: its ngcspec first on the path, and its cli/ folder
# (installed as ngcspec.cli) loaded as that package, whatever the environment has installed
RUNNER = """\
import importlib.util, sys
tree = sys.argv[1]
sys.path.insert(0, tree)
import ngcspec
spec = importlib.util.spec_from_file_location(
    "ngcspec.cli", tree + "/cli/__init__.py", submodule_search_locations=[tree + "/cli"])
module = importlib.util.module_from_spec(spec)
sys.modules["ngcspec.cli"] = module
spec.loader.exec_module(module)
from ngcspec.cli.app import main
sys.argv = ["ngc", "validate", *sys.argv[2:]]
main()
"""


N_CELLS = 50  # and as many synapses: 100 components


def circuit_yaml(n: int = N_CELLS, width: int = 32) -> str:
    lines = ["ngcspec: 1", "name: chain-100", "dt: 1.0", "seed: 0", "components:"]
    for i in range(1, n + 1):
        lines.append(f"  z{i}: {{kind: RateCell, n_units: {width}, tau_m: 10.0, act_fx: tanh, "
                     f"prior: [gaussian, 0.01]}}")
    for i in range(1, n + 1):
        if i % 2:
            lines.append(f"  W{i}: {{kind: HebbianSynapse, shape: [{width}, {width}], eta: 0.01, "
                         f"w_bound: 0.0, weight_init: {{dist: gaussian, std: 0.05}}}}")
        else:
            lines.append(f"  W{i}: {{kind: StaticSynapse, shape: [{width}, {width}], "
                         f"weight_init: {{dist: uniform, low: -0.1, high: 0.1}}}}")
    lines.append("wires:")
    for i in range(1, n + 1):
        lines.append(f"  - z{i}.zF -> W{i}.inputs")
        if i < n:
            lines.append(f"  - W{i}.outputs -> z{i + 1}.j")
        if i % 2:
            lines.append(f"  - z{i}.zF -> W{i}.pre")
            lines.append(f"  - {'z' + str(i + 1) if i < n else 'z1'}.z -> W{i}.post")
        if i % 10 == 0:
            lines.append(f"  - -0.5 * z{i}.zF ~> z{i - 9}.j_td")
    plastic = ", ".join(f"W{i}" for i in range(1, n + 1, 2))
    lines += [
        "clamps:",
        "  z1.j: 1.0",
        "schedule:",
        "  - reset",
        "  - advance: 10",
        f"  - evolve: [{plastic}]",
        "phases:",
        "  train:",
        "    batches: 2",
        "    batch_size: 4",
        f"    metrics: {{activity: {{mean: z{n}.zF}}}}",
        "run:",
        "  epochs: 1",
        f"  record: {{z{n}.zF: per_batch}}",
    ]
    return "\n".join(lines) + "\n"


def run_once(cmd: list[str], env: dict) -> tuple[float, float, int]:
    """Wall time, CPU time (user + system) and exit status of one run of ``cmd``."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), proc.returncode


# The floor under any ``ngc validate``: importing the core dependencies it needs (the CLI's
# typer and rich, PyYAML, numpy for arrays and data) and building one pydantic model.
FLOOR = """\
import typer, rich.console, yaml, numpy
from pydantic import BaseModel
class Entry(BaseModel):
    x: int = 1
Entry(x=2)
"""


def commands(trees: list[Path], work: Path) -> dict[str, list[str]]:
    cmds = {"python -c pass": [sys.executable, "-c", "pass"],
            "dependencies alone": [sys.executable, "-c", FLOOR]}
    chain = work / "chain100.yaml"
    chain.write_text(circuit_yaml())
    for tree in trees:
        label = tree.name if tree != HERE else "this checkout"
        folder = work / f"copies-{len(cmds)}"
        folder.mkdir()
        text = (tree / CIRCUIT).read_text()
        for i in range(100):
            (folder / f"c{i:03d}.yaml").write_text(text)
        if (tree / "circuits" / "data").is_dir():   # arrays the circuit names relative to it
            (folder / "data").symlink_to(tree / "circuits" / "data")
        cmds[f"{label}: 1 file"] = [sys.executable, "-c", RUNNER, str(tree), str(tree / CIRCUIT)]
        files = sorted(str(p) for p in folder.glob("*.yaml"))   # named: older trees take no folder
        cmds[f"{label}: 100 files"] = [sys.executable, "-c", RUNNER, str(tree), *files]
        cmds[f"{label}: 100 components"] = [sys.executable, "-c", RUNNER, str(tree), str(chain)]
    return cmds


def import_profile(tree: Path, env: dict, runs: int = 5, top: int = 15) -> list[tuple[float, str]]:
    """(minimum self seconds over ``runs``, module) of the slowest imports of one validate."""
    best: dict[str, int] = {}
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-c", RUNNER, str(tree),
                               str(tree / CIRCUIT)], capture_output=True, text=True, env=env)
        for line in proc.stderr.splitlines():
            parts = line.split("|")
            if not line.startswith("import time:") or len(parts) != 3 or "self [us]" in line:
                continue
            name, us = parts[2].strip(), int(parts[0].split(":", 1)[1])
            best[name] = min(best.get(name, us), us)
    rows = sorted(((us / 1e6, name) for name, us in best.items()), reverse=True)
    return rows[:top] + [(sum(us for us in best.values()) / 1e6, "(all imports)")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=9, help="runs of each command")
    ap.add_argument("--tree", type=Path, action="append", default=[],
                    help="another ngcspec checkout to time the same way (repeatable)")
    ap.add_argument("--importtime", action="store_true", help="the slowest imports")
    ap.add_argument("--json", metavar="OUT", help="write the results to this JSON file")
    args = ap.parse_args(argv)

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    trees = [HERE] + [t.resolve() for t in args.tree]
    work = Path(tempfile.mkdtemp(prefix="ngcspec-bench-validate-"))
    try:
        cmds = commands(trees, work)
        for label, cmd in cmds.items():   # warm-up: writes bytecode, checks the command works
            _, _, rc = run_once(cmd, env)
            if rc != 0:
                print(f"{label} exited {rc}", file=sys.stderr)
                return 1
        wall: dict[str, list[float]] = {k: [] for k in cmds}
        cpu: dict[str, list[float]] = {k: [] for k in cmds}
        for _ in range(args.runs):
            for label, cmd in cmds.items():
                w, c, _ = run_once(cmd, env)
                wall[label].append(w)
                cpu[label].append(c)
        results = {
            "machine": {"cpu": _cpu(), "cores": os.cpu_count(),
                        "load_average": os.getloadavg()},
            "versions": {"python": platform.python_version(), **_versions()},
            "runs": args.runs, "trees": [str(t) for t in trees],
            "wall_s": {k: _stats(v) for k, v in wall.items()},
            "cpu_s": {k: _stats(v) for k, v in cpu.items()},
        }
        print(f"machine: {results['machine']['cpu']}, {results['machine']['cores']} cores, "
              f"load {results['machine']['load_average'][0]:.1f}; {results['versions']}")
        print(f"{args.runs} interleaved runs each    wall median (min)    CPU median (min)")
        for label in cmds:
            w, c = results["wall_s"][label], results["cpu_s"][label]
            print(f"  {label:32s} {w['median']:6.3f} s ({w['min']:.3f})   "
                  f"{c['median']:6.3f} s ({c['min']:.3f})")
        if args.importtime:
            results["imports"] = {}
            for tree in trees:
                rows = import_profile(tree, env)
                results["imports"][str(tree)] = rows
                print(f"\nslowest imports of one ngc validate, {tree} (min self time of 5 runs):")
                for s, name in rows:
                    print(f"  {s * 1e3:7.1f} ms  {name}")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
            print(f"wrote {args.json}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _versions() -> dict:
    from importlib.metadata import version

    out = {}
    for pkg in ("pydantic", "pyyaml", "typer", "rich", "numpy"):
        try:
            out[pkg] = version(pkg)
        except Exception:
            out[pkg] = "?"
    return out


if __name__ == "__main__":
    sys.exit(main())
