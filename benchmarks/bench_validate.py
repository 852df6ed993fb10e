"""How long ``ngc validate`` takes on a 100-component circuit file.

The file is generated: a chain of 50 RateCells and 50 synapses (HebbianSynapse and
StaticSynapse alternating), ``z_i.zF -> W_i.inputs -> ... -> W_i.outputs -> z_{i+1}.j``, with
Hebbian pre/post wires, a delayed feedback wire every tenth cell, a constant clamp, a
schedule and one phase without data. Reported:

* the CLI as a subprocess (``ngc validate FILE``, median of several interleaved runs), next
  to a bare ``python -c pass`` and ``python -c "import ngcspec.resolve"`` for scale: wall
  time, and CPU time (user + system, from ``getrusage``), which a busy shared machine
  inflates much less than the wall time;
* ``resolve_file`` in-process: the import, the first call and the median of later calls;
* whether validation imported JAX (it must not);
* with ``--profile``: the largest imports (``python -X importtime``) and the functions
  taking the most time in ``resolve_file`` (cProfile).

    python benchmarks/bench_validate.py [--runs 7] [--profile] [--json OUT]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def ngc_command() -> list[str]:
    exe = shutil.which("ngc", path=os.path.dirname(sys.executable) + os.pathsep
                       + os.environ.get("PATH", ""))
    if exe:
        return [exe]
    return [sys.executable, "-m", "ngcspec.cli.app"]


def wall(cmd: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``cmd``.

    On a shared machine the wall time includes waiting for a core; the CPU time does not."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, capture_output=True, text=True)
    w = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return w, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def import_profile(path: Path, top: int = 15) -> list[tuple[float, float, str]]:
    """(cumulative s, self s, module) of the slowest imports of ``ngc validate``."""
    code = ("import sys\nfrom ngcspec.cli.app import main\n"
            f"sys.argv = ['ngc', 'validate', {str(path)!r}]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                          capture_output=True, text=True)
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or "self [us]" in line:
            continue
        self_us, cum_us, name = parts[0].split(":", 1)[1], parts[1], parts[2]
        rows.append((int(cum_us) / 1e6, int(self_us) / 1e6, name.rstrip()))
    top_level = [r for r in rows if not r[2].startswith("  ")]
    return sorted(top_level, reverse=True)[:top], sorted(rows, key=lambda r: -r[1])[:top]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7, help="subprocess runs per command")
    ap.add_argument("--profile", action="store_true", help="import times and cProfile")
    ap.add_argument("--json", metavar="OUT", help="write the results to this JSON file")
    args = ap.parse_args(argv)

    tmp = tempfile.TemporaryDirectory(prefix="ngcspec-validate-")
    path = Path(tmp.name) / "chain100.yaml"
    path.write_text(circuit_yaml())
    cmds = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import ngcspec.resolve": [sys.executable, "-c", "import ngcspec.resolve"],
        "ngc validate": ngc_command() + ["validate", str(path)],
    }
    first = subprocess.run(cmds["ngc validate"], capture_output=True, text=True)
    if first.returncode != 0:
        print("ngc validate failed on the generated file:\n" + first.stdout + first.stderr,
              file=sys.stderr)
        return 1
    times: dict[str, list[float]] = {k: [] for k in cmds}
    cpu: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(args.runs):  # interleaved, so machine noise hits each alike
        for k, cmd in cmds.items():
            w, c = wall(cmd)
            times[k].append(w)
            cpu[k].append(c)
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}

    # in-process: first call pays the imports of the validation path, not JAX
    t = time.perf_counter()
    from ngcspec.resolve import resolve_file
    import_s = time.perf_counter() - t
    t, c = time.perf_counter(), time.process_time()
    r = resolve_file(path)
    first_s, first_cpu = time.perf_counter() - t, time.process_time() - c
    later, later_cpu = [], []
    for _ in range(max(5, args.runs)):
        t, c = time.perf_counter(), time.process_time()
        resolve_file(path)
        later.append(time.perf_counter() - t)
        later_cpu.append(time.process_time() - c)
    jax_imported = any(m == "jax" or m.startswith("jax.") for m in sys.modules)

    results = {
        "machine": {"cpu": _cpu(), "cores": os.cpu_count()},
        "versions": {"python": platform.python_version(), **_versions()},
        "file": {"components": len(r.components), "wires": len(r.wires),
                 "lines": path.read_text().count("\n")},
        "subprocess_s_median": med,
        "subprocess_s_all": times,
        "subprocess_cpu_s_median": med_cpu,
        "subprocess_cpu_s_all": cpu,
        "cli_minus_python_s": med["ngc validate"] - med["python -c pass"],
        "resolve_file_import_s": import_s,
        "resolve_file_first_s": first_s,
        "resolve_file_first_cpu_s": first_cpu,
        "resolve_file_s_median": statistics.median(later),
        "resolve_file_cpu_s_median": statistics.median(later_cpu),
        "jax_imported_by_validation": jax_imported,
        "target_s": 0.5,
    }
    print(f"machine: {results['machine']['cpu']}, {results['machine']['cores']} cores; "
          f"versions: {results['versions']}")
    print(f"file: {results['file']['components']} components, {results['file']['wires']} wires, "
          f"{results['file']['lines']} lines")
    print(f"subprocess, median of {args.runs}:        wall      CPU (user+sys)")
    for k, v in med.items():
        print(f"  {k:24s} {v:7.3f} s  {med_cpu[k]:7.3f} s")
    print(f"resolve_file in-process: import {import_s:.3f} s, first call {first_s:.3f} s "
          f"(CPU {first_cpu:.3f} s), later calls {results['resolve_file_s_median'] * 1e3:.1f} ms "
          f"(CPU {results['resolve_file_cpu_s_median'] * 1e3:.1f} ms), medians")
    print(f"JAX imported by validation: {jax_imported}")
    ok = med["ngc validate"] < 0.5
    print(f"target ngc validate < 0.5 s: {'met' if ok else 'NOT met'} (wall); "
          f"{'met' if med_cpu['ngc validate'] < 0.5 else 'NOT met'} (CPU time)")

    if args.profile:
        cum, self_ = import_profile(path)
        results["imports_top_cumulative"] = cum
        results["imports_top_self"] = self_
        print("\nslowest top-level imports of `ngc validate` (cumulative s, self s):")
        for c, s, name in cum:
            print(f"  {c:6.3f} {s:6.3f}  {name.strip()}")
        print("largest self times:")
        for c, s, name in self_:
            print(f"  {c:6.3f} {s:6.3f}  {name.strip()}")
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(3):
            resolve_file(path)
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(25)
        results["resolve_file_cprofile"] = buf.getvalue()
        print("\nresolve_file, 3 calls, by cumulative time:")
        print("\n".join(buf.getvalue().splitlines()[:45]))

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    tmp.cleanup()
    return 0


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
    for pkg in ("ngcspec", "pydantic", "pyyaml", "typer", "numpy"):
        try:
            out[pkg] = version(pkg)
        except Exception:
            out[pkg] = "?"
    return out


if __name__ == "__main__":
    sys.exit(main())
