"""STDP benchmark: 784 Poisson inputs -> TraceSTDPSynapse -> 400 LIF neurons, two traces.

The circuit ngc-learn's Diehl & Cook exhibit runs (without its inhibitory layer): Poisson
encoders at 63.75 Hz per unit of intensity, trace STDP (A+ 1e-2, A- 1e-4, snap traces of
20 ms), LIF neurons with adaptive thresholds and one spike per step, dt = 1 ms, plasticity
after every step (advance + evolve per step: ngc-learn's fastest mode, about 7,700 steps/s
on 2 cores). The input is a fixed random intensity pattern of mean 0.125 (MNIST's mean is
0.13), about 6 input spikes per step.

Rows: the dense path and the event-driven one (``event_driven: true``) with the native CPU
kernels (``event``) and with their XLA twins (``event-xla``: ``NGCSPEC_NATIVE=off``, the
path GPUs run), batch 1 and 16.
It also splits each path's step into a fixed part and a part per sample (t(b) = fixed + b x
per-sample, from the two batch sizes; batch 16 gives 8x the samples/s of batch 1 only where
fixed >= 14 x per-sample) and times the STDP kernel's work on batch-16 spikes alone.
Each configuration is one compiled epoch of ``steps`` steps (one batch); ``compile`` is the
first call minus a steady one, ``steady`` the best of ``repeats`` calls (medians are printed
too); configurations are interleaved so a shared machine's noise hits all alike.

    python benchmarks/bench_stdp.py                 # about a minute on 2 CPU cores
    python benchmarks/bench_stdp.py --quick
    python benchmarks/bench_stdp.py --json out.json
    python benchmarks/bench_stdp.py --kind exp      # or event: the other event-driven rules
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CIRCUIT = """
ngcspec: 1
name: bench-stdp
dt: 1.0
seed: 0
components:
  W: {{kind: {kind}, shape: [784, 400], {rule}
      weight_init: {{dist: uniform, low: 0.0, high: 0.3}}, event_driven: {event}}}
  z0: {{kind: PoissonCell, n_units: 784, target_freq: 63.75}}
  z1: {{kind: LIFCell, n_units: 400, tau_m: 100.5, resist_m: 100.5, thr: -52.0, v_rest: -65.0,
       v_reset: -60.0, refract_time: 5.0, theta_plus: 0.05, one_spike: true}}
  tr0: {{kind: VarTrace, n_units: 784, tau_tr: 20.0, a_delta: 0.0}}
  tr1: {{kind: VarTrace, n_units: 400, tau_tr: 20.0, a_delta: 0.0}}
  count0: {{kind: SpikeCounter, n_units: 784}}
  count1: {{kind: SpikeCounter, n_units: 400}}
wires:
  - z0.outputs ~> W.inputs
  - W.outputs -> z1.j
  - z0.outputs -> tr0.inputs
  - z1.s -> tr1.inputs
{plasticity}
  - z0.outputs -> count0.inputs
  - z1.s -> count1.inputs
phases:
  run:
    batch_size: {batch}
    clamps: {{z0.inputs: {{file: {intensity}}}}}
    schedule:
      - reset
      - repeat: {steps}
        do: [advance, {{evolve: [W]}}]
    metrics:
      pre_spikes: {{mean: count0.counts}}
      post_spikes: {{mean: count1.counts}}
run:
  check_finite: {check}
"""


def versions() -> dict:
    import jax

    import ngcspec
    from ngcspec import native
    return {"python": platform.python_version(), "jax": jax.__version__,
            "numpy": np.__version__, "ngcspec": ngcspec.__version__,
            "backend": jax.default_backend(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "native_kernels": native.status()}


PATHS = ("dense", "event", "event-xla")

TRACE_WIRES = """  - z0.outputs -> W.preSpike
  - z1.s -> W.postSpike
  - tr0.outputs -> W.preTrace
  - tr1.outputs -> W.postTrace"""
#: --kind: (component kind, its rule's parameters, the wires plasticity reads)
KINDS = {
    "trace": ("TraceSTDPSynapse", "A_plus: 0.01, A_minus: 0.0001,", TRACE_WIRES),
    "exp": ("ExpSTDPSynapse", "A_plus: 0.01, A_minus: 0.0001, exp_beta: 1.0,", TRACE_WIRES),
    "event": ("EventSTDPSynapse", "eta: 0.01,",
              "  - z0.tols -> W.pre_tols\n  - z1.s -> W.postSpike"),
}


def build(path: str, batch: int, steps: int, check: bool, intensity: Path, kind: str):
    """The compiled epoch of one configuration, and its first call's time (compile + run)."""
    import ngcspec
    from ngcspec import native

    name, rule, wires = KINDS[kind]
    text = CIRCUIT.format(event=str(path != "dense").lower(), batch=batch, steps=steps,
                          check=str(check).lower(), intensity=intensity, kind=name, rule=rule,
                          plasticity=wires)
    with native.disabled() if path == "event-xla" else contextlib.nullcontext():
        circuit = ngcspec.load(text)
        pp = circuit.program.phase("run")
        fn = pp.jitted(check="batch" if check else "off")   # as ngc run checks
        entry = circuit, fn, circuit.init_state(), pp.device_data()
        first, _ = call(entry)                               # traced and compiled here
    return entry, first


