"""COBA benchmark: circuits/coba.yaml (4000 LIF, 2% connectivity, 1 s at dt 0.1 ms) timed,
beside the same network in Brian2 (runtime and C++ standalone) and written by hand in JAX.

ngcspec rows (one compiled epoch = 10 000 steps):

* ``construct``: building the network (drawing the connection lists: ``init_state``), warm;
* ``compile``: the first epoch call minus a steady one (trace + XLA compile);
* ``run``: one epoch call, warm (best of the repeats; the median is printed too), with the
  NaN/Inf check off (as Brian2, which has none) and on (ngcspec's default: as ``ngc run``
  checks, one fused reduction per batch; the per-step replay runs only after a failure),
  and with the native CPU kernels off (``XLA path``: the event path GPUs run, compacting
  spikes with ``top_k``).

``hand``: the same step written directly as one ``lax.scan`` with the same event-driven
scatter (ngcspec.components.events.sparse_transmit, i.e. the native kernel) and Euler
update: what the framework costs on top of the math.

Brian2 rows run ``benchmarks/coba_brian2.py`` in a separate environment (``--brian2``,
default /work/venv-brian2/bin/python; Brian2 is never an ngcspec dependency): ``run_s`` is
Brian2's time for ``run(1 * second)`` without code generation and compilation (runtime mode:
Cython; standalone: the C++ binary's own measure, single thread).

Calls are interleaved (ngcspec, hand, Brian2 runtime, Brian2 standalone, ...) so a shared
machine's noise hits all alike.

    python benchmarks/bench_coba.py                  # about two minutes on 2 CPU cores
    python benchmarks/bench_coba.py --repeats 3 --json out.json

``--scaled 4000,16000,100000``: circuits/coba_scaled.yaml at each N (p = 80 / N, initial
state drawn in the circuit), built with ``ngcspec.load(..., overrides=scaled_overrides(N))``,
beside Brian2 standalone with the same N and p. Build = everything before the simulation
starts: for ngcspec loading, drawing the network (``init_state``, first call, its compile
included) and compiling the epoch; for Brian2 standalone its script's wall time minus the
binary's run (code generation, C++ build, and the binary's synapse creation). Run = 1 s of
biological time, warm, check off (ngcspec's process CPU time is printed beside its wall
time: on a shared machine the wall time also counts waiting for a core). ``--brian2 ''``
times ngcspec alone (e.g. N = 1,000,000).

``--cpus 1``: this process and Brian2's (which inherits it) run on the first core only, as
``ngc run --cpus 1``: XLA then runs each elementwise step on one thread instead of splitting
it over both cores, which on a loaded 2-core machine costs more than it gains.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
COBA = ROOT / "circuits" / "coba.yaml"
SCALED = ROOT / "circuits" / "coba_scaled.yaml"


def scaled_overrides(n: int) -> dict:
    """Overrides that make circuits/coba_scaled.yaml a network of ``n`` neurons: 80% E,
    20% I, connection probability 80 / n; the XLA path's spike bounds at three times a
    population's mean count per step at 20 Hz (as the file's at 16,000)."""
    n_e = n * 4 // 5
    p = 80.0 / n

    def bound(units, least):
        return max(least, -(-(-(-units * 6 // 1000)) // 8) * 8)

    return {"exc.shape": [n, n], "exc.pre_range": [0, n_e], "exc.p_conn": p,
            "exc.max_spikes": bound(n_e, 32),
            "inh.shape": [n, n], "inh.pre_range": [n_e, n], "inh.p_conn": p,
            "inh.max_spikes": bound(n - n_e, 16),
            "cells.n_units": n, "count.n_units": n}


def versions() -> dict:
    import jax

    import ngcspec
    from ngcspec import native
    return {"python": platform.python_version(), "jax": jax.__version__,
            "numpy": np.__version__, "ngcspec": ngcspec.__version__,
            "backend": jax.default_backend(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "cores_used": len(os.sched_getaffinity(0)),
            "load_average": os.getloadavg(), "native_kernels": native.status()}


class Ngcspec:
    def __init__(self, check_finite: bool, native: bool = True):
        from ngcspec import native as kernels

        with contextlib.nullcontext() if native else kernels.disabled():
            self._build(check_finite)

    def _build(self, check_finite: bool):
        import jax

        import ngcspec
        from ngcspec.circuit import Circuit
        from ngcspec.compiler import Program

        t = time.perf_counter()
        c = ngcspec.load(COBA)
        self.circuit = Circuit(c.resolved, Program(c.resolved, check_finite=check_finite))
        self.load_s = time.perf_counter() - t
        t = time.perf_counter()
        self.state = jax.block_until_ready(self.circuit.init_state())
        self.construct_first_s = time.perf_counter() - t
        t = time.perf_counter()
        self.state = jax.block_until_ready(self.circuit.init_state())
        self.construct_s = time.perf_counter() - t
        self.pp = self.circuit.program.phase("run")
        self.fn = self.pp.jitted(check="batch" if check_finite else "off")
        self.data = self.pp.device_data()
        self.first_s, out = self.call()
        self.rate = self.rate_of(out)

    def call(self):
        import jax

        t = time.perf_counter()
        out = jax.block_until_ready(self.fn(self.circuit.params, self.state, self.data, 0, 0))
        return time.perf_counter() - t, out

    @staticmethod
    def rate_of(out) -> float:
        s, n = out[1]["full"]["metrics"]["rate"]
        return float(np.sum(s) / np.sum(n))


class Hand:
    """The COBA step by hand: one lax.scan, the same scatter and Euler update."""

    def __init__(self):
        import jax
        import jax.numpy as jnp
        from jax import lax

        from ngcspec.components import events

        n, n_e, dt = 4000, 3200, 0.1
        d = np.load(ROOT / "circuits" / "data" / "coba_init.npz")
        mo = events.default_max_out(n, 0.02)
        t_e, w_e = events.draw_connections(jax.random.PRNGKey(0), 0.02, (n_e, n), mo, None,
                                           jnp.float32)
        t_i, w_i = events.draw_connections(jax.random.PRNGKey(1), 0.02, (n - n_e, n), mo, None,
                                           jnp.float32)

        def step(c, _):
            v, ge, gi, rfr, s, cnt = c
            ge = ge - dt / 5.0 * ge + 0.6 * events.sparse_transmit(s[None, :n_e], t_e, w_e, n, 32)[0]
            gi = gi - dt / 10.0 * gi + 6.7 * events.sparse_transmit(s[None, n_e:], t_i, w_i, n, 16)[0]
            m = (rfr + 0.01 * dt >= 5.0).astype(v.dtype)
            v = v + dt / 20.0 * ((-60.0 - v) + (ge * (0.0 - v) + gi * (-80.0 - v)) * m)
            s = (v > -50.0).astype(v.dtype)
            rfr = (rfr + dt) * (1.0 - s)
            v = jnp.where(s > 0, -60.0, v)
            return (v, ge, gi, rfr, s, cnt + s), None

        self.c0 = tuple(jnp.asarray(x, jnp.float32) for x in
                        (d["v"], d["ge"], d["gi"], np.full(n, 5.0), np.zeros(n), np.zeros(n)))
        t = time.perf_counter()
        self.fn = jax.jit(lambda c: lax.scan(step, c, None, length=10_000)[0]).lower(
            self.c0).compile()
        self.compile_s = time.perf_counter() - t
        _, out = self.call()
        self.rate = float(np.asarray(out[5]).mean())

    def call(self):
        import jax

        t = time.perf_counter()
        out = jax.block_until_ready(self.fn(self.c0))
        return time.perf_counter() - t, out


def brian2(python: str, mode: str, n: int | None = None) -> dict | None:
    extra = [] if n is None else ["1", str(n)]
    try:
        p = subprocess.run([python, str(ROOT / "benchmarks" / "coba_brian2.py"), mode, *extra],
                           capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"brian2 {mode}: {exc}", file=sys.stderr)
        return None
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode or not lines:
        print(f"brian2 {mode} failed:\n{p.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(lines[-1])


class Scaled:
    """circuits/coba_scaled.yaml at ``n`` neurons: build timed in parts, then warm runs."""

    def __init__(self, n: int):
        import jax

        import ngcspec
        from ngcspec.circuit import Circuit
        from ngcspec.compiler import Program

        t = time.perf_counter()
        c = ngcspec.load(SCALED, overrides=scaled_overrides(n))
        self.circuit = Circuit(c.resolved, Program(c.resolved, check_finite=False))
        self.load_s = time.perf_counter() - t
        t = time.perf_counter()
        self.state = jax.block_until_ready(self.circuit.init_state())
        self.construct_s = time.perf_counter() - t
        self.synapses = sum(int(np.sum(np.asarray(self.state[s]["targets"]) < n))
                            for s in ("exc", "inh"))
        pp = self.circuit.program.phase("run")
        self.fn, self.data = pp.jitted(check="off"), pp.device_data()
        self.first_s, out = self.call()
        self.rate = Ngcspec.rate_of(out)

    def call(self):
        import jax

        t, c = time.perf_counter(), time.process_time()
        out = jax.block_until_ready(self.fn(self.circuit.params, self.state, self.data, 0, 0))
        self.cpu_s = time.process_time() - c
        return time.perf_counter() - t, out


def scaled(sizes, repeats: int, python: str) -> dict:
    """ngcspec and Brian2 standalone at each size, calls interleaved."""
    use_brian = bool(python) and Path(python).exists()
    out = {}
    for n in sizes:
        ours = Scaled(n)
        runs, cpus, b_runs, b_builds, b_rates = [], [], [], [], []
        for _ in range(repeats):
            runs.append(ours.call()[0])
            cpus.append(ours.cpu_s)
            r = brian2(python, "standalone", n) if use_brian else None
            if r:
                b_runs.append(r["run_s"])
                b_builds.append(r["total_s"] - r["run_s"])
                b_rates.append(0.8 * r["rate_E"] + 0.2 * r["rate_I"])
        run = min(runs)
        build = ours.load_s + ours.construct_s + ours.first_s - run
        row = {"n": n, "synapses": ours.synapses, "load_s": ours.load_s,
               "construct_s": ours.construct_s, "compile_s": ours.first_s - run,
               "build_s": build, "run_s": run, "run_median_s": statistics.median(runs),
               "run_cpu_s": min(cpus), "rate_hz": ours.rate}
        if b_runs:
            row.update(brian2_build_s=min(b_builds), brian2_run_s=min(b_runs),
                       brian2_run_median_s=statistics.median(b_runs),
                       brian2_rate_hz=b_rates[-1], build_ratio=build / min(b_builds),
                       run_ratio=run / min(b_runs))
        out[n] = row
        print(json.dumps(row), flush=True)
        del ours
    print(f"load average {os.getloadavg()[0]:.1f}; best of {repeats} (median)")
    print(f"{'N':>9s} {'synapses':>10s} {'construct':>9s} {'build s':>8s} {'run s':>15s} "
          f"{'cpu s':>6s} {'Hz':>5s} | {'B2 build':>8s} {'B2 run':>15s} {'Hz':>5s} | "
          f"build x  run x")
    for n, r in out.items():
        b = (f"{r['brian2_build_s']:8.2f} {r['brian2_run_s']:7.3f} ({r['brian2_run_median_s']:5.3f}) "
             f"{r['brian2_rate_hz']:5.1f} | {r['build_ratio']:7.2f} {r['run_ratio']:6.2f}"
             ) if "brian2_run_s" in r else "-"
        print(f"{n:9d} {r['synapses']:10d} {r['construct_s']:9.2f} {r['build_s']:8.2f} "
              f"{r['run_s']:7.3f} ({r['run_median_s']:5.3f}) {r['run_cpu_s']:6.3f} "
              f"{r['rate_hz']:5.1f} | {b}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scaled", help="sizes N of coba_scaled.yaml, e.g. 4000,16000,100000")
    ap.add_argument("--brian2", default="/work/venv-brian2/bin/python",
                    help="python of an environment with brian2 ('' to skip)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--cpus", type=int, help="run on the first N cores (Brian2 too)")
    args = ap.parse_args(argv)
    if args.cpus:                           # before JAX starts its thread pool
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.cpus])
    if args.scaled:
        rows = scaled([int(n) for n in args.scaled.split(",")], args.repeats, args.brian2)
        if args.json:
            Path(args.json).write_text(json.dumps({"versions": versions(), "scaled": rows},
                                                  indent=2))
        return 0

    ours = {False: Ngcspec(check_finite=False), True: Ngcspec(check_finite=True)}
    xla = Ngcspec(check_finite=False, native=False)
    hand = Hand()
    use_brian = bool(args.brian2) and Path(args.brian2).exists()
    runs = {"ngcspec": [], "ngcspec+check": [], "ngcspec XLA path": [], "hand": [],
            "brian2 runtime": [], "brian2 standalone": []}
    brian_rates, brian_total = {}, {}
    if use_brian:                               # generate and compile Brian2's code once
        for mode in ("runtime", "standalone"):
            brian2(args.brian2, mode)
    for _ in range(args.repeats):
        runs["ngcspec"].append(ours[False].call()[0])
        runs["ngcspec+check"].append(ours[True].call()[0])
        runs["ngcspec XLA path"].append(xla.call()[0])
        runs["hand"].append(hand.call()[0])
        if use_brian:
            for mode in ("runtime", "standalone"):
                r = brian2(args.brian2, mode)
                if r:
                    runs[f"brian2 {mode}"].append(r["run_s"])
                    brian_total.setdefault(mode, []).append(r["total_s"])
                    brian_rates[mode] = (r["rate_E"] * 3200 + r["rate_I"] * 800) / 4000

    o = ours[False]
    print(f"COBA, 4000 LIF, p = 0.02, 1 s at dt = 0.1 ms; {args.repeats} interleaved repeats")
    print(f"ngcspec: load {o.load_s:.2f} s, construct {o.construct_s:.2f} s (first "
          f"{o.construct_first_s:.2f} s), compile {o.first_s - min(runs['ngcspec']):.2f} s "
          f"(with check {ours[True].first_s - min(runs['ngcspec+check']):.2f} s); "
          f"hand-written compile {hand.compile_s:.2f} s")
    rates = {"ngcspec": o.rate, "ngcspec+check": ours[True].rate,
             "ngcspec XLA path": xla.rate, "hand": hand.rate,
             "brian2 runtime": brian_rates.get("runtime"),
             "brian2 standalone": brian_rates.get("standalone")}
    print(f"{'':20s} {'best s':>8s} {'median s':>9s} {'rate Hz':>8s}")
    rows = {}
    for name, ts in runs.items():
        if not ts:
            continue
        rows[name] = {"best_s": min(ts), "median_s": statistics.median(ts), "rate_hz": rates[name]}
        print(f"{name:20s} {min(ts):8.3f} {statistics.median(ts):9.3f} {rates[name] or 0:8.2f}")
    if "brian2 runtime" in rows:
        best = rows["ngcspec"]["best_s"]
        print(f"ngcspec vs brian2 runtime: {rows['brian2 runtime']['best_s'] / best:.2f}x faster; "
              f"vs C++ standalone: {best / rows['brian2 standalone']['best_s']:.2f}x its time")
        print("brian2 whole-script wall time (codegen, build, run): " +
              ", ".join(f"{m} {statistics.median(v):.1f} s" for m, v in brian_total.items()))
    result = {"versions": versions(), "rows": rows,
              "ngcspec": {"load_s": o.load_s, "construct_s": o.construct_s,
                          "compile_s": o.first_s - rows["ngcspec"]["best_s"]},
              "hand_compile_s": hand.compile_s}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