def call(entry):
    import jax

    circuit, fn, state, data = entry
    t = time.perf_counter()
    out = fn(circuit.params, state, data, 0, 0)
    jax.block_until_ready(out)
    return time.perf_counter() - t, out


def fixed_and_per_sample(row1: dict, row16: dict) -> dict:
    """Split a step's time into a fixed part and a part per sample: t(b) = fixed + b x per_sample.

    Batching only amortises the fixed part, so t(1)/t(16) x 16 >= 8 needs fixed >= 14 x per_sample,
    i.e. at least 14/15 = 93% of the batch-1 step fixed.
    """
    t1, t16 = 1e6 / row1["steps_per_s"], 1e6 / row16["steps_per_s"]
    per_sample = (t16 - t1) / 15
    fixed = t1 - per_sample
    return {"fixed_us": fixed, "per_sample_us": per_sample, "fixed_share_b1": fixed / t1}


def cache_lines(row: dict, n_in: int = 784, n_out: int = 400, line_floats: int = 16) -> float:
    """64-byte lines of float32 W the STDP update reads and writes per sample and step: a row
    of W (n_out floats) per pre spike, a column (one line per row) per post spike."""
    return (row["pre_spikes_per_step"] * -(-n_out // line_floats)
            + row["post_spikes_per_step"] * n_in)


def plasticity_cost_us(batch: int = 16, steps: int = 1000, repeats: int = 5) -> float | None:
    """µs per step that the trace STDP kernel spends on the spikes of ``batch`` samples at this
    circuit's rates (6.4 pre and 1 post spike per sample and step, random traces): a scan of
    ``steps`` evolves on random spikes minus the same scan with none (which leaves the loop,
    the slicing of the inputs and the flag scans). None without the native kernels."""
    import jax
    import jax.numpy as jnp

    from ngcspec import native
    if not native.available():
        return None
    coef = (0.01, 1e-4, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0)   # A+, A-, eta, mu, x_tar, bound, tau_w, power
    rng = np.random.default_rng(1)
    w = jnp.asarray(rng.uniform(0, 0.3, (784, 400)), jnp.float32)
    mask = jnp.ones_like(w)

    def epoch(w, mask, xs):   # mask an argument: as a constant it would be rebuilt every step
        def step(w, x):
            return native.stdp("trace_stdp", w, mask, *x, coef), None
        return jax.lax.scan(step, w, xs)[0]

    fn = jax.jit(epoch)
    best = {}
    for rate in (1.0, 0.0):
        shape_in, shape_out = (steps, batch, 784), (steps, batch, 400)
        xs = tuple(jnp.asarray(a, jnp.float32) for a in (
            rng.random(shape_in) < rate * 6.4 / 784, rng.random(shape_in),
            rng.random(shape_out) < rate / 400, rng.random(shape_out)))
        jax.block_until_ready(fn(w, mask, xs))
        best[rate] = min(_timed(fn, w, mask, xs) for _ in range(repeats))
    return (best[1.0] - best[0.0]) / steps * 1e6


def _timed(fn, *args) -> float:
    import jax

    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--check-finite", action="store_true",
                    help="check for NaN/Inf as ngc run does (once per batch; default: off, "
                         "as ngc-learn)")
    ap.add_argument("--kind", choices=sorted(KINDS), default="trace",
                    help="the STDP rule: TraceSTDPSynapse (default), ExpSTDPSynapse or "
                         "EventSTDPSynapse")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    repeats = 2 if args.quick else args.repeats
    steps = {1: 1000 if args.quick else 4000, 16: 250 if args.quick else 1000}

    tmp = Path(tempfile.mkdtemp(prefix="bench_stdp_"))
    intensity = tmp / "intensity.npy"
    np.save(intensity, (np.random.default_rng(0).random(784) * 0.25).astype(np.float32))

    configs = [(path, b) for b in (1, 16) for path in PATHS]
    entries, first = {}, {}
    for path, b in configs:
        entries[path, b], first[path, b] = build(path, b, steps[b], args.check_finite, intensity,
                                                 args.kind)
    times = {c: [] for c in configs}
    spikes = {}
    for _ in range(repeats):
        for c in configs:
            dt, out = call(entries[c])
            times[c].append(dt)
            m = out[1]["full"]["metrics"]
            spikes[c] = {k: float(np.sum(m[k][0]) / np.sum(m[k][1])) * (784 if k == "pre_spikes" else 400)
                         / steps[c[1]] for k in m}

    rows = []
    for path, b in configs:
        best, med = min(times[path, b]), statistics.median(times[path, b])
        n = steps[b]
        rows.append({"path": path, "batch": b, "steps": n,
                     "compile_s": first[path, b] - best, "steady_s": best, "median_s": med,
                     "steps_per_s": n / best, "samples_per_s": n * b / best,
                     "median_steps_per_s": n / med,
                     "pre_spikes_per_step": spikes[path, b]["pre_spikes"],
                     "post_spikes_per_step": spikes[path, b]["post_spikes"]})
    print(f"784 Poisson -> {KINDS[args.kind][0]} -> 400 LIF, advance + evolve every step, "
          f"check_finite={args.check_finite}")
    print(f"{'path':9s} {'batch':>5s} {'steps':>6s} {'compile s':>9s} {'steady s':>9s} "
          f"{'steps/s':>9s} {'(median)':>9s} {'samples/s':>10s} {'spikes/step pre,post':>21s}")
    for r in rows:
        print(f"{r['path']:9s} {r['batch']:5d} {r['steps']:6d} {r['compile_s']:9.2f} "
              f"{r['steady_s']:9.3f} {r['steps_per_s']:9.0f} {r['median_steps_per_s']:9.0f} "
              f"{r['samples_per_s']:10.0f} {r['pre_spikes_per_step']:10.1f},"
              f"{r['post_spikes_per_step']:6.2f}")
    by = {(r["path"], r["batch"]): r for r in rows}
    for path in PATHS:
        ratio = by[path, 16]["samples_per_s"] / by[path, 1]["samples_per_s"]
        print(f"{path}: batch 16 gives {ratio:.1f}x the samples/s of batch 1")
    best = {b: max(by[p, b]["samples_per_s"] for p in PATHS) for b in (1, 16)}
    print(f"best batch 16 / best batch 1: {best[16] / best[1]:.1f}x")
    print("step = fixed + batch x per-sample (from the two batch sizes); the batch-16 ratio "
          "reaches 8x only where fixed >= 14 x per-sample:")
    for path in PATHS:
        split = fixed_and_per_sample(by[path, 1], by[path, 16])
        print(f"  {path:9s} fixed {split['fixed_us']:6.2f} us, per sample {split['per_sample_us']:6.2f} us"
              f" ({split['fixed_share_b1']:.0%} of batch 1 is fixed; 8x needs >= 93%)")
        by[path, 16].update(split)
    print(f"plasticity alone touches {cache_lines(by['event', 1]):.0f} cache lines of W per sample "
          "and step (rows of pre spikes, columns of post spikes)")
    kernel_us = plasticity_cost_us(16) if args.kind == "trace" else None
    if kernel_us is not None:
        budget = 2e6 / by["event", 1]["steps_per_s"]
        print(f"batch 16: the STDP kernel's work on the spikes alone takes {kernel_us:.1f} us a step; "
              f"8x the event path's batch-1 rate leaves {budget:.1f} us for the whole step")
    for b in (1, 16):
        print(f"batch {b}: event vs dense {by['event', b]['steps_per_s'] / by['dense', b]['steps_per_s']:.1f}x, "
              f"native vs XLA event path {by['event', b]['steps_per_s'] / by['event-xla', b]['steps_per_s']:.1f}x")
    result = {"versions": versions(), "kind": KINDS[args.kind][0],
              "check_finite": args.check_finite, "rows": rows,
              "stdp_kernel_spike_work_b16_us": kernel_us}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
